//! Streamed responses (Server-Sent Events) over real loopback sockets, plain and TLS: pieces
//! arrive as they are produced, the stream ends with the last chunk, a client that leaves or
//! stops reading is noticed, a stop ends idle streams, and HTTP/1.0 gets a close-delimited body.

use std::net::SocketAddr;
use std::rc::Rc;
use std::time::{Duration, Instant};

use futures_lite::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use glommio::net::TcpStream;
use glommio::Task;

use super::body_stream::BodyStream;
use super::client::{self, BodyReader, LocalBind};
use super::codec::{HttpLimits, OutboundRequest, Request, Response};
use super::server::{
    accept_loop, accept_loop_with, listen, AcceptReport, Handler, Peer, ServerConfig, StopSignal,
};
use super::sse::{self, SseDecoder, SseEvent};
use super::tests::run;
use crate::tls::test_pki::Ca;
use crate::tls::{connect as tls_connect, ClientTls, ServerTls, SharedServerTls, TlsMode};

/// Each stream's producer: the sending end of the channel its body reads.
type Producer = flume::Sender<Vec<u8>>;

/// `GET /events` answers an event stream and hands its producer to the test; anything else
/// is a small JSON answer.
struct Streams {
    producers: flume::Sender<Producer>,
}

impl Handler for Streams {
    async fn handle(&self, request: &Request, _peer: &Peer) -> Response {
        if request.path() != "/events" {
            return Response::json(200, br#"{"plain":true}"#.to_vec());
        }
        let (producer, pieces) = flume::bounded(16);
        self.producers.send(producer).unwrap();
        let mut response = sse::response(BodyStream::new(pieces.into_stream()));
        response.body = b"retry: 1500\n\n".to_vec(); // Sent as the first piece.
        response
    }
}

/// Timeouts far below how long the tests keep streams idle.
fn short_timeouts() -> ServerConfig {
    let mut config = ServerConfig::default();
    config.timeouts.header_timeout_ms = 300;
    config.timeouts.request_timeout_ms = 300;
    config.timeouts.idle_timeout_ms = 300;
    config
}

struct Server {
    address: SocketAddr,
    stop: StopSignal,
    task: Task<AcceptReport>,
    producers: flume::Receiver<Producer>,
}

impl Server {
    fn start(tls: Option<ServerTls>) -> Self {
        let listener = listen("127.0.0.1:0".parse().unwrap()).unwrap();
        let address = listener.local_addr().unwrap();
        let stop = StopSignal::new();
        let (sender, producers) = flume::unbounded();
        let handler = Rc::new(Streams { producers: sender });
        let (config, signal) = (short_timeouts(), stop.clone());
        let task = match tls {
            None => glommio::spawn_local(accept_loop(listener, handler, config, signal)),
            Some(tls) => {
                let acceptor = Rc::new(SharedServerTls::new(tls));
                glommio::spawn_local(accept_loop_with(
                    listener, acceptor, handler, config, signal,
                ))
            }
        };
        Self {
            address,
            stop,
            task,
            producers,
        }
    }

    async fn producer(&self) -> Producer {
        self.producers.recv_async().await.unwrap()
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

fn get(target: &str) -> OutboundRequest<'_> {
    OutboundRequest {
        method: "GET",
        target,
        host: "test",
        headers: &[("Accept", "text/event-stream")],
        body: b"",
        close: false,
    }
}

/// An open event stream as a client sees it: body pieces decoded into events.
struct Events {
    body: BodyReader,
    decoder: SseDecoder,
    events: Vec<SseEvent>,
}

impl Events {
    async fn open<S: AsyncRead + AsyncWrite + Unpin>(stream: &mut S) -> Self {
        let request = get("/events");
        let opening = client::open_stream(stream, &request, &HttpLimits::DEFAULT, 1_000);
        let (head, body) = opening.await.unwrap();
        assert_eq!(head.status, 200);
        assert_eq!(head.header("content-type"), Some(sse::CONTENT_TYPE));
        assert_eq!(head.header("cache-control"), Some("no-cache"));
        Self {
            body,
            decoder: SseDecoder::new(64 * 1024),
            events: Vec::new(),
        }
    }

    /// The next event, waiting at most 1 s; `None` when the body ended.
    async fn next<S: AsyncRead + Unpin>(&mut self, stream: &mut S) -> Option<SseEvent> {
        let deadline = Instant::now() + Duration::from_secs(1);
        while self.events.is_empty() {
            let wait = deadline.saturating_duration_since(Instant::now());
            let read = futures_lite::future::or(
                async { Some(self.body.next(stream).await.unwrap().map(<[u8]>::to_vec)) },
                async {
                    glommio::timer::sleep(wait).await;
                    None
                },
            );
            let piece = read.await.expect("an event or the end within 1 s")?;
            self.decoder.decode(&piece, &mut self.events).unwrap();
        }
        Some(self.events.remove(0))
    }
}

fn offer(n: u32) -> Vec<u8> {
    sse::event("offer", &format!("{{\"n\":{n}}}"))
}

/// Waits until `producer` sees its stream dropped; returns how long that took.
async fn until_dropped(producer: &Producer) -> Duration {
    let started = Instant::now();
    while !producer.is_disconnected() {
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "stream not dropped"
        );
        glommio::timer::sleep(Duration::from_millis(5)).await;
    }
    started.elapsed()
}

/// Plain and TLS: a normal request first, then a stream whose events arrive one by one across
/// idle gaps longer than every server timeout, then its end (last chunk, connection closed).
async fn stream_round_trip<S: AsyncRead + AsyncWrite + Unpin>(server: &Server, stream: &mut S) {
    let request = get("/plain");
    let plain = client::send(stream, &request, &HttpLimits::DEFAULT, 1_000);
    let plain = plain.await.unwrap();
    assert_eq!((plain.response.status, plain.keep_alive), (200, true));
    let mut events = Events::open(stream).await;
    let producer = server.producer().await;
    for n in 0..3 {
        // Each event is produced only after the previous one arrived: no batching delay.
        producer.send_async(offer(n)).await.unwrap();
        let event = events.next(stream).await.unwrap();
        assert_eq!(
            (event.name.as_str(), event.data),
            ("offer", format!("{{\"n\":{n}}}"))
        );
        glommio::timer::sleep(Duration::from_millis(if n == 0 { 700 } else { 10 })).await;
    }
    assert_eq!(
        events.decoder.retry_ms(),
        Some(1500),
        "the body's first piece"
    );
    producer.send_async(sse::KEEP_ALIVE.to_vec()).await.unwrap();
    drop(producer);
    assert_eq!(
        events.next(stream).await,
        None,
        "the last chunk ends the body"
    );
    assert_eq!(events.decoder.comments(), 1);
    let mut rest = Vec::new();
    assert_eq!(
        stream.read_to_end(&mut rest).await.unwrap(),
        0,
        "then it closes"
    );
}

#[test]
fn events_arrive_as_produced_across_idle_gaps_then_the_stream_ends() {
    run(|| async {
        let server = Server::start(None);
        let mut stream = connect(server.address).await;
        stream_round_trip(&server, &mut stream).await;
        let report = server.stop().await;
        assert_eq!((report.accepted, report.requests), (1, 2));
    });
}

#[test]
fn tls_listener_streams_events() {
    run(|| async {
        let ca = Ca::new("stream-ca");
        let leaf = ca.server("stream");
        let (cert, key) = (leaf.cert_pem.as_bytes(), leaf.key_pem.as_bytes());
        let tls = ServerTls::load(cert, key, None, TlsMode::On).unwrap();
        let server = Server::start(Some(tls));
        let client = ClientTls::load(Some(ca.cert_pem.as_bytes()), None).unwrap();
        let tcp = connect(server.address).await;
        let mut stream = tls_connect(&client, "localhost", tcp).await.unwrap();
        stream_round_trip(&server, &mut stream).await;
        server.stop().await;
    });
}

#[test]
fn a_client_leaving_an_idle_stream_drops_it_promptly() {
    run(|| async {
        let server = Server::start(None);
        let mut stream = connect(server.address).await;
        let mut events = Events::open(&mut stream).await;
        let producer = server.producer().await;
        producer.send_async(offer(1)).await.unwrap();
        assert!(events.next(&mut stream).await.is_some());
        drop(stream);
        let waited = until_dropped(&producer).await;
        assert!(waited < Duration::from_millis(200), "{waited:?}");
        assert!(producer.send_async(offer(2)).await.is_err());
        server.stop().await;
    });
}

#[test]
fn a_stop_ends_idle_streams_with_the_last_chunk() {
    run(|| async {
        let server = Server::start(None);
        let mut stream = connect(server.address).await;
        let mut events = Events::open(&mut stream).await;
        let producer = server.producer().await;
        let started = Instant::now();
        let stopping = glommio::spawn_local({
            let stop = server.stop.clone();
            async move { stop.stop() }
        });
        stopping.await;
        assert_eq!(events.next(&mut stream).await, None);
        let report = server.task.await;
        assert!(started.elapsed() < Duration::from_millis(200));
        assert_eq!((report.accepted, report.requests), (1, 1));
        until_dropped(&producer).await;
    });
}

#[test]
fn a_client_that_stops_reading_is_cut_after_the_request_timeout() {
    run(|| async {
        let server = Server::start(None);
        let mut stream = connect(server.address).await;
        Events::open(&mut stream).await;
        let producer = server.producer().await;
        // The client reads nothing more; once the socket buffers are full a write waits, and
        // after request_timeout_ms (300 ms) the server gives up and drops the stream.
        let started = Instant::now();
        let piece = vec![b'x'; 64 * 1024];
        while producer.send_async(piece.clone()).await.is_ok() {
            assert!(started.elapsed() < Duration::from_secs(5), "never cut");
        }
        assert!(started.elapsed() >= Duration::from_millis(300));
        drop(stream);
        server.stop().await;
    });
}

#[test]
fn http_1_0_gets_a_close_delimited_body() {
    run(|| async {
        let server = Server::start(None);
        let mut stream = connect(server.address).await;
        stream
            .write_all(b"GET /events HTTP/1.0\r\n\r\n")
            .await
            .unwrap();
        let producer = server.producer().await;
        producer.send_async(offer(1)).await.unwrap();
        producer.send_async(offer(2)).await.unwrap();
        drop(producer);
        let mut bytes = Vec::new();
        stream.read_to_end(&mut bytes).await.unwrap();
        let text = String::from_utf8(bytes).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
        assert!(head.contains("\r\nConnection: close"), "{head}");
        assert!(
            !head.to_ascii_lowercase().contains("transfer-encoding"),
            "{head}"
        );
        assert!(
            !head.to_ascii_lowercase().contains("content-length"),
            "{head}"
        );
        let expected = [b"retry: 1500\n\n".to_vec(), offer(1), offer(2)].concat();
        assert_eq!(body.as_bytes(), expected);
        server.stop().await;
    });
}

#[test]
fn a_head_request_gets_the_stream_head_only() {
    run(|| async {
        let server = Server::start(None);
        let mut stream = connect(server.address).await;
        stream
            .write_all(b"HEAD /events HTTP/1.1\r\n\r\n")
            .await
            .unwrap();
        let producer = server.producer().await;
        let mut bytes = Vec::new();
        stream.read_to_end(&mut bytes).await.unwrap();
        let text = String::from_utf8(bytes).unwrap();
        assert!(text.ends_with("Connection: close\r\n\r\n"), "{text}");
        assert!(text.contains("Transfer-Encoding: chunked\r\n"), "{text}");
        until_dropped(&producer).await;
        server.stop().await;
    });
}
