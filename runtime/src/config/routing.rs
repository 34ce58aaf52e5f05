//! `[routing]`, `[[entry_point]]` and `[[gateway]]`: where interactions enter, which
//! strategy they start, and where outbound messages (SMS, e-mail) leave.
//!
//! Routing state (agents, queues, interactions and the sessions that own them) lives on one
//! shard, `routing.shard`: every decision is made there without locks, and requests that
//! land on other shards are forwarded to it. Entry points and gateways are looked up per
//! interaction and per message, so a reload replaces them live; the router's sizes are
//! fixed when it starts.

use std::collections::HashSet;

use serde::Deserialize;

use super::Problem;

/// Media every deployment has; `routing.media` adds open media types.
pub const MEDIA_BUILT_IN: [&str; 6] = ["voice", "chat", "email", "sms", "fax", "workitem"];

/// Most open media types (`routing.media`): media ids are one byte.
pub const MEDIA_EXTRA_MAX: usize = 64;

/// `[routing]`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RoutingConfig {
    /// The shard that owns agents, queues and interactions, and runs the sessions that own
    /// interactions (default 0, the first configured core). Fixed at start.
    pub shard: u16,
    /// Open media types besides `voice, chat, email, sms, fax, workitem` (default none;
    /// at most 64). Names are lowercase letters, digits and `-`. Fixed at start.
    pub media: Vec<String>,
    /// Agents configured at once (default 100,000). Cost: an agent record and index
    /// entries each; a `PUT /agents/{id}` past it answers 503. Fixed at start.
    pub agents_max: u32,
    /// Interactions alive at once, in any state (default 1,000,000). Cost: a record each
    /// (about 200 bytes plus its data); a `POST /interactions` past it answers 503. At
    /// most 16,777,216 (2^24: an interaction id is its slot under a 40-bit random tag).
    pub interactions_max: u32,
    /// Queue submissions waiting or reserved at once (default 1,000,000). A
    /// `<queue:submit>` past it raises `error.queue.submit` with the bound named.
    pub submissions_max: u32,
    /// How long a reserved agent's offer may stay unanswered, in ms (default 15,000): then
    /// the reservation is released and the interaction goes back to the head of its queue.
    pub reservation_timeout_ms: u32,
    /// Agents' offer streams open at once on one shard (default 10,000). Cost: an open
    /// connection and a channel each; a stream past it answers 503.
    pub offer_streams_max: u32,
    /// Offer streams one agent may have open at once (default 1, at most 16). A new one
    /// replaces the oldest (`event: replaced`, then closed): a reconnecting desktop never
    /// waits for its dead connection, and one agent cannot hold the shard's stream slots.
    pub offer_streams_per_agent_max: u32,
    /// Offers buffered per stream for a slow desktop (default 64). A stream whose buffer is
    /// full misses the offer (it is still pending, and visible with `GET /agents/{id}`);
    /// the drop is counted.
    pub offer_stream_buffer: u32,
    /// Time between keep-alive comments on an idle offer stream, in ms (default 15,000), so
    /// proxies do not close it and dead desktops are noticed.
    pub stream_keepalive_ms: u32,
}

impl Default for RoutingConfig {
    fn default() -> Self {
        RoutingConfig {
            shard: 0,
            media: Vec::new(),
            agents_max: 100_000,
            interactions_max: 1_000_000,
            submissions_max: 1_000_000,
            reservation_timeout_ms: 15_000,
            offer_streams_max: 10_000,
            offer_streams_per_agent_max: 1,
            offer_stream_buffer: 64,
            stream_keepalive_ms: 15_000,
        }
    }
}

impl RoutingConfig {
    /// True if `media` is a built-in or configured media type.
    pub fn knows_media(&self, media: &str) -> bool {
        MEDIA_BUILT_IN.contains(&media) || self.media.iter().any(|m| m == media)
    }
}

/// How an entry point treats a customer who already has a live session.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Conversation {
    /// Every interaction starts a session of its own (default).
    #[default]
    None,
    /// A new interaction of a customer who has a live session started from this entry
    /// point's application joins that session (`interaction.added`) instead.
    Customer,
}

/// One `[[entry_point]]`: a named door for interactions (`POST /interactions` with
/// `"entry_point": NAME`; later a SIP routing-point number).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EntryPointConfig {
    /// Unique name.
    pub name: String,
    /// The strategy: a path, an http(s) URL, or the `[application]` name.
    pub application: String,
    /// `"none"` (default) or `"customer"` (see [`Conversation`]).
    pub conversation: Conversation,
    /// Media accepted here (default: any known media).
    pub media: Vec<String>,
}

impl Default for EntryPointConfig {
    fn default() -> Self {
        EntryPointConfig {
            name: String::new(),
            application: String::new(),
            conversation: Conversation::None,
            media: Vec::new(),
        }
    }
}

impl EntryPointConfig {
    /// The bundled sample: `support`, the chat strategy, one conversation per customer.
    pub fn sample() -> EntryPointConfig {
        EntryPointConfig {
            name: "support".into(),
            application: "runtime/samples/strategies/chat.scxml".into(),
            conversation: Conversation::Customer,
            media: Vec::new(),
        }
    }
}

/// One `[[gateway]]`: where `<ixn:createmessage>` sends messages of a media, as an HTTP
/// POST of a JSON body (`{"media","to","from","subject","body","interaction","session"}`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GatewayConfig {
    /// Unique name (what `<ixn:createmessage gateway="...">` names).
    pub name: String,
    /// The media it carries; the first gateway of a media is that media's default.
    pub media: String,
    /// The webhook, `http(s)://...`, reached with the `[outbound]` client (roots, binds).
    pub url: String,
    /// The sender address put in each message (`from`), e.g. a short code (default none).
    pub from: Option<String>,
}

/// The rules parsing cannot check. `shards` is how many shards will run.
pub(super) fn validate(
    routing: &RoutingConfig,
    entry_points: &[EntryPointConfig],
    gateways: &[GatewayConfig],
    shards: usize,
) -> Result<(), Problem> {
    if usize::from(routing.shard) >= shards {
        return Err(Problem::RoutingShard {
            shard: routing.shard,
            shards,
        });
    }
    validate_limits(routing)?;
    validate_media(routing)?;
    let mut names = HashSet::new();
    for (index, entry) in entry_points.iter().enumerate() {
        let key = || format!("entry_point[{index}]");
        if entry.name.trim().is_empty() || entry.application.trim().is_empty() {
            let fault = "needs a name and an application".to_owned();
            return Err(Problem::Routing { key: key(), fault });
        }
        if !names.insert(entry.name.as_str()) {
            let fault = format!("the name \"{}\" is used twice", entry.name);
            return Err(Problem::Routing { key: key(), fault });
        }
        if let Some(media) = entry.media.iter().find(|m| !routing.knows_media(m)) {
            return Err(Problem::Routing {
                key: key(),
                fault: unknown_media(media),
            });
        }
    }
    let mut names = HashSet::new();
    for (index, gateway) in gateways.iter().enumerate() {
        let key = || format!("gateway[{index}]");
        if gateway.name.trim().is_empty() || !names.insert(gateway.name.as_str()) {
            let fault = format!("needs a unique name (found \"{}\")", gateway.name);
            return Err(Problem::Routing { key: key(), fault });
        }
        if !routing.knows_media(&gateway.media) {
            return Err(Problem::Routing {
                key: key(),
                fault: unknown_media(&gateway.media),
            });
        }
        let url = gateway.url.to_ascii_lowercase();
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            let fault = format!(
                "url \"{}\" must start with http:// or https://",
                gateway.url
            );
            return Err(Problem::Routing { key: key(), fault });
        }
    }
    Ok(())
}

fn unknown_media(media: &str) -> String {
    format!(
        "unknown media \"{media}\" (built in: {}; add open media to routing.media)",
        MEDIA_BUILT_IN.join(", ")
    )
}

fn validate_limits(routing: &RoutingConfig) -> Result<(), Problem> {
    let values: [(&'static str, u32); 8] = [
        ("routing.agents_max", routing.agents_max),
        ("routing.interactions_max", routing.interactions_max),
        ("routing.submissions_max", routing.submissions_max),
        (
            "routing.reservation_timeout_ms",
            routing.reservation_timeout_ms,
        ),
        ("routing.offer_streams_max", routing.offer_streams_max),
        (
            "routing.offer_streams_per_agent_max",
            routing.offer_streams_per_agent_max,
        ),
        ("routing.offer_stream_buffer", routing.offer_stream_buffer),
        ("routing.stream_keepalive_ms", routing.stream_keepalive_ms),
    ];
    if let Some((key, _)) = values.iter().find(|(_, value)| *value == 0) {
        return Err(Problem::Zero { key });
    }
    super::validate::at_most(
        "routing.offer_streams_per_agent_max",
        routing.offer_streams_per_agent_max,
        OFFER_STREAMS_PER_AGENT_MAX,
    )?;
    // An interaction id holds the slot under its random tag (`InteractionId::SLOT_BITS`).
    super::validate::at_most(
        "routing.interactions_max",
        routing.interactions_max,
        INTERACTIONS_MAX,
    )
}

/// Largest `routing.offer_streams_per_agent_max`: a desktop, a wallboard, a few spares.
pub const OFFER_STREAMS_PER_AGENT_MAX: u32 = 16;

/// Largest `routing.interactions_max`: the slots an interaction id can name (2^24).
pub const INTERACTIONS_MAX: u32 = 1 << 24;

fn validate_media(routing: &RoutingConfig) -> Result<(), Problem> {
    if routing.media.len() > MEDIA_EXTRA_MAX {
        return Err(Problem::AboveMax {
            key: "routing.media",
            value: routing.media.len() as u64,
            max: MEDIA_EXTRA_MAX as u64,
        });
    }
    let mut seen: HashSet<&str> = MEDIA_BUILT_IN.into_iter().collect();
    for media in &routing.media {
        let well_formed = !media.is_empty()
            && media.len() <= 32
            && media
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if !well_formed || !seen.insert(media.as_str()) {
            let fault =
                format!("\"{media}\" must be new, 1 to 32 lowercase letters, digits or '-'");
            return Err(Problem::Routing {
                key: "routing.media".into(),
                fault,
            });
        }
    }
    Ok(())
}
