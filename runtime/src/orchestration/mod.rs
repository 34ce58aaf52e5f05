//! Orchestration: interactions, the sessions that own them, agents' offers, and the router
//! that picks agents, all owned by the routing shard (`routing.shard`).
//!
//! What it does: admits interactions through entry points (starting a session, or joining
//! the customer's live conversation), performs the strategies' routing actions
//! (`<queue:submit>`, `<ixn:route>`, ... see [`actions`]), takes the agents' answers
//! (accept, reject, complete), and turns everything the router decides into SCXML events
//! for the owning sessions.
//!
//! What it must never do: I/O or waiting. It is called synchronously, from a macrostep (an
//! action) or from an HTTP handler, and leaves what must happen next in its [`Outbox`]:
//! events for sessions, sessions whose `_interactions` changed, and [`Job`]s (HTTP fetches,
//! gateway messages, session starts) that the shard performs afterwards. So a decision
//! never waits on a socket, and the host is never borrowed from inside a step.

pub mod actions;
pub mod desk;
pub mod handler;
pub mod interaction;
pub mod offers;
pub mod voice;

use std::collections::{HashMap, HashSet};

use engine::event::{Event, EventKind};
use engine::value::Value;
use serde_json::{json, Map, Value as Json};

use crate::config::{Conversation, EntryPointConfig, GatewayConfig, RoutingConfig};
use crate::routing::{ReleaseReason, Router, RouterConfig, RouterEvent, TargetList};
pub use interaction::{
    Customer, Interaction, InteractionId, InteractionState, Interactions, InteractionsFull,
    NewInteraction,
};
use offers::OfferStreams;
pub use voice::{CallAnswer, CallOrder};

/// The `_event.origintype` of the events the orchestration sends to sessions.
pub const ORIGINTYPE: &str = "http://baton.dev/scxml/ixn";

/// The host value that holds a session's interactions (`_interactions[id]`).
pub const INTERACTIONS_VARIABLE: &str = "_interactions";

/// Work the shard performs after the orchestration returns: each ends in an event to the
/// session that asked (`.done` or `error.`), carrying `requestid`.
#[derive(Clone, Debug, PartialEq)]
pub enum Job {
    /// `<session:fetch>`: an HTTP request whose answer becomes `session.fetch.done`.
    Fetch {
        /// The asking session.
        session: Box<str>,
        /// The action's id.
        requestid: Box<str>,
        /// `GET` or `POST`.
        method: &'static str,
        /// The URL.
        url: String,
        /// A POST body (JSON), if any.
        body: Option<Json>,
    },
    /// `<ixn:createmessage>`: a POST of the message to a gateway.
    Message {
        /// The asking session.
        session: Box<str>,
        /// The action's id.
        requestid: Box<str>,
        /// The gateway's webhook.
        url: String,
        /// The message, as the gateway receives it.
        body: Json,
    },
    /// `<session:start>`: a new session on the routing shard.
    Start {
        /// The asking session.
        session: Box<str>,
        /// The action's id.
        requestid: Box<str>,
        /// The document: a path, a URL or the application name.
        src: String,
        /// Its `<data>` values.
        params: Vec<(Box<str>, Value)>,
    },
}

/// What the orchestration leaves for the shard to do (see the module notes).
#[derive(Debug, Default)]
pub struct Outbox {
    /// Events for sessions of this shard, in order.
    pub events: Vec<(Box<str>, Event)>,
    /// Sessions whose `_interactions` must be refreshed before their next event.
    pub refresh: Vec<Box<str>>,
    /// Work to start.
    pub jobs: Vec<Job>,
    /// Answers for SIP calls, in order.
    pub calls: Vec<CallOrder>,
}

impl Outbox {
    /// True if nothing waits.
    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
            && self.refresh.is_empty()
            && self.jobs.is_empty()
            && self.calls.is_empty()
    }
}

/// Why an interaction was not admitted: the status and reason of the HTTP answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    /// 400 (bad request), 404 (unknown entry point), 503 (a bound).
    pub status: u16,
    /// Why, in a sentence.
    pub reason: String,
}

impl Refusal {
    fn new(status: u16, reason: impl Into<String>) -> Refusal {
        Refusal {
            status,
            reason: reason.into(),
        }
    }
}

/// Where an admitted interaction goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Admitted {
    /// It joined the customer's live session (`interaction.added` is queued to it).
    Joined {
        /// The interaction.
        id: InteractionId,
        /// The session it joined.
        session: Box<str>,
    },
    /// A new session must start with the entry point's application; then call
    /// [`Orchestration::bind`] (or [`Orchestration::discard`] if it cannot start).
    Start {
        /// The interaction.
        id: InteractionId,
    },
}

/// The routing shard's state, for `/metrics`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RoutingGauges {
    /// Interactions per state, in `InteractionState` order (routing, queued, offered,
    /// accepted, completed).
    pub interactions: [u64; 5],
    /// Agents per state: logged out, ready, not ready, after-call work.
    pub agents: [u64; 4],
    /// Submissions waiting in queues.
    pub waiting: u64,
    /// Submissions reserved to an agent and not yet accepted.
    pub reserved: u64,
    /// Open queues (distinct target list and media).
    pub queues: u64,
    /// Offer-stream events a full stream missed.
    pub offers_dropped: u64,
    /// The SIP endpoint's gauges and counters, in the order of `serve::metrics::SIP`
    /// (zeros without a SIP listener).
    pub sip: [u64; 12],
}

/// The routing shard's orchestration state.
pub struct Orchestration {
    router: Router,
    interactions: Interactions,
    entry_points: Vec<EntryPointConfig>,
    gateways: Vec<GatewayConfig>,
    /// Live conversations: (application, customer id) to the session that owns them.
    conversations: HashMap<(String, String), Box<str>>,
    /// The conversation key of each session that owns one, to forget it when it ends.
    conversation_of: HashMap<Box<str>, (String, String)>,
    /// The request id of each interaction's live queue submission.
    submissions: HashMap<InteractionId, Box<str>>,
    /// Parsed target lists by their text, for `_statistics` (bounded).
    targets_cache: HashMap<String, TargetList>,
    offers: OfferStreams,
    outbox: Outbox,
    router_events: Vec<RouterEvent>,
    /// SIP calls waiting for their final response ([`voice`]).
    calls: HashSet<InteractionId>,
    /// Where treatments go (`sip.media_server`).
    media_server: Option<String>,
}

/// Most target lists `_statistics` keeps parsed.
const TARGETS_CACHE_MAX: usize = 1_024;

impl Orchestration {
    /// An orchestration under `config`, with the reloadable entry points and gateways.
    pub fn new(
        config: &RoutingConfig,
        entry_points: Vec<EntryPointConfig>,
        gateways: Vec<GatewayConfig>,
    ) -> Orchestration {
        let router = Router::new(RouterConfig {
            media_extra: config.media.clone(),
            agents_max: config.agents_max,
            submissions_max: config.submissions_max,
            reservation_timeout_ms: config.reservation_timeout_ms.into(),
            ..RouterConfig::default()
        });
        Orchestration {
            router,
            interactions: Interactions::new(config.interactions_max),
            entry_points,
            gateways,
            conversations: HashMap::new(),
            conversation_of: HashMap::new(),
            submissions: HashMap::new(),
            targets_cache: HashMap::new(),
            offers: OfferStreams::new(config),
            outbox: Outbox::default(),
            router_events: Vec::new(),
            calls: HashSet::new(),
            media_server: None,
        }
    }

    /// Replaces the entry points and gateways (a reload). Live conversations stay.
    pub fn reconfigure(
        &mut self,
        entry_points: Vec<EntryPointConfig>,
        gateways: Vec<GatewayConfig>,
    ) {
        self.entry_points = entry_points;
        self.gateways = gateways;
    }

    /// The router (agents, queues, statistics).
    pub fn router(&self) -> &Router {
        &self.router
    }

    /// The interactions.
    pub fn interactions(&self) -> &Interactions {
        &self.interactions
    }

    /// Gauges for `/metrics`.
    pub fn gauges(&self) -> RoutingGauges {
        let totals = self.router.totals();
        RoutingGauges {
            interactions: self.interactions.counts(),
            agents: [
                totals.logged_out.into(),
                totals.ready.into(),
                totals.not_ready.into(),
                totals.after_call_work.into(),
            ],
            waiting: totals.waiting.into(),
            reserved: totals.reserved.into(),
            queues: totals.queues.into(),
            offers_dropped: self.offers.dropped(),
            sip: [0; 12],
        }
    }

    /// The agents' offer streams.
    pub fn offers_mut(&mut self) -> &mut OfferStreams {
        &mut self.offers
    }

    /// Takes what the shard must do next.
    pub fn take_outbox(&mut self) -> Outbox {
        std::mem::take(&mut self.outbox)
    }

    /// The application an entry point starts, after checking the media it is offered.
    pub fn entry_application(&self, entry_point: &str, media: &str) -> Result<String, Refusal> {
        let entry = self.entry(entry_point)?;
        if self.router.media(media).is_none() {
            return Err(Refusal::new(400, format!("unknown media '{media}'")));
        }
        if !entry.media.is_empty() && !entry.media.iter().any(|m| m == media) {
            let accepted = entry.media.join(", ");
            let reason = format!("entry point '{entry_point}' takes {accepted}, not '{media}'");
            return Err(Refusal::new(400, reason));
        }
        Ok(entry.application.clone())
    }

    fn entry(&self, name: &str) -> Result<&EntryPointConfig, Refusal> {
        self.entry_points
            .iter()
            .find(|entry| entry.name == name)
            .ok_or_else(|| Refusal::new(404, format!("no entry point '{name}'")))
    }

    /// Creates an interaction and joins it to the customer's live conversation when the
    /// entry point says so; otherwise the caller starts a session for it.
    pub fn admit(&mut self, new: NewInteraction, now_ms: u64) -> Result<Admitted, Refusal> {
        let application = self.entry_application(&new.entry_point, &new.media)?;
        let conversation = self.entry(&new.entry_point)?.conversation;
        let joined = match (&conversation, &new.customer.id) {
            (Conversation::Customer, Some(customer)) => self
                .conversations
                .get(&(application, customer.clone()))
                .cloned(),
            _ => None,
        };
        let id = self
            .interactions
            .insert(new, now_ms)
            .map_err(|full| Refusal::new(503, full.to_string()))?;
        match joined {
            Some(session) => {
                self.own(id, &session);
                Ok(Admitted::Joined { id, session })
            }
            None => Ok(Admitted::Start { id }),
        }
    }

    /// Gives the admitted interaction `id` to the session started for it, and registers the
    /// customer's conversation when the entry point keeps one.
    pub fn bind(&mut self, id: InteractionId, session: &str) {
        let Some(interaction) = self.interactions.get(id) else {
            return;
        };
        let keeps_conversation = self
            .entry(&interaction.entry_point)
            .is_ok_and(|entry| entry.conversation == Conversation::Customer);
        if let (true, Some(customer)) = (keeps_conversation, interaction.customer.id.clone()) {
            let application = self
                .entry(&interaction.entry_point)
                .map(|entry| entry.application.clone())
                .unwrap_or_default();
            let key = (application, customer);
            self.conversations.insert(key.clone(), session.into());
            self.conversation_of.insert(session.into(), key);
        }
        self.own(id, session);
    }

    /// Forgets an admitted interaction whose session could not start.
    pub fn discard(&mut self, id: InteractionId) {
        self.calls.remove(&id);
        self.interactions.remove(id);
    }

    fn own(&mut self, id: InteractionId, session: &str) {
        self.interactions.assign(id, session);
        self.notify(id, "interaction.added", None, json!({}));
    }

    /// A session ended: its conversation closes, its live interactions leave their queues
    /// and agents, and its interactions are removed.
    pub fn session_ended(&mut self, session: &str, now_ms: u64) {
        if let Some(key) = self.conversation_of.remove(session) {
            if self
                .conversations
                .get(&key)
                .is_some_and(|s| &**s == session)
            {
                self.conversations.remove(&key);
            }
        }
        let owned = self.interactions.of_session(session).to_vec();
        self.calls_of_ended_session(&owned);
        for id in owned {
            self.release(id, now_ms);
            self.interactions.remove(id);
        }
        self.after_router(now_ms);
    }

    /// Takes `id` out of the router (queue, reservation, agent's load), whatever its state.
    fn release(&mut self, id: InteractionId, now_ms: u64) {
        let Some(interaction) = self.interactions.get(id) else {
            return;
        };
        let state = interaction.state;
        let agent = interaction.agent.clone();
        self.submissions.remove(&id);
        if state != InteractionState::Completed {
            // Frees accepted work and withdraws a waiting or reserved submission; an
            // interaction the router never saw is refused, which changes nothing.
            let _ = self.router.complete(id.0, now_ms);
        }
        if let Some(agent) = agent {
            if state == InteractionState::Offered {
                self.offers.revoke(&agent, id);
            }
        }
        if let Some(interaction) = self.interactions.get_mut(id) {
            interaction.state = InteractionState::Completed;
            interaction.agent = None;
        }
    }

    /// Runs the router's deadlines (queue timeouts, unanswered offers) due by `now_ms`.
    pub fn expire(&mut self, now_ms: u64) {
        self.router.expire(now_ms);
        self.after_router(now_ms);
    }

    /// When the router next needs [`Orchestration::expire`].
    pub fn next_deadline_ms(&self) -> Option<u64> {
        self.router.next_deadline_ms()
    }

    /// Keeps the offer streams alive; answers when to call again.
    pub fn keep_alive(&mut self, now_ms: u64) -> u64 {
        self.offers.keep_alive(now_ms)
    }

    /// Turns what the router decided on its own into events for the owning sessions.
    fn after_router(&mut self, now_ms: u64) {
        let mut events = std::mem::take(&mut self.router_events);
        self.router.take_events(&mut events);
        for event in events.drain(..) {
            self.router_event(event, now_ms);
        }
        self.router_events = events;
    }

    fn router_event(&mut self, event: RouterEvent, _now_ms: u64) {
        match event {
            RouterEvent::Reserved { interaction, agent } => {
                self.reserved(InteractionId(interaction), agent);
            }
            RouterEvent::TimedOut { interaction } => {
                let id = InteractionId(interaction);
                let requestid = self.submissions.remove(&id);
                self.set_state(id, InteractionState::Routing, None);
                let data = json!({"reason": "timeout"});
                self.notify(id, "error.queue.submit", requestid, data);
            }
            RouterEvent::Released {
                interaction,
                agent,
                reason,
            } => {
                let id = InteractionId(interaction);
                self.offers.revoke(&agent, id);
                let still_queued = self.submissions.contains_key(&id);
                let state = match still_queued {
                    true => InteractionState::Queued,
                    false => InteractionState::Routing,
                };
                self.set_state(id, state, None);
                let reason = match reason {
                    ReleaseReason::Rejected => "rejected",
                    ReleaseReason::Expired => "expired",
                };
                let data = json!({"agent": agent, "reason": reason});
                self.notify(id, "interaction.rejected", None, data);
            }
        }
    }

    /// A queued submission got `agent`: the strategy hears `queue.submit.done`.
    fn reserved(&mut self, id: InteractionId, agent: String) {
        let requestid = self.submissions.get(&id).cloned();
        let media = self.interactions.get(id).map(|i| i.media.clone());
        let address = media
            .and_then(|media| self.router.media(&media))
            .and_then(|media| self.router.agent_address(&agent, media))
            .map(str::to_owned);
        self.set_state(id, InteractionState::Routing, Some(agent.clone()));
        let data = json!({"agent": agent, "address": address});
        self.notify(id, "queue.submit.done", requestid, data);
    }

    fn set_state(&mut self, id: InteractionId, state: InteractionState, agent: Option<String>) {
        if let Some(interaction) = self.interactions.get_mut(id) {
            interaction.state = state;
            interaction.agent = agent;
        }
    }

    /// Queues event `name` for the session owning `id`, with `data` plus `interaction` (the
    /// interaction object) and `requestid`, and refreshes that session's `_interactions`.
    fn notify(&mut self, id: InteractionId, name: &str, requestid: Option<Box<str>>, data: Json) {
        let Some(interaction) = self.interactions.get(id) else {
            return;
        };
        let Some(session) = interaction.session.clone() else {
            return;
        };
        let mut data = match data {
            Json::Object(map) => map,
            _ => Map::new(),
        };
        if let Some(requestid) = &requestid {
            data.insert("requestid".into(), Json::String(requestid.to_string()));
        }
        let mut data = Value::from_json(&Json::Object(data));
        if let Value::Object(fields) = &mut data {
            // Where a JSON map would have put it: its keys are sorted.
            let at = fields.partition_point(|(key, _)| &**key < "interaction");
            fields.insert(at, ("interaction".into(), interaction.to_value()));
        }
        self.send_value(&session, name, requestid, data);
    }

    /// Queues event `name` for `session`, refreshing its `_interactions`.
    fn send(&mut self, session: &str, name: &str, sendid: Option<Box<str>>, data: Json) {
        self.send_value(session, name, sendid, Value::from_json(&data));
    }

    fn send_value(&mut self, session: &str, name: &str, sendid: Option<Box<str>>, data: Value) {
        let mut event = Event::new(name, EventKind::External);
        event.data = data;
        event.sendid = sendid;
        event.origintype = Some(ORIGINTYPE.into());
        self.mark_refresh(session);
        self.outbox.events.push((session.into(), event));
    }

    fn mark_refresh(&mut self, session: &str) {
        if !self.outbox.refresh.iter().any(|s| &**s == session) {
            self.outbox.refresh.push(session.into());
        }
    }

    /// `_interactions` of `session`: its interactions by id.
    pub fn interactions_value(&self, session: &str) -> Value {
        let mut map = Map::new();
        for &id in self.interactions.of_session(session) {
            if let Some(interaction) = self.interactions.get(id) {
                map.insert(id.to_string(), interaction.to_json());
            }
        }
        Value::from_json(&Json::Object(map))
    }

    /// `_statistics(targets, media)`: the router's statistics for a target list.
    pub fn statistics(&mut self, targets: &str, media: Option<&str>) -> Result<Json, String> {
        let media = match media {
            Some(name) => Some(
                self.router
                    .media(name)
                    .ok_or_else(|| format!("unknown media '{name}'"))?,
            ),
            None => None,
        };
        if !self.targets_cache.contains_key(targets) {
            let parsed = self
                .router
                .parse_targets(targets)
                .map_err(|e| e.to_string())?;
            if self.targets_cache.len() >= TARGETS_CACHE_MAX {
                self.targets_cache.clear();
            }
            self.targets_cache.insert(targets.to_owned(), parsed);
        }
        let list = &self.targets_cache[targets];
        let stats = self.router.stats(list, media);
        Ok(json!({
            "ready": stats.ready,
            "busy": stats.busy,
            "logged_in": stats.logged_in,
            "waiting": stats.waiting,
            "ewt_ms": stats.ewt_ms,
            "aht_ms": stats.aht_ms,
        }))
    }

    /// The gateway named `name`, or the first for `media` when no name is given.
    fn gateway(&self, name: Option<&str>, media: &str) -> Option<&GatewayConfig> {
        match name {
            Some(name) => self.gateways.iter().find(|g| g.name == name),
            None => self.gateways.iter().find(|g| g.media == media),
        }
    }
}
