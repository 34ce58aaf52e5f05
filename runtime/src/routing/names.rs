//! Interned names (skills, groups) and the syntax of names and agent ids.

use std::collections::HashMap;

use super::limits::{AGENT_ID_BYTES_MAX, NAME_BYTES_MAX};

/// A bounded table of names to dense `u32` ids. Names are only added by agent profiles;
/// target lists look names up without inserting, so junk targets cannot grow it.
#[derive(Debug)]
pub(crate) struct Interner {
    ids: HashMap<Box<str>, u32>,
    names: Vec<Box<str>>,
    max: u32,
}

impl Interner {
    pub fn new(max: u32) -> Interner {
        Interner {
            ids: HashMap::new(),
            names: Vec::new(),
            max,
        }
    }

    pub fn lookup(&self, name: &str) -> Option<u32> {
        self.ids.get(name).copied()
    }

    /// How many of `names` (distinct) are not interned yet.
    pub fn missing<'a>(&self, names: impl Iterator<Item = &'a str>) -> usize {
        names.filter(|name| !self.ids.contains_key(*name)).count()
    }

    /// Whether `count` more names fit.
    pub fn has_room(&self, count: usize) -> bool {
        self.names.len() + count <= self.max as usize
    }

    /// Interns `name`; the caller checked [`Interner::has_room`] first.
    pub fn intern(&mut self, name: &str) -> u32 {
        if let Some(id) = self.ids.get(name) {
            return *id;
        }
        assert!(self.names.len() < self.max as usize);
        let id = self.names.len() as u32;
        self.names.push(Box::from(name));
        self.ids.insert(Box::from(name), id);
        id
    }

    pub fn name(&self, id: u32) -> &str {
        &self.names[id as usize]
    }

    pub fn len(&self) -> u32 {
        self.names.len() as u32
    }
}

/// A character allowed in skill, group and media names.
pub(crate) fn is_name_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_' || c == '-' || c == '.'
}

/// A skill, group or media name: 1 to `NAME_BYTES_MAX` bytes of name characters.
pub(crate) fn is_name(text: &str) -> bool {
    !text.is_empty() && text.len() <= NAME_BYTES_MAX && text.chars().all(is_name_char)
}

/// A character allowed in an agent id: anything a target list can carry after `agent:`.
pub(crate) fn is_agent_id_char(c: char) -> bool {
    c != ',' && !c.is_whitespace() && !c.is_control()
}

/// An agent id: 1 to `AGENT_ID_BYTES_MAX` bytes, no comma, whitespace or control character.
pub(crate) fn is_agent_id(text: &str) -> bool {
    !text.is_empty() && text.len() <= AGENT_ID_BYTES_MAX && text.chars().all(is_agent_id_char)
}
