//! Why a document could not be had, and whose fault that is (the HTTP status).

use std::fmt;

use engine::error::CompileError;

use crate::local::LoadError;
use crate::outbound::{OutboundError, UrlError};

/// A document that cannot be started from. [`DocumentError::status`] sorts the faults: the
/// caller's or the document's (400) against the upstream server's (502).
#[derive(Debug)]
#[non_exhaustive]
pub enum DocumentError {
    /// A file that cannot be read, or an invalid file document (FILE:LINE:COL).
    File(LoadError),
    /// A URL that cannot be fetched as written.
    Url(UrlError),
    /// The application server could not be reached or did not answer properly.
    Fetch {
        /// The URL requested.
        url: String,
        /// Why.
        source: OutboundError,
    },
    /// The server answered with an error status (or a status that holds no document).
    Status {
        /// The URL requested.
        url: String,
        /// The status.
        status: u16,
    },
    /// More redirects than `documents.redirects_max`, or a redirect without `Location`.
    Redirect {
        /// The URL that redirected.
        url: String,
        /// What went wrong.
        reason: &'static str,
    },
    /// A media type that holds no document ([`super::media`]).
    Media {
        /// The URL fetched.
        url: String,
        /// Its `Content-Type`.
        content_type: Box<str>,
    },
    /// A JSON body that is not `{"scxml": "..."}`.
    Json {
        /// The URL fetched.
        url: String,
        /// What is wrong.
        reason: String,
    },
    /// A body that is not UTF-8.
    Encoding {
        /// The URL fetched.
        url: String,
    },
    /// An invalid document (URL:LINE:COL), boxed: it is large and rare.
    Compile(Box<CompileError>),
    /// More `<script src>`/`<data src>` than `documents.sources_max`.
    Sources {
        /// The document.
        url: String,
        /// How many it names.
        sources: usize,
        /// The limit.
        sources_max: u32,
    },
    /// The compiler panicked (a bug): the start fails, the shard goes on.
    CompilerPanicked {
        /// The panic's message.
        message: String,
    },
    /// Neither `src` nor `alternate_url` could be had.
    Alternate {
        /// Why `src` failed.
        primary: Box<DocumentError>,
        /// Why `alternate_url` failed.
        alternate: Box<DocumentError>,
    },
}

impl DocumentError {
    /// 502 when the upstream failed (unreachable, TLS, timeout, malformed answer, 5xx,
    /// redirect loops); 400 when the request or the document is at fault.
    pub fn status(&self) -> u16 {
        match self {
            DocumentError::Alternate { alternate, .. } => alternate.status(),
            DocumentError::Fetch { source, .. } if source.is_too_large() => 400,
            DocumentError::Fetch { source, .. } if source.is_not_allowed() => 400,
            DocumentError::Fetch { .. } | DocumentError::Redirect { .. } => 502,
            DocumentError::Status { status, .. } if *status >= 500 => 502,
            DocumentError::CompilerPanicked { .. } => 500,
            _ => 400,
        }
    }
}

impl fmt::Display for DocumentError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DocumentError::File(error) => error.fmt(f),
            DocumentError::Url(error) => write!(f, "bad URL {error}"),
            DocumentError::Fetch { url, source } => write!(f, "cannot fetch {url}: {source}"),
            DocumentError::Status { url, status } => {
                write!(f, "cannot fetch {url}: the server answered {status}")
            }
            DocumentError::Redirect { url, reason } => write!(f, "cannot fetch {url}: {reason}"),
            DocumentError::Media { url, content_type } => write!(
                f,
                "{url}: Content-Type {content_type} is not a document (expected \
                 application/scxml+xml, application/xml, text/xml or application/json)"
            ),
            DocumentError::Json { url, reason } => write!(
                f,
                "{url}: a JSON document must be {{\"scxml\": \"<scxml ...>\"}}: {reason}"
            ),
            DocumentError::Encoding { url } => write!(f, "{url}: the document is not UTF-8"),
            DocumentError::Compile(error) => error.fmt(f),
            DocumentError::Sources {
                url,
                sources,
                sources_max,
            } => write!(
                f,
                "{url}: {sources} <script src>/<data src> to fetch, above \
                 documents.sources_max = {sources_max}"
            ),
            DocumentError::CompilerPanicked { message } => write!(
                f,
                "the document compiler failed ({message}); this is a bug in Baton"
            ),
            DocumentError::Alternate { primary, alternate } => {
                write!(f, "src: {primary}; alternate_url: {alternate}")
            }
        }
    }
}

impl std::error::Error for DocumentError {}
