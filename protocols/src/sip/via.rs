//! The Via header field (RFC 3261 §20.42, §18.2; RFC 3581 `rport`): parsing one element
//! into borrowed parts, the owned [`Via`] view, and the `received`/`rport` stamping a server
//! applies to the top element of a request it receives.

use std::fmt::Write as _;
use std::net::{IpAddr, SocketAddr};

use super::syntax::{find_separator, is_lws, is_token, quotes_closed, trim_lws, Split};

/// The branch prefix of RFC 3261 transactions (§8.1.1.7). Without it the peer follows
/// RFC 2543 and transactions are matched on other fields.
pub const MAGIC_COOKIE: &str = "z9hG4bK";

/// One parsed Via element (a `sent-protocol sent-by *(;param)`), owned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Via {
    /// The transport, upper-case (`UDP`, `TCP`, `TLS`, ...).
    pub transport: String,
    /// The sent-by host as written (an IPv6 reference keeps its brackets).
    pub host: String,
    /// The sent-by port, if written.
    pub port: Option<u16>,
    /// The `branch` parameter.
    pub branch: Option<String>,
    /// The `received` parameter.
    pub received: Option<String>,
    /// The `rport` parameter: `Some(None)` when present without a value (RFC 3581).
    pub rport: Option<Option<u16>>,
}

/// One parsed Via element, borrowing from the header value; what matching and stamping use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ViaRef<'a> {
    pub transport: &'a str,
    pub host: &'a str,
    pub port: Option<u16>,
    pub branch: Option<&'a str>,
    pub received: Option<&'a str>,
    pub rport: Option<Option<u16>>,
    /// Where the parameters begin (after sent-by) in the parsed element.
    pub params_at: usize,
}

impl<'a> ViaRef<'a> {
    /// Parses one element; `None` when it is malformed.
    pub(crate) fn parse(element: &'a str) -> Option<Self> {
        // An unclosed quoted string would swallow the parameters stamping appends.
        if !quotes_closed(element) {
            return None;
        }
        let (transport, rest) = sent_protocol(element)?;
        let sent_by_at = element.len() - rest.len();
        let (host, port, sent_by_len) = sent_by(rest)?;
        let params_at = sent_by_at + sent_by_len;
        let params = &element[params_at..];
        let params = match trim_lws(params) {
            "" => "",
            text => text.strip_prefix(';')?,
        };
        let mut rport = None;
        // The first `branch` and `received` count. One pass: every request's Via is read
        // several times.
        let mut branch: Option<Option<&str>> = None;
        let mut received: Option<Option<&str>> = None;
        let pieces = Split::new(params, b';', false).filter(|_| !params.is_empty());
        for piece in pieces {
            let (name, value) = match piece.split_once('=') {
                Some((name, value)) => (trim_lws(name), Some(trim_lws(value))),
                None => (trim_lws(piece), None),
            };
            if !is_token(name.as_bytes()) || !value.is_none_or(is_param_value) {
                return None;
            }
            if name.eq_ignore_ascii_case("rport") {
                rport = Some(match value {
                    None => None,
                    Some(digits) => Some(port_of(digits)?),
                });
            } else if name.eq_ignore_ascii_case("branch") {
                branch.get_or_insert(value);
            } else if name.eq_ignore_ascii_case("received") {
                received.get_or_insert(value);
            }
        }
        Some(Self {
            transport,
            host,
            port,
            branch: branch.flatten(),
            received: received.flatten(),
            rport,
            params_at,
        })
    }

    /// The owned form.
    pub(crate) fn to_owned(self) -> Via {
        Via {
            transport: self.transport.to_ascii_uppercase(),
            host: self.host.to_owned(),
            port: self.port,
            branch: self.branch.map(str::to_owned),
            received: self.received.map(str::to_owned),
            rport: self.rport,
        }
    }
}

/// A Via parameter value (RFC 3261 §25.1 gen-value, and the addresses of `received` and
/// `maddr`): a token, an IP address (IPv6 with or without brackets), or a quoted string.
/// Anything else (a comma, `<`, white space) would let stamping change how the header
/// splits into elements.
fn is_param_value(value: &str) -> bool {
    if let Some(inner) = value.strip_prefix('"') {
        return inner.strip_suffix('"').is_some_and(|inner| {
            super::syntax::find_separator(inner, b'"', false).is_none() && quotes_closed(value)
        });
    }
    let valid = |byte: u8| super::syntax::is_token_byte(byte) || b":[]".contains(&byte);
    !value.is_empty() && value.bytes().all(valid)
}

/// `SIP / 2.0 / transport` then linear white space: the transport and what follows.
fn sent_protocol(element: &str) -> Option<(&str, &str)> {
    let mut parts = element.splitn(3, '/');
    let name = trim_lws(parts.next()?);
    let version = trim_lws(parts.next()?);
    let rest = parts.next()?.trim_start_matches([' ', '\t']);
    if !name.eq_ignore_ascii_case("SIP") || version != "2.0" {
        return None;
    }
    let transport_len = rest
        .bytes()
        .position(|byte| !super::syntax::is_token_byte(byte))
        .unwrap_or(rest.len());
    let (transport, rest) = rest.split_at(transport_len);
    if transport.is_empty() || !rest.bytes().next().is_some_and(is_lws) {
        return None;
    }
    Some((transport, rest.trim_start_matches([' ', '\t'])))
}

/// `host [":" port]` at the start of `text`: the host, the port, and the bytes used.
fn sent_by(text: &str) -> Option<(&str, Option<u16>, usize)> {
    let host_len = if text.starts_with('[') {
        let close = text.find(']')?;
        let inside = &text[1..close];
        let valid = |byte: u8| byte.is_ascii_hexdigit() || byte == b':' || byte == b'.';
        if inside.is_empty() || !inside.bytes().all(valid) {
            return None;
        }
        close + 1
    } else {
        let valid = |byte: u8| byte.is_ascii_alphanumeric() || b"-._".contains(&byte);
        text.bytes()
            .position(|byte| !valid(byte))
            .unwrap_or(text.len())
    };
    let host = &text[..host_len];
    if host.is_empty() {
        return None;
    }
    let rest = &text[host_len..];
    let Some(after_colon) = rest.strip_prefix(':') else {
        return Some((host, None, host_len));
    };
    let digits = after_colon
        .bytes()
        .position(|byte| !byte.is_ascii_digit())
        .unwrap_or(after_colon.len());
    if digits == 0 || digits > 5 {
        return None;
    }
    let port = port_of(&after_colon[..digits])?;
    Some((host, Some(port), host_len + 1 + digits))
}

/// A port number: one to five ASCII digits, at most 65535.
fn port_of(digits: &str) -> Option<u16> {
    let number = super::syntax::parse_decimal(digits.as_bytes())?;
    if digits.len() > 5 {
        return None;
    }
    u16::try_from(number).ok()
}

/// The IP address a sent-by host or `received` value names, if it is one (brackets around
/// an IPv6 address allowed); IPv4-mapped IPv6 addresses compare as IPv4.
pub(crate) fn ip_of(host: &str) -> Option<IpAddr> {
    let bare = host
        .strip_prefix('[')
        .and_then(|inner| inner.strip_suffix(']'))
        .unwrap_or(host);
    bare.parse::<IpAddr>().ok().map(|ip| ip.to_canonical())
}

/// The top Via element stamped for a request from `source` (RFC 3261 §18.2.1, RFC 3581 §4):
/// `received=<source ip>` when the sent-by host is not that address or `rport` is present
/// (replacing any `received` the sender wrote), and a bare `rport` filled with the source
/// port. `None` when the element needs no change.
pub(crate) fn stamped(element: &str, source: SocketAddr) -> Option<String> {
    let via = ViaRef::parse(element)?;
    let ip = source.ip().to_canonical();
    let add_received = via.rport.is_some() || ip_of(via.host) != Some(ip);
    let fill_rport = via.rport == Some(None);
    if !add_received && !fill_rport && via.received.is_none() {
        return None;
    }
    let mut out = String::with_capacity(element.len() + 48);
    out.push_str(trim_lws(&element[..via.params_at]));
    let params = trim_lws(&element[via.params_at..]);
    let params = params.strip_prefix(';').unwrap_or(params);
    for piece in Split::new(params, b';', false).map(trim_lws) {
        let name = trim_lws(piece.split('=').next().unwrap_or(piece));
        if piece.is_empty() || name.eq_ignore_ascii_case("received") {
            continue;
        }
        out.push(';');
        if fill_rport && name.eq_ignore_ascii_case("rport") {
            // Writing into a String cannot fail.
            let _ = write!(out, "rport={}", source.port());
        } else {
            out.push_str(piece);
        }
    }
    if add_received {
        let _ = write!(out, ";received={ip}");
    }
    Some(out)
}

/// The offsets of the first non-empty element of a Via header value, trimmed: the one
/// [`super::syntax::elements`] yields first.
pub(crate) fn first_element_span(value: &str) -> Option<(usize, usize)> {
    let mut start = 0;
    loop {
        let end = find_separator(&value[start..], b',', true).map_or(value.len(), |at| start + at);
        let piece = &value[start..end];
        let lead = piece.len() - piece.trim_start_matches([' ', '\t']).len();
        let trimmed = trim_lws(piece);
        if !trimmed.is_empty() {
            return Some((start + lead, start + lead + trimmed.len()));
        }
        if end >= value.len() {
            return None;
        }
        start = end + 1;
    }
}
