//! `routegen` end to end against a real `baton serve` with the benchmark's strategies: a
//! small backlog must be counted waiting, every measured interaction must be offered on
//! its agent's stream, and the JSON must report latencies, no errors and nothing missing.

mod support;

use std::process::Command;

const ROUTEGEN: &str = env!("CARGO_BIN_EXE_routegen");
const ROUTE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/routing/route.scxml");
const PARK: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/routing/park.scxml");

/// Runs routegen with `extra` arguments and returns its JSON line.
fn routegen(port: u16, extra: &[&str]) -> serde_json::Value {
    let url = format!("http://127.0.0.1:{port}");
    let output = Command::new(ROUTEGEN)
        .args(["--url", &url, "--core", support::generator_core()])
        .args(["--agents", "4", "--duration-s", "1", "--warmup-s", "0"])
        .args(["--concurrency", "4", "--timeout-ms", "2000"])
        .args(extra)
        .output()
        .expect("run routegen");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "routegen failed: {stderr}");
    serde_json::from_slice(&output.stdout).expect("one JSON line")
}

#[test]
fn interactions_are_offered_on_the_agents_streams() {
    let entry_points = format!(
        "[[entry_point]]\nname = \"bench\"\napplication = \"{ROUTE}\"\n\n\
         [[entry_point]]\nname = \"park\"\napplication = \"{PARK}\"\n"
    );
    let server = support::start("routegen", &entry_points);

    let report = routegen(server.port, &["--backlog", "200", "--rate", "300"]);
    assert_eq!(report["waiting"], 200, "{report}");
    assert_eq!(report["errors_total"], 0, "{report}");
    assert_eq!(report["missing"], 0, "{report}");
    assert_eq!(report["offers_unexpected"], 0, "{report}");
    let offers = report["offers"].as_u64().unwrap_or(0);
    assert!((290..=310).contains(&offers), "{report}");
    assert_eq!(report["posts"], offers, "{report}");
    let p50 = report["latency_us"]["p50"].as_u64().unwrap_or(0);
    assert!(p50 > 0, "{report}");
    // Every offer came within the second it is given.
    assert!(
        report["latency_us"]["max"].as_u64() < Some(1_000_000),
        "{report}"
    );

    // Closed loop on the same server and agents: the backlog is still there, and waits on.
    let report = routegen(server.port, &["--backlog", "0"]);
    assert_eq!(report["mode"], "closed", "{report}");
    assert_eq!(report["waiting"], 200, "{report}");
    assert_eq!(report["errors_total"], 0, "{report}");
    assert_eq!(report["missing"], 0, "{report}");
    assert!(
        report["routed_per_s"].as_f64().unwrap_or(0.0) > 0.0,
        "{report}"
    );
}
