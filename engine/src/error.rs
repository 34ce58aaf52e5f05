//! Load-time errors: a document that cannot run is rejected with file, line and column.

use std::fmt;

/// Where in a source document something is: 1-based line and column (in characters).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Position {
    /// 1-based line.
    pub line: u32,
    /// 1-based column.
    pub column: u32,
}

impl Position {
    /// The position of byte offset `offset` in `text`.
    pub fn of_offset(text: &str, offset: usize) -> Position {
        let offset = offset.min(text.len());
        let before = &text.as_bytes()[..offset];
        let line = before.iter().filter(|&&b| b == b'\n').count() as u32 + 1;
        let line_start = before
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(0, |i| i + 1);
        let column = String::from_utf8_lossy(&before[line_start..])
            .chars()
            .count() as u32
            + 1;
        Position { line, column }
    }
}

/// What is wrong with a document.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum CompileErrorKind {
    /// The text is not well-formed XML.
    Xml {
        /// The XML parser's message.
        message: String,
    },
    /// The document is larger than [`crate::limits::Limits::document_bytes_max`].
    TooLarge {
        /// Its size.
        bytes: u64,
        /// The limit.
        bytes_max: u32,
    },
    /// The root element is not `<scxml>` in the SCXML namespace.
    NotScxml {
        /// What the root element is.
        found: String,
    },
    /// An element that SCXML does not allow at that place.
    UnexpectedElement {
        /// The element's name.
        element: String,
        /// The parent's name.
        parent: String,
    },
    /// An element in a Baton namespace that is not a Baton action.
    UnknownExtension {
        /// The element's name.
        element: String,
        /// Its namespace URI.
        namespace: String,
        /// The actions that namespace has, comma separated.
        known: String,
    },
    /// An attribute that a Baton action does not take.
    UnknownAttribute {
        /// The element.
        element: String,
        /// The attribute.
        attribute: String,
    },
    /// A required attribute is missing.
    MissingAttribute {
        /// The element.
        element: String,
        /// The attribute.
        attribute: String,
    },
    /// An attribute value is not one of the allowed ones.
    BadAttributeValue {
        /// The element.
        element: String,
        /// The attribute.
        attribute: String,
        /// The offending value.
        value: String,
        /// What was expected.
        expected: String,
    },
    /// Two attributes (or an attribute and a child) that must not appear together.
    ConflictingAttributes {
        /// The element.
        element: String,
        /// The first.
        first: String,
        /// The second.
        second: String,
    },
    /// Two states share an id.
    DuplicateId {
        /// The id.
        id: String,
    },
    /// A transition or `initial` names a state that does not exist.
    UnknownTarget {
        /// The id.
        id: String,
    },
    /// A target or initial state is not where the specification allows it.
    BadTarget {
        /// The id.
        id: String,
        /// Why.
        reason: String,
    },
    /// A `src` could not be loaded.
    Load {
        /// The `src` value.
        src: String,
        /// The loader's reason.
        reason: String,
    },
    /// A structural bound was exceeded.
    Limit {
        /// Which bound.
        what: &'static str,
        /// The bound.
        limit: u32,
    },
    /// Anything else the specification forbids.
    Invalid {
        /// Why.
        reason: String,
    },
}

/// A rejected document: where, and what is wrong.
#[derive(Clone, Debug, PartialEq)]
pub struct CompileError {
    /// The document's name (file path or URL) as given to the compiler.
    pub file: String,
    /// Where the problem is.
    pub position: Position,
    /// What the problem is.
    pub kind: CompileErrorKind,
}

impl fmt::Display for CompileErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use CompileErrorKind::*;
        match self {
            Xml { message } => write!(f, "XML error: {message}"),
            TooLarge { bytes, bytes_max } => {
                write!(f, "document is {bytes} bytes, the limit is {bytes_max}")
            }
            NotScxml { found } => write!(f, "root element is <{found}>, expected <scxml>"),
            UnexpectedElement { element, parent } => {
                write!(f, "<{element}> is not allowed inside <{parent}>")
            }
            UnknownExtension {
                element,
                namespace,
                known,
            } => write!(
                f,
                "<{element}> is not a Baton action of namespace '{namespace}' (known: {known})"
            ),
            UnknownAttribute { element, attribute } => {
                write!(f, "<{element}> has no attribute '{attribute}'")
            }
            MissingAttribute { element, attribute } => {
                write!(f, "<{element}> requires the attribute '{attribute}'")
            }
            BadAttributeValue {
                element,
                attribute,
                value,
                expected,
            } => write!(
                f,
                "<{element}> attribute '{attribute}' has value '{value}', expected {expected}"
            ),
            ConflictingAttributes {
                element,
                first,
                second,
            } => {
                write!(f, "<{element}> must not have both '{first}' and '{second}'")
            }
            DuplicateId { id } => write!(f, "duplicate state id '{id}'"),
            UnknownTarget { id } => write!(f, "unknown target state '{id}'"),
            BadTarget { id, reason } => write!(f, "invalid target '{id}': {reason}"),
            Load { src, reason } => write!(f, "cannot load '{src}': {reason}"),
            Limit { what, limit } => write!(f, "too many {what} (limit {limit})"),
            Invalid { reason } => f.write_str(reason),
        }
    }
}

impl fmt::Display for CompileError {
    /// `FILE:LINE:COL: message`, the format `baton run` prints.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}",
            self.file, self.position.line, self.position.column, self.kind
        )
    }
}

impl std::error::Error for CompileError {}
