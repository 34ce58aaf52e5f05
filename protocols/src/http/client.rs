//! The HTTP/1.1 client: one request/response exchange over any stream (plain TCP or TLS),
//! a response whose body is read piece by piece ([`open_stream`], for event streams), and TCP
//! connects that bind a configured local address and port first.
//!
//! Local binding ("client-side port definition") lets firewalls admit exact
//! (source, destination) tuples. glommio 0.9 cannot bind before `connect`, so the socket is
//! built with socket2 (the 0.4 line glommio itself uses): bound, set non-blocking, connect
//! started, then handed to glommio through its safe `From<socket2::Socket>`. The connect
//! completes in the reactor: a zero-length write waits for the socket to become writable and
//! reports a refused or failed connect as its error. No `unsafe` and no fd juggling.

use std::fmt;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use futures_lite::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use glommio::net::TcpStream;
use socket2::{Domain, Protocol, Socket, Type};

use super::codec::{
    encode_request, Decoded, HttpError, HttpLimits, OutboundRequest, Response, ResponseDecoder,
    StreamedBodyDecoder,
};

/// Why an exchange failed. `runtime` maps these onto `error.communication` events.
#[derive(Debug)]
#[non_exhaustive]
pub enum ClientError {
    /// A socket error.
    Io(io::Error),
    /// The connect or exchange did not finish within its timeout.
    Timeout {
        /// The timeout that expired.
        timeout_ms: u32,
    },
    /// The response was malformed or over a limit.
    Http(HttpError),
    /// Every port of a [`LocalBind::PortRange`] was in use.
    PortsExhausted {
        /// First port of the range.
        port_first: u16,
        /// Last port of the range (inclusive).
        port_last: u16,
    },
}

impl fmt::Display for ClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Io(error) => write!(f, "i/o error: {error}"),
            Self::Timeout { timeout_ms } => write!(f, "timed out after {timeout_ms} ms"),
            Self::Http(error) => write!(f, "bad response: {error}"),
            Self::PortsExhausted {
                port_first,
                port_last,
            } => {
                write!(f, "no free local port in {port_first}..={port_last}")
            }
        }
    }
}

impl std::error::Error for ClientError {}

impl From<io::Error> for ClientError {
    fn from(error: io::Error) -> Self {
        Self::Io(error)
    }
}

/// The local end of an outbound connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LocalBind {
    /// Whatever the kernel picks.
    Any,
    /// Exactly this local address and port (port 0: any port on that address).
    Address(SocketAddr),
    /// The first free port of `port_first..=port_last` on `ip`.
    PortRange {
        /// Local address to bind.
        ip: IpAddr,
        /// First port tried.
        port_first: u16,
        /// Last port tried (inclusive).
        port_last: u16,
    },
}

/// A received response and whether its connection can carry another request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// The response.
    pub response: Response,
    /// Whether the connection may be reused (keep-alive, and the body was not read-to-close).
    pub keep_alive: bool,
}

/// Opens a TCP connection to `remote` from `local`, within `timeout_ms`.
pub async fn connect(
    remote: SocketAddr,
    local: LocalBind,
    timeout_ms: u32,
) -> Result<TcpStream, ClientError> {
    assert!(timeout_ms > 0);
    let socket = match local {
        LocalBind::Any => return connect_any(remote, timeout_ms).await,
        LocalBind::Address(address) => bind_and_start(remote, address)?,
        LocalBind::PortRange {
            ip,
            port_first,
            port_last,
        } => {
            assert!(port_first <= port_last);
            let mut bound = None;
            for port in port_first..=port_last {
                match bind_and_start(remote, SocketAddr::new(ip, port)) {
                    Ok(socket) => {
                        bound = Some(socket);
                        break;
                    }
                    Err(error) if is_port_taken(&error) => continue,
                    Err(error) => return Err(error.into()),
                }
            }
            bound.ok_or(ClientError::PortsExhausted {
                port_first,
                port_last,
            })?
        }
    };
    let mut stream = TcpStream::from(socket);
    let established = async { stream.write(&[]).await.map(|_| ()) };
    with_timeout(timeout_ms, established).await??;
    // Small requests must not wait for Nagle; a failure here only costs latency.
    let _ = stream.set_nodelay(true);
    Ok(stream)
}

async fn connect_any(remote: SocketAddr, timeout_ms: u32) -> Result<TcpStream, ClientError> {
    let wait = Duration::from_millis(u64::from(timeout_ms));
    let stream = TcpStream::connect_timeout(remote, wait)
        .await
        .map_err(|error| {
            let error = io::Error::from(error);
            match error.kind() {
                io::ErrorKind::TimedOut => ClientError::Timeout { timeout_ms },
                _ => ClientError::Io(error),
            }
        })?;
    let _ = stream.set_nodelay(true);
    Ok(stream)
}

fn is_port_taken(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::AddrInUse | io::ErrorKind::AddrNotAvailable
    )
}

/// A non-blocking socket bound to `local` with its connect to `remote` under way.
fn bind_and_start(remote: SocketAddr, local: SocketAddr) -> io::Result<Socket> {
    let socket = Socket::new(
        Domain::for_address(remote),
        Type::STREAM,
        Some(Protocol::TCP),
    )?;
    // A fixed source port is reused connection after connection; SO_REUSEADDR lets it be
    // bound again while the previous connection sits in TIME_WAIT.
    socket.set_reuse_address(true)?;
    socket.bind(&local.into())?;
    socket.set_nonblocking(true)?;
    match socket.connect(&remote.into()) {
        Ok(()) => Ok(socket),
        Err(error) if error.kind() == io::ErrorKind::WouldBlock => Ok(socket),
        Err(error) if error.raw_os_error() == Some(EINPROGRESS) => Ok(socket),
        Err(error) => Err(error),
    }
}

/// Linux's "connect in progress" errno, the normal answer of a non-blocking connect.
const EINPROGRESS: i32 = 115;

async fn with_timeout<T>(
    timeout_ms: u32,
    work: impl std::future::Future<Output = T>,
) -> Result<T, ClientError> {
    let limit = Duration::from_millis(u64::from(timeout_ms));
    crate::timeout::within(limit, work)
        .await
        .ok_or(ClientError::Timeout { timeout_ms })
}

/// Sends `request` over `stream` and reads its response, all within `timeout_ms`. The
/// response is bounded by `limits` (its body by `body_bytes_max`).
pub async fn send<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    request: &OutboundRequest<'_>,
    limits: &HttpLimits,
    timeout_ms: u32,
) -> Result<Reply, ClientError> {
    assert!(timeout_ms > 0);
    let mut out = Vec::with_capacity(256 + request.body.len());
    encode_request(request, &mut out);
    let head_request = request.method.eq_ignore_ascii_case("HEAD");
    let exchange = async {
        stream.write_all(&out).await?;
        stream.flush().await?;
        receive(stream, ResponseDecoder::new(*limits, head_request)).await
    };
    with_timeout(timeout_ms, exchange).await?
}

async fn receive<S: AsyncRead + Unpin>(
    stream: &mut S,
    mut decoder: ResponseDecoder,
) -> Result<Reply, ClientError> {
    let mut buffer = vec![0u8; 8192];
    let (mut start, mut end) = (0, 0);
    loop {
        let progress = decoder
            .decode(&buffer[start..end])
            .map_err(ClientError::Http)?;
        start += progress.consumed;
        if progress.decoded == Decoded::Complete {
            let keep_alive = decoder.keep_alive() && start == end;
            return Ok(Reply {
                response: decoder.take_response(),
                keep_alive,
            });
        }
        if start == end {
            (start, end) = (0, 0);
        } else if end == buffer.len() {
            buffer.copy_within(start..end, 0);
            (start, end) = (0, end - start);
            if end == buffer.len() {
                // The decoder bounds heads by header_bytes_max, so growth is bounded too.
                buffer.resize(buffer.len() * 2, 0);
            }
        }
        let read = stream.read(&mut buffer[end..]).await?;
        if read == 0 {
            decoder.finish().map_err(ClientError::Http)?;
            return Ok(Reply {
                response: decoder.take_response(),
                keep_alive: false,
            });
        }
        end += read;
    }
}

/// Sends `request` and reads the response head within `timeout_ms`; the body is then read
/// piece by piece with the returned [`BodyReader`] (an event stream), with no timeout of its
/// own: the caller bounds each wait. The head's `body` holds nothing.
pub async fn open_stream<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    request: &OutboundRequest<'_>,
    limits: &HttpLimits,
    timeout_ms: u32,
) -> Result<(Response, BodyReader), ClientError> {
    assert!(timeout_ms > 0);
    let mut out = Vec::with_capacity(256 + request.body.len());
    encode_request(request, &mut out);
    let mut reader = BodyReader {
        body: StreamedBodyDecoder::chunked(*limits),
        buffer: vec![0u8; 8192],
        start: 0,
        end: 0,
        piece: Vec::new(),
    };
    let exchange = async {
        stream.write_all(&out).await?;
        stream.flush().await?;
        let mut decoder = ResponseDecoder::streamed(*limits);
        loop {
            let input = &reader.buffer[reader.start..reader.end];
            let progress = decoder.decode(input).map_err(ClientError::Http)?;
            reader.start += progress.consumed;
            if progress.decoded == Decoded::Complete {
                let (head, body) = decoder.take_streamed();
                reader.body = body;
                return Ok(head);
            }
            if reader.fill(stream).await? == 0 {
                return Err(ClientError::Http(HttpError::UnexpectedEof));
            }
        }
    };
    let head = with_timeout(timeout_ms, exchange).await??;
    Ok((head, reader))
}

/// Reads a response body piece by piece: what [`open_stream`] returns after the head. It owns
/// one read buffer (grown only for a chunk-size line or head that does not fit) and one piece
/// buffer, both reused.
#[derive(Debug)]
pub struct BodyReader {
    body: StreamedBodyDecoder,
    buffer: Vec<u8>,
    start: usize,
    end: usize,
    piece: Vec<u8>,
}

impl BodyReader {
    /// The body bytes that have arrived since the last call (framing removed; several chunks
    /// may come together), waiting for at least one; `None` once the body is over.
    pub async fn next<S: AsyncRead + Unpin>(
        &mut self,
        stream: &mut S,
    ) -> Result<Option<&[u8]>, ClientError> {
        self.piece.clear();
        loop {
            let input = &self.buffer[self.start..self.end];
            let progress = self
                .body
                .decode(input, &mut self.piece)
                .map_err(ClientError::Http)?;
            self.start += progress.consumed;
            if !self.piece.is_empty() {
                return Ok(Some(&self.piece));
            }
            if progress.decoded == Decoded::Complete {
                return Ok(None);
            }
            if self.fill(stream).await? == 0 {
                self.body.finish().map_err(ClientError::Http)?;
                return Ok(None);
            }
        }
    }

    /// Reads more bytes after the unconsumed ones, making room first; 0 at EOF.
    async fn fill<S: AsyncRead + Unpin>(&mut self, stream: &mut S) -> io::Result<usize> {
        if self.start == self.end {
            (self.start, self.end) = (0, 0);
        } else if self.end == self.buffer.len() {
            self.buffer.copy_within(self.start..self.end, 0);
            (self.start, self.end) = (0, self.end - self.start);
            if self.end == self.buffer.len() {
                // The decoders bound heads and chunk-size lines, so growth is bounded too.
                self.buffer.resize(self.buffer.len() * 2, 0);
            }
        }
        let read = stream.read(&mut self.buffer[self.end..]).await?;
        self.end += read;
        Ok(read)
    }
}
