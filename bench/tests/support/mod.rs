//! A real `baton serve` for the generators' end-to-end tests.
//!
//! The `baton` binary belongs to another package, so Cargo gives no `CARGO_BIN_EXE_baton`
//! here; it is found next to the test's own profile directory (`target/<profile>/baton`),
//! where `cargo test --workspace` builds it for the runtime's own integration tests.

use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// `baton serve` and its temporary configuration, both gone when dropped.
pub struct Server {
    child: Child,
    /// The listener's port.
    pub port: u16,
    config: PathBuf,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.config);
    }
}

/// `target/<profile>/baton`: the test runs from `target/<profile>/deps/`.
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

/// Starts `baton serve` on core 0 with one listener on a free port and `rest` (TOML)
/// appended to its configuration; returns once it listens. `name` tells test files apart.
pub fn start(name: &str, rest: &str) -> Server {
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|probe| probe.local_addr())
        .expect("a free port")
        .port();
    let config = std::env::temp_dir().join(format!("{name}-test-{}.toml", std::process::id()));
    // Documents are read only from allowed places: this workspace (the bundled samples and
    // the benchmarks' documents), as the tests run from bench/.
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
    let text = format!(
        "[runtime]\ncores = [0]\nio_memory_bytes = 1048576\n\n[[listener]]\nname = \"api\"\n\
         address = \"127.0.0.1:{port}\"\n\n[documents]\nallow = [\"{root}\"]\n\n{rest}"
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

/// The generator's core: its own when there is one (baton's shard is on core 0).
pub fn generator_core() -> &'static str {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    if cores > 1 {
        "1"
    } else {
        "0"
    }
}
