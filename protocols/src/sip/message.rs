//! A SIP message as values ([`Message`]), its accessors, and its encoding. Parsing lives in
//! [`super::parse`]; the parser is lenient on input (bare LF, folding, compact names) and
//! the encoder strict on output (CRLF, long names as stored, a correct Content-Length).

use std::io::Write as _;

use super::error::{SipError, SipLimits};
use super::syntax::{canonical_name, name_is, split_cseq, split_name_addr};
use super::syntax::{trim_lws, uri_user, Split};
use super::via::{Via, ViaRef};

/// SIP methods; others are kept by name.
#[derive(Clone, Debug, PartialEq, Eq)]
#[allow(missing_docs)] // The variants are the RFC 3261 method names.
pub enum Method {
    Invite,
    Ack,
    Cancel,
    Bye,
    Options,
    Register,
    /// An extension method (INFO, UPDATE, ...), as written.
    Other(Box<str>),
}

impl Method {
    /// The method name as written on the wire.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Invite => "INVITE",
            Self::Ack => "ACK",
            Self::Cancel => "CANCEL",
            Self::Bye => "BYE",
            Self::Options => "OPTIONS",
            Self::Register => "REGISTER",
            Self::Other(name) => name,
        }
    }

    /// The method a token names. Method names are case-sensitive (RFC 3261 §7.1), so
    /// `invite` is an extension method; invalid UTF-8 is replaced (the parser only passes
    /// tokens, which are ASCII).
    pub fn parse(token: &[u8]) -> Method {
        match token {
            b"INVITE" => Self::Invite,
            b"ACK" => Self::Ack,
            b"CANCEL" => Self::Cancel,
            b"BYE" => Self::Bye,
            b"OPTIONS" => Self::Options,
            b"REGISTER" => Self::Register,
            _ => Self::Other(String::from_utf8_lossy(token).into()),
        }
    }
}

/// The first line of a message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StartLine {
    /// `METHOD SP Request-URI SP SIP/2.0`.
    Request {
        /// The method.
        method: Method,
        /// The Request-URI as written.
        uri: String,
    },
    /// `SIP/2.0 SP status SP reason`.
    Response {
        /// The status code, 100 to 699.
        status: u16,
        /// The reason phrase, trimmed (may be empty).
        reason: String,
    },
}

/// One header as received: the name in its canonical long form when it was written in its
/// compact form (v→Via, f→From, t→To, i→Call-ID, m→Contact, l→Content-Length,
/// c→Content-Type, k→Supported, s→Subject, e→Content-Encoding and the other registered
/// ones), otherwise as written; the value trimmed, folded lines joined by one space.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Header {
    /// The name.
    pub name: String,
    /// The value.
    pub value: String,
}

/// A whole SIP message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    /// The request or status line.
    pub start: StartLine,
    /// The header fields in order, Content-Length included as received.
    pub headers: Vec<Header>,
    /// The body (an SDP offer, usually), without framing.
    pub body: Vec<u8>,
}

impl Message {
    /// Parses one whole message (a UDP datagram, or what [`super::SipStreamDecoder`]
    /// framed). Leading CRLFs (keep-alives) are skipped. The body is Content-Length bytes
    /// when present (more declared than there is is an error; bytes beyond it are dropped,
    /// RFC 3261 §18.3), else the rest of the input (the UDP rule).
    pub fn parse(bytes: &[u8], limits: &SipLimits) -> Result<Message, SipError> {
        super::parse::message(bytes, limits)
    }

    /// Appends the wire form to `out`: CRLF line ends, headers as stored except that every
    /// Content-Length is replaced by one correct for `body`, written last. CR and LF in a
    /// value (or a name or reason) are written as spaces and whitespace in the Request-URI
    /// %-escaped, so no value can forge a header line.
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.reserve(self.encoded_len_hint());
        match &self.start {
            StartLine::Request { method, uri } => {
                write_escaped_uri(out, method.as_str());
                out.push(b' ');
                write_escaped_uri(out, uri);
                out.extend_from_slice(b" SIP/2.0\r\n");
            }
            StartLine::Response { status, reason } => {
                debug_assert!((100..=699).contains(status), "status {status}");
                // Writing into a Vec cannot fail.
                let _ = write!(out, "SIP/2.0 {status:03} ");
                write_clean(out, reason);
                out.extend_from_slice(b"\r\n");
            }
        }
        for header in &self.headers {
            if name_is(&header.name, "Content-Length") {
                continue;
            }
            write_clean(out, &header.name);
            out.extend_from_slice(b": ");
            write_clean(out, &header.value);
            out.extend_from_slice(b"\r\n");
        }
        let _ = write!(out, "Content-Length: {}\r\n\r\n", self.body.len());
        out.extend_from_slice(&self.body);
    }

    fn encoded_len_hint(&self) -> usize {
        let headers: usize = self
            .headers
            .iter()
            .map(|header| header.name.len() + header.value.len() + 4)
            .sum();
        64 + headers + self.body.len()
    }

    /// Whether this is a request.
    pub fn is_request(&self) -> bool {
        matches!(self.start, StartLine::Request { .. })
    }

    /// A request's method.
    pub fn method(&self) -> Option<&Method> {
        match &self.start {
            StartLine::Request { method, .. } => Some(method),
            StartLine::Response { .. } => None,
        }
    }

    /// A request's Request-URI.
    pub fn request_uri(&self) -> Option<&str> {
        match &self.start {
            StartLine::Request { uri, .. } => Some(uri),
            StartLine::Response { .. } => None,
        }
    }

    /// A response's status.
    pub fn status(&self) -> Option<u16> {
        match &self.start {
            StartLine::Request { .. } => None,
            StartLine::Response { status, .. } => Some(*status),
        }
    }

    /// The first value of header `name` (ASCII case-insensitive; compact forms accepted).
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = canonical_name(name);
        self.headers
            .iter()
            .find(|header| name_is(&header.name, name))
            .map(|header| header.value.as_str())
    }

    /// All values of header `name` in order. For Via, each comma-separated element of a
    /// value is yielded on its own (commas inside quoted strings or `<>` do not separate);
    /// other headers' values are yielded whole.
    pub fn headers<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        let name = canonical_name(name);
        let split = name.eq_ignore_ascii_case("Via");
        self.headers
            .iter()
            .filter(move |header| name_is(&header.name, name))
            .flat_map(move |header| Values::new(&header.value, split))
    }

    /// The Call-ID.
    pub fn call_id(&self) -> Option<&str> {
        self.header("Call-ID")
    }

    /// The CSeq number and method.
    pub fn cseq(&self) -> Option<(u32, Method)> {
        let (number, method) = split_cseq(self.header("CSeq")?)?;
        Some((number, Method::parse(method.as_bytes())))
    }

    /// The first Via element, parsed; `None` when absent or malformed.
    pub fn top_via(&self) -> Option<Via> {
        self.top_via_ref().map(ViaRef::to_owned)
    }

    /// The first Via element, borrowed.
    pub(crate) fn top_via_ref(&self) -> Option<ViaRef<'_>> {
        ViaRef::parse(self.headers("Via").next()?)
    }

    /// The `tag` parameter of From.
    pub fn from_tag(&self) -> Option<&str> {
        tag_of(self.header("From")?)
    }

    /// The `tag` parameter of To.
    pub fn to_tag(&self) -> Option<&str> {
        tag_of(self.header("To")?)
    }

    /// The user part of the Request-URI as written (`sip:5000@host;x=y` → `5000`,
    /// `tel:+1555;phone-context=x` → `+1555`); `None` for responses, other schemes, or a
    /// URI without a user.
    pub fn request_user(&self) -> Option<&str> {
        uri_user(self.request_uri()?)
    }

    /// The user part of the From URI (the caller's number), as [`Message::request_user`].
    pub fn from_user(&self) -> Option<&str> {
        uri_user(split_name_addr(self.header("From")?).0)
    }
}

/// The first non-empty `tag` parameter of a From or To value (an empty one is no tag:
/// [`super::response()`] adds its own after it, which must then be the one read back).
pub(crate) fn tag_of(value: &str) -> Option<&str> {
    let (_, params) = split_name_addr(value);
    Split::new(params, b';', false).find_map(|piece| {
        let (name, tag) = piece.split_once('=')?;
        let tag = trim_lws(tag);
        (trim_lws(name).eq_ignore_ascii_case("tag") && !tag.is_empty()).then_some(tag)
    })
}

/// The values of one header field: its non-empty elements (Via) or the whole value.
enum Values<'a> {
    Whole(Option<&'a str>),
    Elements(Split<'a>),
}

impl<'a> Values<'a> {
    fn new(value: &'a str, split: bool) -> Self {
        if split {
            Self::Elements(Split::new(value, b',', true))
        } else {
            Self::Whole(Some(value))
        }
    }
}

impl<'a> Iterator for Values<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        match self {
            Self::Whole(value) => value.take(),
            Self::Elements(pieces) => pieces.map(trim_lws).find(|element| !element.is_empty()),
        }
    }
}

/// Writes `text` with CR and LF replaced by spaces.
pub(crate) fn write_clean(out: &mut Vec<u8>, text: &str) {
    let bytes = text.as_bytes();
    if !bytes.iter().any(|&byte| byte == b'\r' || byte == b'\n') {
        out.extend_from_slice(bytes);
        return;
    }
    out.extend(bytes.iter().map(|&byte| match byte {
        b'\r' | b'\n' => b' ',
        other => other,
    }));
}

/// Writes a start-line word with its white space and line ends %-escaped.
fn write_escaped_uri(out: &mut Vec<u8>, text: &str) {
    for &byte in text.as_bytes() {
        match byte {
            b' ' => out.extend_from_slice(b"%20"),
            b'\t' => out.extend_from_slice(b"%09"),
            b'\r' => out.extend_from_slice(b"%0D"),
            b'\n' => out.extend_from_slice(b"%0A"),
            other => out.push(other),
        }
    }
}
