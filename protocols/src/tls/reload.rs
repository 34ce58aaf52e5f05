//! Certificate swap without a restart.
//!
//! Each shard holds one [`SharedServerTls`] per TLS listener. A reload builds the new
//! [`ServerTls`] once (where a bad certificate is refused and the old one stays), sends a clone
//! to every shard as an owned, `Send` value, and each shard calls [`SharedServerTls::reload`].
//! A connection takes the configuration current when its handshake starts and keeps it for its
//! lifetime, so live connections are untouched and new ones use the new certificate.

use std::cell::RefCell;
use std::path::Path;
use std::rc::Rc;

use futures_io::{AsyncRead, AsyncWrite};

use super::config::{ServerTls, TlsMode};
use super::error::TlsError;
use super::stream::{accept, TlsServerStream};

/// One listener's current TLS configuration on one shard; clones share it. Shard-local
/// (`Rc`), because each shard receives its own copy of a reload.
#[derive(Clone, Debug)]
pub struct SharedServerTls {
    current: Rc<RefCell<Current>>,
}

#[derive(Debug)]
struct Current {
    tls: ServerTls,
    /// Counts reloads from zero, so logs can say which certificate a connection got.
    generation: u32,
}

impl SharedServerTls {
    /// Starts the listener with `tls` as generation 0.
    pub fn new(tls: ServerTls) -> SharedServerTls {
        SharedServerTls {
            current: Rc::new(RefCell::new(Current { tls, generation: 0 })),
        }
    }

    /// The configuration new connections get now. A clone, so no borrow outlives the call and
    /// a reload during a handshake cannot conflict with it.
    pub fn current(&self) -> ServerTls {
        self.current.borrow().tls.clone()
    }

    /// How many reloads this listener has taken.
    pub fn generation(&self) -> u32 {
        self.current.borrow().generation
    }

    /// Installs a new configuration for connections accepted from now on and returns its
    /// generation. Connections already accepted keep the one they started with.
    pub fn reload(&self, tls: ServerTls) -> u32 {
        let tls = tls.for_shard();
        let mut current = self.current.borrow_mut();
        current.generation = current
            .generation
            .checked_add(1)
            .expect("fewer than 2^32 reloads");
        current.tls = tls;
        current.generation
    }

    /// Reads and checks new PEM files, then installs them. On any error nothing changes and
    /// the listener keeps serving its current certificate.
    pub fn reload_from_files(
        &self,
        cert_path: &Path,
        key_path: &Path,
        client_ca_path: Option<&Path>,
        mode: TlsMode,
    ) -> Result<u32, TlsError> {
        let timeout_ms = self.current.borrow().tls.handshake_timeout_ms();
        let tls = ServerTls::from_files(cert_path, key_path, client_ca_path, mode)?;
        Ok(self.reload(tls.with_handshake_timeout_ms(timeout_ms)))
    }

    /// Runs the server handshake with the configuration current at this moment.
    pub async fn accept<S>(&self, stream: S) -> Result<TlsServerStream<S>, TlsError>
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        let tls = self.current();
        accept(&tls, stream).await
    }
}
