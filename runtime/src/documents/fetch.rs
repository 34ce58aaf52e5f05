//! One GET for a document or one of its sources: redirects followed up to
//! `documents.redirects_max`, conditional when validators are given.

use protocols::http::Response;

use super::error::DocumentError;
use super::freshness::Validators;
use crate::local::{LoadError, Places};
use crate::outbound::{Outbound, Url};

/// What a GET needs besides the URL.
pub struct Fetcher<'a> {
    /// The shard's outbound client.
    pub outbound: &'a Outbound,
    /// Where documents may come from: every URL requested, redirects included.
    pub places: &'a Places,
    /// Redirects followed at most (`documents.redirects_max`).
    pub redirects_max: u32,
}

/// What documents are asked for, most wanted first.
const ACCEPT: &str = "application/scxml+xml, application/xml;q=0.9, text/xml;q=0.9, \
                      application/json;q=0.5, */*;q=0.1";

/// Who asks.
const USER_AGENT: &str = concat!("baton/", env!("CARGO_PKG_VERSION"));

/// The answer to a GET.
pub enum Fetched {
    /// A 2xx response from `url` (the last one redirected to).
    Body {
        /// Where it came from (the base for its relative `src` attributes).
        url: Url,
        /// The response.
        response: Response,
    },
    /// 304: the cached copy is still good; its headers renew its freshness.
    NotModified(Response),
}

/// GETs `url`, following redirects; conditional on `validators` when given. Each URL is
/// checked against the allowed places before it is requested.
pub async fn get(
    fetcher: &Fetcher<'_>,
    url: &Url,
    validators: Option<&Validators>,
) -> Result<Fetched, DocumentError> {
    let mut current = url.clone();
    for _ in 0..=fetcher.redirects_max {
        if !fetcher.places.url_allowed(&current) {
            let src = current.to_string();
            return Err(DocumentError::File(LoadError::NotAllowed { src }));
        }
        let mut headers = vec![("Accept", ACCEPT), ("User-Agent", USER_AGENT)];
        if let Some(validators) = validators {
            if let Some(etag) = &validators.etag {
                headers.push(("If-None-Match", etag));
            }
            if let Some(date) = &validators.last_modified {
                headers.push(("If-Modified-Since", date));
            }
        }
        let response = fetcher
            .outbound
            .request("GET", &current, &headers, b"")
            .await;
        let response = response.map_err(|source| DocumentError::Fetch {
            url: current.to_string(),
            source,
        })?;
        match response.status {
            200..=299 => {
                let url = current;
                return Ok(Fetched::Body { url, response });
            }
            304 if validators.is_some() => return Ok(Fetched::NotModified(response)),
            301 | 302 | 303 | 307 | 308 => current = redirect(&current, &response)?,
            status => {
                let url = current.to_string();
                return Err(DocumentError::Status { url, status });
            }
        }
    }
    Err(DocumentError::Redirect {
        url: url.to_string(),
        reason: "too many redirects (documents.redirects_max)",
    })
}

fn redirect(from: &Url, response: &Response) -> Result<Url, DocumentError> {
    let location = response.header("location").ok_or(DocumentError::Redirect {
        url: from.to_string(),
        reason: "a redirect without Location",
    })?;
    from.join(location).map_err(DocumentError::Url)
}
