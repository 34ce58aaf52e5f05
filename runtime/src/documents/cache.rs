//! The per-shard cache of compiled documents, keyed by the URL a start request names.
//!
//! An entry holds the compiled document (shared by every session that runs it), until when
//! it is fresh, and its validators. A fresh entry is used without a request; a stale one is
//! revalidated (a 304 renews it, the compiled document is reused). Bounded by
//! `documents.cache_entries_max` entries and `documents.cache_bytes_max` source bytes; when
//! either is reached, the least recently used entries go (a linear scan, paid only on
//! inserting a new URL into a full cache). A document alone above the byte bound is not
//! kept.

use std::collections::HashMap;
use std::rc::Rc;
use std::time::{Duration, Instant};

use engine::model::Document;

use super::freshness::Validators;
use crate::outbound::Url;

struct Entry {
    document: Rc<Document>,
    /// The source's size: the cost measure of the byte bound.
    bytes: u64,
    fresh_until: Instant,
    /// The lifetime the last response gave, reused when a 304 carries no directives.
    fresh_for: Duration,
    validators: Validators,
    last_used: u64,
}

/// What the cache knows about a URL.
pub enum Lookup {
    /// Use it as is.
    Fresh(Rc<Document>),
    /// Revalidate it with these validators (or refetch when there are none).
    Stale(Rc<Document>, Validators, Duration),
    /// Not cached.
    Miss,
}

/// Compiled documents by URL.
pub struct Cache {
    entries: HashMap<Url, Entry>,
    entries_max: usize,
    bytes: u64,
    bytes_max: u64,
    uses: u64,
}

impl Cache {
    /// An empty cache of at most `entries_max` documents and `bytes_max` source bytes.
    pub fn new(entries_max: u32, bytes_max: u32) -> Cache {
        assert!(entries_max > 0);
        assert!(bytes_max > 0);
        let entries_max = entries_max as usize;
        Cache {
            entries: HashMap::with_capacity(entries_max.min(1024)),
            entries_max,
            bytes: 0,
            bytes_max: u64::from(bytes_max),
            uses: 0,
        }
    }

    /// What is cached for `url` at `now`.
    pub fn lookup(&mut self, url: &Url, now: Instant) -> Lookup {
        self.uses += 1;
        let Some(entry) = self.entries.get_mut(url) else {
            return Lookup::Miss;
        };
        entry.last_used = self.uses;
        if now < entry.fresh_until {
            return Lookup::Fresh(Rc::clone(&entry.document));
        }
        let document = Rc::clone(&entry.document);
        Lookup::Stale(document, entry.validators.clone(), entry.fresh_for)
    }

    /// Keeps `document` (of `bytes` source bytes) for `url`, fresh for `fresh_for` from
    /// `now`, unless it alone is above the byte bound.
    pub fn insert(
        &mut self,
        url: &Url,
        document: Rc<Document>,
        bytes: u64,
        fresh: (Validators, Duration),
        now: Instant,
    ) {
        self.remove(url);
        if bytes > self.bytes_max {
            return;
        }
        while !self.entries.is_empty()
            && (self.entries.len() >= self.entries_max || self.bytes + bytes > self.bytes_max)
        {
            self.evict_least_recently_used();
        }
        self.uses += 1;
        let (validators, fresh_for) = fresh;
        let entry = Entry {
            document,
            bytes,
            fresh_until: now + fresh_for,
            fresh_for,
            validators,
            last_used: self.uses,
        };
        self.bytes += bytes;
        self.entries.insert(url.clone(), entry);
        assert!(self.entries.len() <= self.entries_max);
        assert!(self.bytes <= self.bytes_max);
    }

    /// Renews `url`'s entry, if it is still cached: fresh for `fresh_for` from `now`.
    pub fn renew(&mut self, url: &Url, validators: Validators, fresh_for: Duration, now: Instant) {
        if let Some(entry) = self.entries.get_mut(url) {
            entry.validators = validators;
            entry.fresh_for = fresh_for;
            entry.fresh_until = now + fresh_for;
        }
    }

    /// Forgets `url` (its server said `no-store`, or it is gone).
    pub fn remove(&mut self, url: &Url) {
        if let Some(entry) = self.entries.remove(url) {
            self.bytes -= entry.bytes;
        }
    }

    /// Documents cached.
    pub fn count(&self) -> usize {
        self.entries.len()
    }

    fn evict_least_recently_used(&mut self) {
        let oldest = self
            .entries
            .iter()
            .min_by_key(|(_, entry)| entry.last_used)
            .map(|(url, _)| url.clone());
        if let Some(url) = oldest {
            self.remove(&url);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use engine::compile::{compile, NoLoader};
    use engine::limits::Limits;

    fn document() -> Rc<Document> {
        let text = r#"<scxml xmlns="http://www.w3.org/2005/07/scxml"><final id="f"/></scxml>"#;
        Rc::new(compile(text, "t", &mut NoLoader, &Limits::default()).unwrap())
    }

    fn url(path: &str) -> Url {
        Url::parse(&format!("http://h/{path}")).unwrap()
    }

    #[test]
    fn fresh_then_stale_and_bounded() {
        let mut cache = Cache::new(2, 1 << 20);
        let now = Instant::now();
        let minute = Duration::from_secs(60);
        let fresh = || (Validators::default(), minute);
        cache.insert(&url("a"), document(), 10, fresh(), now);
        assert!(matches!(cache.lookup(&url("a"), now), Lookup::Fresh(_)));
        let later = now + minute;
        assert!(matches!(cache.lookup(&url("a"), later), Lookup::Stale(..)));
        assert!(matches!(cache.lookup(&url("b"), now), Lookup::Miss));
        cache.insert(&url("b"), document(), 10, fresh(), now);
        let _ = cache.lookup(&url("a"), now);
        cache.insert(&url("c"), document(), 10, fresh(), now);
        assert_eq!(cache.count(), 2);
        assert!(
            matches!(cache.lookup(&url("b"), now), Lookup::Miss),
            "b was least used"
        );
        assert!(matches!(cache.lookup(&url("a"), now), Lookup::Fresh(_)));
        cache.remove(&url("a"));
        assert_eq!(cache.count(), 1);
    }

    #[test]
    fn bounded_in_source_bytes() {
        let mut cache = Cache::new(10, 100);
        let now = Instant::now();
        let fresh = || (Validators::default(), Duration::from_secs(60));
        cache.insert(&url("a"), document(), 60, fresh(), now);
        cache.insert(&url("b"), document(), 30, fresh(), now);
        cache.insert(&url("c"), document(), 30, fresh(), now);
        assert_eq!(cache.count(), 2, "a went to make room");
        assert!(matches!(cache.lookup(&url("a"), now), Lookup::Miss));
        cache.insert(&url("huge"), document(), 101, fresh(), now);
        assert!(matches!(cache.lookup(&url("huge"), now), Lookup::Miss));
        assert_eq!(cache.count(), 2);
        cache.insert(&url("b"), document(), 70, fresh(), now);
        assert_eq!(cache.count(), 2, "b replaced, c kept: 100 bytes");
    }
}
