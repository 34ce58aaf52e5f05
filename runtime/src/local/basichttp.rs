//! The W3C Basic HTTP Event I/O Processor for the local host (`baton run`, the conformance
//! tests): a loopback HTTP listener that turns POSTs into events, and a blocking client for
//! `<send type="...#BasicHTTPEventProcessor">`.
//!
//! Each session's location is `http://127.0.0.1:PORT/basichttp/<sessionid>`. A request's
//! `_scxmleventname` parameter names the event (else `HTTP.<METHOD>`), its other parameters
//! become `_event.data`, and the request text is `_event.raw`. The listener queues the event
//! before it answers 200, and a send waits for that answer, so an event a session sends to
//! itself is in its queue before the send returns, as an in-process send would be (W3C 201).
//! Blocking is right for this host, which runs one document for one author; the server
//! (`baton serve`) uses the glommio client instead.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::Arc;
use std::time::Duration;

use engine::effects::BASICHTTP_PROCESSOR;
use engine::event::{Event, EventKind};
use engine::value::Value;
use protocols::http::params::{request_params, Params};
use protocols::http::{
    encode_request, Decoded, HttpLimits, OutboundRequest, Request, RequestDecoder, ResponseDecoder,
};

/// How long a send or an incoming connection may take before it is abandoned.
const IO_TIMEOUT: Duration = Duration::from_secs(5);

/// An event that arrived over HTTP for the session `session`.
#[derive(Debug)]
pub struct Incoming {
    /// The target session's id (from the request path).
    pub session: Box<str>,
    /// The event.
    pub event: Event,
}

/// The running processor: its listener thread and the queue of arrived events.
pub struct BasicHttp {
    address: SocketAddr,
    incoming: Receiver<Incoming>,
    stop: Arc<AtomicBool>,
}

impl BasicHttp {
    /// Binds a loopback port and starts the listener thread.
    pub fn start() -> std::io::Result<BasicHttp> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let address = listener.local_addr()?;
        let (tx, incoming) = mpsc::channel();
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = Arc::clone(&stop);
        std::thread::Builder::new()
            .name("basichttp".into())
            .spawn(move || listen(listener, tx, stopped))?;
        Ok(BasicHttp {
            address,
            incoming,
            stop,
        })
    }

    /// The location of `session_id`'s processor, for `_ioprocessors`.
    pub fn location(&self, session_id: &str) -> String {
        format!("http://{}/basichttp/{session_id}", self.address)
    }

    /// The next event that arrived, if any.
    pub fn try_recv(&self) -> Option<Incoming> {
        self.incoming.try_recv().ok()
    }
}

impl Drop for BasicHttp {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        // Wake the blocking accept so the thread sees the flag and ends.
        let _ = TcpStream::connect_timeout(&self.address, Duration::from_millis(100));
    }
}

fn listen(listener: TcpListener, tx: Sender<Incoming>, stop: Arc<AtomicBool>) {
    for stream in listener.incoming() {
        if stop.load(Ordering::Acquire) {
            return;
        }
        if let Ok(stream) = stream {
            serve(stream, &tx);
        }
    }
}

/// Answers one connection: one request, then close.
fn serve(mut stream: TcpStream, tx: &Sender<Incoming>) {
    let _ = stream.set_read_timeout(Some(IO_TIMEOUT));
    let answer = match read_request(&mut stream).and_then(|r| to_incoming(&r)) {
        Ok(incoming) => match tx.send(incoming) {
            Ok(()) => (200, "OK"),
            Err(_) => (503, "Service Unavailable"),
        },
        Err(404) => (404, "Not Found"),
        Err(status) => (status, "Bad Request"),
    };
    let (status, reason) = answer;
    let response =
        format!("HTTP/1.1 {status} {reason}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
    let _ = stream.write_all(response.as_bytes());
    let _ = stream.shutdown(Shutdown::Both);
}

fn read_request(stream: &mut TcpStream) -> Result<Request, u16> {
    let mut decoder = RequestDecoder::new(HttpLimits::DEFAULT);
    let mut buf = vec![0u8; 8192];
    let mut pending: Vec<u8> = Vec::new();
    loop {
        let n = stream.read(&mut buf).map_err(|_| 408u16)?;
        if n == 0 {
            return Err(400);
        }
        pending.extend_from_slice(&buf[..n]);
        let progress = decoder.decode(&pending).map_err(|e| e.status())?;
        pending.drain(..progress.consumed);
        match progress.decoded {
            Decoded::Complete => return Ok(decoder.take_request()),
            Decoded::Continue => {
                let _ = stream.write_all(protocols::http::codec::CONTINUE_RESPONSE);
            }
            Decoded::Partial => {}
        }
    }
}

/// The event a request carries, or the status to refuse it with.
fn to_incoming(request: &Request) -> Result<Incoming, u16> {
    let session = request.path().strip_prefix("/basichttp/").ok_or(404u16)?;
    if session.is_empty() || session.contains('/') {
        return Err(404);
    }
    let mut params = Params::new();
    request_params(request, &mut params).map_err(|e| e.status())?;
    let name = match params.iter().position(|(n, _)| n == "_scxmleventname") {
        Some(i) => match params.remove(i).1 {
            serde_json::Value::String(s) => s,
            other => other.to_string(),
        },
        None => format!("HTTP.{}", request.method_str()),
    };
    let data = match params.is_empty() {
        true => Value::Undefined,
        false => Value::Object(
            params
                .iter()
                .map(|(k, v)| (k.as_str().into(), Value::from_json(v)))
                .collect(),
        ),
    };
    let mut event = Event::new(&name, EventKind::External);
    event.data = data;
    event.origintype = Some(BASICHTTP_PROCESSOR.into());
    event.raw = Some(raw_text(request).into());
    Ok(Incoming {
        session: session.into(),
        event,
    })
}

/// The request as text, for `_event.raw`.
fn raw_text(request: &Request) -> String {
    let mut raw = format!("{} {}", request.method_str(), request.path());
    if let Some(query) = request.query() {
        raw.push('?');
        raw.push_str(query);
    }
    raw.push_str(" HTTP/1.1\r\n");
    for (name, value) in request.headers() {
        raw.push_str(&format!("{name}: {}\r\n", String::from_utf8_lossy(value)));
    }
    raw.push_str("\r\n");
    raw.push_str(&String::from_utf8_lossy(request.body()));
    raw
}

/// The form body of a send: `_scxmleventname`, then the data's fields (or the content).
pub fn form_body(name: &str, data: &Value) -> String {
    let mut fields: Vec<String> = Vec::new();
    if !name.is_empty() {
        fields.push(format!("_scxmleventname={}", form_encode(name)));
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
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'*' => {
                out.push(b as char)
            }
            other => out.push_str(&format!("%{other:02X}")),
        }
    }
    out
}

/// POSTs `body` to an `http://` URL and waits for a 2xx answer.
pub fn post(url: &str, body: &str) -> Result<(), String> {
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| format!("not an http:// URL: {url}"))?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let address: SocketAddr = authority
        .parse()
        .map_err(|_| format!("only IP:port addresses are supported, not '{authority}'"))?;
    let mut stream = TcpStream::connect_timeout(&address, IO_TIMEOUT)
        .map_err(|e| format!("cannot connect to {url}: {e}"))?;
    let _ = stream.set_read_timeout(Some(IO_TIMEOUT));
    let headers = [("Content-Type", "application/x-www-form-urlencoded")];
    let request = OutboundRequest {
        method: "POST",
        target: path,
        host: authority,
        headers: &headers,
        body: body.as_bytes(),
        close: true,
    };
    let mut bytes = Vec::new();
    encode_request(&request, &mut bytes);
    stream
        .write_all(&bytes)
        .map_err(|e| format!("cannot send to {url}: {e}"))?;
    let status = read_status(&mut stream).map_err(|e| format!("{url}: {e}"))?;
    match status {
        200..=299 => Ok(()),
        other => Err(format!("{url} answered {other}")),
    }
}

fn read_status(stream: &mut TcpStream) -> Result<u16, String> {
    let mut decoder = ResponseDecoder::new(HttpLimits::DEFAULT, false);
    let mut buf = vec![0u8; 4096];
    let mut pending: Vec<u8> = Vec::new();
    loop {
        let n = stream.read(&mut buf).map_err(|e| e.to_string())?;
        let decoded = if n == 0 {
            decoder.finish().map_err(|e| e.reason().to_string())?
        } else {
            pending.extend_from_slice(&buf[..n]);
            let progress = decoder
                .decode(&pending)
                .map_err(|e| e.reason().to_string())?;
            pending.drain(..progress.consumed);
            progress.decoded
        };
        if decoded == Decoded::Complete {
            return Ok(decoder.take_response().status);
        }
        if n == 0 {
            return Err("connection closed before a full answer".into());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_post_becomes_an_event_with_raw_text() {
        let http = BasicHttp::start().expect("listener");
        let url = http.location("s1");
        let data = Value::Object(vec![("Var1".into(), Value::Number(2.0))]);
        post(&url, &form_body("test", &data)).expect("post");
        let incoming = http.try_recv().expect("an event arrived before the answer");
        assert_eq!(&*incoming.session, "s1");
        assert_eq!(&*incoming.event.name, "test");
        // Form fields arrive as strings.
        assert_eq!(
            incoming.event.data.field("Var1"),
            Some(&Value::String("2".into()))
        );
        let raw = incoming.event.raw.expect("raw");
        assert!(raw.starts_with("POST /basichttp/s1"), "{raw}");
        assert!(raw.ends_with("_scxmleventname=test&Var1=2"), "{raw}");
    }

    #[test]
    fn without_an_event_name_the_method_names_it() {
        let http = BasicHttp::start().expect("listener");
        let body = form_body("", &Value::String("this is some content".into()));
        assert_eq!(body, "this%20is%20some%20content");
        post(&http.location("s2"), &body).expect("post");
        assert_eq!(&*http.try_recv().expect("event").event.name, "HTTP.POST");
    }

    #[test]
    fn unreachable_and_bad_urls_are_errors() {
        assert!(post("https://127.0.0.1:1/x", "").is_err());
        assert!(post("http://example.invalid/x", "").is_err());
        let http = BasicHttp::start().expect("listener");
        let wrong = http.location("s").replace("/basichttp/", "/elsewhere/");
        assert!(post(&wrong, "").unwrap_err().contains("404"));
    }
}
