//! The content rules for `<data>`, `<content>` and `<assign>` children, and for texts
//! loaded through `src`: element children stay XML text ([`Value::Xml`]); other text that
//! is JSON becomes a value; anything else is a whitespace-normalised string (W3C tests 446,
//! 557, 558, 561).
//!
//! Inline XML is kept as the author wrote it, byte for byte, except that namespace
//! declarations in scope at the `<content>` (for example the SCXML default namespace of an
//! inline child `<scxml>`) are added to each top-level element that does not declare them,
//! so that the text means the same thing once it stands alone.

use std::collections::HashSet;

use quick_xml::escape::escape;

use crate::limits::Limits;
use crate::parse::{ElemIdx, Tree};
use crate::value::Value;

/// Converts content text: JSON text becomes a value; a well-formed XML element (as loaded
/// from a `src`) becomes [`Value::Xml`]; anything else becomes a string whose whitespace
/// runs are single spaces, trimmed.
pub fn normalize_content(text: &str) -> Value {
    let trimmed = text.trim();
    if let Ok(json) = serde_json::from_str::<serde_json::Value>(trimmed) {
        return Value::from_json(&json);
    }
    if trimmed.starts_with('<') && crate::parse::parse(trimmed, "", &Limits::default()).is_ok() {
        return Value::Xml(trimmed.into());
    }
    let mut normalised = String::with_capacity(trimmed.len());
    for word in trimmed.split_whitespace() {
        if !normalised.is_empty() {
            normalised.push(' ');
        }
        normalised.push_str(word);
    }
    Value::String(normalised.into())
}

/// The value of an element's content: [`Value::Xml`] of its children if it has element
/// children, otherwise [`normalize_content`] of its text.
pub(super) fn element_content(tree: &Tree, source: &str, e: ElemIdx) -> Value {
    if tree.child_elements(e).next().is_some() {
        Value::Xml(children_xml(tree, source, e).trim().into())
    } else {
        normalize_content(&tree.text(e))
    }
}

/// The source text of an element's children, with the namespace declarations each
/// top-level child inherits added to it.
fn children_xml(tree: &Tree, source: &str, e: ElemIdx) -> String {
    let inner = &tree.element(e).inner;
    let mut xml = String::with_capacity((inner.end - inner.start) as usize + 64);
    let mut cursor = inner.start as usize;
    for child in tree.child_elements(e) {
        let at = name_end(tree, child);
        xml.push_str(source.get(cursor..at).unwrap_or(""));
        add_declarations(tree, child, &mut xml);
        cursor = at;
    }
    xml.push_str(source.get(cursor..inner.end as usize).unwrap_or(""));
    xml
}

/// The source text of one element, with the namespace declarations it inherits added.
pub(super) fn element_xml(tree: &Tree, source: &str, e: ElemIdx) -> String {
    let outer = &tree.element(e).outer;
    let at = name_end(tree, e);
    let mut xml = String::with_capacity((outer.end - outer.start) as usize + 64);
    xml.push_str(source.get(outer.start as usize..at).unwrap_or(""));
    add_declarations(tree, e, &mut xml);
    xml.push_str(source.get(at..outer.end as usize).unwrap_or(""));
    xml
}

/// The byte offset just after the element's name in its start tag.
fn name_end(tree: &Tree, e: ElemIdx) -> usize {
    tree.element(e).outer.start as usize + 1 + tree.name(e).len()
}

/// The prefix of a qualified name ("" for none).
fn prefix(qname: &str) -> &str {
    qname.split_once(':').map_or("", |(prefix, _)| prefix)
}

/// The namespace prefix an `xmlns`/`xmlns:p` attribute declares ("" for the default).
fn declared_prefix(qname: &str) -> Option<&str> {
    if qname == "xmlns" {
        Some("")
    } else {
        qname.strip_prefix("xmlns:")
    }
}

/// Writes ` xmlns="uri"` / ` xmlns:p="uri"` for each prefix (and the default namespace)
/// used in `e`'s subtree that `e` does not declare itself, bound to the URI the parser
/// resolved for its first use. One pass over the subtree: no search of the ancestors.
/// (Should a subtree rebind a prefix inside and also use the outer binding after that, the
/// first use wins; documents doing that are not expected in `<content>`.)
fn add_declarations(tree: &Tree, e: ElemIdx, xml: &mut String) {
    let mut done: HashSet<&str> = HashSet::from(["xml", "xmlns"]);
    let own = tree.attributes(e).iter();
    done.extend(own.filter_map(|a| declared_prefix(tree.str(a.qname))));
    for d in (e.0..tree.element(e).subtree_end).map(ElemIdx) {
        let element = tree.element(d);
        let uses = std::iter::once((tree.name(d), element.namespace)).chain(
            tree.attributes(d)
                .iter()
                .filter(|a| a.qname != a.local)
                .map(|a| (tree.str(a.qname), a.namespace)),
        );
        for (qname, namespace) in uses {
            let prefix = prefix(qname);
            let uri = tree.namespace_uri(namespace);
            if !done.insert(prefix) || (prefix.is_empty() && uri.is_empty()) {
                continue;
            }
            xml.push_str(if prefix.is_empty() {
                " xmlns"
            } else {
                " xmlns:"
            });
            xml.push_str(prefix);
            xml.push_str("=\"");
            xml.push_str(&escape(uri));
            xml.push('"');
        }
    }
}
