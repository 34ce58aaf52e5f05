//! The generator's loop: one glommio executor pinned to `--core`, `--concurrency`
//! keep-alive connections, each with one request in flight.
//!
//! Closed loop: every connection sends its next iteration as soon as the previous one is
//! answered. Open loop: iteration `i` is due at `start + i × interval`; an idle connection
//! takes the next due slot, waits for its time and sends. When every connection is busy the
//! slot waits, and its latency is measured from the *scheduled* time, so a server that falls
//! behind shows its queueing delay instead of slowing the generator down (coordinated
//! omission). Later requests of a start→event→terminate iteration depend on the previous
//! answer and are measured from when that answer arrived.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::{Duration, Instant};

use glommio::{LocalExecutorBuilder, Placement};
use protocols::http::client::{self, LocalBind};
use protocols::http::{HttpLimits, OutboundRequest, Response};
use protocols::tls::{ClientTls, MaybeTls};

use super::options::{server_name, Options, Scenario};
use super::report::{ErrorKind, Stats};
use super::wait::{sleep_until, ClientStream, WaitMode};

/// Locked io memory of the generator's executor (the host allows 8 MiB per process).
const IO_MEMORY_BYTES: usize = 1 << 20;
/// Pause after a failed connect, so a dead server is not hammered in a tight loop.
const CONNECT_RETRY_MS: u64 = 10;
/// Response bodies kept at most (session API answers are tiny).
const RESPONSE_BODY_BYTES_MAX: u32 = 64 * 1024;

/// Runs the whole measurement on a pinned executor and returns the report line.
pub fn run(options: Options) -> Result<serde_json::Value, String> {
    let core = usize::from(options.core);
    let executor = LocalExecutorBuilder::new(Placement::Fixed(core))
        .name("loadgen")
        .io_memory(IO_MEMORY_BYTES)
        .make()
        .map_err(|e| format!("cannot start an executor on core {core}: {e}"))?;
    executor.run(measure(Rc::new(options)))
}

/// What every connection's task shares (one thread: `Rc` and `RefCell`, never held across
/// an `.await`).
struct Context {
    options: Rc<Options>,
    tls: Option<ClientTls>,
    limits: HttpLimits,
    stats: RefCell<Stats>,
    slot_next: Cell<u64>,
    sessions: RefCell<Vec<String>>,
    start: Instant,
    warm_end: Instant,
    end: Instant,
    slot_interval_ns: f64,
}

async fn measure(options: Rc<Options>) -> Result<serde_json::Value, String> {
    let tls = match (&options.ca, options.tls) {
        (Some(ca), true) => {
            let pem = std::fs::read(ca).map_err(|e| format!("--ca {}: {e}", ca.display()))?;
            let tls = ClientTls::load(Some(&pem), None).map_err(|e| format!("--ca: {e}"))?;
            Some(tls.for_shard())
        }
        _ => None,
    };
    let limits = HttpLimits {
        body_bytes_max: RESPONSE_BODY_BYTES_MAX,
        ..HttpLimits::DEFAULT
    };
    let setup = Rc::new(context(options.clone(), tls, limits, Instant::now()));
    if options.scenario == Scenario::Event {
        start_sessions(&setup).await?;
    }
    let sessions = std::mem::take(&mut *setup.sessions.borrow_mut());
    let ctx = Rc::new(context(
        options.clone(),
        setup.tls.clone(),
        limits,
        Instant::now(),
    ));
    *ctx.sessions.borrow_mut() = sessions;
    let workers: Vec<_> = (0..options.concurrency)
        .map(|_| glommio::spawn_local(worker(ctx.clone())))
        .collect();
    for task in workers {
        task.await;
    }
    let report = ctx
        .stats
        .borrow()
        .to_json(&options, f64::from(options.duration_s));
    if options.scenario == Scenario::Event {
        terminate_sessions(&ctx).await;
    }
    Ok(report)
}

fn context(
    options: Rc<Options>,
    tls: Option<ClientTls>,
    limits: HttpLimits,
    start: Instant,
) -> Context {
    let warm_end = start + Duration::from_secs(u64::from(options.warmup_s));
    let end = warm_end + Duration::from_secs(u64::from(options.duration_s));
    let per_iteration = f64::from(options.scenario.requests_per_iteration());
    let slot_interval_ns = match options.rate_rps {
        Some(rate) => 1e9 * per_iteration / f64::from(rate),
        None => 0.0,
    };
    Context {
        options,
        tls,
        limits,
        stats: RefCell::new(Stats::new()),
        slot_next: Cell::new(0),
        sessions: RefCell::new(Vec::new()),
        start,
        warm_end,
        end,
        slot_interval_ns,
    }
}

/// One connection's loop until the measured window is over.
async fn worker(ctx: Rc<Context>) {
    let mut conn = Conn { stream: None };
    loop {
        let slot = ctx.slot_next.get();
        ctx.slot_next.set(slot + 1);
        let intended = match ctx.options.rate_rps {
            Some(_) => {
                let due =
                    ctx.start + Duration::from_nanos((slot as f64 * ctx.slot_interval_ns) as u64);
                if due >= ctx.end {
                    break;
                }
                sleep_until(due, ctx.options.wait).await;
                due
            }
            None => {
                let now = Instant::now();
                if now >= ctx.end {
                    break;
                }
                now
            }
        };
        let measured = intended >= ctx.warm_end;
        iteration(&ctx, &mut conn, slot, intended, measured).await;
    }
}

async fn iteration(ctx: &Context, conn: &mut Conn, slot: u64, intended: Instant, measured: bool) {
    let options = &ctx.options;
    let done = match options.scenario {
        Scenario::Get => {
            let result = conn.exchange(ctx, "GET", &options.path, b"").await;
            record(ctx, measured, intended, result).is_some()
        }
        Scenario::Event => {
            let target = {
                let sessions = ctx.sessions.borrow();
                let id = &sessions[(slot % sessions.len() as u64) as usize];
                format!("/scxml/session/{id}/event/{}", options.event)
            };
            let result = conn.exchange(ctx, "POST", &target, b"").await;
            record(ctx, measured, intended, result).is_some()
        }
        Scenario::StartEventTerminate => start_event_terminate(ctx, conn, intended, measured).await,
    };
    if done && measured {
        ctx.stats.borrow_mut().iterations += 1;
    }
}

async fn start_event_terminate(
    ctx: &Context,
    conn: &mut Conn,
    intended: Instant,
    measured: bool,
) -> bool {
    let body = start_body(&ctx.options.src);
    let result = conn
        .exchange(ctx, "POST", "/scxml/session/start", &body)
        .await;
    let Some(response) = record(ctx, measured, intended, result) else {
        return false;
    };
    let Some(id) = session_id(&response) else {
        if measured {
            ctx.stats.borrow_mut().error(ErrorKind::Body);
        }
        return false;
    };
    let since = Instant::now();
    let event = format!("/scxml/session/{id}/event/{}", ctx.options.event);
    let result = conn.exchange(ctx, "POST", &event, b"").await;
    let event_ok = record(ctx, measured, since, result).is_some();
    let since = Instant::now();
    let terminate = format!("/scxml/session/{id}/terminate");
    let result = conn.exchange(ctx, "POST", &terminate, b"").await;
    record(ctx, measured, since, result).is_some() && event_ok
}

/// Counts one request's outcome if it is measured; returns the response on success.
fn record(
    ctx: &Context,
    measured: bool,
    since: Instant,
    result: Result<Response, ErrorKind>,
) -> Option<Response> {
    let mut stats = ctx.stats.borrow_mut();
    match result {
        Ok(response) => {
            if measured {
                stats.success(since.elapsed().as_micros() as u64);
            }
            Some(response)
        }
        Err(kind) => {
            if measured {
                stats.error(kind);
            }
            None
        }
    }
}

/// Starts `--sessions` sessions for the `event` scenario; any failure aborts the run.
async fn start_sessions(ctx: &Rc<Context>) -> Result<(), String> {
    let wanted = ctx.options.sessions as usize;
    let issued = Rc::new(Cell::new(0usize));
    let tasks: Vec<_> = (0..ctx.options.concurrency.min(ctx.options.sessions))
        .map(|_| {
            let (ctx, issued) = (ctx.clone(), issued.clone());
            glommio::spawn_local(async move {
                let mut conn = Conn { stream: None };
                let body = start_body(&ctx.options.src);
                while issued.get() < wanted {
                    issued.set(issued.get() + 1);
                    let result = conn
                        .exchange(&ctx, "POST", "/scxml/session/start", &body)
                        .await;
                    let response = result.map_err(|kind| kind.name())?;
                    let id = session_id(&response).ok_or("no sessionid in the start answer")?;
                    ctx.sessions.borrow_mut().push(id);
                }
                Ok::<(), &'static str>(())
            })
        })
        .collect();
    for task in tasks {
        task.await.map_err(|kind| {
            let status = ctx.stats.borrow().status_last;
            format!("starting sessions failed: {kind} (last status {status:?})")
        })?;
    }
    assert_eq!(ctx.sessions.borrow().len(), wanted);
    Ok(())
}

/// Ends the `event` scenario's sessions so repeated runs do not fill the server.
async fn terminate_sessions(ctx: &Rc<Context>) {
    let tasks: Vec<_> = (0..ctx.options.concurrency)
        .map(|_| {
            let ctx = ctx.clone();
            glommio::spawn_local(async move {
                let mut conn = Conn { stream: None };
                loop {
                    let Some(id) = ctx.sessions.borrow_mut().pop() else {
                        break;
                    };
                    let target = format!("/scxml/session/{id}/terminate");
                    let _ = conn.exchange(&ctx, "POST", &target, b"").await;
                }
            })
        })
        .collect();
    for task in tasks {
        task.await;
    }
}

fn start_body(src: &str) -> Vec<u8> {
    serde_json::json!({ "src": src }).to_string().into_bytes()
}

fn session_id(response: &Response) -> Option<String> {
    let body: serde_json::Value = serde_json::from_slice(&response.body).ok()?;
    Some(body.get("sessionid")?.as_str()?.to_string())
}

/// One keep-alive connection, opened on first use and again after any failure.
struct Conn {
    stream: Option<MaybeTls<ClientStream>>,
}

impl Conn {
    async fn exchange(
        &mut self,
        ctx: &Context,
        method: &str,
        target: &str,
        body: &[u8],
    ) -> Result<Response, ErrorKind> {
        if self.stream.is_none() {
            match open(ctx).await {
                Ok(stream) => self.stream = Some(stream),
                Err(kind) => {
                    glommio::timer::sleep(Duration::from_millis(CONNECT_RETRY_MS)).await;
                    return Err(kind);
                }
            }
        }
        let stream = self.stream.as_mut().expect("opened above");
        let headers: &[(&str, &str)] = match body.is_empty() {
            true => &[],
            false => &[("Content-Type", "application/json")],
        };
        let request = OutboundRequest {
            method,
            target,
            host: &ctx.options.host,
            headers,
            body,
            close: false,
        };
        let sent = client::send(stream, &request, &ctx.limits, ctx.options.timeout_ms).await;
        let reply = match sent {
            Ok(reply) => reply,
            Err(error) => {
                self.stream = None;
                return Err(ErrorKind::of_client_error(&error));
            }
        };
        if !reply.keep_alive {
            self.stream = None;
        }
        let status = reply.response.status;
        if !(200..300).contains(&status) {
            ctx.stats.borrow_mut().status_last = Some(status);
            return Err(ErrorKind::Status);
        }
        Ok(reply.response)
    }
}

async fn open(ctx: &Context) -> Result<MaybeTls<ClientStream>, ErrorKind> {
    let options = &ctx.options;
    let stream = match options.wait {
        WaitMode::Busy => ClientStream::connect_busy(options.address),
        WaitMode::Uring => client::connect(options.address, LocalBind::Any, options.timeout_ms)
            .await
            .map(ClientStream::Uring)
            .map_err(|e| std::io::Error::other(e.to_string())),
    }
    .map_err(|_| ErrorKind::Connect)?;
    match &ctx.tls {
        None => Ok(MaybeTls::Plain(stream)),
        Some(tls) => {
            let name = server_name(&options.host);
            let session = protocols::tls::connect(tls, name, stream)
                .await
                .map_err(|_| ErrorKind::Tls)?;
            Ok(MaybeTls::from(session))
        }
    }
}
