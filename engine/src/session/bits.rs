//! A fixed-size set of state indices, one bit per state of the document.
//!
//! Configurations, entry and exit sets are sets of states whose natural order is document
//! order, which is index order; a bitset gives that order for free and makes "is any
//! descendant of `s` active" a scan of the bit range `s+1 .. descendants_end`.

use crate::model::StateIdx;

/// A set of states of one document.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Bits {
    words: Vec<u64>,
}

impl Bits {
    /// An empty set able to hold states `0 .. states`.
    pub fn with_states(states: usize) -> Bits {
        Bits {
            words: vec![0; states.div_ceil(64).max(1)],
        }
    }

    /// The raw words (bit `i` is state `i`).
    pub fn words(&self) -> &[u64] {
        &self.words
    }

    /// True if `s` is in the set.
    #[inline]
    pub fn contains(&self, s: StateIdx) -> bool {
        let i = s.0 as usize;
        self.words[i / 64] & (1 << (i % 64)) != 0
    }

    /// Adds `s`.
    #[inline]
    pub fn insert(&mut self, s: StateIdx) {
        let i = s.0 as usize;
        self.words[i / 64] |= 1 << (i % 64);
    }

    /// Removes `s`.
    #[inline]
    pub fn remove(&mut self, s: StateIdx) {
        let i = s.0 as usize;
        self.words[i / 64] &= !(1 << (i % 64));
    }

    /// Removes everything.
    pub fn clear(&mut self) {
        self.words.iter_mut().for_each(|w| *w = 0);
    }

    /// True if the set is empty.
    pub fn is_empty(&self) -> bool {
        self.words.iter().all(|&w| w == 0)
    }

    /// True if the two sets share a state.
    pub fn intersects(&self, other: &Bits) -> bool {
        self.words.iter().zip(&other.words).any(|(a, b)| a & b != 0)
    }

    /// Adds every state of `other`.
    pub fn union_with(&mut self, other: &Bits) {
        self.words
            .iter_mut()
            .zip(&other.words)
            .for_each(|(a, b)| *a |= b);
    }

    /// True if any state in `lo .. hi` is in the set.
    pub fn any_in(&self, lo: StateIdx, hi: StateIdx) -> bool {
        self.first_in(lo, hi).is_some()
    }

    /// The first state in `lo .. hi` that is in the set.
    pub fn first_in(&self, lo: StateIdx, hi: StateIdx) -> Option<StateIdx> {
        let (mut i, hi) = (lo.0 as usize, hi.0 as usize);
        while i < hi {
            let word = self.words[i / 64] >> (i % 64);
            if word != 0 {
                let found = i + word.trailing_zeros() as usize;
                return (found < hi).then_some(StateIdx(found as u32));
            }
            i = (i / 64 + 1) * 64;
        }
        None
    }

    /// The states in ascending (document) order.
    pub fn iter(&self) -> Ascending<'_> {
        Ascending {
            words: &self.words,
            index: 0,
            word: self.words.first().copied().unwrap_or(0),
        }
    }

    /// The states in descending (exit) order.
    pub fn iter_rev(&self) -> Descending<'_> {
        let index = self.words.len();
        Descending {
            words: &self.words,
            index,
            word: 0,
        }
    }
}

/// Ascending iterator over a [`Bits`].
pub struct Ascending<'a> {
    words: &'a [u64],
    index: usize,
    word: u64,
}

impl Iterator for Ascending<'_> {
    type Item = StateIdx;

    #[inline]
    fn next(&mut self) -> Option<StateIdx> {
        while self.word == 0 {
            self.index += 1;
            self.word = *self.words.get(self.index)?;
        }
        let bit = self.word.trailing_zeros();
        self.word &= self.word - 1;
        Some(StateIdx(self.index as u32 * 64 + bit))
    }
}

/// Descending iterator over a [`Bits`].
pub struct Descending<'a> {
    words: &'a [u64],
    index: usize,
    word: u64,
}

impl Iterator for Descending<'_> {
    type Item = StateIdx;

    #[inline]
    fn next(&mut self) -> Option<StateIdx> {
        while self.word == 0 {
            self.index = self.index.checked_sub(1)?;
            self.word = self.words[self.index];
        }
        let bit = 63 - self.word.leading_zeros();
        self.word &= !(1u64 << bit);
        Some(StateIdx(self.index as u32 * 64 + bit))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn insert_remove_and_order() {
        let mut bits = Bits::with_states(130);
        for i in [129, 3, 64, 0] {
            bits.insert(StateIdx(i));
        }
        let up: Vec<u32> = bits.iter().map(|s| s.0).collect();
        assert_eq!(up, vec![0, 3, 64, 129]);
        let down: Vec<u32> = bits.iter_rev().map(|s| s.0).collect();
        assert_eq!(down, vec![129, 64, 3, 0]);
        bits.remove(StateIdx(3));
        assert!(!bits.contains(StateIdx(3)));
        assert_eq!(bits.first_in(StateIdx(1), StateIdx(64)), None);
        assert_eq!(bits.first_in(StateIdx(1), StateIdx(65)), Some(StateIdx(64)));
        assert_eq!(
            bits.first_in(StateIdx(65), StateIdx(130)),
            Some(StateIdx(129))
        );
        assert!(!bits.any_in(StateIdx(65), StateIdx(129)));
    }
}
