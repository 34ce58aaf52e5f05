//! `[sip]` and `[[routing_point]]`: Baton as a SIP routing point (a redirect server).
//!
//! A `protocol = "sip"` listener takes SIP over UDP and TCP on its address (or TLS over TCP
//! when `tls = "on" | "mutual"`). An INVITE whose Request-URI user part is a routing
//! point's `number` becomes a voice interaction of that routing point's entry point; the
//! strategy's decision becomes the final response (302 to the agent, a 4xx-6xx
//! rejection), and a strategy that does not decide within `route_timeout_ms`, or fails,
//! sends the call to `default_destination`.
//!
//! Routing points reload live with the entry points; the rest of `[sip]` and the SIP
//! listeners are fixed at start (their sockets and transaction tables are built then).

use std::collections::HashSet;

use serde::Deserialize;

use super::{EntryPointConfig, ListenerConfig, Problem, Protocol};

/// Most SIP transactions one server may be configured to keep.
pub const SIP_TRANSACTIONS_MAX: u32 = 10_000_000;

/// `[sip]`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SipConfig {
    /// The provisional response sent while a call waits in a queue (default 182, `Queued`);
    /// 0 sends none. Must be 180 to 199 otherwise.
    pub queued_status: u16,
    /// How long a strategy may take to decide a call, in ms (default 30,000, at most
    /// 170,000): then the call goes to the default destination. After Baton's `100 Trying`
    /// the upstream proxy's Timer C (3 minutes, RFC 3261 §16.8) bounds the wait; queue
    /// timeouts in strategies should be shorter than this.
    pub route_timeout_ms: u32,
    /// Where a call goes when its strategy does not decide in time, ends without
    /// deciding or fails (`sip:`, `sips:` or `tel:` URI). Without one such calls are
    /// answered `480 Temporarily Unavailable`.
    pub default_destination: Option<String>,
    /// The media server that plays treatments (`<dialog:play>`, `<dialog:collect>`), as a
    /// `sip:` URI of its host and port, e.g. `sip:10.0.0.9:5060`. Without one, treatments
    /// are refused (`error.dialog.play`).
    pub media_server: Option<String>,
    /// SIP server transactions alive at once (default 500,000). A UDP call's transaction
    /// lives T4 (5 s) after its ACK to absorb retransmissions, so the table holds about
    /// calls/s × 5 s: 100,000 at 20,000 calls/s. Cost: about 2 KB while a call waits for
    /// its answer, 0.5 KB after, allocated as used. A request past it is answered 503.
    pub transactions_max: u32,
    /// RFC 3261 T1, the round-trip estimate, in ms (default 500): a final response over UDP
    /// is retransmitted at T1, 2·T1, ... until the ACK; the transaction gives up at 64·T1.
    pub t1_ms: u32,
    /// RFC 3261 T2, the longest retransmission interval, in ms (default 4,000).
    pub t2_ms: u32,
    /// RFC 3261 T4, how long a message may live in the network, in ms (default 5,000).
    pub t4_ms: u32,
    /// Largest SIP message accepted, in bytes (default 65,535: any UDP datagram).
    pub message_bytes_max: u32,
    /// How long, in ms, a new INVITE may go unanswered before Baton sends `100 Trying`
    /// (default 0: at once; at most 200). RFC 3261 §17.2.1 lets a server leave the 100
    /// out when it answers within 200 ms, and a strategy that routes at once answers in
    /// well under a millisecond: with e.g. 50, such a call costs one datagram each way
    /// less. A call still undecided then, or whose INVITE is retransmitted, gets its 100.
    pub trying_after_ms: u32,
    /// How long a TCP or TLS connection may stay silent, in ms (default 300,000), its TLS
    /// handshake included: then Baton closes it. Peers that keep connections open send
    /// CRLF keep-alives (RFC 5626) more often than this.
    pub connection_idle_ms: u32,
}

impl Default for SipConfig {
    fn default() -> Self {
        SipConfig {
            queued_status: 182,
            route_timeout_ms: 30_000,
            default_destination: None,
            media_server: None,
            transactions_max: 500_000,
            t1_ms: 500,
            t2_ms: 4_000,
            t4_ms: 5_000,
            message_bytes_max: 65_535,
            trying_after_ms: 0,
            connection_idle_ms: 300_000,
        }
    }
}

/// One `[[routing_point]]`: a number calls are sent to, and the entry point they enter by.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RoutingPointConfig {
    /// The Request-URI user part (`sip:5000@baton` → `5000`), unique.
    pub number: String,
    /// The `[[entry_point]]` whose strategy runs (it must take `voice`).
    pub entry_point: String,
    /// This routing point's default destination, instead of `sip.default_destination`.
    pub default_destination: Option<String>,
    /// This routing point's decision time, in ms, instead of `sip.route_timeout_ms`.
    pub route_timeout_ms: Option<u32>,
}

/// True for a URI a call can be redirected to.
pub fn is_redirect_uri(uri: &str) -> bool {
    let rest = ["sip:", "sips:", "tel:"].iter().find_map(|scheme| {
        let head = uri.get(..scheme.len())?;
        head.eq_ignore_ascii_case(scheme)
            .then(|| &uri[scheme.len()..])
    });
    rest.is_some_and(|rest| {
        !rest.is_empty() && !rest.bytes().any(|b| b.is_ascii_whitespace() || b == b'>')
    })
}

/// The rules parsing cannot check.
pub(super) fn validate(
    sip: &SipConfig,
    points: &[RoutingPointConfig],
    entry_points: &[EntryPointConfig],
    listeners: &[ListenerConfig],
) -> Result<(), Problem> {
    let values: [(&'static str, u32); 7] = [
        ("sip.route_timeout_ms", sip.route_timeout_ms),
        ("sip.connection_idle_ms", sip.connection_idle_ms),
        ("sip.transactions_max", sip.transactions_max),
        ("sip.t1_ms", sip.t1_ms),
        ("sip.t2_ms", sip.t2_ms),
        ("sip.t4_ms", sip.t4_ms),
        ("sip.message_bytes_max", sip.message_bytes_max),
    ];
    if let Some((key, _)) = values.iter().find(|(_, value)| *value == 0) {
        return Err(Problem::Zero { key });
    }
    super::validate::at_most(
        "sip.transactions_max",
        sip.transactions_max,
        SIP_TRANSACTIONS_MAX,
    )?;
    super::validate::at_most("sip.message_bytes_max", sip.message_bytes_max, 65_535)?;
    super::validate::at_most("sip.route_timeout_ms", sip.route_timeout_ms, 170_000)?;
    super::validate::at_most("sip.trying_after_ms", sip.trying_after_ms, 200)?;
    // The transaction layer's own bound: Timer H (64·T1) must stay finite and sane.
    super::validate::at_most("sip.t1_ms", sip.t1_ms, 60_000)?;
    if sip.t2_ms < sip.t1_ms {
        let fault = format!(
            "t2_ms ({}) must be at least t1_ms ({})",
            sip.t2_ms, sip.t1_ms
        );
        return Err(sip_problem("sip", fault));
    }
    if sip.queued_status != 0 && !(180..=199).contains(&sip.queued_status) {
        let fault = format!(
            "queued_status {} must be 0 (none) or a provisional status from 180 to 199",
            sip.queued_status
        );
        return Err(sip_problem("sip", fault));
    }
    uri(
        "sip.default_destination",
        sip.default_destination.as_deref(),
    )?;
    uri("sip.media_server", sip.media_server.as_deref())?;
    validate_points(points, entry_points, listeners)
}

fn validate_points(
    points: &[RoutingPointConfig],
    entry_points: &[EntryPointConfig],
    listeners: &[ListenerConfig],
) -> Result<(), Problem> {
    let has_sip = listeners.iter().any(|l| l.protocol == Protocol::Sip);
    let mut numbers = HashSet::new();
    for (index, point) in points.iter().enumerate() {
        let key = format!("routing_point[{index}]");
        if !has_sip {
            let fault = "no [[listener]] has protocol = \"sip\"".to_owned();
            return Err(sip_problem(&key, fault));
        }
        let well_formed = !point.number.is_empty()
            && point.number.len() <= 64
            && point
                .number
                .bytes()
                .all(|b| b.is_ascii_graphic() && b != b'@');
        if !well_formed || !numbers.insert(point.number.as_str()) {
            let fault = format!(
                "number \"{}\" must be unique, 1 to 64 visible characters without '@'",
                point.number
            );
            return Err(sip_problem(&key, fault));
        }
        let entry = entry_points.iter().find(|e| e.name == point.entry_point);
        let Some(entry) = entry else {
            let fault = format!("no [[entry_point]] named \"{}\"", point.entry_point);
            return Err(sip_problem(&key, fault));
        };
        if !entry.media.is_empty() && !entry.media.iter().any(|m| m == "voice") {
            let fault = format!("entry point \"{}\" does not take voice", entry.name);
            return Err(sip_problem(&key, fault));
        }
        uri(
            &format!("{key}.default_destination"),
            point.default_destination.as_deref(),
        )?;
        if point
            .route_timeout_ms
            .is_some_and(|ms| ms == 0 || ms > 170_000)
        {
            let fault = "route_timeout_ms must be 1 to 170,000".to_owned();
            return Err(sip_problem(&key, fault));
        }
    }
    Ok(())
}

fn uri(key: &str, value: Option<&str>) -> Result<(), Problem> {
    match value {
        Some(uri) if !is_redirect_uri(uri) => {
            let fault = format!("\"{uri}\" is not a sip:, sips: or tel: URI");
            Err(sip_problem(key, fault))
        }
        _ => Ok(()),
    }
}

fn sip_problem(key: &str, fault: String) -> Problem {
    Problem::Routing {
        key: key.to_owned(),
        fault,
    }
}
