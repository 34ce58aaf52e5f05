//! The W3C Basic HTTP Event I/O Processor in `baton serve`, both directions.
//!
//! In: every HTTP listener serves `/basichttp/{id}` (any method, [`inbound`]). The request
//! becomes an event exactly as in `baton run` ([`crate::local::basichttp::event_from_request`]:
//! `_scxmleventname` names it, else `HTTP.<METHOD>`; the other parameters are `_event.data`;
//! the request text is `_event.raw`), queued into the session on its home shard, forwarded
//! over the mesh when it lives on another; the answer is 200 once queued, 404 for no such
//! session, 503 for a full queue. A session's `_ioprocessors` location is the configured
//! public base URL followed by that path ([`crate::config::BasicHttpLocation`]).
//!
//! Out: a due `<send type="...#BasicHTTPEventProcessor">` is handed by the host to the
//! shard's [`ShardBasicHttp`], which starts an asynchronous form POST through the shard's
//! outbound client ([`outbound`]); a failure found later is queued into the sender as
//! `error.communication` with the send's `sendid`.

pub mod inbound;
pub mod outbound;

use std::rc::Rc;

use super::api::Shard;
use crate::config::Config;

pub use outbound::ShardBasicHttp;

/// Gives `shard`'s host its Basic HTTP processor: sessions started from now on get their
/// location in `_ioprocessors` (when one is known) and can send.
pub fn join(shard: &Rc<Shard>, config: &Config) {
    let location = config.basichttp_location();
    let processor = ShardBasicHttp::new(
        Rc::downgrade(shard),
        location.base(),
        config.basichttp.sends_in_flight_max,
    );
    shard.host.borrow_mut().set_basichttp(Box::new(processor));
}
