//! `baton serve` request/reply and deferred starts, end to end: the real binary, a real TCP
//! listener, HTTP/1.1 requests from std sockets. `POST /scxml/session/{id}/request/{name}`
//! answered by `<session:response>`, 504 after `limits.request_reply_timeout_ms`, 410 when
//! the session ends first, 503 past `limits.pending_requests_per_shard_max`; `idealtime`
//! deferring a session's start.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};

/// The configured reply timeout: short, so the 504 test is quick.
const REPLY_TIMEOUT_MS: u64 = 400;

/// A strategy that answers requests (and fails to, in each way the tests need).
const RESPONDER: &str = r#"<scxml xmlns="http://www.w3.org/2005/07/scxml" version="1.0"
    xmlns:session="http://baton.dev/scxml/session" datamodel="ecmascript" initial="open">
  <datamodel><data id="greeting" expr="'hello'"/><data id="held" expr="null"/></datamodel>
  <state id="open">
    <transition event="greet">
      <session:response statusexpr="_event.data.status || 200">
        <param name="text" expr="greeting + ' ' + _event.data.name"/>
        <param name="requestid" expr="_event.sendid"/>
      </session:response>
    </transition>
    <!-- Answers late: after the server's reply timeout has passed. -->
    <transition event="slow">
      <assign location="held" expr="_event.sendid"/>
      <send event="answer.now" delay="700ms"/>
    </transition>
    <transition event="answer.now">
      <session:response requestidexpr="held"><content expr="'too late'"/></session:response>
    </transition>
    <transition event="ignore"/>
    <transition event="quit" target="done"/>
  </state>
  <final id="done"/>
</scxml>"#;

struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

struct Server {
    child: Child,
    port: u16,
    dir: TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    /// The responder document's path, for `src`.
    fn responder(&self) -> PathBuf {
        self.dir.0.join("responder.scxml")
    }
}

fn free_port() -> u16 {
    let probe = TcpListener::bind("127.0.0.1:0").expect("bind a probe port");
    probe.local_addr().expect("probe address").port()
}

/// A server with a short reply timeout, at most `pending_max` pending requests, and
/// `idealtime` at most 60 s ahead.
fn start_server(pending_max: u32) -> Server {
    let port = free_port();
    let dir = std::env::temp_dir().join(format!("baton-request-{}-{port}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    std::fs::write(dir.join("responder.scxml"), RESPONDER).expect("write document");
    let config = dir.join("baton.toml");
    let text = format!(
        "[runtime]\ncores = [0]\nio_memory_bytes = 1048576\n\n[limits]\n\
         sessions_per_shard_max = 100\nrequest_reply_timeout_ms = {REPLY_TIMEOUT_MS}\n\
         pending_requests_per_shard_max = {pending_max}\nidealtime_ahead_max_ms = 60000\n\n\
         [[listener]]\nname = \"api\"\naddress = \"127.0.0.1:{port}\"\n"
    );
    std::fs::write(&config, text).expect("write config");
    let child = Command::new(env!("CARGO_BIN_EXE_baton"))
        .args(["serve", "--config"])
        .arg(&config)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn baton serve");
    let server = Server {
        child,
        port,
        dir: TempDir(dir),
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "baton serve did not listen");
        std::thread::sleep(Duration::from_millis(20));
    }
    server
}

/// One request on a fresh connection; returns (status, JSON body).
fn request(port: u16, method: &str, path: &str, body: &str) -> (u16, Value) {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).expect("write head");
    stream.write_all(body.as_bytes()).expect("write body");
    let mut answer = String::new();
    stream.read_to_string(&mut answer).expect("read answer");
    let status: u16 = answer[9..12].parse().expect("status code");
    let body = answer.split("\r\n\r\n").nth(1).unwrap_or("");
    (status, serde_json::from_str(body).unwrap_or(Value::Null))
}

fn start_session(port: u16, src: &Path, extra: &str) -> String {
    let body = format!(r#"{{"src": "{}"{extra}}}"#, src.display());
    let (status, body) = request(port, "POST", "/scxml/session/start", &body);
    assert_eq!(status, 200, "{body}");
    body["sessionid"].as_str().expect("a session id").to_owned()
}

fn query(port: u16, id: &str) -> (u16, Value) {
    request(port, "GET", &format!("/scxml/session/{id}/query"), "")
}

fn epoch_ms() -> u64 {
    let since = SystemTime::now().duration_since(UNIX_EPOCH);
    u64::try_from(since.expect("after 1970").as_millis()).expect("fits")
}

/// `GET /metrics`: the value of the one sample `series`.
fn metric(port: u16, series: &str) -> f64 {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    let head = "GET /metrics HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n";
    stream.write_all(head.as_bytes()).expect("write head");
    let mut text = String::new();
    stream.read_to_string(&mut text).expect("read answer");
    let values: Vec<f64> = text
        .lines()
        .filter_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .map(|value| value.parse().expect("a number"))
        .collect();
    assert_eq!(values.len(), 1, "{series} in:\n{text}");
    values[0]
}

#[test]
fn a_request_is_answered_by_session_response() {
    let server = start_server(10);
    let port = server.port;
    let id = start_session(port, &server.responder(), "");
    let path = format!("/scxml/session/{id}/request/greet");
    let (status, body) = request(port, "POST", &path, r#"{"name": "ada"}"#);
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["text"], "hello ada", "data from _event.data: {body}");
    let requestid = body["requestid"]
        .as_str()
        .expect("_event.sendid is the request id");
    assert!(requestid.starts_with("req-"), "{requestid}");
    // The status comes from the session too; the session lives on.
    let (status, body) = request(port, "POST", &path, r#"{"name": "bo", "status": 202}"#);
    assert_eq!((status, &body["text"]), (202, &json!("hello bo")));
    let (status, body) = query(port, &id);
    assert_eq!((status, &body["configuration"]), (200, &json!(["open"])));
    // A status without a body (204) is answered without one.
    let (status, body) = request(port, "POST", &path, r#"{"name": "cy", "status": 204}"#);
    assert_eq!((status, body), (204, Value::Null));

    let (status, body) = request(port, "POST", "/scxml/session/nope/request/greet", "");
    assert_eq!(status, 404, "{body}");
}

#[test]
fn no_response_in_time_is_504_and_a_late_one_is_dropped() {
    let server = start_server(10);
    let port = server.port;
    let id = start_session(port, &server.responder(), "");
    let asked = Instant::now();
    let (status, body) = request(
        port,
        "POST",
        &format!("/scxml/session/{id}/request/ignore"),
        "",
    );
    let waited = asked.elapsed();
    assert_eq!(status, 504, "{body}");
    assert!(
        waited >= Duration::from_millis(REPLY_TIMEOUT_MS),
        "{waited:?}"
    );
    assert!(
        body["error"].as_str().is_some_and(|e| e.contains("400 ms")),
        "{body}"
    );
    assert_eq!(body["timeout_ms"], REPLY_TIMEOUT_MS);
    assert_eq!(
        metric(port, "baton_request_timeouts_total{shard=\"0\"}"),
        1.0
    );
    assert_eq!(metric(port, "baton_requests_pending{shard=\"0\"}"), 0.0);

    // `slow` answers 700 ms later: the client has its 504 by then; the answer is dropped,
    // counted, and is no error in the session.
    let (status, _) = request(
        port,
        "POST",
        &format!("/scxml/session/{id}/request/slow"),
        "",
    );
    assert_eq!(status, 504);
    let late = "baton_request_replies_late_total{shard=\"0\"}";
    let deadline = Instant::now() + Duration::from_secs(5);
    while metric(port, late) < 1.0 {
        assert!(
            Instant::now() < deadline,
            "the late response was not counted"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let (status, body) = query(port, &id);
    assert_eq!((status, &body["configuration"]), (200, &json!(["open"])));
}

#[test]
fn a_session_that_ends_before_answering_answers_410() {
    let server = start_server(10);
    let port = server.port;
    let id = start_session(port, &server.responder(), "");
    let (status, body) = request(
        port,
        "POST",
        &format!("/scxml/session/{id}/request/quit"),
        "",
    );
    assert_eq!(status, 410, "{body}");
    assert!(
        body["error"].as_str().is_some_and(|e| e.contains("ended")),
        "{body}"
    );
    assert_eq!(
        query(port, &id).0,
        404,
        "the session reached its final state"
    );

    // Terminated while a request waits: the waiting client gets 410 at once.
    let id = start_session(port, &server.responder(), "");
    let path = format!("/scxml/session/{id}/request/ignore");
    let waiting = std::thread::spawn(move || request(port, "POST", &path, ""));
    wait_for_pending(port, 1.0);
    let (status, _) = request(port, "POST", &format!("/scxml/session/{id}/terminate"), "");
    assert_eq!(status, 200);
    let (status, body) = waiting.join().expect("the waiting client");
    assert_eq!(status, 410, "{body}");
}

#[test]
fn pending_requests_are_bounded() {
    let server = start_server(1);
    let port = server.port;
    let id = start_session(port, &server.responder(), "");
    let path = format!("/scxml/session/{id}/request/ignore");
    let first = path.clone();
    let waiting = std::thread::spawn(move || request(port, "POST", &first, ""));
    wait_for_pending(port, 1.0);
    let (status, body) = request(port, "POST", &path, "");
    assert_eq!(status, 503, "{body}");
    let error = body["error"].as_str().unwrap_or_default();
    assert!(error.contains("too many requests"), "{body}");
    assert_eq!(waiting.join().expect("the waiting client").0, 504);
    // Once the first one timed out, there is room again.
    let path = format!("/scxml/session/{id}/request/greet");
    let (status, _) = request(port, "POST", &path, r#"{"name": "x"}"#);
    assert_eq!(status, 200);
}

fn wait_for_pending(port: u16, count: f64) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while metric(port, "baton_requests_pending{shard=\"0\"}") < count {
        assert!(
            Instant::now() < deadline,
            "the request never became pending"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn idealtime_defers_the_start() {
    let server = start_server(10);
    let port = server.port;
    let before = epoch_ms();
    let at = before + 1_500;
    let id = start_session(
        port,
        &server.responder(),
        &format!(r#", "idealtime": {at}"#),
    );
    let (status, body) = query(port, &id);
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["started"], false, "{body}");
    assert_eq!(body["configuration"], json!([]), "{body}");
    assert_eq!(
        body["started_at_ms"], at,
        "due time before the start: {body}"
    );
    // An event sent before the start waits for it.
    let event = format!("/scxml/session/{id}/event/quit");
    assert_eq!(request(port, "POST", &event, "").0, 200);
    assert_eq!(query(port, &id).0, 200, "not processed before the start");
    let deadline = Instant::now() + Duration::from_secs(10);
    while query(port, &id).0 == 200 {
        assert!(
            Instant::now() < deadline,
            "the deferred session never started"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        epoch_ms() >= at,
        "started (and took the event) no sooner than idealtime"
    );

    // A started session reports when it started, in epoch milliseconds.
    let id = start_session(
        port,
        &server.responder(),
        &format!(r#", "idealtime": {before}"#),
    );
    let deadline = Instant::now() + Duration::from_secs(5);
    let body = loop {
        let (_, body) = query(port, &id);
        if body["started"] == true {
            break body;
        }
        assert!(Instant::now() < deadline, "a past idealtime starts at once");
        std::thread::sleep(Duration::from_millis(10));
    };
    let started_at = body["started_at_ms"].as_u64().expect("epoch ms");
    assert!(
        started_at >= before - 1_000 && started_at <= epoch_ms() + 1_000,
        "{body}"
    );
    assert_eq!(body["configuration"], json!(["open"]));
}

#[test]
fn bad_idealtime_is_400() {
    let server = start_server(10);
    let port = server.port;
    let src = server.responder();
    for (idealtime, expected) in [
        (json!("soon"), "whole number"),
        (json!(1.5), "whole number"),
        (json!(epoch_ms() + 3_600_000), "limit is 60000 ms"),
    ] {
        let body = json!({ "src": src.display().to_string(), "idealtime": idealtime });
        let (status, body) = request(port, "POST", "/scxml/session/start", &body.to_string());
        assert_eq!(status, 400, "{body}");
        let error = body["error"].as_str().unwrap_or_default();
        assert!(error.contains(expected), "{error}");
    }
    let (_, health) = request(port, "GET", "/health", "");
    assert_eq!(health["sessions"], 0, "no session was created");
}
