//! The house style's tidy check: no debugging leftovers or stubs in product code, and no
//! `unwrap()` in the engine outside tests (a malformed document or script must never be
//! able to panic a shard). fmt and clippy run in `.ci/test` itself.

use std::path::{Path, PathBuf};

const WORKSPACE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/..");

/// Every `.rs` file under `dir`, recursively.
fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The non-test part of a source file: test modules live in `tests.rs` files or after a
/// `#[cfg(test)]` line, which by convention comes last.
fn product_code(path: &Path) -> String {
    if path.file_name().is_some_and(|n| n == "tests.rs") {
        return String::new();
    }
    let text = std::fs::read_to_string(path).unwrap_or_default();
    match text.find("#[cfg(test)]") {
        Some(at) => text[..at].to_string(),
        None => text,
    }
}

fn offenders(crates: &[&str], banned: &[&str]) -> Vec<String> {
    let mut found = Vec::new();
    for krate in crates {
        let mut files = Vec::new();
        rust_files(&Path::new(WORKSPACE).join(krate).join("src"), &mut files);
        assert!(!files.is_empty(), "no sources found for {krate}");
        for file in files {
            let code = product_code(&file);
            for (n, line) in code.lines().enumerate() {
                if banned.iter().any(|b| line.contains(b)) {
                    found.push(format!("{}:{}: {}", file.display(), n + 1, line.trim()));
                }
            }
        }
    }
    found
}

#[test]
fn no_stubs_or_debugging_leftovers_in_product_code() {
    let banned = ["dbg!(", "todo!(", "unimplemented!(", "FIXME"];
    let found = offenders(&["engine", "runtime", "protocols"], &banned);
    assert!(found.is_empty(), "{found:#?}");
}

#[test]
fn no_unwrap_in_the_engine() {
    let found = offenders(&["engine"], &[".unwrap()"]);
    assert!(found.is_empty(), "{found:#?}");
}
