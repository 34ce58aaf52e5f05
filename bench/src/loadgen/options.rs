//! The load generator's command line: every option, its bound, and the parser.
//!
//! Every value is bounded so that one invocation is bounded in time and in connections,
//! and the target must be a loopback address: this tool loads the machine it runs on and
//! must never be pointed at someone else's server.

use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;

use super::wait::WaitMode;

/// Connections at most (closed loop: in-flight requests; open loop: the sending pool).
pub const CONCURRENCY_MAX: u32 = 1024;
/// Requests per second at most in open loop.
pub const RATE_RPS_MAX: u32 = 10_000_000;
/// Measured seconds at most.
pub const DURATION_S_MAX: u32 = 600;
/// Warm-up seconds at most.
pub const WARMUP_S_MAX: u32 = 60;
/// Live sessions at most for the `event` scenario.
pub const SESSIONS_MAX: u32 = 100_000;
/// Request timeout at most, milliseconds.
pub const TIMEOUT_MS_MAX: u32 = 60_000;

/// The usage text printed by `--help` and after a usage error.
pub const USAGE: &str = "\
Usage: loadgen --url http://127.0.0.1:PORT [options]

Drives Baton's HTTP session API (or any HTTP/1.1 server, with --scenario get) on loopback
and prints one JSON line: requests, errors by kind, achieved rate, latency percentiles (us).

  --url URL            http://HOST:PORT or https://HOST:PORT, a loopback host (required)
  --scenario NAME      start-event-terminate (default) | event | get
  --src PATH           document to start (default runtime/samples/hello.scxml; absolute
                       paths are sent as given, relative ones are made absolute)
  --event NAME         event name (default call.offered; tick for --scenario event)
  --sessions N         live sessions for --scenario event (default 1000, at most 100000)
  --path PATH          request path for --scenario get (default /)
  --concurrency C      closed loop: C keep-alive connections, one request in flight each
                       (default 64, at most 1024); open loop: the connection pool size
  --rate R             open loop: R requests per second on a fixed schedule; latency is
                       measured from each request's scheduled send time
  --duration-s S       measured seconds (default 10, at most 600)
  --warmup-s S         seconds run but not measured first (default 1, at most 60)
  --timeout-ms MS      per request (default 2000)
  --core N             CPU core the generator is pinned to (default 0)
  --wait MODE          busy (default): spin on non-blocking sockets; uring: glommio's
                       io_uring polls, which make the server pay an interrupt per answer
  --tls                use TLS (implied by https://); needs --ca
  --ca FILE            PEM trust roots for --tls
";

/// What one iteration sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scenario {
    /// Start a session, send it one event, terminate it: three requests.
    StartEventTerminate,
    /// Events round-robin to sessions started before the measurement: one request.
    Event,
    /// `GET --path`: one request, for any HTTP/1.1 server (the nginx ceiling).
    Get,
}

impl Scenario {
    /// The name used on the command line and in the report.
    pub fn name(self) -> &'static str {
        match self {
            Scenario::StartEventTerminate => "start-event-terminate",
            Scenario::Event => "event",
            Scenario::Get => "get",
        }
    }

    /// HTTP requests per iteration.
    pub fn requests_per_iteration(self) -> u32 {
        match self {
            Scenario::StartEventTerminate => 3,
            Scenario::Event | Scenario::Get => 1,
        }
    }
}

/// Everything one run needs.
#[derive(Debug, Clone)]
pub struct Options {
    /// The server, a loopback address.
    pub address: SocketAddr,
    /// The `Host` header and TLS server name.
    pub host: String,
    /// Whether connections use TLS.
    pub tls: bool,
    /// PEM trust roots for TLS.
    pub ca: Option<PathBuf>,
    /// What is sent.
    pub scenario: Scenario,
    /// The document started, as sent in the start request.
    pub src: String,
    /// The event name.
    pub event: String,
    /// Live sessions for [`Scenario::Event`].
    pub sessions: u32,
    /// Request path for [`Scenario::Get`].
    pub path: String,
    /// Connections.
    pub concurrency: u32,
    /// Open loop at this many requests per second; `None` is closed loop.
    pub rate_rps: Option<u32>,
    /// Measured seconds.
    pub duration_s: u32,
    /// Unmeasured seconds before.
    pub warmup_s: u32,
    /// Per-request timeout.
    pub timeout_ms: u32,
    /// The core the generator's executor is pinned to.
    pub core: u16,
    /// How sockets are waited for.
    pub wait: WaitMode,
}

/// The bundled sample, relative to the workspace root.
const SRC_DEFAULT: &str = "runtime/samples/hello.scxml";

/// Parses the arguments after the program name. `Ok(None)` means `--help`.
pub fn parse(args: &[String]) -> Result<Option<Options>, String> {
    let mut url = None;
    let mut raw = Raw::default();
    let mut rest = args.iter();
    while let Some(flag) = rest.next() {
        if flag == "-h" || flag == "--help" {
            return Ok(None);
        }
        if flag == "--tls" {
            raw.tls = true;
            continue;
        }
        let value = rest.next().ok_or(format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--url" => url = Some(value.clone()),
            "--scenario" => raw.scenario = Some(scenario(value)?),
            "--src" => raw.src = Some(value.clone()),
            "--event" => raw.event = Some(value.clone()),
            "--path" => raw.path = Some(value.clone()),
            "--ca" => raw.ca = Some(PathBuf::from(value)),
            "--sessions" => raw.sessions = number(flag, value, 1, SESSIONS_MAX)?,
            "--concurrency" => raw.concurrency = number(flag, value, 1, CONCURRENCY_MAX)?,
            "--rate" => raw.rate_rps = Some(number(flag, value, 1, RATE_RPS_MAX)?),
            "--duration-s" => raw.duration_s = number(flag, value, 1, DURATION_S_MAX)?,
            "--warmup-s" => raw.warmup_s = number(flag, value, 0, WARMUP_S_MAX)?,
            "--timeout-ms" => raw.timeout_ms = number(flag, value, 1, TIMEOUT_MS_MAX)?,
            "--core" => raw.core = number(flag, value, 0, u32::from(u16::MAX))? as u16,
            "--wait" => raw.wait = wait_mode(value)?,
            other => return Err(format!("unknown option '{other}'")),
        }
    }
    let url = url.ok_or("--url is required")?;
    raw.finish(&url).map(Some)
}

/// Options as given, before defaults that depend on each other are filled in.
struct Raw {
    tls: bool,
    ca: Option<PathBuf>,
    scenario: Option<Scenario>,
    src: Option<String>,
    event: Option<String>,
    path: Option<String>,
    sessions: u32,
    concurrency: u32,
    rate_rps: Option<u32>,
    duration_s: u32,
    warmup_s: u32,
    timeout_ms: u32,
    core: u16,
    wait: WaitMode,
}

impl Default for Raw {
    fn default() -> Raw {
        Raw {
            tls: false,
            ca: None,
            scenario: None,
            src: None,
            event: None,
            path: None,
            sessions: 1000,
            concurrency: 64,
            rate_rps: None,
            duration_s: 10,
            warmup_s: 1,
            timeout_ms: 2000,
            core: 0,
            wait: WaitMode::Busy,
        }
    }
}

impl Raw {
    fn finish(self, url: &str) -> Result<Options, String> {
        let (tls_scheme, host, address) = target(url)?;
        let tls = self.tls || tls_scheme;
        if tls && self.ca.is_none() {
            return Err("TLS needs --ca FILE (the server's trust roots)".into());
        }
        let scenario = self.scenario.unwrap_or(Scenario::StartEventTerminate);
        let event = self.event.unwrap_or_else(|| match scenario {
            Scenario::Event => "tick".into(),
            _ => "call.offered".into(),
        });
        let path = self.path.unwrap_or_else(|| "/".into());
        if !path.starts_with('/') {
            return Err(format!("--path must start with '/', found '{path}'"));
        }
        Ok(Options {
            address,
            host,
            tls,
            ca: self.ca,
            scenario,
            src: absolute(self.src.as_deref().unwrap_or(SRC_DEFAULT))?,
            event,
            sessions: self.sessions,
            path,
            concurrency: self.concurrency,
            rate_rps: self.rate_rps,
            duration_s: self.duration_s,
            warmup_s: self.warmup_s,
            timeout_ms: self.timeout_ms,
            core: self.core,
            wait: self.wait,
        })
    }
}

fn wait_mode(name: &str) -> Result<WaitMode, String> {
    match name {
        "busy" => Ok(WaitMode::Busy),
        "uring" => Ok(WaitMode::Uring),
        other => Err(format!("unknown --wait mode '{other}' (busy | uring)")),
    }
}

fn scenario(name: &str) -> Result<Scenario, String> {
    match name {
        "start-event-terminate" => Ok(Scenario::StartEventTerminate),
        "event" => Ok(Scenario::Event),
        "get" => Ok(Scenario::Get),
        other => Err(format!("unknown scenario '{other}'")),
    }
}

/// `text` as a number in `min..=max`, or an error naming `flag`.
pub fn number(flag: &str, text: &str, min: u32, max: u32) -> Result<u32, String> {
    let value: u32 = text
        .parse()
        .map_err(|_| format!("{flag}: '{text}' is not a number"))?;
    if value < min || value > max {
        return Err(format!("{flag}: {value} is outside {min}..={max}"));
    }
    Ok(value)
}

/// The scheme's TLS flag, the `host[:port]` text and the resolved loopback address.
pub fn target(url: &str) -> Result<(bool, String, SocketAddr), String> {
    let (tls, rest) = if let Some(rest) = url.strip_prefix("http://") {
        (false, rest)
    } else if let Some(rest) = url.strip_prefix("https://") {
        (true, rest)
    } else {
        return Err(format!("--url must be http:// or https://, found '{url}'"));
    };
    let authority = rest.split('/').next().unwrap_or_default();
    let address = authority
        .to_socket_addrs()
        .map_err(|e| format!("--url: cannot resolve '{authority}' (HOST:PORT): {e}"))?
        .find(|address| address.ip().is_loopback())
        .ok_or(format!("--url: '{authority}' is not a loopback address"))?;
    Ok((tls, authority.to_string(), address))
}

/// Baton resolves relative paths against its own working directory, so the generator sends
/// absolute ones.
fn absolute(src: &str) -> Result<String, String> {
    let path = PathBuf::from(src);
    let path = match path.is_absolute() {
        true => path,
        false => std::env::current_dir()
            .map_err(|e| format!("current directory: {e}"))?
            .join(path),
    };
    path.to_str()
        .map(str::to_string)
        .ok_or(format!("--src: '{src}' is not UTF-8"))
}

/// The TLS server name: the host part of `host[:port]` (IPv6 brackets removed).
pub fn server_name(host: &str) -> &str {
    if let Some(inner) = host.strip_prefix('[') {
        return inner.split(']').next().unwrap_or(inner);
    }
    host.rsplit_once(':').map_or(host, |(name, _)| name)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(words: &[&str]) -> Vec<String> {
        words.iter().map(|w| w.to_string()).collect()
    }

    #[test]
    fn parses_and_defaults() {
        let options = parse(&args(&["--url", "http://127.0.0.1:8080", "--rate", "500"]))
            .unwrap()
            .unwrap();
        assert_eq!(options.scenario, Scenario::StartEventTerminate);
        assert_eq!(options.rate_rps, Some(500));
        assert_eq!(options.event, "call.offered");
        assert!(options.src.ends_with(SRC_DEFAULT));
        let event = parse(&args(&[
            "--url",
            "http://localhost:1",
            "--scenario",
            "event",
        ]))
        .unwrap()
        .unwrap();
        assert_eq!(
            (event.event.as_str(), event.host.as_str()),
            ("tick", "localhost:1")
        );
        assert_eq!(server_name("localhost:1"), "localhost");
        assert_eq!(server_name("[::1]:443"), "::1");
    }

    #[test]
    fn rejects_bad_usage() {
        for bad in [
            &["--url", "http://192.0.2.1:80"][..],
            &["--url", "ftp://127.0.0.1:80"],
            &["--url", "https://127.0.0.1:443"],
            &["--url", "http://127.0.0.1:80", "--concurrency", "0"],
            &["--url", "http://127.0.0.1:80", "--duration-s", "100000"],
            &["--url", "http://127.0.0.1:80", "--bogus", "1"],
            &["--scenario", "event"],
        ] {
            assert!(parse(&args(bad)).is_err(), "{bad:?}");
        }
        assert!(parse(&args(&["--help"])).unwrap().is_none());
    }
}
