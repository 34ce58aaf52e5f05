//! The W3C Basic HTTP Event I/O Processor in `baton serve`, end to end: the real binary,
//! peer HTTP(S) servers in the test (std threads; TLS with certificates made by rcgen), and
//! keep-alive std connections to Baton. Covers sends seen by the peer as forms, events
//! posted to a session's `_ioprocessors` location, `error.communication` for failed sends
//! (unreachable, non-2xx, bad target, delayed, past the in-flight bound), a session sending
//! to its own location, a POST forwarded to the session's home shard, https verified
//! against `[outbound] roots`, and the location's configuration.

mod support;

use std::collections::HashMap;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rustls::{ServerConfig, ServerConnection, StreamOwned};
use serde_json::{json, Value};

use support::pki::{server_tls, Ca};
use support::{allow_documents, free_port, Connection, Server, ALLOW_LOOPBACK};

use runtime::shard::SessionId;

const BASICHTTP: &str = "http://www.w3.org/TR/scxml/#BasicHTTPEventProcessor";

/// A session that sends `event` with two parameters to `url` on entry (after `delay`; a
/// second time when `twice`), to its own location when `url` is `"self"`, and records in
/// its datamodel every `error.communication` (`errors`) and every other event (`events`).
const SESSION: &str = r#"<scxml xmlns="http://www.w3.org/2005/07/scxml" version="1.0"
    datamodel="ecmascript" initial="running">
  <datamodel>
    <data id="url" expr="''"/>
    <data id="delay" expr="'0s'"/>
    <data id="twice" expr="''"/>
    <data id="location" expr="_ioprocessors['basichttp'] ? _ioprocessors['basichttp'].location : ''"/>
    <data id="full" expr="_ioprocessors['http://www.w3.org/TR/scxml/#BasicHTTPEventProcessor'] ? 'yes' : 'no'"/>
    <data id="errors" expr="[]"/>
    <data id="events" expr="[]"/>
  </datamodel>
  <state id="running">
    <onentry>
      <if cond="url == 'self'">
        <assign location="url" expr="location"/>
      </if>
      <if cond="url != ''">
        <send id="first" type="http://www.w3.org/TR/scxml/#BasicHTTPEventProcessor"
              targetexpr="url" delayexpr="delay" event="hello.world">
          <param name="caller" expr="'+1 555 1234'"/>
          <param name="n" expr="2"/>
        </send>
      </if>
      <if cond="twice != ''">
        <send id="second" type="basichttp" targetexpr="url" event="hello.again"/>
      </if>
    </onentry>
    <transition event="error.communication">
      <script>errors.push({sendid: _event.sendid, message: _event.data.message})</script>
    </transition>
    <transition event="*">
      <script>events.push({name: _event.name, data: _event.data === undefined ? null :
        _event.data, raw: _event.raw, origintype: _event.origintype})</script>
    </transition>
  </state>
</scxml>
"#;

// ---------------------------------------------------------------------------------------
// Certificates.

// ---------------------------------------------------------------------------------------
// The peer: an HTTP(S) server that records what it is sent.

/// One request as the peer saw it.
#[derive(Clone, Debug)]
struct Seen {
    method: String,
    path: String,
    /// Header names lower case.
    headers: HashMap<String, String>,
    body: String,
}

#[derive(Clone)]
struct Peer {
    port: u16,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl Peer {
    /// Answers `/slow` after 2 s, `/missing` with 404, anything else with 200.
    fn start(tls: Option<Arc<ServerConfig>>) -> Peer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the peer");
        let port = listener.local_addr().expect("address").port();
        let peer = Peer {
            port,
            seen: Arc::default(),
        };
        let seen = Arc::clone(&peer.seen);
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let (seen, tls) = (Arc::clone(&seen), tls.clone());
                std::thread::spawn(move || {
                    let _ = serve_peer(stream, tls, &seen);
                });
            }
        });
        peer
    }

    fn url(&self, scheme: &str, path: &str) -> String {
        format!("{scheme}://127.0.0.1:{}{path}", self.port)
    }

    /// Waits for a request to `path` (bounded).
    fn await_request(&self, path: &str) -> Seen {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let seen = self.seen.lock().expect("seen");
            if let Some(request) = seen.iter().find(|s| s.path == path) {
                return request.clone();
            }
            drop(seen);
            assert!(Instant::now() < deadline, "the peer never saw {path}");
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

fn serve_peer(
    socket: TcpStream,
    tls: Option<Arc<ServerConfig>>,
    seen: &Mutex<Vec<Seen>>,
) -> io::Result<()> {
    socket.set_read_timeout(Some(Duration::from_secs(5)))?;
    match tls {
        None => exchange(socket, seen),
        Some(config) => {
            let connection = ServerConnection::new(config).map_err(io::Error::other)?;
            let mut stream = StreamOwned::new(connection, socket);
            while stream.conn.is_handshaking() {
                stream.conn.complete_io(&mut stream.sock)?;
            }
            exchange(stream, seen)
        }
    }
}

fn exchange<S: Read + Write>(stream: S, seen: &Mutex<Vec<Seen>>) -> io::Result<()> {
    let mut reader = BufReader::new(stream);
    let (status_line, headers) = read_head(&mut reader)?;
    let mut parts = status_line.split(' ');
    let method = parts.next().unwrap_or_default().to_owned();
    let path = parts.next().unwrap_or_default().to_owned();
    let length = headers
        .get("content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; length];
    reader.read_exact(&mut body)?;
    let body = String::from_utf8_lossy(&body).into_owned();
    let status = match path.as_str() {
        "/missing" => 404,
        "/slow" => {
            std::thread::sleep(Duration::from_secs(2));
            200
        }
        _ => 200,
    };
    seen.lock().expect("seen").push(Seen {
        method,
        path,
        headers,
        body,
    });
    let answer = format!("HTTP/1.1 {status} X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
    let stream = reader.get_mut();
    stream.write_all(answer.as_bytes())?;
    stream.flush()
}

/// The first line and the header fields (names lower case) of a request or response.
fn read_head<R: BufRead>(reader: &mut R) -> io::Result<(String, HashMap<String, String>)> {
    let mut first = String::new();
    reader.read_line(&mut first)?;
    let mut headers = HashMap::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 || line == "\r\n" {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            headers.insert(name.trim().to_ascii_lowercase(), value.trim().to_owned());
        }
    }
    Ok((first.trim_end().to_owned(), headers))
}

// ---------------------------------------------------------------------------------------
// Baton.

/// The shared server, with this file's session document next to its configuration.
struct Baton(Server);

impl std::ops::Deref for Baton {
    type Target = Server;

    fn deref(&self) -> &Server {
        &self.0
    }
}

impl Baton {
    /// `baton serve` on `cores` with one listener on `ip` and a fresh port, `extra` appended
    /// to the configuration; the session document is written next to it.
    fn start(tag: &str, cores: &str, ip: &str, extra: &str) -> Baton {
        let port = free_port();
        let text = format!(
            "[runtime]\ncores = {cores}\nio_memory_bytes = 1048576\n\n[limits]\n\
             sessions_per_shard_max = 1000\n\n[[listener]]\nname = \"api\"\n\
             address = \"{ip}:{port}\"\naccess = \"open\"\n\n{extra}\n{}{ALLOW_LOOPBACK}",
            allow_documents(&[])
        );
        let baton = Baton(Server::start(&format!("basichttp-{tag}"), &text, port));
        baton.dir().write("session.scxml", SESSION);
        baton
    }

    fn connect(&self) -> Connection {
        Connection::open(self.port)
    }

    fn document(&self) -> String {
        self.dir().join("session.scxml").display().to_string()
    }

    /// Starts the session document with `params` on a new connection; its id.
    fn start_session(&self, params: Value) -> String {
        self.connect().start(&self.document(), params)
    }
}

/// The session's errors once it has `count` of them.
fn await_errors(baton: &Baton, id: &str, count: usize) -> Vec<Value> {
    let datamodel = baton.connect().await_datamodel(id, |datamodel| {
        datamodel["errors"]
            .as_array()
            .is_some_and(|errors| errors.len() >= count)
    });
    datamodel["errors"].as_array().expect("errors").clone()
}

/// The session's recorded events once one is named `name`; that one.
fn await_event(connection: &mut Connection, id: &str, name: &str) -> Value {
    let named = |event: &&Value| event["name"] == json!(name);
    let datamodel = connection.await_datamodel(id, |datamodel| {
        datamodel["events"]
            .as_array()
            .is_some_and(|events| events.iter().any(|e| named(&e)))
    });
    let events = datamodel["events"].as_array().expect("events");
    events.iter().find(named).expect("the event").clone()
}

// ---------------------------------------------------------------------------------------
// Tests.

#[test]
fn a_send_posts_a_form_and_a_post_to_the_location_is_an_event() {
    let baton = Baton::start("both", "[0]", "127.0.0.1", "");
    let peer = Peer::start(None);
    let id = baton.start_session(json!({ "url": peer.url("http", "/hook") }));

    // Out: the peer sees the form, named by _scxmleventname.
    let seen = peer.await_request("/hook");
    assert_eq!(seen.method, "POST");
    assert_eq!(
        seen.headers.get("content-type").map(String::as_str),
        Some("application/x-www-form-urlencoded")
    );
    assert_eq!(
        seen.body,
        "_scxmleventname=hello.world&caller=%2B1%20555%201234&n=2"
    );

    // In: the session's location reaches it, on the listener's address.
    let mut connection = baton.connect();
    let datamodel = connection.await_datamodel(&id, |_| true);
    let location = format!("http://127.0.0.1:{}/basichttp/{id}", baton.port);
    assert_eq!(datamodel["location"], json!(location));
    assert_eq!(datamodel["full"], json!("yes"));
    let path = format!("/basichttp/{id}");
    let form = "application/x-www-form-urlencoded";
    let (status, body) = connection.request("POST", &path, form, "_scxmleventname=go&x=42");
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["queued"], json!(true));
    let event = await_event(&mut connection, &id, "go");
    assert_eq!(event["data"], json!({ "x": "42" }));
    assert_eq!(event["origintype"], json!(BASICHTTP));
    let raw = event["raw"].as_str().expect("raw text");
    assert!(
        raw.starts_with(&format!("POST {path} HTTP/1.1\r\n")),
        "{raw}"
    );
    assert!(raw.ends_with("_scxmleventname=go&x=42"), "{raw}");

    // Without a name, the method names the event; GET works too.
    let (status, _) = connection.request("GET", &format!("{path}?y=1"), form, "");
    assert_eq!(status, 200);
    let event = await_event(&mut connection, &id, "HTTP.GET");
    assert_eq!(event["data"], json!({ "y": "1" }));

    // Unknown session: 404; unreadable body: 400.
    let (status, body) = connection.request("POST", "/basichttp/nope", form, "a=1");
    assert_eq!(status, 404, "{body}");
    let other_shard = SessionId::new(runtime::shard::ShardId(7), 1, 1).to_string();
    let (status, _) = connection.request("POST", &format!("/basichttp/{other_shard}"), form, "");
    assert_eq!(status, 404);
    let (status, body) = connection.request("POST", &path, "text/html", "<p>");
    assert_eq!(status, 400, "{body}");
    assert!(body["error"]
        .as_str()
        .is_some_and(|e| e.contains("Content-Type")));
}

#[test]
fn failed_sends_raise_error_communication_in_the_sender() {
    let baton = Baton::start("errors", "[0]", "127.0.0.1", "");
    let peer = Peer::start(None);
    let closed = format!("http://127.0.0.1:{}/x", free_port());

    let unreachable = baton.start_session(json!({ "url": closed }));
    let missing = baton.start_session(json!({ "url": peer.url("http", "/missing") }));
    let delayed = baton.start_session(json!({ "url": closed, "delay": "50ms" }));
    let bad = baton.start_session(json!({ "url": "ftp://127.0.0.1/x" }));

    let errors = await_errors(&baton, &unreachable, 1);
    assert_eq!(errors[0]["sendid"], json!("first"));
    let message = errors[0]["message"].as_str().expect("a message");
    assert!(message.contains("cannot connect"), "{message}");

    let errors = await_errors(&baton, &missing, 1);
    let message = errors[0]["message"].as_str().expect("a message");
    assert!(message.contains("answered 404"), "{message}");
    assert_eq!(peer.await_request("/missing").method, "POST");

    let errors = await_errors(&baton, &delayed, 1);
    assert_eq!(errors[0]["sendid"], json!("first"));

    let errors = await_errors(&baton, &bad, 1);
    let message = errors[0]["message"].as_str().expect("a message");
    assert!(message.contains("bad Basic HTTP target"), "{message}");
}

#[test]
fn sends_past_the_in_flight_bound_are_refused_at_once() {
    let extra = "[basichttp]\nsends_in_flight_max = 1\n";
    let baton = Baton::start("bound", "[0]", "127.0.0.1", extra);
    let peer = Peer::start(None);
    let id = baton.start_session(json!({ "url": peer.url("http", "/slow"), "twice": "yes" }));
    let errors = await_errors(&baton, &id, 1);
    assert_eq!(errors[0]["sendid"], json!("second"));
    let message = errors[0]["message"].as_str().expect("a message");
    assert!(
        message.contains("basichttp.sends_in_flight_max"),
        "{message}"
    );
    // The first send was taken and answered: no error for it.
    assert_eq!(
        peer.await_request("/slow").body.split('&').next(),
        Some("_scxmleventname=hello.world")
    );
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(await_errors(&baton, &id, 1).len(), 1);
}

#[test]
fn a_session_sends_to_its_own_location() {
    let baton = Baton::start("self", "[0]", "127.0.0.1", "");
    let id = baton.start_session(json!({ "url": "self" }));
    let event = await_event(&mut baton.connect(), &id, "hello.world");
    assert_eq!(event["data"], json!({ "caller": "+1 555 1234", "n": "2" }));
    assert_eq!(event["origintype"], json!(BASICHTTP));
}

#[test]
fn a_post_for_a_session_on_the_other_shard_is_forwarded() {
    let baton = Baton::start("shards", "[0, 1]", "127.0.0.1", "");
    // A connection accepted by each shard: sessions start where they land.
    let mut found: [Option<(Connection, String)>; 2] = [None, None];
    let deadline = Instant::now() + Duration::from_secs(10);
    while found.iter().any(Option::is_none) {
        assert!(
            Instant::now() < deadline,
            "connections landed on one shard only"
        );
        let mut connection = baton.connect();
        let id = connection.start(&baton.document(), json!({}));
        let shard = id
            .parse::<SessionId>()
            .expect("a session id")
            .shard()
            .index();
        if found[shard].is_none() {
            found[shard] = Some((connection, id));
        }
    }
    let [(mut on_zero, zero), (mut on_one, one)] = found.map(|f| f.expect("found"));
    let form = "application/x-www-form-urlencoded";
    for (connection, id) in [(&mut on_zero, &one), (&mut on_one, &zero)] {
        let path = format!("/basichttp/{id}");
        let (status, body) = connection.request("POST", &path, form, "_scxmleventname=moved");
        assert_eq!(status, 200, "{body}");
        let event = await_event(connection, id, "moved");
        assert!(event["raw"].as_str().is_some_and(|raw| raw.contains(&path)));
    }
}

#[test]
fn https_sends_are_verified_against_outbound_roots() {
    let ca = Ca::new("Peer CA");
    let stranger = Ca::new("Unknown CA");
    let trusted = Peer::start(Some(server_tls(&ca, None)));
    let untrusted = Peer::start(Some(server_tls(&stranger, None)));
    let roots = std::env::temp_dir().join(format!("baton-basichttp-roots-{}.pem", free_port()));
    std::fs::write(&roots, &ca.cert_pem).expect("write roots");
    let extra = format!("[outbound]\nroots = \"{}\"\n", roots.display());
    let baton = Baton::start("https", "[0]", "127.0.0.1", &extra);

    let by_name = format!("https://localhost:{}/secure", trusted.port);
    let ok = baton.start_session(json!({ "url": by_name }));
    let seen = trusted.await_request("/secure");
    assert!(
        seen.body.starts_with("_scxmleventname=hello.world&"),
        "{}",
        seen.body
    );

    let refused = baton.start_session(json!({ "url": untrusted.url("https", "/secure") }));
    let errors = await_errors(&baton, &refused, 1);
    let message = errors[0]["message"].as_str().expect("a message");
    assert!(message.contains("TLS"), "{message}");
    // The verified send raised nothing.
    let datamodel = baton.connect().await_datamodel(&ok, |_| true);
    assert_eq!(datamodel["errors"], json!([]));
    let _ = std::fs::remove_file(&roots);
}

#[test]
fn the_location_is_configured_or_absent_behind_an_unspecified_address() {
    let baton = Baton::start("anyaddr", "[0]", "0.0.0.0", "");
    let id = baton.start_session(json!({}));
    let datamodel = baton.connect().await_datamodel(&id, |_| true);
    assert_eq!(datamodel["location"], json!(""));
    assert_eq!(datamodel["full"], json!("no"));
    assert!(
        baton.log().contains("no location in _ioprocessors"),
        "{}",
        baton.log()
    );
    // Sends still work without a location.
    let peer = Peer::start(None);
    baton.start_session(json!({ "url": peer.url("http", "/anyway") }));
    assert_eq!(peer.await_request("/anyway").method, "POST");

    let extra = "[basichttp]\nlocation = \"https://baton.example.com:8443/\"\n";
    let baton = Baton::start("configured", "[0]", "0.0.0.0", extra);
    let id = baton.start_session(json!({}));
    let datamodel = baton.connect().await_datamodel(&id, |_| true);
    let location = format!("https://baton.example.com:8443/basichttp/{id}");
    assert_eq!(datamodel["location"], json!(location));
}
