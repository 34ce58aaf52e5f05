//! Before the measurement: the agents, their offer streams, and the backlog, over the API.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::{Duration, Instant};

use serde_json::json;

use super::arrivals::Arrivals;
use super::conn::Conn;
use super::offer_stream::OfferStream;
use super::options::Options;

/// The skill and group of every agent, and the targets of the measured interactions.
pub const SKILL: &str = "Bench";
/// The skill level of every agent.
pub const SKILL_LEVEL: u32 = 5;
/// The targets of the measured interactions.
pub const ROUTE_TARGETS: &str = "Bench >= 1";
/// The backlog's targets: a skill no agent has, so its interactions wait.
pub const PARK_TARGETS: &str = "Unstaffed >= 1";
/// `GET /routing/statistics` of [`PARK_TARGETS`].
const PARK_STATISTICS: &str = "/routing/statistics?targets=Unstaffed%20%3E%3D%201";
/// How long the streams' heads, and the backlog's queueing, may take.
const SETTLE_MS: u64 = 10_000;

/// Creates the agents (`a0`, `a1`, ...), opens one offer stream each (before they are
/// ready, so no offer is missed), waits until the server answered every stream, and sets
/// them ready.
pub async fn agents(options: &Options, arrivals: &RefCell<Arrivals>) -> Result<(), String> {
    let mut conn = Conn::new(options.address, &options.host, options.timeout_ms);
    let profile = json!({
        "skills": { SKILL: SKILL_LEVEL },
        "groups": [SKILL],
        "capacity": { "chat": options.capacity },
    })
    .to_string();
    for agent in agent_names(options) {
        let target = format!("/agents/{agent}");
        conn.expect("PUT", &target, profile.as_bytes(), &[200, 201])
            .await?;
        let stream = OfferStream::open(options.address, &options.host, &agent)
            .map_err(|e| format!("GET /agents/{agent}/offers: {e}"))?;
        arrivals.borrow_mut().add(stream)?;
    }
    let deadline = Instant::now() + Duration::from_millis(SETTLE_MS);
    // Offers replayed on connect (pending from an earlier run) are not this run's.
    let mut replayed = Vec::new();
    while arrivals.borrow().streaming() < options.agents as usize {
        arrivals.borrow_mut().poll(&mut replayed)?;
        if Instant::now() > deadline {
            let streaming = arrivals.borrow().streaming();
            return Err(format!(
                "{streaming} of {} offer streams answered within {SETTLE_MS} ms",
                options.agents
            ));
        }
        futures_lite::future::yield_now().await;
    }
    let ready = json!({ "state": "ready" }).to_string();
    for agent in agent_names(options) {
        let target = format!("/agents/{agent}/state");
        conn.expect("POST", &target, ready.as_bytes(), &[200])
            .await?;
    }
    Ok(())
}

fn agent_names(options: &Options) -> impl Iterator<Item = String> {
    (0..options.agents).map(|i| format!("a{i}"))
}

/// Creates `--backlog` interactions that wait, over `--concurrency` connections, and checks
/// that the server counts them waiting. Answers how many wait in all (earlier runs' too).
pub async fn backlog(options: &Rc<Options>) -> Result<u64, String> {
    let mut conn = Conn::new(options.address, &options.host, options.timeout_ms);
    let before = waiting(&mut conn).await?;
    let issued = Rc::new(Cell::new(0u32));
    let tasks: Vec<_> = (0..options.concurrency.min(options.backlog))
        .map(|_| glommio::spawn_local(park(options.clone(), issued.clone())))
        .collect();
    for task in tasks {
        task.await?;
    }
    let expected = before + u64::from(options.backlog);
    let deadline = Instant::now() + Duration::from_millis(SETTLE_MS);
    loop {
        let now_waiting = waiting(&mut conn).await?;
        if now_waiting == expected {
            return Ok(now_waiting);
        }
        if Instant::now() > deadline {
            return Err(format!(
                "{now_waiting} interactions wait for '{PARK_TARGETS}', expected {expected} \
                 ({before} before + a backlog of {})",
                options.backlog
            ));
        }
        glommio::timer::sleep(Duration::from_millis(100)).await;
    }
}

/// One connection's share of the backlog.
async fn park(options: Rc<Options>, issued: Rc<Cell<u32>>) -> Result<(), String> {
    let mut conn = Conn::new(options.address, &options.host, options.timeout_ms);
    let body = json!({
        "media": "chat",
        "entry_point": options.park_entry,
        "data": { "targets": PARK_TARGETS },
    })
    .to_string();
    while issued.get() < options.backlog {
        issued.set(issued.get() + 1);
        conn.expect("POST", "/interactions", body.as_bytes(), &[201])
            .await?;
    }
    Ok(())
}

/// `waiting` of [`PARK_TARGETS`] in `GET /routing/statistics`.
async fn waiting(conn: &mut Conn) -> Result<u64, String> {
    let response = conn.expect("GET", PARK_STATISTICS, b"", &[200]).await?;
    let statistics: serde_json::Value = serde_json::from_slice(&response.body)
        .map_err(|e| format!("GET {PARK_STATISTICS}: not JSON: {e}"))?;
    statistics["waiting"].as_u64().ok_or(format!(
        "GET {PARK_STATISTICS}: no 'waiting' in {statistics}"
    ))
}
