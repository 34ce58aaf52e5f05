//! The calls the SIP endpoint is answering: each INVITE transaction waiting for its final
//! response, the interaction it became, where it goes if the strategy does not decide, and
//! when that is.

use std::collections::{BTreeMap, HashMap};

use protocols::sip::TxKey;

use crate::orchestration::InteractionId;

/// One call waiting for its final response.
#[derive(Clone, Debug)]
pub struct Call {
    /// Its interaction, once admitted (`None` while its document is opened).
    pub interaction: Option<InteractionId>,
    /// Where it goes without a decision (the routing point's, else `sip.default_destination`).
    pub default_destination: Option<String>,
    /// The host of the Request-URI, for redirects to a bare number.
    pub host: String,
    /// When the strategy's time is up, epoch ms.
    pub deadline_ms: u64,
    /// When its INVITE was read (for the answer latency in `/metrics`).
    pub arrived: std::time::Instant,
    /// Its place among calls with the same deadline (set by [`Calls::insert`]).
    seq: u64,
}

impl Call {
    /// A call not yet admitted.
    pub fn new(
        default_destination: Option<String>,
        host: String,
        deadline_ms: u64,
        arrived: std::time::Instant,
    ) -> Call {
        Call {
            interaction: None,
            default_destination,
            host,
            deadline_ms,
            arrived,
            seq: 0,
        }
    }
}

/// The calls, by transaction and by interaction, and their deadlines in order.
#[derive(Default)]
pub struct Calls {
    by_key: HashMap<TxKey, Call>,
    by_interaction: HashMap<InteractionId, TxKey>,
    deadlines: BTreeMap<(u64, u64), TxKey>,
    next_seq: u64,
}

impl Calls {
    /// Calls waiting.
    pub fn len(&self) -> usize {
        self.by_key.len()
    }

    /// A new call on transaction `key`.
    pub fn insert(&mut self, key: TxKey, mut call: Call) {
        assert!(call.interaction.is_none());
        self.next_seq += 1;
        call.seq = self.next_seq;
        self.deadlines.insert((call.deadline_ms, call.seq), key);
        let replaced = self.by_key.insert(key, call);
        assert!(replaced.is_none(), "one call per transaction");
    }

    /// The call of `key` became interaction `id`; false if the call is gone (cancelled).
    pub fn bind(&mut self, key: TxKey, id: InteractionId) -> bool {
        let Some(call) = self.by_key.get_mut(&key) else {
            return false;
        };
        call.interaction = Some(id);
        self.by_interaction.insert(id, key);
        true
    }

    /// The call of `key`.
    pub fn get(&self, key: TxKey) -> Option<&Call> {
        self.by_key.get(&key)
    }

    /// The transaction of interaction `id`'s call.
    pub fn key_of(&self, id: InteractionId) -> Option<TxKey> {
        self.by_interaction.get(&id).copied()
    }

    /// Forgets the call of `key` (answered).
    pub fn remove(&mut self, key: TxKey) -> Option<Call> {
        let call = self.by_key.remove(&key)?;
        assert!(self
            .deadlines
            .remove(&(call.deadline_ms, call.seq))
            .is_some());
        if let Some(id) = call.interaction {
            self.by_interaction.remove(&id);
        }
        Some(call)
    }

    /// The calls whose deadline is due by `now_ms`, removed.
    pub fn take_due(&mut self, now_ms: u64) -> Vec<(TxKey, Call)> {
        let mut due = Vec::new();
        while let Some((&(at_ms, _), &key)) = self.deadlines.first_key_value() {
            if at_ms > now_ms {
                break;
            }
            let call = self.remove(key).expect("a deadline has its call");
            due.push((key, call));
        }
        due
    }

    /// The earliest deadline.
    pub fn next_deadline_ms(&self) -> Option<u64> {
        self.deadlines.keys().next().map(|&(at_ms, _)| at_ms)
    }
}
