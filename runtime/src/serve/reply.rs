//! Request/reply over HTTP: `POST /scxml/session/{id}/request/{name}` queues the event
//! `name` as a request (parameters become `_event.data`, the request id `_event.sendid`)
//! and answers with what the session gives in `<session:response>`.
//!
//! Each waiting HTTP exchange has a waiter here, keyed by request id. The driver takes the
//! host's answers after every run ([`crate::local::Host::take_replies`]) and resolves the
//! waiters ([`Replies::resolve`]); the handler's future completes on its next poll. No
//! `RefCell` borrow spans an `.await`: the waiter map is borrowed only inside `poll` and
//! the plain calls around it.
//!
//! Answers: the session's status and body; 504 with a JSON reason after
//! `limits.request_reply_timeout_ms` (the host then gives the request up, and a response
//! that comes later is dropped and counted); 410 when the session ends (final state,
//! limit, terminate) before answering; 404 for an unknown session; 503 when
//! `limits.pending_requests_per_shard_max` requests already wait, or the session's queue
//! is full.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use futures_lite::future;
use protocols::http::codec::has_body;
use protocols::http::params::Params;
use protocols::http::Response;
use serde_json::json;

use super::answer::{deliver_error, json_response};
use super::api::Shard;
use crate::local::basichttp::event_data;
use crate::local::{Answer, Reply};

/// One waiting exchange: the answer once it has come, and the task to wake.
#[derive(Debug, Default)]
struct Waiter {
    answer: Option<Answer>,
    waker: Option<Waker>,
}

/// The waiting request/reply exchanges of one shard, and their counters.
#[derive(Debug)]
pub struct Replies {
    /// `limits.request_reply_timeout_ms`; a reload changes it for later requests.
    timeout_ms: Cell<u32>,
    waiters: RefCell<HashMap<Box<str>, Waiter>>,
    /// Exchanges answered 504.
    timed_out: Cell<u64>,
    /// Answers that found no waiter (it had timed out just before).
    late: Cell<u64>,
}

impl Replies {
    /// No waiters; exchanges wait `timeout_ms` for their answer.
    pub fn new(timeout_ms: u32) -> Replies {
        assert!(timeout_ms > 0);
        Replies {
            timeout_ms: Cell::new(timeout_ms),
            waiters: RefCell::new(HashMap::new()),
            timed_out: Cell::new(0),
            late: Cell::new(0),
        }
    }

    /// Sets the timeout of requests that arrive from now on (a reload).
    pub fn set_timeout_ms(&self, timeout_ms: u32) {
        assert!(timeout_ms > 0);
        self.timeout_ms.set(timeout_ms);
    }

    /// Hands the host's answers to their waiters; an answer without one is counted late.
    pub fn resolve(&self, replies: Vec<Reply>) {
        if replies.is_empty() {
            return;
        }
        let mut waiters = self.waiters.borrow_mut();
        for reply in replies {
            let Some(waiter) = waiters.get_mut(&reply.requestid) else {
                self.late.set(self.late.get() + 1);
                continue;
            };
            waiter.answer = Some(reply.answer);
            if let Some(waker) = waiter.waker.take() {
                waker.wake();
            }
        }
    }

    /// This shard's request/reply counts for `/metrics`: `pending` requests in the host,
    /// `dropped` answers the host dropped (their request was given up).
    pub fn counts(&self, pending: usize, dropped: u64) -> ReplyCounts {
        ReplyCounts {
            pending: u64::try_from(pending).unwrap_or(u64::MAX),
            timed_out: self.timed_out.get(),
            late: dropped.saturating_add(self.late.get()),
        }
    }
}

/// A shard's request/reply counts, as `/metrics` shows them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ReplyCounts {
    /// Requests awaiting a `<session:response>`.
    pub pending: u64,
    /// Requests answered 504.
    pub timed_out: u64,
    /// Responses dropped: their request had timed out or was answered already.
    pub late: u64,
}

/// The future of one exchange's answer; `None` if its waiter is gone.
struct ReplyWait<'a> {
    replies: &'a Replies,
    requestid: &'a str,
}

impl Future for ReplyWait<'_> {
    type Output = Option<Answer>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Answer>> {
        let mut waiters = self.replies.waiters.borrow_mut();
        let Some(waiter) = waiters.get_mut(self.requestid) else {
            return Poll::Ready(None);
        };
        match waiter.answer.take() {
            Some(answer) => Poll::Ready(Some(answer)),
            None => {
                waiter.waker = Some(cx.waker().clone());
                Poll::Pending
            }
        }
    }
}

/// A registered exchange. Dropping it (answered, timed out, or the connection went away
/// and the handler was dropped) removes the waiter and gives the request up in the host.
struct Exchange<'a> {
    shard: &'a Shard,
    requestid: Box<str>,
}

impl<'a> Exchange<'a> {
    fn open(shard: &'a Shard, requestid: Box<str>) -> Exchange<'a> {
        let mut waiters = shard.replies.waiters.borrow_mut();
        let previous = waiters.insert(requestid.clone(), Waiter::default());
        assert!(previous.is_none(), "request ids are issued once");
        drop(waiters);
        Exchange { shard, requestid }
    }

    fn wait(&self) -> ReplyWait<'_> {
        ReplyWait {
            replies: &self.shard.replies,
            requestid: &self.requestid,
        }
    }

    /// An answer that arrived but was not polled yet (the timer won the race).
    fn arrived(&self) -> Option<Answer> {
        let mut waiters = self.shard.replies.waiters.borrow_mut();
        waiters.get_mut(&self.requestid)?.answer.take()
    }
}

impl Drop for Exchange<'_> {
    fn drop(&mut self) {
        self.shard
            .replies
            .waiters
            .borrow_mut()
            .remove(&self.requestid);
        // Not borrowed here in practice (no borrow spans an await); if it were, the
        // request stays pending until its session answers or ends, which is still bounded.
        if let Ok(mut host) = self.shard.host.try_borrow_mut() {
            host.cancel_request(&self.requestid);
        }
    }
}

/// `POST /scxml/session/{id}/request/{name}`: queues the request and waits for its answer.
/// `started` is the handler's entry time (the event's acceptance time for the metrics).
pub async fn request(
    shard: &Shard,
    id: &str,
    name: &str,
    params: Params,
    started: Instant,
) -> Response {
    let data = event_data(&params);
    let sent = shard.host.borrow_mut().send_request(id, name, data);
    let requestid = match sent {
        Ok(requestid) => requestid,
        Err(e) => return deliver_error(&e),
    };
    shard.metrics.event_accepted(started);
    let exchange = Exchange::open(shard, requestid);
    shard.wake.wake();
    let timeout_ms = shard.replies.timeout_ms.get();
    let timer = async {
        glommio::timer::sleep(Duration::from_millis(u64::from(timeout_ms))).await;
        None
    };
    let answer = future::or(exchange.wait(), timer).await;
    match answer.or_else(|| exchange.arrived()) {
        Some(answer) => {
            let (status, body) = answer.http();
            // 204 and 304 carry no body, whatever the session gave.
            match has_body(status) {
                true => json_response(status, &body),
                false => Response::new(status),
            }
        }
        None => {
            let replies = &shard.replies;
            replies.timed_out.set(replies.timed_out.get() + 1);
            let body = json!({
                "error": format!("the session gave no response within {timeout_ms} ms"),
                "status": 504,
                "sessionid": id,
                "requestid": &*exchange.requestid,
                "timeout_ms": timeout_ms,
            });
            json_response(504, &body)
        }
    }
}
