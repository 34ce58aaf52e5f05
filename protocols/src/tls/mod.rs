//! TLS and mutual TLS for listeners and outbound connections, through rustls with the ring
//! provider.
//!
//! - [`config`]: [`ServerTls`] per listener (`tls = "on" | "mutual"`) and [`ClientTls`] for
//!   outbound connections, built from PEM with errors that name the file and the fault.
//! - [`stream`]: the handshakes over glommio streams, bounded in time, and [`MaybeTls`] so the
//!   HTTP code serves plain and TLS connections through one generic.
//! - [`reload`]: [`SharedServerTls`], the per-shard handle that swaps a listener's certificate
//!   for new connections while live ones keep theirs.
//! - [`identity`]: the peer certificate's name, for logs.
//!
//! This module never trusts the operating system's certificate store or fetches anything: the
//! only trust anchors are those in the configuration, so behaviour is the same on every host.

pub mod config;
pub mod error;
pub mod identity;
pub mod reload;
pub mod stream;

#[cfg(test)]
pub(crate) mod test_pki;
#[cfg(test)]
mod tests;

pub use config::{ClientTls, ServerTls, TlsMode};
pub use error::{PemRole, Side, TlsError};
pub use identity::PeerName;
pub use reload::SharedServerTls;
pub use stream::{accept, connect, MaybeTls, TlsClientStream, TlsServerStream};

/// How long a peer may take to complete a TLS handshake by default, in milliseconds. Long
/// enough for a loaded client across a WAN; short enough that silent connections do not hold
/// a listener's connection slots for long.
pub const HANDSHAKE_TIMEOUT_MS_DEFAULT: u32 = 10_000;

/// TLS sessions remembered for resumption, per listener per shard and per shard for outbound
/// connections (rustls' own default; an entry is a few hundred bytes).
pub const SESSIONS_CACHED_PER_SHARD: u32 = 256;
