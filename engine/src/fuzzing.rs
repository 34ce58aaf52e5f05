//! Entry points for cargo-fuzz targets in `tests/fuzz/`. Not a public API.

use std::cell::RefCell;
use std::rc::Rc;

use crate::compile::{compile, NoLoader};
use crate::datamodel::ecmascript::EcmascriptDatamodel;
use crate::datamodel::{Datamodel, SystemVars};
use crate::limits::Limits;
use crate::model::ExprIdx;

/// The shard-wide JS heap of the `evaluate` target: small, so that a run fills it often
/// and the compiles that meet a full heap (issue 11's QuickJS crash) are exercised.
const EVALUATE_HEAP_BYTES_MAX: u32 = 8 << 20;

/// Sessions the `evaluate` target keeps alive (the oldest ends when one more starts), so
/// that their documents stay compiled and the heap fills.
const EVALUATE_LIVE_SESSIONS_MAX: usize = 32;

thread_local! {
    /// One datamodel for the whole run, as a shard has: every input is another document
    /// compiled into the same realm.
    static DATAMODEL: RefCell<EcmascriptDatamodel> = RefCell::new(EcmascriptDatamodel::new(
        &Limits {
            js_heap_bytes_max: EVALUATE_HEAP_BYTES_MAX,
            ..Limits::default()
        },
        1,
    ));
    /// The live sessions' scopes, oldest first.
    static LIVE: RefCell<std::collections::VecDeque<crate::datamodel::ScopeId>> =
        const { RefCell::new(std::collections::VecDeque::new()) };
}

/// Compiles arbitrary bytes as a document; must never panic.
pub fn compile_document(bytes: &[u8]) {
    if let Ok(text) = std::str::from_utf8(bytes) {
        let _ = compile(text, "fuzz.scxml", &mut NoLoader, &Limits::default());
    }
}

/// Compiles arbitrary bytes as a document and, if it compiles, starts a scope of it in the
/// run's one datamodel and evaluates every expression (values, conditions, locations and
/// scripts alike), so that QuickJS compiles every chunk of it: many distinct documents in
/// one process and one realm. Errors are expected; a crash or panic is the finding.
pub fn compile_and_evaluate(bytes: &[u8]) {
    let Ok(text) = std::str::from_utf8(bytes) else {
        return;
    };
    let Ok(doc) = compile(text, "fuzz.scxml", &mut NoLoader, &Limits::default()) else {
        return;
    };
    let doc = Rc::new(doc);
    DATAMODEL.with(|dm| {
        let mut dm = dm.borrow_mut();
        let sys = SystemVars {
            session_id: "fuzz",
            name: "",
            ioprocessors: &[],
        };
        let Ok(scope) = dm.create_scope(&doc, &sys) else {
            return;
        };
        for expr in 0..doc.exprs.len() as u32 {
            let _ = dm.eval_value(scope, ExprIdx(expr));
        }
        LIVE.with(|live| {
            let mut live = live.borrow_mut();
            live.push_back(scope);
            while live.len() > EVALUATE_LIVE_SESSIONS_MAX {
                if let Some(oldest) = live.pop_front() {
                    dm.drop_scope(oldest);
                }
            }
        });
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The `evaluate` target's property as a seeded test: many distinct documents, some
    /// large, into one realm whose heap fills; the process must go on (issue 11).
    #[test]
    fn many_distinct_documents_evaluate_in_one_realm_without_a_crash() {
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.as_nanos() as u64)
            | 1;
        eprintln!("seed {seed}");
        let mut state = seed;
        let mut next = move || {
            // xorshift64: enough to vary the documents.
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for n in 0..120 {
            let conds = 1 + next() % if n % 5 == 0 { 8_000 } else { 40 };
            let mut text = String::from(
                r#"<scxml xmlns="http://www.w3.org/2005/07/scxml" version="1.0" initial="s"><datamodel><data id="x" expr="0"/></datamodel><state id="s">"#,
            );
            for c in 0..conds {
                let op = ["==", "<", "+ 1 ===", ".toString() ==", "in {}"][(next() % 5) as usize];
                text.push_str(&format!(
                    "<transition event=\"e{c}\" cond=\"x{n} {op} {c}\" target=\"s\"/>"
                ));
            }
            text.push_str("<onentry><script>var y = [1,2,3].map(function (v) { return v * x; });</script></onentry></state></scxml>");
            compile_and_evaluate(text.as_bytes());
        }
        let heap = DATAMODEL.with(|dm| dm.borrow().heap_bytes());
        eprintln!("heap {heap} bytes of {EVALUATE_HEAP_BYTES_MAX}");
    }
}
