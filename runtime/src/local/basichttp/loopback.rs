//! The Basic HTTP processor of the local host (`baton run`, the conformance tests): a
//! loopback HTTP listener that turns requests into events ([`super::event_from_request`]),
//! and a blocking client for `<send type="...#BasicHTTPEventProcessor">`.
//!
//! Each session's location is `http://127.0.0.1:PORT/basichttp/<sessionid>`. The listener
//! queues the event before it answers 200, and a send waits for that answer, so an event a
//! session sends to itself is in its queue before the send returns, as an in-process send
//! would be (W3C 201). Blocking is right for this host, which runs one document for one
//! author; the server (`baton serve`) posts asynchronously with its outbound client instead.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::Arc;
use std::time::Duration;

use engine::effects::SendError;
use engine::event::Event;
use protocols::http::{
    encode_request, Decoded, HttpLimits, OutboundRequest, Request, RequestDecoder, ResponseDecoder,
};

use super::{event_from_request, BasicHttpProcessor, HttpSend};

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
    let event = event_from_request(request).map_err(|e| e.status())?;
    Ok(Incoming {
        session: session.into(),
        event,
    })
}

impl BasicHttpProcessor for BasicHttp {
    fn location(&self, session_id: &str) -> Option<String> {
        Some(BasicHttp::location(self, session_id))
    }

    fn post(&mut self, send: HttpSend) -> Result<(), SendError> {
        post(&send.url, &send.body).map_err(|reason| SendError { reason })
    }

    fn try_recv(&self) -> Option<Incoming> {
        BasicHttp::try_recv(self)
    }
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
    use crate::local::basichttp::form_body;
    use engine::value::Value;

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
