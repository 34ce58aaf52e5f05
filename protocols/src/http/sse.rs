//! Server-Sent Events (`text/event-stream`, WHATWG HTML §9.2): an encoder for the server side
//! and a sans-IO incremental decoder ([`SseDecoder`]) for tests and the load generator.
//!
//! The decoder takes bytes split anywhere (a CR at the end of one read and its LF at the start
//! of the next is one line end) and never panics on input: it is fuzzed
//! (`tests/fuzz/fuzz_targets/sse.rs`). Its memory is bounded by `event_bytes_max`.

use std::fmt;

use super::body_stream::BodyStream;
use super::codec::Response;

/// The keep-alive comment: an empty comment line and the blank line that ends it. Proxies and
/// clients that time out silent connections see traffic; event listeners see nothing.
pub const KEEP_ALIVE: &[u8] = b":\n\n";

/// The media type of an event stream.
pub const CONTENT_TYPE: &str = "text/event-stream";

/// A `200` event-stream response over `events`: `Content-Type: text/event-stream` and
/// `Cache-Control: no-cache` (an intermediary must not store or coalesce the stream).
pub fn response(events: BodyStream) -> Response {
    Response::stream(200, events)
        .with_header("Content-Type", CONTENT_TYPE)
        .with_header("Cache-Control", "no-cache")
}

/// One event, encoded: `event: NAME` (left out when `name` is empty, which listeners see as
/// `message`), one `data:` line per line of `data` (split at CRLF, LF or CR, as the decoder
/// joins them), and the blank line that dispatches it.
pub fn event(name: &str, data: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(name.len() + data.len() + 16);
    write_event(name, data, &mut out);
    out
}

/// [`event`] into a caller-owned buffer. `name` must not contain CR or LF (it is a
/// programmer-chosen token, and a line break in it would forge fields).
pub fn write_event(name: &str, data: &str, out: &mut Vec<u8>) {
    assert!(!name.contains(['\r', '\n']), "event name with a line break");
    if !name.is_empty() {
        out.extend_from_slice(b"event: ");
        out.extend_from_slice(name.as_bytes());
        out.push(b'\n');
    }
    for line in Lines(Some(data.as_bytes())) {
        out.extend_from_slice(b"data: ");
        out.extend_from_slice(line);
        out.push(b'\n');
    }
    out.push(b'\n');
}

/// The lines of an event's data, split at CRLF, LF or CR; an empty string is one empty line
/// (so an event with empty data still has its `data:` field and is dispatched).
struct Lines<'a>(Option<&'a [u8]>);

impl<'a> Iterator for Lines<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        let rest = self.0?;
        let Some(end) = rest.iter().position(|&b| b == b'\r' || b == b'\n') else {
            self.0 = None;
            return Some(rest);
        };
        let skip = if rest[end..].starts_with(b"\r\n") {
            2
        } else {
            1
        };
        self.0 = Some(&rest[end + skip..]);
        Some(&rest[..end])
    }
}

/// One dispatched event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SseEvent {
    /// The `event:` field, or `message` when there was none.
    pub name: String,
    /// The `data:` lines joined by LF.
    pub data: String,
    /// The last event id seen on the stream so far (the `id:` field persists across events).
    pub id: String,
}

/// Why a stream was refused by the decoder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SseError {
    /// An event (its fields so far plus the current line) exceeds the decoder's bound.
    EventTooLarge {
        /// Bytes held when the bound was crossed.
        event_bytes: u64,
        /// The bound.
        event_bytes_max: u32,
    },
}

impl fmt::Display for SseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::EventTooLarge {
                event_bytes,
                event_bytes_max,
            } => write!(
                f,
                "event too large: {event_bytes} bytes, limit {event_bytes_max}"
            ),
        }
    }
}

impl std::error::Error for SseError {}

/// Incremental event-stream decoder: bytes in, events out. Lines end at CRLF, LF or CR;
/// lines starting with `:` are comments (counted, see [`SseDecoder::comments`]); a blank
/// line dispatches the event if it has data. Unknown fields are ignored, as the standard
/// says; `retry:` is read into [`SseDecoder::retry_ms`].
#[derive(Debug)]
pub struct SseDecoder {
    event_bytes_max: u32,
    /// The current line, without its terminator.
    line: Vec<u8>,
    /// The previous input ended with CR: an LF first in the next input belongs to it.
    after_cr: bool,
    /// The stream's very first bytes may be a UTF-8 byte-order mark, which is skipped.
    at_start: bool,
    name: Vec<u8>,
    data: Vec<u8>,
    id: String,
    retry_ms: Option<u64>,
    comments: u64,
    failed: Option<SseError>,
}

/// The UTF-8 byte-order mark, skipped at the start of a stream.
const BOM: &[u8] = b"\xEF\xBB\xBF";

impl SseDecoder {
    /// A decoder that refuses events (or single lines) longer than `event_bytes_max`.
    pub fn new(event_bytes_max: u32) -> Self {
        assert!(event_bytes_max > 0);
        Self {
            event_bytes_max,
            line: Vec::new(),
            after_cr: false,
            at_start: true,
            name: Vec::new(),
            data: Vec::new(),
            id: String::new(),
            retry_ms: None,
            comments: 0,
            failed: None,
        }
    }

    /// Comment lines seen (keep-alives are comments).
    pub fn comments(&self) -> u64 {
        self.comments
    }

    /// The reconnection time the server asked for with `retry:`, if any.
    pub fn retry_ms(&self) -> Option<u64> {
        self.retry_ms
    }

    /// Consumes all of `input`, appending each completed event to `events`. A partial line
    /// or event is kept for the next call. After an error every later call returns it.
    pub fn decode(&mut self, input: &[u8], events: &mut Vec<SseEvent>) -> Result<(), SseError> {
        if let Some(error) = self.failed {
            return Err(error);
        }
        let mut rest = input;
        if self.after_cr && !rest.is_empty() {
            self.after_cr = false;
            if rest[0] == b'\n' {
                rest = &rest[1..];
            }
        }
        while !rest.is_empty() {
            let Some(end) = rest.iter().position(|&b| b == b'\r' || b == b'\n') else {
                self.line.extend_from_slice(rest);
                self.check_size()?;
                break;
            };
            self.line.extend_from_slice(&rest[..end]);
            self.check_size()?;
            let after = &rest[end + 1..];
            rest = match (rest[end], after.first()) {
                (b'\r', Some(b'\n')) => &after[1..],
                (b'\r', None) => {
                    self.after_cr = true;
                    after
                }
                _ => after,
            };
            self.take_line(events);
        }
        Ok(())
    }

    fn check_size(&mut self) -> Result<(), SseError> {
        let held = self.line.len() + self.data.len() + self.name.len();
        if held > self.event_bytes_max as usize {
            let error = SseError::EventTooLarge {
                event_bytes: held as u64,
                event_bytes_max: self.event_bytes_max,
            };
            self.failed = Some(error);
            return Err(error);
        }
        Ok(())
    }

    /// Interprets the completed line in `self.line`, then clears it.
    fn take_line(&mut self, events: &mut Vec<SseEvent>) {
        let mut line = std::mem::take(&mut self.line);
        if self.at_start {
            self.at_start = false;
            if line.starts_with(BOM) {
                line.drain(..BOM.len());
            }
        }
        if line.is_empty() {
            self.dispatch(events);
        } else if line[0] == b':' {
            self.comments += 1;
        } else {
            let (field, value) = match line.iter().position(|&b| b == b':') {
                Some(colon) => {
                    let value = &line[colon + 1..];
                    (&line[..colon], value.strip_prefix(b" ").unwrap_or(value))
                }
                None => (&line[..], &[][..]),
            };
            self.field(field, value);
        }
        line.clear();
        self.line = line; // Keeps the line buffer's capacity.
    }

    fn field(&mut self, field: &[u8], value: &[u8]) {
        match field {
            b"event" => {
                self.name.clear();
                self.name.extend_from_slice(value);
            }
            b"data" => {
                self.data.extend_from_slice(value);
                self.data.push(b'\n');
            }
            b"id" if !value.contains(&0) => {
                self.id = String::from_utf8_lossy(value).into_owned();
            }
            b"retry" if !value.is_empty() && value.iter().all(u8::is_ascii_digit) => {
                self.retry_ms = value.iter().try_fold(0u64, |n, &digit| {
                    n.checked_mul(10)?.checked_add(u64::from(digit - b'0'))
                });
            }
            _ => {}
        }
    }

    fn dispatch(&mut self, events: &mut Vec<SseEvent>) {
        if self.data.is_empty() {
            self.name.clear();
            return;
        }
        self.data.pop(); // The LF after the last data line.
        let name = if self.name.is_empty() {
            "message".to_owned()
        } else {
            String::from_utf8_lossy(&self.name).into_owned()
        };
        events.push(SseEvent {
            name,
            data: String::from_utf8_lossy(&self.data).into_owned(),
            id: self.id.clone(),
        });
        self.name.clear();
        self.data.clear();
    }
}

#[cfg(test)]
#[path = "sse_tests.rs"]
mod tests;
