//! Clocks for the local host: real time (epoch milliseconds) for `baton run` and `baton
//! serve`, virtual time (from zero) for the conformance suite.
//!
//! The engine never reads a clock; the host reads one and passes `now_ms` into every engine
//! call. A virtual clock jumps to the next timer whenever nothing is runnable, so a test that
//! waits five seconds for a fail-safe timeout costs no wall time and replays exactly.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// A source of `now_ms` for the host's run loop.
pub trait Clock {
    /// Milliseconds since the clock's origin.
    fn now_ms(&self) -> u64;

    /// Nothing is runnable before `next_ms`: a real clock sleeps until then, a virtual clock
    /// jumps there. Never moves time backwards.
    fn idle_until(&mut self, next_ms: u64);
}

/// Wall-clock time in Unix epoch milliseconds: the system time read once at construction,
/// advanced by a monotonic [`Instant`]. So `Date.now()` in a script, `started_at_ms` in a
/// query and an `idealtime` are all epoch milliseconds, and time never moves backwards
/// within a run even if the system clock is stepped.
#[derive(Clone, Copy, Debug)]
pub struct RealClock {
    origin: Instant,
    origin_epoch_ms: u64,
}

impl RealClock {
    /// A clock reading the current epoch time.
    pub fn new() -> RealClock {
        RealClock {
            origin: Instant::now(),
            origin_epoch_ms: epoch_ms_now(),
        }
    }

    /// How long from now until `at_ms`, zero if it has passed.
    pub fn duration_until(&self, at_ms: u64) -> Duration {
        Duration::from_millis(at_ms.saturating_sub(self.now_ms()))
    }
}

impl Default for RealClock {
    fn default() -> Self {
        RealClock::new()
    }
}

/// The system clock in Unix epoch milliseconds (0 if it is set before 1970).
pub fn epoch_ms_now() -> u64 {
    let since = SystemTime::now().duration_since(UNIX_EPOCH);
    since.map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

impl Clock for RealClock {
    fn now_ms(&self) -> u64 {
        let elapsed = u64::try_from(self.origin.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.origin_epoch_ms.saturating_add(elapsed)
    }

    fn idle_until(&mut self, next_ms: u64) {
        let wait = self.duration_until(next_ms);
        if !wait.is_zero() {
            std::thread::sleep(wait);
        }
    }
}

/// Simulated time: starts at zero and only moves when the host is idle.
#[derive(Clone, Copy, Debug, Default)]
pub struct VirtualClock {
    now_ms: u64,
}

impl VirtualClock {
    /// A clock at time zero.
    pub fn new() -> VirtualClock {
        VirtualClock { now_ms: 0 }
    }
}

impl Clock for VirtualClock {
    fn now_ms(&self) -> u64 {
        self.now_ms
    }

    fn idle_until(&mut self, next_ms: u64) {
        self.now_ms = self.now_ms.max(next_ms);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn virtual_clock_jumps_forward_only() {
        let mut clock = VirtualClock::new();
        clock.idle_until(500);
        assert_eq!(clock.now_ms(), 500);
        clock.idle_until(100);
        assert_eq!(clock.now_ms(), 500);
    }

    #[test]
    fn real_clock_counts_epoch_ms_and_sleeps_until_the_deadline() {
        let mut clock = RealClock::new();
        let start = clock.now_ms();
        let epoch = epoch_ms_now();
        assert!(
            start <= epoch && epoch - start < 1_000,
            "{start} vs {epoch}"
        );
        clock.idle_until(start + 20);
        assert!(clock.now_ms() >= start + 20);
    }
}
