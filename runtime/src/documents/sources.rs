//! Compiling a fetched document, with its `<script src>`, `<data src>` and `<xi:include>`
//! sources fetched first.
//!
//! The engine's [`Loader`] is synchronous and a shard must not block, so a document is
//! compiled more than once when it names sources: once with a loader that records every
//! `src` and answers empty text, then, after the sources are fetched (resolved against the
//! URL of the document or included file that names them, `http:`/`https:` only), again
//! with their texts, and again while included files name sources not fetched yet.
//! A source that cannot be fetched behaves as an unreadable file does: a `<script src>`
//! rejects the document, a `<data src>` leaves its variable unset with `error.execution`.
//! A source outside `[documents] allow` (redirects included) rejects the document either
//! way, as it does for files: that is the operator's rule, not a fault to handle.
//!
//! `<invoke src>` is resolved when the invoke runs, from the session host, which reads
//! files only; a fetched document naming one is refused here with its position rather
//! than failing later (use `<content>`, or serve the child from a file).

use std::collections::HashMap;

use engine::compile::{compile, Loader};
use engine::error::{CompileError, CompileErrorKind};
use engine::limits::Limits;
use engine::model::{Document, Dyn};

use super::error::DocumentError;
use super::fetch::{self, Fetched, Fetcher};
use super::media;
use super::off_shard;
use crate::local::LoadError;
use crate::outbound::Url;

/// Records the `src` values a compile asks for.
#[derive(Default)]
struct Recorder {
    sources: Vec<String>,
}

impl Loader for Recorder {
    fn load(&mut self, base: &str, src: &str) -> Result<String, String> {
        let key = source_key(base, src);
        if !self.sources.contains(&key) {
            self.sources.push(key);
        }
        Ok(String::new())
    }
}

/// Answers the fetched texts (or why a source could not be fetched), and records every
/// `src` it was asked for and has not got: an included document names its own includes,
/// which only a compile with its text can find.
struct SourceTexts {
    texts: HashMap<String, Result<String, String>>,
    missing: Vec<String>,
}

impl Loader for SourceTexts {
    fn load(&mut self, base: &str, src: &str) -> Result<String, String> {
        let key = source_key(base, src);
        match self.texts.get(&key) {
            Some(text) => text.clone(),
            None => {
                if !self.missing.contains(&key) {
                    self.missing.push(key);
                }
                Err(format!("'{src}' was not fetched"))
            }
        }
    }
}

/// A source's key: its `src`, or, for one named by an included file (`base` is then that
/// file's URL, not the document's), the URL it resolves to.
fn source_key(base: &str, src: &str) -> String {
    match Url::parse(base).and_then(|base| base.join(src)) {
        Ok(url) if base.contains("://") => url.to_string(),
        _ => src.to_owned(),
    }
}

/// What compiling needs besides the text.
pub struct Compiling<'a> {
    /// The client, the allowed places and the redirect bound, for each source.
    pub fetcher: Fetcher<'a>,
    /// The engine's bounds.
    pub limits: &'a Limits,
    /// Sources per document.
    pub sources_max: u32,
}

/// Compiles `text`, fetched from `url`, fetching its sources first; the compiles run off
/// the shard ([`off_shard`]). A first compile records the sources the document names; each
/// further compile has their texts and may find more (the includes of an included file),
/// until none is missing, [`SOURCE_ROUNDS_MAX`] rounds or `documents.sources_max` sources.
pub async fn compile_fetched(
    compiling: &Compiling<'_>,
    url: &Url,
    text: String,
) -> Result<Document, DocumentError> {
    let name = url.to_string();
    let (text, first, recorder) =
        compile_off_shard(text, &name, Recorder::default(), compiling).await?;
    if recorder.sources.is_empty() {
        let first = first?;
        no_invoke_src(&first, &name)?;
        return Ok(first);
    }
    let mut loader = SourceTexts {
        texts: HashMap::new(),
        missing: recorder.sources,
    };
    let mut text = text;
    for _ in 0..SOURCE_ROUNDS_MAX {
        fetch_missing(compiling, url, &mut loader).await?;
        let (again, compiled, used) = compile_off_shard(text, &name, loader, compiling).await?;
        (text, loader) = (again, used);
        if loader.missing.is_empty() {
            let compiled = compiled?;
            no_invoke_src(&compiled, &name)?;
            return Ok(compiled);
        }
    }
    Err(DocumentError::Sources {
        url: name,
        sources: loader.texts.len() + loader.missing.len(),
        sources_max: compiling.sources_max,
    })
}

/// Rounds of fetching sources a document may take: its own, then those of its includes,
/// and so on (the engine nests includes at most `INCLUDE_DEPTH_MAX` deep).
const SOURCE_ROUNDS_MAX: u32 = engine::compile::include::INCLUDE_DEPTH_MAX + 1;

/// Fetches the sources `loader` is missing, within `documents.sources_max` in all.
async fn fetch_missing(
    compiling: &Compiling<'_>,
    url: &Url,
    loader: &mut SourceTexts,
) -> Result<(), DocumentError> {
    let wanted = loader.texts.len() + loader.missing.len();
    if wanted > compiling.sources_max as usize {
        return Err(DocumentError::Sources {
            url: url.to_string(),
            sources: wanted,
            sources_max: compiling.sources_max,
        });
    }
    for src in std::mem::take(&mut loader.missing) {
        // A source outside the allowed places refuses the document, as a file's does.
        let text = match source_text(compiling, url, &src).await {
            Err(DocumentError::File(LoadError::NotAllowed { .. })) => {
                return Err(DocumentError::File(LoadError::NotAllowed { src }));
            }
            text => text.map_err(|e| e.to_string()),
        };
        loader.texts.insert(src, text);
    }
    Ok(())
}

/// Compiles `text` with `loader` on the shard's blocking thread; answers the text and the
/// loader back (for a second compile) with the result.
async fn compile_off_shard<L: Loader + Send + 'static>(
    text: String,
    name: &str,
    mut loader: L,
    compiling: &Compiling<'_>,
) -> Result<(String, Result<Document, DocumentError>, L), DocumentError> {
    let (name, limits) = (name.to_owned(), compiling.limits.clone());
    let ran = off_shard::run(move || {
        let compiled = compile(&text, &name, &mut loader, &limits);
        let compiled = compiled.map_err(|e| DocumentError::Compile(Box::new(e)));
        (text, compiled, loader)
    })
    .await;
    ran.map_err(|panicked| DocumentError::CompilerPanicked {
        message: panicked.message,
    })
}

/// The text of one source, or why it could not be had.
async fn source_text(
    compiling: &Compiling<'_>,
    base: &Url,
    src: &str,
) -> Result<String, DocumentError> {
    let url = base.join(src).map_err(DocumentError::Url)?;
    match fetch::get(&compiling.fetcher, &url, None).await? {
        Fetched::Body { url, response } => media::utf8(&url, response.body),
        Fetched::NotModified(_) => unreachable!("no validators were sent"),
    }
}

/// Refuses a document with a literal `<invoke src>` (see the module notes).
fn no_invoke_src(document: &Document, name: &str) -> Result<(), DocumentError> {
    let invoke = document
        .invokes
        .iter()
        .find(|invoke| matches!(invoke.src, Some(Dyn::Literal(_))));
    let Some(invoke) = invoke else {
        return Ok(());
    };
    let reason = "<invoke src> is not supported in documents fetched over HTTP(S) yet; \
                  inline the child with <content>"
        .to_owned();
    Err(DocumentError::Compile(Box::new(CompileError {
        file: name.to_owned(),
        position: invoke.position,
        kind: CompileErrorKind::Invalid { reason },
    })))
}
