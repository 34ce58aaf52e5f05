//! The interpreter: one SCXML session, run by the W3C algorithm (Appendix D).
//!
//! A [`Session`] owns only its own state: configuration, history, internal queue, pending
//! invocations. Its variables live in the shard's [`Datamodel`] under its [`ScopeId`]; its
//! external queue, timers and children belong to the host, which calls
//! [`Session::handle_event`] once per external event and performs the [`Effects`].

use std::rc::Rc;

use crate::datamodel::{Datamodel, ScopeError, ScopeId};
use crate::effects::Effects;
use crate::event::Event;
use crate::limits::Limits;
use crate::model::{Document, StateIdx};
use crate::value::Value;

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

/// One running SCXML session.
pub struct Session {
    doc: Rc<Document>,
    scope: ScopeId,
}

impl Session {
    /// Creates the session's scope. Nothing runs until [`Session::start`].
    pub fn new(
        doc: Rc<Document>,
        dm: &mut dyn Datamodel,
        config: &SessionConfig<'_>,
    ) -> Result<Session, ScopeError> {
        let _ = (doc, dm, config);
        unimplemented!("interpreter being written")
    }

    /// Initialises the datamodel and runs the initial macrostep.
    pub fn start(&mut self, dm: &mut dyn Datamodel, fx: &mut dyn Effects, now_ms: u64) -> Status {
        let _ = (dm, fx, now_ms);
        unimplemented!("interpreter being written")
    }

    /// Processes one external event and the macrostep that follows.
    pub fn handle_event(
        &mut self,
        dm: &mut dyn Datamodel,
        fx: &mut dyn Effects,
        now_ms: u64,
        event: &Event,
    ) -> Status {
        let _ = (dm, fx, now_ms, event);
        unimplemented!("interpreter being written")
    }

    /// The active states in document order.
    pub fn configuration(&self) -> impl Iterator<Item = StateIdx> + '_ {
        std::iter::empty()
    }

    /// The document this session runs.
    pub fn document(&self) -> &Rc<Document> {
        &self.doc
    }

    /// The session's datamodel scope.
    pub fn scope(&self) -> ScopeId {
        self.scope
    }

    /// Ends the session from outside (terminate, or the parent's state exited): cancels its
    /// invocations and delayed sends through `fx`, frees its scope. No `done` is produced.
    pub fn close(self, dm: &mut dyn Datamodel, fx: &mut dyn Effects) {
        let _ = (dm, fx);
    }
}
