//! Building a response to a request (RFC 3261 §8.2.6), the standard reason phrases, and
//! where a response goes: the `received`/`rport` stamping of the request's top Via on
//! arrival (§18.2.1, RFC 3581) and the UDP destination it yields (§18.2.2).

use std::net::SocketAddr;

use super::message::{tag_of, write_clean, Header, Message, StartLine};
use super::parse::REQUIRED_HEADERS;
use super::syntax::name_is;
use super::via::{first_element_span, stamped};

/// The port a sent-by without one means (RFC 3261 §18.2.2, §19.1.2).
pub const DEFAULT_PORT: u16 = 5060;

/// A response to `request` (RFC 3261 §8.2.6): every Via value in order, From, To (with
/// `;tag=<to_tag>` added when `status > 100`, `to_tag` is not empty and To has no tag yet;
/// an existing tag is kept), Call-ID and CSeq; for 100 also Timestamp (§8.2.6.1); then
/// `extra` headers in order (Contact, Warning, Reason, ...) and `Content-Length: 0`.
/// Headers the request lacks are left out.
pub fn response(
    request: &Message,
    status: u16,
    reason: &str,
    to_tag: &str,
    extra: &[(&str, &str)],
) -> Message {
    debug_assert!((100..=699).contains(&status), "status {status}");
    let mut headers = Vec::with_capacity(request.headers.len().min(16) + extra.len() + 2);
    headers.extend(
        request
            .headers
            .iter()
            .filter(|header| name_is(&header.name, "Via"))
            .map(|header| header_of("Via", &header.value)),
    );
    for name in &REQUIRED_HEADERS[1..] {
        let Some(value) = request.header(name) else {
            continue;
        };
        let tagged = *name == "To" && status > 100 && !to_tag.is_empty();
        if tagged && tag_of(value).is_none() {
            let value = format!("{value};tag={to_tag}");
            headers.push(Header {
                name: (*name).to_owned(),
                value,
            });
        } else {
            headers.push(header_of(name, value));
        }
    }
    if status == 100 {
        if let Some(timestamp) = request.header("Timestamp") {
            headers.push(header_of("Timestamp", timestamp));
        }
    }
    headers.extend(extra.iter().map(|(name, value)| header_of(name, value)));
    headers.push(header_of("Content-Length", "0"));
    Message {
        start: StartLine::Response {
            status,
            reason: reason.to_owned(),
        },
        headers,
        body: Vec::new(),
    }
}

/// [`response`] in its wire form, written straight into `out`: the bytes
/// `response(...).encode(out)` writes, without building the message first (a call is
/// answered two or three times, each a dozen allocations less).
pub fn write_response(
    request: &Message,
    status: u16,
    reason: &str,
    to_tag: &str,
    extra: &[(&str, &str)],
    out: &mut Vec<u8>,
) {
    debug_assert!((100..=699).contains(&status), "status {status}");
    out.extend_from_slice(b"SIP/2.0 ");
    out.extend_from_slice(&status_digits(status));
    out.push(b' ');
    write_clean(out, reason);
    out.extend_from_slice(b"\r\n");
    for header in &request.headers {
        if name_is(&header.name, "Via") {
            write_header(out, "Via", &header.value);
        }
    }
    for name in &REQUIRED_HEADERS[1..] {
        let Some(value) = request.header(name) else {
            continue;
        };
        write_clean(out, name);
        out.extend_from_slice(b": ");
        write_clean(out, value);
        if *name == "To" && status > 100 && !to_tag.is_empty() && tag_of(value).is_none() {
            out.extend_from_slice(b";tag=");
            write_clean(out, to_tag);
        }
        out.extend_from_slice(b"\r\n");
    }
    if status == 100 {
        if let Some(timestamp) = request.header("Timestamp") {
            write_header(out, "Timestamp", timestamp);
        }
    }
    for (name, value) in extra {
        // `encode` writes the one Content-Length itself.
        if !name_is(name, "Content-Length") {
            write_header(out, name, value);
        }
    }
    out.extend_from_slice(b"Content-Length: 0\r\n\r\n");
}

fn write_header(out: &mut Vec<u8>, name: &str, value: &str) {
    write_clean(out, name);
    out.extend_from_slice(b": ");
    write_clean(out, value);
    out.extend_from_slice(b"\r\n");
}

/// A status's three digits (100..=699).
fn status_digits(status: u16) -> [u8; 3] {
    let digit = |value: u16| b'0' + (value % 10) as u8;
    [digit(status / 100), digit(status / 10), digit(status)]
}

fn header_of(name: &str, value: &str) -> Header {
    Header {
        name: name.to_owned(),
        value: value.to_owned(),
    }
}

/// The standard reason phrase of a status (RFC 3261 §21 and later registrations);
/// `"Unknown"` for others.
pub fn reason_phrase(status: u16) -> &'static str {
    match status {
        100 => "Trying",
        180 => "Ringing",
        181 => "Call Is Being Forwarded",
        182 => "Queued",
        183 => "Session Progress",
        199 => "Early Dialog Terminated",
        200 => "OK",
        202 => "Accepted",
        204 => "No Notification",
        300 => "Multiple Choices",
        301 => "Moved Permanently",
        302 => "Moved Temporarily",
        305 => "Use Proxy",
        380 => "Alternative Service",
        400..=499 => client_reason(status),
        500 => "Server Internal Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Server Time-out",
        505 => "Version Not Supported",
        513 => "Message Too Large",
        580 => "Precondition Failure",
        600 => "Busy Everywhere",
        603 => "Decline",
        604 => "Does Not Exist Anywhere",
        606 => "Not Acceptable",
        _ => "Unknown",
    }
}

fn client_reason(status: u16) -> &'static str {
    match status {
        400 => "Bad Request",
        401 => "Unauthorized",
        402 => "Payment Required",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        406 => "Not Acceptable",
        407 => "Proxy Authentication Required",
        408 => "Request Timeout",
        410 => "Gone",
        413 => "Request Entity Too Large",
        414 => "Request-URI Too Long",
        415 => "Unsupported Media Type",
        416 => "Unsupported URI Scheme",
        420 => "Bad Extension",
        421 => "Extension Required",
        423 => "Interval Too Brief",
        480 => "Temporarily Unavailable",
        481 => "Call/Transaction Does Not Exist",
        482 => "Loop Detected",
        483 => "Too Many Hops",
        484 => "Address Incomplete",
        485 => "Ambiguous",
        486 => "Busy Here",
        487 => "Request Terminated",
        488 => "Not Acceptable Here",
        491 => "Request Pending",
        493 => "Undecipherable",
        _ => "Unknown",
    }
}

/// Stamps the top Via of a request that arrived from `source` (RFC 3261 §18.2.1, RFC 3581
/// §4): adds `received=<source ip>` when the sent-by host is not that IP address (a domain
/// name, or another address) or `rport` is present, fills a bare `;rport` with the source
/// port, and drops a `received` the sender wrote itself (responses must not be steered by
/// the sender). The transport calls it on arrival, before anything copies the Via; it is
/// idempotent, and a top Via that does not parse is left alone.
pub fn stamp_received(request: &mut Message, source: SocketAddr) {
    let Some((header, (start, end))) = request
        .headers
        .iter_mut()
        .filter(|header| name_is(&header.name, "Via"))
        .find_map(|header| first_element_span(&header.value).map(|span| (header, span)))
    else {
        return;
    };
    if let Some(element) = stamped(&header.value[start..end], source) {
        header.value.replace_range(start..end, &element);
    }
}

/// Where a response to a request that arrived over UDP from `source` goes (RFC 3261
/// §18.2.2, RFC 3581 §4): with `rport` in the top Via, back to the source address and port;
/// otherwise to the `received` address at the sent-by port, or 5060 when it has none.
///
/// The address is always the source's: after [`stamp_received`] a `received` parameter
/// holds exactly that, a sent-by without one names it too, and a hostname would need DNS.
/// Reading the address from the Via instead would let a sender aim responses at a third
/// party. Without a top Via that parses, the source address and port.
pub fn response_destination(request: &Message, source: SocketAddr) -> SocketAddr {
    let Some(via) = request.top_via_ref() else {
        return source;
    };
    if via.rport.is_some() {
        return source;
    }
    SocketAddr::new(source.ip(), via.port.unwrap_or(DEFAULT_PORT))
}
