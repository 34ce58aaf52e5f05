//! Documents a session starts from: files (through the host's own cache) and `http:`/`https:`
//! URLs, fetched with the shard's [`Outbound`] client, compiled on the shard, and cached by
//! URL under HTTP caching rules ([`freshness`]): a fresh entry costs no request, a stale one
//! a conditional request whose 304 reuses the compiled document.
//!
//! What it must never do: block the shard or hold a `RefCell` borrow across an `.await`.
//! The cache is borrowed only between awaits; two starts of one uncached URL at once fetch
//! it twice (the second insert wins), which costs a request, never correctness.
//!
//! Only allowed places are read ([`Places`], `[documents] allow`): a URL must be under an
//! allowed URL prefix before anything is sent, and so must every redirect target and every
//! source; a file goes through the host's cache, which checks its directory. A refusal is
//! one message naming the `src` as given, whatever the target. Every connection also
//! passes `[[outbound.allow]]` ([`Outbound`]).
//!
//! Revalidation concerns the document itself; its `<script src>`/`<data src>` sources
//! ([`sources`]) are fetched when it is (re)compiled and are not revalidated on their own.

mod cache;
mod error;
mod fetch;
mod freshness;
mod http_date;
mod media;
mod off_shard;
mod sources;

use std::cell::RefCell;
use std::path::Path;
use std::rc::Rc;
use std::time::{Duration, Instant};

use engine::limits::Limits;
use engine::model::Document;
use protocols::http::Response;
use protocols::tls::ClientTls;

use crate::config::Config;
use crate::local::{resolve, FileLookup, FileRefusal, Host, LoadError, Places};
use crate::outbound::{is_http_url, Outbound, Url};
use cache::{Cache, Lookup};
use fetch::Fetched;
use freshness::{Storage, Validators};
use sources::Compiling;

pub use error::DocumentError;

/// The file document at `path`: cached, or read and compiled off the shard, then cached.
async fn load_file(host: &RefCell<Host>, path: &Path) -> Result<Rc<Document>, DocumentError> {
    let job = match host.borrow_mut().lookup_file(path) {
        Ok(FileLookup::Cached(document)) => return Ok(document),
        Ok(FileLookup::Compile(job)) => job,
        Err(error) => return Err(DocumentError::File(error)),
    };
    let compiled = off_shard::run(move || job.run()).await;
    let compiled = compiled.map_err(|panicked| DocumentError::CompilerPanicked {
        message: panicked.message,
    })?;
    let compiled = compiled.map_err(DocumentError::File)?;
    Ok(host.borrow_mut().keep_compiled(compiled))
}

/// The documents the configuration names (`[application] src`, the entry points'
/// `application`) that `[documents] allow` refuses: worth a warning at start, since every
/// start of one of them will be refused.
pub fn configured_outside_allow(config: &Config) -> Vec<&str> {
    let places = Places::from_config(config.documents.allow.as_deref());
    let application = &config.application;
    let named =
        config
            .entry_points
            .iter()
            .map(|entry| match entry.application == application.name {
                true => application.src.as_str(),
                false => entry.application.as_str(),
            });
    let mut named: Vec<&str> = std::iter::once(application.src.as_str())
        .chain(named)
        .collect();
    named.dedup();
    named.retain(|src| !src_allowed(&places, src));
    named
}

/// Whether `places` allows `src` (a path, `file:` or http(s) URL); one that cannot be
/// resolved is left to the start that names it.
fn src_allowed(places: &Places, src: &str) -> bool {
    if is_http_url(src) {
        return Url::parse(src).map_or(true, |url| places.url_allowed(&url));
    }
    match resolve("", src) {
        Ok(path) => places.file(&path) != Err(FileRefusal::NotAllowed),
        Err(_) => true,
    }
}

/// One shard's documents over HTTP(S).
pub struct Documents {
    outbound: Outbound,
    places: Places,
    cache: RefCell<Cache>,
    limits: Limits,
    redirects_max: u32,
    sources_max: u32,
}

impl Documents {
    /// The documents of a shard under `config`; `tls` is the shard's outbound TLS copy.
    pub fn new(config: &Config, tls: ClientTls) -> Documents {
        Documents {
            outbound: Outbound::new(&config.outbound, tls, config.admin_addresses()),
            places: Places::from_config(config.documents.allow.as_deref()),
            cache: RefCell::new(Cache::new(
                config.documents.cache_entries_max,
                config.documents.cache_bytes_max,
            )),
            limits: config.limits.engine_limits(),
            redirects_max: config.documents.redirects_max,
            sources_max: config.documents.sources_max,
        }
    }

    /// The shard's outbound client (for other outbound traffic).
    pub fn outbound(&self) -> &Outbound {
        &self.outbound
    }

    /// Documents fetched over HTTP(S) cached now.
    pub fn cached(&self) -> usize {
        self.cache.borrow().count()
    }

    /// The document `src` names: an `http:`/`https:` URL, or a path (`file:` URLs too)
    /// compiled through `host`'s file cache. When it cannot be had and `alternate` is given,
    /// `alternate` is tried the same way; the error then names both.
    pub async fn open(
        &self,
        host: &RefCell<Host>,
        src: &str,
        alternate: Option<&str>,
    ) -> Result<Rc<Document>, DocumentError> {
        let primary = match self.open_one(host, src).await {
            Ok(document) => return Ok(document),
            Err(error) => error,
        };
        let Some(alternate) = alternate else {
            return Err(primary);
        };
        self.open_one(host, alternate)
            .await
            .map_err(|second| DocumentError::Alternate {
                primary: Box::new(primary),
                alternate: Box::new(second),
            })
    }

    async fn open_one(
        &self,
        host: &RefCell<Host>,
        src: &str,
    ) -> Result<Rc<Document>, DocumentError> {
        if is_http_url(src) {
            let url = Url::parse(src).map_err(DocumentError::Url)?;
            if !self.places.url_allowed(&url) {
                let src = src.to_owned();
                return Err(DocumentError::File(LoadError::NotAllowed { src }));
            }
            // Boxed: a fetch's future is large, and starts from files should not carry it.
            return Box::pin(self.get(&url)).await;
        }
        let path = resolve("", src).map_err(|reason| {
            DocumentError::File(LoadError::Read {
                path: src.to_owned(),
                reason,
            })
        })?;
        let loaded = load_file(host, &path).await;
        let this_file = path.to_string_lossy();
        loaded.map_err(|error| match error {
            // The document itself (not a source it names) is named as given, `file:` and
            // all, like a refused URL.
            DocumentError::File(LoadError::NotAllowed { src: refused }) if refused == this_file => {
                DocumentError::File(LoadError::NotAllowed {
                    src: src.to_owned(),
                })
            }
            error => error,
        })
    }

    /// The compiled document at `url`: cached and fresh, revalidated, or fetched.
    pub async fn get(&self, url: &Url) -> Result<Rc<Document>, DocumentError> {
        let lookup = self.cache.borrow_mut().lookup(url, Instant::now());
        let (cached, validators) = match lookup {
            Lookup::Fresh(document) => return Ok(document),
            Lookup::Stale(document, validators, fresh_for) if validators.any() => {
                (Some((document, fresh_for)), validators)
            }
            Lookup::Stale(..) | Lookup::Miss => (None, Validators::default()),
        };
        let conditional = cached.as_ref().map(|_| &validators);
        let fetcher = self.fetcher();
        let fetched = fetch::get(&fetcher, url, conditional).await;
        match fetched {
            Ok(Fetched::NotModified(response)) => {
                let (document, fresh_for) = cached.expect("304 answers a conditional request");
                self.renew(url, validators, fresh_for, &response);
                Ok(document)
            }
            Ok(Fetched::Body {
                url: from,
                response,
            }) => self.compile_response(url, &from, response).await,
            Err(error) => {
                // A document its server no longer serves must not be started from the cache.
                if matches!(
                    error,
                    DocumentError::Status {
                        status: 404 | 410,
                        ..
                    }
                ) {
                    self.cache.borrow_mut().remove(url);
                }
                Err(error)
            }
        }
    }

    /// What a fetch needs: the client, the allowed places, the redirect bound.
    fn fetcher(&self) -> fetch::Fetcher<'_> {
        fetch::Fetcher {
            outbound: &self.outbound,
            places: &self.places,
            redirects_max: self.redirects_max,
        }
    }

    /// Renews a revalidated document, fresh for what the 304 says (or what it had).
    fn renew(&self, url: &Url, validators: Validators, fresh_for: Duration, response: &Response) {
        // Evicted since the lookup: not kept again (the next start fetches it anew).
        let mut cache = self.cache.borrow_mut();
        match freshness::storage(response) {
            Some(Storage::NoStore) => cache.remove(url),
            Some(Storage::Keep { fresh_for }) => {
                cache.renew(url, validators, fresh_for, Instant::now());
            }
            None => cache.renew(url, validators, fresh_for, Instant::now()),
        }
    }

    /// Reads, compiles and caches a 2xx response for `url` that came from `from`.
    async fn compile_response(
        &self,
        url: &Url,
        from: &Url,
        response: Response,
    ) -> Result<Rc<Document>, DocumentError> {
        if response.status != 200 {
            let (url, status) = (from.to_string(), response.status);
            return Err(DocumentError::Status { url, status });
        }
        let media = media::media(from, response.header("content-type"))?;
        let storage = freshness::storage(&response);
        let validators = Validators::of(&response);
        let text = media::text(from, media, response.body)?;
        let compiling = Compiling {
            fetcher: self.fetcher(),
            limits: &self.limits,
            sources_max: self.sources_max,
        };
        let bytes = text.len() as u64;
        let document = Rc::new(sources::compile_fetched(&compiling, from, text).await?);
        let fresh_for = match storage {
            Some(Storage::NoStore) => None,
            Some(Storage::Keep { fresh_for }) => Some(fresh_for),
            None => Some(Duration::ZERO),
        };
        let mut cache = self.cache.borrow_mut();
        match fresh_for {
            // Stale at once and nothing to revalidate with: a cache entry would never be used.
            Some(fresh_for) if !fresh_for.is_zero() || validators.any() => {
                let document = Rc::clone(&document);
                cache.insert(
                    url,
                    document,
                    bytes,
                    (validators, fresh_for),
                    Instant::now(),
                );
            }
            _ => cache.remove(url),
        }
        Ok(document)
    }
}
