//! The session slab: every session of a host (top-level sessions and their invoked
//! descendants), its external queue and its links to its parent and children.
//!
//! Keys carry a generation, so a key kept after its session ended cannot reach a session
//! that later reuses the slot. Session ids (`_sessionid`) come from a [`SessionIds`] source:
//! by default [`SeededIds`], so a run with the same seed produces the same ids; the server
//! plugs in one that encodes the home shard.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::rc::Rc;

use engine::event::Event;
use engine::model::Document;
use engine::session::Session;
use engine::value::Value;
use slab::Slab;

/// A session's slot in a host, generation-checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SessionKey {
    /// Slab index.
    pub slot: u32,
    /// Generation of the slot when the session was inserted.
    pub generation: u32,
}

/// How many ids a host draws from its [`SessionIds`] before it gives up on finding one that
/// is not in use: a correct source repeats an id rarely, a broken one always.
pub const ID_ATTEMPTS_MAX: u32 = 8;

/// Where new session ids come from. The host never uses an id that a live session holds:
/// it draws again, at most [`ID_ATTEMPTS_MAX`] times.
pub trait SessionIds {
    /// A fresh session id: non-empty, URL-safe text (it appears in `#_scxml_<id>` targets
    /// and in HTTP paths).
    fn next_id(&mut self) -> Box<str>;
}

/// Where a session is in its life, seen from the host.
///
/// ```text
///   invoked child:  Starting --+
///                              +--> Busy <--> Idle --> (removed)
///   top-level:      Created ---+
/// ```
pub(crate) enum Phase {
    /// Created by `<invoke>` during the parent's step; starts after that step.
    Starting {
        /// Values for the child's top-level `<data>`.
        params: Vec<(Box<str>, Value)>,
    },
    /// A top-level session whose scope exists (so a start that the datamodel refuses fails
    /// at once) and whose initial macrostep waits for the host's next step.
    Created(Box<Session>),
    /// Waiting for events (boxed: a session is large, a starting slot is not).
    Idle(Box<Session>),
    /// Taken out of the slot while the engine runs it.
    Busy,
}

/// The link from an invoked child to its parent.
#[derive(Clone, Debug)]
pub(crate) struct ParentLink {
    /// The parent session.
    pub key: SessionKey,
    /// The child's invoke id in the parent.
    pub invokeid: Box<str>,
}

/// One session and what the host keeps for it.
pub(crate) struct Slot {
    pub generation: u32,
    /// `_sessionid`.
    pub id: Box<str>,
    pub doc: Rc<Document>,
    pub phase: Phase,
    /// The external event queue, FIFO.
    pub queue: VecDeque<Event>,
    /// `None` for a root, and for a child whose invocation was cancelled.
    pub parent: Option<ParentLink>,
    /// Invoke id to child, in invocation order.
    pub children: Vec<(Box<str>, SessionKey)>,
    /// The parent forwards its external events to this child.
    pub autoforward: bool,
    /// Started by the host's user, not by `<invoke>` (stays true for nothing else: a child
    /// whose invocation was cancelled loses its parent but is not top-level).
    pub top_level: bool,
    /// The session's tree (see [`Directory`]).
    pub tree: u64,
    /// When the session's current one-second window of events began.
    window_start_ms: u64,
    /// Events it was given in that window.
    window_events: u32,
    /// It used up its window and waits for the next (it is on the throttled heap, not
    /// the ready list).
    throttled: bool,
    /// When the initial macrostep ran (before it: when the session was added).
    pub started_at_ms: u64,
    /// The key is on the directory's ready list.
    pub ready: bool,
}

/// Why a session could not be added.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SessionsFull {
    /// The bound ([`super::HostConfig::sessions_max`]).
    pub sessions_max: u32,
}

impl Slot {
    /// Idle with an event waiting.
    fn is_runnable(&self) -> bool {
        !self.queue.is_empty() && matches!(self.phase, Phase::Idle(_))
    }
}

/// Why a session comes to be: it decides the session's tree (see [`Directory`]).
#[derive(Clone, Debug)]
pub(crate) enum Origin {
    /// Started by the host's user (a client): the root of a new tree.
    Client,
    /// Invoked by a parent: in the parent's tree.
    Invoked(ParentLink),
    /// Started by this session's `<session:start>`: in its tree.
    StartedBy(SessionKey),
}

/// Why [`Directory::insert`] refused a session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum InsertError {
    /// The directory holds `sessions_max` sessions.
    Full(SessionsFull),
    /// The session's tree holds `limits.sessions_per_tree_max` sessions.
    TreeFull {
        /// The bound.
        sessions_max: u32,
    },
    /// The [`SessionIds`] source kept answering ids in use; this is the last one.
    IdInUse(Box<str>),
}

/// The sessions of one host.
///
/// Every session belongs to a *tree*: a session a client started, the sessions it invokes,
/// and the sessions those start with `<session:start>`, recursively. A tree holds at most
/// `limits.sessions_per_tree_max` sessions at once, so that one client's session (an
/// `<invoke>` recursion, a `<foreach>` of `<session:start>`) cannot fill the host's table.
pub(crate) struct Directory {
    slab: Slab<Slot>,
    by_id: HashMap<Box<str>, SessionKey>,
    generation_next: u32,
    sessions_max: u32,
    ids: Box<dyn SessionIds>,
    /// Sessions that became idle with an event waiting, in that order: the host's
    /// round-robin, without scanning every slot per step. An entry whose session ended is
    /// skipped when it comes up.
    ready: VecDeque<SessionKey>,
    /// Live sessions per tree (no entry for an empty tree).
    trees: HashMap<u64, u32>,
    tree_next: u64,
    tree_sessions_max: u32,
    /// Sessions that used up their second's events, by when their next window opens.
    throttled: BinaryHeap<Reverse<(u64, SessionKey)>>,
    /// Times a session used up its window and was held until the next.
    throttles: u64,
    /// `limits.session_events_per_second_max`.
    events_per_window_max: u32,
}

/// The length of a session's event window (see `limits.session_events_per_second_max`).
const EVENT_WINDOW_MS: u64 = 1_000;

impl Directory {
    pub fn new(sessions_max: u32, ids: Box<dyn SessionIds>) -> Directory {
        assert!(sessions_max > 0);
        Directory {
            slab: Slab::new(),
            by_id: HashMap::new(),
            generation_next: 1,
            sessions_max,
            ids,
            ready: VecDeque::new(),
            trees: HashMap::new(),
            tree_next: 0,
            tree_sessions_max: u32::MAX,
            throttled: BinaryHeap::new(),
            throttles: 0,
            events_per_window_max: u32::MAX,
        }
    }

    /// Bounds the events each session is given per second, from the next one.
    pub fn set_events_per_second_max(&mut self, events_max: u32) {
        assert!(events_max > 0);
        self.events_per_window_max = events_max;
    }

    /// Times a session used up its second's events and was held until the next.
    pub fn throttles(&self) -> u64 {
        self.throttles
    }

    /// When the earliest throttled session's next window opens.
    pub fn next_release_ms(&self) -> Option<u64> {
        self.throttled.peek().map(|Reverse((at_ms, _))| *at_ms)
    }

    /// True if some session waits for its next window.
    pub fn has_throttled(&self) -> bool {
        !self.throttled.is_empty()
    }

    /// Puts the sessions whose next window has opened by `now_ms` back on the ready list.
    fn release_throttled(&mut self, now_ms: u64) {
        while let Some(&Reverse((at_ms, key))) = self.throttled.peek() {
            if at_ms > now_ms {
                break;
            }
            self.throttled.pop();
            if let Some(slot) = self.get_mut(key) {
                slot.throttled = false;
                self.mark_ready(key);
            }
        }
    }

    /// Counts one event for the session in `slot` at `now_ms`; false when its window is
    /// used up, and then it is throttled until the next window.
    fn take_event(&mut self, key: SessionKey, now_ms: u64) -> bool {
        let events_max = self.events_per_window_max;
        let Some(slot) = self.get_mut(key) else {
            return false;
        };
        if now_ms >= slot.window_start_ms + EVENT_WINDOW_MS {
            slot.window_start_ms = now_ms;
            slot.window_events = 0;
        }
        if slot.window_events < events_max {
            slot.window_events += 1;
            return true;
        }
        assert!(
            !slot.throttled,
            "a throttled session is not on the ready list"
        );
        slot.throttled = true;
        let release_ms = slot.window_start_ms + EVENT_WINDOW_MS;
        self.throttled.push(Reverse((release_ms, key)));
        self.throttles += 1;
        false
    }

    /// Bounds each tree's live sessions from the next insert (`limits.sessions_per_tree_max`).
    pub fn set_tree_sessions_max(&mut self, tree_sessions_max: u32) {
        assert!(tree_sessions_max > 0);
        self.tree_sessions_max = tree_sessions_max;
    }

    /// The tree a session of `origin` joins; refused when that tree is full.
    fn tree_of(&mut self, origin: &Origin) -> Result<u64, InsertError> {
        let member = match origin {
            Origin::Client => None,
            Origin::Invoked(link) => Some(link.key),
            Origin::StartedBy(key) => Some(*key),
        };
        let Some(tree) = member.and_then(|key| self.get(key)).map(|slot| slot.tree) else {
            self.tree_next += 1;
            return Ok(self.tree_next);
        };
        let live = self.trees.get(&tree).copied().unwrap_or(0);
        assert!(live > 0, "a live member's tree counts it");
        if live >= self.tree_sessions_max {
            return Err(InsertError::TreeFull {
                sessions_max: self.tree_sessions_max,
            });
        }
        Ok(tree)
    }

    /// How many invocations deep `key` is: 0 for a session no `<invoke>` started.
    pub fn invoke_depth(&self, key: SessionKey) -> u32 {
        let mut depth = 0;
        let mut at = self.get(key).and_then(|slot| slot.parent.as_ref());
        while let Some(link) = at {
            depth += 1;
            assert!(
                depth as usize <= self.slab.len(),
                "parent links form no cycle"
            );
            at = self.get(link.key).and_then(|slot| slot.parent.as_ref());
        }
        depth
    }

    /// Adds a session in phase `phase` with a fresh session id, at `now_ms`. A session
    /// without a parent is top-level.
    pub fn insert(
        &mut self,
        doc: Rc<Document>,
        phase: Phase,
        origin: Origin,
        now_ms: u64,
    ) -> Result<SessionKey, InsertError> {
        if self.slab.len() >= self.sessions_max as usize {
            return Err(InsertError::Full(SessionsFull {
                sessions_max: self.sessions_max,
            }));
        }
        let tree = self.tree_of(&origin)?;
        let id = self.fresh_id()?;
        *self.trees.entry(tree).or_default() += 1;
        let parent = match origin {
            Origin::Invoked(link) => Some(link),
            Origin::Client | Origin::StartedBy(_) => None,
        };
        let generation = self.generation_next;
        self.generation_next = self.generation_next.wrapping_add(1).max(1);
        let entry = self.slab.vacant_entry();
        let slot = u32::try_from(entry.key()).expect("slab index fits u32 (sessions_max)");
        let key = SessionKey { slot, generation };
        let top_level = parent.is_none();
        entry.insert(Slot {
            generation,
            id: id.clone(),
            doc,
            phase,
            queue: VecDeque::new(),
            parent,
            children: Vec::new(),
            autoforward: false,
            top_level,
            started_at_ms: now_ms,
            ready: false,
            tree,
            window_start_ms: now_ms,
            window_events: 0,
            throttled: false,
        });
        let previous = self.by_id.insert(id, key);
        assert!(previous.is_none(), "fresh_id returns ids not in use");
        Ok(key)
    }

    pub fn get(&self, key: SessionKey) -> Option<&Slot> {
        self.slab
            .get(key.slot as usize)
            .filter(|s| s.generation == key.generation)
    }

    pub fn get_mut(&mut self, key: SessionKey) -> Option<&mut Slot> {
        self.slab
            .get_mut(key.slot as usize)
            .filter(|s| s.generation == key.generation)
    }

    /// Removes a session and unlinks it from its parent.
    pub fn remove(&mut self, key: SessionKey) -> Option<Slot> {
        self.get(key)?;
        let slot = self.slab.remove(key.slot as usize);
        self.by_id.remove(&slot.id);
        let Some(live) = self.trees.get_mut(&slot.tree) else {
            panic!("a session's tree counts it");
        };
        *live -= 1;
        if *live == 0 {
            self.trees.remove(&slot.tree);
        }
        if let Some(link) = &slot.parent {
            if let Some(parent) = self.get_mut(link.key) {
                parent.children.retain(|(_, child)| *child != key);
            }
        }
        Some(slot)
    }

    /// The session whose `_sessionid` is `id`.
    pub fn by_id(&self, id: &str) -> Option<SessionKey> {
        self.by_id.get(id).copied()
    }

    /// The child that `parent` invoked as `invokeid`.
    pub fn child(&self, parent: SessionKey, invokeid: &str) -> Option<SessionKey> {
        let slot = self.get(parent)?;
        slot.children
            .iter()
            .find(|(id, _)| &**id == invokeid)
            .map(|(_, key)| *key)
    }

    /// Detaches a child from its parent (its invocation was cancelled), so that nothing it
    /// sends reaches the parent any more.
    pub fn unlink_child(&mut self, parent: SessionKey, invokeid: &str) -> Option<SessionKey> {
        let key = self.child(parent, invokeid)?;
        if let Some(slot) = self.get_mut(parent) {
            slot.children.retain(|(_, child)| *child != key);
        }
        if let Some(slot) = self.get_mut(key) {
            slot.parent = None;
        }
        Some(key)
    }

    /// Puts `key` at the end of the ready list if it is idle with an event waiting and not
    /// on the list yet. Called whenever either becomes true.
    pub fn mark_ready(&mut self, key: SessionKey) {
        let Some(slot) = self.get_mut(key) else {
            return;
        };
        if !slot.ready && !slot.throttled && slot.is_runnable() {
            slot.ready = true;
            self.ready.push_back(key);
        }
    }

    /// Takes the next idle session with an event waiting off the ready list, skipping (and
    /// throttling) those that used up their second's events by `now_ms`.
    pub fn next_runnable(&mut self, now_ms: u64) -> Option<SessionKey> {
        self.release_throttled(now_ms);
        while let Some(key) = self.ready.pop_front() {
            let Some(slot) = self.get_mut(key) else {
                continue;
            };
            slot.ready = false;
            if slot.is_runnable() && self.take_event(key, now_ms) {
                return Some(key);
            }
        }
        None
    }

    /// True if some session is idle with an event waiting.
    pub fn has_runnable(&self) -> bool {
        let mut keys = self.ready.iter();
        keys.any(|key| self.get(*key).is_some_and(Slot::is_runnable))
    }

    /// Every live key, in slab order.
    pub fn keys(&self) -> Vec<SessionKey> {
        self.iter().map(|(key, _)| key).collect()
    }

    /// Every live session with its key, in slab order.
    pub fn iter(&self) -> impl Iterator<Item = (SessionKey, &Slot)> + '_ {
        self.slab.iter().map(|(i, slot)| {
            let key = SessionKey {
                slot: i as u32,
                generation: slot.generation,
            };
            (key, slot)
        })
    }

    pub fn len(&self) -> usize {
        self.slab.len()
    }

    /// An id no live session holds. Bounded, so a source that repeats itself cannot hang
    /// the host.
    fn fresh_id(&mut self) -> Result<Box<str>, InsertError> {
        let mut id = Box::from("");
        for _ in 0..ID_ATTEMPTS_MAX {
            id = self.ids.next_id();
            if !id.is_empty() && !self.by_id.contains_key(&*id) {
                return Ok(id);
            }
        }
        Err(InsertError::IdInUse(id))
    }
}

/// The default [`SessionIds`]: ids that look random but come from a seed (splitmix64 over
/// a counter, 16 hex digits), so a run with the same seed replays with the same ids.
#[derive(Clone, Debug)]
pub struct SeededIds {
    seed: u64,
    counter: u64,
}

impl SeededIds {
    /// The ids of `seed`, from the first.
    pub fn new(seed: u64) -> SeededIds {
        SeededIds { seed, counter: 0 }
    }
}

impl SessionIds for SeededIds {
    fn next_id(&mut self) -> Box<str> {
        self.counter += 1;
        let mut z = self
            .seed
            .wrapping_add(self.counter.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        format!("{z:016x}").into_boxed_str()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_deterministic_per_seed() {
        let mut a = SeededIds::new(7);
        let mut b = SeededIds::new(7);
        let mut c = SeededIds::new(8);
        let first = a.next_id();
        assert_eq!(first, b.next_id());
        assert_ne!(first, c.next_id());
        assert_ne!(first, a.next_id());
        assert_eq!(first.len(), 16);
    }

    /// A source that always answers the same id.
    struct Stuck;

    impl SessionIds for Stuck {
        fn next_id(&mut self) -> Box<str> {
            "same".into()
        }
    }

    #[test]
    fn a_repeating_id_source_is_refused_not_looped_on() {
        let text = r#"<scxml xmlns="http://www.w3.org/2005/07/scxml" version="1.0">
            <final id="f"/></scxml>"#;
        let doc = engine::compile::compile(
            text,
            "stuck.scxml",
            &mut engine::compile::NoLoader,
            &engine::limits::Limits::default(),
        )
        .expect("compiles");
        let doc = Rc::new(doc);
        let mut dir = Directory::new(4, Box::new(Stuck));
        let starting = || Phase::Starting { params: Vec::new() };
        let first = dir.insert(Rc::clone(&doc), starting(), Origin::Client, 0);
        assert!(first.is_ok());
        let second = dir.insert(doc, starting(), Origin::Client, 0);
        assert_eq!(second, Err(InsertError::IdInUse("same".into())));
        assert_eq!(dir.len(), 1);
    }
}
