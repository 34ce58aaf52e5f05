//! Entry points for the cargo-fuzz targets in `tests/fuzz` (one-line targets call these).
//! Not part of the API.
//!
//! Each target decodes the input twice, all at once and in pseudo-random splits, and
//! asserts that both give the same messages and the same verdict: a decoder that depends on
//! how reads happen to split the stream is a request-smuggling bug.

use crate::http::codec::{
    Decoded, HttpError, HttpLimits, Request, RequestDecoder, Response, ResponseDecoder,
    StreamedBodyDecoder,
};
use crate::http::sse::{SseDecoder, SseError, SseEvent};
use crate::sip::{
    response, salvage_for_response, stamp_received, Framed, Message, SipError, SipLimits,
    SipStreamDecoder,
};

/// Small limits reach every limit path with short inputs; the defaults cover the rest.
const SMALL_LIMITS: HttpLimits = HttpLimits {
    header_bytes_max: 256,
    headers_max: 8,
    body_bytes_max: 1024,
    uri_bytes_max: 64,
};

/// Split sizes from a seed: a tiny LCG, so a crash replays from the input alone.
struct Splits(u32);

impl Iterator for Splits {
    type Item = usize;
    fn next(&mut self) -> Option<usize> {
        self.0 = self.0.wrapping_mul(1_103_515_245).wrapping_add(12_345);
        Some(1 + (self.0 >> 16) as usize % 24)
    }
}

fn limits_and_input(data: &[u8]) -> Option<(HttpLimits, u32, &[u8])> {
    let (&seed, input) = data.split_first()?;
    let limits = if seed & 1 == 0 {
        SMALL_LIMITS
    } else {
        HttpLimits::DEFAULT
    };
    Some((limits, u32::from(seed), input))
}

/// Feeds `input` in pieces of the sizes `splits` yields, like a connection would.
fn requests(
    input: &[u8],
    limits: HttpLimits,
    splits: &mut dyn Iterator<Item = usize>,
) -> (Vec<Request>, bool) {
    let mut decoder = RequestDecoder::new(limits);
    let (mut buffer, mut fed, mut out) = (Vec::new(), 0, Vec::new());
    while fed < input.len() {
        let piece = splits.next().unwrap_or(input.len()).min(input.len() - fed);
        buffer.extend_from_slice(&input[fed..fed + piece]);
        fed += piece;
        loop {
            let Ok(progress) = decoder.decode(&buffer) else {
                return (out, true);
            };
            buffer.drain(..progress.consumed);
            match progress.decoded {
                Decoded::Complete => out.push(decoder.take_request()),
                Decoded::Continue => {}
                Decoded::Partial => break,
            }
        }
    }
    (out, false)
}

/// Fuzz the request decoder: never panic, and splitting never changes the result.
pub fn http_request(data: &[u8]) {
    let Some((limits, seed, input)) = limits_and_input(data) else {
        return;
    };
    let whole = requests(input, limits, &mut std::iter::empty());
    let split = requests(input, limits, &mut Splits(seed));
    assert_eq!(whole, split);
    let single = requests(input, limits, &mut std::iter::repeat(1));
    assert_eq!(whole, single);
}

fn responses(
    input: &[u8],
    limits: HttpLimits,
    splits: &mut dyn Iterator<Item = usize>,
) -> (Vec<Response>, bool) {
    let mut decoder = ResponseDecoder::new(limits, false);
    let (mut buffer, mut fed, mut out) = (Vec::new(), 0, Vec::new());
    while fed < input.len() {
        let piece = splits.next().unwrap_or(input.len()).min(input.len() - fed);
        buffer.extend_from_slice(&input[fed..fed + piece]);
        fed += piece;
        loop {
            let Ok(progress) = decoder.decode(&buffer) else {
                return (out, true);
            };
            buffer.drain(..progress.consumed);
            if progress.decoded != Decoded::Complete {
                break;
            }
            let keep_alive = decoder.keep_alive();
            out.push(decoder.take_response());
            if !keep_alive {
                return (out, false);
            }
            decoder = ResponseDecoder::new(limits, false);
        }
    }
    match decoder.finish() {
        Ok(_) => out.push(decoder.take_response()),
        Err(_) => return (out, true),
    }
    (out, false)
}

/// Fuzz the response decoder, including read-to-close bodies ended by EOF.
pub fn http_response(data: &[u8]) {
    let Some((limits, seed, input)) = limits_and_input(data) else {
        return;
    };
    let whole = responses(input, limits, &mut std::iter::empty());
    let split = responses(input, limits, &mut Splits(seed));
    assert_eq!(whole, split);
}

/// Which error a decoder refused with, without its fields: a refusal's "bytes seen so far"
/// depends on where the reads split (it is reported when the bound is crossed), the refusal
/// itself must not.
type Verdict<E> = std::mem::Discriminant<E>;

/// Event bound for the SSE target: small, so the refusal path is reached.
const SSE_EVENT_BYTES_MAX: u32 = 512;

/// Feeds `input` to an [`SseDecoder`] in pieces; the events and the verdict.
fn sse_events(
    input: &[u8],
    splits: &mut dyn Iterator<Item = usize>,
) -> (Vec<SseEvent>, Option<Verdict<SseError>>) {
    let mut decoder = SseDecoder::new(SSE_EVENT_BYTES_MAX);
    let (mut fed, mut events) = (0, Vec::new());
    while fed < input.len() {
        let piece = splits.next().unwrap_or(input.len()).min(input.len() - fed);
        if let Err(error) = decoder.decode(&input[fed..fed + piece], &mut events) {
            return (events, Some(std::mem::discriminant(&error)));
        }
        fed += piece;
    }
    (events, None)
}

/// Feeds `input` to a [`StreamedBodyDecoder`] in pieces, draining its data as a client would; the
/// data, whether the last chunk came, and the verdict.
fn dechunked(
    input: &[u8],
    limits: HttpLimits,
    splits: &mut dyn Iterator<Item = usize>,
) -> (Vec<u8>, bool, Option<Verdict<HttpError>>) {
    let mut decoder = StreamedBodyDecoder::chunked(limits);
    let (mut buffer, mut fed, mut data) = (Vec::new(), 0, Vec::new());
    while fed < input.len() && !decoder.is_done() {
        let piece = splits.next().unwrap_or(input.len()).min(input.len() - fed);
        buffer.extend_from_slice(&input[fed..fed + piece]);
        fed += piece;
        match decoder.decode(&buffer, &mut data) {
            Ok(progress) => {
                buffer.drain(..progress.consumed);
            }
            Err(error) => return (data, false, Some(std::mem::discriminant(&error))),
        }
    }
    (data, decoder.is_done(), None)
}

/// Fuzz the event-stream decoder and the endless-chunked-body decoder: never panic, and
/// splitting never changes the events, the data or the verdict.
pub fn sse(data: &[u8]) {
    let Some((limits, seed, input)) = limits_and_input(data) else {
        return;
    };
    let whole = sse_events(input, &mut std::iter::empty());
    assert_eq!(whole, sse_events(input, &mut Splits(seed)));
    assert_eq!(whole, sse_events(input, &mut std::iter::repeat(1)));
    let body = dechunked(input, limits, &mut std::iter::empty());
    assert_eq!(body, dechunked(input, limits, &mut Splits(seed)));
    assert_eq!(body, dechunked(input, limits, &mut std::iter::repeat(1)));
    // What a client does with an event stream: dechunk, then decode the events.
    let (events, _) = sse_events(&body.0, &mut Splits(seed));
    assert!(events.len() <= body.0.len());
}

/// Small SIP limits reach every limit path with short inputs; the defaults cover the rest.
const SIP_SMALL_LIMITS: SipLimits = SipLimits {
    message_bytes_max: 512,
    headers_max: 8,
    body_bytes_max: 64,
};

/// Limits no re-encoded message reaches: encoding may grow a message (long header names,
/// a Content-Length added), and the round trip must not fail on that.
const SIP_ROUND_TRIP_LIMITS: SipLimits = SipLimits {
    message_bytes_max: u32::MAX,
    headers_max: u16::MAX,
    body_bytes_max: u32::MAX,
};

fn sip_limits_and_input(data: &[u8]) -> Option<(SipLimits, u32, &[u8])> {
    let (&seed, input) = data.split_first()?;
    let limits = if seed & 1 == 0 {
        SIP_SMALL_LIMITS
    } else {
        SipLimits::DEFAULT
    };
    Some((limits, u32::from(seed), input))
}

fn sip_encoded(message: &Message) -> Vec<u8> {
    let mut out = Vec::new();
    message.encode(&mut out);
    out
}

/// Fuzz the SIP message parser: never panic; a message that parses survives encode and
/// parse (Content-Length aside, which encoding rewrites) and then encodes identically;
/// salvage reads at least what the parser read; responses built from it parse.
pub fn sip_message(data: &[u8]) {
    let Some((limits, _, input)) = sip_limits_and_input(data) else {
        return;
    };
    let salvaged = salvage_for_response(input);
    let Ok(message) = Message::parse(input, &limits) else {
        return;
    };
    let again = Message::parse(&sip_encoded(&message), &SIP_ROUND_TRIP_LIMITS)
        .expect("an encoded message parses");
    assert_eq!(again.start, message.start);
    assert_eq!(again.body, message.body);
    let framing = |m: &Message| {
        let mut headers = m.headers.clone();
        headers.retain(|header| !header.name.eq_ignore_ascii_case("Content-Length"));
        headers
    };
    assert_eq!(framing(&again), framing(&message));
    let encoded = sip_encoded(&again);
    assert_eq!(
        sip_encoded(&Message::parse(&encoded, &SIP_ROUND_TRIP_LIMITS).unwrap()),
        encoded
    );
    sip_accessors(&message);
    if message.is_request() {
        sip_request(&message, salvaged);
    }
}

/// Reads everything a TU reads, for panics.
fn sip_accessors(message: &Message) {
    let _ = (message.call_id(), message.cseq(), message.top_via());
    let _ = (message.from_tag(), message.to_tag());
    let _ = (message.request_user(), message.from_user());
    assert!(
        message.top_via().is_some(),
        "the parser checked the top Via"
    );
    assert!(message.headers("Via").count() >= 1);
}

fn sip_request(request: &Message, salvaged: Option<Message>) {
    if request.method() != Some(&crate::sip::Method::Ack) {
        let salvaged = salvaged.expect("a request that parses can be salvaged");
        assert!(salvaged.headers("Via").eq(request.headers("Via")));
        assert_eq!(salvaged.call_id(), request.call_id());
        assert_eq!(salvaged.header("CSeq"), request.header("CSeq"));
        assert_eq!(salvaged.header("From"), request.header("From"));
        assert_eq!(salvaged.header("To"), request.header("To"));
    }
    let mut stamped = request.clone();
    stamp_received(
        &mut stamped,
        std::net::SocketAddr::from(([192, 0, 2, 1], 5062)),
    );
    let via = stamped
        .top_via()
        .expect("stamping keeps the top Via parsable");
    let mut twice = stamped.clone();
    stamp_received(
        &mut twice,
        std::net::SocketAddr::from(([192, 0, 2, 1], 5062)),
    );
    assert_eq!(twice, stamped, "stamping is idempotent");
    assert!(via.rport.is_none() || via.rport.is_some_and(|port| port.is_some()));
    let contact = [("Contact", "<sip:agent@10.0.0.5>")];
    let moved = response(
        &stamped,
        302,
        "Moved Temporarily",
        "0123456789abcdef",
        &contact,
    );
    let parsed = Message::parse(&sip_encoded(&moved), &SIP_ROUND_TRIP_LIMITS)
        .expect("a response to a request that parses parses");
    assert_eq!(parsed.status(), Some(302));
    assert_eq!(parsed.call_id(), request.call_id());
    assert!(parsed.to_tag().is_some());
    for (status, tag) in [(100, ""), (302, "0123456789abcdef")] {
        let mut written = Vec::new();
        crate::sip::write_response(&stamped, status, "R", tag, &contact, &mut written);
        let built = response(&stamped, status, "R", tag, &contact);
        assert_eq!(
            written,
            sip_encoded(&built),
            "written and encoded responses differ"
        );
    }
}

/// What a stream connection saw: each framed message (or why it was invalid, with its
/// length), the number of pings, and the verdict.
type SipFrames = (
    Vec<Result<Message, (SipError, usize)>>,
    usize,
    Option<Verdict<SipError>>,
);

fn sip_frames(
    input: &[u8],
    limits: SipLimits,
    splits: &mut dyn Iterator<Item = usize>,
) -> SipFrames {
    let mut decoder = SipStreamDecoder::new(limits);
    let (mut buffer, mut fed, mut frames, mut pings) = (Vec::new(), 0, Vec::new(), 0);
    while fed < input.len() {
        let piece = splits.next().unwrap_or(input.len()).min(input.len() - fed);
        buffer.extend_from_slice(&input[fed..fed + piece]);
        fed += piece;
        loop {
            let consumed = match decoder.decode(&buffer) {
                Err(error) => return (frames, pings, Some(std::mem::discriminant(&error))),
                Ok(Framed::Need) => break,
                Ok(Framed::Message(message, consumed)) => {
                    frames.push(Ok(message));
                    consumed
                }
                Ok(Framed::Invalid { error, consumed }) => {
                    frames.push(Err((error, consumed)));
                    consumed
                }
                Ok(Framed::Skip(consumed)) => consumed,
                Ok(Framed::Ping(consumed)) => {
                    pings += 1;
                    consumed
                }
            };
            assert!(consumed > 0, "progress on every frame");
            assert!(consumed <= buffer.len());
            buffer.drain(..consumed);
        }
    }
    (frames, pings, None)
}

/// Fuzz the SIP stream framer: never panic, and splitting never changes the messages, the
/// pings or the verdict.
pub fn sip_stream(data: &[u8]) {
    let Some((limits, seed, input)) = sip_limits_and_input(data) else {
        return;
    };
    let whole = sip_frames(input, limits, &mut std::iter::empty());
    assert_eq!(whole, sip_frames(input, limits, &mut Splits(seed)));
    assert_eq!(whole, sip_frames(input, limits, &mut std::iter::repeat(1)));
}

/// Fuzz the certificate name reader: never panic, at most the bounded number of names, and
/// the log name is one of the names listed when the list was not cut short (the two walks
/// over one certificate must agree).
pub fn certificate_names(data: &[u8]) {
    use crate::tls::identity::{certificate_names, peer_name, PeerName, CERTIFICATE_NAMES_MAX};
    let names = certificate_names(data);
    assert!(names.len() <= CERTIFICATE_NAMES_MAX);
    if names.len() == CERTIFICATE_NAMES_MAX {
        return;
    }
    match peer_name(data) {
        Some(PeerName::CommonName(name)) | Some(PeerName::Dns(name)) => {
            assert!(names.iter().any(|listed| listed == name));
        }
        Some(PeerName::Ip(address)) => {
            assert!(names.contains(&address.to_string()));
        }
        None => {}
    }
}
