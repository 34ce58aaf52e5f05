//! Fixtures shared by Baton's benchmarks: documents, a do-nothing effects sink, and
//! helpers that compile and start sessions the way the runtime does.

pub mod loadgen;
pub mod routegen;

use std::rc::Rc;

use engine::compile::{compile, NoLoader};
use engine::datamodel::ecmascript::EcmascriptDatamodel;
use engine::effects::{Effects, InvokeError, InvokeRequest, Outgoing, SendError};
use engine::event::Event;
use engine::limits::Limits;
use engine::model::Document;
use engine::session::{Session, SessionConfig, Status};

/// The W3C-style ping-pong chart every engine comparison uses (`../shared/bench`).
pub const PINGPONG: &str = include_str!("../../../shared/bench/pingpong.scxml");

/// Ping-pong with a `cond` on every transition.
pub fn pingpong_with_cond() -> String {
    PINGPONG.replace(
        "<transition event=\"e\"",
        "<transition event=\"e\" cond=\"n &gt;= 0\"",
    )
}

/// A small routing strategy: customer data, a segment decision in script, a queue request.
pub const ROUTING_STRATEGY: &str = r##"<scxml xmlns="http://www.w3.org/2005/07/scxml"
    version="1.0" datamodel="ecmascript" initial="classify">
  <datamodel>
    <data id="customer" expr="({ id: 'c-1', ani: '+15551234', tier: 'gold' })"/>
    <data id="segment" expr="'standard'"/>
    <data id="target" expr="null"/>
    <data id="attempts" expr="0"/>
  </datamodel>
  <state id="classify">
    <onentry>
      <if cond="customer.tier === 'gold'">
        <assign location="segment" expr="'priority'"/>
      <else/>
        <assign location="segment" expr="'standard'"/>
      </if>
    </onentry>
    <transition target="queued"/>
  </state>
  <state id="queued">
    <onentry>
      <assign location="attempts" expr="attempts + 1"/>
      <send event="queue.submit" target="#_internal" namelist="segment attempts"/>
    </onentry>
    <transition event="queue.submit" target="waiting"/>
  </state>
  <state id="waiting">
    <transition event="agent.ready" target="routed">
      <assign location="target" expr="_event.data.agent"/>
    </transition>
    <transition event="timeout" target="queued" cond="attempts &lt; 3"/>
  </state>
  <final id="routed"/>
</scxml>"##;

/// A routing-style document with `states` states: a menu of branches, each with entry
/// actions, guarded transitions and a nested confirmation state.
pub fn routing_document(states: usize) -> String {
    let branches = states.saturating_sub(2) / 2;
    let mut doc = String::from(
        r#"<scxml xmlns="http://www.w3.org/2005/07/scxml" version="1.0" datamodel="ecmascript"
  initial="menu"><datamodel><data id="choice" expr="0"/><data id="log" expr="[]"/></datamodel>
<state id="menu">"#,
    );
    for i in 0..branches {
        doc.push_str(&format!(
            r#"<transition event="dtmf.{i}" cond="choice &gt;= 0" target="branch{i}"/>"#
        ));
    }
    doc.push_str("</state>");
    for i in 0..branches {
        doc.push_str(&format!(
            r#"<state id="branch{i}" initial="confirm{i}">
  <onentry><assign location="choice" expr="{i}"/><log label="branch" expr="choice"/></onentry>
  <state id="confirm{i}"><transition event="yes" target="done"/>
    <transition event="no" target="menu"><assign location="log" expr="log.concat([{i}])"/>
    </transition></state>
</state>"#
        ));
    }
    doc.push_str(r#"<final id="done"/></scxml>"#);
    doc
}

/// Compiles a document or panics with its error (fixtures are known good).
pub fn compile_fixture(text: &str, name: &str) -> Rc<Document> {
    match compile(text, name, &mut NoLoader, &Limits::default()) {
        Ok(doc) => Rc::new(doc),
        Err(e) => panic!("fixture {name} does not compile: {e}"),
    }
}

/// An effects sink that accepts everything and does nothing.
#[derive(Default)]
pub struct NullEffects {
    /// How many sends were accepted (so the work cannot be optimised away).
    pub sends: u64,
}

impl Effects for NullEffects {
    fn send(&mut self, _out: Outgoing) -> Result<(), SendError> {
        self.sends += 1;
        Ok(())
    }
    fn cancel(&mut self, _sendid: &str) {}
    fn invoke(&mut self, _request: InvokeRequest) -> Result<(), InvokeError> {
        Ok(())
    }
    fn cancel_invoke(&mut self, _invokeid: &str) {}
    fn forward(&mut self, _invokeid: &str, _event: &Event) {}
    fn log(&mut self, _label: Option<&str>, _message: &str) {}
}

/// Creates and starts one session of `doc`.
pub fn start_session(
    doc: &Rc<Document>,
    dm: &mut EcmascriptDatamodel,
    fx: &mut NullEffects,
    id: &str,
    limits: &Limits,
) -> Session {
    let config = SessionConfig {
        session_id: id,
        params: &[],
        ioprocessors: &[],
        limits,
    };
    let mut session = match Session::new(doc.clone(), dm, &config) {
        Ok(session) => session,
        Err(e) => panic!("cannot create a session: {}", e.message),
    };
    let status = session.start(dm, fx, 0);
    assert!(
        matches!(status, Status::Running),
        "fixture session stopped at start: {status:?}"
    );
    session
}
