//! Routing test helpers: an HTTP sink standing in for SMS/e-mail gateways and web services,
//! an agent desktop reading its offer stream (Server-Sent Events over chunked HTTP/1.1),
//! and the API calls the routing tests make.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::http::request;

/// How long a test waits for a request, an offer or a state.
const PATIENCE: Duration = Duration::from_secs(10);

/// One request a [`Sink`] received.
#[derive(Clone, Debug)]
pub struct Received {
    pub method: String,
    pub path: String,
    /// The body parsed as JSON (`null` if it is not JSON).
    pub json: Value,
}

/// A plain HTTP server that records every request and answers 200 with `answer` as JSON
/// (a path ending in `/fail` answers 500).
#[derive(Clone)]
pub struct Sink {
    pub port: u16,
    received: Arc<Mutex<Vec<Received>>>,
}

impl Sink {
    pub fn start(answer: Value) -> Sink {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the sink");
        let port = listener.local_addr().expect("address").port();
        let sink = Sink {
            port,
            received: Arc::default(),
        };
        let received = Arc::clone(&sink.received);
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let (received, answer) = (Arc::clone(&received), answer.clone());
                std::thread::spawn(move || {
                    let _ = serve(stream, &received, &answer);
                });
            }
        });
        sink
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// The requests to `path` so far.
    pub fn received(&self, path: &str) -> Vec<Received> {
        let received = self.received.lock().expect("received");
        received
            .iter()
            .filter(|r| r.path == path)
            .cloned()
            .collect()
    }

    /// Waits for the `n`-th request (from 1) to `path`.
    pub fn await_request(&self, path: &str, n: usize) -> Received {
        let deadline = Instant::now() + PATIENCE;
        loop {
            if let Some(found) = self.received(path).get(n - 1) {
                return found.clone();
            }
            assert!(
                Instant::now() < deadline,
                "the sink never saw request {n} to {path}"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

fn serve(stream: TcpStream, received: &Mutex<Vec<Received>>, answer: &Value) -> io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut reader = BufReader::new(stream);
    let mut first = String::new();
    reader.read_line(&mut first)?;
    let mut length = 0;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 || line == "\r\n" {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            if name.eq_ignore_ascii_case("content-length") {
                length = value.trim().parse().unwrap_or(0);
            }
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body)?;
    let mut parts = first.split(' ');
    let method = parts.next().unwrap_or_default().to_owned();
    let path = parts.next().unwrap_or_default().to_owned();
    let status = if path.ends_with("/fail") { 500 } else { 200 };
    let json = serde_json::from_slice(&body).unwrap_or(Value::Null);
    received
        .lock()
        .expect("received")
        .push(Received { method, path, json });
    let body = answer.to_string();
    let head = format!(
        "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n",
        body.len()
    );
    let stream = reader.get_mut();
    stream.write_all(head.as_bytes())?;
    stream.write_all(body.as_bytes())?;
    stream.flush()
}

/// One Server-Sent Event.
#[derive(Clone, Debug, PartialEq)]
pub struct Sse {
    pub event: String,
    pub data: Value,
}

/// An agent's desktop: its open offer stream.
pub struct Desktop {
    reader: BufReader<TcpStream>,
    /// Bytes of the current chunk not read yet.
    chunk_left: usize,
}

impl Desktop {
    /// Opens `GET /agents/{agent}/offers`; asserts 200 and `text/event-stream`.
    pub fn open(port: u16, agent: &str) -> Desktop {
        let (status, head, desktop) = Desktop::try_open(port, agent);
        assert_eq!(status, 200, "{head}");
        assert!(head.contains("text/event-stream"), "{head}");
        desktop
    }

    /// Opens the stream; answers the status, the head, and the desktop.
    pub fn try_open(port: u16, agent: &str) -> (u16, String, Desktop) {
        Desktop::try_open_with(port, agent, "")
    }

    /// [`Desktop::try_open`] with `headers` (whole lines, each ending in CRLF) added.
    pub fn try_open_with(port: u16, agent: &str, headers: &str) -> (u16, String, Desktop) {
        let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
        stream.set_read_timeout(Some(PATIENCE)).expect("timeout");
        let request = format!("GET /agents/{agent}/offers HTTP/1.1\r\nHost: test\r\n{headers}\r\n");
        stream.write_all(request.as_bytes()).expect("write");
        let mut reader = BufReader::new(stream);
        let mut head = String::new();
        loop {
            let mut line = String::new();
            reader.read_line(&mut line).expect("read head");
            if line == "\r\n" || line.is_empty() {
                break;
            }
            head.push_str(&line);
        }
        let status = head.get(9..12).and_then(|s| s.parse().ok()).unwrap_or(0);
        let desktop = Desktop {
            reader,
            chunk_left: 0,
        };
        (status, head, desktop)
    }

    /// The next event (keep-alive comments skipped); fails the test after a while.
    pub fn next(&mut self) -> Sse {
        let (mut event, mut data) = (String::new(), String::new());
        loop {
            let line = self.line();
            if line.is_empty() {
                if data.is_empty() {
                    continue;
                }
                let data = serde_json::from_str(&data).expect("JSON data");
                return Sse { event, data };
            }
            if let Some(name) = line.strip_prefix("event: ") {
                event = name.to_owned();
            } else if let Some(text) = line.strip_prefix("data: ") {
                data.push_str(text);
            }
        }
    }

    /// The next event, which must be `name`.
    pub fn expect(&mut self, name: &str) -> Value {
        let sse = self.next();
        assert_eq!(sse.event, name, "{sse:?}");
        sse.data
    }

    /// Asserts that the server ended the stream (the last chunk, or the connection closed).
    pub fn expect_closed(&mut self) {
        assert_eq!(self.chunk_left, 0, "an event was left half read");
        let mut size = String::new();
        self.reader.read_line(&mut size).expect("a chunk size");
        if size == "\r\n" {
            size.clear();
            self.reader.read_line(&mut size).expect("a chunk size");
        }
        assert!(
            size.is_empty() || size.trim() == "0",
            "the stream goes on: {size:?}"
        );
    }

    /// One line of the body (without its LF), across chunk boundaries.
    fn line(&mut self) -> String {
        let mut line = Vec::new();
        loop {
            let byte = self.byte();
            if byte == b'\n' {
                return String::from_utf8(line).expect("UTF-8");
            }
            line.push(byte);
        }
    }

    fn byte(&mut self) -> u8 {
        if self.chunk_left == 0 {
            let mut size = String::new();
            self.reader.read_line(&mut size).expect("a chunk size");
            if size == "\r\n" {
                size.clear();
                self.reader.read_line(&mut size).expect("a chunk size");
            }
            let size = usize::from_str_radix(size.trim(), 16).expect("hex chunk size");
            assert!(size > 0, "the offer stream ended");
            self.chunk_left = size;
        }
        let mut byte = [0];
        self.reader.read_exact(&mut byte).expect("chunk data");
        self.chunk_left -= 1;
        byte[0]
    }
}

/// `PUT /agents/{id}` with `profile`; asserts success.
pub fn put_agent(port: u16, id: &str, profile: Value) {
    let (status, body) = request(port, "PUT", &format!("/agents/{id}"), &profile.to_string());
    assert!(status == 200 || status == 201, "{status} {body}");
}

/// `POST /agents/{id}/state`; asserts 200.
pub fn set_state(port: u16, id: &str, state: &str) {
    let body = json!({ "state": state }).to_string();
    let (status, answer) = request(port, "POST", &format!("/agents/{id}/state"), &body);
    assert_eq!(status, 200, "{answer}");
}

/// `POST /interactions`; asserts 201 and returns (interaction id, session id).
pub fn create_interaction(port: u16, body: Value) -> (String, String) {
    let (status, answer) = request(port, "POST", "/interactions", &body.to_string());
    assert_eq!(status, 201, "{answer}");
    let interaction = answer["interaction"].as_str().expect("an id").to_owned();
    let session = answer["session"].as_str().expect("a session").to_owned();
    (interaction, session)
}

/// `POST /interactions/{id}/{answer}` by `agent`; returns (status, body).
pub fn answer_offer(port: u16, id: &str, answer: &str, agent: &str) -> (u16, Value) {
    let body = json!({ "agent": agent }).to_string();
    request(port, "POST", &format!("/interactions/{id}/{answer}"), &body)
}

/// Waits until `GET /interactions/{id}` shows `state`; returns it.
pub fn await_interaction(port: u16, id: &str, state: &str) -> Value {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let (status, body) = request(port, "GET", &format!("/interactions/{id}"), "");
        if status == 200 && body["state"] == state {
            return body;
        }
        assert!(
            Instant::now() < deadline,
            "interaction {id} never {state}: {body}"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}
