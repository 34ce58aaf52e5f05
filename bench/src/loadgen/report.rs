//! What a run measured: a latency histogram, request and error counts, and the JSON line
//! they are printed as.

use hdrhistogram::Histogram;
use protocols::http::client::ClientError;
use serde_json::json;

use super::options::{Options, Scenario};

/// The largest latency recorded, microseconds (one minute); larger values saturate.
pub const LATENCY_US_MAX: u64 = 60_000_000;
/// Significant decimal digits the histogram keeps.
pub const LATENCY_DIGITS: u8 = 3;

/// Why a request did not count as a success.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The TCP connect failed or timed out.
    Connect,
    /// The TLS handshake failed.
    Tls,
    /// A socket error during the exchange.
    Io,
    /// The exchange did not finish within `--timeout-ms`.
    Timeout,
    /// The response was malformed.
    Http,
    /// A status outside 200..=299.
    Status,
    /// A start answered 2xx without a session id.
    Body,
}

impl ErrorKind {
    /// Every kind, in report order.
    pub const ALL: [ErrorKind; 7] = [
        ErrorKind::Connect,
        ErrorKind::Tls,
        ErrorKind::Io,
        ErrorKind::Timeout,
        ErrorKind::Http,
        ErrorKind::Status,
        ErrorKind::Body,
    ];

    /// The kind of a failed client exchange.
    pub fn of_client_error(error: &ClientError) -> ErrorKind {
        match error {
            ClientError::Io(_) => ErrorKind::Io,
            ClientError::Timeout { .. } => ErrorKind::Timeout,
            ClientError::Http(_) => ErrorKind::Http,
            _ => ErrorKind::Connect,
        }
    }

    /// The name in the report's `errors` object.
    pub fn name(self) -> &'static str {
        match self {
            ErrorKind::Connect => "connect",
            ErrorKind::Tls => "tls",
            ErrorKind::Io => "io",
            ErrorKind::Timeout => "timeout",
            ErrorKind::Http => "http",
            ErrorKind::Status => "status",
            ErrorKind::Body => "body",
        }
    }
}

/// The measurement of one run. Only requests whose intended send time falls inside the
/// measured window are counted.
pub struct Stats {
    latency_us: Histogram<u64>,
    /// Successful requests.
    pub requests: u64,
    /// Completed iterations (a start→event→terminate sequence counts once).
    pub iterations: u64,
    errors: [u64; ErrorKind::ALL.len()],
    /// The last status outside 2xx, for diagnosis.
    pub status_last: Option<u16>,
}

impl Default for Stats {
    fn default() -> Stats {
        Stats::new()
    }
}

impl Stats {
    /// Empty statistics.
    pub fn new() -> Stats {
        let latency_us = latency_histogram();
        Stats {
            latency_us,
            requests: 0,
            iterations: 0,
            errors: [0; ErrorKind::ALL.len()],
            status_last: None,
        }
    }

    /// One successful request that took `latency_us`.
    pub fn success(&mut self, latency_us: u64) {
        self.requests += 1;
        self.latency_us.saturating_record(latency_us.max(1));
    }

    /// One failed request.
    pub fn error(&mut self, kind: ErrorKind) {
        let index = ErrorKind::ALL
            .iter()
            .position(|k| *k == kind)
            .expect("every kind is listed");
        self.errors[index] += 1;
    }

    /// Failed requests of every kind.
    pub fn errors_total(&self) -> u64 {
        self.errors.iter().sum()
    }

    /// The report line. `window_s` is the measured time the rates are computed over.
    pub fn to_json(&self, options: &Options, window_s: f64) -> serde_json::Value {
        assert!(window_s > 0.0);
        let errors: serde_json::Map<String, serde_json::Value> = ErrorKind::ALL
            .iter()
            .zip(self.errors)
            .map(|(kind, count)| (kind.name().to_string(), json!(count)))
            .collect();
        json!({
            "scenario": options.scenario.name(),
            "mode": if options.rate_rps.is_some() { "open" } else { "closed" },
            "concurrency": options.concurrency,
            "rate_target_rps": options.rate_rps,
            "tls": options.tls,
            "wait": options.wait.name(),
            "duration_s": options.duration_s,
            "warmup_s": options.warmup_s,
            "sessions": match options.scenario {
                Scenario::Event => Some(options.sessions),
                _ => None,
            },
            "requests": self.requests,
            "iterations": self.iterations,
            "errors": errors,
            "errors_total": self.errors_total(),
            "status_last_error": self.status_last,
            "rate_rps": round1(self.requests as f64 / window_s),
            "iterations_per_s": round1(self.iterations as f64 / window_s),
            "latency_us": latency_json(&self.latency_us),
        })
    }
}

/// An empty latency histogram, microseconds from 1 to [`LATENCY_US_MAX`].
pub fn latency_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, LATENCY_US_MAX, LATENCY_DIGITS)
        .expect("constant histogram bounds are valid")
}

/// The report's percentiles of `h` (zeros when empty): p50, p90, p99, p99.9, max, mean.
pub fn latency_json(h: &Histogram<u64>) -> serde_json::Value {
    let quantile = |q: f64| {
        if h.is_empty() {
            0
        } else {
            h.value_at_quantile(q)
        }
    };
    json!({
        "p50": quantile(0.50),
        "p90": quantile(0.90),
        "p99": quantile(0.99),
        "p99_9": quantile(0.999),
        "max": h.max(),
        "mean": round1(if h.is_empty() { 0.0 } else { h.mean() }),
    })
}

/// `value` rounded to one decimal.
pub fn round1(value: f64) -> f64 {
    (value * 10.0).round() / 10.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_percentiles() {
        let options = super::super::options::parse(&["--url".into(), "http://127.0.0.1:1".into()])
            .unwrap()
            .unwrap();
        let mut stats = Stats::new();
        for us in 1..=1000 {
            stats.success(us);
        }
        stats.iterations = 1000;
        stats.error(ErrorKind::Timeout);
        stats.error(ErrorKind::Status);
        let report = stats.to_json(&options, 2.0);
        assert_eq!(report["requests"], 1000);
        assert_eq!(report["errors_total"], 2);
        assert_eq!(report["errors"]["timeout"], 1);
        assert_eq!(report["rate_rps"], 500.0);
        assert_eq!(report["latency_us"]["p50"], 500);
        assert_eq!(report["latency_us"]["max"], 1000);
    }
}
