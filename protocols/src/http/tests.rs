//! Server and client over real loopback sockets, each test in its own glommio executor.

use std::future::Future;
use std::net::{SocketAddr, TcpListener as StdListener};
use std::rc::Rc;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use futures_lite::{AsyncReadExt, AsyncWriteExt};
use glommio::net::TcpStream;
use glommio::{LocalExecutorBuilder, Placement, Task};
use serde_json::{json, Value};

use super::client::{self, LocalBind};
use super::codec::{Decoded, HttpLimits, OutboundRequest, Request, Response, ResponseDecoder};
use super::server::{accept_loop, listen, AcceptReport, Handler, Peer, ServerConfig, StopSignal};

/// The machine locks at most 8 MiB per process; executors run one at a time with 512 KiB.
static EXECUTOR: Mutex<()> = Mutex::new(());

pub(super) fn run<F: Future<Output = ()> + 'static>(test: impl FnOnce() -> F + Send + 'static) {
    let _one_at_a_time = EXECUTOR
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let executor = LocalExecutorBuilder::new(Placement::Unbound).io_memory(512 << 10);
    executor.spawn(test).unwrap().join().unwrap();
}

/// Answers with what it received, as JSON.
struct Echo;

impl Handler for Echo {
    async fn handle(&self, request: &Request, _peer: &Peer) -> Response {
        let body = json!({
            "method": request.method_str(),
            "path": request.path(),
            "query": request.query(),
            "body": String::from_utf8_lossy(request.body()),
        });
        Response::json(200, body.to_string().into_bytes())
    }
}

fn test_config() -> ServerConfig {
    let mut config = ServerConfig::default();
    config.timeouts.header_timeout_ms = 2_000;
    config.timeouts.idle_timeout_ms = 2_000;
    config
}

struct Server {
    address: SocketAddr,
    stop: StopSignal,
    task: Task<AcceptReport>,
}

impl Server {
    fn start(config: ServerConfig) -> Self {
        let listener = listen("127.0.0.1:0".parse().unwrap()).unwrap();
        let address = listener.local_addr().unwrap();
        let stop = StopSignal::new();
        let task = glommio::spawn_local(accept_loop(listener, Rc::new(Echo), config, stop.clone()));
        Self {
            address,
            stop,
            task,
        }
    }

    async fn stop(self) -> AcceptReport {
        self.stop.stop();
        self.task.await
    }
}

async fn connect(address: SocketAddr) -> TcpStream {
    client::connect(address, LocalBind::Any, 1_000)
        .await
        .unwrap()
}

/// Reads until EOF and decodes every response in it.
async fn responses_until_close(stream: &mut TcpStream) -> Vec<Response> {
    let mut bytes = Vec::new();
    stream.read_to_end(&mut bytes).await.unwrap();
    let mut rest = &bytes[..];
    let mut out = Vec::new();
    while !rest.is_empty() {
        let mut decoder = ResponseDecoder::new(HttpLimits::DEFAULT, false);
        let progress = decoder.decode(rest).unwrap();
        assert_eq!(
            progress.decoded,
            Decoded::Complete,
            "{}",
            String::from_utf8_lossy(rest)
        );
        out.push(decoder.take_response());
        rest = &rest[progress.consumed..];
    }
    out
}

fn json_of(response: &Response) -> Value {
    serde_json::from_slice(&response.body).unwrap()
}

fn get(target: &str) -> OutboundRequest<'_> {
    OutboundRequest {
        method: "GET",
        target,
        host: "test",
        headers: &[],
        body: b"",
        close: false,
    }
}

#[test]
fn round_trip_keep_alive_and_graceful_stop() {
    run(|| async {
        let server = Server::start(test_config());
        let mut stream = connect(server.address).await;
        for n in 0..3 {
            let target = format!("/scxml/session/{n}/query?x=1");
            let request = get(&target);
            let reply = client::send(&mut stream, &request, &HttpLimits::DEFAULT, 1_000);
            let reply = reply.await.unwrap();
            assert_eq!(reply.response.status, 200);
            assert!(reply.keep_alive);
            let body = json_of(&reply.response);
            assert_eq!(body["path"], format!("/scxml/session/{n}/query"));
            assert_eq!(body["query"], "x=1");
        }
        // The connection is idle: stopping closes it and the accept loop drains.
        let report = server.stop().await;
        assert_eq!(
            (report.accepted, report.requests, report.refused),
            (1, 3, 0)
        );
        let mut rest = Vec::new();
        assert_eq!(stream.read_to_end(&mut rest).await.unwrap(), 0);
    });
}

#[test]
fn pipelined_and_chunked_requests() {
    run(|| async {
        let server = Server::start(test_config());
        let mut stream = connect(server.address).await;
        let pipeline = b"GET /1 HTTP/1.1\r\n\r\nPOST /2 HTTP/1.1\r\nContent-Length: 2\r\n\r\nhi\
                         POST /3 HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n";
        stream.write_all(pipeline).await.unwrap();
        // The chunked body arrives in pieces, the last one with the closing request.
        glommio::timer::sleep(Duration::from_millis(20)).await;
        stream
            .write_all(b"2\r\nde\r\n0\r\n\r\nGET /4 HTTP/1.1\r\nConnection: close\r\n\r\n")
            .await
            .unwrap();
        let responses = responses_until_close(&mut stream).await;
        let paths: Vec<Value> = responses
            .iter()
            .map(|r| json_of(r)["path"].clone())
            .collect();
        assert_eq!(paths, [json!("/1"), json!("/2"), json!("/3"), json!("/4")]);
        assert_eq!(json_of(&responses[1])["body"], "hi");
        assert_eq!(json_of(&responses[2])["body"], "abcde");
        assert_eq!(
            responses[3].header("connection"),
            None,
            "framing headers are consumed"
        );
        server.stop().await;
    });
}

#[test]
fn expect_continue_gets_an_interim_answer() {
    run(|| async {
        let server = Server::start(test_config());
        let mut stream = connect(server.address).await;
        let head = b"POST /e HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n";
        stream.write_all(head).await.unwrap();
        let mut interim = [0u8; 25];
        stream.read_exact(&mut interim).await.unwrap();
        assert_eq!(&interim, b"HTTP/1.1 100 Continue\r\n\r\n");
        stream.write_all(b"body").await.unwrap();
        // The answer to /e is still unread: it comes back as the reply to this pipelined GET.
        let request = get("/after");
        let reply = client::send(&mut stream, &request, &HttpLimits::DEFAULT, 1_000);
        let reply = reply.await.unwrap();
        assert_eq!(json_of(&reply.response)["body"], "body");
        server.stop().await;
    });
}

/// Sends `request`, expects one error answer with `status` and a closed connection.
async fn expect_refusal(address: SocketAddr, request: &[u8], status: u16) {
    let mut stream = connect(address).await;
    stream.write_all(request).await.unwrap();
    let responses = responses_until_close(&mut stream).await;
    assert_eq!(responses.len(), 1);
    assert_eq!(responses[0].status, status);
    assert_eq!(json_of(&responses[0])["status"], status);
    assert!(json_of(&responses[0])["error"].is_string());
}

#[test]
fn malformed_oversized_and_too_large_heads() {
    run(|| async {
        let server = Server::start(test_config());
        expect_refusal(server.address, b"GET / HTTP/1.1\r\nNo Colon\r\n\r\n", 400).await;
        let body = b"POST / HTTP/1.1\r\nContent-Length: 2000000\r\n\r\nxxxx";
        expect_refusal(server.address, body, 413).await;
        let head = format!("GET / HTTP/1.1\r\nX: {}\r\n\r\n", "v".repeat(20_000));
        expect_refusal(server.address, head.as_bytes(), 431).await;
        let uri = format!("GET /{} HTTP/1.1\r\n\r\n", "u".repeat(9_000));
        expect_refusal(server.address, uri.as_bytes(), 414).await;
        expect_refusal(server.address, b"GET / HTTP/1.2\r\n\r\n", 505).await;
        server.stop().await;
    });
}

#[test]
fn slow_client_gets_408_within_the_header_timeout() {
    run(|| async {
        let mut config = test_config();
        config.timeouts.header_timeout_ms = 200;
        let server = Server::start(config);
        let mut stream = connect(server.address).await;
        let started = Instant::now();
        stream
            .write_all(b"GET /slow HTTP/1.1\r\nHost: x\r\n")
            .await
            .unwrap();
        let responses = responses_until_close(&mut stream).await;
        let elapsed = started.elapsed();
        assert_eq!(responses.len(), 1);
        assert_eq!(responses[0].status, 408);
        assert!(elapsed >= Duration::from_millis(190), "{elapsed:?}");
        assert!(elapsed < Duration::from_millis(1_500), "{elapsed:?}");
        server.stop().await;
    });
}

#[test]
fn connection_limit_answers_503() {
    run(|| async {
        let mut config = test_config();
        config.connections_max = 1;
        let server = Server::start(config);
        let mut first = connect(server.address).await;
        // An answered request proves the first connection is counted.
        let reply = client::send(&mut first, &get("/one"), &HttpLimits::DEFAULT, 1_000).await;
        assert_eq!(reply.unwrap().response.status, 200);
        let mut second = connect(server.address).await;
        second
            .write_all(b"GET /two HTTP/1.1\r\n\r\n")
            .await
            .unwrap();
        let responses = responses_until_close(&mut second).await;
        assert_eq!(responses.len(), 1);
        assert_eq!(responses[0].status, 503);
        assert_eq!(json_of(&responses[0])["connections_max"], 1);
        drop(first);
        let report = server.stop().await;
        assert_eq!((report.accepted, report.refused), (1, 1));
    });
}

#[test]
fn connections_per_address_are_bounded_and_freed() {
    run(|| async {
        let mut config = test_config();
        config.connections_per_address_max = 2;
        let server = Server::start(config);
        let mut held = Vec::new();
        for _ in 0..2 {
            let mut connection = connect(server.address).await;
            let request = get("/a");
            let reply = client::send(&mut connection, &request, &HttpLimits::DEFAULT, 1_000);
            assert_eq!(reply.await.unwrap().response.status, 200);
            held.push(connection);
        }
        let mut third = connect(server.address).await;
        third.write_all(b"GET /b HTTP/1.1\r\n\r\n").await.unwrap();
        let responses = responses_until_close(&mut third).await;
        assert_eq!(responses[0].status, 503);
        assert_eq!(json_of(&responses[0])["connections_per_address_max"], 2);
        // One closes: the address has room again.
        drop(held.pop());
        glommio::timer::sleep(Duration::from_millis(50)).await;
        let mut fourth = connect(server.address).await;
        let reply = client::send(&mut fourth, &get("/c"), &HttpLimits::DEFAULT, 1_000).await;
        assert_eq!(reply.unwrap().response.status, 200);
        drop((held, fourth));
        let report = server.stop().await;
        assert_eq!((report.accepted, report.refused), (3, 1));
    });
}

#[test]
fn client_local_binding_is_seen_by_the_server() {
    run(|| async {
        let listener = listen("127.0.0.1:0".parse().unwrap()).unwrap();
        let remote = listener.local_addr().unwrap();
        // A port held by a listening socket cannot be bound: the range skips it.
        let taken = StdListener::bind("127.0.0.1:0").unwrap();
        let first = taken.local_addr().unwrap().port();
        let last = first.saturating_add(20);
        let range = LocalBind::PortRange {
            ip: [127, 0, 0, 1].into(),
            port_first: first,
            port_last: last,
        };
        let connecting = glommio::spawn_local(client::connect(remote, range, 1_000));
        let accepted = listener.accept().await.unwrap();
        let stream = connecting.await.unwrap();
        let peer = accepted.peer_addr().unwrap();
        assert_eq!(peer, stream.local_addr().unwrap());
        assert!(peer.port() > first && peer.port() <= last, "{peer}");
        // An exact address: the server sees that very port.
        let exact = LocalBind::Address(SocketAddr::new([127, 0, 0, 1].into(), peer.port() + 1));
        let connecting = glommio::spawn_local(client::connect(remote, exact, 1_000));
        let accepted = listener.accept().await.unwrap();
        connecting.await.unwrap();
        assert_eq!(accepted.peer_addr().unwrap().port(), peer.port() + 1);
    });
}

#[test]
fn client_reports_refused_connects_and_timeouts() {
    run(|| async {
        // Bound but not listening: the connect is refused.
        let closed = StdListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        let local = LocalBind::Address("127.0.0.1:0".parse().unwrap());
        let refused = client::connect(closed, local, 1_000).await.unwrap_err();
        assert!(matches!(refused, client::ClientError::Io(_)), "{refused}");
        // A server that accepts and never answers: the exchange times out.
        let listener = listen("127.0.0.1:0".parse().unwrap()).unwrap();
        let mut stream = connect(listener.local_addr().unwrap()).await;
        let _held = listener.accept().await.unwrap();
        let silent = client::send(&mut stream, &get("/"), &HttpLimits::DEFAULT, 100).await;
        assert!(matches!(
            silent,
            Err(client::ClientError::Timeout { timeout_ms: 100 })
        ));
    });
}
