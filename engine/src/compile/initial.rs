//! Initial transitions of compound states and default transitions of history states.
//!
//! Their targets are resolved in pass 2 like any other; when the document gives none (no
//! `initial` attribute, no `<initial>`, a `<history>` without `<transition>`), pass 2 points
//! them at the first child state in document order (for a history: its parent's first
//! child state that is not a history), which is what entering the parent by default does.

use crate::error::{CompileError, CompileErrorKind, Position};
use crate::model::{Block, StateKind, Transition, TransitionIdx, TransitionKind};
use crate::parse::ElemIdx;

use super::{index, Compiler, PendingTargets, Scope};

impl<'a> Compiler<'a> {
    /// The initial transition of the root or a `<state>`: from the `initial` attribute, the
    /// `<initial>` child, or (for a compound state) the first child state.
    pub(super) fn initial(
        &mut self,
        e: ElemIdx,
        s: u32,
        initial: Option<ElemIdx>,
    ) -> Result<(), CompileError> {
        let compound = self.doc.states[s as usize].kind == StateKind::Compound;
        let position = self.tree.element(e).position;
        let t = match (self.attr(e, "initial"), initial) {
            (Some(_), Some(i)) => {
                let at = self.tree.element(i).position;
                return Err(self.conflict(e, "initial", "<initial>", at));
            }
            (Some(a), None) => {
                if self.value(a).trim().is_empty() {
                    return Err(self.bad_value(e, a, "one or more state ids"));
                }
                let t = self.push_default(s, Block::default(), a.position);
                let scope = Scope::InitialOf(s);
                let pending = PendingTargets {
                    transition: t,
                    ids: a.value,
                    position: a.position,
                    scope,
                };
                self.pending.push(pending);
                t
            }
            (None, Some(i)) => {
                let transition = self.only_transition(i)?;
                self.pseudo_transition(transition, s, Scope::InitialOf(s))?
            }
            (None, None) if compound => {
                let t = self.push_default(s, Block::default(), position);
                self.defaults.push(t);
                t
            }
            (None, None) => return Ok(()),
        };
        self.doc.states[s as usize].initial = Some(TransitionIdx(t));
        Ok(())
    }

    /// The default transition of a history state `h`.
    pub(super) fn history_default(
        &mut self,
        h: u32,
        transition: Option<ElemIdx>,
    ) -> Result<(), CompileError> {
        let t = match transition {
            Some(transition) => self.pseudo_transition(transition, h, Scope::HistoryOf(h))?,
            None => {
                let position = self.doc.states[h as usize].position;
                let t = self.push_default(h, Block::default(), position);
                self.defaults.push(t);
                t
            }
        };
        self.doc.states[h as usize].initial = Some(TransitionIdx(t));
        Ok(())
    }

    /// The single `<transition>` of an `<initial>`.
    fn only_transition(&self, initial: ElemIdx) -> Result<ElemIdx, CompileError> {
        let tree = self.tree;
        let mut found = None;
        for child in tree.child_elements(initial) {
            match self.scxml_local(child) {
                Some("transition") if found.is_none() => found = Some(child),
                Some("transition") => return Err(self.only_one(child)),
                Some(_) => return Err(self.unexpected(child, initial)),
                None => {}
            }
        }
        found.ok_or_else(|| {
            let reason = "<initial> requires a <transition>".to_string();
            self.error(
                tree.element(initial).position,
                CompileErrorKind::Invalid { reason },
            )
        })
    }

    /// The `<transition>` of an `<initial>` or `<history>`: a target, no event, no guard.
    fn pseudo_transition(
        &mut self,
        e: ElemIdx,
        source: u32,
        scope: Scope,
    ) -> Result<u32, CompileError> {
        for name in ["event", "cond"] {
            if let Some(a) = self.attr(e, name) {
                let parent = self
                    .tree
                    .element(e)
                    .parent
                    .map_or("", |p| self.tree.name(p));
                let reason = format!("the <transition> of <{parent}> must not have '{name}'");
                return Err(self.error(a.position, CompileErrorKind::Invalid { reason }));
            }
        }
        let target = self.required(e, "target")?;
        if self.value(target).trim().is_empty() {
            return Err(self.bad_value(e, target, "one or more state ids"));
        }
        let body = self.lower_children(e)?;
        let t = self.push_default(source, body, self.tree.element(e).position);
        let (ids, position) = (target.value, target.position);
        self.pending.push(PendingTargets {
            transition: t,
            ids,
            position,
            scope,
        });
        Ok(t)
    }

    /// Adds an eventless, unguarded transition whose targets pass 2 fills in.
    fn push_default(&mut self, source: u32, body: Block, position: Position) -> u32 {
        let t = index(self.doc.transitions.len());
        self.doc.transitions.push(Transition {
            source: crate::model::StateIdx(source),
            events: Vec::new(),
            cond: None,
            targets: Vec::new(),
            kind: TransitionKind::External,
            body,
            position,
        });
        t
    }
}
