//! `baton serve` with TLS and mutual-TLS listeners, end to end: the real binary, certificates
//! made in the test with rcgen, and a blocking rustls client over std sockets. Covers the
//! handshake accepted and refused, certificate swap on SIGHUP and on `POST /admin/reload`
//! (new connections only), TLS turned on for a listener by a reload, and a broken
//! certificate at startup.

mod support;

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore, StreamOwned};

use support::pki::{Ca, Leaf};
use support::{free_port, TempDir};

/// The PKI of one test, written to a temp dir: `ca.pem` signs the server and client
/// certificates; the server's `cert.pem`/`key.pem` are what the listeners load.
struct Pki {
    ca: Ca,
    server: Leaf,
    dir: TempDir,
}

impl Pki {
    fn new(tag: &str) -> Pki {
        let ca = Ca::new("Baton test CA");
        let server = ca.server("baton server");
        let pki = Pki {
            ca,
            server,
            dir: TempDir::new(&format!("tls-{tag}")),
        };
        pki.write("ca.pem", &pki.ca.cert_pem);
        pki.install(&pki.server);
        pki
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    fn write(&self, name: &str, text: &str) {
        std::fs::write(self.path(name), text).expect("write PEM");
    }

    /// Makes `leaf` the server certificate the files hold.
    fn install(&self, leaf: &Leaf) {
        self.write("key.pem", &leaf.key_pem);
        self.write("cert.pem", &leaf.cert_pem);
    }

    /// A config with a `tls = "on"` listener and a `tls = "mutual"` one.
    fn config(&self, on_port: u16, mutual_port: u16) -> String {
        let (cert, key, ca) = (
            self.path("cert.pem"),
            self.path("key.pem"),
            self.path("ca.pem"),
        );
        format!(
            "[runtime]\ncores = [0]\nio_memory_bytes = 1048576\n\n\
             [[listener]]\nname = \"secure\"\naddress = \"127.0.0.1:{on_port}\"\n\
             tls = \"on\"\ncert = {cert:?}\nkey = {key:?}\n\n\
             [[listener]]\nname = \"partners\"\naddress = \"127.0.0.1:{mutual_port}\"\n\
             tls = \"mutual\"\ncert = {cert:?}\nkey = {key:?}\nclient_ca = {ca:?}\n"
        )
    }
}

/// The shared server, with the ports of its two listeners.
struct Server {
    server: support::Server,
    on_port: u16,
    mutual_port: u16,
}

impl std::ops::Deref for Server {
    type Target = support::Server;

    fn deref(&self) -> &support::Server {
        &self.server
    }
}

fn start_server(pki: &Pki) -> Server {
    let (on_port, mutual_port) = (free_port(), free_port());
    let config = pki.config(on_port, mutual_port);
    let server = Server {
        server: support::Server::spawn("tls", &config),
        on_port,
        mutual_port,
    };
    server.await_log("listening on https");
    server
}

fn client_config(pki: &Pki, identity: Option<&Leaf>) -> Arc<ClientConfig> {
    let mut roots = RootCertStore::empty();
    let ca = CertificateDer::from_pem_slice(pki.ca.cert_pem.as_bytes()).expect("CA PEM");
    roots.add(ca).expect("CA usable");
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("protocol versions")
        .with_root_certificates(roots);
    let config = match identity {
        None => builder.with_no_client_auth(),
        Some(leaf) => {
            let chain = vec![CertificateDer::from(leaf.cert_der.clone())];
            let key = PrivateKeyDer::from_pem_slice(leaf.key_pem.as_bytes()).expect("key PEM");
            builder
                .with_client_auth_cert(chain, key)
                .expect("client identity")
        }
    };
    Arc::new(config)
}

/// A blocking TLS connection to the server.
struct Client {
    stream: StreamOwned<ClientConnection, TcpStream>,
}

impl Client {
    fn connect(port: u16, config: &Arc<ClientConfig>) -> io::Result<Client> {
        let socket = TcpStream::connect(("127.0.0.1", port))?;
        socket.set_read_timeout(Some(Duration::from_secs(3)))?;
        let name = ServerName::try_from("localhost").expect("a DNS name");
        let connection =
            ClientConnection::new(Arc::clone(config), name).map_err(io::Error::other)?;
        let mut stream = StreamOwned::new(connection, socket);
        while stream.conn.is_handshaking() {
            stream.conn.complete_io(&mut stream.sock)?;
        }
        Ok(Client { stream })
    }

    /// The certificate the server presented, DER.
    fn server_certificate(&self) -> Vec<u8> {
        let chain = self
            .stream
            .conn
            .peer_certificates()
            .expect("handshake done");
        chain[0].to_vec()
    }

    /// `GET path` on this (kept-alive) connection; returns the status and body. A refused
    /// handshake shows here under TLS 1.3, where the server checks the client's certificate
    /// after the client considers the handshake done.
    fn get(&mut self, path: &str) -> io::Result<(u16, String)> {
        self.exchange(&format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n"))
    }

    /// `POST path` without a body on this connection.
    fn post(&mut self, path: &str) -> io::Result<(u16, String)> {
        let head = format!("POST {path} HTTP/1.1\r\nHost: localhost\r\nContent-Length: 0\r\n\r\n");
        self.exchange(&head)
    }

    fn exchange(&mut self, head: &str) -> io::Result<(u16, String)> {
        self.stream.write_all(head.as_bytes())?;
        self.stream.flush()?;
        let mut received = Vec::new();
        let mut chunk = [0u8; 4096];
        loop {
            if let Some(answer) = complete_response(&received) {
                return Ok(answer);
            }
            match self.stream.read(&mut chunk)? {
                0 => return Err(io::ErrorKind::UnexpectedEof.into()),
                n => received.extend_from_slice(&chunk[..n]),
            }
        }
    }
}

/// The status and body once a whole response (with Content-Length) has arrived.
fn complete_response(received: &[u8]) -> Option<(u16, String)> {
    let text = std::str::from_utf8(received).ok()?;
    let (head, body) = text.split_once("\r\n\r\n")?;
    let length: usize = head
        .lines()
        .find_map(|line| {
            let (name, value) = line.split_once(':')?;
            let is_length = name.eq_ignore_ascii_case("content-length");
            is_length.then(|| value.trim().parse().ok())?
        })
        .unwrap_or(0);
    if body.len() < length {
        return None;
    }
    let status = head.get(9..12)?.parse().ok()?;
    Some((status, body[..length].to_owned()))
}

/// Connects and asks for /health; the error when TLS refuses.
fn health(port: u16, config: &Arc<ClientConfig>) -> io::Result<(u16, String)> {
    Client::connect(port, config)?.get("/health")
}

#[test]
fn tls_and_mutual_tls_listeners() {
    let pki = Pki::new("listeners");
    let server = start_server(&pki);
    let anonymous = client_config(&pki, None);
    let (status, body) = health(server.on_port, &anonymous).expect("GET /health over TLS");
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("ok"), "{body}");

    let client = pki.ca.client("partner-1");
    let (status, _) = health(server.mutual_port, &client_config(&pki, Some(&client)))
        .expect("a client signed by client_ca is accepted");
    assert_eq!(status, 200);

    let refused = health(server.mutual_port, &anonymous);
    assert!(refused.is_err(), "no client certificate: {refused:?}");
    server.await_log("presented no certificate");

    let stranger = Ca::new("Another CA").client("stranger");
    let refused = health(server.mutual_port, &client_config(&pki, Some(&stranger)));
    assert!(refused.is_err(), "client from another CA: {refused:?}");
    server.await_log("not signed by a trusted CA");

    // Refused handshakes cost the listener nothing: it still serves.
    let (status, _) = health(server.mutual_port, &client_config(&pki, Some(&client)))
        .expect("still serving after refusals");
    assert_eq!(status, 200);
}

#[test]
fn sighup_swaps_the_certificate_for_new_connections() {
    let pki = Pki::new("reload");
    let server = start_server(&pki);
    let config = client_config(&pki, None);
    let mut before = Client::connect(server.on_port, &config).expect("connect");
    assert_eq!(before.get("/health").expect("first request").0, 200);
    assert_eq!(before.server_certificate(), pki.server.cert_der);

    let renewed = pki.ca.server("baton server, renewed");
    pki.install(&renewed);
    server.signal("-HUP");
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        let fresh = Client::connect(server.on_port, &config).expect("connect after reload");
        if fresh.server_certificate() == renewed.cert_der {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no new certificate:\n{}",
            server.log()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    let mut fresh = Client::connect(
        server.mutual_port,
        &client_config(&pki, Some(&pki.ca.client("c"))),
    )
    .expect("mutual listener after reload");
    assert_eq!(fresh.server_certificate(), renewed.cert_der);
    assert_eq!(fresh.get("/health").expect("mutual request").0, 200);

    // The connection opened before the swap keeps its session and still answers.
    assert_eq!(
        before.get("/health").expect("second request, kept alive").0,
        200
    );
    assert_eq!(before.server_certificate(), pki.server.cert_der);

    // A broken file on reload is refused; the renewed certificate stays.
    pki.write("cert.pem", "not a certificate\n");
    server.signal("-HUP");
    server.await_log("reload refused");
    let after = Client::connect(server.on_port, &config).expect("connect after bad reload");
    assert_eq!(after.server_certificate(), renewed.cert_der);
}

#[test]
fn admin_reload_over_mutual_tls_turns_tls_on_and_swaps_certificates() {
    let pki = Pki::new("admin");
    let (api, partners) = (free_port(), free_port());
    let (cert, key, ca) = (
        pki.path("cert.pem"),
        pki.path("key.pem"),
        pki.path("ca.pem"),
    );
    let admin = format!(
        "[runtime]\ncores = [0]\nio_memory_bytes = 1048576\n\n\
         [[listener]]\nname = \"partners\"\naddress = \"127.0.0.1:{partners}\"\n\
         tls = \"mutual\"\ncert = {cert:?}\nkey = {key:?}\nclient_ca = {ca:?}\nadmin = true\n\n"
    );
    let plain = format!("[[listener]]\nname = \"api\"\naddress = \"127.0.0.1:{api}\"\n");
    let server = support::Server::spawn("tls-admin", &format!("{admin}{plain}"));
    let config = server.config_path();
    server.await_log("listening on https");
    let operator = client_config(&pki, Some(&pki.ca.client("operator")));
    let mut console = Client::connect(partners, &operator).expect("admin over mutual TLS");
    let anonymous = client_config(&pki, None);
    assert!(
        health(api, &anonymous).is_err(),
        "api is plain before the reload"
    );

    let secure = format!("{plain}tls = \"on\"\ncert = {cert:?}\nkey = {key:?}\n");
    std::fs::write(&config, format!("{admin}{secure}")).expect("rewrite config");
    let (status, body) = console.post("/admin/reload").expect("reload");
    assert_eq!(status, 200, "{body}");
    assert!(
        body.contains(
            r#""listeners_changed":[{"address":false,"name":"api","protocol":false,"tls":true}]"#
        ),
        "{body}"
    );
    let mut fresh = Client::connect(api, &anonymous).expect("api speaks TLS now");
    assert_eq!(fresh.get("/health").expect("over TLS").0, 200);
    assert_eq!(fresh.server_certificate(), pki.server.cert_der);

    // A renewed certificate, installed in place: every TLS listener re-reads its files.
    let renewed = pki.ca.server("baton server, renewed");
    pki.install(&renewed);
    let (status, body) = console
        .post("/admin/reload")
        .expect("reload on a kept connection");
    assert_eq!(status, 200, "{body}");
    assert!(
        body.contains(r#""certificates_reloaded":["partners","api"]"#),
        "{body}"
    );
    let fresh = Client::connect(api, &anonymous).expect("connect after the swap");
    assert_eq!(fresh.server_certificate(), renewed.cert_der);

    // A broken certificate refuses the whole reload, naming listener and file.
    pki.write("cert.pem", "not a certificate\n");
    let (status, body) = console.post("/admin/reload").expect("refused reload");
    assert_eq!(status, 422, "{body}");
    assert!(body.contains(&cert.display().to_string()), "{body}");
    let after = Client::connect(api, &anonymous).expect("connect after the refusal");
    assert_eq!(after.server_certificate(), renewed.cert_der);
}

#[test]
fn broken_certificate_at_startup_exits_2_naming_the_file() {
    let pki = Pki::new("broken");
    pki.write("cert.pem", "-----BEGIN CERTIFICATE-----\nnot base64!\n");
    let mut server = support::Server::spawn("tls-broken", &pki.config(free_port(), free_port()));
    let status = server.await_exit();
    let message = server.log();
    assert_eq!(status.code(), Some(2), "{message}");
    let cert = pki.path("cert.pem");
    assert!(
        message.contains("\"secure\""),
        "names the listener: {message}"
    );
    assert!(
        message.contains(&cert.display().to_string()),
        "names the file: {message}"
    );
}
