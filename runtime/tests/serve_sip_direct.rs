//! The SIP routing point driven by clients written here rather than SIPp: over TLS
//! (`protocol = "sip"`, `tls = "on"`; SIPp as packaged has no TLS) with a rustls client,
//! over UDP on two listeners with plain sockets; routing points and certificates reloaded
//! live; conversations, redirects to numbers, broken strategies, dialog and method rules.

mod support;

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore, StreamOwned};
use serde_json::json;
use support::pki::Ca;
use support::{allow_documents, free_port, request, Server};

fn strategy(name: &str) -> String {
    format!(
        "{}/samples/strategies/{name}.scxml",
        env!("CARGO_MANIFEST_DIR")
    )
}

fn config(http: u16, sips: u16, dir: &support::TempDir, points: &str, sip_extra: &str) -> String {
    format!(
        r#"
[[listener]]
name = "http"
address = "127.0.0.1:{http}"
admin = true
[[listener]]
name = "sips"
protocol = "sip"
address = "127.0.0.1:{sips}"
tls = "on"
cert = "{cert}"
key = "{key}"
[sip]
default_destination = "sip:operator@127.0.0.1:5999"
media_server = "sip:127.0.0.1:5098"
{sip_extra}
[[entry_point]]
name = "voice"
application = "{voice}"
media = ["voice"]
[[entry_point]]
name = "treatment"
application = "{treatment}"
{points}
{documents}"#,
        documents = allow_documents(&[]),
        cert = dir.join("server.pem").display(),
        key = dir.join("server.key").display(),
        voice = strategy("voice"),
        treatment = strategy("voice_treatment"),
    )
}

/// A SIP-over-TLS connection reading whole responses (Content-Length: 0 here).
struct SipsClient {
    stream: StreamOwned<ClientConnection, TcpStream>,
    received: Vec<u8>,
}

impl SipsClient {
    fn connect(port: u16, ca: &Ca) -> SipsClient {
        let mut roots = RootCertStore::empty();
        let der = CertificateDer::from_pem_slice(ca.cert_pem.as_bytes()).expect("CA PEM");
        roots.add(der).expect("CA usable");
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("versions")
            .with_root_certificates(roots)
            .with_no_client_auth();
        let socket = TcpStream::connect(("127.0.0.1", port)).expect("connect");
        socket
            .set_read_timeout(Some(Duration::from_secs(5)))
            .expect("timeout");
        let name = ServerName::try_from("localhost").expect("name");
        let connection = ClientConnection::new(Arc::new(config), name).expect("client");
        SipsClient {
            stream: StreamOwned::new(connection, socket),
            received: Vec::new(),
        }
    }

    fn send(&mut self, message: &str) {
        self.stream.write_all(message.as_bytes()).expect("send");
        self.stream.flush().expect("flush");
    }

    /// The next whole response (head up to the blank line; no bodies are expected).
    fn response(&mut self) -> String {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            if let Some(end) = find(&self.received, b"\r\n\r\n") {
                let head: Vec<u8> = self.received.drain(..end + 4).collect();
                return String::from_utf8(head).expect("UTF-8");
            }
            assert!(Instant::now() < deadline, "no response");
            let mut chunk = [0u8; 4096];
            match self.stream.read(&mut chunk) {
                Ok(0) => panic!("connection closed"),
                Ok(n) => self.received.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => panic!("read: {e}"),
            }
        }
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn invite(number: &str, port: u16, branch: &str) -> String {
    format!(
        "INVITE sip:{number}@127.0.0.1:{port};transport=tls SIP/2.0\r\n\
         Via: SIP/2.0/TLS 127.0.0.1:5061;branch=z9hG4bK{branch}\r\n\
         From: <sip:+15550100@pbx.example>;tag=f{branch}\r\n\
         To: <sip:{number}@127.0.0.1>\r\n\
         Call-ID: {branch}@pbx.example\r\n\
         CSeq: 1 INVITE\r\n\
         Contact: <sips:pbx@127.0.0.1:5061>\r\n\
         Max-Forwards: 70\r\n\
         Content-Length: 0\r\n\r\n"
    )
}

fn status(response: &str) -> u16 {
    response[8..11].parse().expect("a status line")
}

fn header<'a>(response: &'a str, name: &str) -> Option<&'a str> {
    response
        .lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(':'))
        .map(str::trim)
}

/// The server with a TLS SIP listener, its HTTP and SIPS ports, the CA that signed its
/// certificate, and the directory holding the certificate (kept while the test runs).
fn start(tag: &str, points: &str) -> (Server, u16, u16, Ca, support::TempDir) {
    start_with(tag, points, "")
}

/// [`start`] with more `[sip]` keys (`sip_extra`; a `[limits]` table may follow them).
fn start_with(
    tag: &str,
    points: &str,
    sip_extra: &str,
) -> (Server, u16, u16, Ca, support::TempDir) {
    let (http, sips) = (free_port(), free_port());
    let ca = Ca::new("sip test CA");
    let leaf = ca.server("baton sips");
    let dir = support::TempDir::new(tag);
    dir.write("server.pem", &leaf.cert_pem);
    dir.write("server.key", &leaf.key_pem);
    let server = Server::start(tag, &config(http, sips, &dir, points, sip_extra), http);
    server.await_port(sips);
    (server, http, sips, ca, dir)
}

const VOICE_5000: &str = "[[routing_point]]\nnumber = \"5000\"\nentry_point = \"voice\"\n";

#[test]
fn calls_over_tls_are_routed_to_the_agent() {
    let (server, http, sips, ca, _pki) = start("sips", VOICE_5000);
    let body = json!({"skills": {"Mortgage": 8}, "capacity": {"voice": 1},
                      "addresses": {"voice": "sips:ada@agents.example"}});
    assert_eq!(
        request(http, "PUT", "/agents/ada", &body.to_string()).0,
        201
    );
    let ready = json!({"state": "ready"}).to_string();
    assert_eq!(request(http, "POST", "/agents/ada/state", &ready).0, 200);
    let mut client = SipsClient::connect(sips, &ca);
    client.send(
        "OPTIONS sip:127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/TLS 127.0.0.1:5061;branch=z9hG4bKo1\r\n\
         From: <sip:mon@x>;tag=1\r\nTo: <sip:127.0.0.1>\r\nCall-ID: o1\r\nCSeq: 1 OPTIONS\r\n\
         Content-Length: 0\r\n\r\n",
    );
    let options = client.response();
    assert_eq!(status(&options), 200, "{options}");
    assert!(header(&options, "Allow").is_some_and(|a| a.contains("INVITE")));
    client.send(&invite("5000", sips, "t1"));
    let trying = client.response();
    assert_eq!(status(&trying), 100, "{trying}");
    let answer = client.response();
    assert_eq!(status(&answer), 302, "{answer}");
    assert_eq!(
        header(&answer, "Contact"),
        Some("<sips:ada@agents.example>")
    );
    let to = header(&answer, "To").expect("To");
    assert!(to.contains(";tag="), "a To-tag on the final response: {to}");
    assert_eq!(header(&answer, "CSeq"), Some("1 INVITE"));
    assert_eq!(header(&answer, "Call-ID"), Some("t1@pbx.example"));
    // The ACK ends the transaction; the interaction is accepted by the agent.
    client.send(
        &invite("5000", sips, "t1")
            .replacen("INVITE sip", "ACK sip", 1)
            .replace("CSeq: 1 INVITE", "CSeq: 1 ACK")
            .replace("To: <sip:5000@127.0.0.1>", &format!("To: {to}")),
    );
    let (_, agent) = request(http, "GET", "/agents/ada", "");
    assert_eq!(agent["media"]["voice"]["load"], 1, "{agent}");
    drop(server);
}

#[test]
fn routing_points_and_certificates_reload_live() {
    let (server, http, sips, ca, pki) = start("sips-reload", VOICE_5000);
    let mut client = SipsClient::connect(sips, &ca);
    client.send(&invite("6000", sips, "r1"));
    let first = client.response();
    let first = match status(&first) {
        100 => client.response(),
        _ => first,
    };
    assert_eq!(status(&first), 404, "not a routing point yet: {first}");
    let added =
        format!("{VOICE_5000}[[routing_point]]\nnumber = \"6000\"\nentry_point = \"treatment\"\n");
    let text = std::fs::read_to_string(server.config_path()).expect("config");
    let text = text.replace(VOICE_5000, &added);
    std::fs::write(server.config_path(), text).expect("rewrite config");
    let other_ca = Ca::new("the next CA");
    let leaf = other_ca.server("baton sips, renewed");
    pki.write("server.pem", &leaf.cert_pem);
    pki.write("server.key", &leaf.key_pem);
    let (code, plan) = request(http, "POST", "/admin/reload", "");
    assert_eq!(code, 200, "{plan}");
    assert_eq!(plan["changes"]["entry_points_changed"], true, "{plan}");
    // The live connection keeps its session; a new one gets the renewed certificate.
    client.send(&invite("6000", sips, "r2"));
    assert_eq!(status(&client.response()), 100);
    let answer = client.response();
    assert_eq!(status(&answer), 302, "{answer}");
    let contact = header(&answer, "Contact").expect("Contact");
    assert!(
        contact.contains("play=http://media.example/welcome.wav"),
        "{contact}"
    );
    let mut renewed = SipsClient::connect(sips, &other_ca);
    renewed.send(&invite("6000", sips, "r3"));
    assert_eq!(status(&renewed.response()), 100);
    drop(server);
}

/// A caller's strategy that stays alive: the first call goes to a number, a second call of
/// the same caller joins the session and is rejected busy.
const CONVERSATION: &str = r#"<scxml xmlns="http://www.w3.org/2005/07/scxml" version="1.0"
  datamodel="ecmascript" xmlns:ixn="http://baton.dev/scxml/ixn" initial="talking">
  <datamodel><data id="calls" expr="0"/></datamodel>
  <state id="talking">
    <transition event="interaction.added" cond="calls == 0">
      <assign location="calls" expr="calls + 1"/>
      <ixn:route target="+15557777"/>
    </transition>
    <transition event="interaction.added" cond="calls > 0">
      <ixn:reject status="486" reason="already talking to us"/>
    </transition>
  </state>
</scxml>"#;

#[test]
fn a_callers_second_call_joins_the_conversation_and_a_broken_strategy_defaults() {
    let dir = support::TempDir::new("sips-conversation");
    let strategy = dir.write("conversation.scxml", CONVERSATION);
    let points = format!(
        "[[entry_point]]\nname = \"caller\"\napplication = \"{}\"\nconversation = \"customer\"\n\
         [[entry_point]]\nname = \"broken\"\napplication = \"{}\"\n\
         [[routing_point]]\nnumber = \"7000\"\nentry_point = \"caller\"\n\
         [[routing_point]]\nnumber = \"7001\"\nentry_point = \"broken\"\n",
        strategy.display(),
        dir.join("missing.scxml").display(),
    );
    let (server, http, sips, ca, _pki) = start("sips-conversation", &points);
    let mut client = SipsClient::connect(sips, &ca);
    client.send(&invite("7000", sips, "c1"));
    assert_eq!(status(&client.response()), 100);
    let first = client.response();
    assert_eq!(status(&first), 302, "{first}");
    // A number becomes a SIP URI at the host the call was sent to.
    let expected = format!("<sip:+15557777@127.0.0.1:{sips}>");
    assert_eq!(header(&first, "Contact"), Some(expected.as_str()));
    client.send(&invite("7000", sips, "c2"));
    assert_eq!(status(&client.response()), 100);
    let second = client.response();
    assert_eq!(status(&second), 486, "{second}");
    assert!(header(&second, "Warning").is_some_and(|w| w.contains("already talking")));
    let (_, sessions) = request(http, "GET", "/scxml/sessions", "");
    assert_eq!(sessions["total"], 1, "one conversation: {sessions}");
    // A strategy that cannot be loaded sends the call to the default destination.
    client.send(&invite("7001", sips, "b1"));
    assert_eq!(status(&client.response()), 100);
    let broken = client.response();
    assert_eq!(status(&broken), 302, "{broken}");
    assert_eq!(
        header(&broken, "Contact"),
        Some("<sip:operator@127.0.0.1:5999>")
    );
    drop(server);
}

/// One UDP datagram's answer from `socket`, with the address it came from.
fn udp_answer(socket: &std::net::UdpSocket) -> (String, std::net::SocketAddr) {
    let mut buffer = [0u8; 4096];
    let (length, from) = socket.recv_from(&mut buffer).expect("an answer");
    (
        String::from_utf8_lossy(&buffer[..length]).into_owned(),
        from,
    )
}

fn udp_request(method: &str, number: &str, port: u16, branch: &str, to_tag: &str) -> String {
    format!(
        "{method} sip:{number}@127.0.0.1:{port} SIP/2.0\r\n\
         Via: SIP/2.0/UDP 127.0.0.1;rport;branch=z9hG4bK{branch}\r\n\
         From: <sip:+15550100@pbx.example>;tag=f{branch}\r\n\
         To: <sip:{number}@127.0.0.1>{to_tag}\r\n\
         Call-ID: {branch}@pbx.example\r\n\
         CSeq: 1 {method}\r\n\
         Max-Forwards: 70\r\n\
         Content-Length: 0\r\n\r\n"
    )
}

#[test]
fn each_udp_listener_answers_from_its_own_socket_and_methods_follow_the_rfc() {
    let (http, first, second) = (free_port(), free_port(), free_port());
    let config = format!(
        "[[listener]]\nname = \"http\"\naddress = \"127.0.0.1:{http}\"\n\
         [[listener]]\nname = \"sip-a\"\nprotocol = \"sip\"\naddress = \"127.0.0.1:{first}\"\n\
         [[listener]]\nname = \"sip-b\"\nprotocol = \"sip\"\naddress = \"127.0.0.1:{second}\"\n\
         [sip]\nmedia_server = \"sip:127.0.0.1:5098\"\n\
         [[entry_point]]\nname = \"treatment\"\napplication = \"{}\"\n\
         [[routing_point]]\nnumber = \"6000\"\nentry_point = \"treatment\"\n",
        strategy("voice_treatment")
    );
    let server = Server::start("sip-udp", &config, http);
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
    socket
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    for (port, branch) in [(first, "u1"), (second, "u2")] {
        let invite = udp_request("INVITE", "6000", port, branch, "");
        socket
            .send_to(invite.as_bytes(), ("127.0.0.1", port))
            .expect("send");
        let (trying, from) = udp_answer(&socket);
        assert_eq!(status(&trying), 100, "{trying}");
        assert_eq!(from.port(), port, "answered from the listener called");
        let (answer, from) = udp_answer(&socket);
        assert_eq!(status(&answer), 302, "{answer}");
        assert_eq!(from.port(), port, "answered from the listener called");
        let via = header(&answer, "Via").expect("Via");
        let local = socket.local_addr().expect("local").port();
        assert!(via.contains(&format!("rport={local}")), "{via}");
    }
    let cases = [
        ("INVITE", ";tag=dialog", 481), // a re-INVITE: a redirect server has no dialogs
        ("REGISTER", "", 405),
        ("INFO", "", 405),
        ("FROBNICATE", "", 501),
        ("BYE", ";tag=x", 481),
    ];
    // RFC 3261 §8.2.2.3: Baton supports no extension a caller may require.
    let requiring = udp_request("INVITE", "6000", first, "req", "").replace(
        "Max-Forwards: 70\r\n",
        "Max-Forwards: 70\r\nRequire: 100rel\r\nRequire: timer, foo\r\n",
    );
    socket
        .send_to(requiring.as_bytes(), ("127.0.0.1", first))
        .expect("send");
    let (trying, _) = udp_answer(&socket);
    assert_eq!(status(&trying), 100, "{trying}");
    let (refusal, _) = udp_answer(&socket);
    assert_eq!(status(&refusal), 420, "{refusal}");
    assert_eq!(header(&refusal, "Unsupported"), Some("100rel, timer, foo"));
    for (index, (method, to_tag, expected)) in cases.into_iter().enumerate() {
        let branch = format!("m{index}");
        let request = udp_request(method, "6000", first, &branch, to_tag);
        socket
            .send_to(request.as_bytes(), ("127.0.0.1", first))
            .expect("send");
        let (mut answer, _) = udp_answer(&socket);
        if status(&answer) == 100 {
            answer = udp_answer(&socket).0;
        }
        assert_eq!(status(&answer), expected, "{method}: {answer}");
    }
    drop(server);
}

#[test]
fn with_trying_after_ms_a_call_answered_in_time_gets_no_100() {
    let (http, port) = (free_port(), free_port());
    let config = format!(
        "[[listener]]\nname = \"http\"\naddress = \"127.0.0.1:{http}\"\n\
         [[listener]]\nname = \"sip\"\nprotocol = \"sip\"\naddress = \"127.0.0.1:{port}\"\n\
         [sip]\nmedia_server = \"sip:127.0.0.1:5098\"\ntrying_after_ms = 150\n\
         default_destination = \"sip:operator@127.0.0.1:5999\"\nroute_timeout_ms = 600\n\
         [[entry_point]]\nname = \"treatment\"\napplication = \"{}\"\n\
         [[entry_point]]\nname = \"undecided\"\napplication = \"{}\"\n\
         [[routing_point]]\nnumber = \"6000\"\nentry_point = \"treatment\"\n\
         [[routing_point]]\nnumber = \"6001\"\nentry_point = \"undecided\"\n",
        strategy("voice_treatment"),
        strategy("voice_undecided"),
    );
    let server = Server::start("sip-trying", &config, http);
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
    socket
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let send = |request: String| {
        socket
            .send_to(request.as_bytes(), ("127.0.0.1", port))
            .expect("send");
    };
    // Decided at once: the 302 is the first and only answer.
    send(udp_request("INVITE", "6000", port, "t1", ""));
    let (answer, _) = udp_answer(&socket);
    assert_eq!(status(&answer), 302, "{answer}");
    let to = header(&answer, "To").expect("To");
    let tag = &to[to.find(";tag=").expect("a To tag")..];
    send(udp_request("ACK", "6000", port, "t1", tag));
    // Undecided: the 100 after trying_after_ms, the default destination after the timeout.
    let sent = Instant::now();
    send(udp_request("INVITE", "6001", port, "t2", ""));
    let (trying, _) = udp_answer(&socket);
    assert_eq!(status(&trying), 100, "{trying}");
    let waited = sent.elapsed();
    assert!(waited >= Duration::from_millis(140), "100 after {waited:?}");
    assert!(waited < Duration::from_millis(550), "100 after {waited:?}");
    let (answer, _) = udp_answer(&socket);
    assert_eq!(status(&answer), 302, "{answer}");
    let contact = header(&answer, "Contact").expect("Contact");
    assert!(contact.contains("operator@127.0.0.1:5999"), "{contact}");
    drop(server);
}

/// Reads from `stream` until the server closes it; panics on data or after 5 s.
fn await_close(stream: &mut impl Read) {
    let mut byte = [0u8; 64];
    match stream.read(&mut byte) {
        Ok(0) => {}
        Err(e) if e.kind() == io::ErrorKind::ConnectionReset => {}
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => {}
        other => panic!("expected the server to close the connection, got {other:?}"),
    }
}

#[test]
fn silent_connections_are_closed_and_handshakes_count_against_the_bound() {
    let extra = "connection_idle_ms = 400\n[limits]\nconnections_per_shard_max = 2\n";
    let (server, _http, sips, ca, _pki) = start_with("sips-idle", VOICE_5000, extra);
    let connect = || {
        let stream = TcpStream::connect(("127.0.0.1", sips)).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .expect("timeout");
        stream
    };
    // The harness's port probe holds a place until the server reads its close.
    std::thread::sleep(Duration::from_millis(200));
    let started = Instant::now();
    // Two peers that never start their handshakes hold both places.
    let mut silent = [connect(), connect()];
    std::thread::sleep(Duration::from_millis(100));
    let mut third = connect();
    await_close(&mut third);
    assert!(
        started.elapsed() < Duration::from_millis(350),
        "the third was refused at once, not timed out"
    );
    for stream in &mut silent {
        await_close(stream);
    }
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(380),
        "closed after {waited:?}"
    );
    // Their places are free again; a peer silent after its handshake is closed too.
    let mut client = SipsClient::connect(sips, &ca);
    let options = invite("5000", sips, "idle").replace("INVITE", "OPTIONS");
    client.send(&options);
    assert_eq!(status(&client.response()), 200);
    let quiet = Instant::now();
    await_close(&mut client.stream);
    let waited = quiet.elapsed();
    assert!(
        waited >= Duration::from_millis(350),
        "closed after {waited:?}"
    );
    drop(server);
}
