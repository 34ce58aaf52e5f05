//! Where documents and their sources may be read from (`[documents] allow`), and the one
//! way a document file is read: normalised, checked, bounded.
//!
//! A path is made absolute against the server's working directory, its symbolic links
//! and `.`/`..` resolved (`canonicalize`; for a path that does not exist, its longest
//! existing ancestor is resolved and the rest appended lexically), and only then compared
//! with the allowed directories, which were resolved the same way at start. So one file
//! has one spelling (the cache key), a link inside an allowed directory that points out of
//! it is refused, and `a/../../etc/passwd` is judged where it leads.
//!
//! What it must never do: tell a caller anything about a path outside the allowed places.
//! Such a path is refused before any look at the file itself, with one message naming the
//! `src` as given, whether it exists or not. Nor may it block on or exhaust memory with a
//! special file: only regular files are read (checked on the opened descriptor too, and
//! opened non-blocking, so a FIFO swapped in between the checks cannot stall the shard),
//! and at most `limits.document_bytes_max` + 1 bytes are ever read.

use std::fmt;
use std::io::Read;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Component, Path, PathBuf};

use crate::outbound::Url;

/// Allowed places: directory prefixes (canonical) and URL prefixes.
#[derive(Clone, Debug)]
pub struct Places {
    /// Canonical directories; `None` allows any file (the offline runner's author reads
    /// their own files).
    directories: Option<Vec<PathBuf>>,
    /// Normalised `http:`/`https:` URL prefixes.
    urls: Vec<String>,
    /// What relative paths are relative to.
    working_dir: PathBuf,
}

/// Why a file was not read.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum FileRefusal {
    /// Outside the allowed places (whether or not it exists: the message is the same).
    NotAllowed,
    /// A directory, device, FIFO or socket.
    NotAFile,
    /// Larger than the bound.
    TooLarge {
        /// `limits.document_bytes_max`.
        bytes_max: u32,
    },
    /// The file could not be opened or read (inside the allowed places).
    Io {
        /// The operating system's reason.
        reason: String,
    },
}

impl fmt::Display for FileRefusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FileRefusal::NotAllowed => f.write_str("not an allowed document location"),
            FileRefusal::NotAFile => f.write_str("not a regular file"),
            FileRefusal::TooLarge { bytes_max } => {
                write!(
                    f,
                    "larger than {bytes_max} bytes (limits.document_bytes_max)"
                )
            }
            FileRefusal::Io { reason } => f.write_str(reason),
        }
    }
}

impl Places {
    /// Every file, no URL: `baton run` and the conformance suite.
    pub fn anywhere() -> Places {
        Places {
            directories: None,
            urls: Vec::new(),
            working_dir: working_dir(),
        }
    }

    /// The places `allow` names (validated `documents.allow`); absent: the working
    /// directory and no URL, unless the working directory is the root (a service started
    /// without one), which would allow every file: then no place at all.
    pub fn from_config(allow: Option<&[String]>) -> Places {
        let working_dir = working_dir();
        let default = match working_dir.parent() {
            Some(_) => vec![working_dir.to_string_lossy().into_owned()],
            None => Vec::new(),
        };
        let allow = allow.unwrap_or(&default);
        let (urls, paths): (Vec<&String>, Vec<&String>) = allow
            .iter()
            .partition(|place| crate::outbound::is_http_url(place));
        let urls = urls
            .into_iter()
            .filter_map(|url| Url::parse(url).ok())
            .map(|url| url.to_string())
            .collect();
        let directories = paths
            .into_iter()
            .map(|path| resolved(&working_dir, Path::new(path)))
            .collect();
        Places {
            directories: Some(directories),
            urls,
            working_dir,
        }
    }

    /// Whether `url` is under an allowed URL prefix.
    pub fn url_allowed(&self, url: &Url) -> bool {
        let text = url.to_string();
        self.urls.iter().any(|prefix| url_under(&text, prefix))
    }

    /// The canonical path of the allowed regular file `path` names.
    pub fn file(&self, path: &Path) -> Result<PathBuf, FileRefusal> {
        let path = resolved(&self.working_dir, path);
        if let Some(directories) = &self.directories {
            if !directories
                .iter()
                .any(|directory| path.starts_with(directory))
            {
                return Err(FileRefusal::NotAllowed);
            }
        }
        let metadata = std::fs::metadata(&path).map_err(io_refusal)?;
        match metadata.is_file() {
            true => Ok(path),
            false => Err(FileRefusal::NotAFile),
        }
    }

    /// The text of the allowed regular file `path` names, at most `bytes_max` bytes, and
    /// its canonical path.
    pub fn read(&self, path: &Path, bytes_max: u32) -> Result<(PathBuf, String), FileRefusal> {
        let path = self.file(path)?;
        let text = read_bounded(&path, bytes_max)?;
        Ok((path, text))
    }
}

/// Reads the regular file at `path` (already checked by [`Places::file`]) whole, refusing
/// it past `bytes_max` before and while reading (it may grow, or have been swapped).
fn read_bounded(path: &Path, bytes_max: u32) -> Result<String, FileRefusal> {
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
        .map_err(io_refusal)?;
    let metadata = file.metadata().map_err(io_refusal)?;
    if !metadata.is_file() {
        return Err(FileRefusal::NotAFile);
    }
    if metadata.len() > u64::from(bytes_max) {
        return Err(FileRefusal::TooLarge { bytes_max });
    }
    let mut bytes = Vec::with_capacity(metadata.len() as usize);
    let mut bounded = file.take(u64::from(bytes_max) + 1);
    bounded.read_to_end(&mut bytes).map_err(io_refusal)?;
    if bytes.len() > bytes_max as usize {
        return Err(FileRefusal::TooLarge { bytes_max });
    }
    String::from_utf8(bytes).map_err(|_| FileRefusal::Io {
        reason: "not UTF-8 text".to_owned(),
    })
}

fn io_refusal(error: std::io::Error) -> FileRefusal {
    FileRefusal::Io {
        reason: error.to_string(),
    }
}

fn working_dir() -> PathBuf {
    std::env::current_dir().unwrap_or_else(|_| PathBuf::from("/"))
}

/// `path` made absolute against `working_dir` and resolved: canonical when it exists,
/// else its longest existing ancestor canonical with the rest appended lexically.
pub fn resolved(working_dir: &Path, path: &Path) -> PathBuf {
    let absolute = normalize_lexically(&working_dir.join(path));
    if let Ok(canonical) = std::fs::canonicalize(&absolute) {
        return canonical;
    }
    let mut ancestor = absolute.as_path();
    let mut rest = Vec::new();
    // Bounded by the path's components: each turn drops one.
    while let (Some(parent), Some(name)) = (ancestor.parent(), ancestor.file_name()) {
        rest.push(name);
        ancestor = parent;
        if let Ok(mut canonical) = std::fs::canonicalize(ancestor) {
            canonical.extend(rest.iter().rev());
            return canonical;
        }
    }
    absolute
}

/// `path` with `.` removed and each `..` taking away the component before it (never above
/// the root), without looking at the file system. Idempotent.
pub fn normalize_lexically(path: &Path) -> PathBuf {
    let mut normal = PathBuf::new();
    for component in path.components() {
        match component {
            Component::CurDir => {}
            // Above the root is the root; above a relative start, `..` stays.
            Component::ParentDir => {
                let above = normal.components().next_back() == Some(Component::ParentDir);
                if above || (!normal.pop() && !path.is_absolute()) {
                    normal.push("..");
                }
            }
            other => normal.push(other),
        }
    }
    normal
}

/// Whether URL `text` is `prefix` or below it: a prefix not ending in `/` matches only up
/// to a path, query or the end, so `http://h` does not allow `http://h.evil`.
pub fn url_under(text: &str, prefix: &str) -> bool {
    let Some(rest) = text.strip_prefix(prefix) else {
        return false;
    };
    prefix.ends_with('/') || rest.is_empty() || rest.starts_with(['/', '?'])
}

/// Fuzz entry point: normalisation is idempotent and never climbs above the root, and URL
/// prefix matching never matches a text the prefix does not start.
#[doc(hidden)]
pub fn fuzz_places(bytes: &[u8]) {
    let Ok(text) = std::str::from_utf8(bytes) else {
        return;
    };
    let (path, prefix) = text.split_once('\n').unwrap_or((text, ""));
    let absolute = Path::new("/").join(path);
    let once = normalize_lexically(&absolute);
    assert!(once.is_absolute(), "{once:?}");
    assert_eq!(normalize_lexically(&once), once, "idempotent");
    assert!(
        !once.components().any(|c| c == Component::ParentDir),
        "{once:?}"
    );
    if url_under(path, prefix) {
        assert!(path.starts_with(prefix));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizes_dots_without_the_file_system() {
        let cases = [
            ("/a/../a/x.scxml", "/a/x.scxml"),
            ("/a/./x.scxml", "/a/x.scxml"),
            ("/../../etc/passwd", "/etc/passwd"),
            ("/a/b/../../../c", "/c"),
            ("a/../../b", "../b"),
            ("../../b/./c/..", "../../b"),
        ];
        for (path, normal) in cases {
            assert_eq!(normalize_lexically(Path::new(path)), PathBuf::from(normal));
        }
    }

    #[test]
    fn url_prefixes_stop_at_a_boundary() {
        assert!(url_under("http://h/a/x.scxml", "http://h"));
        assert!(url_under("http://h/a/x.scxml", "http://h/a/"));
        assert!(url_under("http://h/a", "http://h/a"));
        assert!(!url_under("http://h.evil/a", "http://h"));
        assert!(!url_under("http://h/ab", "http://h/a"));
        assert!(!url_under("http://h:81/", "http://h"));
    }

    #[test]
    fn url_allowed_compares_normalised_urls() {
        let allow = ["HTTP://Apps.Example:80/strategies/".to_owned()];
        let places = Places::from_config(Some(&allow));
        let url = |text| Url::parse(text).unwrap();
        assert!(places.url_allowed(&url("http://apps.example/strategies/a.scxml")));
        assert!(!places.url_allowed(&url("http://apps.example/strategies/../secret")));
        assert!(!places.url_allowed(&url("http://apps.example:8080/strategies/a")));
        assert!(!Places::from_config(None).url_allowed(&url("http://apps.example/")));
    }

    /// The fuzz target's properties over crafted and seeded pseudo-random inputs (cargo-fuzz
    /// needs nightly; this runs on every `cargo test`).
    #[test]
    fn fuzz_places_holds_on_seeded_inputs() {
        let crafted = [
            "../../..\nhttp://h",
            "a/./b/../../../c\n",
            "//x//y/..\nhttp://h/",
            "\n",
            "http://h.evil/a\nhttp://h",
        ];
        for text in crafted {
            fuzz_places(text.as_bytes());
        }
        let alphabet = b"./a\n:?h";
        let mut state = 0x9e37_79b9_7f4a_7c15_u64;
        for _ in 0..2_000 {
            let mut bytes = Vec::new();
            for _ in 0..(state % 24) {
                state = state
                    .wrapping_mul(6_364_136_223_846_793_005)
                    .wrapping_add(1);
                bytes.push(alphabet[(state >> 59) as usize % alphabet.len()]);
            }
            fuzz_places(&bytes);
        }
    }

    fn temp_dir(tag: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("baton-places-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("allowed")).unwrap();
        dir
    }

    #[test]
    fn refuses_outside_links_specials_and_large_files_alike() {
        let dir = temp_dir("refusals");
        let allowed = dir.join("allowed");
        std::fs::write(allowed.join("a.scxml"), "<scxml/>").unwrap();
        std::fs::write(dir.join("secret.txt"), "secret").unwrap();
        std::os::unix::fs::symlink(dir.join("secret.txt"), allowed.join("link.txt")).unwrap();
        let places = Places::from_config(Some(&[allowed.to_string_lossy().into_owned()]));
        let spellings = [
            allowed.join("a.scxml"),
            allowed.join("../allowed/./a.scxml"),
        ];
        let canonical = std::fs::canonicalize(allowed.join("a.scxml")).unwrap();
        for path in spellings {
            assert_eq!(places.read(&path, 100).unwrap().0, canonical);
        }
        let refused = [
            dir.join("secret.txt"),
            dir.join("missing.txt"),
            allowed.join("link.txt"),
            allowed.join("../secret.txt"),
            PathBuf::from("/etc/passwd"),
            PathBuf::from("/dev/zero"),
        ];
        for path in refused {
            assert_eq!(
                places.read(&path, 100),
                Err(FileRefusal::NotAllowed),
                "{path:?}"
            );
        }
        let too_large = places.read(&allowed.join("a.scxml"), 4);
        assert_eq!(too_large, Err(FileRefusal::TooLarge { bytes_max: 4 }));
        let directory = places.read(&allowed, 100);
        assert_eq!(directory, Err(FileRefusal::NotAFile));
        let anywhere = Places::anywhere().read(Path::new("/dev/zero"), 100);
        assert_eq!(anywhere, Err(FileRefusal::NotAFile));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
