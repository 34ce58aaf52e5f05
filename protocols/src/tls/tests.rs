//! TLS over real loopback sockets in a glommio executor, with certificates made per test.

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;

use futures_io::{AsyncRead, AsyncWrite};
use futures_lite::{AsyncReadExt, AsyncWriteExt};
use glommio::net::{TcpListener, TcpStream};
use glommio::{LocalExecutorBuilder, Placement};
use rustls::{CertificateError, Error as RustlsError};

use super::test_pki::{Ca, Leaf};
use super::*;

/// Runs a test body on a fresh single-thread executor. io memory stays at 1 MiB because the
/// machine locks at most 8 MiB per process and tests run in parallel.
fn run<F: Future<Output = ()>>(body: impl FnOnce() -> F) {
    let executor = LocalExecutorBuilder::new(Placement::Unbound)
        .io_memory(1 << 20)
        .make()
        .expect("a glommio executor");
    executor.run(body());
}

fn bind() -> (TcpListener, SocketAddr) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
    let address = listener.local_addr().expect("bound address");
    (listener, address)
}

fn server_tls(leaf: &Leaf, client_ca: Option<&Ca>, mode: TlsMode) -> ServerTls {
    let ca_pem = client_ca.map(|ca| ca.cert_pem.as_bytes());
    ServerTls::load(
        leaf.cert_pem.as_bytes(),
        leaf.key_pem.as_bytes(),
        ca_pem,
        mode,
    )
    .expect("valid server material")
}

fn client_tls(roots: &Ca, identity: Option<&Leaf>) -> ClientTls {
    let identity = identity.map(|leaf| (leaf.cert_pem.as_bytes(), leaf.key_pem.as_bytes()));
    ClientTls::load(Some(roots.cert_pem.as_bytes()), identity).expect("valid client material")
}

/// Reads `N` bytes and writes them back.
async fn echo_once<S: AsyncRead + AsyncWrite + Unpin, const N: usize>(stream: &mut S) {
    let mut buffer = [0u8; N];
    stream
        .read_exact(&mut buffer)
        .await
        .expect("read the request");
    stream.write_all(&buffer).await.expect("echo it");
    stream.flush().await.expect("flush the echo");
}

/// Writes `message` and checks it comes back unchanged.
async fn round_trip<S: AsyncRead + AsyncWrite + Unpin>(stream: &mut S, message: &[u8; 5]) {
    stream.write_all(message).await.expect("write");
    stream.flush().await.expect("flush");
    let mut answer = [0u8; 5];
    stream.read_exact(&mut answer).await.expect("read the echo");
    assert_eq!(&answer, message);
}

/// Accepts one connection with `tls`, then echoes one 5-byte message through [`MaybeTls`].
/// Returns the handshake result with the client's name, if any, for the test to inspect.
fn serve_once(
    listener: TcpListener,
    tls: ServerTls,
) -> glommio::task::JoinHandle<Result<Option<String>, TlsError>> {
    glommio::spawn_local(async move {
        let socket = listener.accept().await.expect("accept TCP");
        let stream = accept(&tls, socket).await?;
        assert_eq!(stream.alpn_protocol(), Some(&b"http/1.1"[..]));
        let mut stream = MaybeTls::from(stream);
        let client_name = stream.peer_name().map(|name| name.to_string());
        echo_once::<_, 5>(&mut stream).await;
        Ok(client_name)
    })
    .detach()
}

async fn dial(address: SocketAddr) -> TcpStream {
    TcpStream::connect(address).await.expect("connect TCP")
}

#[test]
fn tls_on_handshakes_and_echoes() {
    run(|| async {
        let ca = Ca::new("Baton test CA");
        let server = ca.server("baton.test");
        let (listener, address) = bind();
        let task = serve_once(listener, server_tls(&server, None, TlsMode::On));

        let client = client_tls(&ca, None);
        let mut stream = connect(&client, "localhost", dial(address).await)
            .await
            .expect("TLS");
        assert_eq!(
            stream.peer_certificate().map(|der| der.as_ref()),
            Some(&server.cert_der[..])
        );
        assert_eq!(stream.peer_name(), Some(PeerName::CommonName("baton.test")));
        round_trip(&mut stream, b"hello").await;

        let client_name = task.await.expect("server task").expect("server handshake");
        assert_eq!(client_name, None, "mode on asks for no client certificate");
    });
}

#[test]
fn tls_on_verifies_an_ip_address_name() {
    run(|| async {
        let ca = Ca::new("Baton test CA");
        let (listener, address) = bind();
        let task = serve_once(listener, server_tls(&ca.server("srv"), None, TlsMode::On));
        let client = client_tls(&ca, None);
        let mut stream = connect(&client, "127.0.0.1", dial(address).await)
            .await
            .expect("TLS");
        round_trip(&mut stream, b"by ip").await;
        task.await.expect("server task").expect("server handshake");
    });
}

#[test]
fn plain_connections_share_the_generic_path() {
    run(|| async {
        let (listener, address) = bind();
        let task = glommio::spawn_local(async move {
            let mut stream = MaybeTls::Plain(listener.accept().await.expect("accept TCP"));
            assert!(!stream.is_tls());
            assert!(stream.peer_certificate().is_none());
            echo_once::<_, 5>(&mut stream).await;
        })
        .detach();
        let mut stream = MaybeTls::Plain(dial(address).await);
        round_trip(&mut stream, b"plain").await;
        task.await.expect("server task");
    });
}

#[test]
fn mutual_accepts_a_client_signed_by_the_client_ca() {
    run(|| async {
        let ca = Ca::new("Baton test CA");
        let (listener, address) = bind();
        let tls = server_tls(&ca.server("baton.test"), Some(&ca), TlsMode::Mutual);
        let task = serve_once(listener, tls);

        let client = client_tls(&ca, Some(&ca.client("agent-desk-7")));
        let stream = connect(&client, "localhost", dial(address).await)
            .await
            .expect("TLS");
        let mut stream = MaybeTls::from(stream);
        assert!(stream.is_tls());
        round_trip(&mut stream, b"mtls!").await;

        let client_name = task.await.expect("server task").expect("server handshake");
        assert_eq!(client_name.as_deref(), Some("CN=agent-desk-7"));
    });
}

/// Connects to a mutual listener with `identity` and returns the server's handshake error.
async fn mutual_refusal(ca: &Ca, identity: Option<&Leaf>) -> TlsError {
    let (listener, address) = bind();
    let tls = server_tls(&ca.server("baton.test"), Some(ca), TlsMode::Mutual);
    let task = serve_once(listener, tls);
    let client = client_tls(ca, identity);
    // In TLS 1.3 the client finishes before the server has judged its certificate, so the
    // refusal reaches the client as an alert on its first read, not always from `connect`.
    if let Ok(mut stream) = connect(&client, "localhost", dial(address).await).await {
        let mut byte = [0u8; 1];
        let read = stream.read(&mut byte).await;
        assert!(
            !matches!(read, Ok(1)),
            "a refused client must not receive data"
        );
    }
    task.await
        .expect("server task")
        .expect_err("the server must refuse the client")
}

#[test]
fn mutual_refuses_a_client_without_a_certificate() {
    run(|| async {
        let ca = Ca::new("Baton test CA");
        let error = mutual_refusal(&ca, None).await;
        assert!(matches!(
            error.handshake_reason(),
            Some(RustlsError::NoCertificatesPresented)
        ));
        let message = error.to_string();
        assert!(
            message.contains("client presented no certificate"),
            "{message}"
        );
    });
}

#[test]
fn mutual_refuses_a_client_signed_by_another_ca() {
    run(|| async {
        let ca = Ca::new("Baton test CA");
        let rogue = Ca::new("Someone else's CA").client("intruder");
        let error = mutual_refusal(&ca, Some(&rogue)).await;
        assert!(matches!(
            error.handshake_reason(),
            Some(RustlsError::InvalidCertificate(
                CertificateError::UnknownIssuer
            ))
        ));
        let message = error.to_string();
        assert!(
            message.contains("client's certificate is not signed by a trusted CA"),
            "{message}"
        );
    });
}

#[test]
fn client_refuses_a_server_outside_its_roots() {
    run(|| async {
        let trusted = Ca::new("Baton test CA");
        let untrusted = Ca::new("Impostor CA");
        let (listener, address) = bind();
        let task = serve_once(
            listener,
            server_tls(&untrusted.server("fake"), None, TlsMode::On),
        );

        let client = client_tls(&trusted, None);
        let result = connect(&client, "localhost", dial(address).await).await;
        let error = result.err().expect("an untrusted server must be refused");
        assert!(matches!(
            error.handshake_reason(),
            Some(RustlsError::InvalidCertificate(
                CertificateError::UnknownIssuer
            ))
        ));
        assert!(
            error
                .to_string()
                .starts_with("TLS connect: the server's certificate"),
            "{error}"
        );
        let server_side = task
            .await
            .expect("server task")
            .expect_err("the client hung up");
        // The client's alert may be lost when it drops the socket at once; either way the server
        // must say the client gave up rather than blame its own configuration.
        assert!(
            matches!(server_side, TlsError::HandshakeEof { side: Side::Server })
                || matches!(
                    server_side.handshake_reason(),
                    Some(RustlsError::AlertReceived(_))
                ),
            "{server_side:?}"
        );
        assert!(
            server_side
                .to_string()
                .contains("client closed the connection"),
            "{server_side}"
        );
    });
}

#[test]
fn client_without_roots_refuses_before_any_handshake() {
    run(|| async {
        let (listener, address) = bind();
        let client = ClientTls::load(None, None).expect("loads without roots");
        assert_eq!(client.roots_len(), 0);
        let socket = dial(address).await;
        let error = connect(&client, "localhost", socket)
            .await
            .err()
            .expect("no roots");
        assert!(matches!(error, TlsError::NoTrustRoots));
        drop(listener);
    });
}

#[test]
fn a_silent_client_times_out_the_handshake() {
    run(|| async {
        let ca = Ca::new("Baton test CA");
        let tls = server_tls(&ca.server("baton.test"), None, TlsMode::On);
        let (listener, address) = bind();
        let _silent = dial(address).await;
        let socket = listener.accept().await.expect("accept TCP");
        let error = accept(&tls.with_handshake_timeout_ms(30), socket)
            .await
            .err()
            .expect("timeout");
        assert!(matches!(
            error,
            TlsError::HandshakeTimeout {
                side: Side::Server,
                timeout_ms: 30
            }
        ));
        assert_eq!(
            error.to_string(),
            "TLS accept: handshake not finished within 30 ms"
        );
    });
}

#[test]
fn reload_serves_new_connections_with_the_new_certificate() {
    run(|| async {
        let ca = Ca::new("Baton test CA");
        let (before, after) = (ca.server("before"), ca.server("after"));
        let shared = SharedServerTls::new(server_tls(&before, None, TlsMode::On));
        let (listener, address) = bind();
        let acceptor = shared.clone();
        let server = glommio::spawn_local(async move {
            for _ in 0..2 {
                let socket = listener.accept().await.expect("accept TCP");
                let mut stream = acceptor.accept(socket).await.expect("server handshake");
                // Each connection echoes twice, so the first can be used again after the swap.
                glommio::spawn_local(async move {
                    echo_once::<_, 5>(&mut stream).await;
                    echo_once::<_, 5>(&mut stream).await;
                })
                .detach();
            }
        })
        .detach();

        let client = client_tls(&ca, None);
        let mut old = connect(&client, "localhost", dial(address).await)
            .await
            .expect("TLS");
        round_trip(&mut old, b"old 1").await;
        assert_eq!(shared.reload(server_tls(&after, None, TlsMode::On)), 1);
        assert_eq!(shared.generation(), 1);

        let mut new = connect(&client, "localhost", dial(address).await)
            .await
            .expect("TLS");
        assert_eq!(
            new.peer_certificate().map(|der| der.as_ref()),
            Some(&after.cert_der[..])
        );
        assert_eq!(
            old.peer_certificate().map(|der| der.as_ref()),
            Some(&before.cert_der[..])
        );
        round_trip(&mut new, b"new 1").await;
        round_trip(&mut old, b"old 2").await;
        round_trip(&mut new, b"new 2").await;
        server.await.expect("server task");
    });
}

/// A scratch directory for PEM files, removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Scratch {
        let path = std::env::temp_dir().join(format!("baton-tls-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&path).expect("create scratch directory");
        Scratch(path)
    }

    fn write(&self, name: &str, content: &str) -> PathBuf {
        let path = self.0.join(name);
        std::fs::write(&path, content).expect("write scratch file");
        path
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn reload_from_bad_files_keeps_the_current_certificate() {
    let ca = Ca::new("Baton test CA");
    let (first, second) = (ca.server("first"), ca.server("second"));
    let scratch = Scratch::new("reload");
    let cert = scratch.write("cert.pem", &first.cert_pem);
    let key = scratch.write("key.pem", &first.key_pem);
    let shared = SharedServerTls::new(
        ServerTls::from_files(&cert, &key, None, TlsMode::On).expect("good files"),
    );
    let config_before = shared.current().config().clone();

    // A certificate whose key was not updated with it: refused, nothing changes.
    let cert = scratch.write("cert.pem", &second.cert_pem);
    let error = shared
        .reload_from_files(&cert, &key, None, TlsMode::On)
        .expect_err("mismatch");
    let TlsError::InFile { path, source } = &error else {
        panic!("{error:?}")
    };
    assert_eq!(*path, key, "the key file is the one to blame");
    assert!(matches!(
        **source,
        TlsError::KeyMismatch {
            role: PemRole::ServerKey
        }
    ));
    assert!(error.to_string().contains("does not match"), "{error}");
    assert_eq!(shared.generation(), 0);
    assert!(std::sync::Arc::ptr_eq(
        shared.current().config(),
        &config_before
    ));

    let key = scratch.write("key.pem", &second.key_pem);
    assert_eq!(
        shared
            .reload_from_files(&cert, &key, None, TlsMode::On)
            .expect("good"),
        1
    );
    assert!(!std::sync::Arc::ptr_eq(
        shared.current().config(),
        &config_before
    ));
}

#[test]
fn unreadable_and_empty_files_name_their_path() {
    let ca = Ca::new("Baton test CA");
    let leaf = ca.server("baton.test");
    let scratch = Scratch::new("files");
    let cert = scratch.write("cert.pem", &leaf.cert_pem);
    let key = scratch.write("key.pem", &leaf.key_pem);
    let missing = scratch.0.join("nowhere.pem");

    let error = ServerTls::from_files(&cert, &key, Some(&missing), TlsMode::Mutual).unwrap_err();
    assert!(
        matches!(&error, TlsError::FileUnreadable { role: PemRole::ClientCa, path, .. }
            if *path == missing),
        "{error:?}"
    );
    assert!(
        error
            .to_string()
            .starts_with("client CA (client_ca): cannot read "),
        "{error}"
    );

    let empty = scratch.write("empty.pem", "");
    let error = ServerTls::from_files(&cert, &key, Some(&empty), TlsMode::Mutual).unwrap_err();
    let expected = format!(
        "{}: client CA (client_ca): no \"BEGIN CERTIFICATE\" block found in the PEM",
        empty.display()
    );
    assert_eq!(error.to_string(), expected);
}

fn load_error(cert: &str, key: &str, ca: Option<&str>, mode: TlsMode) -> TlsError {
    let ca = ca.map(str::as_bytes);
    ServerTls::load(cert.as_bytes(), key.as_bytes(), ca, mode).expect_err("must be refused")
}

#[test]
fn bad_pem_inputs_give_precise_errors() {
    let ca = Ca::new("Baton test CA");
    let leaf = ca.server("baton.test");
    let other = ca.server("other");
    let (cert, key) = (leaf.cert_pem.as_str(), leaf.key_pem.as_str());
    let garbage = "-----BEGIN CERTIFICATE-----\n!!not base64!!\n-----END CERTIFICATE-----\n";
    let not_der = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";

    let error = load_error("", key, None, TlsMode::On);
    assert!(matches!(
        error,
        TlsError::NoCertificate {
            role: PemRole::ServerCertificate
        }
    ));
    let error = load_error(cert, cert, None, TlsMode::On);
    assert!(matches!(
        error,
        TlsError::NoPrivateKey {
            role: PemRole::ServerKey
        }
    ));
    assert!(error
        .to_string()
        .starts_with("server private key (key): no private key block"));
    let error = load_error(cert, &other.key_pem, None, TlsMode::On);
    assert!(matches!(
        error,
        TlsError::KeyMismatch {
            role: PemRole::ServerKey
        }
    ));
    let error = load_error(garbage, key, None, TlsMode::On);
    assert!(matches!(
        error,
        TlsError::PemSyntax {
            role: PemRole::ServerCertificate,
            ..
        }
    ));
    let error = load_error(not_der, key, None, TlsMode::On);
    assert!(
        matches!(error, TlsError::CertificateUnusable { .. }),
        "{error:?}"
    );
    let error = load_error(cert, key, Some(not_der), TlsMode::Mutual);
    assert!(matches!(
        error,
        TlsError::CaUnusable {
            role: PemRole::ClientCa,
            index: 0,
            ..
        }
    ));
    let error = load_error(cert, key, None, TlsMode::Mutual);
    assert!(matches!(error, TlsError::ClientCaMissing));
    let error = load_error(cert, key, Some(&ca.cert_pem), TlsMode::On);
    assert!(matches!(error, TlsError::ClientCaUnused));
    assert!(matches!(
        load_error(cert, key, None, TlsMode::Off),
        TlsError::ModeOff
    ));
}

#[test]
fn bad_client_inputs_give_precise_errors() {
    let ca = Ca::new("Baton test CA");
    let (leaf, other) = (ca.client("agent"), ca.client("other"));

    let error = ClientTls::load(Some(b"no pem here"), None).unwrap_err();
    assert!(matches!(
        error,
        TlsError::NoCertificate {
            role: PemRole::TrustRoots
        }
    ));
    let identity = Some((leaf.cert_pem.as_bytes(), other.key_pem.as_bytes()));
    let error = ClientTls::load(Some(ca.cert_pem.as_bytes()), identity).unwrap_err();
    assert!(matches!(
        error,
        TlsError::KeyMismatch {
            role: PemRole::ClientKey
        }
    ));
}

#[test]
fn each_shard_gets_its_own_session_cache() {
    let ca = Ca::new("Baton test CA");
    let tls = server_tls(&ca.server("baton.test"), None, TlsMode::On);
    let (one, two) = (tls.for_shard(), tls.for_shard());
    let (one, two) = (one.config(), two.config());
    assert!(!std::sync::Arc::ptr_eq(
        &one.session_storage,
        &two.session_storage
    ));
    assert!(std::sync::Arc::ptr_eq(
        &one.cert_resolver,
        &two.cert_resolver
    ));
    let client = client_tls(&ca, None);
    assert_eq!(client.for_shard().roots_len(), 1);
}

#[test]
fn tls_mode_parses_the_three_words_only() {
    assert_eq!("off".parse::<TlsMode>().ok(), Some(TlsMode::Off));
    assert_eq!("on".parse::<TlsMode>().ok(), Some(TlsMode::On));
    assert_eq!("mutual".parse::<TlsMode>().ok(), Some(TlsMode::Mutual));
    let error = "ON".parse::<TlsMode>().unwrap_err();
    assert_eq!(
        error.to_string(),
        "tls = \"ON\" is not a TLS mode; use \"off\", \"on\" or \"mutual\""
    );
}

#[test]
fn peer_name_falls_back_to_the_first_alternative_name() {
    let ca = Ca::new("Baton test CA");
    let usage = rcgen::ExtendedKeyUsagePurpose::ServerAuth;
    let dns = ca.leaf(None, &["app.example", "10.0.0.1"], usage.clone());
    assert_eq!(
        identity::peer_name(&dns.cert_der),
        Some(PeerName::Dns("app.example"))
    );
    let ip = ca.leaf(None, &["10.0.0.1"], usage.clone());
    let name = identity::peer_name(&ip.cert_der).expect("an IP name");
    assert_eq!(name.to_string(), "IP:10.0.0.1");
    assert_eq!(
        identity::peer_name(&ca.leaf(None, &[], usage).cert_der),
        None
    );
}

#[test]
fn peer_name_survives_truncated_and_corrupted_certificates() {
    let der = Ca::new("Baton test CA").client("agent").cert_der;
    assert_eq!(
        identity::peer_name(&der),
        Some(PeerName::CommonName("agent"))
    );
    for length in 0..der.len() {
        let _ = identity::peer_name(&der[..length]);
    }
    for index in 0..der.len() {
        let mut corrupted = der.clone();
        corrupted[index] ^= 0xFF;
        let _ = identity::peer_name(&corrupted);
    }
}

#[test]
fn certificate_names_lists_the_common_name_and_every_alternative_name() {
    let ca = Ca::new("Baton test CA");
    let usage = rcgen::ExtendedKeyUsagePurpose::ClientAuth;
    let leaf = ca.leaf(Some("crm"), &["crm.example", "10.0.0.1"], usage.clone());
    assert_eq!(
        identity::certificate_names(&leaf.cert_der),
        ["crm", "crm.example", "10.0.0.1"]
    );
    let unnamed = ca.leaf(None, &[], usage);
    assert!(identity::certificate_names(&unnamed.cert_der).is_empty());
}

#[test]
fn certificate_names_survives_truncated_and_corrupted_certificates() {
    let der = Ca::new("Baton test CA").client("agent").cert_der;
    assert_eq!(identity::certificate_names(&der), ["agent"]);
    for length in 0..der.len() {
        let names = identity::certificate_names(&der[..length]);
        assert!(names.len() <= identity::CERTIFICATE_NAMES_MAX);
    }
    for index in 0..der.len() {
        let mut corrupted = der.clone();
        corrupted[index] ^= 0xFF;
        let _ = identity::certificate_names(&corrupted);
    }
}
