//! Deferred starts: top-level sessions whose initial macrostep waits for a given time
//! (`idealtime` of the session API), in a min-heap keyed by `(at_ms, seq)`.
//!
//! A session terminated before its start leaves its entry behind; the entry is skipped when
//! it comes due, because its generation-checked key no longer finds a session.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use super::directory::SessionKey;

/// The pending deferred starts of one host.
#[derive(Debug, Default)]
pub(crate) struct DeferredStarts {
    heap: BinaryHeap<Reverse<(u64, u64, u32, u32)>>,
    seq_next: u64,
}

impl DeferredStarts {
    /// Starts `key` at `at_ms`; equal times start in scheduling order.
    pub fn schedule(&mut self, at_ms: u64, key: SessionKey) {
        let seq = self.seq_next;
        self.seq_next += 1;
        self.heap
            .push(Reverse((at_ms, seq, key.slot, key.generation)));
    }

    /// When the earliest start is due.
    pub fn next_ms(&self) -> Option<u64> {
        self.heap.peek().map(|Reverse((at_ms, ..))| *at_ms)
    }

    /// The earliest start if it is due at `now_ms`.
    pub fn pop_due(&mut self, now_ms: u64) -> Option<SessionKey> {
        let Reverse((at_ms, _, slot, generation)) = *self.heap.peek()?;
        if at_ms > now_ms {
            return None;
        }
        self.heap.pop();
        Some(SessionKey { slot, generation })
    }

    /// True if no start is pending.
    pub fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }

    /// Removes everything.
    pub fn clear(&mut self) {
        self.heap.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn starts_come_due_in_time_then_scheduling_order() {
        let key = |slot| SessionKey {
            slot,
            generation: 1,
        };
        let mut starts = DeferredStarts::default();
        starts.schedule(20, key(0));
        starts.schedule(10, key(1));
        starts.schedule(20, key(2));
        assert_eq!(starts.next_ms(), Some(10));
        assert_eq!(starts.pop_due(9), None);
        let due: Vec<u32> = std::iter::from_fn(|| starts.pop_due(20))
            .map(|k| k.slot)
            .collect();
        assert_eq!(due, [1, 0, 2]);
        assert!(starts.is_empty());
    }
}
