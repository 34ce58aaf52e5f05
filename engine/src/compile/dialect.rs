//! Which SCXML a document is written in ([`Dialect`]), and the ORS meanings of attributes
//! W3C gives other meanings to.
//!
//! A document is in ORS mode when it declares (or uses) a `genesyslab.com/modules/*`
//! namespace, or gives `profile=` on `<scxml>` (ORS's name for `datamodel`); Composer writes
//! both. Only then do `<send event>`, `<send target>`, `<send type>`, `<send delay>` and
//! `<cancel sendid>` hold expressions (a target `'_internal'` is the internal queue) and
//! `<raise>` take `<param>`s: W3C documents keep W3C semantics.

use crate::error::CompileError;
use crate::model::{Delay, Dialect, Dyn, ExprKind, Instr};
use crate::parse::{ElemIdx, Tree};

use super::payload::PayloadOf;
use super::{index, Compiler};

/// What every ORS module namespace contains (Composer writes them with and without
/// `http://`).
const ORS_NAMESPACE_MARK: &str = "genesyslab.com/modules/";

/// The dialect of the document in `tree`.
pub(super) fn of(tree: &Tree) -> Dialect {
    let root = tree.root();
    let declares = tree.attributes(root).iter().any(|a| {
        let name = tree.str(a.qname);
        (name == "profile") || (name.starts_with("xmlns") && is_ors_namespace(tree.str(a.value)))
    });
    let uses = (0..index(tree.len()))
        .map(ElemIdx)
        .any(|e| is_ors_namespace(tree.namespace(e)));
    match declares || uses {
        true => Dialect::Ors,
        false => Dialect::W3c,
    }
}

/// True for an ORS module namespace URI.
pub(super) fn is_ors_namespace(uri: &str) -> bool {
    uri.contains(ORS_NAMESPACE_MARK)
}

impl Compiler<'_> {
    /// True when the document is in ORS mode.
    pub(super) fn ors(&self) -> bool {
        self.doc.dialect == Dialect::Ors
    }

    /// An attribute that W3C reads as a literal and ORS as an expression (`<send event>`,
    /// `<cancel sendid>`), with its W3C `...expr` twin; never both.
    pub(super) fn literal_or_ors_expr(
        &mut self,
        e: ElemIdx,
        literal: &str,
        expr: &str,
    ) -> Result<Option<Dyn>, CompileError> {
        if !self.ors() {
            return self.dynamic(e, literal, expr);
        }
        Ok(match self.exclusive(e, literal, expr)? {
            (Some(a), _) | (_, Some(a)) => Some(Dyn::Expr(self.expr(a, ExprKind::Value))),
            (None, None) => None,
        })
    }

    /// `<raise event>`: in ORS mode its `<param>`s (and `namelist`) are the event's data.
    pub(super) fn raise(&mut self, e: ElemIdx) -> Result<Instr, CompileError> {
        let event = self.value(self.required(e, "event")?).into();
        if !self.ors() {
            self.no_scxml_children(e)?;
            return Ok(Instr::Raise { event, data: None });
        }
        let payload = self.payload(e, PayloadOf::Send)?;
        let empty = payload.namelist.is_empty() && payload.params.is_empty();
        let data = (!empty || payload.content.is_some()).then(|| Box::new(payload));
        Ok(Instr::Raise { event, data })
    }

    /// `<send delay>` in ORS mode: an expression (`delay="'1s'"`, `delay="delayValue"`)
    /// whose value is read like `delayexpr`'s.
    pub(super) fn ors_delay(&mut self, e: ElemIdx) -> Result<Option<Delay>, CompileError> {
        Ok(match self.exclusive(e, "delay", "delayexpr")? {
            (Some(a), _) | (_, Some(a)) => Some(Delay::Expr(self.expr(a, ExprKind::Value))),
            (None, None) => None,
        })
    }
}
