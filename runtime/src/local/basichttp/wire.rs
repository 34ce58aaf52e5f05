//! What crosses the wire for the Basic HTTP Event I/O Processor, both ways: a request
//! becomes an event ([`event_from_request`]), and a sent event becomes a form body
//! ([`form_body`]). Pure and shared: the loopback listener of `baton run` and the session
//! API of `baton serve` build the same event from the same request.

use engine::effects::BASICHTTP_PROCESSOR;
use engine::event::{Event, EventKind};
use engine::value::Value;
use protocols::http::params::{request_params, ParamError, Params};
use protocols::http::Request;

/// The parameter that names the event.
pub const EVENT_NAME_PARAM: &str = "_scxmleventname";

/// The event a request carries: its `_scxmleventname` parameter names it (else
/// `HTTP.<METHOD>`), its other parameters (query string, then form or JSON body) become
/// `_event.data`, and the request text is `_event.raw`. Any method is accepted.
pub fn event_from_request(request: &Request) -> Result<Event, ParamError> {
    let mut params = Params::new();
    request_params(request, &mut params)?;
    let name = match params.iter().position(|(n, _)| n == EVENT_NAME_PARAM) {
        Some(i) => match params.remove(i).1 {
            serde_json::Value::String(s) => s,
            other => other.to_string(),
        },
        None => format!("HTTP.{}", request.method_str()),
    };
    let mut event = Event::new(&name, EventKind::External);
    event.data = event_data(&params);
    event.origintype = Some(BASICHTTP_PROCESSOR.into());
    event.raw = Some(raw_text(request).into());
    Ok(event)
}

/// Request parameters as `_event.data`: an object in the order sent, `undefined` if none.
/// Every inbound path uses it (the session API's events and requests, Basic HTTP).
pub fn event_data(params: &Params) -> Value {
    if params.is_empty() {
        return Value::Undefined;
    }
    let fields = params
        .iter()
        .map(|(k, v)| (k.as_str().into(), Value::from_json(v)));
    Value::Object(fields.collect())
}

/// The request as text, for `_event.raw`.
fn raw_text(request: &Request) -> String {
    use std::fmt::Write as _;
    let mut raw = format!("{} {}", request.method_str(), request.path());
    if let Some(query) = request.query() {
        raw.push('?');
        raw.push_str(query);
    }
    raw.push_str(" HTTP/1.1\r\n");
    for (name, value) in request.headers() {
        let _ = write!(raw, "{name}: {}\r\n", String::from_utf8_lossy(value));
    }
    raw.push_str("\r\n");
    raw.push_str(&String::from_utf8_lossy(request.body()));
    raw
}

/// The form body of a send: `_scxmleventname`, then the data's fields (or the content).
pub fn form_body(name: &str, data: &Value) -> String {
    let mut fields: Vec<String> = Vec::new();
    if !name.is_empty() {
        fields.push(format!("{EVENT_NAME_PARAM}={}", form_encode(name)));
    }
    match data {
        Value::Undefined => {}
        Value::Object(pairs) => {
            for (key, value) in pairs {
                fields.push(format!(
                    "{}={}",
                    form_encode(key),
                    form_encode(&field_text(value))
                ));
            }
        }
        Value::String(text) | Value::Xml(text) => fields.push(form_encode(text)),
        other => fields.push(form_encode(&field_text(other))),
    }
    fields.join("&")
}

/// A field's text: strings as they are, whole numbers as ECMAScript prints them (`2`, not
/// `2.0`), anything else as JSON.
fn field_text(value: &Value) -> String {
    match value {
        Value::String(s) | Value::Xml(s) => s.to_string(),
        Value::Number(n) if n.fract() == 0.0 && n.abs() < 1e15 => format!("{}", *n as i64),
        other => other.to_json().to_string(),
    }
}

/// `application/x-www-form-urlencoded` encoding of one name or value. Spaces become `%20`
/// rather than `+`: both are valid, and `%20` is what W3C test 520 recognises.
fn form_encode(text: &str) -> String {
    use std::fmt::Write as _;
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'*' => {
                out.push(b as char)
            }
            other => {
                let _ = write!(out, "%{other:02X}");
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use protocols::http::{Decoded, HttpLimits, RequestDecoder};

    fn request(text: &str) -> Request {
        let mut decoder = RequestDecoder::new(HttpLimits::DEFAULT);
        let progress = decoder.decode(text.as_bytes()).expect("a valid request");
        assert_eq!(progress.decoded, Decoded::Complete);
        decoder.take_request()
    }

    #[test]
    fn a_form_post_names_its_event_and_carries_data_and_raw_text() {
        let body = form_body(
            "call.new",
            &Value::Object(vec![("n".into(), Value::Number(2.0))]),
        );
        assert_eq!(body, "_scxmleventname=call.new&n=2");
        let text = format!(
            "POST /basichttp/s?q=1 HTTP/1.1\r\nHost: h\r\n\
             Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        let event = event_from_request(&request(&text)).expect("an event");
        assert_eq!(&*event.name, "call.new");
        assert_eq!(event.data.field("q"), Some(&Value::String("1".into())));
        assert_eq!(event.data.field("n"), Some(&Value::String("2".into())));
        assert_eq!(event.origintype.as_deref(), Some(BASICHTTP_PROCESSOR));
        let raw = event.raw.expect("raw text");
        assert!(
            raw.starts_with("POST /basichttp/s?q=1 HTTP/1.1\r\n"),
            "{raw}"
        );
        assert!(
            raw.ends_with("\r\n\r\n_scxmleventname=call.new&n=2"),
            "{raw}"
        );
    }

    #[test]
    fn without_a_name_the_method_names_the_event() {
        let event = event_from_request(&request("GET /x HTTP/1.1\r\nHost: h\r\n\r\n"));
        let event = event.expect("an event");
        assert_eq!(&*event.name, "HTTP.GET");
        assert_eq!(event.data, Value::Undefined);
    }

    #[test]
    fn a_malformed_body_is_refused() {
        let text = "POST /x HTTP/1.1\r\nHost: h\r\nContent-Type: text/html\r\n\
                    Content-Length: 3\r\n\r\n<p>";
        let refused = event_from_request(&request(text)).unwrap_err();
        assert_eq!(refused.status(), 400);
    }

    #[test]
    fn form_encoding_escapes_all_but_unreserved_bytes() {
        assert_eq!(form_encode("a b&c=d/é"), "a%20b%26c%3Dd%2F%C3%A9");
        assert_eq!(form_body("", &Value::Number(1.5)), "1.5");
    }
}
