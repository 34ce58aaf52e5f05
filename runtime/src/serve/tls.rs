//! TLS listeners of `baton serve`: their material loaded and checked (at startup and on
//! every reload, where a bad file refuses the whole reload), and the per-shard acceptor that
//! logs refused handshakes. The certificate swap itself is [`SharedServerTls::reload`],
//! called by each shard for its own listeners ([`super::listeners`]); connections already
//! accepted keep the configuration they started with.

use glommio::net::TcpStream;
use protocols::http::server::{maybe_tls_peer, Acceptor, Peer};
use protocols::tls::{MaybeTls, ServerTls, SharedServerTls, TlsError, TlsMode};

use super::log_rate::LogRate;
use super::ServeError;
use crate::config::{Config, ListenerConfig, Tls};

/// Refused handshakes logged per listener per shard per second at most; the rest are only
/// counted, so a scanner cannot flood the log.
const HANDSHAKE_FAILURES_LOGGED_PER_SECOND_MAX: u32 = 10;

/// Loads every TLS listener's certificate, key and client CA, in listener order (`None` for
/// plain listeners). The first bad file fails the whole start, naming listener and file.
pub fn load(config: &Config) -> Result<Vec<Option<ServerTls>>, ServeError> {
    config
        .listeners
        .iter()
        .map(|listener| match mode(listener) {
            TlsMode::Off => Ok(None),
            mode => from_files(listener, mode)
                .map(Some)
                .map_err(|source| ServeError::Tls {
                    listener: listener.name.clone(),
                    source,
                }),
        })
        .collect()
}

fn mode(listener: &ListenerConfig) -> TlsMode {
    match listener.tls {
        Tls::Off => TlsMode::Off,
        Tls::On => TlsMode::On,
        Tls::Mutual => TlsMode::Mutual,
    }
}

fn from_files(listener: &ListenerConfig, mode: TlsMode) -> Result<ServerTls, TlsError> {
    let (cert, key) = paths(listener);
    ServerTls::from_files(cert, key, listener.client_ca.as_deref(), mode)
}

fn paths(listener: &ListenerConfig) -> (&std::path::Path, &std::path::Path) {
    // Validated with the configuration: a TLS listener has both.
    let cert = listener
        .cert
        .as_deref()
        .expect("validated: TLS listener has cert");
    let key = listener
        .key
        .as_deref()
        .expect("validated: TLS listener has key");
    (cert, key)
}

/// One TLS listener on one shard: the shared configuration handshakes use, and where refused
/// handshakes are logged.
pub struct TlsListener {
    tls: SharedServerTls,
    name: String,
    shard: u16,
    failures: LogRate,
}

impl TlsListener {
    /// The listener `name` on `shard`, serving with `tls` (the shard's own copy).
    pub fn new(tls: SharedServerTls, name: &str, shard: u16) -> TlsListener {
        TlsListener {
            tls,
            name: name.to_owned(),
            shard,
            failures: LogRate::new(HANDSHAKE_FAILURES_LOGGED_PER_SECOND_MAX),
        }
    }

    fn log_failure(&self, peer: Option<std::net::SocketAddr>, error: &TlsError) {
        let (shard, name) = (self.shard, &self.name);
        let admitted = self.failures.admit(|left_out| {
            eprintln!(
                "baton: shard {shard}: listener \"{name}\": {left_out} more handshakes refused"
            );
        });
        if admitted {
            let peer = peer.map_or_else(|| "unknown peer".to_owned(), |p| p.to_string());
            eprintln!("baton: shard {shard}: listener \"{name}\": {peer}: {error}");
        }
    }
}

impl Acceptor for TlsListener {
    type Stream = MaybeTls<TcpStream>;
    const ANSWERS_REFUSALS: bool = false;

    async fn accept(&self, stream: TcpStream) -> Result<MaybeTls<TcpStream>, TlsError> {
        let peer = stream.peer_addr().ok();
        let accepted = Acceptor::accept(&self.tls, stream).await;
        if let Err(error) = &accepted {
            self.log_failure(peer, error);
        }
        accepted
    }

    fn peer(stream: &MaybeTls<TcpStream>) -> Peer {
        maybe_tls_peer(stream)
    }
}
