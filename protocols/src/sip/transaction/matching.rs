//! Matching requests to server transactions (RFC 3261 §17.2.3).
//!
//! A request's key is written into a reusable `String`, so looking one up allocates
//! nothing; only a new transaction stores its key. Variable fields are length-prefixed,
//! so two different requests never write the same key.

use crate::sip::message::Message;
use crate::sip::syntax::split_cseq;
use crate::sip::via::MAGIC_COOKIE;

/// Which transaction a request is looked up in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Class {
    /// The INVITE transaction it belongs to (an INVITE's own, an ACK's for a non-2xx
    /// response, a CANCEL's target).
    Invite,
    /// The transaction of its own method (a CANCEL's own, an OPTIONS's, ...).
    Own,
}

/// Writes the key of `request` in `class` into `out` (replacing what was there).
///
/// With an RFC 3261 branch (magic cookie) the key is the branch, the sent-by and the
/// method. Without one (an RFC 2543 peer) it is the Request-URI, the From tag, the Call-ID,
/// the CSeq number, the sent-by and the method. RFC 2543 matching would also compare the
/// To tag; since this layer never sends a 2xx to an INVITE, an ACK matching the rest can
/// only acknowledge its final response, so the To tag is left out.
///
/// `false` when the request lacks what matching needs (it is then not answered).
pub(super) fn write_key(request: &Message, class: Class, out: &mut String) -> bool {
    out.clear();
    let (Some(method), Some(via)) = (request.method(), request.top_via_ref()) else {
        return false;
    };
    match via.branch.filter(|branch| branch.starts_with(MAGIC_COOKIE)) {
        Some(branch) => {
            out.push_str("3261|");
            field(out, branch);
        }
        None => {
            let cseq = request.header("CSeq").and_then(split_cseq);
            let (Some(call_id), Some((number, _)), Some(uri)) =
                (request.call_id(), cseq, request.request_uri())
            else {
                return false;
            };
            out.push_str("2543|");
            field(out, uri);
            field(out, request.from_tag().unwrap_or(""));
            field(out, call_id);
            push_decimal(out, number.into());
            out.push('|');
        }
    }
    // Host names compare case-insensitively (RFC 3261 §19.1.4).
    push_decimal(out, via.host.len() as u64);
    out.push(':');
    out.extend(via.host.chars().map(|c| c.to_ascii_lowercase()));
    out.push('|');
    if let Some(port) = via.port {
        push_decimal(out, port.into());
    }
    out.push('|');
    out.push_str(match class {
        Class::Invite => "INVITE",
        Class::Own => method.as_str(),
    });
    true
}

/// Writes a length-prefixed field.
fn field(out: &mut String, text: &str) {
    push_decimal(out, text.len() as u64);
    out.push(':');
    out.push_str(text);
    out.push('|');
}

/// Writes `number` in decimal without the formatting machinery (keys are written for
/// every request).
fn push_decimal(out: &mut String, mut number: u64) {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    loop {
        at -= 1;
        digits[at] = b'0' + (number % 10) as u8;
        number /= 10;
        if number == 0 {
            break;
        }
    }
    // ASCII digits only.
    out.push_str(std::str::from_utf8(&digits[at..]).unwrap_or_default());
}
