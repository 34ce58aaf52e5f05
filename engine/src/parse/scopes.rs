//! Namespace declarations in scope while parsing.

use std::collections::HashMap;

/// In-scope namespace declarations: a stack of URIs for the default namespace and one per
/// prefix, so resolving a name costs at most one hash lookup however many declarations are
/// in scope (quick-xml's own resolver searches them linearly).
#[derive(Default)]
pub(super) struct Scopes {
    default: Vec<u32>,
    prefixed: HashMap<Box<str>, Vec<u32>>,
    /// Prefixes declared by the open elements, innermost last ("" for the default).
    declared: Vec<Box<str>>,
    /// `declared.len()` when each open element started.
    marks: Vec<usize>,
}

impl Scopes {
    pub(super) fn open(&mut self) {
        self.marks.push(self.declared.len());
    }

    pub(super) fn declare(&mut self, prefix: &str, namespace: u32) {
        match prefix {
            "" => self.default.push(namespace),
            _ => self
                .prefixed
                .entry(prefix.into())
                .or_default()
                .push(namespace),
        }
        self.declared.push(prefix.into());
    }

    pub(super) fn close(&mut self) {
        let mark = self.marks.pop().unwrap_or(0);
        for prefix in self.declared.drain(mark..) {
            let uris = match &*prefix {
                "" => Some(&mut self.default),
                _ => self.prefixed.get_mut(&prefix),
            };
            if let Some(uris) = uris {
                uris.pop();
            }
        }
    }

    /// The namespace index bound to `prefix` ("" for the default namespace, which is
    /// "no namespace" when undeclared); `None` if the prefix is not declared.
    pub(super) fn resolve(&self, prefix: &str) -> Option<u32> {
        match prefix {
            "" => Some(self.default.last().copied().unwrap_or(0)),
            _ => self
                .prefixed
                .get(prefix)
                .and_then(|uris| uris.last())
                .copied(),
        }
    }
}
