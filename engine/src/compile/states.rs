//! Pass 1: states in document order, each with all of its own content.
//!
//! A state is numbered when the walk reaches it, and its transitions, `<datamodel>` and
//! `<invoke>`s are compiled before any child state is, so each state's own entries in those
//! tables are contiguous. The walk keeps an explicit stack: no recursion over input depth.

use crate::error::{CompileError, CompileErrorKind};
use crate::model::{
    Data, DataInit, EventDescriptor, ExprKind, State, StateIdx, StateKind, Transition,
    TransitionKind,
};
use crate::parse::ElemIdx;

use super::content::{element_content, normalize_content};
use super::payload::PayloadOf;
use super::{index, Compiler, PendingTargets, Scope};

/// What a state element is, which decides the children it may have.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Role {
    Root,
    State,
    Parallel,
    Final,
    History,
}

/// The role of a child state element, by local name.
fn role_of(local: &str) -> Option<Role> {
    match local {
        "state" => Some(Role::State),
        "parallel" => Some(Role::Parallel),
        "final" => Some(Role::Final),
        "history" => Some(Role::History),
        _ => None,
    }
}

/// The SCXML children each kind of state may have (executable content aside).
fn allowed(role: Role, local: &str) -> bool {
    match role {
        Role::Root => matches!(
            local,
            "state" | "parallel" | "final" | "datamodel" | "script"
        ),
        Role::State => matches!(
            local,
            "onentry"
                | "onexit"
                | "transition"
                | "initial"
                | "state"
                | "parallel"
                | "final"
                | "history"
                | "datamodel"
                | "invoke"
        ),
        Role::Parallel => matches!(
            local,
            "onentry"
                | "onexit"
                | "transition"
                | "state"
                | "parallel"
                | "history"
                | "datamodel"
                | "invoke"
        ),
        Role::Final => matches!(local, "onentry" | "onexit" | "donedata"),
        Role::History => local == "transition",
    }
}

/// Parses a transition's `event` attribute. `*` matches any event; a trailing `.*` and then
/// a trailing `.` are removed (`foo.*` and `foo.` mean `foo`). A token that is empty after
/// that (`.*`, `.`) is read as `*`.
pub(super) fn descriptors(text: &str) -> Vec<EventDescriptor> {
    let mut descriptors = Vec::new();
    for token in text.split_ascii_whitespace() {
        let prefix = token.strip_suffix(".*").unwrap_or(token);
        let prefix = prefix.strip_suffix('.').unwrap_or(prefix);
        if token == "*" || prefix.is_empty() {
            descriptors.push(EventDescriptor::Any);
        } else {
            descriptors.push(EventDescriptor::Prefix(prefix.into()));
        }
    }
    descriptors
}

impl<'a> Compiler<'a> {
    /// Walks every state in document order.
    pub(super) fn states(&mut self) -> Result<(), CompileError> {
        let tree = self.tree;
        let mut stack: Vec<(ElemIdx, Role, Option<StateIdx>)> =
            vec![(tree.root(), Role::Root, None)];
        while let Some((element, role, parent)) = stack.pop() {
            let state = self.state(element, role, parent)?;
            let mark = stack.len();
            for child in tree.child_elements(element) {
                if let Some(role) = self.scxml_local(child).and_then(role_of) {
                    stack.push((child, role, Some(state)));
                }
            }
            stack[mark..].reverse();
        }
        assert!(!self.doc.states.is_empty());
        Ok(())
    }

    /// Adds one state and compiles its own content.
    fn state(
        &mut self,
        e: ElemIdx,
        role: Role,
        parent: Option<StateIdx>,
    ) -> Result<StateIdx, CompileError> {
        let position = self.tree.element(e).position;
        let idx = index(self.doc.states.len());
        if idx >= self.limits.states_max {
            let limit = self.limits.states_max;
            return Err(self.error(
                position,
                CompileErrorKind::Limit {
                    what: "states",
                    limit,
                },
            ));
        }
        let kind = self.kind(e, role)?;
        let depth = parent.map_or(0, |p| self.doc.states[p.0 as usize].depth.saturating_add(1));
        let id = self.state_id(e, idx)?;
        self.doc.states.push(State {
            id,
            kind,
            parent,
            depth,
            descendants_end: StateIdx(idx + 1),
            children: Vec::new(),
            initial: None,
            transitions: 0..0,
            onentry: Vec::new(),
            onexit: Vec::new(),
            invokes: 0..0,
            data: 0..0,
            donedata: None,
            position,
        });
        if let Some(p) = parent {
            assert!(p.0 < idx);
            self.doc.states[p.0 as usize].children.push(StateIdx(idx));
        }
        self.content(e, role, idx)?;
        Ok(StateIdx(idx))
    }

    fn kind(&self, e: ElemIdx, role: Role) -> Result<StateKind, CompileError> {
        Ok(match role {
            Role::Root => StateKind::Compound,
            Role::State => {
                let states = ["state", "parallel", "final"];
                let is_state = |c| self.scxml_local(c).is_some_and(|l| states.contains(&l));
                match self.tree.child_elements(e).any(is_state) {
                    true => StateKind::Compound,
                    false => StateKind::Atomic,
                }
            }
            Role::Parallel => StateKind::Parallel,
            Role::Final => StateKind::Final,
            Role::History => match self.attr(e, "type") {
                None => StateKind::HistoryShallow,
                Some(a) => match self.value(a) {
                    "shallow" => StateKind::HistoryShallow,
                    "deep" => StateKind::HistoryDeep,
                    _ => return Err(self.bad_value(e, a, "\"shallow\" or \"deep\"")),
                },
            },
        })
    }

    /// Registers the `id`; states without one (and the root) get theirs in pass 2.
    fn state_id(&mut self, e: ElemIdx, idx: u32) -> Result<Box<str>, CompileError> {
        let attribute = match self.attr(e, "id") {
            Some(a) if idx != 0 && !self.value(a).is_empty() => a,
            _ => return Ok("".into()),
        };
        let id: Box<str> = self.value(attribute).into();
        if self.doc.ids.contains_key(&id) {
            let kind = CompileErrorKind::DuplicateId { id: id.to_string() };
            return Err(self.error(attribute.position, kind));
        }
        self.doc.ids.insert(id.clone(), StateIdx(idx));
        Ok(id)
    }

    /// Compiles a state's own children; child states are left to the walk.
    fn content(&mut self, e: ElemIdx, role: Role, s: u32) -> Result<(), CompileError> {
        let tree = self.tree;
        let transitions = index(self.doc.transitions.len());
        let data = index(self.doc.data.len());
        let invokes = index(self.doc.invokes.len());
        let mut initial = None;
        for child in tree.child_elements(e) {
            let Some(local) = self.scxml_local(child) else {
                continue;
            };
            if !allowed(role, local) {
                return Err(self.unexpected(child, e));
            }
            self.child(child, local, role, s, &mut initial)?;
        }
        let state = &mut self.doc.states[s as usize];
        state.transitions = transitions..index(self.doc.transitions.len());
        state.data = data..index(self.doc.data.len());
        state.invokes = invokes..index(self.doc.invokes.len());
        match role {
            Role::History => self.history_default(s, initial),
            Role::Root | Role::State => self.initial(e, s, initial),
            Role::Parallel | Role::Final => Ok(()),
        }
    }

    /// Compiles one non-state child of a state.
    fn child(
        &mut self,
        child: ElemIdx,
        local: &str,
        role: Role,
        s: u32,
        initial: &mut Option<ElemIdx>,
    ) -> Result<(), CompileError> {
        match local {
            "onentry" => {
                let block = self.lower_children(child)?;
                self.doc.states[s as usize].onentry.push(block);
            }
            "onexit" => {
                let block = self.lower_children(child)?;
                self.doc.states[s as usize].onexit.push(block);
            }
            "transition" | "initial" if role == Role::History || local == "initial" => {
                if initial.is_some() {
                    return Err(self.only_one(child));
                }
                *initial = Some(child);
            }
            "transition" => self.transition(child, s)?,
            "datamodel" => self.datamodel(child, s)?,
            "invoke" => self.invoke(child, s)?,
            "script" => {
                let text = self.script_text(child)?;
                self.scripts.push((text, self.tree.element(child).position));
            }
            "donedata" => {
                if self.doc.states[s as usize].donedata.is_some() {
                    return Err(self.only_one(child));
                }
                let payload = self.payload(child, PayloadOf::DoneData)?;
                self.doc.states[s as usize].donedata = Some(payload);
            }
            _ => {}
        }
        Ok(())
    }

    /// `<child>` may appear only once in its parent.
    pub(super) fn only_one(&self, child: ElemIdx) -> CompileError {
        let tree = self.tree;
        let parent = tree.element(child).parent.map_or("", |p| tree.name(p));
        let reason = format!("<{parent}> may have only one <{}>", tree.name(child));
        self.error(
            tree.element(child).position,
            CompileErrorKind::Invalid { reason },
        )
    }

    /// A `<transition>` of a state (not of `<initial>` or `<history>`).
    fn transition(&mut self, e: ElemIdx, source: u32) -> Result<(), CompileError> {
        let events = match self.attr(e, "event") {
            None => Vec::new(),
            Some(a) => match descriptors(self.value(a)) {
                d if d.is_empty() => return Err(self.bad_value(e, a, "event descriptors")),
                d => d,
            },
        };
        let cond = self.opt_expr(e, "cond", ExprKind::Cond);
        let kind = match self.attr(e, "type") {
            None => TransitionKind::External,
            Some(a) => match self.value(a) {
                "external" => TransitionKind::External,
                "internal" => TransitionKind::Internal,
                _ => return Err(self.bad_value(e, a, "\"external\" or \"internal\"")),
            },
        };
        let body = self.lower_children(e)?;
        let position = self.tree.element(e).position;
        let t = index(self.doc.transitions.len());
        let source = StateIdx(source);
        let targets = Vec::new();
        let transition = Transition {
            source,
            events,
            cond,
            targets,
            kind,
            body,
            position,
        };
        self.doc.transitions.push(transition);
        if let Some(a) = self.attr(e, "target") {
            let pending = PendingTargets {
                transition: t,
                ids: a.value,
                position: a.position,
                scope: Scope::Any,
            };
            self.pending.push(pending);
        }
        Ok(())
    }

    /// A `<datamodel>`: its `<data>` belong to state `s`.
    fn datamodel(&mut self, e: ElemIdx, s: u32) -> Result<(), CompileError> {
        let tree = self.tree;
        for child in tree.child_elements(e) {
            match self.scxml_local(child) {
                Some("data") => self.data(child, s)?,
                Some(_) => return Err(self.unexpected(child, e)),
                None => {}
            }
        }
        Ok(())
    }

    /// One `<data>`: `expr`, `src` and content are mutually exclusive. A `src` that cannot
    /// be loaded is not a compile error: the variable fails to initialise at run time.
    fn data(&mut self, e: ElemIdx, s: u32) -> Result<(), CompileError> {
        let id: Box<str> = self.value(self.required(e, "id")?).into();
        let (expr, src) = self.exclusive(e, "expr", "src")?;
        let content = self.has_content(e);
        if let (true, Some(a)) = (content, expr.or(src)) {
            return Err(self.conflict(e, self.tree.str(a.qname), "content", a.position));
        }
        let init = if let Some(a) = expr {
            DataInit::Expr(self.expr(a, ExprKind::Value))
        } else if let Some(a) = src {
            match self.loader.load(self.file, self.value(a)) {
                Ok(text) => DataInit::Value(normalize_content(&text)),
                Err(reason) => DataInit::LoadError(reason.into()),
            }
        } else if content {
            DataInit::Value(element_content(self.tree, self.source, e))
        } else {
            DataInit::None
        };
        let position = self.tree.element(e).position;
        self.doc.data.push(Data {
            id,
            init,
            state: StateIdx(s),
            position,
        });
        Ok(())
    }
}
