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

use std::collections::HashMap;
use std::ops::Range;

use quick_xml::escape::{resolve_predefined_entity, unescape};
use quick_xml::events::{BytesRef, BytesStart, Event};
use quick_xml::name::{QName, ResolveResult};
use quick_xml::NsReader;

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
        for c in gap.chars() {
            if c == '\n' {
                self.position.line = self.position.line.saturating_add(1);
                self.position.column = 1;
            } else {
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
    let mut reader = NsReader::from_str(text);
    reader.config_mut().trim_text(false);
    reader.config_mut().check_end_names = true;
    let mut builder = Builder::new(text, file, limits);
    loop {
        let begin = reader.buffer_position() as usize;
        let (resolved, event) = match reader.read_resolved_event() {
            Ok(pair) => pair,
            Err(error) => {
                let at = reader.error_position() as usize;
                return Err(builder.xml_error(at, error.to_string()));
            }
        };
        let namespace = builder.intern(resolved, begin)?;
        let after = reader.buffer_position() as usize;
        match event {
            Event::Start(start) => builder.open(&reader, namespace, &start, begin..after)?,
            Event::Empty(start) => {
                builder.open(&reader, namespace, &start, begin..after)?;
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

/// The parser's state: the tree being built and the stack of open elements.
struct Builder<'i> {
    tree: Tree,
    stack: Vec<ElemIdx>,
    namespace_ids: HashMap<Box<str>, u32>,
    positions: Positions<'i>,
    text: &'i str,
    file: &'i str,
    depth_max: u16,
}

impl<'i> Builder<'i> {
    fn new(text: &'i str, file: &'i str, limits: &Limits) -> Self {
        let mut tree = Tree::default();
        tree.namespaces.push("".into());
        tree.strings.reserve(text.len() / 2);
        tree.elements.reserve(text.len() / 64);
        tree.nodes.reserve(text.len() / 32);
        Builder {
            tree,
            stack: Vec::with_capacity(usize::from(limits.depth_max.min(256))),
            namespace_ids: HashMap::new(),
            positions: Positions::new(text),
            text,
            file,
            depth_max: limits.depth_max,
        }
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

    /// Turns a resolved namespace into an index of [`Tree::namespaces`].
    fn intern(&mut self, resolved: ResolveResult<'_>, offset: usize) -> Result<u32, CompileError> {
        let uri = match resolved {
            ResolveResult::Unbound => return Ok(0),
            ResolveResult::Bound(ns) => ns.0,
            ResolveResult::Unknown(prefix) => {
                let prefix = String::from_utf8_lossy(&prefix).into_owned();
                return Err(self.xml_error(offset, format!("unknown namespace prefix '{prefix}'")));
            }
        };
        let uri = String::from_utf8_lossy(uri);
        if let Some(&id) = self.namespace_ids.get(&*uri) {
            return Ok(id);
        }
        let id = to_u32(self.tree.namespaces.len());
        self.tree.namespaces.push(uri.as_ref().into());
        self.namespace_ids.insert(uri.as_ref().into(), id);
        Ok(id)
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
        let Ok(name) = std::str::from_utf8(name.0) else {
            return Err(self.xml_error(offset, "name is not valid UTF-8".into()));
        };
        let qname = self.push_str(name);
        let prefix = name.find(':').map_or(0, |colon| colon + 1);
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

    fn open(
        &mut self,
        reader: &NsReader<&[u8]>,
        namespace: u32,
        start: &BytesStart<'_>,
        tag: Range<usize>,
    ) -> Result<(), CompileError> {
        if self.stack.len() >= usize::from(self.depth_max) {
            let kind = CompileErrorKind::Limit {
                what: "nesting levels",
                limit: self.depth_max.into(),
            };
            return Err(self.error(tag.start, kind));
        }
        if self.stack.is_empty() && !self.tree.elements.is_empty() {
            return Err(self.xml_error(tag.start, "more than one root element".into()));
        }
        let position = self.positions.at(tag.start);
        let (qname, local) = self.push_name(start.name(), tag.start)?;
        let attributes = self.attributes(reader, start, tag.start)?;
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

    /// Reads, decodes and stores the attributes of a start tag.
    fn attributes(
        &mut self,
        reader: &NsReader<&[u8]>,
        start: &BytesStart<'_>,
        tag_start: usize,
    ) -> Result<Range<u32>, CompileError> {
        let first = to_u32(self.tree.attributes.len());
        for attribute in start.attributes() {
            let attribute = match attribute {
                Ok(a) => a,
                Err(error) => return Err(self.xml_error(tag_start, error.to_string())),
            };
            let offset = self.offset_of(attribute.key.0).unwrap_or(tag_start);
            let (resolved, _) = reader.resolve_attribute(attribute.key);
            let namespace = self.intern(resolved, offset)?;
            let (qname, local) = self.push_name(attribute.key, offset)?;
            let value = match attribute_value(&attribute.value) {
                Ok(v) => v,
                Err(message) => return Err(self.xml_error(offset, message)),
            };
            let value = self.push_str(&value);
            let position = self.positions.at(offset);
            self.tree.attributes.push(Attribute {
                qname,
                local,
                namespace,
                value,
                position,
            });
        }
        Ok(first..to_u32(self.tree.attributes.len()))
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
fn attribute_value(raw: &[u8]) -> Result<String, String> {
    let raw = std::str::from_utf8(raw).map_err(|e| e.to_string())?;
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
        Ok(value) => Ok(value.into_owned()),
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
        let e = error("", &Limits::default());
        assert!(matches!(e.kind, CompileErrorKind::Xml { .. }), "{e}");
        let e = error("<q:a/>", &Limits::default());
        assert!(matches!(e.kind, CompileErrorKind::Xml { .. }), "{e}");
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
