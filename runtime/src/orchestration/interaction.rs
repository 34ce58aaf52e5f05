//! Interactions: one customer contact on one media (a call, a chat, an e-mail, a fax), from
//! the moment it enters until it is completed, and the session that owns it.
//!
//! The table is fixed-capacity (`routing.interactions_max`). An id is the slot and a tag of
//! 40 bits from the operating system's cryptographic source ([`crate::entropy`]), checked on
//! every look-up: an id of a completed and reused slot names nothing, ids do not repeat
//! across restarts, and another customer's interaction cannot be found by counting. A completed
//! interaction stays readable while its session lives (the strategy may still look at it)
//! and is removed when that session ends, or at once when no session owns it.
//!
//! States, and what moves an interaction between them:
//!
//! ```text
//!   routing ──submit, no agent──▶ queued ──agent reserved──▶ routing
//!      │                                                        │
//!      └──────────────<ixn:route>───────────▶ offered ◀─────────┘
//!                                             │    │
//!                               reject/timeout│    │accept
//!                     (queued again, or routing)   ▼
//!                                               accepted ──complete──▶ completed
//! ```
//! Any state may go to `completed` (`<ixn:terminate>`, `POST .../complete`).

use std::collections::HashMap;
use std::fmt;

use engine::value::Value;
use serde_json::{json, Map, Value as Json};
use slab::Slab;

/// An interaction's id: a random tag above the slot, shown as 16 hex digits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct InteractionId(pub u64);

impl InteractionId {
    /// Bits of the slot; `routing.interactions_max` is at most `1 << SLOT_BITS`.
    pub const SLOT_BITS: u32 = 24;

    /// The id of `slot` with the random `tag` (its low bits are dropped).
    fn new(slot: u32, tag: u64) -> InteractionId {
        assert!(slot < 1 << Self::SLOT_BITS);
        InteractionId(tag << Self::SLOT_BITS | u64::from(slot))
    }

    fn slot(self) -> usize {
        (self.0 & ((1 << Self::SLOT_BITS) - 1)) as usize
    }

    /// Parses the text form; `None` for anything else.
    pub fn parse(text: &str) -> Option<InteractionId> {
        if text.len() != 16 {
            return None;
        }
        u64::from_str_radix(text, 16).ok().map(InteractionId)
    }
}

impl fmt::Display for InteractionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

// Every slot the configuration allows fits under the tag.
const _: () = assert!(crate::config::INTERACTIONS_MAX <= 1 << InteractionId::SLOT_BITS);

/// Where an interaction is in its life (see the module notes for the transitions).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InteractionState {
    /// Its strategy runs; no agent holds it.
    Routing,
    /// Waiting in a queue for an agent.
    Queued,
    /// Offered to an agent, who has not answered yet.
    Offered,
    /// An agent accepted it and works on it.
    Accepted,
    /// Finished; kept while its session lives.
    Completed,
}

impl InteractionState {
    /// The lowercase name the APIs show.
    pub fn name(self) -> &'static str {
        match self {
            InteractionState::Routing => "routing",
            InteractionState::Queued => "queued",
            InteractionState::Offered => "offered",
            InteractionState::Accepted => "accepted",
            InteractionState::Completed => "completed",
        }
    }
}

/// Who the customer is: an id the conversation is keyed by, and contact addresses.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Customer {
    /// The customer's id (e.g. an account number); conversations join on it.
    pub id: Option<String>,
    /// The calling number (voice, SMS, fax).
    pub ani: Option<String>,
    /// E-mail address.
    pub email: Option<String>,
    /// Phone number to reach the customer at.
    pub phone: Option<String>,
}

impl Customer {
    /// The JSON object the APIs and strategies see (absent fields left out).
    pub fn to_json(&self) -> Json {
        let mut map = Map::new();
        for (name, value) in [
            ("id", &self.id),
            ("ani", &self.ani),
            ("email", &self.email),
            ("phone", &self.phone),
        ] {
            if let Some(value) = value {
                map.insert(name.into(), Json::String(value.clone()));
            }
        }
        Json::Object(map)
    }

    /// [`Customer::to_json`] as a datamodel value, without building JSON first.
    pub fn to_value(&self) -> Value {
        // In JSON's key order (serde_json's maps are sorted), as `to_json` gives them.
        let fields = [
            ("ani", &self.ani),
            ("email", &self.email),
            ("id", &self.id),
            ("phone", &self.phone),
        ];
        Value::Object(
            fields
                .into_iter()
                .filter_map(|(name, value)| {
                    Some((name.into(), Value::String(value.as_deref()?.into())))
                })
                .collect(),
        )
    }
}

/// One interaction.
#[derive(Clone, Debug)]
pub struct Interaction {
    /// Its id.
    pub id: InteractionId,
    /// Its media type (`voice`, `chat`, ... or an open media type).
    pub media: String,
    /// The entry point it came in through.
    pub entry_point: String,
    /// The customer.
    pub customer: Customer,
    /// Attached data: key-value pairs from the creator, updated by the strategy.
    pub data: Map<String, Json>,
    /// Where it is.
    pub state: InteractionState,
    /// The session that owns it, if any.
    pub session: Option<Box<str>>,
    /// The agent it is reserved for, offered to or accepted by.
    pub agent: Option<String>,
    /// When it was created, epoch ms.
    pub created_ms: u64,
    /// When it was accepted, epoch ms (0 before).
    pub accepted_ms: u64,
}

impl Interaction {
    /// The JSON object the APIs show and strategies read (`_interactions[id]`).
    pub fn to_json(&self) -> Json {
        json!({
            "id": self.id.to_string(),
            "media": self.media,
            "entrypoint": self.entry_point,
            "customer": self.customer.to_json(),
            "data": Json::Object(self.data.clone()),
            "state": self.state.name(),
            "session": self.session.as_deref(),
            "agent": self.agent,
            "created_ms": self.created_ms,
        })
    }

    /// [`Interaction::to_json`] as a datamodel value, built directly: every event of an
    /// interaction carries it, and going through JSON cost a tenth of a SIP call's CPU.
    pub fn to_value(&self) -> Value {
        let text = |text: &str| Value::String(text.into());
        let optional =
            |text: Option<&str>| text.map_or(Value::Null, |text| Value::String(text.into()));
        let data = self
            .data
            .iter()
            .map(|(name, value)| (name.as_str().into(), Value::from_json(value)))
            .collect();
        // In JSON's key order (serde_json's maps are sorted), as `to_json` gives them.
        Value::Object(vec![
            ("agent".into(), optional(self.agent.as_deref())),
            ("created_ms".into(), Value::Number(self.created_ms as f64)),
            ("customer".into(), self.customer.to_value()),
            ("data".into(), Value::Object(data)),
            ("entrypoint".into(), text(&self.entry_point)),
            ("id".into(), text(&self.id.to_string())),
            ("media".into(), text(&self.media)),
            ("session".into(), optional(self.session.as_deref())),
            ("state".into(), text(self.state.name())),
        ])
    }
}

/// The table is full: `routing.interactions_max` interactions are alive.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InteractionsFull {
    /// The bound.
    pub interactions_max: u32,
}

impl fmt::Display for InteractionsFull {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "too many interactions: {} alive (routing.interactions_max)",
            self.interactions_max
        )
    }
}

/// What a new interaction is made of.
#[derive(Clone, Debug)]
pub struct NewInteraction {
    /// Media type, already checked against the configured media.
    pub media: String,
    /// Entry point name.
    pub entry_point: String,
    /// The customer.
    pub customer: Customer,
    /// Initial attached data.
    pub data: Map<String, Json>,
}

/// The interactions of the routing shard.
pub struct Interactions {
    slots: Slab<Interaction>,
    interactions_max: u32,
    /// Each owning session's interactions, oldest first.
    by_session: HashMap<Box<str>, Vec<InteractionId>>,
}

impl Interactions {
    /// An empty table for at most `interactions_max` interactions. Slots are allocated as
    /// they are first used (a million interactions' worth would be wasted on small hosts).
    pub fn new(interactions_max: u32) -> Interactions {
        assert!(interactions_max > 0);
        assert!(interactions_max <= 1 << InteractionId::SLOT_BITS);
        Interactions {
            slots: Slab::new(),
            interactions_max,
            by_session: HashMap::new(),
        }
    }

    /// How many are alive.
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// True if none is alive.
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// Adds an interaction in state `routing`.
    pub fn insert(
        &mut self,
        new: NewInteraction,
        now_ms: u64,
    ) -> Result<InteractionId, InteractionsFull> {
        if self.slots.len() >= self.interactions_max as usize {
            return Err(InteractionsFull {
                interactions_max: self.interactions_max,
            });
        }
        let entry = self.slots.vacant_entry();
        let slot = u32::try_from(entry.key()).expect("slots are bounded by a u32 limit");
        let id = InteractionId::new(slot, crate::entropy::random_u64());
        entry.insert(Interaction {
            id,
            media: new.media,
            entry_point: new.entry_point,
            customer: new.customer,
            data: new.data,
            state: InteractionState::Routing,
            session: None,
            agent: None,
            created_ms: now_ms,
            accepted_ms: 0,
        });
        Ok(id)
    }

    /// The interaction `id`, if alive.
    pub fn get(&self, id: InteractionId) -> Option<&Interaction> {
        let interaction = self.slots.get(id.slot())?;
        (interaction.id == id).then_some(interaction)
    }

    /// The interaction `id`, if alive, to change (its owner changes only by
    /// [`Interactions::assign`]).
    pub fn get_mut(&mut self, id: InteractionId) -> Option<&mut Interaction> {
        let interaction = self.slots.get_mut(id.slot())?;
        (interaction.id == id).then_some(interaction)
    }

    /// Gives `id` to `session` (an interaction has at most one owner, for good).
    pub fn assign(&mut self, id: InteractionId, session: &str) {
        let Some(interaction) = self.get_mut(id) else {
            return;
        };
        assert!(
            interaction.session.is_none(),
            "an interaction changes owner"
        );
        interaction.session = Some(session.into());
        self.by_session.entry(session.into()).or_default().push(id);
    }

    /// Removes `id`; a stale id is ignored.
    pub fn remove(&mut self, id: InteractionId) -> Option<Interaction> {
        self.get(id)?;
        let interaction = self.slots.remove(id.slot());
        if let Some(session) = &interaction.session {
            if let Some(owned) = self.by_session.get_mut(session) {
                owned.retain(|&other| other != id);
                if owned.is_empty() {
                    self.by_session.remove(session);
                }
            }
        }
        Some(interaction)
    }

    /// The ids of the interactions owned by `session`, oldest first.
    pub fn of_session(&self, session: &str) -> &[InteractionId] {
        self.by_session.get(session).map_or(&[], Vec::as_slice)
    }

    /// Counts per state, in [`InteractionState`] order, for metrics.
    pub fn counts(&self) -> [u64; 5] {
        let mut counts = [0; 5];
        for (_, interaction) in &self.slots {
            counts[interaction.state as usize] += 1;
        }
        counts
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn new_interaction() -> NewInteraction {
        NewInteraction {
            media: "chat".into(),
            entry_point: "web".into(),
            customer: Customer::default(),
            data: Map::new(),
        }
    }

    #[test]
    fn ids_round_trip_and_stale_ids_name_nothing() {
        let mut table = Interactions::new(2);
        let first = table.insert(new_interaction(), 1).unwrap();
        assert_eq!(InteractionId::parse(&first.to_string()), Some(first));
        assert!(table.remove(first).is_some());
        let second = table.insert(new_interaction(), 2).unwrap();
        assert_ne!(first, second, "a reused slot gets a new tag");
        assert_eq!(first.slot(), second.slot());
        assert!(table.get(first).is_none());
        assert!(table.get(second).is_some());
        assert_eq!(InteractionId::parse("xyz"), None);
    }

    #[test]
    fn the_datamodel_value_is_the_json_one() {
        let mut table = Interactions::new(2);
        let mut new = new_interaction();
        new.customer.ani = Some("+3225551234".into());
        new.customer.id = Some("c-1".into());
        new.data.insert(
            "sip".into(),
            json!({"call_id": "a@b", "to": "<sip:5000@x>"}),
        );
        new.data.insert("amount".into(), json!(12.5));
        let id = table.insert(new, 7).unwrap();
        table.assign(id, "session-1");
        let interaction = table.get_mut(id).unwrap();
        interaction.agent = Some("ann".into());
        let interaction = table.get(id).unwrap();
        assert_eq!(
            interaction.to_value(),
            Value::from_json(&interaction.to_json())
        );
        let bare = table.insert(new_interaction(), 8).unwrap();
        let bare = table.get(bare).unwrap();
        assert_eq!(bare.to_value(), Value::from_json(&bare.to_json()));
    }

    #[test]
    fn the_table_refuses_past_its_bound() {
        let mut table = Interactions::new(1);
        table.insert(new_interaction(), 1).unwrap();
        let full = table.insert(new_interaction(), 1).unwrap_err();
        assert_eq!(full.interactions_max, 1);
        assert!(full.to_string().contains("routing.interactions_max"));
    }
}
