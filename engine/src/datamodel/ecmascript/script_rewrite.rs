//! Rewrites a `<script>` body so that its top-level declarations become datamodel variables.
//!
//! A script runs inside a function (the session's compiled dispatcher), where `var x = 1`
//! would only create a local. SCXML wants it to behave as a global script: `x` must be
//! visible to later expressions. So the rewriter finds the declarations that a global script
//! would put in the global scope and turns them into assignments to the session scope:
//!
//! - `var` anywhere outside a function body, and `let`/`const` at the top level: the keyword
//!   is removed (`var a = 1, b` becomes ` a = 1, b`) and the names are reported, so the
//!   datamodel declares them on the scope object, where the `with` lookup finds them.
//! - `function f() {}` at the top level stays (hoisting still works) and `f` is reported in
//!   [`Rewrite::functions`]: the caller prefixes the body with `S.f = f;`.
//! - `class C {}` at the top level stays and `;S.C = C;` is inserted after its body.
//!
//! `S` is the name under which the script sees its scope object ([`SCOPE`]).
//!
//! Known limitations: destructuring declarations (`var [a, b] = ...`, `let {x} = ...`) are
//! left alone, so their names stay local to the script; `const` loses its immutability.
//! The rewriter never fails: on text it does not understand it leaves that text unchanged.

use super::lexer::{is_variable_name, tokenize, Kind, Token, OBJECT_AFTER_KEYWORDS};

/// The name of the scope object inside a script: the dispatcher's argument, which the
/// datamodel sets to the scope for reads (see `factory.rs`). An argument rather than
/// `this` or a captured variable, so the session's closure captures nothing extra.
pub(crate) const SCOPE: &str = "__baton_v";

/// The rewritten script.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct Rewrite {
    /// The script text with top-level declaration keywords removed.
    pub body: String,
    /// Every name a top-level declaration introduces, deduplicated, in source order.
    pub declared: Vec<Box<str>>,
    /// Top-level function declarations, which the caller exports with `S.f = f;`.
    pub functions: Vec<Box<str>>,
}

/// Rewrites `src`; see the module documentation.
pub(crate) fn rewrite(src: &str) -> Rewrite {
    let mut r = Rewriter::new(src);
    r.run();
    let body = apply(src, &r.edits);
    Rewrite {
        body,
        declared: r.declared,
        functions: r.functions,
    }
}

/// True if `src` tokenizes completely (no unterminated literal or comment) and its brackets
/// balance and never close more than they open: then wrapping it in `( ... )` cannot let
/// it reach outside the parentheses.
pub(crate) fn is_balanced(src: &str) -> bool {
    let mut r = Rewriter::new(src);
    r.run();
    r.balanced && r.stack.is_empty() && !r.unterminated
}

/// An open bracket.
#[derive(Clone, Debug, PartialEq)]
enum Open {
    /// `(`; `control` if it is the head of `if`/`for`/`while`/`switch`/`catch`/`with`.
    Paren { control: bool },
    /// `[`.
    Bracket,
    /// `{` of a statement block.
    Block,
    /// `{` of a function body: `var` inside belongs to that function.
    Function,
    /// `{` of a class body; `export` names a top-level class declaration.
    Class { export: Option<Box<str>> },
    /// `{` of an object literal.
    Object,
    /// `${` of a template literal.
    Template,
}

/// Where a `var`/`let`/`const` declaration's parser is.
#[derive(Clone, Copy, Debug, PartialEq)]
enum DeclState {
    /// Expecting a binding name.
    Name,
    /// After a name: `=`, `,` or the end.
    AfterName,
    /// Inside an initializer, until `,` or the end at the declaration's depth.
    Init,
}

/// One text replacement: `src[start..end]` becomes `insert`.
#[derive(Debug)]
struct Edit {
    start: usize,
    end: usize,
    insert: String,
}

struct Rewriter<'a> {
    src: &'a str,
    toks: Vec<Token>,
    unterminated: bool,
    stack: Vec<Open>,
    balanced: bool,
    edits: Vec<Edit>,
    declared: Vec<Box<str>>,
    functions: Vec<Box<str>>,
    /// An active declaration: the stack depth of its keyword, and its state.
    decl: Option<(usize, DeclState)>,
    /// A `class` seen at this depth, waiting for its body; with the name to export.
    class_pending: Option<(usize, Option<Box<str>>)>,
    /// Whether the last `)` closed a control-statement head.
    last_paren_control: bool,
}

/// Keywords whose parenthesised part is a statement head, not a parameter list.
const CONTROL: &[&str] = &["if", "for", "while", "switch", "catch", "with"];

impl<'a> Rewriter<'a> {
    fn new(src: &'a str) -> Rewriter<'a> {
        let tokens = tokenize(src);
        Rewriter {
            src,
            toks: tokens.list,
            unterminated: tokens.unterminated,
            stack: Vec::new(),
            balanced: true,
            edits: Vec::new(),
            declared: Vec::new(),
            functions: Vec::new(),
            decl: None,
            class_pending: None,
            last_paren_control: false,
        }
    }

    fn text(&self, i: usize) -> &'a str {
        self.toks.get(i).map_or("", |t| t.text(self.src))
    }

    fn is_punct(&self, i: usize, p: &str) -> bool {
        self.toks.get(i).is_some_and(|t| t.kind == Kind::Punct) && self.text(i) == p
    }

    fn run(&mut self) {
        for i in 0..self.toks.len() {
            self.track_declaration(i);
            if self.toks[i].kind == Kind::Ident && self.is_keyword_use(i) {
                match self.text(i) {
                    "var" if !self.in_function() => self.declaration(i),
                    "let" | "const" if self.stack.is_empty() => self.declaration(i),
                    "function" => self.function(i),
                    "class" => self.class(i),
                    _ => {}
                }
            }
            self.structure(i);
        }
    }

    /// An identifier is used as a keyword unless it is a property name (`a.var`, `{var: 1}`).
    fn is_keyword_use(&self, i: usize) -> bool {
        let after_dot = i > 0 && (self.is_punct(i - 1, ".") || self.is_punct(i - 1, "?."));
        !after_dot && !self.is_punct(i + 1, ":") && self.stack.last() != Some(&Open::Object)
    }

    fn in_function(&self) -> bool {
        self.stack
            .iter()
            .any(|o| matches!(o, Open::Function | Open::Class { .. }))
    }

    /// `var`/`let`/`const` at token `i`: removes the keyword if a plain name follows.
    fn declaration(&mut self, i: usize) {
        let next = self.toks.get(i + 1);
        if next.is_some_and(|t| t.kind == Kind::Ident) && is_variable_name(self.text(i + 1)) {
            let t = self.toks[i];
            self.edits.push(Edit {
                start: t.start,
                end: t.end,
                insert: String::new(),
            });
            self.decl = Some((self.stack.len(), DeclState::Name));
        }
    }

    /// Follows a declaration's binding list, collecting its names.
    fn track_declaration(&mut self, i: usize) {
        let Some((depth, state)) = self.decl else {
            return;
        };
        if self.stack.len() < depth {
            self.decl = None;
            return;
        }
        if self.stack.len() > depth {
            return;
        }
        let t = self.toks[i];
        let text = self.text(i);
        let next = match state {
            DeclState::Name if t.kind == Kind::Ident && is_variable_name(text) => {
                self.declare(text);
                Some(DeclState::AfterName)
            }
            DeclState::Name => None,
            DeclState::AfterName if self.is_punct(i, "=") => Some(DeclState::Init),
            DeclState::AfterName if self.is_punct(i, ",") => Some(DeclState::Name),
            DeclState::AfterName => None,
            DeclState::Init if self.is_punct(i, ",") => Some(DeclState::Name),
            DeclState::Init if self.is_punct(i, ";") || self.ends_by_newline(i) => None,
            DeclState::Init if matches!(text, ")" | "]" | "}") && t.kind == Kind::Punct => None,
            DeclState::Init => Some(DeclState::Init),
        };
        self.decl = next.map(|s| (depth, s));
    }

    /// Automatic semicolon insertion, approximately: a line break after a complete operand,
    /// followed by something that cannot continue the expression.
    fn ends_by_newline(&self, i: usize) -> bool {
        let t = self.toks[i];
        let starts = match t.kind {
            Kind::Ident => !matches!(self.text(i), "in" | "of" | "instanceof"),
            Kind::Number | Kind::Str => true,
            Kind::Punct => matches!(self.text(i), "++" | "--"),
            _ => false,
        };
        t.newline_before && starts && i > 0 && self.completes_operand(i - 1)
    }

    /// Whether token `i` can end an expression.
    fn completes_operand(&self, i: usize) -> bool {
        let Some(t) = self.toks.get(i) else {
            return false;
        };
        match t.kind {
            Kind::Number | Kind::Str | Kind::Regex | Kind::TemplateEnd => true,
            Kind::Ident => !OBJECT_AFTER_KEYWORDS.contains(&self.text(i)),
            Kind::Punct => matches!(self.text(i), ")" | "]" | "}" | "++" | "--"),
            Kind::TemplateOpen => false,
        }
    }

    /// Whether token `i` begins a statement.
    fn starts_statement(&self, i: usize) -> bool {
        if i == 0 {
            return true;
        }
        let prev = i - 1;
        matches!(self.text(prev), ";" | "{" | "}") && self.toks[prev].kind == Kind::Punct
            || self.toks[i].newline_before && self.completes_operand(prev)
    }

    fn declare(&mut self, name: &str) {
        if !self.declared.iter().any(|d| &**d == name) {
            self.declared.push(name.into());
        }
    }

    /// `function` at token `i`: a top-level declaration reports its name.
    fn function(&mut self, i: usize) {
        if !self.stack.is_empty() {
            return;
        }
        let is_async = i > 0 && self.text(i - 1) == "async" && !self.toks[i].newline_before;
        let start = if is_async { i - 1 } else { i };
        if !self.starts_statement(start) {
            return;
        }
        let name_at = if self.is_punct(i + 1, "*") {
            i + 2
        } else {
            i + 1
        };
        let name = self.text(name_at);
        let is_name = self
            .toks
            .get(name_at)
            .is_some_and(|t| t.kind == Kind::Ident);
        if is_name && is_variable_name(name) {
            self.declare(name);
            if !self.functions.iter().any(|f| &**f == name) {
                self.functions.push(name.into());
            }
        }
    }

    /// `class` at token `i`: remembers that the next brace at this depth is a class body.
    fn class(&mut self, i: usize) {
        let name = self.text(i + 1);
        let named =
            self.toks.get(i + 1).is_some_and(|t| t.kind == Kind::Ident) && is_variable_name(name);
        let export = self.stack.is_empty() && self.starts_statement(i) && named;
        if export {
            self.declare(name);
        }
        self.class_pending = Some((self.stack.len(), export.then(|| name.into())));
    }

    /// Tracks brackets, and inserts class exports after top-level class bodies.
    fn structure(&mut self, i: usize) {
        let t = self.toks[i];
        let text = self.text(i);
        match t.kind {
            Kind::TemplateOpen if text.starts_with('`') => self.stack.push(Open::Template),
            Kind::TemplateOpen => self.balanced &= self.stack.last() == Some(&Open::Template),
            Kind::TemplateEnd if text.starts_with('}') => self.close(i, |o| o == &Open::Template),
            Kind::Punct => match text {
                "(" => {
                    let control = i > 0 && CONTROL.contains(&self.text(i - 1));
                    self.stack.push(Open::Paren { control });
                }
                "[" => self.stack.push(Open::Bracket),
                "{" => {
                    let open = self.brace_kind(i);
                    self.stack.push(open);
                }
                ")" => self.close(i, |o| matches!(o, Open::Paren { .. })),
                "]" => self.close(i, |o| o == &Open::Bracket),
                "}" => self.close(i, |o| {
                    !matches!(o, Open::Paren { .. } | Open::Bracket | Open::Template)
                }),
                _ => {}
            },
            _ => {}
        }
    }

    /// Pops the bracket closed by token `i`, checking that `fits` it.
    fn close(&mut self, i: usize, fits: impl Fn(&Open) -> bool) {
        let Some(open) = self.stack.pop() else {
            self.balanced = false;
            return;
        };
        self.balanced &= fits(&open);
        match open {
            Open::Paren { control } => self.last_paren_control = control,
            Open::Class { export: Some(name) } if self.stack.is_empty() => {
                let at = self.toks[i].end;
                let insert = format!(";{SCOPE}.{name} = {name};");
                self.edits.push(Edit {
                    start: at,
                    end: at,
                    insert,
                });
            }
            _ => {}
        }
    }

    /// What the `{` at token `i` opens.
    fn brace_kind(&mut self, i: usize) -> Open {
        if let Some((depth, _)) = &self.class_pending {
            if *depth == self.stack.len() {
                let export = self.class_pending.take().and_then(|(_, name)| name);
                return Open::Class { export };
            }
        }
        if i == 0 {
            return Open::Block;
        }
        let prev = self.toks[i - 1];
        let text = self.text(i - 1);
        match prev.kind {
            Kind::Punct => match text {
                "=>" => Open::Function,
                ")" if self.last_paren_control => Open::Block,
                ")" => Open::Function,
                ";" | "{" | "}" => Open::Block,
                ":" if matches!(self.stack.last(), None | Some(Open::Block | Open::Function)) => {
                    Open::Block
                }
                _ => Open::Object,
            },
            Kind::Ident if OBJECT_AFTER_KEYWORDS.contains(&text) => Open::Object,
            Kind::TemplateOpen => Open::Object,
            _ => Open::Block,
        }
    }
}

/// Applies edits (sorted by position, non-overlapping) to `src`.
fn apply(src: &str, edits: &[Edit]) -> String {
    let extra: usize = edits.iter().map(|e| e.insert.len()).sum();
    let mut out = String::with_capacity(src.len() + extra);
    let mut at = 0;
    for e in edits {
        debug_assert!(e.start >= at, "edits are sorted and disjoint");
        if let (Some(kept), true) = (src.get(at..e.start), e.start >= at) {
            out.push_str(kept);
            out.push_str(&e.insert);
            at = e.end;
        }
    }
    out.push_str(src.get(at..).unwrap_or(""));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(v: &[Box<str>]) -> Vec<&str> {
        v.iter().map(|s| &**s).collect()
    }

    #[test]
    fn top_level_var_becomes_assignment() {
        let r = rewrite("var Var1 = 1");
        assert_eq!(r.body, " Var1 = 1");
        assert_eq!(names(&r.declared), ["Var1"]);
        assert!(r.functions.is_empty());
    }

    #[test]
    fn several_declarators_and_initializers() {
        let r = rewrite("var a = f(1, 2), b, c = [1, {x: 2}];\nlet d = 4; const e = `${a,b}`");
        assert_eq!(names(&r.declared), ["a", "b", "c", "d", "e"]);
        assert_eq!(
            r.body,
            " a = f(1, 2), b, c = [1, {x: 2}];\n d = 4;  e = `${a,b}`"
        );
    }

    #[test]
    fn declaration_ends_at_newline() {
        let r = rewrite("var a = 1\nx, y\nvar b = a\n++c");
        assert_eq!(names(&r.declared), ["a", "b"]);
    }

    #[test]
    fn var_in_blocks_and_for_heads_is_hoisted() {
        let r = rewrite("if (x) { var a = 1 } for (var i = 0; i < 2; i++) {} for (var k in o) {}");
        assert_eq!(names(&r.declared), ["a", "i", "k"]);
        assert!(!r.body.contains("var"));
    }

    #[test]
    fn function_locals_stay_local() {
        let src = "function f() { var x = 1; let y; }\nvar g = function () { var z; };\n\
                   o = { m() { var w; } }; h = () => { var v; }; class C { m() { var u } }";
        let r = rewrite(src);
        assert_eq!(names(&r.declared), ["f", "g", "C"]);
        assert_eq!(names(&r.functions), ["f"]);
        assert!(r.body.contains("var x") && r.body.contains("var z") && r.body.contains("var w"));
        assert!(r.body.contains("var v") && r.body.contains("var u"));
    }

    #[test]
    fn block_scoped_let_stays() {
        let r = rewrite("{ let a = 1; } for (let i = 0;;) {} if (x) { const c = 1 }");
        assert!(r.declared.is_empty());
        assert_eq!(
            r.body,
            "{ let a = 1; } for (let i = 0;;) {} if (x) { const c = 1 }"
        );
    }

    #[test]
    fn function_declarations_and_expressions() {
        let r = rewrite(
            "function testobject() {\n this.bar = 0;}\nx = function named() {};\n\
                         async function af() {} function* gen() {}",
        );
        assert_eq!(names(&r.functions), ["testobject", "af", "gen"]);
        assert_eq!(names(&r.declared), ["testobject", "af", "gen"]);
    }

    #[test]
    fn classes_are_exported_after_their_body() {
        let r = rewrite("class A extends mixin({a: 1}) { m() { return 1 } }\nx = class B {}");
        assert_eq!(names(&r.declared), ["A"]);
        assert!(
            r.body.contains("} };__baton_v.A = A;\nx = class B {}"),
            "{}",
            r.body
        );
    }

    #[test]
    fn property_names_and_strings_are_not_keywords() {
        let src = "o.var = 1; p = {var: 2, function: 3}; s = 'var x'; /* var y */ // var z";
        let r = rewrite(src);
        assert!(r.declared.is_empty());
        assert_eq!(r.body, src);
    }

    #[test]
    fn destructuring_is_left_alone() {
        let r = rewrite("var [a, b] = c; let {d} = e;");
        assert!(r.declared.is_empty());
        assert_eq!(r.body, "var [a, b] = c; let {d} = e;");
    }

    #[test]
    fn regex_with_braces_does_not_confuse_depth() {
        let r = rewrite("x = /{/; var a = 1; y = a / 2 / 3; var b");
        assert_eq!(names(&r.declared), ["a", "b"]);
    }

    #[test]
    fn balance() {
        assert!(is_balanced("a + (b[c] * {d: `${e}`}.d)"));
        for bad in ["1); (2", "a)", "(a", "`${a", "'a", "a]", "{", "/* a", "a}"] {
            assert!(!is_balanced(bad), "{bad}");
        }
    }

    #[test]
    fn never_panics_and_keeps_text_without_edits() {
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let words = [
            "var ",
            "let ",
            "const ",
            "function ",
            "class ",
            "a",
            "=",
            ",",
            ";",
            "\n",
            "{",
            "}",
            "(",
            ")",
            "[",
            "]",
            "`",
            "${",
            "'",
            "/",
            "*",
            "=>",
            ".",
            ":",
            "é",
            "\\",
        ];
        for _ in 0..5_000 {
            let mut s = String::new();
            for _ in 0..(seed % 30) {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                s.push_str(words[(seed % words.len() as u64) as usize]);
            }
            let r = rewrite(&s);
            assert!(r.body.len() <= s.len() + r.declared.len() * 32 + 32);
            let _ = is_balanced(&s);
            if r.declared.is_empty() && r.functions.is_empty() {
                assert_eq!(r.body, s);
            }
        }
    }
}
