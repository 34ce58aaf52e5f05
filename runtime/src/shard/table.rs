//! The sessions one shard owns: a slab sized when the shard starts, never grown, with
//! generation-checked ids so a stale id cannot reach a reused slot.

use std::fmt;

use slab::Slab;

use super::id::{SessionId, ShardId};

/// Why a session was not admitted: typed back-pressure (HTTP 503), never a panic.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum AdmitError {
    /// The shard holds `limits.sessions_per_shard_max` sessions already.
    SessionsFull {
        /// The bound.
        sessions_max: u32,
    },
}

impl fmt::Display for AdmitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AdmitError::SessionsFull { sessions_max } => {
                write!(f, "this shard holds its maximum of {sessions_max} sessions")
            }
        }
    }
}

impl std::error::Error for AdmitError {}

struct Entry<T> {
    generation: u32,
    value: T,
}

/// One shard's sessions (or anything keyed by [`SessionId`]).
pub struct SessionTable<T> {
    shard: ShardId,
    sessions_max: u32,
    entries: Slab<Entry<T>>,
    /// The generation the next occupant of each slot gets; bumped when a slot is freed.
    generations: Vec<u32>,
}

impl<T> SessionTable<T> {
    /// An empty table for `shard`, with room for `sessions_max` sessions allocated now.
    pub fn new(shard: ShardId, sessions_max: u32) -> SessionTable<T> {
        assert!(sessions_max > 0);
        assert!(u64::from(sessions_max) <= 1 << SessionId::SLOT_BITS);
        let capacity = sessions_max as usize;
        SessionTable {
            shard,
            sessions_max,
            entries: Slab::with_capacity(capacity),
            generations: vec![0; capacity],
        }
    }

    /// Admits a session built from its id; refuses when the table is full.
    pub fn insert_with(
        &mut self,
        make: impl FnOnce(SessionId) -> T,
    ) -> Result<SessionId, AdmitError> {
        // Bound by the configured maximum, not `Slab::capacity`, which may round up; the
        // check comes first because `vacant_entry` would grow the slab.
        if self.entries.len() >= self.sessions_max as usize {
            return Err(AdmitError::SessionsFull {
                sessions_max: self.sessions_max,
            });
        }
        let vacant = self.entries.vacant_entry();
        let slot = vacant.key();
        assert!(slot < self.generations.len());
        let generation = self.generations[slot];
        let id = SessionId::new(self.shard, slot as u32, generation);
        vacant.insert(Entry {
            generation,
            value: make(id),
        });
        Ok(id)
    }

    /// Admits `value`; refuses when the table is full.
    pub fn insert(&mut self, value: T) -> Result<SessionId, AdmitError> {
        self.insert_with(|_| value)
    }

    /// The slot index of `id` if it names a live session of this table.
    fn slot_of(&self, id: SessionId) -> Option<usize> {
        if id.shard() != self.shard {
            return None;
        }
        let slot = id.slot() as usize;
        let entry = self.entries.get(slot)?;
        (entry.generation == id.generation()).then_some(slot)
    }

    /// The session `id` names, unless it ended (stale id) or lives on another shard.
    pub fn get(&self, id: SessionId) -> Option<&T> {
        let slot = self.slot_of(id)?;
        Some(&self.entries[slot].value)
    }

    /// The session `id` names, mutably.
    pub fn get_mut(&mut self, id: SessionId) -> Option<&mut T> {
        let slot = self.slot_of(id)?;
        Some(&mut self.entries[slot].value)
    }

    /// Whether `id` names a live session here.
    pub fn contains(&self, id: SessionId) -> bool {
        self.slot_of(id).is_some()
    }

    /// Removes the session; its slot's next occupant gets a new generation, so `id`
    /// stays dead.
    pub fn remove(&mut self, id: SessionId) -> Option<T> {
        let slot = self.slot_of(id)?;
        let entry = self.entries.remove(slot);
        assert!(entry.generation == id.generation());
        let next = &mut self.generations[slot];
        *next = if *next == SessionId::GENERATION_MAX {
            0
        } else {
            *next + 1
        };
        Some(entry.value)
    }

    /// Live sessions.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether no session is live.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The bound this table was created with.
    pub fn sessions_max(&self) -> u32 {
        self.sessions_max
    }

    /// The shard this table belongs to.
    pub fn shard(&self) -> ShardId {
        self.shard
    }

    /// Live sessions in slot order.
    pub fn iter(&self) -> impl Iterator<Item = (SessionId, &T)> + '_ {
        self.entries.iter().map(|(slot, entry)| {
            (
                SessionId::new(self.shard, slot as u32, entry.generation),
                &entry.value,
            )
        })
    }

    /// One page of a listing: up to `page_len` live sessions whose slot comes after the
    /// `after` cursor (the last id of the previous page; `None` for the first page).
    /// Stable under inserts and removals between pages. Cost: O(slots before the cursor).
    pub fn page(
        &self,
        after: Option<SessionId>,
        page_len: usize,
    ) -> impl Iterator<Item = (SessionId, &T)> + '_ {
        let start = after.map_or(0, |id| id.slot() as usize + 1);
        self.iter()
            .skip_while(move |(id, _)| (id.slot() as usize) < start)
            .take(page_len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admits_up_to_the_bound_and_never_grows() {
        let mut table = SessionTable::new(ShardId(3), 3);
        let ids: Vec<SessionId> = (0..3).map(|n| table.insert(n).unwrap()).collect();
        assert_eq!(
            table.insert(9),
            Err(AdmitError::SessionsFull { sessions_max: 3 })
        );
        assert_eq!(table.len(), 3);
        assert!(ids.iter().all(|id| id.shard() == ShardId(3)));
        assert_eq!(table.get(ids[1]), Some(&1));
        *table.get_mut(ids[2]).unwrap() = 20;
        assert_eq!(table.remove(ids[2]), Some(20));
        assert!(table.insert(4).is_ok());
        assert_eq!(
            AdmitError::SessionsFull { sessions_max: 3 }.to_string(),
            "this shard holds its maximum of 3 sessions"
        );
    }

    #[test]
    fn a_stale_id_cannot_reach_a_reused_slot() {
        let mut table = SessionTable::new(ShardId(0), 2);
        let old = table.insert("first").unwrap();
        assert_eq!(table.remove(old), Some("first"));
        let new = table.insert("second").unwrap();
        assert_eq!(new.slot(), old.slot());
        assert_ne!(new.generation(), old.generation());
        assert_eq!(table.get(old), None);
        assert_eq!(table.remove(old), None);
        assert!(!table.contains(old));
        assert_eq!(table.get(new), Some(&"second"));
    }

    #[test]
    fn ids_of_other_shards_are_not_found() {
        let mut table = SessionTable::new(ShardId(0), 2);
        let id = table.insert(()).unwrap();
        let elsewhere = SessionId::new(ShardId(1), id.slot(), id.generation());
        assert!(table.get(elsewhere).is_none());
    }

    #[test]
    fn id_passed_to_the_constructor_is_the_returned_id() {
        let mut table = SessionTable::new(ShardId(2), 4);
        let id = table.insert_with(|id| id.to_string()).unwrap();
        assert_eq!(table.get(id), Some(&id.to_string()));
    }

    #[test]
    fn pages_follow_a_cursor() {
        let mut table = SessionTable::new(ShardId(0), 10);
        let ids: Vec<SessionId> = (0..5).map(|n| table.insert(n).unwrap()).collect();
        table.remove(ids[1]);
        let first: Vec<i32> = table.page(None, 2).map(|(_, &n)| n).collect();
        assert_eq!(first, [0, 2]);
        let second: Vec<i32> = table.page(Some(ids[2]), 2).map(|(_, &n)| n).collect();
        assert_eq!(second, [3, 4]);
        assert_eq!(table.page(Some(ids[4]), 2).count(), 0);
        let listed: Vec<SessionId> = table.iter().map(|(id, _)| id).collect();
        assert_eq!(listed, [ids[0], ids[2], ids[3], ids[4]]);
    }
}
