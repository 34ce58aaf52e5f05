//! The shard's driver task: runs the host until nothing is runnable, then sleeps until the
//! next delayed send is due or a handler queues new work ([`Wake`]). When it runs out of
//! ready work it records the event-to-macrostep latency of the events accepted meanwhile
//! (see [`super::metrics`] for the approximation) and counts the sessions that finished.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use engine::session::Status;
use futures_lite::future;
use protocols::http::server::StopSignal;

use super::api::Shard;
use super::routing_api::pump;
use crate::local::{Clock, Finished, RealClock};

/// Steps per turn before the driver yields to the shard's I/O tasks (so a busy host cannot
/// starve the listeners).
pub const STEPS_PER_TURN: u64 = 256;

/// Longest sleep with nothing scheduled: the driver wakes anyway to notice a stop.
const IDLE_SLEEP: Duration = Duration::from_secs(1);

/// A reusable, shard-local wake-up: handlers call [`Wake::wake`] after queueing work; the
/// driver awaits [`Wake::wait`]. A wake with no waiter is remembered, never lost.
#[derive(Debug, Default)]
pub struct Wake {
    woken: Cell<bool>,
    waker: RefCell<Option<Waker>>,
}

impl Wake {
    /// Signals the driver.
    pub fn wake(&self) {
        self.woken.set(true);
        if let Some(waker) = self.waker.borrow_mut().take() {
            waker.wake();
        }
    }

    /// Completes at the next (or a pending) wake.
    pub fn wait(&self) -> WakeWait<'_> {
        WakeWait { wake: self }
    }
}

/// The future of [`Wake::wait`].
pub struct WakeWait<'a> {
    wake: &'a Wake,
}

impl Future for WakeWait<'_> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.wake.woken.replace(false) {
            return Poll::Ready(());
        }
        *self.wake.waker.borrow_mut() = Some(cx.waker().clone());
        Poll::Pending
    }
}

/// Runs the shard's sessions until `stop` is raised.
pub async fn drive(shard: Rc<Shard>, stop: StopSignal) {
    let clock = RealClock::new();
    // One timer, reset each time the driver sleeps: a new one per sleep would register and
    // deregister with the reactor on every turn, which at thousands of turns a second is
    // measurable.
    let mut timer = glommio::timer::Timer::new(IDLE_SLEEP);
    while !stop.is_stopped() {
        let progress = shard
            .host
            .borrow_mut()
            .run_ready(clock.now_ms(), STEPS_PER_TURN);
        shard.host.borrow_mut().flush_log();
        let replies = shard.host.borrow_mut().take_replies();
        shard.replies.resolve(replies);
        let finished = shard.host.borrow_mut().take_finished();
        let routing_deadline_ms = routing_turn(&shard, &finished, clock.now_ms());
        let sip = shard.sip.borrow().clone();
        let sip_deadline_ms = sip.and_then(|sip| sip.run_timers());
        let routing_deadline_ms = earliest(routing_deadline_ms, sip_deadline_ms);
        for done in finished {
            shard.metrics.session_finished(&done.status);
            // Normal ends are only counted (a line per session would cost every session a
            // write to stderr); an end forced by a limit is what an operator must see.
            if let Status::Ended(reason) = &done.status {
                eprintln!("baton: session {} ended by a limit: {reason}", done.id);
            }
        }
        if progress.more_ready {
            future::yield_now().await;
            continue;
        }
        if shard.metrics.events_pending() {
            shard.metrics.events_processed(Instant::now());
        }
        let next_ms = earliest(progress.next_timer_ms, routing_deadline_ms);
        let sleep = match next_ms {
            Some(at_ms) => clock.duration_until(at_ms).min(IDLE_SLEEP),
            None => IDLE_SLEEP,
        };
        timer.reset(sleep);
        let woken = shard.wake.wait();
        let timed_out = async {
            (&mut timer).await;
        };
        let stopped = stop.wait();
        future::or(future::or(woken, timed_out), stopped).await;
    }
}

fn earliest(a: Option<u64>, b: Option<u64>) -> Option<u64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// The routing shard's part of a driver turn: ends the interactions of `finished` sessions,
/// runs the router's deadlines that are due, and hands what that produced to the host.
/// Answers when the router next needs a turn.
fn routing_turn(shard: &Rc<Shard>, finished: &[Finished], now_ms: u64) -> Option<u64> {
    let orchestration = shard.orchestration.as_ref()?;
    let next_ms = {
        let mut orchestration = orchestration.borrow_mut();
        for done in finished {
            orchestration.session_ended(&done.id, now_ms);
        }
        if orchestration
            .next_deadline_ms()
            .is_some_and(|at_ms| at_ms <= now_ms)
        {
            orchestration.expire(now_ms);
        }
        let keepalive_ms = orchestration.keep_alive(now_ms);
        let deadline_ms = orchestration.next_deadline_ms();
        Some(deadline_ms.map_or(keepalive_ms, |at_ms| at_ms.min(keepalive_ms)))
    };
    pump(shard);
    next_ms
}
