//! Parsing one whole SIP message (RFC 3261 §7, §25), and the lenient salvage of a malformed
//! request's dialog-identifying headers so that it can still be answered (§8.2).
//!
//! The parser never panics on input and never trusts a length it has not checked; it is
//! fuzzed (`tests/fuzz/fuzz_targets/sip_message.rs`) for parse, encode, parse equality.

use super::error::{SipError, SipLimits};
use super::message::{Header, Message, Method, StartLine};
use super::syntax::{canonical_name, find_head_end, has_control, is_address, is_lws, is_token};
use super::syntax::{name_is, parse_decimal, skip_line_ends, split_cseq, Field, Fields, Lines};
use super::via::ViaRef;

/// The headers every request and response carries (RFC 3261 §8.1.1), and every response
/// copies from its request (§8.2.6.2).
pub(crate) const REQUIRED_HEADERS: [&str; 5] = ["Via", "From", "To", "Call-ID", "CSeq"];

/// See [`Message::parse`].
pub(crate) fn message(bytes: &[u8], limits: &SipLimits) -> Result<Message, SipError> {
    let bytes = skip_line_ends(bytes);
    if bytes.is_empty() {
        return Err(SipError::Empty);
    }
    if bytes.len() > limits.message_bytes_max as usize {
        return Err(SipError::TooLarge {
            limit: limits.message_bytes_max,
            actual: bytes.len() as u64,
        });
    }
    let body_start = find_head_end(bytes, 0).map_err(|_| SipError::Unterminated)?;
    let mut lines = Lines::new(&bytes[..body_start]);
    let start = start_line(lines.next().unwrap_or_default())?;
    let mut headers = Vec::with_capacity(16);
    for field in Fields::new(lines, 2) {
        if headers.len() >= limits.headers_max as usize {
            return Err(SipError::TooManyHeaders {
                headers_max: limits.headers_max,
            });
        }
        headers.push(header(&field)?);
    }
    check_required(&start, &headers)?;
    let declared = headers
        .iter()
        .filter(|header| name_is(&header.name, "Content-Length"))
        .try_fold(None, |declared, header| {
            add_content_length(declared, header.value.as_bytes())
        })?;
    let body = body(declared, &bytes[body_start..], limits)?;
    Ok(Message {
        start,
        headers,
        body: body.to_vec(),
    })
}

/// Parses a start line: a request line or a status line.
fn start_line(line: &[u8]) -> Result<StartLine, SipError> {
    if has_control(line) {
        return Err(SipError::BadStartLine);
    }
    let line = std::str::from_utf8(line).map_err(|_| SipError::BadStartLine)?;
    let (first, rest) = line.split_once(' ').ok_or(SipError::BadStartLine)?;
    if starts_with_sip(first) {
        check_version(first)?;
        return status_line(rest);
    }
    let (uri, version) = rest.rsplit_once(' ').ok_or(SipError::BadStartLine)?;
    if !is_token(first.as_bytes()) || !is_uri(uri) {
        return Err(SipError::BadStartLine);
    }
    check_version(version)?;
    Ok(StartLine::Request {
        method: Method::parse(first.as_bytes()),
        uri: uri.to_owned(),
    })
}

/// Whether `word` starts with `SIP/`, in any case (byte-wise: it may not be ASCII).
fn starts_with_sip(word: &str) -> bool {
    word.as_bytes()
        .get(..4)
        .is_some_and(|prefix| prefix.eq_ignore_ascii_case(b"SIP/"))
}

/// `3DIGIT [SP reason]` after `SIP/2.0 SP`; a missing reason is accepted.
fn status_line(rest: &str) -> Result<StartLine, SipError> {
    let (code, reason) = rest.split_once(' ').unwrap_or((rest, ""));
    let status = match parse_decimal(code.as_bytes()) {
        Some(status) if code.len() == 3 && (100..=699).contains(&status) => status as u16,
        _ => return Err(SipError::BadStartLine),
    };
    Ok(StartLine::Response {
        status,
        reason: reason.trim_matches([' ', '\t']).to_owned(),
    })
}

/// `SIP/2.0` (the `SIP` case-insensitive); another `SIP/x.y` is a version error.
fn check_version(version: &str) -> Result<(), SipError> {
    let Some((name, number)) = version.split_once('/') else {
        return Err(SipError::BadStartLine);
    };
    if !name.eq_ignore_ascii_case("SIP") {
        return Err(SipError::BadStartLine);
    }
    if number == "2.0" {
        return Ok(());
    }
    let numeric = |part: &str| parse_decimal(part.as_bytes()).is_some();
    match number.split_once('.') {
        Some((major, minor)) if numeric(major) && numeric(minor) => Err(SipError::BadVersion),
        _ => Err(SipError::BadStartLine),
    }
}

/// A Request-URI: `scheme ":" something`, without white space.
fn is_uri(uri: &str) -> bool {
    let Some((scheme, rest)) = uri.split_once(':') else {
        return false;
    };
    let scheme_byte = |byte: u8| byte.is_ascii_alphanumeric() || b"+-.".contains(&byte);
    scheme
        .bytes()
        .next()
        .is_some_and(|byte| byte.is_ascii_alphabetic())
        && scheme.bytes().all(scheme_byte)
        && !rest.is_empty()
        && !uri.bytes().any(is_lws)
}

/// A header field, strictly: a token name, a colon, a UTF-8 value without control
/// characters.
fn header(field: &Field<'_>) -> Result<Header, SipError> {
    let bad = SipError::BadHeader { line: field.line };
    if field.orphan || has_control(&field.text) {
        return Err(bad);
    }
    let (name, value) = field.split().ok_or(bad)?;
    if !is_token(name) {
        return Err(bad);
    }
    let name = std::str::from_utf8(name).map_err(|_| bad)?;
    let value = std::str::from_utf8(value).map_err(|_| bad)?;
    Ok(Header {
        name: canonical_name(name).to_owned(),
        value: value.to_owned(),
    })
}

/// Checks the five mandatory headers, the CSeq and the top Via.
fn check_required(start: &StartLine, headers: &[Header]) -> Result<(), SipError> {
    let first = |name: &str| {
        headers
            .iter()
            .find(|header| name_is(&header.name, name))
            .map(|header| header.value.as_str())
    };
    for name in REQUIRED_HEADERS {
        if first(name).is_none_or(str::is_empty) {
            return Err(SipError::MissingHeader { name });
        }
    }
    for name in ["From", "To"] {
        if !first(name).is_some_and(is_address) {
            return Err(SipError::BadAddress { name });
        }
    }
    let (_, cseq_method) = first("CSeq")
        .and_then(split_cseq)
        .ok_or(SipError::BadCSeq)?;
    if let StartLine::Request { method, .. } = start {
        if cseq_method != method.as_str() {
            return Err(SipError::CSeqMismatch);
        }
    }
    let top_via = headers
        .iter()
        .filter(|header| name_is(&header.name, "Via"))
        .find_map(|header| super::syntax::elements(&header.value).next());
    match top_via.and_then(ViaRef::parse) {
        Some(_) => Ok(()),
        None => Err(SipError::BadVia),
    }
}

/// Adds one Content-Length value to those seen before (`declared`): an error when it is
/// not a decimal number or disagrees with an earlier one (either could frame the message,
/// which is how requests are smuggled).
pub(crate) fn add_content_length(
    declared: Option<u64>,
    value: &[u8],
) -> Result<Option<u64>, SipError> {
    let length = parse_decimal(value).ok_or(SipError::BadContentLength)?;
    if declared.is_some_and(|earlier| earlier != length) {
        return Err(SipError::BadContentLength);
    }
    Ok(Some(length))
}

/// The body: `declared` bytes of `rest`, or all of it without Content-Length.
fn body<'a>(
    declared: Option<u64>,
    rest: &'a [u8],
    limits: &SipLimits,
) -> Result<&'a [u8], SipError> {
    let length = declared.unwrap_or(rest.len() as u64);
    if length > u64::from(limits.body_bytes_max) {
        return Err(SipError::BodyTooLarge {
            limit: limits.body_bytes_max,
            actual: length,
        });
    }
    // Checked against a u32 limit just above.
    let length = length as usize;
    if length > rest.len() {
        return Err(SipError::BodyTruncated {
            declared: length as u32,
            available: u32::try_from(rest.len()).unwrap_or(u32::MAX),
        });
    }
    Ok(&rest[..length])
}

/// Whether enough of a malformed request could be read to answer it (RFC 3261 §8.2: a
/// response needs Via, From, To, Call-ID and CSeq). Returns a best-effort [`Message`] with
/// the request line and those headers only (every Via, the first of the others), read
/// leniently: any SIP version (so that a 505 can be answered), lines that do not parse
/// skipped, a missing end of the header section tolerated. `None` when it is not a request,
/// is an ACK (never answered, §17.1.1.3), or lacks one of the five headers: then the server
/// drops it.
pub fn salvage_for_response(bytes: &[u8]) -> Option<Message> {
    let mut lines = Lines::new(skip_line_ends(bytes));
    let start = lenient_request_line(lines.next()?)?;
    if matches!(
        start,
        StartLine::Request {
            method: Method::Ack,
            ..
        }
    ) {
        return None;
    }
    let mut vias = Vec::new();
    let mut others: [Option<Header>; 4] = Default::default();
    for field in Fields::new(lines, 2) {
        let Some((name, value)) = lenient_header(&field) else {
            continue;
        };
        if name_is(name, "Via") {
            vias.push(header_of(name, value));
        } else if let Some(slot) = REQUIRED_HEADERS[1..].iter().position(|n| name_is(name, n)) {
            if others[slot].is_none() {
                others[slot] = Some(header_of(name, value));
            }
        }
    }
    if vias.is_empty() || others.iter().any(Option::is_none) {
        return None;
    }
    vias.extend(others.into_iter().flatten());
    Some(Message {
        start,
        headers: vias,
        body: Vec::new(),
    })
}

/// `METHOD SP URI SP SIP/...`, white space runs accepted.
fn lenient_request_line(line: &[u8]) -> Option<StartLine> {
    let line = std::str::from_utf8(line).ok()?;
    let mut words = line.split([' ', '\t']).filter(|word| !word.is_empty());
    let (method, uri, version) = (words.next()?, words.next()?, words.next()?);
    let sip = starts_with_sip(version);
    if words.next().is_some()
        || !sip
        || !is_token(method.as_bytes())
        || has_control(line.as_bytes())
    {
        return None;
    }
    Some(StartLine::Request {
        method: Method::parse(method.as_bytes()),
        uri: uri.to_owned(),
    })
}

/// A field's name and non-empty value when both are UTF-8 and the name a token.
fn lenient_header<'a>(field: &'a Field<'_>) -> Option<(&'a str, &'a str)> {
    let (name, value) = field.split()?;
    if field.orphan || !is_token(name) || value.is_empty() || has_control(value) {
        return None;
    }
    Some((
        std::str::from_utf8(name).ok()?,
        std::str::from_utf8(value).ok()?,
    ))
}

fn header_of(name: &str, value: &str) -> Header {
    Header {
        name: canonical_name(name).to_owned(),
        value: value.to_owned(),
    }
}
