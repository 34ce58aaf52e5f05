//! The content rules for `<data>`, `<content>` and `<assign>` children, and for texts
//! loaded through `src`: element children stay XML text ([`Value::Xml`]); other text that
//! is JSON becomes a value; anything else is a whitespace-normalised string (W3C tests 446,
//! 557, 558, 561).
//!
//! Inline XML is kept as the author wrote it, byte for byte, except that namespace
//! declarations in scope at the `<content>` (for example the SCXML default namespace of an
//! inline child `<scxml>`) are added to each top-level element that does not declare them,
//! so that the text means the same thing once it stands alone.

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

/// The source text of an element's children, with in-scope namespace declarations added to
/// each top-level child element.
fn children_xml(tree: &Tree, source: &str, e: ElemIdx) -> String {
    let scope = declarations_in_scope(tree, e);
    let inner = &tree.element(e).inner;
    let mut xml = String::with_capacity((inner.end - inner.start) as usize + 64);
    let mut cursor = inner.start as usize;
    for child in tree.child_elements(e) {
        let at = name_end(tree, child);
        xml.push_str(source.get(cursor..at).unwrap_or(""));
        add_declarations(tree, child, &scope, &mut xml);
        cursor = at;
    }
    xml.push_str(source.get(cursor..inner.end as usize).unwrap_or(""));
    xml
}

/// The source text of one element, with in-scope namespace declarations added.
pub(super) fn element_xml(tree: &Tree, source: &str, e: ElemIdx) -> String {
    let scope = match tree.element(e).parent {
        Some(parent) => declarations_in_scope(tree, parent),
        None => Vec::new(),
    };
    let outer = &tree.element(e).outer;
    let at = name_end(tree, e);
    let mut xml = String::with_capacity((outer.end - outer.start) as usize + 64);
    xml.push_str(source.get(outer.start as usize..at).unwrap_or(""));
    add_declarations(tree, e, &scope, &mut xml);
    xml.push_str(source.get(at..outer.end as usize).unwrap_or(""));
    xml
}

/// The byte offset just after the element's name in its start tag.
fn name_end(tree: &Tree, e: ElemIdx) -> usize {
    let element = tree.element(e);
    element.outer.start as usize + 1 + tree.name(e).len()
}

/// The namespace prefix an `xmlns`/`xmlns:p` attribute declares ("" for the default).
fn declared_prefix(qname: &str) -> Option<&str> {
    if qname == "xmlns" {
        Some("")
    } else {
        qname.strip_prefix("xmlns:")
    }
}

/// Namespace declarations in scope at `e` (its own and its ancestors'), innermost first,
/// as (prefix, URI) pairs.
fn declarations_in_scope(tree: &Tree, e: ElemIdx) -> Vec<(&str, &str)> {
    let mut scope: Vec<(&str, &str)> = Vec::new();
    let mut at = Some(e);
    while let Some(element) = at {
        for attribute in tree.attributes(element) {
            let Some(prefix) = declared_prefix(tree.str(attribute.qname)) else {
                continue;
            };
            if !scope.iter().any(|(p, _)| *p == prefix) {
                scope.push((prefix, tree.str(attribute.value)));
            }
        }
        at = tree.element(element).parent;
    }
    scope
}

/// Writes ` xmlns:p="uri"` for each declaration in scope that `e` does not make itself:
/// the default namespace (unless empty) and prefixes used in `e`'s subtree.
fn add_declarations(tree: &Tree, e: ElemIdx, scope: &[(&str, &str)], xml: &mut String) {
    let declares = |prefix: &str| {
        let own = tree.attributes(e).iter();
        own.filter_map(|a| declared_prefix(tree.str(a.qname)))
            .any(|p| p == prefix)
    };
    for &(prefix, uri) in scope {
        if declares(prefix) {
            continue;
        }
        if prefix.is_empty() {
            if uri.is_empty() {
                continue;
            }
            xml.push_str(" xmlns=\"");
        } else {
            if !prefix_used(tree, e, prefix) {
                continue;
            }
            xml.push_str(" xmlns:");
            xml.push_str(prefix);
            xml.push_str("=\"");
        }
        xml.push_str(&escape(uri));
        xml.push('"');
    }
}

/// True if some element or attribute name in `e`'s subtree uses `prefix:`.
fn prefix_used(tree: &Tree, e: ElemIdx, prefix: &str) -> bool {
    let uses = |qname: &str| qname.split_once(':').is_some_and(|(p, _)| p == prefix);
    (e.0..tree.element(e).subtree_end)
        .map(ElemIdx)
        .any(|d| uses(tree.name(d)) || tree.attributes(d).iter().any(|a| uses(tree.str(a.qname))))
}
