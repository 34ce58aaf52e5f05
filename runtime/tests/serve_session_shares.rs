//! Issue 11 end to end against `baton serve`: large documents filling the JS heap are
//! refused (the process used to crash in QuickJS): with 503 at start, or, as expressions
//! compile when first evaluated, with `error.execution` naming the bound; and a `<send>`-to-self loop is
//! throttled while a canary session on the same shard keeps its latency.

mod support;

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use support::{metric, request, request_text, start_session, Server, TempDir, SAMPLE};

/// A valid document with `conds` distinct conditions, one transition each, that keeps the
/// first `error.execution`'s message in `why` (its handler is in the first chunk of
/// expressions, compiled when the data is initialised).
fn large_document(conds: u32) -> String {
    let mut text = String::from(
        r#"<scxml xmlns="http://www.w3.org/2005/07/scxml" version="1.0" datamodel="ecmascript" initial="s"><datamodel><data id="x" expr="-1"/><data id="why" expr="''"/><data id="seen" expr="false"/></datamodel><state id="s"><transition event="error.execution" cond="why === ''"><assign location="why" expr="_event.data.message"/></transition>"#,
    );
    for n in 0..conds {
        let _ = write!(
            text,
            r#"<transition event="e" cond="x == {n}" target="s"/>"#
        );
    }
    // Every condition is false (or failed): this one takes the event.
    text.push_str(r#"<transition event="e"><assign location="seen" expr="true"/></transition>"#);
    text.push_str("</state></scxml>");
    text
}

fn server(limits: &str) -> Server {
    let port = support::free_port();
    let text = format!(
        "[runtime]\ncores = [0]\nio_memory_bytes = 1048576\n\n[limits]\n{limits}\n\n\
         [[listener]]\nname = \"api\"\naddress = \"127.0.0.1:{port}\"\n\n{}",
        support::allow_documents(&[])
    );
    Server::start("session-shares", &text, port)
}

#[test]
fn issue_11_large_documents_filling_the_js_heap_are_refused_not_a_crash() {
    const DOCUMENTS: u32 = 200;
    let server = server("js_heap_bytes_max = 8388608\njs_heap_per_session_bytes_max = 4194304");
    let port = server.port;
    let canary = start_session(port, &format!(r#"{{"src": "{SAMPLE}"}}"#));
    let dir = TempDir::new("issue-11-docs");
    // Each condition that cannot compile is an error.execution: fewer of them than the
    // internal queue holds and a macrostep's microsteps (1,000 each), so the session
    // lives and its handler sees the first.
    let text = large_document(400);
    let (mut started, mut refused) = (Vec::new(), 0);
    // Distinct files: each is compiled and cached again, as distinct URLs were. Each
    // session's event `e` evaluates every condition: its expressions compile then.
    for n in 0..DOCUMENTS {
        let path = dir.write(&format!("large{n}.scxml"), &text);
        let body = format!(r#"{{"src": "{}"}}"#, path.display());
        let (status, answer) = request(port, "POST", "/scxml/session/start", &body);
        let reason = match status {
            200 => {
                let id = answer["sessionid"].as_str().expect("an id").to_owned();
                let event = format!("/scxml/session/{id}/event/e");
                assert_eq!(request(port, "POST", &event, "{}").0, 200);
                let why = why(port, &id);
                started.push(id);
                why
            }
            503 => answer["error"].as_str().expect("a reason").to_owned(),
            other => panic!("start {n} answered {other}: {answer}"),
        };
        if !reason.is_empty() {
            refused += 1;
            assert!(reason.contains("limits.js_heap_bytes_max"), "{reason}");
        }
    }
    assert!(
        refused >= 10,
        "{} of {DOCUMENTS} documents compiled in an 8 MiB heap",
        DOCUMENTS - refused
    );
    // The server lives, and the canary started before still takes events.
    let event = format!("/scxml/session/{canary}/event/call.offered");
    assert_eq!(request(port, "POST", &event, "{}").0, 200);
    assert_eq!(request(port, "GET", "/health", "").0, 200);
    // Once the large sessions end, their documents are dropped and starts fit again.
    for id in &started {
        let (status, _) = request(port, "POST", &format!("/scxml/session/{id}/terminate"), "");
        assert_eq!(status, 200);
    }
    let path = dir.write("after.scxml", &text);
    let body = format!(r#"{{"src": "{}"}}"#, path.display());
    let (status, answer) = request(port, "POST", "/scxml/session/start", &body);
    assert_eq!(status, 200, "{answer}");
    let log = server.log();
    assert!(!log.contains("panicked"), "{log}");
}

/// The session's `why` once its event `e` has been processed (a query answers between
/// macrosteps, so once `seen` is set the errors `e` raised have been handled too).
fn why(port: u16, id: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let (status, body) = request(port, "GET", &format!("/scxml/session/{id}/query"), "");
        assert_eq!(status, 200, "{body}");
        if body["datamodel"]["seen"] == true {
            return body["datamodel"]["why"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
        }
        assert!(
            Instant::now() < deadline,
            "event e was never processed: {body}"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// Sends itself `loop` for ever, counting.
const LOOPER: &str = include_str!("support/looper.scxml");

/// Answers every `ping` request at once.
const CANARY: &str = r#"<scxml xmlns="http://www.w3.org/2005/07/scxml" version="1.0"
    xmlns:session="http://baton.dev/scxml/session" datamodel="ecmascript" initial="s">
  <state id="s">
    <transition event="ping"><session:response><param name="ok" expr="1"/></session:response>
    </transition>
  </state>
</scxml>"#;

fn counter(port: u16, id: &str) -> f64 {
    let (status, body) = request(port, "GET", &format!("/scxml/session/{id}/query"), "");
    assert_eq!(status, 200, "{body}");
    body["datamodel"]["n"].as_f64().expect("a count")
}

#[test]
fn issue_11_a_send_to_self_loop_is_throttled_and_a_canary_keeps_its_latency() {
    let server = server("session_events_per_second_max = 200");
    let port = server.port;
    let dir = TempDir::new("issue-11-loop");
    let looper = dir.write("looper.scxml", LOOPER);
    let canary = dir.write("canary.scxml", CANARY);
    let looper = start_session(port, &format!(r#"{{"src": "{}"}}"#, looper.display()));
    let canary = start_session(port, &format!(r#"{{"src": "{}"}}"#, canary.display()));
    let kick = format!("/scxml/session/{looper}/event/loop");
    assert_eq!(request(port, "POST", &kick, "{}").0, 200);
    let begun = Instant::now();
    let mut slowest = Duration::ZERO;
    for _ in 0..20 {
        let asked = Instant::now();
        let ping = format!("/scxml/session/{canary}/request/ping");
        let (status, body) = request(port, "POST", &ping, "{}");
        assert_eq!(status, 200, "{body}");
        slowest = slowest.max(asked.elapsed());
        std::thread::sleep(Duration::from_millis(50));
    }
    let seconds = begun.elapsed().as_secs_f64();
    let n = counter(port, &looper);
    // 200 events a second, in whole windows: at most one window more than the seconds.
    let bound = 200.0 * (seconds.ceil() + 1.0);
    assert!(
        n <= bound,
        "{n} loop events in {seconds:.1} s (bound {bound})"
    );
    assert!(n >= 200.0, "the looper ran ({n})");
    assert!(
        slowest < Duration::from_millis(200),
        "a canary request took {slowest:?}"
    );
    // The operator sees it: the looper was held once per second it ran.
    let (_, text) = request_text(port, "GET", "/metrics", "");
    let throttled = metric(&text, "baton_sessions_throttled_total{shard=\"0\"}");
    assert!(
        throttled >= seconds.floor() - 1.0 && throttled <= seconds.ceil() + 1.0,
        "{throttled} throttles in {seconds:.1} s"
    );
}
