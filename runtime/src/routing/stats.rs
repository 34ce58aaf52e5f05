//! Statistics for strategies (per target list and media) and totals for `/metrics`, and
//! the average handle times behind them.

use std::collections::HashMap;

use super::limits::{AHT_TARGETS_MAX, AHT_WEIGHT_SHIFT};
use super::media::MediaId;
use super::targets::{cover, TargetItem, TargetList};
use super::Router;

/// What a strategy sees for a target list (and a media, or all media).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Matching agents available now (for the media; for any media when none is given).
    pub ready: u32,
    /// Matching logged-in agents with load on any media.
    pub busy: u32,
    /// Matching logged-in agents (with capacity or load for the media, if given).
    pub logged_in: u32,
    /// Submissions waiting with this (normalised) target list and media.
    pub waiting: u32,
    /// Average handle time (accept to complete), ms: an exponential moving average per
    /// target list and media, else per media (else over all media when none is given);
    /// 0 before the first completion.
    pub aht_ms: u64,
    /// Estimated waiting time, ms: `waiting * aht_ms / max(1, logged_in)`.
    pub ewt_ms: u64,
}

/// Router-wide counts for `/metrics`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Totals {
    /// Agents with a profile.
    pub agents: u32,
    /// Agents logged out.
    pub logged_out: u32,
    /// Agents ready.
    pub ready: u32,
    /// Agents not ready.
    pub not_ready: u32,
    /// Agents in after-call work.
    pub after_call_work: u32,
    /// Submissions waiting in queues.
    pub waiting: u32,
    /// Submissions reserved to an agent, not yet accepted.
    pub reserved: u32,
    /// Accepted interactions not yet completed.
    pub accepted: u32,
    /// Open queues (distinct target list and media with members).
    pub queues: u32,
}

/// An exponential moving average of handle times.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Ema {
    value_ms: u64,
    samples: u64,
}

impl Ema {
    fn add(&mut self, sample_ms: u64) {
        self.value_ms = if self.samples == 0 {
            sample_ms
        } else {
            let kept = self.value_ms as u128 * ((1u128 << AHT_WEIGHT_SHIFT) - 1);
            ((kept + sample_ms as u128) >> AHT_WEIGHT_SHIFT) as u64
        };
        self.samples += 1;
    }

    fn value(&self) -> Option<u64> {
        (self.samples > 0).then_some(self.value_ms)
    }
}

/// Average handle times per (target list key, media), bounded by `AHT_TARGETS_MAX`, per
/// media, and over all media.
#[derive(Debug)]
pub(crate) struct AhtTable {
    slots_by_key: Vec<HashMap<Box<str>, u32>>,
    slots: Vec<Ema>,
    per_media: Vec<Ema>,
    all: Ema,
}

impl AhtTable {
    pub fn new(media_count: usize) -> AhtTable {
        AhtTable {
            slots_by_key: (0..media_count).map(|_| HashMap::new()).collect(),
            slots: Vec::new(),
            per_media: vec![Ema::default(); media_count],
            all: Ema::default(),
        }
    }

    /// The slot for a target list and media, opened on first use while there is room.
    pub fn slot(&mut self, key: &str, media: MediaId) -> Option<u32> {
        let by_key = &mut self.slots_by_key[media.index()];
        if let Some(slot) = by_key.get(key) {
            return Some(*slot);
        }
        if self.slots.len() >= AHT_TARGETS_MAX {
            return None;
        }
        self.slots.push(Ema::default());
        let slot = (self.slots.len() - 1) as u32;
        by_key.insert(Box::from(key), slot);
        Some(slot)
    }

    pub fn record(&mut self, slot: Option<u32>, media: MediaId, handle_ms: u64) {
        if let Some(slot) = slot {
            self.slots[slot as usize].add(handle_ms);
        }
        self.per_media[media.index()].add(handle_ms);
        self.all.add(handle_ms);
    }

    fn aht_ms(&self, key: &str, media: Option<MediaId>) -> u64 {
        let Some(media) = media else {
            return self.all.value().unwrap_or(0);
        };
        let by_key = self.slots_by_key[media.index()].get(key);
        let keyed = by_key.and_then(|slot| self.slots[*slot as usize].value());
        keyed.or(self.per_media[media.index()].value()).unwrap_or(0)
    }
}

impl Router {
    /// Statistics for a target list parsed by this router. Visits only the logged-in
    /// agents in the index sets that can match (see `selection` for the cover).
    /// An unknown media id gives all zeros.
    pub fn stats(&self, targets: &TargetList, media: Option<MediaId>) -> Stats {
        if media.is_some_and(|media| !self.media.contains(media)) {
            return Stats::default();
        }
        let resolved;
        let targets = if targets.is_stale(&self.skills, &self.groups) {
            let mut fresh = targets.clone();
            fresh.resolve(&self.skills, &self.groups);
            resolved = fresh;
            &resolved
        } else {
            targets
        };
        let mut stats = Stats::default();
        for index in self.stats_candidates(targets) {
            let agent = self.agents.get(index);
            let counts =
                media.is_none_or(|m| agent.capacity[m.index()] > 0 || agent.load[m.index()] > 0);
            if !counts || !targets.matches(agent) {
                continue;
            }
            stats.logged_in += 1;
            stats.busy += (agent.load_total() > 0) as u32;
            let ready_mask = media.map_or(u64::MAX, MediaId::bit);
            stats.ready += (agent.available & ready_mask != 0) as u32;
        }
        stats.waiting = match media {
            Some(media) => self
                .queues
                .find(targets.key(), media)
                .map_or(0, |q| q.waiting.len() as u32),
            None => self
                .media
                .ids()
                .filter_map(|media| self.queues.find(targets.key(), media))
                .map(|queue| queue.waiting.len() as u32)
                .sum(),
        };
        stats.aht_ms = self.aht.aht_ms(targets.key(), media);
        let waiting_work = stats.waiting as u128 * stats.aht_ms as u128;
        stats.ewt_ms = (waiting_work / stats.logged_in.max(1) as u128).min(u64::MAX as u128) as u64;
        stats
    }

    /// Logged-in agents that may match `targets`, sorted and without repeats.
    fn stats_candidates(&self, targets: &TargetList) -> Vec<u32> {
        let mut candidates = Vec::new();
        let mut drivers = Vec::new();
        for item in &targets.items {
            match item {
                TargetItem::Agent { id } => candidates.extend(self.agents.find(id)),
                TargetItem::Group { name } => {
                    if let Some(group) = name.id {
                        candidates.extend(self.index.logged_in_group(group));
                    }
                }
                TargetItem::Skills(expression) => {
                    let size = |skill| self.index.logged_in_skill(skill).len();
                    if cover(expression, size, &mut drivers) {
                        for skill in &drivers {
                            candidates.extend(self.index.logged_in_skill(*skill));
                        }
                    } else {
                        candidates.extend(self.index.logged_in());
                    }
                }
            }
        }
        candidates.sort_unstable();
        candidates.dedup();
        candidates.retain(|index| self.agents.get(*index).state.is_logged_in());
        candidates
    }

    /// Router-wide counts.
    pub fn totals(&self) -> Totals {
        let by_state = self.agents.by_state;
        Totals {
            agents: self.agents.len() as u32,
            logged_out: by_state[0],
            ready: by_state[1],
            not_ready: by_state[2],
            after_call_work: by_state[3],
            waiting: self.queues.waiting_total,
            reserved: self.reserved_total,
            accepted: self.work.len() as u32,
            queues: self.queues.len() as u32,
        }
    }
}
