//! Issue 11: each session has its share of what the shard holds for it. A session that
//! hoards JS heap, or delayed-send payloads, gets `error.execution` naming the bound; a
//! canary session on the same host keeps assigning and starting.

use engine::event::Event;
use engine::limits::Limits;
use engine::value::Value;
use runtime::local::{Host, HostConfig, LogMode};

/// Each `grow` adds about 1.6 MB to `hoard`; `small` assigns a number; `stop` ends it.
const HOARDER: &str = r#"<scxml xmlns="http://www.w3.org/2005/07/scxml" version="1.0"
    datamodel="ecmascript" initial="s">
  <datamodel><data id="hoard" expr="[]"/><data id="n" expr="0"/></datamodel>
  <state id="s">
    <transition event="grow"><script>hoard.push(new Array(100000).fill(7))</script></transition>
    <transition event="small">
      <assign location="n" expr="n + 1"/><log label="hoarder" expr="'n=' + n"/>
    </transition>
    <transition event="error.execution">
      <log label="hoarder error" expr="_event.data.message"/>
    </transition>
    <transition event="big"><log label="big data" expr="typeof _event.data"/></transition>
    <transition event="stop" target="done"/>
  </state>
  <final id="done"/>
</scxml>"#;

/// Counts its `ping`s.
const CANARY: &str = r#"<scxml xmlns="http://www.w3.org/2005/07/scxml" version="1.0"
    datamodel="ecmascript" initial="s">
  <datamodel><data id="pings" expr="0"/><data id="list" expr="[]"/></datamodel>
  <state id="s">
    <transition event="ping">
      <assign location="pings" expr="pings + 1"/>
      <assign location="list" expr="list.concat([pings])"/>
      <log label="canary" expr="'pings=' + pings + ' list=' + list.length"/>
    </transition>
    <transition event="error.execution">
      <log label="canary error" expr="_event.data.message"/>
    </transition>
  </state>
</scxml>"#;

fn host() -> Host {
    Host::new(HostConfig {
        log: LogMode::Capture,
        limits: Limits {
            js_heap_bytes_max: 64 << 20,
            js_heap_per_session_bytes_max: 8 << 20,
            ..Limits::default()
        },
        ..HostConfig::default()
    })
}

fn start(host: &mut Host, text: &str, name: &str) -> String {
    let doc = host.compile(text, name).expect("compiles");
    let key = host.start_session(doc, Vec::new()).expect("starts");
    let id = host.session_id(key).expect("an id").to_owned();
    host.run_ready(0, 100);
    id
}

fn send(host: &mut Host, id: &str, name: &str) {
    let event = Event::external(name, Value::Null);
    host.send_event(id, event).expect("delivered");
    host.run_ready(1, 100);
}

#[test]
fn issue_11_a_session_past_its_heap_share_gets_error_execution_and_others_go_on() {
    let mut host = host();
    let hoarder = start(&mut host, HOARDER, "hoarder.scxml");
    let canary = start(&mut host, CANARY, "canary.scxml");
    for _ in 0..20 {
        send(&mut host, &hoarder, "grow");
    }
    let log = host.take_log().join("\n");
    let refusals = log.matches("limits.js_heap_per_session_bytes_max").count();
    // 8 MiB hold about 5 arrays of 1.6 MB: the other 15 `grow`s are refused.
    assert!(refusals >= 10, "{log}");
    assert!(log.contains("hoarder error"), "{log}");
    // The canary's assignments and a fresh start still work: the shard's heap is not full.
    for _ in 0..50 {
        send(&mut host, &canary, "ping");
    }
    let log = host.take_log().join("\n");
    assert!(log.contains("pings=50 list=50"), "{log}");
    assert!(!log.contains("error"), "{log}");
    let second = start(&mut host, CANARY, "canary.scxml");
    send(&mut host, &second, "ping");
    // The hoarder is not ended: it can still do what fits in its share.
    send(&mut host, &hoarder, "small");
    let log = host.take_log().join("\n");
    assert!(log.contains("pings=1 list=1"), "{log}");
    assert!(log.contains("n=1"), "{log}");
}

#[test]
fn issue_11_hoarders_cannot_together_starve_a_canary_below_the_shard_bound() {
    let mut host = host();
    let canary = start(&mut host, CANARY, "canary.scxml");
    let hoarders: Vec<String> = (0..6)
        .map(|_| start(&mut host, HOARDER, "hoarder.scxml"))
        .collect();
    for _ in 0..8 {
        for hoarder in &hoarders {
            send(&mut host, hoarder, "grow");
        }
    }
    // 6 shares of 8 MiB fit in the 64 MiB heap: whatever they hold, the canary has room.
    for _ in 0..10 {
        send(&mut host, &canary, "ping");
    }
    let log = host.take_log().join("\n");
    assert!(log.contains("pings=10 list=10"), "{log}");
    assert!(!log.contains("canary error"), "{log}");
}

#[test]
fn issue_11_an_event_whose_data_does_not_fit_the_share_is_error_execution_not_silent() {
    let mut host = host();
    let hoarder = start(&mut host, HOARDER, "hoarder.scxml");
    let data = Value::String("x".repeat(9 << 20).into());
    host.send_event(&hoarder, Event::external("big", data))
        .expect("delivered");
    host.run_ready(1, 100);
    let log = host.take_log().join("\n");
    assert!(log.contains("big data: undefined"), "{log}");
    assert!(
        log.contains("limits.js_heap_per_session_bytes_max"),
        "{log}"
    );
}

/// Each `go` sends a delayed event carrying 300,000 characters.
const DELAYER: &str = r#"<scxml xmlns="http://www.w3.org/2005/07/scxml" version="1.0"
    datamodel="ecmascript" initial="s">
  <datamodel><data id="big" expr="'x'.repeat(300000)"/><data id="sent" expr="0"/></datamodel>
  <state id="s">
    <transition event="go">
      <send event="later" delay="60s"><param name="p" expr="big"/></send>
      <assign location="sent" expr="sent + 1"/>
      <log label="sent" expr="sent"/>
    </transition>
    <transition event="error.execution">
      <log label="send error" expr="_event.data.message"/>
    </transition>
  </state>
</scxml>"#;

#[test]
fn issue_11_delayed_send_payloads_are_bounded_in_bytes_per_session() {
    let mut host = host();
    let delayer = start(&mut host, DELAYER, "delayer.scxml");
    let other = start(&mut host, DELAYER, "delayer.scxml");
    for _ in 0..5 {
        send(&mut host, &delayer, "go");
    }
    let log = host.take_log().join("\n");
    // 1 MiB holds three payloads of 300,000 bytes; the fourth send is refused and the
    // rest of its block (the assign) does not run.
    assert!(log.contains("sent: 3"), "{log}");
    assert!(!log.contains("sent: 4"), "{log}");
    let refusals = log.matches("limits.delayed_send_bytes_max").count();
    assert_eq!(refusals, 2, "{log}");
    // The bound is per session: another session sends as much.
    send(&mut host, &other, "go");
    let log = host.take_log().join("\n");
    assert!(log.contains("sent: 1"), "{log}");
    assert!(!log.contains("send error"), "{log}");
}

/// Invokes itself from its file, for ever.
const RECURSIVE: &str = r#"<scxml xmlns="http://www.w3.org/2005/07/scxml" version="1.0"
    datamodel="ecmascript" initial="s">
  <state id="s">
    <invoke src="recursive.scxml"/>
    <transition event="error.execution">
      <log label="invoke error" expr="_event.data.message"/>
    </transition>
  </state>
</scxml>"#;

/// Invokes ten children that wait for ever.
const FAN_OUT: &str = r#"<scxml xmlns="http://www.w3.org/2005/07/scxml" version="1.0"
    datamodel="ecmascript" initial="p">
  <parallel id="p">
    <state id="a0"><invoke><content><scxml xmlns="http://www.w3.org/2005/07/scxml"
      version="1.0"><state id="w"/></scxml></content></invoke></state>
    <state id="a1"><invoke><content><scxml xmlns="http://www.w3.org/2005/07/scxml"
      version="1.0"><state id="w"/></scxml></content></invoke></state>
    <state id="a2"><invoke><content><scxml xmlns="http://www.w3.org/2005/07/scxml"
      version="1.0"><state id="w"/></scxml></content></invoke></state>
    <state id="a3"><invoke><content><scxml xmlns="http://www.w3.org/2005/07/scxml"
      version="1.0"><state id="w"/></scxml></content></invoke></state>
    <state id="a4"><invoke><content><scxml xmlns="http://www.w3.org/2005/07/scxml"
      version="1.0"><state id="w"/></scxml></content></invoke></state>
    <state id="a5"><invoke><content><scxml xmlns="http://www.w3.org/2005/07/scxml"
      version="1.0"><state id="w"/></scxml></content></invoke></state>
    <state id="log">
      <transition event="error.execution">
        <log label="invoke error" expr="_event.data.message"/>
      </transition>
    </state>
  </parallel>
</scxml>"#;

fn host_with(limits: Limits) -> Host {
    Host::new(HostConfig {
        log: LogMode::Capture,
        limits,
        ..HostConfig::default()
    })
}

#[test]
fn issue_11_invoke_recursion_stops_at_the_depth_bound() {
    let dir = std::env::temp_dir().join(format!("baton-issue-11-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a temporary directory");
    let path = dir.join("recursive.scxml");
    std::fs::write(&path, RECURSIVE).expect("written");
    let mut host = host_with(Limits {
        invoke_depth_max: 5,
        ..Limits::default()
    });
    let name = path.to_str().expect("a UTF-8 path");
    let doc = host.compile(RECURSIVE, name).expect("compiles");
    host.start_session(doc, Vec::new()).expect("starts");
    for now_ms in 0..50 {
        host.run_ready(now_ms, 1_000);
    }
    let log = host.take_log().join("\n");
    std::fs::remove_dir_all(&dir).expect("removed");
    assert!(log.contains("limits.invoke_depth_max"), "{log}");
    // The root and five nested invocations, no more.
    assert_eq!(host.sessions(), 6, "{log}");
}

#[test]
fn issue_11_a_tree_of_sessions_is_bounded() {
    let mut host = host_with(Limits {
        sessions_per_tree_max: 4,
        ..Limits::default()
    });
    let root = start(&mut host, FAN_OUT, "fan_out.scxml");
    for now_ms in 1..10 {
        host.run_ready(now_ms, 1_000);
    }
    let log = host.take_log().join("\n");
    // The root and three children; the other three invokes fail with error.execution.
    assert_eq!(
        log.matches("limits.sessions_per_tree_max").count(),
        3,
        "{log}"
    );
    assert_eq!(host.sessions(), 4, "{log}");
    // Another client's session is a tree of its own.
    let other = start(&mut host, FAN_OUT, "fan_out.scxml");
    for now_ms in 10..20 {
        host.run_ready(now_ms, 1_000);
    }
    assert_eq!(host.sessions(), 8);
    assert!(host.terminate(&root).is_ok());
    assert!(host.terminate(&other).is_ok());
}

/// Sends itself `loop` for ever, counting.
const LOOPER: &str = include_str!("support/looper.scxml");

fn counter(host: &mut Host, id: &str, name: &str) -> f64 {
    let info = host.query(id).expect("the session lives");
    match info.datamodel.field(name) {
        Some(Value::Number(n)) => *n,
        other => panic!("{name} is {other:?}"),
    }
}

#[test]
fn issue_11_a_send_to_self_loop_is_throttled_and_a_canary_keeps_its_turn() {
    let mut host = host_with(Limits {
        session_events_per_second_max: 100,
        ..Limits::default()
    });
    let looper = start(&mut host, LOOPER, "looper.scxml");
    let canary = start(&mut host, CANARY, "canary.scxml");
    host.send_event(&looper, Event::external("loop", Value::Null))
        .expect("delivered");
    host.send_event(&canary, Event::external("ping", Value::Null))
        .expect("delivered");
    let progress = host.run_ready(0, 100_000);
    // The looper got its 100 events of this second, the canary its ping; then the host
    // is idle until the looper's next second, not busy for ever.
    assert!(!progress.more_ready);
    assert_eq!(progress.next_timer_ms, Some(1_000));
    assert_eq!(counter(&mut host, &looper, "n"), 100.0);
    assert_eq!(counter(&mut host, &canary, "pings"), 1.0);
    host.send_event(&canary, Event::external("ping", Value::Null))
        .expect("delivered");
    host.run_ready(500, 100_000);
    assert_eq!(counter(&mut host, &canary, "pings"), 2.0, "not throttled");
    assert_eq!(counter(&mut host, &looper, "n"), 100.0, "still throttled");
    host.run_ready(1_000, 100_000);
    assert_eq!(counter(&mut host, &looper, "n"), 200.0, "its next second");
}
