//! The generator's reading of offer streams over a real socket: a tiny server thread writes
//! a chunked event stream in awkward pieces, and the generator's epoll-driven reader must
//! find every offer, its stamp, and an arrival time no earlier than the bytes were written.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use super::arrivals::Arrivals;
use super::offer_stream::{offer_stamp, Arrival, OfferStream, StreamError};

const HEAD: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\
    Cache-Control: no-cache\r\nTransfer-Encoding: chunked\r\n\r\n";

/// One chunk of `payload`.
fn chunk(payload: &str) -> Vec<u8> {
    let mut out = format!("{:x}\r\n", payload.len()).into_bytes();
    out.extend_from_slice(payload.as_bytes());
    out.extend_from_slice(b"\r\n");
    out
}

fn offer(id: &str, stamp: &str) -> String {
    format!(
        "event: offer\ndata: {{\"interaction\":{{\"id\":\"{id}\",\"data\":{{\"targets\":\
         \"Bench >= 1\",\"t\":{stamp}}}}},\"data\":{{}}}}\n\n"
    )
}

/// Accepts one connection, checks the request, then writes `pieces`, pausing between them
/// so they arrive as separate reads; sends the instant before each write on `written`.
fn serve(listener: TcpListener, pieces: Vec<Vec<u8>>, written: mpsc::Sender<Instant>) {
    let (mut socket, _) = listener.accept().expect("accept");
    let mut request = Vec::new();
    let mut byte = [0u8; 1];
    while !request.ends_with(b"\r\n\r\n") {
        assert_eq!(socket.read(&mut byte).expect("read the request"), 1);
        request.push(byte[0]);
    }
    let request = String::from_utf8(request).expect("ASCII request");
    assert!(
        request.starts_with("GET /agents/a7/offers HTTP/1.1\r\n"),
        "{request}"
    );
    for piece in pieces {
        thread::sleep(Duration::from_millis(5));
        written.send(Instant::now()).expect("the test listens");
        socket.write_all(&piece).expect("write");
    }
    thread::sleep(Duration::from_millis(50));
}

/// Polls `arrivals` until `count` offers came (or fails after five seconds).
fn collect(arrivals: &mut Arrivals, count: usize) -> Vec<Arrival> {
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut found = Vec::new();
    while found.len() < count {
        arrivals.poll(&mut found).expect("the stream reads");
        assert!(Instant::now() < deadline, "only {found:?}");
        thread::yield_now();
    }
    found
}

#[test]
fn offers_are_found_in_a_chunked_stream_split_anywhere() {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let address = listener.local_addr().expect("address");
    let first = chunk(&offer("i-1", "123"));
    let second = [chunk(":\n\n"), chunk(&offer("i-2", "456"))].concat();
    let revoked = chunk("event: revoked\ndata: {\"interaction\":\"i-1\"}\n\n");
    let third = [
        chunk("event: offer\ndata: {\"interaction\""),
        chunk(":{\"id\":\"x\"}}\n\n"),
    ];
    let pieces = vec![
        // The head alone, then the first offer split inside its chunk-size line and data.
        HEAD.to_vec(),
        first[..1].to_vec(),
        first[1..40].to_vec(),
        first[40..].to_vec(),
        // A keep-alive comment and the second offer in one read, then a revoked event.
        second,
        revoked,
        // An offer without a stamp, its event split over two chunks; then the body ends.
        third.concat(),
        b"0\r\n\r\n".to_vec(),
    ];
    let (tx, written) = mpsc::channel();
    let server = thread::spawn(move || serve(listener, pieces, tx));

    let mut arrivals = Arrivals::new().expect("epoll");
    let stream = OfferStream::open(address, "127.0.0.1", "a7").expect("open");
    assert!(!stream.is_streaming());
    arrivals.add(stream).expect("add");
    let found = collect(&mut arrivals, 3);
    assert_eq!(arrivals.streaming(), 1);
    let stamps: Vec<_> = found.iter().map(|a| a.stamp_ns).collect();
    assert_eq!(stamps, [Some(123), Some(456), None]);
    // Each offer arrived after the server wrote its last piece (same clock).
    let written: Vec<Instant> = written.iter().take(7).collect();
    assert!(found[0].arrived >= written[3]);
    assert!(found[1].arrived >= written[4]);
    assert!(found[2].arrived >= written[6]);
    // The end of the body is the end of the stream: an error naming the agent.
    let deadline = Instant::now() + Duration::from_secs(5);
    let error = loop {
        match arrivals.poll(&mut Vec::new()) {
            Err(message) => break message,
            Ok(()) => assert!(Instant::now() < deadline, "the stream did not end"),
        }
    };
    assert!(error.contains("a7") && error.contains("closed"), "{error}");
    server.join().expect("server thread");
}

#[test]
fn a_refused_stream_is_an_error_with_its_status() {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let address = listener.local_addr().expect("address");
    let refused = b"HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\n\
        Content-Length: 22\r\n\r\n{\"error\":\"no agent\"}\r\n"
        .to_vec();
    let (tx, _written) = mpsc::channel();
    let server = thread::spawn(move || serve(listener, vec![refused], tx));
    let mut stream = OfferStream::open(address, "127.0.0.1", "a7").expect("open");
    let deadline = Instant::now() + Duration::from_secs(5);
    let error = loop {
        match stream.read(&mut Vec::new()) {
            Err(error) => break error,
            Ok(()) => assert!(Instant::now() < deadline, "no answer"),
        }
        thread::sleep(Duration::from_millis(1));
    };
    assert!(
        matches!(error, StreamError::Status { status: 404 }),
        "{error}"
    );
    server.join().expect("server thread");
}

#[test]
fn the_stamp_is_the_interactions_t() {
    assert_eq!(
        offer_stamp(offer("i", "42").lines().nth(1).unwrap()[6..].trim()),
        Some(42)
    );
    assert_eq!(offer_stamp(r#"{"interaction":{"data":{"t":"42"}}}"#), None);
    assert_eq!(offer_stamp("not json"), None);
}
