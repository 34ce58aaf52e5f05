//! The availability index: for each media, the agents that can take one more interaction
//! of it, in sets per skill and per group ordered by idle-since; and the logged-in agents
//! per skill and group, for statistics. The router keeps it in step with every agent change.

use std::collections::BTreeSet;

use super::agent::Agent;
use super::media::{media_in, MediaId};

/// (idle-since ms, agent index): iteration order is longest idle first.
pub(crate) type IdleKey = (u64, u32);

#[derive(Debug)]
pub(crate) struct Index {
    media_count: usize,
    /// Available agents per media.
    available: Vec<BTreeSet<IdleKey>>,
    /// Available agents per (skill, media), at `skill * media_count + media`.
    available_skill: Vec<BTreeSet<IdleKey>>,
    /// Available agents per (group, media), at `group * media_count + media`.
    available_group: Vec<BTreeSet<IdleKey>>,
    logged_in: BTreeSet<u32>,
    logged_in_skill: Vec<BTreeSet<u32>>,
    logged_in_group: Vec<BTreeSet<u32>>,
}

impl Index {
    pub fn new(media_count: usize) -> Index {
        Index {
            media_count,
            available: (0..media_count).map(|_| BTreeSet::new()).collect(),
            available_skill: Vec::new(),
            available_group: Vec::new(),
            logged_in: BTreeSet::new(),
            logged_in_skill: Vec::new(),
            logged_in_group: Vec::new(),
        }
    }

    /// Makes room for `skills` and `groups` interned names (empty sets do not allocate).
    pub fn grow(&mut self, skills: u32, groups: u32) {
        let (skills, groups) = (skills as usize, groups as usize);
        self.available_skill
            .resize_with(skills * self.media_count, BTreeSet::new);
        self.available_group
            .resize_with(groups * self.media_count, BTreeSet::new);
        self.logged_in_skill.resize_with(skills, BTreeSet::new);
        self.logged_in_group.resize_with(groups, BTreeSet::new);
    }

    pub fn available(&self, media: MediaId) -> &BTreeSet<IdleKey> {
        &self.available[media.index()]
    }

    pub fn available_skill(&self, skill: u32, media: MediaId) -> &BTreeSet<IdleKey> {
        &self.available_skill[skill as usize * self.media_count + media.index()]
    }

    pub fn available_group(&self, group: u32, media: MediaId) -> &BTreeSet<IdleKey> {
        &self.available_group[group as usize * self.media_count + media.index()]
    }

    pub fn logged_in(&self) -> &BTreeSet<u32> {
        &self.logged_in
    }

    pub fn logged_in_skill(&self, skill: u32) -> &BTreeSet<u32> {
        &self.logged_in_skill[skill as usize]
    }

    pub fn logged_in_group(&self, group: u32) -> &BTreeSet<u32> {
        &self.logged_in_group[group as usize]
    }

    /// Adds the agent to the sets of the media in `mask`.
    pub fn insert_available(&mut self, index: u32, agent: &Agent, mask: u64) {
        let key = (agent.idle_since_ms, index);
        for media in media_in(mask) {
            let m = media.index();
            assert!(
                self.available[m].insert(key),
                "an agent is indexed once per media"
            );
            for (skill, _) in &agent.skills {
                let set = *skill as usize * self.media_count + m;
                assert!(self.available_skill[set].insert(key));
            }
            for group in &agent.groups {
                assert!(self.available_group[*group as usize * self.media_count + m].insert(key));
            }
        }
    }

    /// Removes the agent from the sets of the media in `mask`, under the keys it was
    /// inserted with (so `idle_since_ms` must not have changed in between).
    pub fn remove_available(&mut self, index: u32, agent: &Agent, mask: u64) {
        let key = (agent.idle_since_ms, index);
        for media in media_in(mask) {
            let m = media.index();
            assert!(
                self.available[m].remove(&key),
                "the agent was indexed for this media"
            );
            for (skill, _) in &agent.skills {
                let set = *skill as usize * self.media_count + m;
                assert!(self.available_skill[set].remove(&key));
            }
            for group in &agent.groups {
                assert!(self.available_group[*group as usize * self.media_count + m].remove(&key));
            }
        }
    }

    pub fn insert_logged_in(&mut self, index: u32, agent: &Agent) {
        assert!(self.logged_in.insert(index));
        for (skill, _) in &agent.skills {
            assert!(self.logged_in_skill[*skill as usize].insert(index));
        }
        for group in &agent.groups {
            assert!(self.logged_in_group[*group as usize].insert(index));
        }
    }

    pub fn remove_logged_in(&mut self, index: u32, agent: &Agent) {
        assert!(self.logged_in.remove(&index));
        for (skill, _) in &agent.skills {
            assert!(self.logged_in_skill[*skill as usize].remove(&index));
        }
        for group in &agent.groups {
            assert!(self.logged_in_group[*group as usize].remove(&index));
        }
    }
}
