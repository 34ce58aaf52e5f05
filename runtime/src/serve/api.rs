//! The HTTP session API of one shard: start, event, query, terminate, list, help, health,
//! metrics.
//!
//! Every operation is synchronous on the shard's [`Host`] except a start from a URL, which
//! awaits the document fetch first; the handler wakes the shard's driver
//! ([`super::driver`]) afterwards so the new work runs. No `RefCell` borrow spans an
//! `.await`.
//! Each request is counted and timed into the shard's [`Metrics`]: two clock reads and one
//! histogram record per request.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Instant;

use engine::event::Event;
use engine::value::Value;
use protocols::http::params::{request_params, Params};
use protocols::http::server::Handler;
use protocols::http::{Request, Response};
use serde_json::json;

use super::driver::Wake;
use super::metrics::{Metrics, CONTENT_TYPE};
use super::route::{route, Route, RouteError, RouteKind};
use crate::documents::Documents;
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
    /// Documents fetched over HTTP(S), compiled and cached for this shard.
    pub documents: Documents,
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
            Route::Start => self.start(params).await,
            Route::Event { id, name } => self.event(&id, &name, params, started),
            Route::Request { .. } => {
                Response::error(501, "request/reply needs <session:response> (not yet)")
            }
            Route::Query { id } => self.query(&id),
            Route::Terminate { id } => self.terminate(&id),
            Route::Sessions => self.sessions(&params),
            Route::Help => ok(help()),
            Route::Health => self.health(),
            Route::Metrics => self.metrics(),
        }
    }

    /// Starts a session from `src` (a path or an http(s) URL), or from `alternate_url` when
    /// `src` cannot be fetched or compiled. The fetch awaits with no borrow of the host held.
    async fn start(&self, params: Params) -> Response {
        let Some(src) = param_str(&params, "src") else {
            return Response::error(400, "missing parameter 'src'");
        };
        let alternate = param_str(&params, "alternate_url");
        let data: Vec<(Box<str>, Value)> = params
            .iter()
            .filter(|(name, _)| !matches!(name.as_str(), "src" | "alternate_url" | "idealtime"))
            .map(|(name, value)| (name.as_str().into(), Value::from_json(value)))
            .collect();
        let opened = self
            .shard
            .documents
            .open(&self.shard.host, &src, alternate.as_deref());
        let doc = match opened.await {
            Ok(doc) => doc,
            // Unreadable or invalid (SRC:LINE:COL): 400; an upstream that failed: 502.
            Err(e) => return Response::error(e.status(), &e.to_string()),
        };
        let mut host = self.shard.host.borrow_mut();
        let started = host.start_session(doc, data);
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
            "POST /scxml/session/start  (src: path or http(s) URL, required; alternate_url: \
             tried when src fails; other parameters initialise <data>)",
            "POST /scxml/session/{id}/event/{name}  (parameters become _event.data)",
            "GET  /scxml/session/{id}/query",
            "POST /scxml/session/{id}/terminate",
            "GET  /scxml/sessions?offset=&limit=",
            "GET  /scxml/help",
            "GET  /health",
            "GET  /metrics  (Prometheus text; the answering shard's metrics only)"
        ]
    })
}
