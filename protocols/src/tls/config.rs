//! Building rustls configurations from PEM: one [`ServerTls`] per TLS listener and one
//! [`ClientTls`] for outbound connections.
//!
//! Loading happens at startup and on reload, never per connection, so it may allocate and read
//! files with blocking calls. Everything that can be wrong with the material is found here, so
//! a bad certificate refuses the configuration instead of failing every handshake later.

use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;

use rustls::client::Resumption;
use rustls::crypto::CryptoProvider;
use rustls::server::{ServerSessionMemoryCache, WebPkiClientVerifier};
use rustls::{ClientConfig, RootCertStore, ServerConfig};
use rustls_pki_types::pem::{self, PemObject};
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use super::error::{PemRole, TlsError};
use super::{HANDSHAKE_TIMEOUT_MS_DEFAULT, SESSIONS_CACHED_PER_SHARD};

/// The TLS mode of one listener (`tls = "off" | "on" | "mutual"`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TlsMode {
    /// Plain TCP.
    Off,
    /// TLS; clients are not asked for a certificate.
    On,
    /// TLS; clients must present a certificate signed by the listener's `client_ca`, or the
    /// handshake is refused.
    Mutual,
}

impl FromStr for TlsMode {
    type Err = TlsError;

    fn from_str(word: &str) -> Result<TlsMode, TlsError> {
        match word {
            "off" => Ok(TlsMode::Off),
            "on" => Ok(TlsMode::On),
            "mutual" => Ok(TlsMode::Mutual),
            _ => Err(TlsError::ModeUnknown {
                found: word.to_owned(),
            }),
        }
    }
}

/// A listener's TLS configuration: immutable once built, cheap to clone, `Send`, so a reload
/// can build it once and hand a clone to every shard.
#[derive(Clone, Debug)]
pub struct ServerTls {
    config: Arc<ServerConfig>,
    mode: TlsMode,
    handshake_timeout_ms: u32,
}

impl ServerTls {
    /// Builds a listener configuration from PEM text: the certificate chain (leaf first), its
    /// private key and, for [`TlsMode::Mutual`], the CA that signs client certificates.
    /// The server offers ALPN `http/1.1`.
    pub fn load(
        cert_pem: &[u8],
        key_pem: &[u8],
        client_ca_pem: Option<&[u8]>,
        mode: TlsMode,
    ) -> Result<ServerTls, TlsError> {
        let provider = provider();
        let builder = ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|source| TlsError::Config { source })?;
        let builder = match (mode, client_ca_pem) {
            (TlsMode::Off, _) => return Err(TlsError::ModeOff),
            (TlsMode::On, Some(_)) => return Err(TlsError::ClientCaUnused),
            (TlsMode::Mutual, None) => return Err(TlsError::ClientCaMissing),
            (TlsMode::On, None) => builder.with_no_client_auth(),
            (TlsMode::Mutual, Some(ca_pem)) => {
                let roots = Arc::new(root_store(ca_pem, PemRole::ClientCa)?);
                let verifier = WebPkiClientVerifier::builder_with_provider(roots, provider)
                    .build()
                    .expect("the builder fails only without anchors or on CRLs; we give neither");
                builder.with_client_cert_verifier(verifier)
            }
        };
        let chain = certificates(cert_pem, PemRole::ServerCertificate)?;
        let key = private_key(key_pem, PemRole::ServerKey)?;
        let mut config = builder
            .with_single_cert(chain, key)
            .map_err(|source| pair_error(source, PemRole::ServerCertificate, PemRole::ServerKey))?;
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(ServerTls {
            config: Arc::new(config),
            mode,
            handshake_timeout_ms: HANDSHAKE_TIMEOUT_MS_DEFAULT,
        })
    }

    /// Like [`ServerTls::load`], reading the PEM files named in the configuration. Errors name
    /// the file they concern.
    pub fn from_files(
        cert_path: &Path,
        key_path: &Path,
        client_ca_path: Option<&Path>,
        mode: TlsMode,
    ) -> Result<ServerTls, TlsError> {
        let cert_pem = read_pem(cert_path, PemRole::ServerCertificate)?;
        let key_pem = read_pem(key_path, PemRole::ServerKey)?;
        let client_ca_pem = match client_ca_path {
            Some(path) => Some(read_pem(path, PemRole::ClientCa)?),
            None => None,
        };
        let loaded = ServerTls::load(&cert_pem, &key_pem, client_ca_pem.as_deref(), mode);
        loaded.map_err(|error| {
            // Attribute a content error to the file it came from; mode errors concern no file.
            let path = match pem_role(&error) {
                None => return error,
                Some(PemRole::ServerKey) => key_path,
                Some(PemRole::ClientCa) => client_ca_path.unwrap_or(cert_path),
                Some(_) => cert_path,
            };
            TlsError::InFile {
                path: path.to_path_buf(),
                source: Box::new(error),
            }
        })
    }

    /// A copy for one shard: the same certificate and settings with its own session cache, so
    /// handshakes on different cores never contend on the cache's lock. A client resuming on
    /// another shard (SO_REUSEPORT picks one per connection) falls back to a full handshake.
    pub fn for_shard(&self) -> ServerTls {
        let mut config = ServerConfig::clone(&self.config);
        config.session_storage = ServerSessionMemoryCache::new(SESSIONS_CACHED_PER_SHARD as usize);
        ServerTls {
            config: Arc::new(config),
            ..self.clone()
        }
    }

    /// Sets how long a client may take to finish the handshake (milliseconds, at least 1).
    pub fn with_handshake_timeout_ms(mut self, timeout_ms: u32) -> ServerTls {
        assert!(
            timeout_ms > 0,
            "a zero handshake timeout would refuse every client"
        );
        self.handshake_timeout_ms = timeout_ms;
        self
    }

    /// The rustls configuration new connections are accepted with.
    pub fn config(&self) -> &Arc<ServerConfig> {
        &self.config
    }

    /// The listener's mode: [`TlsMode::On`] or [`TlsMode::Mutual`].
    pub fn mode(&self) -> TlsMode {
        self.mode
    }

    /// How long a client may take to finish the handshake.
    pub fn handshake_timeout_ms(&self) -> u32 {
        self.handshake_timeout_ms
    }
}

/// The configuration of outbound TLS (document fetches, `basichttp` sends): servers are
/// verified against the configured roots only, never the operating system's store or the
/// network, and a client certificate is presented when one is configured.
#[derive(Clone, Debug)]
pub struct ClientTls {
    config: Arc<ClientConfig>,
    roots_len: u32,
    handshake_timeout_ms: u32,
}

impl ClientTls {
    /// Builds the outbound configuration. Without `roots_pem` the configuration still loads
    /// (so plain-HTTP fetches work) but every TLS connect fails with
    /// [`TlsError::NoTrustRoots`]. `client_cert` is `(chain PEM, key PEM)`.
    pub fn load(
        roots_pem: Option<&[u8]>,
        client_cert: Option<(&[u8], &[u8])>,
    ) -> Result<ClientTls, TlsError> {
        let roots = match roots_pem {
            Some(pem) => root_store(pem, PemRole::TrustRoots)?,
            None => RootCertStore::empty(),
        };
        let roots_len = u32::try_from(roots.len()).expect("fewer than 2^32 trust roots");
        let builder = ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(|source| TlsError::Config { source })?
            .with_root_certificates(roots);
        let mut config = match client_cert {
            None => builder.with_no_client_auth(),
            Some((chain_pem, key_pem)) => {
                let chain = certificates(chain_pem, PemRole::ClientCertificate)?;
                let key = private_key(key_pem, PemRole::ClientKey)?;
                builder
                    .with_client_auth_cert(chain, key)
                    .map_err(|source| {
                        pair_error(source, PemRole::ClientCertificate, PemRole::ClientKey)
                    })?
            }
        };
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(ClientTls {
            config: Arc::new(config),
            roots_len,
            handshake_timeout_ms: HANDSHAKE_TIMEOUT_MS_DEFAULT,
        })
    }

    /// Like [`ClientTls::load`], reading the PEM files named in the configuration. Errors name
    /// the file they concern.
    pub fn from_files(
        roots_path: Option<&Path>,
        client_cert_paths: Option<(&Path, &Path)>,
    ) -> Result<ClientTls, TlsError> {
        let roots_pem = match roots_path {
            Some(path) => Some(read_pem(path, PemRole::TrustRoots)?),
            None => None,
        };
        let client_pem = match client_cert_paths {
            Some((cert, key)) => Some((
                read_pem(cert, PemRole::ClientCertificate)?,
                read_pem(key, PemRole::ClientKey)?,
            )),
            None => None,
        };
        let client_cert = client_pem
            .as_ref()
            .map(|(cert, key)| (cert.as_slice(), key.as_slice()));
        ClientTls::load(roots_pem.as_deref(), client_cert).map_err(|error| {
            let path = match pem_role(&error) {
                Some(PemRole::TrustRoots) => roots_path,
                Some(PemRole::ClientCertificate) => client_cert_paths.map(|(cert, _)| cert),
                Some(PemRole::ClientKey) => client_cert_paths.map(|(_, key)| key),
                _ => None,
            };
            match path {
                Some(path) => TlsError::InFile {
                    path: path.to_path_buf(),
                    source: Box::new(error),
                },
                None => error,
            }
        })
    }

    /// A copy for one shard with its own resumption cache, for the same reason as
    /// [`ServerTls::for_shard`].
    pub fn for_shard(&self) -> ClientTls {
        let mut config = ClientConfig::clone(&self.config);
        config.resumption = Resumption::in_memory_sessions(SESSIONS_CACHED_PER_SHARD as usize);
        ClientTls {
            config: Arc::new(config),
            ..self.clone()
        }
    }

    /// Sets how long a server may take to finish the handshake (milliseconds, at least 1).
    pub fn with_handshake_timeout_ms(mut self, timeout_ms: u32) -> ClientTls {
        assert!(
            timeout_ms > 0,
            "a zero handshake timeout would fail every connect"
        );
        self.handshake_timeout_ms = timeout_ms;
        self
    }

    /// The rustls configuration outbound connections use.
    pub fn config(&self) -> &Arc<ClientConfig> {
        &self.config
    }

    /// How many trust roots were configured; zero means outbound TLS is unavailable.
    pub fn roots_len(&self) -> u32 {
        self.roots_len
    }

    /// How long a server may take to finish the handshake.
    pub fn handshake_timeout_ms(&self) -> u32 {
        self.handshake_timeout_ms
    }
}

// A reload builds one configuration and sends it to every shard, so both must cross threads.
const _: () = {
    const fn assert_send<T: Send>() {}
    assert_send::<ServerTls>();
    assert_send::<ClientTls>();
};

/// The crypto provider: ring, explicitly, so nothing depends on a process-wide default that
/// another crate might install differently.
fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// All `CERTIFICATE` blocks of a PEM input, in order; other block types are skipped so a
/// combined key-and-chain file also works.
fn certificates(pem_text: &[u8], role: PemRole) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let chain = CertificateDer::pem_slice_iter(pem_text)
        .collect::<Result<Vec<_>, pem::Error>>()
        .map_err(|source| pem_error(source, role))?;
    if chain.is_empty() {
        return Err(TlsError::NoCertificate { role });
    }
    Ok(chain)
}

/// The first private key block of a PEM input.
fn private_key(pem_text: &[u8], role: PemRole) -> Result<PrivateKeyDer<'static>, TlsError> {
    PrivateKeyDer::from_pem_slice(pem_text).map_err(|source| match source {
        pem::Error::NoItemsFound => TlsError::NoPrivateKey { role },
        source => TlsError::PemSyntax { role, source },
    })
}

/// A trust store holding every certificate of the input; one unusable CA refuses the whole
/// input, because silently trusting fewer CAs than configured shows up only as refused peers.
fn root_store(pem_text: &[u8], role: PemRole) -> Result<RootCertStore, TlsError> {
    let mut store = RootCertStore::empty();
    for (index, der) in certificates(pem_text, role)?.into_iter().enumerate() {
        let index = u32::try_from(index).expect("fewer than 2^32 certificates in one PEM input");
        store.add(der).map_err(|source| TlsError::CaUnusable {
            role,
            index,
            source,
        })?;
    }
    assert!(!store.is_empty());
    Ok(store)
}

fn pem_error(source: pem::Error, role: PemRole) -> TlsError {
    match source {
        pem::Error::NoItemsFound => TlsError::NoCertificate { role },
        source => TlsError::PemSyntax { role, source },
    }
}

/// Sorts rustls' complaint about a certificate and key pair into "they do not match", "the
/// certificate is unusable" and "the key is unusable".
fn pair_error(source: rustls::Error, cert_role: PemRole, key_role: PemRole) -> TlsError {
    match source {
        rustls::Error::InconsistentKeys(rustls::InconsistentKeys::KeyMismatch) => {
            TlsError::KeyMismatch { role: key_role }
        }
        rustls::Error::InvalidCertificate(_) => TlsError::CertificateUnusable {
            role: cert_role,
            source,
        },
        source => TlsError::KeyUnusable {
            role: key_role,
            source,
        },
    }
}

fn read_pem(path: &Path, role: PemRole) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| TlsError::FileUnreadable {
        role,
        path: path.to_path_buf(),
        source,
    })
}

/// The input an error is about, to attribute it to a file.
fn pem_role(error: &TlsError) -> Option<PemRole> {
    match error {
        TlsError::PemSyntax { role, .. }
        | TlsError::NoCertificate { role }
        | TlsError::NoPrivateKey { role }
        | TlsError::KeyUnusable { role, .. }
        | TlsError::CertificateUnusable { role, .. }
        | TlsError::KeyMismatch { role }
        | TlsError::CaUnusable { role, .. } => Some(*role),
        _ => None,
    }
}
