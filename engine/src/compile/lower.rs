//! Executable content to instructions with jumps ([`Instr`]).
//!
//! `<if c1>A<elseif c2/>B<else/>C</if>` becomes
//! `If{c1, else_pc: L1} A Jump{END} L1: If{c2, else_pc: L2} B Jump{END} L2: C END:`, and
//! `<foreach>` becomes `ForeachStart{end_pc: END} body ForeachNext{body_pc} END:`. Jump
//! targets are patched when the enclosing element ends. `<if>` and `<foreach>` nest as deep
//! as the input does, so the lowering keeps an explicit frame stack instead of recursing.

use crate::error::{CompileError, CompileErrorKind};
use crate::model::{Block, ExprKind, Instr};
use crate::parse::{Child, Children, ElemIdx};

use super::content::element_content;
use super::{index, Compiler};

/// The next element among a container's children (text between them is ignored here).
fn next_element(children: &mut Children<'_>) -> Option<ElemIdx> {
    children.find_map(|child| match child {
        Child::Element(e) => Some(e),
        Child::Text(_) => None,
    })
}

/// What a frame is lowering; decides what its end emits and patches.
#[derive(Clone, Copy, Debug)]
enum Kind {
    /// A plain block: nothing to patch.
    Block,
    /// An `<if>`: `pending` is the last `If` whose `else_pc` is still open; the `Jump`s to
    /// the end are the ones in the shared list from index `jumps` on.
    If {
        pending: Option<u32>,
        jumps: usize,
        after_else: bool,
    },
    /// A `<foreach>` whose `ForeachStart` is at `start`.
    Foreach { start: u32 },
}

struct Frame<'t> {
    cursor: Children<'t>,
    kind: Kind,
    container: ElemIdx,
}

impl<'a> Compiler<'a> {
    /// Lowers the children of `e` as one block.
    pub(super) fn lower_children(&mut self, e: ElemIdx) -> Result<Block, CompileError> {
        let start = self.pc();
        self.lower(self.tree.children(e), e)?;
        Ok(Block {
            start,
            end: self.pc(),
        })
    }

    fn pc(&self) -> u32 {
        index(self.doc.instrs.len())
    }

    fn push_instr(&mut self, instr: Instr) -> u32 {
        let pc = self.pc();
        self.doc.instrs.push(instr);
        pc
    }

    fn lower(&mut self, cursor: Children<'a>, container: ElemIdx) -> Result<(), CompileError> {
        let tree = self.tree;
        let mut frames = vec![Frame {
            cursor,
            kind: Kind::Block,
            container,
        }];
        let mut jumps: Vec<u32> = Vec::new();
        while let Some(frame) = frames.last_mut() {
            let container = frame.container;
            let Some(e) = next_element(&mut frame.cursor) else {
                let kind = frame.kind;
                frames.pop();
                self.end(kind, &mut jumps);
                continue;
            };
            match self.scxml_local(e) {
                None if crate::extension::is_baton_namespace(tree.namespace(e)) => {
                    let instr = self.extension(e)?;
                    self.push_instr(instr);
                }
                None => {
                    self.push_instr(Instr::Foreign {
                        name: tree.name(e).into(),
                    });
                }
                Some("if") => {
                    let cond = self.required(e, "cond")?;
                    let cond = self.expr(cond, ExprKind::Cond);
                    let pc = self.push_instr(Instr::If { cond, else_pc: 0 });
                    let kind = Kind::If {
                        pending: Some(pc),
                        jumps: jumps.len(),
                        after_else: false,
                    };
                    frames.push(Frame {
                        cursor: tree.children(e),
                        kind,
                        container: e,
                    });
                }
                Some(local @ ("elseif" | "else")) => {
                    self.branch(e, local, container, &mut frame.kind, &mut jumps)?;
                }
                Some("foreach") => {
                    let start = self.foreach(e)?;
                    let kind = Kind::Foreach { start };
                    frames.push(Frame {
                        cursor: tree.children(e),
                        kind,
                        container: e,
                    });
                }
                Some(local) => self.leaf(e, local, container)?,
            }
        }
        assert!(jumps.is_empty());
        Ok(())
    }

    /// Closes a frame: patches its jumps, ends a loop.
    fn end(&mut self, kind: Kind, jumps: &mut Vec<u32>) {
        match kind {
            Kind::Block => {}
            Kind::If {
                pending,
                jumps: first,
                ..
            } => {
                let end = self.pc();
                if let Some(pc) = pending {
                    self.patch(pc, end);
                }
                for pc in jumps.drain(first..) {
                    self.patch(pc, end);
                }
            }
            Kind::Foreach { start } => {
                self.push_instr(Instr::ForeachNext { body_pc: start + 1 });
                let end = self.pc();
                self.patch(start, end);
            }
        }
    }

    /// Sets the jump target of the `If`, `Jump` or `ForeachStart` at `pc`.
    fn patch(&mut self, pc: u32, target: u32) {
        assert!(target > pc);
        match self.doc.instrs.get_mut(pc as usize) {
            Some(Instr::If { else_pc, .. }) => *else_pc = target,
            Some(Instr::Jump { pc }) => *pc = target,
            Some(Instr::ForeachStart { end_pc, .. }) => *end_pc = target,
            other => debug_assert!(false, "no jump to patch at {pc}: {other:?}"),
        }
    }

    /// `<elseif>` or `<else>`: ends the previous branch of the enclosing `<if>`.
    fn branch(
        &mut self,
        e: ElemIdx,
        local: &str,
        container: ElemIdx,
        kind: &mut Kind,
        jumps: &mut Vec<u32>,
    ) -> Result<(), CompileError> {
        let Kind::If {
            pending,
            after_else,
            ..
        } = kind
        else {
            return Err(self.unexpected(e, container));
        };
        if *after_else {
            let reason = format!("<{local}> after <else>");
            return Err(self.error(
                self.tree.element(e).position,
                CompileErrorKind::Invalid { reason },
            ));
        }
        self.no_scxml_children(e)?;
        let cond = match local {
            "elseif" => Some(self.required(e, "cond")?),
            _ => None,
        };
        jumps.push(self.push_instr(Instr::Jump { pc: 0 }));
        if let Some(pc) = pending.take() {
            let here = self.pc();
            self.patch(pc, here);
        }
        match cond {
            Some(cond) => {
                let cond = self.expr(cond, ExprKind::Cond);
                *pending = Some(self.push_instr(Instr::If { cond, else_pc: 0 }));
            }
            None => *after_else = true,
        }
        Ok(())
    }

    /// Emits the `ForeachStart` of a `<foreach>`; returns its pc.
    fn foreach(&mut self, e: ElemIdx) -> Result<u32, CompileError> {
        let array = self.required(e, "array")?;
        let item = self.required(e, "item")?;
        let array = self.expr(array, ExprKind::Value);
        let item = self.expr(item, ExprKind::Location);
        let index = self.opt_expr(e, "index", ExprKind::Location);
        Ok(self.push_instr(Instr::ForeachStart {
            array,
            item,
            index,
            end_pc: 0,
        }))
    }

    /// An executable element without nested executable content.
    fn leaf(&mut self, e: ElemIdx, local: &str, container: ElemIdx) -> Result<(), CompileError> {
        let instr = match local {
            "raise" => self.raise(e)?,
            "log" => {
                self.no_scxml_children(e)?;
                let label = self.attr(e, "label").map(|a| self.value(a).into());
                Instr::Log {
                    label,
                    expr: self.opt_expr(e, "expr", ExprKind::Value),
                }
            }
            "assign" => self.assign(e)?,
            "script" => {
                let text = self.script_text(e)?;
                let position = self.tree.element(e).position;
                Instr::Script(self.push_expr(&text, ExprKind::Script, position))
            }
            "send" => Instr::Send(self.send(e)?),
            "cancel" => Instr::Cancel(self.cancel(e)?),
            _ => return Err(self.unexpected(e, container)),
        };
        self.push_instr(instr);
        Ok(())
    }

    /// `<assign>`: a `location` and exactly one of `expr` and content.
    fn assign(&mut self, e: ElemIdx) -> Result<Instr, CompileError> {
        let location = self.required(e, "location")?;
        let content = self.has_content(e);
        match (self.attr(e, "expr"), content) {
            (Some(a), true) => Err(self.conflict(e, "expr", "content", a.position)),
            (None, false) => Err(self.missing(e, "expr")),
            (Some(a), false) => {
                let location = self.expr(location, ExprKind::Location);
                Ok(Instr::Assign {
                    location,
                    expr: self.expr(a, ExprKind::Value),
                })
            }
            (None, true) => {
                let location = self.expr(location, ExprKind::Location);
                let value = element_content(self.tree, self.source, e);
                Ok(Instr::AssignValue { location, value })
            }
        }
    }

    /// The text of a `<script>`: its content, or the text its `src` loads. A `src` that
    /// cannot be loaded rejects the document (W3C test 301).
    pub(super) fn script_text(&mut self, e: ElemIdx) -> Result<String, CompileError> {
        self.no_scxml_children(e)?;
        let text = self.tree.text(e);
        let Some(src) = self.attr(e, "src") else {
            return Ok(text);
        };
        if !text.trim().is_empty() {
            return Err(self.conflict(e, "src", "content", src.position));
        }
        let name = self.value(src);
        self.loader.load(self.file, name).map_err(|reason| {
            let kind = CompileErrorKind::Load {
                src: name.to_string(),
                reason,
            };
            self.error(src.position, kind)
        })
    }
}
