//! Bounds on one SIP message and the typed reasons a message is refused.

use std::fmt;

/// Bounds on one message. Every refusal maps to the status in [`SipError::status`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SipLimits {
    /// Bytes of one message (start line, headers and body), default 65,535 (the largest UDP
    /// payload). Exceeding it is 513. Cost: a stream connection buffers up to this much.
    pub message_bytes_max: u32,
    /// Header fields of one message after unfolding, default 100. Exceeding it is 513.
    pub headers_max: u16,
    /// Bytes of one body, default 16 KiB (an SDP offer is 0.3 to 3 KiB). Exceeding it is 413.
    pub body_bytes_max: u32,
}

impl SipLimits {
    /// The defaults documented on each field.
    pub const DEFAULT: SipLimits = SipLimits {
        message_bytes_max: 65_535,
        headers_max: 100,
        body_bytes_max: 16 * 1024,
    };
}

impl Default for SipLimits {
    fn default() -> Self {
        Self::DEFAULT
    }
}

// A request needs five header fields (Via, From, To, Call-ID, CSeq), and a body must fit in
// a message.
const _: () = assert!(SipLimits::DEFAULT.headers_max >= 5);
const _: () = assert!(SipLimits::DEFAULT.body_bytes_max <= SipLimits::DEFAULT.message_bytes_max);

/// Why a message was refused. Each variant maps to the status a server answers a request
/// refused this way with ([`SipError::status`]); `Display` is a sentence fit for a 400's
/// `Warning` text (it never contains a double quote).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SipError {
    /// Nothing but CR / LF (a keep-alive): nothing to answer (400, never sent).
    Empty,
    /// The message is larger than `message_bytes_max` (513 Message Too Large).
    TooLarge {
        /// The limit.
        limit: u32,
        /// The message's size, or on a stream the bytes seen so far.
        actual: u64,
    },
    /// No empty line ends the header section (400).
    Unterminated,
    /// The start line is neither `METHOD SP URI SP SIP/2.0` nor `SIP/2.0 SP code SP reason`
    /// (400).
    BadStartLine,
    /// A SIP version other than 2.0 (505 Version Not Supported).
    BadVersion,
    /// A header line is malformed: no colon, a name that is not a token, a control
    /// character, invalid UTF-8, or a continuation line with no field before it (400).
    BadHeader {
        /// Its line number in the message (the start line is line 1).
        line: u32,
    },
    /// More header fields than `headers_max` (513 Message Too Large).
    TooManyHeaders {
        /// The limit.
        headers_max: u16,
    },
    /// One of Via, From, To, Call-ID, CSeq is absent or empty (400).
    MissingHeader {
        /// Its name.
        name: &'static str,
    },
    /// A From or To value is not an address: an unclosed quoted string or `<`, or no URI
    /// scheme (400).
    BadAddress {
        /// The header's name.
        name: &'static str,
    },
    /// The CSeq value is not `number method` with a number below 2**31 (400).
    BadCSeq,
    /// A request's CSeq method differs from its method (400; RFC 3261 §8.1.1.5).
    CSeqMismatch,
    /// The top Via element does not parse (400).
    BadVia,
    /// A Content-Length that is not a decimal number, or several that disagree (400).
    BadContentLength,
    /// A message on a stream without Content-Length (400; RFC 3261 §18.3 makes it mandatory).
    MissingContentLength,
    /// The body is larger than `body_bytes_max` (413 Request Entity Too Large).
    BodyTooLarge {
        /// The limit.
        limit: u32,
        /// The declared (Content-Length) or received body size.
        actual: u64,
    },
    /// Content-Length declares more bytes than the datagram holds (400).
    BodyTruncated {
        /// Content-Length.
        declared: u32,
        /// The bytes after the header section.
        available: u32,
    },
}

impl SipError {
    /// The status a server answers a request refused this way with: 400 Bad Request for
    /// malformed ones, 413 for a body over its limit, 513 Message Too Large for a message
    /// (or header section) over its limits, 505 for a version other than 2.0.
    pub fn status(&self) -> u16 {
        match self {
            Self::TooLarge { .. } | Self::TooManyHeaders { .. } => 513,
            Self::BodyTooLarge { .. } => 413,
            Self::BadVersion => 505,
            Self::Empty
            | Self::Unterminated
            | Self::BadStartLine
            | Self::BadHeader { .. }
            | Self::MissingHeader { .. }
            | Self::BadAddress { .. }
            | Self::BadCSeq
            | Self::CSeqMismatch
            | Self::BadVia
            | Self::BadContentLength
            | Self::MissingContentLength
            | Self::BodyTruncated { .. } => 400,
        }
    }
}

impl fmt::Display for SipError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Empty => f.write_str("the message is empty"),
            Self::TooLarge { limit, actual } => {
                write!(
                    f,
                    "the message of {actual} bytes exceeds the limit of {limit}"
                )
            }
            Self::Unterminated => f.write_str("the header section does not end with an empty line"),
            Self::BadStartLine => f.write_str("the start line is malformed"),
            Self::BadVersion => f.write_str("the SIP version is not 2.0"),
            Self::BadHeader { line } => write!(f, "header line {line} is malformed"),
            Self::TooManyHeaders { headers_max } => {
                write!(f, "the message has more than {headers_max} header fields")
            }
            Self::MissingHeader { name } => write!(f, "the {name} header field is missing"),
            Self::BadAddress { name } => write!(f, "the {name} header field is not an address"),
            Self::BadCSeq => f.write_str("the CSeq header field is malformed"),
            Self::CSeqMismatch => f.write_str("the CSeq method differs from the request method"),
            Self::BadVia => f.write_str("the top Via header field is malformed"),
            Self::BadContentLength => f.write_str("the Content-Length is invalid or conflicting"),
            Self::MissingContentLength => {
                f.write_str("a message on a stream has no Content-Length")
            }
            Self::BodyTooLarge { limit, actual } => {
                write!(f, "the body of {actual} bytes exceeds the limit of {limit}")
            }
            Self::BodyTruncated {
                declared,
                available,
            } => write!(
                f,
                "the body has {available} bytes but Content-Length declares {declared}"
            ),
        }
    }
}

impl std::error::Error for SipError {}
