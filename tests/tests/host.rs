//! The local host's own behaviours, with small documents: delivery order, `<cancel>`,
//! children, limits, ids and virtual time.

use engine::session::EndReason;
use runtime::local::{Host, HostConfig, LogMode, Outcome, VirtualClock};

use crate::support::{run_text, Run};

const HEAD: &str = r##"<scxml xmlns="http://www.w3.org/2005/07/scxml" version="1.0"
    datamodel="ecmascript""##;

fn doc(attributes: &str, body: &str) -> String {
    format!("{HEAD} {attributes}>{body}<final id=\"pass\"/><final id=\"fail\"/></scxml>")
}

fn assert_pass(run: &Run) {
    assert_eq!(
        run.final_state(),
        Some("pass"),
        "{}; log: {:#?}",
        run.describe(),
        run.log
    );
}

#[test]
fn delayed_sends_with_equal_times_arrive_in_send_order() {
    let text = doc(
        r##"initial="s0""##,
        r##"<state id="s0">
             <onentry>
               <send event="a" delay="1s"/><send event="b" delay="1s"/>
               <send event="c" delay="1s"/>
             </onentry>
             <transition event="a" target="s1"/><transition event="*" target="fail"/>
           </state>
           <state id="s1">
             <transition event="b" target="s2"/><transition event="*" target="fail"/>
           </state>
           <state id="s2">
             <transition event="c" target="pass"/><transition event="*" target="fail"/>
           </state>"##,
    );
    assert_pass(&run_text(&text, "fifo.scxml"));
}

#[test]
fn cancel_removes_a_pending_send() {
    let text = doc(
        r##"initial="s0""##,
        r##"<state id="s0">
             <onentry>
               <send id="doomed" event="late" delay="1s"/>
               <send event="timeout" delay="2s"/>
               <cancel sendid="doomed"/>
             </onentry>
             <transition event="late" target="fail"/>
             <transition event="timeout" target="pass"/>
           </state>"##,
    );
    assert_pass(&run_text(&text, "cancel.scxml"));
}

#[test]
fn an_hour_of_virtual_time_costs_no_wall_time() {
    let text = doc(
        r##"initial="s0""##,
        r##"<state id="s0">
             <onentry><send event="later" delay="3600s"/></onentry>
             <transition event="later" target="pass"/>
           </state>"##,
    );
    let started = std::time::Instant::now();
    let mut host = crate::support::capturing_host();
    let parsed = host.compile(&text, "hour.scxml").expect("compiles");
    host.start(parsed, &[], 0).expect("starts");
    let outcome = host.run(&mut VirtualClock::new(), 4_000_000, 1_000);
    assert!(matches!(outcome, Outcome::Done { ref final_state, .. } if &**final_state == "pass"));
    assert!(started.elapsed().as_secs() < 5);
}

#[test]
fn a_waiting_session_without_timers_is_quiescent() {
    let text = doc(
        r##"initial="s0""##,
        r##"<state id="s0"><transition event="go" target="pass"/></state>"##,
    );
    let run = run_text(&text, "wait.scxml");
    assert_eq!(run.outcome, Outcome::Quiescent);
    assert_eq!(run.configuration, vec![Box::from("s0")]);
}

#[test]
fn external_events_reach_the_root() {
    let text = doc(
        r##"initial="s0""##,
        r##"<state id="s0"><transition event="go" target="pass"/></state>"##,
    );
    let mut host = crate::support::capturing_host();
    let parsed = host.compile(&text, "go.scxml").expect("compiles");
    host.start(parsed, &[], 0).expect("starts");
    assert_eq!(host.configuration(), vec![Box::from("s0")]);
    host.deliver(engine::event::Event::external(
        "go",
        engine::value::Value::Null,
    ))
    .unwrap();
    let outcome = host.run(&mut VirtualClock::new(), 1_000, 100);
    assert!(matches!(outcome, Outcome::Done { .. }), "{outcome:?}");
    assert!(host
        .deliver(engine::event::Event::external(
            "go",
            engine::value::Value::Null
        ))
        .is_err());
}

#[test]
fn an_eventless_loop_is_ended_by_the_microstep_limit() {
    let text = doc(
        r##"initial="a""##,
        r##"<state id="a"><transition target="b"/></state>
           <state id="b"><transition target="a"/></state>"##,
    );
    let run = run_text(&text, "loop.scxml");
    assert!(
        matches!(
            run.outcome,
            Outcome::Ended(EndReason::MicrostepLimit { .. })
        ),
        "{run:?}"
    );
}

#[test]
fn a_child_that_cannot_load_raises_error_execution() {
    let text = doc(
        r##"initial="s0""##,
        r##"<state id="s0">
             <invoke type="scxml" src="file:does-not-exist.scxml"/>
             <transition event="error.execution" target="pass"/>
             <transition event="*" target="fail"/>
           </state>"##,
    );
    assert_pass(&run_text(&text, "/nonexistent/missing-child.scxml"));
}

#[test]
fn inline_child_talks_to_its_parent_and_ends() {
    // The invoke sits on `family`, so moving from s0 to s1 does not cancel the child.
    let text = doc(
        r##"initial="family""##,
        r##"<state id="family" initial="s0">
             <invoke id="kid" type="scxml"><content>
               <scxml xmlns="http://www.w3.org/2005/07/scxml" version="1.0"
                   datamodel="ecmascript" initial="k">
                 <state id="k">
                   <onentry><send target="#_parent" event="hello"/></onentry>
                   <transition event="ack" target="kdone"/>
                 </state>
                 <final id="kdone"/>
               </scxml>
             </content></invoke>
             <transition event="*" target="fail"/>
             <state id="s0">
               <transition event="hello" cond="_event.invokeid === 'kid'" target="s1">
                 <send target="#_kid" event="ack"/>
               </transition>
             </state>
             <state id="s1">
               <transition event="done.invoke.kid" target="pass"/>
             </state>
           </state>"##,
    );
    assert_pass(&run_text(&text, "family.scxml"));
}

#[test]
fn session_ids_follow_the_seed() {
    let text = doc(r##"initial="s0""##, r##"<state id="s0"/>"##);
    let id_for = |seed: u64| {
        let mut host = Host::new(HostConfig {
            seed,
            log: LogMode::Discard,
            ..HostConfig::default()
        });
        let parsed = host.compile(&text, "ids.scxml").expect("compiles");
        host.start(parsed, &[], 0).expect("starts");
        let root = host.root().expect("running");
        host.session_id(root).expect("has an id").to_owned()
    };
    assert_eq!(id_for(1), id_for(1));
    assert_ne!(id_for(1), id_for(2));
}

#[test]
fn reset_ends_every_session() {
    let text = doc(
        r##"initial="s0""##,
        r##"<state id="s0">
             <invoke type="scxml"><content>
               <scxml xmlns="http://www.w3.org/2005/07/scxml" version="1.0" initial="k">
                 <state id="k"/>
               </scxml>
             </content></invoke>
           </state>"##,
    );
    let mut host = crate::support::capturing_host();
    let parsed = host.compile(&text, "reset.scxml").expect("compiles");
    host.start(parsed, &[], 0).expect("starts");
    assert_eq!(
        host.run(&mut VirtualClock::new(), 1_000, 100),
        Outcome::Quiescent
    );
    assert_eq!(host.sessions(), 2, "root and child");
    host.reset();
    assert_eq!(host.sessions(), 0);
    assert!(!host.has_pending());
}

#[test]
fn a_cancelled_child_is_unreachable_at_once() {
    // Leaving s0 cancels the child before the transition's content runs, so the send to it
    // fails with error.communication.
    let text = doc(
        r##"initial="s0""##,
        r##"<state id="s0">
             <invoke id="kid" type="scxml"><content>
               <scxml xmlns="http://www.w3.org/2005/07/scxml" version="1.0" initial="k">
                 <state id="k"><onentry><send target="#_parent" event="hello"/></onentry>
                 </state>
               </scxml>
             </content></invoke>
             <transition event="hello" target="s1"><send target="#_kid" event="ack"/></transition>
           </state>
           <state id="s1">
             <transition event="error.communication" target="pass"/>
             <transition event="*" target="fail"/>
           </state>"##,
    );
    assert_pass(&run_text(&text, "cancelled.scxml"));
}
