//! Documents from files: `src` resolution, the [`Loader`] for `<data src>`/`<script src>`,
//! and the cache of compiled documents.
//!
//! Only local files are read, and only from the allowed places ([`super::places`]): a
//! `src` is a path or a `file:` URL, relative ones resolve against the directory of the
//! document that names them. Other URL schemes are refused with a reason (documents over
//! HTTP(S) are [`crate::documents`]' business).

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use engine::compile::{compile, Loader};
use engine::error::CompileError;
use engine::limits::Limits;
use engine::model::Document;

use super::places::{FileRefusal, Places};

/// Most inline (`<invoke><content>`) documents kept compiled; past it the inline cache is
/// cleared, so that documents built by expressions cannot grow memory without bound.
pub const INLINE_DOCUMENTS_MAX: usize = 256;

/// Resolves `src` against `base`, the location of the document that names it.
///
/// `file:` is stripped (`file:x.txt`, `file:/abs`, `file:///abs`); a relative path is joined
/// to `base`'s directory, ignoring any `#fragment` of `base`. Other schemes are refused, and
/// so is everything named by a document fetched over HTTP(S): a remote document must not
/// read this host's files (its load-time sources are fetched by [`crate::documents`]).
pub fn resolve(base: &str, src: &str) -> Result<PathBuf, String> {
    if crate::outbound::is_http_url(base) {
        return Err(format!(
            "'{src}': a document fetched over HTTP(S) cannot load sources at run time \
             (<invoke src>/srcexpr); inline the child with <content>"
        ));
    }
    let path = match src.strip_prefix("file:") {
        Some(rest) if rest.starts_with("//") => rest.trim_start_matches("//localhost").to_owned(),
        Some(rest) => rest.to_owned(),
        None if has_url_scheme(src) => {
            return Err(format!(
                "'{src}': only local files and file: URLs are supported"
            ));
        }
        None => src.to_owned(),
    };
    let path = path.strip_prefix("//").map_or(path.as_str(), |p| p);
    if path.is_empty() {
        return Err("empty src".to_owned());
    }
    let path = Path::new(path);
    if path.is_absolute() {
        return Ok(path.to_path_buf());
    }
    let base_path = base.split('#').next().unwrap_or(base);
    let dir = Path::new(base_path).parent().unwrap_or(Path::new(""));
    Ok(dir.join(path))
}

/// True for `scheme://...` and `http:`/`https:` URLs; a Windows-style `D:\foo` is left to
/// the file system (where it will not be found).
fn has_url_scheme(src: &str) -> bool {
    let Some((scheme, _)) = src.split_once(':') else {
        return false;
    };
    let plausible = !scheme.is_empty()
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c));
    plausible && (src[scheme.len()..].starts_with("://") || scheme.starts_with("http"))
}

/// Reads `src` of `<data>` and `<script>` from the allowed places, each bounded by
/// `bytes_max`. A `src` outside the allowed places is remembered ([`FileLoader::refused`])
/// so that the document naming it is refused at load, not only its variable left unset:
/// a refusal is the operator's rule, not a missing file the strategy may handle.
#[derive(Debug)]
pub struct FileLoader<'a> {
    places: &'a Places,
    bytes_max: u32,
    refused: Option<String>,
}

impl<'a> FileLoader<'a> {
    /// A loader reading from `places`, each source at most `bytes_max` bytes.
    pub fn new(places: &'a Places, bytes_max: u32) -> FileLoader<'a> {
        FileLoader {
            places,
            bytes_max,
            refused: None,
        }
    }

    /// The first `src` refused as outside the allowed places, if any.
    pub fn refused(&self) -> Option<&str> {
        self.refused.as_deref()
    }
}

impl Loader for FileLoader<'_> {
    fn load(&mut self, base: &str, src: &str) -> Result<String, String> {
        let path = resolve(base, src)?;
        match self.places.read(&path, self.bytes_max) {
            Ok((_, text)) => Ok(text),
            Err(refusal) => {
                if refusal == FileRefusal::NotAllowed && self.refused.is_none() {
                    self.refused = Some(src.to_owned());
                }
                Err(format!("{}: {refusal}", path.display()))
            }
        }
    }
}

/// Compiles `text` named `name`, reading its sources through `places`; a source outside
/// them refuses the document.
pub fn compile_with(
    text: &str,
    name: &str,
    places: &Places,
    limits: &Limits,
) -> Result<Document, LoadError> {
    let mut loader = FileLoader::new(places, limits.document_bytes_max);
    let compiled = compile(text, name, &mut loader, limits);
    if let Some(src) = loader.refused() {
        return Err(LoadError::NotAllowed {
            src: src.to_owned(),
        });
    }
    compiled.map_err(|e| LoadError::Compile(Box::new(e)))
}

/// Why a document could not be loaded.
#[derive(Debug)]
#[non_exhaustive]
pub enum LoadError {
    /// The file could not be read, or the `src` could not be resolved.
    Read {
        /// The path or `src`.
        path: String,
        /// Why.
        reason: String,
    },
    /// The document, or a source it names, is outside `[documents] allow`. The message
    /// is the same whether or not the path exists.
    NotAllowed {
        /// The `src` as given.
        src: String,
    },
    /// The document is invalid (boxed: a compile error is large and rare).
    Compile(Box<CompileError>),
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LoadError::Read { path, reason } => write!(f, "cannot read {path}: {reason}"),
            LoadError::NotAllowed { src } => write!(f, "'{src}': not an allowed document location"),
            LoadError::Compile(error) => error.fmt(f),
        }
    }
}

impl std::error::Error for LoadError {}

impl LoadError {
    /// The error for `src` that `places` refused.
    fn refused(src: &str, refusal: FileRefusal) -> LoadError {
        match refusal {
            FileRefusal::NotAllowed => LoadError::NotAllowed {
                src: src.to_owned(),
            },
            refusal => LoadError::Read {
                path: src.to_owned(),
                reason: refusal.to_string(),
            },
        }
    }
}

/// A file document found in the cache, or to be compiled.
pub enum FileLookup {
    /// Compiled already.
    Cached(Rc<Document>),
    /// Not cached: run the job (on any thread), then hand its result to
    /// [`DocumentCache::keep_compiled`].
    Compile(FileCompile),
}

/// Reading and compiling one file document: everything it needs, owned, so that it can run
/// off the shard's thread.
#[derive(Debug)]
pub struct FileCompile {
    src: String,
    canonical: PathBuf,
    places: Places,
    limits: Limits,
}

/// A file document compiled by a [`FileCompile`].
#[derive(Debug)]
pub struct CompiledFile {
    canonical: PathBuf,
    document: Document,
    bytes: u64,
}

impl FileCompile {
    /// Reads the file (bounded) and compiles it with its sources.
    pub fn run(self) -> Result<CompiledFile, LoadError> {
        let FileCompile {
            src,
            canonical,
            places,
            limits,
        } = self;
        let (canonical, text) = places
            .read(&canonical, limits.document_bytes_max)
            .map_err(|refusal| LoadError::refused(&src, refusal))?;
        // Messages name the file as the first start spelt it (not its resolved path, which
        // would tell API callers where documents live), and its relative sources resolve
        // from there; any spelling reaches the same allowed file.
        let document = compile_with(&text, &src, &places, &limits)?;
        let bytes = text.len() as u64;
        Ok(CompiledFile {
            canonical,
            document,
            bytes,
        })
    }
}

/// A compiled file document and what it costs.
struct FileEntry {
    document: Rc<Document>,
    /// Its source's size, the cost measure of `documents.cache_bytes_max`.
    bytes: u64,
    last_used: u64,
}

/// Compiled documents, shared by every session that runs them. A document compiled once is
/// also compiled once by the datamodel, which keys its expression cache on the document.
///
/// Files are keyed by their canonical path (one entry per file however it is spelt) and
/// bounded in entries and source bytes; past either, the least recently used go (a linear
/// scan, paid only when a new file is compiled into a full cache).
pub(crate) struct DocumentCache {
    places: Places,
    files: HashMap<PathBuf, FileEntry>,
    files_bytes: u64,
    entries_max: usize,
    bytes_max: u64,
    uses: u64,
    inline: HashMap<(Box<str>, Box<str>), Rc<Document>>,
}

impl DocumentCache {
    /// An empty cache reading from `places`, of at most `entries_max` files and
    /// `bytes_max` source bytes.
    pub fn new(places: Places, entries_max: u32, bytes_max: u32) -> DocumentCache {
        assert!(entries_max > 0);
        assert!(bytes_max > 0);
        DocumentCache {
            places,
            files: HashMap::new(),
            files_bytes: 0,
            entries_max: entries_max as usize,
            bytes_max: u64::from(bytes_max),
            uses: 0,
            inline: HashMap::new(),
        }
    }

    /// Where documents may be read from.
    pub fn places(&self) -> &Places {
        &self.places
    }

    /// File documents cached now.
    pub fn files_cached(&self) -> usize {
        self.files.len()
    }

    /// Loads and compiles the file `path` names (as `src`, for messages), or finds it by
    /// its canonical path. Compiles on this thread: the server's starts use
    /// [`DocumentCache::lookup_file`] and compile off the shard.
    pub fn file(&mut self, path: &Path, limits: &Limits) -> Result<Rc<Document>, LoadError> {
        match self.lookup_file(path, limits)? {
            FileLookup::Cached(document) => Ok(document),
            FileLookup::Compile(job) => {
                let compiled = job.run()?;
                Ok(self.keep_compiled(compiled))
            }
        }
    }

    /// The cached document of the file `path` names, or the job that compiles it (which
    /// [`DocumentCache::keep_compiled`] then takes).
    pub fn lookup_file(&mut self, path: &Path, limits: &Limits) -> Result<FileLookup, LoadError> {
        let src = path.to_string_lossy();
        let canonical = self
            .places
            .file(path)
            .map_err(|refusal| LoadError::refused(&src, refusal))?;
        self.uses += 1;
        if let Some(entry) = self.files.get_mut(&canonical) {
            entry.last_used = self.uses;
            return Ok(FileLookup::Cached(Rc::clone(&entry.document)));
        }
        Ok(FileLookup::Compile(FileCompile {
            src: src.into_owned(),
            canonical,
            places: self.places.clone(),
            limits: limits.clone(),
        }))
    }

    /// Caches a compiled file (unless another start cached it meanwhile: that one is
    /// kept, so every session of a file shares one document) and answers the document.
    pub fn keep_compiled(&mut self, compiled: CompiledFile) -> Rc<Document> {
        self.uses += 1;
        if let Some(entry) = self.files.get_mut(&compiled.canonical) {
            entry.last_used = self.uses;
            return Rc::clone(&entry.document);
        }
        let document = Rc::new(compiled.document);
        self.keep(compiled.canonical, Rc::clone(&document), compiled.bytes);
        document
    }

    /// Keeps `document` unless it alone is above the byte bound, evicting to make room.
    fn keep(&mut self, path: PathBuf, document: Rc<Document>, bytes: u64) {
        if bytes > self.bytes_max {
            return;
        }
        while !self.files.is_empty()
            && (self.files.len() >= self.entries_max || self.files_bytes + bytes > self.bytes_max)
        {
            self.evict_least_recently_used();
        }
        let last_used = self.uses;
        let entry = FileEntry {
            document,
            bytes,
            last_used,
        };
        self.files_bytes += bytes;
        let replaced = self.files.insert(path, entry);
        assert!(
            replaced.is_none(),
            "a cached file is found, not compiled again"
        );
        assert!(self.files.len() <= self.entries_max);
        assert!(self.files_bytes <= self.bytes_max);
    }

    fn evict_least_recently_used(&mut self) {
        let oldest = self
            .files
            .iter()
            .min_by_key(|(_, entry)| entry.last_used)
            .map(|(path, _)| path.clone());
        if let Some(entry) = oldest.and_then(|path| self.files.remove(&path)) {
            self.files_bytes -= entry.bytes;
        }
    }

    /// Forgets every cached document (new bounds apply to the next compile).
    pub fn clear(&mut self) {
        self.files.clear();
        self.files_bytes = 0;
        self.inline.clear();
    }

    /// Compiles an inline child document; `base` is the invoking document's location.
    pub fn inline(
        &mut self,
        base: &str,
        text: &str,
        limits: &Limits,
    ) -> Result<Rc<Document>, LoadError> {
        let key = (Box::from(base), Box::from(text));
        if let Some(doc) = self.inline.get(&key) {
            return Ok(Rc::clone(doc));
        }
        let base_path = base.split('#').next().unwrap_or(base);
        let name = format!("{base_path}#content");
        let doc = Rc::new(compile_with(text, &name, &self.places, limits)?);
        if self.inline.len() >= INLINE_DOCUMENTS_MAX {
            self.inline.clear();
        }
        self.inline.insert(key, Rc::clone(&doc));
        Ok(doc)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_relative_and_file_urls() {
        let base = "/t/ecma/test216.scxml";
        let expect = PathBuf::from("/t/ecma/test216sub1.scxml");
        assert_eq!(resolve(base, "file:test216sub1.scxml").unwrap(), expect);
        assert_eq!(resolve(base, "test216sub1.scxml").unwrap(), expect);
        assert_eq!(
            resolve("/t/ecma/a.scxml#content", "x.txt").unwrap(),
            PathBuf::from("/t/ecma/x.txt")
        );
        assert_eq!(
            resolve(base, "file:///abs/x.txt").unwrap(),
            PathBuf::from("/abs/x.txt")
        );
        assert_eq!(
            resolve(base, "file:/abs/x.txt").unwrap(),
            PathBuf::from("/abs/x.txt")
        );
        assert_eq!(
            resolve("a.scxml", "b.scxml").unwrap(),
            PathBuf::from("b.scxml")
        );
    }

    #[test]
    fn refuses_remote_urls_but_not_drive_letters() {
        assert!(resolve("/t/a.scxml", "http://example.com/x").is_err());
        assert!(resolve("/t/a.scxml", "https:x").is_err());
        assert!(resolve("/t/a.scxml", "").is_err());
        assert!(resolve("/t/a.scxml", "D:\\foo").is_ok());
        let places = Places::anywhere();
        let mut loader = FileLoader::new(&places, 1 << 20);
        assert!(loader.load("/nonexistent/a.scxml", "D:\\foo").is_err());
    }

    #[test]
    fn documents_fetched_over_http_read_no_files() {
        assert!(resolve("http://h/a.scxml", "b.scxml").is_err());
        assert!(resolve("https://h/a.scxml#content", "file:///etc/passwd").is_err());
    }
}
