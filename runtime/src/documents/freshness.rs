//! HTTP caching rules for fetched documents (RFC 9111), as a private cache: how long a
//! response stays fresh, whether it may be kept at all, and the validators that let a stale
//! copy be revalidated with a conditional request.
//!
//! `Cache-Control: no-store` keeps nothing; `no-cache` keeps the document but revalidates it
//! on every use; `max-age` (less `Age`) gives the lifetime, else `Expires` less `Date`;
//! with none of them a response is stale at once and is kept only if it has a validator.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use protocols::http::Response;

use super::http_date;

/// What the headers of a response allow.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Storage {
    /// `no-store`: do not keep it.
    NoStore,
    /// Keep it; it is fresh for this long (zero: revalidate before every use).
    Keep {
        /// The freshness lifetime left.
        fresh_for: Duration,
    },
}

/// The caching directives a response carries, if any.
pub fn storage(response: &Response) -> Option<Storage> {
    let cache_control = response
        .headers
        .iter()
        .filter(|(name, _)| name.eq_ignore_ascii_case("cache-control"))
        .flat_map(|(_, value)| value.split(','));
    let mut max_age = None;
    for directive in cache_control {
        let directive = directive.trim().to_ascii_lowercase();
        match directive.split_once('=') {
            None if directive == "no-store" => return Some(Storage::NoStore),
            None if directive == "no-cache" => max_age = Some(0),
            Some(("max-age", seconds)) if max_age.is_none() => {
                // An unparsable max-age is stale (RFC 9111 §4.2.1).
                max_age = Some(seconds.trim_matches('"').parse::<u64>().unwrap_or(0));
            }
            _ => {}
        }
    }
    if let Some(max_age) = max_age {
        let age = response
            .header("age")
            .and_then(|age| age.trim().parse::<u64>().ok())
            .unwrap_or(0);
        let fresh_for = Duration::from_secs(max_age.saturating_sub(age));
        return Some(Storage::Keep { fresh_for });
    }
    let expires = response.header("expires")?;
    let fresh_for = match http_date::parse(expires) {
        None => Duration::ZERO,
        Some(expires) => {
            let date = response.header("date").and_then(http_date::parse);
            let now = date.unwrap_or_else(unix_now);
            Duration::from_secs(expires.saturating_sub(now))
        }
    };
    Some(Storage::Keep { fresh_for })
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs())
}

/// What a conditional request sends back to the server.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Validators {
    /// `ETag`, sent as `If-None-Match`.
    pub etag: Option<Box<str>>,
    /// `Last-Modified`, sent as `If-Modified-Since` (used by servers only without an ETag).
    pub last_modified: Option<Box<str>>,
}

impl Validators {
    /// The validators of `response`.
    pub fn of(response: &Response) -> Validators {
        Validators {
            etag: response.header("etag").map(|v| v.trim().into()),
            last_modified: response.header("last-modified").map(|v| v.trim().into()),
        }
    }

    /// Whether a conditional request is possible.
    pub fn any(&self) -> bool {
        self.etag.is_some() || self.last_modified.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(headers: &[(&'static str, &'static str)]) -> Response {
        let mut response = Response::new(200);
        for (name, value) in headers {
            response = response.with_header(*name, *value);
        }
        response
    }

    fn keep(seconds: u64) -> Option<Storage> {
        let fresh_for = Duration::from_secs(seconds);
        Some(Storage::Keep { fresh_for })
    }

    #[test]
    fn cache_control_directives() {
        assert_eq!(storage(&with(&[])), None);
        assert_eq!(storage(&with(&[("Cache-Control", "max-age=60")])), keep(60));
        let aged = with(&[("Cache-Control", "public, max-age=60"), ("Age", "15")]);
        assert_eq!(storage(&aged), keep(45));
        assert_eq!(storage(&with(&[("Cache-Control", "no-cache")])), keep(0));
        let no_store = with(&[("Cache-Control", "max-age=60, No-Store")]);
        assert_eq!(storage(&no_store), Some(Storage::NoStore));
        assert_eq!(storage(&with(&[("Cache-Control", "max-age=x")])), keep(0));
    }

    #[test]
    fn expires_counts_from_the_server_date() {
        let response = with(&[
            ("Date", "Sun, 06 Nov 1994 08:49:37 GMT"),
            ("Expires", "Sun, 06 Nov 1994 08:50:37 GMT"),
        ]);
        assert_eq!(storage(&response), keep(60));
        assert_eq!(storage(&with(&[("Expires", "0")])), keep(0));
        let both = with(&[("Expires", "0"), ("Cache-Control", "max-age=5")]);
        assert_eq!(storage(&both), keep(5));
    }
}
