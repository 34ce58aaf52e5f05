//! The session slab: every session of a host (a root and its invoked descendants), its
//! external queue and its links to its parent and children.
//!
//! Keys carry a generation, so a key kept after its session ended cannot reach a session
//! that later reuses the slot. Session ids (`_sessionid`) are drawn from a seeded generator,
//! so a run with the same seed produces the same ids.

use std::collections::{HashMap, VecDeque};
use std::rc::Rc;

use engine::event::Event;
use engine::model::Document;
use engine::session::Session;
use engine::value::Value;
use slab::Slab;

/// A session's slot in a host, generation-checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SessionKey {
    /// Slab index.
    pub slot: u32,
    /// Generation of the slot when the session was inserted.
    pub generation: u32,
}

/// Where a session is in its life, seen from the host.
pub(crate) enum Phase {
    /// Created by `<invoke>` during the parent's step; starts after that step.
    Starting {
        /// Values for the child's top-level `<data>`.
        params: Vec<(Box<str>, Value)>,
    },
    /// Waiting for events (boxed: a session is large, a starting slot is not).
    Idle(Box<Session>),
    /// Taken out of the slot while the engine runs it.
    Busy,
}

/// The link from an invoked child to its parent.
#[derive(Clone, Debug)]
pub(crate) struct ParentLink {
    /// The parent session.
    pub key: SessionKey,
    /// The child's invoke id in the parent.
    pub invokeid: Box<str>,
}

/// One session and what the host keeps for it.
pub(crate) struct Slot {
    pub generation: u32,
    /// `_sessionid`.
    pub id: Box<str>,
    pub doc: Rc<Document>,
    pub phase: Phase,
    /// The external event queue, FIFO.
    pub queue: VecDeque<Event>,
    /// `None` for a root, and for a child whose invocation was cancelled.
    pub parent: Option<ParentLink>,
    /// Invoke id to child, in invocation order.
    pub children: Vec<(Box<str>, SessionKey)>,
    /// The parent forwards its external events to this child.
    pub autoforward: bool,
}

/// Why a session could not be added.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SessionsFull {
    /// The bound ([`super::HostConfig::sessions_max`]).
    pub sessions_max: u32,
}

/// The sessions of one host.
pub(crate) struct Directory {
    slab: Slab<Slot>,
    by_id: HashMap<Box<str>, SessionKey>,
    generation_next: u32,
    sessions_max: u32,
    ids: IdGenerator,
}

impl Directory {
    pub fn new(sessions_max: u32, seed: u64) -> Directory {
        assert!(sessions_max > 0);
        Directory {
            slab: Slab::new(),
            by_id: HashMap::new(),
            generation_next: 1,
            sessions_max,
            ids: IdGenerator { seed, counter: 0 },
        }
    }

    /// Adds a session in phase `phase` with a fresh session id.
    pub fn insert(
        &mut self,
        doc: Rc<Document>,
        phase: Phase,
        parent: Option<ParentLink>,
    ) -> Result<SessionKey, SessionsFull> {
        if self.slab.len() >= self.sessions_max as usize {
            return Err(SessionsFull {
                sessions_max: self.sessions_max,
            });
        }
        let id = self.fresh_id();
        let generation = self.generation_next;
        self.generation_next = self.generation_next.wrapping_add(1).max(1);
        let entry = self.slab.vacant_entry();
        let slot = u32::try_from(entry.key()).expect("slab index fits u32 (sessions_max)");
        let key = SessionKey { slot, generation };
        entry.insert(Slot {
            generation,
            id: id.clone(),
            doc,
            phase,
            queue: VecDeque::new(),
            parent,
            children: Vec::new(),
            autoforward: false,
        });
        self.by_id.insert(id, key);
        Ok(key)
    }

    pub fn get(&self, key: SessionKey) -> Option<&Slot> {
        self.slab
            .get(key.slot as usize)
            .filter(|s| s.generation == key.generation)
    }

    pub fn get_mut(&mut self, key: SessionKey) -> Option<&mut Slot> {
        self.slab
            .get_mut(key.slot as usize)
            .filter(|s| s.generation == key.generation)
    }

    /// Removes a session and unlinks it from its parent.
    pub fn remove(&mut self, key: SessionKey) -> Option<Slot> {
        self.get(key)?;
        let slot = self.slab.remove(key.slot as usize);
        self.by_id.remove(&slot.id);
        if let Some(link) = &slot.parent {
            if let Some(parent) = self.get_mut(link.key) {
                parent.children.retain(|(_, child)| *child != key);
            }
        }
        Some(slot)
    }

    /// The session whose `_sessionid` is `id`.
    pub fn by_id(&self, id: &str) -> Option<SessionKey> {
        self.by_id.get(id).copied()
    }

    /// The child that `parent` invoked as `invokeid`.
    pub fn child(&self, parent: SessionKey, invokeid: &str) -> Option<SessionKey> {
        let slot = self.get(parent)?;
        slot.children
            .iter()
            .find(|(id, _)| &**id == invokeid)
            .map(|(_, key)| *key)
    }

    /// Detaches a child from its parent (its invocation was cancelled), so that nothing it
    /// sends reaches the parent any more.
    pub fn unlink_child(&mut self, parent: SessionKey, invokeid: &str) -> Option<SessionKey> {
        let key = self.child(parent, invokeid)?;
        if let Some(slot) = self.get_mut(parent) {
            slot.children.retain(|(_, child)| *child != key);
        }
        if let Some(slot) = self.get_mut(key) {
            slot.parent = None;
        }
        Some(key)
    }

    /// The key of the first session at or after slab index `from` (wrapping) whose queue has
    /// an event and which is idle, for round-robin scheduling.
    pub fn next_runnable(&self, from: usize) -> Option<SessionKey> {
        let end = self.slab.capacity();
        (from..end).chain(0..from.min(end)).find_map(|index| {
            let slot = self.slab.get(index)?;
            let ready = !slot.queue.is_empty() && matches!(slot.phase, Phase::Idle(_));
            ready.then_some(SessionKey {
                slot: index as u32,
                generation: slot.generation,
            })
        })
    }

    /// Every live key, in slab order.
    pub fn keys(&self) -> Vec<SessionKey> {
        let keys = self.slab.iter();
        keys.map(|(i, s)| SessionKey {
            slot: i as u32,
            generation: s.generation,
        })
        .collect()
    }

    pub fn len(&self) -> usize {
        self.slab.len()
    }

    fn fresh_id(&mut self) -> Box<str> {
        loop {
            let id = self.ids.next_id();
            if !self.by_id.contains_key(&*id) {
                return id;
            }
        }
    }
}

/// Session ids that look random but come from a seed: splitmix64 over a counter.
struct IdGenerator {
    seed: u64,
    counter: u64,
}

impl IdGenerator {
    fn next_id(&mut self) -> Box<str> {
        self.counter += 1;
        let mut z = self
            .seed
            .wrapping_add(self.counter.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        format!("{z:016x}").into_boxed_str()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_deterministic_per_seed() {
        let mut a = IdGenerator {
            seed: 7,
            counter: 0,
        };
        let mut b = IdGenerator {
            seed: 7,
            counter: 0,
        };
        let mut c = IdGenerator {
            seed: 8,
            counter: 0,
        };
        let first = a.next_id();
        assert_eq!(first, b.next_id());
        assert_ne!(first, c.next_id());
        assert_ne!(first, a.next_id());
        assert_eq!(first.len(), 16);
    }
}
