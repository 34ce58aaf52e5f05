//! `[basichttp]`: the W3C Basic HTTP Event I/O Processor of `baton serve`. Sessions receive
//! events at `<location>/basichttp/<sessionid>` (served by every HTTP listener) and send with
//! the shard's outbound client (`[outbound]`).
//!
//! The location is what a peer must dial, so it cannot always be read off a listener: one
//! bound to `0.0.0.0`, or behind a proxy or NAT, has a public address the server does not
//! know. `location` names it; without it, the first plain or TLS HTTP listener's address is
//! used when it is a specific one, and otherwise sessions get no Basic HTTP location (they
//! can still send).

use serde::Deserialize;

use super::{ListenerConfig, Problem, Protocol, Tls};

/// Largest `basichttp.sends_in_flight_max`: each send in flight is a task and a connection.
pub const SENDS_IN_FLIGHT_MAX: u32 = 1 << 16;

/// `[basichttp]`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BasicHttpConfig {
    /// The public base URL of this server, `http(s)://host[:port][/prefix]` (default: none,
    /// and then derived from the listeners, see [`BasicHttpLocation`]). A session's
    /// location is this followed by `/basichttp/<sessionid>`.
    pub location: Option<String>,
    /// Basic HTTP sends in flight at once on one shard, from the `<send>` to the peer's
    /// answer (default 1,024; at most 65,536). Cost: a task and an outbound connection
    /// each; a send past it raises `error.communication` in its session at once.
    pub sends_in_flight_max: u32,
}

impl Default for BasicHttpConfig {
    fn default() -> Self {
        BasicHttpConfig {
            location: None,
            sends_in_flight_max: 1_024,
        }
    }
}

/// Where the sessions' Basic HTTP location comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BasicHttpLocation {
    /// `basichttp.location`, without a trailing `/`.
    Configured(String),
    /// The address of the listener `name`.
    Listener {
        /// The listener.
        name: String,
        /// `http://IP:port` or `https://IP:port`.
        base: String,
    },
    /// No location: sessions get no Basic HTTP `_ioprocessors` entry.
    Unknown {
        /// Why, for the operator.
        why: String,
    },
}

impl BasicHttpLocation {
    /// The base URL a session's `/basichttp/<sessionid>` follows, if there is one.
    pub fn base(&self) -> Option<&str> {
        match self {
            BasicHttpLocation::Configured(base) => Some(base),
            BasicHttpLocation::Listener { base, .. } => Some(base),
            BasicHttpLocation::Unknown { .. } => None,
        }
    }
}

/// The location under `config` and `listeners` (see the module notes).
pub(super) fn location(
    config: &BasicHttpConfig,
    listeners: &[ListenerConfig],
) -> BasicHttpLocation {
    if let Some(location) = &config.location {
        return BasicHttpLocation::Configured(location.trim_end_matches('/').to_owned());
    }
    // A mutual-TLS listener would ask the peer for a client certificate it may not have.
    let reachable = listeners
        .iter()
        .find(|l| l.protocol == Protocol::Http && l.tls != Tls::Mutual);
    let Some(listener) = reachable else {
        let why = "no [[listener]] with protocol \"http\" and tls \"off\" or \"on\"".to_owned();
        return BasicHttpLocation::Unknown { why };
    };
    if listener.address.ip().is_unspecified() {
        let why = format!(
            "listener \"{}\" binds {}, whose public address is unknown",
            listener.name, listener.address
        );
        return BasicHttpLocation::Unknown { why };
    }
    let scheme = match listener.tls {
        Tls::Off => "http",
        Tls::On | Tls::Mutual => "https",
    };
    BasicHttpLocation::Listener {
        name: listener.name.clone(),
        base: format!("{scheme}://{}", listener.address),
    }
}

/// `[basichttp]` rules that parsing cannot check.
pub(super) fn validate(config: &BasicHttpConfig) -> Result<(), Problem> {
    let key = "basichttp.sends_in_flight_max";
    if config.sends_in_flight_max == 0 {
        return Err(Problem::Zero { key });
    }
    if config.sends_in_flight_max > SENDS_IN_FLIGHT_MAX {
        return Err(Problem::AboveMax {
            key,
            value: config.sends_in_flight_max.into(),
            max: SENDS_IN_FLIGHT_MAX.into(),
        });
    }
    match &config.location {
        Some(location) => location_fault(location).map_or(Ok(()), |fault| {
            Err(Problem::BasicHttpLocation {
                location: location.clone(),
                fault,
            })
        }),
        None => Ok(()),
    }
}

/// What is wrong with a `basichttp.location`, if anything.
fn location_fault(location: &str) -> Option<&'static str> {
    if location.chars().any(|c| c.is_ascii_control() || c == ' ') {
        return Some("contains spaces or control characters");
    }
    let lower = location.to_ascii_lowercase();
    let Some(rest) = lower
        .strip_prefix("http://")
        .or_else(|| lower.strip_prefix("https://"))
    else {
        return Some("must start with http:// or https://");
    };
    let authority = rest.split('/').next().unwrap_or_default();
    if authority.is_empty() {
        return Some("has no host");
    }
    if authority.contains('@') {
        return Some("must not carry user info");
    }
    if rest.contains(['?', '#']) {
        return Some("must not have a query or fragment (the session path is appended)");
    }
    None
}
