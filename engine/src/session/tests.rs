//! Interpreter tests for what the W3C suite does not pin down: limits, the effects a
//! session asks for, ids, closing. Conformance itself is tested by the W3C suite in tests/.

use std::rc::Rc;

use super::{EndReason, Session, SessionConfig, Status};
use crate::compile::{compile, NoLoader};
use crate::datamodel::ecmascript::EcmascriptDatamodel;
use crate::effects::{Effects, InvokeError, InvokeRequest, Outgoing, SendError, Target};
use crate::event::Event;
use crate::limits::Limits;
use crate::model::Document;
use crate::value::Value;

/// Records every effect.
#[derive(Default)]
struct Recorder {
    sent: Vec<Outgoing>,
    cancelled: Vec<String>,
    invoked: Vec<InvokeRequest>,
    cancelled_invokes: Vec<String>,
    logs: Vec<String>,
    refuse_sends: bool,
}

impl Effects for Recorder {
    fn send(&mut self, out: Outgoing) -> Result<(), SendError> {
        if self.refuse_sends {
            return Err(SendError {
                reason: "refused".into(),
            });
        }
        self.sent.push(out);
        Ok(())
    }
    fn cancel(&mut self, sendid: &str) {
        self.cancelled.push(sendid.into());
    }
    fn invoke(&mut self, request: InvokeRequest) -> Result<(), InvokeError> {
        self.invoked.push(request);
        Ok(())
    }
    fn cancel_invoke(&mut self, invokeid: &str) {
        self.cancelled_invokes.push(invokeid.into());
    }
    fn forward(&mut self, _invokeid: &str, _event: &Event) {}
    fn log(&mut self, label: Option<&str>, message: &str) {
        self.logs.push(format!("{}:{message}", label.unwrap_or("")));
    }
}

const HEAD: &str = r#"<scxml xmlns="http://www.w3.org/2005/07/scxml" version="1.0"
 datamodel="ecmascript""#;

/// The root of a Composer-written document: ORS mode (`profile`, ORS namespaces).
const ORS_HEAD: &str = r#"<scxml xmlns="http://www.w3.org/2005/07/scxml" version="1.0"
 xmlns:queue="http://www.genesyslab.com/modules/queue"
 xmlns:ixn="www.genesyslab.com/modules/interaction" profile="ecmascript""#;

fn document(body: &str) -> Rc<Document> {
    document_with(HEAD, body)
}

fn document_with(head: &str, body: &str) -> Rc<Document> {
    let text = format!("{head} {body}</scxml>");
    match compile(&text, "test.scxml", &mut NoLoader, &Limits::default()) {
        Ok(doc) => Rc::new(doc),
        Err(e) => panic!("test document does not compile: {e}"),
    }
}

struct Run {
    dm: EcmascriptDatamodel,
    fx: Recorder,
    session: Session,
    status: Status,
}

fn start_with(body: &str, limits: Limits) -> Run {
    start_document(document(body), limits)
}

fn start_document(doc: Rc<Document>, limits: Limits) -> Run {
    let mut dm = EcmascriptDatamodel::new(&limits, 7);
    let mut fx = Recorder::default();
    let config = SessionConfig {
        session_id: "t1",
        params: &[],
        ioprocessors: &[],
        limits: &limits,
    };
    let mut session = Session::new(doc, &mut dm, &config).expect("scope");
    let status = session.start(&mut dm, &mut fx, 1_000);
    Run {
        dm,
        fx,
        session,
        status,
    }
}

fn start(body: &str) -> Run {
    start_with(body, Limits::default())
}

impl Run {
    fn event(&mut self, name: &str) -> Status {
        let event = Event::external(name, Value::Undefined);
        self.status = self
            .session
            .handle_event(&mut self.dm, &mut self.fx, 2_000, &event);
        self.status.clone()
    }

    fn active(&self) -> Vec<String> {
        let doc = self.session.document().clone();
        self.session
            .configuration()
            .map(|s| doc.state(s).id.to_string())
            .collect()
    }
}

#[test]
fn configuration_is_in_document_order_across_parallel_regions() {
    let run = start(
        r#"initial="p"><parallel id="p"><state id="a"><state id="a1"/></state>
           <state id="b"><state id="b1"/></state></parallel>"#,
    );
    assert_eq!(run.status, Status::Running);
    assert_eq!(run.active(), ["p", "a", "a1", "b", "b1"]);
}

#[test]
fn eventless_loop_is_ended_by_the_microstep_limit() {
    let limits = Limits {
        microsteps_per_macrostep_max: 50,
        ..Limits::default()
    };
    let run = start_with(
        r#"initial="a"><state id="a"><transition target="b"/></state>
           <state id="b"><transition target="a"/></state>"#,
        limits,
    );
    assert_eq!(
        run.status,
        Status::Ended(EndReason::MicrostepLimit { limit: 50 })
    );
}

#[test]
fn raise_flood_is_ended_by_the_internal_queue_limit() {
    let limits = Limits {
        internal_queue_max: 10,
        ..Limits::default()
    };
    let run = start_with(
        r#"initial="a"><state id="a"><onentry><foreach array="[1,2,3,4,5,6,7,8,9,10,11,12]"
           item="i"><raise event="x"/></foreach></onentry></state>"#,
        limits,
    );
    assert_eq!(
        run.status,
        Status::Ended(EndReason::InternalQueueLimit { limit: 10 })
    );
}

#[test]
fn delayed_send_becomes_an_effect_with_origin_and_delay() {
    let run = start(
        r#"initial="a"><state id="a"><onentry><send id="t" event="tick" delay="1.5s">
           <param name="k" expr="41 + 1"/></send></onentry></state>"#,
    );
    let out = &run.fx.sent[0];
    assert_eq!(&*out.sendid, "t");
    assert_eq!(out.target, Target::SelfExternal);
    assert_eq!(out.delay_ms, 1500);
    assert_eq!(&*out.event.name, "tick");
    assert_eq!(out.event.origin.as_deref(), Some("#_scxml_t1"));
    assert_eq!(
        out.event.data,
        Value::Object(vec![("k".into(), Value::Number(42.0))])
    );
}

#[test]
fn refused_send_raises_error_communication() {
    let doc = document(
        r##"initial="a"><state id="a"><onentry><send event="x" target="#_scxml_nobody"/>
           </onentry><transition event="error.communication" target="ok"/></state>
           <state id="ok"/>"##,
    );
    let limits = Limits::default();
    let mut dm = EcmascriptDatamodel::new(&limits, 7);
    let mut fx = Recorder {
        refuse_sends: true,
        ..Recorder::default()
    };
    let config = SessionConfig {
        session_id: "t1",
        params: &[],
        ioprocessors: &[],
        limits: &limits,
    };
    let mut session = Session::new(doc.clone(), &mut dm, &config).expect("scope");
    session.start(&mut dm, &mut fx, 0);
    let active: Vec<&str> = session.configuration().map(|s| &*doc.state(s).id).collect();
    assert_eq!(active, ["ok"]);
}

#[test]
fn leaving_a_state_cancels_its_invocation_and_close_cancels_the_rest() {
    let mut run = start(
        r#"initial="a"><state id="a"><invoke id="child" src="child.scxml"/>
           <transition event="go" target="b"/></state>
           <state id="b"><invoke id="other" src="other.scxml"/></state>"#,
    );
    assert_eq!(run.fx.invoked.len(), 1);
    assert_eq!(&*run.fx.invoked[0].invokeid, "child");
    run.event("go");
    assert_eq!(run.fx.cancelled_invokes, ["child"]);
    assert_eq!(run.fx.invoked.len(), 2);
    let Run {
        mut dm,
        mut fx,
        session,
        ..
    } = run;
    session.close(&mut dm, &mut fx);
    assert_eq!(fx.cancelled_invokes, ["child", "other"]);
}

#[test]
fn finalize_runs_only_for_the_invocation_the_event_comes_from() {
    let mut run = start(
        r#"initial="a"><datamodel><data id="n" expr="0"/></datamodel>
           <state id="a"><invoke id="child" src="c.scxml"><finalize>
           <assign location="n" expr="n + 1"/></finalize></invoke>
           <transition event="ping" cond="n === 1" target="b"/></state><state id="b"/>"#,
    );
    // An event with another session's invoke id (as an autoforwarded one carries) is
    // processed, but runs no finalize.
    let mut foreign = Event::external("other", Value::Undefined);
    foreign.invokeid = Some("not-mine".into());
    run.session
        .handle_event(&mut run.dm, &mut run.fx, 0, &foreign);
    let mut ping = Event::external("ping", Value::Undefined);
    ping.invokeid = Some("child".into());
    run.session.handle_event(&mut run.dm, &mut run.fx, 0, &ping);
    assert_eq!(run.active(), ["b"]);
}

#[test]
fn top_level_final_reports_donedata() {
    let mut run = start(
        r#"initial="a"><state id="a"><transition event="go" target="end"/></state>
           <final id="end"><donedata><param name="answer" expr="6 * 7"/></donedata></final>"#,
    );
    let status = run.event("go");
    let donedata = Value::Object(vec![("answer".into(), Value::Number(42.0))]);
    assert_eq!(
        status,
        Status::Done {
            final_state: "end".into(),
            donedata
        }
    );
}

#[test]
fn script_error_stops_the_block_and_raises_error_execution() {
    let run = start(
        r#"initial="a"><datamodel><data id="x" expr="0"/></datamodel>
           <state id="a"><onentry><assign location="x" expr="1"/>
           <assign location="x" expr="undefined.boom"/><assign location="x" expr="3"/>
           </onentry><transition event="error.execution" cond="x === 1" target="ok"/></state>
           <state id="ok"/>"#,
    );
    assert_eq!(run.active(), ["ok"]);
}

#[test]
fn unsupported_send_type_and_target_are_errors() {
    let run = start(
        r#"initial="a"><state id="a"><onentry><send event="x" type="carrier-pigeon"/>
           </onentry><transition event="error.execution" target="b"/></state>
           <state id="b"><onentry><send event="x" target="!bad"/></onentry>
           <transition event="error.execution" target="ok"/></state><state id="ok"/>"#,
    );
    assert_eq!(run.active(), ["ok"]);
    assert!(run.fx.sent.is_empty());
}

#[test]
fn generated_ids_are_unique_and_stored_at_idlocation() {
    let run = start(
        r#"initial="a"><datamodel><data id="id1"/><data id="id2"/></datamodel>
           <state id="a"><onentry><send event="x" idlocation="id1"/>
           <send event="y" idlocation="id2"/><log expr="id1 !== id2"/></onentry></state>"#,
    );
    assert_eq!(run.fx.logs, [":true"]);
    assert_ne!(run.fx.sent[0].sendid, run.fx.sent[1].sendid);
}

/// Records extension actions; refuses them when `refuse` is set.
#[derive(Default)]
struct Extensions {
    inner: Recorder,
    actions: Vec<crate::effects::ExtensionAction>,
    refuse: bool,
}

impl Effects for Extensions {
    fn send(&mut self, out: Outgoing) -> Result<(), SendError> {
        self.inner.send(out)
    }
    fn cancel(&mut self, sendid: &str) {
        self.inner.cancel(sendid)
    }
    fn invoke(&mut self, request: InvokeRequest) -> Result<(), InvokeError> {
        self.inner.invoke(request)
    }
    fn cancel_invoke(&mut self, invokeid: &str) {
        self.inner.cancel_invoke(invokeid)
    }
    fn forward(&mut self, _invokeid: &str, _event: &Event) {}
    fn log(&mut self, label: Option<&str>, message: &str) {
        self.inner.log(label, message)
    }
    fn extension(
        &mut self,
        action: crate::effects::ExtensionAction,
    ) -> Result<crate::effects::ExtensionOutcome, crate::effects::ExtensionError> {
        if self.refuse {
            let reason = "no such request".into();
            return Err(crate::effects::ExtensionError { reason });
        }
        self.actions.push(action);
        Ok(crate::effects::ExtensionOutcome::default())
    }
}

const RESPONDER: &str = r#" xmlns:session="http://baton.dev/scxml/session" initial="idle">
    <datamodel><data id="n" expr="41"/></datamodel>
    <state id="idle">
      <transition event="ask" target="answered">
        <session:response statusexpr="200 + 1" namelist="n">
          <param name="who" expr="_event.data.who"/>
        </session:response>
      </transition>
      <transition event="explicit">
        <session:response requestidexpr="'r' + 9" status="404"><content expr="[1, 2]"/>
        </session:response>
      </transition>
    </state>
    <state id="answered">
      <onentry><log expr="'after'"/></onentry>
      <transition event="error.execution" target="failed"/>
    </state>
    <state id="failed"/>"#;

fn request_event(name: &str, requestid: Option<&str>) -> Event {
    let data = Value::Object(vec![("who".into(), Value::String("ana".into()))]);
    let mut event = Event::external(name, data);
    event.sendid = requestid.map(Into::into);
    event.origintype = Some(crate::extension::REQUEST_ORIGINTYPE.into());
    event
}

fn start_responder(refuse: bool) -> (EcmascriptDatamodel, Extensions, Session) {
    let limits = Limits::default();
    let doc = document(RESPONDER);
    let mut dm = EcmascriptDatamodel::new(&limits, 7);
    let mut fx = Extensions {
        refuse,
        ..Extensions::default()
    };
    let config = SessionConfig {
        session_id: "t1",
        params: &[],
        ioprocessors: &[],
        limits: &limits,
    };
    let mut session = Session::new(doc, &mut dm, &config).expect("scope");
    assert_eq!(session.start(&mut dm, &mut fx, 0), Status::Running);
    (dm, fx, session)
}

#[test]
fn response_hands_the_evaluated_action_to_the_host() {
    use crate::extension::ActionKind;
    let (mut dm, mut fx, mut session) = start_responder(false);
    session.handle_event(
        &mut dm,
        &mut fx,
        1,
        &request_event("explicit", Some("req-1")),
    );
    let ask = request_event("ask", Some("req-2"));
    session.handle_event(&mut dm, &mut fx, 2, &ask);
    let [explicit, ask] = &fx.actions[..] else {
        panic!("two actions expected: {:?}", fx.actions);
    };
    assert_eq!(explicit.kind, ActionKind::SessionResponse);
    assert_eq!(explicit.arg("requestid"), &Value::String("r9".into()));
    assert_eq!(explicit.arg("status"), &Value::String("404".into()));
    let list = Value::Array(vec![Value::Number(1.0), Value::Number(2.0)]);
    assert_eq!(explicit.data, list);
    assert_eq!(ask.arg("requestid"), &Value::String("req-2".into()));
    assert_eq!(ask.arg("status"), &Value::Number(201.0));
    let fields = vec![
        ("n".into(), Value::Number(41.0)),
        ("who".into(), Value::String("ana".into())),
    ];
    assert_eq!(ask.data, Value::Object(fields));
    assert_eq!(ask.arg("nothing"), &Value::Undefined);
}

#[test]
fn response_without_a_request_leaves_the_id_to_the_host() {
    let (mut dm, mut fx, mut session) = start_responder(false);
    // An event that is not a request (no request origintype) carries no default id, even
    // with a sendid.
    let mut plain = request_event("ask", Some("s1"));
    plain.origintype = None;
    plain.sendid = Some("s1".into());
    session.handle_event(&mut dm, &mut fx, 1, &plain);
    assert_eq!(fx.actions[0].arg("requestid"), &Value::Undefined);
}

#[test]
fn a_refused_response_raises_error_execution() {
    let (mut dm, mut fx, mut session) = start_responder(true);
    session.handle_event(&mut dm, &mut fx, 1, &request_event("ask", Some("req-1")));
    let doc = session.document().clone();
    let active: Vec<&str> = session.configuration().map(|s| &*doc.state(s).id).collect();
    assert_eq!(active, ["failed"]);
    // The block stopped at the failed action but the transition completed: `answered` was
    // entered (its onentry ran) before the error moved the session on.
    assert_eq!(fx.inner.logs, [":after"]);
}

#[test]
fn hosts_without_extensions_refuse_them() {
    let mut run = start(
        r#" xmlns:session="http://baton.dev/scxml/session" initial="a">
        <state id="a"><transition event="go"><session:response requestid="r"/></transition>
          <transition event="error.execution" target="b">
            <log expr="_event.data.message"/></transition></state>
        <state id="b"/>"#,
    );
    run.event("go");
    assert_eq!(run.active(), ["b"]);
    let message = &run.fx.logs[0];
    assert!(message.contains("does not perform <response>"), "{message}");
}

/// Routing actions at run time: ids, `idlocation`, host values and host functions.
#[path = "extension_tests.rs"]
mod extension_tests;

fn start_ors(body: &str) -> Run {
    start_document(document_with(ORS_HEAD, body), Limits::default())
}

#[test]
fn ors_send_event_delay_and_cancel_sendid_are_expressions() {
    let run = start_ors(
        r#"initial="s"><datamodel><data id="delayValue" expr="'2s'"/>
           <data id="App_UserData1" expr="({})"/></datamodel>
           <state id="s"><onentry>
             <send event="'Entry1' + '.done'" delay="delayValue" id="t1"/>
             <send event="'later'" delay="'1s'" idlocation="App_UserData1['requestid']"/>
             <cancel sendid="App_UserData1['requestid']"/>
             <send event="'inside'" target="'_' + 'internal'"/>
           </onentry>
           <transition event="inside" target="t"/></state><state id="t"/>"#,
    );
    assert!(matches!(run.status, Status::Running), "{:?}", run.status);
    let sent: Vec<(&str, u64)> = run
        .fx
        .sent
        .iter()
        .map(|out| (&*out.event.name, out.delay_ms))
        .collect();
    assert_eq!(sent, [("Entry1.done", 2000), ("later", 1000)]);
    assert_eq!(run.fx.cancelled, [&*run.fx.sent[1].sendid]);
    // `'_internal'` is the internal queue: the event was taken in the same macrostep.
    assert_eq!(run.active(), ["t"]);
}

#[test]
fn ors_raise_params_are_the_event_data_and_data_names_the_datamodel() {
    let run = start_ors(
        r#"initial="s"><datamodel><data id="system" expr="({ context: 1 })"/></datamodel>
           <script>function f() { return 1; }</script>
           <script>function f() { return 2; } _data.system.context = f(); _data.fresh = 3;</script>
           <state id="s"><onentry>
             <raise event="application.start"><param name="interactionid" expr="'ixn-1'"/></raise>
           </onentry>
           <transition event="application.start"
             cond="_event.data.interactionid === 'ixn-1' &amp;&amp; system.context === 2
                   &amp;&amp; fresh === 3 &amp;&amp; _data.fresh === 3" target="ok"/>
           <transition event="*" target="failed"/></state>
           <final id="ok"/><final id="failed"/>"#,
    );
    assert!(
        matches!(&run.status, Status::Done { final_state, .. } if &**final_state == "ok"),
        "{:?}",
        run.status
    );
}

#[test]
fn w3c_documents_keep_w3c_meanings() {
    // A literal event name is the name itself, not an expression.
    let run = start(
        r#"initial="s"><state id="s"><onentry><send event="done.x" delay="1s"/></onentry>
           </state>"#,
    );
    assert_eq!(&*run.fx.sent[0].event.name, "done.x");
    // `<raise>` takes no `<param>`, and `_data` is no variable.
    let text = format!(
        r#"{HEAD} initial="s"><state id="s"><onentry><raise event="e">
           <param name="a" expr="1"/></raise></onentry></state></scxml>"#
    );
    let refused = compile(&text, "t.scxml", &mut NoLoader, &Limits::default());
    assert!(
        refused.is_err(),
        "a <param> in a W3C <raise> must be refused"
    );
    let run = start(
        r#"initial="s"><state id="s"><transition cond="typeof _data === 'undefined'"
           target="ok"/><transition target="failed"/></state><final id="ok"/>
           <final id="failed"/>"#,
    );
    assert!(
        matches!(&run.status, Status::Done { final_state, .. } if &**final_state == "ok"),
        "{:?}",
        run.status
    );
}

#[test]
fn ors_builtins_raise_log_and_tell_the_states_and_the_document() {
    let run = start_ors(
        r#"initial="s"><datamodel><data id="seen" expr="''"/></datamodel>
           <state id="s"><onentry><script>
             seen = __GetCurrentStates().join(',') + ' ' + __GetDocumentURL();
             __Log('hello ' + ({ a: 1 }).toSource(), 'label', 4);
             __Raise('rethrown', { reason: 'x' });
           </script></onentry>
           <transition event="rethrown" cond="_event.data.reason === 'x'
             &amp;&amp; seen === 's test.scxml'" target="ok"/>
           <transition event="*" target="failed"/></state>
           <final id="ok"/><final id="failed"/>"#,
    );
    assert!(
        matches!(&run.status, Status::Done { final_state, .. } if &**final_state == "ok"),
        "{:?} {:?}",
        run.status,
        run.fx.logs
    );
    assert_eq!(run.fx.logs, ["label:hello ({\"a\":1})"]);
}
