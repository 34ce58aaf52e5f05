//! Attribute access and the attribute errors: required, mutually exclusive, literal or
//! expression (`event`/`eventexpr`), and the expressions they become.

use crate::error::{CompileError, CompileErrorKind};
use crate::model::{Dyn, ExprIdx, ExprKind, SendId};
use crate::parse::{Attribute, ElemIdx};

use super::Compiler;

impl<'a> Compiler<'a> {
    /// The unprefixed attribute `name` of an element.
    pub(super) fn attr(&self, e: ElemIdx, name: &str) -> Option<&'a Attribute> {
        self.tree.attribute(e, name)
    }

    /// The value of an attribute.
    pub(super) fn value(&self, attribute: &Attribute) -> &'a str {
        self.tree.str(attribute.value)
    }

    /// The attribute `name`, or a `MissingAttribute` error at the element.
    pub(super) fn required(&self, e: ElemIdx, name: &str) -> Result<&'a Attribute, CompileError> {
        self.attr(e, name).ok_or_else(|| self.missing(e, name))
    }

    /// `<e>` requires the attribute `name`.
    pub(super) fn missing(&self, e: ElemIdx, name: &str) -> CompileError {
        let kind = CompileErrorKind::MissingAttribute {
            element: self.tree.name(e).to_string(),
            attribute: name.to_string(),
        };
        self.error(self.tree.element(e).position, kind)
    }

    /// The attribute has a value outside `expected`.
    pub(super) fn bad_value(&self, e: ElemIdx, a: &Attribute, expected: &str) -> CompileError {
        let kind = CompileErrorKind::BadAttributeValue {
            element: self.tree.name(e).to_string(),
            attribute: self.tree.str(a.qname).to_string(),
            value: self.value(a).to_string(),
            expected: expected.to_string(),
        };
        self.error(a.position, kind)
    }

    /// `<e>` must not have both `first` and `second`; reported at `position`.
    pub(super) fn conflict(
        &self,
        e: ElemIdx,
        first: &str,
        second: &str,
        position: crate::error::Position,
    ) -> CompileError {
        let kind = CompileErrorKind::ConflictingAttributes {
            element: self.tree.name(e).to_string(),
            first: first.to_string(),
            second: second.to_string(),
        };
        self.error(position, kind)
    }

    /// At most one of two attributes: `Ok((first, second))` with at most one `Some`.
    pub(super) fn exclusive(
        &self,
        e: ElemIdx,
        first: &str,
        second: &str,
    ) -> Result<(Option<&'a Attribute>, Option<&'a Attribute>), CompileError> {
        match (self.attr(e, first), self.attr(e, second)) {
            (Some(_), Some(b)) => Err(self.conflict(e, first, second, b.position)),
            pair => Ok(pair),
        }
    }

    /// Adds an attribute's value as an expression of `kind`.
    pub(super) fn expr(&mut self, attribute: &Attribute, kind: ExprKind) -> ExprIdx {
        let text = self.tree.str(attribute.value);
        self.push_expr(text, kind, attribute.position)
    }

    /// The attribute `name` as an expression of `kind`, if present.
    pub(super) fn opt_expr(&mut self, e: ElemIdx, name: &str, kind: ExprKind) -> Option<ExprIdx> {
        let attribute = self.attr(e, name)?;
        Some(self.expr(attribute, kind))
    }

    /// A literal attribute or its `...expr` twin (a value expression); never both.
    pub(super) fn dynamic(
        &mut self,
        e: ElemIdx,
        literal: &str,
        expr: &str,
    ) -> Result<Option<Dyn>, CompileError> {
        Ok(match self.exclusive(e, literal, expr)? {
            (Some(a), _) => Some(Dyn::Literal(self.value(a).into())),
            (_, Some(a)) => Some(Dyn::Expr(self.expr(a, ExprKind::Value))),
            (None, None) => None,
        })
    }

    /// `id` / `idlocation` of `<send>` and `<invoke>`; never both.
    pub(super) fn send_id(&mut self, e: ElemIdx) -> Result<SendId, CompileError> {
        Ok(match self.exclusive(e, "id", "idlocation")? {
            (Some(a), _) => SendId::Literal(self.value(a).into()),
            (_, Some(a)) => SendId::Location(self.expr(a, ExprKind::Location)),
            (None, None) => SendId::None,
        })
    }

    /// `namelist`: each space separated entry is a location, keyed by its text.
    pub(super) fn namelist(&mut self, e: ElemIdx) -> Vec<(Box<str>, ExprIdx)> {
        let Some(attribute) = self.attr(e, "namelist") else {
            return Vec::new();
        };
        let text = self.value(attribute);
        let mut entries = Vec::new();
        for name in text.split_ascii_whitespace() {
            let expr = self.push_expr(name, ExprKind::Location, attribute.position);
            entries.push((name.into(), expr));
        }
        entries
    }

    /// True if the element has element children or non-whitespace text.
    pub(super) fn has_content(&self, e: ElemIdx) -> bool {
        self.tree.children(e).any(|child| match child {
            crate::parse::Child::Element(_) => true,
            crate::parse::Child::Text(text) => !text.trim().is_empty(),
        })
    }

    /// Rejects SCXML child elements of an element that takes none (foreign ones are
    /// extensions and are ignored).
    pub(super) fn no_scxml_children(&self, e: ElemIdx) -> Result<(), CompileError> {
        let tree = self.tree;
        match tree
            .child_elements(e)
            .find(|&c| self.scxml_local(c).is_some())
        {
            Some(child) => Err(self.unexpected(child, e)),
            None => Ok(()),
        }
    }
}
