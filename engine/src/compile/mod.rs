//! Validation and lowering: the parsed element tree ([`crate::parse`]) becomes a [`Document`].
//!
//! Two passes, neither recursive over the input:
//! 1. [`states`] walks the states in document order with an explicit stack. Each state is
//!    numbered when it is reached (so numbering is pre-order) and all of its own content is
//!    compiled at once: transitions, `<onentry>`/`<onexit>`, `<datamodel>`, `<invoke>`,
//!    `<donedata>`. That keeps each state's transitions, data and invokes contiguous.
//!    Executable content is lowered to jumps by [`lower`] with an explicit frame stack.
//! 2. [`targets`] runs once every id is known: it generates missing ids, computes
//!    `descendants_end`, and resolves `target`/`initial` ids (no quadratic search: the ids
//!    map answers each lookup).
//!
//! Every error names the file and the line:column of the offending element or attribute.

mod attrs;
mod content;
mod dialect;
mod extension;
pub mod include;
#[cfg(test)]
mod include_tests;
mod initial;
mod lower;
mod payload;
mod states;
mod targets;
#[cfg(test)]
mod tests;

use std::collections::HashMap;

/// CSS2 time parsing, shared with the interpreter's `delayexpr`.
pub use crate::delay::parse_delay_ms;
pub use content::normalize_content;

use crate::error::{CompileError, CompileErrorKind, Position};
use crate::limits::Limits;
use crate::model::{Binding, DatamodelKind, Dialect, Document, ExprIdx, ExprKind};
use crate::parse::{self, ElemIdx, Tree};

/// The SCXML namespace URI.
pub const SCXML_NS: &str = "http://www.w3.org/2005/07/scxml";

/// Resolves `src` attributes of `<data>` and `<script>` at load time. The engine performs
/// no I/O itself: the host (runtime, `baton run`, tests) supplies this.
pub trait Loader {
    /// Returns the text at `src`, resolved against `base` (the document's own location).
    fn load(&mut self, base: &str, src: &str) -> Result<String, String>;
}

/// A loader that loads nothing: every `src` fails with a reason.
pub struct NoLoader;

impl Loader for NoLoader {
    fn load(&mut self, _base: &str, src: &str) -> Result<String, String> {
        Err(format!("no loader configured for '{src}'"))
    }
}

/// Parses, validates and compiles one SCXML document, its `<xi:include>`s expanded first
/// ([`include`]) through `loader`.
pub fn compile(
    text: &str,
    source_name: &str,
    loader: &mut dyn Loader,
    limits: &Limits,
) -> Result<Document, CompileError> {
    match include::expand(text, source_name, loader, limits)? {
        None => compile_text(text, source_name, loader, limits),
        Some((expanded, map)) => {
            compile_text(&expanded, source_name, loader, limits).map_err(|error| {
                match error.file == source_name {
                    true => map.relocate(error),
                    false => error,
                }
            })
        }
    }
}

/// Compiles a document without includes.
fn compile_text(
    text: &str,
    source_name: &str,
    loader: &mut dyn Loader,
    limits: &Limits,
) -> Result<Document, CompileError> {
    let tree = parse::parse(text, source_name, limits)?;
    let mut compiler = Compiler::new(&tree, text, source_name, loader, limits);
    compiler.root()?;
    compiler.check_extensions()?;
    compiler.states()?;
    compiler.check_extensions_placed()?;
    compiler.resolve()?;
    Ok(compiler.finish())
}

/// A `target` (or `initial`) attribute waiting for pass 2, when every id is known.
struct PendingTargets {
    /// The transition whose `targets` this fills.
    transition: u32,
    /// The attribute value (space separated ids).
    ids: parse::Span,
    /// The attribute, for errors.
    position: Position,
    /// Which states it may name.
    scope: Scope,
}

/// Where the targets of a transition may be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Scope {
    /// An ordinary transition: any state but the root.
    Any,
    /// The initial transition of a compound state: a proper descendant of it.
    InitialOf(u32),
    /// The default transition of a history state: a proper descendant of its parent that
    /// is not a history state.
    HistoryOf(u32),
}

/// The compiler's working state: the document being built and what pass 2 must finish.
struct Compiler<'a> {
    tree: &'a Tree,
    source: &'a str,
    file: &'a str,
    loader: &'a mut dyn Loader,
    limits: &'a Limits,
    doc: Document,
    pending: Vec<PendingTargets>,
    /// Initial (and history default) transitions without targets: the first child state.
    defaults: Vec<u32>,
    /// Top-level `<script>` texts, joined in pass 2.
    scripts: Vec<(String, Position)>,
    /// Elements in Baton namespaces (all of them actions: others are rejected first).
    baton_elements: u32,
    /// The actions lowered to instructions so far.
    lowered_extensions: Vec<ElemIdx>,
}

/// Converts a table length to a fixed-width index. Tables never outgrow the source (each
/// entry needs at least one element of a few bytes) and the source is at most `u32::MAX`
/// bytes, so this never saturates in practice.
fn index(len: usize) -> u32 {
    u32::try_from(len).unwrap_or(u32::MAX)
}

impl<'a> Compiler<'a> {
    fn new(
        tree: &'a Tree,
        source: &'a str,
        file: &'a str,
        loader: &'a mut dyn Loader,
        limits: &'a Limits,
    ) -> Self {
        let doc = Document {
            source_name: file.into(),
            name: None,
            datamodel: DatamodelKind::Ecmascript,
            dialect: Dialect::W3c,
            binding: Binding::Early,
            states: Vec::new(),
            transitions: Vec::new(),
            instrs: Vec::new(),
            exprs: Vec::new(),
            data: Vec::new(),
            sends: Vec::new(),
            invokes: Vec::new(),
            extensions: Vec::new(),
            scripts: Vec::new(),
            ids: HashMap::new(),
            uses_event: false,
            uses_in: false,
            underscore_names: (Vec::new(), false),
        };
        let (pending, defaults, scripts) = (Vec::new(), Vec::new(), Vec::new());
        Compiler {
            tree,
            source,
            file,
            loader,
            limits,
            doc,
            pending,
            defaults,
            scripts,
            baton_elements: 0,
            lowered_extensions: Vec::new(),
        }
    }

    fn error(&self, position: Position, kind: CompileErrorKind) -> CompileError {
        CompileError {
            file: self.file.to_string(),
            position,
            kind,
        }
    }

    /// The local name of an element in the SCXML namespace; `None` for other namespaces.
    fn scxml_local(&self, e: ElemIdx) -> Option<&'a str> {
        let tree = self.tree;
        (tree.namespace(e) == SCXML_NS).then(|| tree.local_name(e))
    }

    /// `<element>` is not allowed inside `<parent>`.
    fn unexpected(&self, element: ElemIdx, parent: ElemIdx) -> CompileError {
        let kind = CompileErrorKind::UnexpectedElement {
            element: self.tree.name(element).to_string(),
            parent: self.tree.name(parent).to_string(),
        };
        self.error(self.tree.element(element).position, kind)
    }

    /// Checks the `<scxml>` root and its attributes.
    fn root(&mut self) -> Result<(), CompileError> {
        let tree = self.tree;
        let root = tree.root();
        if self.scxml_local(root) != Some("scxml") {
            let found = match tree.namespace(root) {
                "" => tree.name(root).to_string(),
                ns => format!("{} (namespace '{ns}')", tree.name(root)),
            };
            let position = tree.element(root).position;
            return Err(self.error(position, CompileErrorKind::NotScxml { found }));
        }
        self.doc.dialect = dialect::of(tree);
        // ORS names the datamodel `profile`; a document giving both must agree with itself.
        let profile = self.attr(root, "profile");
        if let (Some(_), Some(profile)) = (self.attr(root, "datamodel"), profile) {
            return Err(self.conflict(root, "datamodel", "profile", profile.position));
        }
        self.doc.datamodel = match self.attr(root, "datamodel").or(profile) {
            None => DatamodelKind::Ecmascript,
            Some(a) => match tree.str(a.value) {
                "ecmascript" => DatamodelKind::Ecmascript,
                "null" => DatamodelKind::Null,
                _ => return Err(self.bad_value(root, a, "\"ecmascript\" or \"null\"")),
            },
        };
        self.doc.binding = match self.attr(root, "binding") {
            None => Binding::Early,
            Some(a) => match tree.str(a.value) {
                "early" => Binding::Early,
                "late" => Binding::Late,
                _ => return Err(self.bad_value(root, a, "\"early\" or \"late\"")),
            },
        };
        self.doc.name = self.attr(root, "name").map(|a| tree.str(a.value).into());
        Ok(())
    }

    /// Adds an expression text to [`Document::exprs`].
    fn push_expr(&mut self, text: &str, kind: ExprKind, position: Position) -> ExprIdx {
        let idx = ExprIdx(index(self.doc.exprs.len()));
        self.doc.exprs.push(crate::model::Expr {
            text: text.into(),
            kind,
            position,
        });
        idx
    }

    /// The last step: lists the top-level scripts and notes what the expressions use.
    fn finish(mut self) -> Document {
        for (text, position) in std::mem::take(&mut self.scripts) {
            let script = self.push_expr(&text, ExprKind::Script, position);
            self.doc.scripts.push(script);
        }
        self.doc.uses_event = self.doc.exprs.iter().any(|e| e.text.contains("_event"));
        // `__GetCurrentStates()` (ORS) reads the configuration as `In()` does.
        self.doc.uses_in = self.doc.exprs.iter().any(|e| {
            let text = &*e.text;
            text.contains("In(") || text.contains("__GetCurrentStates")
        });
        self.doc.underscore_names = underscore_names(&self.doc.exprs);
        assert!(!self.doc.states.is_empty());
        debug_assert!(self.doc.states.iter().all(|s| !s.id.is_empty()));
        self.doc
    }
}

/// The `_`-prefixed identifiers in `exprs`, sorted and unique, and whether any expression
/// uses `eval` or `Function`.
fn underscore_names(exprs: &[crate::model::Expr]) -> (Vec<Box<str>>, bool) {
    let mut names: Vec<Box<str>> = Vec::new();
    let mut dynamic = false;
    for expr in exprs {
        let text = expr.text.as_bytes();
        dynamic |= expr.text.contains("eval") || expr.text.contains("Function");
        let mut i = 0;
        while i < text.len() {
            let starts = text[i] == b'_'
                && (i == 0 || !(text[i - 1].is_ascii_alphanumeric() || text[i - 1] == b'$'));
            if !starts || (i > 0 && text[i - 1] == b'_') {
                i += 1;
                continue;
            }
            let end = text[i..]
                .iter()
                .position(|b| !(b.is_ascii_alphanumeric() || *b == b'_' || *b == b'$'))
                .map_or(text.len(), |n| i + n);
            names.push(expr.text[i..end].into());
            i = end;
        }
    }
    names.sort();
    names.dedup();
    (names, dynamic)
}
