//! `loadgen` end to end: one second of closed loop against a real `baton serve`, and the
//! JSON it prints must count requests and no errors.
//!
//! The `baton` binary belongs to another package, so Cargo gives no `CARGO_BIN_EXE_baton`
//! here; it is found next to this test's own profile directory (`target/<profile>/baton`),
//! where `cargo test --workspace` builds it for the runtime's own integration tests.

use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const LOADGEN: &str = env!("CARGO_BIN_EXE_loadgen");
const SAMPLE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../runtime/samples/hello.scxml"
);
const LOOP: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/http/loop.scxml");

/// `baton serve` and its temporary configuration, both gone when dropped.
struct Server {
    child: Child,
    port: u16,
    config: PathBuf,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.config);
    }
}

/// `target/<profile>/baton`: this test runs from `target/<profile>/deps/`.
fn baton_binary() -> PathBuf {
    let exe = std::env::current_exe().expect("the test's own path");
    let profile = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target/<profile>/deps");
    let baton = profile.join("baton");
    assert!(
        baton.exists(),
        "{} is missing: build it with `cargo build -p baton-runtime --bin baton` (same profile)",
        baton.display()
    );
    baton
}

fn start_server() -> Server {
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|probe| probe.local_addr())
        .expect("a free port")
        .port();
    let config = std::env::temp_dir().join(format!("loadgen-test-{}.toml", std::process::id()));
    let text = format!(
        "[runtime]\ncores = [0]\nio_memory_bytes = 1048576\n\n[limits]\n\
         sessions_per_shard_max = 10000\n\n[[listener]]\nname = \"api\"\n\
         address = \"127.0.0.1:{port}\"\n"
    );
    std::fs::write(&config, text).expect("write the configuration");
    let child = Command::new(baton_binary())
        .args(["serve", "--config"])
        .arg(&config)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn baton serve");
    let server = Server {
        child,
        port,
        config,
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "baton serve did not listen");
        std::thread::sleep(Duration::from_millis(20));
    }
    server
}

/// Runs loadgen for one second with `extra` arguments and returns its JSON line.
fn loadgen(port: u16, extra: &[&str]) -> serde_json::Value {
    // The generator gets its own core when there is one; baton's shard is on core 0.
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let core = if cores > 1 { "1" } else { "0" };
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
