//! `baton run`, end to end: the real binary, its stdin, stdout, stderr and exit status.

mod support;

use std::io::Write;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use support::TempDir;

const BATON: &str = env!("CARGO_BIN_EXE_baton");
const HELLO: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/samples/hello.scxml");

/// Runs `baton ARGS` with `stdin` as its input (then closed).
fn baton(args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new(BATON)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn baton");
    let mut input = child.stdin.take().expect("stdin");
    input.write_all(stdin.as_bytes()).expect("write stdin");
    drop(input);
    child.wait_with_output().expect("baton runs")
}

fn stdout_lines(output: &Output) -> Vec<String> {
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(str::to_owned)
        .collect()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

const SCXML: &str =
    r#"xmlns="http://www.w3.org/2005/07/scxml" version="1.0" datamodel="ecmascript""#;

#[test]
fn hello_sample_reaches_its_final_state() {
    let events = concat!(
        r#"{"event":"call.offered","data":{"language":"fr"}}"#,
        "\n",
        r#"{"event":"agent.ready","data":{"agent":"ada"}}"#,
        "\n"
    );
    let output = baton(&["run", HELLO], events);
    assert_eq!(output.status.code(), Some(0), "stderr: {}", stderr(&output));
    let lines = stdout_lines(&output);
    assert_eq!(
        lines,
        [
            r#"{"configuration":["call","waiting"]}"#,
            r#"{"configuration":["call","queued"]}"#,
            r#"{"final":"routed"}"#,
        ]
    );
    let log = stderr(&output);
    assert!(log.contains("queued on: support-fr"), "{log}");
    assert!(log.contains("routed to: ada via support-fr"), "{log}");
}

#[test]
fn malformed_stdin_lines_are_reported_and_skipped() {
    let events = "not json\n{\"event\":\"\"}\n\n{\"event\":\"call.abandoned\"}\n";
    let output = baton(&["run", HELLO], events);
    assert_eq!(output.status.code(), Some(0), "stderr: {}", stderr(&output));
    let err = stderr(&output);
    assert!(err.contains("stdin line 1"), "{err}");
    assert!(err.contains("stdin line 2"), "{err}");
    let lines = stdout_lines(&output);
    assert_eq!(
        lines.last().map(String::as_str),
        Some(r#"{"final":"abandoned"}"#)
    );
}

#[test]
fn invalid_document_exits_2_with_file_line_column() {
    let dir = TempDir::new("cli");
    let text = format!(
        "<scxml {SCXML} initial=\"a\">\n  <state id=\"a\">\n    \
         <transition target=\"nowhere\"/>\n  </state>\n</scxml>\n"
    );
    let path = dir.write("bad.scxml", &text);
    let output = baton(&["run", path.to_str().unwrap()], "");
    assert_eq!(output.status.code(), Some(2));
    let err = stderr(&output);
    let prefix = format!("{}:", path.display());
    assert!(err.starts_with(&prefix), "{err}");
    let position: Vec<&str> = err[prefix.len()..].splitn(3, ':').collect();
    assert!(position.len() == 3, "{err}");
    assert!(
        position[0].parse::<u32>().is_ok() && position[1].parse::<u32>().is_ok(),
        "{err}"
    );
    assert!(output.stdout.is_empty());
}

#[test]
fn unreadable_file_exits_2() {
    let output = baton(&["run", "/nonexistent/strategy.scxml"], "");
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("/nonexistent/strategy.scxml"));
}

#[test]
fn timeout_exits_3() {
    let dir = TempDir::new("cli");
    let text = format!(
        "<scxml {SCXML} initial=\"a\"><state id=\"a\"><onentry>\
         <send event=\"much.later\" delay=\"60s\"/></onentry></state></scxml>"
    );
    let path = dir.write("slow.scxml", &text);
    let started = Instant::now();
    let output = baton(&["run", "--timeout-ms", "300", path.to_str().unwrap()], "");
    assert_eq!(output.status.code(), Some(3), "stderr: {}", stderr(&output));
    assert_eq!(
        stdout_lines(&output),
        [r#"{"configuration":["a"]}"#, r#"{"timeout":true}"#]
    );
    let elapsed = started.elapsed();
    assert!(elapsed >= Duration::from_millis(300), "{elapsed:?}");
    assert!(elapsed < Duration::from_secs(20), "{elapsed:?}");
}

#[test]
fn a_limit_ends_the_session_with_exit_4() {
    let dir = TempDir::new("cli");
    let text = format!(
        "<scxml {SCXML} initial=\"a\"><state id=\"a\"><transition target=\"b\"/></state>\
         <state id=\"b\"><transition target=\"a\"/></state></scxml>"
    );
    let path = dir.write("loop.scxml", &text);
    let output = baton(&["run", path.to_str().unwrap()], "");
    assert_eq!(output.status.code(), Some(4), "stderr: {}", stderr(&output));
    let lines = stdout_lines(&output);
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(lines[0].starts_with(r#"{"ended":"#), "{lines:?}");
}

#[test]
fn delayed_send_fires_in_real_time() {
    let dir = TempDir::new("cli");
    let text = format!(
        "<scxml {SCXML} initial=\"a\"><state id=\"a\"><onentry>\
         <send event=\"tick\" delay=\"200ms\"/></onentry>\
         <transition event=\"tick\" target=\"b\"/></state>\
         <state id=\"b\"><onentry><send event=\"tock\" delay=\"100ms\"/></onentry>\
         <transition event=\"tock\" target=\"done\"/></state>\
         <final id=\"done\"/></scxml>"
    );
    let path = dir.write("tick.scxml", &text);
    let started = Instant::now();
    let output = baton(
        &["run", "--timeout-ms", "10000", path.to_str().unwrap()],
        "",
    );
    assert_eq!(output.status.code(), Some(0), "stderr: {}", stderr(&output));
    assert_eq!(
        stdout_lines(&output),
        [
            r#"{"configuration":["a"]}"#,
            r#"{"configuration":["b"]}"#,
            r#"{"final":"done"}"#
        ]
    );
    assert!(started.elapsed() >= Duration::from_millis(300));
}

#[test]
fn invoked_child_from_src() {
    let dir = TempDir::new("cli");
    let child = format!(
        "<scxml {SCXML} initial=\"k\"><datamodel><data id=\"greeting\"/></datamodel>\
         <state id=\"k\"><onentry><log label=\"child\" expr=\"greeting\"/>\
         <send target=\"#_parent\" event=\"hello\"><param name=\"who\" expr=\"'kid'\"/>\
         </send></onentry><transition target=\"kdone\"/></state><final id=\"kdone\"/></scxml>"
    );
    dir.write("child.scxml", &child);
    let parent = format!(
        "<scxml {SCXML} initial=\"p\"><state id=\"p\">\
         <invoke id=\"kid\" src=\"file:child.scxml\"><param name=\"greeting\" expr=\"'hi'\"/>\
         </invoke><transition event=\"hello\" target=\"q\">\
         <log label=\"parent\" expr=\"_event.data.who\"/></transition></state>\
         <state id=\"q\"><transition event=\"done.invoke.kid\" target=\"done\"/></state>\
         <final id=\"done\"/></scxml>"
    );
    let path = dir.write("parent.scxml", &parent);
    let output = baton(&["run", "--timeout-ms", "5000", path.to_str().unwrap()], "");
    assert_eq!(output.status.code(), Some(0), "stderr: {}", stderr(&output));
    let err = stderr(&output);
    assert!(err.contains("child: hi"), "{err}");
    assert!(err.contains("parent: kid"), "{err}");
    assert_eq!(
        stdout_lines(&output).last().map(String::as_str),
        Some(r#"{"final":"done"}"#)
    );
}

#[test]
fn trace_prints_transitions() {
    let output = baton(
        &["run", "--trace", HELLO],
        "{\"event\":\"call.abandoned\"}\n",
    );
    assert_eq!(output.status.code(), Some(0));
    assert!(stderr(&output).contains("[trace"), "{}", stderr(&output));
}

#[test]
fn help_and_usage_errors() {
    let help = baton(&["--help"], "");
    assert_eq!(help.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&help.stdout).contains("baton run"));
    let run_help = baton(&["run", "--help"], "");
    assert_eq!(run_help.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&run_help.stdout).contains("--timeout-ms"));
    let serve = baton(&["serve", "--config", "/nonexistent/baton.toml"], "");
    assert_eq!(serve.status.code(), Some(2));
    assert!(
        stderr(&serve).contains("/nonexistent/baton.toml"),
        "{}",
        stderr(&serve)
    );
    for args in [
        &[][..],
        &["fly"][..],
        &["run"][..],
        &["run", "--bogus", HELLO][..],
    ] {
        assert_eq!(baton(args, "").status.code(), Some(2), "{args:?}");
    }
}

/// A strategy that answers `quote` requests with `<session:response>`, and ends on `bye`
/// (leaving an unanswered request behind, if one is waiting).
const RESPONDER: &str = r#"
  <datamodel><data id="base" expr="100"/></datamodel>
  <state id="open">
    <transition event="quote">
      <session:response>
        <param name="price" expr="base + _event.data.extra"/>
        <param name="request" expr="_event.sendid"/>
      </session:response>
    </transition>
    <transition event="reject">
      <session:response status="422"><content expr="'no: ' + _event.name"/></session:response>
    </transition>
    <transition event="bye" target="done"/>
  </state>
  <final id="done"/>"#;

#[test]
fn run_prints_responses_to_requests() {
    let dir = TempDir::new("cli");
    let text = format!(
        "<scxml {SCXML} xmlns:session=\"http://baton.dev/scxml/session\">{RESPONDER}</scxml>"
    );
    let doc = dir.write("responder.scxml", &text);
    let input = concat!(
        r#"{"request":"quote","data":{"extra":5}}"#,
        "\n",
        r#"{"request":"reject"}"#,
        "\n",
        r#"{"event":"quote","data":{"extra":1}}"#,
        "\n",
        r#"{"request":"ignored"}"#,
        "\n",
        r#"{"event":"bye"}"#,
        "\n",
    );
    let output = baton(&["run", doc.to_str().expect("utf-8 path")], input);
    assert_eq!(output.status.code(), Some(0), "stderr: {}", stderr(&output));
    let lines: Vec<serde_json::Value> = stdout_lines(&output)
        .iter()
        .map(|line| serde_json::from_str(line).expect("a JSON line"))
        .collect();
    let open = serde_json::json!({ "configuration": ["open"] });
    let ended = "the session ended before answering the request";
    let expected = [
        open.clone(),
        serde_json::json!({ "response": {
            "requestid": "req-1", "status": 200, "data": { "price": 105, "request": "req-1" }
        }}),
        open.clone(),
        serde_json::json!({ "response": {
            "requestid": "req-2", "status": 422, "data": "no: reject"
        }}),
        // The plain event `quote` is no request: its response fails in the session
        // (error.execution), nothing is printed.
        open.clone(),
        open.clone(),
        open,
        serde_json::json!({ "response": {
            "requestid": "req-3", "status": 410, "data": { "error": ended, "status": 410 }
        }}),
        serde_json::json!({ "final": "done" }),
    ];
    assert_eq!(lines, expected);
    assert!(
        stdout_lines(&output)[1].contains(r#""price":105,"#),
        "integers print whole"
    );
}

#[test]
fn run_rejects_unknown_baton_actions_with_their_position() {
    let dir = TempDir::new("cli");
    let text = format!(
        "<scxml {SCXML} xmlns:session=\"http://baton.dev/scxml/session\">\n\
         <state id=\"s\"><onentry>\n  <session:reply/></onentry></state></scxml>"
    );
    let doc = dir.write("typo.scxml", &text);
    let path = doc.to_str().expect("utf-8 path");
    let output = baton(&["run", path], "");
    assert_eq!(output.status.code(), Some(2));
    let message = stderr(&output);
    let expected = format!("{path}:3:3: <session:reply> is not a Baton action");
    assert!(message.starts_with(&expected), "{message}");
}

/// The Composer-shaped project under `tests/composer/Greeting`: its entry document
/// includes the project's JavaScript and its workflow (resolved relative to the file).
const COMPOSER_ENTRY: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../tests/composer/Greeting/src-gen/Greeting.scxml"
);
const COMPOSER_WORKFLOW: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../tests/composer/Greeting/src-gen/Main.scxml"
);

#[test]
fn a_composer_project_runs_in_ors_mode_and_its_workflow_alone_does_not_boot() {
    let call = r#"{"event":"call.offered","data":{"language":"fr"}}"#;
    let output = baton(&["run", COMPOSER_ENTRY], &format!("{call}\n"));
    assert_eq!(output.status.code(), Some(0), "stderr: {}", stderr(&output));
    let lines = stdout_lines(&output);
    assert_eq!(
        lines.last().map(String::as_str),
        Some(r#"{"final":"done"}"#),
        "{lines:?}"
    );
    let log = stderr(&output);
    // The second describe() won, the workflow's ids and _my_prefix are MainWorkflow, the
    // raised event carried its <param>, and the cancelled timer never fired.
    assert!(
        log.contains("route: queue [support-fr] for MainWorkflow"),
        "{log}"
    );
    assert!(!log.contains("the cancelled timer fired"), "{log}");
    // Transition content runs between exiting Timer1 and entering Exit.
    let trace = "trace: in GlobalState MainWorkflow._composer_entry: ({\"queue\":\"support-fr\"})";
    assert!(log.contains(trace), "{log}");

    let output = baton(&["run", COMPOSER_WORKFLOW], "");
    assert_eq!(output.status.code(), Some(0), "stderr: {}", stderr(&output));
    assert_eq!(stdout_lines(&output), [r#"{"final":"_composer_noboot"}"#]);
    assert!(stderr(&output).contains("cannot be executed as the first page"));
}
