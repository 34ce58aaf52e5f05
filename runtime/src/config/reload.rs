//! What a reload changes: the server applies the plan to running shards, leaving live
//! connections and sessions alone.
//!
//! Listeners are matched by name. Certificate files are named by path here; since files
//! are often rotated in place, the server re-reads every TLS listener's files on each
//! reload whatever the plan says, and the plan's `certificates_changed` only says which
//! listeners now point at different files.
//!
//! Keys fixed when shards start (executor placement, table and channel sizes, the shard's
//! JS runtime, `[outbound]` and `[documents]` with their allow-lists) cannot change live:
//! the plan lists them as needing a restart, and
//! [`in_force`] keeps their old values in the configuration that replaces the old one, so
//! the configuration in force always describes what the shards actually run.

use std::fmt;

use super::{Config, ListenerConfig, Protocol};

/// The differences between the configuration in force and a validated new one.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReloadPlan {
    /// Listeners only in the new configuration: open them on every shard.
    pub listeners_added: Vec<String>,
    /// Listeners only in the old configuration: stop accepting on them (connections
    /// already accepted finish normally).
    pub listeners_removed: Vec<String>,
    /// Listeners in both whose socket or security changed: reopen them.
    pub listeners_changed: Vec<ListenerChange>,
    /// Listeners in both that now name different `cert`, `key` or `client_ca` files.
    pub certificates_changed: Vec<String>,
    /// Listeners in both whose `admin` flag changed: it applies from the next request, on
    /// connections already open too (revoking admin must not wait for them to close).
    pub admin_changed: Vec<String>,
    /// Whether `[[access]]` entries or a listener's `access` changed: the next request on
    /// every connection is judged by the new rules. Tokens files are re-read on every
    /// reload whatever the plan says, as certificates are.
    pub access_changed: bool,
    /// Whether `[limits]` keys applied per request or per session changed (timeouts,
    /// sizes, queue bounds, engine limits): new requests and sessions use the new values.
    pub limits_changed: bool,
    /// Whether `[application]` changed: later starts by the application's name use it.
    pub application_changed: bool,
    /// Whether `[[entry_point]]` or `[[gateway]]` entries changed: new interactions and
    /// messages use them (interactions already in progress keep their session).
    pub entry_points_changed: bool,
    /// Keys that changed but are fixed when shards start (cores, io memory, shares,
    /// slab and channel sizes, the JS runtime's budget): they take effect only after a
    /// restart, and the configuration in force keeps their old values meanwhile.
    pub restart_required: Vec<&'static str>,
}

/// How a listener present in both configurations changed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListenerChange {
    /// The listener.
    pub name: String,
    /// The address changed (the socket must be rebound).
    pub address: bool,
    /// The protocol changed.
    pub protocol: bool,
    /// The `tls` mode changed.
    pub tls: bool,
}

impl ReloadPlan {
    /// Whether the reload changes nothing (files are still re-read).
    pub fn is_empty(&self) -> bool {
        *self == ReloadPlan::default()
    }
}

pub(super) fn plan(old: &Config, new: &Config) -> ReloadPlan {
    let mut plan = ReloadPlan::default();
    // SIP listeners are fixed at start (see `fixed_at_start`); the rest reload live.
    let http = |l: &&ListenerConfig| l.protocol != Protocol::Sip;
    for listener in new.listeners.iter().filter(http) {
        match find(&old.listeners, &listener.name) {
            None => plan.listeners_added.push(listener.name.clone()),
            Some(before) => compare(&mut plan, before, listener),
        }
    }
    for listener in old.listeners.iter().filter(http) {
        if find(&new.listeners, &listener.name).is_none() {
            plan.listeners_removed.push(listener.name.clone());
        }
    }
    plan.restart_required = fixed_at_start(old, new);
    // Apart from the keys fixed at start, any other limit change applies live.
    plan.limits_changed = in_force(old, new).limits != old.limits;
    plan.application_changed = old.application != new.application;
    // Listeners added or removed are in the plan already; a kept one may change its mode.
    let mode_changed = new.listeners.iter().any(|listener| {
        find(&old.listeners, &listener.name).is_some_and(|before| before.access != listener.access)
    });
    plan.access_changed = old.access != new.access || mode_changed;
    plan.entry_points_changed = old.entry_points != new.entry_points
        || old.gateways != new.gateways
        || old.routing_points != new.routing_points;
    plan
}

/// The configuration in force after a reload from `old` to `new`: `new`, except that the
/// keys fixed at start keep their `old` values (they apply only after a restart).
pub(super) fn in_force(old: &Config, new: &Config) -> Config {
    let mut config = new.clone();
    config.runtime = old.runtime.clone();
    config.basichttp = old.basichttp.clone();
    config.routing = old.routing.clone();
    config.sip = old.sip.clone();
    // Each shard builds its outbound client and its document caches (with the allow-lists
    // that guard them) once, at start: a changed allow-list must not look applied when it
    // is not, so both sections are reported as needing a restart.
    config.outbound = old.outbound.clone();
    config.documents = old.documents.clone();
    // SIP sockets are opened once, on the routing shard: the listeners stay as they were.
    config.listeners.retain(|l| l.protocol != Protocol::Sip);
    let sip_listeners = old.listeners.iter().filter(|l| l.protocol == Protocol::Sip);
    config.listeners.extend(sip_listeners.cloned());
    let (limits, old_limits) = (&mut config.limits, &old.limits);
    limits.sessions_per_shard_max = old_limits.sessions_per_shard_max;
    limits.connections_per_shard_max = old_limits.connections_per_shard_max;
    limits.mesh_queue_max = old_limits.mesh_queue_max;
    limits.script_fuel_max = old_limits.script_fuel_max;
    limits.js_heap_bytes_max = old_limits.js_heap_bytes_max;
    limits.js_stack_bytes_max = old_limits.js_stack_bytes_max;
    limits.pending_requests_per_shard_max = old_limits.pending_requests_per_shard_max;
    limits.idealtime_ahead_max_ms = old_limits.idealtime_ahead_max_ms;
    config
}

/// Keys that changed but are sized or placed when shards start.
fn fixed_at_start(old: &Config, new: &Config) -> Vec<&'static str> {
    let (old_runtime, new_runtime) = (&old.runtime, &new.runtime);
    let (old_limits, new_limits) = (&old.limits, &new.limits);
    let (old_http, new_http) = (&old.basichttp, &new.basichttp);
    let fixed_at_start = [
        ("runtime.cores", old_runtime.cores != new_runtime.cores),
        // Each session's location is fixed when it starts, and each shard's bound with it.
        ("basichttp.location", old_http.location != new_http.location),
        (
            "basichttp.sends_in_flight_max",
            old_http.sends_in_flight_max != new_http.sends_in_flight_max,
        ),
        // The router (its owner, media table and sizes) is built when shards start.
        ("routing", old.routing != new.routing),
        ("sip", old.sip != new.sip),
        // The outbound client, its allow rules and the document allow-list and caches.
        ("outbound", old.outbound != new.outbound),
        ("documents", old.documents != new.documents),
        ("SIP listeners", sip_listeners(old) != sip_listeners(new)),
        (
            "runtime.io_memory_bytes",
            old_runtime.io_memory_bytes != new_runtime.io_memory_bytes,
        ),
        (
            "runtime.latency_queue_shares",
            old_runtime.latency_queue_shares != new_runtime.latency_queue_shares,
        ),
        (
            "runtime.background_queue_shares",
            old_runtime.background_queue_shares != new_runtime.background_queue_shares,
        ),
        (
            "runtime.latency_queue_preempt_us",
            old_runtime.latency_queue_preempt_us != new_runtime.latency_queue_preempt_us,
        ),
        (
            "limits.sessions_per_shard_max",
            old_limits.sessions_per_shard_max != new_limits.sessions_per_shard_max,
        ),
        (
            "limits.connections_per_shard_max",
            old_limits.connections_per_shard_max != new_limits.connections_per_shard_max,
        ),
        (
            "limits.mesh_queue_max",
            old_limits.mesh_queue_max != new_limits.mesh_queue_max,
        ),
        // The shard's one QuickJS runtime is created with these at start.
        (
            "limits.script_fuel_max",
            old_limits.script_fuel_max != new_limits.script_fuel_max,
        ),
        (
            "limits.js_heap_bytes_max",
            old_limits.js_heap_bytes_max != new_limits.js_heap_bytes_max,
        ),
        (
            "limits.js_stack_bytes_max",
            old_limits.js_stack_bytes_max != new_limits.js_stack_bytes_max,
        ),
        // The shard's request table and start bound are sized when it starts.
        (
            "limits.pending_requests_per_shard_max",
            old_limits.pending_requests_per_shard_max != new_limits.pending_requests_per_shard_max,
        ),
        (
            "limits.idealtime_ahead_max_ms",
            old_limits.idealtime_ahead_max_ms != new_limits.idealtime_ahead_max_ms,
        ),
    ];
    fixed_at_start
        .into_iter()
        .filter(|(_, changed)| *changed)
        .map(|(key, _)| key)
        .collect()
}

fn sip_listeners(config: &Config) -> Vec<&ListenerConfig> {
    let listeners = config.listeners.iter();
    listeners.filter(|l| l.protocol == Protocol::Sip).collect()
}

fn find<'a>(listeners: &'a [ListenerConfig], name: &str) -> Option<&'a ListenerConfig> {
    listeners.iter().find(|listener| listener.name == name)
}

fn compare(plan: &mut ReloadPlan, before: &ListenerConfig, after: &ListenerConfig) {
    let change = ListenerChange {
        name: after.name.clone(),
        address: before.address != after.address,
        protocol: before.protocol != after.protocol,
        tls: before.tls != after.tls,
    };
    if change.address || change.protocol || change.tls {
        plan.listeners_changed.push(change);
    }
    let files_before = (&before.cert, &before.key, &before.client_ca);
    let files_after = (&after.cert, &after.key, &after.client_ca);
    if files_before != files_after {
        plan.certificates_changed.push(after.name.clone());
    }
    if before.admin != after.admin {
        plan.admin_changed.push(after.name.clone());
    }
}

impl fmt::Display for ReloadPlan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_empty() {
            return write!(f, "no changes");
        }
        let mut parts: Vec<String> = Vec::new();
        let lists = [
            ("listeners added", &self.listeners_added),
            ("listeners removed", &self.listeners_removed),
            ("certificates changed", &self.certificates_changed),
            ("admin changed", &self.admin_changed),
        ];
        for (label, names) in lists {
            if !names.is_empty() {
                parts.push(format!("{label}: {}", names.join(", ")));
            }
        }
        if !self.listeners_changed.is_empty() {
            let names: Vec<&str> = self.listeners_changed.iter().map(|c| &*c.name).collect();
            parts.push(format!("listeners changed: {}", names.join(", ")));
        }
        if self.limits_changed {
            parts.push("limits changed".into());
        }
        if self.access_changed {
            parts.push("access rules changed".into());
        }
        if self.application_changed {
            parts.push("application changed".into());
        }
        if self.entry_points_changed {
            parts.push("entry points or gateways changed".into());
        }
        if !self.restart_required.is_empty() {
            let keys = self.restart_required.join(", ");
            parts.push(format!("needs a restart to apply: {keys}"));
        }
        write!(f, "{}", parts.join("; "))
    }
}
