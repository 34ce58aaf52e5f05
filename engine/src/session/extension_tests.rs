//! Routing actions at run time: generated ids and `idlocation`, the host's refusal, host
//! values from an [`ExtensionOutcome`] or bound between steps, and host functions.

use super::*;
use crate::datamodel::null::NullDatamodel;
use crate::datamodel::{Datamodel, HostFunction};
use crate::effects::{ExtensionAction, ExtensionError, ExtensionOutcome};
use crate::extension::ActionKind;

/// A host that records actions, refuses them when `refuse` is set, and answers
/// `<ixn:attach>` with the merged `_interactions`, as the runtime does.
#[derive(Default)]
struct Router {
    inner: Recorder,
    actions: Vec<ExtensionAction>,
    refuse: bool,
}

impl Effects for Router {
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
    fn extension(&mut self, action: ExtensionAction) -> Result<ExtensionOutcome, ExtensionError> {
        if self.refuse {
            let reason = "no agent".into();
            return Err(ExtensionError { reason });
        }
        let mut outcome = ExtensionOutcome::default();
        if action.kind == ActionKind::IxnAttach {
            let ixn = Value::Object(vec![("data".into(), action.data.clone())]);
            let interactions = Value::Object(vec![("i1".into(), ixn)]);
            outcome
                .host_values
                .push(("_interactions".into(), interactions));
        }
        self.actions.push(action);
        Ok(outcome)
    }
}

const NAMESPACES: &str = r#" xmlns:queue="http://baton.dev/scxml/queue"
    xmlns:ixn="http://baton.dev/scxml/ixn" xmlns:session="http://baton.dev/scxml/session""#;

struct Routed {
    dm: EcmascriptDatamodel,
    fx: Router,
    session: Session,
}

impl Routed {
    fn logs(&self) -> &[String] {
        &self.fx.inner.logs
    }

    fn event(&mut self, name: &str) {
        let event = Event::external(name, Value::Undefined);
        self.session
            .handle_event(&mut self.dm, &mut self.fx, 2, &event);
    }
}

/// Starts a session of `body` (after `<scxml ...`, namespaces declared) on a datamodel
/// prepared by `setup` before the session's scope exists.
fn route_with(body: &str, refuse: bool, setup: impl FnOnce(&mut EcmascriptDatamodel)) -> Routed {
    let limits = Limits::default();
    let doc = document(&format!("{NAMESPACES} {body}"));
    let mut dm = EcmascriptDatamodel::new(&limits, 7);
    setup(&mut dm);
    let mut fx = Router {
        refuse,
        ..Router::default()
    };
    let config = SessionConfig {
        session_id: "t1",
        params: &[],
        ioprocessors: &[],
        limits: &limits,
    };
    let mut session = Session::new(doc, &mut dm, &config).expect("scope");
    session.start(&mut dm, &mut fx, 0);
    Routed { dm, fx, session }
}

fn route(body: &str) -> Routed {
    route_with(body, false, |_| {})
}

/// The message of the last `error.execution`, logged by a document's catch-all.
const CATCH: &str = r#"<transition event="error.execution">
    <log label="error" expr="_event.data.message + ' sendid=' + _event.sendid"/></transition>"#;

#[test]
fn actions_get_fresh_ids_stored_at_idlocation() {
    let run = route(
        r#"initial="a"><datamodel><data id="first"/><data id="second"/></datamodel>
        <state id="a"><onentry>
          <queue:submit targets="sales" idlocation="first"/>
          <queue:submit targetsexpr="['a', 'b']" priorityexpr="2 + 3" idlocation="second"/>
          <ixn:terminate/><send event="x"/><session:response requestid="r"/>
          <log expr="first + ' ' + second"/></onentry></state>"#,
    );
    let ids: Vec<&str> = run.fx.actions.iter().map(|a| &*a.id).collect();
    assert_eq!(ids, ["queue.t1.1", "queue.t1.2", "ixn.t1.3", ""]);
    // One counter with `<send>`: ids never repeat within the session.
    assert_eq!(&*run.fx.inner.sent[0].sendid, "t1.4");
    assert_eq!(run.logs(), [":queue.t1.1 queue.t1.2"]);
    let second = &run.fx.actions[1];
    assert_eq!(second.kind, ActionKind::QueueSubmit);
    let targets = Value::Array(vec![Value::String("a".into()), Value::String("b".into())]);
    assert_eq!(second.arg("targets"), &targets);
    assert_eq!(second.arg("priority"), &Value::Number(5.0));
    assert_eq!(second.arg("interaction"), &Value::Undefined);
    assert_eq!(second.data, Value::Undefined);
}

#[test]
fn defaults_and_payloads_reach_the_host() {
    let run = route(
        r#"initial="a"><datamodel><data id="n" expr="3"/></datamodel>
        <state id="a"><onentry>
          <session:fetch src="http://crm.example/x"/>
          <session:fetch src="http://crm.example/y" method="POST" namelist="n"/>
          <ixn:createmessage media="sms" to="+100"><content expr="'hi ' + n"/>
          </ixn:createmessage></onentry></state>"#,
    );
    let [get, post, message] = &run.fx.actions[..] else {
        panic!("{:?}", run.fx.actions);
    };
    assert_eq!(get.arg("method"), &Value::String("GET".into()));
    assert_eq!(get.arg("timeout"), &Value::Undefined);
    assert_eq!(post.arg("method"), &Value::String("POST".into()));
    let body = Value::Object(vec![("n".into(), Value::Number(3.0))]);
    assert_eq!(post.data, body);
    assert_eq!(message.data, Value::String("hi 3".into()));
    assert_eq!(message.arg("gateway"), &Value::Undefined);
}

#[test]
fn a_bad_idlocation_is_error_execution_and_the_action_is_not_performed() {
    let run = route(&format!(
        r#"initial="a"><state id="a"><onentry>
          <queue:cancel idlocation="nowhere"/><log expr="'not reached'"/></onentry>
          {CATCH}</state>"#
    ));
    assert!(run.fx.actions.is_empty());
    assert_eq!(run.logs().len(), 1, "{:?}", run.logs());
    assert!(run.logs()[0].starts_with("error:"), "{:?}", run.logs());
}

#[test]
fn a_refused_action_raises_error_execution_with_its_id() {
    let run = route_with(
        r#"initial="a"><datamodel><data id="rid"/></datamodel><state id="a"><onentry>
          <ixn:route idlocation="rid"/><log expr="'not reached'"/></onentry>
          <transition event="error.execution" cond="_event.sendid === rid">
            <log label="error" expr="_event.data.message"/></transition></state>"#,
        true,
        |_| {},
    );
    assert_eq!(run.logs(), ["error:<route>: no agent"]);
}

#[test]
fn outcome_values_are_visible_to_the_next_instruction() {
    let run = route(&format!(
        r#"initial="a"><state id="a"><onentry>
          <ixn:attach><param name="x" expr="42"/></ixn:attach>
          <log expr="_interactions.i1.data.x"/>
          <assign location="_interactions" expr="{{}}"/></onentry>{CATCH}</state>"#
    ));
    assert_eq!(run.logs().len(), 2, "{:?}", run.logs());
    assert_eq!(run.logs()[0], ":42");
    // Read-only, like the system variables.
    assert!(
        run.logs()[1].starts_with("error:TypeError"),
        "{:?}",
        run.logs()
    );
}

#[test]
fn host_values_bound_between_steps_are_read_only() {
    let mut run = route(&format!(
        r#"initial="a"><state id="a">
          <transition event="read"><log expr="typeof _interactions"/></transition>
          <transition event="peek"><log expr="_interactions.i9.media"/></transition>
          <transition event="write"><script>_interactions = null;</script></transition>
          {CATCH}</state>"#
    ));
    run.event("read");
    assert_eq!(run.logs(), [":undefined"]);
    let ixn = Value::Object(vec![("media".into(), Value::String("chat".into()))]);
    let interactions = Value::Object(vec![("i9".into(), ixn)]);
    let bound = run
        .session
        .set_host_value(&mut run.dm, "_interactions", &interactions);
    assert_eq!(bound, Ok(()));
    run.event("peek");
    assert_eq!(run.logs()[1], ":chat");
    run.event("write");
    assert!(
        run.logs()[2].starts_with("error:TypeError"),
        "{:?}",
        run.logs()
    );
    // Names outside the host's reserve are refused.
    for name in ["interactions", "_event", "_sessionid", "_", "_a-b"] {
        let refused = run.session.set_host_value(&mut run.dm, name, &Value::Null);
        assert!(refused.is_err(), "{name}");
    }
}

/// A `_statistics(targets, media)` that reports its arguments back, or fails for "none".
fn statistics() -> HostFunction {
    Rc::new(|args: &[Value]| match args {
        [Value::String(target), ..] if &**target == "none" => Err("no such target".into()),
        [targets, rest @ ..] => Ok(Value::Object(vec![
            ("ready".into(), Value::Number(2.0)),
            ("targets".into(), targets.clone()),
            ("media".into(), rest.first().cloned().unwrap_or(Value::Null)),
        ])),
        [] => Ok(Value::Undefined),
    })
}

#[test]
fn host_functions_are_called_with_converted_arguments() {
    let run = route_with(
        &format!(
            r#"initial="a"><state id="a"><onentry>
          <log expr="_statistics(['sales', 'vip'], 'chat').ready"/>
          <log expr="JSON.stringify(_statistics(['sales'], 'chat').targets)"/>
          <log expr="_statistics('x').media"/>
          <log expr="_statistics('none')"/><log expr="'not reached'"/>
          </onentry>{CATCH}</state>"#
        ),
        false,
        |dm| {
            dm.set_host_function("_statistics", statistics())
                .expect("install")
        },
    );
    let logs = run.logs();
    assert_eq!(logs[..3], [":2", ":[\"sales\"]", ":null"]);
    assert_eq!(logs[3], "error:Error: no such target sendid=undefined");
    assert_eq!(logs.len(), 4);
}

#[test]
fn host_functions_installed_later_reach_existing_sessions_and_stay_frozen() {
    let mut run = route(&format!(
        r#"initial="a"><state id="a">
          <transition event="call"><log expr="_statistics('q').ready"/></transition>
          <transition event="mutate"><script>_statistics.extra = 1;</script></transition>
          <transition event="replace"><script>_statistics = null;</script></transition>
          {CATCH}</state>"#
    ));
    run.event("call");
    assert!(
        run.logs()[0].starts_with("error:ReferenceError"),
        "{:?}",
        run.logs()
    );
    let installed = run.dm.set_host_function("_statistics", statistics());
    assert_eq!(installed, Ok(()));
    run.event("call");
    assert_eq!(run.logs()[1], ":2");
    run.event("mutate");
    run.event("replace");
    assert!(
        run.logs()[2].starts_with("error:TypeError"),
        "{:?}",
        run.logs()
    );
    assert!(
        run.logs()[3].starts_with("error:TypeError"),
        "{:?}",
        run.logs()
    );
    let refused = run.dm.set_host_function("statistics", statistics());
    assert!(refused.is_err());
}

#[test]
fn the_null_datamodel_accepts_and_drops_host_values() {
    let text = r#"<scxml xmlns="http://www.w3.org/2005/07/scxml" version="1.0"
        datamodel="null"><state id="a"/></scxml>"#;
    let limits = Limits::default();
    let doc = compile(text, "null.scxml", &mut NoLoader, &limits).expect("compiles");
    let mut dm = NullDatamodel::default();
    let config = SessionConfig {
        session_id: "n1",
        params: &[],
        ioprocessors: &[],
        limits: &limits,
    };
    let session = Session::new(Rc::new(doc), &mut dm, &config).expect("scope");
    let value = Value::Object(Vec::new());
    assert_eq!(
        session.set_host_value(&mut dm, "_interactions", &value),
        Ok(())
    );
    assert_eq!(dm.set_host_function("_statistics", statistics()), Ok(()));
    assert_eq!(dm.snapshot(session.scope()), Value::Object(Vec::new()));
}
