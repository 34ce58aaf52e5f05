//! The local host's request/reply and deferred starts, driven as the server drives them
//! (`send_request`, `run_ready`, `take_replies`), with real engine sessions and time passed
//! in by hand.

use engine::value::Value;
use runtime::local::{Answer, DeliverError, Host, HostConfig, LogMode, Reply};

/// Answers `ask` with `_event.data.n * 2`; a child invoked on `delegate` answers the
/// parent's forwarded request; `stop` ends the session.
const RESPONDER: &str = r#"<scxml xmlns="http://www.w3.org/2005/07/scxml" version="1.0"
    xmlns:session="http://baton.dev/scxml/session" datamodel="ecmascript" initial="s">
  <state id="s">
    <transition event="ask">
      <session:response><param name="double" expr="_event.data.n * 2"/></session:response>
    </transition>
    <transition event="bad"><session:response status="200" requestid="req-99"/></transition>
    <transition event="teapot"><session:response statusexpr="'teapot'"/></transition>
    <transition event="error.execution">
      <log label="error" expr="_event.data.message"/>
    </transition>
    <transition event="stop" target="done"/>
  </state>
  <final id="done"/>
</scxml>"#;

fn host(requests_pending_max: u32) -> Host {
    Host::new(HostConfig {
        log: LogMode::Capture,
        requests_pending_max,
        ..HostConfig::default()
    })
}

fn start(host: &mut Host) -> String {
    let doc = host
        .compile(RESPONDER, "responder.scxml")
        .expect("compiles");
    let key = host.start_session(doc, Vec::new()).expect("starts");
    let id = host.session_id(key).expect("an id").to_owned();
    host.run_ready(0, 100);
    id
}

fn n(value: f64) -> Value {
    Value::Object(vec![("n".into(), Value::Number(value))])
}

#[test]
fn a_request_is_answered_with_its_data() {
    let mut host = host(10);
    let id = start(&mut host);
    let requestid = host.send_request(&id, "ask", n(21.0)).expect("queued");
    assert_eq!(&*requestid, "req-1");
    assert_eq!(host.requests_pending(), 1);
    host.run_ready(1, 100);
    let answer = Answer::Response {
        status: 200,
        data: Value::Object(vec![("double".into(), Value::Number(42.0))]),
    };
    assert_eq!(host.take_replies(), [Reply { requestid, answer }]);
    assert_eq!(host.requests_pending(), 0);
    assert!(host.take_replies().is_empty(), "each answer is taken once");
}

#[test]
fn bad_responses_are_errors_in_the_session() {
    let mut host = host(10);
    let id = start(&mut host);
    host.send_request(&id, "bad", Value::Undefined)
        .expect("queued");
    host.send_request(&id, "teapot", Value::Undefined)
        .expect("queued");
    host.run_ready(1, 100);
    let log = host.take_log();
    assert!(log[0].contains("no pending request 'req-99'"), "{log:?}");
    assert!(log[1].contains("status must be an HTTP status"), "{log:?}");
    assert!(host.take_replies().is_empty());
    assert_eq!(
        host.requests_pending(),
        2,
        "refused answers leave the requests pending"
    );
}

#[test]
fn given_up_requests_drop_their_late_answers_and_ended_sessions_answer_410() {
    let mut host = host(10);
    let id = start(&mut host);
    let requestid = host.send_request(&id, "ask", n(1.0)).expect("queued");
    assert!(host.cancel_request(&requestid));
    host.run_ready(1, 100);
    assert!(host.take_replies().is_empty());
    assert_eq!(host.replies_dropped(), 1);
    assert!(
        host.take_log().is_empty(),
        "a late answer is no error in the session"
    );

    let waiting = host
        .send_request(&id, "stop", Value::Undefined)
        .expect("queued");
    host.run_ready(2, 100);
    let ended = Reply {
        requestid: waiting,
        answer: Answer::SessionEnded,
    };
    assert_eq!(host.take_replies(), [ended]);
    assert_eq!(Answer::SessionEnded.http().0, 410);
    let gone = host.send_request(&id, "ask", n(1.0));
    assert_eq!(gone, Err(DeliverError::UnknownSession));
}

#[test]
fn pending_requests_are_bounded() {
    let mut host = host(1);
    let id = start(&mut host);
    host.send_request(&id, "ask", n(1.0)).expect("queued");
    let full = host.send_request(&id, "ask", n(2.0));
    assert_eq!(full, Err(DeliverError::RequestsFull { requests_max: 1 }));
    host.run_ready(1, 100);
    assert_eq!(host.take_replies().len(), 1);
    assert!(host.send_request(&id, "ask", n(3.0)).is_ok(), "room again");
}

#[test]
fn a_deferred_start_runs_at_its_time() {
    let mut host = host(10);
    host.run_ready(1_000, 1);
    let doc = host
        .compile(RESPONDER, "responder.scxml")
        .expect("compiles");
    let key = host
        .start_session_at(doc, Vec::new(), 5_000)
        .expect("admitted");
    let id = host.session_id(key).expect("an id").to_owned();
    let progress = host.run_ready(4_999, 100);
    assert_eq!(progress.next_timer_ms, Some(5_000));
    let info = host.query(&id).expect("exists before its start");
    assert!(!info.started && info.configuration.is_empty());
    assert_eq!(info.started_at_ms, 5_000);
    host.run_ready(5_000, 100);
    let info = host.query(&id).expect("running");
    assert!(info.started);
    assert_eq!(info.configuration, ["s".into()]);
    // A start time that has passed starts at the next run.
    let doc = host
        .compile(RESPONDER, "responder.scxml")
        .expect("compiles");
    let key = host
        .start_session_at(doc, Vec::new(), 10)
        .expect("admitted");
    let id = host.session_id(key).expect("an id").to_owned();
    host.run_ready(5_001, 100);
    assert!(host.query(&id).expect("running").started);
}

#[test]
fn a_session_terminated_before_its_deferred_start_never_starts() {
    let mut host = host(10);
    let doc = host
        .compile(RESPONDER, "responder.scxml")
        .expect("compiles");
    let key = host
        .start_session_at(doc, Vec::new(), 50)
        .expect("admitted");
    let id = host.session_id(key).expect("an id").to_owned();
    let waiting = host
        .send_request(&id, "ask", n(1.0))
        .expect("queued before the start");
    host.terminate(&id).expect("terminated");
    let ended = Reply {
        requestid: waiting,
        answer: Answer::SessionEnded,
    };
    assert_eq!(host.take_replies(), [ended]);
    host.run_ready(100, 100);
    assert_eq!(host.sessions(), 0, "the stale start does nothing");
    assert!(host.take_replies().is_empty() && host.take_log().is_empty());
    assert_eq!(host.next_timer_ms(), None);
}
