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
