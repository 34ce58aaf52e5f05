//! Errors of target-list parsing: the 1-based column and what was expected and found.

use std::fmt;

use super::targets::Comparison;

/// A target list that does not parse. `column` counts characters from 1 over the whole
/// target string; an error at the end of the input names the column just past it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TargetError {
    /// 1-based character column within the whole target string.
    pub column: u32,
    /// What went wrong there.
    pub kind: TargetErrorKind,
}

/// What went wrong in a target list.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum TargetErrorKind {
    /// Something else was required at this column.
    Expected {
        /// What would have been accepted.
        expected: Expected,
        /// What is there.
        found: Found,
    },
    /// The string is longer than `TARGETS_BYTES_MAX`.
    TooLong {
        /// `TARGETS_BYTES_MAX`.
        bytes_max: usize,
    },
    /// A name or agent id is too long.
    NameTooLong {
        /// The limit that applies (`NAME_BYTES_MAX` or `AGENT_ID_BYTES_MAX`).
        bytes_max: usize,
    },
    /// A level is above `LEVEL_MAX`.
    LevelAbove {
        /// The level written (saturated at `u32::MAX`).
        level: u32,
        /// `LEVEL_MAX`.
        level_max: u8,
    },
    /// `(` and `!` nest deeper than `EXPRESSION_DEPTH_MAX`.
    TooDeep {
        /// `EXPRESSION_DEPTH_MAX`.
        depth_max: usize,
    },
    /// More terms in one expression than `EXPRESSION_TERMS_MAX`.
    TooManyTerms {
        /// `EXPRESSION_TERMS_MAX`.
        terms_max: usize,
    },
    /// More items than `TARGET_ITEMS_MAX`.
    TooManyItems {
        /// `TARGET_ITEMS_MAX`.
        items_max: usize,
    },
    /// A `)` without a matching `(`.
    UnmatchedClose,
}

/// What the parser would have accepted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Expected {
    /// The start of an item.
    Target,
    /// A skill name, `(` or `!`.
    Operand,
    /// A level after a comparison operator.
    Number {
        /// The operator just read.
        after: Comparison,
    },
    /// An operator, `,` or the end (`inside_parens`: or `)`).
    Operator {
        /// Whether a `(` is open.
        inside_parens: bool,
    },
    /// The `)` closing an open `(`.
    CloseParen,
    /// An agent id after `agent:`.
    AgentId,
    /// A group name after `group:`.
    GroupName,
    /// `,` or the end, after an agent or group item.
    ItemEnd,
}

/// What the parser found instead.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Found {
    /// This character.
    Char(char),
    /// The end of the target string.
    End,
}

impl fmt::Display for TargetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "column {}: {}", self.column, self.kind)
    }
}

impl std::error::Error for TargetError {}

impl fmt::Display for TargetErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TargetErrorKind::Expected { expected, found } => {
                write!(f, "expected {expected}, found {found}")
            }
            TargetErrorKind::TooLong { bytes_max } => {
                write!(f, "the target list is longer than {bytes_max} bytes")
            }
            TargetErrorKind::NameTooLong { bytes_max } => {
                write!(f, "the name is longer than {bytes_max} bytes")
            }
            TargetErrorKind::LevelAbove { level, level_max } => {
                write!(f, "level {level} is above the maximum {level_max}")
            }
            TargetErrorKind::TooDeep { depth_max } => {
                write!(f, "'(' and '!' nest deeper than {depth_max}")
            }
            TargetErrorKind::TooManyTerms { terms_max } => {
                write!(f, "the expression has more than {terms_max} terms")
            }
            TargetErrorKind::TooManyItems { items_max } => {
                write!(f, "the target list has more than {items_max} items")
            }
            TargetErrorKind::UnmatchedClose => f.write_str("')' without a matching '('"),
        }
    }
}

impl fmt::Display for Expected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Expected::Target => {
                f.write_str("a target ('agent:ID', 'group:NAME' or a skill expression)")
            }
            Expected::Operand => f.write_str("a skill name, '(' or '!'"),
            Expected::Number { after } => write!(f, "a number after '{}'", after.symbol()),
            Expected::Operator {
                inside_parens: true,
            } => f.write_str("'&', '|' or ')'"),
            Expected::Operator {
                inside_parens: false,
            } => f.write_str("'&', '|', ',' or the end"),
            Expected::CloseParen => f.write_str("')'"),
            Expected::AgentId => f.write_str("an agent id after 'agent:'"),
            Expected::GroupName => f.write_str("a group name after 'group:'"),
            Expected::ItemEnd => f.write_str("',' or the end"),
        }
    }
}

impl fmt::Display for Found {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Found::Char(c) => write!(f, "'{c}'"),
            Found::End => f.write_str("the end"),
        }
    }
}
