//! The measurement: one glommio executor pinned to `--core` runs the setup, then
//! `--concurrency` POST connections and one task reading every offer stream, all spinning
//! (the core is the generator's).
//!
//! Open loop: interaction `i` is due at `start + i × interval`; an idle connection takes
//! the next due slot, waits for its time and sends. Its stamp `t` is the due time, so when
//! every connection is busy or the server is slow, the wait shows in the latency instead of
//! slowing the schedule (no coordinated omission). Closed loop: every connection sends its
//! next interaction as soon as the previous POST is answered, stamped with the send time.
//! After the last send, offers still due get one second ([`OFFER_WAIT_MS`]); those that do
//! not come are reported missing.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::{Duration, Instant};

use glommio::{LocalExecutorBuilder, Placement};

use super::arrivals::Arrivals;
use super::conn::Conn;
use super::ledger::{Ledger, Summary};
use super::options::Options;
use super::setup::{self, ROUTE_TARGETS};
use crate::loadgen::report::ErrorKind;
use crate::loadgen::wait::{sleep_until, WaitMode};

/// Locked io memory of the generator's executor (the host allows 8 MiB per process).
const IO_MEMORY_BYTES: usize = 1 << 20;
/// How long an offer may take after the last send before it counts as missing.
pub const OFFER_WAIT_MS: u64 = 1000;

/// Runs setup and measurement on a pinned executor and returns the report line.
pub fn run(options: Options) -> Result<serde_json::Value, String> {
    let core = usize::from(options.core);
    let executor = LocalExecutorBuilder::new(Placement::Fixed(core))
        .name("routegen")
        .io_memory(IO_MEMORY_BYTES)
        .make()
        .map_err(|e| format!("cannot start an executor on core {core}: {e}"))?;
    executor.run(measure(Rc::new(options)))
}

/// What the tasks share (one thread: `RefCell`s are never held across an `.await`).
struct Context {
    options: Rc<Options>,
    /// The generator's clock origin: every stamp is nanoseconds since it.
    base: Instant,
    arrivals: RefCell<Arrivals>,
    ledger: RefCell<Ledger>,
    slot_next: Cell<u64>,
    stamp_last: Cell<u64>,
    start_ns: u64,
    end_ns: u64,
    slot_interval_ns: f64,
    /// Some connection is still sending.
    sending: Cell<bool>,
    /// The offer reader failed: stop sending.
    failed: Cell<bool>,
}

impl Context {
    fn now_ns(&self) -> u64 {
        since_ns(self.base, Instant::now())
    }
}

fn since_ns(base: Instant, at: Instant) -> u64 {
    at.saturating_duration_since(base).as_nanos() as u64
}

async fn measure(options: Rc<Options>) -> Result<serde_json::Value, String> {
    let base = Instant::now();
    let arrivals = RefCell::new(Arrivals::new()?);
    setup::agents(&options, &arrivals).await?;
    let waiting = setup::backlog(&options).await?;
    let start_ns = since_ns(base, Instant::now());
    let warm_ns = start_ns + u64::from(options.warmup_s) * 1_000_000_000;
    let end_ns = warm_ns + u64::from(options.duration_s) * 1_000_000_000;
    let ctx = Rc::new(Context {
        options: options.clone(),
        base,
        arrivals,
        ledger: RefCell::new(Ledger::new(warm_ns..end_ns)),
        slot_next: Cell::new(0),
        stamp_last: Cell::new(0),
        start_ns,
        end_ns,
        slot_interval_ns: options.rate_per_s.map_or(0.0, |rate| 1e9 / f64::from(rate)),
        sending: Cell::new(true),
        failed: Cell::new(false),
    });
    let reader = glommio::spawn_local(read_offers(ctx.clone()));
    let workers: Vec<_> = (0..options.concurrency)
        .map(|_| glommio::spawn_local(worker(ctx.clone())))
        .collect();
    for task in workers {
        task.await;
    }
    ctx.sending.set(false);
    reader.await?;
    let summary = Summary {
        mode: if options.rate_per_s.is_some() {
            "open"
        } else {
            "closed"
        },
        rate_target_per_s: options.rate_per_s,
        concurrency: options.concurrency,
        agents: options.agents,
        backlog: options.backlog,
        waiting,
        duration_s: options.duration_s,
        warmup_s: options.warmup_s,
    };
    let report = ctx.ledger.borrow().to_json(&summary);
    Ok(report)
}

/// Reads the offer streams until sending is over and every offer came or had its time.
async fn read_offers(ctx: Rc<Context>) -> Result<(), String> {
    let mut arrivals = Vec::with_capacity(256);
    let mut wait_end = None;
    loop {
        if let Err(message) = ctx.arrivals.borrow_mut().poll(&mut arrivals) {
            ctx.failed.set(true);
            return Err(message);
        }
        if !arrivals.is_empty() {
            let mut ledger = ctx.ledger.borrow_mut();
            for arrival in arrivals.drain(..) {
                ledger.offered(arrival.stamp_ns, since_ns(ctx.base, arrival.arrived));
            }
        }
        if !ctx.sending.get() {
            let now = Instant::now();
            let end = *wait_end.get_or_insert(now + Duration::from_millis(OFFER_WAIT_MS));
            if ctx.ledger.borrow().outstanding() == 0 || now >= end {
                return Ok(());
            }
        }
        futures_lite::future::yield_now().await;
    }
}

/// One connection's loop until the measured window is over.
async fn worker(ctx: Rc<Context>) {
    let options = &ctx.options;
    let mut conn = Conn::new(options.address, &options.host, options.timeout_ms);
    let body_head = format!(
        r#"{{"media":"chat","entry_point":"{}","data":{{"targets":"{ROUTE_TARGETS}","t":"#,
        options.route_entry
    );
    let mut body = String::with_capacity(body_head.len() + 24);
    while !ctx.failed.get() {
        let Some(stamp_ns) = next_stamp(&ctx).await else {
            break;
        };
        body.clear();
        body.push_str(&body_head);
        body.push_str(&stamp_ns.to_string());
        body.push_str("}}");
        ctx.ledger.borrow_mut().sent(stamp_ns, ctx.now_ns());
        let result = conn
            .exchange("POST", "/interactions", body.as_bytes())
            .await;
        let answered_ns = ctx.now_ns();
        let mut ledger = ctx.ledger.borrow_mut();
        let outcome = match result {
            Ok(response) if response.status == 201 => Ok(()),
            Ok(response) => {
                ledger.status_refused(response.status);
                Err(ErrorKind::Status)
            }
            Err(kind) => Err(kind),
        };
        ledger.answered(stamp_ns, answered_ns, outcome);
    }
}

/// The stamp of this connection's next interaction, once it is due; `None` when the
/// measured window is over.
async fn next_stamp(ctx: &Context) -> Option<u64> {
    if ctx.options.rate_per_s.is_none() {
        let now_ns = ctx.now_ns();
        if now_ns >= ctx.end_ns {
            return None;
        }
        // Unique even if two connections send within the clock's resolution.
        let stamp_ns = now_ns.max(ctx.stamp_last.get() + 1);
        ctx.stamp_last.set(stamp_ns);
        return Some(stamp_ns);
    }
    let slot = ctx.slot_next.get();
    ctx.slot_next.set(slot + 1);
    let due_ns = ctx.start_ns + (slot as f64 * ctx.slot_interval_ns) as u64;
    if due_ns >= ctx.end_ns {
        return None;
    }
    sleep_until(ctx.base + Duration::from_nanos(due_ns), WaitMode::Busy).await;
    Some(due_ns)
}
