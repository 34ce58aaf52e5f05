//! Microsteps: exiting states (recording history), running transition content, entering
//! states (default entry, history defaults, parallel regions, `done.state.*`).
//!
//! `add_descendants` and `add_ancestors` recurse as the specification's procedures do; the
//! depth is bounded by the document's nesting depth, which the compiler limits.

use super::select::{is_history, is_leaf};
use super::{Bits, Cx, Session, ROOT};
use crate::event::Event;
use crate::model::{Binding, DataIdx, Document, StateIdx, StateKind, TransitionIdx};

/// The sets `computeEntrySet` fills.
struct EntrySets {
    enter: Bits,
    default_entry: Bits,
    default_history: Vec<(StateIdx, crate::model::Block)>,
}

impl Session {
    /// One microstep: exit, transition content, enter.
    pub(super) fn microstep(
        &mut self,
        cx: &mut Cx<'_>,
        enabled: &[TransitionIdx],
        event: Option<&str>,
    ) {
        if cx.fx.tracing() {
            self.trace_microstep(cx, enabled, event);
        }
        self.exit_states(cx, enabled);
        for &t in enabled {
            let body = cx.doc.transition(t).body;
            if !body.is_empty() {
                self.execute(cx, body);
            }
        }
        self.enter_states(cx, enabled);
    }

    fn exit_states(&mut self, cx: &mut Cx<'_>, enabled: &[TransitionIdx]) {
        let doc = cx.doc;
        let mut exit = std::mem::take(&mut self.scratch.exit);
        if exit.words().len() != self.configuration.words().len() {
            exit = Bits::with_states(doc.states.len());
        }
        exit.clear();
        for &t in enabled {
            self.add_exit_set(doc, t, &mut exit);
        }
        for s in exit.iter() {
            self.to_invoke.remove(s);
            self.record_history(doc, s);
        }
        for s in exit.iter_rev() {
            self.run_onexit(cx, s);
            self.configuration.remove(s);
            self.sync_configuration(cx);
        }
        self.scratch.exit = exit;
    }

    /// Runs a state's onexit handlers and cancels its invocations.
    pub(super) fn run_onexit(&mut self, cx: &mut Cx<'_>, s: StateIdx) {
        let state = cx.doc.state(s);
        for &block in &state.onexit {
            self.execute(cx, block);
        }
        if state.invokes.is_empty() {
            return;
        }
        let invokes = state.invokes.clone();
        self.invocations.retain(|inv| {
            let mine = invokes.contains(&inv.invoke.0);
            if mine {
                cx.fx.cancel_invoke(&inv.id);
            }
            !mine
        });
    }

    /// Records the history children of `s`, which is about to be exited.
    fn record_history(&mut self, doc: &Document, s: StateIdx) {
        for &h in &doc.state(s).children {
            let kind = doc.state(h).kind;
            if !is_history(kind) {
                continue;
            }
            let end = doc.state(s).descendants_end;
            let recorded: Vec<StateIdx> = self
                .configuration
                .iter()
                .filter(|&c| doc.is_descendant(c, s) && c < end)
                .filter(|&c| match kind {
                    StateKind::HistoryDeep => is_leaf(doc.state(c).kind),
                    _ => doc.state(c).parent == Some(s),
                })
                .collect();
            match self.history.iter_mut().find(|(k, _)| *k == h) {
                Some(entry) => entry.1 = recorded,
                None => self.history.push((h, recorded)),
            }
        }
    }

    /// `enterStates`: computes the entry set and enters it in document order.
    pub(super) fn enter_states(&mut self, cx: &mut Cx<'_>, enabled: &[TransitionIdx]) {
        let doc = cx.doc;
        let mut sets = self.take_entry_sets(doc);
        for &t in enabled {
            for &s in &doc.transition(t).targets {
                self.add_descendants(doc, s, &mut sets);
            }
            let domain = self.transition_domain(doc, t);
            for &s in self.effective_targets(doc, t).iter() {
                self.add_ancestors(doc, s, domain, &mut sets);
            }
        }
        for s in sets.enter.iter() {
            self.enter_one(cx, s, &sets);
        }
        self.scratch.enter = sets.enter;
        self.scratch.default_entry = sets.default_entry;
        self.scratch.default_history = sets.default_history;
    }

    fn take_entry_sets(&mut self, doc: &Document) -> EntrySets {
        let states = doc.states.len();
        let mut sets = EntrySets {
            enter: std::mem::take(&mut self.scratch.enter),
            default_entry: std::mem::take(&mut self.scratch.default_entry),
            default_history: std::mem::take(&mut self.scratch.default_history),
        };
        for bits in [&mut sets.enter, &mut sets.default_entry] {
            if bits.words().len() != self.configuration.words().len() {
                *bits = Bits::with_states(states);
            }
            bits.clear();
        }
        sets.default_history.clear();
        sets
    }

    /// Enters one state: configuration, late data, onentry, default content, done events.
    fn enter_one(&mut self, cx: &mut Cx<'_>, s: StateIdx, sets: &EntrySets) {
        let doc = cx.doc;
        let state = doc.state(s);
        self.configuration.insert(s);
        self.to_invoke.insert(s);
        self.sync_configuration(cx);
        if doc.binding == Binding::Late && !self.data_bound.contains(s) {
            self.data_bound.insert(s);
            for d in state.data.clone() {
                if let Err(e) = cx.dm.init_data(self.scope, DataIdx(d)) {
                    self.raise_error(super::exec::ExecError::script(e));
                }
            }
        }
        for &block in &state.onentry {
            self.execute(cx, block);
        }
        if sets.default_entry.contains(s) {
            if let Some(initial) = state.initial {
                self.execute(cx, doc.transition(initial).body);
            }
        }
        if let Some(&(_, block)) = sets.default_history.iter().find(|(p, _)| *p == s) {
            self.execute(cx, block);
        }
        if state.kind == StateKind::Final {
            self.entered_final(cx, s);
        }
    }

    /// A final state was entered: stop at the top level, else raise `done.state.*`.
    fn entered_final(&mut self, cx: &mut Cx<'_>, s: StateIdx) {
        let doc = cx.doc;
        let Some(parent) = doc.state(s).parent else {
            return;
        };
        if parent == ROOT {
            self.stopping = true;
            return;
        }
        let donedata = self.eval_donedata(cx, s);
        let name = format!("done.state.{}", doc.state(parent).id);
        self.enqueue_internal(Event::platform(&name, donedata));
        let Some(grandparent) = doc.state(parent).parent else {
            return;
        };
        if doc.state(grandparent).kind == StateKind::Parallel
            && child_states(doc, grandparent).all(|c| self.is_in_final_state(doc, c))
        {
            let name = format!("done.state.{}", doc.state(grandparent).id);
            self.enqueue_internal(Event::platform(&name, crate::value::Value::Undefined));
        }
    }

    fn add_descendants(&self, doc: &Document, s: StateIdx, sets: &mut EntrySets) {
        let state = doc.state(s);
        if is_history(state.kind) {
            let parent = state.parent.unwrap_or(ROOT);
            let targets: Vec<StateIdx> = match self.history_of(s) {
                Some(recorded) => recorded.to_vec(),
                None => {
                    let Some(default) = state.initial else { return };
                    sets.default_history
                        .push((parent, doc.transition(default).body));
                    doc.transition(default).targets.clone()
                }
            };
            for &t in &targets {
                self.add_descendants(doc, t, sets);
            }
            for &t in &targets {
                self.add_ancestors(doc, t, Some(parent), sets);
            }
            return;
        }
        sets.enter.insert(s);
        match state.kind {
            StateKind::Compound => {
                sets.default_entry.insert(s);
                let Some(initial) = state.initial else { return };
                let targets = &doc.transition(initial).targets;
                for &t in targets {
                    self.add_descendants(doc, t, sets);
                }
                for &t in targets {
                    self.add_ancestors(doc, t, Some(s), sets);
                }
            }
            StateKind::Parallel => self.enter_regions(doc, s, sets),
            _ => {}
        }
    }

    fn add_ancestors(
        &self,
        doc: &Document,
        s: StateIdx,
        ancestor: Option<StateIdx>,
        sets: &mut EntrySets,
    ) {
        let mut next = doc.state(s).parent;
        while let Some(a) = next {
            if Some(a) == ancestor || a == ROOT {
                break;
            }
            sets.enter.insert(a);
            if doc.state(a).kind == StateKind::Parallel {
                self.enter_regions(doc, a, sets);
            }
            next = doc.state(a).parent;
        }
    }

    /// Adds every region of parallel state `p` that has no descendant in the entry set yet.
    fn enter_regions(&self, doc: &Document, p: StateIdx, sets: &mut EntrySets) {
        for child in child_states(doc, p) {
            let end = doc.state(child).descendants_end;
            if !sets.enter.any_in(StateIdx(child.0 + 1), end) {
                self.add_descendants(doc, child, sets);
            }
        }
    }

    fn is_in_final_state(&self, doc: &Document, s: StateIdx) -> bool {
        match doc.state(s).kind {
            StateKind::Compound => child_states(doc, s)
                .any(|c| doc.state(c).kind == StateKind::Final && self.configuration.contains(c)),
            StateKind::Parallel => child_states(doc, s).all(|c| self.is_in_final_state(doc, c)),
            _ => false,
        }
    }

    /// Tells the datamodel the configuration, if the document uses `In()`.
    fn sync_configuration(&self, cx: &mut Cx<'_>) {
        if cx.doc.uses_in {
            cx.dm
                .set_configuration(self.scope, self.configuration.words());
        }
    }

    fn trace_microstep(&self, cx: &mut Cx<'_>, enabled: &[TransitionIdx], event: Option<&str>) {
        let doc = cx.doc;
        for &t in enabled {
            let transition = doc.transition(t);
            let targets: Vec<&str> = transition
                .targets
                .iter()
                .map(|&s| &*doc.state(s).id)
                .collect();
            let line = format!(
                "microstep: {} -> [{}] on {}",
                doc.state(transition.source).id,
                targets.join(" "),
                event.unwrap_or("(eventless)")
            );
            cx.fx.trace(&line);
        }
    }
}

/// The `<state>`, `<parallel>` and `<final>` children of `s`, in document order.
fn child_states(doc: &Document, s: StateIdx) -> impl Iterator<Item = StateIdx> + '_ {
    doc.state(s)
        .children
        .iter()
        .copied()
        .filter(move |&c| !is_history(doc.state(c).kind))
}
