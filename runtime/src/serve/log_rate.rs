//! A per-second budget for log lines that anyone who reaches a port can cause (refused TLS
//! handshakes, refused requests): past the budget, lines are only counted, and the count
//! left out is reported when the next second starts, so a scanner cannot flood the log.

use std::cell::Cell;
use std::time::{Duration, Instant};

/// One shard's budget for one kind of line.
pub struct LogRate {
    per_second_max: u32,
    window_start: Cell<Instant>,
    window_count: Cell<u32>,
}

impl LogRate {
    /// At most `per_second_max` lines a second.
    pub fn new(per_second_max: u32) -> LogRate {
        assert!(per_second_max > 0);
        LogRate {
            per_second_max,
            window_start: Cell::new(Instant::now()),
            window_count: Cell::new(0),
        }
    }

    /// Whether one more line may be written now. When a new second starts and lines of the
    /// last one were left out, `left_out` is called with their number first.
    pub fn admit(&self, left_out: impl FnOnce(u32)) -> bool {
        let now = Instant::now();
        if now.duration_since(self.window_start.get()) >= Duration::from_secs(1) {
            let over = self.window_count.get().saturating_sub(self.per_second_max);
            if over > 0 {
                left_out(over);
            }
            self.window_start.set(now);
            self.window_count.set(0);
        }
        let count = self.window_count.get().saturating_add(1);
        self.window_count.set(count);
        count <= self.per_second_max
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admits_the_budget_then_counts_what_it_leaves_out() {
        let rate = LogRate::new(2);
        let admitted: Vec<bool> = (0..5)
            .map(|_| rate.admit(|_| panic!("same second")))
            .collect();
        assert_eq!(admitted, [true, true, false, false, false]);
        rate.window_start
            .set(Instant::now() - Duration::from_secs(1));
        let mut reported = None;
        assert!(rate.admit(|n| reported = Some(n)));
        assert_eq!(reported, Some(3));
    }
}
