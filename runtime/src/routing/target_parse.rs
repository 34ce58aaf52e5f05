//! The target-list parser: a cursor over the text and an operator-precedence (shunting
//! yard) loop with explicit stacks, so deep input cannot overflow the call stack.
//!
//! ```text
//! list  := item (',' item)*
//! item  := 'agent:' ID | 'group:' NAME | 'skill:' or | or
//! or    := and ('|' and)*
//! and   := unary ('&' unary)*
//! unary := '!' unary | '(' or ')' | NAME (('>=' | '>' | '<=' | '<' | '=' | '!=') NUMBER)?
//! ```
//! Whitespace is allowed between any two tokens.

use super::limits::{
    AGENT_ID_BYTES_MAX, EVAL_STACK_MAX, EXPRESSION_DEPTH_MAX, EXPRESSION_TERMS_MAX, LEVEL_MAX,
    NAME_BYTES_MAX, TARGETS_BYTES_MAX, TARGET_ITEMS_MAX,
};
use super::names::{is_agent_id_char, is_name_char, Interner};
use super::target_error::{Expected, Found, TargetError, TargetErrorKind};
use super::targets::{Comparison, Expression, NameSlot, Node, TargetItem, TargetList};

/// Parses `text`, looking names up in `skills` and `groups` without inserting.
pub(crate) fn parse_targets(
    text: &str,
    skills: &Interner,
    groups: &Interner,
) -> Result<TargetList, TargetError> {
    let mut cursor = Cursor { text, pos: 0 };
    if text.len() > TARGETS_BYTES_MAX {
        let mut at = TARGETS_BYTES_MAX;
        while !text.is_char_boundary(at) {
            at -= 1;
        }
        let kind = TargetErrorKind::TooLong {
            bytes_max: TARGETS_BYTES_MAX,
        };
        return Err(cursor.error_at(at, kind));
    }
    let mut items = Vec::new();
    loop {
        cursor.skip_space();
        if items.len() == TARGET_ITEMS_MAX {
            let kind = TargetErrorKind::TooManyItems {
                items_max: TARGET_ITEMS_MAX,
            };
            return Err(cursor.error_at(cursor.pos, kind));
        }
        items.push(parse_item(&mut cursor, skills, groups)?);
        cursor.skip_space();
        match cursor.peek() {
            None => break,
            Some(',') => cursor.pos += 1,
            Some(_) => return Err(cursor.expected(Expected::ItemEnd)),
        }
    }
    let mut key = String::new();
    for (index, item) in items.iter().enumerate() {
        if index > 0 {
            key.push(',');
        }
        match item {
            TargetItem::Agent { id } => key.push_str(&format!("agent:{id}")),
            TargetItem::Group { name } => key.push_str(&format!("group:{}", name.text)),
            TargetItem::Skills(expression) => expression.write_key(&mut key),
        }
    }
    Ok(TargetList {
        items,
        key: key.into_boxed_str(),
        resolved_skills: skills.len(),
        resolved_groups: groups.len(),
    })
}

fn parse_item(
    cursor: &mut Cursor<'_>,
    skills: &Interner,
    groups: &Interner,
) -> Result<TargetItem, TargetError> {
    if matches!(cursor.peek(), None | Some(',')) {
        return Err(cursor.expected(Expected::Target));
    }
    if cursor.eat("agent:") {
        let id = cursor.word(is_agent_id_char, Expected::AgentId, AGENT_ID_BYTES_MAX)?;
        cursor.item_end()?;
        return Ok(TargetItem::Agent { id: Box::from(id) });
    }
    if cursor.eat("group:") {
        let name = cursor.word(is_name_char, Expected::GroupName, NAME_BYTES_MAX)?;
        cursor.item_end()?;
        let name = NameSlot {
            text: Box::from(name),
            id: groups.lookup(name),
        };
        return Ok(TargetItem::Group { name });
    }
    cursor.eat("skill:");
    Ok(TargetItem::Skills(parse_expression(cursor, skills)?))
}

struct Cursor<'a> {
    text: &'a str,
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn peek(&self) -> Option<char> {
        self.text[self.pos..].chars().next()
    }

    fn skip_space(&mut self) {
        while let Some(c) = self.peek().filter(|c| c.is_whitespace()) {
            self.pos += c.len_utf8();
        }
    }

    fn eat(&mut self, prefix: &str) -> bool {
        let found = self.text[self.pos..].starts_with(prefix);
        if found {
            self.pos += prefix.len();
        }
        found
    }

    fn take_while(&mut self, allowed: impl Fn(char) -> bool) -> &'a str {
        let start = self.pos;
        while let Some(c) = self.peek().filter(|c| allowed(*c)) {
            self.pos += c.len_utf8();
        }
        &self.text[start..self.pos]
    }

    /// A non-empty run of `allowed` characters after optional whitespace, at most
    /// `bytes_max` long.
    fn word(
        &mut self,
        allowed: impl Fn(char) -> bool,
        expected: Expected,
        bytes_max: usize,
    ) -> Result<&'a str, TargetError> {
        self.skip_space();
        let start = self.pos;
        let word = self.take_while(allowed);
        if word.is_empty() {
            return Err(self.expected(expected));
        }
        if word.len() > bytes_max {
            return Err(self.error_at(start, TargetErrorKind::NameTooLong { bytes_max }));
        }
        Ok(word)
    }

    fn item_end(&mut self) -> Result<(), TargetError> {
        self.skip_space();
        match self.peek() {
            None | Some(',') => Ok(()),
            Some(_) => Err(self.expected(Expected::ItemEnd)),
        }
    }

    fn error_at(&self, pos: usize, kind: TargetErrorKind) -> TargetError {
        let column = self.text[..pos].chars().count() as u32 + 1;
        TargetError { column, kind }
    }

    fn expected(&self, expected: Expected) -> TargetError {
        let found = self.peek().map_or(Found::End, Found::Char);
        self.error_at(self.pos, TargetErrorKind::Expected { expected, found })
    }
}

/// An operator waiting on the shunting-yard stack.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Pending {
    Open,
    Not,
    And,
    Or,
}

/// The expression being built: names, postfix nodes, and the bounds being checked.
struct Builder {
    names: Vec<NameSlot>,
    nodes: Vec<Node>,
    ops: Vec<Pending>,
    /// `(` and `!` currently open.
    depth: usize,
    terms: usize,
    /// Values the postfix program would hold on its stack at this point.
    values: usize,
}

impl Builder {
    fn emit(&mut self, op: Pending) {
        match op {
            Pending::Open => unreachable!("parentheses are not emitted"),
            Pending::Not => {
                self.depth -= 1;
                self.nodes.push(Node::Not);
            }
            Pending::And => {
                self.values -= 1;
                self.nodes.push(Node::And);
            }
            Pending::Or => {
                self.values -= 1;
                self.nodes.push(Node::Or);
            }
        }
    }

    /// Emits pending operators that bind at least as tightly as `op` (all are left
    /// associative; `!` binds tightest), stopping at an open parenthesis.
    fn pop_for(&mut self, op: Pending) {
        while let Some(&top) = self.ops.last() {
            let binds = match op {
                Pending::And => matches!(top, Pending::Not | Pending::And),
                _ => top != Pending::Open,
            };
            if !binds {
                break;
            }
            self.ops.pop();
            self.emit(top);
        }
        self.ops.push(op);
    }

    fn name(&mut self, text: &str, skills: &Interner) -> u16 {
        if let Some(at) = self.names.iter().position(|slot| &*slot.text == text) {
            return at as u16;
        }
        self.names.push(NameSlot {
            text: Box::from(text),
            id: skills.lookup(text),
        });
        (self.names.len() - 1) as u16
    }

    fn push_term(&mut self, node: Node) {
        self.nodes.push(node);
        self.values += 1;
        assert!(
            self.values <= EVAL_STACK_MAX,
            "bounded by EXPRESSION_DEPTH_MAX"
        );
    }
}

fn parse_expression(cursor: &mut Cursor<'_>, skills: &Interner) -> Result<Expression, TargetError> {
    let mut builder = Builder {
        names: Vec::new(),
        nodes: Vec::new(),
        ops: Vec::new(),
        depth: 0,
        terms: 0,
        values: 0,
    };
    loop {
        cursor.skip_space();
        match cursor.peek() {
            Some(c @ ('!' | '(')) => {
                if builder.depth == EXPRESSION_DEPTH_MAX {
                    let kind = TargetErrorKind::TooDeep {
                        depth_max: EXPRESSION_DEPTH_MAX,
                    };
                    return Err(cursor.error_at(cursor.pos, kind));
                }
                builder.depth += 1;
                builder.ops.push(if c == '!' {
                    Pending::Not
                } else {
                    Pending::Open
                });
                cursor.pos += 1;
                continue;
            }
            Some(c) if is_name_char(c) => parse_term(cursor, &mut builder, skills)?,
            _ => return Err(cursor.expected(Expected::Operand)),
        }
        if parse_operator(cursor, &mut builder)? {
            break;
        }
    }
    assert!(
        builder.values == 1,
        "a complete expression leaves one value"
    );
    assert!(builder.ops.is_empty());
    Ok(Expression {
        names: builder.names,
        nodes: builder.nodes,
    })
}

/// After an operand: closes parentheses, then reads `&` or `|` (returns false: an operand
/// follows) or the item's end (returns true, everything emitted).
fn parse_operator(cursor: &mut Cursor<'_>, builder: &mut Builder) -> Result<bool, TargetError> {
    loop {
        cursor.skip_space();
        match cursor.peek() {
            Some(')') => {
                loop {
                    match builder.ops.pop() {
                        None => {
                            return Err(cursor.error_at(cursor.pos, TargetErrorKind::UnmatchedClose))
                        }
                        Some(Pending::Open) => break,
                        Some(op) => builder.emit(op),
                    }
                }
                builder.depth -= 1;
                cursor.pos += 1;
            }
            Some(c @ ('&' | '|')) => {
                builder.pop_for(if c == '&' { Pending::And } else { Pending::Or });
                cursor.pos += 1;
                return Ok(false);
            }
            None | Some(',') => {
                while let Some(op) = builder.ops.pop() {
                    if op == Pending::Open {
                        return Err(cursor.expected(Expected::CloseParen));
                    }
                    builder.emit(op);
                }
                return Ok(true);
            }
            Some(_) => {
                let inside_parens = builder.ops.contains(&Pending::Open);
                return Err(cursor.expected(Expected::Operator { inside_parens }));
            }
        }
    }
}

/// A skill name, optionally followed by a comparison and a level.
fn parse_term(
    cursor: &mut Cursor<'_>,
    builder: &mut Builder,
    skills: &Interner,
) -> Result<(), TargetError> {
    let start = cursor.pos;
    let text = cursor.take_while(is_name_char);
    if text.len() > NAME_BYTES_MAX {
        let kind = TargetErrorKind::NameTooLong {
            bytes_max: NAME_BYTES_MAX,
        };
        return Err(cursor.error_at(start, kind));
    }
    if builder.terms == EXPRESSION_TERMS_MAX {
        let kind = TargetErrorKind::TooManyTerms {
            terms_max: EXPRESSION_TERMS_MAX,
        };
        return Err(cursor.error_at(start, kind));
    }
    builder.terms += 1;
    let name = builder.name(text, skills);
    cursor.skip_space();
    let Some(comparison) = parse_comparison(cursor) else {
        builder.push_term(Node::Has { name });
        return Ok(());
    };
    cursor.skip_space();
    let number_start = cursor.pos;
    let digits = cursor.take_while(|c| c.is_ascii_digit());
    if digits.is_empty() {
        return Err(cursor.expected(Expected::Number { after: comparison }));
    }
    let level = digits.bytes().fold(0u32, |n, d| {
        n.saturating_mul(10).saturating_add((d - b'0') as u32)
    });
    if level > LEVEL_MAX as u32 {
        let kind = TargetErrorKind::LevelAbove {
            level,
            level_max: LEVEL_MAX,
        };
        return Err(cursor.error_at(number_start, kind));
    }
    builder.push_term(Node::Compare {
        name,
        comparison,
        level: level as u8,
    });
    Ok(())
}

fn parse_comparison(cursor: &mut Cursor<'_>) -> Option<Comparison> {
    // Two-character operators first, so `>=` is not read as `>` then `=`.
    const OPERATORS: [(&str, Comparison); 6] = [
        (">=", Comparison::AtLeast),
        ("<=", Comparison::AtMost),
        ("!=", Comparison::NotEqual),
        (">", Comparison::Above),
        ("<", Comparison::Below),
        ("=", Comparison::Equal),
    ];
    OPERATORS
        .iter()
        .find(|(symbol, _)| cursor.eat(symbol))
        .map(|(_, comparison)| *comparison)
}
