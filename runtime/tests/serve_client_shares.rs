//! Shares of a shard that one client cannot exceed, end to end over real sockets: HTTP
//! connections per client address, an agent's offer streams, and the bytes of a query
//! answer. Each test asserts the refusal and that another client (a canary) keeps being
//! served.

mod support;

use std::time::Duration;

use serde_json::json;

use support::http::tcp_from;
use support::routing::{create_interaction, put_agent, set_state, Desktop};
use support::{allow_documents, free_port, request, Connection, Server};

fn start(tag: &str, limits: &str, extra: &str) -> Server {
    let port = free_port();
    let text = format!(
        "[runtime]\ncores = [0]\nio_memory_bytes = 1048576\n\n[limits]\n{limits}\n\
         [[listener]]\nname = \"api\"\naddress = \"127.0.0.1:{port}\"\n\n{extra}\n{}",
        allow_documents(&[])
    );
    Server::start(&format!("client-shares-{tag}"), &text, port)
}

#[test]
fn one_address_fills_only_its_own_connection_share() {
    let server = start("connections", "connections_per_address_max = 4\n", "");
    let port = server.port;
    // Four connections from 127.0.0.5 held open (as a slow-loris sender would) fill that
    // address's share; a fifth from it is refused at once. An answered request on each
    // proves the server has accepted it (a loaded host may take a while to). The harness's
    // own probes come from 127.0.0.1, so they cannot take part of this address's share.
    let sender = [127, 0, 0, 5];
    let mut held: Vec<Connection> = (0..4)
        .map(|_| Connection::open_from(port, sender))
        .collect();
    for connection in &mut held {
        assert_eq!(connection.send("GET", "/health", "").0, 200);
    }
    let mut fifth = Connection::open_from(port, sender);
    let (status, _, body) = fifth.receive();
    assert_eq!(status, 503, "{body}\n{}", server.log());
    assert!(body.contains("connections_per_address_max"), "{body}");
    // Another address is served meanwhile.
    let mut canary = Connection::open_from(port, [127, 0, 0, 2]);
    let (status, _) = canary.send("GET", "/health", "");
    assert_eq!(status, 200);
    // The share frees as its connections close.
    drop(held);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while Connection::open_from(port, sender)
        .send("GET", "/health", "")
        .0
        != 200
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the share was never freed"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_new_offer_stream_replaces_the_agents_old_one() {
    let chat = format!(
        "{}/samples/strategies/chat.scxml",
        env!("CARGO_MANIFEST_DIR")
    );
    let extra = format!("[[entry_point]]\nname = \"support\"\napplication = \"{chat}\"\n");
    let server = start("streams", "", &extra);
    let port = server.port;
    put_agent(
        port,
        "alice",
        json!({"groups": ["Chat"], "capacity": {"chat": 1}}),
    );
    let mut first = Desktop::open(port, "alice");
    let mut second = Desktop::open(port, "alice");
    let replaced = first.expect("replaced");
    assert!(
        replaced["reason"]
            .as_str()
            .unwrap()
            .contains("another offer stream"),
        "{replaced}"
    );
    first.expect_closed();
    set_state(port, "alice", "ready");
    let (id, _) = create_interaction(port, json!({"media": "chat", "entry_point": "support"}));
    let offer = second.expect("offer");
    assert_eq!(offer["interaction"]["id"], id.as_str());
    let (_, agent) = request(port, "GET", "/agents/alice", "");
    assert_eq!(agent["streams"], 1, "{agent}");
}

#[test]
fn a_huge_datamodel_is_left_out_of_its_query_answer() {
    let server = start("query", "query_bytes_max = 65536\n", "");
    let port = server.port;
    let dir = server.dir();
    let big = dir.write(
        "big.scxml",
        r#"<scxml xmlns="http://www.w3.org/2005/07/scxml" version="1.0" datamodel="ecmascript">
             <datamodel><data id="blob" expr="'x'.repeat(1000000)"/></datamodel>
             <state id="waiting"/>
           </scxml>"#,
    );
    let mut connection = Connection::open(port);
    let id = connection.start(big.to_str().unwrap(), json!({}));
    let (status, answer) = connection.query(&id);
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["datamodel"], serde_json::Value::Null);
    assert!(
        answer["datamodel_omitted"]
            .as_str()
            .unwrap()
            .contains("limits.query_bytes_max"),
        "{answer}"
    );
    assert_eq!(answer["configuration"], json!(["waiting"]));
    // A session of ordinary size answers in full.
    let small = dir.write(
        "small.scxml",
        r#"<scxml xmlns="http://www.w3.org/2005/07/scxml" version="1.0" datamodel="ecmascript">
             <datamodel><data id="n" expr="42"/></datamodel>
             <state id="waiting"/>
           </scxml>"#,
    );
    let canary = connection.start(small.to_str().unwrap(), json!({}));
    let (status, answer) = connection.query(&canary);
    assert_eq!(status, 200);
    assert_eq!(answer["datamodel"]["n"], 42, "{answer}");
}

/// An OPTIONS request over TCP from `source`, as a SIP peer would send it.
fn sip_options(source: std::net::SocketAddr) -> String {
    format!(
        "OPTIONS sip:baton@127.0.0.1 SIP/2.0\r\n\
         Via: SIP/2.0/TCP {source};branch=z9hG4bK-shares-{}\r\n\
         Max-Forwards: 70\r\nFrom: <sip:probe@test>;tag=1\r\nTo: <sip:baton@127.0.0.1>\r\n\
         Call-ID: shares-{}@test\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n",
        source.port(),
        source.port()
    )
}

#[test]
fn one_address_fills_only_its_own_sip_connection_share() {
    use std::io::{Read, Write};
    let sip = free_port();
    let extra = format!(
        "[[listener]]\nname = \"sip\"\nprotocol = \"sip\"\naddress = \"127.0.0.1:{sip}\"\n"
    );
    let server = start("sip", "connections_per_address_max = 2\n", &extra);
    server.await_log("listening on sip");
    // Two connections from 127.0.0.1, each shown accepted by an answered OPTIONS.
    let mut held: Vec<_> = (0..2).map(|_| tcp_from([127, 0, 0, 1], sip)).collect();
    for connection in &mut held {
        assert!(options(connection).starts_with("SIP/2.0 200"));
    }
    // A third from that address is closed at once: end of stream (or a reset), no answer.
    let mut third = tcp_from([127, 0, 0, 1], sip);
    let _ = third.write_all(b"OPTIONS");
    let read = third.read(&mut [0u8; 1]);
    assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");
    // Another address is served.
    let mut canary = tcp_from([127, 0, 0, 3], sip);
    let answer = options(&mut canary);
    assert!(answer.starts_with("SIP/2.0 200"), "{answer}");
}

/// Sends OPTIONS on `connection`; the answer's text.
fn options(connection: &mut std::net::TcpStream) -> String {
    use std::io::{Read, Write};
    let local = connection.local_addr().expect("local address");
    connection
        .write_all(sip_options(local).as_bytes())
        .expect("send OPTIONS");
    let mut answer = vec![0u8; 2048];
    let n = connection.read(&mut answer).expect("an answer");
    String::from_utf8_lossy(&answer[..n]).into_owned()
}
