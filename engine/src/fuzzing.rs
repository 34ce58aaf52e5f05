//! Entry points for cargo-fuzz targets in `tests/fuzz/`. Not a public API.

use crate::compile::{compile, NoLoader};
use crate::limits::Limits;

/// Compiles arbitrary bytes as a document; must never panic.
pub fn compile_document(bytes: &[u8]) {
    if let Ok(text) = std::str::from_utf8(bytes) {
        let _ = compile(text, "fuzz.scxml", &mut NoLoader, &Limits::default());
    }
}
