//! The routing generator's command line: every option, its bound, and the parser.
//!
//! Like `loadgen`, every value is bounded (one invocation is bounded in time, connections
//! and server memory) and the target must be a loopback address.

use std::net::SocketAddr;

use crate::loadgen::options::{number, target};

/// Agents at most (each holds an offer stream: Baton's `routing.offer_streams_max` default).
pub const AGENTS_MAX: u32 = 10_000;
/// Backlog interactions at most (Baton's `routing.interactions_max` default).
pub const BACKLOG_MAX: u32 = 1_000_000;
/// Chat capacity per agent at most.
pub const CAPACITY_MAX: u32 = 100_000;
/// Connections at most (closed loop: in-flight POSTs; open loop and backlog: the pool).
pub const CONCURRENCY_MAX: u32 = 1024;
/// Interactions per second at most in open loop.
pub const RATE_PER_S_MAX: u32 = 1_000_000;
/// Measured seconds at most.
pub const DURATION_S_MAX: u32 = 600;
/// Warm-up seconds at most.
pub const WARMUP_S_MAX: u32 = 60;
/// Request timeout at most, milliseconds.
pub const TIMEOUT_MS_MAX: u32 = 60_000;

/// The usage text printed by `--help` and after a usage error.
pub const USAGE: &str = "\
Usage: routegen --url http://127.0.0.1:PORT [options]

Measures Baton's routing: interactions created with POST /interactions through a strategy
that queues them and offers them to a ready agent, latency from each POST's scheduled time
to the offer's arrival on the agent's offer stream (GET /agents/{id}/offers, SSE). Prints
one JSON line: interactions routed per second, POST and offer latency percentiles (us),
how late the generator itself sent (us), errors, and offers that never came.

Setup: PUT /agents/a0..a{N-1} (skill Bench 5, group Bench), one offer stream each, state
ready; then --backlog interactions through --park-entry for a skill no agent has (they wait
for the whole run), checked with GET /routing/statistics.

  --url URL            http://HOST:PORT, a loopback host (required)
  --agents N           agents (default 100, at most 10000)
  --capacity N         each agent's chat capacity (default 1000)
  --backlog N          waiting interactions created first (default 100000; 0: none)
  --route-entry NAME   entry point of the measured interactions (default bench)
  --park-entry NAME    entry point of the backlog (default park)
  --rate R             open loop: R interactions per second on a fixed schedule, latency from
                       each one's scheduled time; without it, closed loop (max mode)
  --concurrency C      closed loop: C connections, one POST in flight each; open loop and
                       backlog: the connection pool (default 16, at most 1024)
  --duration-s S       measured seconds (default 10, at most 600)
  --warmup-s S         seconds run but not measured first (default 2, at most 60)
  --timeout-ms MS      per request (default 2000)
  --core N             CPU core the generator is pinned to (default 0)
";

/// Everything one run needs.
#[derive(Debug, Clone)]
pub struct Options {
    /// The server, a loopback address.
    pub address: SocketAddr,
    /// The `Host` header.
    pub host: String,
    /// Agents created, each with one offer stream.
    pub agents: u32,
    /// Each agent's chat capacity.
    pub capacity: u32,
    /// Waiting interactions created before the measurement.
    pub backlog: u32,
    /// Entry point of the measured interactions.
    pub route_entry: String,
    /// Entry point of the backlog.
    pub park_entry: String,
    /// Open loop at this many interactions per second; `None` is closed loop.
    pub rate_per_s: Option<u32>,
    /// Connections.
    pub concurrency: u32,
    /// Measured seconds.
    pub duration_s: u32,
    /// Unmeasured seconds before.
    pub warmup_s: u32,
    /// Per-request timeout.
    pub timeout_ms: u32,
    /// The core the generator's executor is pinned to.
    pub core: u16,
}

/// Parses the arguments after the program name. `Ok(None)` means `--help`.
pub fn parse(args: &[String]) -> Result<Option<Options>, String> {
    let mut url = None;
    let mut options = Options {
        address: SocketAddr::from(([127, 0, 0, 1], 0)),
        host: String::new(),
        agents: 100,
        capacity: 1000,
        backlog: 100_000,
        route_entry: "bench".into(),
        park_entry: "park".into(),
        rate_per_s: None,
        concurrency: 16,
        duration_s: 10,
        warmup_s: 2,
        timeout_ms: 2000,
        core: 0,
    };
    let mut rest = args.iter();
    while let Some(flag) = rest.next() {
        if flag == "-h" || flag == "--help" {
            return Ok(None);
        }
        let value = rest.next().ok_or(format!("{flag} needs a value"))?;
        let o = &mut options;
        match flag.as_str() {
            "--url" => url = Some(value.clone()),
            "--agents" => o.agents = number(flag, value, 1, AGENTS_MAX)?,
            "--capacity" => o.capacity = number(flag, value, 1, CAPACITY_MAX)?,
            "--backlog" => o.backlog = number(flag, value, 0, BACKLOG_MAX)?,
            "--route-entry" => o.route_entry = entry_point(flag, value)?,
            "--park-entry" => o.park_entry = entry_point(flag, value)?,
            "--rate" => o.rate_per_s = Some(number(flag, value, 1, RATE_PER_S_MAX)?),
            "--concurrency" => o.concurrency = number(flag, value, 1, CONCURRENCY_MAX)?,
            "--duration-s" => o.duration_s = number(flag, value, 1, DURATION_S_MAX)?,
            "--warmup-s" => o.warmup_s = number(flag, value, 0, WARMUP_S_MAX)?,
            "--timeout-ms" => o.timeout_ms = number(flag, value, 1, TIMEOUT_MS_MAX)?,
            "--core" => o.core = number(flag, value, 0, u32::from(u16::MAX))? as u16,
            other => return Err(format!("unknown option '{other}'")),
        }
    }
    let url = url.ok_or("--url is required")?;
    let (tls, host, address) = target(&url)?;
    if tls {
        return Err("routegen speaks plain HTTP only (an http:// --url)".into());
    }
    options.host = host;
    options.address = address;
    Ok(Some(options))
}

/// Entry point names go into JSON bodies as given; keep them to a plain token.
fn entry_point(flag: &str, name: &str) -> Result<String, String> {
    let plain = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_';
    match !name.is_empty() && name.chars().all(plain) {
        true => Ok(name.to_string()),
        false => Err(format!(
            "{flag}: '{name}' is not a name (letters, digits, - and _)"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(words: &[&str]) -> Vec<String> {
        words.iter().map(|w| w.to_string()).collect()
    }

    #[test]
    fn parses_and_defaults() {
        let options = parse(&args(&["--url", "http://127.0.0.1:8080", "--rate", "5000"]))
            .unwrap()
            .unwrap();
        assert_eq!(options.rate_per_s, Some(5000));
        assert_eq!((options.agents, options.backlog), (100, 100_000));
        assert_eq!(options.route_entry, "bench");
        assert_eq!(options.host, "127.0.0.1:8080");
        let options = parse(&args(&["--url", "http://localhost:1", "--backlog", "0"]))
            .unwrap()
            .unwrap();
        assert_eq!((options.backlog, options.rate_per_s), (0, None));
    }

    #[test]
    fn rejects_bad_usage() {
        for bad in [
            &["--url", "http://192.0.2.1:80"][..],
            &["--url", "https://127.0.0.1:443"],
            &["--url", "http://127.0.0.1:80", "--agents", "0"],
            &["--url", "http://127.0.0.1:80", "--agents", "10001"],
            &["--url", "http://127.0.0.1:80", "--park-entry", "a\"b"],
            &["--url", "http://127.0.0.1:80", "--bogus", "1"],
            &["--agents", "3"],
        ] {
            assert!(parse(&args(bad)).is_err(), "{bad:?}");
        }
        assert!(parse(&args(&["--help"])).unwrap().is_none());
    }
}
