//! Why a configuration was refused: unreadable, malformed TOML, or a rule broken.

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;

/// A configuration that cannot be used. The configuration in force (if any) stays.
#[derive(Debug)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file could not be read.
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        error: std::io::Error,
    },
    /// Not TOML, or a key or value the schema does not have (toml's message, with the
    /// line and column where it was found).
    Syntax {
        /// The file, or `<embedded default>`.
        origin: String,
        /// 1-based line of the problem.
        line: u32,
        /// 1-based column of the problem.
        column: u32,
        /// The dotted key on that line (`limits.body_bytes_max`, `listener[1].address`),
        /// when the line assigns one: toml's message names the expected type, not the key.
        key: Option<String>,
        /// toml's description.
        message: String,
    },
    /// Well-formed, but breaks a rule (see [`Problem`]).
    Invalid {
        /// The file, or `<embedded default>`.
        origin: String,
        /// The rule and the key (boxed: it is large and rare).
        problem: Box<Problem>,
    },
}

impl ConfigError {
    pub(crate) fn syntax(origin: &str, text: &str, error: &toml::de::Error) -> ConfigError {
        let offset = error.span().map_or(0, |span| span.start).min(text.len());
        let before = &text.as_bytes()[..offset];
        let line = before.iter().filter(|&&byte| byte == b'\n').count() + 1;
        let line_start = before
            .iter()
            .rposition(|&byte| byte == b'\n')
            .map_or(0, |i| i + 1);
        let column = text[line_start..offset].chars().count() + 1;
        ConfigError::Syntax {
            origin: origin.into(),
            line: u32::try_from(line).unwrap_or(u32::MAX),
            column: u32::try_from(column).unwrap_or(u32::MAX),
            key: key_at_line(text, line),
            message: error.message().trim_end().into(),
        }
    }
}

/// The dotted key assigned on 1-based `line` of `text`, prefixed by the table it is in
/// (`[[listener]]` tables numbered from 0). Best effort: a line inside a multi-line value
/// assigns no key, and `None` is the answer.
fn key_at_line(text: &str, line: usize) -> Option<String> {
    let mut table: Option<String> = None;
    let mut arrays: Vec<(String, usize)> = Vec::new();
    for (index, row) in text.lines().enumerate() {
        let row = row.trim();
        if index + 1 == line {
            let (name, _) = row.split_once('=')?;
            let name = name.trim().trim_matches('"');
            if name.is_empty() || name.starts_with('#') {
                return None;
            }
            return Some(match &table {
                Some(table) => format!("{table}.{name}"),
                None => name.to_owned(),
            });
        }
        if let Some(name) = row.strip_prefix("[[").and_then(|r| r.split_once("]]")) {
            let name = name.0.trim().to_owned();
            let count = match arrays.iter_mut().find(|(array, _)| *array == name) {
                Some((_, count)) => {
                    *count += 1;
                    *count
                }
                None => {
                    arrays.push((name.clone(), 0));
                    0
                }
            };
            table = Some(format!("{name}[{count}]"));
        } else if let Some(name) = row.strip_prefix('[').and_then(|r| r.split_once(']')) {
            table = Some(name.0.trim().to_owned());
        }
    }
    None
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::Read { path, error } => write!(f, "{}: {error}", path.display()),
            ConfigError::Syntax {
                origin,
                line,
                column,
                key: Some(key),
                message,
            } => write!(f, "{origin}:{line}:{column}: {key}: {message}"),
            ConfigError::Syntax {
                origin,
                line,
                column,
                key: None,
                message,
            } => write!(f, "{origin}:{line}:{column}: {message}"),
            ConfigError::Invalid { origin, problem } => write!(f, "{origin}: {problem}"),
        }
    }
}

impl std::error::Error for ConfigError {}

/// A broken rule, naming the key. Its `Display` is the operator's message.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Problem {
    /// A limit or share is zero.
    Zero {
        /// The key, e.g. `limits.event_queue_max`.
        key: &'static str,
    },
    /// A value is above what the server supports.
    AboveMax {
        /// The key.
        key: &'static str,
        /// The configured value.
        value: u64,
        /// The largest supported value.
        max: u64,
    },
    /// A value is below what the server supports.
    BelowMin {
        /// The key.
        key: &'static str,
        /// The configured value.
        value: u64,
        /// The smallest supported value.
        min: u64,
    },
    /// `limits.header_timeout_ms` is longer than `limits.request_timeout_ms`.
    HeaderTimeoutAboveRequestTimeout {
        /// `limits.header_timeout_ms`.
        header_timeout_ms: u32,
        /// `limits.request_timeout_ms`.
        request_timeout_ms: u32,
    },
    /// `runtime.cores` is an empty list.
    NoCores,
    /// A core is listed twice.
    DuplicateCore {
        /// The core.
        core: u16,
    },
    /// A core this process may not run on (absent, offline, or outside its affinity).
    CoreUnavailable {
        /// The core.
        core: u16,
        /// The cores this process may use, as a kernel CPU list (`0-1`).
        available: String,
    },
    /// More shards than session ids can address.
    TooManyShards {
        /// Configured shards.
        shards: usize,
        /// [`super::SHARDS_MAX`].
        shards_max: u16,
    },
    /// The shards' io memory does not fit under the locked-memory limit.
    IoMemoryAboveMemlock {
        /// `runtime.io_memory_bytes`.
        io_memory_bytes: u32,
        /// Configured shards.
        shards: usize,
        /// The soft `RLIMIT_MEMLOCK`.
        memlock_bytes: u64,
    },
    /// No `[[listener]]`.
    NoListeners,
    /// A listener with an empty name.
    ListenerNameEmpty,
    /// Two listeners with one name.
    DuplicateListenerName {
        /// The name.
        name: String,
    },
    /// Two listeners on one port whose addresses overlap.
    DuplicateListenerAddress {
        /// The later listener.
        name: String,
        /// Its address.
        address: SocketAddr,
        /// The earlier listener.
        other: String,
        /// Its address.
        other_address: SocketAddr,
    },
    /// `admin = true` on a SIP listener: the admin endpoints are HTTP.
    AdminOnSip {
        /// The listener.
        name: String,
    },
    /// A TLS listener without a required file.
    TlsNeeds {
        /// The listener.
        name: String,
        /// `"on"` or `"mutual"`.
        tls: &'static str,
        /// `cert`, `key` or `client_ca`.
        key: &'static str,
    },
    /// A file key that this listener's `tls` mode does not use.
    TlsUnused {
        /// The listener.
        name: String,
        /// The listener's `tls` value.
        tls: &'static str,
        /// `cert`, `key` or `client_ca`.
        key: &'static str,
    },
    /// `application.src` or `application.name` is empty.
    ApplicationEmpty {
        /// The key.
        key: &'static str,
    },
    /// `outbound.cert` without `outbound.key`, or the reverse.
    OutboundKeyPair {
        /// The key that is missing: `cert` or `key`.
        missing: &'static str,
    },
    /// A `basichttp.location` that is not a base URL.
    BasicHttpLocation {
        /// The configured value.
        location: String,
        /// What is wrong.
        fault: &'static str,
    },
    /// `routing.shard` names no configured shard.
    RoutingShard {
        /// The configured shard.
        shard: u16,
        /// How many shards are configured.
        shards: usize,
    },
    /// A `[routing]`, `[[entry_point]]`, `[[gateway]]`, `[sip]` or `[[routing_point]]` entry
    /// breaks a rule.
    Routing {
        /// The table, e.g. `entry_point[1]` or `routing.media`.
        key: String,
        /// What is wrong.
        fault: String,
    },
    /// An `[[access]]` entry, or a listener's `access`, breaks a rule.
    Access {
        /// The table or key, e.g. `access[1].roles` or `listener "api"`.
        key: String,
        /// What is wrong.
        fault: String,
    },
    /// An `[[outbound.bind]]` rule that can never bind.
    BindRule {
        /// Its position among the rules, from 0.
        index: usize,
        /// What is wrong.
        fault: &'static str,
    },
    /// A `[[outbound.allow]]` rule that cannot match anything.
    AllowRule {
        /// Its position among the rules, from 0.
        index: usize,
        /// What is wrong.
        fault: &'static str,
    },
    /// A `documents.allow` entry that is neither a path nor an `http:`/`https:` URL prefix.
    DocumentPlace {
        /// Its position in the list, from 0.
        index: usize,
        /// The entry as written.
        place: String,
        /// What is wrong.
        fault: &'static str,
    },
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::Zero { key } => write!(f, "{key} must be at least 1"),
            Problem::AboveMax { key, value, max } => {
                write!(f, "{key} = {value} is above the maximum {max}")
            }
            Problem::BelowMin { key, value, min } => {
                write!(f, "{key} = {value} is below the minimum {min}")
            }
            Problem::HeaderTimeoutAboveRequestTimeout {
                header_timeout_ms,
                request_timeout_ms,
            } => write!(
                f,
                "limits.header_timeout_ms = {header_timeout_ms} is above \
                 limits.request_timeout_ms = {request_timeout_ms}"
            ),
            Problem::NoCores => write!(f, "runtime.cores is empty; list at least one core"),
            Problem::DuplicateCore { core } => {
                write!(f, "runtime.cores lists core {core} twice")
            }
            Problem::CoreUnavailable { core, available } => write!(
                f,
                "runtime.cores: core {core} is not available to this process \
                 (available: {available})"
            ),
            Problem::TooManyShards { shards, shards_max } => {
                write!(
                    f,
                    "runtime.cores: {shards} shards is above the maximum {shards_max}"
                )
            }
            Problem::IoMemoryAboveMemlock {
                io_memory_bytes,
                shards,
                memlock_bytes,
            } => write!(
                f,
                "runtime.io_memory_bytes = {io_memory_bytes} × {shards} shards is above the \
                 locked-memory limit of {memlock_bytes} bytes (ulimit -l)"
            ),
            Problem::OutboundKeyPair { missing } => {
                let present = if *missing == "key" { "cert" } else { "key" };
                write!(f, "outbound.{present} is set without outbound.{missing}")
            }
            Problem::BindRule { index, fault } => write!(f, "outbound.bind[{index}]: {fault}"),
            Problem::AllowRule { index, fault } => {
                write!(f, "outbound.allow[{index}]: {fault}")
            }
            Problem::DocumentPlace {
                index,
                place,
                fault,
            } => write!(f, "documents.allow[{index}] = '{place}': {fault}"),
            Problem::RoutingShard { shard, shards } => write!(
                f,
                "routing.shard = {shard} names no shard: {shards} configured (runtime.cores)"
            ),
            Problem::Routing { key, fault } | Problem::Access { key, fault } => {
                write!(f, "{key}: {fault}")
            }
            Problem::BasicHttpLocation { location, fault } => {
                write!(f, "basichttp.location = \"{location}\" {fault}")
            }
            _ => self.fmt_listener(f),
        }
    }
}

impl Problem {
    fn fmt_listener(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::NoListeners => write!(f, "no [[listener]]; configure at least one"),
            Problem::ListenerNameEmpty => write!(f, "a [[listener]] has an empty name"),
            Problem::DuplicateListenerName { name } => {
                write!(f, "listener \"{name}\": name used twice")
            }
            Problem::DuplicateListenerAddress {
                name,
                address,
                other,
                other_address,
            } => write!(
                f,
                "listener \"{name}\": address {address} overlaps listener \"{other}\" \
                 ({other_address})"
            ),
            Problem::AdminOnSip { name } => write!(
                f,
                "listener \"{name}\": admin = true is for HTTP listeners, not SIP"
            ),
            Problem::TlsNeeds { name, tls, key } => {
                write!(f, "listener \"{name}\": tls = \"{tls}\" needs {key}")
            }
            Problem::TlsUnused { name, tls, key } => write!(
                f,
                "listener \"{name}\": {key} is set but not used with tls = \"{tls}\""
            ),
            Problem::ApplicationEmpty { key } => write!(f, "{key} is empty"),
            _ => unreachable!("runtime and limit problems are formatted by Display"),
        }
    }
}
