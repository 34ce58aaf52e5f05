//! Target selection: the best available agent for a target list, media and ordering,
//! found through the availability index without scanning all agents.
//!
//! Each item yields "driver" sets whose union holds every agent that can match it: the
//! group's set, the cover of a skill expression (the smallest side of each `&`, both
//! sides of each `|`), or all available agents for the media when the expression has no
//! cover (a top-level `!`). Drivers iterate longest idle first, and each candidate is
//! checked against the whole item. For `LongestIdle` the first match of a driver is its
//! best and a driver stops as soon as it cannot beat the best so far; the other orderings
//! rank every candidate of the drivers.

use std::collections::BTreeSet;

use super::agent::{Agent, AgentKey, Agents};
use super::index::{IdleKey, Index};
use super::media::MediaId;
use super::submissions::Ordering;
use super::targets::{cover, Expression, TargetItem, TargetList};

/// What one selection looks at.
pub(crate) struct Selection<'a> {
    pub agents: &'a Agents,
    pub index: &'a Index,
    pub media: MediaId,
    pub ordering: Ordering,
    /// Agents this submission must not be offered to again.
    pub rejected: &'a [AgentKey],
}

/// A candidate's rank: lower is better; ties go to the longest idle.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Ranked {
    rank: u64,
    idle: IdleKey,
}

impl Selection<'_> {
    /// The best available agent matching `targets`, if any. `drivers` is scratch.
    pub fn best(&self, targets: &TargetList, drivers: &mut Vec<u32>) -> Option<u32> {
        let mut best: Option<Ranked> = None;
        for item in &targets.items {
            match item {
                TargetItem::Agent { id } => {
                    let Some(index) = self.agents.find(id) else {
                        continue;
                    };
                    let agent = self.agents.get(index);
                    if agent.available & self.media.bit() != 0 && !self.is_rejected(index) {
                        let idle = (agent.idle_since_ms, index);
                        offer(
                            &mut best,
                            Ranked {
                                rank: self.rank(agent, None),
                                idle,
                            },
                        );
                    }
                }
                TargetItem::Group { name } => {
                    if let Some(group) = name.id {
                        self.scan(
                            self.index.available_group(group, self.media),
                            None,
                            &mut best,
                        );
                    }
                }
                TargetItem::Skills(expression) => {
                    let media = self.media;
                    let size = |skill| self.index.available_skill(skill, media).len();
                    if cover(expression, size, drivers) {
                        for skill in drivers.iter() {
                            let set = self.index.available_skill(*skill, media);
                            self.scan(set, Some(expression), &mut best);
                        }
                    } else {
                        self.scan(self.index.available(media), Some(expression), &mut best);
                    }
                }
            }
        }
        best.map(|ranked| ranked.idle.1)
    }

    fn scan(
        &self,
        set: &BTreeSet<IdleKey>,
        expression: Option<&Expression>,
        best: &mut Option<Ranked>,
    ) {
        let longest_idle = self.ordering == Ordering::LongestIdle;
        for &idle in set {
            if longest_idle && best.is_some_and(|b| b.idle <= idle) {
                return;
            }
            let agent = self.agents.get(idle.1);
            if expression.is_some_and(|e| !e.matches(&agent.skills)) || self.is_rejected(idle.1) {
                continue;
            }
            offer(
                best,
                Ranked {
                    rank: self.rank(agent, expression),
                    idle,
                },
            );
            if longest_idle {
                return;
            }
        }
    }

    fn rank(&self, agent: &Agent, expression: Option<&Expression>) -> u64 {
        match self.ordering {
            Ordering::LongestIdle => 0,
            Ordering::MostSkilled => {
                let sum = expression.map_or(0, |e| e.level_sum(&agent.skills));
                u64::MAX - sum as u64
            }
            Ordering::LeastOccupied => agent.occupancy(),
        }
    }

    fn is_rejected(&self, index: u32) -> bool {
        !self.rejected.is_empty() && self.rejected.contains(&self.agents.key(index))
    }
}

fn offer(best: &mut Option<Ranked>, candidate: Ranked) {
    if best.is_none_or(|b| candidate < b) {
        *best = Some(candidate);
    }
}
