//! Issue 11 (trust), documents and fetches: the real `baton serve` reads documents only
//! from `[documents] allow`, bounded, under one canonical name, and connects only where
//! `[[outbound.allow]]` says, never to an admin listener; refusals say nothing about what
//! lies outside. Each test keeps a canary session on the same (only) shard working.

mod support;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use support::routing::Sink;
use support::{free_port, metric, request, request_text, Server, TempDir, ALLOW_LOOPBACK, SAMPLE};

/// A server on one core with one API listener and `extra` appended.
fn start(tag: &str, extra: &str) -> Server {
    let port = free_port();
    let text = format!(
        "[runtime]\ncores = [0]\nio_memory_bytes = 1048576\n\n[[listener]]\nname = \"api\"\n\
         address = \"127.0.0.1:{port}\"\n\n{extra}"
    );
    Server::start(&format!("trust-{tag}"), &text, port)
}

/// `[documents] allow` naming `places` (TOML strings), with `more` keys after.
fn documents(places: &[&Path], more: &str) -> String {
    let places: Vec<String> = places.iter().map(|p| p.display().to_string()).collect();
    format!("[documents]\nallow = {places:?}\n{more}\n")
}

fn start_session(port: u16, params: Value) -> (u16, Value) {
    request(port, "POST", "/scxml/session/start", &params.to_string())
}

fn error_of(body: &Value) -> &str {
    body["error"].as_str().unwrap_or_default()
}

/// The refusal for a `src` outside the allowed places: the same whatever lies there.
fn not_allowed(src: &str) -> String {
    format!("'{src}': not an allowed document location")
}

/// Starts the bundled sample, sends it an event, and queries it: the shard still works.
fn canary(port: u16) {
    let (status, body) = start_session(port, json!({"src": SAMPLE}));
    assert_eq!(status, 200, "{body}");
    let id = body["sessionid"].as_str().expect("a session id");
    let path = format!("/scxml/session/{id}/event/call.offered");
    let (status, body) = request(port, "POST", &path, r#"{"language": "fr"}"#);
    assert_eq!(status, 200, "{body}");
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let (status, query) = request(port, "GET", &format!("/scxml/session/{id}/query"), "");
        assert_eq!(status, 200, "{query}");
        if query["datamodel"]["queue"] == "support-fr" {
            return;
        }
        assert!(Instant::now() < deadline, "the canary never moved: {query}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn documents_cached(port: u16) -> f64 {
    let (_, text) = request_text(port, "GET", "/metrics", "");
    metric(&text, "baton_documents_cached{shard=\"0\"}")
}

const FINAL: &str = r#"<scxml xmlns="http://www.w3.org/2005/07/scxml" version="1.0"
    initial="waiting"><state id="waiting"/></scxml>"#;

/// A strategy that fetches `url` with `method` and keeps the outcome in its datamodel.
const FETCHER: &str = r#"<scxml xmlns="http://www.w3.org/2005/07/scxml" version="1.0"
    xmlns:session="http://baton.dev/scxml/session" datamodel="ecmascript" initial="fetching">
  <datamodel>
    <data id="url" expr="''"/>
    <data id="method" expr="'GET'"/>
    <data id="outcome" expr="'pending'"/>
    <data id="detail" expr="''"/>
  </datamodel>
  <state id="fetching">
    <onentry><session:fetch srcexpr="url" methodexpr="method"/></onentry>
    <transition event="session.fetch.done" target="done">
      <assign location="outcome" expr="'done'"/>
      <assign location="detail" expr="JSON.stringify(_event.data.body)"/>
    </transition>
    <transition event="error.session.fetch" target="done">
      <assign location="outcome" expr="'error'"/>
      <assign location="detail" expr="_event.data.reason"/>
    </transition>
  </state>
  <state id="done"/>
</scxml>"#;

/// Runs [`FETCHER`] (at `src`) against `url`; (outcome, detail).
fn fetch(port: u16, src: &Path, url: &str, method: &str) -> (String, String) {
    let params = json!({"src": src, "url": url, "method": method});
    let (status, body) = start_session(port, params);
    assert_eq!(status, 200, "{body}");
    let id = body["sessionid"].as_str().expect("a session id");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (_, query) = request(port, "GET", &format!("/scxml/session/{id}/query"), "");
        let datamodel = &query["datamodel"];
        if datamodel["outcome"] != "pending" {
            let text = |key: &str| datamodel[key].as_str().unwrap_or_default().to_owned();
            return (text("outcome"), text("detail"));
        }
        assert!(Instant::now() < deadline, "no fetch outcome: {query}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn dev_zero_fifos_and_large_files_are_refused_quickly_and_the_shard_keeps_working() {
    let dir = TempDir::new("trust-special");
    let fifo = dir.join("pipe.scxml");
    let made = Command::new("mkfifo").arg(&fifo).status().expect("mkfifo");
    assert!(made.success());
    dir.write(
        "large.scxml",
        &format!("{FINAL}<!--{}-->", "x".repeat(8192)),
    );
    let allow = documents(&[Path::new("."), Path::new("/dev"), dir.path()], "");
    let server = start(
        "special",
        &format!("[limits]\ndocument_bytes_max = 4096\n\n{allow}"),
    );
    let cases = [
        ("/dev/zero".to_owned(), "not a regular file"),
        (fifo.display().to_string(), "not a regular file"),
        (dir.path().display().to_string(), "not a regular file"),
        (
            dir.join("large.scxml").display().to_string(),
            "larger than 4096 bytes",
        ),
    ];
    for (src, reason) in cases {
        let started = Instant::now();
        let (status, body) = start_session(server.port, json!({"src": src}));
        assert_eq!(status, 400, "{src}: {body}");
        assert!(error_of(&body).contains(reason), "{src}: {body}");
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{src} took long"
        );
    }
    canary(server.port);

    // By default only the working directory is allowed: /dev/zero is just refused.
    let default = start("special-default", "");
    let (status, body) = start_session(default.port, json!({"src": "/dev/zero"}));
    assert_eq!(status, 400, "{body}");
    assert_eq!(error_of(&body), not_allowed("/dev/zero"));
    canary(default.port);
}

#[test]
fn paths_outside_are_refused_alike_whether_or_not_they_exist() {
    let dir = TempDir::new("trust-outside");
    let allowed = dir.join("allowed");
    std::fs::create_dir_all(&allowed).expect("allowed dir");
    dir.write("secret.scxml", FINAL);
    let inside = dir.write("allowed/app.scxml", FINAL);
    std::os::unix::fs::symlink(dir.join("secret.scxml"), allowed.join("link.scxml"))
        .expect("symlink");
    let application = "[application]\nname = \"leak\"\nsrc = \"/etc/passwd\"\n\n";
    let extra = format!(
        "{application}{}",
        documents(&[Path::new("."), &allowed], "")
    );
    let server = start("outside", &extra);
    server.await_log("'/etc/passwd' is outside [documents] allow");
    let (status, body) = start_session(server.port, json!({"src": inside}));
    assert_eq!(status, 200, "{body}");
    // The provisioned application is held to the list too.
    let (status, body) = start_session(server.port, json!({"src": "leak"}));
    assert_eq!(status, 400, "{body}");
    assert_eq!(error_of(&body), not_allowed("/etc/passwd"));
    let escapes = [
        "/etc/passwd".to_owned(),
        "/nonexistent/x.scxml".to_owned(),
        "file:///etc/passwd".to_owned(),
        format!("{}/../secret.scxml", allowed.display()),
        format!("{}/../missing.scxml", allowed.display()),
        format!("{}/link.scxml", allowed.display()),
        "../../../../../../etc/passwd".to_owned(),
        "http://127.0.0.1:1/x.scxml".to_owned(),
        format!("http://127.0.0.1:{}/x.scxml", server.port),
    ];
    for src in escapes {
        let (status, body) = start_session(server.port, json!({"src": src}));
        assert_eq!(status, 400, "{src}: {body}");
        assert_eq!(error_of(&body), not_allowed(&src), "{body}");
    }
    // alternate_url is held to the same rule.
    let params = json!({"src": "/nonexistent.scxml", "alternate_url": "/etc/passwd"});
    let (status, body) = start_session(server.port, params);
    assert_eq!(status, 400, "{body}");
    assert!(
        error_of(&body).contains(&not_allowed("/etc/passwd")),
        "{body}"
    );
    canary(server.port);
}

#[test]
fn a_data_src_outside_is_a_load_error_not_a_leak() {
    let dir = TempDir::new("trust-data");
    let allowed = dir.join("allowed");
    std::fs::create_dir_all(&allowed).expect("allowed dir");
    dir.write("secret.txt", "\"the secret\"");
    let leaky = |src: &str| {
        format!(
            r#"<scxml xmlns="http://www.w3.org/2005/07/scxml" version="1.0"
                datamodel="ecmascript" initial="s">
              <datamodel><data id="x" src="{src}"/></datamodel>
              <state id="s"/></scxml>"#
        )
    };
    let absolute = dir.write("allowed/absolute.scxml", &leaky("/etc/passwd"));
    let relative = dir.write("allowed/relative.scxml", &leaky("../secret.txt"));
    let script = dir.write(
        "allowed/script.scxml",
        &leaky("ok.txt").replace(
            "<state id=\"s\"/>",
            "<script src=\"/etc/hostname\"/><state id=\"s\"/>",
        ),
    );
    dir.write("allowed/ok.txt", "\"fine\"");
    let fine = dir.write("allowed/fine.scxml", &leaky("ok.txt"));
    let server = start("data", &documents(&[Path::new("."), &allowed], ""));
    for (doc, src) in [
        (absolute, "/etc/passwd"),
        (relative, "../secret.txt"),
        (script, "/etc/hostname"),
    ] {
        let (status, body) = start_session(server.port, json!({"src": doc}));
        assert_eq!(status, 400, "{body}");
        assert_eq!(error_of(&body), not_allowed(src), "{body}");
    }
    let (status, body) = start_session(server.port, json!({"src": fine}));
    assert_eq!(status, 200, "{body}");
    let id = body["sessionid"].as_str().expect("a session id");
    let (_, query) = request(
        server.port,
        "GET",
        &format!("/scxml/session/{id}/query"),
        "",
    );
    assert_eq!(query["datamodel"]["x"], "fine", "{query}");
    canary(server.port);
}

#[test]
fn an_invoke_src_outside_fails_the_invoke() {
    let dir = TempDir::new("trust-invoke");
    let parent = dir.write(
        "parent.scxml",
        r#"<scxml xmlns="http://www.w3.org/2005/07/scxml" version="1.0"
            datamodel="ecmascript" initial="s">
          <datamodel><data id="reason" expr="''"/></datamodel>
          <state id="s">
            <invoke src="/etc/passwd"/>
            <transition event="error" target="refused">
              <assign location="reason" expr="JSON.stringify(_event.data)"/>
            </transition>
          </state>
          <state id="refused"/>
        </scxml>"#,
    );
    let server = start("invoke", &documents(&[Path::new("."), dir.path()], ""));
    let (status, body) = start_session(server.port, json!({"src": parent}));
    assert_eq!(status, 200, "{body}");
    let id = body["sessionid"].as_str().expect("a session id");
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let path = format!("/scxml/session/{id}/query");
        let (_, query) = request(server.port, "GET", &path, "");
        if query["configuration"] == json!(["refused"]) {
            let reason = query["datamodel"]["reason"].as_str().unwrap_or_default();
            assert!(
                reason.contains("not an allowed document location"),
                "{query}"
            );
            assert!(!reason.contains("root:"), "{query}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the invoke did not fail: {query}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    canary(server.port);
}

#[test]
fn one_file_under_several_spellings_is_one_cache_entry_and_the_cache_is_bounded() {
    let dir = TempDir::new("trust-cache");
    std::fs::create_dir_all(dir.join("sub")).expect("sub dir");
    let file = dir.write("x.scxml", FINAL);
    std::os::unix::fs::symlink(&file, dir.join("alias.scxml")).expect("symlink");
    let extra = documents(&[Path::new("."), dir.path()], "cache_entries_max = 3\n");
    let server = start("cache", &extra);
    let before = documents_cached(server.port);
    let base = dir.path().display();
    let spellings = [
        format!("{base}/x.scxml"),
        format!("{base}/./x.scxml"),
        format!("{base}/sub/../x.scxml"),
        format!("{base}//x.scxml"),
        format!("{base}/alias.scxml"),
        format!("file://{base}/x.scxml"),
    ];
    for src in spellings {
        let (status, body) = start_session(server.port, json!({"src": src}));
        assert_eq!(status, 200, "{src}: {body}");
        assert_eq!(documents_cached(server.port), before + 1.0, "{src}");
    }
    for n in 0..6 {
        let other = dir.write(&format!("other{n}.scxml"), FINAL);
        let (status, body) = start_session(server.port, json!({"src": other}));
        assert_eq!(status, 200, "{body}");
        assert!(
            documents_cached(server.port) <= 3.0,
            "cache_entries_max = 3"
        );
    }
    assert_eq!(documents_cached(server.port), 3.0);
    canary(server.port);

    // The byte bound: each document is ~130 bytes, 300 bytes hold two.
    let extra = documents(&[Path::new("."), dir.path()], "cache_bytes_max = 300\n");
    let bytes = start("cache-bytes", &extra);
    for n in 0..4 {
        let src = dir.join(&format!("other{n}.scxml"));
        let (status, body) = start_session(bytes.port, json!({"src": src}));
        assert_eq!(status, 200, "{body}");
    }
    assert_eq!(documents_cached(bytes.port), 2.0);
}

#[test]
fn session_fetch_to_loopback_is_refused_by_default_and_says_nothing_of_the_port() {
    let dir = TempDir::new("trust-fetch");
    let fetcher = dir.write("fetcher.scxml", FETCHER);
    let sink = Sink::start(json!({"tier": "gold"}));
    let server = start("fetch", &documents(&[Path::new("."), dir.path()], ""));
    let open = sink.url("/customers/1");
    let closed = format!("http://127.0.0.1:{}/customers/1", free_port());
    let metadata = "http://169.254.169.254/latest/meta-data/".to_owned();
    let via_name = format!("http://localhost:{}/customers/1", sink.port);
    let mut reasons = Vec::new();
    for url in [&open, &closed, &metadata, &via_name] {
        let (outcome, detail) = fetch(server.port, &fetcher, url, "GET");
        assert_eq!(outcome, "error", "{url}: {detail}");
        assert_eq!(
            detail,
            format!("{url}: not an allowed destination (outbound.allow)")
        );
        reasons.push(detail.replace(url.as_str(), "URL"));
    }
    reasons.dedup();
    assert_eq!(
        reasons.len(),
        1,
        "one message for every refusal: {reasons:?}"
    );
    assert!(sink.received("/customers/1").is_empty(), "nothing was sent");
    canary(server.port);
}

#[test]
fn session_fetch_to_the_admin_listener_is_refused_even_when_loopback_is_allowed() {
    let dir = TempDir::new("trust-admin");
    let fetcher = dir.write("fetcher.scxml", FETCHER);
    let sink = Sink::start(json!({"tier": "gold"}));
    let admin = free_port();
    let extra = format!(
        "[[listener]]\nname = \"admin\"\naddress = \"127.0.0.1:{admin}\"\nadmin = true\n\n\
         {}{ALLOW_LOOPBACK}",
        documents(&[Path::new("."), dir.path()], "")
    );
    let server = start("admin", &extra);
    server.await_port(admin);
    for url in [
        format!("http://127.0.0.1:{admin}/admin/reload"),
        format!("http://localhost:{admin}/admin/reload"),
        format!("http://[::ffff:127.0.0.1]:{admin}/admin/reload"),
    ] {
        let (outcome, detail) = fetch(server.port, &fetcher, &url, "POST");
        assert_eq!(outcome, "error", "{url}: {detail}");
        assert_eq!(
            detail,
            format!("{url}: not an allowed destination (outbound.allow)")
        );
    }
    assert!(!server.log().contains("reload"), "{}", server.log());
    // Loopback is allowed here, so the CRM on loopback answers.
    let (outcome, detail) = fetch(server.port, &fetcher, &sink.url("/customers/1"), "GET");
    assert_eq!(
        (outcome.as_str(), detail.as_str()),
        ("done", r#"{"tier":"gold"}"#)
    );
    assert_eq!(sink.received("/customers/1").len(), 1);
    canary(server.port);
}

#[test]
fn basichttp_send_to_a_link_local_address_is_refused() {
    let dir = TempDir::new("trust-basichttp");
    let sender = dir.write(
        "sender.scxml",
        r#"<scxml xmlns="http://www.w3.org/2005/07/scxml" version="1.0"
            datamodel="ecmascript" initial="sending">
          <datamodel><data id="reason" expr="''"/></datamodel>
          <state id="sending">
            <onentry>
              <send type="http://www.w3.org/TR/scxml/#BasicHTTPEventProcessor"
                    target="http://169.254.169.254/latest/meta-data/" event="steal"/>
            </onentry>
            <transition event="error.communication" target="refused">
              <assign location="reason" expr="JSON.stringify(_event.data)"/>
            </transition>
          </state>
          <state id="refused"/>
        </scxml>"#,
    );
    let server = start("basichttp", &documents(&[Path::new("."), dir.path()], ""));
    let (status, body) = start_session(server.port, json!({"src": sender}));
    assert_eq!(status, 200, "{body}");
    let id = body["sessionid"].as_str().expect("a session id");
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let (_, query) = request(
            server.port,
            "GET",
            &format!("/scxml/session/{id}/query"),
            "",
        );
        if query["configuration"] == json!(["refused"]) {
            let reason = query["datamodel"]["reason"].as_str().unwrap_or_default();
            assert!(reason.contains("not an allowed destination"), "{query}");
            break;
        }
        assert!(Instant::now() < deadline, "no error.communication: {query}");
        std::thread::sleep(Duration::from_millis(10));
    }
    canary(server.port);
}

#[test]
fn a_reload_reports_the_allow_lists_as_needing_a_restart_and_keeps_them() {
    let dir = TempDir::new("trust-reload");
    let doc = dir.write("app.scxml", FINAL);
    let admin = free_port();
    let config = |more: &str| {
        format!(
            "[runtime]\ncores = [0]\nio_memory_bytes = 1048576\n\n[[listener]]\n\
             name = \"admin\"\naddress = \"127.0.0.1:{admin}\"\nadmin = true\n\n{more}"
        )
    };
    let server = Server::start("trust-reload", &config(""), admin);
    let widened = format!(
        "{}{ALLOW_LOOPBACK}",
        documents(&[Path::new("."), dir.path()], "")
    );
    std::fs::write(server.config_path(), config(&widened)).expect("rewrite the configuration");
    let (status, body) = request(admin, "POST", "/admin/reload", "");
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["restart_required"],
        json!(["outbound", "documents"]),
        "{body}"
    );
    // The running list stays in force until a restart.
    let src = doc.display().to_string();
    let (status, body) = start_session(admin, json!({"src": src}));
    assert_eq!(status, 400, "{body}");
    assert_eq!(error_of(&body), not_allowed(&src));
    canary(admin);
}

/// A document of `transitions` guarded transitions, about 100 bytes each.
fn large_document(transitions: usize) -> String {
    let mut text = String::from(
        r#"<scxml xmlns="http://www.w3.org/2005/07/scxml" version="1.0" datamodel="ecmascript"
    initial="s0"><datamodel><data id="x" expr="0"/></datamodel><state id="s0">"#,
    );
    for n in 0..transitions {
        text.push_str(&format!(
            "<transition event=\"e{n}\" cond=\"x == {n} &amp;&amp; _event.data\" target=\"s1\"/>\n"
        ));
    }
    text.push_str(r#"</state><state id="s1"/></scxml>"#);
    text
}

/// Issue 11: a 4 MB document stalled its shard for the whole compile. Documents now compile
/// off the shard: while a large one compiles, the shard's other sessions are served (a
/// canary answered before the large start is), and the large start then succeeds.
#[test]
fn a_large_document_compiles_off_the_shard_while_the_shard_serves_others() {
    let dir = TempDir::new("trust-large");
    // About 24 MB: a compile of a few hundred milliseconds, far longer than a small start.
    let large = dir.write("large.scxml", &large_document(240_000));
    let small = dir.write("small.scxml", FINAL);
    let allow = documents(&[Path::new("."), dir.path()], "");
    let server = start(
        "large",
        &format!("[limits]\ndocument_bytes_max = 33554432\n\n{allow}"),
    );
    let port = server.port;
    let large_start = std::thread::spawn(move || {
        let answer = start_session(port, json!({"src": large.display().to_string()}));
        (answer, Instant::now())
    });
    // Small starts until the large one answers: at least one is answered before it.
    let mut small_answered = Vec::new();
    while !large_start.is_finished() {
        let (status, body) = start_session(port, json!({"src": small.display().to_string()}));
        assert_eq!(status, 200, "{body}");
        small_answered.push(Instant::now());
        std::thread::sleep(Duration::from_millis(5));
    }
    let ((status, body), large_answered) = large_start.join().expect("the large start");
    assert_eq!(status, 200, "{body}");
    let before = small_answered
        .iter()
        .filter(|t| **t < large_answered)
        .count();
    assert!(
        before >= 2,
        "{before} small starts were answered while the large document compiled"
    );
    canary(port);
}
