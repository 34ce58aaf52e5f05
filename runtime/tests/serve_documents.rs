//! `baton serve` starting sessions from documents over HTTP(S), end to end: the real binary,
//! an application server in the test (std threads, plain or rustls with certificates made by
//! rcgen), and what that server sees: conditional requests, no requests within max-age,
//! Baton's client certificate, the local port Baton bound.

mod support;

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rcgen::ExtendedKeyUsagePurpose;
use rustls::{ServerConfig, ServerConnection, StreamOwned};
use serde_json::{json, Value};

use support::pki::{server_tls, Ca};
use support::{allow_documents, free_port, request, Server, TempDir, ALLOW_LOOPBACK};

// ---------------------------------------------------------------------------------------
// The application server.

/// A canned answer: status, headers, body.
#[derive(Clone)]
struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

fn answer(status: u16, headers: &[(&str, &str)], body: &str) -> Answer {
    Answer {
        status,
        headers: headers
            .iter()
            .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
            .collect(),
        body: body.to_owned(),
    }
}

/// One request as the application server saw it.
#[derive(Clone, Debug)]
struct Seen {
    path: String,
    /// Header names lower case.
    headers: HashMap<String, String>,
    peer: SocketAddr,
    client_certificate: bool,
}

#[derive(Default)]
struct AppState {
    answers: HashMap<String, Answer>,
    seen: Vec<Seen>,
}

/// An HTTP(S) server on a thread, answering from a table; an ETag answer is 304 to a
/// request whose If-None-Match matches it.
#[derive(Clone)]
struct AppServer {
    port: u16,
    state: Arc<Mutex<AppState>>,
}

impl AppServer {
    fn start(tls: Option<Arc<ServerConfig>>) -> AppServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind app server");
        let port = listener.local_addr().expect("address").port();
        let server = AppServer {
            port,
            state: Arc::default(),
        };
        let state = Arc::clone(&server.state);
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let (state, tls) = (Arc::clone(&state), tls.clone());
                std::thread::spawn(move || {
                    let _ = serve_connection(stream, tls, &state);
                });
            }
        });
        server
    }

    fn serve(&self, path: &str, answer: Answer) {
        let mut state = self.state.lock().expect("state");
        state.answers.insert(path.to_owned(), answer);
    }

    fn seen(&self, path: &str) -> Vec<Seen> {
        let state = self.state.lock().expect("state");
        state
            .seen
            .iter()
            .filter(|s| s.path == path)
            .cloned()
            .collect()
    }

    fn url(&self, scheme: &str, path: &str) -> String {
        format!("{scheme}://127.0.0.1:{}{path}", self.port)
    }
}

fn serve_connection(
    socket: TcpStream,
    tls: Option<Arc<ServerConfig>>,
    state: &Mutex<AppState>,
) -> io::Result<()> {
    socket.set_read_timeout(Some(Duration::from_secs(5)))?;
    let peer = socket.peer_addr()?;
    match tls {
        None => exchange(socket, peer, false, state),
        Some(config) => {
            let connection = ServerConnection::new(config).map_err(io::Error::other)?;
            let mut stream = StreamOwned::new(connection, socket);
            while stream.conn.is_handshaking() {
                stream.conn.complete_io(&mut stream.sock)?;
            }
            let client_certificate = stream.conn.peer_certificates().is_some();
            exchange(stream, peer, client_certificate, state)
        }
    }
}

fn exchange<S: Read + Write>(
    mut stream: S,
    peer: SocketAddr,
    client_certificate: bool,
    state: &Mutex<AppState>,
) -> io::Result<()> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if stream.read(&mut byte)? == 0 {
            return Ok(());
        }
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head).into_owned();
    let mut lines = head.split("\r\n");
    let path = lines
        .next()
        .and_then(|line| line.split(' ').nth(1))
        .unwrap_or("/")
        .to_owned();
    let headers: HashMap<String, String> = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let found = {
        let mut state = state.lock().expect("state");
        state.seen.push(Seen {
            path: path.clone(),
            headers: headers.clone(),
            peer,
            client_certificate,
        });
        state.answers.get(&path).cloned()
    };
    let mut answer = found.unwrap_or_else(|| answer(404, &[], "not here"));
    let etag = answer
        .headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("etag"));
    if etag.is_some_and(|(_, tag)| headers.get("if-none-match") == Some(tag)) {
        answer.status = 304;
        answer.body.clear();
    }
    let mut out = format!("HTTP/1.1 {} X\r\n", answer.status);
    for (name, value) in &answer.headers {
        out.push_str(&format!("{name}: {value}\r\n"));
    }
    out.push_str(&format!(
        "Content-Length: {}\r\nConnection: close\r\n\r\n{}",
        answer.body.len(),
        answer.body
    ));
    stream.write_all(out.as_bytes())?;
    stream.flush()
}

// ---------------------------------------------------------------------------------------
// Baton.

/// Starts `baton serve` with `outbound` appended to a one-shard config, documents
/// allowed from the temp dir and from the application servers on loopback `ports`, and
/// outbound connections allowed to loopback.
fn start_baton(name: &str, outbound: &str, ports: &[u16]) -> Server {
    let port = free_port();
    let text = format!(
        "[runtime]\ncores = [0]\nio_memory_bytes = 1048576\n\n\
         [[listener]]\nname = \"api\"\naddress = \"127.0.0.1:{port}\"\n\n{outbound}\n{}\
         {ALLOW_LOOPBACK}",
        allow_documents(ports)
    );
    Server::start(&format!("docs-{name}"), &text, port)
}

/// One request to Baton's API on a fresh connection; (status, JSON body).
fn call(port: u16, method: &str, path: &str, body: &Value) -> (u16, Value) {
    let body = match body {
        Value::Null => String::new(),
        body => body.to_string(),
    };
    request(port, method, path, &body)
}

fn start(port: u16, params: Value) -> (u16, Value) {
    call(port, "POST", "/scxml/session/start", &params)
}

/// Starts a session and answers its query (configuration, datamodel, document).
fn start_and_query(port: u16, params: Value) -> Value {
    let (status, body) = start(port, params);
    assert_eq!(status, 200, "{body}");
    let id = body["sessionid"].as_str().expect("a session id");
    let (status, query) = call(
        port,
        "GET",
        &format!("/scxml/session/{id}/query"),
        &Value::Null,
    );
    assert_eq!(status, 200, "{query}");
    query
}

fn error_of(body: &Value) -> &str {
    body["error"].as_str().unwrap_or_default()
}

const XML: &str = "application/scxml+xml";

/// A strategy whose datamodel shows what it was started with.
const STRATEGY: &str = r#"<scxml xmlns="http://www.w3.org/2005/07/scxml" version="1.0"
    datamodel="ecmascript" initial="waiting">
  <datamodel>
    <data id="customer" expr="'unknown'"/>
    <data id="src" expr="'unset'"/>
    <data id="alternate_url" expr="'unset'"/>
  </datamodel>
  <state id="waiting"/>
</scxml>"#;

const ALTERNATE: &str = r#"<scxml xmlns="http://www.w3.org/2005/07/scxml" version="1.0"
    initial="fallback"><state id="fallback"/></scxml>"#;

// ---------------------------------------------------------------------------------------
// Tests.

#[test]
fn documents_over_http_cached_by_etag_and_max_age() {
    let app = AppServer::start(None);
    let revalidated = answer(
        200,
        &[
            ("Content-Type", XML),
            ("ETag", "\"v1\""),
            ("Cache-Control", "no-cache"),
        ],
        STRATEGY,
    );
    app.serve("/etag.scxml", revalidated);
    let fresh = answer(
        200,
        &[("Content-Type", XML), ("Cache-Control", "max-age=600")],
        STRATEGY,
    );
    app.serve("/fresh.scxml", fresh);
    let baton = start_baton("baton", "", &[app.port]);

    let url = app.url("http", "/etag.scxml");
    let params = json!({"src": url, "customer": "c-1", "alternate_url": "/nowhere.scxml"});
    let query = start_and_query(baton.port, params);
    assert_eq!(query["configuration"], json!(["waiting"]));
    assert_eq!(query["document"], json!(url));
    assert_eq!(query["datamodel"]["customer"], "c-1");
    assert_eq!(query["datamodel"]["src"], "unset", "src is not <data>");
    assert_eq!(
        query["datamodel"]["alternate_url"], "unset",
        "nor is alternate_url"
    );

    // no-cache: the second start revalidates, the server answers 304, the session starts.
    let query = start_and_query(baton.port, json!({"src": url}));
    assert_eq!(query["configuration"], json!(["waiting"]));
    let seen = app.seen("/etag.scxml");
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert_eq!(seen[0].headers.get("if-none-match"), None);
    assert_eq!(
        seen[1].headers.get("if-none-match").map(String::as_str),
        Some("\"v1\"")
    );
    assert!(seen[0].headers["accept"].starts_with("application/scxml+xml"));

    // max-age: no request at all while fresh.
    let url = app.url("http", "/fresh.scxml");
    for _ in 0..3 {
        start_and_query(baton.port, json!({"src": url}));
    }
    assert_eq!(app.seen("/fresh.scxml").len(), 1);
}

#[test]
fn alternate_url_when_the_primary_is_missing_or_invalid() {
    let app = AppServer::start(None);
    app.serve(
        "/alternate.scxml",
        answer(200, &[("Content-Type", XML)], ALTERNATE),
    );
    app.serve("/broken.scxml", answer(200, &[("Content-Type", XML)], "<scxml xmlns=\"http://www.w3.org/2005/07/scxml\">\n  <state id=\"a\">\n    <transition target=\"nowhere\"/>\n  </state>\n</scxml>"));
    let dir = TempDir::new("alternate");
    let file = dir.write("local.scxml", ALTERNATE);
    let down_port = free_port();
    let baton = start_baton("baton", "", &[app.port, down_port]);
    let alternate = app.url("http", "/alternate.scxml");

    let missing = json!({"src": app.url("http", "/missing.scxml"), "alternate_url": alternate});
    let query = start_and_query(baton.port, missing);
    assert_eq!(query["configuration"], json!(["fallback"]));
    assert_eq!(query["document"], json!(alternate));

    let broken = app.url("http", "/broken.scxml");
    let query = start_and_query(
        baton.port,
        json!({"src": broken, "alternate_url": alternate}),
    );
    assert_eq!(query["configuration"], json!(["fallback"]));

    // A file path serves as alternate too.
    let query = start_and_query(baton.port, json!({"src": broken, "alternate_url": file}));
    assert_eq!(query["configuration"], json!(["fallback"]));

    // Invalid without an alternate: 400 naming URL:LINE:COL.
    let (status, body) = start(baton.port, json!({"src": broken}));
    assert_eq!(status, 400, "{body}");
    assert!(
        error_of(&body).starts_with(&format!("{broken}:3:")),
        "{body}"
    );
    assert!(error_of(&body).contains("nowhere"), "{body}");

    // Both fail: the answer names both; a 404 is the caller's fault (400).
    let both = json!({"src": broken, "alternate_url": app.url("http", "/gone.scxml")});
    let (status, body) = start(baton.port, both);
    assert_eq!(status, 400, "{body}");
    assert!(
        error_of(&body).contains("alternate_url: cannot fetch"),
        "{body}"
    );
    assert!(error_of(&body).contains("answered 404"), "{body}");

    // An application server that is down is the upstream's fault: 502.
    let down = format!("http://127.0.0.1:{down_port}/x.scxml");
    let (status, body) = start(baton.port, json!({"src": down}));
    assert_eq!(status, 502, "{body}");
    assert!(error_of(&body).contains(&down), "{body}");
}

#[test]
fn media_types_json_documents_and_sources() {
    let app = AppServer::start(None);
    app.serve(
        "/page.scxml",
        answer(200, &[("Content-Type", "text/html")], "<html/>"),
    );
    app.serve(
        "/naive.scxml",
        answer(200, &[("Content-Type", "text/plain")], ALTERNATE),
    );
    let wrapped = json!({"name": "fallback", "scxml": ALTERNATE}).to_string();
    app.serve(
        "/app",
        answer(200, &[("Content-Type", "application/json")], &wrapped),
    );
    app.serve(
        "/bad-json",
        answer(200, &[("Content-Type", "application/json")], "[1]"),
    );
    let with_sources = r#"<scxml xmlns="http://www.w3.org/2005/07/scxml" initial="s"
        datamodel="ecmascript">
      <datamodel><data id="queues" src="data/queues.json"/><data id="picked"/></datamodel>
      <script src="/lib/routing.js"/>
      <state id="s"><onentry><assign location="picked" expr="pick(queues)"/></onentry></state>
    </scxml>"#;
    app.serve(
        "/apps/main.scxml",
        answer(200, &[("Content-Type", XML)], with_sources),
    );
    app.serve(
        "/apps/data/queues.json",
        answer(200, &[], r#"["gold", "silver"]"#),
    );
    let script = "function pick(q) { return q[0]; }";
    app.serve(
        "/lib/routing.js",
        answer(200, &[("Content-Type", "text/javascript")], script),
    );
    let invoking = r#"<scxml xmlns="http://www.w3.org/2005/07/scxml" initial="s">
      <state id="s">
        <invoke src="child.scxml"/>
      </state>
    </scxml>"#;
    app.serve(
        "/invoking.scxml",
        answer(200, &[("Content-Type", XML)], invoking),
    );
    serve_composer_project(&app);
    let https = AppServer::start(Some(server_tls(&Ca::new("Some CA"), None)));
    let baton = start_baton("baton", "", &[app.port, https.port]);

    let page = app.url("http", "/page.scxml");
    let (status, body) = start(baton.port, json!({"src": page}));
    assert_eq!(status, 400, "{body}");
    assert!(error_of(&body).contains("Content-Type text/html"), "{body}");

    let query = start_and_query(baton.port, json!({"src": app.url("http", "/naive.scxml")}));
    assert_eq!(query["configuration"], json!(["fallback"]));
    let query = start_and_query(baton.port, json!({"src": app.url("http", "/app")}));
    assert_eq!(query["configuration"], json!(["fallback"]));
    let (status, body) = start(baton.port, json!({"src": app.url("http", "/bad-json")}));
    assert_eq!(status, 400, "{body}");
    assert!(error_of(&body).contains("{\"scxml\""), "{body}");

    // <data src> and <script src> resolve against the document's URL and are fetched.
    let query = start_and_query(
        baton.port,
        json!({"src": app.url("http", "/apps/main.scxml")}),
    );
    assert_eq!(
        query["datamodel"]["queues"],
        json!(["gold", "silver"]),
        "{query}"
    );
    assert_eq!(query["datamodel"]["picked"], "gold", "{query}");

    // A Composer project deployed on an application server: the entry document includes
    // the project's JavaScript and a workflow, which includes a subroutine; each round of
    // fetching finds the next file's includes.
    let query = start_and_query(
        baton.port,
        json!({"src": app.url("http", "/proj/src-gen/IPD.scxml")}),
    );
    assert_eq!(query["configuration"], json!(["waiting"]), "{query}");
    assert_eq!(
        query["datamodel"]["result"], "hello MainWorkflow+Sub1",
        "{query}"
    );

    // <invoke src> is refused at load, with its position.
    let invoking = app.url("http", "/invoking.scxml");
    let (status, body) = start(baton.port, json!({"src": invoking}));
    assert_eq!(status, 400, "{body}");
    assert!(
        error_of(&body).starts_with(&format!("{invoking}:3:")),
        "{body}"
    );

    // Without [outbound] roots, https is refused with the reason.
    let (status, body) = start(baton.port, json!({"src": https.url("https", "/x.scxml")}));
    assert_eq!(status, 502, "{body}");
    assert!(error_of(&body).contains("no trust roots"), "{body}");
}

#[test]
fn https_verified_against_roots_and_mutual_tls_with_batons_certificate() {
    let ca = Ca::new("Test app server CA");
    let client_ca = Ca::new("Test Baton client CA");
    let tls = AppServer::start(Some(server_tls(&ca, None)));
    let mutual = AppServer::start(Some(server_tls(&ca, Some(&client_ca))));
    for app in [&tls, &mutual] {
        app.serve(
            "/app.scxml",
            answer(200, &[("Content-Type", XML)], ALTERNATE),
        );
    }
    let dir = TempDir::new("tls");
    let roots = dir.write("roots.pem", &ca.cert_pem);
    let identity = client_ca.leaf("baton", &[], ExtendedKeyUsagePurpose::ClientAuth);
    let cert = dir.write("baton.pem", &identity.cert_pem);
    let key = dir.write("baton.key", &identity.key_pem);
    let stranger = AppServer::start(Some(server_tls(&Ca::new("Unknown CA"), None)));
    let ports = [tls.port, mutual.port, stranger.port];
    let with_roots = format!("[outbound]\nroots = {roots:?}\n");
    let anonymous = start_baton("anonymous", &with_roots, &ports);
    let with_cert = format!("[outbound]\nroots = {roots:?}\ncert = {cert:?}\nkey = {key:?}\n");
    let identified = start_baton("identified", &with_cert, &ports);

    let query = start_and_query(
        anonymous.port,
        json!({"src": tls.url("https", "/app.scxml")}),
    );
    assert_eq!(query["configuration"], json!(["fallback"]));
    // By name: resolved off the shard, verified against the certificate's DNS name.
    let by_name = format!("https://localhost:{}/app.scxml", tls.port);
    let query = start_and_query(anonymous.port, json!({"src": by_name}));
    assert_eq!(query["configuration"], json!(["fallback"]));

    // The mutual server refuses Baton without a client certificate...
    let (status, body) = start(
        anonymous.port,
        json!({"src": mutual.url("https", "/app.scxml")}),
    );
    assert_eq!(status, 502, "{body}");
    assert!(error_of(&body).contains("CertificateRequired"), "{body}");
    // ...and serves it with one.
    let query = start_and_query(
        identified.port,
        json!({"src": mutual.url("https", "/app.scxml")}),
    );
    assert_eq!(query["configuration"], json!(["fallback"]));
    let seen = mutual.seen("/app.scxml");
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert!(seen[0].client_certificate);

    // A server whose CA is not in the roots is not trusted.
    stranger.serve(
        "/app.scxml",
        answer(200, &[("Content-Type", XML)], ALTERNATE),
    );
    let (status, body) = start(
        anonymous.port,
        json!({"src": stranger.url("https", "/app.scxml")}),
    );
    assert_eq!(status, 502, "{body}");
    assert!(error_of(&body).contains("TLS"), "{body}");
    assert!(stranger.seen("/app.scxml").is_empty());
}

#[test]
fn outbound_bind_is_seen_by_the_server() {
    let app = AppServer::start(None);
    app.serve(
        "/app.scxml",
        answer(200, &[("Content-Type", XML)], ALTERNATE),
    );
    let other = AppServer::start(None);
    other.serve(
        "/app.scxml",
        answer(200, &[("Content-Type", XML)], ALTERNATE),
    );
    let first = free_port();
    let last = first + 3;
    let rule = format!(
        "[[outbound.bind]]\nhost = \"127.0.0.0/8\"\nport = {}\nlocal_address = \"127.0.0.1\"\n\
         local_port = \"{first}-{last}\"\n",
        app.port
    );
    let baton = start_baton("baton", &rule, &[app.port, other.port]);
    start_and_query(baton.port, json!({"src": app.url("http", "/app.scxml")}));
    start_and_query(baton.port, json!({"src": other.url("http", "/app.scxml")}));

    let seen = app.seen("/app.scxml");
    assert_eq!(seen.len(), 1);
    let port = seen[0].peer.port();
    assert!(
        (first..=last).contains(&port),
        "local port {port} not in {first}-{last}"
    );
    // A destination no rule matches gets whatever port the kernel picks.
    let seen = other.seen("/app.scxml");
    assert!(!(first..=last).contains(&seen[0].peer.port()));
}

#[test]
fn bad_outbound_configuration_exits_2_naming_the_key_or_file() {
    let dir = TempDir::new("config");
    let missing = dir.join("missing.pem");
    for (outbound, expected) in [
        (
            "[outbound]\ncert = \"a.pem\"\n".to_owned(),
            "outbound.cert is set without outbound.key".to_owned(),
        ),
        (
            format!("[outbound]\nroots = {missing:?}\n"),
            missing.display().to_string(),
        ),
        (
            "[[outbound.bind]]\nlocal_address = \"127.0.0.1\"\nlocal_port = \"9-1\"\n".to_owned(),
            "outbound.bind[0]: local_port range".to_owned(),
        ),
    ] {
        let mut baton = Server::spawn("docs-bad", &outbound);
        let status = baton.await_exit();
        let message = baton.log();
        assert_eq!(status.code(), Some(2), "{message}");
        assert!(message.contains(&expected), "{expected:?} not in {message}");
    }
}

/// Serves a Composer-shaped project under `/proj`: `src-gen/IPD.scxml` (the entry), its
/// workflow `src-gen/Main.scxml`, the subroutine `subs/Sub.scxml` the workflow includes,
/// and `include/common.js`.
fn serve_composer_project(app: &AppServer) {
    let ipd = r#"<scxml xmlns="http://www.w3.org/2005/07/scxml" version="1.0"
        profile="ecmascript" xmlns:xi="http://www.w3.org/2001/XInclude" initial="ipd">
      <datamodel><data id="result" expr="''"/></datamodel>
      <script><xi:include href="../include/common.js" parse="text"/></script>
      <state id="ipd" initial="MainWorkflow._composer_entry">
        <xi:include href="Main.scxml" parse="xml" xpointer="_composer_entry"
          resolveid="MainWorkflow"/>
        <transition event="done.state.MainWorkflow._composer_entry" target="waiting"/>
      </state>
      <state id="waiting"/>
    </scxml>"#;
    let workflow = r#"<scxml xmlns="http://www.w3.org/2005/07/scxml" version="1.0"
        profile="ecmascript" xmlns:xi="http://www.w3.org/2001/XInclude"
        xmlns:queue="http://www.genesyslab.com/modules/queue" initial="_composer_noboot">
      <final id="_composer_noboot"/>
      <state id="_composer_entry" initial="$$_MY_PREFIX_$$.Entry1">
        <state id="Entry1">
          <onentry><assign location="result" expr="greet(_my_prefix)"/></onentry>
          <transition target="$$_MY_PREFIX_$$.Sub"/>
        </state>
        <state id="Sub" initial="Sub1._composer_entry">
          <xi:include href="../subs/Sub.scxml" xpointer="_composer_entry" resolveid="Sub1"/>
          <transition event="done.state.Sub1._composer_entry" target="$$_MY_PREFIX_$$.Exit"/>
        </state>
        <final id="Exit"/>
      </state>
    </scxml>"#;
    let subroutine = r#"<scxml xmlns="http://www.w3.org/2005/07/scxml" version="1.0"
        profile="ecmascript" initial="_composer_noboot">
      <final id="_composer_noboot"/>
      <state id="_composer_entry" initial="$$_MY_PREFIX_$$.Work">
        <state id="Work">
          <onentry><assign location="result" expr="result + '+' + _my_prefix"/></onentry>
          <transition target="$$_MY_PREFIX_$$.Done"/>
        </state>
        <final id="Done"/>
      </state>
    </scxml>"#;
    let common = "function greet(p) { return p.length > 0 && p < 'z' ? 'hello ' + p : ''; }";
    app.serve(
        "/proj/src-gen/IPD.scxml",
        answer(200, &[("Content-Type", XML)], ipd),
    );
    app.serve(
        "/proj/src-gen/Main.scxml",
        answer(200, &[("Content-Type", XML)], workflow),
    );
    app.serve(
        "/proj/subs/Sub.scxml",
        answer(200, &[("Content-Type", XML)], subroutine),
    );
    let js = [("Content-Type", "text/javascript")];
    app.serve("/proj/include/common.js", answer(200, &js, common));
}
