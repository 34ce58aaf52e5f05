//! Helpers shared by the test modules: the corpus location and running one document.

use std::path::{Path, PathBuf};

use runtime::local::{Host, HostConfig, LoadError, LogMode, Outcome, VirtualClock};

/// The W3C corpus, beside the repository (`shared/` next to the clone of `main`).
pub const CORPUS_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/w3c-scxml");

/// Virtual time a document may use. The longest fail-safe timeout in the suite is 30 s.
pub const VIRTUAL_DEADLINE_MS: u64 = 120_000;

/// Host steps a document may take, so that sessions messaging each other for ever end.
pub const STEPS_MAX: u64 = 200_000;

/// A file of the W3C corpus.
pub fn corpus_file(name: &str) -> PathBuf {
    Path::new(CORPUS_DIR).join("ecma").join(name)
}

/// A host that captures `<log>` output.
pub fn capturing_host() -> Host {
    Host::new(HostConfig {
        log: LogMode::Capture,
        basichttp: true,
        ..HostConfig::default()
    })
}

/// What running one document produced.
#[derive(Debug)]
pub struct Run {
    /// How it ended.
    pub outcome: Outcome,
    /// The root's configuration when it stopped (empty if it ended).
    pub configuration: Vec<Box<str>>,
    /// The `<log>` lines.
    pub log: Vec<String>,
    /// True if the initial macrostep alone ended the session.
    pub ended_at_start: bool,
}

impl Run {
    /// The final state reached, if any.
    pub fn final_state(&self) -> Option<&str> {
        match &self.outcome {
            Outcome::Done { final_state, .. } => Some(final_state),
            _ => None,
        }
    }

    /// A short description of how the run ended, for failure lists.
    pub fn describe(&self) -> String {
        match &self.outcome {
            Outcome::Done { final_state, .. } => format!("final '{final_state}'"),
            Outcome::Ended(reason) => format!("ended: {reason}"),
            Outcome::Deadline => format!("deadline, in {:?}", self.configuration),
            Outcome::Quiescent => format!("stuck in {:?}", self.configuration),
            Outcome::StepLimit => format!("step limit, in {:?}", self.configuration),
        }
    }
}

/// Loads `path` and runs it to its end in virtual time on `host`; a load error as text.
pub fn run_document(host: &mut Host, path: &Path) -> Result<Run, String> {
    let doc = host
        .load(path)
        .map_err(|e: LoadError| format!("load error: {e}"))?;
    run_loaded(host, doc)
}

/// Runs an already compiled document to its end in virtual time on `host`.
pub fn run_loaded(
    host: &mut Host,
    doc: std::rc::Rc<engine::model::Document>,
) -> Result<Run, String> {
    host.take_log();
    let mut clock = VirtualClock::new();
    let started = host
        .start(doc, &[], 0)
        .map_err(|e| format!("start error: {e}"))?;
    let ended_at_start = started != engine::session::Status::Running;
    let outcome = host.run(&mut clock, VIRTUAL_DEADLINE_MS, STEPS_MAX);
    let configuration = host.configuration();
    host.reset();
    Ok(Run {
        outcome,
        configuration,
        log: host.take_log(),
        ended_at_start,
    })
}

/// Compiles `text` (named `name`, for messages and relative `src`) and runs it.
pub fn run_text(text: &str, name: &str) -> Run {
    let mut host = capturing_host();
    let doc = host
        .compile(text, name)
        .unwrap_or_else(|e| panic!("{name} does not compile: {e}"));
    run_loaded(&mut host, doc).unwrap_or_else(|e| panic!("{name} does not start: {e}"))
}
