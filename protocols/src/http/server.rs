//! The HTTP/1.1 server loop on glommio: one task per connection, requests handed to a
//! [`Handler`] in order, responses written in order, keep-alive, timeouts and limits.
//!
//! A shard runs one [`accept_loop`] per listener; [`accept_loop_with`] takes an [`Acceptor`]
//! that runs the TLS handshake first, with the same limits, timeouts and graceful stop. Every shard binds the same address:
//! glommio's `TcpListener::bind` sets `SO_REUSEPORT` itself, so the kernel spreads
//! connections across shards and no socket2 detour is needed.
//!
//! Each connection owns one read buffer (grown up to the head limit, then reused), one
//! write buffer and one decoder; the steady state allocates only what the handler does.
//!
//! A [`Response::stream`] answer is relayed piece by piece by the `relay` module (chunked, or
//! close-delimited for HTTP/1.0), watching the client and the stop signal meanwhile; the
//! connection closes after it.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use futures_lite::{future, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use glommio::net::{TcpListener, TcpStream};
use slab::Slab;

use super::body_stream::{encode_piece, encode_stream_head, BodyStream, StreamFraming};
use super::codec::{
    encode_response, has_body, Decoded, HttpError, HttpLimits, Method, Request, RequestDecoder,
    Response, Version, CHUNK_SIZE_LINE_BYTES_MAX, CONTINUE_RESPONSE,
};
use crate::tls::identity::certificate_names;
use crate::tls::{MaybeTls, SharedServerTls, TlsError};

mod relay;

/// Answers requests. Implemented by `runtime` (the session API, Basic HTTP, admin).
///
/// The futures are `!Send` on purpose: a shard is one thread, and handlers use its `Rc`
/// state directly. Static dispatch keeps `async fn` free of boxing.
#[allow(async_fn_in_trait)] // No Send bound wanted: shards are single-threaded.
pub trait Handler {
    /// Answers one complete request from `peer`. Errors are responses too (4xx/5xx with a
    /// JSON reason). A [`Response::stream`] answer is relayed piece by piece (see
    /// [`BodyStream`]), after which the connection closes.
    async fn handle(&self, request: &Request, peer: &Peer) -> Response;
}

/// Who is at the other end of a connection, as far as the transport knows: the address,
/// and the names of the client certificate a mutual-TLS handshake verified. Taken once per
/// connection, when it is accepted, so that each request costs nothing for it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Peer {
    /// The remote address, when the socket could tell it.
    pub address: Option<SocketAddr>,
    /// Every name of the verified client certificate (subject CN, then alternative names;
    /// see [`crate::tls::identity::certificate_names`]); empty without one.
    pub certificate_names: Vec<String>,
}

/// Connection timeouts. Each closes the connection when it expires.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServerTimeouts {
    /// Time to receive a complete head, from connect (first request) or from its first byte,
    /// default 10 s. Expiry answers 408: this is the slow-loris defence.
    pub header_timeout_ms: u32,
    /// Time to receive a body once its head is complete, and to write a response, default
    /// 30 s. Expiry answers 408 while receiving. A streamed response is bounded per write
    /// only: a client that stops reading is cut, an idle stream is not.
    pub request_timeout_ms: u32,
    /// Time a kept-alive connection may wait for its next request, default 60 s. Expiry
    /// closes silently. Cost: one open socket and buffers per idle connection. It does not
    /// apply while a streamed response is open (an event stream idles for minutes).
    pub idle_timeout_ms: u32,
}

impl ServerTimeouts {
    /// The defaults documented on each field.
    pub const DEFAULT: Self = Self {
        header_timeout_ms: 10_000,
        request_timeout_ms: 30_000,
        idle_timeout_ms: 60_000,
    };
}

impl Default for ServerTimeouts {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// How a connection ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConnectionEnd {
    /// The peer closed between requests (or mid-request, without an answer), or left a
    /// streamed response.
    PeerClosed,
    /// A request or response asked to close (`Connection: close`, HTTP/1.0), or a streamed
    /// response ended.
    Closed,
    /// No new request within `idle_timeout_ms`.
    IdleTimeout,
    /// No complete head within `header_timeout_ms` (answered 408).
    HeaderTimeout,
    /// No complete body within `request_timeout_ms`, or a response not written in that time.
    RequestTimeout,
    /// A malformed or over-limit request (answered with its status).
    Protocol(HttpError),
    /// A socket error.
    Io(io::ErrorKind),
    /// The server is stopping: the connection closed after its in-flight request.
    Stopped,
}

/// What one connection did, for metrics and logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionReport {
    /// Requests answered by the handler.
    pub requests: u32,
    /// Bytes received.
    pub bytes_read: u64,
    /// Bytes sent.
    pub bytes_written: u64,
    /// Why the connection ended.
    pub end: ConnectionEnd,
}

/// A one-shot, shard-local signal: `stop()` wakes every `wait()`er. Used for graceful stop
/// (accept loops end, idle connections close, busy ones finish their request first).
#[derive(Debug, Clone, Default)]
pub struct StopSignal {
    inner: Rc<StopInner>,
}

#[derive(Debug, Default)]
struct StopInner {
    stopped: Cell<bool>,
    waiters: RefCell<Slab<Waker>>,
}

impl StopSignal {
    /// A signal not yet raised.
    pub fn new() -> Self {
        Self::default()
    }

    /// Raises the signal and wakes every waiter. Idempotent.
    pub fn stop(&self) {
        self.inner.stopped.set(true);
        let wakers: Vec<Waker> = self.inner.waiters.borrow_mut().drain().collect();
        wakers.into_iter().for_each(Waker::wake);
    }

    /// Whether the signal was raised.
    pub fn is_stopped(&self) -> bool {
        self.inner.stopped.get()
    }

    /// Completes once the signal is raised.
    pub fn wait(&self) -> StopWait {
        StopWait {
            inner: Rc::clone(&self.inner),
            key: None,
        }
    }
}

/// The future of [`StopSignal::wait`]. It keeps one waker slot, freed on drop, so waiting
/// repeatedly on a long-lived connection does not grow the waiter list.
#[derive(Debug)]
pub struct StopWait {
    inner: Rc<StopInner>,
    key: Option<usize>,
}

impl Future for StopWait {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.inner.stopped.get() {
            return Poll::Ready(());
        }
        let mut waiters = self.inner.waiters.borrow_mut();
        match self.key {
            Some(key) if waiters.contains(key) => waiters[key].clone_from(cx.waker()),
            _ => {
                let key = waiters.insert(cx.waker().clone());
                drop(waiters);
                self.key = Some(key);
            }
        }
        Poll::Pending
    }
}

impl Drop for StopWait {
    fn drop(&mut self) {
        if let Some(key) = self.key {
            self.inner.waiters.borrow_mut().try_remove(key);
        }
    }
}

/// Bytes read per read call at first; the buffer grows (up to the head limit) only when a
/// head does not fit.
const READ_BUFFER_BYTES_MIN: usize = 4096;

/// After an error answer, at most this many unread request bytes are drained before the
/// socket closes, so the peer reads the answer instead of a reset.
const LINGER_BYTES_MAX: usize = 64 * 1024;
const LINGER_TIMEOUT_MS: u64 = 500;

/// Which timeout governs the next read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Idle,
    Head,
    Body,
}

/// One connection's buffers and progress.
struct Connection {
    decoder: RequestDecoder,
    /// Received bytes; `buffer[start..end]` is not yet decoded.
    buffer: Vec<u8>,
    start: usize,
    end: usize,
    buffer_bytes_max: usize,
    /// Encoded responses waiting to be written in one go.
    out: Vec<u8>,
    /// A streamed body whose head is in `out`, to relay before the connection closes.
    pending_stream: Option<(BodyStream, StreamFraming)>,
    phase: Phase,
    phase_since: Instant,
    report: ConnectionReport,
}

/// What a read produced.
enum ReadOutcome {
    Data(usize),
    Eof,
    Timeout,
    Stopped,
    Failed(io::Error),
}

impl Connection {
    fn new(limits: &HttpLimits) -> Self {
        let buffer_bytes_max = (limits.header_bytes_max as usize + 1)
            .max(CHUNK_SIZE_LINE_BYTES_MAX + 1)
            .max(READ_BUFFER_BYTES_MIN);
        Self {
            decoder: RequestDecoder::new(*limits),
            buffer: vec![0; READ_BUFFER_BYTES_MIN],
            start: 0,
            end: 0,
            buffer_bytes_max,
            out: Vec::with_capacity(READ_BUFFER_BYTES_MIN),
            pending_stream: None,
            // The first request's head is timed from connect: a client that connects and
            // sends nothing is a slow loris too.
            phase: Phase::Head,
            phase_since: Instant::now(),
            report: ConnectionReport {
                requests: 0,
                bytes_read: 0,
                bytes_written: 0,
                end: ConnectionEnd::PeerClosed,
            },
        }
    }

    fn enter(&mut self, phase: Phase) {
        if self.phase != phase {
            self.phase = phase;
            self.phase_since = Instant::now();
        }
    }

    fn deadline(&self, timeouts: &ServerTimeouts) -> Instant {
        let timeout_ms = match self.phase {
            Phase::Idle => timeouts.idle_timeout_ms,
            Phase::Head => timeouts.header_timeout_ms,
            Phase::Body => timeouts.request_timeout_ms,
        };
        self.phase_since + Duration::from_millis(u64::from(timeout_ms))
    }

    /// Makes room at the end of the buffer: drops decoded bytes, then grows if a head or
    /// chunk line still does not fit.
    fn make_room(&mut self) {
        if self.start == self.end {
            (self.start, self.end) = (0, 0);
        } else if self.end == self.buffer.len() && self.start > 0 {
            self.buffer.copy_within(self.start..self.end, 0);
            (self.start, self.end) = (0, self.end - self.start);
        }
        if self.end == self.buffer.len() {
            let grown = (self.buffer.len() * 2).min(self.buffer_bytes_max);
            // The decoder fails any head or line longer than the maximum, so a full buffer
            // at the maximum is impossible.
            assert!(grown > self.buffer.len());
            self.buffer.resize(grown, 0);
        }
    }

    /// Decodes and answers every complete request buffered, appending answers to `out`.
    /// Returns the end when the connection must close after writing `out`.
    async fn answer_buffered<H: Handler + ?Sized>(
        &mut self,
        handler: &H,
        peer: &Peer,
        stop: &StopSignal,
    ) -> Option<ConnectionEnd> {
        loop {
            let progress = match self.decoder.decode(&self.buffer[self.start..self.end]) {
                Ok(progress) => progress,
                Err(error) => {
                    encode_response(
                        &Response::error(error.status(), error.reason()),
                        true,
                        &mut self.out,
                    );
                    return Some(ConnectionEnd::Protocol(error));
                }
            };
            self.start += progress.consumed;
            match progress.decoded {
                Decoded::Partial if self.decoder.is_reading_head() => return None,
                Decoded::Partial => {
                    self.enter(Phase::Body);
                    return None;
                }
                Decoded::Continue => {
                    self.out.extend_from_slice(CONTINUE_RESPONSE);
                    self.enter(Phase::Body);
                }
                Decoded::Complete => {
                    let request = self.decoder.request();
                    let mut response = handler.handle(request, peer).await;
                    // A stream on a status without a body (built by hand, not with
                    // `Response::stream`) is dropped: the response goes out as it is.
                    let streamed = response.body_stream.take();
                    if let Some(body) = streamed.filter(|_| has_body(response.status)) {
                        let framing = match request.version() {
                            Version::Http11 => StreamFraming::Chunked,
                            Version::Http10 => StreamFraming::UntilClose,
                        };
                        encode_stream_head(&response, framing, &mut self.out);
                        self.report.requests += 1;
                        // A HEAD request gets the head only; its stream is dropped unread.
                        if request.method() != Method::Head {
                            encode_piece(&response.body, framing, &mut self.out);
                            self.pending_stream = Some((body, framing));
                        }
                        return Some(ConnectionEnd::Closed);
                    }
                    let close = !request.keep_alive() || stop.is_stopped();
                    let before = self.out.len();
                    encode_response(&response, close, &mut self.out);
                    if request.method() == Method::Head && has_body(response.status) {
                        self.out.truncate(self.out.len() - response.body.len());
                    }
                    debug_assert!(self.out.len() > before);
                    self.report.requests += 1;
                    if close {
                        let stopping = stop.is_stopped() && request.keep_alive();
                        return Some(if stopping {
                            ConnectionEnd::Stopped
                        } else {
                            ConnectionEnd::Closed
                        });
                    }
                    let more = self.start < self.end;
                    self.enter(if more { Phase::Head } else { Phase::Idle });
                }
            }
        }
    }

    async fn read<S: AsyncRead + Unpin>(
        &mut self,
        stream: &mut S,
        timeouts: &ServerTimeouts,
        stop: &StopSignal,
    ) -> ReadOutcome {
        self.make_room();
        let wait = self
            .deadline(timeouts)
            .saturating_duration_since(Instant::now());
        // Nothing of a next request has arrived: a stop may close the connection now.
        let idle = self.start == self.end && self.decoder.is_reading_head();
        let target = &mut self.buffer[self.end..];
        let read = async {
            match stream.read(target).await {
                Ok(0) => ReadOutcome::Eof,
                Ok(n) => ReadOutcome::Data(n),
                Err(error) => ReadOutcome::Failed(error),
            }
        };
        let timer = async {
            glommio::timer::sleep(wait).await;
            ReadOutcome::Timeout
        };
        // Only an idle connection is cut by a stop; a request in progress is finished.
        let stopped = async {
            if idle {
                stop.wait().await;
            } else {
                future::pending::<()>().await;
            }
            ReadOutcome::Stopped
        };
        future::or(read, future::or(timer, stopped)).await
    }
}

/// Serves one connection until it closes; never panics on peer input. Codec errors are
/// answered with their status and a JSON body `{"error": reason, "status": N}`, then the
/// connection closes. When `stop` is raised, an idle connection closes at once and a busy one
/// after answering its current request. Every request is handed to `handler` with `peer`.
pub async fn serve_connection<S, H>(
    mut stream: S,
    handler: &H,
    peer: &Peer,
    limits: &HttpLimits,
    timeouts: &ServerTimeouts,
    stop: &StopSignal,
) -> ConnectionReport
where
    S: AsyncRead + AsyncWrite + Unpin,
    H: Handler + ?Sized,
{
    let mut connection = Connection::new(limits);
    let end = loop {
        let closing = connection.answer_buffered(handler, peer, stop).await;
        if let Some((body, framing)) = connection.pending_stream.take() {
            break relay::relay(&mut stream, &mut connection, body, framing, timeouts, stop).await;
        }
        if let Err(end) = flush(&mut stream, &mut connection, timeouts).await {
            break end;
        }
        if let Some(end) = closing {
            linger(&mut stream, matches!(end, ConnectionEnd::Protocol(_))).await;
            break end;
        }
        match connection.read(&mut stream, timeouts, stop).await {
            ReadOutcome::Data(n) => {
                connection.end += n;
                connection.report.bytes_read += n as u64;
                if connection.phase == Phase::Idle {
                    connection.enter(Phase::Head);
                }
            }
            ReadOutcome::Eof => break ConnectionEnd::PeerClosed,
            ReadOutcome::Failed(error) => break ConnectionEnd::Io(error.kind()),
            ReadOutcome::Stopped => break ConnectionEnd::Stopped,
            ReadOutcome::Timeout => match connection.phase {
                Phase::Idle => break ConnectionEnd::IdleTimeout,
                phase => {
                    let (status, end) = match phase {
                        Phase::Head => (408, ConnectionEnd::HeaderTimeout),
                        _ => (408, ConnectionEnd::RequestTimeout),
                    };
                    let answer = Response::error(status, "request not received in time");
                    encode_response(&answer, true, &mut connection.out);
                    // Best effort: the peer is stalled, so a failed write changes nothing.
                    let _ = flush(&mut stream, &mut connection, timeouts).await;
                    linger(&mut stream, true).await;
                    break end;
                }
            },
        }
    };
    let _ = stream.close().await;
    connection.report.end = end;
    connection.report
}

/// Writes the pending answers in one go, within `request_timeout_ms`. The flush matters for
/// TLS: rustls may keep records back when the socket is full, and a streamed piece must not
/// wait for the next write (on plain TCP it costs nothing).
async fn flush<S: AsyncWrite + Unpin>(
    stream: &mut S,
    connection: &mut Connection,
    timeouts: &ServerTimeouts,
) -> Result<(), ConnectionEnd> {
    if connection.out.is_empty() {
        return Ok(());
    }
    let wait = Duration::from_millis(u64::from(timeouts.request_timeout_ms));
    let write = async {
        stream.write_all(&connection.out).await?;
        stream.flush().await
    };
    let write = async { write.await.map_err(|e| ConnectionEnd::Io(e.kind())) };
    let timer = async {
        glommio::timer::sleep(wait).await;
        Err(ConnectionEnd::RequestTimeout)
    };
    future::or(write, timer).await?;
    connection.report.bytes_written += connection.out.len() as u64;
    connection.out.clear();
    Ok(())
}

/// Half-closes, then drains what the peer is still sending (bounded in bytes and time), so
/// that closing with unread data does not reset the connection before the peer has read our
/// answer.
async fn linger<S: AsyncRead + AsyncWrite + Unpin>(stream: &mut S, unread_likely: bool) {
    if !unread_likely {
        return;
    }
    let _ = stream.close().await;
    let mut scratch = [0u8; 4096];
    let drain = async {
        let mut drained = 0;
        while drained < LINGER_BYTES_MAX {
            match stream.read(&mut scratch).await {
                Ok(0) | Err(_) => break,
                Ok(n) => drained += n,
            }
        }
    };
    future::or(
        drain,
        glommio::timer::sleep(Duration::from_millis(LINGER_TIMEOUT_MS)),
    )
    .await;
}

/// A listener's serving configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServerConfig {
    /// Message limits.
    pub limits: HttpLimits,
    /// Connection timeouts.
    pub timeouts: ServerTimeouts,
    /// Open connections per listener per shard, default 10 000. A connection beyond it is
    /// answered 503 and closed. Cost: buffers (4 KiB up to `header_bytes_max`) per connection.
    pub connections_max: u32,
    /// Open connections from one IP address per listener per shard, default 256. One more
    /// from that address is refused as above, so a client holding connections open (a
    /// slow-loris sender) fills its own share, never the listener.
    pub connections_per_address_max: u32,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            limits: HttpLimits::DEFAULT,
            timeouts: ServerTimeouts::DEFAULT,
            connections_max: 10_000,
            connections_per_address_max: 256,
        }
    }
}

/// A listener's serving configuration as it stands now, shared by a shard's accept loops and
/// updatable while they run (a configuration reload). Shard-local (`Rc`): each shard holds its
/// own copy. Each connection takes the value current when it is accepted and keeps it, so a
/// change applies to new connections only and live ones are untouched.
#[derive(Debug, Clone)]
pub struct SharedServerConfig {
    current: Rc<Cell<ServerConfig>>,
}

impl SharedServerConfig {
    /// Starts with `config`, which must hold valid limits and at least one connection.
    pub fn new(config: ServerConfig) -> Self {
        assert_valid(&config);
        Self {
            current: Rc::new(Cell::new(config)),
        }
    }

    /// The configuration a connection accepted now gets.
    pub fn get(&self) -> ServerConfig {
        self.current.get()
    }

    /// Replaces the configuration for connections accepted from now on.
    pub fn set(&self, config: ServerConfig) {
        assert_valid(&config);
        self.current.set(config);
    }
}

impl From<ServerConfig> for SharedServerConfig {
    fn from(config: ServerConfig) -> Self {
        Self::new(config)
    }
}

fn assert_valid(config: &ServerConfig) {
    assert!(config.connections_max > 0);
    assert!(config.limits.validate().is_ok());
}

/// What an accept loop did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AcceptReport {
    /// Connections served.
    pub accepted: u64,
    /// Connections refused with 503 because `connections_max` were open, or
    /// `connections_per_address_max` from the connection's address.
    pub refused: u64,
    /// Failed accepts (e.g. out of file descriptors).
    pub accept_errors: u64,
    /// Connections whose [`Acceptor`] failed (e.g. a TLS handshake refused), not served.
    pub handshake_failures: u64,
    /// Requests answered over all served connections.
    pub requests: u64,
}

/// Binds a listener on `address` in the current glommio executor. glommio sets
/// `SO_REUSEPORT`, so every shard can bind the same address and the kernel balances
/// connections between them.
pub fn listen(address: SocketAddr) -> io::Result<TcpListener> {
    TcpListener::bind(address).map_err(io::Error::from)
}

/// Accepts connections until `stop` is raised, serving each in its own task; then stops
/// accepting (the listener is dropped) and returns once in-flight connections have finished.
pub async fn accept_loop<H: Handler + 'static>(
    listener: TcpListener,
    handler: Rc<H>,
    config: impl Into<SharedServerConfig>,
    stop: StopSignal,
) -> AcceptReport {
    accept_loop_with(listener, Rc::new(Plain), handler, config, stop).await
}

/// Turns an accepted TCP connection into the stream HTTP is served over: itself
/// ([`Plain`]) or a TLS session ([`SharedServerTls`]).
///
/// Static dispatch, so the plain loop compiles to what it was before TLS existed.
#[allow(async_fn_in_trait)] // No Send bound wanted: shards are single-threaded.
pub trait Acceptor {
    /// The stream requests are read from and answers written to.
    type Stream: AsyncRead + AsyncWrite + Unpin + 'static;

    /// Whether a connection over `connections_max` is answered 503 in the clear. A TLS
    /// client could not read a plain answer, and a handshake just to refuse would spend the
    /// CPU the limit protects, so TLS acceptors close such connections instead.
    const ANSWERS_REFUSALS: bool;

    /// Runs whatever must happen before the first request (the TLS handshake). It runs in
    /// the connection's own task, so a slow peer never blocks the accept loop. A failure
    /// concerns this connection only; the acceptor may log it.
    async fn accept(&self, stream: TcpStream) -> Result<Self::Stream, TlsError>;

    /// Who an accepted stream's peer is: its address and verified certificate names.
    fn peer(stream: &Self::Stream) -> Peer;
}

/// Plain TCP: the accepted stream is served as it is.
#[derive(Debug, Clone, Copy, Default)]
pub struct Plain;

impl Acceptor for Plain {
    type Stream = TcpStream;
    const ANSWERS_REFUSALS: bool = true;

    async fn accept(&self, stream: TcpStream) -> Result<TcpStream, TlsError> {
        Ok(stream)
    }

    fn peer(stream: &TcpStream) -> Peer {
        Peer {
            address: stream.peer_addr().ok(),
            certificate_names: Vec::new(),
        }
    }
}

/// The peer of a stream that may be TLS: the address, and the names of the certificate the
/// handshake verified (a listener without `client_ca` asks for none).
pub fn maybe_tls_peer(stream: &MaybeTls<TcpStream>) -> Peer {
    Peer {
        address: stream.get_ref().peer_addr().ok(),
        certificate_names: stream
            .peer_certificate()
            .map(|der| certificate_names(der))
            .unwrap_or_default(),
    }
}

/// TLS with the listener's configuration current when the handshake starts, so a reload
/// affects only connections accepted after it.
impl Acceptor for SharedServerTls {
    type Stream = MaybeTls<TcpStream>;
    const ANSWERS_REFUSALS: bool = false;

    async fn accept(&self, stream: TcpStream) -> Result<MaybeTls<TcpStream>, TlsError> {
        SharedServerTls::accept(self, stream)
            .await
            .map(MaybeTls::from)
    }

    fn peer(stream: &MaybeTls<TcpStream>) -> Peer {
        maybe_tls_peer(stream)
    }
}

/// [`accept_loop`] with an [`Acceptor`]: each connection is accepted (e.g. its TLS handshake
/// run) in its own task, counted against `connections_max` from the moment it is taken, and
/// dropped without a word if `stop` is raised before it is ready. Failed acceptances are
/// counted in [`AcceptReport::handshake_failures`] and never end the loop. Each connection is
/// served with the configuration `config` holds when it is accepted.
pub async fn accept_loop_with<A, H>(
    listener: TcpListener,
    acceptor: Rc<A>,
    handler: Rc<H>,
    config: impl Into<SharedServerConfig>,
    stop: StopSignal,
) -> AcceptReport
where
    A: Acceptor + 'static,
    H: Handler + 'static,
{
    let shared: SharedServerConfig = config.into();
    let report = Rc::new(Cell::new(AcceptReport::default()));
    let open = Rc::new(Cell::new(0u32));
    let by_address: Rc<RefCell<HashMap<IpAddr, u32>>> = Rc::default();
    let drained = StopSignal::new();
    loop {
        let accepted = future::or(async { Some(listener.accept().await) }, async {
            stop.wait().await;
            None
        });
        let stream = match accepted.await {
            None => break,
            Some(Ok(stream)) => stream,
            Some(Err(_)) => {
                update(&report, |r| r.accept_errors += 1);
                // Out of descriptors or memory: back off instead of spinning on the error.
                glommio::timer::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        // Small answers must not wait for Nagle; a failure here only costs latency.
        let _ = stream.set_nodelay(true);
        let config = shared.get();
        let address = stream.peer_addr().ok().map(|peer| peer.ip());
        let from_address = address.map_or(0, |ip| {
            let counts = by_address.borrow();
            counts.get(&ip).copied().unwrap_or(0)
        });
        let refusal = if open.get() >= config.connections_max {
            Some((
                "too many connections",
                "connections_max",
                config.connections_max,
            ))
        } else if from_address >= config.connections_per_address_max {
            let limit = config.connections_per_address_max;
            Some((
                "too many connections from this address",
                "connections_per_address_max",
                limit,
            ))
        } else {
            None
        };
        if let Some(refusal) = refusal {
            update(&report, |r| r.refused += 1);
            if A::ANSWERS_REFUSALS {
                glommio::spawn_local(refuse(stream, refusal)).detach();
            }
            continue;
        }
        open.set(open.get() + 1);
        if let Some(ip) = address {
            *by_address.borrow_mut().entry(ip).or_insert(0) += 1;
        }
        update(&report, |r| r.accepted += 1);
        let (acceptor, handler, stop, open, drained, report, by_address) = (
            Rc::clone(&acceptor),
            Rc::clone(&handler),
            stop.clone(),
            Rc::clone(&open),
            drained.clone(),
            Rc::clone(&report),
            Rc::clone(&by_address),
        );
        glommio::spawn_local(async move {
            let done = serve_accepted(stream, &*acceptor, &*handler, &config, &stop).await;
            update(&report, |r| match done {
                Some(requests) => r.requests += u64::from(requests),
                None => r.handshake_failures += 1,
            });
            open.set(open.get() - 1);
            if let Some(ip) = address {
                release(&mut by_address.borrow_mut(), ip);
            }
            if open.get() == 0 && stop.is_stopped() {
                drained.stop();
            }
        })
        .detach();
    }
    drop(listener);
    if open.get() > 0 {
        drained.wait().await;
    }
    report.get()
}

/// Accepts one connection with `acceptor`, then serves it. Returns the requests answered, or
/// `None` when the acceptor failed. A stop raised before the acceptor is done drops the
/// connection unserved (and uncounted).
async fn serve_accepted<A: Acceptor, H: Handler + ?Sized>(
    stream: TcpStream,
    acceptor: &A,
    handler: &H,
    config: &ServerConfig,
    stop: &StopSignal,
) -> Option<u32> {
    let ready = future::or(async { Some(acceptor.accept(stream).await) }, async {
        stop.wait().await;
        None
    });
    let stream = match ready.await {
        Some(Ok(stream)) => stream,
        Some(Err(_)) => return None,
        None => return Some(0),
    };
    let peer = A::peer(&stream);
    let (limits, timeouts) = (&config.limits, &config.timeouts);
    let done = serve_connection(stream, handler, &peer, limits, timeouts, stop).await;
    Some(done.requests)
}

/// One connection from `ip` fewer; an address with none left is forgotten, so the map holds
/// only addresses with open connections.
fn release(by_address: &mut HashMap<IpAddr, u32>, ip: IpAddr) {
    if let Some(count) = by_address.get_mut(&ip) {
        assert!(*count > 0);
        *count -= 1;
        if *count == 0 {
            by_address.remove(&ip);
        }
    }
}

fn update(report: &Cell<AcceptReport>, change: impl FnOnce(&mut AcceptReport)) {
    let mut value = report.get();
    change(&mut value);
    report.set(value);
}

/// Answers 503 to a connection over a limit (reason, the limit's name, its value), then
/// closes it.
async fn refuse<S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: S,
    (reason, limit, value): (&str, &str, u32),
) {
    let mut body = serde_json::json!({ "error": reason, "status": 503 });
    body[limit] = value.into();
    let mut out = Vec::with_capacity(256);
    encode_response(
        &Response::json(503, body.to_string().into_bytes()),
        true,
        &mut out,
    );
    let write = async {
        let _ = stream.write_all(&out).await;
    };
    future::or(
        write,
        glommio::timer::sleep(Duration::from_millis(LINGER_TIMEOUT_MS)),
    )
    .await;
    linger(&mut stream, true).await;
}
