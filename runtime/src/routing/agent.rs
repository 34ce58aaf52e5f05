//! Agents: their profile (skills, groups, capacity and address per media), their state,
//! their load, and the slot table that holds them.

use std::collections::HashMap;
use std::str::FromStr;

use super::media::MediaId;

/// An agent's state, set by its desktop.
///
/// ```text
/// LoggedOut ──> Ready <──> NotReady { reason } <──> AfterCallWork
///     ^           │  ^──────────────────────────────────┘
///     └───────────┴── any state, once the agent has no load
/// ```
/// Only `Ready` agents are offered work; any logged-in state may hold load.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AgentState {
    /// Not working; may not hold load.
    LoggedOut,
    /// Takes new work on media with free capacity.
    Ready,
    /// Logged in, takes no new work.
    NotReady {
        /// Why (free text from the desktop, at most `REASON_BYTES_MAX` bytes).
        reason: String,
    },
    /// Logged in, wrapping up the last interaction; takes no new work.
    AfterCallWork,
}

impl AgentState {
    /// The lowercase wire name: `logged-out`, `ready`, `not-ready`, `after-call-work`.
    pub fn name(&self) -> &'static str {
        match self {
            AgentState::LoggedOut => "logged-out",
            AgentState::Ready => "ready",
            AgentState::NotReady { .. } => "not-ready",
            AgentState::AfterCallWork => "after-call-work",
        }
    }

    /// The state for a wire name; `reason` is used by `not-ready` only.
    pub fn from_name(name: &str, reason: Option<String>) -> Option<AgentState> {
        match name {
            "logged-out" => Some(AgentState::LoggedOut),
            "ready" => Some(AgentState::Ready),
            "not-ready" => Some(AgentState::NotReady {
                reason: reason.unwrap_or_default(),
            }),
            "after-call-work" => Some(AgentState::AfterCallWork),
            _ => None,
        }
    }

    /// The not-ready reason, if any.
    pub fn reason(&self) -> Option<&str> {
        match self {
            AgentState::NotReady { reason } => Some(reason),
            _ => None,
        }
    }

    /// Whether the agent is logged in (any state but `LoggedOut`).
    pub fn is_logged_in(&self) -> bool {
        *self != AgentState::LoggedOut
    }

    /// Index into per-state counters.
    pub(crate) fn slot(&self) -> usize {
        match self {
            AgentState::LoggedOut => 0,
            AgentState::Ready => 1,
            AgentState::NotReady { .. } => 2,
            AgentState::AfterCallWork => 3,
        }
    }
}

impl FromStr for AgentState {
    type Err = ();

    /// Parses a wire name; `not-ready` gets an empty reason.
    fn from_str(name: &str) -> Result<Self, Self::Err> {
        AgentState::from_name(name, None).ok_or(())
    }
}

/// What `PUT /agents/{id}` sets. Names are checked and interned by the router.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AgentProfile {
    /// Skill names with levels 0..=`LEVEL_MAX`.
    pub skills: Vec<(String, u8)>,
    /// Group names.
    pub groups: Vec<String>,
    /// Capacity per media name; a media not listed has capacity 0.
    pub capacity: Vec<(String, u16)>,
    /// Address per media name (e.g. a SIP URI for voice), opaque to the router.
    pub addresses: Vec<(String, String)>,
}

/// An agent as the router keeps it.
#[derive(Debug)]
pub(crate) struct Agent {
    pub id: Box<str>,
    /// Skill ids with levels, sorted by id.
    pub skills: Vec<(u32, u8)>,
    /// Group ids, sorted.
    pub groups: Vec<u32>,
    /// Per media id.
    pub capacity: Vec<u16>,
    /// Reserved plus accepted-and-not-completed interactions, per media id.
    pub load: Vec<u16>,
    /// Per media id.
    pub addresses: Vec<Option<Box<str>>>,
    pub state: AgentState,
    pub state_since_ms: u64,
    /// When it last became ready with zero load, or last completed work: the key of
    /// "longest idle".
    pub idle_since_ms: u64,
    /// Media it is in the availability index for (bit per media id).
    pub available: u64,
}

impl Agent {
    /// Whether it may take one more interaction of `media`.
    pub fn can_take(&self, media: MediaId) -> bool {
        let m = media.index();
        self.state == AgentState::Ready && self.load[m] < self.capacity[m]
    }

    pub fn load_total(&self) -> u32 {
        self.load.iter().map(|load| *load as u32).sum()
    }

    /// Load over capacity across all media, as a 32.32 fixed-point fraction.
    pub fn occupancy(&self) -> u64 {
        let capacity: u64 = self.capacity.iter().map(|c| *c as u64).sum();
        ((self.load_total() as u64) << 32) / capacity.max(1)
    }
}

/// An agent index with the slot's generation, so a remembered agent that was removed (and
/// whose slot was reused) is not mistaken for the new occupant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct AgentKey {
    pub index: u32,
    pub generation: u32,
}

#[derive(Debug)]
struct AgentSlot {
    generation: u32,
    agent: Option<Agent>,
}

/// The agents: slots with generations, a free list, the id map and per-state counts.
#[derive(Debug, Default)]
pub(crate) struct Agents {
    slots: Vec<AgentSlot>,
    free: Vec<u32>,
    by_id: HashMap<Box<str>, u32>,
    /// Agents per `AgentState::slot`.
    pub by_state: [u32; 4],
}

impl Agents {
    pub fn find(&self, id: &str) -> Option<u32> {
        self.by_id.get(id).copied()
    }

    /// Panics on a free slot: indices come from the index sets and reservations, which
    /// never outlive the agent.
    pub fn get(&self, index: u32) -> &Agent {
        self.slots[index as usize]
            .agent
            .as_ref()
            .expect("a live agent slot")
    }

    pub fn get_mut(&mut self, index: u32) -> &mut Agent {
        self.slots[index as usize]
            .agent
            .as_mut()
            .expect("a live agent slot")
    }

    pub fn key(&self, index: u32) -> AgentKey {
        AgentKey {
            index,
            generation: self.slots[index as usize].generation,
        }
    }

    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    pub fn insert(&mut self, agent: Agent) -> u32 {
        self.by_state[agent.state.slot()] += 1;
        let id = agent.id.clone();
        let index = match self.free.pop() {
            Some(index) => {
                let slot = &mut self.slots[index as usize];
                assert!(slot.agent.is_none());
                slot.agent = Some(agent);
                index
            }
            None => {
                self.slots.push(AgentSlot {
                    generation: 0,
                    agent: Some(agent),
                });
                (self.slots.len() - 1) as u32
            }
        };
        self.by_id.insert(id, index);
        index
    }

    pub fn remove(&mut self, index: u32) -> Agent {
        let slot = &mut self.slots[index as usize];
        let agent = slot.agent.take().expect("a live agent slot");
        slot.generation = slot.generation.wrapping_add(1);
        self.free.push(index);
        self.by_id.remove(&agent.id);
        self.by_state[agent.state.slot()] -= 1;
        agent
    }

    /// Live agents with their indices.
    #[cfg(test)]
    pub fn iter(&self) -> impl Iterator<Item = (u32, &Agent)> {
        let slots = self.slots.iter().enumerate();
        slots.filter_map(|(index, slot)| slot.agent.as_ref().map(|agent| (index as u32, agent)))
    }
}

/// One medium of an agent, as `GET /agents/{id}` shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MediaView<'a> {
    /// The media name.
    pub media: &'a str,
    /// How many interactions of it the agent may hold.
    pub capacity: u16,
    /// How many it holds (reserved plus accepted).
    pub load: u16,
    /// Its address for this media, if any.
    pub address: Option<&'a str>,
}

/// An agent as `GET /agents/{id}` shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AgentView<'a> {
    /// External id.
    pub id: &'a str,
    /// `logged-out`, `ready`, `not-ready` or `after-call-work`.
    pub state: &'static str,
    /// The not-ready reason.
    pub reason: Option<&'a str>,
    /// When the state last changed (the caller's clock, ms).
    pub state_since_ms: u64,
    /// When it last became idle (ready with no load, or finished work).
    pub idle_since_ms: u64,
    /// Skills with levels, sorted by name.
    pub skills: Vec<(&'a str, u8)>,
    /// Groups, sorted by name.
    pub groups: Vec<&'a str>,
    /// Media with capacity, load or an address, in media id order.
    pub media: Vec<MediaView<'a>>,
}

impl AgentView<'_> {
    /// The JSON body of `GET /agents/{id}`.
    pub fn to_json(&self) -> serde_json::Value {
        let skills: serde_json::Map<String, serde_json::Value> = self
            .skills
            .iter()
            .map(|(name, level)| (name.to_string(), (*level).into()))
            .collect();
        let media: serde_json::Map<String, serde_json::Value> = self
            .media
            .iter()
            .map(|m| {
                let body = serde_json::json!({
                    "capacity": m.capacity, "load": m.load, "address": m.address,
                });
                (m.media.to_string(), body)
            })
            .collect();
        serde_json::json!({
            "id": self.id,
            "state": self.state,
            "reason": self.reason,
            "state_since_ms": self.state_since_ms,
            "idle_since_ms": self.idle_since_ms,
            "skills": skills,
            "groups": self.groups,
            "media": media,
        })
    }
}
