//! Framing SIP messages on a stream (TCP, TLS; RFC 3261 §18.3): the header section ends at
//! the first empty line and Content-Length, mandatory on streams, gives the body.
//!
//! Framing is separate from parsing: a message whose boundaries are sure (an empty line and
//! one valid Content-Length) but whose content is malformed is reported as
//! [`Framed::Invalid`] and the connection lives on (the caller may answer it with a 400);
//! only a stream whose next boundary cannot be trusted is an error, after which the
//! connection must be closed. The decoder's verdict never depends on how reads split the
//! stream (fuzzed by `tests/fuzz/fuzz_targets/sip_stream.rs`).

use super::error::{SipError, SipLimits};
use super::message::Message;
use super::parse::add_content_length;
use super::syntax::{find_head_end, name_is, Fields, Lines};

/// What one [`SipStreamDecoder::decode`] call found at the start of the buffered bytes.
/// The caller drops the consumed bytes from its buffer and calls again until
/// [`Framed::Need`].
#[derive(Debug, PartialEq)]
pub enum Framed {
    /// A whole message, and the bytes it took.
    Message(Message, usize),
    /// A message whose framing is sound but whose content does not parse: drop `consumed`
    /// bytes; `salvage_for_response(&buffered[..consumed])` may allow a 400 (or 505, 513,
    /// see [`SipError::status`]) to be answered before dropping them.
    Invalid {
        /// Why it does not parse.
        error: SipError,
        /// The bytes it took.
        consumed: usize,
    },
    /// CR / LF bytes between messages (keep-alives, RFC 3261 §7.5): drop them.
    Skip(usize),
    /// A double-CRLF keep-alive ping completed in these bytes (RFC 5626 §4.4.1): drop them
    /// and answer with a single CRLF pong.
    Ping(usize),
    /// No whole message yet: read more bytes and call again.
    Need,
}

/// Frames SIP messages on one stream connection. State between calls: where the search
/// for the end of the header section resumes, the length of a message whose header
/// section is complete, and the progress of a CRLF ping; so the caller must pass the
/// same unconsumed bytes (plus new ones) on every call.
#[derive(Debug)]
pub struct SipStreamDecoder {
    limits: SipLimits,
    /// Where the search for the end of the header section resumes.
    searched: usize,
    /// The whole length of the message whose header section was read, if any.
    pending: Option<usize>,
    /// How much of a `CR LF CR LF` ping has been consumed (0 to 3 bytes).
    ping: u8,
    /// The error every call returns once the stream is broken.
    failed: Option<SipError>,
}

impl SipStreamDecoder {
    /// A decoder for a new connection.
    pub fn new(limits: SipLimits) -> Self {
        Self {
            limits,
            searched: 0,
            pending: None,
            ping: 0,
            failed: None,
        }
    }

    /// Looks at the buffered bytes (the unconsumed ones, from the start). `Err` when the
    /// stream is broken: a message over `message_bytes_max` (or a header section that does
    /// not end within it), a body over `body_bytes_max`, or a missing, invalid or
    /// conflicting Content-Length. The connection must then be closed; every later call
    /// returns the same error.
    pub fn decode(&mut self, buffered: &[u8]) -> Result<Framed, SipError> {
        if let Some(error) = self.failed {
            return Err(error);
        }
        let result = self.decode_inner(buffered);
        if let Err(error) = result {
            self.failed = Some(error);
        }
        result
    }

    fn decode_inner(&mut self, buffered: &[u8]) -> Result<Framed, SipError> {
        if let Some(total) = self.pending {
            return Ok(self.complete(buffered, total));
        }
        if matches!(buffered.first(), Some(b'\r' | b'\n')) {
            return Ok(self.skip_line_ends(buffered));
        }
        debug_assert!(self.searched <= buffered.len());
        let body_start = match find_head_end(buffered, self.searched) {
            Ok(body_start) => body_start,
            Err(resume) => {
                self.searched = resume;
                self.check_size(buffered.len())?;
                return Ok(Framed::Need);
            }
        };
        self.check_size(body_start)?;
        let body_bytes = self.body_bytes(&buffered[..body_start])?;
        let total = body_start + body_bytes;
        self.check_size(total)?;
        self.pending = Some(total);
        Ok(self.complete(buffered, total))
    }

    /// The message of `total` bytes once it is all buffered.
    fn complete(&mut self, buffered: &[u8], total: usize) -> Framed {
        if buffered.len() < total {
            return Framed::Need;
        }
        self.searched = 0;
        self.pending = None;
        self.ping = 0;
        match Message::parse(&buffered[..total], &self.limits) {
            Ok(message) => Framed::Message(message, total),
            Err(error) => Framed::Invalid {
                error,
                consumed: total,
            },
        }
    }

    /// Consumes CR / LF bytes, stopping just after a completed `CR LF CR LF` ping.
    fn skip_line_ends(&mut self, buffered: &[u8]) -> Framed {
        for (at, &byte) in buffered.iter().enumerate() {
            self.ping = match (self.ping, byte) {
                (0 | 2, b'\r') => self.ping + 1,
                (1, b'\n') => 2,
                (3, b'\n') => {
                    self.ping = 0;
                    return Framed::Ping(at + 1);
                }
                (_, b'\r') => 1,
                (_, b'\n') => 0,
                _ => return Framed::Skip(at),
            };
        }
        Framed::Skip(buffered.len())
    }

    fn check_size(&self, bytes: usize) -> Result<(), SipError> {
        let limit = self.limits.message_bytes_max;
        if bytes > limit as usize {
            return Err(SipError::TooLarge {
                limit,
                actual: bytes as u64,
            });
        }
        Ok(())
    }

    /// The body length a header section declares, read leniently (a field that does not
    /// parse is skipped here and reported by the parser as [`Framed::Invalid`]).
    fn body_bytes(&self, head: &[u8]) -> Result<usize, SipError> {
        let mut lines = Lines::new(head);
        lines.next();
        let mut declared = None;
        for field in Fields::new(lines, 2).filter(|field| !field.orphan) {
            let Some((name, value)) = field.split() else {
                continue;
            };
            if std::str::from_utf8(name).is_ok_and(|name| name_is(name, "Content-Length")) {
                declared = add_content_length(declared, value)?;
            }
        }
        let declared = declared.ok_or(SipError::MissingContentLength)?;
        let limit = self.limits.body_bytes_max;
        if declared > u64::from(limit) {
            return Err(SipError::BodyTooLarge {
                limit,
                actual: declared,
            });
        }
        // Checked against a u32 limit just above.
        Ok(declared as usize)
    }
}
