//! Requests awaiting a `<session:response>`: the host's side of request/reply.
//!
//! A request is an external event that the host delivers with `_event.sendid` set to a
//! fresh request id (`req-<n>`, unique in this host; in the server `req-<n>-<tag>`, see
//! [`RequestIdForm`]) and `_event.origintype` set to
//! [`REQUEST_ORIGINTYPE`]. It stays pending until a session answers it with
//! `<session:response>`, until the session it was sent to ends (the answer is then
//! [`Answer::SessionEnded`]), or until the caller gives up ([`Host::cancel_request`]).
//! Answers wait in an outbox for [`Host::take_replies`]: the server resolves its waiting
//! HTTP requests from it, `baton run` prints them.
//!
//! Any session of the host may answer a pending request (a child the request was
//! forwarded to, say). An answer to a request this host issued that is no longer pending
//! (given up by the caller, or answered already) is dropped and counted; an answer to an
//! id this host never issued is an error in the answering session.

use std::collections::HashMap;
use std::fmt::Write as _;

use engine::effects::{ExtensionAction, ExtensionError};
use engine::event::Event;
use engine::extension::{is_response_status, REQUEST_ORIGINTYPE};
use engine::value::Value;

use super::directory::SessionKey;
use super::{DeliverError, Host};

/// The prefix of every request id.
const REQUEST_ID_PREFIX: &str = "req-";

/// Hex digits of a keyed request id's tag: 64 bits, beyond guessing.
const REQUEST_TAG_HEX_DIGITS: usize = 16;

/// How request ids are spelt.
///
/// Any session of a host may answer any pending request, so in the server, where
/// sessions run strategies of different authors, a session that could guess another's
/// request id could answer it in its place. There ids carry a tag, an HMAC of their number
/// under a key drawn at start: unguessable, yet checked without remembering retired ids.
#[derive(Clone, Debug, Default)]
pub enum RequestIdForm {
    /// `req-1`, `req-2`... in issue order (`baton run`, whose output is replayable).
    #[default]
    Sequential,
    /// `req-<n>-<tag>`, the tag 64 bits of HMAC-SHA256(key, n).
    Keyed(ring::hmac::Key),
}

impl RequestIdForm {
    /// Keyed ids under a key from the operating system's random source.
    pub fn keyed() -> RequestIdForm {
        let mut key = [0u8; 32];
        for chunk in key.chunks_mut(8) {
            chunk.copy_from_slice(&crate::entropy::random_u64().to_ne_bytes());
        }
        RequestIdForm::Keyed(ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &key))
    }

    fn spell(&self, number: u64) -> Box<str> {
        match self {
            RequestIdForm::Sequential => format!("{REQUEST_ID_PREFIX}{number}").into(),
            RequestIdForm::Keyed(key) => {
                let tag = tag(key, number);
                format!("{REQUEST_ID_PREFIX}{number}-{tag}").into()
            }
        }
    }

    /// The number of an id of this form, if it is one (the tag checked).
    fn number(&self, requestid: &str) -> Option<u64> {
        let rest = requestid.strip_prefix(REQUEST_ID_PREFIX)?;
        match self {
            RequestIdForm::Sequential => rest.parse().ok(),
            RequestIdForm::Keyed(key) => {
                let (number, given) = rest.split_once('-')?;
                let number = number.parse().ok()?;
                let expected = tag(key, number);
                same_in_constant_time(expected.as_bytes(), given.as_bytes()).then_some(number)
            }
        }
    }
}

/// Whether `a` and `b` are equal, in time that does not depend on where they differ: a
/// session must not learn a tag digit by digit.
fn same_in_constant_time(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn tag(key: &ring::hmac::Key, number: u64) -> String {
    let mac = ring::hmac::sign(key, &number.to_be_bytes());
    let mut tag = String::with_capacity(REQUEST_TAG_HEX_DIGITS);
    for byte in &mac.as_ref()[..REQUEST_TAG_HEX_DIGITS / 2] {
        let _ = write!(tag, "{byte:02x}");
    }
    tag
}

/// The HTTP status of a response that gives none.
pub const RESPONSE_STATUS_DEFAULT: u16 = 200;

/// The HTTP status of the answer to a request whose session ended before answering: the
/// resource the request addressed is gone.
pub const SESSION_ENDED_STATUS: u16 = 410;

/// How a request was answered.
#[derive(Clone, Debug, PartialEq)]
pub enum Answer {
    /// By `<session:response>`.
    Response {
        /// The HTTP status (200 to 599).
        status: u16,
        /// The body: the action's `namelist`/`<param>` object or `<content>`.
        data: Value,
    },
    /// The session the request was sent to ended (final state, limit, terminate) first.
    SessionEnded,
}

impl Answer {
    /// The HTTP status and JSON body this answer becomes (a response without data has
    /// the body `{}`).
    pub fn http(&self) -> (u16, serde_json::Value) {
        match self {
            Answer::Response { status, data } => match data {
                Value::Undefined => (*status, serde_json::json!({})),
                data => (*status, data.to_json()),
            },
            Answer::SessionEnded => {
                let error = "the session ended before answering the request";
                let status = SESSION_ENDED_STATUS;
                (
                    status,
                    serde_json::json!({ "error": error, "status": status }),
                )
            }
        }
    }
}

/// The answer to one request.
#[derive(Clone, Debug, PartialEq)]
pub struct Reply {
    /// The request id [`Host::send_request`] returned.
    pub requestid: Box<str>,
    /// How it was answered.
    pub answer: Answer,
}

/// The pending requests of one host and the answers not yet taken.
#[derive(Debug)]
pub(crate) struct Requests {
    /// Request id to the session it was sent to.
    pending: HashMap<Box<str>, SessionKey>,
    /// Pending requests per session, so that a session's end finds its own without a scan.
    per_owner: HashMap<SessionKey, u32>,
    /// Request ids issued so far (the last one is numbered `issued`).
    issued: u64,
    form: RequestIdForm,
    pending_max: u32,
    replies: Vec<Reply>,
    /// Answers to requests no longer pending.
    dropped: u64,
}

impl Requests {
    pub fn new(pending_max: u32, form: RequestIdForm) -> Requests {
        assert!(pending_max > 0);
        Requests {
            pending: HashMap::new(),
            per_owner: HashMap::new(),
            issued: 0,
            form,
            pending_max,
            replies: Vec::new(),
            dropped: 0,
        }
    }

    /// A fresh request id, if fewer than `pending_max` requests are pending.
    fn issue(&mut self) -> Result<Box<str>, DeliverError> {
        if self.pending.len() >= self.pending_max as usize {
            let requests_max = self.pending_max;
            return Err(DeliverError::RequestsFull { requests_max });
        }
        self.issued += 1;
        Ok(self.form.spell(self.issued))
    }

    fn register(&mut self, requestid: Box<str>, owner: SessionKey) {
        let previous = self.pending.insert(requestid, owner);
        assert!(previous.is_none(), "request ids are issued once");
        *self.per_owner.entry(owner).or_insert(0) += 1;
    }

    /// Forgets a pending request; returns the session it was sent to.
    fn remove(&mut self, requestid: &str) -> Option<SessionKey> {
        let owner = self.pending.remove(requestid)?;
        let count = self.per_owner.get_mut(&owner);
        let count = count.expect("a pending request counts for its owner");
        *count -= 1;
        if *count == 0 {
            self.per_owner.remove(&owner);
        }
        Some(owner)
    }

    /// The session `owner` ended: each of its pending requests is answered
    /// [`Answer::SessionEnded`].
    pub fn end_owner(&mut self, owner: SessionKey) {
        if self.per_owner.remove(&owner).is_none() {
            return;
        }
        let replies = &mut self.replies;
        self.pending.retain(|requestid, key| {
            if *key != owner {
                return true;
            }
            let requestid = requestid.clone();
            replies.push(Reply {
                requestid,
                answer: Answer::SessionEnded,
            });
            false
        });
    }

    /// Performs `<session:response>`: checks the evaluated action, then answers the
    /// request. A bad id or status is the answering session's error.
    pub fn respond(&mut self, action: &ExtensionAction) -> Result<(), ExtensionError> {
        let requestid = match action.arg("requestid") {
            Value::String(id) => id.clone(),
            Value::Undefined => {
                let reason = "no request to answer: the event being processed is not a \
                              request; give requestid or requestidexpr";
                return Err(refusal(reason.to_owned()));
            }
            other => {
                return Err(refusal(format!(
                    "requestid must be a string, got {other:?}"
                )))
            }
        };
        let status = response_status(action.arg("status"))?;
        if self.remove(&requestid).is_some() {
            let data = action.data.clone();
            let answer = Answer::Response { status, data };
            self.replies.push(Reply { requestid, answer });
            return Ok(());
        }
        if self.was_issued(&requestid) {
            self.dropped += 1;
            return Ok(());
        }
        Err(refusal(format!("no pending request '{requestid}'")))
    }

    /// True for an id this host issued (of its form, at most the last one issued).
    fn was_issued(&self, requestid: &str) -> bool {
        let number = self.form.number(requestid);
        number.is_some_and(|n| n >= 1 && n <= self.issued)
    }

    /// Forgets every pending request and answer (the host was reset).
    pub fn clear(&mut self) {
        self.pending.clear();
        self.per_owner.clear();
        self.replies.clear();
    }
}

fn refusal(reason: String) -> ExtensionError {
    ExtensionError { reason }
}

/// The `status` of a response: absent means 200; otherwise a whole number from 200 to 599,
/// as a number or as text.
fn response_status(value: &Value) -> Result<u16, ExtensionError> {
    let status = match value {
        Value::Undefined => return Ok(RESPONSE_STATUS_DEFAULT),
        Value::Number(n) if n.fract() == 0.0 && (200.0..=599.0).contains(n) => Some(*n as u16),
        Value::String(text) if is_response_status(text) => text.parse().ok(),
        _ => None,
    };
    status.ok_or_else(|| {
        refusal(format!(
            "status must be an HTTP status from 200 to 599, got {value:?}"
        ))
    })
}

impl Host {
    /// Queues the request event `name` with `data` for the session `id` (top-level or
    /// invoked) and returns its request id. Refused when the session is unknown, its
    /// queue is full, or [`super::HostConfig::requests_pending_max`] requests are pending.
    pub fn send_request(
        &mut self,
        id: &str,
        name: &str,
        data: Value,
    ) -> Result<Box<str>, DeliverError> {
        let key = self.core.dir.by_id(id);
        let key = key.ok_or(DeliverError::UnknownSession)?;
        self.request_to(key, name, data)
    }

    /// [`Host::send_request`] to the root session (`baton run`).
    pub fn deliver_request(&mut self, name: &str, data: Value) -> Result<Box<str>, DeliverError> {
        let root = self.core.root.ok_or(DeliverError::UnknownSession)?;
        self.request_to(root, name, data)
    }

    fn request_to(
        &mut self,
        key: SessionKey,
        name: &str,
        data: Value,
    ) -> Result<Box<str>, DeliverError> {
        let requestid = self.core.requests.issue()?;
        let mut event = Event::external(name, data);
        event.sendid = Some(requestid.clone());
        event.origintype = Some(REQUEST_ORIGINTYPE.into());
        self.core.enqueue(key, event)?;
        self.core.requests.register(requestid.clone(), key);
        Ok(requestid)
    }

    /// Gives up a pending request (its caller stopped waiting); true if it was pending. A
    /// later answer to it is dropped and counted ([`Host::replies_dropped`]).
    pub fn cancel_request(&mut self, requestid: &str) -> bool {
        self.core.requests.remove(requestid).is_some()
    }

    /// The answers since the last call, in the order they were given.
    pub fn take_replies(&mut self) -> Vec<Reply> {
        std::mem::take(&mut self.core.requests.replies)
    }

    /// Requests waiting for an answer.
    pub fn requests_pending(&self) -> usize {
        self.core.requests.pending.len()
    }

    /// Answers dropped because their request was no longer pending (given up, or
    /// answered already).
    pub fn replies_dropped(&self) -> u64 {
        self.core.requests.dropped
    }
}

#[cfg(test)]
mod tests {
    use engine::extension::ActionKind;

    use super::*;

    const A: SessionKey = SessionKey {
        slot: 0,
        generation: 1,
    };

    fn response(requestid: Value, status: Value) -> ExtensionAction {
        ExtensionAction {
            kind: ActionKind::SessionResponse,
            id: "".into(),
            args: vec![("requestid", requestid), ("status", status)],
            data: Value::Undefined,
        }
    }

    fn id(text: &str) -> Value {
        Value::String(text.into())
    }

    #[test]
    fn a_response_answers_once_then_is_dropped() {
        let mut requests = Requests::new(4, RequestIdForm::Sequential);
        let r = requests.issue().expect("room");
        requests.register(r.clone(), A);
        assert_eq!(&*r, "req-1");
        let ok = requests.respond(&response(id("req-1"), Value::String("404".into())));
        assert_eq!(ok, Ok(()));
        let answer = Answer::Response {
            status: 404,
            data: Value::Undefined,
        };
        let reply = Reply {
            requestid: r,
            answer,
        };
        assert_eq!(requests.replies, [reply]);
        assert_eq!(
            requests.respond(&response(id("req-1"), Value::Undefined)),
            Ok(())
        );
        assert_eq!(requests.dropped, 1);
        assert!(requests
            .respond(&response(id("req-2"), Value::Undefined))
            .is_err());
        assert!(requests
            .respond(&response(id("other"), Value::Undefined))
            .is_err());
        assert!(requests.per_owner.is_empty());
    }

    #[test]
    fn bad_ids_and_statuses_are_refused_and_keep_the_request() {
        let mut requests = Requests::new(4, RequestIdForm::Sequential);
        let r = requests.issue().expect("room");
        requests.register(r, A);
        for status in [
            Value::Number(99.0),
            Value::Number(200.5),
            id("600"),
            Value::Null,
        ] {
            assert!(requests.respond(&response(id("req-1"), status)).is_err());
        }
        let missing = requests.respond(&response(Value::Undefined, Value::Undefined));
        let reason = missing.expect_err("no id").reason;
        assert!(reason.contains("not a request"), "{reason}");
        assert_eq!(requests.pending.len(), 1);
        let ok = requests.respond(&response(id("req-1"), Value::Number(503.0)));
        assert_eq!(ok, Ok(()));
    }

    #[test]
    fn the_bound_refuses_and_an_ended_owner_answers_its_requests() {
        let mut requests = Requests::new(2, RequestIdForm::Sequential);
        for _ in 0..2 {
            let r = requests.issue().expect("room");
            requests.register(r, A);
        }
        let full = requests.issue();
        assert_eq!(full, Err(DeliverError::RequestsFull { requests_max: 2 }));
        requests.end_owner(A);
        assert!(requests.pending.is_empty() && requests.per_owner.is_empty());
        let ended: Vec<&Answer> = requests.replies.iter().map(|r| &r.answer).collect();
        assert_eq!(ended, [&Answer::SessionEnded, &Answer::SessionEnded]);
        assert_eq!(Answer::SessionEnded.http().0, 410);
    }

    #[test]
    fn keyed_ids_cannot_be_guessed_from_their_neighbours() {
        let mut requests = Requests::new(4, RequestIdForm::keyed());
        let first = requests.issue().expect("room");
        requests.register(first.clone(), A);
        let second = requests.issue().expect("room");
        requests.register(second.clone(), A);
        assert!(
            first.starts_with("req-1-") && second.starts_with("req-2-"),
            "{first} {second}"
        );
        let tag = &second["req-2-".len()..];
        assert_eq!(tag.len(), REQUEST_TAG_HEX_DIGITS);
        // The number alone, or the number with a wrong tag, answers nothing and is refused.
        for guess in ["req-2", "req-2-0000000000000000", &format!("req-3-{tag}")] {
            let refused = requests.respond(&response(id(guess), Value::Undefined));
            assert!(refused.is_err(), "{guess} was taken for an issued id");
        }
        assert_eq!(requests.pending.len(), 2);
        assert_eq!(
            requests.respond(&response(id(&second), Value::Undefined)),
            Ok(())
        );
        // Answered twice: the second answer is dropped, not an error (the id was issued).
        assert_eq!(
            requests.respond(&response(id(&second), Value::Undefined)),
            Ok(())
        );
        assert_eq!(requests.dropped, 1);
        // Another host's key spells other tags.
        let other = Requests::new(4, RequestIdForm::keyed());
        assert_ne!(other.form.spell(1), first);
    }
}
