//! The HTTP session API's paths, as a pure function of method and path. The paths are the
//! established orchestration-server ones, so existing integrations port over, plus the
//! W3C Basic HTTP Event I/O Processor's `/basichttp/{id}`.

use std::borrow::Cow;

use protocols::http::params::{decode_path_segment, path_segments};
use protocols::http::Method;

/// What a request asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Route {
    /// `POST /scxml/session/start`.
    Start,
    /// `POST /scxml/session/{id}/event/{name}`.
    Event {
        /// The session id.
        id: String,
        /// The event name.
        name: String,
    },
    /// `POST /scxml/session/{id}/request/{name}`.
    Request {
        /// The session id.
        id: String,
        /// The event name.
        name: String,
    },
    /// `GET /scxml/session/{id}/query`.
    Query {
        /// The session id.
        id: String,
    },
    /// `POST /scxml/session/{id}/terminate`.
    Terminate {
        /// The session id.
        id: String,
    },
    /// `GET /scxml/sessions`.
    Sessions,
    /// `GET /scxml/help`.
    Help,
    /// `GET /health`.
    Health,
    /// `GET /metrics`.
    Metrics,
    /// `/basichttp/{id}`, any method: an event for the session through the W3C Basic HTTP
    /// Event I/O Processor (its `_ioprocessors` location).
    BasicHttp {
        /// The session id.
        id: String,
    },
    /// `/interactions...`, `/agents...` and `/routing/...`: answered by the routing shard.
    Routing(RoutingRoute),
}

/// What an interaction, agent or statistics request asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RoutingRoute {
    /// `POST /interactions`: a new interaction through an entry point.
    Create,
    /// `GET /interactions/{id}`.
    Interaction {
        /// The interaction id.
        id: String,
        /// Set for an agent's principal: only an interaction of this agent is shown.
        as_agent: Option<String>,
    },
    /// `POST /interactions/{id}/accept|reject|complete`.
    Answer {
        /// The interaction id.
        id: String,
        /// What the agent (or integrator) says.
        answer: OfferAnswer,
        /// Set for an agent's principal: the answer is this agent's, for an interaction
        /// offered to or taken by it.
        as_agent: Option<String>,
    },
    /// `PUT /agents/{id}`: create or replace an agent's profile.
    PutAgent {
        /// The agent id.
        id: String,
    },
    /// `GET /agents/{id}`.
    Agent {
        /// The agent id.
        id: String,
    },
    /// `DELETE /agents/{id}`.
    DeleteAgent {
        /// The agent id.
        id: String,
    },
    /// `POST /agents/{id}/state`.
    AgentState {
        /// The agent id.
        id: String,
    },
    /// `GET /agents/{id}/offers`: the agent's offer stream (Server-Sent Events).
    Offers {
        /// The agent id.
        id: String,
    },
    /// `GET /routing/statistics?targets=...&media=...`.
    Statistics,
}

/// An answer to an interaction's offer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OfferAnswer {
    /// The agent takes it.
    Accept,
    /// The agent declines it.
    Reject,
    /// The work is done.
    Complete,
}

/// A route without its parameters: the `route` label of the request counters. Requests that
/// match no route (404, 405, a bad path) count as [`RouteKind::Unmatched`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum RouteKind {
    /// [`Route::Start`].
    Start,
    /// [`Route::Event`].
    Event,
    /// [`Route::Request`].
    Request,
    /// [`Route::Query`].
    Query,
    /// [`Route::Terminate`].
    Terminate,
    /// [`Route::Sessions`].
    Sessions,
    /// [`Route::Help`].
    Help,
    /// [`Route::Health`].
    Health,
    /// [`Route::Metrics`].
    Metrics,
    /// [`Route::BasicHttp`].
    BasicHttp,
    /// `/interactions...` and `/routing/...`.
    Interactions,
    /// `/agents...`.
    Agents,
    /// An `/admin/` path ([`AdminRoute`]), answered or refused.
    Admin,
    /// No route matched.
    Unmatched,
}

impl RouteKind {
    /// Every kind, in index order.
    pub const ALL: [RouteKind; 14] = [
        RouteKind::Start,
        RouteKind::Event,
        RouteKind::Request,
        RouteKind::Query,
        RouteKind::Terminate,
        RouteKind::Sessions,
        RouteKind::Help,
        RouteKind::Health,
        RouteKind::Metrics,
        RouteKind::BasicHttp,
        RouteKind::Interactions,
        RouteKind::Agents,
        RouteKind::Admin,
        RouteKind::Unmatched,
    ];

    /// The position in [`RouteKind::ALL`] (an index into per-route counters).
    pub fn index(self) -> usize {
        usize::from(self as u8)
    }

    /// The Prometheus label value.
    pub fn name(self) -> &'static str {
        match self {
            RouteKind::Start => "start",
            RouteKind::Event => "event",
            RouteKind::Request => "request",
            RouteKind::Query => "query",
            RouteKind::Terminate => "terminate",
            RouteKind::Sessions => "sessions",
            RouteKind::Help => "help",
            RouteKind::Health => "health",
            RouteKind::Metrics => "metrics",
            RouteKind::BasicHttp => "basichttp",
            RouteKind::Interactions => "interactions",
            RouteKind::Agents => "agents",
            RouteKind::Admin => "admin",
            RouteKind::Unmatched => "unmatched",
        }
    }
}

impl Route {
    /// The route's kind (its counter label).
    pub fn kind(&self) -> RouteKind {
        match self {
            Route::Start => RouteKind::Start,
            Route::Event { .. } => RouteKind::Event,
            Route::Request { .. } => RouteKind::Request,
            Route::Query { .. } => RouteKind::Query,
            Route::Terminate { .. } => RouteKind::Terminate,
            Route::Sessions => RouteKind::Sessions,
            Route::Help => RouteKind::Help,
            Route::Health => RouteKind::Health,
            Route::Metrics => RouteKind::Metrics,
            Route::BasicHttp { .. } => RouteKind::BasicHttp,
            Route::Routing(
                RoutingRoute::PutAgent { .. }
                | RoutingRoute::Agent { .. }
                | RoutingRoute::DeleteAgent { .. }
                | RoutingRoute::AgentState { .. }
                | RoutingRoute::Offers { .. },
            ) => RouteKind::Agents,
            Route::Routing(_) => RouteKind::Interactions,
        }
    }
}

/// Why no route matched.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RouteError {
    /// No such path: 404.
    NotFound,
    /// The path exists for other methods: 405 with `Allow`.
    MethodNotAllowed {
        /// The method the path accepts.
        allow: &'static str,
    },
    /// A path segment is not valid percent-encoded UTF-8: 400.
    BadSegment,
}

/// Most path segments any route has; a longer path matches nothing.
const SEGMENTS_MAX: usize = 5;

/// Maps a request line to a [`Route`]. Allocates only the id and name it returns: the
/// segments are borrowed from the path unless they are percent-encoded.
pub fn route(method: Method, path: &str) -> Result<Route, RouteError> {
    let mut segments: [Cow<'_, str>; SEGMENTS_MAX] = Default::default();
    let mut count = 0;
    for raw in path_segments(path) {
        if count == SEGMENTS_MAX {
            return Err(RouteError::NotFound);
        }
        segments[count] = decode_path_segment(raw).map_err(|_| RouteError::BadSegment)?;
        count += 1;
    }
    let parts: [&str; SEGMENTS_MAX] = std::array::from_fn(|i| &*segments[i]);
    let (route, allow) = match &parts[..count] {
        ["scxml", "session", "start"] => (Route::Start, "POST"),
        ["scxml", "session", id, "event", name] => (event(id, name), "POST"),
        ["scxml", "session", id, "request", name] => (request(id, name), "POST"),
        ["scxml", "session", id, "query"] => (Route::Query { id: id.to_string() }, "GET"),
        ["scxml", "session", id, "terminate"] => (Route::Terminate { id: id.to_string() }, "POST"),
        ["scxml", "sessions"] => (Route::Sessions, "GET"),
        ["scxml", "help"] => (Route::Help, "GET"),
        ["health"] => (Route::Health, "GET"),
        ["metrics"] => (Route::Metrics, "GET"),
        // The W3C processor takes any method (`HTTP.<METHOD>` names an unnamed event).
        ["basichttp", id] => return Ok(Route::BasicHttp { id: id.to_string() }),
        ["interactions"] => (Route::Routing(RoutingRoute::Create), "POST"),
        ["interactions", id] => (
            routing(RoutingRoute::Interaction {
                id: id.to_string(),
                as_agent: None,
            }),
            "GET",
        ),
        ["interactions", id, answer] => (offer_answer(id, answer)?, "POST"),
        ["agents", id] => return agent_route(method, id),
        ["agents", id, "state"] => (
            routing(RoutingRoute::AgentState { id: id.to_string() }),
            "POST",
        ),
        ["agents", id, "offers"] => (routing(RoutingRoute::Offers { id: id.to_string() }), "GET"),
        ["routing", "statistics"] => (routing(RoutingRoute::Statistics), "GET"),
        _ => return Err(RouteError::NotFound),
    };
    let accepted = match allow {
        "GET" => matches!(method, Method::Get | Method::Head),
        _ => method == Method::Post,
    };
    if !accepted {
        return Err(RouteError::MethodNotAllowed { allow });
    }
    Ok(route)
}

/// What an `/admin/` request asks for. Kept apart from [`Route`]: admin paths are served
/// only on listeners with `admin = true`, by [`super::admin`], before the session API.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AdminRoute {
    /// `POST /admin/reload`: re-read the configuration and apply it.
    Reload,
}

/// Whether `path` is under `/admin`, a prefix no session API path has. A prefix test, so
/// that the session API's requests pay next to nothing for the admin endpoints.
pub fn is_admin_path(path: &str) -> bool {
    match path.strip_prefix("/admin") {
        Some(rest) => rest.is_empty() || rest.starts_with('/'),
        None => false,
    }
}

/// Maps an `/admin/` request line to an [`AdminRoute`].
pub fn admin_route(method: Method, path: &str) -> Result<AdminRoute, RouteError> {
    let mut segments = path_segments(path);
    match (segments.next(), segments.next(), segments.next()) {
        (Some("admin"), Some("reload"), None) if method == Method::Post => Ok(AdminRoute::Reload),
        (Some("admin"), Some("reload"), None) => {
            Err(RouteError::MethodNotAllowed { allow: "POST" })
        }
        _ => Err(RouteError::NotFound),
    }
}

fn routing(route: RoutingRoute) -> Route {
    Route::Routing(route)
}

fn offer_answer(id: &str, answer: &str) -> Result<Route, RouteError> {
    let answer = match answer {
        "accept" => OfferAnswer::Accept,
        "reject" => OfferAnswer::Reject,
        "complete" => OfferAnswer::Complete,
        _ => return Err(RouteError::NotFound),
    };
    let id = id.to_string();
    let as_agent = None;
    Ok(routing(RoutingRoute::Answer {
        id,
        answer,
        as_agent,
    }))
}

/// `/agents/{id}` takes GET (and HEAD), PUT and DELETE.
fn agent_route(method: Method, id: &str) -> Result<Route, RouteError> {
    let id = id.to_string();
    match method {
        Method::Get | Method::Head => Ok(routing(RoutingRoute::Agent { id })),
        Method::Put => Ok(routing(RoutingRoute::PutAgent { id })),
        Method::Delete => Ok(routing(RoutingRoute::DeleteAgent { id })),
        _ => Err(RouteError::MethodNotAllowed {
            allow: "GET, PUT, DELETE",
        }),
    }
}

fn event(id: &str, name: &str) -> Route {
    Route::Event {
        id: id.to_string(),
        name: name.to_string(),
    }
}

fn request(id: &str, name: &str) -> Route {
    Route::Request {
        id: id.to_string(),
        name: name.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_map_to_routes() {
        assert_eq!(
            route(Method::Post, "/scxml/session/start"),
            Ok(Route::Start)
        );
        assert_eq!(
            route(Method::Post, "/scxml/session/a%2Fb/event/call.offered"),
            Ok(Route::Event {
                id: "a/b".into(),
                name: "call.offered".into()
            })
        );
        assert_eq!(
            route(Method::Get, "/scxml/session/x/query"),
            Ok(Route::Query { id: "x".into() })
        );
        assert_eq!(route(Method::Get, "/health/"), Ok(Route::Health));
        assert_eq!(route(Method::Get, "/metrics"), Ok(Route::Metrics));
        for method in [Method::Post, Method::Get, Method::Put] {
            assert_eq!(
                route(method, "/basichttp/AB%43"),
                Ok(Route::BasicHttp { id: "ABC".into() })
            );
        }
        assert_eq!(route(Method::Post, "/basichttp"), Err(RouteError::NotFound));
        assert_eq!(
            route(Method::Post, "/interactions/0a/reject"),
            Ok(Route::Routing(RoutingRoute::Answer {
                id: "0a".into(),
                answer: OfferAnswer::Reject,
                as_agent: None,
            }))
        );
        assert_eq!(
            route(Method::Put, "/agents/alice"),
            Ok(Route::Routing(RoutingRoute::PutAgent {
                id: "alice".into()
            }))
        );
        assert_eq!(
            route(Method::Post, "/agents/alice"),
            Err(RouteError::MethodNotAllowed {
                allow: "GET, PUT, DELETE"
            })
        );
        assert_eq!(
            route(Method::Post, "/interactions/0a/transfer"),
            Err(RouteError::NotFound)
        );
        assert_eq!(
            route(Method::Post, "/basichttp/a/b"),
            Err(RouteError::NotFound)
        );
    }

    #[test]
    fn route_kinds_index_their_table() {
        for (index, kind) in RouteKind::ALL.iter().enumerate() {
            assert_eq!(kind.index(), index);
        }
        let names: std::collections::HashSet<_> = RouteKind::ALL.map(RouteKind::name).into();
        assert_eq!(names.len(), RouteKind::ALL.len());
        assert_eq!(Route::Metrics.kind(), RouteKind::Metrics);
    }

    #[test]
    fn admin_paths() {
        assert!(is_admin_path("/admin/reload"));
        assert!(is_admin_path("/admin"));
        assert!(!is_admin_path("/administrator"));
        assert!(!is_admin_path("/scxml/session/admin/query"));
        assert_eq!(
            admin_route(Method::Post, "/admin/reload/"),
            Ok(AdminRoute::Reload)
        );
        assert_eq!(
            admin_route(Method::Get, "/admin/reload"),
            Err(RouteError::MethodNotAllowed { allow: "POST" })
        );
        assert_eq!(
            admin_route(Method::Post, "/admin/config"),
            Err(RouteError::NotFound)
        );
        assert_eq!(
            route(Method::Post, "/admin/reload"),
            Err(RouteError::NotFound)
        );
    }

    #[test]
    fn wrong_method_and_unknown_path() {
        assert_eq!(
            route(Method::Get, "/scxml/session/start"),
            Err(RouteError::MethodNotAllowed { allow: "POST" })
        );
        assert_eq!(route(Method::Get, "/nope"), Err(RouteError::NotFound));
        assert_eq!(
            route(Method::Post, "/scxml/session/x/event/e/extra"),
            Err(RouteError::NotFound)
        );
        assert_eq!(
            route(Method::Get, "/scxml/session/%ff/query"),
            Err(RouteError::BadSegment)
        );
    }
}
