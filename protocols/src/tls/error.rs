//! The one error type of the TLS layer, written for the operator who reads it at 3 a.m.
//!
//! Every variant says which input it concerns ([`PemRole`], and the path when it came from a
//! file) and what is wrong with it, so a log line is enough to fix the configuration.

use std::fmt;
use std::io;
use std::path::PathBuf;

use rustls::{CertificateError, Error as RustlsError};
use rustls_pki_types::pem;

/// Which PEM input an error is about: the listener's certificate chain, its key, the client CA
/// of a mutual listener, or the outbound trust roots and client identity.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum PemRole {
    /// The certificate chain a listener presents (`cert`).
    ServerCertificate,
    /// The private key of that chain (`key`).
    ServerKey,
    /// The CA a mutual listener checks client certificates against (`client_ca`).
    ClientCa,
    /// The roots outbound connections verify servers against.
    TrustRoots,
    /// The certificate chain presented on outbound mutual TLS.
    ClientCertificate,
    /// The private key of that outbound chain.
    ClientKey,
}

impl PemRole {
    /// The configuration word an operator recognises, used in every message.
    fn describe(self) -> &'static str {
        match self {
            PemRole::ServerCertificate => "server certificate (cert)",
            PemRole::ServerKey => "server private key (key)",
            PemRole::ClientCa => "client CA (client_ca)",
            PemRole::TrustRoots => "outbound trust roots",
            PemRole::ClientCertificate => "outbound client certificate",
            PemRole::ClientKey => "outbound client private key",
        }
    }
}

impl fmt::Display for PemRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.describe())
    }
}

/// Which end of a handshake reported a failure: the listener (accept) or the outbound client
/// (connect). The same rustls error reads differently from each side.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    /// A listener accepting a connection.
    Server,
    /// An outbound connection.
    Client,
}

/// Everything that can go wrong loading TLS material or running a handshake.
///
/// Load errors (PEM, key, CA, mode) are configuration errors: the listener or reload is
/// refused and the previous configuration stays in force. Handshake errors concern one
/// connection only.
#[derive(Debug)]
#[non_exhaustive]
pub enum TlsError {
    /// A TLS mode word other than `off`, `on` or `mutual`.
    ModeUnknown {
        /// The word found in the configuration.
        found: String,
    },
    /// `ServerTls` was asked for a listener whose mode is `off`; it has no TLS to configure.
    ModeOff,
    /// Mode `mutual` without a `client_ca`: there would be nothing to check clients against.
    ClientCaMissing,
    /// A `client_ca` given for mode `on`, which never asks for client certificates. Refused so
    /// that an operator who meant `mutual` does not silently run without client checks.
    ClientCaUnused,
    /// A PEM input could not be decoded (bad base64, missing END line, ...).
    PemSyntax {
        /// Which input.
        role: PemRole,
        /// The decoder's complaint.
        source: pem::Error,
    },
    /// A PEM input holds no `CERTIFICATE` block.
    NoCertificate {
        /// Which input.
        role: PemRole,
    },
    /// A PEM input holds no private key block (PKCS#8, PKCS#1 or SEC1).
    NoPrivateKey {
        /// Which input.
        role: PemRole,
    },
    /// The private key parsed but the crypto provider cannot use it (unsupported algorithm or
    /// damaged key).
    KeyUnusable {
        /// Which input.
        role: PemRole,
        /// The provider's complaint.
        source: RustlsError,
    },
    /// The certificate chain parsed as PEM but its content is not a usable X.509 certificate.
    CertificateUnusable {
        /// Which input.
        role: PemRole,
        /// The parser's complaint.
        source: RustlsError,
    },
    /// The private key does not belong to the first certificate of the chain.
    KeyMismatch {
        /// The key input that does not match.
        role: PemRole,
    },
    /// A CA or root certificate is not a usable trust anchor.
    CaUnusable {
        /// Which input.
        role: PemRole,
        /// Index of the offending certificate in the PEM input, from zero.
        index: u32,
        /// The parser's complaint.
        source: RustlsError,
    },
    /// rustls refused to build the configuration for another reason.
    Config {
        /// The rustls complaint.
        source: RustlsError,
    },
    /// A file named in the configuration could not be read.
    FileUnreadable {
        /// Which input.
        role: PemRole,
        /// The path as configured.
        path: PathBuf,
        /// The operating system's complaint.
        source: io::Error,
    },
    /// A file was read but its content is wrong; `source` says how.
    InFile {
        /// The path as configured.
        path: PathBuf,
        /// What is wrong with its content.
        source: Box<TlsError>,
    },
    /// The name to verify the server against is neither a DNS name nor an IP address.
    ServerNameInvalid {
        /// The name as given.
        name: String,
    },
    /// Outbound TLS was attempted with no trust roots configured.
    NoTrustRoots,
    /// The peer did not finish the handshake in time.
    HandshakeTimeout {
        /// Which end gave up.
        side: Side,
        /// The limit that ran out.
        timeout_ms: u32,
    },
    /// The handshake failed on protocol grounds: certificates, versions, ciphers, alerts.
    Handshake {
        /// Which end reports it.
        side: Side,
        /// The rustls reason.
        source: RustlsError,
    },
    /// The peer closed the connection before the handshake finished, without an alert.
    HandshakeEof {
        /// Which end saw the connection close.
        side: Side,
    },
    /// The socket failed during the handshake (reset, ...).
    Io {
        /// Which end reports it.
        side: Side,
        /// The operating system's complaint.
        source: io::Error,
    },
}

impl TlsError {
    /// Splits an I/O error from a handshake into a rustls reason (when the socket was fine but
    /// TLS said no) or a plain socket failure.
    pub(crate) fn from_handshake(side: Side, error: io::Error) -> TlsError {
        let is_rustls = error
            .get_ref()
            .is_some_and(|inner| inner.is::<RustlsError>());
        if !is_rustls {
            if error.kind() == io::ErrorKind::UnexpectedEof {
                return TlsError::HandshakeEof { side };
            }
            return TlsError::Io {
                side,
                source: error,
            };
        }
        let inner = error
            .into_inner()
            .expect("checked above: the error has an inner value");
        let source = *inner
            .downcast::<RustlsError>()
            .expect("checked above: it is rustls");
        TlsError::Handshake { side, source }
    }

    /// The rustls reason of a failed handshake, for callers that branch on it.
    pub fn handshake_reason(&self) -> Option<&RustlsError> {
        match self {
            TlsError::Handshake { source, .. } => Some(source),
            TlsError::InFile { source, .. } => source.handshake_reason(),
            _ => None,
        }
    }
}

impl fmt::Display for TlsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TlsError::ModeUnknown { found } => {
                write!(
                    f,
                    "tls = {found:?} is not a TLS mode; use \"off\", \"on\" or \"mutual\""
                )
            }
            TlsError::ModeOff => f.write_str("tls = \"off\": this listener has no TLS to load"),
            TlsError::ClientCaMissing => f.write_str(
                "tls = \"mutual\" needs client_ca: the CA that signs client certificates",
            ),
            TlsError::ClientCaUnused => f.write_str(
                "client_ca is set but tls = \"on\" never asks for client certificates; \
                 use tls = \"mutual\" or remove client_ca",
            ),
            TlsError::PemSyntax { role, source } => write!(f, "{role}: malformed PEM: {source}"),
            TlsError::NoCertificate { role } => {
                write!(f, "{role}: no \"BEGIN CERTIFICATE\" block found in the PEM")
            }
            TlsError::NoPrivateKey { role } => write!(
                f,
                "{role}: no private key block found in the PEM \
                 (expected BEGIN PRIVATE KEY, RSA PRIVATE KEY or EC PRIVATE KEY)"
            ),
            TlsError::KeyUnusable { role, source } => {
                write!(f, "{role}: the private key cannot be used: {source}")
            }
            TlsError::CertificateUnusable { role, source } => {
                write!(f, "{role}: the certificate cannot be used: {source}")
            }
            TlsError::KeyMismatch { role } => {
                write!(
                    f,
                    "{role}: the private key does not match the certificate's public key"
                )
            }
            TlsError::CaUnusable {
                role,
                index,
                source,
            } => {
                write!(
                    f,
                    "{role}: certificate #{index} is not a usable CA: {source}"
                )
            }
            TlsError::Config { source } => write!(f, "TLS configuration refused: {source}"),
            TlsError::FileUnreadable { role, path, source } => {
                write!(f, "{role}: cannot read {}: {source}", path.display())
            }
            TlsError::InFile { path, source } => write!(f, "{}: {source}", path.display()),
            other => other.fmt_connection(f),
        }
    }
}

impl TlsError {
    /// The messages about one connection (as opposed to the configuration material).
    fn fmt_connection(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TlsError::ServerNameInvalid { name } => {
                write!(
                    f,
                    "{name:?} is neither a DNS name nor an IP address to verify TLS against"
                )
            }
            TlsError::NoTrustRoots => f.write_str(
                "outbound TLS has no trust roots configured, so no server can be verified",
            ),
            TlsError::HandshakeTimeout { side, timeout_ms } => {
                write!(
                    f,
                    "{}: handshake not finished within {timeout_ms} ms",
                    side.prefix()
                )
            }
            TlsError::Handshake { side, source } => {
                write!(
                    f,
                    "{}: {}",
                    side.prefix(),
                    HandshakeReason {
                        side: *side,
                        source
                    }
                )
            }
            TlsError::HandshakeEof { side } => write!(
                f,
                "{}: the {} closed the connection mid-handshake (often: it does not trust our \
                 certificate, or it does not speak TLS)",
                side.prefix(),
                side.peer()
            ),
            TlsError::Io { side, source } => {
                write!(
                    f,
                    "{}: connection failed during the handshake: {source}",
                    side.prefix()
                )
            }
            _ => unreachable!("configuration errors are written by Display::fmt"),
        }
    }
}

impl std::error::Error for TlsError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            TlsError::PemSyntax { source, .. } => Some(source),
            TlsError::KeyUnusable { source, .. }
            | TlsError::CertificateUnusable { source, .. }
            | TlsError::CaUnusable { source, .. }
            | TlsError::Config { source }
            | TlsError::Handshake { source, .. } => Some(source),
            TlsError::FileUnreadable { source, .. } | TlsError::Io { source, .. } => Some(source),
            TlsError::InFile { source, .. } => Some(source.as_ref()),
            _ => None,
        }
    }
}

impl Side {
    fn prefix(self) -> &'static str {
        match self {
            Side::Server => "TLS accept",
            Side::Client => "TLS connect",
        }
    }

    /// What the other end is called in messages.
    fn peer(self) -> &'static str {
        match self {
            Side::Server => "client",
            Side::Client => "server",
        }
    }
}

/// Plain words for the handshake failures operators meet most; the rest keep rustls' text.
struct HandshakeReason<'a> {
    side: Side,
    source: &'a RustlsError,
}

impl fmt::Display for HandshakeReason<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let peer = self.side.peer();
        match self.source {
            RustlsError::NoCertificatesPresented => write!(
                f,
                "the {peer} presented no certificate, and this connection requires one"
            ),
            RustlsError::InvalidCertificate(CertificateError::UnknownIssuer) => write!(
                f,
                "the {peer}'s certificate is not signed by a trusted CA (unknown issuer)"
            ),
            RustlsError::InvalidCertificate(CertificateError::BadSignature) => {
                write!(f, "the {peer}'s certificate has a bad signature")
            }
            RustlsError::InvalidCertificate(CertificateError::Expired) => {
                write!(f, "the {peer}'s certificate has expired")
            }
            RustlsError::InvalidCertificate(CertificateError::NotValidForName) => {
                write!(
                    f,
                    "the {peer}'s certificate is not valid for the name connected to"
                )
            }
            RustlsError::InvalidCertificate(other) => {
                write!(f, "the {peer}'s certificate is invalid: {other}")
            }
            RustlsError::AlertReceived(alert) => {
                write!(f, "the {peer} refused the handshake (alert {alert:?})")
            }
            other => write!(f, "handshake failed: {other}"),
        }
    }
}
