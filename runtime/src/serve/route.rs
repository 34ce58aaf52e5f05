//! The HTTP session API's paths, as a pure function of method and path. The paths are the
//! established orchestration-server ones, so existing integrations port over.

use protocols::http::params::decode_path_segment;
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

/// Maps a request line to a [`Route`].
pub fn route(method: Method, path: &str) -> Result<Route, RouteError> {
    let mut segments: Vec<String> = Vec::with_capacity(6);
    for raw in path.split('/').filter(|s| !s.is_empty()) {
        let segment = decode_path_segment(raw).map_err(|_| RouteError::BadSegment)?;
        segments.push(segment.into_owned());
    }
    let parts: Vec<&str> = segments.iter().map(String::as_str).collect();
    let (route, allow) = match parts.as_slice() {
        ["scxml", "session", "start"] => (Route::Start, "POST"),
        ["scxml", "session", id, "event", name] => (event(id, name), "POST"),
        ["scxml", "session", id, "request", name] => (request(id, name), "POST"),
        ["scxml", "session", id, "query"] => (Route::Query { id: id.to_string() }, "GET"),
        ["scxml", "session", id, "terminate"] => (Route::Terminate { id: id.to_string() }, "POST"),
        ["scxml", "sessions"] => (Route::Sessions, "GET"),
        ["scxml", "help"] => (Route::Help, "GET"),
        ["health"] => (Route::Health, "GET"),
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
    }

    #[test]
    fn wrong_method_and_unknown_path() {
        assert_eq!(
            route(Method::Get, "/scxml/session/start"),
            Err(RouteError::MethodNotAllowed { allow: "POST" })
        );
        assert_eq!(route(Method::Get, "/nope"), Err(RouteError::NotFound));
        assert_eq!(
            route(Method::Get, "/scxml/session/%ff/query"),
            Err(RouteError::BadSegment)
        );
    }
}
