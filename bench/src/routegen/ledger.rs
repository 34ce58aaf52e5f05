//! The measurement's books: the interactions whose offer has not arrived yet, the two
//! latencies (POST answered, offer arrived) and the counts, and the JSON line they print as.
//!
//! Every time is in nanoseconds since the generator's base `Instant`. An interaction is
//! known by its stamp `t`: the time it was due to be sent (open loop: its slot on the fixed
//! schedule, so a server that falls behind shows its queueing delay; closed loop: when it
//! was sent), which the generator also puts into its attached data, so the offer names it.
//! Only interactions whose stamp falls inside the measured window are counted.

use std::collections::HashSet;
use std::ops::Range;

use hdrhistogram::Histogram;
use serde_json::json;

use crate::loadgen::report::{latency_histogram, latency_json, round1, ErrorKind};

/// The books of one run.
pub struct Ledger {
    window_ns: Range<u64>,
    /// Stamps of interactions sent whose offer has not arrived.
    outstanding: HashSet<u64>,
    offer_us: Histogram<u64>,
    post_us: Histogram<u64>,
    /// How late each POST left against its stamp: the generator's own delay.
    send_late_us: Histogram<u64>,
    posts: u64,
    offers: u64,
    offers_unexpected: u64,
    errors: [u64; ErrorKind::ALL.len()],
    status_last: Option<u16>,
}

/// What a run measured, besides the books.
pub struct Summary {
    /// `"open"` or `"closed"`.
    pub mode: &'static str,
    /// The open loop's target rate.
    pub rate_target_per_s: Option<u32>,
    /// Connections.
    pub concurrency: u32,
    /// Agents and their streams.
    pub agents: u32,
    /// Backlog interactions created by this run.
    pub backlog: u32,
    /// Interactions waiting on the backlog's target at the start of the measurement.
    pub waiting: u64,
    /// Measured seconds.
    pub duration_s: u32,
    /// Unmeasured seconds before.
    pub warmup_s: u32,
}

impl Ledger {
    /// Empty books counting the stamps in `window_ns`.
    pub fn new(window_ns: Range<u64>) -> Ledger {
        assert!(window_ns.start < window_ns.end);
        Ledger {
            window_ns,
            outstanding: HashSet::new(),
            offer_us: latency_histogram(),
            post_us: latency_histogram(),
            send_late_us: latency_histogram(),
            posts: 0,
            offers: 0,
            offers_unexpected: 0,
            errors: [0; ErrorKind::ALL.len()],
            status_last: None,
        }
    }

    fn measured(&self, stamp_ns: u64) -> bool {
        self.window_ns.contains(&stamp_ns)
    }

    /// Interaction `stamp_ns` is about to be sent, at `sent_ns` (before the POST: its offer
    /// may arrive before the POST's answer is read). Stamps are unique. How late it leaves
    /// tells generator stalls (every connection busy, or the generator's core taken) from
    /// the server's: both show in the latencies, only the generator's here.
    pub fn sent(&mut self, stamp_ns: u64, sent_ns: u64) {
        let new = self.outstanding.insert(stamp_ns);
        assert!(new, "stamp {stamp_ns} sent twice");
        if self.measured(stamp_ns) {
            record(&mut self.send_late_us, sent_ns.saturating_sub(stamp_ns));
        }
    }

    /// The POST of `stamp_ns` was answered at `answered_ns` (`Ok`: 201) or failed.
    pub fn answered(&mut self, stamp_ns: u64, answered_ns: u64, result: Result<(), ErrorKind>) {
        let measured = self.measured(stamp_ns);
        match result {
            Ok(()) if measured => {
                self.posts += 1;
                record(&mut self.post_us, answered_ns.saturating_sub(stamp_ns));
            }
            Ok(()) => {}
            Err(kind) => {
                // No offer is expected for a refused interaction.
                self.outstanding.remove(&stamp_ns);
                if measured {
                    self.errors[kind_index(kind)] += 1;
                }
            }
        }
    }

    /// The status of the last refused POST, for diagnosis.
    pub fn status_refused(&mut self, status: u16) {
        self.status_last = Some(status);
    }

    /// An offer arrived at `arrived_ns` for the interaction stamped `stamp_ns` (`None`: an
    /// offer without a stamp, not the generator's).
    pub fn offered(&mut self, stamp_ns: Option<u64>, arrived_ns: u64) {
        match stamp_ns.filter(|stamp| self.outstanding.remove(stamp)) {
            Some(stamp) if self.measured(stamp) => {
                self.offers += 1;
                record(&mut self.offer_us, arrived_ns.saturating_sub(stamp));
            }
            Some(_) => {}
            None => self.offers_unexpected += 1,
        }
    }

    /// Interactions sent whose offer has not arrived, measured or not.
    pub fn outstanding(&self) -> usize {
        self.outstanding.len()
    }

    /// Measured interactions whose offer has not arrived.
    pub fn missing(&self) -> u64 {
        let measured = self.outstanding.iter().filter(|s| self.measured(**s));
        measured.count() as u64
    }

    /// The report line; call it once the offers still due have had their time.
    pub fn to_json(&self, summary: &Summary) -> serde_json::Value {
        let window_s = (self.window_ns.end - self.window_ns.start) as f64 / 1e9;
        let errors: serde_json::Map<String, serde_json::Value> = ErrorKind::ALL
            .iter()
            .zip(self.errors)
            .map(|(kind, count)| (kind.name().to_string(), json!(count)))
            .collect();
        json!({
            "scenario": "interactions",
            "mode": summary.mode,
            "rate_target_per_s": summary.rate_target_per_s,
            "concurrency": summary.concurrency,
            "agents": summary.agents,
            "backlog": summary.backlog,
            "waiting": summary.waiting,
            "duration_s": summary.duration_s,
            "warmup_s": summary.warmup_s,
            "posts": self.posts,
            "offers": self.offers,
            "missing": self.missing(),
            "offers_unexpected": self.offers_unexpected,
            "errors": errors,
            "errors_total": self.errors.iter().sum::<u64>(),
            "status_last_error": self.status_last,
            "rate_per_s": round1(self.posts as f64 / window_s),
            "routed_per_s": round1(self.offers as f64 / window_s),
            "latency_us": latency_json(&self.offer_us),
            "post_latency_us": latency_json(&self.post_us),
            "send_late_us": latency_json(&self.send_late_us),
        })
    }
}

fn record(histogram: &mut Histogram<u64>, latency_ns: u64) {
    histogram.saturating_record((latency_ns / 1000).max(1));
}

fn kind_index(kind: ErrorKind) -> usize {
    let index = ErrorKind::ALL.iter().position(|k| *k == kind);
    index.expect("every kind is listed")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summary() -> Summary {
        Summary {
            mode: "open",
            rate_target_per_s: Some(1000),
            concurrency: 4,
            agents: 2,
            backlog: 0,
            waiting: 0,
            duration_s: 1,
            warmup_s: 0,
        }
    }

    #[test]
    fn offer_latency_is_arrival_minus_stamp() {
        let ms = 1_000_000;
        let mut ledger = Ledger::new(1000 * ms..2000 * ms);
        // Warm-up: answered and offered, but not counted.
        ledger.sent(500 * ms, 500 * ms);
        ledger.answered(500 * ms, 501 * ms, Ok(()));
        ledger.offered(Some(500 * ms), 502 * ms);
        // Measured: the offer may come before the POST's answer.
        for i in 0..100u64 {
            let stamp = 1000 * ms + i * ms;
            ledger.sent(stamp, stamp + 2000);
            ledger.offered(Some(stamp), stamp + (i + 1) * 10_000);
            ledger.answered(stamp, stamp + 50_000, Ok(()));
        }
        // Refused: no offer expected, an error.
        ledger.sent(1500 * ms, 1500 * ms);
        ledger.status_refused(503);
        ledger.answered(1500 * ms, 1501 * ms, Err(ErrorKind::Status));
        // Never offered: missing.
        ledger.sent(1600 * ms, 1600 * ms);
        ledger.answered(1600 * ms, 1601 * ms, Ok(()));
        // Not ours, or offered twice.
        ledger.offered(None, 1700 * ms);
        ledger.offered(Some(1000 * ms), 1700 * ms);
        assert_eq!(ledger.outstanding(), 1);

        let report = ledger.to_json(&summary());
        assert_eq!(report["posts"], 101, "{report}");
        assert_eq!(report["offers"], 100, "{report}");
        assert_eq!(report["missing"], 1, "{report}");
        assert_eq!(report["offers_unexpected"], 2, "{report}");
        assert_eq!(report["errors"]["status"], 1, "{report}");
        assert_eq!(report["status_last_error"], 503, "{report}");
        assert_eq!(report["routed_per_s"], 100.0, "{report}");
        // Offers took 10, 20, ... 1000 us.
        assert_eq!(report["latency_us"]["p50"], 500, "{report}");
        assert_eq!(report["latency_us"]["max"], 1000, "{report}");
        assert_eq!(report["post_latency_us"]["p50"], 50, "{report}");
        assert_eq!(report["send_late_us"]["p50"], 2, "{report}");
    }
}
