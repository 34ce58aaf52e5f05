//! The HTTP session API of one shard: start, event, request, query, terminate, list, help,
//! health, metrics.
//!
//! A connection lands on any shard. A request naming a session (event, request, query,
//! terminate, `/basichttp/{id}`) whose id says it lives on another shard is forwarded there
//! over the mesh ([`super::peer`]) and answered with the home shard's response; an id that
//! names no running shard is 404. The home shard answers with the same local dispatch
//! ([`SessionApi::dispatch_here`]). The list, `/health` and `/metrics` ask every shard for
//! its part. A session is started on the shard that accepted the request.
//!
//! Local operations are synchronous on the shard's [`Host`], except a start from a URL,
//! which awaits the document fetch first; the handler wakes the shard's driver
//! ([`super::driver`]) afterwards so the new work runs. No `RefCell` borrow spans an
//! `.await`; a request (`.../request/{name}`) awaits the session's `<session:response>`
//! ([`super::reply`]) holding no borrow meanwhile. Each request is counted and timed into the answering shard's [`Metrics`]: two
//! clock reads and one histogram record per request; an event is counted where it is
//! queued (its home shard).

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::Instant;

use engine::event::Event;
use engine::value::Value;
use protocols::http::params::{request_params, Params};
use protocols::http::{Request, Response};
use serde_json::json;

use super::answer::{deliver_error, json_response, queued_answer, route_error, JsonAnswer};
use super::audit::Audit;
use super::authorize::{authorize, Forbidden};
use super::basichttp;
use super::driver::Wake;
use super::idealtime;
use super::metrics::{render, Metrics, ShardSnapshot, CONTENT_TYPE};
use super::peer::{Call, Home, Peers, SessionsPage};
use super::reply::{self, Replies};
use super::route::{route, Route, RouteKind, RoutingRoute};
use super::routing_api;
use crate::access::Principal;
use crate::config::ApplicationConfig;
use crate::documents::Documents;
use crate::local::basichttp::event_data;
use crate::local::Host;
use crate::orchestration::Orchestration;
use crate::shard::ShardId;

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
    /// The shard's audit log: admin actions and refused requests.
    pub audit: Audit,
    /// The other shards: where requests for their sessions go.
    pub peers: Peers,
    /// Documents fetched over HTTP(S), compiled and cached for this shard.
    pub documents: Documents,
    /// The request/reply exchanges waiting for a `<session:response>`.
    pub replies: Replies,
    /// How far ahead a start's `idealtime` may be, in ms (`limits.idealtime_ahead_max_ms`).
    pub idealtime_ahead_max_ms: u32,
    /// Largest datamodel a query answers with, as JSON bytes (`limits.query_bytes_max`);
    /// a reload changes it.
    pub query_bytes_max: Cell<u32>,
    /// The provisioned application (`[application]`): a start whose `src` is its `name`
    /// starts its document. A reload replaces it.
    pub application: RefCell<ApplicationConfig>,
    /// The shard that owns routing (`routing.shard`).
    pub routing_shard: ShardId,
    /// The orchestration, on the routing shard only.
    pub orchestration: Option<Rc<RefCell<Orchestration>>>,
    /// Routing jobs (fetches, messages, starts) in flight on this shard.
    pub jobs_in_flight: Cell<u32>,
    /// Answers for SIP calls the orchestration decided, for the SIP endpoint ([`super::sip`]).
    pub call_orders: RefCell<Vec<crate::orchestration::CallOrder>>,
    /// The SIP endpoint, on the routing shard when a SIP listener is configured.
    pub sip: RefCell<Option<Rc<super::sip::SipEndpoint>>>,
    /// The routing points (`[[routing_point]]`); a reload replaces them.
    pub routing_points: RefCell<Vec<crate::config::RoutingPointConfig>>,
}

impl Shard {
    /// `src` itself, or the provisioned application's document when `src` is its name.
    pub fn application_src(&self, src: String) -> String {
        let application = self.application.borrow();
        match src == application.name {
            true => application.src.clone(),
            false => src,
        }
    }
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

    /// The shard this handler serves.
    pub fn shard(&self) -> &Shard {
        &self.shard
    }

    /// The answer to `request` from `principal`, and its route for the counters; `Err`
    /// when the principal may not use the route. `started` is the handler's entry time (an
    /// accepted event's timestamp, so that it needs no clock read of its own).
    async fn answer(
        &self,
        request: &Request,
        principal: &Principal,
        started: Instant,
    ) -> (RouteKind, Result<Response, Forbidden>) {
        let mut route = match route(request.method(), request.path()) {
            Ok(route) => route,
            Err(e) => return (RouteKind::Unmatched, Ok(route_error(e))),
        };
        let kind = route.kind();
        if let Err(forbidden) = authorize(principal, &mut route) {
            return (kind, Err(forbidden));
        }
        (kind, Ok(self.answer_route(request, route, started).await))
    }

    async fn answer_route(&self, request: &Request, route: Route, started: Instant) -> Response {
        // Its event carries the request text, so it is built here, from the request.
        if let Route::BasicHttp { id } = &route {
            let shard = &self.shard;
            return Box::pin(basichttp::inbound::answer(shard, id, request, started)).await;
        }
        let mut params = Params::new();
        if let Err(e) = request_params(request, &mut params) {
            return Response::error(e.status(), e.reason());
        }
        self.dispatch(route, params, started).await
    }

    /// Answers a routing request on the routing shard, forwarding it there if need be (an
    /// offer stream's body crosses back as a channel of its events).
    async fn dispatch_routing(
        &self,
        routing: RoutingRoute,
        params: Params,
        started: Instant,
    ) -> Response {
        let owner = self.shard.routing_shard;
        if owner == self.shard.peers.here() {
            return routing_api::answer_here(&self.shard, routing, params).await;
        }
        self.shard.metrics.request_forwarded();
        let route = Route::Routing(routing);
        let call = |reply| Call::Api {
            route,
            params,
            started,
            reply,
        };
        match self.shard.peers.ask(owner, None, call).await {
            Ok(response) => response,
            Err(error) => error.response(),
        }
    }

    /// Answers here, or forwards to the home shard of the session the route names.
    async fn dispatch(&self, route: Route, params: Params, started: Instant) -> Response {
        if let Route::Routing(routing) = route {
            return Box::pin(self.dispatch_routing(routing, params, started)).await;
        }
        if let Some(id) = session_of(&route) {
            match self.shard.peers.home(id) {
                Home::Here(_) => {}
                Home::Nowhere => return Response::error(404, "no such session"),
                Home::Peer(to) => {
                    self.shard.metrics.request_forwarded();
                    let peers = &self.shard.peers;
                    // Boxed, as every rare await below: the future of the common
                    // requests (start from a file, event, terminate) stays small to move.
                    return Box::pin(peers.forward(to, route, params, started)).await;
                }
            }
        }
        self.dispatch_here(route, params, started).await
    }

    /// Answers on this shard: a route naming a session must name one of this shard.
    pub async fn dispatch_here(&self, route: Route, params: Params, started: Instant) -> Response {
        match route {
            Route::Start => self.start(params).await,
            Route::Event { id, name } => self.event(&id, &name, params, started),
            Route::Request { id, name } => {
                Box::pin(reply::request(&self.shard, &id, &name, params, started)).await
            }
            Route::Query { id } => self.query(&id),
            Route::Terminate { id } => self.terminate(&id),
            Route::Sessions => Box::pin(self.sessions(&params)).await,
            Route::Help => json_response(200, &help()),
            Route::Health => Box::pin(self.health()).await,
            Route::Metrics => Box::pin(self.metrics()).await,
            Route::Routing(routing) => {
                Box::pin(routing_api::answer_here(&self.shard, routing, params)).await
            }
            // Answered by `answer`, which has the request; never forwarded as a route.
            Route::BasicHttp { .. } => {
                Response::error(500, "a Basic HTTP request is answered where it arrives")
            }
        }
    }

    /// Starts a session from `src` (a path, an http(s) URL, or the name of the provisioned
    /// application), or from `alternate_url` when `src` cannot be fetched or compiled. The
    /// fetch awaits with no borrow of the host held.
    async fn start(&self, params: Params) -> Response {
        let Some(src) = param_str(&params, "src") else {
            return Response::error(400, "missing parameter 'src'");
        };
        let src = self.application_src(src);
        let alternate = param_str(&params, "alternate_url");
        let ahead_max_ms = self.shard.idealtime_ahead_max_ms;
        let start_at_ms =
            match idealtime::start_at_ms(&params, crate::local::epoch_ms_now, ahead_max_ms) {
                Ok(at_ms) => at_ms,
                Err(refused) => return refused,
            };
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
        let started = match start_at_ms {
            Some(at_ms) => host.start_session_at(doc, data, at_ms),
            None => host.start_session(doc, data),
        };
        let answer = match started {
            Ok(key) => {
                JsonAnswer::new().string("sessionid", host.session_id(key).unwrap_or_default())
            }
            // Full shard, or no scope (JS heap): back-pressure, not the caller's fault.
            Err(e) => return Response::error(503, &e.to_string()),
        };
        drop(host);
        self.shard.metrics.session_started();
        self.shard.wake.wake();
        answer.ok()
    }

    /// `src` itself, or the provisioned application's document when `src` is its name.
    fn application_src(&self, src: String) -> String {
        self.shard.application_src(src)
    }

    fn event(&self, id: &str, name: &str, params: Params, started: Instant) -> Response {
        let event = Event::external(name, event_data(&params));
        match basichttp::inbound::queue_here(&self.shard, id, event, started) {
            Ok(()) => queued_answer(id, name),
            Err(e) => deliver_error(&e),
        }
    }

    fn query(&self, id: &str) -> Response {
        let Some(info) = self.shard.host.borrow_mut().query(id) else {
            return Response::error(404, "no such session");
        };
        let mut body = json!({
            "sessionid": id,
            "configuration": info.configuration,
            "datamodel": info.datamodel.to_json(),
            "document": info.document,
            "started": info.started,
            "started_at_ms": info.started_at_ms,
            "status": format!("{:?}", info.status),
        });
        // Written under the bound: an oversized datamodel is left out, not sent (the rest
        // of the answer is small), so a query never costs more than its share.
        let bytes_max = self.shard.query_bytes_max.get();
        if json_bytes_above(&body["datamodel"], bytes_max) {
            body["datamodel"] = serde_json::Value::Null;
            body["datamodel_omitted"] = json!(format!(
                "the datamodel's JSON is larger than limits.query_bytes_max ({bytes_max} bytes)"
            ));
        }
        json_response(200, &body)
    }

    fn terminate(&self, id: &str) -> Response {
        let terminated = self.shard.host.borrow_mut().terminate(id);
        match terminated {
            Ok(()) => {
                if let Some(orchestration) = &self.shard.orchestration {
                    let now_ms = crate::local::epoch_ms_now();
                    orchestration.borrow_mut().session_ended(id, now_ms);
                    routing_api::pump(&self.shard);
                }
                self.shard.metrics.session_terminated();
                self.shard.wake.wake();
                let answer = JsonAnswer::new().string("sessionid", id);
                answer.boolean("terminated", true).ok()
            }
            Err(e) => deliver_error(&e),
        }
    }

    /// `GET /scxml/sessions`: every shard's top-level sessions, paged in a stable order
    /// across shards (by shard, then in each shard's own slot order); `total` is the sum.
    async fn sessions(&self, params: &Params) -> Response {
        let offset = param_str(params, "offset").and_then(|v| v.parse::<u64>().ok());
        let limit = param_str(params, "limit").and_then(|v| v.parse::<u32>().ok());
        let offset = offset.unwrap_or(0);
        let limit = limit
            .unwrap_or(self.shard.page_max)
            .min(self.shard.page_max);
        let peers = &self.shard.peers;
        let mut ids: Vec<Box<str>> = Vec::new();
        // Top-level sessions of the shards before the one being asked.
        let mut before: u64 = 0;
        for shard in (0..peers.shards()).map(crate::shard::ShardId) {
            let skip = offset.saturating_sub(before);
            let room = limit - u32::try_from(ids.len()).expect("a page fits its limit");
            let page = if shard == peers.here() {
                self.sessions_page(skip, room)
            } else {
                let call = |reply| Call::Sessions {
                    offset: skip,
                    limit: room,
                    reply,
                };
                match peers.ask(shard, None, call).await {
                    Ok(page) => page,
                    Err(error) => return error.response(),
                }
            };
            assert!(page.ids.len() <= room as usize);
            before += page.total;
            ids.extend(page.ids);
        }
        let body = json!({ "sessions": ids, "offset": offset, "total": before });
        json_response(200, &body)
    }

    /// Up to `limit` of this shard's top-level sessions from the `offset`-th, and its total.
    pub fn sessions_page(&self, offset: u64, limit: u32) -> SessionsPage {
        let offset = usize::try_from(offset).unwrap_or(usize::MAX);
        let host = self.shard.host.borrow();
        let (page, total) = host.list(offset, limit as usize);
        SessionsPage {
            ids: page.into_iter().map(|s| s.id).collect(),
            total: u64::try_from(total).expect("a session count fits in u64"),
        }
    }

    /// This shard's live sessions, top-level and invoked.
    pub fn live_sessions(&self) -> u64 {
        let sessions = self.shard.host.borrow().sessions();
        u64::try_from(sessions).expect("a session count fits in u64")
    }

    /// This shard's metrics now.
    pub fn snapshot(&self) -> ShardSnapshot {
        let host = self.shard.host.borrow();
        let (pending, dropped) = (host.requests_pending(), host.replies_dropped());
        let replies = self.shard.replies.counts(pending, dropped);
        let documents = host.documents_cached() + self.shard.documents.cached();
        let throttled = host.sessions_throttled();
        drop(host);
        let snapshot = self.shard.metrics.snapshot(self.live_sessions());
        let routing = self.shard.orchestration.as_ref();
        let mut routing = routing.map(|orchestration| orchestration.borrow().gauges());
        if let (Some(gauges), Some(sip)) = (&mut routing, &*self.shard.sip.borrow()) {
            gauges.sip = sip.metrics();
        }
        let snapshot = snapshot.with_host(documents, throttled);
        snapshot.with_replies(replies).with_routing(routing)
    }

    /// `GET /health`: every shard's live sessions; 503 (`degraded`) when a shard does not
    /// answer, naming it.
    async fn health(&self) -> Response {
        let peers = &self.shard.peers;
        let mut answers = peers.ask_each(|reply| Call::Health { reply }).await;
        answers.push((peers.here(), Ok(self.live_sessions())));
        answers.sort_by_key(|(shard, _)| *shard);
        let mut sessions: u64 = 0;
        let mut healthy = true;
        let shards: Vec<serde_json::Value> = answers
            .into_iter()
            .map(|(shard, answer)| match answer {
                Ok(count) => {
                    sessions += count;
                    json!({ "shard": shard.0, "sessions": count })
                }
                Err(error) => {
                    healthy = false;
                    json!({ "shard": shard.0, "error": error.to_string() })
                }
            })
            .collect();
        let (status, word) = if healthy {
            (200, "ok")
        } else {
            (503, "degraded")
        };
        let application = self.shard.application.borrow().name.clone();
        let body = json!({
            "status": word,
            "application": application,
            "sessions": sessions,
            "shards": shards,
        });
        json_response(status, &body)
    }

    /// `GET /metrics`: every shard's metrics, labelled `shard`, in one Prometheus text.
    async fn metrics(&self) -> Response {
        let peers = &self.shard.peers;
        let answers = peers.ask_each(|reply| Call::Metrics { reply }).await;
        let mut answered = vec![self.snapshot()];
        let mut missing = Vec::new();
        for (shard, answer) in answers {
            match answer {
                Ok(snapshot) => answered.push(snapshot),
                Err(_) => missing.push(shard.0),
            }
        }
        answered.sort_by_key(|snapshot| snapshot.shard);
        let mut text = String::with_capacity(METRICS_TEXT_BYTES * answered.len());
        render(&answered, &missing, &mut text);
        let mut response = Response::new(200).with_header("Content-Type", CONTENT_TYPE);
        response.body = text.into_bytes();
        response
    }
}

/// The usual size of one shard's part of the `GET /metrics` text, reserved up front.
const METRICS_TEXT_BYTES: usize = 8 * 1024;

impl SessionApi {
    /// Answers `request` from `principal`, counted and timed; `Err` when the principal's
    /// roles do not allow it (the caller answers 403 and audits it).
    pub async fn handle_as(
        &self,
        request: &Request,
        principal: &Principal,
    ) -> Result<Response, Forbidden> {
        let started = Instant::now();
        let (route, answer) = self.answer(request, principal, started).await;
        let status = answer.as_ref().map_or(403, |response| response.status);
        self.shard.metrics.request(route, status, started);
        answer
    }
}

/// Whether `value` written as JSON takes more than `bytes_max` bytes; stops writing at the
/// bound, so the check costs at most that much.
fn json_bytes_above(value: &serde_json::Value, bytes_max: u32) -> bool {
    struct Bounded(usize);
    impl std::io::Write for Bounded {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            match self.0.checked_sub(buf.len()) {
                Some(left) => {
                    self.0 = left;
                    Ok(buf.len())
                }
                None => Err(std::io::ErrorKind::WriteZero.into()),
            }
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let room = usize::try_from(bytes_max).unwrap_or(usize::MAX);
    serde_json::to_writer(Bounded(room), value).is_err()
}

/// The session a route names, if any.
fn session_of(route: &Route) -> Option<&str> {
    match route {
        Route::Event { id, .. } | Route::Request { id, .. } => Some(id.as_str()),
        Route::Query { id } | Route::Terminate { id } => Some(id.as_str()),
        Route::BasicHttp { id } => Some(id.as_str()),
        Route::Start | Route::Sessions | Route::Help | Route::Health | Route::Metrics => None,
        Route::Routing(_) => None,
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
             tried when src fails; idealtime = epoch ms to start at; other parameters \
             initialise <data>)",
            "POST /scxml/session/{id}/event/{name}  (parameters become _event.data)",
            "POST /scxml/session/{id}/request/{name}  (as event; answered by <session:response>)",
            "GET  /scxml/session/{id}/query",
            "POST /scxml/session/{id}/terminate",
            "GET  /scxml/sessions?offset=&limit=",
            "GET  /scxml/help",
            "GET  /health  (every shard)",
            "GET  /metrics  (Prometheus text; every shard, label shard)",
            "ANY  /basichttp/{id}  (W3C Basic HTTP Event I/O Processor: _scxmleventname \
             names the event, else HTTP.<METHOD>; other parameters become _event.data)"
        ]
    })
}
