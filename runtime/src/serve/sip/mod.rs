//! The SIP routing point: Baton as the redirect server a PBX, an SBC or a carrier sends
//! calls to.
//!
//! It runs on the routing shard, where voice interactions and the sessions that own them
//! live, so a call's whole life (transaction, interaction, strategy, queue, agent) is
//! handled by one thread without locks or hops. Each SIP listener takes UDP and TCP on its
//! address, or TLS over TCP (`tls = "on" | "mutual"`).
//!
//! The path of a call:
//! 1. An INVITE opens a server transaction ([`protocols::sip::transaction`]), which answers
//!    `100 Trying` at once and absorbs retransmissions.
//! 2. Its Request-URI user part names a `[[routing_point]]`; the call becomes a voice
//!    interaction of that routing point's entry point (customer = the caller's number), and
//!    starts or joins a session ([`invite`]).
//! 3. The strategy's routing actions decide the answer ([`crate::orchestration::voice`]):
//!    `182 Queued` while it waits in a queue, then `302` to the agent, a treatment or any
//!    URI, or a rejection. No decision within the routing point's time, or a strategy that
//!    fails or ends first: `302` to the default destination (`480` without one).
//! 4. The final response is retransmitted over UDP until the ACK (RFC 3261 Timer G/H).
//!
//! A CANCEL before the answer gets `200`, the INVITE `487`, and the session hears
//! `interaction.deleted`. Malformed requests whose headers can still be read get `400`;
//! others are dropped and counted. Nothing a peer sends can stop the endpoint.

mod calls;
mod invite;
mod io;

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::rc::Rc;

use protocols::http::server::StopSignal;
use protocols::sip::{
    reason_phrase, response, response_destination, salvage_for_response, stamp_received, Arrival,
    Message, Method, Peer, SipError, SipLimits, Transactions, Transport, TxEvent, TxKey, TxLimits,
    TxTimers,
};
use protocols::tls::ServerTls;

use super::api::Shard;
use super::reload::BindFailure;
use super::routing_api::pump;
use crate::config::{Config, Protocol, SipConfig};
use crate::local::{Clock, RealClock};
use crate::orchestration::{CallAnswer, CallOrder};
use calls::{Call, Calls};

/// What the endpoint allows, for `OPTIONS` and `405` answers.
const ALLOW: &str = "INVITE, ACK, CANCEL, OPTIONS";

/// Methods of the SIP extensions Baton knows but does not serve (`405`); any other is not
/// implemented (`501`, RFC 3261 §8.2.1).
const KNOWN_METHODS: [&str; 8] = [
    "INFO",
    "PRACK",
    "UPDATE",
    "SUBSCRIBE",
    "NOTIFY",
    "REFER",
    "MESSAGE",
    "PUBLISH",
];

/// Counters for `/metrics`.
#[derive(Debug, Default)]
pub struct SipCounters {
    /// INVITEs that started a call.
    pub invites: Cell<u64>,
    /// Calls answered 302 (agent, URI, treatment or default destination).
    pub redirected: Cell<u64>,
    /// Calls sent to the default destination (a subset of `redirected`, or 480).
    pub defaulted: Cell<u64>,
    /// Calls rejected (4xx-6xx other than 487).
    pub rejected: Cell<u64>,
    /// Calls cancelled by the caller (487).
    pub cancelled: Cell<u64>,
    /// Retransmitted requests absorbed.
    pub retransmissions: Cell<u64>,
    /// Messages that could not be parsed (answered 400 when possible, else dropped).
    pub malformed: Cell<u64>,
    /// Requests refused at a bound (503).
    pub refused: Cell<u64>,
    /// Final responses never acknowledged (Timer H).
    pub ack_timeouts: Cell<u64>,
}

/// The SIP endpoint of the routing shard.
pub struct SipEndpoint {
    shard: Rc<Shard>,
    settings: SipConfig,
    limits: SipLimits,
    transactions: RefCell<Transactions>,
    calls: RefCell<Calls>,
    /// Messages to send, with their destination.
    outgoing: RefCell<Vec<(Peer, Vec<u8>)>>,
    /// Each UDP listener's sending side, by the index UDP peers carry in `connection`: a
    /// non-blocking send is one syscall, so answers go out where they are decided, without
    /// a task hop, and from the socket the request came in on.
    udp: RefCell<Vec<std::net::UdpSocket>>,
    /// Messages the kernel or a closed connection refused; over UDP the transactions'
    /// retransmissions recover finals, the callers' recover the rest.
    send_failures: Cell<u64>,
    /// The one clock of the endpoint's deadlines and timers: monotonic, so a step of the
    /// system clock neither fires nor stretches them.
    clock: RealClock,
    /// The deadline the driver last planned its sleep for: a flush wakes it only for an
    /// earlier one.
    driver_deadline_ms: Cell<u64>,
    /// Open TCP/TLS connections: where their messages are written.
    connections: RefCell<HashMap<u64, flume::Sender<Vec<u8>>>>,
    next_connection: Cell<u64>,
    /// Accepted TCP/TLS connections, handshakes included; at most `connections_max`.
    streams: Cell<u32>,
    connections_max: u32,
    /// Accepted TCP/TLS connections per peer address; each at most
    /// `connections_per_address_max` (addresses without one are not kept).
    streams_by_address: RefCell<HashMap<std::net::IpAddr, u32>>,
    connections_per_address_max: u32,
    /// A tag for responses the endpoint sends outside a transaction (400s).
    stateless_tags: Cell<u64>,
    /// The TLS listeners' certificates, by listener name; a reload swaps them for new
    /// connections.
    tls: RefCell<Vec<(String, protocols::tls::SharedServerTls)>>,
    /// Counters for `/metrics`.
    pub counters: SipCounters,
}

/// Starts the SIP listeners of `config` on the routing shard `shard`: their sockets and
/// the tasks that read them (the driver runs the timers). The tasks end when `stop` is
/// raised.
pub fn start(
    shard: &Rc<Shard>,
    config: &Config,
    tls: &[Option<ServerTls>],
    stop: &StopSignal,
) -> Result<Vec<glommio::Task<()>>, Vec<BindFailure>> {
    let listeners: Vec<usize> = (0..config.listeners.len())
        .filter(|&i| config.listeners[i].protocol == Protocol::Sip)
        .collect();
    if listeners.is_empty() {
        return Ok(Vec::new());
    }
    let endpoint = Rc::new(SipEndpoint::new(shard, config));
    let mut tasks = Vec::new();
    let mut failures = Vec::new();
    for index in listeners {
        let listener = &config.listeners[index];
        let opened = io::open(&endpoint, listener, tls[index].as_ref(), stop);
        match opened {
            Ok(mut opened) => tasks.append(&mut opened),
            Err(error) => failures.push(BindFailure {
                shard: shard.peers.here().0,
                listener: listener.name.clone(),
                address: listener.address,
                error: error.to_string(),
            }),
        }
    }
    if !failures.is_empty() {
        return Err(failures);
    }
    *shard.sip.borrow_mut() = Some(Rc::clone(&endpoint));
    Ok(tasks)
}

impl SipEndpoint {
    /// How long a stream connection may stay silent (`sip.connection_idle_ms`).
    fn idle_timeout(&self) -> std::time::Duration {
        std::time::Duration::from_millis(self.settings.connection_idle_ms.into())
    }

    fn new(shard: &Rc<Shard>, config: &Config) -> SipEndpoint {
        let sip = &config.sip;
        let timers = TxTimers {
            t1_ms: sip.t1_ms.into(),
            t2_ms: sip.t2_ms.into(),
            t4_ms: sip.t4_ms.into(),
            trying_ms: sip.trying_after_ms.into(),
        };
        let seed = crate::serve::ids::ShardSessionIds::seed_from_start();
        let limits = TxLimits {
            transactions_max: sip.transactions_max,
            timers,
            tag_seed: seed,
        };
        if let Some(orchestration) = &shard.orchestration {
            let media_server = sip.media_server.clone();
            orchestration.borrow_mut().set_media_server(media_server);
        }
        SipEndpoint {
            shard: Rc::clone(shard),
            settings: sip.clone(),
            limits: SipLimits {
                message_bytes_max: sip.message_bytes_max,
                ..SipLimits::DEFAULT
            },
            transactions: RefCell::new(Transactions::new(limits)),
            calls: RefCell::new(Calls::default()),
            outgoing: RefCell::new(Vec::new()),
            udp: RefCell::new(Vec::new()),
            send_failures: Cell::new(0),
            clock: RealClock::new(),
            driver_deadline_ms: Cell::new(0),
            connections: RefCell::new(HashMap::new()),
            next_connection: Cell::new(1),
            streams: Cell::new(0),
            connections_max: config.limits.connections_per_shard_max,
            streams_by_address: RefCell::new(HashMap::new()),
            connections_per_address_max: config.limits.connections_per_address_max,
            stateless_tags: Cell::new(seed),
            tls: RefCell::new(Vec::new()),
            counters: SipCounters::default(),
        }
    }

    /// A reload re-read the certificates: new TLS connections use `loaded` (one entry per
    /// listener of `listeners`); live ones keep theirs.
    pub fn reload_certificates(
        &self,
        listeners: &[crate::config::ListenerConfig],
        loaded: &[Option<ServerTls>],
    ) {
        for (name, shared) in self.tls.borrow().iter() {
            let index = listeners.iter().position(|l| &l.name == name);
            if let Some(Some(loaded)) = index.map(|i| &loaded[i]) {
                shared.reload(loaded.for_shard());
            }
        }
    }

    /// Performs the decisions the orchestration queued and sends the answers (called by
    /// [`crate::serve::routing_api::pump`]).
    pub fn answer_calls(&self) {
        self.take_orders(self.now_ms());
        self.flush();
    }

    /// The endpoint's time, epoch ms (see `clock`).
    fn now_ms(&self) -> u64 {
        self.clock.now_ms()
    }

    /// The driver's turn: transaction timers, call deadlines, and what they send. Answers
    /// when the endpoint next needs a turn.
    pub fn run_timers(&self) -> Option<u64> {
        let now_ms = self.now_ms();
        self.tick(now_ms);
        self.expire_calls(now_ms);
        self.take_orders(now_ms);
        self.flush();
        let next_ms = self.next_deadline_ms();
        self.driver_deadline_ms.set(next_ms.unwrap_or(u64::MAX));
        next_ms
    }

    /// Sends everything queued: datagrams on the UDP socket they came in on, stream messages
    /// to their connection's writer. A message for a connection that closed is dropped (its
    /// transaction's timers end it). Wakes the driver when a new timer is due before the
    /// one it sleeps for.
    pub(super) fn flush(&self) {
        let outgoing = self.take_outgoing();
        if outgoing.is_empty() {
            return;
        }
        let udp = self.udp.borrow();
        let connections = self.connections.borrow();
        for (peer, bytes) in outgoing {
            let sent = match peer.transport {
                Transport::Udp => udp
                    .get(peer.connection as usize)
                    .is_some_and(|udp| udp.send_to(&bytes, peer.addr).is_ok()),
                Transport::Tcp | Transport::Tls => connections
                    .get(&peer.connection)
                    .is_some_and(|tx| tx.try_send(bytes).is_ok()),
            };
            if !sent {
                bump(&self.send_failures);
            }
        }
        drop((udp, connections));
        let next_ms = self.next_deadline_ms().unwrap_or(u64::MAX);
        if next_ms < self.driver_deadline_ms.get() {
            self.driver_deadline_ms.set(next_ms);
            self.shard.wake.wake();
        }
    }

    /// The gauges and counters of `/metrics`, in the order of `super::metrics::SIP`.
    pub fn metrics(&self) -> [u64; 12] {
        let c = &self.counters;
        [
            self.calls.borrow().len() as u64,
            self.transactions.borrow().len() as u64,
            c.invites.get(),
            c.redirected.get(),
            c.defaulted.get(),
            c.rejected.get(),
            c.cancelled.get(),
            c.retransmissions.get(),
            c.malformed.get(),
            c.refused.get(),
            c.ack_timeouts.get(),
            self.send_failures.get(),
        ]
    }

    /// Bytes that arrived from `peer` as one message (a datagram, or a framed stream
    /// message that failed to parse).
    fn on_bytes(self: &Rc<Self>, bytes: &[u8], peer: Peer) {
        match Message::parse(bytes, &self.limits) {
            Ok(message) => self.on_message(message, peer),
            Err(error) => self.on_malformed(bytes, &error, peer),
        }
    }

    /// A parsed message from `peer`.
    fn on_message(self: &Rc<Self>, mut message: Message, peer: Peer) {
        if !message.is_request() {
            // A redirect server sends no requests, so no response is expected: dropped.
            return;
        }
        let method = message.method().cloned();
        // An ACK is only matched (by branch and sent-by) and never answered: the received
        // and rport a stamp would add are never read.
        if method != Some(Method::Ack) {
            stamp_received(&mut message, peer.addr);
        }
        let now_ms = self.now_ms();
        let arrival = self
            .transactions
            .borrow_mut()
            .on_request(message, peer, now_ms);
        match arrival {
            Arrival::New { key } => self.on_new(key, method, now_ms),
            Arrival::Cancel { invite } => self.on_cancel(invite, now_ms),
            Arrival::Retransmission => bump(&self.counters.retransmissions),
            Arrival::Refused => bump(&self.counters.refused),
            Arrival::Ack | Arrival::Handled => {}
        }
    }

    fn on_new(self: &Rc<Self>, key: TxKey, method: Option<Method>, now_ms: u64) {
        let served = matches!(method, Some(Method::Invite | Method::Options | Method::Bye));
        if served {
            if let Some(tags) = self.required_extensions(key) {
                // RFC 3261 §8.2.2.3: an extension the caller requires and Baton lacks.
                self.respond(key, 420, &[("Unsupported", &tags)], now_ms);
                return;
            }
        }
        match method {
            Some(Method::Invite) if self.in_dialog(key) => {
                // A redirect server makes no dialogs: a re-INVITE has none to belong to.
                self.respond(key, 481, &[], now_ms);
            }
            Some(Method::Invite) => {
                bump(&self.counters.invites);
                let arrived = std::time::Instant::now();
                let task = glommio::spawn_local(invite::admit(Rc::clone(self), key, arrived));
                task.detach();
            }
            Some(Method::Options) => {
                let extra = [("Allow", ALLOW), ("Accept", "application/sdp")];
                self.respond(key, 200, &extra, now_ms);
            }
            // No dialog is ever established by a redirect server.
            Some(Method::Bye) => self.respond(key, 481, &[], now_ms),
            Some(Method::Other(name)) if !KNOWN_METHODS.contains(&&*name) => {
                self.respond(key, 501, &[("Allow", ALLOW)], now_ms);
            }
            _ => self.respond(key, 405, &[("Allow", ALLOW)], now_ms),
        }
    }

    /// The option tags the request of `key` requires (`Require`), comma-separated, if any:
    /// Baton supports no SIP extension, so every one is unsupported.
    fn required_extensions(&self, key: TxKey) -> Option<String> {
        let transactions = self.transactions.borrow();
        let request = transactions.request(key)?;
        let tags: Vec<&str> = request
            .headers("Require")
            .flat_map(|value| value.split(','))
            .map(str::trim)
            .filter(|tag| !tag.is_empty())
            .collect();
        (!tags.is_empty()).then(|| tags.join(", "))
    }

    /// Whether the request of `key` carries a To tag (it belongs to a dialog).
    fn in_dialog(&self, key: TxKey) -> bool {
        let transactions = self.transactions.borrow();
        let request = transactions.request(key);
        request.is_some_and(|request| request.to_tag().is_some())
    }

    /// The caller hung up: `487` to the INVITE, and the interaction is deleted.
    fn on_cancel(&self, key: TxKey, now_ms: u64) {
        let call = self.calls.borrow_mut().remove(key);
        self.respond(key, 487, &[], now_ms);
        bump(&self.counters.cancelled);
        let Some(id) = call.and_then(|call| call.interaction) else {
            return;
        };
        if let Some(orchestration) = &self.shard.orchestration {
            orchestration.borrow_mut().call_cancelled(id, now_ms);
            pump(&self.shard);
        }
    }

    /// A message that does not parse: `400` (or the error's status) when the headers a
    /// response needs can be read, else dropped.
    fn on_malformed(&self, bytes: &[u8], error: &SipError, peer: Peer) {
        bump(&self.counters.malformed);
        let Some(mut request) = salvage_for_response(bytes) else {
            return;
        };
        stamp_received(&mut request, peer.addr);
        let tag = self.stateless_tags.get().wrapping_add(1);
        self.stateless_tags.set(tag);
        let status = error.status();
        let warning = warning(&error.to_string());
        let extra = [("Warning", warning.as_str())];
        let tag = format!("{tag:016x}");
        let answer = response(&request, status, reason_phrase(status), &tag, &extra);
        let mut bytes = Vec::new();
        answer.encode(&mut bytes);
        let destination = match peer.transport {
            Transport::Udp => Peer {
                addr: response_destination(&request, peer.addr),
                ..peer
            },
            _ => peer,
        };
        self.outgoing.borrow_mut().push((destination, bytes));
    }

    /// Answers a stream keep-alive ping (`CRLFCRLF`) with a pong (`CRLF`, RFC 5626).
    fn pong(&self, peer: Peer) {
        self.outgoing.borrow_mut().push((peer, b"\r\n".to_vec()));
    }

    /// Answers transaction `key` with `status` and `extra` headers. An answer the
    /// transaction no longer takes (it ended, or is already final) is dropped: the other
    /// answer won the race.
    fn respond(&self, key: TxKey, status: u16, extra: &[(&str, &str)], now_ms: u64) {
        // A stale key (the call ended meanwhile) has nothing left to answer.
        let _ = self
            .transactions
            .borrow_mut()
            .respond_with(key, status, extra, now_ms);
    }

    /// Performs the strategies' decisions queued by the orchestration.
    fn take_orders(&self, now_ms: u64) {
        let orders = std::mem::take(&mut *self.shard.call_orders.borrow_mut());
        for CallOrder { id, answer } in orders {
            let Some(key) = self.calls.borrow().key_of(id) else {
                continue; // answered already (cancelled, timed out)
            };
            match answer {
                CallAnswer::Queued if self.settings.queued_status != 0 => {
                    self.respond(key, self.settings.queued_status, &[], now_ms);
                }
                CallAnswer::Queued => {}
                CallAnswer::Redirect { contact } => {
                    let call = self.calls.borrow_mut().remove(key);
                    self.answered(call.as_ref());
                    let host = call.map(|call| call.host).unwrap_or_default();
                    let contact = contact_header(&contact, &host);
                    self.respond(key, 302, &[("Contact", &contact)], now_ms);
                    bump(&self.counters.redirected);
                }
                CallAnswer::Reject { status, reason } => {
                    let call = self.calls.borrow_mut().remove(key);
                    self.answered(call.as_ref());
                    let warning = warning(&reason);
                    let extra = [("Warning", warning.as_str())];
                    self.respond(
                        key,
                        status,
                        &extra[..usize::from(!reason.is_empty())],
                        now_ms,
                    );
                    bump(&self.counters.rejected);
                }
                CallAnswer::Default { reason } => {
                    let call = self.calls.borrow_mut().remove(key);
                    if let Some(call) = call {
                        self.default_destination(key, &call, &reason, now_ms);
                    }
                }
            }
        }
    }

    /// Records how long `call` waited for its answer.
    fn answered(&self, call: Option<&Call>) {
        if let Some(call) = call {
            let latency = &self.shard.metrics.sip_answer_latency;
            latency.record_n(call.arrived.elapsed(), 1);
        }
    }

    /// Sends the call of `key` to its default destination (`480` without one).
    fn default_destination(&self, key: TxKey, call: &Call, reason: &str, now_ms: u64) {
        bump(&self.counters.defaulted);
        self.answered(Some(call));
        let warning = warning(reason);
        let destination = call
            .default_destination
            .as_deref()
            .or(self.settings.default_destination.as_deref());
        match destination {
            Some(uri) => {
                let contact = contact_header(uri, &call.host);
                let extra = [("Contact", contact.as_str()), ("Warning", warning.as_str())];
                self.respond(key, 302, &extra, now_ms);
                bump(&self.counters.redirected);
            }
            None => self.respond(key, 480, &[("Warning", warning.as_str())], now_ms),
        }
    }

    /// Calls whose strategy did not decide in time go to the default destination; their
    /// sessions hear `interaction.deleted`.
    fn expire_calls(&self, now_ms: u64) {
        let due = self.calls.borrow_mut().take_due(now_ms);
        if due.is_empty() {
            return;
        }
        for (key, call) in due {
            let reason = "the strategy did not decide in time";
            self.default_destination(key, &call, reason, now_ms);
            if let (Some(id), Some(orchestration)) = (call.interaction, &self.shard.orchestration) {
                orchestration.borrow_mut().call_timed_out(id, now_ms);
            }
        }
        pump(&self.shard);
    }

    /// Runs the transactions' timers and reads what happened to them.
    fn tick(&self, now_ms: u64) {
        let mut events = Vec::new();
        {
            let mut transactions = self.transactions.borrow_mut();
            transactions.tick(now_ms);
            transactions.drain_events(&mut events);
        }
        for event in events {
            match event {
                TxEvent::AckTimeout { .. } => bump(&self.counters.ack_timeouts),
                TxEvent::Terminated { key } => {
                    // A transaction that ends before its call was answered cannot be
                    // answered any more; forget the call (its deadline would find nothing).
                    self.calls.borrow_mut().remove(key);
                }
            }
        }
    }

    /// When the endpoint next needs a turn.
    pub fn next_deadline_ms(&self) -> Option<u64> {
        let transactions = self.transactions.borrow().next_deadline_ms();
        let calls = self.calls.borrow().next_deadline_ms();
        match (transactions, calls) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Takes everything waiting to be sent.
    fn take_outgoing(&self) -> Vec<(Peer, Vec<u8>)> {
        let mut out = std::mem::take(&mut *self.outgoing.borrow_mut());
        self.transactions.borrow_mut().drain_outgoing(&mut out);
        out
    }
}

/// Longest text a `Warning` header carries, in bytes.
const WARNING_TEXT_MAX: usize = 160;

/// `<URI>` for a Contact header: a bare number becomes `sip:NUMBER@host`.
fn contact_header(target: &str, host: &str) -> String {
    match crate::config::is_redirect_uri(target) {
        true => format!("<{target}>"),
        false => format!("<sip:{target}@{host}>"),
    }
}

/// A `Warning` header value (RFC 3261 §20.43, code 399: miscellaneous) with `text` made
/// safe for a quoted string.
fn warning(text: &str) -> String {
    // Bounded, so that a long reason from a strategy cannot push the final response past
    // a datagram (which would then never be delivered).
    let mut end = text.len().min(WARNING_TEXT_MAX);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let clean: String = text[..end]
        .chars()
        .map(|c| match c {
            '"' | '\\' => '\'',
            c if c.is_control() => ' ',
            c => c,
        })
        .collect();
    format!("399 baton \"{clean}\"")
}

fn bump(counter: &Cell<u64>) {
    counter.set(counter.get() + 1);
}

/// The host part of a SIP Request-URI (`sip:5000@pbx.example:5060;user=phone` →
/// `pbx.example:5060`).
fn uri_host(uri: &str) -> &str {
    let rest = uri.split_once(':').map_or(uri, |(_, rest)| rest);
    let rest = rest.rsplit_once('@').map_or(rest, |(_, host)| host);
    let end = rest.find([';', '?', '>']).unwrap_or(rest.len());
    &rest[..end]
}

/// Where a datagram came from, as the transactions' peer: `connection` is the index of
/// the UDP socket it arrived on, so its answers leave from that socket.
fn udp_peer(addr: SocketAddr, socket: usize) -> Peer {
    Peer {
        transport: Transport::Udp,
        addr,
        connection: socket as u64,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contacts_hosts_and_warnings() {
        assert_eq!(contact_header("sip:a@b", "h"), "<sip:a@b>");
        assert_eq!(contact_header("+1555", "pbx:5060"), "<sip:+1555@pbx:5060>");
        assert_eq!(
            uri_host("sip:5000@pbx.example:5060;user=phone"),
            "pbx.example:5060"
        );
        assert_eq!(uri_host("sip:pbx"), "pbx");
        assert_eq!(warning("say \"hi\"\n"), "399 baton \"say 'hi' \"");
    }
}
