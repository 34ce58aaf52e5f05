//! The transactions' timers: one min-heap of deadlines, cancelled lazily.
//!
//! A transaction holds at most one retransmission deadline (Timer G, which over UDP also
//! stands for Timer H) and one end deadline (H over TCP/TLS, I or J). Re-arming or cancelling one only changes the transaction; the stale heap
//! entry is recognised and dropped when it comes due, so the heap holds at most a few
//! entries per live transaction plus stale ones that expire within T2 (a
//! cancelled retransmission) or 64*T1 (an H over TCP/TLS).

use std::cmp::Reverse;
use std::collections::BinaryHeap;

/// Which of a transaction's timers a deadline is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Timer {
    /// H, I or J: the transaction ends. Ordered first, so that when it falls together with
    /// a retransmission the transaction ends without one last send.
    End,
    /// G: the final response to an INVITE is sent again.
    Retransmit,
    /// The delayed `100 Trying` of an INVITE nothing has answered yet.
    Trying,
}

/// One armed timer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(super) struct Deadline {
    pub at_ms: u64,
    pub slot: u32,
    pub generation: u32,
    pub timer: Timer,
}

/// The deadlines of all transactions, earliest first.
#[derive(Debug, Default)]
pub(super) struct Deadlines {
    heap: BinaryHeap<Reverse<Deadline>>,
}

impl Deadlines {
    pub(super) fn push(&mut self, deadline: Deadline) {
        self.heap.push(Reverse(deadline));
    }

    /// The earliest deadline, possibly a stale one.
    pub(super) fn next_ms(&self) -> Option<u64> {
        self.heap.peek().map(|Reverse(deadline)| deadline.at_ms)
    }

    /// The earliest deadline.
    pub(super) fn peek(&self) -> Option<Deadline> {
        self.heap.peek().map(|Reverse(deadline)| *deadline)
    }

    /// Removes the earliest deadline.
    pub(super) fn pop(&mut self) -> Option<Deadline> {
        self.heap.pop().map(|Reverse(deadline)| deadline)
    }

    /// Removes and returns the earliest deadline if it is due by `now_ms`.
    pub(super) fn pop_due(&mut self, now_ms: u64) -> Option<Deadline> {
        if self.next_ms()? > now_ms {
            return None;
        }
        self.pop()
    }
}
