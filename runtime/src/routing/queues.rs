//! Waiting submissions, grouped into one queue per (normalised target list, media), so
//! that an agent becoming available visits the distinct queues, not every submission.

use std::cmp::Reverse;
use std::collections::{BTreeSet, HashMap};

use slab::Slab;

use super::media::MediaId;
use super::names::Interner;
use super::targets::TargetList;

/// A waiting submission's place: higher priority first, then lower order. Orders are
/// positive and increasing for arrivals (FIFO), negative and decreasing for submissions
/// put back at the head after a reject or expiry. The interaction key makes it unique.
pub(crate) type WaitKey = (Reverse<i32>, i64, u64);

#[derive(Debug)]
pub(crate) struct Queue {
    pub media: MediaId,
    /// The list of the submission that opened the queue; equal keys match the same agents.
    pub targets: TargetList,
    pub waiting: BTreeSet<WaitKey>,
    /// Submissions (waiting or reserved) that belong to this queue; at zero it closes.
    members: u32,
}

#[derive(Debug)]
pub(crate) struct Queues {
    slots: Slab<Queue>,
    /// Per media: normalised key to slot.
    by_key: Vec<HashMap<Box<str>, usize>>,
    /// Per media: the queues with at least one waiting submission.
    listed: Vec<Vec<usize>>,
    /// Waiting submissions over all queues.
    pub waiting_total: u32,
}

impl Queues {
    pub fn new(media_count: usize) -> Queues {
        Queues {
            slots: Slab::new(),
            by_key: (0..media_count).map(|_| HashMap::new()).collect(),
            listed: (0..media_count).map(|_| Vec::new()).collect(),
            waiting_total: 0,
        }
    }

    pub fn get(&self, queue: usize) -> &Queue {
        &self.slots[queue]
    }

    pub fn find(&self, key: &str, media: MediaId) -> Option<&Queue> {
        self.by_key[media.index()]
            .get(key)
            .map(|queue| &self.slots[*queue])
    }

    /// Queues of `media` with waiting submissions.
    pub fn listed(&self, media: MediaId) -> &[usize] {
        &self.listed[media.index()]
    }

    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// Joins (opening if needed) the queue for `targets` and `media`.
    pub fn join(&mut self, targets: TargetList, media: MediaId) -> usize {
        let keys = &mut self.by_key[media.index()];
        let queue = match keys.get(targets.key()) {
            Some(queue) => *queue,
            None => {
                let key = targets.key.clone();
                let queue = Queue {
                    media,
                    targets,
                    waiting: BTreeSet::new(),
                    members: 0,
                };
                let slot = self.slots.insert(queue);
                keys.insert(key, slot);
                slot
            }
        };
        self.slots[queue].members += 1;
        queue
    }

    /// Leaves the queue; the last member closes it.
    pub fn leave(&mut self, queue: usize) {
        let entry = &mut self.slots[queue];
        entry.members -= 1;
        if entry.members > 0 {
            return;
        }
        assert!(entry.waiting.is_empty(), "waiting submissions are members");
        let closed = self.slots.remove(queue);
        let removed = self.by_key[closed.media.index()].remove(closed.targets.key());
        assert!(removed == Some(queue));
    }

    pub fn push(&mut self, queue: usize, key: WaitKey) {
        let entry = &mut self.slots[queue];
        assert!(entry.members > 0);
        assert!(entry.waiting.insert(key), "a submission waits once");
        self.waiting_total += 1;
        if entry.waiting.len() == 1 {
            self.listed[entry.media.index()].push(queue);
        }
    }

    pub fn remove(&mut self, queue: usize, key: &WaitKey) {
        let entry = &mut self.slots[queue];
        assert!(entry.waiting.remove(key), "the submission was waiting here");
        self.waiting_total -= 1;
        if entry.waiting.is_empty() {
            let listed = &mut self.listed[entry.media.index()];
            let at = listed
                .iter()
                .position(|q| *q == queue)
                .expect("a listed queue");
            listed.swap_remove(at);
        }
    }

    /// Looks up names that became known (after a profile brought new skills or groups).
    pub fn resolve_all(&mut self, skills: &Interner, groups: &Interner) {
        for (_, queue) in self.slots.iter_mut() {
            queue.targets.resolve(skills, groups);
        }
    }

    #[cfg(test)]
    pub fn iter(&self) -> impl Iterator<Item = (usize, &Queue)> {
        self.slots.iter()
    }
}
