//! The HTTP session API of one shard: start, event, request, query, terminate, list, help,
//! health, metrics.
//!
//! Every operation is synchronous on the shard's [`Host`]; the handler wakes the shard's
//! driver ([`super::driver`]) afterwards so the new work runs. The `RefCell` borrow never
//! spans an `.await`: only a request awaits, for the session's `<session:response>`
//! ([`super::reply`]), and it holds no borrow meanwhile.
//! Each request is counted and timed into the shard's [`Metrics`]: two clock reads and one
//! histogram record per request.

use std::cell::RefCell;
use std::path::Path;
use std::rc::Rc;
use std::time::Instant;

use engine::event::Event;
use engine::value::Value;
use protocols::http::params::{request_params, Params};
use protocols::http::server::Handler;
use protocols::http::{Request, Response};
use serde_json::json;

use super::driver::Wake;
use super::idealtime;
use super::metrics::{Metrics, CONTENT_TYPE};
use super::reply::{self, Replies};
use super::route::{route, Route, RouteError, RouteKind};
use crate::local::{DeliverError, Host};

/// What one shard's handlers share.
pub struct Shard {
    /// The shard's sessions.
    pub host: RefCell<Host>,
    /// Wakes the shard's driver after new work is queued.
    pub wake: Wake,
    /// Sessions listed per page at most.
    pub page_max: u32,
    /// The shard's counters and latency histograms (`GET /metrics`).
    pub metrics: Metrics,
    /// The request/reply exchanges waiting for a `<session:response>`.
    pub replies: Replies,
    /// How far ahead a start's `idealtime` may be, in ms (`limits.idealtime_ahead_max_ms`).
    pub idealtime_ahead_max_ms: u32,
}

/// The session API handler of one shard.
pub struct SessionApi {
    shard: Rc<Shard>,
}

impl SessionApi {
    /// A handler over `shard`.
    pub fn new(shard: Rc<Shard>) -> SessionApi {
        SessionApi { shard }
    }

    /// The answer to `request`, and its route for the counters. `started` is the handler's
    /// entry time (an accepted event's timestamp, so that it needs no clock read of its own).
    async fn answer(&self, request: &Request, started: Instant) -> (RouteKind, Response) {
        let route = match route(request.method(), request.path()) {
            Ok(route) => route,
            Err(e) => return (RouteKind::Unmatched, route_error(e)),
        };
        let kind = route.kind();
        let mut params = Params::new();
        if let Err(e) = request_params(request, &mut params) {
            return (kind, Response::error(e.status(), e.reason()));
        }
        (kind, self.dispatch(route, params, started).await)
    }

    async fn dispatch(&self, route: Route, params: Params, started: Instant) -> Response {
        match route {
            Route::Start => self.start(params),
            Route::Event { id, name } => self.event(&id, &name, params, started),
            Route::Request { id, name } => {
                reply::request(&self.shard, &id, &name, params, started).await
            }
            Route::Query { id } => self.query(&id),
            Route::Terminate { id } => self.terminate(&id),
            Route::Sessions => self.sessions(&params),
            Route::Help => ok(help()),
            Route::Health => self.health(),
            Route::Metrics => self.metrics(),
        }
    }

    fn start(&self, params: Params) -> Response {
        let Some(src) = param_str(&params, "src") else {
            return Response::error(400, "missing parameter 'src'");
        };
        if src.starts_with("http://") || src.starts_with("https://") {
            return Response::error(501, "documents over HTTP(S) are not supported yet");
        }
        let now_ms = crate::local::epoch_ms_now();
        let ahead_max_ms = self.shard.idealtime_ahead_max_ms;
        let start_at_ms = match idealtime::start_at_ms(&params, now_ms, ahead_max_ms) {
            Ok(at_ms) => at_ms,
            Err(refused) => return refused,
        };
        let data: Vec<(Box<str>, Value)> = params
            .iter()
            .filter(|(name, _)| name != "src" && name != "idealtime")
            .map(|(name, value)| (name.as_str().into(), Value::from_json(value)))
            .collect();
        let mut host = self.shard.host.borrow_mut();
        let doc = match host.load(Path::new(&src)) {
            Ok(doc) => doc,
            // Unreadable or invalid (FILE:LINE:COL): the caller's request is at fault.
            Err(e) => return Response::error(400, &e.to_string()),
        };
        let started = match start_at_ms {
            Some(at_ms) => host.start_session_at(doc, data, at_ms),
            None => host.start_session(doc, data),
        };
        let id = match started {
            Ok(key) => host.session_id(key).unwrap_or_default().to_string(),
            // Full shard, or no scope (JS heap): back-pressure, not the caller's fault.
            Err(e) => return Response::error(503, &e.to_string()),
        };
        drop(host);
        self.shard.metrics.session_started();
        self.shard.wake.wake();
        ok(json!({ "sessionid": id }))
    }

    fn event(&self, id: &str, name: &str, params: Params, started: Instant) -> Response {
        let data = match params.is_empty() {
            true => Value::Undefined,
            false => Value::Object(
                params
                    .iter()
                    .map(|(k, v)| (k.as_str().into(), Value::from_json(v)))
                    .collect(),
            ),
        };
        let sent = self
            .shard
            .host
            .borrow_mut()
            .send_event(id, Event::external(name, data));
        match sent {
            Ok(()) => {
                self.shard.metrics.event_accepted(started);
                self.shard.wake.wake();
                ok(json!({ "sessionid": id, "event": name, "queued": true }))
            }
            Err(e) => deliver_error(&e),
        }
    }

    fn query(&self, id: &str) -> Response {
        let Some(info) = self.shard.host.borrow_mut().query(id) else {
            return Response::error(404, "no such session");
        };
        ok(json!({
            "sessionid": id,
            "configuration": info.configuration,
            "datamodel": info.datamodel.to_json(),
            "document": info.document,
            "started": info.started,
            "started_at_ms": info.started_at_ms,
            "status": format!("{:?}", info.status),
        }))
    }

    fn terminate(&self, id: &str) -> Response {
        let terminated = self.shard.host.borrow_mut().terminate(id);
        match terminated {
            Ok(()) => {
                self.shard.metrics.session_terminated();
                self.shard.wake.wake();
                ok(json!({ "sessionid": id, "terminated": true }))
            }
            Err(e) => deliver_error(&e),
        }
    }

    fn sessions(&self, params: &Params) -> Response {
        let number = |name| param_str(params, name).and_then(|v| v.parse::<u32>().ok());
        let offset = number("offset").unwrap_or(0);
        let limit = number("limit")
            .unwrap_or(self.shard.page_max)
            .min(self.shard.page_max);
        let host = self.shard.host.borrow();
        let (page, total) = host.list(offset as usize, limit as usize);
        let ids: Vec<&str> = page.iter().map(|s| &*s.id).collect();
        ok(json!({ "sessions": ids, "offset": offset, "total": total }))
    }

    fn health(&self) -> Response {
        let sessions = self.shard.host.borrow().sessions();
        ok(json!({ "status": "ok", "sessions": sessions }))
    }

    /// `GET /metrics`: this shard's metrics (the connection's shard), Prometheus text.
    fn metrics(&self) -> Response {
        let sessions = self.shard.host.borrow().sessions();
        let mut text = String::with_capacity(METRICS_TEXT_BYTES);
        let sessions = u64::try_from(sessions).expect("a session count fits in u64");
        self.shard.metrics.render(sessions, &mut text);
        let host = self.shard.host.borrow();
        let (pending, dropped) = (host.requests_pending(), host.replies_dropped());
        self.shard.replies.render(pending, dropped, &mut text);
        let mut response = Response::new(200).with_header("Content-Type", CONTENT_TYPE);
        response.body = text.into_bytes();
        response
    }
}

/// The usual size of the `GET /metrics` text, reserved up front.
const METRICS_TEXT_BYTES: usize = 8 * 1024;

impl Handler for SessionApi {
    async fn handle(&self, request: &Request) -> Response {
        let started = Instant::now();
        let (route, response) = self.answer(request, started).await;
        self.shard.metrics.request(route, response.status, started);
        response
    }
}

fn route_error(e: RouteError) -> Response {
    match e {
        RouteError::NotFound => Response::error(404, "no such path"),
        RouteError::BadSegment => Response::error(400, "bad path encoding"),
        RouteError::MethodNotAllowed { allow } => {
            Response::error(405, "method not allowed").with_header("Allow", allow)
        }
    }
}

fn ok(body: serde_json::Value) -> Response {
    Response::json(200, body.to_string().into_bytes())
}

fn deliver_error(e: &DeliverError) -> Response {
    match e {
        DeliverError::UnknownSession => Response::error(404, "no such session"),
        other => Response::error(503, &other.to_string()),
    }
}

fn param_str(params: &Params, name: &str) -> Option<String> {
    let (_, value) = params.iter().find(|(n, _)| n == name)?;
    Some(match value {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    })
}

/// `GET /scxml/help`: the API in brief (the full description is `openapi.yaml`).
fn help() -> serde_json::Value {
    json!({
        "api": "Baton SCXML session API",
        "endpoints": [
            "POST /scxml/session/start  (src required; idealtime = epoch ms to start at; \
             other parameters initialise <data>)",
            "POST /scxml/session/{id}/event/{name}  (parameters become _event.data)",
            "POST /scxml/session/{id}/request/{name}  (as event; answered by <session:response>)",
            "GET  /scxml/session/{id}/query",
            "POST /scxml/session/{id}/terminate",
            "GET  /scxml/sessions?offset=&limit=",
            "GET  /scxml/help",
            "GET  /health",
            "GET  /metrics  (Prometheus text; the answering shard's metrics only)"
        ]
    })
}
