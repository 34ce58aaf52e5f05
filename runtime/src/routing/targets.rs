//! Parsed target lists: which agents a submission may go to, and the tests an agent must
//! pass. Parsing lives in `target_parse`; this is the parsed form and its evaluation.

use std::fmt;

use super::agent::Agent;
use super::limits::EVAL_STACK_MAX;
use super::names::Interner;

/// A comparison of a skill level against a number.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Comparison {
    /// `>=`
    AtLeast,
    /// `>`
    Above,
    /// `<=`
    AtMost,
    /// `<`
    Below,
    /// `=`
    Equal,
    /// `!=`
    NotEqual,
}

impl Comparison {
    /// The operator as written.
    pub fn symbol(self) -> &'static str {
        match self {
            Comparison::AtLeast => ">=",
            Comparison::Above => ">",
            Comparison::AtMost => "<=",
            Comparison::Below => "<",
            Comparison::Equal => "=",
            Comparison::NotEqual => "!=",
        }
    }

    /// Whether an agent's `level` passes against `bound`.
    pub fn holds(self, level: u8, bound: u8) -> bool {
        match self {
            Comparison::AtLeast => level >= bound,
            Comparison::Above => level > bound,
            Comparison::AtMost => level <= bound,
            Comparison::Below => level < bound,
            Comparison::Equal => level == bound,
            Comparison::NotEqual => level != bound,
        }
    }
}

/// One step of a skill expression in postfix order. `name` indexes `Expression::names`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Node {
    /// The agent has the skill at any level.
    Has {
        name: u16,
    },
    /// The agent has the skill and its level passes the comparison.
    Compare {
        name: u16,
        comparison: Comparison,
        level: u8,
    },
    Not,
    And,
    Or,
}

/// A name as written in a target list and its interned id, if the router knew it when the
/// list was last resolved. An unknown name matches nobody until an agent brings it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct NameSlot {
    pub text: Box<str>,
    pub id: Option<u32>,
}

/// A skill expression: its distinct skill names and its postfix program.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Expression {
    pub names: Vec<NameSlot>,
    pub nodes: Vec<Node>,
}

/// One comma-separated item of a target list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum TargetItem {
    Agent { id: Box<str> },
    Group { name: NameSlot },
    Skills(Expression),
}

/// A parsed target list: plain owned data the caller may keep and submit many times,
/// with the same router that parsed it. An agent matches it if it matches any item.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TargetList {
    pub(crate) items: Vec<TargetItem>,
    /// The normalised text: no whitespace, no `skill:` prefix, minimal parentheses.
    /// Lists with equal keys select the same agents and share one queue per media.
    pub(crate) key: Box<str>,
    /// Interner sizes when the names were last looked up; names only ever get added.
    pub(crate) resolved_skills: u32,
    pub(crate) resolved_groups: u32,
}

impl TargetList {
    /// The normalised text, which also parses to this list.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// Whether unknown names may have become known since the last lookup.
    pub(crate) fn is_stale(&self, skills: &Interner, groups: &Interner) -> bool {
        self.resolved_skills != skills.len() || self.resolved_groups != groups.len()
    }

    /// Looks up again the names that were unknown.
    pub(crate) fn resolve(&mut self, skills: &Interner, groups: &Interner) {
        if !self.is_stale(skills, groups) {
            return;
        }
        for item in &mut self.items {
            match item {
                TargetItem::Agent { .. } => {}
                TargetItem::Group { name } => resolve_slot(name, groups),
                TargetItem::Skills(expression) => expression
                    .names
                    .iter_mut()
                    .for_each(|name| resolve_slot(name, skills)),
            }
        }
        self.resolved_skills = skills.len();
        self.resolved_groups = groups.len();
    }

    /// Whether `agent` matches any item (availability is the caller's business).
    pub(crate) fn matches(&self, agent: &Agent) -> bool {
        self.items.iter().any(|item| item.matches(agent))
    }
}

fn resolve_slot(slot: &mut NameSlot, names: &Interner) {
    if slot.id.is_none() {
        slot.id = names.lookup(&slot.text);
    }
}

impl TargetItem {
    pub(crate) fn matches(&self, agent: &Agent) -> bool {
        match self {
            TargetItem::Agent { id } => agent.id == *id,
            TargetItem::Group { name } => name
                .id
                .is_some_and(|group| agent.groups.binary_search(&group).is_ok()),
            TargetItem::Skills(expression) => expression.matches(&agent.skills),
        }
    }
}

impl Expression {
    /// The agent's level of the skill `name`, if it has it. `skills` is sorted by id.
    fn level(&self, name: u16, skills: &[(u32, u8)]) -> Option<u8> {
        let id = self.names[name as usize].id?;
        let at = skills.binary_search_by_key(&id, |(skill, _)| *skill).ok()?;
        Some(skills[at].1)
    }

    /// Runs the postfix program on a fixed stack (its depth was bounded at parse time).
    pub(crate) fn matches(&self, skills: &[(u32, u8)]) -> bool {
        let mut stack = [false; EVAL_STACK_MAX];
        let mut depth = 0;
        for node in &self.nodes {
            match *node {
                Node::Has { name } => {
                    stack[depth] = self.level(name, skills).is_some();
                    depth += 1;
                }
                Node::Compare {
                    name,
                    comparison,
                    level,
                } => {
                    let passes = self
                        .level(name, skills)
                        .is_some_and(|l| comparison.holds(l, level));
                    stack[depth] = passes;
                    depth += 1;
                }
                Node::Not => stack[depth - 1] = !stack[depth - 1],
                Node::And => {
                    depth -= 1;
                    stack[depth - 1] = stack[depth - 1] && stack[depth];
                }
                Node::Or => {
                    depth -= 1;
                    stack[depth - 1] = stack[depth - 1] || stack[depth];
                }
            }
        }
        assert!(depth == 1, "a parsed expression leaves one value");
        stack[0]
    }

    /// The sum of the agent's levels in the skills this expression names ("most skilled").
    pub(crate) fn level_sum(&self, skills: &[(u32, u8)]) -> u32 {
        let levels = (0..self.names.len() as u16).filter_map(|name| self.level(name, skills));
        levels.map(u32::from).sum()
    }

    /// The normalised text: infix with only the parentheses precedence needs (`&` and `|`
    /// are associative, so a same-precedence operand never needs them).
    pub(crate) fn write_key(&self, out: &mut String) {
        const OR: u8 = 1;
        const AND: u8 = 2;
        const ATOM: u8 = 3;
        let mut stack: Vec<(String, u8)> = Vec::new();
        for node in &self.nodes {
            match *node {
                Node::Has { name } => {
                    stack.push((self.names[name as usize].text.to_string(), ATOM))
                }
                Node::Compare {
                    name,
                    comparison,
                    level,
                } => {
                    let text = &self.names[name as usize].text;
                    stack.push((format!("{text}{}{level}", comparison.symbol()), ATOM));
                }
                Node::Not => {
                    let (text, precedence) = stack.pop().expect("an operand for '!'");
                    stack.push((format!("!{}", wrap(text, precedence < ATOM)), ATOM));
                }
                Node::And | Node::Or => {
                    let (op, precedence) = if *node == Node::And {
                        ('&', AND)
                    } else {
                        ('|', OR)
                    };
                    let (right, right_precedence) = stack.pop().expect("a right operand");
                    let (left, left_precedence) = stack.pop().expect("a left operand");
                    let left = wrap(left, left_precedence < precedence);
                    let right = wrap(right, right_precedence < precedence);
                    stack.push((format!("{left}{op}{right}"), precedence));
                }
            }
        }
        assert!(stack.len() == 1, "a parsed expression leaves one operand");
        out.push_str(&stack[0].0);
    }
}

fn wrap(text: String, parens: bool) -> String {
    if parens {
        format!("({text})")
    } else {
        text
    }
}

impl fmt::Display for TargetList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.key)
    }
}

/// The index sets that cover every agent an expression can match: `Some(skills)` when
/// the agents having one of `skills` include all matches, `None` when only the whole set
/// of agents does (e.g. under `!`). `size` gives a set's length; `&` keeps the smaller
/// side's cover, `|` the union of both. `drivers` is caller-owned scratch.
pub(crate) fn cover(
    expression: &Expression,
    size: impl Fn(u32) -> usize,
    drivers: &mut Vec<u32>,
) -> bool {
    const EVERYONE: u64 = u64::MAX;
    // (start in `drivers`, cost); an operand's drivers run to the next operand's start.
    let mut stack = [(0usize, 0u64); EVAL_STACK_MAX];
    let mut depth = 0;
    drivers.clear();
    for node in &expression.nodes {
        match *node {
            Node::Has { name } | Node::Compare { name, .. } => {
                let start = drivers.len();
                // An unknown skill: nobody has it, an empty cover that costs nothing.
                let cost = expression.names[name as usize].id.map_or(0, |skill| {
                    drivers.push(skill);
                    size(skill) as u64
                });
                stack[depth] = (start, cost);
                depth += 1;
            }
            Node::Not => {
                drivers.truncate(stack[depth - 1].0);
                stack[depth - 1].1 = EVERYONE;
            }
            Node::And => {
                depth -= 1;
                let (right_start, right_cost) = stack[depth];
                let (left_start, left_cost) = stack[depth - 1];
                if left_cost <= right_cost {
                    drivers.truncate(right_start);
                } else {
                    drivers.drain(left_start..right_start);
                    stack[depth - 1] = (left_start, right_cost);
                }
            }
            Node::Or => {
                depth -= 1;
                let (_, right_cost) = stack[depth];
                let (left_start, left_cost) = stack[depth - 1];
                if left_cost == EVERYONE || right_cost == EVERYONE {
                    drivers.truncate(left_start);
                    stack[depth - 1].1 = EVERYONE;
                } else {
                    stack[depth - 1].1 = left_cost + right_cost;
                }
            }
        }
    }
    assert!(depth == 1, "a parsed expression leaves one cover");
    assert!(stack[0].0 == 0);
    stack[0].1 != EVERYONE
}
