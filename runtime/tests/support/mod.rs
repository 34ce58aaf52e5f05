//! The harness the `baton serve` integration tests share: temp dirs, free ports, the real
//! binary spawned on a configuration, plain HTTP/1.1 over std sockets, and a test PKI.
//!
//! Each test file is its own crate and uses a subset of this, so unused items and
//! re-exports are expected (hence the allow below).
#![allow(dead_code, unused_imports)]

pub mod http;
pub mod pki;
pub mod routing;

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

pub use http::{metric, request, request_as, request_text, start_session, Connection};

/// The sample document every crate ships with.
pub const SAMPLE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/samples/hello.scxml");

/// `[[outbound.allow]]` rules for loopback: tests whose peers (application servers, CRMs,
/// gateways, Basic HTTP targets) listen on this host must say so, as loopback is refused
/// by default.
pub const ALLOW_LOOPBACK: &str = "[[outbound.allow]]\nhost = \"127.0.0.0/8\"\n\n\
                                  [[outbound.allow]]\nhost = \"::1\"\n\n";

/// `[documents] allow` for tests whose documents live in temp dirs and on loopback
/// application servers: the working directory (the bundled samples), the system temp dir,
/// and `http`/`https` on `127.0.0.1` and `localhost` at `ports`.
pub fn allow_documents(ports: &[u16]) -> String {
    let mut places = vec![".".to_owned(), std::env::temp_dir().display().to_string()];
    for port in ports {
        for scheme in ["http", "https"] {
            for host in ["127.0.0.1", "localhost"] {
                places.push(format!("{scheme}://{host}:{port}/"));
            }
        }
    }
    format!("[documents]\nallow = {places:?}\n\n")
}

/// How long a server gets to listen, log a line, or exit.
const PATIENCE: Duration = Duration::from_secs(10);

/// A fresh directory under the system temp dir, removed on drop.
pub struct TempDir(PathBuf);

impl TempDir {
    /// `baton-{tag}-{pid}-{n}`: unique per process and call, so parallel tests never share.
    pub fn new(tag: &str) -> TempDir {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("baton-{tag}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("temp dir");
        TempDir(dir)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    pub fn join(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }

    /// Writes `name` in the directory; returns its path.
    pub fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.join(name);
        std::fs::write(&path, text).expect("write a file");
        path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A port nothing listens on right now (the probe is closed before returning), and never
/// handed out before in this process: the kernel may give a closed probe's port again, and
/// two listeners of one test must not be configured on the same port.
pub fn free_port() -> u16 {
    static GIVEN: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());
    loop {
        let probe = TcpListener::bind("127.0.0.1:0").expect("bind a probe port");
        let port = probe.local_addr().expect("probe address").port();
        let mut given = GIVEN.lock().expect("not poisoned");
        if !given.contains(&port) {
            given.push(port);
            return port;
        }
    }
}

/// `baton serve --config` running in its own temp dir: the configuration is `baton.toml`
/// there and stderr goes to `baton.log`. Killed on drop.
pub struct Server {
    child: Child,
    /// The port `start` waited for (0 after `spawn`).
    pub port: u16,
    dir: TempDir,
}

impl Server {
    /// Writes `config` and spawns the server without waiting for anything.
    pub fn spawn(tag: &str, config: &str) -> Server {
        let dir = TempDir::new(tag);
        let config = dir.write("baton.toml", config);
        let log = std::fs::File::create(dir.join("baton.log")).expect("log file");
        let child = Command::new(env!("CARGO_BIN_EXE_baton"))
            .args(["serve", "--config"])
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawn baton serve");
        Server {
            child,
            port: 0,
            dir,
        }
    }

    /// Spawns the server and waits until `port` accepts connections.
    pub fn start(tag: &str, config: &str, port: u16) -> Server {
        let mut server = Server::spawn(tag, config);
        server.port = port;
        server.await_port(port);
        server
    }

    pub fn dir(&self) -> &TempDir {
        &self.dir
    }

    pub fn config_path(&self) -> PathBuf {
        self.dir.join("baton.toml")
    }

    /// Everything the server wrote on stderr so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("baton.log")).unwrap_or_default()
    }

    pub fn await_port(&self, port: u16) {
        let deadline = Instant::now() + PATIENCE;
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "nothing listens on {port}:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits until the log contains `text`.
    pub fn await_log(&self, text: &str) {
        let deadline = Instant::now() + PATIENCE;
        while !self.log().contains(text) {
            assert!(Instant::now() < deadline, "no {text:?} in:\n{}", self.log());
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Sends signal `name` (`-TERM`, `-HUP`) to the server.
    pub fn signal(&self, name: &str) {
        let pid = self.child.id().to_string();
        let sent = Command::new("kill").args([name, &pid]).status();
        assert!(sent.expect("kill").success());
    }

    /// Waits for the server to exit on its own (bounded); its exit status.
    pub fn await_exit(&mut self) -> ExitStatus {
        let deadline = Instant::now() + PATIENCE;
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "baton serve did not exit:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Stops the server with SIGTERM; its exit status and everything it wrote on stderr.
    pub fn stop(mut self) -> (ExitStatus, String) {
        self.signal("-TERM");
        let status = self.await_exit();
        (status, self.log())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
