//! One shard's metrics and their Prometheus text exposition (format 0.0.4) for `GET /metrics`.
//!
//! A shard is single-threaded, so the counters are plain `Cell`s and the histograms sit in
//! `RefCell`s: no atomics and no locks on the request path. Both latency histograms are
//! allocated once, when the shard starts, over a fixed range (1 µs to 60 s, 3 significant
//! digits) and never grow; a longer latency is clamped to the top of the range.
//!
//! A connection lands on whichever shard accepted it; that shard gathers every other
//! shard's [`ShardSnapshot`] (plain data, over the mesh) and renders one text: each family's
//! `HELP` and `TYPE` once, each shard's samples labelled `shard`, and `baton_shard_up`
//! saying which shards answered.
//!
//! Event-to-macrostep latency is approximate: the host does not timestamp each queued event,
//! so the shard remembers when the oldest event of the current batch was accepted (the
//! handler's entry time) and, when the driver's `run_ready` calls leave nothing ready, charges
//! that batch's age to every event of the batch. The quantiles are therefore upper bounds.

use std::cell::{Cell, RefCell};
use std::fmt::{Result, Write};
use std::time::{Duration, Instant};

use engine::session::Status;
use hdrhistogram::Histogram;

use super::reply::ReplyCounts;
use super::route::RouteKind;
use crate::orchestration::RoutingGauges;

/// The smallest latency the histograms tell apart, in microseconds.
pub const LATENCY_US_MIN: u64 = 1;
/// The largest latency the histograms hold, in microseconds (60 s); longer ones are clamped.
pub const LATENCY_US_MAX: u64 = 60_000_000;
/// Significant decimal digits of every recorded latency (0.1% relative error).
pub const LATENCY_DIGITS: u8 = 3;
const _: () = assert!(LATENCY_US_MIN >= 1 && LATENCY_US_MIN * 2 <= LATENCY_US_MAX);

/// The `Content-Type` of the exposition.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4";

/// The quantiles of both summaries, with their label values.
const QUANTILES: [(f64, &str); 3] = [(0.5, "0.5"), (0.99, "0.99"), (0.999, "0.999")];

/// The `code` label of the request counters, by status class (index = status / 100 - 1).
const STATUS_CLASSES: [&str; 5] = ["1xx", "2xx", "3xx", "4xx", "5xx"];

const ROUTES: usize = RouteKind::ALL.len();

/// A latency distribution: a fixed-range histogram and the exact sum of what it recorded.
pub struct Latency {
    histogram: RefCell<Histogram<u64>>,
    sum_us: Cell<u64>,
}

impl Latency {
    fn new() -> Latency {
        let histogram = Histogram::new_with_bounds(LATENCY_US_MIN, LATENCY_US_MAX, LATENCY_DIGITS)
            .expect("the latency bounds are valid (checked at compile time)");
        assert!(!histogram.is_auto_resize());
        Latency {
            histogram: RefCell::new(histogram),
            sum_us: Cell::new(0),
        }
    }

    /// Records `count` samples of `elapsed`, clamped to the histogram's range.
    pub fn record_n(&self, elapsed: Duration, count: u64) {
        let us = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
        let us = us.clamp(LATENCY_US_MIN, LATENCY_US_MAX);
        self.histogram.borrow_mut().saturating_record_n(us, count);
        let sum = us.saturating_mul(count);
        self.sum_us.set(self.sum_us.get().saturating_add(sum));
    }

    /// Samples recorded.
    pub fn count(&self) -> u64 {
        self.histogram.borrow().len()
    }

    fn snapshot(&self) -> LatencySnapshot {
        let histogram = self.histogram.borrow();
        LatencySnapshot {
            quantiles_us: QUANTILES.map(|(quantile, _)| histogram.value_at_quantile(quantile)),
            sum_us: self.sum_us.get(),
            count: histogram.len(),
        }
    }
}

/// One shard's counters and latency histograms.
pub struct Metrics {
    shard: u16,
    /// Answered requests by route and status class.
    requests: [[Cell<u64>; STATUS_CLASSES.len()]; ROUTES],
    refusals: Cell<u64>,
    sessions_started: Cell<u64>,
    sessions_done: Cell<u64>,
    sessions_limited: Cell<u64>,
    sessions_terminated: Cell<u64>,
    events_delivered: Cell<u64>,
    forwarded: Cell<u64>,
    mesh_dropped: Cell<u64>,
    unauthenticated: Cell<u64>,
    forbidden: Cell<u64>,
    /// Events accepted since the driver last ran out of ready work.
    events_pending: Cell<u64>,
    /// When the oldest of those was accepted.
    events_pending_since: Cell<Option<Instant>>,
    /// Handler entry to response ready.
    pub request_latency: Latency,
    /// Event accepted to the end of the `run_ready` batch that processed it (approximate).
    pub event_latency: Latency,
    /// A SIP call's INVITE read to its final response queued (routing shard only).
    pub sip_answer_latency: Latency,
}

impl Metrics {
    /// Zeroed metrics of shard `shard`, with both histograms allocated.
    pub fn new(shard: u16) -> Metrics {
        Metrics {
            shard,
            requests: Default::default(),
            refusals: Cell::new(0),
            sessions_started: Cell::new(0),
            sessions_done: Cell::new(0),
            sessions_limited: Cell::new(0),
            sessions_terminated: Cell::new(0),
            events_delivered: Cell::new(0),
            forwarded: Cell::new(0),
            unauthenticated: Cell::new(0),
            forbidden: Cell::new(0),
            mesh_dropped: Cell::new(0),
            events_pending: Cell::new(0),
            events_pending_since: Cell::new(None),
            request_latency: Latency::new(),
            event_latency: Latency::new(),
            sip_answer_latency: Latency::new(),
        }
    }

    /// Counts an answered request and records its latency from `started` (the handler's
    /// entry) to now.
    pub fn request(&self, route: RouteKind, status: u16, started: Instant) {
        let elapsed = started.elapsed();
        assert!((100..600).contains(&status), "status {status}");
        let class = usize::from(status / 100 - 1);
        increment(&self.requests[route.index()][class]);
        if status == 503 {
            increment(&self.refusals);
        }
        self.request_latency.record_n(elapsed, 1);
    }

    /// Counts a session started by the API.
    pub fn session_started(&self) {
        increment(&self.sessions_started);
    }

    /// Counts a session terminated by the API.
    pub fn session_terminated(&self) {
        increment(&self.sessions_terminated);
    }

    /// Counts a top-level session that finished on its own, as [`crate::local::Host::take_finished`]
    /// reports it.
    pub fn session_finished(&self, status: &Status) {
        match status {
            Status::Ended(_) => increment(&self.sessions_limited),
            _ => increment(&self.sessions_done),
        }
    }

    /// Counts an event the host accepted at `accepted` (the handler's entry time, so that no
    /// extra clock read is needed).
    pub fn event_accepted(&self, accepted: Instant) {
        increment(&self.events_delivered);
        increment(&self.events_pending);
        if self.events_pending_since.get().is_none() {
            self.events_pending_since.set(Some(accepted));
        }
    }

    /// Whether events were accepted since the last [`Metrics::events_processed`].
    pub fn events_pending(&self) -> bool {
        self.events_pending.get() > 0
    }

    /// The driver ran out of ready work at `now`: every pending event was processed. Each is
    /// charged the age of the oldest (see the module documentation).
    pub fn events_processed(&self, now: Instant) {
        let pending = self.events_pending.replace(0);
        let Some(since) = self.events_pending_since.take() else {
            assert_eq!(pending, 0);
            return;
        };
        assert!(pending > 0);
        self.event_latency
            .record_n(now.saturating_duration_since(since), pending);
    }

    /// Counts an API request this shard forwarded to the session's home shard.
    pub fn request_forwarded(&self) {
        increment(&self.forwarded);
    }

    /// Counts a request refused for want of a principal (401, or 403 for an unmapped client
    /// certificate) or for its principal's roles (403).
    pub fn access_refused(&self, unauthenticated: bool) {
        match unauthenticated {
            true => increment(&self.unauthenticated),
            false => increment(&self.forbidden),
        }
    }

    /// Counts an event from another shard's session that found no session here, or a
    /// full queue, and was dropped.
    pub fn mesh_event_dropped(&self) {
        increment(&self.mesh_dropped);
    }

    /// This shard's numbers now, with `sessions` live sessions: plain data, to render here
    /// or to send to the shard that answers `GET /metrics`.
    pub fn snapshot(&self, sessions: u64) -> ShardSnapshot {
        let requests = self
            .requests
            .each_ref()
            .map(|row| row.each_ref().map(Cell::get));
        ShardSnapshot {
            shard: self.shard,
            sessions,
            requests,
            refusals: self.refusals.get(),
            sessions_started: self.sessions_started.get(),
            sessions_done: self.sessions_done.get(),
            sessions_limited: self.sessions_limited.get(),
            sessions_terminated: self.sessions_terminated.get(),
            events_delivered: self.events_delivered.get(),
            forwarded: self.forwarded.get(),
            mesh_dropped: self.mesh_dropped.get(),
            unauthenticated: self.unauthenticated.get(),
            forbidden: self.forbidden.get(),
            request_latency: self.request_latency.snapshot(),
            event_latency: self.event_latency.snapshot(),
            sip_answer_latency: self.sip_answer_latency.snapshot(),
            replies: ReplyCounts::default(),
            documents_cached: 0,
            sessions_throttled: 0,
            routing: None,
        }
    }
}

/// One latency distribution, summarised: what the exposition shows of it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LatencySnapshot {
    /// The values at [`QUANTILES`], in microseconds.
    quantiles_us: [u64; QUANTILES.len()],
    sum_us: u64,
    count: u64,
}

/// One shard's metrics at one moment. `Send`: it crosses the mesh (a few hundred bytes;
/// the histograms stay home, only their quantiles travel).
#[derive(Clone, Debug, PartialEq)]
pub struct ShardSnapshot {
    /// The shard.
    pub shard: u16,
    /// Live sessions, top-level and invoked.
    pub sessions: u64,
    requests: [[u64; STATUS_CLASSES.len()]; ROUTES],
    refusals: u64,
    sessions_started: u64,
    sessions_done: u64,
    sessions_limited: u64,
    sessions_terminated: u64,
    events_delivered: u64,
    forwarded: u64,
    mesh_dropped: u64,
    unauthenticated: u64,
    forbidden: u64,
    request_latency: LatencySnapshot,
    event_latency: LatencySnapshot,
    sip_answer_latency: LatencySnapshot,
    replies: ReplyCounts,
    /// Compiled documents cached (files and URLs).
    documents_cached: u64,
    sessions_throttled: u64,
    routing: Option<RoutingGauges>,
}

impl ShardSnapshot {
    /// The snapshot with the routing shard's gauges.
    pub fn with_routing(mut self, routing: Option<RoutingGauges>) -> ShardSnapshot {
        self.routing = routing;
        self
    }

    /// The snapshot with the shard's host counts: cached compiled documents, and times a
    /// session was throttled for its events per second.
    pub fn with_host(mut self, documents_cached: usize, throttled: u64) -> ShardSnapshot {
        self.documents_cached = u64::try_from(documents_cached).expect("a count fits in u64");
        self.sessions_throttled = throttled;
        self
    }

    /// The snapshot with the shard's request/reply counts (kept by [`super::reply`]).
    pub fn with_replies(mut self, replies: ReplyCounts) -> ShardSnapshot {
        self.replies = replies;
        self
    }
}

/// A family of one sample per shard: name, type, help, and the shard's value.
type PerShard = (
    &'static str,
    &'static str,
    &'static str,
    fn(&ShardSnapshot) -> u64,
);

/// The families with one unlabelled (but for `shard`) sample per shard.
const PER_SHARD: [PerShard; 14] = [
    (
        "baton_refusals_total",
        "counter",
        "Requests answered 503 (shard, queue or mesh channel full)",
        |s| s.refusals,
    ),
    (
        "baton_sessions_started_total",
        "counter",
        "Sessions started by the API",
        |s| s.sessions_started,
    ),
    (
        "baton_sessions_terminated_total",
        "counter",
        "Sessions terminated by the API",
        |s| s.sessions_terminated,
    ),
    (
        "baton_events_delivered_total",
        "counter",
        "External events queued to a session of this shard by the API",
        |s| s.events_delivered,
    ),
    (
        "baton_requests_forwarded_total",
        "counter",
        "API requests for a session of another shard, forwarded to it over the mesh",
        |s| s.forwarded,
    ),
    (
        "baton_access_unauthenticated_total",
        "counter",
        "HTTP requests refused without a principal: no or unknown credentials (401), or a \
         client certificate mapped to none (403)",
        |s| s.unauthenticated,
    ),
    (
        "baton_access_forbidden_total",
        "counter",
        "HTTP requests refused because the principal's roles do not allow the operation (403)",
        |s| s.forbidden,
    ),
    (
        "baton_mesh_events_dropped_total",
        "counter",
        "Events sent by a session of another shard that found no session or a full queue \
         here",
        |s| s.mesh_dropped,
    ),
    (
        "baton_sessions_throttled_total",
        "counter",
        "Times a session used up limits.session_events_per_second_max and was held until its \
         next second (a session in a tight event loop counts once a second)",
        |s| s.sessions_throttled,
    ),
    (
        "baton_sessions",
        "gauge",
        "Live sessions, top-level and invoked",
        |s| s.sessions,
    ),
    (
        "baton_documents_cached",
        "gauge",
        "Compiled documents cached: files by resolved path and URLs, each cache bounded by \
         documents.cache_entries_max and documents.cache_bytes_max",
        |s| s.documents_cached,
    ),
    (
        "baton_requests_pending",
        "gauge",
        "Requests awaiting a <session:response>",
        |s| s.replies.pending,
    ),
    (
        "baton_request_timeouts_total",
        "counter",
        "Requests answered 504: no <session:response> in time",
        |s| s.replies.timed_out,
    ),
    (
        "baton_request_replies_late_total",
        "counter",
        "Responses dropped: their request had timed out or was answered already",
        |s| s.replies.late,
    ),
];

/// Appends the exposition of every shard in `answered` (samples labelled `shard`, each
/// family's `HELP` and `TYPE` once) to `out`, and `baton_shard_up` for them (1) and for the
/// shards in `missing`, which did not answer (0).
pub fn render(answered: &[ShardSnapshot], missing: &[u16], out: &mut String) {
    render_into(answered, missing, out).expect("writing to a String cannot fail");
}

fn render_into(answered: &[ShardSnapshot], missing: &[u16], out: &mut String) -> Result {
    let name = "baton_shard_up";
    let help = "Whether the shard answered this scrape (1) or not (0: busy or stopped)";
    family(out, name, "gauge", help)?;
    for snapshot in answered {
        writeln!(out, "{name}{{shard=\"{}\"}} 1", snapshot.shard)?;
    }
    for shard in missing {
        writeln!(out, "{name}{{shard=\"{shard}\"}} 0")?;
    }
    for (name, kind, help, value) in PER_SHARD {
        family(out, name, kind, help)?;
        for snapshot in answered {
            let (shard, value) = (snapshot.shard, value(snapshot));
            writeln!(out, "{name}{{shard=\"{shard}\"}} {value}")?;
        }
    }
    render_requests(answered, out)?;
    render_ended(answered, out)?;
    let help = "Request latency, handler entry to response ready, in seconds";
    let name = "baton_request_latency_seconds";
    summary(out, name, help, answered, |s| &s.request_latency)?;
    let help = "Event accepted to the end of the run_ready batch that processed it, in seconds \
                (an upper bound: each event is charged its batch's oldest age)";
    let name = "baton_event_macrostep_latency_seconds";
    summary(out, name, help, answered, |s| &s.event_latency)?;
    let help = "SIP INVITE read to its final response sent (302, rejection or default \
                destination; not CANCELs), in seconds";
    let name = "baton_sip_answer_latency_seconds";
    summary(out, name, help, answered, |s| &s.sip_answer_latency)?;
    render_routing(answered, out)
}

/// The SIP endpoint's samples: name, type and help, in [`RoutingGauges::sip`] order.
pub const SIP: [(&str, &str, &str); 12] = [
    (
        "baton_sip_calls_waiting",
        "gauge",
        "SIP calls waiting for their final response",
    ),
    (
        "baton_sip_transactions",
        "gauge",
        "SIP server transactions alive",
    ),
    (
        "baton_sip_invites_total",
        "counter",
        "INVITEs that started a call",
    ),
    (
        "baton_sip_redirected_total",
        "counter",
        "Calls answered 302",
    ),
    (
        "baton_sip_defaulted_total",
        "counter",
        "Calls sent to the default destination",
    ),
    (
        "baton_sip_rejected_total",
        "counter",
        "Calls rejected by their strategy",
    ),
    (
        "baton_sip_cancelled_total",
        "counter",
        "Calls cancelled by the caller (487)",
    ),
    (
        "baton_sip_retransmissions_total",
        "counter",
        "Request retransmissions absorbed",
    ),
    (
        "baton_sip_malformed_total",
        "counter",
        "SIP messages that did not parse",
    ),
    (
        "baton_sip_refused_total",
        "counter",
        "SIP requests refused at a bound (503)",
    ),
    (
        "baton_sip_ack_timeouts_total",
        "counter",
        "Final responses never acknowledged",
    ),
    (
        "baton_sip_send_failures_total",
        "counter",
        "SIP messages the kernel or a closed connection refused",
    ),
];

/// The routing shard's gauges (no sample from the other shards).
fn render_routing(answered: &[ShardSnapshot], out: &mut String) -> Result {
    let routing: Vec<(u16, &RoutingGauges)> = answered
        .iter()
        .filter_map(|s| s.routing.as_ref().map(|r| (s.shard, r)))
        .collect();
    let name = "baton_interactions";
    family(out, name, "gauge", "Interactions alive, by state")?;
    let states = ["routing", "queued", "offered", "accepted", "completed"];
    for (shard, gauges) in &routing {
        for (state, count) in states.iter().zip(gauges.interactions) {
            writeln!(out, "{name}{{shard=\"{shard}\",state=\"{state}\"}} {count}")?;
        }
    }
    let name = "baton_agents";
    family(out, name, "gauge", "Agents with a profile, by state")?;
    let states = ["logged-out", "ready", "not-ready", "after-call-work"];
    for (shard, gauges) in &routing {
        for (state, count) in states.iter().zip(gauges.agents) {
            writeln!(out, "{name}{{shard=\"{shard}\",state=\"{state}\"}} {count}")?;
        }
    }
    type Gauge = (
        &'static str,
        &'static str,
        &'static str,
        fn(&RoutingGauges) -> u64,
    );
    let gauges: [Gauge; 4] = [
        (
            "baton_queue_waiting",
            "gauge",
            "Queue submissions waiting for an agent",
            |g| g.waiting,
        ),
        (
            "baton_queue_reserved",
            "gauge",
            "Queue submissions reserved to an agent",
            |g| g.reserved,
        ),
        (
            "baton_queues",
            "gauge",
            "Open queues (distinct target list and media)",
            |g| g.queues,
        ),
        (
            "baton_offer_events_dropped_total",
            "counter",
            "Offer-stream events a full stream missed (routing.offer_stream_buffer)",
            |g| g.offers_dropped,
        ),
    ];
    for (name, kind, help, value) in gauges {
        family(out, name, kind, help)?;
        for (shard, routing) in &routing {
            writeln!(out, "{name}{{shard=\"{shard}\"}} {}", value(routing))?;
        }
    }
    for (index, (name, kind, help)) in SIP.into_iter().enumerate() {
        family(out, name, kind, help)?;
        for (shard, routing) in &routing {
            writeln!(out, "{name}{{shard=\"{shard}\"}} {}", routing.sip[index])?;
        }
    }
    Ok(())
}

fn render_requests(answered: &[ShardSnapshot], out: &mut String) -> Result {
    let name = "baton_requests_total";
    family(
        out,
        name,
        "counter",
        "Requests answered, by route and status class",
    )?;
    for snapshot in answered {
        let shard = snapshot.shard;
        for (kind, counts) in RouteKind::ALL.iter().zip(&snapshot.requests) {
            // 1xx is never a final answer of the API.
            for (code, count) in STATUS_CLASSES.iter().zip(counts).skip(1) {
                let route = kind.name();
                writeln!(
                    out,
                    "{name}{{shard=\"{shard}\",route=\"{route}\",code=\"{code}\"}} {count}"
                )?;
            }
        }
    }
    let help = "Errors: requests answered 4xx (client) or 5xx (server), and sessions ended by a \
                limit (session)";
    let name = "baton_errors_total";
    family(out, name, "counter", help)?;
    for snapshot in answered {
        let class_total = |class: usize| snapshot.requests.iter().map(|r| r[class]).sum::<u64>();
        let kinds = [
            ("client", class_total(3)),
            ("server", class_total(4)),
            ("session", snapshot.sessions_limited),
        ];
        for (kind, count) in kinds {
            let shard = snapshot.shard;
            writeln!(out, "{name}{{shard=\"{shard}\",kind=\"{kind}\"}} {count}")?;
        }
    }
    Ok(())
}

fn render_ended(answered: &[ShardSnapshot], out: &mut String) -> Result {
    let help = "Top-level sessions that finished: done (a final state) or limit (ended by one)";
    let name = "baton_sessions_ended_total";
    family(out, name, "counter", help)?;
    for snapshot in answered {
        let shard = snapshot.shard;
        let (done, limited) = (snapshot.sessions_done, snapshot.sessions_limited);
        writeln!(out, "{name}{{shard=\"{shard}\",reason=\"done\"}} {done}")?;
        writeln!(
            out,
            "{name}{{shard=\"{shard}\",reason=\"limit\"}} {limited}"
        )?;
    }
    Ok(())
}

fn increment(counter: &Cell<u64>) {
    counter.set(counter.get().wrapping_add(1));
}

/// `# HELP` and `# TYPE` of one metric family.
fn family(out: &mut String, name: &str, kind: &str, help: &str) -> Result {
    writeln!(out, "# HELP {name} {help}.")?;
    writeln!(out, "# TYPE {name} {kind}")
}

fn summary(
    out: &mut String,
    name: &str,
    help: &str,
    answered: &[ShardSnapshot],
    latency: fn(&ShardSnapshot) -> &LatencySnapshot,
) -> Result {
    family(out, name, "summary", help)?;
    for snapshot in answered {
        let (shard, latency) = (snapshot.shard, latency(snapshot));
        for ((_, label), us) in QUANTILES.iter().zip(latency.quantiles_us) {
            let seconds = seconds(us);
            writeln!(
                out,
                "{name}{{shard=\"{shard}\",quantile=\"{label}\"}} {seconds}"
            )?;
        }
        let sum = seconds(latency.sum_us);
        writeln!(out, "{name}_sum{{shard=\"{shard}\"}} {sum}")?;
        writeln!(out, "{name}_count{{shard=\"{shard}\"}} {}", latency.count)?;
    }
    Ok(())
}

fn seconds(us: u64) -> f64 {
    us as f64 / 1e6
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One sample line, parsed back.
    #[derive(Debug)]
    struct Sample {
        name: String,
        labels: Vec<(String, String)>,
        value: f64,
    }

    impl Sample {
        fn label(&self, name: &str) -> Option<&str> {
            let found = self.labels.iter().find(|(n, _)| n == name);
            found.map(|(_, v)| v.as_str())
        }
    }

    /// Parses the exposition strictly: every line is `# HELP name text`, `# TYPE name kind`
    /// (before the family's samples) or `name{labels} value`.
    fn parse(text: &str) -> Vec<Sample> {
        let mut typed: Vec<(String, String)> = Vec::new();
        let mut samples = Vec::new();
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# HELP ") {
                let (name, help) = rest.split_once(' ').expect("HELP name text");
                assert!(is_name(name) && !help.is_empty(), "{line}");
                continue;
            }
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                let (name, kind) = rest.split_once(' ').expect("TYPE name kind");
                assert!(is_name(name), "{line}");
                assert!(["counter", "gauge", "summary"].contains(&kind), "{line}");
                typed.push((name.to_string(), kind.to_string()));
                continue;
            }
            let sample = parse_sample(line);
            let family = typed.last().expect("a TYPE before the samples");
            let base = match family.1.as_str() {
                "summary" => sample
                    .name
                    .strip_suffix("_sum")
                    .or_else(|| sample.name.strip_suffix("_count"))
                    .unwrap_or(&sample.name),
                _ => &sample.name,
            };
            assert_eq!(base, family.0, "{line}");
            samples.push(sample);
        }
        samples
    }

    fn parse_sample(line: &str) -> Sample {
        let (name, rest) = line.split_once('{').expect("name{labels} value");
        let (labels, value) = rest.split_once("} ").expect("name{labels} value");
        assert!(is_name(name), "{line}");
        let labels = labels
            .split(',')
            .map(|pair| {
                let (key, value) = pair.split_once('=').expect("key=\"value\"");
                let value = value.strip_prefix('"').and_then(|v| v.strip_suffix('"'));
                (key.to_string(), value.expect("a quoted value").to_string())
            })
            .collect();
        let value: f64 = value.parse().expect("a number");
        assert!(value.is_finite() && value >= 0.0, "{line}");
        Sample {
            name: name.to_string(),
            labels,
            value,
        }
    }

    fn is_name(name: &str) -> bool {
        !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
    }

    fn value(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> f64 {
        let matching: Vec<&Sample> = samples
            .iter()
            .filter(|s| s.name == name && labels.iter().all(|(k, v)| s.label(k) == Some(v)))
            .collect();
        assert_eq!(matching.len(), 1, "{name} {labels:?}");
        matching[0].value
    }

    fn rendered(metrics: &Metrics, sessions: u64) -> Vec<Sample> {
        let mut text = String::new();
        render(&[metrics.snapshot(sessions)], &[], &mut text);
        parse(&text)
    }

    #[test]
    fn shards_share_each_family_once() {
        let (first, second) = (Metrics::new(0), Metrics::new(1));
        first.session_started();
        second.request_forwarded();
        second.mesh_event_dropped();
        let snapshots = [first.snapshot(2), second.snapshot(5)];
        let mut text = String::new();
        render(&snapshots, &[2], &mut text);
        let samples = parse(&text);
        let types: Vec<&str> = text.lines().filter(|l| l.starts_with("# TYPE ")).collect();
        let mut unique = types.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), types.len(), "a family typed twice:\n{text}");
        let helps = text.lines().filter(|l| l.starts_with("# HELP ")).count();
        assert_eq!(helps, types.len());
        let on = |shard: &'static str| [("shard", shard)];
        assert_eq!(value(&samples, "baton_sessions", &on("0")), 2.0);
        assert_eq!(value(&samples, "baton_sessions", &on("1")), 5.0);
        assert_eq!(
            value(&samples, "baton_sessions_started_total", &on("0")),
            1.0
        );
        assert_eq!(
            value(&samples, "baton_sessions_started_total", &on("1")),
            0.0
        );
        assert_eq!(
            value(&samples, "baton_requests_forwarded_total", &on("1")),
            1.0
        );
        assert_eq!(
            value(&samples, "baton_mesh_events_dropped_total", &on("1")),
            1.0
        );
        assert_eq!(value(&samples, "baton_shard_up", &on("0")), 1.0);
        assert_eq!(value(&samples, "baton_shard_up", &on("1")), 1.0);
        assert_eq!(value(&samples, "baton_shard_up", &on("2")), 0.0);
        let missing = samples
            .iter()
            .filter(|s| s.label("shard") == Some("2"))
            .count();
        assert_eq!(
            missing, 1,
            "a shard that did not answer has only its up sample"
        );
    }

    #[test]
    fn exposition_parses_back_with_counters() {
        let metrics = Metrics::new(3);
        let started = Instant::now();
        metrics.request(RouteKind::Start, 200, started);
        metrics.request(RouteKind::Start, 503, started);
        metrics.request(RouteKind::Unmatched, 404, started);
        metrics.session_started();
        metrics.session_terminated();
        metrics.session_finished(&Status::Running);
        metrics.event_accepted(started);
        let samples = rendered(&metrics, 7);
        assert!(samples.iter().all(|s| s.label("shard") == Some("3")));
        assert_eq!(value(&samples, "baton_sessions", &[]), 7.0);
        let start_2xx = [("route", "start"), ("code", "2xx")];
        assert_eq!(value(&samples, "baton_requests_total", &start_2xx), 1.0);
        let start_5xx = [("route", "start"), ("code", "5xx")];
        assert_eq!(value(&samples, "baton_requests_total", &start_5xx), 1.0);
        let unmatched = [("route", "unmatched"), ("code", "4xx")];
        assert_eq!(value(&samples, "baton_requests_total", &unmatched), 1.0);
        assert_eq!(value(&samples, "baton_refusals_total", &[]), 1.0);
        let errors = "baton_errors_total";
        assert_eq!(value(&samples, errors, &[("kind", "client")]), 1.0);
        assert_eq!(value(&samples, errors, &[("kind", "server")]), 1.0);
        assert_eq!(value(&samples, errors, &[("kind", "session")]), 0.0);
        let ended = "baton_sessions_ended_total";
        assert_eq!(value(&samples, ended, &[("reason", "done")]), 1.0);
        assert_eq!(value(&samples, "baton_sessions_started_total", &[]), 1.0);
        assert_eq!(value(&samples, "baton_sessions_terminated_total", &[]), 1.0);
        assert_eq!(value(&samples, "baton_events_delivered_total", &[]), 1.0);
        let count = "baton_request_latency_seconds_count";
        assert_eq!(value(&samples, count, &[]), 3.0);
        let count = "baton_event_macrostep_latency_seconds_count";
        assert_eq!(value(&samples, count, &[]), 0.0, "not processed yet");
    }

    #[test]
    fn quantiles_are_monotonic_and_in_seconds() {
        let metrics = Metrics::new(0);
        for us in (1..=2_000u64).map(|i| i * i) {
            metrics
                .request_latency
                .record_n(Duration::from_micros(us), 1);
        }
        let samples = rendered(&metrics, 0);
        for name in [
            "baton_request_latency_seconds",
            "baton_event_macrostep_latency_seconds",
        ] {
            let quantiles: Vec<f64> = QUANTILES
                .iter()
                .map(|(_, label)| value(&samples, name, &[("quantile", label)]))
                .collect();
            assert!(quantiles.windows(2).all(|w| w[0] <= w[1]), "{quantiles:?}");
        }
        let name = "baton_request_latency_seconds";
        let median = value(&samples, name, &[("quantile", "0.5")]);
        assert!(
            (0.99..=1.01).contains(&median),
            "p50 of i² for i ≤ 2000 is ~1 s: {median}"
        );
        let sum = value(&samples, &format!("{name}_sum"), &[]);
        let exact: u64 = (1..=2_000u64).map(|i| i * i).sum();
        assert_eq!(sum, exact as f64 / 1e6);
    }

    #[test]
    fn events_are_charged_their_batch_age_once() {
        let metrics = Metrics::new(0);
        let accepted = Instant::now();
        metrics.event_accepted(accepted);
        metrics.event_accepted(accepted + Duration::from_millis(5));
        assert!(metrics.events_pending());
        metrics.events_processed(accepted + Duration::from_millis(10));
        assert!(!metrics.events_pending());
        metrics.events_processed(accepted + Duration::from_millis(20));
        let histogram = metrics.event_latency.histogram.borrow();
        assert_eq!(histogram.len(), 2);
        assert!(histogram.equivalent(histogram.max(), 10_000));
    }

    #[test]
    fn latencies_clamp_to_the_fixed_range() {
        let latency = Latency::new();
        latency.record_n(Duration::ZERO, 1);
        latency.record_n(Duration::from_secs(3_600), 1);
        let histogram = latency.histogram.borrow();
        assert_eq!(histogram.len(), 2);
        assert_eq!(histogram.min(), LATENCY_US_MIN);
        assert!(histogram.equivalent(histogram.max(), LATENCY_US_MAX));
    }
}
