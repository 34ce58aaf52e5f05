//! The eight mandatory manual W3C tests, turned into automatic checks of what their
//! comments (and the corpus README) tell a tester to look at.

use engine::error::CompileErrorKind;
use runtime::local::{LoadError, Outcome};

use crate::support::{capturing_host, corpus_file, run_document, Run};

fn run(name: &str) -> Run {
    let mut host = capturing_host();
    run_document(&mut host, &corpus_file(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn assert_final(run: &Run, expected: &str) {
    assert_eq!(
        run.final_state(),
        Some(expected),
        "{}; log: {:#?}",
        run.describe(),
        run.log
    );
}

/// The lines of `log` whose label is `label` (the text before the first `: `), as values.
fn values<'a>(log: &'a [String], label: &str) -> Vec<&'a str> {
    let prefix = format!("{label}: ");
    log.iter()
        .filter_map(|line| line.strip_prefix(prefix.as_str()))
        .collect()
}

/// Asserts that `log` has lines starting with each of `prefixes`, in that order.
fn assert_in_order(log: &[String], prefixes: &[&str]) {
    let mut lines = log.iter();
    for prefix in prefixes {
        assert!(
            lines.any(|line| line.starts_with(prefix)),
            "no '{prefix}' in order in {log:#?}"
        );
    }
}

/// 178: duplicate `<param>` names are both sent; the tester reads `_event.raw` in the log.
#[test]
fn w3c_178_duplicate_params_are_both_visible() {
    let run = run("test178.scxml");
    assert_final(&run, "final");
    let raw = values(&run.log, "_event ");
    assert_eq!(raw.len(), 1, "one _event.raw line expected: {:#?}", run.log);
    let raw = raw[0];
    assert!(
        raw.contains('2') && raw.contains('3'),
        "both values (2 and 3) in: {raw}"
    );
}

/// 230: an autoforwarded event has the same fields in the child as in the parent.
#[test]
fn w3c_230_autoforwarded_event_is_unchanged() {
    let run = run("test230.scxml");
    assert_final(&run, "final");
    let labels = [
        "name is ",
        "type is ",
        "sendid is ",
        "origin is ",
        "origintype is ",
    ];
    let labels = labels.iter().chain(&["invokeid is ", "data is "]);
    for label in labels {
        let seen = values(&run.log, label);
        assert_eq!(
            seen.len(),
            2,
            "parent and child both log '{label}': {:#?}",
            run.log
        );
        assert_eq!(
            seen[0], seen[1],
            "'{label}' differs between parent and child"
        );
    }
    assert_eq!(values(&run.log, "name is ")[0], "childToParent");
}

/// 250: a cancelled child runs its `onexit` handlers (innermost first) and never reaches
/// its final state.
#[test]
fn w3c_250_cancelled_child_runs_onexit() {
    let run = run("test250.scxml");
    assert_final(&run, "final");
    assert_in_order(&run.log, &["Exiting sub01", "Exiting sub0"]);
    assert!(
        !run.log
            .iter()
            .any(|l| l.contains("invocation was not cancelled")),
        "{:#?}",
        run.log
    );
}

/// 301: a `<script src>` that cannot be loaded rejects the document at load, with a
/// position.
#[test]
fn w3c_301_unloadable_script_is_rejected() {
    let path = corpus_file("test301.scxml");
    let error = match capturing_host().load(&path) {
        Err(LoadError::Compile(error)) => error,
        Err(other) => panic!("expected a compile error, got {other}"),
        Ok(_) => panic!("test301.scxml must be rejected at load"),
    };
    assert!(
        matches!(error.kind, CompileErrorKind::Load { .. }),
        "{error}"
    );
    assert_eq!(error.position.line, 5, "the <script> is on line 5: {error}");
    let prefix = format!("{}:5:{}: ", path.display(), error.position.column);
    assert!(
        error.to_string().starts_with(&prefix),
        "'{error}' should start with '{prefix}'"
    );
}

/// 313 and 314: an illegal expression may reject the document; if it runs, it must pass.
#[test]
fn w3c_313_314_illegal_expression_rejected_or_passes() {
    for name in ["test313.scxml", "test314.scxml"] {
        let mut host = capturing_host();
        if let Err(LoadError::Compile(error)) = host.load(&corpus_file(name)) {
            assert!(
                error.position.line > 0,
                "{name}: a rejection names a line: {error}"
            );
            continue;
        }
        let run = run_document(&mut host, &corpus_file(name)).unwrap();
        assert_final(&run, "pass");
    }
}

/// 307: with late binding, reading a not-yet-bound variable and a missing property give the
/// same result (`undefined`, no error); the log shows the sequence.
#[test]
fn w3c_307_late_binding_values() {
    let run = run("test307.scxml");
    assert_final(&run, "final");
    assert_in_order(
        &run.log,
        &[
            "entering s0 value of Var 1 is: : undefined",
            "no error in s0",
            "entering s1, value of non-existent substructure of Var 1 is: : undefined",
            "No error in s1",
        ],
    );
    assert!(
        !run.log.iter().any(|l| l.starts_with("error in state")),
        "{:#?}",
        run.log
    );
}

/// 415: a machine whose initial state is a top-level final halts in the initial macrostep,
/// without processing the event raised on entry.
#[test]
fn w3c_415_halts_at_once_in_final() {
    let run = run("test415.scxml");
    assert!(
        run.ended_at_start,
        "must halt during the initial macrostep: {}",
        run.describe()
    );
    assert_final(&run, "final");
    assert!(matches!(run.outcome, Outcome::Done { .. }));
}
