//! Delayed `<send>`s: a min-heap keyed by `(at_ms, seq)`.
//!
//! The sequence number breaks ties in scheduling order, so two sends due at the same time
//! fire in the order they were sent (FIFO per target, as the specification requires).
//! Cancelled timers are removed from the entry map at once and skipped lazily in the heap.
//! Each owner's pending count and payload bytes are kept as timers come and go, so the
//! bounds on them (`limits.delayed_sends_max`, `limits.delayed_send_bytes_max`) cost O(1)
//! per send.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};

use engine::effects::Outgoing;

use super::directory::SessionKey;

/// One pending delayed send.
#[derive(Debug)]
pub(crate) struct Timer {
    /// The sending session; its `<cancel>` and its end remove the timer.
    pub owner: SessionKey,
    /// What to deliver when the timer fires.
    pub out: Outgoing,
    /// `out`'s payload bytes, as counted in its owner's [`Pending`].
    bytes: u64,
}

/// What one owner has pending.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Pending {
    /// Pending sends.
    pub count: u32,
    /// Their payload bytes ([`Outgoing::payload_bytes`]).
    pub bytes: u64,
}

/// Every pending delayed send of one host.
#[derive(Debug, Default)]
pub(crate) struct Timers {
    heap: BinaryHeap<Reverse<(u64, u64)>>,
    entries: HashMap<u64, Timer>,
    /// Per owner with something pending (no entry for the others).
    pending: HashMap<SessionKey, Pending>,
    seq_next: u64,
}

impl Timers {
    /// Schedules `out` from `owner` to fire at `at_ms`.
    pub fn schedule(&mut self, at_ms: u64, owner: SessionKey, out: Outgoing) {
        let seq = self.seq_next;
        self.seq_next += 1;
        self.heap.push(Reverse((at_ms, seq)));
        let bytes = out.payload_bytes();
        let pending = self.pending.entry(owner).or_default();
        pending.count += 1;
        pending.bytes += bytes;
        let previous = self.entries.insert(seq, Timer { owner, out, bytes });
        assert!(previous.is_none());
    }

    /// Removes the pending sends of `owner` with this send id; returns how many.
    pub fn cancel(&mut self, owner: SessionKey, sendid: &str) -> usize {
        self.remove_where(|t| t.owner == owner && &*t.out.sendid == sendid)
    }

    /// Removes every pending send of `owner` (it ended); returns how many.
    pub fn cancel_owner(&mut self, owner: SessionKey) -> usize {
        let Some(pending) = self.pending.get(&owner) else {
            return 0;
        };
        assert!(
            pending.count > 0,
            "an owner with an entry has something pending"
        );
        self.remove_where(|t| t.owner == owner)
    }

    /// Removes the timers `matches` picks, keeping the owners' counts.
    fn remove_where(&mut self, mut matches: impl FnMut(&Timer) -> bool) -> usize {
        let before = self.entries.len();
        let pending = &mut self.pending;
        self.entries.retain(|_, t| {
            let remove = matches(t);
            if remove {
                forget(pending, t);
            }
            !remove
        });
        before - self.entries.len()
    }

    /// What `owner` has pending.
    pub fn pending(&self, owner: SessionKey) -> Pending {
        self.pending.get(&owner).copied().unwrap_or_default()
    }

    /// When the earliest live timer fires.
    pub fn next_ms(&mut self) -> Option<u64> {
        self.skip_cancelled();
        self.heap.peek().map(|Reverse((at_ms, _))| *at_ms)
    }

    /// The earliest live timer if it is due at `now_ms`.
    pub fn pop_due(&mut self, now_ms: u64) -> Option<Timer> {
        self.skip_cancelled();
        let Reverse((at_ms, seq)) = *self.heap.peek()?;
        if at_ms > now_ms {
            return None;
        }
        self.heap.pop();
        let timer = self.entries.remove(&seq)?;
        forget(&mut self.pending, &timer);
        Some(timer)
    }

    /// Removes everything.
    pub fn clear(&mut self) {
        self.heap.clear();
        self.entries.clear();
        self.pending.clear();
    }

    /// True if no timer is pending.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    fn skip_cancelled(&mut self) {
        while let Some(Reverse((_, seq))) = self.heap.peek() {
            if self.entries.contains_key(seq) {
                break;
            }
            self.heap.pop();
        }
    }
}

/// Takes `timer` off its owner's pending count and bytes.
fn forget(pending: &mut HashMap<SessionKey, Pending>, timer: &Timer) {
    let Some(owner) = pending.get_mut(&timer.owner) else {
        panic!("a pending timer's owner has an entry");
    };
    assert!(owner.count > 0);
    assert!(owner.bytes >= timer.bytes);
    owner.count -= 1;
    owner.bytes -= timer.bytes;
    if owner.count == 0 {
        assert!(owner.bytes == 0, "no bytes without sends");
        pending.remove(&timer.owner);
    }
}

#[cfg(test)]
mod tests {
    use engine::effects::{Outgoing, Target, SCXML_PROCESSOR};
    use engine::event::{Event, EventKind};

    use super::*;

    fn out(sendid: &str) -> Outgoing {
        Outgoing {
            sendid: sendid.into(),
            target: Target::SelfExternal,
            type_: SCXML_PROCESSOR.into(),
            delay_ms: 1,
            event: Event::new(sendid, EventKind::External),
        }
    }

    const A: SessionKey = SessionKey {
        slot: 0,
        generation: 1,
    };
    const B: SessionKey = SessionKey {
        slot: 1,
        generation: 2,
    };

    #[test]
    fn equal_times_fire_in_send_order() {
        let mut timers = Timers::default();
        timers.schedule(10, A, out("first"));
        timers.schedule(5, A, out("early"));
        timers.schedule(10, A, out("second"));
        assert_eq!(timers.next_ms(), Some(5));
        assert!(timers.pop_due(4).is_none());
        let names: Vec<_> = std::iter::from_fn(|| timers.pop_due(10))
            .map(|t| t.out.sendid)
            .collect();
        assert_eq!(names, ["early".into(), "first".into(), "second".into()]);
        assert!(timers.is_empty());
    }

    #[test]
    fn cancel_removes_only_the_owners_timer() {
        let mut timers = Timers::default();
        timers.schedule(10, A, out("x"));
        timers.schedule(20, B, out("x"));
        assert_eq!(timers.cancel(A, "x"), 1);
        assert_eq!(timers.next_ms(), Some(20));
        assert_eq!(timers.pending(B).count, 1);
        assert_eq!(timers.pending(B).bytes, out("x").payload_bytes());
        assert_eq!(timers.cancel_owner(B), 1);
        assert_eq!(timers.pending(B), Pending::default());
        assert_eq!(timers.next_ms(), None);
    }
}
