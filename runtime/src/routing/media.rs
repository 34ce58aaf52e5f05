//! Media: the built-in channels plus the configured open media, as small integer ids.

use std::fmt;

/// The built-in media, in id order.
pub const BUILTIN_MEDIA: [&str; 6] = ["voice", "chat", "email", "sms", "fax", "workitem"];

/// A medium's id in one router: the index of its name (built-in first, then
/// `RouterConfig::media_extra` in order).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MediaId(pub u8);

impl MediaId {
    /// The id as an index into per-media arrays.
    pub fn index(self) -> usize {
        self.0 as usize
    }

    /// The id's bit in a per-media mask.
    pub(crate) fn bit(self) -> u64 {
        1 << self.0
    }
}

impl fmt::Display for MediaId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "media {}", self.0)
    }
}

/// The media names of one router.
#[derive(Debug)]
pub(crate) struct MediaTable {
    names: Vec<Box<str>>,
}

impl MediaTable {
    /// Built-in media followed by `extra` (already validated).
    pub fn new(extra: &[String]) -> MediaTable {
        let builtin = BUILTIN_MEDIA.iter().map(|name| Box::from(*name));
        let names: Vec<Box<str>> = builtin
            .chain(extra.iter().map(|n| Box::from(n.as_str())))
            .collect();
        assert!(names.len() <= super::limits::MEDIA_MAX);
        MediaTable { names }
    }

    pub fn find(&self, name: &str) -> Option<MediaId> {
        let index = self.names.iter().position(|known| &**known == name)?;
        Some(MediaId(index as u8))
    }

    /// Panics on an id this table did not give out (a programmer error).
    pub fn name(&self, media: MediaId) -> &str {
        &self.names[media.index()]
    }

    pub fn len(&self) -> usize {
        self.names.len()
    }

    pub fn contains(&self, media: MediaId) -> bool {
        media.index() < self.names.len()
    }

    pub fn ids(&self) -> impl Iterator<Item = MediaId> {
        (0..self.names.len() as u8).map(MediaId)
    }
}

/// The media ids whose bits are set in `mask`, lowest first.
pub(crate) fn media_in(mask: u64) -> impl Iterator<Item = MediaId> {
    let mut rest = mask;
    std::iter::from_fn(move || {
        if rest == 0 {
            return None;
        }
        let bit = rest.trailing_zeros();
        rest &= rest - 1;
        Some(MediaId(bit as u8))
    })
}
