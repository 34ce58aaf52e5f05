//! The null datamodel (`datamodel="null"`): no variables, and one kind of condition,
//! `In('state')`.
//!
//! Every other evaluation or assignment is an error ("the null datamodel has no
//! expressions"), which the interpreter turns into `error.execution`. A scope is just the
//! session's document and its active configuration. Host values and host functions are
//! accepted and dropped, since nothing could read them.

use std::rc::Rc;

use super::ecmascript::slots::Slots;
use super::{Datamodel, HostFunction, ScopeError, ScopeId, ScriptError, SystemVars};
use crate::event::Event;
use crate::model::{DataIdx, DataInit, Document, ExprIdx};
use crate::value::Value;

/// The message of every evaluation the null datamodel refuses.
const NO_EXPRESSIONS: &str = "the null datamodel has no expressions";

/// One session: its document (for state ids and expression texts) and configuration.
struct NullScope {
    doc: Rc<Document>,
    active: Vec<u64>,
}

/// The null datamodel of one shard.
#[derive(Default)]
pub struct NullDatamodel {
    scopes: Slots<NullScope>,
}

impl std::fmt::Debug for NullDatamodel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NullDatamodel")
            .field("scopes", &self.scopes.len())
            .finish()
    }
}

impl NullDatamodel {
    /// A datamodel with no scopes.
    pub fn new() -> NullDatamodel {
        NullDatamodel::default()
    }

    fn scope(&self, id: ScopeId) -> Result<&NullScope, ScriptError> {
        self.scopes
            .get(id)
            .ok_or_else(|| ScriptError::new("the session's scope no longer exists"))
    }
}

/// The state id in `In('id')` or `In("id")` (whitespace allowed around the parts), or
/// `None` if the text is anything else.
pub(crate) fn parse_in(text: &str) -> Option<&str> {
    let rest = text
        .trim()
        .strip_prefix("In")?
        .trim_start()
        .strip_prefix('(')?;
    let rest = rest.trim().strip_suffix(')')?.trim_end();
    let quote = rest.chars().next().filter(|&c| c == '\'' || c == '"')?;
    let id = rest.strip_prefix(quote)?.strip_suffix(quote)?;
    (!id.contains(quote)).then_some(id)
}

fn refuse<T>() -> Result<T, ScriptError> {
    Err(ScriptError::new(NO_EXPRESSIONS))
}

impl Datamodel for NullDatamodel {
    fn create_scope(
        &mut self,
        doc: &Rc<Document>,
        _sys: &SystemVars<'_>,
    ) -> Result<ScopeId, ScopeError> {
        let scope = NullScope {
            doc: doc.clone(),
            active: Vec::new(),
        };
        self.scopes.insert(scope).map_err(|_| ScopeError {
            message: "too many scopes".into(),
        })
    }

    fn drop_scope(&mut self, scope: ScopeId) {
        self.scopes.remove(scope);
    }

    fn set_now(&mut self, _now_ms: u64) {}

    fn set_event(&mut self, _scope: ScopeId, _event: &Event) -> Result<(), ScriptError> {
        Ok(())
    }

    fn set_configuration(&mut self, scope: ScopeId, active: &[u64]) {
        if let Some(s) = self.scopes.get_mut(scope) {
            s.active.clear();
            s.active.extend_from_slice(active);
        }
    }

    fn init_data(&mut self, scope: ScopeId, data: DataIdx) -> Result<(), ScriptError> {
        let s = self.scope(scope)?;
        match s.doc.data.get(data.0 as usize).map(|d| &d.init) {
            Some(DataInit::None) => Ok(()),
            _ => Err(ScriptError::new("the null datamodel has no data")),
        }
    }

    fn set_variable(
        &mut self,
        _scope: ScopeId,
        _name: &str,
        _value: &Value,
    ) -> Result<bool, ScriptError> {
        Ok(false)
    }

    fn eval_cond(&mut self, scope: ScopeId, expr: ExprIdx) -> Result<bool, ScriptError> {
        let s = self.scope(scope)?;
        let text = s.doc.exprs.get(expr.0 as usize).map_or("", |e| &*e.text);
        let Some(id) = parse_in(text) else {
            return Err(ScriptError::new(format!(
                "the null datamodel only evaluates In('state'), not '{text}'"
            )));
        };
        let Some(state) = s.doc.state_by_id(id) else {
            return Ok(false);
        };
        let i = state.0 as usize;
        Ok(s.active
            .get(i / 64)
            .is_some_and(|w| w & (1u64 << (i % 64)) != 0))
    }

    fn eval_value(&mut self, _scope: ScopeId, _expr: ExprIdx) -> Result<Value, ScriptError> {
        refuse()
    }

    fn eval_string(&mut self, _scope: ScopeId, _expr: ExprIdx) -> Result<String, ScriptError> {
        refuse()
    }

    fn assign(
        &mut self,
        _scope: ScopeId,
        _loc: ExprIdx,
        _expr: ExprIdx,
    ) -> Result<(), ScriptError> {
        refuse()
    }

    fn assign_value(
        &mut self,
        _scope: ScopeId,
        _location: ExprIdx,
        _value: &Value,
    ) -> Result<(), ScriptError> {
        refuse()
    }

    fn run_script(&mut self, _scope: ScopeId, _script: ExprIdx) -> Result<(), ScriptError> {
        refuse()
    }

    fn foreach_begin(&mut self, _scope: ScopeId, _array: ExprIdx) -> Result<u32, ScriptError> {
        refuse()
    }

    fn foreach_assign(
        &mut self,
        _scope: ScopeId,
        _item: ExprIdx,
        _index: Option<ExprIdx>,
        _i: u32,
    ) -> Result<(), ScriptError> {
        refuse()
    }

    fn foreach_end(&mut self, _scope: ScopeId) {}

    fn snapshot(&mut self, scope: ScopeId) -> Value {
        match self.scopes.get(scope) {
            Some(_) => Value::Object(Vec::new()),
            None => Value::Undefined,
        }
    }

    /// No variables: the value is not stored (no expression could read it).
    fn set_host_value(
        &mut self,
        _scope: ScopeId,
        _name: &str,
        _value: &Value,
    ) -> Result<(), ScriptError> {
        Ok(())
    }

    /// No expressions: the function could never be called.
    fn set_host_function(&mut self, _name: &str, _f: HostFunction) -> Result<(), ScriptError> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;
    use crate::error::Position;
    use crate::model::*;

    fn doc() -> Rc<Document> {
        let state = |id: &str, parent: Option<u32>| State {
            id: id.into(),
            kind: StateKind::Atomic,
            parent: parent.map(StateIdx),
            depth: 1,
            descendants_end: StateIdx(3),
            children: Vec::new(),
            initial: None,
            transitions: 0..0,
            onentry: Vec::new(),
            onexit: Vec::new(),
            invokes: 0..0,
            data: 0..0,
            donedata: None,
            position: Position::default(),
        };
        let states = vec![
            state("root", None),
            state("ps0", Some(0)),
            state("ps1", Some(0)),
        ];
        let ids: HashMap<Box<str>, StateIdx> = states
            .iter()
            .enumerate()
            .map(|(i, s)| (s.id.clone(), StateIdx(i as u32)))
            .collect();
        let expr = |text: &str, kind| Expr {
            text: text.into(),
            kind,
            position: Position::default(),
        };
        let data = |init| Data {
            id: "d".into(),
            init,
            state: StateIdx(0),
            position: Position::default(),
        };
        Rc::new(Document {
            source_name: "null.scxml".into(),
            name: None,
            datamodel: DatamodelKind::Null,
            dialect: crate::model::Dialect::W3c,
            binding: Binding::Early,
            states,
            transitions: Vec::new(),
            instrs: Vec::new(),
            exprs: vec![
                expr("In('ps1')", ExprKind::Cond),
                expr(" In ( \"ps0\" ) ", ExprKind::Cond),
                expr("In('s1')", ExprKind::Cond),
                expr("1 + 1", ExprKind::Cond),
                expr("x", ExprKind::Location),
            ],
            data: vec![data(DataInit::None), data(DataInit::Value(Value::Null))],
            sends: Vec::new(),
            invokes: Vec::new(),
            extensions: Vec::new(),
            scripts: Vec::new(),
            ids,
            uses_event: false,
            uses_in: true,
            underscore_names: (Vec::new(), false),
        })
    }

    #[test]
    fn parses_in_calls() {
        assert_eq!(parse_in("In('a')"), Some("a"));
        assert_eq!(parse_in("  In ( \"a.b\" )  "), Some("a.b"));
        for bad in [
            "In(a)",
            "In('a\")",
            "In('a'",
            "in('a')",
            "In('a') && x",
            "In('a','b')",
            "",
        ] {
            assert_eq!(parse_in(bad), None, "{bad}");
        }
    }

    #[test]
    fn in_reads_the_configuration_and_the_rest_is_refused() {
        let d = doc();
        let mut dm = NullDatamodel::new();
        let sys = SystemVars {
            session_id: "s",
            name: "",
            ioprocessors: &[],
        };
        let s = dm.create_scope(&d, &sys).expect("scope");
        dm.set_configuration(s, &[0b101]);
        assert_eq!(dm.eval_cond(s, ExprIdx(0)), Ok(true));
        assert_eq!(dm.eval_cond(s, ExprIdx(1)), Ok(false));
        assert_eq!(dm.eval_cond(s, ExprIdx(2)), Ok(false));
        assert!(dm.eval_cond(s, ExprIdx(3)).is_err());
        assert!(dm.eval_value(s, ExprIdx(0)).is_err());
        assert!(dm.assign(s, ExprIdx(4), ExprIdx(0)).is_err());
        assert!(dm.run_script(s, ExprIdx(0)).is_err());
        assert!(dm.init_data(s, DataIdx(0)).is_ok());
        assert!(dm.init_data(s, DataIdx(1)).is_err());
        assert_eq!(dm.set_variable(s, "d", &Value::Null), Ok(false));
        dm.drop_scope(s);
        assert!(dm.eval_cond(s, ExprIdx(0)).is_err());
    }
}
