//! The element tree: flat vectors and one string buffer, so a document costs a handful of
//! allocations rather than several per element.

use std::ops::Range;

use crate::error::Position;

/// "No node" in the children lists.
pub(super) const NONE: u32 = u32::MAX;

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
    pub(super) first_child: u32,
    pub(super) last_child: u32,
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
pub(super) enum NodeKind {
    Element(ElemIdx),
    Text(Span),
}

#[derive(Clone, Copy, Debug)]
pub(super) struct Node {
    pub(super) kind: NodeKind,
    pub(super) next: u32,
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
    pub(super) strings: String,
    pub(super) elements: Vec<Element>,
    pub(super) attributes: Vec<Attribute>,
    pub(super) nodes: Vec<Node>,
    pub(super) namespaces: Vec<Box<str>>,
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
