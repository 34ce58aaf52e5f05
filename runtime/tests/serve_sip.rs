//! SIP routing points end to end: the real `baton serve` with a SIP listener, driven by
//! SIPp (Debian's `sip-tester`) playing the PBX, over real UDP and TCP sockets. The
//! scenarios are in `tests/sip/`; each says what it checks and how SIPp is run. SIPp exits
//! 0 only when its call went exactly as the scenario says (responses, order, checks), so
//! each test asserts that, then looks at the scenario's log and Baton's HTTP APIs.
//!
//! Without `sipp` these tests pass with a loud note, unless `CI` is set: CI installs it
//! (`.ci/run`), so there a missing `sipp` fails them.
//!
//! `scenarios_pass_against_sipp_stand_ins` plays each scenario against a SIPp stand-in for
//! Baton (`tests/sip/uas_*.xml`): when a Baton test fails and that one passes, the fault is
//! Baton's, not the scenario's or SIPp's.

mod support;

use std::io::Write;
use std::net::UdpSocket;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use support::routing::{put_agent, set_state};
use support::{free_port, request, Server, TempDir};

/// How long one SIPp run may take before the test kills it and fails.
const SIPP_PATIENCE: Duration = Duration::from_secs(20);

/// The queue the `voice` strategy submits calls to, URL-encoded.
const MORTGAGE_STATISTICS: &str = "/routing/statistics?targets=Mortgage%20%3E%3D%205&media=voice";

/// True if SIPp can run. Outside CI a missing `sipp` skips the test loudly; in CI it fails.
fn have_sipp(test: &str) -> bool {
    let found = Command::new("sipp")
        .arg("-v")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok();
    if found {
        return true;
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "CI is set and `sipp` is missing: .ci/run installs it (apt-get install sip-tester)"
    );
    // Straight to stderr: the test harness captures eprintln! of passing tests.
    let note = format!("\n*** {test}: SKIPPED, `sipp` is not installed (sip-tester) ***\n");
    let _ = std::io::stderr().write_all(note.as_bytes());
    false
}

/// A port free for both UDP and TCP (a SIP listener takes both; so does SIPp's `-p`).
fn free_sip_port() -> u16 {
    loop {
        let port = free_port();
        if UdpSocket::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

fn strategy(name: &str) -> String {
    format!(
        "{}/samples/strategies/{name}.scxml",
        env!("CARGO_MANIFEST_DIR")
    )
}

fn scenario(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!("tests/sip/{name}.xml"))
}

/// `baton serve` with an HTTP and a SIP listener and the three voice routing points:
/// 5000 (`voice`: skills-based), 5001 (`voice_treatment`) and 5002 (`voice_undecided`).
struct Baton {
    server: Server,
    http: u16,
    sip: u16,
}

impl Baton {
    fn start(tag: &str) -> Baton {
        let (http, sip) = (free_port(), free_sip_port());
        let config = format!(
            "[runtime]\ncores = [0]\nio_memory_bytes = 1048576\n\n\
             [[listener]]\nname = \"http\"\nprotocol = \"http\"\naddress = \"127.0.0.1:{http}\"\n\n\
             [[listener]]\nname = \"sip\"\nprotocol = \"sip\"\naddress = \"127.0.0.1:{sip}\"\n\n\
             [sip]\nqueued_status = 182\nroute_timeout_ms = 1000\n\
             default_destination = \"sip:operator@127.0.0.1:5999\"\n\
             media_server = \"sip:127.0.0.1:5098\"\n\n\
             [[entry_point]]\nname = \"voice\"\napplication = \"{}\"\nmedia = [\"voice\"]\n\n\
             [[entry_point]]\nname = \"treatment\"\napplication = \"{}\"\n\n\
             [[entry_point]]\nname = \"undecided\"\napplication = \"{}\"\n\n\
             [[routing_point]]\nnumber = \"5000\"\nentry_point = \"voice\"\n\n\
             [[routing_point]]\nnumber = \"5001\"\nentry_point = \"treatment\"\n\n\
             [[routing_point]]\nnumber = \"5002\"\nentry_point = \"undecided\"\n",
            strategy("voice"),
            strategy("voice_treatment"),
            strategy("voice_undecided"),
        );
        let server = Server::start(&format!("sip-{tag}"), &config, http);
        // The SIP listener takes TCP on the same address as UDP: ready when it accepts.
        server.await_port(sip);
        Baton { server, http, sip }
    }

    /// A SIPp run of `scenario` against this server's SIP listener.
    fn sipp(&self, scenario: &str) -> Sipp {
        Sipp::new(scenario, self.sip)
    }

    /// An agent for voice with `Mortgage` at `level`, reached at `sip:{id}@127.0.0.1:5071`.
    fn advisor(&self, id: &str, level: u8, state: &str) {
        let profile = json!({"skills": {"Mortgage": level}, "capacity": {"voice": 1},
                             "addresses": {"voice": format!("sip:{id}@127.0.0.1:5071")}});
        put_agent(self.http, id, profile);
        set_state(self.http, id, state);
    }

    fn get(&self, path: &str) -> Value {
        let (status, body) = request(self.http, "GET", path, "");
        assert_eq!(status, 200, "GET {path}: {body}");
        body
    }

    /// The agent's voice load (calls it holds).
    fn voice_load(&self, id: &str) -> u64 {
        let agent = self.get(&format!("/agents/{id}"));
        agent["media"]["voice"]["load"]
            .as_u64()
            .unwrap_or_else(|| panic!("no voice load: {agent}"))
    }

    /// Waits until the Mortgage queue holds `waiting` calls (bounded).
    fn await_waiting(&self, waiting: u64) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let statistics = self.get(MORTGAGE_STATISTICS);
            if statistics["waiting"] == waiting {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the queue never held {waiting}: {statistics}\n{}",
                self.server.log()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

/// One SIPp call (`-m 1`) of a scenario, its traces in a temp dir of its own.
struct Sipp {
    name: String,
    dir: TempDir,
    args: Vec<String>,
}

impl Sipp {
    /// A UAC run against 127.0.0.1:`port`; a stand-in UAS when `port` is 0.
    fn new(name: &str, port: u16) -> Sipp {
        let dir = TempDir::new(&format!("sipp-{name}"));
        let mut args = Vec::new();
        if port != 0 {
            args.push(format!("127.0.0.1:{port}"));
        }
        // One call, then exit: 0 if it passed, 1 if it failed, 255 past -timeout.
        let fixed = "-i 127.0.0.1 -m 1 -l 1 -nostdin -timeout 15s -timeout_error";
        args.extend(fixed.split(' ').map(str::to_owned));
        let file = |name: &str| dir.join(name).display().to_string();
        let named = [
            ("-sf", scenario(name).display().to_string()),
            ("-p", free_sip_port().to_string()),
            ("-cp", free_sip_port().to_string()),
            ("-trace_err", String::new()),
            ("-error_file", file("errors.log")),
            ("-trace_logs", String::new()),
            ("-log_file", file("actions.log")),
            ("-trace_msg", String::new()),
            ("-message_file", file("messages.log")),
        ];
        for (option, value) in named {
            args.push(option.to_owned());
            if !value.is_empty() {
                args.push(value);
            }
        }
        Sipp {
            name: name.to_owned(),
            dir,
            args,
        }
    }

    /// Adds arguments (`-s 5000`, `-set name value`, `-t t1`, ...).
    fn with(mut self, args: &[&str]) -> Sipp {
        self.args.extend(args.iter().map(|a| (*a).to_owned()));
        self
    }

    fn spawn(self) -> Running {
        let stdout = std::fs::File::create(self.dir.join("stdout.log")).expect("stdout file");
        let stderr = std::fs::File::create(self.dir.join("stderr.log")).expect("stderr file");
        let child = Command::new("sipp")
            .args(&self.args)
            .current_dir(self.dir.path())
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr)
            .spawn()
            .expect("spawn sipp");
        Running {
            sipp: self,
            child,
            started: Instant::now(),
        }
    }

    /// Runs the call to its end.
    fn run(self) -> Finished {
        self.spawn().finish()
    }
}

/// A SIPp run in progress, killed if dropped unfinished.
struct Running {
    sipp: Sipp,
    child: Child,
    started: Instant,
}

impl Running {
    /// Waits for SIPp to exit (bounded by [`SIPP_PATIENCE`]).
    fn finish(mut self) -> Finished {
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("wait for sipp") {
                break status;
            }
            if self.started.elapsed() > SIPP_PATIENCE {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!("sipp {} ran too long:\n{}", self.sipp.name, self.report());
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        Finished {
            success: status.success(),
            elapsed: self.started.elapsed(),
            log: self.read("actions.log"),
            report: self.report(),
        }
    }

    fn read(&self, name: &str) -> String {
        std::fs::read_to_string(self.sipp.dir.join(name)).unwrap_or_default()
    }

    /// Everything SIPp said: its command, its final screen, its errors and every message.
    fn report(&self) -> String {
        let mut report = format!("sipp {}\n", self.sipp.args.join(" "));
        let files = [
            "stdout.log",
            "stderr.log",
            "errors.log",
            "actions.log",
            "messages.log",
        ];
        for name in files {
            report += &format!("---- {name}\n{}\n", self.read(name));
        }
        report
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// How a SIPp run ended.
struct Finished {
    success: bool,
    elapsed: Duration,
    /// What the scenario's `<log>` actions wrote (the final response, among others).
    log: String,
    report: String,
}

impl Finished {
    /// Asserts the call went as the scenario says; `baton` is the server's log.
    fn assert_passed(&self, baton: &Baton) {
        assert!(
            self.success,
            "the SIPp scenario failed:\n{}\n---- baton serve\n{}",
            self.report,
            baton.server.log()
        );
    }
}

/// Two ready advisors, Mortgage 3 and 7; the call (over `transport`, SIPp's `-t`) must go
/// to the Mortgage 7 one.
fn routed_by_skill(test: &str, transport: &str) {
    if !have_sipp(test) {
        return;
    }
    let baton = Baton::start(transport);
    baton.advisor("low", 3, "ready");
    baton.advisor("alice", 7, "ready");
    let call = baton.sipp("routed").with(&["-t", transport, "-s", "5000"]);
    let call = call.with(&["-set", "contact_expected", "sip:alice@127.0.0.1:5071"]);
    let finished = call.run();
    finished.assert_passed(&baton);
    assert!(finished.log.contains("SIP/2.0 302"), "{}", finished.log);
    assert_eq!(baton.voice_load("alice"), 1, "alice has the call");
    assert_eq!(baton.voice_load("low"), 0, "Mortgage 3 is not enough");
}

#[test]
fn routed_by_skill_over_udp() {
    routed_by_skill("routed_by_skill_over_udp", "u1");
}

#[test]
fn routed_by_skill_over_tcp() {
    routed_by_skill("routed_by_skill_over_tcp", "t1");
}

#[test]
fn queued_then_routed_when_the_agent_is_ready() {
    if !have_sipp("queued_then_routed_when_the_agent_is_ready") {
        return;
    }
    let baton = Baton::start("queued");
    baton.advisor("alice", 7, "not-ready");
    let call = baton.sipp("queued");
    let call = call.with(&[
        "-s",
        "5000",
        "-set",
        "contact_expected",
        "sip:alice@127.0.0.1:5071",
    ]);
    let running = call.spawn();
    baton.await_waiting(1);
    set_state(baton.http, "alice", "ready");
    running.finish().assert_passed(&baton);
    baton.await_waiting(0);
    assert_eq!(baton.voice_load("alice"), 1);
}

#[test]
fn cancelled_while_queued() {
    if !have_sipp("cancelled_while_queued") {
        return;
    }
    let baton = Baton::start("cancel");
    baton.advisor("alice", 7, "not-ready");
    let finished = baton.sipp("cancel").with(&["-s", "5000"]).run();
    finished.assert_passed(&baton);
    baton.await_waiting(0);
    // voice.scxml logs the interaction's deletion as it ends.
    baton.server.await_log("caller left");
    set_state(baton.http, "alice", "ready");
    assert_eq!(baton.voice_load("alice"), 0, "no call is left to offer");
}

#[test]
fn rejected_without_a_skilled_agent() {
    if !have_sipp("rejected_without_a_skilled_agent") {
        return;
    }
    let baton = Baton::start("rejected");
    baton.advisor("low", 3, "ready");
    let call = baton
        .sipp("rejected")
        .with(&["-s", "5000", "-set", "status_expected", "480"]);
    let finished = call.run();
    finished.assert_passed(&baton);
    // The strategy's reason travels with the status (a Warning header, or the phrase).
    assert!(
        finished.log.contains("no mortgage advisor is logged in"),
        "{}",
        finished.log
    );
    assert_eq!(baton.voice_load("low"), 0);
}

#[test]
fn unknown_routing_point_is_not_found() {
    if !have_sipp("unknown_routing_point_is_not_found") {
        return;
    }
    let baton = Baton::start("unknown");
    let call = baton
        .sipp("rejected")
        .with(&["-s", "5999", "-set", "status_expected", "404"]);
    call.run().assert_passed(&baton);
}

#[test]
fn treatment_redirects_to_the_media_server() {
    if !have_sipp("treatment_redirects_to_the_media_server") {
        return;
    }
    let baton = Baton::start("treatment");
    let annc = "sip:annc@127.0.0.1:5098;play=http://media.example/welcome.wav";
    let call = baton
        .sipp("routed")
        .with(&["-s", "5001", "-set", "contact_expected", annc]);
    call.run().assert_passed(&baton);
}

#[test]
fn undecided_goes_to_the_default_destination() {
    if !have_sipp("undecided_goes_to_the_default_destination") {
        return;
    }
    let baton = Baton::start("undecided");
    let operator = "sip:operator@127.0.0.1:5999";
    let call = baton
        .sipp("routed")
        .with(&["-s", "5002", "-set", "contact_expected", operator]);
    let finished = call.run();
    finished.assert_passed(&baton);
    // route_timeout_ms = 1000; SIPp's own start is a few ms.
    let elapsed = finished.elapsed;
    assert!(
        elapsed >= Duration::from_millis(900),
        "too soon: {elapsed:?}"
    );
    assert!(elapsed < Duration::from_secs(3), "too late: {elapsed:?}");
}

#[test]
fn final_response_retransmitted_and_invite_retransmission_absorbed() {
    if !have_sipp("final_response_retransmitted_and_invite_retransmission_absorbed") {
        return;
    }
    let baton = Baton::start("retransmit");
    // -nr: SIPp must see Baton's retransmissions instead of absorbing them itself.
    let finished = baton.sipp("retransmit").with(&["-s", "5001", "-nr"]).run();
    finished.assert_passed(&baton);
    assert!(finished.log.contains("302 again after"), "{}", finished.log);
}

#[test]
fn options_answered_over_udp_and_tcp() {
    if !have_sipp("options_answered_over_udp_and_tcp") {
        return;
    }
    let baton = Baton::start("options");
    baton.sipp("options").run().assert_passed(&baton);
    baton
        .sipp("options")
        .with(&["-t", "t1"])
        .run()
        .assert_passed(&baton);
}

#[test]
fn malformed_requests_answered_400_and_junk_dropped() {
    if !have_sipp("malformed_requests_answered_400_and_junk_dropped") {
        return;
    }
    let baton = Baton::start("malformed");
    baton.sipp("malformed").run().assert_passed(&baton);
    junk_then_options(&baton);
}

/// Datagrams that are not SIP get no answer, and the socket keeps serving: the first
/// datagram back is the answer to the OPTIONS sent after them.
fn junk_then_options(baton: &Baton) {
    let socket = UdpSocket::bind("127.0.0.1:0").expect("bind");
    socket
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    socket.connect(("127.0.0.1", baton.sip)).expect("connect");
    let junk: [&[u8]; 5] = [
        b"\x00hello\r\n\r\n",
        b"NOT SIP",
        b"",
        b"\r\n\r\n",
        &[0xff; 1_000],
    ];
    for datagram in junk {
        socket.send(datagram).expect("send junk");
    }
    let local = socket.local_addr().expect("address");
    let options = format!(
        "OPTIONS sip:127.0.0.1:{sip} SIP/2.0\r\n\
         Via: SIP/2.0/UDP {local};branch=z9hG4bK-junk-1\r\n\
         From: <sip:monitor@{local}>;tag=junk\r\nTo: <sip:127.0.0.1:{sip}>\r\n\
         Call-ID: junk-then-options\r\nCSeq: 7 OPTIONS\r\nMax-Forwards: 70\r\n\
         Content-Length: 0\r\n\r\n",
        sip = baton.sip
    );
    socket.send(options.as_bytes()).expect("send OPTIONS");
    let mut answer = [0u8; 4096];
    let read = socket.recv(&mut answer).unwrap_or_else(|e| {
        panic!(
            "no answer to OPTIONS after junk ({e}):\n{}",
            baton.server.log()
        )
    });
    let answer = String::from_utf8_lossy(&answer[..read]);
    assert!(answer.starts_with("SIP/2.0 200 "), "{answer}");
    assert!(answer.contains("junk-then-options"), "{answer}");
    assert!(answer.contains("7 OPTIONS"), "{answer}");
}

/// Owned copies of arguments, for a thread.
fn strings(args: &[&str]) -> Vec<String> {
    args.iter().map(|a| (*a).to_owned()).collect()
}

/// One scenario against its stand-in: the UAS (started first) and the UAC both pass.
/// `transport` is SIPp's `-t` for both.
fn against_stand_in(uas: &str, uas_args: &[String], uac: &str, uac_args: &[String], tcp: bool) {
    let transport: &[&str] = if tcp { &["-t", "t1"] } else { &[] };
    let mut stand_in = Sipp::new(uas, 0).with(transport);
    stand_in.args.extend_from_slice(uas_args);
    // The stand-in listens on its -p, which the caller needs to know.
    let at = stand_in.args.iter().position(|a| a == "-p").expect("-p");
    let port: u16 = stand_in.args[at + 1].parse().expect("a port");
    let stand_in = stand_in.spawn();
    std::thread::sleep(Duration::from_millis(200));
    let mut caller = Sipp::new(uac, port).with(transport);
    caller.args.extend_from_slice(uac_args);
    let caller = caller.run();
    assert!(caller.success, "{uac} against {uas}:\n{}", caller.report);
    let stand_in = stand_in.finish();
    assert!(
        stand_in.success,
        "{uas} against {uac}:\n{}",
        stand_in.report
    );
}

#[test]
fn scenarios_pass_against_sipp_stand_ins() {
    if !have_sipp("scenarios_pass_against_sipp_stand_ins") {
        return;
    }
    let alice = "sip:alice@127.0.0.1:5071";
    let routed_uas = strings(&["-key", "contact", alice]);
    let routed = strings(&["-s", "5000", "-set", "contact_expected", alice]);
    let queued_uas = strings(&["-key", "contact", alice, "-d", "300"]);
    let rejected_uas = strings(&["-set", "status", "480", "-key", "reason", "No Agent"]);
    let rejected = strings(&["-s", "5000", "-set", "status_expected", "480"]);
    let cancel = strings(&["-s", "5000"]);
    let retransmit = strings(&["-s", "5001", "-nr"]);
    let runs = [
        (
            "uas_routed",
            routed_uas.clone(),
            "routed",
            routed.clone(),
            false,
        ),
        ("uas_routed", routed_uas, "routed", routed.clone(), true),
        ("uas_routed", queued_uas, "queued", routed, false),
        (
            "uas_cancel",
            strings(&["-set", "first", "200"]),
            "cancel",
            cancel.clone(),
            false,
        ),
        (
            "uas_cancel",
            strings(&["-set", "first", "487"]),
            "cancel",
            cancel,
            false,
        ),
        ("uas_rejected", rejected_uas, "rejected", rejected, false),
        (
            "uas_retransmit",
            strings(&["-nr"]),
            "retransmit",
            retransmit,
            false,
        ),
        ("uas_options", Vec::new(), "options", Vec::new(), false),
        ("uas_malformed", Vec::new(), "malformed", Vec::new(), false),
    ];
    let threads: Vec<_> = runs
        .into_iter()
        .map(|(uas, uas_args, uac, uac_args, tcp)| {
            std::thread::spawn(move || against_stand_in(uas, &uas_args, uac, &uac_args, tcp))
        })
        .collect();
    for thread in threads {
        thread
            .join()
            .expect("a scenario failed against its stand-in");
    }
}
