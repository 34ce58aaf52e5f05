//! `baton serve` end to end: the real binary, a real TCP listener, plain HTTP/1.1 requests
//! from a std socket, and SIGTERM for a graceful stop.

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use support::{
    allow_documents, free_port, metric, request, request_text, start_session, Server, SAMPLE,
};

fn start_server() -> Server {
    let port = free_port();
    let text = format!(
        "[runtime]\ncores = [0]\nio_memory_bytes = 1048576\n\n[limits]\n\
         sessions_per_shard_max = 100\n\n[[listener]]\nname = \"api\"\n\
         address = \"127.0.0.1:{port}\"\n\n[application]\nname = \"greeter\"\n\
         src = \"{SAMPLE}\"\n\n{}",
        allow_documents(&[])
    );
    Server::start("serve", &text, port)
}

#[test]
fn session_lifecycle_over_http() {
    let server = start_server();
    let port = server.port;
    let (status, body) = request(port, "GET", "/health", "");
    assert_eq!((status, &body["status"]), (200, &serde_json::json!("ok")));

    let id = start_session(port, &format!(r#"{{"src": "{SAMPLE}", "queue": "vip"}}"#));

    let (status, body) = request(port, "GET", &format!("/scxml/session/{id}/query"), "");
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["configuration"],
        serde_json::json!(["call", "waiting"])
    );
    assert_eq!(
        body["datamodel"]["queue"], "vip",
        "start parameters initialise <data>"
    );

    let event = format!("/scxml/session/{id}/event/call.offered");
    let (status, _) = request(port, "POST", &event, r#"{"language": "en"}"#);
    assert_eq!(status, 200);
    let configuration = poll_configuration(port, &id, "queued");
    assert_eq!(configuration, serde_json::json!(["call", "queued"]));

    let (status, body) = request(port, "GET", "/scxml/sessions", "");
    assert_eq!((status, &body["total"]), (200, &serde_json::json!(1)));

    let (status, _) = request(port, "POST", &format!("/scxml/session/{id}/terminate"), "");
    assert_eq!(status, 200);
    let (status, _) = request(port, "GET", &format!("/scxml/session/{id}/query"), "");
    assert_eq!(status, 404, "a terminated session is gone");

    // `<log>` lines reach stderr, each naming its session.
    let stderr = stop_and_read_stderr(server);
    assert!(
        stderr.contains(&format!("[session {id}] queued on: vip")),
        "{stderr}"
    );
}

/// Stops the server with SIGTERM and returns everything it wrote on stderr.
fn stop_and_read_stderr(server: Server) -> String {
    server.stop().1
}

/// Events are processed by the shard's driver after the answer: poll until the session
/// reaches `state` (bounded).
fn poll_configuration(port: u16, id: &str, state: &str) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let (_, body) = request(port, "GET", &format!("/scxml/session/{id}/query"), "");
        let configuration = body["configuration"].clone();
        if configuration
            .as_array()
            .is_some_and(|a| a.iter().any(|s| s == state))
        {
            return configuration;
        }
        assert!(
            Instant::now() < deadline,
            "session never reached {state}: {body}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn bad_requests_get_json_errors() {
    let server = start_server();
    let port = server.port;
    let (status, body) = request(port, "POST", "/scxml/session/start", "{}");
    assert_eq!(status, 400);
    assert!(
        body["error"].as_str().is_some_and(|e| e.contains("src")),
        "{body}"
    );

    let dir = std::env::temp_dir().join(format!("baton-bad-{}-{port}.scxml", std::process::id()));
    std::fs::write(
        &dir,
        "<scxml xmlns=\"http://www.w3.org/2005/07/scxml\">\n<state id=\"a\">\n\
        <transition target=\"nowhere\"/></state></scxml>",
    )
    .expect("write bad doc");
    let start = format!(r#"{{"src": "{}"}}"#, dir.display());
    let (status, body) = request(port, "POST", "/scxml/session/start", &start);
    let _ = std::fs::remove_file(&dir);
    assert_eq!(status, 400);
    let error = body["error"].as_str().unwrap_or_default();
    assert!(
        error.contains(":3:") && error.contains("nowhere"),
        "file:line:col: {error}"
    );

    let (status, _) = request(port, "POST", "/scxml/session/nope/event/x", "");
    assert_eq!(status, 404);
    let (status, _) = request(port, "GET", "/scxml/session/start", "");
    assert_eq!(status, 405);
    let (status, _) = request(port, "GET", "/no/such/path", "");
    assert_eq!(status, 404);
    let (status, _) = request(port, "POST", "/scxml/session/start", "{not json");
    assert_eq!(status, 400);
}

#[test]
fn a_full_shard_and_an_oversized_body_are_refused_with_a_reason() {
    let server = start_server();
    let port = server.port;
    let start = format!(r#"{{"src": "{SAMPLE}"}}"#);
    // The test configuration holds 100 sessions per shard.
    for n in 0..100 {
        let (status, body) = request(port, "POST", "/scxml/session/start", &start);
        assert_eq!(status, 200, "session {n}: {body}");
    }
    let (status, body) = request(port, "POST", "/scxml/session/start", &start);
    assert_eq!(status, 503, "{body}");
    let reason = body["error"].as_str().expect("a JSON reason");
    assert!(reason.contains("100"), "{reason}");
    assert_eq!(
        request(port, "GET", "/health", "").0,
        200,
        "the shard still serves"
    );

    // A body over limits.body_bytes_max (default 1 MiB) is refused from its head alone.
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let head = "POST /scxml/session/start HTTP/1.1\r\nHost: test\r\n\
                Content-Type: application/json\r\nContent-Length: 2000000\r\n\r\n";
    stream.write_all(head.as_bytes()).expect("write head");
    let mut answer = String::new();
    stream.read_to_string(&mut answer).expect("read answer");
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(answer.contains("\"error\""), "{answer}");
}

#[test]
fn the_provisioned_application_starts_by_its_name() {
    let server = start_server();
    let port = server.port;
    let id = start_session(port, r#"{"src": "greeter"}"#);
    let (status, body) = request(port, "GET", &format!("/scxml/session/{id}/query"), "");
    assert_eq!(
        (status, &body["document"]),
        (200, &serde_json::json!(SAMPLE))
    );
    let (_, body) = request(port, "GET", "/health", "");
    assert_eq!(body["application"], "greeter");
    // Any other name is a path, and a missing one is an error naming the file.
    let (status, body) = request(port, "POST", "/scxml/session/start", r#"{"src": "hello"}"#);
    assert_eq!(status, 400, "{body}");
    let (status, body) = request(port, "POST", "/scxml/session/start", "{}");
    assert_eq!(
        (status, &body["error"]),
        (400, &serde_json::json!("missing parameter 'src'"))
    );
}

#[test]
fn sigterm_stops_the_server_gracefully() {
    let server = start_server();
    let (status, _) = server.stop();
    assert!(status.success(), "exit status {status}");
}

#[test]
fn metrics_count_requests_and_latencies() {
    let server = start_server();
    let port = server.port;
    let id = start_session(port, &format!(r#"{{"src": "{SAMPLE}"}}"#));
    let event = format!("/scxml/session/{id}/event/call.offered");
    assert_eq!(request(port, "POST", &event, "").0, 200);
    assert_eq!(request(port, "GET", "/no/such/path", "").0, 404);

    // The event's macrostep runs after its answer: poll until the driver recorded it.
    let deadline = Instant::now() + Duration::from_secs(5);
    let text = loop {
        let (head, text) = get_metrics(port);
        assert!(head.starts_with("HTTP/1.1 200"), "{head}");
        let content_type = "content-type: text/plain; version=0.0.4";
        assert!(head.to_ascii_lowercase().contains(content_type), "{head}");
        if metric(
            &text,
            "baton_event_macrostep_latency_seconds_count{shard=\"0\"}",
        ) >= 1.0
        {
            break text;
        }
        assert!(
            Instant::now() < deadline,
            "no event latency recorded:\n{text}"
        );
        std::thread::sleep(Duration::from_millis(10));
    };
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let (series, value) = line.rsplit_once(' ').expect("name{labels} value");
        assert!(series.contains("shard=\"0\""), "{line}");
        assert!(value.parse::<f64>().is_ok(), "{line}");
    }
    let requests = |route: &str, code: &str| {
        let series =
            format!("baton_requests_total{{shard=\"0\",route=\"{route}\",code=\"{code}\"}}");
        metric(&text, &series)
    };
    assert_eq!(requests("start", "2xx"), 1.0);
    assert_eq!(requests("event", "2xx"), 1.0);
    assert_eq!(requests("unmatched", "4xx"), 1.0);
    assert_eq!(metric(&text, "baton_sessions{shard=\"0\"}"), 1.0);
    assert_eq!(
        metric(&text, "baton_sessions_started_total{shard=\"0\"}"),
        1.0
    );
    assert_eq!(
        metric(&text, "baton_events_delivered_total{shard=\"0\"}"),
        1.0
    );
    assert_eq!(
        metric(&text, "baton_errors_total{shard=\"0\",kind=\"client\"}"),
        1.0
    );
    let count = metric(&text, "baton_request_latency_seconds_count{shard=\"0\"}");
    assert!(count >= 3.0, "start, event and the 404 were timed: {count}");
    let p50 = "baton_request_latency_seconds{shard=\"0\",quantile=\"0.5\"}";
    let p999 = "baton_request_latency_seconds{shard=\"0\",quantile=\"0.999\"}";
    assert!(metric(&text, p50) <= metric(&text, p999));
}

/// `GET /metrics` on a fresh connection; returns (head, body).
fn get_metrics(port: u16) -> (String, String) {
    request_text(port, "GET", "/metrics", "")
}
