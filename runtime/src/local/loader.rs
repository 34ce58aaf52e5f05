//! Documents from files: `src` resolution, the [`Loader`] for `<data src>`/`<script src>`,
//! and the cache of compiled documents.
//!
//! Only local files are read: a `src` is a path or a `file:` URL, relative ones resolve
//! against the directory of the document that names them. Other URL schemes are refused
//! with a reason until the runtime gains an HTTP client.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use engine::compile::{compile, Loader};
use engine::error::CompileError;
use engine::limits::Limits;
use engine::model::Document;

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

/// Reads `src` of `<data>` and `<script>` from the file system.
#[derive(Clone, Copy, Debug, Default)]
pub struct FileLoader;

impl Loader for FileLoader {
    fn load(&mut self, base: &str, src: &str) -> Result<String, String> {
        let path = resolve(base, src)?;
        std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))
    }
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
    /// The document is invalid (boxed: a compile error is large and rare).
    Compile(Box<CompileError>),
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LoadError::Read { path, reason } => write!(f, "cannot read {path}: {reason}"),
            LoadError::Compile(error) => error.fmt(f),
        }
    }
}

impl std::error::Error for LoadError {}

/// Compiled documents, shared by every session that runs them. A document compiled once is
/// also compiled once by the datamodel, which keys its expression cache on the document.
#[derive(Default)]
pub(crate) struct DocumentCache {
    files: HashMap<PathBuf, Rc<Document>>,
    inline: HashMap<(Box<str>, Box<str>), Rc<Document>>,
}

impl DocumentCache {
    /// Loads and compiles the file at `path`; `name` is how messages refer to it.
    pub fn file(&mut self, path: &Path, limits: &Limits) -> Result<Rc<Document>, LoadError> {
        if let Some(doc) = self.files.get(path) {
            return Ok(Rc::clone(doc));
        }
        let name = path.to_string_lossy();
        let text = std::fs::read_to_string(path).map_err(|e| LoadError::Read {
            path: name.to_string(),
            reason: e.to_string(),
        })?;
        let doc = compile(&text, &name, &mut FileLoader, limits)
            .map_err(|e| LoadError::Compile(Box::new(e)))?;
        let doc = Rc::new(doc);
        self.files.insert(path.to_path_buf(), Rc::clone(&doc));
        Ok(doc)
    }

    /// Forgets every cached document (new bounds apply to the next compile).
    pub fn clear(&mut self) {
        self.files.clear();
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
        let doc = compile(text, &name, &mut FileLoader, limits)
            .map_err(|e| LoadError::Compile(Box::new(e)))?;
        let doc = Rc::new(doc);
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
        assert!(FileLoader.load("/nonexistent/a.scxml", "D:\\foo").is_err());
    }

    #[test]
    fn documents_fetched_over_http_read_no_files() {
        assert!(resolve("http://h/a.scxml", "b.scxml").is_err());
        assert!(resolve("https://h/a.scxml#content", "file:///etc/passwd").is_err());
    }
}
