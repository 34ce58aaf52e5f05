//! The second half of a transaction's life: responses from the TU, the timers that
//! retransmit the final response and end the transaction, and what goes out.

use super::timer::{Deadline, Timer};
use super::{RespondError, State, Transactions, TxEvent, TxKey};
use crate::sip::message::Message;
use crate::sip::response::{reason_phrase, write_response};
use crate::sip::transaction::Peer;

impl Transactions {
    /// Sends `response` (built from the transaction's request with [`crate::sip::response`]
    /// and [`Transactions::to_tag`]) on transaction `key`. A provisional response (1xx)
    /// may be sent any number of times. A final one ends the transaction's dialogue:
    ///
    /// - INVITE, 3xx-6xx: Completed. Over UDP Timer G resends it at T1, doubling up to T2,
    ///   until an ACK; Timer H (64·T1) ends the transaction with [`TxEvent::AckTimeout`];
    ///   an ACK leads to Confirmed, and Timer I (T4 over UDP, 0 over TCP/TLS) to the end.
    /// - non-INVITE: Completed; Timer J (64·T1 over UDP, 0 over TCP/TLS) ends it, and until
    ///   then retransmitted requests get the final response again.
    pub fn respond(
        &mut self,
        key: TxKey,
        response: Message,
        now_ms: u64,
    ) -> Result<(), RespondError> {
        self.get(key).ok_or(RespondError::UnknownTransaction)?;
        let status = response.status().ok_or(RespondError::NotAResponse)?;
        self.answerable(key, status)?;
        let mut bytes = Vec::new();
        response.encode(&mut bytes);
        self.send_response(key.slot, bytes, status, now_ms);
        Ok(())
    }

    /// [`Transactions::respond`] with the response built from the transaction's request
    /// and its To tag ([`crate::sip::response`] with the standard reason phrase and
    /// `extra`), written straight to its wire form.
    pub fn respond_with(
        &mut self,
        key: TxKey,
        status: u16,
        extra: &[(&str, &str)],
        now_ms: u64,
    ) -> Result<(), RespondError> {
        let tx = self.answerable(key, status)?;
        let request = tx
            .request
            .as_ref()
            .expect("an unanswered transaction has its request");
        let mut bytes = Vec::with_capacity(super::RESPONSE_BYTES);
        let tag = super::tag_str(&tx.tag);
        write_response(
            request,
            status,
            reason_phrase(status),
            tag,
            extra,
            &mut bytes,
        );
        self.send_response(key.slot, bytes, status, now_ms);
        Ok(())
    }

    /// Transaction `key`, if it may still send a response with `status`.
    fn answerable(&self, key: TxKey, status: u16) -> Result<&super::Tx, RespondError> {
        let tx = self.get(key).ok_or(RespondError::UnknownTransaction)?;
        if !(100..=699).contains(&status) {
            return Err(RespondError::BadStatus { status });
        }
        if tx.final_status != 0 {
            return Err(RespondError::AlreadyFinal {
                status: tx.final_status,
            });
        }
        if tx.invite && (200..300).contains(&status) {
            return Err(RespondError::TwoHundredToInvite);
        }
        Ok(tx)
    }

    /// Sends an encoded response with `status` on transaction `slot`.
    fn send_response(&mut self, slot: u32, bytes: Vec<u8>, status: u16, now_ms: u64) {
        if status >= 200 {
            self.send_final(slot, bytes, status, now_ms);
            return;
        }
        self.send_bytes(slot, bytes);
        let tx = &mut self.slots[slot as usize];
        if tx.state == State::Trying {
            tx.state = State::Proceeding;
        }
    }

    /// Sends the final response of transaction `slot` and arms its timers.
    pub(super) fn send_final(&mut self, slot: u32, bytes: Vec<u8>, status: u16, now_ms: u64) {
        assert!(status >= 200);
        self.send_bytes(slot, bytes);
        let timers = self.limits.timers;
        let long_ms = timers.t1_ms * 64;
        let tx = &mut self.slots[slot as usize];
        assert!(tx.final_status == 0);
        tx.final_status = status;
        tx.request = None;
        tx.state = State::Completed;
        let reliable = tx.destination.transport.is_reliable();
        let give_up_ms = now_ms.saturating_add(long_ms);
        if tx.invite && !reliable {
            // Timer H rides on Timer G: one deadline in the heap per transaction. A
            // separate H entry would linger there, cancelled, for 64*T1 after the ACK:
            // up to 640,000 dead entries at 20,000 calls/s.
            tx.end_ms = Some(give_up_ms);
            let first_ms = now_ms.saturating_add(timers.t1_ms).min(give_up_ms);
            self.arm_retransmit(slot, first_ms, timers.t1_ms);
        } else if tx.invite {
            self.arm_end(slot, give_up_ms);
        } else if reliable {
            self.terminate(slot, false);
        } else {
            self.arm_end(slot, now_ms.saturating_add(long_ms));
        }
    }

    fn arm_retransmit(&mut self, slot: u32, at_ms: u64, interval_ms: u64) {
        let tx = &mut self.slots[slot as usize];
        tx.retransmit = Some((at_ms, interval_ms));
        self.deadlines.push(Deadline {
            at_ms,
            slot,
            generation: tx.generation,
            timer: Timer::Retransmit,
        });
    }

    pub(super) fn arm_end(&mut self, slot: u32, at_ms: u64) {
        let tx = &mut self.slots[slot as usize];
        tx.end_ms = Some(at_ms);
        self.deadlines.push(Deadline {
            at_ms,
            slot,
            generation: tx.generation,
            timer: Timer::End,
        });
    }

    /// Runs the timers due by `now_ms`: retransmissions (queued as outgoing) and ends
    /// (reported as events).
    pub fn tick(&mut self, now_ms: u64) {
        while let Some(deadline) = self.deadlines.pop_due(now_ms) {
            self.fire(deadline, now_ms);
        }
        self.prune_deadlines();
    }

    fn fire(&mut self, deadline: Deadline, now_ms: u64) {
        if !self.is_armed(deadline) {
            return;
        }
        let slot = deadline.slot;
        let tx = &self.slots[slot as usize];
        match deadline.timer {
            Timer::Retransmit => {
                assert!(tx.state == State::Completed);
                let give_up_ms = tx.end_ms.expect("Timer H armed with Timer G");
                if now_ms >= give_up_ms {
                    self.terminate(slot, true);
                    return;
                }
                let (_, interval_ms) = tx.retransmit.expect("an armed retransmission");
                if let Some(bytes) = &tx.last_response {
                    self.outgoing.push((tx.destination, bytes.clone()));
                }
                let next_ms = (interval_ms * 2).min(self.limits.timers.t2_ms);
                let at_ms = now_ms.saturating_add(next_ms).min(give_up_ms);
                self.arm_retransmit(slot, at_ms, next_ms);
            }
            Timer::End => {
                let ack_timeout = tx.invite && tx.state == State::Completed;
                self.terminate(slot, ack_timeout);
            }
            Timer::Trying => self.send_trying(slot),
        }
    }

    /// Whether `deadline` is still armed: its transaction lives and has not re-armed or
    /// cancelled that timer since.
    fn is_armed(&self, deadline: Deadline) -> bool {
        let Some(tx) = self.slots.get(deadline.slot as usize) else {
            return false;
        };
        if tx.generation != deadline.generation {
            return false;
        }
        match deadline.timer {
            Timer::Retransmit => tx.retransmit.map(|(at_ms, _)| at_ms) == Some(deadline.at_ms),
            Timer::End => tx.end_ms == Some(deadline.at_ms),
            Timer::Trying => tx.awaits_trying(),
        }
    }

    /// Drops cancelled deadlines from the top of the heap, so that
    /// [`Transactions::next_deadline_ms`] is exact whenever nothing is due.
    pub(super) fn prune_deadlines(&mut self) {
        while let Some(deadline) = self.deadlines.peek() {
            if self.is_armed(deadline) {
                return;
            }
            self.deadlines.pop();
        }
    }

    /// Removes transaction `slot` and reports its end (unless the TU never heard of it).
    pub(super) fn terminate(&mut self, slot: u32, ack_timeout: bool) {
        let tx = self.slots.remove(slot as usize);
        let indexed = self.index.remove(&*tx.key);
        assert_eq!(indexed, Some(slot));
        if tx.internal {
            return;
        }
        let key = TxKey {
            slot,
            generation: tx.generation,
        };
        self.events.push(if ack_timeout {
            TxEvent::AckTimeout { key }
        } else {
            TxEvent::Terminated { key }
        });
    }

    /// The earliest time [`Transactions::tick`] has something to do (cancelled timers are
    /// pruned as they reach the front, so this is never a spurious wake-up).
    pub fn next_deadline_ms(&self) -> Option<u64> {
        self.deadlines.next_ms()
    }

    /// Appends the messages to send, each with its destination, to `out`. For UDP the
    /// destination is [`crate::sip::response_destination`] of the request; for TCP and TLS
    /// the peer and connection the request came on.
    pub fn drain_outgoing(&mut self, out: &mut Vec<(Peer, Vec<u8>)>) {
        out.append(&mut self.outgoing);
    }

    /// Appends the events to `out`.
    pub fn drain_events(&mut self, out: &mut Vec<TxEvent>) {
        out.append(&mut self.events);
    }
}
