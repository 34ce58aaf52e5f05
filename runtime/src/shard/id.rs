//! Shard and session ids. A session id carries its home shard, so routing an event to a
//! session is a pure function of the id, with no directory to consult or share.

use std::fmt;
use std::str::FromStr;

use crate::config::{SESSIONS_PER_SHARD_MAX, SHARDS_MAX};

/// A shard: one executor pinned to one core. Shard `i` runs on the `i`-th configured core.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ShardId(pub u16);

impl ShardId {
    /// The index, for indexing per-shard arrays.
    pub fn index(self) -> usize {
        usize::from(self.0)
    }
}

impl fmt::Display for ShardId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A session, unique across shards and across reuse of its slot.
///
/// Bit layout of the `u64`, most significant first:
///
/// ```text
///  63        52 51                      24 23                    0
/// +------------+--------------------------+-----------------------+
/// | shard (12) |     generation (28)      |       slot (24)       |
/// +------------+--------------------------+-----------------------+
/// ```
///
/// `slot` indexes the home shard's session table; `generation` counts how often that slot
/// was reused, so an id kept after its session ended cannot reach the slot's next
/// occupant (until the generation wraps, after 2^28 reuses of one slot).
///
/// Text form (`Display`/`FromStr`), used as `_sessionid` and in the HTTP API: 13
/// characters of lowercase Crockford base32 (`0-9a-z` without `i l o u`), fixed width,
/// URL-safe, one spelling per id.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SessionId(u64);

impl SessionId {
    /// Bits of the slot index.
    pub const SLOT_BITS: u32 = 24;
    /// Bits of the slot's generation.
    pub const GENERATION_BITS: u32 = 28;
    /// Bits of the home shard.
    pub const SHARD_BITS: u32 = 12;
    /// Largest generation; the next one wraps to 0.
    pub const GENERATION_MAX: u32 = (1 << Self::GENERATION_BITS) - 1;
    /// Characters in the text form.
    pub const TEXT_LEN: usize = 13;

    /// The id of `slot` in its `generation` on `shard`.
    pub fn new(shard: ShardId, slot: u32, generation: u32) -> SessionId {
        assert!(u32::from(shard.0) < 1 << Self::SHARD_BITS);
        assert!(slot < 1 << Self::SLOT_BITS);
        assert!(generation <= Self::GENERATION_MAX);
        let shard_bits = u64::from(shard.0) << (Self::GENERATION_BITS + Self::SLOT_BITS);
        let generation_bits = u64::from(generation) << Self::SLOT_BITS;
        SessionId(shard_bits | generation_bits | u64::from(slot))
    }

    /// The home shard: where the session lives and where its events must go.
    pub fn shard(self) -> ShardId {
        // The top 12 bits: the cast is exact.
        ShardId((self.0 >> (Self::GENERATION_BITS + Self::SLOT_BITS)) as u16)
    }

    /// The slot in the home shard's session table.
    pub fn slot(self) -> u32 {
        (self.0 & ((1 << Self::SLOT_BITS) - 1)) as u32
    }

    /// The slot's generation when the session was admitted.
    pub fn generation(self) -> u32 {
        ((self.0 >> Self::SLOT_BITS) & u64::from(Self::GENERATION_MAX)) as u32
    }

    /// The raw value (for storage and wire formats of fixed width).
    pub fn to_u64(self) -> u64 {
        self.0
    }

    /// An id from its raw value; every `u64` is a well-formed id.
    pub fn from_u64(raw: u64) -> SessionId {
        SessionId(raw)
    }
}

// Every configurable bound must fit the bits the id gives it.
const _: () =
    assert!(SessionId::SHARD_BITS + SessionId::GENERATION_BITS + SessionId::SLOT_BITS == 64);
const _: () = assert!(SESSIONS_PER_SHARD_MAX as u64 <= 1 << SessionId::SLOT_BITS);
const _: () = assert!(SHARDS_MAX as u64 <= 1 << SessionId::SHARD_BITS);
const _: () = assert!(SessionId::TEXT_LEN as u32 * BASE32_BITS >= 64);

/// Crockford's base32 alphabet, lowercase: no `i`, `l`, `o`, `u` to misread.
const ALPHABET: &[u8; 32] = b"0123456789abcdefghjkmnpqrstvwxyz";
const BASE32_BITS: u32 = 5;

impl SessionId {
    /// The text form, ASCII in a stack buffer: what `Display` writes, without allocating
    /// (an id is looked up by its text on every cross-shard event).
    pub fn encode(self) -> [u8; SessionId::TEXT_LEN] {
        let mut text = [0u8; SessionId::TEXT_LEN];
        for (index, byte) in text.iter_mut().enumerate() {
            let shift = BASE32_BITS * (SessionId::TEXT_LEN - 1 - index) as u32;
            *byte = ALPHABET[((self.0 >> shift) & 31) as usize];
        }
        text
    }
}

impl fmt::Display for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = self.encode();
        f.write_str(std::str::from_utf8(&text).expect("the alphabet is ASCII"))
    }
}

/// Why a text is not a session id.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ParseSessionIdError {
    /// Not 13 characters long.
    Length {
        /// Bytes found.
        found: usize,
    },
    /// A character outside the lowercase base32 alphabet.
    Character {
        /// Its byte position.
        position: usize,
    },
    /// Thirteen characters that encode more than 64 bits (first character above `f`).
    Overflow,
}

impl fmt::Display for ParseSessionIdError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParseSessionIdError::Length { found } => write!(
                f,
                "a session id has {} characters, found {found}",
                SessionId::TEXT_LEN
            ),
            ParseSessionIdError::Character { position } => {
                write!(
                    f,
                    "a session id has no such character at position {position}"
                )
            }
            ParseSessionIdError::Overflow => write!(f, "a session id is at most 64 bits"),
        }
    }
}

impl std::error::Error for ParseSessionIdError {}

impl FromStr for SessionId {
    type Err = ParseSessionIdError;

    fn from_str(text: &str) -> Result<SessionId, ParseSessionIdError> {
        let bytes = text.as_bytes();
        if bytes.len() != SessionId::TEXT_LEN {
            return Err(ParseSessionIdError::Length { found: bytes.len() });
        }
        // The first character carries only the top 4 bits (13 × 5 = 65).
        let mut value: u64 = 0;
        for (position, &byte) in bytes.iter().enumerate() {
            let Some(digit) = ALPHABET.iter().position(|&letter| letter == byte) else {
                return Err(ParseSessionIdError::Character { position });
            };
            if position == 0 && digit >= 16 {
                return Err(ParseSessionIdError::Overflow);
            }
            value = (value << BASE32_BITS) | digit as u64;
        }
        Ok(SessionId(value))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_round_trip() {
        let id = SessionId::new(ShardId(4095), (1 << 24) - 1, SessionId::GENERATION_MAX);
        assert_eq!(id.shard(), ShardId(4095));
        assert_eq!(id.slot(), (1 << 24) - 1);
        assert_eq!(id.generation(), SessionId::GENERATION_MAX);
        assert_eq!(id.to_u64(), u64::MAX);
        let id = SessionId::new(ShardId(1), 7, 3);
        assert_eq!((id.shard(), id.slot(), id.generation()), (ShardId(1), 7, 3));
        assert_eq!(SessionId::from_u64(id.to_u64()), id);
    }

    #[test]
    fn text_round_trips() {
        let samples = [0, 1, 31, 32, 0x0123_4567_89ab_cdef, u64::MAX, 1 << 63];
        for raw in samples {
            let id = SessionId::from_u64(raw);
            let text = id.to_string();
            assert_eq!(text.len(), SessionId::TEXT_LEN);
            assert_eq!(text.parse::<SessionId>(), Ok(id), "{text}");
        }
        assert_eq!(SessionId::from_u64(0).to_string(), "0000000000000");
        assert_eq!(SessionId::from_u64(u64::MAX).to_string(), "fzzzzzzzzzzzz");
        assert_eq!(SessionId::from_u64(33).to_string(), "0000000000011");
    }

    #[test]
    fn parse_errors() {
        let parse = |text: &str| text.parse::<SessionId>();
        assert_eq!(parse(""), Err(ParseSessionIdError::Length { found: 0 }));
        assert_eq!(
            parse("00000000000000"),
            Err(ParseSessionIdError::Length { found: 14 })
        );
        let upper = parse("000000000000A");
        assert_eq!(upper, Err(ParseSessionIdError::Character { position: 12 }));
        let misreadable = parse("00000i0000000");
        assert_eq!(
            misreadable,
            Err(ParseSessionIdError::Character { position: 5 })
        );
        assert_eq!(parse("g000000000000"), Err(ParseSessionIdError::Overflow));
        assert_eq!(
            parse("abc").unwrap_err().to_string(),
            "a session id has 13 characters, found 3"
        );
    }
}
