//! The host's side of Baton's routing actions and of the values strategies read from
//! their hosts (`_interactions`, `_statistics`).
//!
//! The host performs `<session:response>` itself; every other extension action goes to the
//! [`ExtensionHandler`] set with [`Host::set_extension_handler`] (the routing shard's
//! orchestration), or is refused with `error.execution` when there is none (`baton run`,
//! shards other than the routing one). Host values are read-only variables the handler
//! keeps current in a session's scope; host functions are callable from every scope.

use std::rc::Rc;

use engine::datamodel::{Datamodel, HostFunction};
use engine::effects::{ExtensionAction, ExtensionError, ExtensionOutcome};
use engine::model::Document;
use engine::value::Value;

use super::directory::Phase;
use super::{datamodel, Host, StartError};

/// Performs the extension actions a host does not perform itself.
pub trait ExtensionHandler {
    /// Performs `action` for the session `session` (its id, running `doc`) at `now_ms`.
    /// Called during the session's macrostep: it must not call back into the host. Host
    /// values `doc` never reads ([`Document::mentions`]) need not be in the outcome.
    fn perform(
        &self,
        session: &str,
        doc: &Document,
        action: &ExtensionAction,
        now_ms: u64,
    ) -> Result<ExtensionOutcome, ExtensionError>;
}

impl Host {
    /// Sets what performs the routing actions of this host's sessions.
    pub fn set_extension_handler(&mut self, handler: Rc<dyn ExtensionHandler>) {
        self.core.extensions = Some(handler);
    }

    /// Installs a function every ECMAScript scope of this host can call. Fails only for a
    /// name that is not a host name (a programmer error) or a full JS heap.
    pub fn set_host_function(&mut self, name: &str, function: HostFunction) -> Result<(), String> {
        let installed = self.ecmascript.set_host_function(name, function);
        installed.map_err(|e| e.message)
    }

    /// Binds the read-only variable `name` to `value` in the scope of session `id`. False
    /// if there is no such session, or it is running (then it is the handler's outcome
    /// that updates it) or not created yet.
    pub fn set_host_value(&mut self, id: &str, name: &str, value: Value) -> bool {
        if !self.reads_host_value(id, name) {
            return true; // nothing of the document can see it
        }
        let Host {
            ecmascript,
            null,
            core,
        } = self;
        let Some(key) = core.dir.by_id(id) else {
            return false;
        };
        let Some(slot) = core.dir.get_mut(key) else {
            return false;
        };
        let session = match &slot.phase {
            Phase::Created(session) | Phase::Idle(session) => session,
            Phase::Starting { .. } | Phase::Busy => return false,
        };
        let dm = datamodel(ecmascript, null, slot.doc.datamodel);
        dm.set_host_value(session.scope(), name, &value).is_ok()
    }

    /// Whether session `id`'s document may read the host value `name` (false for no such
    /// session). Lets callers skip building values nobody reads.
    pub fn reads_host_value(&self, id: &str, name: &str) -> bool {
        let slot = self
            .core
            .dir
            .by_id(id)
            .and_then(|key| self.core.dir.get(key));
        slot.is_some_and(|slot| slot.doc.mentions(name))
    }

    /// [`Host::start_session`] with host values bound before the initial macrostep runs;
    /// answers the new session's id.
    pub fn start_session_with(
        &mut self,
        doc: Rc<Document>,
        params: Vec<(Box<str>, Value)>,
        host_values: &[(&str, Value)],
    ) -> Result<String, StartError> {
        let key = self.start_session(doc, params)?;
        let id = self
            .session_id(key)
            .expect("a session just started has an id")
            .to_owned();
        for (name, value) in host_values {
            self.set_host_value(&id, name, value.clone());
        }
        Ok(id)
    }
}

/// The refusal when no handler performs `action`.
pub(super) fn unperformed(action: &ExtensionAction) -> ExtensionError {
    let spec = action.kind.spec();
    let reason = format!(
        "<{}> ({}) is performed on the routing shard only, for sessions that own interactions",
        spec.name, spec.namespace
    );
    ExtensionError { reason }
}
