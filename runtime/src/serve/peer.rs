//! Calls between the shards of `baton serve`: an API request for a session that lives on
//! another shard is forwarded to its home shard, and `GET /metrics`, `/health` and
//! `/scxml/sessions` ask every shard for its part. A call crosses the mesh as owned plain
//! data ([`Call`]) with its reply path inside.
//!
//! The reply path is a one-message `flume` channel carried in the call, not a reply message
//! back over the mesh. The mesh is bounded and shared with events, so a reply sent over it
//! could be refused after the work was done, and the asker would answer 504 for a request
//! that took effect; a reply channel always has room for its one answer. `flume` is `Send`
//! and its async receive registers the waiting task's waker, which the answering shard's
//! thread wakes: glommio 0.9 queues such a foreign wake to the waiting executor and rouses
//! it. Either side may give up first: an answer to an asker that timed out is dropped, and
//! an asker whose call was dropped unanswered (its shard stopped) sees the channel close.
//!
//! Every wait is bounded by the configured request timeout: a refusal to queue the call is
//! immediate (503), a channel closed unanswered is 503, a timeout is 504.

use std::fmt;
use std::rc::Rc;
use std::time::{Duration, Instant};

use engine::event::Event;
use protocols::http::params::Params;
use protocols::http::Response;

use super::api::{SessionApi, Shard};
use super::basichttp::inbound::queue_here;
use super::metrics::ShardSnapshot;
use super::remote::MeshRemote;
use super::route::Route;
use crate::local::DeliverError;
use crate::shard::{Mesh, MeshError, MeshInbox, SessionId, ShardId, ShardMsg};

/// The sending end of a call's reply path.
pub type Reply<T> = flume::Sender<T>;

/// What one shard asks another. Owned plain data (`Send`), reply path included.
#[derive(Debug)]
pub enum Call {
    /// Answer a session API request for a session of the receiving shard, as if it had
    /// arrived there.
    Api {
        /// The route; its session id's home is the receiving shard.
        route: Route,
        /// The request's parameters.
        params: Params,
        /// When the asking shard's handler received the request (for the event latency).
        started: Instant,
        /// Where the response goes.
        reply: Reply<Response>,
    },
    /// Queue an event that arrived for a session of the receiving shard through the Basic
    /// HTTP processor ([`super::basichttp::inbound`]); the answer says whether it was queued.
    Queue {
        /// The session; its home is the receiving shard.
        to: SessionId,
        /// The event, built from the request by the shard that received it.
        event: Event,
        /// When the asking shard's handler received the request (for the event latency).
        started: Instant,
        /// Where the outcome goes.
        reply: Reply<Result<(), DeliverError>>,
    },
    /// The receiving shard's metrics.
    Metrics {
        /// Where the snapshot goes.
        reply: Reply<ShardSnapshot>,
    },
    /// A page of the receiving shard's top-level sessions, in its own order.
    Sessions {
        /// Sessions to skip.
        offset: u64,
        /// Sessions to list at most.
        limit: u32,
        /// Where the page goes.
        reply: Reply<SessionsPage>,
    },
    /// The receiving shard's live sessions (top-level and invoked), for `GET /health`.
    Health {
        /// Where the count goes.
        reply: Reply<u64>,
    },
}

/// One shard's part of `GET /scxml/sessions`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionsPage {
    /// The listed sessions' ids.
    pub ids: Vec<Box<str>>,
    /// How many top-level sessions the shard has.
    pub total: u64,
}

/// Where a session id says its session lives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Home {
    /// On this shard.
    Here(SessionId),
    /// On another running shard.
    Peer(SessionId),
    /// Nowhere: not a session id, or its shard is not running.
    Nowhere,
}

/// The home of the session `id` for shard `here` of `shards`: a pure function of the id.
pub fn home(here: ShardId, shards: u16, id: &str) -> Home {
    let Ok(id) = id.parse::<SessionId>() else {
        return Home::Nowhere;
    };
    match id.shard() {
        shard if shard == here => Home::Here(id),
        shard if shard.0 < shards => Home::Peer(id),
        _ => Home::Nowhere,
    }
}

/// Why a call got no answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CallError {
    /// The mesh refused the call (channel full, shard stopped or unknown).
    Refused(MeshError),
    /// The shard dropped the call unanswered: it stopped meanwhile.
    Stopped {
        /// The asked shard.
        shard: ShardId,
    },
    /// No answer within the request timeout.
    Timeout {
        /// The asked shard.
        shard: ShardId,
        /// The bound.
        timeout_ms: u64,
    },
}

impl fmt::Display for CallError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CallError::Refused(MeshError::Full { shard }) => write!(
                f,
                "shard {shard} is busy: the channel to it is full (limits.mesh_queue_max)"
            ),
            CallError::Refused(other) => write!(f, "{other}"),
            CallError::Stopped { shard } => write!(f, "shard {shard} stopped before answering"),
            CallError::Timeout { shard, timeout_ms } => {
                write!(f, "shard {shard} did not answer within {timeout_ms} ms")
            }
        }
    }
}

impl CallError {
    /// The HTTP status: 503 when the shard cannot take the call (back-pressure, stopping),
    /// 504 when it took it but did not answer in time, 404 for a shard that does not exist
    /// (only a session id can name one, and then no such session exists).
    pub fn status(&self) -> u16 {
        match self {
            CallError::Refused(MeshError::Unknown { .. }) => 404,
            CallError::Refused(MeshError::Full { .. } | MeshError::Closed { .. }) => 503,
            CallError::Refused(MeshError::Local { .. }) => {
                unreachable!("a shard never calls itself over the mesh")
            }
            CallError::Stopped { .. } => 503,
            CallError::Timeout { .. } => 504,
        }
    }

    /// The response to the client: the status and a JSON reason.
    pub fn response(&self) -> Response {
        Response::error(self.status(), &self.to_string())
    }
}

/// This shard's view of the others: the mesh, and how long to wait for an answer.
pub struct Peers {
    mesh: Rc<Mesh<Call>>,
    timeout: Duration,
}

impl Peers {
    /// Peers over `mesh`, waiting at most `timeout` for each answer.
    pub fn new(mesh: Rc<Mesh<Call>>, timeout: Duration) -> Peers {
        assert!(!timeout.is_zero());
        Peers { mesh, timeout }
    }

    /// This shard.
    pub fn here(&self) -> ShardId {
        self.mesh.shard()
    }

    /// How many shards run.
    pub fn shards(&self) -> u16 {
        self.mesh.shards()
    }

    /// The sending side of the mesh (for the `#_scxml_` processor).
    pub fn mesh(&self) -> Rc<Mesh<Call>> {
        Rc::clone(&self.mesh)
    }

    /// Where the session `id` lives.
    pub fn home(&self, id: &str) -> Home {
        home(self.here(), self.shards(), id)
    }

    /// Forwards an API request for the session `to` to its home shard; the response is the
    /// home shard's, or the reason there is none.
    pub async fn forward(
        &self,
        to: SessionId,
        route: Route,
        params: Params,
        started: Instant,
    ) -> Response {
        let call = |reply| Call::Api {
            route,
            params,
            started,
            reply,
        };
        match self.ask(to.shard(), Some(to), call).await {
            Ok(response) => response,
            Err(error) => error.response(),
        }
    }

    /// Asks `shard` (not this one) the call `make` builds around its reply path, about the
    /// session `to` if any, and waits for the answer.
    pub async fn ask<T>(
        &self,
        shard: ShardId,
        to: Option<SessionId>,
        make: impl FnOnce(Reply<T>) -> Call,
    ) -> Result<T, CallError> {
        let deadline = Instant::now() + self.timeout;
        let answer = self.send(shard, to, make)?;
        self.wait(shard, answer, deadline).await
    }

    /// Asks every other shard at once; the answers in shard order, each or its error.
    pub async fn ask_each<T>(
        &self,
        make: impl Fn(Reply<T>) -> Call,
    ) -> Vec<(ShardId, Result<T, CallError>)> {
        let deadline = Instant::now() + self.timeout;
        let others = (0..self.shards())
            .map(ShardId)
            .filter(|&s| s != self.here());
        let sent: Vec<_> = others
            .map(|shard| (shard, self.send(shard, None, &make)))
            .collect();
        let mut answers = Vec::with_capacity(sent.len());
        // All calls are out: waiting for them in turn takes as long as the slowest.
        for (shard, answer) in sent {
            let answer = match answer {
                Ok(answer) => self.wait(shard, answer, deadline).await,
                Err(error) => Err(error),
            };
            answers.push((shard, answer));
        }
        answers
    }

    fn send<T>(
        &self,
        shard: ShardId,
        to: Option<SessionId>,
        make: impl FnOnce(Reply<T>) -> Call,
    ) -> Result<flume::Receiver<T>, CallError> {
        assert_ne!(shard, self.here());
        let (reply, answer) = flume::bounded(1);
        let call = make(reply);
        let sent = self.mesh.try_send_to(shard, ShardMsg::Call { to, call });
        sent.map_err(CallError::Refused)?;
        Ok(answer)
    }

    async fn wait<T>(
        &self,
        shard: ShardId,
        answer: flume::Receiver<T>,
        deadline: Instant,
    ) -> Result<T, CallError> {
        let timeout_ms = u64::try_from(self.timeout.as_millis()).unwrap_or(u64::MAX);
        let answered = async {
            let received = answer.recv_async().await;
            received.map_err(|_| CallError::Stopped { shard })
        };
        let expired = async {
            glommio::timer::sleep(deadline.saturating_duration_since(Instant::now())).await;
            Err(CallError::Timeout { shard, timeout_ms })
        };
        futures_lite::future::or(answered, expired).await
    }
}

/// Joins `shard` to the mesh: its host's `#_scxml_` sends to other shards go over it, and a
/// task answers what the other shards send here, for as long as the executor runs.
pub fn join(shard: &Rc<Shard>, inbox: MeshInbox<Call>) {
    let remote = MeshRemote::new(shard.peers.mesh());
    shard.host.borrow_mut().set_remote(Box::new(remote));
    let api = Rc::new(SessionApi::new(Rc::clone(shard)));
    let answering = inbox.run(move |_from, msg| match msg {
        ShardMsg::Deliver { id, event } => deliver(&api, id, event),
        ShardMsg::Call { call, .. } => answer(&api, call),
    });
    glommio::spawn_local(answering).detach();
}

/// Queues an event a session of another shard sent to the session `id` of this one. The
/// sender was told the send succeeded, so a session that has ended meanwhile or a full
/// queue can only drop it (and count it), as for a delayed send to an ended session.
fn deliver(api: &SessionApi, id: SessionId, event: Event) {
    let shard = api.shard();
    let text = id.encode();
    let text = std::str::from_utf8(&text).expect("a session id's text is ASCII");
    let queued = shard.host.borrow_mut().send_event(text, event);
    match queued {
        Ok(()) => shard.wake.wake(),
        Err(_) => shard.metrics.mesh_event_dropped(),
    }
}

/// Answers a call. An API request gets a task of its own, since its answer may await (a
/// session's reply) and the inbox must keep reading meanwhile; the rest are answered now.
/// An answer whose asker gave up (timed out) is dropped.
fn answer(api: &Rc<SessionApi>, call: Call) {
    match call {
        Call::Api {
            route,
            params,
            started,
            reply,
        } => {
            let api = Rc::clone(api);
            let task = glommio::spawn_local(async move {
                let response = api.dispatch_here(route, params, started).await;
                let _ = reply.try_send(response);
            });
            task.detach();
        }
        Call::Queue {
            to,
            event,
            started,
            reply,
        } => {
            let text = to.encode();
            let id = std::str::from_utf8(&text).expect("a session id's text is ASCII");
            let _ = reply.try_send(queue_here(api.shard(), id, event, started));
        }
        Call::Metrics { reply } => {
            let _ = reply.try_send(api.snapshot());
        }
        Call::Sessions {
            offset,
            limit,
            reply,
        } => {
            let _ = reply.try_send(api.sessions_page(offset, limit));
        }
        Call::Health { reply } => {
            let _ = reply.try_send(api.live_sessions());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id_on(shard: u16) -> String {
        SessionId::new(ShardId(shard), 1, 2).to_string()
    }

    #[test]
    fn a_session_id_names_its_home() {
        let here = ShardId(1);
        let on_one = id_on(1).parse().unwrap();
        let on_zero = id_on(0).parse().unwrap();
        assert_eq!(home(here, 2, &id_on(1)), Home::Here(on_one));
        assert_eq!(home(here, 2, &id_on(0)), Home::Peer(on_zero));
        assert_eq!(home(here, 2, &id_on(2)), Home::Nowhere, "no shard 2 runs");
        assert_eq!(home(here, 2, "nope"), Home::Nowhere);
        assert_eq!(home(here, 2, "ZZZZZZZZZZZZZ"), Home::Nowhere);
    }

    #[test]
    fn refusals_map_to_statuses_with_reasons() {
        let shard = ShardId(1);
        let cases = [
            (CallError::Refused(MeshError::Full { shard }), 503, "busy"),
            (
                CallError::Refused(MeshError::Closed { shard }),
                503,
                "stopped",
            ),
            (
                CallError::Stopped { shard },
                503,
                "stopped before answering",
            ),
            (
                CallError::Refused(MeshError::Unknown { shard, shards: 1 }),
                404,
                "no shard 1",
            ),
            (
                CallError::Timeout {
                    shard,
                    timeout_ms: 30,
                },
                504,
                "within 30 ms",
            ),
        ];
        for (error, status, reason) in cases {
            let response = error.response();
            assert_eq!(response.status, status, "{error}");
            let body: serde_json::Value = serde_json::from_slice(&response.body).unwrap();
            let text = body["error"].as_str().unwrap();
            assert!(text.contains(reason), "{text}");
            assert!(text.contains("shard 1"), "{text}");
        }
    }
}
