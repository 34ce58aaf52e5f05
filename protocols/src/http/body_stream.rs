//! Streamed response bodies: a body that arrives in pieces after its head, for Server-Sent
//! Events and other long-lived answers, and its wire framing.
//!
//! A handler answers [`Response::stream`](super::Response::stream) with a [`BodyStream`]; the
//! server writes the head at once, then each piece as it arrives, flushed without waiting for
//! the next (an event stream wants latency, not throughput). The framing is HTTP/1.1
//! `Transfer-Encoding: chunked`, or for an HTTP/1.0 client a body delimited by closing the
//! connection. A streamed response always ends its connection (`Connection: close`), so the
//! server never has to keep a pipelined request waiting behind a stream of unknown length.
//!
//! The encoders here are sans-IO, like the rest of the codec: they append to a caller-owned
//! buffer that the connection reuses, so nothing grows per piece.

use std::fmt;
use std::io::Write as _;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_lite::{Stream, StreamExt};

use super::codec::{has_body, is_framing_header, put_header, reason_phrase, Response};

/// The pieces of a streamed body, in order; the stream's end is the body's end.
///
/// `Send` because a [`Response`] crosses shards in `runtime` (a forwarded API call's answer);
/// a shard-local producer feeds it through a channel (e.g. a `flume` receiver's
/// `into_stream()`). Empty pieces are skipped: they carry nothing, and an empty chunk would
/// end the chunked framing early.
pub struct BodyStream(Pin<Box<dyn Stream<Item = Vec<u8>> + Send>>);

impl BodyStream {
    /// Wraps `pieces`. Boxed once per stream, never per piece.
    pub fn new(pieces: impl Stream<Item = Vec<u8>> + Send + 'static) -> Self {
        Self(Box::pin(pieces))
    }

    /// The next piece, or `None` at the end of the body.
    pub async fn next(&mut self) -> Option<Vec<u8>> {
        self.0.next().await
    }
}

impl Stream for BodyStream {
    type Item = Vec<u8>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Vec<u8>>> {
        self.0.as_mut().poll_next(cx)
    }
}

impl fmt::Debug for BodyStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("BodyStream(..)")
    }
}

/// A stream equals only itself: two streams cannot be compared by content without being
/// consumed. This keeps `Response: Eq` for the codec's tests and fuzzers.
impl PartialEq for BodyStream {
    fn eq(&self, other: &Self) -> bool {
        std::ptr::eq(self, other)
    }
}

impl Eq for BodyStream {}

/// How a streamed body is delimited on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamFraming {
    /// HTTP/1.1: `Transfer-Encoding: chunked`, ended by the last (empty) chunk.
    Chunked,
    /// HTTP/1.0: raw bytes, ended by closing the connection.
    UntilClose,
}

/// The last chunk of a chunked body (no trailer fields).
pub const LAST_CHUNK: &[u8] = b"0\r\n\r\n";

/// Appends the head of a streamed `response` to `out`: its status and headers, the framing
/// header for `framing`, and `Connection: close`. The body pieces follow with
/// [`encode_piece`] (the server sends `response.body`, if any, as the first).
pub fn encode_stream_head(response: &Response, framing: StreamFraming, out: &mut Vec<u8>) {
    assert!(has_body(response.status), "status {}", response.status);
    let _ = write!(
        out,
        "HTTP/1.1 {} {}\r\n",
        response.status,
        reason_phrase(response.status)
    );
    for (name, value) in &response.headers {
        debug_assert!(!is_framing_header(name), "encoder-owned header {name}");
        put_header(out, name, value.as_bytes());
    }
    if framing == StreamFraming::Chunked {
        out.extend_from_slice(b"Transfer-Encoding: chunked\r\n");
    }
    out.extend_from_slice(b"Connection: close\r\n\r\n");
}

/// Appends one body piece to `out` under `framing`. An empty piece appends nothing (under
/// chunked framing it would read as the last chunk).
pub fn encode_piece(piece: &[u8], framing: StreamFraming, out: &mut Vec<u8>) {
    if piece.is_empty() {
        return;
    }
    if framing == StreamFraming::Chunked {
        let _ = write!(out, "{:x}\r\n", piece.len());
    }
    out.extend_from_slice(piece);
    if framing == StreamFraming::Chunked {
        out.extend_from_slice(b"\r\n");
    }
}

/// Appends the end of the body under `framing`: the last chunk, or nothing when closing the
/// connection is the end.
pub fn encode_end(framing: StreamFraming, out: &mut Vec<u8>) {
    if framing == StreamFraming::Chunked {
        out.extend_from_slice(LAST_CHUNK);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunked_head_pieces_and_end() {
        let response = Response::new(200).with_header("Content-Type", "text/event-stream");
        let mut out = Vec::new();
        encode_stream_head(&response, StreamFraming::Chunked, &mut out);
        encode_piece(b"hello", StreamFraming::Chunked, &mut out);
        encode_piece(b"", StreamFraming::Chunked, &mut out);
        encode_piece(&[b'x'; 26], StreamFraming::Chunked, &mut out);
        encode_end(StreamFraming::Chunked, &mut out);
        let expected = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\
             Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n\
             5\r\nhello\r\n1a\r\n{}\r\n0\r\n\r\n",
            "x".repeat(26)
        );
        assert_eq!(String::from_utf8(out).unwrap(), expected);
    }

    #[test]
    fn close_delimited_head_and_pieces() {
        let mut out = Vec::new();
        encode_stream_head(&Response::new(200), StreamFraming::UntilClose, &mut out);
        encode_piece(b"ab", StreamFraming::UntilClose, &mut out);
        encode_piece(b"cd", StreamFraming::UntilClose, &mut out);
        encode_end(StreamFraming::UntilClose, &mut out);
        assert_eq!(out, b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nabcd");
    }

    #[test]
    fn a_stream_equals_only_itself() {
        let one = BodyStream::new(futures_lite::stream::empty());
        let two = BodyStream::new(futures_lite::stream::empty());
        assert_eq!(one, one);
        assert_ne!(one, two);
    }
}
