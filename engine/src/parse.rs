//! quick-xml to a generic element tree with byte ranges and line:column positions.
//!
//! The tree is flat so that a document costs a handful of allocations rather than several
//! per element: elements in document (pre-)order in one vector, each element's children as
//! a singly linked list of nodes, and every name, attribute value and text in one string
//! buffer. Each element keeps its byte range in the source, so the compiler can keep inline
//! XML content (`<content>`, `<data>`) as the author wrote it.
//!
//! The parser never recurses over input depth: open elements live on an explicit stack,
//! bounded by [`Limits::depth_max`]. Documents over [`Limits::document_bytes_max`] are
//! refused before parsing. Entities are decoded (the five predefined ones and character
//! references), CDATA becomes text, line ends are normalised, and attribute values get the
//! XML whitespace normalisation.

use std::borrow::Cow;
use std::collections::HashMap;
use std::ops::Range;

use quick_xml::escape::{resolve_predefined_entity, unescape};
use quick_xml::events::{BytesRef, BytesStart, Event};
use quick_xml::name::QName;
use quick_xml::Reader;

use crate::error::{CompileError, CompileErrorKind, Position};
use crate::limits::Limits;

mod positions;
mod scopes;
#[cfg(test)]
mod tests;
mod tree;

pub use tree::{Attribute, Child, Children, ElemIdx, Element, Span, Tree};

use positions::Positions;
use scopes::Scopes;
use tree::{Node, NodeKind, NONE};

/// Converts a length or offset to the tree's `u32`. The tree never holds more bytes than the
/// source, and the source is at most `u32::MAX` bytes ([`Limits::document_bytes_max`]).
fn to_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// Parses `text` into a tree. `file` names the document in errors.
pub fn parse(text: &str, file: &str, limits: &Limits) -> Result<Tree, CompileError> {
    if text.len() > limits.document_bytes_max as usize {
        return Err(CompileError {
            file: file.to_string(),
            position: Position { line: 1, column: 1 },
            kind: CompileErrorKind::TooLarge {
                bytes: text.len() as u64,
                bytes_max: limits.document_bytes_max,
            },
        });
    }
    let mut reader = Reader::from_str(text);
    reader.config_mut().trim_text(false);
    reader.config_mut().check_end_names = true;
    let mut builder = Builder::new(text, file, limits);
    loop {
        let begin = reader.buffer_position() as usize;
        let event = match reader.read_event() {
            Ok(event) => event,
            Err(error) => {
                let at = reader.error_position() as usize;
                return Err(builder.xml_error(at, error.to_string()));
            }
        };
        let after = reader.buffer_position() as usize;
        match event {
            Event::Start(start) => builder.open(&start, begin..after)?,
            Event::Empty(start) => {
                builder.open(&start, begin..after)?;
                builder.close(after, after)?;
            }
            Event::End(_) => builder.close(begin, after)?,
            Event::Text(t) => builder.text(t.xml10_content(), begin)?,
            Event::CData(t) => builder.text(t.xml10_content(), begin)?,
            Event::GeneralRef(r) => builder.reference(&r, begin)?,
            Event::Eof => return builder.finish(),
            Event::Comment(_) | Event::Decl(_) | Event::PI(_) | Event::DocType(_) => {}
        }
    }
}

/// The URI the `xml` prefix is bound to without a declaration.
const XML_NS: &str = "http://www.w3.org/XML/1998/namespace";

/// The URI of `xmlns:prefix` attributes (namespace declarations).
const XMLNS_NS: &str = "http://www.w3.org/2000/xmlns/";

/// Attributes of one element compared pairwise for duplicates; past this, a hash set.
const ATTRIBUTES_LINEAR_MAX: usize = 16;

/// The parser's state: the tree being built and the stack of open elements.
struct Builder<'i> {
    tree: Tree,
    stack: Vec<ElemIdx>,
    scopes: Scopes,
    namespace_ids: HashMap<Box<str>, u32>,
    positions: Positions<'i>,
    text: &'i str,
    file: &'i str,
    depth_max: u16,
}

impl<'i> Builder<'i> {
    fn new(text: &'i str, file: &'i str, limits: &Limits) -> Self {
        let mut tree = Tree::default();
        tree.strings.reserve(text.len() / 2);
        tree.elements.reserve(text.len() / 64);
        tree.nodes.reserve(text.len() / 32);
        let mut builder = Builder {
            tree,
            stack: Vec::with_capacity(usize::from(limits.depth_max.min(256))),
            scopes: Scopes::default(),
            namespace_ids: HashMap::new(),
            positions: Positions::new(text),
            text,
            file,
            depth_max: limits.depth_max,
        };
        let none = builder.intern("");
        let xml = builder.intern(XML_NS);
        builder.scopes.declare("xml", xml);
        let xmlns = builder.intern(XMLNS_NS);
        builder.scopes.declare("xmlns", xmlns);
        assert!(none == 0);
        builder
    }

    fn error(&mut self, offset: usize, kind: CompileErrorKind) -> CompileError {
        CompileError {
            file: self.file.to_string(),
            position: self.positions.at(offset),
            kind,
        }
    }

    fn xml_error(&mut self, offset: usize, message: String) -> CompileError {
        self.error(offset, CompileErrorKind::Xml { message })
    }

    fn xml_error_at(&self, position: Position, message: String) -> CompileError {
        let kind = CompileErrorKind::Xml { message };
        CompileError {
            file: self.file.to_string(),
            position,
            kind,
        }
    }

    /// The index of a namespace URI in [`Tree::namespaces`].
    fn intern(&mut self, uri: &str) -> u32 {
        if let Some(&id) = self.namespace_ids.get(uri) {
            return id;
        }
        let id = to_u32(self.tree.namespaces.len());
        self.tree.namespaces.push(uri.into());
        self.namespace_ids.insert(uri.into(), id);
        id
    }

    fn push_str(&mut self, s: &str) -> Span {
        let start = to_u32(self.tree.strings.len());
        self.tree.strings.push_str(s);
        Span {
            start,
            end: to_u32(self.tree.strings.len()),
        }
    }

    /// Copies a qualified name; returns it and its local part.
    fn push_name(&mut self, name: QName<'_>, offset: usize) -> Result<(Span, Span), CompileError> {
        let Some(name) = self.source_str(name.0) else {
            return Err(self.xml_error(offset, "name is not valid UTF-8".into()));
        };
        let qname = self.push_str(name);
        let prefix = name
            .bytes()
            .position(|b| b == b':')
            .map_or(0, |colon| colon + 1);
        Ok((
            qname,
            Span {
                start: qname.start + to_u32(prefix),
                end: qname.end,
            },
        ))
    }

    /// Appends a node as the last child of the innermost open element.
    fn link(&mut self, kind: NodeKind) {
        let Some(&parent) = self.stack.last() else {
            return;
        };
        let node = to_u32(self.tree.nodes.len());
        self.tree.nodes.push(Node { kind, next: NONE });
        let last = self.tree.elements[parent.0 as usize].last_child;
        if last == NONE {
            self.tree.elements[parent.0 as usize].first_child = node;
        } else {
            self.tree.nodes[last as usize].next = node;
        }
        self.tree.elements[parent.0 as usize].last_child = node;
    }

    fn open(&mut self, start: &BytesStart<'_>, tag: Range<usize>) -> Result<(), CompileError> {
        if self.stack.len() >= usize::from(self.depth_max) {
            let limit = self.depth_max.into();
            let kind = CompileErrorKind::Limit {
                what: "nesting levels",
                limit,
            };
            return Err(self.error(tag.start, kind));
        }
        if self.stack.is_empty() && !self.tree.elements.is_empty() {
            return Err(self.xml_error(tag.start, "more than one root element".into()));
        }
        let position = self.positions.at(tag.start);
        let (qname, local) = self.push_name(start.name(), tag.start)?;
        self.scopes.open();
        let attributes = self.attributes(start, tag.start)?;
        let namespace = self.namespace_of(qname, position)?;
        let idx = ElemIdx(to_u32(self.tree.elements.len()));
        self.tree.elements.push(Element {
            qname,
            local,
            namespace,
            attributes,
            parent: self.stack.last().copied(),
            subtree_end: idx.0 + 1,
            outer: to_u32(tag.start)..to_u32(tag.end),
            inner: to_u32(tag.end)..to_u32(tag.end),
            position,
            first_child: NONE,
            last_child: NONE,
        });
        self.link(NodeKind::Element(idx));
        self.stack.push(idx);
        Ok(())
    }

    /// Resolves the prefix of an element or prefixed attribute name (an unprefixed
    /// element is in the default namespace).
    fn namespace_of(&self, qname: Span, position: Position) -> Result<u32, CompileError> {
        let name = self.tree.str(qname);
        let prefix = name.split_once(':').map_or("", |(prefix, _)| prefix);
        match self.scopes.resolve(prefix) {
            Some(namespace) => Ok(namespace),
            None => {
                let message = format!("unknown namespace prefix '{prefix}'");
                Err(self.xml_error_at(position, message))
            }
        }
    }

    /// Reads, decodes and stores the attributes of a start tag, declaring the namespaces
    /// they declare, then resolves their prefixes and rejects duplicates.
    fn attributes(
        &mut self,
        start: &BytesStart<'_>,
        tag_start: usize,
    ) -> Result<Range<u32>, CompileError> {
        let first = self.tree.attributes.len();
        let mut attributes = start.attributes();
        attributes.with_checks(false);
        for attribute in attributes {
            let attribute = match attribute {
                Ok(a) => a,
                Err(error) => return Err(self.xml_error(tag_start, error.to_string())),
            };
            let offset = self.offset_of(attribute.key.0).unwrap_or(tag_start);
            let (qname, local) = self.push_name(attribute.key, offset)?;
            let value = match self.source_str(&attribute.value).map(attribute_value) {
                Some(Ok(value)) => self.push_str(&value),
                Some(Err(message)) => return Err(self.xml_error(offset, message)),
                None => return Err(self.xml_error(offset, "value is not valid UTF-8".into())),
            };
            self.declaration(qname, value, offset)?;
            let position = self.positions.at(offset);
            let namespace = 0;
            self.tree.attributes.push(Attribute {
                qname,
                local,
                namespace,
                value,
                position,
            });
        }
        for a in first..self.tree.attributes.len() {
            let qname = self.tree.attributes[a].qname;
            if self.tree.str(qname).contains(':') {
                let position = self.tree.attributes[a].position;
                self.tree.attributes[a].namespace = self.namespace_of(qname, position)?;
            }
        }
        self.duplicates(first)?;
        Ok(to_u32(first)..to_u32(self.tree.attributes.len()))
    }

    /// Declares the namespace if the attribute is `xmlns` or `xmlns:prefix`.
    fn declaration(&mut self, qname: Span, value: Span, offset: usize) -> Result<(), CompileError> {
        let name = self.tree.str(qname);
        let uri = self.tree.str(value);
        let prefix = match name.strip_prefix("xmlns") {
            Some("") => "",
            Some(rest) => match rest.strip_prefix(':') {
                Some(prefix) => prefix,
                None => return Ok(()),
            },
            None => return Ok(()),
        };
        if !prefix.is_empty() && (uri.is_empty() || prefix == "xmlns" || prefix == "xml") {
            let message = format!("invalid namespace declaration '{name}=\"{uri}\"'");
            return Err(self.xml_error(offset, message));
        }
        let (prefix, uri) = (prefix.to_string(), uri.to_string());
        let namespace = self.intern(&uri);
        self.scopes.declare(&prefix, namespace);
        Ok(())
    }

    /// Rejects an element whose attributes (from index `first`) repeat a name.
    fn duplicates(&self, first: usize) -> Result<(), CompileError> {
        let all = &self.tree.attributes[first..];
        let name = |a: &Attribute| self.tree.str(a.qname);
        let duplicate = if all.len() <= ATTRIBUTES_LINEAR_MAX {
            (1..all.len()).find(|&i| all[..i].iter().any(|b| name(b) == name(&all[i])))
        } else {
            let mut seen = std::collections::HashSet::with_capacity(all.len());
            (0..all.len()).find(|&i| !seen.insert(name(&all[i])))
        };
        let Some(i) = duplicate else { return Ok(()) };
        let message = format!("duplicate attribute '{}'", name(&all[i]));
        Err(self.xml_error_at(all[i].position, message))
    }

    /// A slice of the input as text: found in the source when borrowed from it (no UTF-8
    /// check needed, only char boundaries), decoded otherwise.
    fn source_str<'s>(&self, slice: &'s [u8]) -> Option<&'s str>
    where
        'i: 's,
    {
        match self.offset_of(slice) {
            Some(offset) => self.text.get(offset..offset + slice.len()),
            None => std::str::from_utf8(slice).ok(),
        }
    }

    /// The offset in the source of a slice borrowed from it (quick-xml borrows names from
    /// the input when reading from a string).
    fn offset_of(&self, slice: &[u8]) -> Option<usize> {
        let offset = (slice.as_ptr() as usize).checked_sub(self.text.as_ptr() as usize)?;
        (offset < self.text.len()).then_some(offset)
    }

    fn close(&mut self, end_tag: usize, after: usize) -> Result<(), CompileError> {
        let Some(idx) = self.stack.pop() else {
            return Err(self.xml_error(end_tag, "end tag without a start tag".into()));
        };
        self.scopes.close();
        let subtree_end = to_u32(self.tree.elements.len());
        let element = &mut self.tree.elements[idx.0 as usize];
        element.inner.end = to_u32(end_tag).max(element.inner.start);
        element.outer.end = to_u32(after);
        element.subtree_end = subtree_end;
        Ok(())
    }

    fn text<E: std::fmt::Display>(
        &mut self,
        text: Result<std::borrow::Cow<'_, str>, E>,
        offset: usize,
    ) -> Result<(), CompileError> {
        match text {
            Ok(text) => self.push_text(&text, offset),
            Err(error) => Err(self.xml_error(offset, error.to_string())),
        }
    }

    /// Adds character data to the innermost open element, merging with a text node that
    /// ends where the buffer ends (text split by entities, CDATA or comments).
    fn push_text(&mut self, text: &str, offset: usize) -> Result<(), CompileError> {
        let Some(&parent) = self.stack.last() else {
            if text.trim().is_empty() {
                return Ok(());
            }
            return Err(self.xml_error(offset, "text outside the root element".into()));
        };
        let end = to_u32(self.tree.strings.len());
        let last = self.tree.elements[parent.0 as usize].last_child;
        if let Some(node) = self.tree.nodes.get_mut(last as usize) {
            if let NodeKind::Text(span) = &mut node.kind {
                if span.end == end {
                    self.tree.strings.push_str(text);
                    span.end = to_u32(self.tree.strings.len());
                    return Ok(());
                }
            }
        }
        let span = self.push_str(text);
        self.link(NodeKind::Text(span));
        Ok(())
    }

    /// Decodes `&name;` or `&#n;` in character data.
    fn reference(&mut self, reference: &BytesRef<'_>, offset: usize) -> Result<(), CompileError> {
        match reference.resolve_char_ref() {
            Ok(Some(c)) => return self.push_text(c.encode_utf8(&mut [0; 4]), offset),
            Ok(None) => {}
            Err(error) => return Err(self.xml_error(offset, error.to_string())),
        }
        let name = String::from_utf8_lossy(reference);
        match resolve_predefined_entity(&name) {
            Some(text) => self.push_text(text, offset),
            None => Err(self.xml_error(offset, format!("unknown entity '&{name};'"))),
        }
    }

    fn finish(mut self) -> Result<Tree, CompileError> {
        if let Some(&open) = self.stack.last() {
            let offset = self.tree.element(open).outer.start as usize;
            let name = self.tree.name(open).to_string();
            return Err(self.xml_error(offset, format!("element <{name}> is not closed")));
        }
        if self.tree.elements.is_empty() {
            return Err(self.xml_error(self.text.len(), "no root element".into()));
        }
        Ok(self.tree)
    }
}

/// Decodes an attribute value: XML whitespace normalisation (each tab, line feed, carriage
/// return or CR LF pair becomes one space), then entity and character references.
fn attribute_value(raw: &str) -> Result<Cow<'_, str>, String> {
    if !raw
        .bytes()
        .any(|b| matches!(b, b'&' | b'\t' | b'\n' | b'\r'))
    {
        return Ok(Cow::Borrowed(raw));
    }
    let mut normalised = String::with_capacity(raw.len());
    let mut chars = raw.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\r' => {
                if chars.peek() == Some(&'\n') {
                    chars.next();
                }
                normalised.push(' ');
            }
            '\n' | '\t' => normalised.push(' '),
            c => normalised.push(c),
        }
    }
    match unescape(&normalised) {
        Ok(value) => Ok(Cow::Owned(value.into_owned())),
        Err(error) => Err(error.to_string()),
    }
}
