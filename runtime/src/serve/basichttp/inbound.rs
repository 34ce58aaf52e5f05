//! `/basichttp/{id}`: an event for a session through the Basic HTTP processor.
//!
//! The request is turned into the event on the shard that received it (the request text is
//! part of the event, and only that shard has it), then queued on the session's home shard:
//! here, or by a [`Call::Queue`] over the mesh, whose answer is this request's answer.

use std::time::Instant;

use engine::event::Event;
use protocols::http::{Request, Response};

use crate::local::basichttp::event_from_request;
use crate::local::DeliverError;
use crate::serve::answer::{deliver_error, queued_answer};
use crate::serve::api::Shard;
use crate::serve::peer::{Call, Home};

/// Answers a Basic HTTP request for the session `id`, received by `shard`: 200 once the
/// event is queued, 400 for parameters that cannot be read, 404 for no such session, 503
/// when its queue is full or its shard cannot be reached (504 when it does not answer).
pub async fn answer(shard: &Shard, id: &str, request: &Request, started: Instant) -> Response {
    let event = match event_from_request(request) {
        Ok(event) => event,
        Err(error) => return Response::error(error.status(), error.reason()),
    };
    let name = event.name.clone();
    let queued = match shard.peers.home(id) {
        Home::Here(_) => queue_here(shard, id, event, started),
        Home::Nowhere => Err(DeliverError::UnknownSession),
        Home::Peer(to) => {
            shard.metrics.request_forwarded();
            let call = |reply| Call::Queue {
                to,
                event,
                started,
                reply,
            };
            match shard.peers.ask(to.shard(), Some(to), call).await {
                Ok(queued) => queued,
                Err(error) => return error.response(),
            }
        }
    };
    match queued {
        Ok(()) => queued_answer(id, &name),
        Err(e) => deliver_error(&e),
    }
}

/// Queues `event` into the session `id` of this shard and wakes the driver; `started` is
/// when the request arrived (the event latency's start).
pub fn queue_here(
    shard: &Shard,
    id: &str,
    event: Event,
    started: Instant,
) -> Result<(), DeliverError> {
    shard.host.borrow_mut().send_event(id, event)?;
    shard.metrics.event_accepted(started);
    shard.wake.wake();
    Ok(())
}
