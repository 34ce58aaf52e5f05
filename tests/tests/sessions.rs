//! The local host as the server drives it: many top-level sessions addressed by id, started,
//! sent events, queried, listed, terminated and reported when they finish; `run_ready` as
//! the driver's step; sends to ids on other hosts through the `Remote` hook. Real engine
//! sessions throughout.

use std::cell::RefCell;
use std::rc::Rc;

use engine::effects::{Outgoing, SendError, Target};
use engine::event::Event;
use engine::session::Status;
use engine::value::Value;
use runtime::local::{
    DeliverError, Host, HostConfig, LogMode, Remote, SessionIds, SessionsFull, StartError,
};

/// A counter: `inc` adds one, `stop` ends it; leaving `s0` logs who owned it.
const COUNTER: &str = r##"<scxml xmlns="http://www.w3.org/2005/07/scxml" version="1.0"
    datamodel="ecmascript" initial="s0">
  <datamodel><data id="count" expr="0"/><data id="owner" expr="'nobody'"/></datamodel>
  <state id="s0">
    <onexit><log label="exit" expr="owner + ':' + count"/></onexit>
    <transition event="inc"><assign location="count" expr="count + 1"/></transition>
    <transition event="stop" target="done"/>
  </state>
  <final id="done"/>
</scxml>"##;

/// A host that captures `<log>` output, with room for `sessions_max` sessions and
/// `queue_events_max` queued events each.
fn host(sessions_max: u32, queue_events_max: u32) -> Host {
    Host::new(HostConfig {
        log: LogMode::Capture,
        sessions_max,
        queue_events_max,
        ..HostConfig::default()
    })
}

/// Starts `text` with `params` and returns its id (its initial macrostep is still pending).
fn start(host: &mut Host, text: &str, name: &str, params: Vec<(Box<str>, Value)>) -> String {
    let doc = host.compile(text, name).expect("compiles");
    let key = host.start_session(doc, params).expect("starts");
    host.session_id(key).expect("has an id").to_owned()
}

fn owner(name: &str) -> Vec<(Box<str>, Value)> {
    vec![("owner".into(), Value::String(name.into()))]
}

fn event(name: &str) -> Event {
    Event::external(name, Value::Undefined)
}

/// The top-level variable `name` of a datamodel snapshot.
fn field<'a>(snapshot: &'a Value, name: &str) -> Option<&'a Value> {
    let Value::Object(fields) = snapshot else {
        return None;
    };
    fields
        .iter()
        .find(|(key, _)| &**key == name)
        .map(|(_, v)| v)
}

#[test]
fn two_sessions_of_one_document_keep_separate_data() {
    let mut host = host(16, 16);
    let a = start(&mut host, COUNTER, "counter.scxml", owner("a"));
    let b = start(&mut host, COUNTER, "counter.scxml", owner("b"));
    assert_ne!(a, b);
    host.run_ready(10, 100);
    for _ in 0..3 {
        host.send_event(&a, event("inc")).expect("a is live");
    }
    host.send_event(&b, event("inc")).expect("b is live");
    let progress = host.run_ready(20, 100);
    assert_eq!(progress.stepped, 4);
    assert!(!progress.more_ready);

    let info = host.query(&a).expect("a is live");
    assert_eq!(&*info.id, a.as_str());
    assert_eq!(info.configuration, vec![Box::from("s0")]);
    assert_eq!(&*info.document, "counter.scxml");
    assert_eq!(info.started_at_ms, 10);
    assert_eq!(info.status, Status::Running);
    assert_eq!(field(&info.datamodel, "count"), Some(&Value::Number(3.0)));
    assert_eq!(
        field(&info.datamodel, "owner"),
        Some(&Value::String("a".into()))
    );
    let info = host.query(&b).expect("b is live");
    assert_eq!(field(&info.datamodel, "count"), Some(&Value::Number(1.0)));
    assert_eq!(
        field(&info.datamodel, "owner"),
        Some(&Value::String("b".into()))
    );
    assert!(host.take_finished().is_empty());
}

#[test]
fn terminate_runs_onexit_and_forgets_the_session() {
    let mut host = host(16, 16);
    let id = start(&mut host, COUNTER, "counter.scxml", owner("t"));
    host.send_event(&id, event("inc"))
        .expect("queued before the start");
    host.run_ready(0, 100);
    host.take_log();

    host.terminate(&id).expect("live");
    assert_eq!(host.take_log(), vec!["exit: t:1".to_owned()]);
    assert_eq!(host.sessions(), 0);
    assert!(host.query(&id).is_none());
    assert_eq!(
        host.send_event(&id, event("inc")),
        Err(DeliverError::UnknownSession)
    );
    assert_eq!(host.terminate(&id), Err(DeliverError::UnknownSession));
    host.run_ready(0, 100);
    assert!(
        host.take_finished().is_empty(),
        "a terminate is not a finish"
    );
}

#[test]
fn a_finished_session_is_reported_once_then_unknown() {
    let mut host = host(16, 16);
    let id = start(&mut host, COUNTER, "counter.scxml", owner("f"));
    let other = start(&mut host, COUNTER, "counter.scxml", owner("g"));
    host.send_event(&id, event("stop")).expect("live");
    host.run_ready(0, 100);

    let finished = host.take_finished();
    assert_eq!(finished.len(), 1);
    assert_eq!(&*finished[0].id, id.as_str());
    assert!(matches!(
        &finished[0].status,
        Status::Done { final_state, .. } if &**final_state == "done"
    ));
    assert!(host.take_finished().is_empty());
    assert!(host.query(&id).is_none());
    assert_eq!(
        host.send_event(&id, event("inc")),
        Err(DeliverError::UnknownSession)
    );
    assert!(host.query(&other).is_some(), "the other session lives on");
}

#[test]
fn a_full_directory_refuses_a_start() {
    let mut host = host(2, 16);
    let doc = host.compile(COUNTER, "counter.scxml").expect("compiles");
    host.start_session(Rc::clone(&doc), Vec::new())
        .expect("first");
    host.start_session(Rc::clone(&doc), Vec::new())
        .expect("second");
    let refused = host.start_session(Rc::clone(&doc), Vec::new());
    assert_eq!(
        refused,
        Err(StartError::Full(SessionsFull { sessions_max: 2 }))
    );
    assert_eq!(host.sessions(), 2);
}

#[test]
fn a_full_queue_refuses_an_event() {
    let mut host = host(4, 2);
    let id = start(&mut host, COUNTER, "counter.scxml", Vec::new());
    host.send_event(&id, event("inc")).expect("one");
    host.send_event(&id, event("inc")).expect("two");
    assert_eq!(
        host.send_event(&id, event("inc")),
        Err(DeliverError::QueueFull { queue_max: 2 })
    );
    host.run_ready(0, 100);
    host.send_event(&id, event("inc")).expect("room again");
}

#[test]
fn run_ready_reports_and_fires_a_delayed_send() {
    let text = r##"<scxml xmlns="http://www.w3.org/2005/07/scxml" version="1.0"
        datamodel="ecmascript" initial="s0">
      <state id="s0">
        <onentry><send event="tick" delay="250ms"/></onentry>
        <transition event="tick" target="s1"/>
      </state>
      <state id="s1"/>
    </scxml>"##;
    let mut host = host(4, 4);
    let id = start(&mut host, text, "tick.scxml", Vec::new());
    let progress = host.run_ready(1_000, 100);
    assert_eq!(progress.stepped, 1, "the initial macrostep");
    assert_eq!(progress.next_timer_ms, Some(1_250));
    assert!(!progress.more_ready);

    let early = host.run_ready(1_249, 100);
    assert_eq!(early.stepped, 0);
    assert_eq!(host.query(&id).expect("live").configuration, ["s0".into()]);

    let due = host.run_ready(1_250, 100);
    assert_eq!(due.stepped, 1);
    assert_eq!(due.next_timer_ms, None);
    let configuration: Vec<Box<str>> = vec!["s1".into()];
    assert_eq!(host.query(&id).expect("live").configuration, configuration);
}

#[test]
fn run_ready_stops_at_its_budget() {
    let mut host = host(4, 16);
    let id = start(&mut host, COUNTER, "counter.scxml", Vec::new());
    for _ in 0..5 {
        host.send_event(&id, event("inc")).expect("queued");
    }
    let first = host.run_ready(0, 3);
    assert_eq!(first.stepped, 3);
    assert!(first.more_ready);
    let rest = host.run_ready(0, 100);
    assert_eq!(rest.stepped, 3);
    assert!(!rest.more_ready);
    let info = host.query(&id).expect("live");
    assert_eq!(field(&info.datamodel, "count"), Some(&Value::Number(5.0)));
}

#[test]
fn list_pages_through_top_level_sessions() {
    let mut host = host(16, 16);
    let ids: Vec<String> = (0..5)
        .map(|_| start(&mut host, COUNTER, "counter.scxml", Vec::new()))
        .collect();
    host.run_ready(0, 100);
    let (first, total) = host.list(0, 2);
    let (second, _) = host.list(2, 2);
    let (third, _) = host.list(4, 2);
    let (beyond, _) = host.list(9, 2);
    assert_eq!(total, 5);
    assert_eq!((first.len(), second.len(), third.len()), (2, 2, 1));
    assert!(beyond.is_empty());
    let mut listed: Vec<String> = [first, second, third]
        .iter()
        .flatten()
        .map(|s| s.id.to_string())
        .collect();
    let mut expected = ids.clone();
    listed.sort();
    expected.sort();
    assert_eq!(listed, expected);
    assert!(host
        .list(0, 5)
        .0
        .iter()
        .all(|s| &*s.document == "counter.scxml"));
}

#[test]
fn invoked_children_are_listed_out_and_cannot_be_terminated() {
    let text = r##"<scxml xmlns="http://www.w3.org/2005/07/scxml" version="1.0"
        datamodel="ecmascript" initial="family">
      <datamodel><data id="kid"/></datamodel>
      <state id="family" initial="s0">
        <invoke id="kid" type="scxml"><content>
          <scxml xmlns="http://www.w3.org/2005/07/scxml" version="1.0" initial="k">
            <state id="k"><onentry><send target="#_parent" event="hello"/></onentry></state>
          </scxml>
        </content></invoke>
        <state id="s0">
          <transition event="hello" target="s1">
            <assign location="kid" expr="_event.origin"/>
          </transition>
        </state>
        <state id="s1"/>
      </state>
    </scxml>"##;
    let mut host = host(8, 8);
    let parent = start(&mut host, text, "parent.scxml", Vec::new());
    host.run_ready(0, 100);
    let info = host.query(&parent).expect("live");
    let Some(Value::String(origin)) = field(&info.datamodel, "kid") else {
        panic!("the child's origin is recorded: {info:?}");
    };
    let child = origin.strip_prefix("#_scxml_").expect("an SCXML origin");
    assert_eq!(host.sessions(), 2);
    assert_eq!(host.list(0, 10).1, 1, "only the top-level session");
    assert!(host.query(child).is_some());
    assert_eq!(host.terminate(child), Err(DeliverError::Invoked));
    host.terminate(&parent).expect("live");
    host.run_ready(0, 100);
    assert_eq!(host.sessions(), 0, "the child closes with its parent");
}

/// The `Remote` hook's record of what it was given.
#[derive(Default)]
struct Recorded {
    sends: Vec<(String, Outgoing)>,
}

struct RecordingRemote(Rc<RefCell<Recorded>>);

impl Remote for RecordingRemote {
    fn send_remote(&mut self, id: &str, out: Outgoing) -> Result<(), SendError> {
        self.0.borrow_mut().sends.push((id.to_owned(), out));
        Ok(())
    }
}

#[test]
fn a_send_to_an_unknown_session_reaches_the_remote_hook() {
    let text = r##"<scxml xmlns="http://www.w3.org/2005/07/scxml" version="1.0"
        datamodel="ecmascript" initial="s0">
      <state id="s0">
        <onentry>
          <send target="#_scxml_elsewhere" event="ping"><param name="n" expr="1"/></send>
          <send target="#_scxml_later" event="pong" delay="1s"/>
        </onentry>
        <transition event="error.communication" target="failed"/>
      </state>
      <state id="failed"/>
    </scxml>"##;
    let recorded = Rc::new(RefCell::new(Recorded::default()));
    let mut host = host(4, 4);
    host.set_remote(Box::new(RecordingRemote(Rc::clone(&recorded))));
    let id = start(&mut host, text, "remote.scxml", Vec::new());
    let progress = host.run_ready(0, 100);
    assert_eq!(progress.next_timer_ms, Some(1_000));
    host.run_ready(1_000, 100);

    let sends = &recorded.borrow().sends;
    assert_eq!(sends.len(), 2, "the immediate and the delayed send");
    assert_eq!(sends[0].0, "elsewhere");
    assert_eq!(sends[0].1.event.name.as_ref(), "ping");
    assert_eq!(sends[0].1.target, Target::Session("elsewhere".into()));
    assert_eq!(sends[1].0, "later");
    let origin = format!("#_scxml_{id}");
    assert_eq!(sends[0].1.event.origin.as_deref(), Some(origin.as_str()));
    let configuration: Vec<Box<str>> = vec!["s0".into()];
    assert_eq!(host.query(&id).expect("live").configuration, configuration);
}

#[test]
fn without_a_remote_an_unknown_session_is_an_error_communication() {
    let text = r##"<scxml xmlns="http://www.w3.org/2005/07/scxml" version="1.0"
        datamodel="ecmascript" initial="s0">
      <state id="s0">
        <onentry><send target="#_scxml_elsewhere" event="ping" delay="1s"/></onentry>
        <transition event="error.communication" target="failed"/>
      </state>
      <state id="failed"/>
    </scxml>"##;
    let mut host = host(4, 4);
    let id = start(&mut host, text, "alone.scxml", Vec::new());
    host.run_ready(0, 100);
    let configuration: Vec<Box<str>> = vec!["failed".into()];
    assert_eq!(host.query(&id).expect("live").configuration, configuration);
}

/// Ids with a shard prefix, as the server will issue them.
struct PrefixedIds {
    next: u32,
}

impl SessionIds for PrefixedIds {
    fn next_id(&mut self) -> Box<str> {
        self.next += 1;
        format!("shard7-{}", self.next).into()
    }
}

#[test]
fn session_ids_come_from_the_pluggable_source() {
    let config = HostConfig {
        log: LogMode::Discard,
        ..HostConfig::default()
    };
    let mut host = Host::with_ids(config, Box::new(PrefixedIds { next: 0 }));
    let first = start(&mut host, COUNTER, "counter.scxml", Vec::new());
    let second = start(&mut host, COUNTER, "counter.scxml", Vec::new());
    assert_eq!((first.as_str(), second.as_str()), ("shard7-1", "shard7-2"));
    host.run_ready(0, 100);
    host.send_event("shard7-2", event("stop")).expect("live");
    host.run_ready(0, 100);
    let finished = host.take_finished();
    assert_eq!(finished.len(), 1);
    assert_eq!(&*finished[0].id, "shard7-2");
}

#[test]
fn a_session_ended_by_a_limit_is_reported_with_its_reason() {
    let text = r##"<scxml xmlns="http://www.w3.org/2005/07/scxml" version="1.0"
        datamodel="ecmascript" initial="a">
      <state id="a"><transition target="b"/></state>
      <state id="b"><transition target="a"/></state>
    </scxml>"##;
    let mut host = host(4, 4);
    let id = start(&mut host, text, "loop.scxml", Vec::new());
    host.run_ready(0, 100);
    let finished = host.take_finished();
    assert_eq!(finished.len(), 1);
    assert_eq!(&*finished[0].id, id.as_str());
    assert!(
        matches!(finished[0].status, Status::Ended(_)),
        "{finished:?}"
    );
    assert_eq!(host.sessions(), 0);
    assert!(host.query(&id).is_none());
}

#[test]
fn ready_sessions_take_turns() {
    let mut host = host(4, 16);
    let a = start(&mut host, COUNTER, "counter.scxml", Vec::new());
    let b = start(&mut host, COUNTER, "counter.scxml", Vec::new());
    host.run_ready(0, 100);
    for _ in 0..3 {
        host.send_event(&a, event("inc")).expect("a is live");
        host.send_event(&b, event("inc")).expect("b is live");
    }
    assert_eq!(host.run_ready(0, 4).stepped, 4);
    for id in [&a, &b] {
        let info = host.query(id).expect("live");
        let count = field(&info.datamodel, "count");
        assert_eq!(
            count,
            Some(&Value::Number(2.0)),
            "{id}: neither waits for the other"
        );
    }
}
