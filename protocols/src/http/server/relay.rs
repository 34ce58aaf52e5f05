//! Relays a streamed response body ([`BodyStream`]) to its connection, piece by piece.
//!
//! While the body is idle (an event stream waits minutes between events) the connection is
//! watched: the next piece races a read and the stop signal. So a client that disconnects is
//! noticed at once and the stream dropped, which its producer sees as a closed channel. Bytes
//! the client sends meanwhile are read into the connection's buffer and discarded: a streamed
//! response ends its connection, so nothing after it is a request to answer.
//!
//! Timeouts: no idle or request timeout cuts a healthy idle stream; a write that does not
//! complete within `request_timeout_ms` (a client that stopped reading) closes the connection.
//! A stop ends the body (last chunk) and closes the connection.
//!
//! Memory: pieces ready at once are written in one flush, at most [`BATCH_BYTES_MAX`] bytes, so
//! the write buffer is bounded and reused; nothing grows per piece.

use futures_lite::{future, AsyncRead, AsyncReadExt, AsyncWrite};

use super::super::body_stream::{encode_end, encode_piece, BodyStream, StreamFraming};
use super::{flush, Connection, ConnectionEnd, ServerTimeouts, StopSignal};

/// Pieces ready at the same time are gathered into one write up to about this many bytes
/// (a piece is never split, so a write may exceed it by one piece).
pub(super) const BATCH_BYTES_MAX: usize = 64 * 1024;

/// What woke an idle stream.
enum Wake {
    Piece(Vec<u8>),
    End,
    Stopped,
    Read(usize),
    PeerClosed,
    Failed(std::io::ErrorKind),
}

/// Writes the head already in `connection.out`, then every piece of `body` as it comes, then
/// the end of the body; returns why the connection ends (it always does).
pub(super) async fn relay<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    connection: &mut Connection,
    mut body: BodyStream,
    framing: StreamFraming,
    timeouts: &ServerTimeouts,
    stop: &StopSignal,
) -> ConnectionEnd {
    loop {
        if let Err(end) = flush(stream, connection, timeouts).await {
            return end;
        }
        // Checked each turn, not only while idle: a producer that is never idle must not
        // hold up a stop.
        if stop.is_stopped() {
            return finish(
                stream,
                connection,
                framing,
                timeouts,
                ConnectionEnd::Stopped,
            )
            .await;
        }
        match wait(stream, connection, &mut body, stop).await {
            Wake::Piece(piece) => {
                encode_piece(&piece, framing, &mut connection.out);
                if gather_ready(&mut body, framing, &mut connection.out).await {
                    return finish(stream, connection, framing, timeouts, ConnectionEnd::Closed)
                        .await;
                }
            }
            Wake::End => {
                return finish(stream, connection, framing, timeouts, ConnectionEnd::Closed).await
            }
            Wake::Stopped => {
                return finish(
                    stream,
                    connection,
                    framing,
                    timeouts,
                    ConnectionEnd::Stopped,
                )
                .await
            }
            Wake::Read(n) => connection.report.bytes_read += n as u64,
            Wake::PeerClosed => return ConnectionEnd::PeerClosed,
            Wake::Failed(kind) => return ConnectionEnd::Io(kind),
        }
    }
}

/// Waits for the next piece, a stop, or the client (data, EOF or an error). The client and
/// the stop come first, so a closed connection is noticed even when a piece is also ready.
async fn wait<S: AsyncRead + Unpin>(
    stream: &mut S,
    connection: &mut Connection,
    body: &mut BodyStream,
    stop: &StopSignal,
) -> Wake {
    // The whole read buffer is scratch now: the request that asked for the stream is
    // decoded, and what follows it is discarded.
    let scratch = &mut connection.buffer[..];
    let read = async {
        match stream.read(scratch).await {
            Ok(0) => Wake::PeerClosed,
            Ok(n) => Wake::Read(n),
            Err(error) => Wake::Failed(error.kind()),
        }
    };
    let stopped = async {
        stop.wait().await;
        Wake::Stopped
    };
    let piece = async {
        match body.next().await {
            Some(piece) => Wake::Piece(piece),
            None => Wake::End,
        }
    };
    future::or(read, future::or(stopped, piece)).await
}

/// Appends the pieces that are ready now, without waiting, up to [`BATCH_BYTES_MAX`] bytes.
/// Returns whether the body ended.
async fn gather_ready(body: &mut BodyStream, framing: StreamFraming, out: &mut Vec<u8>) -> bool {
    while out.len() < BATCH_BYTES_MAX {
        match future::poll_once(body.next()).await {
            Some(Some(piece)) => encode_piece(&piece, framing, out),
            Some(None) => return true,
            None => break,
        }
    }
    false
}

/// Ends the body and writes what is pending; `end` unless the write fails.
async fn finish<S: AsyncWrite + Unpin>(
    stream: &mut S,
    connection: &mut Connection,
    framing: StreamFraming,
    timeouts: &ServerTimeouts,
    end: ConnectionEnd,
) -> ConnectionEnd {
    encode_end(framing, &mut connection.out);
    match flush(stream, connection, timeouts).await {
        Ok(()) => end,
        Err(failed) => failed,
    }
}
