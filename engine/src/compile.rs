//! Validation and lowering: the parsed element tree becomes a [`Document`].
//! (Being written: see the compiler brief.)

use crate::error::CompileError;
use crate::limits::Limits;
use crate::model::Document;

/// Resolves `src` attributes of `<data>` and `<script>` at load time. The engine performs
/// no I/O itself: the host (runtime, `baton run`, tests) supplies this.
pub trait Loader {
    /// Returns the text at `src`, resolved against `base` (the document's own location).
    fn load(&mut self, base: &str, src: &str) -> Result<String, String>;
}

/// A loader that loads nothing: every `src` fails with a reason.
pub struct NoLoader;

impl Loader for NoLoader {
    fn load(&mut self, _base: &str, src: &str) -> Result<String, String> {
        Err(format!("no loader configured for '{src}'"))
    }
}

/// Parses, validates and compiles one SCXML document.
pub fn compile(
    text: &str,
    source_name: &str,
    loader: &mut dyn Loader,
    limits: &Limits,
) -> Result<Document, CompileError> {
    let _ = (text, loader, limits);
    Err(CompileError {
        file: source_name.to_string(),
        position: Default::default(),
        kind: crate::error::CompileErrorKind::Invalid { reason: "compiler not built yet".into() },
    })
}
