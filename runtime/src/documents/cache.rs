//! The per-shard cache of compiled documents, keyed by the URL a start request names.
//!
//! An entry holds the compiled document (shared by every session that runs it), until when
//! it is fresh, and its validators. A fresh entry is used without a request; a stale one is
//! revalidated (a 304 renews it, the compiled document is reused). Bounded by
//! `documents.cache_entries_max`; when full, the least recently used entry goes (a linear
//! scan, paid only on inserting a new URL into a full cache).

use std::collections::HashMap;
use std::rc::Rc;
use std::time::{Duration, Instant};

use engine::model::Document;

use super::freshness::Validators;
use crate::outbound::Url;

struct Entry {
    document: Rc<Document>,
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
    uses: u64,
}

impl Cache {
    /// An empty cache of at most `entries_max` documents.
    pub fn new(entries_max: u32) -> Cache {
        assert!(entries_max > 0);
        let entries_max = entries_max as usize;
        Cache {
            entries: HashMap::with_capacity(entries_max.min(1024)),
            entries_max,
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

    /// Keeps `document` for `url`, fresh for `fresh_for` from `now`.
    pub fn insert(
        &mut self,
        url: &Url,
        document: Rc<Document>,
        validators: Validators,
        fresh_for: Duration,
        now: Instant,
    ) {
        if !self.entries.contains_key(url) && self.entries.len() >= self.entries_max {
            self.evict_least_recently_used();
        }
        self.uses += 1;
        let entry = Entry {
            document,
            fresh_until: now + fresh_for,
            fresh_for,
            validators,
            last_used: self.uses,
        };
        self.entries.insert(url.clone(), entry);
        assert!(self.entries.len() <= self.entries_max);
    }

    /// Forgets `url` (its server said `no-store`, or it is gone).
    pub fn remove(&mut self, url: &Url) {
        self.entries.remove(url);
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
            self.entries.remove(&url);
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
        let mut cache = Cache::new(2);
        let now = Instant::now();
        let minute = Duration::from_secs(60);
        cache.insert(&url("a"), document(), Validators::default(), minute, now);
        assert!(matches!(cache.lookup(&url("a"), now), Lookup::Fresh(_)));
        let later = now + minute;
        assert!(matches!(cache.lookup(&url("a"), later), Lookup::Stale(..)));
        assert!(matches!(cache.lookup(&url("b"), now), Lookup::Miss));
        cache.insert(&url("b"), document(), Validators::default(), minute, now);
        let _ = cache.lookup(&url("a"), now);
        cache.insert(&url("c"), document(), Validators::default(), minute, now);
        assert_eq!(cache.count(), 2);
        assert!(
            matches!(cache.lookup(&url("b"), now), Lookup::Miss),
            "b was least used"
        );
        assert!(matches!(cache.lookup(&url("a"), now), Lookup::Fresh(_)));
        cache.remove(&url("a"));
        assert_eq!(cache.count(), 1);
    }
}
