//! The host as a server sees it: top-level sessions addressed by id, started, sent events,
//! queried, listed and terminated, and a driver call that runs what is ready within a step
//! budget.
//!
//! Everything here is synchronous and never runs a macrostep except [`Host::run_ready`] and
//! [`Host::terminate`] (whose `<onexit>` handlers run at once): a request handler queues
//! work and wakes the shard's driver, which batches the macrosteps of one loop turn.

use std::rc::Rc;

use engine::event::Event;
use engine::model::Document;
use engine::session::Status;
use engine::value::Value;

use super::directory::{Origin, Phase, SessionKey};
use super::{datamodel, Host, StartError, Work};

/// Why an event or a terminate could not reach a session.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum DeliverError {
    /// No session of this host has the id (it never existed, or it has ended).
    UnknownSession,
    /// The session's external queue holds [`super::HostConfig::queue_events_max`] events.
    QueueFull {
        /// The bound.
        queue_max: u32,
    },
    /// The session was started by `<invoke>`: it ends with its parent, not from outside.
    Invoked,
    /// [`super::HostConfig::requests_pending_max`] requests already await an answer.
    RequestsFull {
        /// The bound.
        requests_max: u32,
    },
}

impl std::fmt::Display for DeliverError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DeliverError::UnknownSession => write!(f, "no such session (it may have ended)"),
            DeliverError::QueueFull { queue_max } => {
                write!(f, "the session's queue is full ({queue_max} events)")
            }
            DeliverError::Invoked => write!(f, "an invoked session ends with its parent"),
            DeliverError::RequestsFull { requests_max } => {
                write!(f, "too many requests await an answer ({requests_max})")
            }
        }
    }
}

impl std::error::Error for DeliverError {}

/// What [`Host::query`] tells about a live session.
#[derive(Clone, Debug, PartialEq)]
pub struct SessionInfo {
    /// `_sessionid`.
    pub id: Box<str>,
    /// Ids of the active states in document order (the `<scxml>` root excluded); empty
    /// before the initial macrostep has run.
    pub configuration: Vec<Box<str>>,
    /// The top-level variables ([`engine::datamodel::Datamodel::snapshot`]).
    pub datamodel: Value,
    /// The document's source name (its path, or the name it was compiled under).
    pub document: Box<str>,
    /// Whether the initial macrostep has run.
    pub started: bool,
    /// When the initial macrostep ran; before it, when it is due (when the session was
    /// added, or its deferred start). In the host's milliseconds: Unix epoch milliseconds
    /// under a [`super::RealClock`].
    pub started_at_ms: u64,
    /// Always [`Status::Running`] for a session the host still holds: one that ends is
    /// retired at once and reported by [`Host::take_finished`].
    pub status: Status,
}

/// One entry of [`Host::list`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionSummary {
    /// `_sessionid`.
    pub id: Box<str>,
    /// The document's source name.
    pub document: Box<str>,
    /// When the session started (or is due to start), in the host's milliseconds.
    pub started_at_ms: u64,
}

/// A top-level session that reached a final state or was ended by a limit.
#[derive(Clone, Debug, PartialEq)]
pub struct Finished {
    /// Its `_sessionid` (unknown to the host from now on).
    pub id: Box<str>,
    /// [`Status::Done`] or [`Status::Ended`].
    pub status: Status,
}

/// What [`Host::run_ready`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Progress {
    /// Units of work done (macrosteps, children started or closed).
    pub stepped: u64,
    /// When the earliest pending delayed send fires, if any.
    pub next_timer_ms: Option<u64>,
    /// The budget ran out with work still ready: call again after yielding.
    pub more_ready: bool,
}

impl Host {
    /// Adds a top-level session running `doc`, whose top-level `<data>` of the same names
    /// take `params`. Its scope is created now (so the datamodel's refusal is returned
    /// here); its initial macrostep runs at the next [`Host::run_ready`] or [`Host::step`],
    /// and events sent before then wait for it.
    pub fn start_session(
        &mut self,
        doc: Rc<Document>,
        params: Vec<(Box<str>, Value)>,
    ) -> Result<SessionKey, StartError> {
        let key = self.admit(doc, params, Origin::Client)?;
        self.core.work.push_back(Work::Start(key));
        Ok(key)
    }

    /// [`Host::start_session`] for the `<session:start>` of session `starter`: the new
    /// session joins the starter's tree, bounded by `limits.sessions_per_tree_max` (an
    /// unknown starter, one that ended meanwhile, starts a tree of its own).
    pub fn start_session_by(
        &mut self,
        doc: Rc<Document>,
        params: Vec<(Box<str>, Value)>,
        starter: &str,
    ) -> Result<SessionKey, StartError> {
        let origin = match self.core.dir.by_id(starter) {
            Some(key) => Origin::StartedBy(key),
            None => Origin::Client,
        };
        let key = self.admit(doc, params, origin)?;
        self.core.work.push_back(Work::Start(key));
        Ok(key)
    }

    /// [`Host::start_session`] whose initial macrostep waits until `start_at_ms` (in the
    /// host's milliseconds; at once if that has passed). The session exists from now: it
    /// has its id, can be queried (not started) and terminated, and events sent to it wait
    /// for its start.
    pub fn start_session_at(
        &mut self,
        doc: Rc<Document>,
        params: Vec<(Box<str>, Value)>,
        start_at_ms: u64,
    ) -> Result<SessionKey, StartError> {
        if start_at_ms <= self.core.now_ms {
            return self.start_session(doc, params);
        }
        let key = self.admit(doc, params, Origin::Client)?;
        if let Some(slot) = self.core.dir.get_mut(key) {
            slot.started_at_ms = start_at_ms;
        }
        self.core.starts.schedule(start_at_ms, key);
        Ok(key)
    }

    /// Queues an external event for the session `id` (top-level or invoked).
    pub fn send_event(&mut self, id: &str, event: Event) -> Result<(), DeliverError> {
        let key = self
            .core
            .dir
            .by_id(id)
            .ok_or(DeliverError::UnknownSession)?;
        self.core.enqueue(key, event)
    }

    /// Ends the top-level session `id` now, as [`engine::session::Session::close`] does: its
    /// `<onexit>` handlers run, its delayed sends are dropped, its children are closed on
    /// the next steps, and no `done` follows. It is not reported by [`Host::take_finished`]
    /// (the caller knows), and its id is unknown from now on.
    pub fn terminate(&mut self, id: &str) -> Result<(), DeliverError> {
        let key = self
            .core
            .dir
            .by_id(id)
            .ok_or(DeliverError::UnknownSession)?;
        let top_level = self.core.dir.get(key).is_some_and(|slot| slot.top_level);
        if !top_level {
            return Err(DeliverError::Invoked);
        }
        self.close_session(key);
        assert!(self.core.dir.get(key).is_none());
        if self.core.root == Some(key) {
            self.core.root = None;
        }
        Ok(())
    }

    /// The state of the live session `id` (top-level or invoked). Takes `&mut self` because
    /// reading the datamodel runs its engine.
    pub fn query(&mut self, id: &str) -> Option<SessionInfo> {
        let key = self.core.dir.by_id(id)?;
        let configuration = self.configuration_of(key);
        let Host {
            ecmascript,
            null,
            core,
        } = self;
        let slot = core.dir.get(key)?;
        let (datamodel, status) = match &slot.phase {
            Phase::Idle(session) | Phase::Created(session) => {
                let dm = datamodel(ecmascript, null, slot.doc.datamodel);
                (dm.snapshot(session.scope()), session.status().clone())
            }
            Phase::Starting { .. } | Phase::Busy => (Value::Undefined, Status::Running),
        };
        let started = matches!(slot.phase, Phase::Idle(_) | Phase::Busy);
        Some(SessionInfo {
            id: slot.id.clone(),
            configuration,
            datamodel,
            document: slot.doc.source_name.clone(),
            started,
            started_at_ms: slot.started_at_ms,
            status,
        })
    }

    /// Up to `limit` top-level sessions from the `offset`-th, in slot order, and how many
    /// top-level sessions there are. Slot order is stable while sessions live, so paging
    /// sees each session once unless sessions start or end in between.
    pub fn list(&self, offset: usize, limit: usize) -> (Vec<SessionSummary>, usize) {
        let mut page = Vec::with_capacity(limit.min(self.core.dir.len()));
        let mut total: usize = 0;
        for (_, slot) in self.core.dir.iter().filter(|(_, slot)| slot.top_level) {
            if total >= offset && page.len() < limit {
                page.push(SessionSummary {
                    id: slot.id.clone(),
                    document: slot.doc.source_name.clone(),
                    started_at_ms: slot.started_at_ms,
                });
            }
            total += 1;
        }
        (page, total)
    }

    /// The top-level sessions that reached a final state or were ended by a limit since
    /// the last call, each reported once, in the order they ended.
    pub fn take_finished(&mut self) -> Vec<Finished> {
        std::mem::take(&mut self.core.finished)
    }

    /// Runs what is ready at `now_ms` (work, queued events, due timers), at most
    /// `steps_max` units, so that a shard can yield to its other tasks in between.
    pub fn run_ready(&mut self, now_ms: u64, steps_max: u64) -> Progress {
        let mut stepped: u64 = 0;
        while stepped < steps_max {
            if self.step(now_ms).is_none() {
                return Progress {
                    stepped,
                    next_timer_ms: self.next_timer_ms(),
                    more_ready: false,
                };
            }
            stepped += 1;
        }
        let next_timer_ms = self.next_timer_ms();
        let timer_due = next_timer_ms.is_some_and(|at_ms| at_ms <= self.core.now_ms);
        let queued = self.core.dir.has_runnable();
        Progress {
            stepped,
            next_timer_ms,
            more_ready: !self.core.work.is_empty() || queued || timer_due,
        }
    }
}
