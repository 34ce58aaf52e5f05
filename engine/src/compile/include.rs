//! `<xi:include>` (XInclude), as Genesys Composer projects use it, expanded in the text
//! before the document is parsed for compiling: ORS reads its documents through an
//! XInclude-aware XML parser, so an include is the included text itself.
//!
//! - `parse="text"`: the file's text, escaped, in place of the element (Composer pulls its
//!   JavaScript into a `<script>` this way).
//! - `parse="xml"` (the default): the element the `xpointer` selects (see [`select`]), in
//!   place of the element, carrying the namespace declarations of its ancestors there.
//!   Includes inside included text are expanded too, at most [`INCLUDE_DEPTH_MAX`] deep.
//! - `resolveid="R"` (Composer's workflows; ORS does not document it, this follows what
//!   Composer's output needs): the ids of the included file's states become `R.<id>`, the
//!   placeholder `$$_MY_PREFIX_$$` in its targets, `initial`s and event names becomes `R`,
//!   and the identifier `_my_prefix` in its expressions and scripts the string `'R'`
//!   (Composer tags the events a workflow sends itself with it). In a document read on its
//!   own, `$$_MY_PREFIX_$$.` is removed and `_my_prefix` is `''`.
//!
//! Errors in included text name the included file and its own line ([`SourceMap`]); the
//! compiled document's positions (in runtime messages) are those of the expanded text.

use std::rc::Rc;

use crate::error::{CompileError, CompileErrorKind, Position};
use crate::limits::Limits;
use crate::parse::{self, ElemIdx, Tree};

use super::{index, Loader, SCXML_NS};

/// The XInclude namespaces (the 2001 recommendation's; the 2003 one older tools wrote).
const XINCLUDE_NAMESPACES: [&str; 2] = [
    "http://www.w3.org/2001/XInclude",
    "http://www.w3.org/2003/XInclude",
];

/// Composer's placeholder for the prefix of an included workflow's ids.
const PREFIX_PLACEHOLDER: &str = "$$_MY_PREFIX_$$";

/// Deepest nesting of includes (an include cycle ends here with an error).
pub const INCLUDE_DEPTH_MAX: u32 = 8;

/// Where the lines of an expanded text came from.
#[derive(Clone, Debug, Default)]
pub struct SourceMap {
    /// From its expanded line on (1-based), each piece is the named file's text from its
    /// line on; ordered by expanded line.
    pieces: Vec<Piece>,
}

#[derive(Clone, Debug)]
struct Piece {
    expanded_line: u32,
    file: Rc<str>,
    line: u32,
}

impl SourceMap {
    /// The file and position that a position of the expanded text comes from. Lines are
    /// exact; a column on the first line of an included piece counts from where the
    /// include stood.
    pub fn locate(&self, position: Position) -> Option<(Rc<str>, Position)> {
        let at = self
            .pieces
            .partition_point(|p| p.expanded_line <= position.line);
        let piece = self.pieces.get(at.checked_sub(1)?)?;
        let line = piece.line + (position.line - piece.expanded_line);
        Some((Rc::clone(&piece.file), Position { line, ..position }))
    }

    /// `error` with its position in the file it came from.
    pub fn relocate(&self, mut error: CompileError) -> CompileError {
        if let Some((file, position)) = self.locate(error.position) {
            error.file = file.to_string();
            error.position = position;
        }
        error
    }
}

/// The text with every include expanded and the placeholder replaced, or `None` when the
/// text has neither (then it is compiled as it is).
pub fn expand(
    text: &str,
    file: &str,
    loader: &mut dyn Loader,
    limits: &Limits,
) -> Result<Option<(String, SourceMap)>, CompileError> {
    let includes = XINCLUDE_NAMESPACES.iter().any(|ns| text.contains(ns));
    if !includes && !text.contains(PREFIX_PLACEHOLDER) {
        return Ok(None);
    }
    let text = with_prefix(text, file, "", limits)?;
    let mut expander = Expander { loader, limits };
    let (expanded, pieces) = expander.expand(&text, &Rc::from(file), 0)?;
    if expanded.len() > limits.document_bytes_max as usize {
        return Err(CompileError {
            file: file.to_owned(),
            position: Position { line: 1, column: 1 },
            kind: CompileErrorKind::TooLarge {
                bytes: expanded.len() as u64,
                bytes_max: limits.document_bytes_max,
            },
        });
    }
    Ok(Some((expanded, SourceMap { pieces })))
}

struct Expander<'a> {
    loader: &'a mut dyn Loader,
    limits: &'a Limits,
}

/// Expanded text and where its lines came from.
type Expansion = (String, Vec<Piece>);

impl Expander<'_> {
    /// `text` of `file` with its includes expanded.
    fn expand(
        &mut self,
        text: &str,
        file: &Rc<str>,
        depth: u32,
    ) -> Result<Expansion, CompileError> {
        let whole = vec![Piece {
            expanded_line: 1,
            file: Rc::clone(file),
            line: 1,
        }];
        if !XINCLUDE_NAMESPACES.iter().any(|ns| text.contains(ns)) {
            return Ok((text.to_owned(), whole));
        }
        let tree = parse::parse(text, file, self.limits)?;
        let includes = outermost_includes(&tree);
        if includes.is_empty() {
            return Ok((text.to_owned(), whole));
        }
        let mut out = Output::default();
        let mut cursor = 0usize;
        for include in includes {
            let outer = tree.element(include).outer.clone();
            out.copy(
                &text[cursor..outer.start as usize],
                file,
                line_at(text, cursor),
            );
            let (included, pieces) = self.include(&tree, include, file, depth)?;
            out.splice(&included, pieces);
            cursor = outer.end as usize;
        }
        out.copy(&text[cursor..], file, line_at(text, cursor));
        Ok((out.text, out.pieces))
    }

    /// The replacement of one `<xi:include>` of `file`.
    fn include(
        &mut self,
        tree: &Tree,
        e: ElemIdx,
        file: &Rc<str>,
        depth: u32,
    ) -> Result<Expansion, CompileError> {
        let fail = |reason: String| CompileError {
            file: file.to_string(),
            position: tree.element(e).position,
            kind: CompileErrorKind::Invalid { reason },
        };
        if depth >= INCLUDE_DEPTH_MAX {
            return Err(fail(format!(
                "includes nest deeper than {INCLUDE_DEPTH_MAX} (an include cycle?)"
            )));
        }
        let attribute = |name: &str| tree.attribute(e, name).map(|a| tree.str(a.value));
        let Some(href) = attribute("href") else {
            return Err(fail("<xi:include> needs href".into()));
        };
        let loaded = self.loader.load(file, href);
        let text = loaded.map_err(|reason| CompileError {
            file: file.to_string(),
            position: tree.element(e).position,
            kind: CompileErrorKind::Load {
                src: href.to_owned(),
                reason,
            },
        })?;
        let included: Rc<str> = Rc::from(resolve_name(file, href));
        match attribute("parse").unwrap_or("xml") {
            "text" => {
                let piece = Piece {
                    expanded_line: 1,
                    file: included,
                    line: 1,
                };
                Ok((escape_text(&text), vec![piece]))
            }
            "xml" => {
                let prefix = attribute("resolveid").unwrap_or("");
                let text = with_prefix(&text, &included, prefix, self.limits)?;
                let (expanded, pieces) = self.expand(&text, &included, depth + 1)?;
                let pointer = attribute("xpointer");
                let selected = select(&expanded, &included, pointer, prefix, self.limits)
                    .map_err(|reason| fail(format!("xpointer of '{href}': {reason}")))?;
                Ok(selected.apply(&expanded, &pieces))
            }
            other => Err(fail(format!(
                "parse=\"{other}\": expected \"xml\" or \"text\""
            ))),
        }
    }
}

/// `text` of `file` under `prefix` (an include's `resolveid`, or "" for none): its state
/// ids prefixed, the placeholder replaced, `_my_prefix` a string literal. Lines and the
/// states' nesting stay as they were.
fn with_prefix(
    text: &str,
    file: &str,
    prefix: &str,
    limits: &Limits,
) -> Result<String, CompileError> {
    let text = match prefix {
        "" => text.to_owned(),
        prefix => prefix_state_ids(text, file, prefix, limits)?,
    };
    let text = match prefix {
        "" if text.contains(PREFIX_PLACEHOLDER) => text
            .replace(&format!("{PREFIX_PLACEHOLDER}."), "")
            .replace(PREFIX_PLACEHOLDER, ""),
        "" => text,
        prefix => text.replace(PREFIX_PLACEHOLDER, prefix),
    };
    Ok(replace_identifier(&text, MY_PREFIX, &format!("'{prefix}'")))
}

/// The variable Composer reads its include's prefix from.
const MY_PREFIX: &str = "_my_prefix";

/// The elements whose `id` names a state.
const STATE_ELEMENTS: [&str; 4] = ["state", "parallel", "final", "history"];

/// `text` with `prefix.` before the id of every state.
fn prefix_state_ids(
    text: &str,
    file: &str,
    prefix: &str,
    limits: &Limits,
) -> Result<String, CompileError> {
    let tree = parse::parse(text, file, limits)?;
    let mut inserts: Vec<usize> = (0..index(tree.len()))
        .map(ElemIdx)
        .filter(|&e| tree.namespace(e) == SCXML_NS && STATE_ELEMENTS.contains(&tree.local_name(e)))
        .filter_map(|e| id_value_offset(text, tree.element(e).outer.start as usize))
        .collect();
    inserts.sort_unstable();
    let mut out = String::with_capacity(text.len() + inserts.len() * (prefix.len() + 1));
    let mut cursor = 0;
    for at in inserts {
        out.push_str(&text[cursor..at]);
        out.push_str(prefix);
        out.push('.');
        cursor = at;
    }
    out.push_str(&text[cursor..]);
    Ok(out)
}

/// Where the value of the `id` attribute begins in the start tag at `start`, if it has one.
fn id_value_offset(text: &str, start: usize) -> Option<usize> {
    let bytes = text.as_bytes();
    let mut at = start + 1;
    // Past the element name.
    while at < bytes.len() && !bytes[at].is_ascii_whitespace() && !b"/>".contains(&bytes[at]) {
        at += 1;
    }
    loop {
        while at < bytes.len() && bytes[at].is_ascii_whitespace() {
            at += 1;
        }
        if at >= bytes.len() || b"/>".contains(&bytes[at]) {
            return None;
        }
        let name_start = at;
        while at < bytes.len() && !bytes[at].is_ascii_whitespace() && bytes[at] != b'=' {
            at += 1;
        }
        let name = &text[name_start..at];
        while at < bytes.len() && (bytes[at].is_ascii_whitespace() || bytes[at] == b'=') {
            at += 1;
        }
        let quote = *bytes.get(at)?;
        let value_start = at + 1;
        let value_end = value_start + text[value_start..].find(quote as char)?;
        if name == "id" {
            return Some(value_start);
        }
        at = value_end + 1;
    }
}

/// `text` with the identifier `name` (not part of a longer name, nor a property after
/// `.`) replaced by `by`.
fn replace_identifier(text: &str, name: &str, by: &str) -> String {
    if !text.contains(name) {
        return text.to_owned();
    }
    let is_part = |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '$');
    let mut out = String::with_capacity(text.len());
    let mut cursor = 0;
    for (at, _) in text.match_indices(name) {
        let before = text[..at].chars().next_back();
        let after = text[at + name.len()..].chars().next();
        if is_part(before) || before == Some('.') || is_part(after) {
            continue;
        }
        out.push_str(&text[cursor..at]);
        out.push_str(by);
        cursor = at + name.len();
    }
    out.push_str(&text[cursor..]);
    out
}

/// The include elements not inside another include (their fallbacks are not read).
fn outermost_includes(tree: &Tree) -> Vec<ElemIdx> {
    let mut found = Vec::new();
    let mut skip_until = 0;
    for e in (0..index(tree.len())).map(ElemIdx) {
        if e.0 < skip_until {
            continue;
        }
        if XINCLUDE_NAMESPACES.contains(&tree.namespace(e)) && tree.local_name(e) == "include" {
            found.push(e);
            skip_until = tree.element(e).subtree_end;
        }
    }
    found
}

/// What an `xpointer` selects in an included document.
struct Selection {
    /// The selected elements' outer byte ranges, in document order.
    elements: Vec<std::ops::Range<u32>>,
    /// Per element, the namespace declarations (`xmlns...="..."` text) of its ancestors
    /// that it needs where it is pasted.
    declarations: Vec<String>,
}

impl Selection {
    /// The selected text, each element with its declarations, and its pieces.
    fn apply(&self, text: &str, pieces: &[Piece]) -> Expansion {
        let mut out = Output::default();
        for (range, declarations) in self.elements.iter().zip(&self.declarations) {
            let element = &text[range.start as usize..range.end as usize];
            let name_end = element
                .find(|c: char| c.is_whitespace() || c == '>' || c == '/')
                .unwrap_or(element.len());
            let first_line = line_at(text, range.start as usize);
            let mut pasted = String::with_capacity(element.len() + declarations.len());
            pasted.push_str(&element[..name_end]);
            pasted.push_str(declarations);
            pasted.push_str(&element[name_end..]);
            out.splice(&pasted, shifted_from(pieces, first_line));
            out.text.push('\n');
        }
        (out.text, out.pieces)
    }
}

/// The pieces of `pieces` from expanded line `line` on, renumbered from 1.
fn shifted_from(pieces: &[Piece], line: u32) -> Vec<Piece> {
    let first = pieces
        .partition_point(|p| p.expanded_line <= line)
        .saturating_sub(1);
    pieces[first..]
        .iter()
        .map(|p| {
            let (expanded_line, file_line) = match p.expanded_line < line {
                true => (1, p.line + (line - p.expanded_line)),
                false => (p.expanded_line - line + 1, p.line),
            };
            Piece {
                expanded_line,
                file: Rc::clone(&p.file),
                line: file_line,
            }
        })
        .collect()
}

/// Selects by `xpointer`: none selects the document's root, or, for an `<scxml>` root,
/// its child elements; a bare id (what Composer writes: `xpointer="_composer_entry"`) or
/// `element(id)` the element with that id (`prefix.id` once prefixed); `element(/1/2/...)`
/// a child sequence from the root, and `element(id/2/...)` one from that element.
fn select(
    text: &str,
    file: &str,
    xpointer: Option<&str>,
    prefix: &str,
    limits: &Limits,
) -> Result<Selection, String> {
    let tree = parse::parse(text, file, limits).map_err(|e| e.to_string())?;
    let root = tree.root();
    let chosen: Vec<ElemIdx> = match xpointer {
        None if tree.namespace(root) == SCXML_NS && tree.local_name(root) == "scxml" => {
            tree.child_elements(root).collect()
        }
        None => vec![root],
        Some(pointer) => vec![element_scheme(&tree, pointer, prefix)?],
    };
    let declarations = chosen
        .iter()
        .map(|&e| ancestor_declarations(&tree, e))
        .collect();
    let elements = chosen
        .iter()
        .map(|&e| tree.element(e).outer.clone())
        .collect();
    Ok(Selection {
        elements,
        declarations,
    })
}

/// The element a bare id or an `element(...)` pointer names.
fn element_scheme(tree: &Tree, pointer: &str, prefix: &str) -> Result<ElemIdx, String> {
    let pointer = pointer.trim();
    let inner = match pointer.strip_prefix("element(") {
        Some(rest) => rest
            .strip_suffix(')')
            .ok_or_else(|| format!("'{pointer}' is not closed"))?,
        None if pointer.contains(['(', '/']) => {
            return Err(format!(
                "'{pointer}' is not supported (a bare id or element(...) is)"
            ))
        }
        None => pointer,
    };
    let mut steps = inner.split('/');
    let start = steps.next().unwrap_or_default();
    let mut at = match start {
        // `element(/1/...)`: the first step names the root.
        "" => match steps.next() {
            Some("1") => tree.root(),
            _ => return Err(format!("'{pointer}': a child sequence starts at /1")),
        },
        id => {
            let prefixed = format!("{prefix}.{id}");
            let named = |e: &ElemIdx| {
                tree.attribute(*e, "id").is_some_and(|a| {
                    let value = tree.str(a.value);
                    value == id || (!prefix.is_empty() && value == prefixed)
                })
            };
            (0..index(tree.len()))
                .map(ElemIdx)
                .find(named)
                .ok_or_else(|| format!("no element has id '{id}'"))?
        }
    };
    for step in steps {
        let n: usize = step
            .parse()
            .map_err(|_| format!("'{pointer}': '{step}' is not a child number"))?;
        at = tree
            .child_elements(at)
            .nth(n.wrapping_sub(1))
            .ok_or_else(|| format!("'{pointer}': there is no child {n}"))?;
    }
    Ok(at)
}

/// The namespace declarations on `e`'s ancestors that `e` does not make itself, as
/// attribute text (` xmlns:queue="..."`), innermost first.
fn ancestor_declarations(tree: &Tree, e: ElemIdx) -> String {
    let own: Vec<&str> = declarations_of(tree, e).map(|(name, _)| name).collect();
    let mut seen = own;
    let mut text = String::new();
    let mut at = tree.element(e).parent;
    while let Some(ancestor) = at {
        for (name, uri) in declarations_of(tree, ancestor) {
            if !seen.contains(&name) {
                seen.push(name);
                text.push_str(&format!(" {name}=\"{}\"", escape_attribute(uri)));
            }
        }
        at = tree.element(ancestor).parent;
    }
    text
}

/// `(xmlns or xmlns:prefix, uri)` of the declarations on `e`.
fn declarations_of(tree: &Tree, e: ElemIdx) -> impl Iterator<Item = (&str, &str)> {
    tree.attributes(e).iter().filter_map(|a| {
        let name = tree.str(a.qname);
        (name == "xmlns" || name.starts_with("xmlns:")).then(|| (name, tree.str(a.value)))
    })
}

/// Text as XML character data.
fn escape_text(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Text as a double-quoted XML attribute value.
fn escape_attribute(text: &str) -> String {
    escape_text(text).replace('"', "&quot;")
}

/// The name an included file goes by in messages: `href` resolved against the including
/// file's directory when it is relative.
fn resolve_name(file: &str, href: &str) -> String {
    if href.contains("://") || href.starts_with('/') {
        return href.to_owned();
    }
    match file.rfind('/') {
        Some(slash) => format!("{}{href}", &file[..=slash]),
        None => href.to_owned(),
    }
}

/// The 1-based line of byte `offset` of `text`.
fn line_at(text: &str, offset: usize) -> u32 {
    let before = &text.as_bytes()[..offset.min(text.len())];
    1 + before.iter().filter(|&&b| b == b'\n').count() as u32
}

/// An expanded text being built, with its pieces.
#[derive(Default)]
struct Output {
    text: String,
    pieces: Vec<Piece>,
}

impl Output {
    /// The current (1-based) line at the end of the text.
    fn line(&self) -> u32 {
        line_at(&self.text, self.text.len())
    }

    /// Appends `text`, which is `file`'s from `line` on.
    fn copy(&mut self, text: &str, file: &Rc<str>, line: u32) {
        if text.is_empty() {
            return;
        }
        let expanded_line = self.line();
        self.pieces.push(Piece {
            expanded_line,
            file: Rc::clone(file),
            line,
        });
        self.text.push_str(text);
    }

    /// Appends an expansion, its pieces renumbered to where it lands.
    fn splice(&mut self, text: &str, pieces: Vec<Piece>) {
        let base = self.line() - 1;
        self.pieces.extend(pieces.into_iter().map(|p| Piece {
            expanded_line: p.expanded_line + base,
            ..p
        }));
        self.text.push_str(text);
    }
}
