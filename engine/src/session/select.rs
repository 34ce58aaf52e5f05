//! Selecting transitions: enabled transitions per atomic state, conflict resolution, and the
//! transition domain and exit set that conflicts are judged by (Appendix D).

use std::borrow::Cow;

use super::{Bits, Cx, Session, ROOT};
use crate::model::{Document, StateIdx, StateKind, TransitionIdx, TransitionKind};

impl Session {
    /// Fills `enabled` with the optimal enabled transition set for `event` (or the eventless
    /// transitions when `event` is `None`), in the order of the states that selected them.
    pub(super) fn select_transitions(
        &mut self,
        cx: &mut Cx<'_>,
        event: Option<&str>,
        enabled: &mut Vec<TransitionIdx>,
    ) {
        enabled.clear();
        let doc = cx.doc;
        let mut atomic = self
            .configuration
            .first_in(ROOT, StateIdx(doc.states.len() as u32));
        while let Some(leaf) = atomic {
            let next = StateIdx(leaf.0 + 1);
            atomic = self
                .configuration
                .first_in(next, StateIdx(doc.states.len() as u32));
            if !is_leaf(doc.state(leaf).kind) {
                continue;
            }
            if let Some(t) = self.first_enabled(cx, leaf, event) {
                if !enabled.contains(&t) {
                    enabled.push(t);
                }
            }
        }
        if enabled.len() > 1 {
            self.remove_conflicts(doc, enabled);
        }
    }

    /// The first transition, from `leaf` up through its ancestors, that matches and whose
    /// condition holds.
    fn first_enabled(
        &mut self,
        cx: &mut Cx<'_>,
        leaf: StateIdx,
        event: Option<&str>,
    ) -> Option<TransitionIdx> {
        let doc = cx.doc;
        let mut state = Some(leaf);
        while let Some(s) = state.filter(|&s| s != ROOT) {
            for t in doc.state(s).transitions.clone() {
                let transition = &doc.transitions[t as usize];
                let matches = match event {
                    None => transition.events.is_empty(),
                    Some(name) => transition.events.iter().any(|d| d.matches(name)),
                };
                if matches && self.condition_holds(cx, transition.cond) {
                    return Some(TransitionIdx(t));
                }
            }
            state = doc.state(s).parent;
        }
        None
    }

    /// `removeConflictingTransitions`: of two transitions whose exit sets intersect, the
    /// one from the descendant source wins, else the earlier one in selection order.
    fn remove_conflicts(&self, doc: &Document, enabled: &mut Vec<TransitionIdx>) {
        let exits: Vec<Bits> = enabled
            .iter()
            .map(|&t| {
                let mut bits = Bits::with_states(doc.states.len());
                self.add_exit_set(doc, t, &mut bits);
                bits
            })
            .collect();
        let mut kept: Vec<usize> = Vec::with_capacity(enabled.len());
        for (i, &t1) in enabled.iter().enumerate() {
            let source = doc.transition(t1).source;
            let mut preempted = false;
            let mut displaced: Vec<usize> = Vec::new();
            for &j in &kept {
                if exits[i].intersects(&exits[j]) {
                    if doc.is_descendant(source, doc.transition(enabled[j]).source) {
                        displaced.push(j);
                    } else {
                        preempted = true;
                        break;
                    }
                }
            }
            if !preempted {
                kept.retain(|j| !displaced.contains(j));
                kept.push(i);
            }
        }
        let filtered: Vec<TransitionIdx> = kept.iter().map(|&i| enabled[i]).collect();
        *enabled = filtered;
    }

    /// Adds the active states that transition `t` exits to `exit`.
    pub(super) fn add_exit_set(&self, doc: &Document, t: TransitionIdx, exit: &mut Bits) {
        let Some(domain) = self.transition_domain(doc, t) else {
            return;
        };
        let end = doc.state(domain).descendants_end;
        let mut next = self.configuration.first_in(StateIdx(domain.0 + 1), end);
        while let Some(s) = next {
            exit.insert(s);
            next = self.configuration.first_in(StateIdx(s.0 + 1), end);
        }
    }

    /// The transition's domain: the state whose descendants it exits and enters; `None`
    /// for a targetless transition.
    pub(super) fn transition_domain(&self, doc: &Document, t: TransitionIdx) -> Option<StateIdx> {
        let transition = doc.transition(t);
        let targets = self.effective_targets(doc, t);
        if targets.is_empty() {
            return None;
        }
        let source = transition.source;
        let internal = transition.kind == TransitionKind::Internal
            && doc.state(source).kind == StateKind::Compound
            && targets.iter().all(|&s| doc.is_descendant(s, source));
        if internal {
            return Some(source);
        }
        Some(least_common_compound_ancestor(doc, source, &targets))
    }

    /// Targets with history states replaced by their recorded or default configurations.
    pub(super) fn effective_targets<'d>(
        &self,
        doc: &'d Document,
        t: TransitionIdx,
    ) -> Cow<'d, [StateIdx]> {
        let targets = &doc.transition(t).targets;
        if !targets.iter().any(|&s| is_history(doc.state(s).kind)) {
            return Cow::Borrowed(targets);
        }
        let mut out: Vec<StateIdx> = Vec::new();
        for &s in targets {
            if !is_history(doc.state(s).kind) {
                push_unique(&mut out, s);
            } else if let Some(recorded) = self.history_of(s) {
                recorded.iter().for_each(|&r| push_unique(&mut out, r));
            } else if let Some(default) = doc.state(s).initial {
                for r in self.effective_targets(doc, default).iter() {
                    push_unique(&mut out, *r);
                }
            }
        }
        Cow::Owned(out)
    }

    /// The recorded configuration of history state `h`, if it was ever recorded.
    pub(super) fn history_of(&self, h: StateIdx) -> Option<&[StateIdx]> {
        self.history
            .iter()
            .find(|(s, _)| *s == h)
            .map(|(_, v)| v.as_slice())
    }
}

/// `findLCCA`: the nearest proper ancestor of `head` that is compound (or the root) and
/// contains every state of `tail`.
fn least_common_compound_ancestor(doc: &Document, head: StateIdx, tail: &[StateIdx]) -> StateIdx {
    let mut ancestor = doc.state(head).parent;
    while let Some(a) = ancestor {
        let compound = a == ROOT || doc.state(a).kind == StateKind::Compound;
        if compound && tail.iter().all(|&s| doc.is_descendant(s, a)) {
            return a;
        }
        ancestor = doc.state(a).parent;
    }
    ROOT
}

/// True for states that can be the lowest active states: atomic and final states.
pub(super) fn is_leaf(kind: StateKind) -> bool {
    matches!(kind, StateKind::Atomic | StateKind::Final)
}

/// True for history pseudo-states.
pub(super) fn is_history(kind: StateKind) -> bool {
    matches!(kind, StateKind::HistoryShallow | StateKind::HistoryDeep)
}

fn push_unique(list: &mut Vec<StateIdx>, s: StateIdx) {
    if !list.contains(&s) {
        list.push(s);
    }
}
