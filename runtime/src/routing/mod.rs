//! The routing core: agents, target lists, waiting submissions, target selection and
//! statistics, owned by one shard and called synchronously.
//!
//! What it does: keeps agent profiles and states, parses target lists (`agent:ID`,
//! `group:NAME`, skill expressions such as `Mortgage >= 5 & English >= 3`), reserves the
//! best available agent for a submission at once or queues it by priority then age, and
//! matches queued submissions the moment a suitable agent becomes available. Reserved
//! agents accept or reject; a reject or an expired reservation puts the submission back at
//! the head of its queue, never to be offered to that agent again.
//!
//! What it must never do: I/O, clock reads (`now_ms` is an argument), async, or scan all
//! agents or all waiting submissions to make one decision. Everything that happens other
//! than as a call's return value is an event drained by [`Router::take_events`]; the next
//! timer to arm is [`Router::next_deadline_ms`].
//!
//! # Index
//!
//! - Per media, per (media, skill) and per (media, group): `BTreeSet`s of the *available*
//!   agents (ready, load below capacity) keyed by (idle-since, agent index), so iteration
//!   is longest idle first. An item's skill expression is covered by the smallest set of
//!   each `&` and the union of both sides of each `|` (see `selection`); candidates from
//!   those sets are checked against the whole expression, which is a postfix program run
//!   on a fixed stack. `LongestIdle` stops at the first match of each driver set.
//! - Waiting submissions live in one queue per (normalised target list, media), ordered
//!   by (priority desc, order asc). An agent becoming available on a media visits only the
//!   queues of that media that have waiting submissions, tests itself against each queue's
//!   list once, and takes the best head among those it matches.
//! - Deadlines (submission timeouts, reservation deadlines) are one ordered set.
//!
//! # Semantics worth knowing
//!
//! - A comparison (`Mortgage >= 5`, `Mortgage != 3`) needs the agent to have the skill;
//!   `!Mortgage` matches agents without it. Unknown names match nobody until a profile
//!   brings them; lists are re-resolved then, so a waiting submission can still match.
//! - Idle-since is set when an agent becomes `Ready` with zero load and when it completes
//!   work. A reservation that is cancelled, rejected or expires does not change it.
//! - Submission states:
//!   ```text
//!   submit ──> Waiting ──(agent available)──> Reserved ──accept──> Accepted work
//!                 ^                             │   (load stays until complete)
//!                 └──(reject / deadline: head)──┘
//!   Waiting ──timeout──> TimedOut event;  Waiting | Reserved ──cancel──> gone
//!   ```
//!   A submission's timeout applies while it waits; one that passed while it was
//!   reserved takes effect when the reservation is released.
//! - Direct reservations ([`Router::reserve_agent`]) have no queue: a reject or an expiry
//!   drops them (with a `Released` event) instead of requeueing.
//! - `ewt_ms = waiting * aht_ms / max(1, logged_in)`: the queue ahead, served in parallel
//!   by the logged-in agents that match, each taking one average handle time.

mod agent;
mod agents;
mod error;
mod index;
mod limits;
mod matching;
mod media;
mod names;
mod queues;
mod selection;
mod stats;
mod submissions;
mod target_error;
mod target_parse;
mod targets;

#[doc(hidden)]
pub mod fuzzing;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_random;

use std::collections::{BTreeSet, HashMap};

pub use agent::{AgentProfile, AgentState, AgentView, MediaView};
pub use error::{ProfileProblem, RouterConfigError, RouterError};
pub use limits::{
    RouterConfig, ADDRESS_BYTES_MAX, AGENT_GROUPS_MAX, AGENT_ID_BYTES_MAX, AGENT_SKILLS_MAX,
    AHT_TARGETS_MAX, AHT_WEIGHT_SHIFT, EXPRESSION_DEPTH_MAX, EXPRESSION_TERMS_MAX, LEVEL_MAX,
    MEDIA_MAX, NAME_BYTES_MAX, REASON_BYTES_MAX, TARGETS_BYTES_MAX, TARGET_ITEMS_MAX,
};
pub use media::{MediaId, BUILTIN_MEDIA};
pub use stats::{Stats, Totals};
pub use submissions::{
    Ordering, ReleaseReason, RouterEvent, Submission, Submitted, UnknownOrdering,
};
pub use target_error::{Expected, Found, TargetError, TargetErrorKind};
pub use targets::{Comparison, TargetList};

use agent::Agents;
use index::Index;
use media::MediaTable;
use names::Interner;
use queues::Queues;
use stats::AhtTable;
use submissions::{Deadline, Pending, Work};

/// The routing state of one owner shard. See the module docs.
#[derive(Debug)]
pub struct Router {
    config: RouterConfig,
    media: MediaTable,
    skills: Interner,
    groups: Interner,
    agents: Agents,
    index: Index,
    /// Waiting and reserved submissions by interaction.
    pending: HashMap<u64, Pending>,
    /// Accepted, not completed interactions.
    work: HashMap<u64, Work>,
    queues: Queues,
    deadlines: BTreeSet<Deadline>,
    events: Vec<RouterEvent>,
    /// The last order handed out (see `queues::WaitKey`).
    order_last: i64,
    reserved_total: u32,
    aht: AhtTable,
    /// Scratch for selection's driver sets.
    drivers: Vec<u32>,
}

impl Router {
    /// A router with no agents. Panics if `config` does not validate: check it with
    /// [`RouterConfig::validate`] when the configuration is loaded, or use [`Router::try_new`].
    pub fn new(config: RouterConfig) -> Router {
        match Router::try_new(config) {
            Ok(router) => router,
            Err(error) => panic!("invalid router configuration: {error}"),
        }
    }

    /// A router with no agents, or why `config` is refused.
    pub fn try_new(config: RouterConfig) -> Result<Router, RouterConfigError> {
        config.validate()?;
        let media = MediaTable::new(&config.media_extra);
        let media_count = media.len();
        Ok(Router {
            skills: Interner::new(config.skills_max),
            groups: Interner::new(config.groups_max),
            agents: Agents::default(),
            index: Index::new(media_count),
            pending: HashMap::new(),
            work: HashMap::new(),
            queues: Queues::new(media_count),
            deadlines: BTreeSet::new(),
            events: Vec::new(),
            order_last: 0,
            reserved_total: 0,
            aht: AhtTable::new(media_count),
            drivers: Vec::new(),
            media,
            config,
        })
    }

    /// The configuration in force.
    pub fn config(&self) -> &RouterConfig {
        &self.config
    }

    /// The id of a media name.
    pub fn media(&self, name: &str) -> Option<MediaId> {
        self.media.find(name)
    }

    /// The name of a media id. Panics on an id this router did not give out.
    pub fn media_name(&self, media: MediaId) -> &str {
        self.media.name(media)
    }

    /// All media ids, built-in first.
    pub fn media_ids(&self) -> impl Iterator<Item = MediaId> {
        self.media.ids()
    }

    /// Parses a target list. Unknown skill and group names are not errors (they match
    /// nobody until an agent has them) and are not interned.
    pub fn parse_targets(&self, text: &str) -> Result<TargetList, TargetError> {
        target_parse::parse_targets(text, &self.skills, &self.groups)
    }

    /// Drains the events since the last call into `out`.
    pub fn take_events(&mut self, out: &mut Vec<RouterEvent>) {
        out.append(&mut self.events);
    }

    /// The earliest submission timeout or reservation deadline; call [`Router::expire`] then.
    pub fn next_deadline_ms(&self) -> Option<u64> {
        self.deadlines.first().map(|deadline| deadline.at_ms)
    }

    fn next_order(&mut self) -> i64 {
        self.order_last += 1;
        self.order_last
    }
}
