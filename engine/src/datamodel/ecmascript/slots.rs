//! A table of scopes addressed by generation-checked [`ScopeId`]s, with a free list.
//!
//! A freed slot's generation is bumped, so an id kept after [`Slots::remove`] never reaches
//! the slot's next occupant. Shared by the ECMAScript and null datamodels.

use crate::datamodel::ScopeId;

/// One slot: its current generation and occupant.
struct Slot<T> {
    generation: u32,
    value: Option<T>,
}

/// Generation-checked slots.
pub(crate) struct Slots<T> {
    slots: Vec<Slot<T>>,
    free: Vec<u32>,
    len: usize,
}

impl<T> Default for Slots<T> {
    fn default() -> Self {
        Slots {
            slots: Vec::new(),
            free: Vec::new(),
            len: 0,
        }
    }
}

impl<T> Slots<T> {
    /// The number of occupied slots.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Stores `value`, returning its id, or gives it back when all `u32` slots are in use.
    pub fn insert(&mut self, value: T) -> Result<ScopeId, T> {
        let slot = match self.free.pop() {
            Some(slot) => slot,
            None => {
                let Ok(slot) = u32::try_from(self.slots.len()) else {
                    return Err(value);
                };
                self.slots.push(Slot {
                    generation: 0,
                    value: None,
                });
                slot
            }
        };
        let entry = &mut self.slots[slot as usize];
        assert!(entry.value.is_none(), "a free slot is empty");
        entry.value = Some(value);
        self.len += 1;
        Ok(ScopeId {
            slot,
            generation: entry.generation,
        })
    }

    /// The value at `id`, if `id` is current.
    pub fn get(&self, id: ScopeId) -> Option<&T> {
        let entry = self.slots.get(id.slot as usize)?;
        if entry.generation != id.generation {
            return None;
        }
        entry.value.as_ref()
    }

    /// The value at `id`, if `id` is current.
    pub fn get_mut(&mut self, id: ScopeId) -> Option<&mut T> {
        let entry = self.slots.get_mut(id.slot as usize)?;
        if entry.generation != id.generation {
            return None;
        }
        entry.value.as_mut()
    }

    /// Removes and returns the value at `id`, if `id` is current.
    pub fn remove(&mut self, id: ScopeId) -> Option<T> {
        let entry = self.slots.get_mut(id.slot as usize)?;
        if entry.generation != id.generation {
            return None;
        }
        let value = entry.value.take()?;
        entry.generation = entry.generation.wrapping_add(1);
        self.free.push(id.slot);
        self.len -= 1;
        Some(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stale_ids_miss_reused_slots() {
        let mut slots = Slots::default();
        let a = slots.insert("a").expect("room");
        assert_eq!(slots.remove(a), Some("a"));
        let b = slots.insert("b").expect("room");
        assert_eq!(a.slot, b.slot);
        assert_ne!(a.generation, b.generation);
        assert_eq!(slots.get(a), None);
        assert_eq!(slots.remove(a), None);
        assert_eq!(slots.get(b), Some(&"b"));
        assert_eq!(slots.len(), 1);
        let bogus = ScopeId {
            slot: 99,
            generation: 0,
        };
        assert_eq!(slots.get_mut(bogus), None);
    }
}
