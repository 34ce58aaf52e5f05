//! `baton serve` request/reply and deferred starts, end to end: the real binary, a real TCP
//! listener, HTTP/1.1 requests from std sockets. `POST /scxml/session/{id}/request/{name}`
//! answered by `<session:response>`, 504 after `limits.request_reply_timeout_ms`, 410 when
//! the session ends first, 503 past `limits.pending_requests_per_shard_max`; `idealtime`
//! deferring a session's start.

mod support;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};

use support::{allow_documents, free_port, request, request_text, Server};

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

/// The responder document's path, for `src`.
fn responder(server: &Server) -> PathBuf {
    server.dir().join("responder.scxml")
}

/// A server with a short reply timeout, at most `pending_max` pending requests, and
/// `idealtime` at most 60 s ahead.
fn start_server(pending_max: u32) -> Server {
    let port = free_port();
    let text = format!(
        "[runtime]\ncores = [0]\nio_memory_bytes = 1048576\n\n[limits]\n\
         sessions_per_shard_max = 100\nrequest_reply_timeout_ms = {REPLY_TIMEOUT_MS}\n\
         pending_requests_per_shard_max = {pending_max}\nidealtime_ahead_max_ms = 60000\n\n\
         [[listener]]\nname = \"api\"\naddress = \"127.0.0.1:{port}\"\n\n{}",
        allow_documents(&[])
    );
    let server = Server::start("request", &text, port);
    server.dir().write("responder.scxml", RESPONDER);
    server
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
    let (_, text) = request_text(port, "GET", "/metrics", "");
    support::metric(&text, series)
}

#[test]
fn a_request_is_answered_by_session_response() {
    let server = start_server(10);
    let port = server.port;
    let id = start_session(port, &responder(&server), "");
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
    let id = start_session(port, &responder(&server), "");
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
    let id = start_session(port, &responder(&server), "");
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
    let id = start_session(port, &responder(&server), "");
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
    let id = start_session(port, &responder(&server), "");
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
        &responder(&server),
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
        &responder(&server),
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
    let src = responder(&server);
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
