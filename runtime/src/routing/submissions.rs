//! Submissions: the calls that submit, update, reserve, accept, reject, complete and
//! expire them, and the types they carry.

use std::cmp::Reverse;
use std::fmt;
use std::str::FromStr;

use super::agent::AgentKey;
use super::error::RouterError;
use super::media::MediaId;
use super::queues::WaitKey;
use super::selection::Selection;
use super::targets::TargetList;
use super::Router;

/// How to choose among the available agents that match.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Ordering {
    /// The one idle the longest (see the module docs for idle-since).
    #[default]
    LongestIdle,
    /// The highest sum of levels in the skills named by the item it matches; ties go to
    /// the longest idle.
    MostSkilled,
    /// The lowest load over capacity across all media; ties go to the longest idle.
    LeastOccupied,
}

impl Ordering {
    /// The wire name: `longest-idle`, `most-skilled`, `least-occupied`.
    pub fn name(self) -> &'static str {
        match self {
            Ordering::LongestIdle => "longest-idle",
            Ordering::MostSkilled => "most-skilled",
            Ordering::LeastOccupied => "least-occupied",
        }
    }
}

/// An ordering name that is none of the three.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UnknownOrdering;

impl fmt::Display for UnknownOrdering {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ordering is one of longest-idle, most-skilled, least-occupied")
    }
}

impl std::error::Error for UnknownOrdering {}

impl FromStr for Ordering {
    type Err = UnknownOrdering;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        match name {
            "longest-idle" => Ok(Ordering::LongestIdle),
            "most-skilled" => Ok(Ordering::MostSkilled),
            "least-occupied" => Ok(Ordering::LeastOccupied),
            _ => Err(UnknownOrdering),
        }
    }
}

/// A request to route one interaction.
#[derive(Clone, Debug)]
pub struct Submission {
    /// The caller's key for the interaction; one live submission per key.
    pub interaction: u64,
    /// The media the agent must have capacity for.
    pub media: MediaId,
    /// Who may take it (parsed by this router).
    pub targets: TargetList,
    /// Higher first.
    pub priority: i32,
    /// How long it may wait, in ms; 0 = no timeout.
    pub timeout_ms: u64,
    /// How to choose among matching agents.
    pub ordering: Ordering,
}

/// What `submit` did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Submitted {
    /// An agent was reserved at once.
    Reserved {
        /// Its id.
        agent: String,
    },
    /// No agent is available: it waits.
    Queued,
}

/// Why a reservation ended without an accept.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReleaseReason {
    /// The agent rejected it.
    Rejected,
    /// The reservation deadline passed.
    Expired,
}

/// What happened other than as a call's return value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RouterEvent {
    /// A waiting submission got an agent (including after a requeue).
    Reserved {
        /// The interaction.
        interaction: u64,
        /// The agent's id.
        agent: String,
    },
    /// A submission waited past its timeout and was removed.
    TimedOut {
        /// The interaction.
        interaction: u64,
    },
    /// A reservation ended without an accept; the submission went back to the head of its
    /// queue (a direct reservation is dropped instead).
    Released {
        /// The interaction.
        interaction: u64,
        /// The agent that had it.
        agent: String,
        /// Reject or expiry.
        reason: ReleaseReason,
    },
}

/// A timer the router needs: `(at_ms, interaction, kind)` order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Deadline {
    pub at_ms: u64,
    pub interaction: u64,
    pub kind: DeadlineKind,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum DeadlineKind {
    Reservation,
    Timeout,
}

/// A waiting or reserved submission.
#[derive(Debug)]
pub(crate) struct Pending {
    pub media: MediaId,
    pub priority: i32,
    pub order: i64,
    pub ordering: Ordering,
    pub timeout_at_ms: Option<u64>,
    pub home: Home,
    pub phase: Phase,
    /// Agents it must not be offered to again, oldest first.
    pub rejected: Vec<AgentKey>,
}

impl Pending {
    pub fn wait_key(&self, interaction: u64) -> WaitKey {
        (Reverse(self.priority), self.order, interaction)
    }
}

/// Where a submission goes back to if its reservation ends.
#[derive(Debug)]
pub(crate) enum Home {
    /// `reserve_agent`: nowhere.
    Direct,
    /// Reserved at submit, never queued: it holds its own list.
    Held(TargetList),
    /// A member of this queue.
    Queued(usize),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Phase {
    Waiting,
    Reserved { agent: u32, deadline_ms: u64 },
}

/// An accepted interaction: load on the agent until `complete`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Work {
    pub agent: u32,
    pub media: MediaId,
    pub accepted_ms: u64,
    pub aht_slot: Option<u32>,
}

impl Router {
    /// Routes an interaction: reserves the best available matching agent at once, or
    /// queues the submission by priority then age.
    pub fn submit(
        &mut self,
        submission: Submission,
        now_ms: u64,
    ) -> Result<Submitted, RouterError> {
        let Submission {
            interaction,
            media,
            mut targets,
            priority,
            timeout_ms,
            ordering,
        } = submission;
        self.admit(interaction, media)?;
        targets.resolve(&self.skills, &self.groups);
        let selection = Selection {
            agents: &self.agents,
            index: &self.index,
            media,
            ordering,
            rejected: &[],
        };
        let chosen = selection.best(&targets, &mut self.drivers);
        let timeout_at_ms = (timeout_ms > 0).then(|| now_ms.saturating_add(timeout_ms));
        let order = self.next_order();
        let home = Home::Held(targets);
        let phase = Phase::Waiting;
        let pending = Pending {
            media,
            priority,
            order,
            ordering,
            timeout_at_ms,
            home,
            phase,
            rejected: Vec::new(),
        };
        self.pending.insert(interaction, pending);
        if let Some(at_ms) = timeout_at_ms {
            self.deadlines.insert(Deadline {
                at_ms,
                interaction,
                kind: DeadlineKind::Timeout,
            });
        }
        match chosen {
            Some(agent) => {
                self.reserve(interaction, agent, now_ms);
                Ok(Submitted::Reserved {
                    agent: self.agents.get(agent).id.to_string(),
                })
            }
            None => {
                self.enqueue(interaction);
                Ok(Submitted::Queued)
            }
        }
    }

    /// Reserves the named agent for the interaction if it is available for `media`
    /// (routing to a named agent without a queue). A reject or expiry drops it.
    pub fn reserve_agent(
        &mut self,
        interaction: u64,
        agent: &str,
        media: MediaId,
        now_ms: u64,
    ) -> Result<(), RouterError> {
        self.admit(interaction, media)?;
        let index = self.agents.find(agent).ok_or(RouterError::UnknownAgent)?;
        if self.agents.get(index).available & media.bit() == 0 {
            return Err(RouterError::AgentNotAvailable);
        }
        let pending = Pending {
            media,
            priority: 0,
            order: self.next_order(),
            ordering: Ordering::LongestIdle,
            timeout_at_ms: None,
            home: Home::Direct,
            phase: Phase::Waiting,
            rejected: Vec::new(),
        };
        self.pending.insert(interaction, pending);
        self.reserve(interaction, index, now_ms);
        Ok(())
    }

    fn admit(&self, interaction: u64, media: MediaId) -> Result<(), RouterError> {
        if !self.media.contains(media) {
            return Err(RouterError::UnknownMedia);
        }
        if self.pending.contains_key(&interaction) {
            return Err(RouterError::AlreadySubmitted);
        }
        if self.pending.len() >= self.config.submissions_max as usize {
            let submissions_max = self.config.submissions_max;
            return Err(RouterError::SubmissionsFull { submissions_max });
        }
        Ok(())
    }

    /// Withdraws a waiting or reserved submission; a reservation's agent is freed (and
    /// may take the next waiting submission at once).
    pub fn cancel(&mut self, interaction: u64, now_ms: u64) -> Result<(), RouterError> {
        let Some(pending) = self.take_pending(interaction) else {
            if self.work.contains_key(&interaction) {
                return Err(RouterError::AlreadyAccepted);
            }
            return Err(RouterError::UnknownInteraction);
        };
        if let Phase::Reserved { agent, .. } = pending.phase {
            self.free_load(agent, pending.media, now_ms);
        }
        Ok(())
    }

    /// Changes a submission's priority; a waiting one moves to its new place (keeping its
    /// age among equal priorities).
    pub fn set_priority(
        &mut self,
        interaction: u64,
        priority: i32,
        _now_ms: u64,
    ) -> Result<(), RouterError> {
        let pending = self
            .pending
            .get_mut(&interaction)
            .ok_or(RouterError::UnknownInteraction)?;
        let queued = match (pending.phase, &pending.home) {
            (Phase::Waiting, Home::Queued(queue)) => Some(*queue),
            _ => None,
        };
        let old_key = pending.wait_key(interaction);
        pending.priority = priority;
        let new_key = pending.wait_key(interaction);
        if let Some(queue) = queued {
            self.queues.remove(queue, &old_key);
            self.queues.push(queue, new_key);
        }
        Ok(())
    }

    /// The offer reached the agent: its reservation deadline starts again from now, for
    /// `reservation_timeout_ms`.
    pub fn offered(&mut self, interaction: u64, now_ms: u64) -> Result<(), RouterError> {
        let timeout_ms = self.config.reservation_timeout_ms;
        self.offered_within(interaction, now_ms, timeout_ms)
    }

    /// [`Router::offered`] with this offer's own answer time (`<ixn:route timeout>`).
    pub fn offered_within(
        &mut self,
        interaction: u64,
        now_ms: u64,
        timeout_ms: u64,
    ) -> Result<(), RouterError> {
        assert!(timeout_ms > 0);
        let pending = self
            .pending
            .get_mut(&interaction)
            .ok_or(RouterError::UnknownInteraction)?;
        let Phase::Reserved { agent, deadline_ms } = pending.phase else {
            return Err(RouterError::NotReserved);
        };
        let new_deadline_ms = now_ms.saturating_add(timeout_ms);
        pending.phase = Phase::Reserved {
            agent,
            deadline_ms: new_deadline_ms,
        };
        let kind = DeadlineKind::Reservation;
        assert!(self.deadlines.remove(&Deadline {
            at_ms: deadline_ms,
            interaction,
            kind
        }));
        self.deadlines.insert(Deadline {
            at_ms: new_deadline_ms,
            interaction,
            kind,
        });
        Ok(())
    }

    /// The reserved agent takes the interaction: the submission ends, the load stays until
    /// [`Router::complete`].
    pub fn accept(
        &mut self,
        interaction: u64,
        agent: &str,
        now_ms: u64,
    ) -> Result<(), RouterError> {
        let index = self.reserved_to(interaction, agent)?;
        if self.work.contains_key(&interaction) {
            return Err(RouterError::AlreadyAccepted);
        }
        let pending = &self.pending[&interaction];
        let key = match &pending.home {
            Home::Direct => None,
            Home::Held(targets) => Some(targets.key()),
            Home::Queued(queue) => Some(self.queues.get(*queue).targets.key()),
        };
        let media = pending.media;
        let aht_slot = key.and_then(|key| self.aht.slot(key, media));
        self.take_pending(interaction);
        let work = Work {
            agent: index,
            media,
            accepted_ms: now_ms,
            aht_slot,
        };
        self.work.insert(interaction, work);
        Ok(())
    }

    /// The reserved agent declines: the submission goes back to the head of its queue,
    /// never to be offered to this agent again, and matching runs at once.
    pub fn reject(
        &mut self,
        interaction: u64,
        agent: &str,
        now_ms: u64,
    ) -> Result<(), RouterError> {
        self.reserved_to(interaction, agent)?;
        self.release(interaction, super::ReleaseReason::Rejected, now_ms);
        Ok(())
    }

    fn reserved_to(&self, interaction: u64, agent: &str) -> Result<u32, RouterError> {
        let index = self.agents.find(agent).ok_or(RouterError::UnknownAgent)?;
        let pending = self
            .pending
            .get(&interaction)
            .ok_or(RouterError::UnknownInteraction)?;
        match pending.phase {
            Phase::Reserved { agent, .. } if agent == index => Ok(index),
            _ => Err(RouterError::NotReserved),
        }
    }

    /// The interaction is over: frees the load of its accepted work (recording the handle
    /// time) and withdraws any waiting or reserved submission of it.
    pub fn complete(&mut self, interaction: u64, now_ms: u64) -> Result<(), RouterError> {
        let work = self.work.remove(&interaction);
        let pending = self.take_pending(interaction);
        if work.is_none() && pending.is_none() {
            return Err(RouterError::UnknownInteraction);
        }
        if let Some(work) = work {
            let handle_ms = now_ms.saturating_sub(work.accepted_ms);
            self.aht.record(work.aht_slot, work.media, handle_ms);
            self.finish_work(work.agent, work.media, now_ms);
        }
        if let Some(Pending {
            phase: Phase::Reserved { agent, .. },
            media,
            ..
        }) = pending
        {
            self.free_load(agent, media, now_ms);
        }
        Ok(())
    }

    /// Times out waiting submissions and releases reservations whose deadline is due.
    pub fn expire(&mut self, now_ms: u64) {
        while let Some(&deadline) = self.deadlines.first() {
            if deadline.at_ms > now_ms {
                break;
            }
            self.deadlines.pop_first();
            let interaction = deadline.interaction;
            let phase = self.pending.get(&interaction).map(|pending| pending.phase);
            match (deadline.kind, phase) {
                (DeadlineKind::Timeout, Some(Phase::Waiting)) => {
                    self.take_pending(interaction);
                    self.events.push(RouterEvent::TimedOut { interaction });
                }
                // Reserved: the timeout takes effect if the reservation is released.
                (DeadlineKind::Timeout, _) => {}
                (DeadlineKind::Reservation, Some(Phase::Reserved { deadline_ms, .. })) => {
                    assert!(deadline_ms == deadline.at_ms, "deadlines are kept exact");
                    self.release(interaction, super::ReleaseReason::Expired, now_ms);
                }
                (DeadlineKind::Reservation, _) => {
                    unreachable!("a reservation deadline outlived it")
                }
            }
        }
    }
}
