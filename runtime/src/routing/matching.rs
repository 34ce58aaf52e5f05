//! The router's internal moves: reserving, releasing, queueing, and matching an agent that
//! became available against the waiting queues; plus keeping the index in step with load.

use super::media::{media_in, MediaId};
use super::selection::Selection;
use super::submissions::{Deadline, DeadlineKind, Home, Pending, Phase};
use super::{ReleaseReason, Router, RouterEvent};

impl Router {
    /// Reserves `agent` for a waiting submission that is in no queue's waiting set.
    pub(super) fn reserve(&mut self, interaction: u64, agent: u32, now_ms: u64) {
        let deadline_ms = now_ms.saturating_add(self.config.reservation_timeout_ms);
        let pending = self
            .pending
            .get_mut(&interaction)
            .expect("a pending submission");
        assert!(pending.phase == Phase::Waiting);
        pending.phase = Phase::Reserved { agent, deadline_ms };
        let media = pending.media;
        let kind = DeadlineKind::Reservation;
        self.deadlines.insert(Deadline {
            at_ms: deadline_ms,
            interaction,
            kind,
        });
        self.reserved_total += 1;
        self.add_load(agent, media);
    }

    /// Puts a waiting submission in its queue (joining it on first use).
    pub(super) fn enqueue(&mut self, interaction: u64) {
        let pending = self
            .pending
            .get_mut(&interaction)
            .expect("a pending submission");
        assert!(pending.phase == Phase::Waiting);
        let queue = match std::mem::replace(&mut pending.home, Home::Direct) {
            Home::Held(targets) => self.queues.join(targets, pending.media),
            Home::Queued(queue) => queue,
            Home::Direct => unreachable!("direct reservations are never queued"),
        };
        pending.home = Home::Queued(queue);
        self.queues.push(queue, pending.wait_key(interaction));
    }

    /// Removes a submission from the pending map, its queue and the deadlines. A
    /// reservation's load stays on the agent: the caller frees it or makes it work.
    pub(super) fn take_pending(&mut self, interaction: u64) -> Option<Pending> {
        let pending = self.pending.remove(&interaction)?;
        if let Some(at_ms) = pending.timeout_at_ms {
            // Already gone if it is the deadline being expired.
            self.deadlines.remove(&Deadline {
                at_ms,
                interaction,
                kind: DeadlineKind::Timeout,
            });
        }
        match (pending.phase, &pending.home) {
            (Phase::Waiting, Home::Queued(queue)) => {
                self.queues.remove(*queue, &pending.wait_key(interaction))
            }
            (Phase::Waiting, _) => unreachable!("a waiting submission is queued"),
            (Phase::Reserved { deadline_ms, .. }, _) => {
                let kind = DeadlineKind::Reservation;
                self.deadlines.remove(&Deadline {
                    at_ms: deadline_ms,
                    interaction,
                    kind,
                });
                self.reserved_total -= 1;
            }
        }
        if let Home::Queued(queue) = pending.home {
            self.queues.leave(queue);
        }
        Some(pending)
    }

    /// Ends a reservation without an accept: requeues the submission at the head of its
    /// queue (or drops it: direct, or timed out meanwhile), then lets the agent match.
    pub(super) fn release(&mut self, interaction: u64, reason: ReleaseReason, now_ms: u64) {
        let pending = &self.pending[&interaction];
        let Phase::Reserved { agent, deadline_ms } = pending.phase else {
            unreachable!("release needs a reservation")
        };
        let media = pending.media;
        let direct = matches!(pending.home, Home::Direct);
        let timed_out = pending.timeout_at_ms.is_some_and(|at_ms| at_ms <= now_ms);
        let agent_id = self.agents.get(agent).id.to_string();
        self.events.push(RouterEvent::Released {
            interaction,
            agent: agent_id,
            reason,
        });
        if direct || timed_out {
            self.take_pending(interaction);
            if timed_out && !direct {
                self.events.push(RouterEvent::TimedOut { interaction });
            }
        } else {
            let kind = DeadlineKind::Reservation;
            self.deadlines.remove(&Deadline {
                at_ms: deadline_ms,
                interaction,
                kind,
            });
            self.reserved_total -= 1;
            let key = self.agents.key(agent);
            let rejected_max = self.config.rejected_agents_per_submission_max as usize;
            let order = -self.next_order();
            let pending = self.pending.get_mut(&interaction).expect("checked above");
            pending.phase = Phase::Waiting;
            pending.order = order;
            if pending.rejected.len() == rejected_max {
                pending.rejected.remove(0);
            }
            pending.rejected.push(key);
        }
        if !direct && !timed_out {
            self.requeue(interaction, now_ms);
        }
        self.free_load(agent, media, now_ms);
    }

    /// A released submission: another available agent at once, or the head of its queue.
    fn requeue(&mut self, interaction: u64, now_ms: u64) {
        let pending = self
            .pending
            .get_mut(&interaction)
            .expect("a pending submission");
        if let Home::Held(targets) = &mut pending.home {
            targets.resolve(&self.skills, &self.groups);
        }
        let pending = &self.pending[&interaction];
        let targets = match &pending.home {
            Home::Held(targets) => targets,
            Home::Queued(queue) => &self.queues.get(*queue).targets,
            Home::Direct => unreachable!("direct reservations are never requeued"),
        };
        let selection = Selection {
            agents: &self.agents,
            index: &self.index,
            media: pending.media,
            ordering: pending.ordering,
            rejected: &pending.rejected,
        };
        match selection.best(targets, &mut self.drivers) {
            Some(agent) => {
                self.reserve(interaction, agent, now_ms);
                let agent = self.agents.get(agent).id.to_string();
                self.events
                    .push(RouterEvent::Reserved { interaction, agent });
            }
            None => self.enqueue(interaction),
        }
    }

    /// While `agent` is available for `media`, reserves it to the best waiting submission
    /// (priority, then order) among the queues whose targets it matches.
    pub(super) fn match_agent(&mut self, agent: u32, media: MediaId, now_ms: u64) {
        loop {
            let candidate = self.agents.get(agent);
            if candidate.available & media.bit() == 0 {
                return;
            }
            let key = self.agents.key(agent);
            let mut best = None;
            for &queue in self.queues.listed(media) {
                let entry = self.queues.get(queue);
                if !entry.targets.matches(candidate) {
                    continue;
                }
                let mut waiting = entry.waiting.iter();
                let head = waiting.find(|wait| !self.pending[&wait.2].rejected.contains(&key));
                if let Some(wait) = head.copied() {
                    if best.is_none_or(|(best_wait, _)| wait < best_wait) {
                        best = Some((wait, queue));
                    }
                }
            }
            let Some((wait, queue)) = best else { return };
            self.queues.remove(queue, &wait);
            self.reserve(wait.2, agent, now_ms);
            let agent_id = self.agents.get(agent).id.to_string();
            self.events.push(RouterEvent::Reserved {
                interaction: wait.2,
                agent: agent_id,
            });
        }
    }

    /// Matches `agent` on each media of `mask`.
    pub(super) fn match_media(&mut self, agent: u32, mask: u64, now_ms: u64) {
        for media in media_in(mask) {
            self.match_agent(agent, media, now_ms);
        }
    }

    /// One more interaction of `media` on the agent; it leaves the media's sets when full.
    fn add_load(&mut self, agent: u32, media: MediaId) {
        let entry = self.agents.get_mut(agent);
        assert!(
            entry.available & media.bit() != 0,
            "only available agents are reserved"
        );
        entry.load[media.index()] += 1;
        if !entry.can_take(media) {
            self.index.remove_available(agent, entry, media.bit());
            entry.available &= !media.bit();
        }
    }

    /// One interaction less (a reservation ended without work); if the agent can take
    /// `media` again it enters the sets and is matched against the queues.
    pub(super) fn free_load(&mut self, agent: u32, media: MediaId, now_ms: u64) {
        let entry = self.agents.get_mut(agent);
        assert!(entry.load[media.index()] > 0);
        entry.load[media.index()] -= 1;
        if entry.available & media.bit() == 0 && entry.can_take(media) {
            self.index.insert_available(agent, entry, media.bit());
            entry.available |= media.bit();
            self.match_agent(agent, media, now_ms);
        }
    }

    /// Work completed: one interaction less and idle from now.
    pub(super) fn finish_work(&mut self, agent: u32, media: MediaId, now_ms: u64) {
        let before = self.unindex(agent);
        let entry = self.agents.get_mut(agent);
        assert!(entry.load[media.index()] > 0);
        entry.load[media.index()] -= 1;
        entry.idle_since_ms = now_ms;
        let after = self.reindex(agent);
        self.match_media(agent, after & !before, now_ms);
    }

    /// Takes the agent out of every index set (before a change to its keys or profile);
    /// returns the media it was available for.
    pub(super) fn unindex(&mut self, agent: u32) -> u64 {
        let entry = self.agents.get_mut(agent);
        let mask = entry.available;
        self.index.remove_available(agent, entry, mask);
        if entry.state.is_logged_in() {
            self.index.remove_logged_in(agent, entry);
        }
        entry.available = 0;
        mask
    }

    /// Puts the agent back in the index sets its state allows; returns the media it is
    /// available for.
    pub(super) fn reindex(&mut self, agent: u32) -> u64 {
        let entry = self.agents.get_mut(agent);
        assert!(entry.available == 0, "reindex follows unindex");
        let mask = self
            .media
            .ids()
            .filter(|m| entry.can_take(*m))
            .fold(0, |mask, m| mask | m.bit());
        self.index.insert_available(agent, entry, mask);
        if entry.state.is_logged_in() {
            self.index.insert_logged_in(agent, entry);
        }
        entry.available = mask;
        mask
    }
}
