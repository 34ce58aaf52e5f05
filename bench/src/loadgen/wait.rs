//! How the generator waits for its sockets: `--wait busy` (default) or `--wait uring`.
//!
//! glommio waits for a socket with an io_uring poll request. glommio 0.9 sets up its rings
//! without `IORING_SETUP_COOP_TASKRUN`, so when the server's answer lands while the
//! generator is running, the kernel interrupts the generator's core (an IPI) to run the
//! poll's completion — and that cost is paid inside the *server's* `send`. Measured here on
//! one Baton shard: 14 µs of server kernel time per request under `--wait uring` against
//! 4.4 µs under wrk (epoll). A generator that makes the server slower measures itself.
//!
//! `busy` reads and writes non-blocking sockets directly and, when one would block, asks
//! to be polled again at once: the generator's core spins (it is dedicated to the
//! generator, as wrk's thread is), no poll request is registered, and the server's send
//! wakes nobody. A measured latency can include up to one round of polls over the open
//! connections (its size grows with `--concurrency`; not measured separately).

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream as StdTcpStream};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use futures_lite::{AsyncRead, AsyncWrite};
use glommio::net::TcpStream as GlommioTcpStream;

/// How the generator waits for socket readiness.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WaitMode {
    /// Spin on non-blocking sockets (no io_uring poll, no interrupt of the generator).
    Busy,
    /// glommio's io_uring readiness polls.
    Uring,
}

impl WaitMode {
    /// The name used on the command line and in the report.
    pub fn name(self) -> &'static str {
        match self {
            WaitMode::Busy => "busy",
            WaitMode::Uring => "uring",
        }
    }
}

/// A client connection in either wait mode.
pub enum ClientStream {
    /// A non-blocking std socket, polled by spinning.
    Busy(StdTcpStream),
    /// A glommio socket.
    Uring(GlommioTcpStream),
}

impl ClientStream {
    /// Connects to `address` (blocking: loopback connects are immediate and happen once per
    /// connection, outside the measured requests).
    pub fn connect_busy(address: SocketAddr) -> io::Result<ClientStream> {
        let stream = StdTcpStream::connect(address)?;
        stream.set_nodelay(true)?;
        stream.set_nonblocking(true)?;
        Ok(ClientStream::Busy(stream))
    }
}

/// Turns a would-block into "poll me again now".
fn spin<T>(result: io::Result<T>, cx: &Context<'_>) -> Poll<io::Result<T>> {
    match result {
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
            cx.waker().wake_by_ref();
            Poll::Pending
        }
        other => Poll::Ready(other),
    }
}

impl AsyncRead for ClientStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            ClientStream::Busy(stream) => spin(stream.read(buf), cx),
            ClientStream::Uring(stream) => Pin::new(stream).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for ClientStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            ClientStream::Busy(stream) => spin(stream.write(buf), cx),
            ClientStream::Uring(stream) => Pin::new(stream).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            ClientStream::Busy(_) => Poll::Ready(Ok(())),
            ClientStream::Uring(stream) => Pin::new(stream).poll_flush(cx),
        }
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            ClientStream::Busy(stream) => Poll::Ready(
                stream
                    .shutdown(std::net::Shutdown::Write)
                    .or_else(not_connected),
            ),
            ClientStream::Uring(stream) => Pin::new(stream).poll_close(cx),
        }
    }
}

/// A close after the peer already closed is not an error worth reporting.
fn not_connected(e: io::Error) -> io::Result<()> {
    match e.kind() {
        io::ErrorKind::NotConnected => Ok(()),
        _ => Err(e),
    }
}

/// Waits until `due`. Under `--wait busy` every connection's task stays runnable, so
/// glommio would look at its timers only when its 100 ms preemption slice ends and a timer
/// would fire that late: the wait spins too, yielding to the other connections.
pub async fn sleep_until(due: Instant, wait: WaitMode) {
    match wait {
        WaitMode::Busy => {
            while Instant::now() < due {
                futures_lite::future::yield_now().await;
            }
        }
        WaitMode::Uring => {
            let now = Instant::now();
            if due > now {
                glommio::timer::sleep(due - now).await;
            }
        }
    }
}
