//! The W3C Basic HTTP Event I/O Processor as a host sees it: a [`BasicHttpProcessor`] that
//! gives each session its `_ioprocessors` location and performs the sends that are due.
//!
//! The engine's `Effects::send` is synchronous, so the host hands a due send to its
//! processor and learns at once only whether the processor took it. Two implementations:
//! - [`BasicHttp`] (`baton run`, the conformance suite): a loopback listener thread and a
//!   blocking client; a send returns once the peer has the event.
//! - the server's (`baton serve`, `crate::serve::basichttp`): the location is the server's
//!   public URL, and a send is queued to an asynchronous POST on the shard; a failure found
//!   later comes back into the sending session as `error.communication`.
//!
//! Both build events from requests and form bodies from sends with [`wire`].

mod loopback;
mod wire;

use engine::effects::SendError;
use engine::event::{Event, EventKind};
use engine::value::Value;

pub use loopback::{post, BasicHttp, Incoming};
pub use wire::{event_data, event_from_request, form_body, EVENT_NAME_PARAM};

/// One Basic HTTP send that is due, as owned plain data.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpSend {
    /// The sending session's id: where an error found later goes.
    pub from: Box<str>,
    /// The `<send>`'s id (given or generated), for the `error.communication` of a failure.
    pub sendid: Box<str>,
    /// The target URL, as the document gave it.
    pub url: Box<str>,
    /// The `application/x-www-form-urlencoded` body ([`form_body`]).
    pub body: String,
}

/// A host's Basic HTTP processor.
pub trait BasicHttpProcessor {
    /// The URL at which the session `session_id` receives events (its `_ioprocessors`
    /// location), or `None` when this host has no address others can reach; sends work
    /// either way.
    fn location(&self, session_id: &str) -> Option<String>;

    /// Performs a due send. `Ok`: the processor took it (delivered, or in flight: a later
    /// failure is queued into the sender as `error.communication`). `Err`: it was refused,
    /// and the sender gets `error.communication` now.
    fn post(&mut self, send: HttpSend) -> Result<(), SendError>;

    /// An event that arrived for a session of this host and waits to be queued, if any.
    /// Default: none (a processor that queues arrivals itself).
    fn try_recv(&self) -> Option<Incoming> {
        None
    }
}

/// The `error.communication` event of the send `sendid`, which failed for `reason` after it
/// was taken: the event the engine raises for a refused send, with the same `sendid` and
/// `data.message`, for the sender's external queue.
pub fn communication_error(sendid: Box<str>, reason: &str) -> Event {
    let mut event = Event::new("error.communication", EventKind::Platform);
    event.sendid = Some(sendid);
    event.data = Value::Object(vec![("message".into(), Value::String(reason.into()))]);
    event
}
