//! The W3C SCXML 1.0 IRP suite, ECMAScript data model, run through `runtime::local` (the
//! host behind `baton run`) in virtual time.
//!
//! Data-driven from `MANIFEST.tsv`: every automatic test runs; a test passes when its
//! document (all three for 403) reaches the top-level final state `pass`. The 12 tests that
//! need the Basic HTTP event I/O processor use the host's loopback listener and client.

use std::collections::BTreeMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use crate::support::{capturing_host, corpus_file, run_document, CORPUS_DIR};

/// Automatic tests that are known to fail, with the reason in a comment.
/// Must end empty. A listed test that passes fails the suite too, so the list cannot rot.
const KNOWN_FAILURES: &[&str] = &[];

/// Threads running documents; each has its own host (datamodels are not `Send`).
const THREADS_MAX: usize = 4;

/// One row of the manifest.
#[derive(Clone, Debug)]
pub struct Case {
    /// The test id, e.g. `403`.
    pub id: String,
    /// `mandatory` or `optional`.
    pub conformance: String,
    /// `auto` or `manual`.
    pub mode: String,
    /// Tags such as `http`, `timing`, `invoke`.
    pub needs: Vec<String>,
    /// The documents to run (auxiliary `sub` documents and data files excluded).
    pub documents: Vec<PathBuf>,
}

impl Case {
    fn needs(&self, tag: &str) -> bool {
        self.needs.iter().any(|n| n == tag)
    }

    fn category(&self) -> String {
        format!("{}-{}", self.conformance, self.mode)
    }
}

/// Reads `MANIFEST.tsv`.
pub fn manifest() -> Vec<Case> {
    let path = format!("{CORPUS_DIR}/MANIFEST.tsv");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {path}: {e} (is shared/ beside the repo?)"));
    let mut cases = Vec::new();
    for line in text.lines().skip(1).filter(|l| !l.trim().is_empty()) {
        let fields: Vec<&str> = line.split('\t').collect();
        assert!(fields.len() >= 6, "short manifest row: {line}");
        let documents = fields[5]
            .split(',')
            .filter(|f| f.ends_with(".scxml") && !f.contains("sub"))
            .map(corpus_file)
            .collect();
        cases.push(Case {
            id: fields[0].to_owned(),
            conformance: fields[1].to_owned(),
            mode: fields[2].to_owned(),
            needs: fields[3]
                .split(',')
                .filter(|n| *n != "-")
                .map(str::to_owned)
                .collect(),
            documents,
        });
    }
    cases
}

/// The result of one document: `Ok` if it reached `pass`, else why not.
type Verdict = Result<(), String>;

/// Runs the documents on up to [`THREADS_MAX`] threads, one host per thread.
fn run_all(documents: &[PathBuf]) -> Vec<Verdict> {
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<Verdict>>> = Mutex::new(vec![None; documents.len()]);
    let threads = std::thread::available_parallelism()
        .map_or(2, |n| n.get())
        .min(THREADS_MAX);
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| {
                let mut host = capturing_host();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(path) = documents.get(i) else { break };
                    let verdict = catch_unwind(AssertUnwindSafe(|| judge(&mut host, path)));
                    let verdict = verdict.unwrap_or_else(|panic| {
                        // The host may be half-way through a step: start afresh.
                        host = capturing_host();
                        Err(format!("panic: {}", panic_message(&panic)))
                    });
                    results.lock().unwrap()[i] = Some(verdict);
                }
            });
        }
    });
    let results = results.into_inner().unwrap();
    results
        .into_iter()
        .map(|r| r.unwrap_or_else(|| Err("not run".to_owned())))
        .collect()
}

fn judge(host: &mut runtime::local::Host, path: &std::path::Path) -> Verdict {
    let run = run_document(host, path)?;
    match run.final_state() {
        Some("pass") => Ok(()),
        _ => Err(run.describe()),
    }
}

fn panic_message(panic: &Box<dyn std::any::Any + Send>) -> String {
    let text = panic.downcast_ref::<&str>().map(|s| s.to_string());
    text.or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "?".to_owned())
}

/// Per category: passed ids, failed ids with reasons.
#[derive(Default)]
struct Tally {
    passed: Vec<String>,
    failed: Vec<(String, String)>,
}

#[test]
fn w3c_automatic_tests() {
    let cases: Vec<Case> = manifest()
        .into_iter()
        .filter(|c| c.mode == "auto")
        .collect();
    assert_eq!(
        cases.len(),
        191,
        "the manifest lists 158 + 33 automatic tests"
    );
    let documents: Vec<PathBuf> = cases.iter().flat_map(|c| c.documents.clone()).collect();
    let started = std::time::Instant::now();
    let mut verdicts = run_all(&documents).into_iter();
    let mut tallies: BTreeMap<String, Tally> = BTreeMap::new();
    for case in &cases {
        let tally = tallies.entry(case.category()).or_default();
        assert!(
            !case.documents.is_empty(),
            "test {} has no document",
            case.id
        );
        let failures: Vec<String> = (&mut verdicts)
            .take(case.documents.len())
            .zip(&case.documents)
            .filter_map(|(verdict, path)| verdict.err().map(|why| document_failure(path, why)))
            .collect();
        if failures.is_empty() {
            tally.passed.push(case.id.clone());
        } else {
            tally.failed.push((case.id.clone(), failures.join("; ")));
        }
    }
    report(&tallies, started.elapsed());
    check_known_failures(&tallies);
}

fn document_failure(path: &std::path::Path, why: String) -> String {
    let name = path
        .file_name()
        .map_or(String::new(), |n| n.to_string_lossy().into_owned());
    format!("{name}: {why}")
}

/// Writes the per-category counts straight to stderr, past the test harness's capture, so
/// that they show in every run (CI logs included), not only when the test fails.
fn report(tallies: &BTreeMap<String, Tally>, elapsed: std::time::Duration) {
    use std::io::Write;
    let mut lines = Vec::new();
    for (category, tally) in tallies {
        let (passed, failed) = (tally.passed.len(), tally.failed.len());
        lines.push(format!("w3c {category}: {passed} passed, {failed} failed"));
        for (id, why) in &tally.failed {
            lines.push(format!("  FAILED {id}: {why}"));
        }
    }
    lines.push(format!("w3c suite ran in {} ms", elapsed.as_millis()));
    let mut stderr = std::io::stderr().lock();
    for line in lines {
        let _ = writeln!(stderr, "{line}");
    }
}

fn check_known_failures(tallies: &BTreeMap<String, Tally>) {
    let failed: Vec<&str> = tallies
        .values()
        .flat_map(|t| t.failed.iter().map(|(id, _)| id.as_str()))
        .collect();
    let unexpected: Vec<&str> = failed
        .iter()
        .copied()
        .filter(|id| !KNOWN_FAILURES.contains(id))
        .collect();
    let fixed: Vec<&str> = KNOWN_FAILURES
        .iter()
        .copied()
        .filter(|id| !failed.contains(id))
        .collect();
    assert!(unexpected.is_empty(), "W3C tests failing: {unexpected:?}");
    assert!(
        fixed.is_empty(),
        "KNOWN_FAILURES lists tests that now pass: {fixed:?}"
    );
}

#[test]
fn manifest_matches_the_corpus_readme() {
    let cases = manifest();
    assert_eq!(cases.len(), 200);
    let count = |category: &str| cases.iter().filter(|c| c.category() == category).count();
    assert_eq!(count("mandatory-auto"), 158);
    assert_eq!(count("mandatory-manual"), 8);
    assert_eq!(count("optional-auto"), 33);
    let http = cases
        .iter()
        .filter(|c| c.mode == "auto" && c.needs("http"))
        .count();
    assert_eq!(http, 12);
    let test403 = cases.iter().find(|c| c.id == "403").expect("403 is listed");
    assert_eq!(test403.documents.len(), 3);
    for case in &cases {
        for document in &case.documents {
            assert!(document.is_file(), "missing {}", document.display());
        }
    }
}
