//! Datamodels: where a session's variables live and its expressions run.
//!
//! One [`Datamodel`] instance serves every session of one shard (one thread): for
//! ECMAScript that is one QuickJS runtime and context, with one scope object per session,
//! so a session costs an object, not a context. Sessions address their scope with a
//! [`ScopeId`]. Every expression of a document is compiled once, on the first
//! [`Datamodel::create_scope`] for that document, and reused by all its sessions.
//!
//! Errors from evaluation are [`ScriptError`]s; the interpreter turns them into
//! `error.execution` events in the failing session. A datamodel never panics on user input.

pub mod ecmascript;
pub mod null;

use std::rc::Rc;

use crate::event::Event;
use crate::model::{DataIdx, Document, ExprIdx};
use crate::value::Value;

/// A session's scope inside a shard's datamodel. Generation-checked by the implementation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ScopeId {
    /// Slot index.
    pub slot: u32,
    /// Generation of the slot, so a stale id cannot reach a reused slot.
    pub generation: u32,
}

/// Why an evaluation failed. Becomes the `error.execution` event's data (`message`).
#[derive(Clone, Debug, PartialEq)]
pub struct ScriptError {
    /// A human-readable reason, e.g. `ReferenceError: x is not defined`.
    pub message: String,
}

impl ScriptError {
    /// An error with a message.
    pub fn new(message: impl Into<String>) -> ScriptError {
        ScriptError {
            message: message.into(),
        }
    }
}

/// Why a scope could not be created (a typed refusal, e.g. the JS heap is exhausted).
#[derive(Clone, Debug, PartialEq)]
pub struct ScopeError {
    /// Why.
    pub message: String,
}

/// The system variables of a session (`_sessionid`, `_name`, `_ioprocessors`).
#[derive(Clone, Debug)]
pub struct SystemVars<'a> {
    /// `_sessionid`.
    pub session_id: &'a str,
    /// `_name` (the `name` of `<scxml>`, or empty).
    pub name: &'a str,
    /// `_ioprocessors`: I/O processor type name (`"scxml"`, `"basichttp"`, and the full
    /// type URIs) to its `location` for this session.
    pub ioprocessors: &'a [(&'a str, &'a str)],
}

/// A function the host makes callable from every session's expressions (e.g.
/// `_statistics(targets)`): it gets the call's arguments as plain values and returns the
/// result, or a message that the call throws as an `Error` (an uncaught one becomes
/// `error.execution` in the session). It runs while the datamodel is evaluating, in the
/// middle of a step, so it must not call back into the datamodel nor borrow host state that
/// is borrowed while a session steps; it may be called whenever a script runs.
pub type HostFunction = Rc<dyn Fn(&[Value]) -> Result<Value, String>>;

/// The system variables a host value or function must not replace.
const SYSTEM_VARIABLES: [&str; 5] = ["_sessionid", "_name", "_ioprocessors", "_x", "_event"];

/// True for a name the host may bind ([`Datamodel::set_host_value`],
/// [`Datamodel::set_host_function`]): an identifier that starts with `_` (the prefix SCXML
/// reserves for the platform) and is not one of SCXML's system variables.
pub fn is_host_name(name: &str) -> bool {
    let bytes = name.as_bytes();
    name.len() > 1
        && bytes[0] == b'_'
        && bytes
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || b == b'_' || b == b'$')
        && !SYSTEM_VARIABLES.contains(&name)
}

/// What a script asked of its session through a built-in function (ORS's `__Raise` and
/// `__Log`), for the session to perform once the instruction that ran it is done.
#[derive(Clone, Debug, PartialEq)]
pub enum ScriptEffect {
    /// `__Raise(name, params)`: an internal event.
    Raise {
        /// The event name.
        name: String,
        /// Its data (`params`).
        data: Value,
    },
    /// `__Log(message, label, level)`: a `<log>`.
    Log {
        /// The label (may be empty).
        label: String,
        /// The message.
        message: String,
    },
}

/// A datamodel serving the sessions of one shard.
pub trait Datamodel {
    /// Creates a session scope for `doc` with its system variables bound (read-only) and
    /// every `<data>` variable declared (`undefined`). Compiles the document's expressions
    /// on first use.
    fn create_scope(
        &mut self,
        doc: &Rc<Document>,
        sys: &SystemVars<'_>,
    ) -> Result<ScopeId, ScopeError>;

    /// Frees a scope. A stale id is ignored.
    fn drop_scope(&mut self, scope: ScopeId);

    /// Sets the clock that `Date.now()` and `new Date()` read for the following evaluations.
    fn set_now(&mut self, now_ms: u64);

    /// Sets `_event` for the following evaluations in `scope`. Called for every event the
    /// session processes when [`Document::uses_event`] is set. An error (the heap share
    /// used up, data that cannot convert) is the session's `error.execution`: `_event` is
    /// then the event with `data` undefined, or, if even that failed, the previous event.
    fn set_event(&mut self, scope: ScopeId, event: &Event) -> Result<(), ScriptError>;

    /// Tells the datamodel the active configuration for `In()`: bit `i` of the words is
    /// state `i`. Called after every configuration change when [`Document::uses_in`] is set.
    fn set_configuration(&mut self, scope: ScopeId, active: &[u64]);

    /// Initialises one `<data>`: evaluates its expression or converts its value, assigns it.
    /// On error the variable stays `undefined` and the error is returned.
    fn init_data(&mut self, scope: ScopeId, data: DataIdx) -> Result<(), ScriptError>;

    /// Assigns a value from outside (invoke `<param>`/namelist, session start parameters)
    /// to the top-level variable `name`, if it is declared. Returns false if it is not; an
    /// assignment that fails (the heap share used up) is an error, never silent.
    fn set_variable(
        &mut self,
        scope: ScopeId,
        name: &str,
        value: &Value,
    ) -> Result<bool, ScriptError>;

    /// Evaluates a [`crate::model::ExprKind::Cond`] to a boolean.
    fn eval_cond(&mut self, scope: ScopeId, expr: ExprIdx) -> Result<bool, ScriptError>;

    /// Evaluates a [`crate::model::ExprKind::Value`] (or reads a `Location`) to a value.
    fn eval_value(&mut self, scope: ScopeId, expr: ExprIdx) -> Result<Value, ScriptError>;

    /// Evaluates an expression and converts the result to a string (`String(x)`), for
    /// `eventexpr`, `targetexpr`, `typeexpr`, `delayexpr`, `srcexpr`, `sendidexpr`, `<log>`.
    fn eval_string(&mut self, scope: ScopeId, expr: ExprIdx) -> Result<String, ScriptError>;

    /// `<assign location expr>`: evaluates `expr` and assigns it to `location`. Assigning
    /// to an undeclared location or to a system variable is an error.
    fn assign(
        &mut self,
        scope: ScopeId,
        location: ExprIdx,
        expr: ExprIdx,
    ) -> Result<(), ScriptError>;

    /// Assigns a plain value (inline `<assign>` content, generated ids for `idlocation`).
    fn assign_value(
        &mut self,
        scope: ScopeId,
        location: ExprIdx,
        value: &Value,
    ) -> Result<(), ScriptError>;

    /// Runs a [`crate::model::ExprKind::Script`].
    fn run_script(&mut self, scope: ScopeId, script: ExprIdx) -> Result<(), ScriptError>;

    /// `<foreach>` start: evaluates `array`, keeps a shallow copy on a loop stack, and
    /// returns its length. An error if it is not an iterable collection.
    fn foreach_begin(&mut self, scope: ScopeId, array: ExprIdx) -> Result<u32, ScriptError>;

    /// Assigns item `i` of the innermost loop to `item` (and `i` to `index`). Declares the
    /// variables if they do not exist; an error if `item` is not a legal variable name.
    fn foreach_assign(
        &mut self,
        scope: ScopeId,
        item: ExprIdx,
        index: Option<ExprIdx>,
        i: u32,
    ) -> Result<(), ScriptError>;

    /// Pops the innermost loop.
    fn foreach_end(&mut self, scope: ScopeId);

    /// The session's top-level variables as a JSON-able value (for queries and debugging).
    fn snapshot(&mut self, scope: ScopeId) -> Value;

    /// Binds, or replaces, the top-level variable `name` of `scope` to a value the host
    /// keeps (e.g. `_interactions`). The session reads it like a system variable: assigning
    /// to it is an error (`error.execution`); its fields are plain data, and changing them
    /// changes only this session's copy until the host binds it again. A name that was
    /// never bound is not declared (reading it is a `ReferenceError`). An error if `name`
    /// is not a host name ([`is_host_name`]) or the value cannot be converted (heap full).
    fn set_host_value(
        &mut self,
        scope: ScopeId,
        name: &str,
        value: &Value,
    ) -> Result<(), ScriptError>;

    /// Installs (or replaces) `name` as a function callable from the expressions of every
    /// scope, existing and future, unless a session's own variable of that name hides it.
    /// Arguments and result convert like `<send>` data. An error if `name` is not a host
    /// name ([`is_host_name`]) or the function cannot be created (heap full).
    fn set_host_function(&mut self, name: &str, f: HostFunction) -> Result<(), ScriptError>;

    /// What scripts of `scope` asked for through built-ins since the last call, in order
    /// (see [`ScriptEffect`]). Cheap when there is none.
    fn take_script_effects(&mut self, _scope: ScopeId) -> Vec<ScriptEffect> {
        Vec::new()
    }
}
