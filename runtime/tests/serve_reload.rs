//! Configuration reload of `baton serve` without a restart, end to end: the real binary on
//! two shards, its configuration file rewritten between reloads, `POST /admin/reload` and
//! SIGHUP, and plain HTTP/1.1 from std sockets.
//!
//! "Untouched" here means: a connection accepted before a reload keeps being served with
//! the limits it was accepted with (keep-alive continues on listeners that stay); on a
//! listener that is removed, the request in flight is answered and the connection then
//! closes, as at shutdown; sessions started before a reload keep running.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

const SAMPLE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/samples/hello.scxml");

struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

struct Server {
    child: Child,
    dir: TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    /// Starts `baton serve --config FILE` with `listeners` (TOML `[[listener]]` entries)
    /// and `limits` (lines of `[limits]`), and waits until `port` answers.
    fn start(tag: &str, limits: &str, listeners: &str, port: u16) -> Server {
        let dir = std::env::temp_dir().join(format!("baton-reload-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("temp dir");
        let server_dir = TempDir(dir);
        let config = server_dir.0.join("baton.toml");
        std::fs::write(&config, config_text(limits, listeners)).expect("write config");
        let log = std::fs::File::create(server_dir.0.join("baton.log")).expect("log");
        let child = Command::new(env!("CARGO_BIN_EXE_baton"))
            .args(["serve", "--config"])
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawn baton serve");
        let server = Server {
            child,
            dir: server_dir,
        };
        server.await_port(port);
        server
    }

    fn config_path(&self) -> PathBuf {
        self.dir.0.join("baton.toml")
    }

    /// Rewrites the configuration file (not applied until a reload).
    fn rewrite(&self, limits: &str, listeners: &str) {
        std::fs::write(self.config_path(), config_text(limits, listeners)).expect("rewrite");
    }

    fn rewrite_raw(&self, text: &str) {
        std::fs::write(self.config_path(), text).expect("rewrite");
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.0.join("baton.log")).unwrap_or_default()
    }

    fn await_port(&self, port: u16) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "nothing listens on {port}:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn await_log(&self, text: &str) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !self.log().contains(text) {
            assert!(Instant::now() < deadline, "no {text:?} in:\n{}", self.log());
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn signal(&self, name: &str) {
        let pid = self.child.id().to_string();
        let sent = Command::new("kill").args([name, &pid]).status();
        assert!(sent.expect("kill").success());
    }
}

/// Two shards (cores 0 and 1), so that every reload is applied by more than one shard.
fn config_text(limits: &str, listeners: &str) -> String {
    format!(
        "[runtime]\ncores = [0, 1]\nio_memory_bytes = 1048576\n\n\
         [limits]\nsessions_per_shard_max = 100\n{limits}\n{listeners}"
    )
}

fn listener(name: &str, port: u16, admin: bool) -> String {
    format!("[[listener]]\nname = \"{name}\"\naddress = \"127.0.0.1:{port}\"\nadmin = {admin}\n\n")
}

fn free_port() -> u16 {
    let probe = TcpListener::bind("127.0.0.1:0").expect("bind a probe port");
    probe.local_addr().expect("probe address").port()
}

/// A keep-alive HTTP/1.1 client on one connection.
struct Client {
    stream: TcpStream,
    received: Vec<u8>,
}

impl Client {
    fn connect(port: u16) -> std::io::Result<Client> {
        let stream = TcpStream::connect(("127.0.0.1", port))?;
        stream.set_read_timeout(Some(Duration::from_secs(20)))?;
        Ok(Client {
            stream,
            received: Vec::new(),
        })
    }

    fn send(&mut self, method: &str, path: &str, body: &str) {
        let head = format!(
            "{method} {path} HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\n\r\n",
            body.len()
        );
        self.stream.write_all(head.as_bytes()).expect("write head");
        self.stream.write_all(body.as_bytes()).expect("write body");
    }

    /// Reads one response: (status, head, JSON body).
    fn receive(&mut self) -> (u16, String, Value) {
        loop {
            if let Some(answer) = self.take_response() {
                return answer;
            }
            let mut chunk = [0u8; 4096];
            let n = self.stream.read(&mut chunk).expect("read a response");
            assert!(n > 0, "connection closed before a response");
            self.received.extend_from_slice(&chunk[..n]);
        }
    }

    fn take_response(&mut self) -> Option<(u16, String, Value)> {
        let text = String::from_utf8_lossy(&self.received).into_owned();
        let (head, rest) = text.split_once("\r\n\r\n")?;
        let length: usize = head
            .lines()
            .find_map(|line| {
                let (name, value) = line.split_once(':')?;
                name.eq_ignore_ascii_case("content-length")
                    .then(|| value.trim().parse().ok())?
            })
            .unwrap_or(0);
        if rest.len() < length {
            return None;
        }
        let status = head[9..12].parse().expect("status code");
        let body = serde_json::from_str(&rest[..length]).unwrap_or(Value::Null);
        let consumed = head.len() + 4 + length;
        self.received.drain(..consumed);
        Some((status, head.to_owned(), body))
    }

    fn request(&mut self, method: &str, path: &str, body: &str) -> (u16, Value) {
        self.send(method, path, body);
        let (status, _, body) = self.receive();
        (status, body)
    }

    /// Whether the server closed the connection (reads end of stream).
    fn is_closed(&mut self) -> bool {
        let mut byte = [0u8; 1];
        matches!(self.stream.read(&mut byte), Ok(0) | Err(_))
    }
}

/// One request on a fresh connection.
fn request(port: u16, method: &str, path: &str, body: &str) -> (u16, Value) {
    Client::connect(port)
        .expect("connect")
        .request(method, path, body)
}

fn reload(port: u16) -> (u16, Value) {
    request(port, "POST", "/admin/reload", "")
}

fn start_session(port: u16) -> String {
    let start = format!(r#"{{"src": "{SAMPLE}"}}"#);
    let (status, body) = request(port, "POST", "/scxml/session/start", &start);
    assert_eq!(status, 200, "{body}");
    body["sessionid"].as_str().expect("a session id").to_owned()
}

/// Queries `id` on every shard's side: connections land on either shard, and a session
/// lives on one, so ask until one answers 200 (bounded).
fn session_alive(port: u16, id: &str) -> bool {
    (0..50).any(|_| request(port, "GET", &format!("/scxml/session/{id}/query"), "").0 == 200)
}

fn refused(port: u16) -> bool {
    TcpStream::connect(("127.0.0.1", port)).is_err()
}

#[test]
fn admin_reload_adds_and_removes_listeners_leaving_connections_and_sessions() {
    let (admin, extra) = (free_port(), free_port());
    let server = Server::start("listeners", "", &listener("admin", admin, true), admin);
    let id = start_session(admin);
    let mut kept = Client::connect(admin).expect("connect");
    assert_eq!(kept.request("GET", "/health", "").0, 200);
    assert!(refused(extra));

    server.rewrite(
        "",
        &(listener("admin", admin, true) + &listener("extra", extra, false)),
    );
    let (status, body) = reload(admin);
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["reloaded"], true);
    assert_eq!(
        body["changes"]["listeners_added"],
        serde_json::json!(["extra"])
    );
    assert_eq!(body["summary"], "listeners added: extra");
    assert_eq!(request(extra, "GET", "/health", "").0, 200);

    // A request in flight on "extra" (head and half its body sent) when it is removed.
    let mut in_flight = Client::connect(extra).expect("connect");
    let start = format!(r#"{{"src": "{SAMPLE}"}}"#);
    let head = format!(
        "POST /scxml/session/start HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\n\r\n",
        start.len()
    );
    let (first, second) = start.split_at(start.len() / 2);
    in_flight.stream.write_all(head.as_bytes()).expect("head");
    in_flight
        .stream
        .write_all(first.as_bytes())
        .expect("half a body");
    let mut idle = Client::connect(extra).expect("connect");
    assert_eq!(idle.request("GET", "/health", "").0, 200);

    server.rewrite("", &listener("admin", admin, true));
    let (status, body) = reload(admin);
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["changes"]["listeners_removed"],
        serde_json::json!(["extra"])
    );
    assert!(
        refused(extra),
        "new connections to a removed listener are refused"
    );
    in_flight
        .stream
        .write_all(second.as_bytes())
        .expect("rest of the body");
    let (status, head, body) = in_flight.receive();
    assert_eq!(status, 200, "the request in flight is answered: {body}");
    assert!(
        head.to_ascii_lowercase().contains("connection: close"),
        "{head}"
    );
    assert!(
        idle.is_closed(),
        "an idle connection on a removed listener closes"
    );

    // The listener that stayed: its keep-alive connection and the session are untouched.
    assert_eq!(kept.request("GET", "/health", "").0, 200);
    assert!(
        session_alive(admin, &id),
        "a session started before the reloads lives"
    );
    server.await_log("reload 2 (POST /admin/reload");
}

#[test]
fn bad_configurations_are_refused_naming_the_key_and_the_old_one_stays() {
    let (admin, api, other) = (free_port(), free_port(), free_port());
    let listeners = listener("admin", admin, true) + &listener("api", api, false);
    let server = Server::start("refused", "", &listeners, admin);
    server.await_port(api);

    server.rewrite("bogus = 1\n", &listeners);
    let (status, body) = reload(admin);
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["reloaded"], false);
    let error = body["error"].as_str().expect("a reason");
    assert!(error.contains("limits.bogus"), "names the key: {error}");

    server.rewrite("body_bytes_max = \"big\"\n", &listeners);
    let (status, body) = reload(admin);
    assert_eq!(status, 422, "{body}");
    let error = body["error"].as_str().expect("a reason");
    assert!(
        error.contains("limits.body_bytes_max"),
        "names the key: {error}"
    );

    server.rewrite(
        "header_timeout_ms = 9000\nrequest_timeout_ms = 10\n",
        &listeners,
    );
    let (status, body) = reload(admin);
    assert_eq!(status, 422, "{body}");
    assert!(body["error"]
        .as_str()
        .unwrap()
        .contains("limits.header_timeout_ms"));

    server.rewrite_raw("[[listener]\n");
    assert_eq!(reload(admin).0, 422);

    // A port held by another process: no shard changes, the added "other" is not opened.
    let holder = TcpListener::bind("127.0.0.1:0").expect("hold a port");
    let held = holder.local_addr().expect("address").port();
    let more = listener("other", other, false) + &listener("held", held, false);
    server.rewrite("", &(listeners.clone() + &more));
    let (status, body) = reload(admin);
    assert_eq!(status, 409, "{body}");
    let error = body["error"].as_str().expect("a reason");
    assert!(error.contains("listener \"held\""), "{error}");
    assert_eq!(body["failures"][0]["listener"], "held");
    assert!(refused(other), "all or nothing: \"other\" was not opened");
    drop(holder);

    // The configuration in force is still the first: both listeners answer, and the log
    // says why each reload was refused.
    assert_eq!(request(admin, "GET", "/health", "").0, 200);
    assert_eq!(request(api, "GET", "/health", "").0, 200);
    server.await_log("reload refused (POST /admin/reload");
    assert!(server.log().contains("the configuration in force stays"));
}

#[test]
fn sighup_reloads_the_whole_configuration() {
    let (admin, extra) = (free_port(), free_port());
    let server = Server::start("sighup", "", &listener("admin", admin, true), admin);
    server.rewrite(
        "",
        &(listener("admin", admin, true) + &listener("extra", extra, false)),
    );
    server.signal("-HUP");
    server.await_port(extra);
    assert_eq!(request(extra, "GET", "/health", "").0, 200);
    server.await_log("reload 1 (SIGHUP) applied");

    // A bad file on SIGHUP: refused on stderr with the key, the listeners stay.
    server.rewrite("event_queue_max = 0\n", &listener("admin", admin, true));
    server.signal("-HUP");
    server.await_log("limits.event_queue_max must be at least 1");
    assert_eq!(request(extra, "GET", "/health", "").0, 200);
}

#[test]
fn limits_apply_to_new_connections_and_restart_keys_are_reported() {
    let admin = free_port();
    let server = Server::start("limits", "", &listener("admin", admin, true), admin);
    let big = format!(r#"{{"pad": "{}"}}"#, "x".repeat(2_000));
    let mut before = Client::connect(admin).expect("connect");
    let event = "/scxml/session/none/event/go";
    assert_eq!(
        before.request("POST", event, &big).0,
        404,
        "no such session"
    );

    server.rewrite(
        "body_bytes_max = 1000\nmesh_queue_max = 64\n",
        &listener("admin", admin, true),
    );
    let (status, body) = reload(admin);
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["changes"]["limits_changed"], true);
    assert_eq!(
        body["restart_required"],
        serde_json::json!(["limits.mesh_queue_max"])
    );
    let warnings = body["warnings"].to_string();
    assert!(
        warnings.contains("limits.mesh_queue_max changed"),
        "{warnings}"
    );

    assert_eq!(
        request(admin, "POST", event, &big).0,
        413,
        "a new connection"
    );
    assert_eq!(request(admin, "POST", event, "{}").0, 404);
    // The connection accepted before the reload keeps the limits it started with.
    assert_eq!(before.request("POST", event, &big).0, 404);

    // Reloading the same file again: nothing changes, the restart key is still pending.
    let (status, body) = reload(admin);
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["changes"]["limits_changed"], false);
    assert_eq!(
        body["restart_required"],
        serde_json::json!(["limits.mesh_queue_max"])
    );
}

#[test]
fn admin_endpoints_only_on_admin_listeners() {
    let (admin, api) = (free_port(), free_port());
    let listeners = listener("admin", admin, true) + &listener("api", api, false);
    let server = Server::start("guard", "", &listeners, admin);
    server.await_port(api);
    let mut customer = Client::connect(api).expect("connect");
    let (status, body) = customer.request("POST", "/admin/reload", "");
    assert_eq!(status, 403, "{body}");
    assert!(body["error"].as_str().unwrap().contains("admin = false"));
    assert_eq!(request(admin, "GET", "/admin/reload", "").0, 405);
    assert_eq!(request(admin, "POST", "/admin/nothing", "").0, 404);

    // Granting admin to "api" applies from the next request, on the open connection too.
    server.rewrite(
        "",
        &(listener("admin", admin, true) + &listener("api", api, true)),
    );
    let (status, body) = reload(admin);
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["changes"]["admin_changed"], serde_json::json!(["api"]));
    assert_eq!(customer.request("POST", "/admin/reload", "").0, 200);
    // And revoking it, likewise.
    server.rewrite("", &listeners);
    assert_eq!(customer.request("POST", "/admin/reload", "").0, 200);
    assert_eq!(customer.request("POST", "/admin/reload", "").0, 403);
}

#[test]
fn a_listener_moves_to_a_new_address() {
    let (admin, before, after) = (free_port(), free_port(), free_port());
    let listeners = listener("admin", admin, true) + &listener("api", before, false);
    let server = Server::start("move", "", &listeners, admin);
    server.await_port(before);
    server.rewrite(
        "",
        &(listener("admin", admin, true) + &listener("api", after, false)),
    );
    let (status, body) = reload(admin);
    assert_eq!(status, 200, "{body}");
    let change = &body["changes"]["listeners_changed"][0];
    assert_eq!(
        (&change["name"], &change["address"]),
        (&"api".into(), &true.into())
    );
    assert_eq!(request(after, "GET", "/health", "").0, 200);
    assert!(refused(before));
}

#[test]
fn a_port_taken_at_start_stops_the_server_naming_the_listener() {
    let holder = TcpListener::bind("127.0.0.1:0").expect("hold a port");
    let held = holder.local_addr().expect("address").port();
    let dir = std::env::temp_dir().join(format!("baton-reload-taken-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let dir = TempDir(dir);
    let config = dir.0.join("baton.toml");
    let text = config_text(
        "",
        &(listener("admin", free_port(), true) + &listener("api", held, false)),
    );
    std::fs::write(&config, text).expect("write config");
    let output = Command::new(env!("CARGO_BIN_EXE_baton"))
        .args(["serve", "--config"])
        .arg(&config)
        .output()
        .expect("run baton serve");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    let expected = format!("listener \"api\": shard 0 cannot bind 127.0.0.1:{held}");
    assert!(stderr.contains(&expected), "{stderr}");
    drop(holder);
}
