//! The server's configuration: one TOML file, every bound named, with a unit and a default.
//!
//! What it does: parses a TOML document into [`Config`] (unknown keys are errors, every
//! key has a default), validates it against this machine ([`Machine`]: usable cores, the
//! locked-memory limit), converts the engine's share of it into [`engine::limits::Limits`],
//! and says what a reload would change ([`Config::reload_plan`]).
//!
//! What it must never do: start anything. A configuration is checked in full before a
//! shard sees it, so a bad file (at start or at reload) is refused with a message that
//! names the key and the problem, and the configuration in force stays as it was.
//!
//! Paths (`application.src`, `cert`, `key`, `client_ca`, `outbound.roots`,
//! `documents.allow`) are used as written: relative paths are relative to the server's
//! working directory, not to the file.

mod access;
mod basichttp;
mod cores;
mod error;
mod machine;
mod outbound;
mod reload;
mod routing;
mod sip;
mod validate;

#[cfg(test)]
mod tests;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

pub use access::{
    applies as access_applies, effective as effective_access, parse_sha256, AccessRule,
    EffectiveAccess, ListenerAccess, Role, ACCESS_RULES_MAX,
};
pub use basichttp::{BasicHttpConfig, BasicHttpLocation, SENDS_IN_FLIGHT_MAX};
pub use cores::Cores;
pub use error::{ConfigError, Problem};
pub use machine::Machine;
pub use outbound::{
    in_network, AllowRule, BindRule, DocumentsConfig, HostMatch, LocalPorts, OutboundConfig,
};
pub use reload::{ListenerChange, ReloadPlan};
pub use routing::{
    Conversation, EntryPointConfig, GatewayConfig, RoutingConfig, INTERACTIONS_MAX, MEDIA_BUILT_IN,
    MEDIA_EXTRA_MAX,
};
pub use sip::{is_redirect_uri, RoutingPointConfig, SipConfig, SIP_TRANSACTIONS_MAX};

/// Most sessions one shard may be configured to hold; bounded by the slot bits of a
/// session id (see `shard::SessionId`), which checks the relation at compile time.
pub const SESSIONS_PER_SHARD_MAX: u32 = 1 << 24;

/// Most shards (configured cores); bounded by the shard bits of a session id.
pub const SHARDS_MAX: u16 = 1 << 12;

/// Largest share value glommio accepts for a task queue.
pub const QUEUE_SHARES_MAX: u16 = 1_000;

/// The embedded default configuration (`tuning/default.toml`), used by `baton serve`
/// without `--config`.
pub const DEFAULT_TOML: &str = include_str!("../../../tuning/default.toml");

/// The whole configuration. Every section and key has a default.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Executors: which cores, how much I/O memory, task-queue shares.
    pub runtime: RuntimeConfig,
    /// Every bound the server and the engine enforce.
    pub limits: LimitsConfig,
    /// Listening sockets (`[[listener]]` entries). Default: one plain HTTP listener on
    /// `127.0.0.1:8080` named `http`, serving the admin endpoints (loopback only).
    #[serde(rename = "listener")]
    pub listeners: Vec<ListenerConfig>,
    /// Who may use the HTTP API and as what (`[[access]]` entries), reloadable. Default:
    /// none, so only loopback listeners (open) may run.
    #[serde(rename = "access")]
    pub access: Vec<AccessRule>,
    /// The default application document.
    pub application: ApplicationConfig,
    /// Outbound connections: trust roots, client certificate, timeouts, local binds.
    pub outbound: OutboundConfig,
    /// Documents fetched over HTTP(S): cache size, redirects, sub-resources.
    pub documents: DocumentsConfig,
    /// The Basic HTTP Event I/O Processor: public location, sends in flight.
    pub basichttp: BasicHttpConfig,
    /// Routing: the owner shard, open media, agent and interaction bounds.
    pub routing: RoutingConfig,
    /// Entry points for interactions (`[[entry_point]]`), reloadable. Default: the bundled
    /// sample, `support` ([`EntryPointConfig::sample`]).
    #[serde(rename = "entry_point")]
    pub entry_points: Vec<EntryPointConfig>,
    /// Outbound message gateways (`[[gateway]]`), reloadable.
    #[serde(rename = "gateway")]
    pub gateways: Vec<GatewayConfig>,
    /// The SIP routing point: queued status, decision time, default destination, media
    /// server, transaction bounds and timers.
    pub sip: SipConfig,
    /// Numbers calls are sent to (`[[routing_point]]`), reloadable.
    #[serde(rename = "routing_point")]
    pub routing_points: Vec<RoutingPointConfig>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            runtime: RuntimeConfig::default(),
            limits: LimitsConfig::default(),
            listeners: vec![ListenerConfig {
                admin: true,
                ..ListenerConfig::default()
            }],
            access: Vec::new(),
            application: ApplicationConfig::default(),
            outbound: OutboundConfig::default(),
            documents: DocumentsConfig::default(),
            basichttp: BasicHttpConfig::default(),
            routing: RoutingConfig::default(),
            entry_points: vec![EntryPointConfig::sample()],
            gateways: Vec::new(),
            sip: SipConfig::default(),
            routing_points: Vec::new(),
        }
    }
}

/// `[runtime]`: shards, placement and executor memory.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RuntimeConfig {
    /// Cores to run one shard each on, pinned: a list such as `[0, 1]` or `"all"` (every
    /// core this process may use). Default `[0]`. Cost: each shard is one busy-polling
    /// thread on its core, plus its own memory (sessions, documents, JS heap).
    pub cores: Cores,
    /// Memory each shard preallocates and registers with io_uring, in bytes (default
    /// 1 MiB). It counts against the locked-memory limit (`ulimit -l`, often 8 MiB per
    /// process), so `io_memory_bytes × shards` must fit under it. More helps large
    /// storage I/O only; network I/O does not use it.
    pub io_memory_bytes: u32,
    /// CPU shares of the latency-class task queue that runs protocol I/O and macrosteps
    /// (1..=1000, default 1000). Cost: none by itself; it is relative to the background
    /// queue's shares.
    pub latency_queue_shares: u16,
    /// CPU shares of the background task queue: document fetches, metrics, housekeeping
    /// (1..=1000, default 100).
    pub background_queue_shares: u16,
    /// How long one task queue runs before the other gets its turn, in microseconds
    /// (default 1000; glommio's preempt timer). Lower means lower tail latency for the
    /// queue waiting and more preemption overhead.
    pub latency_queue_preempt_us: u32,
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        RuntimeConfig {
            cores: Cores::List(vec![0]),
            io_memory_bytes: 1 << 20,
            latency_queue_shares: 1_000,
            background_queue_shares: 100,
            latency_queue_preempt_us: 1_000,
        }
    }
}

/// `[limits]`: every bound, server side and engine side. Zero is never valid.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LimitsConfig {
    /// Sessions alive at once on one shard (default 100,000; at most 2^24). The session
    /// table is allocated at this size when the shard starts (a few dozen bytes a slot);
    /// a start past it answers 503.
    pub sessions_per_shard_max: u32,
    /// Open client connections per shard (default 10,000). Cost: a connection slot and
    /// its buffers; an accept past it is closed at once.
    pub connections_per_shard_max: u32,
    /// Open HTTP connections from one IP address per listener per shard (default 256;
    /// `connections_per_shard_max` still bounds them all). One more from that address is
    /// refused (503 on
    /// plain HTTP, closed on TLS), so a client holding connections open fills only its own
    /// share. Raise it for many clients behind one NAT address.
    pub connections_per_address_max: u32,
    /// Largest HTTP request head, in bytes (default 16 KiB). Cost: the per-connection read
    /// buffer; a larger head answers 431.
    pub header_bytes_max: u32,
    /// Largest HTTP request body, in bytes (default 1 MiB). A larger body answers 413.
    pub body_bytes_max: u32,
    /// Time to receive a whole request once its first byte arrived, in milliseconds
    /// (default 30,000). Bounds slow clients; past it the connection is closed with 408.
    pub request_timeout_ms: u32,
    /// Time to receive a complete request head, in milliseconds (default 10,000; at most
    /// `request_timeout_ms`).
    pub header_timeout_ms: u32,
    /// Time a keep-alive connection may stay idle between requests, in milliseconds
    /// (default 60,000). Cost: an open socket and its slot while idle.
    pub idle_timeout_ms: u32,
    /// Time `/request/{name}` waits for the session's reply before answering 504, in
    /// milliseconds (default 5,000).
    pub request_reply_timeout_ms: u32,
    /// Requests (`/request/{name}`) awaiting a session's `<session:response>` at once on
    /// one shard (default 10,000). Cost: a map entry and a waiting HTTP exchange each; a
    /// request past it answers 503.
    pub pending_requests_per_shard_max: u32,
    /// How far ahead the `idealtime` of a session start may be, in milliseconds (default
    /// 86,400,000: one day). A deferred session holds its slot and scope until it starts;
    /// an `idealtime` further ahead answers 400.
    pub idealtime_ahead_max_ms: u32,
    /// Largest datamodel `GET /scxml/session/{id}/query` answers with, as JSON, in bytes
    /// (default 1 MiB). A larger one is left out of the answer (`datamodel` null and
    /// `datamodel_omitted` saying why); the configuration and the rest still come. Reloads.
    pub query_bytes_max: u32,
    /// Events waiting in one session's external queue (default 1,000). A send past it is
    /// refused: 503 over HTTP, `error.communication` for an SCXML `<send>`.
    pub event_queue_max: u32,
    /// Messages in flight on each cross-shard channel, per ordered pair of shards
    /// (default 1,024; rounded up to a power of two). Cost: shards² channels of this
    /// size, allocated at start; a full channel is typed back-pressure to the sender.
    pub mesh_queue_max: u32,
    /// Engine: microsteps in one macrostep before the session is ended (default 1,000).
    pub microsteps_per_macrostep_max: u32,
    /// Engine: internal queue length before the session is ended (default 1,000).
    pub internal_queue_max: u32,
    /// Engine: delayed `<send>`s pending per session (default 1,000); one more raises
    /// `error.execution`. Cost: a timer entry each.
    pub delayed_sends_max: u32,
    /// Engine: payload bytes of one session's pending delayed `<send>`s (default 1 MiB);
    /// a send past it raises `error.execution` in the sender and is not made. Cost: the
    /// pending payloads are held in the shard's memory until due. Reloads live.
    pub delayed_send_bytes_max: u32,
    /// Engine: nesting of `<invoke>` (default 16): a session this many invocations deep
    /// cannot invoke; the invoke fails (`error.execution`) instead. Reloads live.
    pub invoke_depth_max: u32,
    /// Sessions alive at once in one tree: a session a client started, its invoked
    /// descendants and the sessions they start with `<session:start>`, recursively
    /// (default 1,000; above `sessions_per_shard_max` the table bounds it first). One more
    /// fails its `<invoke>` or answers its `<session:start>` with `error.session.start`, so
    /// that one client's session cannot fill the session table. Reloads live.
    pub sessions_per_tree_max: u32,
    /// External events one session may process per second (default 1,000). Past it its
    /// events wait in its queue for the next second, so a `<send>`-to-self loop costs the
    /// shard this many macrosteps a second, not a core, and other sessions keep their
    /// latency. Reloads live.
    pub session_events_per_second_max: u32,
    /// Engine: iterations of one `<foreach>` (default 100,000).
    pub foreach_items_max: u32,
    /// Engine: run-time budget of one script evaluation, in QuickJS interrupt polls
    /// (about 10,000 bytecode branches each; default 1,000, roughly 50 ms).
    pub script_fuel_max: u32,
    /// Engine: JS heap of one shard's runtime, in bytes (default 256 MiB).
    pub js_heap_bytes_max: u32,
    /// Engine: JS heap one session may hold, in bytes (default 16 MiB; at most
    /// `js_heap_bytes_max`). An allocation past it fails that session's evaluation with
    /// `error.execution`; other sessions are untouched. Cost: a ledger entry per session
    /// and 16 bytes per JS heap block (the owner's header). Reloads live.
    pub js_heap_per_session_bytes_max: u32,
    /// Engine: JS stack of one shard's runtime, in bytes (default 512 KiB).
    pub js_stack_bytes_max: u32,
    /// Engine: largest document accepted, in bytes (default 4 MiB). Cost: parse time and
    /// memory while compiling; compiled documents are cached per shard.
    pub document_bytes_max: u32,
    /// Engine: most states in one document, history and final states included (default
    /// 10,000).
    pub states_max: u32,
    /// Engine: deepest nesting of states and of executable content (default 64).
    pub depth_max: u16,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        // The engine's own defaults are the single source for its fields.
        let engine = engine::limits::Limits::default();
        LimitsConfig {
            sessions_per_shard_max: 100_000,
            connections_per_shard_max: 10_000,
            connections_per_address_max: 256,
            header_bytes_max: 16 << 10,
            body_bytes_max: 1 << 20,
            request_timeout_ms: 30_000,
            header_timeout_ms: 10_000,
            idle_timeout_ms: 60_000,
            request_reply_timeout_ms: 5_000,
            pending_requests_per_shard_max: 10_000,
            idealtime_ahead_max_ms: 86_400_000,
            query_bytes_max: 1 << 20,
            event_queue_max: 1_000,
            mesh_queue_max: 1_024,
            microsteps_per_macrostep_max: engine.microsteps_per_macrostep_max,
            internal_queue_max: engine.internal_queue_max,
            delayed_sends_max: engine.delayed_sends_max,
            delayed_send_bytes_max: engine.delayed_send_bytes_max,
            invoke_depth_max: engine.invoke_depth_max,
            sessions_per_tree_max: engine.sessions_per_tree_max,
            session_events_per_second_max: engine.session_events_per_second_max,
            foreach_items_max: engine.foreach_items_max,
            script_fuel_max: engine.script_fuel_max,
            js_heap_bytes_max: engine.js_heap_bytes_max,
            js_heap_per_session_bytes_max: engine.js_heap_per_session_bytes_max,
            js_stack_bytes_max: engine.js_stack_bytes_max,
            document_bytes_max: engine.document_bytes_max,
            states_max: engine.states_max,
            depth_max: engine.depth_max,
        }
    }
}

impl LimitsConfig {
    /// The engine's bounds, field by field under the same names.
    pub fn engine_limits(&self) -> engine::limits::Limits {
        engine::limits::Limits {
            document_bytes_max: self.document_bytes_max,
            states_max: self.states_max,
            depth_max: self.depth_max,
            microsteps_per_macrostep_max: self.microsteps_per_macrostep_max,
            internal_queue_max: self.internal_queue_max,
            delayed_sends_max: self.delayed_sends_max,
            delayed_send_bytes_max: self.delayed_send_bytes_max,
            invoke_depth_max: self.invoke_depth_max,
            sessions_per_tree_max: self.sessions_per_tree_max,
            session_events_per_second_max: self.session_events_per_second_max,
            foreach_items_max: self.foreach_items_max,
            script_fuel_max: self.script_fuel_max,
            js_heap_bytes_max: self.js_heap_bytes_max,
            js_heap_per_session_bytes_max: self.js_heap_per_session_bytes_max,
            js_stack_bytes_max: self.js_stack_bytes_max,
        }
    }
}

/// The protocol a listener speaks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    /// HTTP/1.1: the session API, `/metrics`, `/health`.
    #[default]
    Http,
    /// SIP routing point: UDP and TCP on the address (TLS over TCP with `tls`), served on
    /// the routing shard, where calls' sessions live.
    Sip,
}

/// Transport security of a listener.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Tls {
    /// Plain TCP.
    #[default]
    Off,
    /// TLS with the server certificate `cert` and key `key`.
    On,
    /// TLS that also requires a client certificate signed by `client_ca`; a client
    /// without one is refused at the handshake.
    Mutual,
}

/// One `[[listener]]` entry. Each shard opens every listener (SO_REUSEPORT).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ListenerConfig {
    /// Unique name, used in messages, metrics and reload plans (default `"http"`).
    pub name: String,
    /// `"http"` (default) or `"sip"` (see `[sip]`).
    pub protocol: Protocol,
    /// Socket address to bind, `IP:port` (default `127.0.0.1:8080`).
    pub address: SocketAddr,
    /// `"off"` (default), `"on"` or `"mutual"`. Cost of TLS: a handshake per connection
    /// (about a millisecond of CPU) and encryption of every byte.
    pub tls: Tls,
    /// PEM certificate chain; required when `tls` is `"on"` or `"mutual"`.
    pub cert: Option<PathBuf>,
    /// PEM private key of `cert`; required when `tls` is `"on"` or `"mutual"`.
    pub key: Option<PathBuf>,
    /// PEM certificates of the CAs that sign client certificates; required when `tls` is
    /// `"mutual"`, refused otherwise.
    pub client_ca: Option<PathBuf>,
    /// Whether this listener serves the admin endpoints (`POST /admin/reload`) besides the
    /// session API. Default `false`: an integrator-facing listener must not let its clients
    /// reconfigure the server. Enable it on a loopback or mutual-TLS listener only; the
    /// embedded default's loopback listener has it. With access rules, an admin request
    /// also needs the `admin` role.
    pub admin: bool,
    /// `"open"` or `"rules"`; not written: rules when an `[[access]]` entry applies to the
    /// listener, else open on a loopback address (a non-loopback listener without rules is
    /// refused). HTTP listeners only. Reloads live.
    pub access: ListenerAccess,
}

impl Default for ListenerConfig {
    fn default() -> Self {
        ListenerConfig {
            name: "http".into(),
            protocol: Protocol::Http,
            address: SocketAddr::from(([127, 0, 0, 1], 8080)),
            tls: Tls::Off,
            cert: None,
            key: None,
            client_ca: None,
            admin: false,
            access: ListenerAccess::Auto,
        }
    }
}

/// `[application]`: the provisioned application, started by `POST /scxml/session/start`
/// with `src` set to its name.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ApplicationConfig {
    /// File path or http(s) URL of the default document (default
    /// `runtime/samples/hello.scxml`, the bundled sample).
    pub src: String,
    /// Name of the application: the `src` integrators pass to start it, also shown by
    /// `GET /health` (default `hello`).
    pub name: String,
}

impl Default for ApplicationConfig {
    fn default() -> Self {
        ApplicationConfig {
            src: "runtime/samples/hello.scxml".into(),
            name: "hello".into(),
        }
    }
}

impl Config {
    /// Parses and validates `text` against this machine. `origin` names the text in
    /// messages (a path, or `<embedded default>`).
    pub fn from_toml_str(text: &str, origin: &str) -> Result<Config, ConfigError> {
        Config::from_toml_str_on(text, origin, &Machine::probe())
    }

    /// Parses and validates `text` against `machine` (tests and `baton serve --check`
    /// for another host use a described machine instead of this one).
    pub fn from_toml_str_on(
        text: &str,
        origin: &str,
        machine: &Machine,
    ) -> Result<Config, ConfigError> {
        let config: Config =
            toml::from_str(text).map_err(|error| ConfigError::syntax(origin, text, &error))?;
        config
            .validate(machine)
            .map_err(|problem| ConfigError::Invalid {
                origin: origin.into(),
                problem: Box::new(problem),
            })?;
        Ok(config)
    }

    /// Reads, parses and validates the file at `path`.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|error| ConfigError::Read {
            path: path.to_path_buf(),
            error,
        })?;
        Config::from_toml_str(&text, &path.display().to_string())
    }

    /// The embedded default (`tuning/default.toml`), validated against this machine.
    pub fn embedded_default() -> Result<Config, ConfigError> {
        Config::from_toml_str(DEFAULT_TOML, "<embedded default>")
    }

    /// The cores to start shards on, in shard order (shard `i` runs on `cores()[i]`).
    pub fn cores(&self, machine: &Machine) -> Vec<u16> {
        match &self.runtime.cores {
            Cores::All => machine.cores.clone(),
            Cores::List(cores) => cores.clone(),
        }
    }

    /// Checks every rule that parsing cannot: zero limits, relations between limits,
    /// cores, locked memory, listeners.
    pub fn validate(&self, machine: &Machine) -> Result<(), Problem> {
        validate::limits(&self.limits)?;
        validate::request_limits(&self.limits)?;
        validate::runtime(self, machine)?;
        validate::listeners(&self.listeners)?;
        access::validate(&self.access, &self.listeners)?;
        validate::application(&self.application)?;
        basichttp::validate(&self.basichttp)?;
        let shards = self.cores(machine).len();
        routing::validate(&self.routing, &self.entry_points, &self.gateways, shards)?;
        sip::validate(
            &self.sip,
            &self.routing_points,
            &self.entry_points,
            &self.listeners,
        )?;
        outbound::validate(&self.outbound, &self.documents)
    }

    /// Where sessions receive Basic HTTP events: `basichttp.location`, else the first plain
    /// or TLS HTTP listener's address unless it is unspecified (`0.0.0.0`, `[::]`).
    pub fn basichttp_location(&self) -> BasicHttpLocation {
        basichttp::location(&self.basichttp, &self.listeners)
    }

    /// What replacing `old` by `new` changes; `new` must already be validated.
    pub fn reload_plan(old: &Config, new: &Config) -> ReloadPlan {
        reload::plan(old, new)
    }

    /// The configuration in force once a reload from `old` to `new` is applied: `new`,
    /// with the keys that need a restart ([`ReloadPlan::restart_required`]) still `old`.
    pub fn in_force_after_reload(old: &Config, new: &Config) -> Config {
        reload::in_force(old, new)
    }

    /// The addresses of the listeners that serve the admin endpoints: never a destination
    /// of an outbound connection (see [`crate::outbound::destination`]).
    pub fn admin_addresses(&self) -> Vec<SocketAddr> {
        let admin = self
            .listeners
            .iter()
            .filter(|l| l.admin && l.protocol != Protocol::Sip);
        admin.map(|listener| listener.address).collect()
    }

    /// Listeners that serve the admin endpoints where anyone who reaches the address may
    /// use them: not loopback, and no client certificate required. Worth a warning, not a
    /// refusal (a firewall may guard the address).
    pub fn exposed_admin_listeners(&self) -> Vec<&ListenerConfig> {
        validate::exposed_admin(&self.listeners)
    }
}

// Cheap startup invariants between the constants above.
const _: () = assert!(QUEUE_SHARES_MAX <= 1_000);
const _: () = assert!(SHARDS_MAX > 0);
