//! Plain HTTP/1.1 to `baton serve` from std sockets: one-shot requests and a keep-alive
//! connection.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

/// How long a read may block before the test fails instead of hanging.
const READ_TIMEOUT: Duration = Duration::from_secs(20);

/// One request on a fresh connection (`Connection: close`); returns (head, body).
pub fn request_text(port: u16, method: &str, path: &str, body: &str) -> (String, String) {
    request_text_with(port, method, path, "", body)
}

/// [`request_text`] with `headers` (whole lines, each ending in CRLF) added to the head.
pub fn request_text_with(
    port: u16,
    method: &str,
    path: &str,
    headers: &str,
    body: &str,
) -> (String, String) {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    stream
        .set_read_timeout(Some(READ_TIMEOUT))
        .expect("timeout");
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n{headers}\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).expect("write head");
    stream.write_all(body.as_bytes()).expect("write body");
    let mut answer = String::new();
    stream.read_to_string(&mut answer).expect("read answer");
    let (head, body) = answer.split_once("\r\n\r\n").unwrap_or((&answer, ""));
    (head.to_owned(), body.to_owned())
}

/// Starts a session on a fresh connection with the JSON `body`; asserts 200 and returns
/// its id.
pub fn start_session(port: u16, body: &str) -> String {
    let (status, answer) = request(port, "POST", "/scxml/session/start", body);
    assert_eq!(status, 200, "{answer}");
    answer["sessionid"]
        .as_str()
        .expect("a session id")
        .to_string()
}

/// One request on a fresh connection; returns (status, JSON body or null).
pub fn request(port: u16, method: &str, path: &str, body: &str) -> (u16, Value) {
    let (head, body) = request_text(port, method, path, body);
    let status: u16 = head[9..12].parse().expect("status code");
    (status, serde_json::from_str(&body).unwrap_or(Value::Null))
}

/// One request with `Authorization: Bearer TOKEN` on a fresh connection; returns (status,
/// JSON body or null, head).
pub fn request_as(
    port: u16,
    token: &str,
    method: &str,
    path: &str,
    body: &str,
) -> (u16, Value, String) {
    let authorization = format!("Authorization: Bearer {token}\r\n");
    let (head, body) = request_text_with(port, method, path, &authorization, body);
    let status: u16 = head[9..12].parse().expect("status code");
    (
        status,
        serde_json::from_str(&body).unwrap_or(Value::Null),
        head,
    )
}

/// The value of the one sample `series` (name and labels exactly as exposed) in a
/// Prometheus text exposition.
pub fn metric(text: &str, series: &str) -> f64 {
    let values: Vec<f64> = text
        .lines()
        .filter_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .map(|value| value.parse().expect("a number"))
        .collect();
    assert_eq!(values.len(), 1, "{series} in:\n{text}");
    values[0]
}

/// A keep-alive connection: every request on it is answered by the shard that accepted it.
pub struct Connection {
    reader: BufReader<TcpStream>,
}

impl Connection {
    pub fn try_open(port: u16) -> io::Result<Connection> {
        let stream = TcpStream::connect(("127.0.0.1", port))?;
        stream.set_read_timeout(Some(READ_TIMEOUT))?;
        Ok(Connection {
            reader: BufReader::new(stream),
        })
    }

    pub fn open(port: u16) -> Connection {
        Connection::try_open(port).expect("connect")
    }

    /// A connection from the loopback address `source` (any of 127.0.0.0/8), so that a
    /// test can be another client address than 127.0.0.1.
    pub fn open_from(port: u16, source: [u8; 4]) -> Connection {
        Connection {
            reader: BufReader::new(tcp_from(source, port)),
        }
    }

    /// The socket, for writing partial requests by hand.
    pub fn stream(&mut self) -> &mut TcpStream {
        self.reader.get_mut()
    }

    /// Writes one request with a body of `content_type`.
    pub fn write(&mut self, method: &str, path: &str, content_type: &str, body: &str) {
        let head = format!(
            "{method} {path} HTTP/1.1\r\nHost: test\r\nContent-Type: {content_type}\r\n\
             Content-Length: {}\r\n\r\n",
            body.len()
        );
        let stream = self.stream();
        stream.write_all(head.as_bytes()).expect("write head");
        stream.write_all(body.as_bytes()).expect("write body");
    }

    /// Reads one response: (status, head, body text).
    pub fn receive(&mut self) -> (u16, String, String) {
        let mut head = String::new();
        let mut length = 0;
        loop {
            let mark = head.len();
            let read = self.reader.read_line(&mut head).expect("a head line");
            assert!(read > 0, "connection closed before a response");
            let line = &head[mark..];
            if line == "\r\n" {
                break;
            }
            if let Some((name, value)) = line.split_once(':') {
                if name.eq_ignore_ascii_case("content-length") {
                    length = value.trim().parse().expect("a length");
                }
            }
        }
        let status: u16 = head[9..12].parse().expect("status code");
        let mut body = vec![0; length];
        self.reader.read_exact(&mut body).expect("body");
        let body = String::from_utf8(body).expect("UTF-8 body");
        (status, head, body)
    }

    /// One request with a body of `content_type`; returns (status, JSON body or null).
    pub fn request(
        &mut self,
        method: &str,
        path: &str,
        content_type: &str,
        body: &str,
    ) -> (u16, Value) {
        self.write(method, path, content_type, body);
        let (status, _, body) = self.receive();
        (status, serde_json::from_str(&body).unwrap_or(Value::Null))
    }

    /// One JSON request; returns (status, body text).
    pub fn send(&mut self, method: &str, path: &str, body: &str) -> (u16, String) {
        self.write(method, path, "application/json", body);
        let (status, _, body) = self.receive();
        (status, body)
    }

    /// One JSON request whose answer is JSON.
    pub fn json(&mut self, method: &str, path: &str, body: &str) -> (u16, Value) {
        self.request(method, path, "application/json", body)
    }

    /// Starts `src` with `params` (an object) and returns the session id.
    pub fn start(&mut self, src: &str, params: Value) -> String {
        let mut body = params;
        body["src"] = json!(src);
        let (status, body) = self.json("POST", "/scxml/session/start", &body.to_string());
        assert_eq!(status, 200, "{body}");
        body["sessionid"]
            .as_str()
            .expect("a session id")
            .to_string()
    }

    pub fn query(&mut self, id: &str) -> (u16, Value) {
        self.json("GET", &format!("/scxml/session/{id}/query"), "")
    }

    /// Polls the session `id` until its configuration holds `state` (bounded).
    pub fn await_state(&mut self, id: &str, state: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let (status, body) = self.query(id);
            let configuration = &body["configuration"];
            if status == 200
                && configuration
                    .as_array()
                    .is_some_and(|a| a.contains(&json!(state)))
            {
                return body;
            }
            assert!(
                Instant::now() < deadline,
                "{id} never reached {state}: {body}"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// The session's datamodel once `check` holds of it (bounded).
    pub fn await_datamodel(&mut self, id: &str, check: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let (status, body) = self.query(id);
            let datamodel = &body["datamodel"];
            if status == 200 && check(datamodel) {
                return datamodel.clone();
            }
            assert!(Instant::now() < deadline, "{id}: {status} {body}");
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Whether the server closed the connection (reads end of stream).
    pub fn is_closed(&mut self) -> bool {
        let mut byte = [0u8; 1];
        matches!(self.reader.read(&mut byte), Ok(0) | Err(_))
    }
}

/// A TCP connection to `127.0.0.1:port` from the loopback address `source` (any of
/// 127.0.0.0/8, all on the loopback interface), with the read timeout set.
pub fn tcp_from(source: [u8; 4], port: u16) -> TcpStream {
    use socket2::{Domain, SockAddr, Socket, Type};
    let socket = Socket::new(Domain::IPV4, Type::STREAM, None).expect("a socket");
    let from = std::net::SocketAddr::from((source, 0));
    socket
        .bind(&SockAddr::from(from))
        .expect("bind a loopback source");
    let to = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    socket.connect(&SockAddr::from(to)).expect("connect");
    let stream: TcpStream = socket.into();
    stream
        .set_read_timeout(Some(READ_TIMEOUT))
        .expect("timeout");
    stream
}
