//! A small, forgiving ECMAScript tokenizer: just enough structure for the script rewriter
//! and for checking that an expression text keeps to its own brackets.
//!
//! It knows strings, template literals (with nested `${}`), comments, numbers, identifiers,
//! punctuators and regular expression literals (told apart from division by the previous
//! token, the usual heuristic). It never fails and never panics: malformed input produces
//! tokens anyway and sets [`Tokens::unterminated`]. Token boundaries always fall on ASCII
//! bytes, so slicing the source at them is valid UTF-8.

/// What a token is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// An identifier or a keyword.
    Ident,
    /// A numeric literal.
    Number,
    /// A string literal.
    Str,
    /// A template without substitutions, or the tail after the last `${}`.
    TemplateEnd,
    /// A template head up to `${`, or a middle part `}...${`.
    TemplateOpen,
    /// A regular expression literal.
    Regex,
    /// An operator or punctuation.
    Punct,
}

/// One token: a byte range of the source.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Token {
    /// What it is.
    pub kind: Kind,
    /// First byte.
    pub start: usize,
    /// One past the last byte.
    pub end: usize,
    /// A line break precedes it (matters for automatic semicolon insertion).
    pub newline_before: bool,
}

impl Token {
    /// The token's text.
    pub fn text<'a>(&self, src: &'a str) -> &'a str {
        src.get(self.start..self.end).unwrap_or("")
    }
}

/// The tokens of a source text.
#[derive(Debug, Default)]
pub(crate) struct Tokens {
    /// In source order.
    pub list: Vec<Token>,
    /// A string, comment, template or regex literal runs to the end of the input.
    pub unterminated: bool,
}

/// Keywords after which a `/` starts a regular expression rather than a division.
const REGEX_AFTER_KEYWORDS: &[&str] = &[
    "return",
    "typeof",
    "instanceof",
    "in",
    "of",
    "new",
    "delete",
    "void",
    "throw",
    "case",
    "do",
    "else",
    "yield",
    "await",
];

/// Keywords after which a `{` opens an object literal rather than a block.
pub(super) const OBJECT_AFTER_KEYWORDS: &[&str] = &[
    "return",
    "typeof",
    "instanceof",
    "in",
    "of",
    "new",
    "delete",
    "void",
    "throw",
    "case",
    "yield",
    "await",
];

/// Multi-byte punctuators, longest first so that the first match is the longest one.
const PUNCTUATORS: &[&str] = &[
    ">>>=", "...", "===", "!==", "**=", "<<=", ">>=", ">>>", "&&=", "||=", "??=", "=>", "==", "!=",
    "<=", ">=", "&&", "||", "??", "?.", "++", "--", "+=", "-=", "*=", "/=", "%=", "&=", "|=", "^=",
    "**", "<<", ">>",
];

/// Tokenizes `src`. Linear in its length.
pub(crate) fn tokenize(src: &str) -> Tokens {
    let mut lexer = Lexer {
        src: src.as_bytes(),
        pos: 0,
        out: Tokens::default(),
        braces: Vec::new(),
        last_closed: Brace::Block,
    };
    lexer.run(src);
    lexer.out
}

/// Whether a brace opened an expression (object literal) or a statement block; decides what
/// a `/` after the matching `}` means. `Template` marks a `${` waiting for its `}`.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Brace {
    Block,
    Expr,
    Template,
}

struct Lexer<'a> {
    src: &'a [u8],
    pos: usize,
    out: Tokens,
    braces: Vec<Brace>,
    last_closed: Brace,
}

impl Lexer<'_> {
    fn run(&mut self, text: &str) {
        if self.src.starts_with(b"#!") {
            self.skip_line();
        }
        let mut newline = false;
        while self.pos < self.src.len() {
            let start = self.pos;
            let b = self.src[start];
            if b == b'\n' || b == b'\r' {
                newline = true;
                self.pos += 1;
            } else if b.is_ascii_whitespace() {
                self.pos += 1;
            } else if self.at(b"//") || self.at(b"<!--") {
                self.skip_line();
            } else if self.at(b"/*") {
                newline |= self.skip_block_comment();
            } else {
                let kind = self.token(b, text);
                debug_assert!(self.pos > start, "every token consumes input");
                self.out.list.push(Token {
                    kind,
                    start,
                    end: self.pos,
                    newline_before: newline,
                });
                newline = false;
            }
        }
        // A `${` without its `}` leaves the template literal open.
        self.out.unterminated |= self.braces.contains(&Brace::Template);
    }

    /// Scans one token starting with byte `b` and returns its kind.
    fn token(&mut self, b: u8, text: &str) -> Kind {
        match b {
            b'"' | b'\'' => self.string(b),
            b'`' => {
                self.pos += 1;
                self.template()
            }
            b'0'..=b'9' => self.number(),
            b'.' if self.src.get(self.pos + 1).is_some_and(u8::is_ascii_digit) => self.number(),
            b'/' if self.regex_allowed(text) => self.regex(),
            b'}' if self.braces.last() == Some(&Brace::Template) => {
                self.braces.pop();
                self.pos += 1;
                self.template()
            }
            _ if is_ident_byte(b) || b == b'\\' => self.ident(),
            _ => self.punct(b, text),
        }
    }

    fn at(&self, s: &[u8]) -> bool {
        self.src
            .get(self.pos..)
            .is_some_and(|rest| rest.starts_with(s))
    }

    fn skip_line(&mut self) {
        while self.pos < self.src.len() && self.src[self.pos] != b'\n' {
            self.pos += 1;
        }
    }

    /// Skips `/* ... */`; returns whether it contained a line break.
    fn skip_block_comment(&mut self) -> bool {
        let body = &self.src[self.pos + 2..];
        match body.windows(2).position(|w| w == b"*/") {
            Some(i) => {
                self.pos += 2 + i + 2;
                body[..i].iter().any(|&c| c == b'\n' || c == b'\r')
            }
            None => {
                self.out.unterminated = true;
                self.pos = self.src.len();
                true
            }
        }
    }

    fn string(&mut self, quote: u8) -> Kind {
        self.pos += 1;
        while self.pos < self.src.len() {
            match self.src[self.pos] {
                b'\\' => self.pos += 2,
                b'\n' => break,
                c if c == quote => {
                    self.pos += 1;
                    return Kind::Str;
                }
                _ => self.pos += 1,
            }
        }
        self.pos = self.pos.min(self.src.len());
        self.out.unterminated = true;
        Kind::Str
    }

    /// Scans template characters after a backtick or after the `}` closing a substitution.
    fn template(&mut self) -> Kind {
        while self.pos < self.src.len() {
            match self.src[self.pos] {
                b'\\' => self.pos += 2,
                b'`' => {
                    self.pos += 1;
                    return Kind::TemplateEnd;
                }
                b'$' if self.src.get(self.pos + 1) == Some(&b'{') => {
                    self.pos += 2;
                    self.braces.push(Brace::Template);
                    return Kind::TemplateOpen;
                }
                _ => self.pos += 1,
            }
        }
        self.pos = self.pos.min(self.src.len());
        self.out.unterminated = true;
        Kind::TemplateEnd
    }

    fn number(&mut self) -> Kind {
        let hex = self.at(b"0x") || self.at(b"0X");
        while self.pos < self.src.len() {
            let c = self.src[self.pos];
            let exponent_sign =
                !hex && (c == b'+' || c == b'-') && matches!(self.src[self.pos - 1], b'e' | b'E');
            if c.is_ascii_alphanumeric() || c == b'_' || c == b'.' || exponent_sign {
                self.pos += 1;
            } else {
                break;
            }
        }
        Kind::Number
    }

    fn ident(&mut self) -> Kind {
        while self.pos < self.src.len() {
            let c = self.src[self.pos];
            if c == b'\\' {
                self.pos += 2;
            } else if is_ident_byte(c) {
                self.pos += 1;
            } else {
                break;
            }
        }
        self.pos = self.pos.min(self.src.len());
        Kind::Ident
    }

    fn regex(&mut self) -> Kind {
        self.pos += 1;
        let mut class = false;
        while self.pos < self.src.len() {
            match self.src[self.pos] {
                b'\\' => self.pos += 2,
                b'\n' | b'\r' => break,
                b'[' => {
                    class = true;
                    self.pos += 1;
                }
                b']' => {
                    class = false;
                    self.pos += 1;
                }
                b'/' if !class => {
                    self.pos += 1;
                    while self.pos < self.src.len() && is_ident_byte(self.src[self.pos]) {
                        self.pos += 1;
                    }
                    return Kind::Regex;
                }
                _ => self.pos += 1,
            }
        }
        self.pos = self.pos.min(self.src.len());
        self.out.unterminated = true;
        Kind::Regex
    }

    fn punct(&mut self, b: u8, text: &str) -> Kind {
        let len = PUNCTUATORS
            .iter()
            .find(|p| self.at(p.as_bytes()))
            .map_or(1, |p| p.len());
        match b {
            b'{' => {
                let brace = if self.brace_opens_expression(text) {
                    Brace::Expr
                } else {
                    Brace::Block
                };
                self.braces.push(brace);
            }
            b'}' => {
                self.last_closed = self.braces.pop().unwrap_or(Brace::Block);
            }
            _ => {}
        }
        self.pos += len;
        Kind::Punct
    }

    /// A `{` opens an object literal when an operand is expected.
    fn brace_opens_expression(&self, text: &str) -> bool {
        match self.out.list.last() {
            None => false,
            Some(t) => match t.kind {
                Kind::Punct => !matches!(t.text(text), ")" | "]" | "}" | ";" | "{" | "=>"),
                Kind::Ident => OBJECT_AFTER_KEYWORDS.contains(&t.text(text)),
                Kind::TemplateOpen => true,
                _ => false,
            },
        }
    }

    /// Whether a `/` here starts a regular expression: only where an operand is expected.
    fn regex_allowed(&self, text: &str) -> bool {
        let Some(prev) = self.out.list.last() else {
            return true;
        };
        match prev.kind {
            Kind::Number | Kind::Str | Kind::TemplateEnd | Kind::Regex => false,
            Kind::TemplateOpen => true,
            Kind::Ident => REGEX_AFTER_KEYWORDS.contains(&prev.text(text)),
            Kind::Punct => match prev.text(text) {
                ")" | "]" | "++" | "--" => false,
                // After a block a statement starts; after an object literal an operator.
                "}" => self.last_closed == Brace::Block,
                _ => true,
            },
        }
    }
}

/// Bytes that may continue an identifier. Bytes >= 0x80 belong to non-ASCII characters,
/// which the rewriter treats as identifier characters.
pub(crate) fn is_ident_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'$' || b >= 0x80
}

/// ECMAScript reserved words (strict mode), which cannot be variable names.
pub(crate) const RESERVED: &[&str] = &[
    "await",
    "break",
    "case",
    "catch",
    "class",
    "const",
    "continue",
    "debugger",
    "default",
    "delete",
    "do",
    "else",
    "enum",
    "export",
    "extends",
    "false",
    "finally",
    "for",
    "function",
    "if",
    "implements",
    "import",
    "in",
    "instanceof",
    "interface",
    "let",
    "new",
    "null",
    "package",
    "private",
    "protected",
    "public",
    "return",
    "static",
    "super",
    "switch",
    "this",
    "throw",
    "true",
    "try",
    "typeof",
    "var",
    "void",
    "while",
    "with",
    "yield",
];

/// True if `name` is a legal variable name: an identifier that is not a reserved word, nor
/// `eval`/`arguments` (which strict code cannot assign).
pub(crate) fn is_variable_name(name: &str) -> bool {
    let bytes = name.as_bytes();
    let Some(&first) = bytes.first() else {
        return false;
    };
    !first.is_ascii_digit()
        && bytes.iter().all(|&b| is_ident_byte(b))
        && !RESERVED.contains(&name)
        && name != "eval"
        && name != "arguments"
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(src: &str) -> Vec<(Kind, &str)> {
        tokenize(src)
            .list
            .iter()
            .map(|t| (t.kind, t.text(src)))
            .collect()
    }

    #[test]
    fn strings_comments_and_templates() {
        let src = "a = 'x}' + \"y{\" // c }\n/* { */ `t${ {b: 1}.b }u${c}`";
        let toks = kinds(src);
        assert!(toks.contains(&(Kind::Str, "'x}'")));
        assert!(toks.contains(&(Kind::Str, "\"y{\"")));
        assert!(toks.contains(&(Kind::TemplateOpen, "`t${")));
        assert!(toks.contains(&(Kind::TemplateOpen, "}u${")));
        assert!(toks.contains(&(Kind::TemplateEnd, "}`")));
        assert!(!tokenize(src).unterminated);
    }

    #[test]
    fn regex_versus_division() {
        assert_eq!(kinds("a / b / c")[1], (Kind::Punct, "/"));
        assert_eq!(kinds("x = /a}b/g")[2], (Kind::Regex, "/a}b/g"));
        assert_eq!(kinds("return /[/]/.test(s)")[1], (Kind::Regex, "/[/]/"));
        assert_eq!(kinds("(a) / 2")[3], (Kind::Punct, "/"));
        assert_eq!(kinds("if (x) {} /re/.test(y)")[6], (Kind::Regex, "/re/"));
        assert_eq!(kinds("x = {} / 2")[4], (Kind::Punct, "/"));
    }

    #[test]
    fn numbers_and_punctuators() {
        assert_eq!(
            kinds("1e+5+2"),
            vec![
                (Kind::Number, "1e+5"),
                (Kind::Punct, "+"),
                (Kind::Number, "2")
            ]
        );
        assert_eq!(kinds("a>>>=b")[1], (Kind::Punct, ">>>="));
        assert_eq!(kinds("x=>1")[1], (Kind::Punct, "=>"));
        assert_eq!(kinds(".5")[0], (Kind::Number, ".5"));
    }

    #[test]
    fn unterminated_input_is_flagged() {
        for src in ["'abc", "`abc${", "/* x", "x = /abc", "\"\\"] {
            assert!(tokenize(src).unterminated, "{src}");
        }
    }

    #[test]
    fn newlines_are_recorded() {
        let t = tokenize("a\nb /* \n */ c d");
        let flags: Vec<bool> = t.list.iter().map(|t| t.newline_before).collect();
        assert_eq!(flags, vec![false, true, true, false]);
    }

    #[test]
    fn variable_names() {
        assert!(is_variable_name("Var1"));
        assert!(is_variable_name("$_x9"));
        assert!(is_variable_name("caf\u{e9}"));
        for bad in [
            "'continue'",
            "continue",
            "1a",
            "",
            "a.b",
            "a b",
            "eval",
            "let",
        ] {
            assert!(!is_variable_name(bad), "{bad}");
        }
    }

    #[test]
    fn never_panics_on_arbitrary_bytes() {
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let alphabet = b"ab1 \n/*'\"`${}()[];,=.\\+-<>!x\xc3\xa9";
        for _ in 0..2_000 {
            let mut s = Vec::new();
            for _ in 0..(seed % 40) {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                s.push(alphabet[(seed % alphabet.len() as u64) as usize]);
            }
            let text = String::from_utf8_lossy(&s);
            let toks = tokenize(&text);
            for t in &toks.list {
                assert!(t.start < t.end && t.end <= text.len());
                assert!(text.get(t.start..t.end).is_some());
            }
        }
    }
}
