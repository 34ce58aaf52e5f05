//! The interpreter: one SCXML session, run by the W3C algorithm (SCXML 1.0, Appendix D).
//!
//! A [`Session`] owns only its own state: configuration, history, internal queue, active
//! invocations. Its variables live in the shard's [`Datamodel`] under its [`ScopeId`]; its
//! external queue, timers and children belong to the host, which calls
//! [`Session::handle_event`] once per external event and performs the [`Effects`].
//!
//! The module is split by the algorithm's parts: [`select`] (enabled transitions and
//! conflicts), [`enter`] (exit and entry sets, history), [`exec`] (executable content) and
//! [`outbound`] (`<send>`, `<invoke>`, payloads).

mod bits;
mod enter;
mod exec;
mod extension;
mod outbound;
mod select;
#[cfg(test)]
mod tests;

use std::collections::VecDeque;
use std::rc::Rc;

pub use bits::Bits;

use crate::datamodel::{Datamodel, ScopeError, ScopeId, ScriptError, SystemVars};
use crate::effects::{Effects, SCXML_PROCESSOR};
use crate::event::{Event, EventKind};
use crate::limits::Limits;
use crate::model::{Binding, Block, Document, InvokeIdx, StateIdx, TransitionIdx};
use crate::value::Value;

/// The root (`<scxml>`) is state 0; it is never part of the configuration.
const ROOT: StateIdx = StateIdx(0);

/// How a session starts.
#[derive(Clone, Debug)]
pub struct SessionConfig<'a> {
    /// `_sessionid`; also used in `#_scxml_<sessionid>` origins.
    pub session_id: &'a str,
    /// Values for top-level `<data>` of the same name (invoke params, API start parameters).
    pub params: &'a [(Box<str>, Value)],
    /// `_ioprocessors` entries beyond the SCXML processor, e.g. `("basichttp", "http://...")`.
    pub ioprocessors: &'a [(&'a str, &'a str)],
    /// Bounds.
    pub limits: &'a Limits,
}

/// Why a session ended without reaching a final state.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum EndReason {
    /// More microsteps in one macrostep than [`Limits::microsteps_per_macrostep_max`].
    MicrostepLimit {
        /// The bound.
        limit: u32,
    },
    /// The internal queue grew past [`Limits::internal_queue_max`].
    InternalQueueLimit {
        /// The bound.
        limit: u32,
    },
}

impl std::fmt::Display for EndReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            EndReason::MicrostepLimit { limit } => {
                write!(
                    f,
                    "more than {limit} microsteps in one macrostep (a transition loop?)"
                )
            }
            EndReason::InternalQueueLimit { limit } => {
                write!(f, "internal event queue longer than {limit}")
            }
        }
    }
}

/// What a session is doing after a step.
#[derive(Clone, Debug, PartialEq)]
pub enum Status {
    /// Waiting for external events.
    Running,
    /// Reached a top-level final state. The host sends `done.invoke.<id>` with `donedata`
    /// to the parent, if any.
    Done {
        /// The final state's id.
        final_state: Box<str>,
        /// The evaluated `<donedata>`, or `Undefined`.
        donedata: Value,
    },
    /// Ended by a limit.
    Ended(EndReason),
}

/// An `<invoke>` whose child is running.
#[derive(Clone, Debug)]
struct Invocation {
    invoke: InvokeIdx,
    id: Box<str>,
    autoforward: bool,
}

/// Reusable buffers for one microstep, kept so that steady-state steps do not allocate.
#[derive(Debug, Default)]
struct Scratch {
    enabled: Vec<TransitionIdx>,
    exit: Bits,
    enter: Bits,
    default_entry: Bits,
    default_history: Vec<(StateIdx, Block)>,
}

/// The bounds a session checks while running (copied from [`Limits`]).
#[derive(Clone, Copy, Debug)]
struct SessionLimits {
    microsteps_max: u32,
    internal_queue_max: u32,
    foreach_items_max: u32,
}

/// One running SCXML session.
pub struct Session {
    doc: Rc<Document>,
    scope: ScopeId,
    /// `#_scxml_<sessionid>`: the origin of every event this session sends.
    location: Box<str>,
    limits: SessionLimits,
    configuration: Bits,
    to_invoke: Bits,
    /// States whose `<data>` are initialised (late binding).
    data_bound: Bits,
    history: Vec<(StateIdx, Vec<StateIdx>)>,
    internal: VecDeque<Event>,
    invocations: Vec<Invocation>,
    status: Status,
    /// A top-level final state was entered: the interpreter exits after this microstep.
    stopping: bool,
    ids_issued: u64,
    scratch: Scratch,
    /// Start parameters, applied once by [`Session::start`].
    params: Vec<(Box<str>, Value)>,
    /// The request id of the external event being processed, if it is a request: what
    /// `<session:response>` answers by default. Tracked only when the document has
    /// extension actions.
    request: Option<Box<str>>,
}

/// What a step may touch: the shard's datamodel, the host's effects, the document.
struct Cx<'a> {
    dm: &'a mut dyn Datamodel,
    fx: &'a mut dyn Effects,
    doc: &'a Document,
}

impl Session {
    /// Creates the session's scope. Nothing runs until [`Session::start`].
    pub fn new(
        doc: Rc<Document>,
        dm: &mut dyn Datamodel,
        config: &SessionConfig<'_>,
    ) -> Result<Session, ScopeError> {
        let location: Box<str> = format!("#_scxml_{}", config.session_id).into();
        let mut ioprocessors = vec![("scxml", &*location), (SCXML_PROCESSOR, &*location)];
        ioprocessors.extend_from_slice(config.ioprocessors);
        let sys = SystemVars {
            session_id: config.session_id,
            name: doc.name.as_deref().unwrap_or(""),
            ioprocessors: &ioprocessors,
        };
        let scope = dm.create_scope(&doc, &sys)?;
        let states = doc.states.len();
        let limits = SessionLimits {
            microsteps_max: config.limits.microsteps_per_macrostep_max,
            internal_queue_max: config.limits.internal_queue_max,
            foreach_items_max: config.limits.foreach_items_max,
        };
        Ok(Session {
            doc,
            scope,
            location,
            limits,
            configuration: Bits::with_states(states),
            to_invoke: Bits::with_states(states),
            data_bound: Bits::with_states(states),
            history: Vec::new(),
            internal: VecDeque::new(),
            invocations: Vec::new(),
            status: Status::Running,
            stopping: false,
            ids_issued: 0,
            scratch: Scratch::default(),
            params: config.params.to_vec(),
            request: None,
        })
    }

    /// Initialises the datamodel (then assigns the config's `params` to the top-level data
    /// of the same names) and runs the initial macrostep.
    pub fn start(&mut self, dm: &mut dyn Datamodel, fx: &mut dyn Effects, now_ms: u64) -> Status {
        assert!(self.configuration.is_empty(), "a session starts once");
        dm.set_now(now_ms);
        let doc = self.doc.clone();
        let mut cx = Cx { dm, fx, doc: &doc };
        let params = std::mem::take(&mut self.params);
        self.init_datamodel(&mut cx, &params);
        let initial = doc.state(ROOT).initial;
        assert!(
            initial.is_some(),
            "the compiler gives the root an initial transition"
        );
        if let Some(initial) = initial {
            self.enter_states(&mut cx, &[initial]);
        }
        self.run_macrostep(&mut cx);
        self.status.clone()
    }

    /// Processes one external event and the macrostep that follows.
    pub fn handle_event(
        &mut self,
        dm: &mut dyn Datamodel,
        fx: &mut dyn Effects,
        now_ms: u64,
        event: &Event,
    ) -> Status {
        if !self.is_running() {
            return self.status.clone();
        }
        dm.set_now(now_ms);
        let doc = self.doc.clone();
        let mut cx = Cx { dm, fx, doc: &doc };
        if doc.uses_event {
            self.bind_event(&mut cx, event);
        }
        if !doc.extensions.is_empty() {
            self.request = extension::request_of(event);
        }
        self.finalize_invocation(&mut cx, event);
        for inv in self.invocations.iter().filter(|inv| inv.autoforward) {
            cx.fx.forward(&inv.id, event);
        }
        let mut enabled = std::mem::take(&mut self.scratch.enabled);
        self.select_transitions(&mut cx, Some(&event.name), &mut enabled);
        if !enabled.is_empty() {
            self.microstep(&mut cx, &enabled, Some(&event.name));
        }
        self.scratch.enabled = enabled;
        self.run_macrostep(&mut cx);
        self.status.clone()
    }

    /// The active states in document order.
    pub fn configuration(&self) -> impl Iterator<Item = StateIdx> + '_ {
        self.configuration.iter()
    }

    /// The status after the last step.
    pub fn status(&self) -> &Status {
        &self.status
    }

    /// The document this session runs.
    pub fn document(&self) -> &Rc<Document> {
        &self.doc
    }

    /// The session's datamodel scope.
    pub fn scope(&self) -> ScopeId {
        self.scope
    }

    /// Binds, or replaces, a host value (e.g. `_interactions`) in this session's scope
    /// between steps, for the expressions that run from the next step on. The session reads
    /// it but cannot assign it ([`Datamodel::set_host_value`]).
    pub fn set_host_value(
        &self,
        dm: &mut dyn Datamodel,
        name: &str,
        value: &Value,
    ) -> Result<(), ScriptError> {
        dm.set_host_value(self.scope, name, value)
    }

    /// Ends the session from outside (terminate, or the parent's state exited): as the
    /// specification's `exitInterpreter` on cancellation, exits every active state (onexit
    /// handlers run, invocations are cancelled through `fx`), then frees the scope. No
    /// `done` is produced; the host drops the session's pending delayed sends. Also the way
    /// to free a session that has already ended (`Done` or `Ended`): then only the scope is
    /// freed.
    pub fn close(mut self, dm: &mut dyn Datamodel, fx: &mut dyn Effects) {
        self.request = None;
        if self.status == Status::Running {
            let doc = self.doc.clone();
            let mut cx = Cx {
                dm: &mut *dm,
                fx: &mut *fx,
                doc: &doc,
            };
            let exiting: Vec<StateIdx> = self.configuration.iter_rev().collect();
            for s in exiting {
                self.run_onexit(&mut cx, s);
                self.configuration.remove(s);
            }
        }
        for inv in &self.invocations {
            fx.cancel_invoke(&inv.id);
        }
        dm.drop_scope(self.scope);
    }

    fn is_running(&self) -> bool {
        self.status == Status::Running && !self.stopping
    }

    /// Early binding initialises every `<data>`; late binding only the top-level ones (the
    /// rest on first entry of their state). Errors become `error.execution`.
    fn init_datamodel(&mut self, cx: &mut Cx<'_>, params: &[(Box<str>, Value)]) {
        let doc = cx.doc;
        for (i, data) in doc.data.iter().enumerate() {
            if doc.binding == Binding::Early || data.state == ROOT {
                let result = cx.dm.init_data(self.scope, crate::model::DataIdx(i as u32));
                if let Err(e) = result {
                    self.raise_error(exec::ExecError::script(e));
                }
            }
        }
        self.data_bound.insert(ROOT);
        for (name, value) in params {
            // An undeclared name is ignored; a failed assignment is never silent.
            if let Err(e) = cx.dm.set_variable(self.scope, name, value) {
                self.raise_error(exec::ExecError::script(e));
            }
        }
        for &script in &doc.scripts {
            if let Err(e) = cx.dm.run_script(self.scope, script) {
                self.raise_error(exec::ExecError::script(e));
            }
            self.perform_script_effects(cx);
        }
    }

    /// Runs `<finalize>` for an event from one of this session's active invocations, and
    /// forgets the invocation once its `done.invoke` arrives. Events from cancelled children
    /// never arrive: the host unlinks a child when its invocation is cancelled. An unknown
    /// `invokeid` is not ours to judge (an autoforwarded event keeps the parent's).
    fn finalize_invocation(&mut self, cx: &mut Cx<'_>, event: &Event) {
        let Some(invokeid) = event.invokeid.as_deref() else {
            return;
        };
        let Some(pos) = self.invocations.iter().position(|inv| &*inv.id == invokeid) else {
            return;
        };
        let finalize = cx.doc.invokes[self.invocations[pos].invoke.0 as usize].finalize;
        if !finalize.is_empty() {
            self.execute(cx, finalize);
        }
        if event.name.strip_prefix("done.invoke.") == Some(invokeid) {
            self.invocations.swap_remove(pos);
        }
    }

    /// Sets `_event` to `event`; a failure is the session's `error.execution`, except for
    /// an `error.*` event itself, whose failure raised again would loop for ever.
    fn bind_event(&mut self, cx: &mut Cx<'_>, event: &Event) {
        let Err(e) = cx.dm.set_event(self.scope, event) else {
            return;
        };
        if !event.name.starts_with("error.") {
            self.raise_error(exec::ExecError::script(e));
        }
    }

    /// The W3C main loop from after an event's microstep to the next stable configuration:
    /// eventless transitions and internal events, then invocations, until quiescent.
    fn run_macrostep(&mut self, cx: &mut Cx<'_>) {
        let mut microsteps: u32 = 0;
        let mut enabled = std::mem::take(&mut self.scratch.enabled);
        loop {
            while self.is_running() {
                self.select_transitions(cx, None, &mut enabled);
                let mut event_name = None;
                if enabled.is_empty() {
                    let Some(event) = self.internal.pop_front() else {
                        break;
                    };
                    if cx.doc.uses_event {
                        self.bind_event(cx, &event);
                    }
                    self.select_transitions(cx, Some(&event.name), &mut enabled);
                    event_name = Some(event.name);
                }
                if enabled.is_empty() {
                    continue;
                }
                microsteps += 1;
                if microsteps > self.limits.microsteps_max {
                    let limit = self.limits.microsteps_max;
                    self.status = Status::Ended(EndReason::MicrostepLimit { limit });
                    break;
                }
                self.microstep(cx, &enabled, event_name.as_deref());
            }
            if self.stopping {
                self.exit_interpreter(cx);
            }
            if self.status != Status::Running {
                break;
            }
            self.start_invocations(cx);
            if self.internal.is_empty() {
                break;
            }
        }
        self.scratch.enabled = enabled;
    }

    /// Exits every active state (onexit, cancel invocations) and reports the final state.
    fn exit_interpreter(&mut self, cx: &mut Cx<'_>) {
        let exiting: Vec<StateIdx> = self.configuration.iter_rev().collect();
        let mut outcome = None;
        for s in exiting {
            self.run_onexit(cx, s);
            self.configuration.remove(s);
            let state = cx.doc.state(s);
            if state.kind == crate::model::StateKind::Final && state.parent == Some(ROOT) {
                let donedata = self.eval_donedata(cx, s);
                outcome = Some((state.id.clone(), donedata));
            }
        }
        self.stopping = false;
        let (final_state, donedata) = outcome.unwrap_or_default();
        self.status = Status::Done {
            final_state,
            donedata,
        };
    }

    /// Places an event on the internal queue, ending the session if the queue is full.
    fn enqueue_internal(&mut self, event: Event) {
        if self.internal.len() >= self.limits.internal_queue_max as usize {
            let limit = self.limits.internal_queue_max;
            self.status = Status::Ended(EndReason::InternalQueueLimit { limit });
            return;
        }
        self.internal.push_back(event);
    }

    /// A fresh id for `<send>`s and `<invoke>`s without one: unique within the session.
    fn issue_id(&mut self, prefix: &str) -> Box<str> {
        self.ids_issued += 1;
        format!("{prefix}{}.{}", &self.location[8..], self.ids_issued).into()
    }
}

impl Event {
    /// A platform event (`done.*`, `error.*`) with data.
    pub(crate) fn platform(name: &str, data: Value) -> Event {
        Event {
            data,
            ..Event::new(name, EventKind::Platform)
        }
    }
}
