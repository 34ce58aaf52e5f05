//! Why an outbound request failed.

use std::fmt;
use std::net::SocketAddr;

use protocols::http::client::{ClientError, LocalBind};
use protocols::http::HttpError;
use protocols::tls::TlsError;

/// An outbound request that got no response. Every variant but [`OutboundError::NotAllowed`]
/// is the far side's or the network's doing (or the local binding's): the URL itself was
/// valid.
#[derive(Debug)]
#[non_exhaustive]
pub enum OutboundError {
    /// The host name did not resolve.
    Resolve {
        /// The host.
        host: Box<str>,
        /// The resolver's reason.
        reason: Box<str>,
    },
    /// The resolver did not answer within `outbound.connect_timeout_ms`.
    ResolveTimeout {
        /// The host.
        host: Box<str>,
        /// The limit.
        timeout_ms: u32,
    },
    /// No connection (refused, unreachable, timed out, or the local bind failed).
    Connect {
        /// The address tried last.
        address: SocketAddr,
        /// The local end asked for.
        local: LocalBind,
        /// Why.
        source: ClientError,
    },
    /// The TLS handshake failed (unverified server, refused client certificate, ...).
    Tls(TlsError),
    /// The request was not answered in time, or the response was malformed or too large.
    Exchange(ClientError),
    /// `[[outbound.allow]]` refuses every address of the destination (or it is an admin
    /// listener). Raised before connecting, and the same for every refusal: it says
    /// nothing about whether anything listens there.
    NotAllowed,
}

impl fmt::Display for OutboundError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OutboundError::Resolve { host, reason } => {
                write!(f, "cannot resolve {host}: {reason}")
            }
            OutboundError::ResolveTimeout { host, timeout_ms } => write!(
                f,
                "cannot resolve {host} within {timeout_ms} ms (outbound.connect_timeout_ms)"
            ),
            OutboundError::Connect {
                address,
                local,
                source,
            } => {
                write!(f, "cannot connect to {address}")?;
                match local {
                    LocalBind::Any => {}
                    LocalBind::Address(local) => write!(f, " from {local}")?,
                    LocalBind::PortRange {
                        ip,
                        port_first,
                        port_last,
                    } => write!(f, " from {ip} ports {port_first}-{port_last}")?,
                }
                write!(f, ": {source}")
            }
            OutboundError::Tls(error) => write!(f, "TLS: {error}"),
            OutboundError::Exchange(ClientError::Http(HttpError::BodyTooLarge {
                body_bytes_max,
                ..
            })) => write!(
                f,
                "response body above {body_bytes_max} bytes (outbound.response_bytes_max)"
            ),
            OutboundError::Exchange(ClientError::Timeout { timeout_ms }) => write!(
                f,
                "no complete response within {timeout_ms} ms (outbound.request_timeout_ms)"
            ),
            OutboundError::Exchange(error) => write!(f, "{error}"),
            OutboundError::NotAllowed => f.write_str("not an allowed destination (outbound.allow)"),
        }
    }
}

impl std::error::Error for OutboundError {}

impl OutboundError {
    /// Whether the destination was refused by `[[outbound.allow]]` (the caller's fault).
    pub fn is_not_allowed(&self) -> bool {
        matches!(self, OutboundError::NotAllowed)
    }

    /// Whether the response was refused for its size (the document, not the upstream, is at
    /// fault).
    pub fn is_too_large(&self) -> bool {
        matches!(
            self,
            OutboundError::Exchange(ClientError::Http(HttpError::BodyTooLarge { .. }))
        )
    }
}
