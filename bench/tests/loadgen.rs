//! `loadgen` end to end: one second of closed loop against a real `baton serve`, and the
//! JSON it prints must count requests and no errors.

mod support;

use std::process::Command;

const LOADGEN: &str = env!("CARGO_BIN_EXE_loadgen");
const SAMPLE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../runtime/samples/hello.scxml"
);
const LOOP: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/http/loop.scxml");

fn start_server() -> support::Server {
    // The event scenario drives 10 sessions at thousands of events a second each: the
    // server's event path is measured, not a session's share, which is lifted.
    let limits = "[limits]\nsessions_per_shard_max = 10000\n\
                  session_events_per_second_max = 1000000\n";
    support::start("loadgen", limits)
}

/// Runs loadgen for one second with `extra` arguments and returns its JSON line.
fn loadgen(port: u16, extra: &[&str]) -> serde_json::Value {
    let core = support::generator_core();
    let url = format!("http://127.0.0.1:{port}");
    let output = Command::new(LOADGEN)
        .args([
            "--url",
            &url,
            "--core",
            core,
            "--duration-s",
            "1",
            "--warmup-s",
            "0",
        ])
        .args(["--concurrency", "4", "--timeout-ms", "2000"])
        .args(extra)
        .output()
        .expect("run loadgen");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "loadgen failed: {stderr}");
    serde_json::from_slice(&output.stdout).expect("one JSON line")
}

#[test]
fn closed_loop_against_baton_serve() {
    let server = start_server();
    let report = loadgen(server.port, &["--src", SAMPLE]);
    assert_eq!(report["scenario"], "start-event-terminate", "{report}");
    assert!(report["requests"].as_u64().unwrap_or(0) > 0, "{report}");
    assert_eq!(report["errors_total"], 0, "{report}");
    let requests = report["requests"].as_u64().unwrap_or(0);
    let iterations = report["iterations"].as_u64().unwrap_or(0);
    assert!(requests >= 3 * iterations, "{report}");

    let report = loadgen(
        server.port,
        &["--scenario", "event", "--src", LOOP, "--sessions", "10"],
    );
    assert!(report["requests"].as_u64().unwrap_or(0) > 0, "{report}");
    assert_eq!(report["errors_total"], 0, "{report}");
    assert!(
        report["latency_us"]["p99"].as_u64().unwrap_or(0) > 0,
        "{report}"
    );
    assert_eq!(report["wait"], "busy", "{report}");

    // The other way of waiting for sockets measures the same server.
    let report = loadgen(server.port, &["--src", SAMPLE, "--wait", "uring"]);
    assert_eq!(report["wait"], "uring", "{report}");
    assert!(report["requests"].as_u64().unwrap_or(0) > 0, "{report}");
    assert_eq!(report["errors_total"], 0, "{report}");
}
