//! The HTTP session API of one shard: start, event, query, terminate, list, help, health.
//!
//! Every operation is synchronous on the shard's [`Host`]; the handler wakes the shard's
//! driver ([`super::driver`]) afterwards so the new work runs. The `RefCell` borrow never
//! spans an `.await` (there is none: answers are ready as soon as the host has them).

use std::cell::RefCell;
use std::path::Path;
use std::rc::Rc;

use engine::event::Event;
use engine::value::Value;
use protocols::http::params::{request_params, Params};
use protocols::http::server::Handler;
use protocols::http::{Request, Response};
use serde_json::json;

use super::driver::Wake;
use super::route::{route, Route, RouteError};
use crate::local::{DeliverError, Host, LoadError, StartError};

/// What one shard's handlers share.
pub struct Shard {
    /// The shard's sessions.
    pub host: RefCell<Host>,
    /// Wakes the shard's driver after new work is queued.
    pub wake: Wake,
    /// Sessions listed per page at most.
    pub page_max: u32,
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

    fn answer(&self, request: &Request) -> Response {
        let route = match route(request.method(), request.path()) {
            Ok(route) => route,
            Err(RouteError::NotFound) => return Response::error(404, "no such path"),
            Err(RouteError::BadSegment) => return Response::error(400, "bad path encoding"),
            Err(RouteError::MethodNotAllowed { allow }) => {
                return Response::error(405, "method not allowed").with_header("Allow", allow)
            }
        };
        let mut params = Params::new();
        if let Err(e) = request_params(request, &mut params) {
            return Response::error(e.status(), e.reason());
        }
        match route {
            Route::Start => self.start(params),
            Route::Event { id, name } => self.event(&id, &name, params),
            Route::Request { .. } => {
                Response::error(501, "request/reply needs <session:response> (not yet)")
            }
            Route::Query { id } => self.query(&id),
            Route::Terminate { id } => self.terminate(&id),
            Route::Sessions => self.sessions(&params),
            Route::Help => ok(help()),
            Route::Health => self.health(),
        }
    }

    fn start(&self, params: Params) -> Response {
        let Some(src) = param_str(&params, "src") else {
            return Response::error(400, "missing parameter 'src'");
        };
        if src.starts_with("http://") || src.starts_with("https://") {
            return Response::error(501, "documents over HTTP(S) are not supported yet");
        }
        let data: Vec<(Box<str>, Value)> = params
            .iter()
            .filter(|(name, _)| name != "src" && name != "idealtime")
            .map(|(name, value)| (name.as_str().into(), Value::from_json(value)))
            .collect();
        let mut host = self.shard.host.borrow_mut();
        let doc = match host.load(Path::new(&src)) {
            Ok(doc) => doc,
            Err(LoadError::Compile(e)) => return Response::error(400, &e.to_string()),
            Err(e @ LoadError::Read { .. }) => return Response::error(400, &e.to_string()),
        };
        let started = host.start_session(doc, data);
        let id = match started {
            Ok(key) => host.session_id(key).unwrap_or_default().to_string(),
            Err(e @ StartError::Full(_)) => return Response::error(503, &e.to_string()),
            Err(e) => return Response::error(503, &e.to_string()),
        };
        drop(host);
        self.shard.wake.wake();
        ok(json!({ "sessionid": id }))
    }

    fn event(&self, id: &str, name: &str, params: Params) -> Response {
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
}

impl Handler for SessionApi {
    async fn handle(&self, request: &Request) -> Response {
        self.answer(request)
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
            "POST /scxml/session/start  (src required; other parameters initialise <data>)",
            "POST /scxml/session/{id}/event/{name}  (parameters become _event.data)",
            "GET  /scxml/session/{id}/query",
            "POST /scxml/session/{id}/terminate",
            "GET  /scxml/sessions?offset=&limit=",
            "GET  /scxml/help",
            "GET  /health"
        ]
    })
}
