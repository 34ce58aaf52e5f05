//! `<send>`, `<invoke>` and `<donedata>`: their attributes and their payload (`namelist`,
//! `<param>`, `<content>`).

use crate::error::CompileError;
use crate::model::{
    Block, Content, Delay, ExprKind, Invoke, Param, Payload, Send, SendIdx, StateIdx,
};
use crate::parse::ElemIdx;
use crate::value::Value;

use super::content::{element_content, element_xml};
use super::{index, parse_delay_ms, Compiler, SCXML_NS};

/// Which element a payload belongs to: they differ in what may be combined.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum PayloadOf {
    /// `<content>` excludes `namelist` and `<param>`.
    Send,
    /// `<content>` is the child document; `<finalize>` is also a child.
    Invoke,
    /// `<content>` excludes `<param>`; no `namelist`.
    DoneData,
}

impl<'a> Compiler<'a> {
    /// A `<send>`: returns its index in [`crate::model::Document::sends`].
    pub(super) fn send(&mut self, e: ElemIdx) -> Result<SendIdx, CompileError> {
        let event = self.literal_or_ors_expr(e, "event", "eventexpr")?;
        let target = self.literal_or_ors_expr(e, "target", "targetexpr")?;
        let type_ = self.literal_or_ors_expr(e, "type", "typeexpr")?;
        let id = self.send_id(e)?;
        let delay = match self.exclusive(e, "delay", "delayexpr")? {
            _ if self.ors() => self.ors_delay(e)?,
            (Some(a), _) => match parse_delay_ms(self.value(a)) {
                Some(ms) => Some(Delay::Ms(ms)),
                None => {
                    return Err(self.bad_value(e, a, "a CSS2 time such as \"2s\" or \"500ms\""))
                }
            },
            (_, Some(a)) => Some(Delay::Expr(self.expr(a, ExprKind::Value))),
            (None, None) => None,
        };
        let payload = self.payload(e, PayloadOf::Send)?;
        let position = self.tree.element(e).position;
        let idx = SendIdx(index(self.doc.sends.len()));
        self.doc.sends.push(Send {
            event,
            target,
            type_,
            id,
            delay,
            payload,
            position,
        });
        Ok(idx)
    }

    /// An `<invoke>` of state `s`.
    pub(super) fn invoke(&mut self, e: ElemIdx, s: u32) -> Result<(), CompileError> {
        let type_ = self.dynamic(e, "type", "typeexpr")?;
        let src = self.dynamic(e, "src", "srcexpr")?;
        let id = self.send_id(e)?;
        let autoforward = match self.attr(e, "autoforward") {
            None => false,
            Some(a) => match self.value(a) {
                "true" => true,
                "false" => false,
                _ => return Err(self.bad_value(e, a, "\"true\" or \"false\"")),
            },
        };
        let payload = self.payload(e, PayloadOf::Invoke)?;
        if let (Some(_), Some(_)) = (&src, &payload.content) {
            let src = if self.attr(e, "src").is_some() {
                "src"
            } else {
                "srcexpr"
            };
            return Err(self.conflict(e, src, "<content>", self.tree.element(e).position));
        }
        let finalize = self.finalize(e)?;
        let position = self.tree.element(e).position;
        let state = StateIdx(s);
        self.doc.invokes.push(Invoke {
            state,
            type_,
            src,
            id,
            autoforward,
            payload,
            finalize,
            position,
        });
        Ok(())
    }

    /// The `<finalize>` of an `<invoke>` (at most one).
    fn finalize(&mut self, e: ElemIdx) -> Result<Block, CompileError> {
        let tree = self.tree;
        let mut finalize = None;
        for child in tree.child_elements(e) {
            if self.scxml_local(child) == Some("finalize") {
                if finalize.is_some() {
                    return Err(self.only_one(child));
                }
                finalize = Some(self.lower_children(child)?);
            }
        }
        Ok(finalize.unwrap_or_default())
    }

    /// `namelist`, `<param>`s and `<content>` of a `<send>`, `<invoke>` or `<donedata>`.
    pub(super) fn payload(&mut self, e: ElemIdx, of: PayloadOf) -> Result<Payload, CompileError> {
        let tree = self.tree;
        let mut payload = Payload::default();
        if of != PayloadOf::DoneData {
            payload.namelist = self.namelist(e);
        }
        for child in tree.child_elements(e) {
            match self.scxml_local(child) {
                Some("param") => payload.params.push(self.param(child)?),
                Some("content") if payload.content.is_some() => return Err(self.only_one(child)),
                Some("content") => payload.content = Some(self.content_element(child, of)?),
                Some("finalize") if of == PayloadOf::Invoke => {}
                Some(_) => return Err(self.unexpected(child, e)),
                None => {}
            }
        }
        if of != PayloadOf::Invoke && payload.content.is_some() {
            let other = match (payload.namelist.is_empty(), payload.params.is_empty()) {
                (false, _) => Some("namelist"),
                (true, false) => Some("<param>"),
                (true, true) => None,
            };
            if let Some(other) = other {
                return Err(self.conflict(e, other, "<content>", tree.element(e).position));
            }
        }
        Ok(payload)
    }

    /// A `<param>`: `name` and exactly one of `expr` and `location`.
    fn param(&mut self, e: ElemIdx) -> Result<Param, CompileError> {
        self.no_scxml_children(e)?;
        let name: Box<str> = self.value(self.required(e, "name")?).into();
        let value = match self.exclusive(e, "expr", "location")? {
            (Some(a), _) => self.expr(a, ExprKind::Value),
            (_, Some(a)) => self.expr(a, ExprKind::Location),
            (None, None) => return Err(self.missing(e, "expr")),
        };
        Ok(Param { name, value })
    }

    /// A `<content>`: `expr` or literal children, not both. In an `<invoke>`, a child
    /// `<scxml>` element is the child document, kept as XML text on its own.
    fn content_element(&mut self, e: ElemIdx, of: PayloadOf) -> Result<Content, CompileError> {
        let tree = self.tree;
        if let Some(a) = self.attr(e, "expr") {
            if self.has_content(e) {
                return Err(self.conflict(e, "expr", "content", a.position));
            }
            return Ok(Content::Expr(self.expr(a, ExprKind::Value)));
        }
        let document = tree
            .child_elements(e)
            .find(|&c| tree.namespace(c) == SCXML_NS && tree.local_name(c) == "scxml");
        Ok(Content::Value(match (of, document) {
            (PayloadOf::Invoke, Some(document)) => {
                Value::Xml(element_xml(tree, self.source, document).into())
            }
            _ => element_content(tree, self.source, e),
        }))
    }

    /// `<cancel>`: `sendid` or `sendidexpr`, exactly one.
    pub(super) fn cancel(&mut self, e: ElemIdx) -> Result<crate::model::Dyn, CompileError> {
        self.no_scxml_children(e)?;
        match self.literal_or_ors_expr(e, "sendid", "sendidexpr")? {
            Some(sendid) => Ok(sendid),
            None => Err(self.missing(e, "sendid")),
        }
    }
}
