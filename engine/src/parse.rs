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

/// "No node" in the children lists.
const NONE: u32 = u32::MAX;

/// A range of the tree's string buffer; read it with [`Tree::str`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Span {
    /// First byte.
    pub start: u32,
    /// One past the last byte.
    pub end: u32,
}

/// Index of an element in [`Tree`]; document order, the root is 0.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ElemIdx(pub u32);

/// One element.
#[derive(Clone, Debug)]
pub struct Element {
    /// The qualified name as written (`prefix:local` or `local`).
    pub qname: Span,
    /// The local name.
    pub local: Span,
    /// The namespace URI, an index for [`Tree::namespace_uri`]; 0 is "no namespace".
    pub namespace: u32,
    /// This element's attributes in [`Tree::attributes`] order.
    pub attributes: Range<u32>,
    /// The parent element; `None` for the root.
    pub parent: Option<ElemIdx>,
    /// One past the last descendant element: descendants are `self+1 .. subtree_end`.
    pub subtree_end: u32,
    /// Source bytes from `<` of the start tag to `>` of the end tag (inclusive).
    pub outer: Range<u32>,
    /// Source bytes between the start tag and the end tag (empty for `<x/>`).
    pub inner: Range<u32>,
    /// Where the start tag begins.
    pub position: Position,
    first_child: u32,
    last_child: u32,
}

/// One attribute, value decoded.
#[derive(Clone, Debug)]
pub struct Attribute {
    /// The qualified name as written.
    pub qname: Span,
    /// The local name.
    pub local: Span,
    /// The namespace URI index (0: no namespace, as for every unprefixed attribute).
    pub namespace: u32,
    /// The value: entities decoded, whitespace normalised as XML requires.
    pub value: Span,
    /// Where the attribute name begins.
    pub position: Position,
}

#[derive(Clone, Copy, Debug)]
enum NodeKind {
    Element(ElemIdx),
    Text(Span),
}

#[derive(Clone, Copy, Debug)]
struct Node {
    kind: NodeKind,
    next: u32,
}

/// A child of an element.
#[derive(Clone, Copy, Debug)]
pub enum Child<'t> {
    /// A child element.
    Element(ElemIdx),
    /// A run of character data (text, entities and CDATA merged; comments skipped).
    Text(&'t str),
}

/// A parsed document.
#[derive(Clone, Debug, Default)]
pub struct Tree {
    strings: String,
    elements: Vec<Element>,
    attributes: Vec<Attribute>,
    nodes: Vec<Node>,
    namespaces: Vec<Box<str>>,
}

/// Iterator over the children of an element, in document order.
#[derive(Clone, Debug)]
pub struct Children<'t> {
    tree: &'t Tree,
    next: u32,
}

impl<'t> Iterator for Children<'t> {
    type Item = Child<'t>;

    fn next(&mut self) -> Option<Child<'t>> {
        let node = self.tree.nodes.get(self.next as usize)?;
        self.next = node.next;
        Some(match node.kind {
            NodeKind::Element(e) => Child::Element(e),
            NodeKind::Text(span) => Child::Text(self.tree.str(span)),
        })
    }
}

impl Tree {
    /// The root element.
    pub fn root(&self) -> ElemIdx {
        assert!(!self.elements.is_empty());
        ElemIdx(0)
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        self.elements.len()
    }

    /// True if the tree has no element (never true for a tree returned by [`parse`]).
    pub fn is_empty(&self) -> bool {
        self.elements.is_empty()
    }

    /// The element at `e`.
    pub fn element(&self, e: ElemIdx) -> &Element {
        &self.elements[e.0 as usize]
    }

    /// The text of a span.
    pub fn str(&self, span: Span) -> &str {
        self.strings
            .get(span.start as usize..span.end as usize)
            .unwrap_or("")
    }

    /// The qualified name of an element.
    pub fn name(&self, e: ElemIdx) -> &str {
        self.str(self.element(e).qname)
    }

    /// The local name of an element.
    pub fn local_name(&self, e: ElemIdx) -> &str {
        self.str(self.element(e).local)
    }

    /// The namespace URI of an element ("" for none).
    pub fn namespace(&self, e: ElemIdx) -> &str {
        self.namespace_uri(self.element(e).namespace)
    }

    /// The URI of a namespace index ("" for index 0).
    pub fn namespace_uri(&self, namespace: u32) -> &str {
        self.namespaces
            .get(namespace as usize)
            .map_or("", |uri| uri)
    }

    /// All attributes of an element, in document order.
    pub fn attributes(&self, e: ElemIdx) -> &[Attribute] {
        let range = &self.element(e).attributes;
        &self.attributes[range.start as usize..range.end as usize]
    }

    /// The unprefixed (no namespace) attribute `local` of an element.
    pub fn attribute(&self, e: ElemIdx, local: &str) -> Option<&Attribute> {
        self.attributes(e)
            .iter()
            .find(|a| a.namespace == 0 && a.qname == a.local && self.str(a.local) == local)
    }

    /// The children of an element.
    pub fn children(&self, e: ElemIdx) -> Children<'_> {
        Children {
            tree: self,
            next: self.element(e).first_child,
        }
    }

    /// The child elements of an element.
    pub fn child_elements(&self, e: ElemIdx) -> impl Iterator<Item = ElemIdx> + '_ {
        self.children(e).filter_map(|child| match child {
            Child::Element(c) => Some(c),
            Child::Text(_) => None,
        })
    }

    /// The concatenated character data of an element's own text children.
    pub fn text(&self, e: ElemIdx) -> String {
        let mut text = String::new();
        for child in self.children(e) {
            if let Child::Text(t) = child {
                text.push_str(t);
            }
        }
        text
    }
}

/// Incremental byte offset to line:column conversion. Offsets are asked for in (almost)
/// increasing order, so each byte is scanned about once; a backwards request restarts.
/// Gives the same answer as [`Position::of_offset`] without its cost per call.
struct Positions<'i> {
    text: &'i str,
    offset: usize,
    position: Position,
}

impl<'i> Positions<'i> {
    fn new(text: &'i str) -> Self {
        Positions {
            text,
            offset: 0,
            position: Position { line: 1, column: 1 },
        }
    }

    fn at(&mut self, offset: usize) -> Position {
        let offset = offset.min(self.text.len());
        if offset < self.offset {
            self.offset = 0;
            self.position = Position { line: 1, column: 1 };
        }
        let Some(gap) = self.text.get(self.offset..offset) else {
            return Position::of_offset(self.text, offset);
        };
        // Columns count characters: every byte but UTF-8 continuation bytes starts one.
        for b in gap.bytes() {
            if b == b'\n' {
                self.position.line = self.position.line.saturating_add(1);
                self.position.column = 1;
            } else if b & 0xC0 != 0x80 {
                self.position.column = self.position.column.saturating_add(1);
            }
        }
        self.offset = offset;
        self.position
    }
}

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

/// In-scope namespace declarations: a stack of URIs for the default namespace and one per
/// prefix, so resolving a name costs at most one hash lookup however many declarations are
/// in scope (quick-xml's own resolver searches them linearly).
#[derive(Default)]
struct Scopes {
    default: Vec<u32>,
    prefixed: HashMap<Box<str>, Vec<u32>>,
    /// Prefixes declared by the open elements, innermost last ("" for the default).
    declared: Vec<Box<str>>,
    /// `declared.len()` when each open element started.
    marks: Vec<usize>,
}

impl Scopes {
    fn open(&mut self) {
        self.marks.push(self.declared.len());
    }

    fn declare(&mut self, prefix: &str, namespace: u32) {
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

    fn close(&mut self) {
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
    fn resolve(&self, prefix: &str) -> Option<u32> {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(text: &str) -> Tree {
        match parse(text, "t.xml", &Limits::default()) {
            Ok(tree) => tree,
            Err(error) => panic!("{error}"),
        }
    }

    fn error(text: &str, limits: &Limits) -> CompileError {
        match parse(text, "t.xml", limits) {
            Ok(_) => panic!("parsed: {text}"),
            Err(error) => error,
        }
    }

    #[test]
    fn elements_attributes_and_text() {
        let src = "<a xmlns='urn:x' k=' v\n1 &amp; &#65;'>t &lt; <![CDATA[<c>]]><!--x-->u\
                   <p:b xmlns:p='urn:p'/><c/></a>";
        let t = tree(src);
        let root = t.root();
        assert_eq!(t.name(root), "a");
        assert_eq!(t.namespace(root), "urn:x");
        let k = t.attribute(root, "k").map(|a| t.str(a.value));
        assert_eq!(k, Some(" v 1 & A"));
        assert_eq!(t.text(root), "t < <c>u");
        let kids: Vec<ElemIdx> = t.child_elements(root).collect();
        assert_eq!(kids.len(), 2);
        assert_eq!(t.name(kids[0]), "p:b");
        assert_eq!(t.local_name(kids[0]), "b");
        assert_eq!(t.namespace(kids[0]), "urn:p");
        assert_eq!(t.namespace(kids[1]), "urn:x");
        let b = t.element(kids[0]);
        assert_eq!(
            &src[b.outer.start as usize..b.outer.end as usize],
            "<p:b xmlns:p='urn:p'/>"
        );
        assert_eq!(t.element(root).subtree_end, 3);
        let inner = &t.element(root).inner;
        assert!(src[inner.start as usize..inner.end as usize].ends_with("<c/>"));
    }

    #[test]
    fn positions_match_of_offset() {
        let src = "<?xml version='1.0'?>\n<a>\n  <é/><b\n   x='1'/>\r\n<c/></a>";
        let t = tree(src);
        for e in t.elements.iter() {
            assert_eq!(e.position, Position::of_offset(src, e.outer.start as usize));
        }
        let b = t
            .child_elements(t.root())
            .nth(1)
            .map(|b| t.attributes(b)[0].position);
        assert_eq!(b, Some(Position { line: 4, column: 4 }));
    }

    #[test]
    fn malformed_xml_has_a_position() {
        let e = error("<a>\n  <b></c>\n</a>", &Limits::default());
        assert!(matches!(e.kind, CompileErrorKind::Xml { .. }), "{e}");
        assert_eq!(e.position.line, 2);
        let e = error("<a>\n<b>", &Limits::default());
        assert_eq!(e.position, Position { line: 2, column: 1 }, "{e}");
        let e = error("<a>&nope;</a>", &Limits::default());
        assert_eq!(e.position, Position { line: 1, column: 4 }, "{e}");
        let e = error("<a/><b/>", &Limits::default());
        assert_eq!(e.position, Position { line: 1, column: 5 }, "{e}");
        let e = error("<a/>x", &Limits::default());
        assert!(matches!(e.kind, CompileErrorKind::Xml { .. }), "{e}");
        assert!(parse(
            "\u{feff}<?xml version='1.0'?><a/>\n",
            "t",
            &Limits::default()
        )
        .is_ok());
        let e = error("", &Limits::default());
        assert!(matches!(e.kind, CompileErrorKind::Xml { .. }), "{e}");
        let e = error("<q:a/>", &Limits::default());
        assert!(matches!(e.kind, CompileErrorKind::Xml { .. }), "{e}");
    }

    #[test]
    fn namespaces_and_duplicates() {
        let src =
            "<a xmlns='urn:a' xmlns:p='urn:p'><p:b p:x='1' y='2'><c xmlns='' xmlns:p='urn:q'>\
                   <p:d/></c></p:b><e xml:lang='en'/></a>";
        let t = tree(src);
        let ns: Vec<&str> = (0..t.len() as u32)
            .map(|e| t.namespace(ElemIdx(e)))
            .collect();
        assert_eq!(ns, ["urn:a", "urn:p", "", "urn:q", "urn:a"]);
        let b = t.attributes(ElemIdx(1));
        assert_eq!(
            (t.namespace_uri(b[0].namespace), b[1].namespace),
            ("urn:p", 0)
        );
        let lang = t.attributes(ElemIdx(4))[0].namespace;
        assert_eq!(t.namespace_uri(lang), XML_NS);
        let e = error("<a>\n <b x='1' y='2' x='3'/></a>", &Limits::default());
        assert_eq!(
            e.position,
            Position {
                line: 2,
                column: 17
            },
            "{e}"
        );
        let e = error("<a xmlns:p=''/>", &Limits::default());
        assert!(matches!(e.kind, CompileErrorKind::Xml { .. }), "{e}");
        let e = error("<a><p:b xmlns:p='urn:p'/><p:c/></a>", &Limits::default());
        assert_eq!(
            e.position,
            Position {
                line: 1,
                column: 26
            },
            "{e}"
        );
    }

    #[test]
    fn adversarial_inputs_stay_linear() {
        let mut many_attributes = String::from("<a");
        for i in 0..50_000 {
            many_attributes.push_str(&format!(" a{i}='{i}'"));
        }
        many_attributes.push_str("/>");
        let mut many_namespaces = String::from("<a");
        for i in 0..20_000 {
            many_namespaces.push_str(&format!(" xmlns:p{i}='urn:{i}'"));
        }
        many_namespaces.push('>');
        for i in 0..20_000 {
            many_namespaces.push_str(&format!("<p{i}:b p0:c='1'/>"));
        }
        many_namespaces.push_str("</a>");
        let long_line = "<a>".to_string() + &"<b x='1'/>".repeat(100_000) + "</a>";
        for text in [many_attributes, many_namespaces, long_line] {
            let start = std::time::Instant::now();
            let parsed = parse(&text, "t", &Limits::default());
            assert!(parsed.is_ok());
            let elapsed = start.elapsed();
            assert!(elapsed < std::time::Duration::from_secs(2), "{elapsed:?}");
        }
    }

    #[test]
    fn limits() {
        let limits = Limits {
            depth_max: 3,
            ..Limits::default()
        };
        assert!(parse("<a><b><c/></b></a>", "t", &limits).is_ok());
        let e = error("<a><b><c><d/></c></b></a>", &limits);
        assert_eq!(
            e.kind,
            CompileErrorKind::Limit {
                what: "nesting levels",
                limit: 3
            }
        );
        assert_eq!(
            e.position,
            Position {
                line: 1,
                column: 10
            }
        );
        let limits = Limits {
            document_bytes_max: 4,
            ..Limits::default()
        };
        let e = error("<a></a>", &limits);
        assert_eq!(
            e.kind,
            CompileErrorKind::TooLarge {
                bytes: 7,
                bytes_max: 4
            }
        );
    }
}
