//! RFC 3261 §17.2 server transactions for a redirect server: a UAS that answers INVITE
//! only with 1xx and 3xx-6xx (never 2xx), and non-INVITE requests (OPTIONS, CANCEL, BYE,
//! ...) with anything. Sans-IO: requests and the time come in as arguments, responses to
//! send and events come out through `drain_*`. No clock, no sockets, no entropy (To tags
//! come from a seed the caller passes).
//!
//! ```text
//! INVITE (the layer sends 100 Trying at creation):
//!   Proceeding ──1xx──▶ Proceeding
//!   Proceeding ──3xx-6xx──▶ Completed   G: resend at T1, 2·T1, … ≤ T2 (UDP); H: 64·T1
//!   Completed  ──ACK──▶ Confirmed       I: T4 (UDP), 0 (TCP, TLS)
//!   Completed  ──H──▶ gone (TxEvent::AckTimeout)
//!   Confirmed  ──I──▶ gone (TxEvent::Terminated)
//! non-INVITE:
//!   Trying ──1xx──▶ Proceeding ──final──▶ Completed   J: 64·T1 (UDP), 0 (TCP, TLS)
//!   Trying ──final──▶ Completed ──J──▶ gone (TxEvent::Terminated)
//! ```
//!
//! Retransmitted requests are absorbed and answered with the last response sent. A
//! transaction's request is dropped once its final response is sent (it is no longer
//! needed, and an unacknowledged INVITE transaction lives 64·T1 = 32 s).

mod completion;
mod matching;
mod timer;

use std::collections::HashMap;
use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;

use slab::Slab;

use super::message::{Message, Method};
use super::response::{reason_phrase, response, response_destination, write_response};
use matching::{write_key, Class};
use timer::{Deadline, Deadlines, Timer};

/// A transport SIP runs over.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Transport {
    /// UDP: unreliable, so responses are retransmitted and transactions linger.
    Udp,
    /// TCP.
    Tcp,
    /// TLS over TCP.
    Tls,
}

impl Transport {
    /// Whether the transport delivers reliably (TCP, TLS): no retransmissions, and the
    /// timers that absorb retransmissions (I, J) are zero.
    pub fn is_reliable(self) -> bool {
        !matches!(self, Self::Udp)
    }

    /// The transport's name in a Via header.
    pub fn via_name(self) -> &'static str {
        match self {
            Self::Udp => "UDP",
            Self::Tcp => "TCP",
            Self::Tls => "TLS",
        }
    }
}

/// Where a message came from or a response goes: the transport, the remote address, and
/// for TCP/TLS the connection it arrived on (the I/O layer's id; 0 for UDP).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Peer {
    /// The transport.
    pub transport: Transport,
    /// The remote address.
    pub addr: SocketAddr,
    /// The I/O layer's connection id (0 for UDP).
    pub connection: u64,
}

/// A transaction's key: a slot and the generation the slot had when the transaction was
/// created, so a key kept after its transaction ended never reaches a later one (until
/// 2**32 transactions later, when the generation wraps onto the same slot).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TxKey {
    slot: u32,
    generation: u32,
}

/// The RFC 3261 §17 timer bases.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TxTimers {
    /// T1, the round-trip estimate, default 500 ms: G starts at T1, H and J last 64·T1.
    pub t1_ms: u64,
    /// T2, the longest retransmission interval, default 4000 ms.
    pub t2_ms: u64,
    /// T4, how long a message may stay in the network, default 5000 ms: I lasts T4.
    pub t4_ms: u64,
    /// How long a new INVITE may go unanswered before the layer sends `100 Trying`,
    /// default 0: at once. RFC 3261 §17.2.1 lets a server leave the 100 out when its TU
    /// answers within 200 ms; any response sent first, or a retransmitted INVITE, ends
    /// the wait. Keep it well under T1 (the caller retransmits at T1).
    pub trying_ms: u64,
}

impl TxTimers {
    /// RFC 3261's values.
    pub const DEFAULT: TxTimers = TxTimers {
        t1_ms: 500,
        t2_ms: 4_000,
        t4_ms: 5_000,
        trying_ms: 0,
    };
}

/// Bounds and parameters of a [`Transactions`] table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TxLimits {
    /// Live transactions, default 131,072. A request that needs a new one when the table is
    /// full is refused with 503. Cost: about 2 KiB per transaction waiting for its final
    /// response, 0.5 KiB after (UDP transactions linger 5 s after an ACK, 32 s without).
    pub transactions_max: u32,
    /// The timer bases.
    pub timers: TxTimers,
    /// Seeds the To tags the layer makes; give each shard (and each restart) its own,
    /// e.g. from the clock at startup, so tags do not repeat across them. Default 0.
    pub tag_seed: u64,
}

impl TxLimits {
    /// The defaults documented on each field.
    pub const DEFAULT: TxLimits = TxLimits {
        transactions_max: 1 << 17,
        timers: TxTimers::DEFAULT,
        tag_seed: 0,
    };
}

/// What the layer made of an incoming request.
#[derive(Debug, PartialEq)]
pub enum Arrival {
    /// A new server transaction: the transaction user must answer it with
    /// [`Transactions::respond`]. For INVITE the layer has already queued `100 Trying`
    /// (RFC 3261 §17.2.1: at once, since the decision may take longer than 200 ms), or,
    /// with [`TxTimers::trying_ms`], will send it then unless the TU has answered.
    New {
        /// The transaction.
        key: TxKey,
    },
    /// A retransmission of a request whose transaction exists: absorbed; the layer re-sent
    /// the last response, if any.
    Retransmission,
    /// An ACK matching an INVITE transaction that sent a 3xx-6xx: absorbed.
    Ack,
    /// A CANCEL matching a live INVITE transaction that has not sent a final response: the
    /// layer answered the CANCEL `200 OK` itself (with the INVITE's To tag, RFC 3261 §9.2);
    /// the transaction user should now answer the INVITE `487 Request Terminated`.
    Cancel {
        /// The INVITE transaction.
        invite: TxKey,
    },
    /// A request the layer answered or dropped itself: a CANCEL matching no transaction
    /// (481 sent), a CANCEL after the INVITE's final response (200 sent, nothing else), an
    /// ACK matching nothing awaiting one (dropped), or a message that is not a request or
    /// lacks a parsable top Via (dropped).
    Handled,
    /// The table is full (`transactions_max`): the layer queued `503 Service Unavailable`.
    /// (An ACK never needs a new transaction, so it is never refused.)
    Refused,
}

/// Something that happened to a transaction on its own. Each transaction reported as
/// [`Arrival::New`] ends with exactly one of these.
#[derive(Debug, PartialEq)]
pub enum TxEvent {
    /// Timer H fired: the final response to an INVITE was never acknowledged (the caller
    /// went away). The transaction is gone.
    AckTimeout {
        /// The transaction.
        key: TxKey,
    },
    /// The transaction ended and its key no longer works.
    Terminated {
        /// The transaction.
        key: TxKey,
    },
}

/// Why [`Transactions::respond`] refused.
#[derive(Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum RespondError {
    /// The key is stale or was never issued.
    UnknownTransaction,
    /// The transaction already sent its final response.
    AlreadyFinal {
        /// That response's status.
        status: u16,
    },
    /// The message is a request.
    NotAResponse,
    /// A 2xx to an INVITE: a redirect server never sends one, and a 2xx would need the
    /// TU core to retransmit it until ACK, which this layer does not do.
    TwoHundredToInvite,
    /// A status outside 100..=699.
    BadStatus {
        /// The status.
        status: u16,
    },
}

impl fmt::Display for RespondError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::UnknownTransaction => f.write_str("no such transaction"),
            Self::AlreadyFinal { status } => {
                write!(
                    f,
                    "the transaction already sent its final response ({status})"
                )
            }
            Self::NotAResponse => f.write_str("the message is not a response"),
            Self::TwoHundredToInvite => f.write_str("a 2xx to an INVITE is not supported"),
            Self::BadStatus { status } => write!(f, "status {status} is not within 100..=699"),
        }
    }
}

impl std::error::Error for RespondError {}

/// Room reserved for an encoded response: a typical one fits without growing.
const RESPONSE_BYTES: usize = 512;

/// Bytes of a To tag the layer makes: 16 hex digits (64 bits).
const TAG_BYTES: usize = 16;

/// Where a transaction is (see the module's diagram).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Trying,
    Proceeding,
    Completed,
    Confirmed,
}

/// One server transaction.
#[derive(Debug)]
struct Tx {
    generation: u32,
    invite: bool,
    /// Made by the layer for a CANCEL it answers itself: the TU never hears of it.
    internal: bool,
    state: State,
    /// The request, until the final response is sent.
    request: Option<Message>,
    peer: Peer,
    /// Where responses go.
    destination: Peer,
    /// The matching key, shared with the index.
    key: Arc<str>,
    tag: [u8; TAG_BYTES],
    /// The final response's status, 0 before.
    final_status: u16,
    /// The last response sent, for retransmissions.
    last_response: Option<Vec<u8>>,
    /// Timer G: the next resend and the interval that led to it.
    retransmit: Option<(u64, u64)>,
    /// When Timer H, I or J ends the transaction. Over UDP, H has no deadline of its own:
    /// Timer G's deadline is capped at it and ends the transaction when reached.
    end_ms: Option<u64>,
}

impl Tx {
    /// Whether this is an INVITE that has sent nothing yet (its 100 Trying is delayed).
    fn awaits_trying(&self) -> bool {
        self.invite && self.final_status == 0 && self.last_response.is_none()
    }
}

/// The server transactions of one shard. See the module documentation.
#[derive(Debug)]
pub struct Transactions {
    limits: TxLimits,
    slots: Slab<Tx>,
    index: HashMap<Arc<str>, u32>,
    deadlines: Deadlines,
    outgoing: Vec<(Peer, Vec<u8>)>,
    events: Vec<TxEvent>,
    /// The key of the request being matched (reused, so matching does not allocate).
    scratch: String,
    /// The key of the INVITE a CANCEL targets (reused likewise).
    target: String,
    /// Transactions made and tags issued so far: seeds generations and tags.
    issued: u64,
}

impl Transactions {
    /// An empty table sized for `transactions_max` at once: growing a table of 100,000
    /// live transactions under load would copy it and fault its new pages in while calls
    /// wait. The reservation is address space; pages are touched as slots are first used.
    /// Panics on invalid limits (`transactions_max` 0, T1 0 or over 60 s, T2 below T1).
    pub fn new(limits: TxLimits) -> Transactions {
        assert!(limits.transactions_max > 0);
        assert!(limits.timers.t1_ms > 0);
        assert!(limits.timers.t1_ms <= 60_000);
        assert!(limits.timers.t2_ms >= limits.timers.t1_ms);
        Transactions {
            limits,
            slots: Slab::with_capacity(limits.transactions_max as usize),
            index: HashMap::with_capacity(limits.transactions_max as usize),
            deadlines: Deadlines::default(),
            outgoing: Vec::new(),
            events: Vec::new(),
            scratch: String::with_capacity(256),
            target: String::with_capacity(256),
            issued: 0,
        }
    }

    /// A request arrived from `peer` (already parsed, [`super::stamp_received`] already
    /// applied). See [`Arrival`].
    pub fn on_request(&mut self, request: Message, peer: Peer, now_ms: u64) -> Arrival {
        let (is_ack, is_cancel) = match request.method() {
            None => return Arrival::Handled,
            Some(method) => (*method == Method::Ack, *method == Method::Cancel),
        };
        if is_ack {
            return self.on_ack(&request, now_ms);
        }
        if !write_key(&request, Class::Own, &mut self.scratch) {
            return Arrival::Handled;
        }
        if let Some(&slot) = self.index.get(self.scratch.as_str()) {
            self.resend_last(slot);
            return Arrival::Retransmission;
        }
        if is_cancel {
            return self.on_cancel(request, peer, now_ms);
        }
        if self.is_full() {
            self.reply_stateless(&request, peer, 503);
            return Arrival::Refused;
        }
        let key = self.create(request, peer, false);
        if self.slots[key.slot as usize].invite {
            match self.limits.timers.trying_ms {
                0 => self.send_trying(key.slot),
                wait_ms => self.deadlines.push(Deadline {
                    at_ms: now_ms.saturating_add(wait_ms),
                    slot: key.slot,
                    generation: key.generation,
                    timer: Timer::Trying,
                }),
            }
        }
        Arrival::New { key }
    }

    /// Sends `100 Trying` on INVITE transaction `slot`, which has its request.
    pub(super) fn send_trying(&mut self, slot: u32) {
        let request = self.slots[slot as usize]
            .request
            .as_ref()
            .expect("an unanswered transaction has its request");
        let mut bytes = Vec::with_capacity(RESPONSE_BYTES);
        write_response(request, 100, reason_phrase(100), "", &[], &mut bytes);
        self.send_bytes(slot, bytes);
    }

    fn on_ack(&mut self, ack: &Message, now_ms: u64) -> Arrival {
        if !write_key(ack, Class::Invite, &mut self.scratch) {
            return Arrival::Handled;
        }
        let Some(&slot) = self.index.get(self.scratch.as_str()) else {
            return Arrival::Handled;
        };
        let i_ms = self.limits.timers.t4_ms;
        let tx = &mut self.slots[slot as usize];
        if !tx.invite {
            // Only a hand-made `Method::Other("INVITE")` request could share the key.
            return Arrival::Handled;
        }
        match tx.state {
            State::Completed => {
                tx.state = State::Confirmed;
                tx.retransmit = None;
                // Confirmed only absorbs ACKs: nothing is sent again.
                tx.last_response = None;
                if tx.destination.transport.is_reliable() {
                    self.terminate(slot, false);
                } else {
                    self.arm_end(slot, now_ms.saturating_add(i_ms));
                }
                self.prune_deadlines();
                Arrival::Ack
            }
            State::Confirmed => Arrival::Ack,
            State::Trying | State::Proceeding => Arrival::Handled,
        }
    }

    /// A CANCEL that is not a retransmission; `self.scratch` holds its own key.
    fn on_cancel(&mut self, cancel: Message, peer: Peer, now_ms: u64) -> Arrival {
        let found = write_key(&cancel, Class::Invite, &mut self.target)
            .then(|| self.index.get(self.target.as_str()).copied())
            .flatten();
        let Some(invite_slot) = found else {
            self.reply_stateless(&cancel, peer, 481);
            return Arrival::Handled;
        };
        let invite = &self.slots[invite_slot as usize];
        let pending = invite.final_status == 0;
        let invite_key = TxKey {
            slot: invite_slot,
            generation: invite.generation,
        };
        let tag = invite.tag;
        let ok = response(&cancel, 200, reason_phrase(200), tag_str(&tag), &[]);
        if self.is_full() {
            // No room to absorb its retransmissions: answer it statelessly (a
            // retransmission is matched to the INVITE again and answered the same way).
            let destination = destination_of(&cancel, peer);
            self.queue(destination, &ok);
        } else {
            let key = self.create(cancel, peer, true);
            let mut bytes = Vec::new();
            ok.encode(&mut bytes);
            self.send_final(key.slot, bytes, 200, now_ms);
        }
        if pending {
            Arrival::Cancel { invite: invite_key }
        } else {
            Arrival::Handled
        }
    }

    /// Makes a transaction for `request`, whose key is in `self.scratch`.
    fn create(&mut self, request: Message, peer: Peer, internal: bool) -> TxKey {
        assert!(!self.is_full());
        let invite = request.method() == Some(&Method::Invite);
        let (generation, tag) = self.issue();
        let destination = destination_of(&request, peer);
        let key: Arc<str> = Arc::from(self.scratch.as_str());
        let entry = self.slots.vacant_entry();
        let slot = u32::try_from(entry.key()).expect("slots are bounded by a u32 limit");
        entry.insert(Tx {
            generation,
            invite,
            internal,
            state: if invite {
                State::Proceeding
            } else {
                State::Trying
            },
            request: Some(request),
            peer,
            destination,
            key: Arc::clone(&key),
            tag,
            final_status: 0,
            last_response: None,
            retransmit: None,
            end_ms: None,
        });
        let previous = self.index.insert(key, slot);
        assert!(previous.is_none(), "a new transaction's key was in use");
        TxKey { slot, generation }
    }

    /// The next generation and To tag.
    fn issue(&mut self) -> (u32, [u8; TAG_BYTES]) {
        self.issued += 1;
        // The generation is the issue counter's low half; wrapping is documented on TxKey.
        (
            self.issued as u32,
            tag_of(self.limits.tag_seed, self.issued),
        )
    }

    fn is_full(&self) -> bool {
        self.slots.len() >= self.limits.transactions_max as usize
    }

    /// Answers `request` outside any transaction, with a fresh To tag (unless it has one).
    fn reply_stateless(&mut self, request: &Message, peer: Peer, status: u16) {
        let (_, tag) = self.issue();
        let answer = response(request, status, reason_phrase(status), tag_str(&tag), &[]);
        self.queue(destination_of(request, peer), &answer);
    }

    fn queue(&mut self, destination: Peer, message: &Message) {
        let mut bytes = Vec::new();
        message.encode(&mut bytes);
        self.outgoing.push((destination, bytes));
    }

    /// Sends an encoded response on transaction `slot` and keeps it for retransmissions.
    fn send_bytes(&mut self, slot: u32, bytes: Vec<u8>) {
        let tx = &mut self.slots[slot as usize];
        self.outgoing.push((tx.destination, bytes.clone()));
        tx.last_response = Some(bytes);
    }

    fn resend_last(&mut self, slot: u32) {
        let tx = &self.slots[slot as usize];
        if tx.state == State::Confirmed {
            return;
        }
        if tx.awaits_trying() {
            // The caller is retransmitting: its 100 should not wait any longer.
            self.send_trying(slot);
            return;
        }
        if let Some(bytes) = &tx.last_response {
            self.outgoing.push((tx.destination, bytes.clone()));
        }
    }

    /// The request of a live transaction that has not sent its final response yet (for the
    /// TU to build responses from); `None` once it has, or for a stale key.
    pub fn request(&self, key: TxKey) -> Option<&Message> {
        self.get(key)?.request.as_ref()
    }

    /// Where the request of a live transaction came from.
    pub fn peer(&self, key: TxKey) -> Option<Peer> {
        self.get(key).map(|tx| tx.peer)
    }

    /// The To tag the layer made for a live transaction (16 hex digits). The TU must pass
    /// it to [`response`] for every response on the transaction, so that all of them, and
    /// the layer's own 200 to a CANCEL of it (RFC 3261 §9.2), carry the same tag.
    pub fn to_tag(&self, key: TxKey) -> Option<&str> {
        self.get(key).map(|tx| tag_str(&tx.tag))
    }

    /// Live transactions (including those the layer made for CANCELs it answered).
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// Whether no transaction is live.
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    fn get(&self, key: TxKey) -> Option<&Tx> {
        self.slots
            .get(key.slot as usize)
            .filter(|tx| tx.generation == key.generation)
    }
}

/// Where responses to `request` from `peer` go: for UDP the RFC 3261 §18.2.2 address, for
/// TCP and TLS the connection it came on.
fn destination_of(request: &Message, peer: Peer) -> Peer {
    match peer.transport {
        Transport::Udp => Peer {
            addr: response_destination(request, peer.addr),
            ..peer
        },
        Transport::Tcp | Transport::Tls => peer,
    }
}

/// The To tag for issue number `issued`: a bijective mix (SplitMix64) of the seed and the
/// counter, so one table never repeats a tag, as 16 hex digits.
fn tag_of(seed: u64, issued: u64) -> [u8; TAG_BYTES] {
    let mut z = seed.wrapping_add(issued.wrapping_mul(0x9e37_79b9_7f4a_7c15));
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^= z >> 31;
    let mut tag = [0; TAG_BYTES];
    for (at, digit) in tag.iter_mut().enumerate() {
        let nibble = (z >> (60 - 4 * at)) & 0xf;
        *digit = b"0123456789abcdef"[nibble as usize];
    }
    tag
}

fn tag_str(tag: &[u8; TAG_BYTES]) -> &str {
    // Tags are made of hex digits only.
    std::str::from_utf8(tag).unwrap_or_default()
}
