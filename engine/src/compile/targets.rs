//! Pass 2: generated ids, `descendants_end`, and target resolution, once every id is known.
//! Each step is linear in the number of states or targets (lookups go through the ids map).

use crate::error::{CompileError, CompileErrorKind};
use crate::model::{StateIdx, StateKind};

use super::{Compiler, PendingTargets, Scope};

/// The id of the root when `<scxml>` has no usable `name`.
const ROOT_ID: &str = "__baton_root";

fn is_history(kind: StateKind) -> bool {
    matches!(kind, StateKind::HistoryShallow | StateKind::HistoryDeep)
}

impl<'a> Compiler<'a> {
    /// Runs pass 2.
    pub(super) fn resolve(&mut self) -> Result<(), CompileError> {
        self.generate_ids();
        self.descendants();
        let pending = std::mem::take(&mut self.pending);
        for targets in &pending {
            self.resolve_targets(targets)?;
        }
        let defaults = std::mem::take(&mut self.defaults);
        for t in defaults {
            self.resolve_default(t)?;
        }
        Ok(())
    }

    /// Gives every state without an id one that no other state has: `__baton_N` (N the
    /// state's index) for states, the `<scxml>` name (or `__baton_root`) for the root,
    /// with `_` appended until unique.
    fn generate_ids(&mut self) {
        for s in 0..self.doc.states.len() {
            if !self.doc.states[s].id.is_empty() {
                continue;
            }
            let mut id = match (s, &self.doc.name) {
                (0, Some(name)) if !name.is_empty() => name.to_string(),
                (0, _) => ROOT_ID.to_string(),
                _ => format!("__baton_{s}"),
            };
            while self.doc.ids.contains_key(id.as_str()) {
                id.push('_');
            }
            let id: Box<str> = id.into();
            self.doc.ids.insert(id.clone(), StateIdx(super::index(s)));
            self.doc.states[s].id = id;
        }
        debug_assert_eq!(self.doc.ids.len(), self.doc.states.len());
    }

    /// Fills `descendants_end`: children come after their parent, so one backward sweep
    /// carries each subtree's end up to its parent.
    fn descendants(&mut self) {
        for s in (1..self.doc.states.len()).rev() {
            let end = self.doc.states[s].descendants_end;
            let Some(parent) = self.doc.states[s].parent else {
                continue;
            };
            assert!((parent.0 as usize) < s);
            let parent = &mut self.doc.states[parent.0 as usize];
            parent.descendants_end = parent.descendants_end.max(end);
        }
        assert!(self.doc.states[0].descendants_end.0 as usize == self.doc.states.len());
    }

    /// Resolves one `target`/`initial` attribute.
    fn resolve_targets(&mut self, pending: &PendingTargets) -> Result<(), CompileError> {
        let text = self.tree.str(pending.ids);
        let mut targets = Vec::new();
        for id in text.split_ascii_whitespace() {
            let Some(&target) = self.doc.ids.get(id) else {
                let kind = CompileErrorKind::UnknownTarget { id: id.to_string() };
                return Err(self.error(pending.position, kind));
            };
            if let Some(reason) = self.misplaced(target, pending.scope) {
                let kind = CompileErrorKind::BadTarget {
                    id: id.to_string(),
                    reason: reason.into(),
                };
                return Err(self.error(pending.position, kind));
            }
            targets.push(target);
        }
        self.doc.transitions[pending.transition as usize].targets = targets;
        Ok(())
    }

    /// Why `target` may not be named in `scope`, if it may not.
    fn misplaced(&self, target: StateIdx, scope: Scope) -> Option<&'static str> {
        match scope {
            Scope::Any => (target.0 == 0).then_some("the <scxml> root is not a state"),
            Scope::InitialOf(s) => (!self.doc.is_descendant(target, StateIdx(s)))
                .then_some("an initial state must be a descendant of its parent state"),
            Scope::HistoryOf(h) => {
                let parent = self.doc.states[h as usize].parent.unwrap_or(StateIdx(0));
                if !self.doc.is_descendant(target, parent) {
                    Some("a history default must be a descendant of the history's parent")
                } else if is_history(self.doc.state(target).kind) {
                    Some("a history default must not be a history state")
                } else {
                    None
                }
            }
        }
    }

    /// An initial or history default the document left implicit: the first child state
    /// (not a history) of the compound state, or of the history's parent.
    fn resolve_default(&mut self, t: u32) -> Result<(), CompileError> {
        let source = self.doc.transitions[t as usize].source;
        let state = self.doc.state(source);
        let parent = match is_history(state.kind) {
            true => state.parent.unwrap_or(source),
            false => source,
        };
        let parent = self.doc.state(parent);
        let first = parent
            .children
            .iter()
            .copied()
            .find(|&c| !is_history(self.doc.state(c).kind));
        let Some(first) = first else {
            let reason = "no child <state>, <parallel> or <final> to enter".to_string();
            return Err(self.error(parent.position, CompileErrorKind::Invalid { reason }));
        };
        self.doc.transitions[t as usize].targets = vec![first];
        Ok(())
    }
}
