//! Issue 11: each session has its share of the shard's JS heap. A session that hoards
//! memory gets `error.execution` naming the bound; a canary session on the same host keeps
//! assigning and starting; the hoarder's memory returns when it ends.

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
