//! TLS over glommio streams: the accepting and connecting handshakes, bounded in time, and
//! [`MaybeTls`], one stream type over plain and TLS connections so the HTTP server and client
//! are written once.
//!
//! The handshake functions need a running glommio executor for their timer. They are generic
//! over the transport so tests and other stream types can use them; in Baton the transport is
//! [`glommio::net::TcpStream`].

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use futures_io::{AsyncRead, AsyncWrite};
use futures_lite::FutureExt;
use futures_rustls::{client, server, TlsAcceptor, TlsConnector};
use glommio::net::TcpStream;
use glommio::timer::Timer;
use rustls::CommonState;
use rustls_pki_types::{CertificateDer, ServerName};

use super::config::{ClientTls, ServerTls};
use super::error::{Side, TlsError};
use super::identity::{peer_name, PeerName};

/// A server-side TLS connection whose handshake has completed.
pub struct TlsServerStream<S = TcpStream> {
    inner: server::TlsStream<S>,
}

/// A client-side TLS connection whose handshake has completed.
pub struct TlsClientStream<S = TcpStream> {
    inner: client::TlsStream<S>,
}

/// Runs the server handshake on an accepted connection. Fails when the client does not finish
/// within the listener's handshake timeout, which also bounds what a silent client can hold.
pub async fn accept<S>(tls: &ServerTls, stream: S) -> Result<TlsServerStream<S>, TlsError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let acceptor = TlsAcceptor::from(tls.config().clone());
    let handshake = async {
        let result = acceptor.accept(stream).await;
        result.map_err(|error| TlsError::from_handshake(Side::Server, error))
    };
    let inner = bounded(handshake, Side::Server, tls.handshake_timeout_ms()).await?;
    Ok(TlsServerStream { inner })
}

/// Runs the client handshake, verifying the server's certificate against the configured roots
/// and `server_name` (a DNS name or an IP address).
pub async fn connect<S>(
    tls: &ClientTls,
    server_name: &str,
    stream: S,
) -> Result<TlsClientStream<S>, TlsError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    if tls.roots_len() == 0 {
        return Err(TlsError::NoTrustRoots);
    }
    let name = ServerName::try_from(server_name)
        .map_err(|_| TlsError::ServerNameInvalid {
            name: server_name.to_owned(),
        })?
        .to_owned();
    let connector = TlsConnector::from(tls.config().clone());
    let handshake = async {
        let result = connector.connect(name, stream).await;
        result.map_err(|error| TlsError::from_handshake(Side::Client, error))
    };
    let inner = bounded(handshake, Side::Client, tls.handshake_timeout_ms()).await?;
    Ok(TlsClientStream { inner })
}

/// Races a handshake against its deadline.
async fn bounded<T>(
    handshake: impl std::future::Future<Output = Result<T, TlsError>>,
    side: Side,
    timeout_ms: u32,
) -> Result<T, TlsError> {
    let deadline = async {
        Timer::new(Duration::from_millis(u64::from(timeout_ms))).await;
        Err(TlsError::HandshakeTimeout { side, timeout_ms })
    };
    handshake.or(deadline).await
}

impl<S> TlsServerStream<S> {
    /// The transport under the TLS session (for the peer address, socket options).
    pub fn get_ref(&self) -> &S {
        self.inner.get_ref().0
    }

    /// The client's certificate (leaf), present on mutual listeners.
    pub fn peer_certificate(&self) -> Option<&CertificateDer<'static>> {
        leaf(self.inner.get_ref().1)
    }

    /// The client certificate's subject CN or first alternative name, for logs.
    pub fn peer_name(&self) -> Option<PeerName<'_>> {
        peer_name(self.peer_certificate()?)
    }

    /// The negotiated ALPN protocol, if the client offered one we serve.
    pub fn alpn_protocol(&self) -> Option<&[u8]> {
        self.inner.get_ref().1.alpn_protocol()
    }
}

impl<S> TlsClientStream<S> {
    /// The transport under the TLS session.
    pub fn get_ref(&self) -> &S {
        self.inner.get_ref().0
    }

    /// The server's certificate (leaf).
    pub fn peer_certificate(&self) -> Option<&CertificateDer<'static>> {
        leaf(self.inner.get_ref().1)
    }

    /// The server certificate's subject CN or first alternative name, for logs.
    pub fn peer_name(&self) -> Option<PeerName<'_>> {
        peer_name(self.peer_certificate()?)
    }

    /// The negotiated ALPN protocol, if the server chose one.
    pub fn alpn_protocol(&self) -> Option<&[u8]> {
        self.inner.get_ref().1.alpn_protocol()
    }
}

fn leaf(state: &CommonState) -> Option<&CertificateDer<'static>> {
    state.peer_certificates()?.first()
}

/// A connection that is either plain or TLS (either end), read and written through one type.
///
/// The TLS session is boxed: it is over a kilobyte of state, and a plain connection should not
/// pay for it.
pub enum MaybeTls<S = TcpStream> {
    /// Plain TCP (`tls = "off"`, or `http:` outbound).
    Plain(S),
    /// A TLS session, accepted or connected.
    Tls(Box<futures_rustls::TlsStream<S>>),
}

impl<S> MaybeTls<S> {
    /// Whether the connection is encrypted.
    pub fn is_tls(&self) -> bool {
        matches!(self, MaybeTls::Tls(_))
    }

    /// The transport, plain or under TLS.
    pub fn get_ref(&self) -> &S {
        match self {
            MaybeTls::Plain(stream) => stream,
            MaybeTls::Tls(stream) => stream.get_ref().0,
        }
    }

    /// The peer's leaf certificate, when the connection is TLS and the peer presented one.
    pub fn peer_certificate(&self) -> Option<&CertificateDer<'static>> {
        match self {
            MaybeTls::Plain(_) => None,
            MaybeTls::Tls(stream) => leaf(stream.get_ref().1),
        }
    }

    /// The peer certificate's subject CN or first alternative name, for logs.
    pub fn peer_name(&self) -> Option<PeerName<'_>> {
        peer_name(self.peer_certificate()?)
    }
}

impl<S> From<TlsServerStream<S>> for MaybeTls<S> {
    fn from(stream: TlsServerStream<S>) -> MaybeTls<S> {
        MaybeTls::Tls(Box::new(stream.inner.into()))
    }
}

impl<S> From<TlsClientStream<S>> for MaybeTls<S> {
    fn from(stream: TlsClientStream<S>) -> MaybeTls<S> {
        MaybeTls::Tls(Box::new(stream.inner.into()))
    }
}

/// Forwards the futures I/O traits to the wrapped stream; `$project` reaches it from `self`.
macro_rules! forward_async_io {
    ($type:ident, |$this:ident| $project:expr) => {
        impl<S: AsyncRead + AsyncWrite + Unpin> AsyncRead for $type<S> {
            fn poll_read(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                buf: &mut [u8],
            ) -> Poll<io::Result<usize>> {
                let $this = self.get_mut();
                $project.poll_read(cx, buf)
            }
        }

        impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWrite for $type<S> {
            fn poll_write(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                buf: &[u8],
            ) -> Poll<io::Result<usize>> {
                let $this = self.get_mut();
                $project.poll_write(cx, buf)
            }

            fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
                let $this = self.get_mut();
                $project.poll_flush(cx)
            }

            fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
                let $this = self.get_mut();
                $project.poll_close(cx)
            }
        }
    };
}

forward_async_io!(TlsServerStream, |this| Pin::new(&mut this.inner));
forward_async_io!(TlsClientStream, |this| Pin::new(&mut this.inner));

/// Forwards one futures I/O call to whichever variant a [`MaybeTls`] holds.
macro_rules! either_variant {
    ($this:expr, $method:ident($($arg:expr),*)) => {
        match $this.get_mut() {
            MaybeTls::Plain(stream) => Pin::new(stream).$method($($arg),*),
            MaybeTls::Tls(stream) => Pin::new(stream.as_mut()).$method($($arg),*),
        }
    };
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncRead for MaybeTls<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        either_variant!(self, poll_read(cx, buf))
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWrite for MaybeTls<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        either_variant!(self, poll_write(cx, buf))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        either_variant!(self, poll_flush(cx))
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        either_variant!(self, poll_close(cx))
    }
}
