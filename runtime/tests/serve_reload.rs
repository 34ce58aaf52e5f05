//! Configuration reload of `baton serve` without a restart, end to end: the real binary on
//! two shards, its configuration file rewritten between reloads, `POST /admin/reload` and
//! SIGHUP, and plain HTTP/1.1 from std sockets.
//!
//! "Untouched" here means: a connection accepted before a reload keeps being served with
//! the limits it was accepted with (keep-alive continues on listeners that stay); on a
//! listener that is removed, the request in flight is answered and the connection then
//! closes, as at shutdown; sessions started before a reload keep running.

mod support;

use std::io::Write;
use std::net::{TcpListener, TcpStream};

use serde_json::Value;

use support::{free_port, request, Connection, SAMPLE};

/// The shared server, with this file's configuration to rewrite between reloads.
struct Server(support::Server);

impl std::ops::Deref for Server {
    type Target = support::Server;

    fn deref(&self) -> &support::Server {
        &self.0
    }
}

impl Server {
    /// Starts `baton serve --config FILE` with `listeners` (TOML `[[listener]]` entries)
    /// and `limits` (lines of `[limits]`), and waits until `port` answers.
    fn start(tag: &str, limits: &str, listeners: &str, port: u16) -> Server {
        let text = config_text(limits, listeners);
        Server(support::Server::start(
            &format!("reload-{tag}"),
            &text,
            port,
        ))
    }

    /// Rewrites the configuration file (not applied until a reload).
    fn rewrite(&self, limits: &str, listeners: &str) {
        self.rewrite_raw(&config_text(limits, listeners));
    }

    fn rewrite_raw(&self, text: &str) {
        std::fs::write(self.config_path(), text).expect("rewrite");
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
    let mut kept = Connection::try_open(admin).expect("connect");
    assert_eq!(kept.json("GET", "/health", "").0, 200);
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
    let mut in_flight = Connection::try_open(extra).expect("connect");
    let start = format!(r#"{{"src": "{SAMPLE}"}}"#);
    let head = format!(
        "POST /scxml/session/start HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\n\r\n",
        start.len()
    );
    let (first, second) = start.split_at(start.len() / 2);
    in_flight.stream().write_all(head.as_bytes()).expect("head");
    in_flight
        .stream()
        .write_all(first.as_bytes())
        .expect("half a body");
    let mut idle = Connection::try_open(extra).expect("connect");
    assert_eq!(idle.json("GET", "/health", "").0, 200);

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
        .stream()
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
    assert_eq!(kept.json("GET", "/health", "").0, 200);
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
    let mut before = Connection::try_open(admin).expect("connect");
    let event = "/scxml/session/none/event/go";
    assert_eq!(before.json("POST", event, &big).0, 404, "no such session");

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
    assert_eq!(before.json("POST", event, &big).0, 404);

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
    let mut customer = Connection::try_open(api).expect("connect");
    let (status, body) = customer.json("POST", "/admin/reload", "");
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
    assert_eq!(customer.json("POST", "/admin/reload", "").0, 200);
    // And revoking it, likewise.
    server.rewrite("", &listeners);
    assert_eq!(customer.json("POST", "/admin/reload", "").0, 200);
    assert_eq!(customer.json("POST", "/admin/reload", "").0, 403);
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
    let text = config_text(
        "",
        &(listener("admin", free_port(), true) + &listener("api", held, false)),
    );
    let mut server = support::Server::spawn("reload-taken", &text);
    let status = server.await_exit();
    let stderr = server.log();
    assert_eq!(status.code(), Some(1), "{stderr}");
    let expected = format!("listener \"api\": shard 0 cannot bind 127.0.0.1:{held}");
    assert!(stderr.contains(&expected), "{stderr}");
    drop(holder);
}
