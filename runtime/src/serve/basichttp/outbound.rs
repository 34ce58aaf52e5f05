//! Basic HTTP sends from a shard's sessions: each due send becomes a task that POSTs the
//! form through the shard's outbound client ([`crate::outbound::Outbound`]: `[outbound]`
//! trust roots, client certificate, client-side port rules and timeouts).
//!
//! The host hands a send over during a macrostep, with the host borrowed, so nothing here
//! may wait or borrow it: [`ShardBasicHttp::post`] checks what it can at once (a target
//! that is not an `http(s)` URL, the in-flight bound) and spawns the POST. The task borrows
//! the host only after its awaits, to queue `error.communication` into the sender when the
//! peer cannot be reached or answers other than 2xx.

use std::cell::Cell;
use std::rc::{Rc, Weak};

use engine::effects::SendError;

use crate::local::basichttp::communication_error;
use crate::local::{BasicHttpProcessor, HttpSend};
use crate::outbound::Url;
use crate::serve::api::Shard;

/// The shard's Basic HTTP processor, owned by its host.
pub struct ShardBasicHttp {
    /// The shard, for the tasks (weak: the shard owns the host, which owns this).
    shard: Weak<Shard>,
    /// The base URL of the sessions' locations, if one is known.
    location_base: Option<Box<str>>,
    /// Sends taken and not yet answered.
    in_flight: Rc<Cell<u32>>,
    /// `basichttp.sends_in_flight_max`.
    in_flight_max: u32,
}

impl ShardBasicHttp {
    /// The processor of `shard`, its sessions located under `location_base` (without a
    /// trailing `/`: the configuration trims it).
    pub fn new(
        shard: Weak<Shard>,
        location_base: Option<&str>,
        in_flight_max: u32,
    ) -> ShardBasicHttp {
        assert!(in_flight_max > 0);
        ShardBasicHttp {
            shard,
            location_base: location_base.map(Into::into),
            in_flight: Rc::default(),
            in_flight_max,
        }
    }
}

impl BasicHttpProcessor for ShardBasicHttp {
    fn location(&self, session_id: &str) -> Option<String> {
        let base = self.location_base.as_deref()?;
        Some(format!("{base}/basichttp/{session_id}"))
    }

    fn post(&mut self, send: HttpSend) -> Result<(), SendError> {
        let url = Url::parse(&send.url).map_err(|error| SendError {
            reason: format!("bad Basic HTTP target {error}"),
        })?;
        let in_flight_max = self.in_flight_max;
        if self.in_flight.get() >= in_flight_max {
            let reason = format!(
                "{in_flight_max} Basic HTTP sends are in flight on this shard \
                 (basichttp.sends_in_flight_max)"
            );
            return Err(SendError { reason });
        }
        let Some(shard) = self.shard.upgrade() else {
            let reason = "the shard is stopping".to_owned();
            return Err(SendError { reason });
        };
        let slot = InFlight::take(&self.in_flight);
        let task = glommio::spawn_local(async move {
            deliver(&shard, &url, send).await;
            drop(slot);
        });
        task.detach();
        Ok(())
    }
}

/// One send counted in flight until dropped (answered, or its task dropped at shutdown).
struct InFlight(Rc<Cell<u32>>);

impl InFlight {
    fn take(count: &Rc<Cell<u32>>) -> InFlight {
        count.set(count.get() + 1);
        InFlight(Rc::clone(count))
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        let count = self.0.get();
        assert!(count > 0);
        self.0.set(count - 1);
    }
}

/// POSTs `send` to `url`; a failure becomes `error.communication` in the sender (dropped if
/// it has ended or its queue is full, as any event to it would be).
async fn deliver(shard: &Shard, url: &Url, send: HttpSend) {
    // The task may first run while the host is still borrowed by the macrostep that
    // handed the send over, and a destination `[[outbound.allow]]` refuses fails without
    // awaiting anything: yield once, so the borrow below never meets the macrostep's.
    futures_lite::future::yield_now().await;
    let headers = [("Content-Type", "application/x-www-form-urlencoded")];
    let outbound = shard.documents.outbound();
    let answered = outbound
        .request("POST", url, &headers, send.body.as_bytes())
        .await;
    let reason = match answered {
        Ok(response) if (200..300).contains(&response.status) => return,
        Ok(response) => format!("{url} answered {}", response.status),
        Err(error) => format!("{url}: {error}"),
    };
    let event = communication_error(send.sendid, &reason);
    let queued = shard.host.borrow_mut().send_event(&send.from, event);
    if queued.is_ok() {
        shard.wake.wake();
    }
}
