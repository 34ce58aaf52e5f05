//! Effects: what a session asks its host (the runtime, or `baton run`) to do.
//!
//! The engine performs no I/O. During a macrostep it calls these methods; the host performs
//! them after, or during, the step. A host that cannot deliver a `<send>` answers with a
//! [`SendError`] synchronously, so the session can place `error.communication` on its
//! internal queue at the right moment, as the specification requires.

use crate::event::Event;
use crate::extension::ActionKind;
use crate::value::Value;

/// The I/O processor type URI of the SCXML event processor.
pub const SCXML_PROCESSOR: &str = "http://www.w3.org/TR/scxml/#SCXMLEventProcessor";
/// The I/O processor type URI of the Basic HTTP event processor.
pub const BASICHTTP_PROCESSOR: &str = "http://www.w3.org/TR/scxml/#BasicHTTPEventProcessor";
/// The invoke type URI for SCXML child sessions.
pub const SCXML_INVOKE: &str = "http://www.w3.org/TR/scxml/";

/// Where a `<send>` goes.
#[derive(Clone, Debug, PartialEq)]
pub enum Target {
    /// No target: this session's external queue.
    SelfExternal,
    /// `#_internal` with a delay (without one the session queues it itself).
    SelfInternal,
    /// `#_parent`.
    Parent,
    /// `#_<invokeid>`: a child this session invoked.
    Invoked(Box<str>),
    /// `#_scxml_<sessionid>`.
    Session(Box<str>),
    /// Any other URI, for a non-SCXML I/O processor (e.g. Basic HTTP).
    Uri(Box<str>),
}

/// An event leaving a session.
#[derive(Clone, Debug, PartialEq)]
pub struct Outgoing {
    /// The send id (generated when the `<send>` has none), for `<cancel>`.
    pub sendid: Box<str>,
    /// Where to.
    pub target: Target,
    /// The I/O processor type URI (normalised: `scxml` becomes [`SCXML_PROCESSOR`]).
    pub type_: Box<str>,
    /// Delay in ms; 0 means now.
    pub delay_ms: u64,
    /// The event as the receiver will see it (origin, origintype, sendid filled in).
    pub event: Event,
}

/// Why the host refuses to hold one more delayed send of a session: a bound of the
/// sender's own, so the sender gets `error.execution` and the send is not made.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum DelayedRefusal {
    /// `limits.delayed_sends_max` sends of the session are pending.
    Count {
        /// Pending sends.
        pending: u32,
        /// The bound.
        pending_max: u32,
    },
    /// The session's pending payloads and this one would pass
    /// `limits.delayed_send_bytes_max`.
    Bytes {
        /// Payload bytes of the session's pending sends.
        pending_bytes: u64,
        /// Payload bytes of the refused send.
        payload_bytes: u64,
        /// The bound.
        bytes_max: u32,
    },
}

impl std::fmt::Display for DelayedRefusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DelayedRefusal::Count {
                pending,
                pending_max,
            } => write!(
                f,
                "{pending} delayed sends are pending (limits.delayed_sends_max is {pending_max})"
            ),
            DelayedRefusal::Bytes {
                pending_bytes,
                payload_bytes,
                bytes_max,
            } => write!(
                f,
                "{pending_bytes} bytes of delayed sends are pending and this one has \
                 {payload_bytes} (limits.delayed_send_bytes_max is {bytes_max})"
            ),
        }
    }
}

impl Outgoing {
    /// Whether the host holds it for a while: a delay, or `#_internal` (which the host
    /// returns to the session's internal queue when due).
    pub fn is_delayed(&self) -> bool {
        self.delay_ms > 0 || self.target == Target::SelfInternal
    }

    /// The bytes the send holds while pending: its event's strings and data, its target
    /// and ids. An estimate of the heap it keeps, counted the same way on every host.
    pub fn payload_bytes(&self) -> u64 {
        let event = &self.event;
        let text = |s: &Option<Box<str>>| s.as_ref().map_or(0, |s| s.len() as u64);
        let target = match &self.target {
            Target::Invoked(s) | Target::Session(s) | Target::Uri(s) => s.len() as u64,
            _ => 0,
        };
        let fields = [
            &event.sendid,
            &event.origin,
            &event.origintype,
            &event.invokeid,
        ];
        let ids: u64 = fields.into_iter().map(text).sum();
        let own = (self.sendid.len() + self.type_.len() + event.name.len()) as u64;
        own + target + ids + text(&event.raw) + event.data.heap_bytes()
    }
}

/// Why a send could not be dispatched: the session gets `error.communication`.
#[derive(Clone, Debug, PartialEq)]
pub struct SendError {
    /// Why.
    pub reason: String,
}

/// A request to start a child session.
#[derive(Clone, Debug, PartialEq)]
pub struct InvokeRequest {
    /// The invoke id, unique within the parent.
    pub invokeid: Box<str>,
    /// The invoke type URI (normalised: `scxml` becomes [`SCXML_INVOKE`]).
    pub type_: Box<str>,
    /// The `src`, resolved by the host against [`InvokeRequest::base`].
    pub src: Option<Box<str>>,
    /// The parent document's location, to resolve a relative `src`.
    pub base: Box<str>,
    /// Inline child document (`<content>`), as XML text or a string.
    pub content: Option<Value>,
    /// `namelist` and `<param>` values, to initialise the child's data.
    pub params: Vec<(Box<str>, Value)>,
    /// `autoforward="true"`.
    pub autoforward: bool,
}

/// Why an invocation could not start: the session gets `error.execution`.
#[derive(Clone, Debug, PartialEq)]
pub struct InvokeError {
    /// Why.
    pub reason: String,
}

/// A Baton extension action ([`crate::extension`]), evaluated, for the host to perform.
#[derive(Clone, Debug, PartialEq)]
pub struct ExtensionAction {
    /// Which action.
    pub kind: ActionKind,
    /// The id the session generated for this execution (stored at the element's
    /// `idlocation`, if any); empty for actions without one (`<session:response>`). The
    /// host echoes it as `_event.sendid` and `_event.data.requestid` of the events that
    /// report the action's outcome, so a strategy can correlate them.
    pub id: Box<str>,
    /// Every attribute of the action's spec, in spec order: a literal as a string, an
    /// expression's value, or the spec's default when the element has neither.
    pub args: Vec<(&'static str, Value)>,
    /// `namelist` and `<param>` values as an object, or `<content>`; `Undefined` if none.
    pub data: Value,
}

impl ExtensionAction {
    /// The value of the attribute `name` (`Undefined` if the spec has no such attribute).
    pub fn arg(&self, name: &str) -> &Value {
        const UNDEFINED: &Value = &Value::Undefined;
        let found = self.args.iter().find(|(n, _)| *n == name);
        found.map_or(UNDEFINED, |(_, value)| value)
    }
}

/// What performing an extension action changes in the session right away.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ExtensionOutcome {
    /// Host values (e.g. `_interactions`) the session binds in its scope right after the
    /// action, before the next executable content runs, through
    /// [`crate::datamodel::Datamodel::set_host_value`].
    pub host_values: Vec<(Box<str>, Value)>,
}

/// Why the host could not perform an extension action: the session gets `error.execution`.
#[derive(Clone, Debug, PartialEq)]
pub struct ExtensionError {
    /// Why.
    pub reason: String,
}

/// What the host does for a session. Implemented by the runtime and by `baton run`.
pub trait Effects {
    /// Whether the host will hold the delayed send `out` (see [`Outgoing::is_delayed`]),
    /// asked before [`Effects::send`]: a refusal raises `error.execution` in the sender.
    fn admit_delayed(&mut self, out: &Outgoing) -> Result<(), DelayedRefusal> {
        let _ = out;
        Ok(())
    }
    /// Dispatches or schedules an event. An error raises `error.communication`.
    fn send(&mut self, out: Outgoing) -> Result<(), SendError>;
    /// Cancels a delayed send of this session that has not fired yet.
    fn cancel(&mut self, sendid: &str);
    /// Starts a child session. Its events come back with `invokeid` set; when it ends,
    /// the host delivers `done.invoke.<invokeid>`.
    fn invoke(&mut self, request: InvokeRequest) -> Result<(), InvokeError>;
    /// Cancels a child session (its state was exited); no `done.invoke` follows.
    fn cancel_invoke(&mut self, invokeid: &str);
    /// Forwards an external event to an autoforwarding child.
    fn forward(&mut self, invokeid: &str, event: &Event);
    /// Performs a Baton extension action (e.g. `<session:response>`), or starts it: an
    /// action whose result comes later answers with an event carrying the action's id. An
    /// error raises `error.execution` (with the action's id as `_event.sendid`). Default:
    /// refused, for hosts that perform none.
    fn extension(&mut self, action: ExtensionAction) -> Result<ExtensionOutcome, ExtensionError> {
        let spec = action.kind.spec();
        let reason = format!(
            "this host does not perform <{}> ({})",
            spec.name, spec.namespace
        );
        Err(ExtensionError { reason })
    }
    /// `<log>` output.
    fn log(&mut self, label: Option<&str>, message: &str);
    /// A microstep's transitions, for tracing (`baton run --trace`). Default: ignored.
    fn trace(&mut self, _line: &str) {}
    /// Whether [`Effects::trace`] wants lines, so the session skips formatting otherwise.
    fn tracing(&self) -> bool {
        false
    }
}
