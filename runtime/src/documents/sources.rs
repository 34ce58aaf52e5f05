//! Compiling a fetched document, with its `<script src>` and `<data src>` fetched first.
//!
//! The engine's [`Loader`] is synchronous and a shard must not block, so a document is
//! compiled twice when it names sources: once with a loader that records every `src` and
//! answers empty text (which cannot fail a compile), then, after the sources are fetched
//! (resolved against the document's URL, `http:`/`https:` only), again with their texts.
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
    fn load(&mut self, _base: &str, src: &str) -> Result<String, String> {
        if !self.sources.iter().any(|known| known == src) {
            self.sources.push(src.to_owned());
        }
        Ok(String::new())
    }
}

/// Answers the fetched texts (or why a source could not be fetched).
struct SourceTexts {
    texts: HashMap<String, Result<String, String>>,
}

impl Loader for SourceTexts {
    fn load(&mut self, _base: &str, src: &str) -> Result<String, String> {
        let text = self.texts.get(src);
        text.cloned()
            .unwrap_or_else(|| Err(format!("'{src}' was not fetched")))
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
/// the shard ([`off_shard`]).
pub async fn compile_fetched(
    compiling: &Compiling<'_>,
    url: &Url,
    text: String,
) -> Result<Document, DocumentError> {
    let name = url.to_string();
    let (text, first, sources) = compile_off_shard(text, &name, Recorder::default(), compiling)
        .await
        .map(|(text, compiled, recorder)| (text, compiled, recorder.sources))?;
    let first = first?;
    no_invoke_src(&first, &name)?;
    if sources.is_empty() {
        return Ok(first);
    }
    drop(first);
    if sources.len() > compiling.sources_max as usize {
        return Err(DocumentError::Sources {
            url: name,
            sources: sources.len(),
            sources_max: compiling.sources_max,
        });
    }
    let mut texts = HashMap::with_capacity(sources.len());
    for src in sources {
        // A source outside the allowed places refuses the document, as a file's does.
        let text = match source_text(compiling, url, &src).await {
            Err(DocumentError::File(LoadError::NotAllowed { .. })) => {
                return Err(DocumentError::File(LoadError::NotAllowed { src }));
            }
            text => text.map_err(|e| e.to_string()),
        };
        texts.insert(src, text);
    }
    let (_, compiled, _) = compile_off_shard(text, &name, SourceTexts { texts }, compiling).await?;
    compiled
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
