//! Access control end to end: the real `baton serve` with `[[access]]` rules, clients with
//! bearer tokens and mutual-TLS certificates over real sockets. Each role's allowed and
//! refused operations, an agent confined to its own id and interactions, tokens revoked
//! and added by a reload, refusals audited and counted, and a canary session that keeps
//! working through all of it.

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore, StreamOwned};
use serde_json::{json, Value};

use support::pki::{Ca, Leaf};
use support::routing::Desktop;
use support::{free_port, metric, request, request_as, Server, TempDir};

/// The tokens of the test's principals (their hashes go into the configuration).
const ADMIN: &str = "admin-token-0123456789";
const INTEGRATOR: &str = "integrator-token-0123456789";
const SUPERVISOR: &str = "supervisor-token-0123456789";
const METRICS: &str = "metrics-token-0123456789";
const ALICE: &str = "alice-desktop-token";
const BOB: &str = "bob-desktop-token";
const CAROL: &str = "carol-desktop-token";

/// `baton token --hash`, done here: the hex SHA-256 of `token`.
fn hash(token: &str) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, token.as_bytes());
    digest.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

fn sample() -> String {
    format!("{}/samples/hello.scxml", env!("CARGO_MANIFEST_DIR"))
}

fn chat_strategy() -> String {
    format!(
        "{}/samples/strategies/chat.scxml",
        env!("CARGO_MANIFEST_DIR")
    )
}

/// A server whose one listener has access rules: a principal per role, and the agents'
/// desktops in a tokens file (`tokens`).
fn start(tag: &str, tokens: &TempDir) -> Server {
    let port = free_port();
    let tokens_file = tokens.write(
        "desktops",
        &format!("# agents\n{} alice\n{} bob\n", hash(ALICE), hash(BOB)),
    );
    let mut config = format!(
        "[runtime]\ncores = [0]\nio_memory_bytes = 1048576\n\n\
         [[listener]]\nname = \"api\"\naddress = \"127.0.0.1:{port}\"\naccess = \"rules\"\n\
         admin = true\n\n\
         [[entry_point]]\nname = \"support\"\napplication = \"{}\"\n\n\
         [[access]]\nname = \"desktops\"\nroles = [\"agent\"]\ntokens_file = {tokens_file:?}\n\n",
        chat_strategy()
    );
    let principals = [
        ("ops", "admin", ADMIN),
        ("crm", "integrator", INTEGRATOR),
        ("floor", "supervisor", SUPERVISOR),
        ("prometheus", "metrics", METRICS),
    ];
    for (name, role, token) in principals {
        config += &format!(
            "[[access]]\nname = \"{name}\"\nroles = [\"{role}\"]\ntoken_sha256 = \"{}\"\n\n",
            hash(token)
        );
    }
    Server::start(&format!("access-{tag}"), &config, port)
}

fn status_as(port: u16, token: &str, method: &str, path: &str, body: &str) -> u16 {
    request_as(port, token, method, path, body).0
}

#[test]
fn each_role_gets_what_it_may_and_nothing_else() {
    let tokens = TempDir::new("access-roles-tokens");
    let server = start("roles", &tokens);
    let port = server.port;

    // No credentials, or wrong ones: 401 before the path is even looked at.
    let (status, body) = request(port, "GET", "/scxml/sessions", "");
    assert_eq!(status, 401, "{body}");
    assert!(body["error"].as_str().unwrap().contains("Bearer"), "{body}");
    let (status, _) = request(port, "GET", "/no/such/path", "");
    assert_eq!(status, 401, "unknown paths are not revealed to strangers");
    let (status, body, head) = request_as(port, "wrong", "GET", "/scxml/sessions", "");
    assert_eq!(status, 401, "{body}");
    assert!(head.contains("WWW-Authenticate: Bearer"), "{head}");
    let basic = support::http::request_text_with(
        port,
        "GET",
        "/health",
        "Authorization: Basic YWxhZGRpbjpvcGVuc2VzYW1l\r\n",
        "",
    );
    assert!(basic.0.starts_with("HTTP/1.1 401"), "{}", basic.0);

    // The integrator runs sessions; the canary lives through everything below.
    let start_body = json!({ "src": sample() }).to_string();
    let (status, started, _) = request_as(
        port,
        INTEGRATOR,
        "POST",
        "/scxml/session/start",
        &start_body,
    );
    assert_eq!(status, 200, "{started}");
    let canary = started["sessionid"].as_str().unwrap().to_owned();
    let query = format!("/scxml/session/{canary}/query");
    assert_eq!(status_as(port, INTEGRATOR, "GET", &query, ""), 200);
    assert_eq!(status_as(port, INTEGRATOR, "GET", "/metrics", ""), 403);
    assert_eq!(
        status_as(port, INTEGRATOR, "POST", "/admin/reload", ""),
        403
    );

    // The supervisor reads lists and statistics, never a datamodel, never a change.
    assert_eq!(
        status_as(port, SUPERVISOR, "GET", "/scxml/sessions", ""),
        200
    );
    assert_eq!(status_as(port, SUPERVISOR, "GET", "/metrics", ""), 200);
    let (status, body, _) = request_as(port, SUPERVISOR, "GET", &query, "");
    assert_eq!(status, 403, "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("not allowed"),
        "{body}"
    );
    assert_eq!(
        status_as(
            port,
            SUPERVISOR,
            "POST",
            "/scxml/session/start",
            &start_body
        ),
        403
    );
    let terminate = format!("/scxml/session/{canary}/terminate");
    assert_eq!(status_as(port, SUPERVISOR, "POST", &terminate, ""), 403);

    // Metrics only.
    assert_eq!(status_as(port, METRICS, "GET", "/metrics", ""), 200);
    assert_eq!(status_as(port, METRICS, "GET", "/health", ""), 200);
    assert_eq!(status_as(port, METRICS, "GET", "/scxml/sessions", ""), 403);
    assert_eq!(status_as(port, METRICS, "GET", &query, ""), 403);

    // The administrator reloads; the action is audited.
    let (status, body, _) = request_as(port, ADMIN, "POST", "/admin/reload", "");
    assert_eq!(status, 200, "{body}");
    assert_eq!(status_as(port, ADMIN, "GET", &query, ""), 200);

    // Every refusal was counted and audited, and the canary still answers.
    let (head, text) = support::http::request_text_with(
        port,
        "GET",
        "/metrics",
        &format!("Authorization: Bearer {METRICS}\r\n"),
        "",
    );
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    let unauthenticated = metric(&text, "baton_access_unauthenticated_total{shard=\"0\"}");
    let forbidden = metric(&text, "baton_access_forbidden_total{shard=\"0\"}");
    assert_eq!(unauthenticated, 4.0, "{text}");
    assert_eq!(forbidden, 7.0, "{text}");
    let log = server.log();
    assert!(
        log.contains("principal \"ops\" POST /admin/reload -> 200"),
        "{log}"
    );
    assert!(
        log.contains("no principal GET /scxml/sessions -> 401 refused"),
        "{log}"
    );
    assert!(
        log.contains("principal \"floor\" GET /scxml/session/"),
        "{log}"
    );
    let event = format!("/scxml/session/{canary}/event/call.offered");
    let (status, body, _) = request_as(port, INTEGRATOR, "POST", &event, "{}");
    assert_eq!(status, 200, "{body}");
}

#[test]
fn an_agent_acts_as_itself_only() {
    let tokens = TempDir::new("access-agent-tokens");
    let server = start("agent", &tokens);
    let port = server.port;
    let profile = json!({"groups": ["Chat"], "capacity": {"chat": 1}}).to_string();
    for agent in ["alice", "bob"] {
        let path = format!("/agents/{agent}");
        assert_eq!(status_as(port, INTEGRATOR, "PUT", &path, &profile), 201);
    }
    // An agent cannot provision agents, read or drive another agent, or open its stream.
    assert_eq!(
        status_as(port, ALICE, "PUT", "/agents/carol", &profile),
        403
    );
    assert_eq!(status_as(port, ALICE, "GET", "/agents/bob", ""), 403);
    let ready = json!({"state": "ready"}).to_string();
    assert_eq!(
        status_as(port, ALICE, "POST", "/agents/bob/state", &ready),
        403
    );
    let bob_headers = format!("Authorization: Bearer {ALICE}\r\n");
    let (status, head, _) = Desktop::try_open_with(port, "bob", &bob_headers);
    assert_eq!(status, 403, "{head}");
    assert_eq!(status_as(port, ALICE, "GET", "/scxml/sessions", ""), 403);
    assert_eq!(status_as(port, ALICE, "POST", "/interactions", "{}"), 403);

    // Its own: profile, stream, state.
    assert_eq!(status_as(port, ALICE, "GET", "/agents/alice", ""), 200);
    let (status, head, mut alice) = Desktop::try_open_with(port, "alice", &bob_headers);
    assert_eq!(status, 200, "{head}");
    assert_eq!(
        status_as(port, ALICE, "POST", "/agents/alice/state", &ready),
        200
    );

    // An interaction offered to alice: bob can neither see nor answer it; alice can,
    // without naming herself (her token does).
    let chat = json!({"media": "chat", "entry_point": "support"}).to_string();
    let (status, created, _) = request_as(port, INTEGRATOR, "POST", "/interactions", &chat);
    assert_eq!(status, 201, "{created}");
    let id = created["interaction"].as_str().unwrap().to_owned();
    let offer = alice.expect("offer");
    assert_eq!(offer["interaction"]["id"], id.as_str());
    let interaction = format!("/interactions/{id}");
    assert_eq!(status_as(port, BOB, "GET", &interaction, ""), 404);
    let as_alice = json!({"agent": "alice"}).to_string();
    let accept = format!("/interactions/{id}/accept");
    assert_eq!(status_as(port, BOB, "POST", &accept, &as_alice), 404);
    let complete = format!("/interactions/{id}/complete");
    assert_eq!(status_as(port, BOB, "POST", &complete, ""), 404);
    assert_eq!(status_as(port, ALICE, "GET", &interaction, ""), 200);
    let (status, body, _) = request_as(port, ALICE, "POST", &accept, "{}");
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["state"], "accepted");
    let (status, body, _) = request_as(port, ALICE, "POST", &complete, "");
    assert_eq!(status, 200, "{body}");
    // A supervisor sees the agents, not their streams.
    assert_eq!(status_as(port, SUPERVISOR, "GET", "/agents/alice", ""), 200);
    let supervisor = format!("Authorization: Bearer {SUPERVISOR}\r\n");
    assert_eq!(Desktop::try_open_with(port, "alice", &supervisor).0, 403);
}

#[test]
fn a_reload_revokes_and_adds_tokens() {
    let tokens = TempDir::new("access-reload-tokens");
    let server = start("reload", &tokens);
    let port = server.port;
    assert_eq!(
        status_as(port, BOB, "GET", "/agents/bob", ""),
        404,
        "no profile yet"
    );
    assert_eq!(status_as(port, CAROL, "GET", "/agents/carol", ""), 401);
    // Bob leaves, Carol joins: the file is rewritten and the server reloaded.
    let text = format!("{} alice\n{} carol\n", hash(ALICE), hash(CAROL));
    tokens.write("desktops", &text);
    let (status, body, _) = request_as(port, ADMIN, "POST", "/admin/reload", "");
    assert_eq!(status, 200, "{body}");
    assert_eq!(status_as(port, BOB, "GET", "/agents/bob", ""), 401);
    assert_eq!(status_as(port, CAROL, "GET", "/agents/carol", ""), 404);
    // A tokens file that cannot be read refuses the reload; the rules in force stay.
    tokens.write("desktops", "not a token line\n");
    let (status, body, _) = request_as(port, ADMIN, "POST", "/admin/reload", "");
    assert_eq!(status, 422, "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("desktops:1:"),
        "{body}"
    );
    assert_eq!(status_as(port, CAROL, "GET", "/agents/carol", ""), 404);
}

/// A server whose one listener is mutual TLS, mapping the certificate name `crm` to an
/// integrator; also accepts the integrator's token.
struct MutualServer {
    server: Server,
    ca: Ca,
    dir: TempDir,
}

fn start_mutual() -> MutualServer {
    let ca = Ca::new("Baton access CA");
    let server_leaf = ca.server("baton server");
    let dir = TempDir::new("access-mutual-pki");
    let cert = dir.write("cert.pem", &server_leaf.cert_pem);
    let key = dir.write("key.pem", &server_leaf.key_pem);
    let client_ca = dir.write("ca.pem", &ca.cert_pem);
    let port = free_port();
    let config = format!(
        "[runtime]\ncores = [0]\nio_memory_bytes = 1048576\n\n\
         [[listener]]\nname = \"partners\"\naddress = \"127.0.0.1:{port}\"\ntls = \"mutual\"\n\
         cert = {cert:?}\nkey = {key:?}\nclient_ca = {client_ca:?}\n\n\
         [[access]]\nname = \"crm\"\nroles = [\"integrator\"]\ncertificate = \"crm.example\"\n\n\
         [[access]]\nname = \"crm-token\"\nroles = [\"supervisor\"]\ntoken_sha256 = \"{}\"\n",
        hash(SUPERVISOR)
    );
    let mut server = Server::spawn("access-mutual", &config);
    server.await_log("listening on https");
    server.port = port;
    MutualServer { server, ca, dir }
}

/// One request over a fresh mutual-TLS connection presenting `leaf`; (status, body).
fn tls_request(port: u16, ca: &Ca, leaf: &Leaf, head: &str, body: &str) -> (u16, Value) {
    let mut roots = RootCertStore::empty();
    let root = CertificateDer::from_pem_slice(ca.cert_pem.as_bytes()).expect("CA PEM");
    roots.add(root).expect("CA usable");
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let chain = vec![CertificateDer::from(leaf.cert_der.clone())];
    let key = PrivateKeyDer::from_pem_slice(leaf.key_pem.as_bytes()).expect("key PEM");
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("protocol versions")
        .with_root_certificates(roots)
        .with_client_auth_cert(chain, key)
        .expect("client identity");
    let socket = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    socket
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let name = ServerName::try_from("localhost").expect("a DNS name");
    let connection = ClientConnection::new(Arc::new(config), name).expect("client");
    let mut stream = StreamOwned::new(connection, socket);
    let request = format!(
        "{head}\r\nHost: localhost\r\nConnection: close\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).expect("write");
    let mut answer = Vec::new();
    // rustls reports the peer's close without close_notify as an error; the answer is in.
    let _ = stream.read_to_end(&mut answer);
    let answer = String::from_utf8_lossy(&answer);
    let (head, body) = answer.split_once("\r\n\r\n").expect("a whole answer");
    let status = head[9..12].parse().expect("a status");
    (status, serde_json::from_str(body).unwrap_or(Value::Null))
}

#[test]
fn client_certificate_names_map_to_principals() {
    let mutual = start_mutual();
    let (port, ca) = (mutual.server.port, &mutual.ca);
    let usage = rcgen::ExtendedKeyUsagePurpose::ClientAuth;
    // The name may be the subject CN or, as here, an alternative name.
    let crm = ca.leaf("CRM front end", &["crm.example"], usage.clone());
    let start_body = json!({ "src": sample() }).to_string();
    let (status, body) = tls_request(
        port,
        ca,
        &crm,
        "POST /scxml/session/start HTTP/1.1",
        &start_body,
    );
    assert_eq!(status, 200, "{body}");
    let id = body["sessionid"].as_str().unwrap().to_owned();
    let query = format!("GET /scxml/session/{id}/query HTTP/1.1");
    assert_eq!(tls_request(port, ca, &crm, &query, "").0, 200);
    assert_eq!(
        tls_request(port, ca, &crm, "GET /metrics HTTP/1.1", "").0,
        403
    );
    // Signed by the CA, so the handshake succeeds, but mapped to no principal: 403.
    let stranger = ca.leaf("stranger", &["stranger.example"], usage);
    let (status, body) = tls_request(port, ca, &stranger, &query, "");
    assert_eq!(status, 403, "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("stranger"),
        "{body}"
    );
    // A token sent over the same handshake decides alone: here, a supervisor.
    let as_supervisor =
        format!("GET /scxml/sessions HTTP/1.1\r\nAuthorization: Bearer {SUPERVISOR}");
    assert_eq!(tls_request(port, ca, &stranger, &as_supervisor, "").0, 200);
    let query_as_supervisor = format!("{query}\r\nAuthorization: Bearer {SUPERVISOR}");
    assert_eq!(tls_request(port, ca, &crm, &query_as_supervisor, "").0, 403);
    drop(mutual.dir);
}

#[test]
fn a_network_listener_without_rules_does_not_start() {
    let port = free_port();
    let config = format!(
        "[runtime]\ncores = [0]\nio_memory_bytes = 1048576\n\n\
         [[listener]]\nname = \"api\"\naddress = \"0.0.0.0:{port}\"\n"
    );
    let mut server = Server::spawn("access-exposed", &config);
    let status = server.await_exit();
    assert_eq!(status.code(), Some(2));
    let log = server.log();
    assert!(log.contains("listener \"api\""), "{log}");
    assert!(log.contains("access = \"open\""), "{log}");
    // Said explicitly, it runs (the test reaches it on loopback).
    let open = format!("{config}access = \"open\"\n");
    let server = Server::start("access-open", &open, port);
    assert_eq!(request(server.port, "GET", "/health", "").0, 200);
}
