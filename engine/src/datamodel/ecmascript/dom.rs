//! XML values as DOM objects: quick-xml reads the text into flat node records in Rust, and
//! `buildDom` in `realm.js` turns them into objects on the realm's frozen DOM prototype.
//!
//! The DOM is a small read-only subset (what SCXML documents query): `nodeType`,
//! `nodeName`/`tagName`/`localName`, `childNodes`, `firstChild`, `parentNode`, `attributes`,
//! `getAttribute`, `hasAttribute`, `getElementsByTagName` (with `*`), `textContent`,
//! `data`/`nodeValue` and `documentElement`. Text that is not well-formed XML converts to
//! a plain string instead.

use quick_xml::events::{BytesRef, BytesStart, Event};
use quick_xml::Reader;
use rquickjs::{Array, Ctx, Function, Result, Value as JsValue};

use super::convert::NODES_MAX;
use super::realm::Helpers;

/// DOM node types, as `nodeType` numbers them.
const ELEMENT: i32 = 1;
const TEXT: i32 = 3;
const CDATA: i32 = 4;
const PROCESSING_INSTRUCTION: i32 = 7;
const COMMENT: i32 = 8;
const DOCUMENT: i32 = 9;

/// One parsed node; `parent` indexes an earlier node (`-1` for the document).
#[derive(Debug, PartialEq)]
pub(crate) struct XmlNode {
    pub kind: i32,
    pub parent: i32,
    pub name: String,
    pub value: String,
    pub attrs: Vec<(String, String)>,
}

/// Converts XML text to a DOM document, or to a string if it is not well-formed.
pub(crate) fn to_dom<'js>(ctx: &Ctx<'js>, helpers: &Helpers, xml: &str) -> Result<JsValue<'js>> {
    let Some(nodes) = parse(xml) else {
        return Ok(rquickjs::String::from_str(ctx.clone(), xml)?.into_value());
    };
    let flat = Array::new(ctx.clone())?;
    let mut i = 0usize;
    for node in &nodes {
        let attrs = Array::new(ctx.clone())?;
        for (j, (name, value)) in node.attrs.iter().enumerate() {
            attrs.set(2 * j, name.as_str())?;
            attrs.set(2 * j + 1, value.as_str())?;
        }
        flat.set(i, node.kind)?;
        flat.set(i + 1, node.parent)?;
        flat.set(i + 2, node.name.as_str())?;
        flat.set(i + 3, node.value.as_str())?;
        flat.set(i + 4, attrs)?;
        i += 5;
    }
    let build: Function = helpers.build_dom.clone().restore(ctx)?;
    build.call((flat,))
}

/// Parses XML text into nodes in document order, the document node first. `None` if the
/// text is not well-formed or has more than [`NODES_MAX`] nodes.
pub(crate) fn parse(xml: &str) -> Option<Vec<XmlNode>> {
    let mut reader = Reader::from_str(xml);
    reader.config_mut().check_end_names = true;
    let mut nodes = vec![node(DOCUMENT, -1, String::new(), String::new())];
    let mut open: Vec<i32> = Vec::new();
    loop {
        let parent = open.last().copied().unwrap_or(0);
        let event = reader.read_event().ok()?;
        match event {
            Event::Start(e) => {
                nodes.push(element(&e, parent)?);
                open.push(i32::try_from(nodes.len() - 1).ok()?);
            }
            Event::Empty(e) => nodes.push(element(&e, parent)?),
            Event::End(_) => {
                open.pop()?;
            }
            Event::Text(e) => add_text(&mut nodes, parent, &e.decode().ok()?),
            Event::GeneralRef(r) => add_text(&mut nodes, parent, &resolve(&r)?),
            Event::CData(e) => nodes.push(node(CDATA, parent, String::new(), utf8(&e)?)),
            Event::Comment(e) => nodes.push(node(
                COMMENT,
                parent,
                String::new(),
                e.decode().ok()?.into(),
            )),
            Event::PI(e) => {
                let target = std::str::from_utf8(e.target()).ok()?.to_owned();
                let data = std::str::from_utf8(e.content()).ok()?.trim().to_owned();
                nodes.push(node(PROCESSING_INSTRUCTION, parent, target, data));
            }
            Event::Decl(_) | Event::DocType(_) => {}
            Event::Eof => break,
        }
        if nodes.len() > NODES_MAX {
            return None;
        }
    }
    open.is_empty().then_some(nodes)
}

fn node(kind: i32, parent: i32, name: String, value: String) -> XmlNode {
    XmlNode {
        kind,
        parent,
        name,
        value,
        attrs: Vec::new(),
    }
}

fn utf8(bytes: &[u8]) -> Option<String> {
    std::str::from_utf8(bytes).ok().map(str::to_owned)
}

fn element(e: &BytesStart<'_>, parent: i32) -> Option<XmlNode> {
    let name = utf8(e.name().as_ref())?;
    let mut attrs = Vec::new();
    for attr in e.attributes() {
        let attr = attr.ok()?;
        let key = utf8(attr.key.as_ref())?;
        let value = attr.unescape_value().ok()?.into_owned();
        attrs.push((key, value));
    }
    Some(XmlNode {
        kind: ELEMENT,
        parent,
        name,
        value: String::new(),
        attrs,
    })
}

/// Appends text to the parent's last child if that is a text node (text and entity
/// references arrive as separate events), else adds a text node. Whitespace between
/// top-level nodes is not part of a document.
fn add_text(nodes: &mut Vec<XmlNode>, parent: i32, text: &str) {
    if let Some(last) = nodes.last_mut() {
        if last.kind == TEXT && last.parent == parent {
            last.value.push_str(text);
            return;
        }
    }
    if parent == 0 && text.trim().is_empty() {
        return;
    }
    nodes.push(node(TEXT, parent, String::new(), text.to_owned()));
}

/// The text of an entity or character reference.
fn resolve(r: &BytesRef<'_>) -> Option<String> {
    if let Some(c) = r.resolve_char_ref().ok()? {
        return Some(c.to_string());
    }
    let text = match r.decode().ok()?.as_ref() {
        "lt" => "<",
        "gt" => ">",
        "amp" => "&",
        "apos" => "'",
        "quot" => "\"",
        _ => return None,
    };
    Some(text.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_elements_text_and_references() {
        let nodes = parse("<a x='1 &amp; 2'><b/>t&lt;u<!--c--><![CDATA[<d>]]></a>").expect("xml");
        let kinds: Vec<i32> = nodes.iter().map(|n| n.kind).collect();
        assert_eq!(kinds, [DOCUMENT, ELEMENT, ELEMENT, TEXT, COMMENT, CDATA]);
        assert_eq!(nodes[1].attrs, [("x".to_owned(), "1 & 2".to_owned())]);
        assert_eq!(nodes[2].parent, 1);
        assert_eq!(nodes[3].value, "t<u");
        assert_eq!(nodes[5].value, "<d>");
    }

    #[test]
    fn malformed_text_is_refused() {
        for bad in ["<a>", "<a></b>", "</a>", "<a x='1' x='2'/>", "&bogus;"] {
            assert_eq!(parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn top_level_whitespace_is_dropped() {
        let nodes = parse("\n  <books xmlns=\"\">\n <book/></books>\n").expect("xml");
        assert_eq!(nodes.len(), 4);
        assert_eq!(nodes[1].name, "books");
        assert_eq!(nodes[2].kind, TEXT);
    }
}
