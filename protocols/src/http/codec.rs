//! Sans-IO HTTP/1.1: request and response decoders over caller-owned bytes, and encoders
//! into caller-owned `Vec<u8>`s.
//!
//! Heads are parsed by `httparse`; this module adds framing (Content-Length, chunked,
//! read-to-close), limits, keep-alive rules and typed errors. It performs no I/O, reads no
//! clock and never panics on input (fuzzed by `tests/fuzz/fuzz_targets/http_*.rs`).
//!
//! Decoding is incremental: the caller appends bytes to its buffer, calls `decode` on the
//! unconsumed part, and drops `consumed` bytes. A head is parsed only once it is complete
//! (so an incomplete head consumes nothing); bodies are consumed as they arrive, so the
//! caller's buffer never has to hold more than one head.

use std::borrow::Cow;
use std::fmt;
use std::io::Write as _;
use std::mem::MaybeUninit;

use super::body_stream::BodyStream;

/// Capacity of the stack array of header slots handed to `httparse`.
/// [`HttpLimits::headers_max`] may not exceed it.
pub const HEADERS_CAPACITY: usize = 128;

/// Longest accepted method token, in bytes (the longest registered method is 17 bytes).
pub const METHOD_BYTES_MAX: usize = 32;

/// Bytes of a request line besides its URI: method, two spaces, `HTTP/1.1` and CRLF. A request
/// line longer than `uri_bytes_max` plus this is refused (414) before it is complete.
const REQUEST_LINE_SLACK_BYTES: usize = METHOD_BYTES_MAX + 2 + 8 + 2;

/// Longest chunk-size line (size, extensions, CRLF), in bytes. Extensions are ignored, so
/// anything longer is an attack or a bug.
pub const CHUNK_SIZE_LINE_BYTES_MAX: usize = 1024;

const _: () = assert!(HttpLimits::DEFAULT.headers_max as usize <= HEADERS_CAPACITY);
const _: () = assert!(HttpLimits::DEFAULT.uri_bytes_max <= HttpLimits::DEFAULT.header_bytes_max);

/// Bounds on one HTTP message. Each limit maps to the status a server answers when a
/// request exceeds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpLimits {
    /// Bytes of a request or response head (request line and headers), default 16 KiB.
    /// Exceeding it is 431. Cost: the connection's read buffer grows up to this size.
    pub header_bytes_max: u32,
    /// Number of header fields, default 64, at most [`HEADERS_CAPACITY`]. Exceeding it is 431.
    pub headers_max: u16,
    /// Bytes of a decoded body, default 1 MiB. Exceeding it is 413. Cost: one body buffer of
    /// up to this size per connection while a request is being received.
    pub body_bytes_max: u32,
    /// Bytes of the request target (path and query), default 8 KiB. Exceeding it is 414.
    pub uri_bytes_max: u32,
}

impl HttpLimits {
    /// The defaults documented on each field.
    pub const DEFAULT: Self = Self {
        header_bytes_max: 16 * 1024,
        headers_max: 64,
        body_bytes_max: 1024 * 1024,
        uri_bytes_max: 8 * 1024,
    };

    /// Checks the limits against each other and the codec's fixed capacities; run it when a
    /// configuration is loaded. The decoders assert the same conditions.
    pub fn validate(&self) -> Result<(), InvalidLimits> {
        if self.headers_max == 0 || self.headers_max as usize > HEADERS_CAPACITY {
            return Err(InvalidLimits::HeadersMax {
                headers_max: self.headers_max,
            });
        }
        if self.header_bytes_max < 64 {
            return Err(InvalidLimits::HeaderBytesMax {
                header_bytes_max: self.header_bytes_max,
            });
        }
        if self.uri_bytes_max == 0 || self.uri_bytes_max > self.header_bytes_max {
            return Err(InvalidLimits::UriBytesMax {
                uri_bytes_max: self.uri_bytes_max,
            });
        }
        Ok(())
    }
}

impl Default for HttpLimits {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// Why an [`HttpLimits`] value is unusable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum InvalidLimits {
    /// `headers_max` must be within `1..=HEADERS_CAPACITY`.
    HeadersMax {
        /// The configured value.
        headers_max: u16,
    },
    /// `header_bytes_max` must be at least 64.
    HeaderBytesMax {
        /// The configured value.
        header_bytes_max: u32,
    },
    /// `uri_bytes_max` must be within `1..=header_bytes_max`.
    UriBytesMax {
        /// The configured value.
        uri_bytes_max: u32,
    },
}

impl fmt::Display for InvalidLimits {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::HeadersMax { headers_max } => {
                write!(
                    f,
                    "headers_max {headers_max} is not within 1..={HEADERS_CAPACITY}"
                )
            }
            Self::HeaderBytesMax { header_bytes_max } => {
                write!(f, "header_bytes_max {header_bytes_max} is below 64")
            }
            Self::UriBytesMax { uri_bytes_max } => {
                write!(
                    f,
                    "uri_bytes_max {uri_bytes_max} is not within 1..=header_bytes_max"
                )
            }
        }
    }
}

impl std::error::Error for InvalidLimits {}

/// A malformed or unacceptable message. Every variant maps to one HTTP status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum HttpError {
    /// The head does not parse (400).
    Malformed {
        /// What is wrong, for the error body.
        reason: &'static str,
    },
    /// A Content-Length value that is not a decimal number (400).
    InvalidContentLength,
    /// Both Content-Length and Transfer-Encoding, or Content-Lengths that disagree (400).
    ConflictingFraming,
    /// A malformed chunk (400).
    InvalidChunk {
        /// What is wrong, for the error body.
        reason: &'static str,
    },
    /// The request target is too long (414).
    UriTooLong {
        /// Bytes seen so far (the whole request line when it is not yet complete).
        uri_bytes: u32,
        /// The limit.
        uri_bytes_max: u32,
    },
    /// The head is too large (431).
    HeadersTooLarge {
        /// Bytes seen so far.
        header_bytes: u32,
        /// The limit.
        header_bytes_max: u32,
    },
    /// Too many header fields (431).
    TooManyHeaders {
        /// The limit.
        headers_max: u16,
    },
    /// The body is too large (413).
    BodyTooLarge {
        /// Declared (Content-Length) or accumulated (chunked) body bytes.
        body_bytes: u64,
        /// The limit.
        body_bytes_max: u32,
    },
    /// A transfer coding other than `chunked` (501).
    UnsupportedTransferEncoding,
    /// An HTTP version other than 1.0 and 1.1 (505).
    UnsupportedVersion,
    /// The peer closed the connection in the middle of a message (400; client side).
    UnexpectedEof,
}

impl HttpError {
    /// The HTTP status a server answers with.
    pub fn status(&self) -> u16 {
        match self {
            Self::Malformed { .. }
            | Self::InvalidContentLength
            | Self::ConflictingFraming
            | Self::InvalidChunk { .. }
            | Self::UnexpectedEof => 400,
            Self::UriTooLong { .. } => 414,
            Self::HeadersTooLarge { .. } | Self::TooManyHeaders { .. } => 431,
            Self::BodyTooLarge { .. } => 413,
            Self::UnsupportedTransferEncoding => 501,
            Self::UnsupportedVersion => 505,
        }
    }

    /// A short, fixed description (no allocation), for JSON error bodies.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Malformed { reason } | Self::InvalidChunk { reason } => reason,
            Self::InvalidContentLength => "invalid Content-Length",
            Self::ConflictingFraming => "conflicting Content-Length / Transfer-Encoding",
            Self::UriTooLong { .. } => "request target too long",
            Self::HeadersTooLarge { .. } => "request head too large",
            Self::TooManyHeaders { .. } => "too many header fields",
            Self::BodyTooLarge { .. } => "body too large",
            Self::UnsupportedTransferEncoding => "unsupported transfer coding",
            Self::UnsupportedVersion => "unsupported HTTP version",
            Self::UnexpectedEof => "connection closed mid-message",
        }
    }
}

impl fmt::Display for HttpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.reason(), self.status())?;
        match self {
            Self::UriTooLong {
                uri_bytes,
                uri_bytes_max,
            } => {
                write!(f, ": {uri_bytes} bytes, limit {uri_bytes_max}")
            }
            Self::HeadersTooLarge {
                header_bytes,
                header_bytes_max,
            } => {
                write!(f, ": {header_bytes} bytes, limit {header_bytes_max}")
            }
            Self::TooManyHeaders { headers_max } => write!(f, ": limit {headers_max}"),
            Self::BodyTooLarge {
                body_bytes,
                body_bytes_max,
            } => {
                write!(f, ": {body_bytes} bytes, limit {body_bytes_max}")
            }
            _ => Ok(()),
        }
    }
}

impl std::error::Error for HttpError {}

/// The request method. Extension methods are `Other`; their text is [`Request::method_str`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[allow(missing_docs)] // The variants are the RFC 9110 method names.
pub enum Method {
    #[default]
    Get,
    Head,
    Post,
    Put,
    Delete,
    Options,
    Patch,
    Other,
}

impl Method {
    fn from_token(token: &str) -> Self {
        match token {
            "GET" => Self::Get,
            "HEAD" => Self::Head,
            "POST" => Self::Post,
            "PUT" => Self::Put,
            "DELETE" => Self::Delete,
            "OPTIONS" => Self::Options,
            "PATCH" => Self::Patch,
            _ => Self::Other,
        }
    }
}

/// The protocol version of a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Version {
    /// HTTP/1.0: connections close unless `Connection: keep-alive`.
    Http10,
    /// HTTP/1.1: connections stay open unless `Connection: close`.
    #[default]
    Http11,
}

/// A byte range within [`Request`]'s copy of its head. `u32` because heads are bounded by
/// `header_bytes_max`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
struct Span {
    start: u32,
    end: u32,
}

impl Span {
    fn within(base: &[u8], part: &[u8]) -> Self {
        // httparse hands out subslices of `base`, so the offset is a plain difference. An
        // empty part may be a dangling `&[]`, so it gets an empty span without arithmetic.
        if part.is_empty() {
            return Self::default();
        }
        let start = part.as_ptr() as usize - base.as_ptr() as usize;
        assert!(start + part.len() <= base.len());
        Self {
            start: saturate_u32(start),
            end: saturate_u32(start + part.len()),
        }
    }

    fn get<'a>(&self, bytes: &'a [u8]) -> &'a [u8] {
        &bytes[self.start as usize..self.end as usize]
    }
}

/// A complete request. The head is one owned copy with spans into it, so decoding a request
/// costs no allocation per header, and a reused `Request` keeps its capacity.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Request {
    head: Vec<u8>,
    method: Method,
    method_span: Span,
    version: Version,
    path: Span,
    query: Option<Span>,
    headers: Vec<(Span, Span)>,
    body: Vec<u8>,
    keep_alive: bool,
    expect_continue: bool,
}

impl Request {
    /// The method.
    pub fn method(&self) -> Method {
        self.method
    }

    /// The method token as sent (useful for [`Method::Other`]).
    pub fn method_str(&self) -> &str {
        str_of(self.method_span.get(&self.head))
    }

    /// The protocol version.
    pub fn version(&self) -> Version {
        self.version
    }

    /// The raw (still percent-encoded) path, without the query.
    pub fn path(&self) -> &str {
        str_of(self.path.get(&self.head))
    }

    /// The raw (still percent-encoded) query after `?`, if the target had one.
    pub fn query(&self) -> Option<&str> {
        self.query.map(|span| str_of(span.get(&self.head)))
    }

    /// The header fields in order, names as sent.
    pub fn headers(&self) -> impl Iterator<Item = (&str, &[u8])> + '_ {
        self.headers
            .iter()
            .map(|(name, value)| (str_of(name.get(&self.head)), value.get(&self.head)))
    }

    /// The first header field called `name` (ASCII case-insensitive).
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        self.headers()
            .find(|(found, _)| found.eq_ignore_ascii_case(name))
            .map(|(_, value)| value)
    }

    /// The decoded body (chunked framing removed).
    pub fn body(&self) -> &[u8] {
        &self.body
    }

    /// Takes the body out, leaving an empty one (for handlers that keep it).
    pub fn take_body(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.body)
    }

    /// Whether the connection may carry another request after this one.
    pub fn keep_alive(&self) -> bool {
        self.keep_alive
    }

    /// Whether the client sent `Expect: 100-continue`.
    pub fn expect_continue(&self) -> bool {
        self.expect_continue
    }

    fn clear(&mut self) {
        self.head.clear();
        self.headers.clear();
        self.body.clear();
        self.query = None;
        self.keep_alive = false;
        self.expect_continue = false;
    }
}

/// httparse only hands out token and URI characters, which are ASCII; anything else (which
/// cannot happen) shows as empty rather than panicking.
fn str_of(bytes: &[u8]) -> &str {
    std::str::from_utf8(bytes).unwrap_or("")
}

/// What one `decode` call produced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decoded {
    /// More bytes are needed.
    Partial,
    /// A head asking `Expect: 100-continue` was read and its body is pending: send
    /// `HTTP/1.1 100 Continue` (see [`CONTINUE_RESPONSE`]) and keep feeding.
    Continue,
    /// A message is complete: borrow or take it from the decoder.
    Complete,
}

/// The interim response a server writes on [`Decoded::Continue`].
pub const CONTINUE_RESPONSE: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";

/// The result of one `decode` call: the caller drops `consumed` bytes from its buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// Bytes of the input used; the rest belongs to later calls.
    pub consumed: usize,
    /// What the bytes produced.
    pub decoded: Decoded,
}

/// Where a body decoder is.
///
/// ```text
/// Length ──────────────────────────────────────────────▶ Done
/// ChunkSize ─▶ ChunkData ─▶ ChunkDataEnd ─▶ ChunkSize ─▶ … ─(size 0)─▶ Trailer ─▶ Done
/// UntilClose ─(finish at EOF)─▶ Done
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BodyState {
    Length { remaining: u64 },
    ChunkSize,
    ChunkData { remaining: u64 },
    ChunkDataEnd,
    Trailer { line_bytes: u32 },
    UntilClose,
    Done,
}

/// Decodes a body under a framing, appending to the message's body buffer.
#[derive(Debug, Clone, Copy)]
struct BodyDecoder {
    state: BodyState,
    /// Bytes counted against `body_bytes_max`: the whole body, or with `per_chunk` the
    /// current chunk (an endless stream is bounded piece by piece, not in total).
    body_bytes: u64,
    per_chunk: bool,
}

impl BodyDecoder {
    const DONE: Self = Self {
        state: BodyState::Done,
        body_bytes: 0,
        per_chunk: false,
    };

    fn new(state: BodyState) -> Self {
        Self {
            state,
            body_bytes: 0,
            per_chunk: false,
        }
    }

    fn is_done(&self) -> bool {
        self.state == BodyState::Done
    }

    /// Consumes as much of `input` as the framing allows; returns the bytes used.
    fn decode(
        &mut self,
        input: &[u8],
        body: &mut Vec<u8>,
        limits: &HttpLimits,
    ) -> Result<usize, HttpError> {
        let mut at = 0;
        loop {
            let rest = &input[at..];
            let used = match self.state {
                BodyState::Done => return Ok(at),
                BodyState::Length { remaining } | BodyState::ChunkData { remaining } => {
                    let take = rest
                        .len()
                        .min(usize::try_from(remaining).unwrap_or(usize::MAX));
                    body.extend_from_slice(&rest[..take]);
                    self.state = match (self.state, remaining - take as u64) {
                        (BodyState::Length { .. }, 0) => BodyState::Done,
                        (BodyState::Length { .. }, left) => BodyState::Length { remaining: left },
                        (_, 0) => BodyState::ChunkDataEnd,
                        (_, left) => BodyState::ChunkData { remaining: left },
                    };
                    take
                }
                BodyState::UntilClose => {
                    // Streamed: the caller drains each call, so only collected bodies count.
                    if !self.per_chunk {
                        self.add_body_bytes(rest.len() as u64, limits)?;
                    }
                    body.extend_from_slice(rest);
                    rest.len()
                }
                BodyState::ChunkSize => self.chunk_size(rest, limits)?,
                BodyState::ChunkDataEnd => self.chunk_data_end(rest)?,
                BodyState::Trailer { line_bytes } => self.trailer(rest, line_bytes, limits)?,
            };
            if used == 0 && self.state != BodyState::Done {
                return Ok(at);
            }
            at += used;
        }
    }

    fn add_body_bytes(&mut self, bytes: u64, limits: &HttpLimits) -> Result<(), HttpError> {
        self.body_bytes = self.body_bytes.saturating_add(bytes);
        if self.body_bytes > u64::from(limits.body_bytes_max) {
            return Err(HttpError::BodyTooLarge {
                body_bytes: self.body_bytes,
                body_bytes_max: limits.body_bytes_max,
            });
        }
        Ok(())
    }

    fn chunk_size(&mut self, rest: &[u8], limits: &HttpLimits) -> Result<usize, HttpError> {
        let invalid = HttpError::InvalidChunk {
            reason: "invalid chunk size line",
        };
        match httparse::parse_chunk_size(rest) {
            Err(_) => Err(invalid),
            Ok(httparse::Status::Partial) if rest.len() > CHUNK_SIZE_LINE_BYTES_MAX => Err(invalid),
            Ok(httparse::Status::Partial) => Ok(0),
            Ok(httparse::Status::Complete((used, _))) if used > CHUNK_SIZE_LINE_BYTES_MAX => {
                Err(invalid)
            }
            Ok(httparse::Status::Complete((used, 0))) => {
                self.state = BodyState::Trailer { line_bytes: 0 };
                Ok(used)
            }
            Ok(httparse::Status::Complete((used, size))) => {
                if self.per_chunk {
                    self.body_bytes = 0;
                }
                self.add_body_bytes(size, limits)?;
                self.state = BodyState::ChunkData { remaining: size };
                Ok(used)
            }
        }
    }

    fn chunk_data_end(&mut self, rest: &[u8]) -> Result<usize, HttpError> {
        let invalid = HttpError::InvalidChunk {
            reason: "chunk data not followed by CRLF",
        };
        match rest {
            [] | [b'\r'] => Ok(0),
            [b'\r', b'\n', ..] => {
                self.state = BodyState::ChunkSize;
                Ok(2)
            }
            _ => Err(invalid),
        }
    }

    /// Trailer fields are skipped (nothing in Baton reads them) but count against the head
    /// limit, so a peer cannot stream an endless trailer.
    fn trailer(
        &mut self,
        rest: &[u8],
        line_bytes: u32,
        limits: &HttpLimits,
    ) -> Result<usize, HttpError> {
        let too_large = |bytes: usize| HttpError::HeadersTooLarge {
            header_bytes: saturate_u32(bytes),
            header_bytes_max: limits.header_bytes_max,
        };
        let Some(newline) = rest.iter().position(|&b| b == b'\n') else {
            // A lone CR may begin the final empty line, which does not count against the
            // limit: judging it early would make the verdict depend on how reads split.
            let partial = rest.strip_suffix(b"\r").unwrap_or(rest);
            let seen = line_bytes as usize + partial.len();
            return if seen > limits.header_bytes_max as usize {
                Err(too_large(seen))
            } else {
                Ok(0)
            };
        };
        let line = &rest[..newline];
        if line.is_empty() || line == b"\r" {
            self.state = BodyState::Done;
            return Ok(newline + 1);
        }
        let seen = line_bytes as usize + newline + 1;
        if seen > limits.header_bytes_max as usize {
            return Err(too_large(seen));
        }
        self.state = BodyState::Trailer {
            line_bytes: seen as u32,
        };
        Ok(newline + 1)
    }
}

/// Incremental decoder of a body read piece by piece, which may never end (a server's event
/// stream): data goes to a caller-owned buffer that the caller drains, and each chunk is
/// bounded by `body_bytes_max` while the body as a whole is not. Made by
/// [`StreamedBodyDecoder::chunked`] or, after a head, by [`ResponseDecoder::take_streamed`].
#[derive(Debug)]
pub struct StreamedBodyDecoder {
    limits: HttpLimits,
    body: BodyDecoder,
    failed: Option<HttpError>,
}

impl StreamedBodyDecoder {
    /// A decoder positioned at the first chunk-size line of a chunked body. Panics on invalid
    /// limits.
    pub fn chunked(limits: HttpLimits) -> Self {
        assert!(limits.validate().is_ok(), "invalid HTTP limits: {limits:?}");
        Self::with(limits, BodyDecoder::new(BodyState::ChunkSize))
    }

    fn with(limits: HttpLimits, mut body: BodyDecoder) -> Self {
        body.per_chunk = true;
        Self {
            limits,
            body,
            failed: None,
        }
    }

    /// Decodes from `input`, appending body data to `data`. [`Decoded::Complete`] once the
    /// body is over (last chunk and trailer read, or Content-Length reached); bytes after it
    /// are not consumed. After an error every later call returns the same error.
    pub fn decode(&mut self, input: &[u8], data: &mut Vec<u8>) -> Result<Progress, HttpError> {
        if let Some(error) = self.failed {
            return Err(error);
        }
        match self.body.decode(input, data, &self.limits) {
            Ok(consumed) => {
                assert!(consumed <= input.len());
                let decoded = if self.body.is_done() {
                    Decoded::Complete
                } else {
                    Decoded::Partial
                };
                Ok(Progress { consumed, decoded })
            }
            Err(error) => {
                self.failed = Some(error);
                Err(error)
            }
        }
    }

    /// Tells the decoder the peer closed the connection: the end of a close-delimited body,
    /// an [`HttpError::UnexpectedEof`] for any other unfinished one.
    pub fn finish(&mut self) -> Result<(), HttpError> {
        if self.body.state == BodyState::UntilClose {
            self.body.state = BodyState::Done;
        }
        if let Some(error) = self.failed {
            return Err(error);
        }
        if !self.body.is_done() {
            self.failed = Some(HttpError::UnexpectedEof);
            return Err(HttpError::UnexpectedEof);
        }
        Ok(())
    }

    /// Whether the body is over.
    pub fn is_done(&self) -> bool {
        self.body.is_done()
    }
}

fn saturate_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// Where a [`RequestDecoder`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RequestState {
    /// Waiting for a complete head.
    Head,
    /// Receiving the body of the current request.
    Body,
    /// The current request is complete and still borrowable; the next call starts over.
    Complete,
    /// A previous call failed; the connection must be closed.
    Failed(HttpError),
}

/// Incremental request decoder for one connection. Feed it the unconsumed bytes of your
/// buffer until it says [`Decoded::Complete`], then read the request with
/// [`RequestDecoder::request`] before the next call.
#[derive(Debug)]
pub struct RequestDecoder {
    limits: HttpLimits,
    state: RequestState,
    body: BodyDecoder,
    request: Request,
}

impl RequestDecoder {
    /// A decoder enforcing `limits`. Panics on limits that fail [`HttpLimits::validate`]: the
    /// configuration loader checks them first.
    pub fn new(limits: HttpLimits) -> Self {
        assert!(limits.validate().is_ok(), "invalid HTTP limits: {limits:?}");
        Self {
            limits,
            state: RequestState::Head,
            body: BodyDecoder::DONE,
            request: Request::default(),
        }
    }

    /// The limits this decoder enforces.
    pub fn limits(&self) -> &HttpLimits {
        &self.limits
    }

    /// Whether the decoder is waiting for a head (as opposed to a body).
    pub fn is_reading_head(&self) -> bool {
        matches!(self.state, RequestState::Head | RequestState::Complete)
    }

    /// Decodes from `input`, the caller's unconsumed bytes. After an error every later call
    /// returns the same error: answer `error.status()` and close the connection.
    pub fn decode(&mut self, input: &[u8]) -> Result<Progress, HttpError> {
        match self.decode_inner(input) {
            Ok(progress) => {
                assert!(progress.consumed <= input.len());
                Ok(progress)
            }
            Err(error) => {
                self.state = RequestState::Failed(error);
                Err(error)
            }
        }
    }

    fn decode_inner(&mut self, input: &[u8]) -> Result<Progress, HttpError> {
        let mut consumed = 0;
        match self.state {
            RequestState::Failed(error) => return Err(error),
            RequestState::Complete | RequestState::Head => {
                self.request.clear();
                self.state = RequestState::Head;
                let Some(head_bytes) = self.decode_head(input)? else {
                    return Ok(Progress {
                        consumed: 0,
                        decoded: Decoded::Partial,
                    });
                };
                consumed = head_bytes;
                self.state = RequestState::Body;
                if self.request.expect_continue && !self.body.is_done() {
                    return Ok(Progress {
                        consumed,
                        decoded: Decoded::Continue,
                    });
                }
            }
            RequestState::Body => {}
        }
        consumed += self
            .body
            .decode(&input[consumed..], &mut self.request.body, &self.limits)?;
        if !self.body.is_done() {
            return Ok(Progress {
                consumed,
                decoded: Decoded::Partial,
            });
        }
        self.state = RequestState::Complete;
        Ok(Progress {
            consumed,
            decoded: Decoded::Complete,
        })
    }

    /// The request the last call completed.
    pub fn request(&self) -> &Request {
        debug_assert!(self.state == RequestState::Complete);
        &self.request
    }

    /// Takes the request the last call completed, leaving an empty one behind.
    pub fn take_request(&mut self) -> Request {
        assert!(self.state == RequestState::Complete);
        std::mem::take(&mut self.request)
    }

    /// Parses a complete head into `self.request`; `None` when the head is incomplete.
    fn decode_head(&mut self, input: &[u8]) -> Result<Option<usize>, HttpError> {
        // Uninitialised slots: zeroing 128 of them on every call was 2% of a busy shard.
        let mut slots = [const { MaybeUninit::<httparse::Header<'_>>::uninit() }; HEADERS_CAPACITY];
        let mut parsed = httparse::Request::new(&mut []);
        let slots = &mut slots[..self.limits.headers_max as usize];
        let head_bytes = match parsed.parse_with_uninit_headers(input, slots) {
            Err(error) => return Err(map_parse_error(error, input, &self.limits)),
            Ok(httparse::Status::Partial) => {
                check_head_size(input, input.len(), &self.limits)?;
                return Ok(None);
            }
            Ok(httparse::Status::Complete(head_bytes)) => head_bytes,
        };
        check_head_size(input, head_bytes, &self.limits)?;
        let (Some(method), Some(target), Some(minor)) =
            (parsed.method, parsed.path, parsed.version)
        else {
            return Err(HttpError::Malformed {
                reason: "incomplete request line",
            });
        };
        if target.len() > self.limits.uri_bytes_max as usize {
            return Err(HttpError::UriTooLong {
                uri_bytes: saturate_u32(target.len()),
                uri_bytes_max: self.limits.uri_bytes_max,
            });
        }
        if method.len() > METHOD_BYTES_MAX {
            return Err(HttpError::Malformed {
                reason: "method too long",
            });
        }
        let request = &mut self.request;
        request.head.extend_from_slice(&input[..head_bytes]);
        let head = &input[..head_bytes];
        request.method = Method::from_token(method);
        request.method_span = Span::within(head, method.as_bytes());
        request.version = if minor == 0 {
            Version::Http10
        } else {
            Version::Http11
        };
        let (path, query) = match target.split_once('?') {
            Some((path, query)) => (path, Some(query)),
            None => (target, None),
        };
        request.path = Span::within(head, path.as_bytes());
        request.query = query.map(|query| Span::within(head, query.as_bytes()));
        let framing = read_headers(parsed.headers, head, request)?;
        self.body = framing.body_decoder(&self.limits)?;
        Ok(Some(head_bytes))
    }
}

/// Checks the request line and head against their limits, in the same order whether the head
/// is complete or not, so that splitting the input never changes the verdict.
fn check_head_size(input: &[u8], head_bytes: usize, limits: &HttpLimits) -> Result<(), HttpError> {
    let head = &input[..head_bytes];
    let line_bytes = head.iter().position(|&b| b == b'\n').unwrap_or(head.len());
    if line_bytes > limits.uri_bytes_max as usize + REQUEST_LINE_SLACK_BYTES {
        return Err(HttpError::UriTooLong {
            uri_bytes: saturate_u32(line_bytes),
            uri_bytes_max: limits.uri_bytes_max,
        });
    }
    if head_bytes > limits.header_bytes_max as usize {
        return Err(HttpError::HeadersTooLarge {
            header_bytes: saturate_u32(head_bytes),
            header_bytes_max: limits.header_bytes_max,
        });
    }
    Ok(())
}

fn map_parse_error(error: httparse::Error, input: &[u8], limits: &HttpLimits) -> HttpError {
    match error {
        httparse::Error::TooManyHeaders => HttpError::TooManyHeaders {
            headers_max: limits.headers_max,
        },
        // httparse says "Version" for any bad version token; only a well-formed
        // `HTTP/x.y` with an unsupported number is 505, garbage is 400.
        httparse::Error::Version if looks_like_http_version(input) => HttpError::UnsupportedVersion,
        httparse::Error::Version => HttpError::Malformed {
            reason: "invalid HTTP version",
        },
        httparse::Error::HeaderName => HttpError::Malformed {
            reason: "invalid header name",
        },
        httparse::Error::HeaderValue => HttpError::Malformed {
            reason: "invalid header value",
        },
        httparse::Error::NewLine => HttpError::Malformed {
            reason: "invalid line ending",
        },
        httparse::Error::Status => HttpError::Malformed {
            reason: "invalid status",
        },
        httparse::Error::Token => HttpError::Malformed {
            reason: "invalid token",
        },
    }
}

/// Whether the version token (a request line's third, a status line's first) starts with
/// `HTTP/<digit>`. Only its first six bytes are looked at, because httparse stops at the first
/// bad byte: the verdict must not depend on how much of the line has arrived.
fn looks_like_http_version(input: &[u8]) -> bool {
    let line_end = input
        .iter()
        .position(|&b| b == b'\n')
        .unwrap_or(input.len());
    let mut tokens = input[..line_end].split(|&b| b == b' ');
    let is_version = |token: Option<&[u8]>| match token {
        Some([b'H', b'T', b'T', b'P', b'/', digit, ..]) => digit.is_ascii_digit(),
        _ => false,
    };
    let first = tokens.next();
    is_version(first) || is_version(tokens.nth(1))
}

/// The framing-relevant header fields of one message.
#[derive(Debug, Default)]
struct Framing {
    content_length: Option<u64>,
    chunked: bool,
    close: bool,
    keep_alive: bool,
}

impl Framing {
    fn read(&mut self, name: &str, value: &[u8]) -> Result<bool, HttpError> {
        if name.eq_ignore_ascii_case("content-length") {
            let length = parse_content_length(value)?;
            if self
                .content_length
                .is_some_and(|previous| previous != length)
            {
                return Err(HttpError::ConflictingFraming);
            }
            self.content_length = Some(length);
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            for coding in tokens(value) {
                // Only `chunked` is implemented, and it must come last exactly once.
                if !coding.eq_ignore_ascii_case(b"chunked") {
                    return Err(HttpError::UnsupportedTransferEncoding);
                }
                if self.chunked {
                    return Err(HttpError::Malformed {
                        reason: "chunked applied twice",
                    });
                }
                self.chunked = true;
            }
        } else if name.eq_ignore_ascii_case("connection") {
            self.close |= tokens(value).any(|t| t.eq_ignore_ascii_case(b"close"));
            self.keep_alive |= tokens(value).any(|t| t.eq_ignore_ascii_case(b"keep-alive"));
        } else {
            return Ok(false);
        }
        Ok(true)
    }

    fn keep_alive(&self, version: Version) -> bool {
        match version {
            Version::Http11 => !self.close,
            Version::Http10 => self.keep_alive && !self.close,
        }
    }

    fn body_decoder(&self, limits: &HttpLimits) -> Result<BodyDecoder, HttpError> {
        match (self.chunked, self.content_length) {
            // Both framings at once is the classic request-smuggling vector: refuse.
            (true, Some(_)) => Err(HttpError::ConflictingFraming),
            (true, None) => Ok(BodyDecoder::new(BodyState::ChunkSize)),
            (false, Some(length)) if length > u64::from(limits.body_bytes_max) => {
                Err(HttpError::BodyTooLarge {
                    body_bytes: length,
                    body_bytes_max: limits.body_bytes_max,
                })
            }
            (false, Some(0)) | (false, None) => Ok(BodyDecoder::DONE),
            (false, Some(length)) => Ok(BodyDecoder::new(BodyState::Length { remaining: length })),
        }
    }
}

/// Records header spans into `request` and returns the framing they declare.
fn read_headers(
    headers: &[httparse::Header<'_>],
    head: &[u8],
    request: &mut Request,
) -> Result<Framing, HttpError> {
    let mut framing = Framing::default();
    for header in headers {
        request.headers.push((
            Span::within(head, header.name.as_bytes()),
            Span::within(head, header.value),
        ));
        if !framing.read(header.name, header.value)?
            && header.name.eq_ignore_ascii_case("expect")
            && header.value.eq_ignore_ascii_case(b"100-continue")
        {
            request.expect_continue = request.version == Version::Http11;
        }
    }
    request.keep_alive = framing.keep_alive(request.version);
    Ok(framing)
}

fn parse_content_length(value: &[u8]) -> Result<u64, HttpError> {
    let value = value.trim_ascii();
    // 19 digits always fit a u64; anything longer is far beyond any body limit anyway.
    if value.is_empty() || value.len() > 19 || !value.iter().all(u8::is_ascii_digit) {
        return Err(HttpError::InvalidContentLength);
    }
    Ok(value
        .iter()
        .fold(0u64, |n, &digit| n * 10 + u64::from(digit - b'0')))
}

/// The comma-separated, trimmed, non-empty tokens of a list-valued header field.
fn tokens(value: &[u8]) -> impl Iterator<Item = &[u8]> {
    value
        .split(|&b| b == b',')
        .map(<[u8]>::trim_ascii)
        .filter(|t| !t.is_empty())
}

/// A response to encode (server side) or a decoded response (client side).
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Response {
    /// The status code.
    pub status: u16,
    /// Header fields other than Content-Length, Transfer-Encoding and Connection, which the
    /// encoder writes itself.
    pub headers: Vec<(Cow<'static, str>, Cow<'static, str>)>,
    /// The body.
    pub body: Vec<u8>,
    /// A body that arrives after the head, in pieces (server side only; see
    /// [`Response::stream`]). `None` for every ordinary response: no allocation, one pointer
    /// test in the server.
    pub body_stream: Option<BodyStream>,
}

/// A response with a [`BodyStream`] cannot be cloned (a stream is consumed once); cloning one
/// is a programmer error.
impl Clone for Response {
    fn clone(&self) -> Self {
        assert!(
            self.body_stream.is_none(),
            "a streamed response is not cloneable"
        );
        Self {
            status: self.status,
            headers: self.headers.clone(),
            body: self.body.clone(),
            body_stream: None,
        }
    }
}

impl Response {
    /// An empty response with `status`.
    pub fn new(status: u16) -> Self {
        Self {
            status,
            headers: Vec::new(),
            body: Vec::new(),
            body_stream: None,
        }
    }

    /// A JSON response (`Content-Type: application/json`).
    pub fn json(status: u16, body: Vec<u8>) -> Self {
        Self {
            status,
            headers: vec![(Cow::Borrowed("Content-Type"), JSON_TYPE.into())],
            body,
            body_stream: None,
        }
    }

    /// A response whose body is `body`, written piece by piece as the pieces arrive
    /// (chunked for HTTP/1.1, close-delimited for HTTP/1.0), after which the connection
    /// closes. `status` must allow a body (not 1xx, 204 or 304). Add headers with
    /// [`Response::with_header`]; bytes put in `body` go out as the first piece (e.g. an
    /// event stream's `retry:` line). See [`super::sse::response`] for an event stream.
    pub fn stream(status: u16, body: BodyStream) -> Self {
        assert!(has_body(status), "status {status} has no body");
        Self {
            status,
            headers: Vec::new(),
            body: Vec::new(),
            body_stream: Some(body),
        }
    }

    /// The `{"error": reason, "status": N}` body the server answers errors with.
    pub fn error(status: u16, reason: &str) -> Self {
        let body = serde_json::json!({ "error": reason, "status": status });
        Self::json(status, body.to_string().into_bytes())
    }

    /// Adds a header field.
    pub fn with_header(
        mut self,
        name: impl Into<Cow<'static, str>>,
        value: impl Into<Cow<'static, str>>,
    ) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// The first header field called `name` (ASCII case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| &**v)
    }
}

const JSON_TYPE: &str = "application/json";

/// Header fields the encoders own; a caller copy would contradict the framing.
pub(super) fn is_framing_header(name: &str) -> bool {
    ["content-length", "transfer-encoding", "connection"]
        .iter()
        .any(|f| name.eq_ignore_ascii_case(f))
}

/// Appends `response` to `out` with a Content-Length (none for 1xx, 204 and 304, which have
/// no body) and `Connection: close` when `close`. For a HEAD request, truncate `out` by the
/// body length afterwards.
pub fn encode_response(response: &Response, close: bool, out: &mut Vec<u8>) {
    assert!((100..=999).contains(&response.status));
    debug_assert!(
        response.body_stream.is_none(),
        "streamed: use encode_stream_head"
    );
    let bodiless = !has_body(response.status);
    debug_assert!(!bodiless || response.body.is_empty());
    // Writing into a Vec<u8> cannot fail; the results are ignored deliberately.
    let _ = write!(
        out,
        "HTTP/1.1 {} {}\r\n",
        response.status,
        reason_phrase(response.status)
    );
    for (name, value) in &response.headers {
        debug_assert!(!is_framing_header(name), "encoder-owned header {name}");
        put_header(out, name, value.as_bytes());
    }
    if !bodiless {
        let _ = write!(out, "Content-Length: {}\r\n", response.body.len());
    }
    if close {
        out.extend_from_slice(b"Connection: close\r\n");
    }
    out.extend_from_slice(b"\r\n");
    if !bodiless {
        out.extend_from_slice(&response.body);
    }
}

/// Whether a response with `status` carries a body (and a Content-Length): all but 1xx, 204
/// and 304.
pub fn has_body(status: u16) -> bool {
    status >= 200 && status != 204 && status != 304
}

pub(super) fn put_header(out: &mut Vec<u8>, name: &str, value: &[u8]) {
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b": ");
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
}

/// The reason phrase for `status` (empty for unknown codes, which HTTP/1.1 allows).
pub fn reason_phrase(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        204 => "No Content",
        301 => "Moved Permanently",
        302 => "Found",
        304 => "Not Modified",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        413 => "Content Too Large",
        414 => "URI Too Long",
        415 => "Unsupported Media Type",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        505 => "HTTP Version Not Supported",
        _ => "",
    }
}

/// An outbound request for [`encode_request`].
#[derive(Debug, Clone, Copy)]
pub struct OutboundRequest<'a> {
    /// The method token, e.g. `"POST"`.
    pub method: &'a str,
    /// The request target: path and query, already percent-encoded.
    pub target: &'a str,
    /// The `Host` header value (`host[:port]`).
    pub host: &'a str,
    /// Further header fields (not Content-Length, Transfer-Encoding or Connection).
    pub headers: &'a [(&'a str, &'a str)],
    /// The body; sent with a Content-Length.
    pub body: &'a [u8],
    /// Whether to ask the server to close the connection after answering.
    pub close: bool,
}

/// Appends `request` to `out`. A Content-Length is written whenever there is a body or the
/// method usually carries one, so servers never wait for a body that is not coming.
pub fn encode_request(request: &OutboundRequest<'_>, out: &mut Vec<u8>) {
    assert!(!request.method.is_empty());
    assert!(request.target.starts_with('/') || request.target == "*");
    let _ = write!(out, "{} {} HTTP/1.1\r\n", request.method, request.target);
    put_header(out, "Host", request.host.as_bytes());
    for (name, value) in request.headers {
        debug_assert!(!is_framing_header(name), "encoder-owned header {name}");
        put_header(out, name, value.as_bytes());
    }
    let bodiless_method = matches!(request.method, "GET" | "HEAD" | "DELETE" | "OPTIONS");
    if !request.body.is_empty() || !bodiless_method {
        let _ = write!(out, "Content-Length: {}\r\n", request.body.len());
    }
    if request.close {
        out.extend_from_slice(b"Connection: close\r\n");
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(request.body);
}

/// Incremental response decoder for one outbound request at a time.
#[derive(Debug)]
pub struct ResponseDecoder {
    limits: HttpLimits,
    head_request: bool,
    reading_head: bool,
    failed: Option<HttpError>,
    body: BodyDecoder,
    keep_alive: bool,
    response: Response,
    /// Complete at the end of the head; the body is read with [`StreamedBodyDecoder`].
    streamed: bool,
}

impl ResponseDecoder {
    /// A decoder for the response to one request; `head_request` when it was a HEAD (whose
    /// response has no body whatever its headers say). Panics on invalid limits.
    pub fn new(limits: HttpLimits, head_request: bool) -> Self {
        assert!(limits.validate().is_ok(), "invalid HTTP limits: {limits:?}");
        Self {
            limits,
            head_request,
            reading_head: true,
            failed: None,
            body: BodyDecoder::DONE,
            keep_alive: false,
            response: Response::default(),
            streamed: false,
        }
    }

    /// A decoder whose `decode` is [`Decoded::Complete`] at the end of the head, for a body
    /// read piece by piece: take the head and the body's decoder with
    /// [`ResponseDecoder::take_streamed`]. Panics on invalid limits.
    pub fn streamed(limits: HttpLimits) -> Self {
        Self {
            streamed: true,
            ..Self::new(limits, false)
        }
    }

    /// Takes the head (with an empty body) of a [`ResponseDecoder::streamed`] decoder's
    /// complete head, and the decoder for the body its framing declares.
    pub fn take_streamed(&mut self) -> (Response, StreamedBodyDecoder) {
        assert!(self.streamed);
        assert!(!self.reading_head);
        let body = StreamedBodyDecoder::with(self.limits, self.body);
        self.body = BodyDecoder::DONE;
        (std::mem::take(&mut self.response), body)
    }

    /// Decodes from `input`; interim (1xx) responses are consumed and skipped. Once
    /// [`Decoded::Complete`], take the response with [`ResponseDecoder::take_response`].
    pub fn decode(&mut self, input: &[u8]) -> Result<Progress, HttpError> {
        if let Some(error) = self.failed {
            return Err(error);
        }
        let result = self.decode_inner(input);
        if let Err(error) = result {
            self.failed = Some(error);
        }
        result
    }

    fn decode_inner(&mut self, input: &[u8]) -> Result<Progress, HttpError> {
        let mut consumed = 0;
        while self.reading_head {
            match self.decode_head(&input[consumed..])? {
                None => {
                    return Ok(Progress {
                        consumed,
                        decoded: Decoded::Partial,
                    })
                }
                Some(head_bytes) => consumed += head_bytes,
            }
        }
        if self.streamed {
            return Ok(Progress {
                consumed,
                decoded: Decoded::Complete,
            });
        }
        let body = &mut self.response.body;
        consumed += self.body.decode(&input[consumed..], body, &self.limits)?;
        let decoded = if self.body.is_done() {
            Decoded::Complete
        } else {
            Decoded::Partial
        };
        Ok(Progress { consumed, decoded })
    }

    /// Tells the decoder the peer closed the connection; completes a read-to-close body.
    pub fn finish(&mut self) -> Result<Decoded, HttpError> {
        if let Some(error) = self.failed {
            return Err(error);
        }
        if !self.reading_head && self.body.state == BodyState::UntilClose {
            self.body.state = BodyState::Done;
        }
        if self.reading_head || !self.body.is_done() {
            self.failed = Some(HttpError::UnexpectedEof);
            return Err(HttpError::UnexpectedEof);
        }
        Ok(Decoded::Complete)
    }

    /// Whether the connection may carry another request once this response is complete.
    pub fn keep_alive(&self) -> bool {
        self.keep_alive
    }

    /// Takes the complete response.
    pub fn take_response(&mut self) -> Response {
        assert!(!self.reading_head);
        assert!(self.body.is_done());
        std::mem::take(&mut self.response)
    }

    fn decode_head(&mut self, input: &[u8]) -> Result<Option<usize>, HttpError> {
        let mut slots = [httparse::EMPTY_HEADER; HEADERS_CAPACITY];
        let mut parsed = httparse::Response::new(&mut slots[..self.limits.headers_max as usize]);
        let head_bytes = match parsed.parse(input) {
            Err(error) => return Err(map_parse_error(error, input, &self.limits)),
            Ok(httparse::Status::Partial) => {
                check_head_size(input, input.len(), &self.limits)?;
                return Ok(None);
            }
            Ok(httparse::Status::Complete(head_bytes)) => head_bytes,
        };
        check_head_size(input, head_bytes, &self.limits)?;
        let (Some(status), Some(minor)) = (parsed.code, parsed.version) else {
            return Err(HttpError::Malformed {
                reason: "incomplete status line",
            });
        };
        if (100..200).contains(&status) && status != 101 {
            return Ok(Some(head_bytes)); // Interim: the final response follows.
        }
        let version = if minor == 0 {
            Version::Http10
        } else {
            Version::Http11
        };
        let mut framing = Framing::default();
        self.response.status = status;
        self.response.headers.clear();
        for header in parsed.headers.iter() {
            if !framing.read(header.name, header.value)? {
                let value = String::from_utf8_lossy(header.value).into_owned();
                self.response
                    .headers
                    .push((header.name.to_owned().into(), value.into()));
            }
        }
        self.reading_head = false;
        self.keep_alive = framing.keep_alive(version);
        let bodiless = self.head_request || !has_body(status);
        self.body = if bodiless {
            BodyDecoder::DONE
        } else if framing.chunked || framing.content_length.is_some() {
            framing.body_decoder(&self.limits)?
        } else {
            self.keep_alive = false; // The body ends when the connection does.
            BodyDecoder::new(BodyState::UntilClose)
        };
        Ok(Some(head_bytes))
    }
}

#[cfg(test)]
#[path = "codec_tests.rs"]
mod tests;
