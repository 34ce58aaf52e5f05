//! The session API's frequent answers (start, event, terminate), written straight into the
//! response body: no `serde_json::Value` tree and no intermediate `String` for requests that
//! a busy shard answers tens of thousands of times a second.

use protocols::http::Response;

use super::route::RouteError;
use crate::local::DeliverError;

/// A flat JSON object under construction: `{"key":value,...}`.
pub struct JsonAnswer {
    body: Vec<u8>,
}

/// Room for the usual answer (a session id, an event name, a flag).
const ANSWER_BYTES: usize = 96;

impl JsonAnswer {
    /// An empty object.
    pub fn new() -> JsonAnswer {
        let mut body = Vec::with_capacity(ANSWER_BYTES);
        body.push(b'{');
        JsonAnswer { body }
    }

    /// Adds `"key": value` with `value` escaped as a JSON string. `key` is a fixed name
    /// of ours and needs no escaping.
    pub fn string(mut self, key: &'static str, value: &str) -> JsonAnswer {
        self.key(key);
        serde_json::to_writer(&mut self.body, value).expect("a string always serialises");
        self
    }

    /// Adds `"key": true|false`.
    pub fn boolean(mut self, key: &'static str, value: bool) -> JsonAnswer {
        self.key(key);
        self.body
            .extend_from_slice(if value { b"true" } else { b"false" });
        self
    }

    /// A 200 response with the object.
    pub fn ok(mut self) -> Response {
        self.body.push(b'}');
        Response::json(200, self.body)
    }

    fn key(&mut self, key: &'static str) {
        debug_assert!(!key.contains(['"', '\\']));
        if self.body.len() > 1 {
            self.body.push(b',');
        }
        self.body.push(b'"');
        self.body.extend_from_slice(key.as_bytes());
        self.body.extend_from_slice(b"\":");
    }
}

impl Default for JsonAnswer {
    fn default() -> Self {
        JsonAnswer::new()
    }
}

/// The answer to an event queued for session `id`.
pub fn queued_answer(id: &str, event: &str) -> Response {
    let answer = JsonAnswer::new()
        .string("sessionid", id)
        .string("event", event);
    answer.boolean("queued", true).ok()
}

/// A JSON `body` with `status` (the rarer answers, built as `serde_json` values).
pub fn json_response(status: u16, body: &serde_json::Value) -> Response {
    Response::json(status, body.to_string().into_bytes())
}

/// A session that could not take an event: unknown (404) or full (503).
pub fn deliver_error(e: &DeliverError) -> Response {
    match e {
        DeliverError::UnknownSession => Response::error(404, "no such session"),
        other => Response::error(503, &other.to_string()),
    }
}

/// A request line that matched no route.
pub fn route_error(e: RouteError) -> Response {
    match e {
        RouteError::NotFound => Response::error(404, "no such path"),
        RouteError::BadSegment => Response::error(400, "bad path encoding"),
        RouteError::MethodNotAllowed { allow } => {
            Response::error(405, "method not allowed").with_header("Allow", allow)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_json_with_escaped_values() {
        let response = JsonAnswer::new()
            .string("sessionid", "a\"b\\c\n")
            .string("event", "call.offered")
            .boolean("queued", true)
            .ok();
        assert_eq!(response.status, 200);
        let parsed: serde_json::Value = serde_json::from_slice(&response.body).unwrap();
        assert_eq!(
            parsed,
            serde_json::json!({"sessionid": "a\"b\\c\n", "event": "call.offered", "queued": true})
        );
        let empty: serde_json::Value =
            serde_json::from_slice(&JsonAnswer::new().ok().body).unwrap();
        assert_eq!(empty, serde_json::json!({}));
    }
}
