//! SCXML events: what a session's queues hold and what `_event` shows to scripts.

use crate::value::Value;

/// Which queue an event came from, as `_event.type` reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventKind {
    /// Raised by the processor itself (`done.*`, `error.*`).
    Platform,
    /// From `<raise>` or `<send target="#_internal">`.
    Internal,
    /// From the external queue: `<send>`, an invoked child, the runtime's API.
    External,
}

impl EventKind {
    /// The `_event.type` string.
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Platform => "platform",
            EventKind::Internal => "internal",
            EventKind::External => "external",
        }
    }
}

/// One event. Owned plain data, so it can cross sessions and shards.
#[derive(Clone, Debug, PartialEq)]
pub struct Event {
    /// The dotted event name, e.g. `done.state.s1` or `error.execution`.
    pub name: Box<str>,
    /// Which queue it came from.
    pub kind: EventKind,
    /// The `id` of the `<send>` that produced it, if any.
    pub sendid: Option<Box<str>>,
    /// The URI to reply to, e.g. `#_scxml_<sessionid>`.
    pub origin: Option<Box<str>>,
    /// The I/O processor type of `origin`.
    pub origintype: Option<Box<str>>,
    /// The invoke id, when the event comes from an invoked child.
    pub invokeid: Option<Box<str>>,
    /// The payload.
    pub data: Value,
    /// The message as it arrived on the wire (e.g. the HTTP request of a Basic HTTP event),
    /// for `_event.raw`; `None` for events that never crossed a protocol.
    pub raw: Option<Box<str>>,
}

impl Event {
    /// An event with only a name and a kind.
    pub fn new(name: &str, kind: EventKind) -> Event {
        Event {
            name: name.into(),
            kind,
            sendid: None,
            origin: None,
            origintype: None,
            invokeid: None,
            data: Value::Undefined,
            raw: None,
        }
    }

    /// An external event with a name and data, as the runtime API delivers one.
    pub fn external(name: &str, data: Value) -> Event {
        Event {
            data,
            ..Event::new(name, EventKind::External)
        }
    }
}
