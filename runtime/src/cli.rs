//! The `baton` command line: `baton run FILE.scxml` runs a document on the local host in
//! real time, with configuration lines on stdout and events read from stdin.
//!
//! Arguments are parsed by hand to keep the build light. Exit status: 0 the session reached
//! a top-level final state, 2 usage error or invalid/unreadable document, 3 timeout, 4 the
//! session was ended by an engine limit, 1 any other failure (e.g. stdout closed).

use std::ffi::OsString;
use std::io::{BufRead, Write};
use std::path::PathBuf;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};

use engine::event::Event;
use engine::session::Status;
use engine::value::Value;

use crate::local::{Clock, Host, HostConfig, LoadError, LogMode, RealClock, Stepped};

/// Exit status: the session reached a top-level final state.
pub const EXIT_FINAL: i32 = 0;
/// Exit status: something else failed (the session could not start, stdout closed).
pub const EXIT_FAILURE: i32 = 1;
/// Exit status: bad usage, or an unreadable or invalid document.
pub const EXIT_USAGE: i32 = 2;
/// Exit status: stdin closed and the session did not end within `--timeout-ms`.
pub const EXIT_TIMEOUT: i32 = 3;
/// Exit status: an engine limit ended the session.
pub const EXIT_ENDED: i32 = 4;
/// Default `--timeout-ms`.
pub const TIMEOUT_MS_DEFAULT: u64 = 30_000;

const USAGE: &str = "\
Usage: baton <command> [options]

Commands:
  run FILE.scxml   run a document: configuration lines on stdout, events from stdin
                   (see `baton run --help`)
  serve            the server: the HTTP session API on every configured shard
                   (see `baton serve --help`)
  token            make a bearer token for [[access]]: prints the token, for the
                   client, and the token_sha256 line, for the configuration
                   (`baton token --hash` hashes a token read from stdin instead)

Options:
  -h, --help       print this help
  -V, --version    print the version
";

const RUN_USAGE: &str = "\
Usage: baton run [--timeout-ms N] [--trace] [--seed N] FILE.scxml

Runs FILE.scxml (and the sessions it invokes) in real time.

stdout, one JSON object per line:
  {\"configuration\":[\"s1\",\"s11\"]}  active states in document order, after the initial
                                  macrostep and after every later macrostep of the session
  {\"final\":\"ID\"}                  the session reached the top-level final state ID
  {\"timeout\":true}                stdin closed and the session did not end in time
  {\"ended\":\"REASON\"}              an engine limit ended the session
  {\"response\":{\"requestid\":\"req-1\",\"status\":200,\"data\":ANY}}
                                  the session answered a request (<session:response>),
                                  or ended before answering it (status 410), as the
                                  server's /request/{name} would answer over HTTP
stdin, one JSON object per line:
  {\"event\":\"NAME\",\"data\":ANY}     an external event for the session (data optional);
                                  a malformed line is reported on stderr and skipped
  {\"request\":\"NAME\",\"data\":ANY}   the same event as a request awaiting a response:
                                  _event.sendid is its id, req-1, req-2... in input order
stderr: <log> output as `label: value`, --trace lines, errors (an invalid document is
reported as FILE:LINE:COL: message).

Options:
  --timeout-ms N   once stdin is closed, how long to wait for the session to end
                   (default 30000); without pending timers or events it stops at once
  --trace          print each microstep's transitions on stderr
  --seed N         seed for session ids and Math.random (default 0)
  -h, --help       print this help

Exit status: 0 final state reached, 2 usage error or invalid document, 3 timeout,
4 ended by an engine limit, 1 other failure.
";

/// What `baton run` was asked to do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunOptions {
    /// The document.
    pub file: PathBuf,
    /// After stdin closes, how long to wait for the session to end, in ms.
    pub timeout_ms: u64,
    /// Print microstep transitions on stderr.
    pub trace: bool,
    /// Seed for session ids and `Math.random`.
    pub seed: u64,
}

/// A parsed command line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    /// `baton --help`.
    Help,
    /// `baton --version`.
    Version,
    /// `baton run --help`.
    RunHelp,
    /// `baton run ...`.
    Run(RunOptions),
    /// `baton serve --help`.
    ServeHelp,
    /// `baton serve [--config FILE] [--check-config]`.
    Serve(ServeOptions),
    /// `baton token`: a new random bearer token and its hash.
    Token,
    /// `baton token --hash`: the hash of the token on stdin.
    TokenHash,
}

/// Runs the command line `args` (without the program name); returns the exit status.
pub fn main(args: &[OsString]) -> i32 {
    match parse(args) {
        Ok(Command::Help) => print_and_exit(USAGE),
        Ok(Command::RunHelp) => print_and_exit(RUN_USAGE),
        Ok(Command::Version) => print_and_exit(concat!("baton ", env!("CARGO_PKG_VERSION"), "\n")),
        Ok(Command::ServeHelp) => print_and_exit(SERVE_USAGE),
        Ok(Command::Serve(options)) => serve(&options),
        Ok(Command::Run(options)) => run(&options),
        Ok(Command::Token) => new_token(),
        Ok(Command::TokenHash) => hash_token(),
        Err(message) => {
            eprintln!("baton: {message}\n\n{USAGE}");
            EXIT_USAGE
        }
    }
}

fn print_and_exit(text: &str) -> i32 {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Ok(()) => EXIT_FINAL,
        Err(_) => EXIT_FAILURE,
    }
}

/// Parses the arguments after the program name.
pub fn parse(args: &[OsString]) -> Result<Command, String> {
    let mut words = args
        .iter()
        .map(|a| a.to_str().ok_or_else(|| format!("not UTF-8: {a:?}")));
    let Some(first) = words.next().transpose()? else {
        return Err("missing command".to_owned());
    };
    match first {
        "-h" | "--help" | "help" => Ok(Command::Help),
        "-V" | "--version" => Ok(Command::Version),
        "serve" => {
            let rest: Vec<&str> = words.collect::<Result<_, _>>()?;
            parse_serve(&rest)
        }
        "run" => {
            let rest: Vec<&str> = words.collect::<Result<_, _>>()?;
            parse_run(&rest)
        }
        "token" => match words.next().transpose()? {
            None => Ok(Command::Token),
            Some("--hash") if words.next().is_none() => Ok(Command::TokenHash),
            Some(other) => Err(format!("unexpected argument '{other}' for token")),
        },
        other => Err(format!("unknown command '{other}'")),
    }
}

/// Bytes of entropy in a token `baton token` makes: 256 bits, written as 64 hex digits.
const TOKEN_BYTES: usize = 32;

/// `baton token`: a token from the operating system's random source, and its hash.
fn new_token() -> i32 {
    use ring::rand::SecureRandom;
    let mut bytes = [0u8; TOKEN_BYTES];
    if ring::rand::SystemRandom::new().fill(&mut bytes).is_err() {
        eprintln!("baton: the operating system's random source failed");
        return EXIT_FAILURE;
    }
    let token: String = bytes.iter().map(|byte| format!("{byte:02x}")).collect();
    let hash = crate::access::token_hash_hex(&token);
    let text = format!(
        "token: {token}\n\
         # For the configuration (the token itself is not stored anywhere):\n\
         token_sha256 = \"{hash}\"\n"
    );
    print_and_exit(&text)
}

/// `baton token --hash`: the `token_sha256` of the token on stdin (surrounding white space
/// ignored), for a tokens file or an existing client.
fn hash_token() -> i32 {
    let mut token = String::new();
    if let Err(e) = std::io::stdin().read_line(&mut token) {
        eprintln!("baton: cannot read the token from stdin: {e}");
        return EXIT_FAILURE;
    }
    let token = token.trim();
    if token.is_empty() {
        eprintln!("baton: no token on stdin");
        return EXIT_USAGE;
    }
    print_and_exit(&format!("{}\n", crate::access::token_hash_hex(token)))
}

/// Options of `baton serve`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ServeOptions {
    /// `--config FILE`; the embedded default (`tuning/default.toml`) without it.
    pub config: Option<PathBuf>,
    /// `--check-config`: validate the configuration and exit.
    pub check: bool,
}

const SERVE_USAGE: &str = "\
Usage: baton serve [--config FILE] [--check-config]

Runs the server: one pinned shard per configured core, the HTTP session API on every
[[listener]]. Without --config, the embedded default (tuning/default.toml): one shard on
core 0, http://127.0.0.1:8080. SIGTERM or SIGINT stops accepting, lets in-flight requests
finish and exits 0. An invalid configuration is reported with its key and exits 2.
SIGHUP (or POST /admin/reload on a listener with admin = true) re-reads FILE and applies
it without a restart; a bad file is refused and the configuration in force stays. Without
--config, a reload re-reads the certificate files only.

  --config FILE    a TOML configuration (see tuning/README.md)
  --check-config   validate the configuration, print a summary and exit
";

fn parse_serve(args: &[&str]) -> Result<Command, String> {
    let mut options = ServeOptions::default();
    let mut rest = args.iter();
    while let Some(&arg) = rest.next() {
        match arg {
            "-h" | "--help" => return Ok(Command::ServeHelp),
            "--check-config" => options.check = true,
            "--config" => {
                let file = rest.next().ok_or("--config needs a FILE")?;
                options.config = Some(PathBuf::from(file));
            }
            other => return Err(format!("unexpected argument '{other}' for serve")),
        }
    }
    Ok(Command::Serve(options))
}

/// `baton serve`: loads and validates the configuration, then runs until a signal.
fn serve(options: &ServeOptions) -> i32 {
    let loaded = match &options.config {
        Some(path) => crate::config::Config::load(path),
        None => crate::config::Config::embedded_default(),
    };
    let config = match loaded {
        Ok(config) => config,
        Err(e) => {
            eprintln!("baton: {e}");
            return EXIT_USAGE;
        }
    };
    if options.check {
        let listeners: Vec<String> = config
            .listeners
            .iter()
            .map(|l| format!("{} {}", l.name, l.address))
            .collect();
        println!("configuration ok: listeners {}", listeners.join(", "));
        return EXIT_FINAL;
    }
    let source = match &options.config {
        Some(path) => crate::serve::reload::Source::File(path.clone()),
        None => crate::serve::reload::Source::Embedded,
    };
    match crate::serve::serve(config, source) {
        Ok(()) => EXIT_FINAL,
        Err(e) => {
            eprintln!("baton: {e}");
            if e.is_configuration() {
                EXIT_USAGE
            } else {
                EXIT_FAILURE
            }
        }
    }
}

fn parse_run(args: &[&str]) -> Result<Command, String> {
    let mut options = RunOptions {
        file: PathBuf::new(),
        timeout_ms: TIMEOUT_MS_DEFAULT,
        trace: false,
        seed: 0,
    };
    let mut file: Option<&str> = None;
    let mut i = 0;
    while i < args.len() {
        let arg = args[i];
        let (name, inline) = match arg.split_once('=') {
            Some((name, value)) if name.starts_with("--") => (name, Some(value)),
            _ => (arg, None),
        };
        let value = |i: &mut usize| -> Result<&str, String> {
            if let Some(value) = inline {
                return Ok(value);
            }
            *i += 1;
            args.get(*i)
                .copied()
                .ok_or_else(|| format!("{name} needs a value"))
        };
        match name {
            "-h" | "--help" => return Ok(Command::RunHelp),
            "--trace" => options.trace = true,
            "--timeout-ms" => options.timeout_ms = parse_number(name, value(&mut i)?)?,
            "--seed" => options.seed = parse_number(name, value(&mut i)?)?,
            flag if flag.starts_with('-') && flag.len() > 1 => {
                return Err(format!("unknown option '{flag}' for `baton run`"));
            }
            path if file.is_none() => file = Some(path),
            extra => return Err(format!("unexpected argument '{extra}': one FILE only")),
        }
        i += 1;
    }
    options.file = PathBuf::from(file.ok_or("`baton run` needs a FILE.scxml")?);
    Ok(Command::Run(options))
}

fn parse_number(name: &str, text: &str) -> Result<u64, String> {
    text.parse()
        .map_err(|_| format!("{name} needs a whole number, got '{text}'"))
}

/// One line from stdin, or its end.
enum Input {
    Line(String),
    Closed,
}

/// Reads stdin on its own thread, one message per line, so the run loop can wait for input
/// and for the next timer at the same time.
fn spawn_stdin_reader() -> Receiver<Input> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::stdin().lock().lines() {
            match line {
                Ok(line) => {
                    if tx.send(Input::Line(line)).is_err() {
                        return;
                    }
                }
                Err(error) => {
                    eprintln!("baton: reading stdin: {error}");
                    break;
                }
            }
        }
        let _ = tx.send(Input::Closed);
    });
    rx
}

/// `baton run`: returns the exit status.
pub fn run(options: &RunOptions) -> i32 {
    let config = HostConfig {
        seed: options.seed,
        trace: options.trace,
        log: LogMode::Stderr,
        basichttp: true,
        ..HostConfig::default()
    };
    let mut host = Host::new(config);
    let doc = match host.load(&options.file) {
        Ok(doc) => doc,
        Err(LoadError::Compile(error)) => {
            eprintln!("{error}");
            return EXIT_USAGE;
        }
        Err(error) => {
            eprintln!("baton: {error}");
            return EXIT_USAGE;
        }
    };
    let mut clock = RealClock::new();
    if let Err(error) = host.start(doc, &[], clock.now_ms()) {
        eprintln!("baton: {error}");
        return EXIT_FAILURE;
    }
    let mut out = Output {
        stdout: std::io::stdout(),
    };
    if let Some(code) = out.report(&mut host) {
        return code;
    }
    let input = spawn_stdin_reader();
    run_loop(&mut host, &mut clock, &input, &mut out, options.timeout_ms)
}

/// Runs the host until the session ends, reading events while stdin is open, then waiting
/// at most `timeout_ms` more.
fn run_loop(
    host: &mut Host,
    clock: &mut RealClock,
    input: &Receiver<Input>,
    out: &mut Output,
    timeout_ms: u64,
) -> i32 {
    let mut deadline_ms: Option<u64> = None;
    let mut line_number: u64 = 0;
    loop {
        while let Some(stepped) = host.step(clock.now_ms()) {
            let reported = match stepped {
                Stepped::Root => out.report(host),
                Stepped::Other => out.replies(host),
            };
            if let Some(code) = reported {
                return code;
            }
        }
        let next_ms = host.next_timer_ms();
        if let Some(deadline_ms) = deadline_ms {
            if !host.has_pending() || clock.now_ms() >= deadline_ms {
                return out
                    .line(&serde_json::json!({ "timeout": true }))
                    .unwrap_or(EXIT_TIMEOUT);
            }
            clock.idle_until(next_ms.unwrap_or(deadline_ms).min(deadline_ms));
            continue;
        }
        let received = match next_ms {
            Some(at_ms) => input.recv_timeout(clock.duration_until(at_ms)),
            None => input.recv().map_err(|_| RecvTimeoutError::Disconnected),
        };
        match received {
            Ok(Input::Line(line)) => {
                line_number += 1;
                deliver_line(host, &line, line_number);
            }
            Ok(Input::Closed) | Err(RecvTimeoutError::Disconnected) => {
                deadline_ms = Some(clock.now_ms().saturating_add(timeout_ms));
            }
            Err(RecvTimeoutError::Timeout) => {}
        }
    }
}

/// Parses one stdin line and queues its event or request; a bad line is reported and
/// skipped.
fn deliver_line(host: &mut Host, line: &str, line_number: u64) {
    if line.trim().is_empty() {
        return;
    }
    let delivered = parse_message(line).and_then(|message| match message {
        Message::Event(event) => host
            .deliver(event)
            .map_err(|error| format!("not delivered: {}", error.reason)),
        Message::Request(event) => host
            .deliver_request(&event.name, event.data)
            .map(|_| ())
            .map_err(|error| format!("not delivered: {error}")),
    });
    if let Err(message) = delivered {
        eprintln!("baton: stdin line {line_number}: {message}");
    }
}

/// One stdin line of `baton run`.
#[derive(Clone, Debug, PartialEq)]
pub enum Message {
    /// `{"event":"NAME","data":ANY}`: an external event.
    Event(Event),
    /// `{"request":"NAME","data":ANY}`: the same event as a request awaiting a response.
    Request(Event),
}

/// Parses `{"event":"NAME","data":ANY}` (`data` optional) into an external event.
pub fn parse_event(line: &str) -> Result<Event, String> {
    match parse_message(line)? {
        Message::Event(event) => Ok(event),
        Message::Request(_) => Err(r#"a request where {"event":"NAME"} was expected"#.into()),
    }
}

/// Parses `{"event":"NAME","data":ANY}` or `{"request":"NAME","data":ANY}` (`data`
/// optional).
pub fn parse_message(line: &str) -> Result<Message, String> {
    const SHAPE: &str = r#"expected {"event":"NAME","data":ANY} or {"request":"NAME",...}"#;
    let json: serde_json::Value =
        serde_json::from_str(line).map_err(|e| format!("not JSON ({e}); {SHAPE}"))?;
    let fields = json
        .as_object()
        .ok_or_else(|| format!("not an object; {SHAPE}"))?;
    let known = |k: &String| k == "event" || k == "request" || k == "data";
    if let Some(unknown) = fields.keys().find(|k| !known(k)) {
        return Err(format!("unknown field \"{unknown}\"; {SHAPE}"));
    }
    let (key, request) = match (fields.get("event"), fields.get("request")) {
        (Some(_), Some(_)) => return Err(format!("both \"event\" and \"request\"; {SHAPE}")),
        (Some(_), None) => ("event", false),
        (None, Some(_)) => ("request", true),
        (None, None) => return Err(format!("missing \"event\"; {SHAPE}")),
    };
    let name = match fields.get(key) {
        Some(serde_json::Value::String(name)) => name.as_str(),
        _ => return Err(format!("\"{key}\" must be a string; {SHAPE}")),
    };
    let valid = !name.is_empty()
        && !name.starts_with('.')
        && !name.ends_with('.')
        && !name.contains("..")
        && !name.chars().any(|c| c.is_whitespace() || c == '*');
    if !valid {
        return Err(format!(
            "'{name}' is not a valid event name (dot-separated tokens)"
        ));
    }
    let data = fields
        .get("data")
        .map_or(Value::Undefined, Value::from_json);
    let event = Event::external(name, data);
    Ok(match request {
        true => Message::Request(event),
        false => Message::Event(event),
    })
}

/// Writes result lines to stdout, flushing each so a reading process sees it at once.
struct Output {
    stdout: std::io::Stdout,
}

impl Output {
    /// Writes one JSON line; `Some(EXIT_FAILURE)` if stdout is gone.
    fn line(&mut self, json: &serde_json::Value) -> Option<i32> {
        let mut out = self.stdout.lock();
        match writeln!(out, "{json}").and_then(|()| out.flush()) {
            Ok(()) => None,
            Err(_) => Some(EXIT_FAILURE),
        }
    }

    /// Prints the answers to requests given since the last call, in order.
    fn replies(&mut self, host: &mut Host) -> Option<i32> {
        for reply in host.take_replies() {
            let (status, data) = reply.answer.http();
            let response = serde_json::json!({
                "requestid": &*reply.requestid,
                "status": status,
                "data": data,
            });
            if let Some(code) = self.line(&serde_json::json!({ "response": response })) {
                return Some(code);
            }
        }
        None
    }

    /// Prints the root's state after a macrostep, after the answers it gave; the exit status
    /// if it has ended. An ended root's cancelled children are closed first, so their
    /// `<onexit>` logs come out.
    fn report(&mut self, host: &mut Host) -> Option<i32> {
        if host.outcome().is_some() {
            host.drain_work();
        }
        if let Some(code) = self.replies(host) {
            return Some(code);
        }
        match host.root_status() {
            None | Some(Status::Running) => {
                let configuration = host.configuration();
                self.line(&serde_json::json!({ "configuration": configuration }))
            }
            Some(Status::Done { final_state, .. }) => {
                let failed = self.line(&serde_json::json!({ "final": final_state }));
                Some(failed.unwrap_or(EXIT_FINAL))
            }
            Some(Status::Ended(reason)) => {
                let failed = self.line(&serde_json::json!({ "ended": reason.to_string() }));
                Some(failed.unwrap_or(EXIT_ENDED))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(words: &[&str]) -> Vec<OsString> {
        words.iter().map(OsString::from).collect()
    }

    #[test]
    fn parses_run_options() {
        let parsed = parse(&args(&["run", "--timeout-ms", "300", "a.scxml", "--trace"]));
        let expected = RunOptions {
            file: PathBuf::from("a.scxml"),
            timeout_ms: 300,
            trace: true,
            seed: 0,
        };
        assert_eq!(parsed, Ok(Command::Run(expected)));
        let parsed = parse(&args(&["run", "--seed=9", "b.scxml"]));
        assert!(matches!(
            parsed,
            Ok(Command::Run(RunOptions { seed: 9, .. }))
        ));
    }

    #[test]
    fn rejects_bad_usage() {
        assert!(parse(&args(&[])).is_err());
        assert!(parse(&args(&["fly"])).is_err());
        assert!(parse(&args(&["run"])).is_err());
        assert!(parse(&args(&["run", "a", "b"])).is_err());
        assert!(parse(&args(&["run", "--timeout-ms", "x", "a"])).is_err());
        assert!(parse(&args(&["run", "--timeout-ms"])).is_err());
        assert!(parse(&args(&["run", "--bogus", "a"])).is_err());
        assert_eq!(parse(&args(&["run", "--help"])), Ok(Command::RunHelp));
        assert_eq!(
            parse(&args(&["serve"])),
            Ok(Command::Serve(ServeOptions::default()))
        );
        let options = ServeOptions {
            config: Some("b.toml".into()),
            check: true,
        };
        let line = args(&["serve", "--check-config", "--config", "b.toml"]);
        assert_eq!(parse(&line), Ok(Command::Serve(options)));
        assert!(parse(&args(&["serve", "--config"])).is_err());
        assert!(parse(&args(&["serve", "extra"])).is_err());
    }

    #[test]
    fn parses_events() {
        let event = parse_event(r#"{"event":"call.offered","data":{"ani":"1"}}"#).unwrap();
        assert_eq!(&*event.name, "call.offered");
        assert_eq!(event.data.field("ani"), Some(&Value::String("1".into())));
        let event = parse_event(r#"{"event":"go"}"#).unwrap();
        assert_eq!(event.data, Value::Undefined);
        for bad in [
            "",
            "nope",
            "[1]",
            r#"{"data":1}"#,
            r#"{"event":1}"#,
            r#"{"event":""}"#,
        ] {
            assert!(parse_event(bad).is_err(), "{bad}");
        }
        assert!(parse_event(r#"{"event":"a b"}"#).is_err());
        assert!(parse_event(r#"{"event":"a","date":1}"#).is_err());
        assert!(parse_event(r#"{"request":"a"}"#).is_err());
    }

    #[test]
    fn parses_requests() {
        let message = parse_message(r#"{"request":"ask","data":{"n":1}}"#);
        let Ok(Message::Request(event)) = message else {
            panic!("a request: {message:?}");
        };
        assert_eq!(&*event.name, "ask");
        assert_eq!(event.data.field("n"), Some(&Value::Number(1.0)));
        assert!(parse_message(r#"{"request":"a","event":"b"}"#).is_err());
        assert!(parse_message(r#"{"request":1}"#).is_err());
        assert!(parse_message(r#"{"request":"a b"}"#).is_err());
    }
}
