//! Baton extension actions ([`crate::extension`]): elements in Baton namespaces, checked
//! before anything else is compiled and lowered to [`Instr::Extension`] in executable
//! content.

use crate::error::{CompileError, CompileErrorKind};
use crate::extension::{self, ActionSpec, AttributeSpec};
use crate::model::{Dyn, ExprKind, Extension, ExtensionIdx, Instr};
use crate::parse::ElemIdx;

use super::payload::PayloadOf;
use super::{index, Compiler};

impl<'a> Compiler<'a> {
    /// Rejects every element in a Baton namespace that is not a Baton action, wherever it
    /// stands (even inside ignored foreign content), and counts the actions.
    pub(super) fn check_extensions(&mut self) -> Result<(), CompileError> {
        let tree = self.tree;
        for e in (0..index(tree.len())).map(ElemIdx) {
            let namespace = tree.namespace(e);
            if !extension::is_baton_namespace(namespace) {
                continue;
            }
            if extension::action(namespace, tree.local_name(e)).is_none() {
                return Err(self.unknown_action(e));
            }
            self.baton_elements += 1;
        }
        Ok(())
    }

    /// `<e>` is in a Baton namespace but is no Baton action.
    fn unknown_action(&self, e: ElemIdx) -> CompileError {
        let tree = self.tree;
        let namespace = tree.namespace(e);
        let kind = CompileErrorKind::UnknownExtension {
            element: tree.name(e).to_string(),
            namespace: namespace.to_string(),
            known: extension::known_actions(namespace),
        };
        self.error(tree.element(e).position, kind)
    }

    /// Once executable content is lowered: every Baton action was lowered, that is, none
    /// stands where executable content may not (a child of `<state>`, `<send>`, another
    /// action, or of ignored foreign content).
    pub(super) fn check_extensions_placed(&self) -> Result<(), CompileError> {
        if self.lowered_extensions.len() == self.baton_elements as usize {
            return Ok(());
        }
        let tree = self.tree;
        let misplaced = (0..index(tree.len())).map(ElemIdx).find(|e| {
            extension::is_baton_namespace(tree.namespace(*e))
                && !self.lowered_extensions.contains(e)
        });
        assert!(misplaced.is_some(), "fewer actions lowered than counted");
        let Some(e) = misplaced else { return Ok(()) };
        // The root is `<scxml>` (checked first), so an action always has a parent.
        let parent = tree.element(e).parent.unwrap_or(tree.root());
        Err(self.unexpected(e, parent))
    }

    /// An action in executable content: its attributes (literal or expression, never
    /// both; required ones present; literals checked), its `idlocation` and its payload.
    pub(super) fn extension(&mut self, e: ElemIdx) -> Result<Instr, CompileError> {
        let tree = self.tree;
        let spec = extension::action(tree.namespace(e), tree.local_name(e));
        let Some(spec) = spec else {
            return Err(self.unknown_action(e));
        };
        self.no_unknown_attributes(e, spec)?;
        let mut args = Vec::with_capacity(spec.attributes.len());
        for attribute in spec.attributes {
            args.push(self.extension_arg(e, attribute)?);
        }
        let id_location = match spec.id_location {
            true => self.opt_expr(e, "idlocation", ExprKind::Location),
            false => None,
        };
        if !spec.payload {
            self.no_payload_children(e)?;
        }
        let payload = self.payload(e, PayloadOf::Send)?;
        let idx = ExtensionIdx(index(self.doc.extensions.len()));
        self.doc.extensions.push(Extension {
            kind: spec.kind,
            args,
            payload,
            id_location,
            position: tree.element(e).position,
        });
        self.lowered_extensions.push(e);
        Ok(Instr::Extension(idx))
    }

    /// One attribute: its literal (checked) or its expression; `None` when the element
    /// gives neither, an error if the attribute is required.
    fn extension_arg(
        &mut self,
        e: ElemIdx,
        attribute: &AttributeSpec,
    ) -> Result<Option<Dyn>, CompileError> {
        Ok(match self.exclusive(e, attribute.name, attribute.expr)? {
            (Some(a), _) => {
                if let Some(check) = attribute.literal {
                    if !(check.valid)(self.value(a)) {
                        return Err(self.bad_value(e, a, check.expected));
                    }
                }
                Some(Dyn::Literal(self.value(a).into()))
            }
            (_, Some(a)) => Some(Dyn::Expr(self.expr(a, ExprKind::Value))),
            (None, None) if attribute.required => return Err(self.missing(e, attribute.name)),
            (None, None) => None,
        })
    }

    /// Rejects `<param>` and `<content>` in an action that takes no payload, at the child,
    /// rather than dropping data the author meant to send.
    fn no_payload_children(&self, e: ElemIdx) -> Result<(), CompileError> {
        let payload_child = self
            .tree
            .child_elements(e)
            .find(|&c| matches!(self.scxml_local(c), Some("param" | "content")));
        match payload_child {
            Some(child) => Err(self.unexpected(child, e)),
            None => Ok(()),
        }
    }

    /// Rejects an unprefixed attribute the action does not take (a misspelt `status` must
    /// not silently become the default; a `namelist` on an action without payload must not
    /// be dropped). Prefixed attributes belong to other namespaces.
    fn no_unknown_attributes(&self, e: ElemIdx, spec: &ActionSpec) -> Result<(), CompileError> {
        let tree = self.tree;
        for a in tree.attributes(e) {
            if a.namespace != 0 || a.qname != a.local {
                continue;
            }
            let name = tree.str(a.local);
            let known = (name == "namelist" && spec.payload)
                || (name == "idlocation" && spec.id_location)
                || name == "xmlns"
                || spec
                    .attributes
                    .iter()
                    .any(|spec| spec.name == name || spec.expr == name);
            if !known {
                let kind = CompileErrorKind::UnknownAttribute {
                    element: tree.name(e).to_string(),
                    attribute: name.to_string(),
                };
                return Err(self.error(a.position, kind));
            }
        }
        Ok(())
    }
}
