//! Executable content: runs a lowered [`Block`] instruction by instruction. The first error
//! ends the block and places `error.execution` on the internal queue (SCXML 4.9).

use super::{Cx, Session};
use crate::datamodel::{ScriptEffect, ScriptError};
use crate::event::Event;
use crate::model::{Block, Dyn, ExprIdx, Instr};
use crate::value::Value;

/// Why executable content failed: becomes `error.execution` (or `error.communication`).
#[derive(Clone, Debug)]
pub(super) struct ExecError {
    pub(super) message: String,
    /// The send id, for errors raised by a `<send>` (`_event.sendid`).
    pub(super) sendid: Option<Box<str>>,
}

impl ExecError {
    pub(super) fn script(e: ScriptError) -> ExecError {
        ExecError {
            message: e.message,
            sendid: None,
        }
    }

    pub(super) fn new(message: impl Into<String>) -> ExecError {
        ExecError {
            message: message.into(),
            sendid: None,
        }
    }
}

impl From<ScriptError> for ExecError {
    fn from(e: ScriptError) -> ExecError {
        ExecError::script(e)
    }
}

/// One open `<foreach>`: its length, the current item, and where its body starts.
struct Loop {
    len: u32,
    i: u32,
}

impl Session {
    /// Runs a block; an error stops it and raises `error.execution`.
    pub(super) fn execute(&mut self, cx: &mut Cx<'_>, block: Block) {
        let mut loops: Vec<Loop> = Vec::new();
        let mut pc = block.start;
        while pc < block.end {
            let stepped = self.step_instr(cx, pc, &mut loops);
            // Built-ins that act on the session are called from scripts; one called from
            // another expression acts when its block ends.
            if matches!(cx.doc.instrs[pc as usize], Instr::Script(_)) {
                self.perform_script_effects(cx);
            }
            match stepped {
                Ok(next) => pc = next,
                Err(e) => {
                    self.raise_error(e);
                    break;
                }
            }
        }
        self.perform_script_effects(cx);
        for _ in loops {
            cx.dm.foreach_end(self.scope);
        }
    }

    /// Executes the instruction at `pc` and returns the next `pc`.
    fn step_instr(
        &mut self,
        cx: &mut Cx<'_>,
        pc: u32,
        loops: &mut Vec<Loop>,
    ) -> Result<u32, ExecError> {
        let doc = cx.doc;
        let scope = self.scope;
        let next = pc + 1;
        match &doc.instrs[pc as usize] {
            Instr::Raise { event, data } => {
                let mut raised = Event::new(event, crate::event::EventKind::Internal);
                if let Some(payload) = data {
                    raised.data = self.payload_data(cx, payload)?;
                }
                self.enqueue_internal(raised);
            }
            Instr::Log { label, expr } => {
                let message = match expr {
                    Some(e) => cx.dm.eval_string(scope, *e)?,
                    None => String::new(),
                };
                cx.fx.log(label.as_deref(), &message);
            }
            Instr::Assign { location, expr } => cx.dm.assign(scope, *location, *expr)?,
            Instr::AssignValue { location, value } => {
                cx.dm.assign_value(scope, *location, value)?
            }
            Instr::Script(script) => cx.dm.run_script(scope, *script)?,
            Instr::If { cond, else_pc } => {
                return Ok(if cx.dm.eval_cond(scope, *cond)? {
                    next
                } else {
                    *else_pc
                });
            }
            Instr::Jump { pc } => return Ok(*pc),
            Instr::ForeachStart {
                array,
                item,
                index,
                end_pc,
            } => {
                return self.foreach_start(cx, loops, (*array, *item, *index), next, *end_pc);
            }
            Instr::ForeachNext { body_pc } => return self.foreach_next(cx, loops, pc, *body_pc),
            Instr::Send(send) => self.send(cx, *send)?,
            Instr::Cancel(sendid) => {
                let sendid = self.dyn_string(cx, sendid)?;
                cx.fx.cancel(&sendid);
            }
            Instr::Extension(idx) => self.extension(cx, *idx)?,
            Instr::Foreign { .. } => {}
        }
        Ok(next)
    }

    fn foreach_start(
        &mut self,
        cx: &mut Cx<'_>,
        loops: &mut Vec<Loop>,
        (array, item, index): (ExprIdx, ExprIdx, Option<ExprIdx>),
        next: u32,
        end_pc: u32,
    ) -> Result<u32, ExecError> {
        let len = cx.dm.foreach_begin(self.scope, array)?;
        loops.push(Loop { len, i: 0 });
        if len > self.limits.foreach_items_max {
            let max = self.limits.foreach_items_max;
            return Err(ExecError::new(format!(
                "foreach over {len} items, the limit is {max}"
            )));
        }
        if len == 0 {
            loops.pop();
            cx.dm.foreach_end(self.scope);
            return Ok(end_pc);
        }
        cx.dm.foreach_assign(self.scope, item, index, 0)?;
        Ok(next)
    }

    fn foreach_next(
        &mut self,
        cx: &mut Cx<'_>,
        loops: &mut Vec<Loop>,
        pc: u32,
        body_pc: u32,
    ) -> Result<u32, ExecError> {
        let top = loops.last_mut();
        assert!(top.is_some(), "ForeachNext without an open loop");
        let Some(top) = top else { return Ok(pc + 1) };
        top.i += 1;
        if top.i >= top.len {
            loops.pop();
            cx.dm.foreach_end(self.scope);
            return Ok(pc + 1);
        }
        let i = top.i;
        let start = body_pc
            .checked_sub(1)
            .and_then(|p| cx.doc.instrs.get(p as usize));
        let Some(Instr::ForeachStart { item, index, .. }) = start else {
            return Err(ExecError::new(
                "malformed foreach: the body must follow its start",
            ));
        };
        cx.dm.foreach_assign(self.scope, *item, *index, i)?;
        Ok(body_pc)
    }

    /// Evaluates a guard; an error counts as false and raises `error.execution`.
    pub(super) fn condition_holds(&mut self, cx: &mut Cx<'_>, cond: Option<ExprIdx>) -> bool {
        let Some(cond) = cond else { return true };
        match cx.dm.eval_cond(self.scope, cond) {
            Ok(holds) => holds,
            Err(e) => {
                self.raise_error(ExecError::script(e));
                false
            }
        }
    }

    /// A literal attribute or the string value of its `...expr` twin.
    pub(super) fn dyn_string(
        &mut self,
        cx: &mut Cx<'_>,
        value: &Dyn,
    ) -> Result<Box<str>, ExecError> {
        match value {
            Dyn::Literal(text) => Ok(text.clone()),
            Dyn::Expr(e) => Ok(cx.dm.eval_string(self.scope, *e)?.into()),
        }
    }

    /// Performs what the scripts just run asked for through built-ins (`__Raise`, `__Log`),
    /// in order.
    pub(super) fn perform_script_effects(&mut self, cx: &mut Cx<'_>) {
        for effect in cx.dm.take_script_effects(self.scope) {
            match effect {
                ScriptEffect::Raise { name, data } => {
                    let mut event = Event::new(&name, crate::event::EventKind::Internal);
                    event.data = data;
                    self.enqueue_internal(event);
                }
                ScriptEffect::Log { label, message } => {
                    let label = (!label.is_empty()).then_some(label.as_str());
                    cx.fx.log(label, &message);
                }
            }
        }
    }

    /// Places `error.execution` on the internal queue.
    pub(super) fn raise_error(&mut self, e: ExecError) {
        let data = Value::Object(vec![("message".into(), Value::String(e.message.into()))]);
        let mut event = Event::platform("error.execution", data);
        event.sendid = e.sendid;
        self.enqueue_internal(event);
    }
}
