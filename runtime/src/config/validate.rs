//! The rules a parsed configuration must keep; each broken rule is one [`Problem`].

use std::collections::HashSet;

use super::{
    ApplicationConfig, Config, Cores, LimitsConfig, ListenerConfig, Machine, Problem, Protocol,
    Tls, QUEUE_SHARES_MAX, SESSIONS_PER_SHARD_MAX, SHARDS_MAX,
};

/// The smallest `limits.header_bytes_max` the HTTP codec accepts.
const HEADER_BYTES_MIN: u32 = 64;

/// Every limit is at least 1, the session bound fits a session id, timeouts nest.
pub(super) fn limits(limits: &LimitsConfig) -> Result<(), Problem> {
    let values: [(&'static str, u32); 27] = [
        (
            "limits.sessions_per_shard_max",
            limits.sessions_per_shard_max,
        ),
        (
            "limits.connections_per_shard_max",
            limits.connections_per_shard_max,
        ),
        (
            "limits.connections_per_address_max",
            limits.connections_per_address_max,
        ),
        ("limits.header_bytes_max", limits.header_bytes_max),
        ("limits.body_bytes_max", limits.body_bytes_max),
        ("limits.request_timeout_ms", limits.request_timeout_ms),
        ("limits.header_timeout_ms", limits.header_timeout_ms),
        ("limits.idle_timeout_ms", limits.idle_timeout_ms),
        (
            "limits.request_reply_timeout_ms",
            limits.request_reply_timeout_ms,
        ),
        ("limits.event_queue_max", limits.event_queue_max),
        ("limits.query_bytes_max", limits.query_bytes_max),
        ("limits.mesh_queue_max", limits.mesh_queue_max),
        (
            "limits.microsteps_per_macrostep_max",
            limits.microsteps_per_macrostep_max,
        ),
        ("limits.internal_queue_max", limits.internal_queue_max),
        ("limits.delayed_sends_max", limits.delayed_sends_max),
        (
            "limits.delayed_send_bytes_max",
            limits.delayed_send_bytes_max,
        ),
        ("limits.invoke_depth_max", limits.invoke_depth_max),
        ("limits.sessions_per_tree_max", limits.sessions_per_tree_max),
        (
            "limits.session_events_per_second_max",
            limits.session_events_per_second_max,
        ),
        ("limits.foreach_items_max", limits.foreach_items_max),
        ("limits.script_fuel_max", limits.script_fuel_max),
        ("limits.js_heap_bytes_max", limits.js_heap_bytes_max),
        (
            "limits.js_heap_per_session_bytes_max",
            limits.js_heap_per_session_bytes_max,
        ),
        ("limits.js_stack_bytes_max", limits.js_stack_bytes_max),
        ("limits.document_bytes_max", limits.document_bytes_max),
        ("limits.states_max", limits.states_max),
        ("limits.depth_max", u32::from(limits.depth_max)),
    ];
    if let Some((key, _)) = values.iter().find(|(_, value)| *value == 0) {
        return Err(Problem::Zero { key });
    }
    at_most(
        "limits.sessions_per_shard_max",
        limits.sessions_per_shard_max,
        SESSIONS_PER_SHARD_MAX,
    )?;
    // The HTTP codec needs room for a request line and a few fields (`HttpLimits::validate`).
    if limits.header_bytes_max < HEADER_BYTES_MIN {
        return Err(Problem::BelowMin {
            key: "limits.header_bytes_max",
            value: limits.header_bytes_max.into(),
            min: HEADER_BYTES_MIN.into(),
        });
    }
    // A session's share is part of the shard's heap.
    at_most(
        "limits.js_heap_per_session_bytes_max",
        limits.js_heap_per_session_bytes_max,
        limits.js_heap_bytes_max,
    )?;
    // A channel slot per message: past a million, a full mesh costs more than it buys.
    at_most("limits.mesh_queue_max", limits.mesh_queue_max, 1 << 20)?;
    if limits.header_timeout_ms > limits.request_timeout_ms {
        return Err(Problem::HeaderTimeoutAboveRequestTimeout {
            header_timeout_ms: limits.header_timeout_ms,
            request_timeout_ms: limits.request_timeout_ms,
        });
    }
    Ok(())
}

pub(super) fn at_most(key: &'static str, value: u32, max: u32) -> Result<(), Problem> {
    if value > max {
        return Err(Problem::AboveMax {
            key,
            value: value.into(),
            max: max.into(),
        });
    }
    Ok(())
}

/// Cores exist and are distinct, shares are in glommio's range, io memory fits memlock.
pub(super) fn runtime(config: &Config, machine: &Machine) -> Result<(), Problem> {
    let runtime = &config.runtime;
    for (key, shares) in [
        ("runtime.latency_queue_shares", runtime.latency_queue_shares),
        (
            "runtime.background_queue_shares",
            runtime.background_queue_shares,
        ),
    ] {
        if shares == 0 {
            return Err(Problem::Zero { key });
        }
        at_most(key, shares.into(), QUEUE_SHARES_MAX.into())?;
    }
    if runtime.latency_queue_preempt_us == 0 {
        return Err(Problem::Zero {
            key: "runtime.latency_queue_preempt_us",
        });
    }
    if runtime.io_memory_bytes == 0 {
        return Err(Problem::Zero {
            key: "runtime.io_memory_bytes",
        });
    }
    if let Cores::List(cores) = &runtime.cores {
        cores_listed(cores, machine)?;
    }
    let shards = config.cores(machine).len();
    if shards > usize::from(SHARDS_MAX) {
        return Err(Problem::TooManyShards {
            shards,
            shards_max: SHARDS_MAX,
        });
    }
    let io_memory_total = u64::from(runtime.io_memory_bytes) * shards as u64;
    match machine.memlock_bytes {
        Some(memlock_bytes) if io_memory_total > memlock_bytes => {
            Err(Problem::IoMemoryAboveMemlock {
                io_memory_bytes: runtime.io_memory_bytes,
                shards,
                memlock_bytes,
            })
        }
        _ => Ok(()),
    }
}

fn cores_listed(cores: &[u16], machine: &Machine) -> Result<(), Problem> {
    if cores.is_empty() {
        return Err(Problem::NoCores);
    }
    let mut seen = HashSet::new();
    for &core in cores {
        if !seen.insert(core) {
            return Err(Problem::DuplicateCore { core });
        }
        if !machine.cores.contains(&core) {
            return Err(Problem::CoreUnavailable {
                core,
                available: cpu_list(&machine.cores),
            });
        }
    }
    Ok(())
}

/// Formats ascending cores as a kernel CPU list: `0-3,8`.
fn cpu_list(cores: &[u16]) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut index = 0;
    while index < cores.len() {
        let first = cores[index];
        let mut last = first;
        while index + 1 < cores.len() && cores[index + 1] == last + 1 {
            index += 1;
            last = cores[index];
        }
        parts.push(if first == last {
            format!("{first}")
        } else {
            format!("{first}-{last}")
        });
        index += 1;
    }
    parts.join(",")
}

/// Names are unique and non-empty, addresses do not overlap, TLS has its files.
pub(super) fn listeners(listeners: &[ListenerConfig]) -> Result<(), Problem> {
    if listeners.is_empty() {
        return Err(Problem::NoListeners);
    }
    for (index, listener) in listeners.iter().enumerate() {
        if listener.name.is_empty() {
            return Err(Problem::ListenerNameEmpty);
        }
        let earlier = &listeners[..index];
        if earlier.iter().any(|other| other.name == listener.name) {
            return Err(Problem::DuplicateListenerName {
                name: listener.name.clone(),
            });
        }
        if let Some(other) = earlier.iter().find(|other| overlaps(other, listener)) {
            return Err(Problem::DuplicateListenerAddress {
                name: listener.name.clone(),
                address: listener.address,
                other: other.name.clone(),
                other_address: other.address,
            });
        }
        if listener.protocol == Protocol::Sip && listener.admin {
            return Err(Problem::AdminOnSip {
                name: listener.name.clone(),
            });
        }
        tls(listener)?;
    }
    Ok(())
}

/// Two binds conflict on one port when the addresses are equal or either is a wildcard.
fn overlaps(first: &ListenerConfig, second: &ListenerConfig) -> bool {
    let (first, second) = (first.address, second.address);
    if first.port() != second.port() {
        return false;
    }
    first.ip() == second.ip() || first.ip().is_unspecified() || second.ip().is_unspecified()
}

fn tls(listener: &ListenerConfig) -> Result<(), Problem> {
    let (mode, needs_cert, needs_client_ca) = match listener.tls {
        Tls::Off => ("off", false, false),
        Tls::On => ("on", true, false),
        Tls::Mutual => ("mutual", true, true),
    };
    let files = [
        ("cert", listener.cert.is_some(), needs_cert),
        ("key", listener.key.is_some(), needs_cert),
        ("client_ca", listener.client_ca.is_some(), needs_client_ca),
    ];
    for (key, present, needed) in files {
        let name = listener.name.clone();
        if needed && !present {
            return Err(Problem::TlsNeeds {
                name,
                tls: mode,
                key,
            });
        }
        if present && !needed {
            return Err(Problem::TlsUnused {
                name,
                tls: mode,
                key,
            });
        }
    }
    Ok(())
}

/// The default document and its name are given.
pub(super) fn application(application: &ApplicationConfig) -> Result<(), Problem> {
    if application.src.trim().is_empty() {
        return Err(Problem::ApplicationEmpty {
            key: "application.src",
        });
    }
    if application.name.trim().is_empty() {
        return Err(Problem::ApplicationEmpty {
            key: "application.name",
        });
    }
    Ok(())
}

/// Admin listeners reachable beyond this host by clients without a certificate.
pub(super) fn exposed_admin(listeners: &[ListenerConfig]) -> Vec<&ListenerConfig> {
    listeners
        .iter()
        .filter(|listener| listener.admin)
        .filter(|listener| !listener.address.ip().is_loopback())
        .filter(|listener| listener.tls != Tls::Mutual)
        .collect()
}

/// The request/reply and deferred-start bounds are at least 1.
pub(super) fn request_limits(limits: &LimitsConfig) -> Result<(), Problem> {
    let values: [(&'static str, u32); 2] = [
        (
            "limits.pending_requests_per_shard_max",
            limits.pending_requests_per_shard_max,
        ),
        (
            "limits.idealtime_ahead_max_ms",
            limits.idealtime_ahead_max_ms,
        ),
    ];
    match values.iter().find(|(_, value)| *value == 0) {
        Some((key, _)) => Err(Problem::Zero { key }),
        None => Ok(()),
    }
}
