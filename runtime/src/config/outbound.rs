//! `[outbound]` (connections Baton opens: document fetches, `basichttp` sends, gateways,
//! `<session:fetch>`, and where they may go) and `[documents]` (where documents may be read
//! from, and the per-shard caches of compiled documents).
//!
//! Trust is configured, never ambient: outbound TLS verifies servers against the PEM file
//! `outbound.roots` only (no operating-system store), so every host behaves the same and an
//! unconfigured server fetches `https:` documents not at all rather than against a surprise
//! set of CAs.

use std::fmt;
use std::net::IpAddr;
use std::path::PathBuf;

use serde::de::{self, Deserializer, Visitor};
use serde::Deserialize;

use super::validate::at_most;
use super::Problem;

/// Largest `outbound.response_bytes_max` and `outbound.header_bytes_max`: a fetched body is
/// held whole in memory while it compiles.
pub const RESPONSE_BYTES_MAX: u32 = 64 << 20;

/// Largest `documents.redirects_max`.
pub const REDIRECTS_MAX: u32 = 20;

/// Largest `documents.sources_max`.
pub const SOURCES_MAX: u32 = 256;

/// Largest `documents.cache_entries_max`: the cache is scanned linearly on eviction.
pub const CACHE_ENTRIES_MAX: u32 = 65_536;

/// Largest `documents.cache_bytes_max` (1 GiB per cache per shard).
pub const CACHE_BYTES_MAX: u32 = 1 << 30;

/// Most `documents.allow` entries and `[[outbound.allow]]` rules: each check scans them.
pub const ALLOW_ENTRIES_MAX: usize = 1_024;

/// `[outbound]`: how Baton connects to other servers.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OutboundConfig {
    /// PEM file of the CA certificates outbound TLS trusts (default: none, and then every
    /// `https:` fetch fails with "no trust roots configured"). The system store is never used.
    pub roots: Option<PathBuf>,
    /// PEM certificate chain Baton presents to servers that ask for one (mutual TLS);
    /// requires `key`.
    pub cert: Option<PathBuf>,
    /// PEM private key of `cert`; requires `cert`.
    pub key: Option<PathBuf>,
    /// Time to resolve the host, connect, and finish the TLS handshake, each, in
    /// milliseconds (default 5,000).
    pub connect_timeout_ms: u32,
    /// Time to send the request and receive the whole response, in milliseconds (default
    /// 10,000).
    pub request_timeout_ms: u32,
    /// Largest response body, in bytes (default 4 MiB). Cost: the body is held in memory
    /// until it is used; a larger one fails the request.
    pub response_bytes_max: u32,
    /// Largest response head, in bytes (default 16 KiB).
    pub header_bytes_max: u32,
    /// Client-side port definition (`[[outbound.bind]]`): the first rule that matches a
    /// destination binds the local address and port before connecting. No rule matching:
    /// the kernel picks.
    #[serde(rename = "bind")]
    pub binds: Vec<BindRule>,
    /// Where connections may go (`[[outbound.allow]]`), checked against the resolved
    /// address right before connecting, for every outbound connection (documents,
    /// `<session:fetch>`, `basichttp` sends, gateways). Absent: any destination except the
    /// refused classes (loopback, link-local, unspecified, multicast, broadcast, cloud
    /// metadata addresses). Present: only destinations a rule matches; a refused-class
    /// address only through an address or network rule inside that class. An admin
    /// listener is never a destination.
    pub allow: Option<Vec<AllowRule>>,
}

impl Default for OutboundConfig {
    fn default() -> Self {
        OutboundConfig {
            roots: None,
            cert: None,
            key: None,
            connect_timeout_ms: 5_000,
            request_timeout_ms: 10_000,
            response_bytes_max: 4 << 20,
            header_bytes_max: 16 << 10,
            binds: Vec::new(),
            allow: None,
        }
    }
}

/// One `[[outbound.bind]]` rule: which destinations, and the local end to bind for them.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BindRule {
    /// Destination host: a name (`apps.example.com`, or `*.example.com` for its
    /// subdomains), an IP address, or a network (`10.0.0.0/8`). Absent: any host. Names
    /// match the URL's host; addresses and networks match the resolved address.
    #[serde(default)]
    pub host: Option<HostMatch>,
    /// Destination port. Absent: any port.
    #[serde(default)]
    pub port: Option<u16>,
    /// Local address to bind (must be of the destination's family and configured on this
    /// host).
    pub local_address: IpAddr,
    /// Local port: a number, a range `"40000-40099"` (the first free one is used), or
    /// absent (any port on `local_address`).
    #[serde(default)]
    pub local_port: LocalPorts,
}

/// One `[[outbound.allow]]` rule: a destination host, and optionally its port.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AllowRule {
    /// A name (`apps.example.com`, `*.example.com`), an IP address or a network
    /// (`10.0.0.0/8`). Names match the URL's host and never reach a refused-class address.
    pub host: HostMatch,
    /// Destination port. Absent: any port.
    #[serde(default)]
    pub port: Option<u16>,
}

/// The destination hosts a [`BindRule`] or an [`AllowRule`] applies to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HostMatch {
    /// A host name, lower case; a leading `*.` matches any subdomain.
    Name(String),
    /// Addresses whose first `prefix` bits equal `network`'s (an address alone is a full
    /// prefix).
    Network {
        /// The network address.
        network: IpAddr,
        /// Prefix length in bits.
        prefix: u8,
    },
}

impl HostMatch {
    /// Whether `host` (as the URL names it, lower case) resolved to `address` matches.
    pub fn matches(&self, host: &str, address: IpAddr) -> bool {
        match self {
            HostMatch::Name(name) => match name.strip_prefix("*.") {
                Some(domain) => host
                    .strip_suffix(domain)
                    .is_some_and(|sub| sub.len() > 1 && sub.ends_with('.')),
                None => host == name,
            },
            HostMatch::Network { network, prefix } => in_network(address, *network, *prefix),
        }
    }
}

/// Whether `address` lies in `network/prefix` (families must agree).
pub fn in_network(address: IpAddr, network: IpAddr, prefix: u8) -> bool {
    let (address, network, bits) = match (address, network) {
        (IpAddr::V4(a), IpAddr::V4(n)) => (u128::from(u32::from(a)), u128::from(u32::from(n)), 32),
        (IpAddr::V6(a), IpAddr::V6(n)) => (u128::from(a), u128::from(n), 128),
        _ => return false,
    };
    assert!(prefix <= bits);
    if prefix == 0 {
        return true;
    }
    let shift = u32::from(bits - prefix);
    (address >> shift) == (network >> shift)
}

impl<'de> Deserialize<'de> for HostMatch {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        parse_host_match(&text).map_err(de::Error::custom)
    }
}

fn parse_host_match(text: &str) -> Result<HostMatch, String> {
    if let Some((address, prefix)) = text.split_once('/') {
        let network: IpAddr = address
            .parse()
            .map_err(|_| format!("'{text}': '{address}' is not an IP address"))?;
        let bits = if network.is_ipv4() { 32 } else { 128 };
        let prefix = prefix
            .parse::<u8>()
            .ok()
            .filter(|prefix| *prefix <= bits)
            .ok_or_else(|| format!("'{text}': prefix must be 0..={bits}"))?;
        return Ok(HostMatch::Network { network, prefix });
    }
    if let Ok(network) = text.parse::<IpAddr>() {
        let prefix = if network.is_ipv4() { 32 } else { 128 };
        return Ok(HostMatch::Network { network, prefix });
    }
    let name = text.to_ascii_lowercase();
    let bare = name.strip_prefix("*.").unwrap_or(&name);
    let valid = !bare.is_empty()
        && bare
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.');
    if !valid {
        return Err(format!(
            "'{text}' is not a host name, an IP address or a network such as 10.0.0.0/8"
        ));
    }
    Ok(HostMatch::Name(name))
}

/// The local port of a [`BindRule`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum LocalPorts {
    /// Any port on the local address.
    #[default]
    Any,
    /// Exactly this port.
    Port(u16),
    /// The first free port of `first..=last`.
    Range {
        /// First port tried.
        first: u16,
        /// Last port tried (inclusive).
        last: u16,
    },
}

impl<'de> Deserialize<'de> for LocalPorts {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(LocalPortsVisitor)
    }
}

struct LocalPortsVisitor;

impl Visitor<'_> for LocalPortsVisitor {
    type Value = LocalPorts;

    fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
        formatter.write_str("a port number or a range such as \"40000-40099\"")
    }

    fn visit_i64<E: de::Error>(self, port: i64) -> Result<LocalPorts, E> {
        match u16::try_from(port) {
            Ok(0) => Ok(LocalPorts::Any),
            Ok(port) => Ok(LocalPorts::Port(port)),
            Err(_) => Err(E::invalid_value(de::Unexpected::Signed(port), &self)),
        }
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<LocalPorts, E> {
        let range = text.split_once('-').and_then(|(first, last)| {
            let first = first.trim().parse::<u16>().ok()?;
            let last = last.trim().parse::<u16>().ok()?;
            Some(LocalPorts::Range { first, last })
        });
        range.ok_or_else(|| E::invalid_value(de::Unexpected::Str(text), &self))
    }
}

/// `[documents]`: where documents may come from, documents fetched over HTTP(S), and the
/// per-shard caches of their compiled form.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DocumentsConfig {
    /// Where documents and their sources may be read from: directory prefixes (relative
    /// ones against the server's working directory; symbolic links resolved) and
    /// `http:`/`https:` URL prefixes. Absent: the server's working directory and no URL
    /// (nothing at all when the working directory is `/`, which would allow every file).
    /// Applies to session starts (`src`, `alternate_url`), `[application] src`, entry
    /// points, `<session:start>`, `<script src>`, `<data src>` and `<invoke src>`.
    pub allow: Option<Vec<String>>,
    /// Compiled documents kept per shard in each of the two caches (files by resolved
    /// path, URLs), default 256. Cost: one compiled document each (tens of KB for a
    /// typical strategy); past it the least recently used entry is dropped.
    pub cache_entries_max: u32,
    /// Source bytes of the documents kept per shard in each of the two caches, default
    /// 32 MiB (at most 1 GiB). Cost: a compiled document takes a few times its source;
    /// past it the least recently used entries are dropped, and a document larger than it
    /// is compiled but not kept.
    pub cache_bytes_max: u32,
    /// Redirects followed per fetch (default 5; 0 follows none, at most 20).
    pub redirects_max: u32,
    /// `<script src>` and `<data src>` fetched for one document (default 16; 0 refuses
    /// documents that have any, at most 256). Each is one more request at load.
    pub sources_max: u32,
}

impl Default for DocumentsConfig {
    fn default() -> Self {
        DocumentsConfig {
            allow: None,
            cache_entries_max: 256,
            cache_bytes_max: 32 << 20,
            redirects_max: 5,
            sources_max: 16,
        }
    }
}

/// `[outbound]` and `[documents]` rules that parsing cannot check.
pub(super) fn validate(
    outbound: &OutboundConfig,
    documents: &DocumentsConfig,
) -> Result<(), Problem> {
    match (&outbound.cert, &outbound.key) {
        (Some(_), None) => return Err(Problem::OutboundKeyPair { missing: "key" }),
        (None, Some(_)) => return Err(Problem::OutboundKeyPair { missing: "cert" }),
        _ => {}
    }
    let bounded = [
        (
            "outbound.connect_timeout_ms",
            outbound.connect_timeout_ms,
            u32::MAX,
        ),
        (
            "outbound.request_timeout_ms",
            outbound.request_timeout_ms,
            u32::MAX,
        ),
        (
            "outbound.response_bytes_max",
            outbound.response_bytes_max,
            RESPONSE_BYTES_MAX,
        ),
        (
            "outbound.header_bytes_max",
            outbound.header_bytes_max,
            RESPONSE_BYTES_MAX,
        ),
        (
            "documents.cache_entries_max",
            documents.cache_entries_max,
            CACHE_ENTRIES_MAX,
        ),
        (
            "documents.cache_bytes_max",
            documents.cache_bytes_max,
            CACHE_BYTES_MAX,
        ),
    ];
    for (key, value, max) in bounded {
        if value == 0 {
            return Err(Problem::Zero { key });
        }
        at_most(key, value, max)?;
    }
    at_most(
        "documents.redirects_max",
        documents.redirects_max,
        REDIRECTS_MAX,
    )?;
    at_most("documents.sources_max", documents.sources_max, SOURCES_MAX)?;
    for (index, rule) in outbound.binds.iter().enumerate() {
        bind_rule(index, rule)?;
    }
    allow_lists(outbound, documents)
}

/// `[[outbound.allow]]` and `documents.allow`: bounded in length, each entry usable.
fn allow_lists(outbound: &OutboundConfig, documents: &DocumentsConfig) -> Result<(), Problem> {
    let rules = outbound.allow.as_deref().unwrap_or_default();
    if rules.len() > ALLOW_ENTRIES_MAX {
        let fault = "more rules than the 1,024 allowed";
        return Err(Problem::AllowRule {
            index: ALLOW_ENTRIES_MAX,
            fault,
        });
    }
    if let Some(index) = rules.iter().position(|rule| rule.port == Some(0)) {
        let fault = "port 0 matches no destination";
        return Err(Problem::AllowRule { index, fault });
    }
    let places = documents.allow.as_deref().unwrap_or_default();
    for (index, place) in places.iter().enumerate() {
        document_place(index, place)?;
    }
    Ok(())
}

/// One `documents.allow` entry: a non-empty path, or an `http:`/`https:` URL that parses.
fn document_place(index: usize, place: &str) -> Result<(), Problem> {
    let fault = if index >= ALLOW_ENTRIES_MAX {
        Some("more entries than the 1,024 allowed")
    } else if place.trim().is_empty() {
        Some("an empty place would allow nothing")
    } else if crate::outbound::is_http_url(place) {
        crate::outbound::Url::parse(place)
            .err()
            .map(|_| "not an absolute http: or https: URL")
    } else if place.contains("://") || place.starts_with("file:") {
        Some("write a directory path or an http:/https: URL prefix")
    } else {
        None
    };
    match fault {
        None => Ok(()),
        Some(fault) => Err(Problem::DocumentPlace {
            index,
            place: place.to_owned(),
            fault,
        }),
    }
}

fn bind_rule(index: usize, rule: &BindRule) -> Result<(), Problem> {
    let fault = match rule.local_port {
        LocalPorts::Range { first, last } if first == 0 || first > last => {
            Some("local_port range must be FIRST-LAST with 1 <= FIRST <= LAST")
        }
        _ if rule.port == Some(0) => Some("port 0 matches no destination"),
        _ => None,
    };
    let family_mismatch = match &rule.host {
        Some(HostMatch::Network { network, .. }) => {
            network.is_ipv4() != rule.local_address.is_ipv4()
        }
        _ => false,
    };
    let fault = match (fault, family_mismatch) {
        (Some(fault), _) => fault,
        (None, true) => "host and local_address are of different address families",
        (None, false) => return Ok(()),
    };
    Err(Problem::BindRule { index, fault })
}
