//! The session API's frequent answers (start, event, terminate), written straight into the
//! response body: no `serde_json::Value` tree and no intermediate `String` for requests that
//! a busy shard answers tens of thousands of times a second.

use protocols::http::Response;

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
