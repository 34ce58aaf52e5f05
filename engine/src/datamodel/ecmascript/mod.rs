//! The ECMAScript datamodel: QuickJS through rquickjs, one runtime and context per shard.
//!
//! A full QuickJS context costs about 80 µs and 50 KB, so sessions do not get one each.
//! Instead every session is a *scope object* in the shard's single context, and each
//! document's expressions are compiled once (`factory.rs`) into closures that resolve names
//! through the session's scope with `with`. Sessions share the realm, so the realm is frozen
//! after setup (`realm.rs`): no session can change what another one sees.
//!
//! SCXML semantics kept here: assigning to an undeclared variable or to a system variable
//! (`_sessionid`, `_name`, `_ioprocessors`, `_event`, and the host's values such as
//! `_interactions`) is an error; host functions (`_statistics`) live on one realm-wide
//! object that every expression's names resolve through, after the session's scope; a syntax error in one
//! expression fails that expression only, when it is evaluated; top-level `var`, `let`,
//! `const`, `function` and `class` in `<script>` create datamodel variables
//! (`script_rewrite.rs`); XML values are DOM objects (`dom.rs`); `Date` and `Math.random` read
//! the injected clock and seed, so runs replay. Scripts are bounded by fuel (interrupt
//! polls), heap and stack limits from [`Limits`]; hitting one is a [`ScriptError`].
//!
//! Known limits: script code runs in strict mode; destructuring declarations in scripts
//! stay local; `_event` cannot be reassigned but its fields are plain properties (a frozen
//! object per event costs a new QuickJS shape each time); a script that fills the shared
//! heap makes other sessions' evaluations fail until its scope is dropped (the runtime
//! should end such sessions); promise jobs run after each evaluation, a bounded number.

mod convert;
mod dom;
mod factory;
pub mod heap;
mod heap_guard;
mod lexer;
mod realm;
mod scope;
mod script_rewrite;
pub(crate) mod slots;

#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::rc::Rc;

use rquickjs::{Array, Ctx, FromJs, Function, Object, Persistent, Value as JsValue};

use self::factory::{CaseRef, Prepared, Uses};
use self::heap::{HeapLedger, ShareExceeded};
use self::heap_guard::{compile_chunk_within_heap, prepare_within_heap};
use self::realm::{Configuration, PendingEffect, Realm};
use self::scope::Scope;
use self::slots::Slots;
use crate::datamodel::{
    is_host_name, Datamodel, HostFunction, ScopeError, ScopeId, ScriptEffect, ScriptError,
    SystemVars,
};
use crate::event::Event;
use crate::limits::Limits;
use crate::model::{DataIdx, DataInit, Document, ExprIdx};
use crate::value::Value;

/// The ECMAScript datamodel of one shard. Not `Send`: it lives on its shard's thread.
pub struct EcmascriptDatamodel {
    // Field order is drop order: scopes and documents hold JS values, so they go before
    // the realm that owns the runtime.
    scopes: Slots<Scope>,
    docs: Vec<Option<Prepared>>,
    doc_index: HashMap<usize, u32>,
    realm: Realm,
    /// `limits.js_heap_bytes_max`, to say so when a scope does not fit.
    heap_bytes_max: u32,
}

impl std::fmt::Debug for EcmascriptDatamodel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EcmascriptDatamodel")
            .field("scopes", &self.scopes.len())
            .finish()
    }
}

/// Why a scope could not be made: QuickJS reports an exhausted heap as a bare `null`
/// thrown, so a heap (`used` bytes) near its bound (`max`) is named as the reason.
fn scope_refusal(message: String, used: u64, max: u32) -> ScopeError {
    let max = u64::from(max);
    // Within 1/16 of the bound: a fresh scope needs a few KiB, the bound is MiBs.
    if used + max / 16 < max {
        return ScopeError { message };
    }
    ScopeError {
        message: format!(
            "the shard's JS heap is full ({used} of {max} bytes, limits.js_heap_bytes_max)"
        ),
    }
}

/// The `error.execution` of a session that used up its heap share.
fn share_exceeded(share: ShareExceeded) -> ScriptError {
    let ShareExceeded {
        bytes,
        requested,
        bytes_max,
    } = share;
    ScriptError::new(format!(
        "the session's JS heap share is used up (it holds {bytes} bytes and asked for \
         {requested} more; limits.js_heap_per_session_bytes_max is {bytes_max})"
    ))
}

/// The result of one datamodel operation inside the realm.
type JsResult<T> = rquickjs::Result<T>;

impl EcmascriptDatamodel {
    /// Creates the shard's runtime with the heap, stack and fuel bounds of `limits`;
    /// `Math.random` is seeded with `seed`.
    ///
    /// # Panics
    /// If QuickJS cannot create a runtime at all (out of memory at shard start); use
    /// [`EcmascriptDatamodel::try_new`] to handle that.
    pub fn new(limits: &Limits, seed: u64) -> EcmascriptDatamodel {
        match EcmascriptDatamodel::try_new(limits, seed) {
            Ok(dm) => dm,
            Err(e) => panic!("cannot start the ECMAScript datamodel: {}", e.message),
        }
    }

    /// Like [`EcmascriptDatamodel::new`], but reports failure.
    pub fn try_new(limits: &Limits, seed: u64) -> Result<EcmascriptDatamodel, ScopeError> {
        EcmascriptDatamodel::with_realm(limits, Realm::new(limits, seed, None)?)
    }

    /// A datamodel on `runtime`, whose allocator asks `ledger` before every allocation
    /// (the host builds it: the engine has no unsafe code). Each session then has its
    /// share of the heap, `limits.js_heap_per_session_bytes_max` (see [`heap`]).
    pub fn try_new_metered(
        limits: &Limits,
        seed: u64,
        runtime: rquickjs::Runtime,
        ledger: Rc<HeapLedger>,
    ) -> Result<EcmascriptDatamodel, ScopeError> {
        let metered = Some((runtime, ledger));
        EcmascriptDatamodel::with_realm(limits, Realm::new(limits, seed, metered)?)
    }

    fn with_realm(limits: &Limits, realm: Realm) -> Result<EcmascriptDatamodel, ScopeError> {
        Ok(EcmascriptDatamodel {
            scopes: Slots::default(),
            docs: Vec::new(),
            doc_index: HashMap::new(),
            realm,
            heap_bytes_max: limits.js_heap_bytes_max,
        })
    }

    /// Bytes of the heap charged to `scope`, when the datamodel keeps a ledger.
    pub fn session_heap_bytes(&self, scope: ScopeId) -> Option<u64> {
        let ledger = self.realm.ledger.as_ref()?;
        Some(ledger.session_bytes(scope))
    }

    /// New bounds from a configuration reload: the session share applies at once to the
    /// next allocation; the shard's bound too when the ledger keeps it.
    pub fn set_heap_bounds(&mut self, limits: &Limits) {
        let Some(ledger) = &self.realm.ledger else {
            return;
        };
        // A reload keeps the shard's bound (fixed at start) but may bring a share that was
        // validated against a new, larger bound: a share never exceeds the heap in force.
        let share = limits
            .js_heap_per_session_bytes_max
            .min(limits.js_heap_bytes_max);
        ledger.set_bounds(limits.js_heap_bytes_max, share);
        self.heap_bytes_max = limits.js_heap_bytes_max;
    }

    /// Bytes the shard's JS heap holds now (QuickJS's accounting).
    pub fn heap_bytes(&self) -> u64 {
        self.realm.heap_bytes()
    }

    /// Live scopes.
    pub fn scope_count(&self) -> usize {
        self.scopes.len()
    }

    /// The prepared document for `doc`, compiling it on first use.
    fn prepared_index(&mut self, doc: &Rc<Document>) -> Result<u32, ScopeError> {
        let key = Rc::as_ptr(doc) as usize;
        if let Some(&i) = self.doc_index.get(&key) {
            return Ok(i);
        }
        self.evict_unused_documents(false);
        // Never `prepare` directly: QuickJS's compiler crashes when it runs out of memory.
        let prepared = match prepare_within_heap(&self.realm, doc, self.heap_bytes_max) {
            // The compiled forms of documents no session uses are only a cache: drop them
            // all (the host may still hold the documents) and try once more.
            Err(_) if self.evict_unused_documents(true) > 0 => {
                prepare_within_heap(&self.realm, doc, self.heap_bytes_max)?
            }
            other => other?,
        };
        let free = self.docs.iter().position(Option::is_none);
        let i = free.unwrap_or(self.docs.len());
        let index = u32::try_from(i).map_err(|_| ScopeError {
            message: "too many documents".into(),
        })?;
        match self.docs.get_mut(i) {
            Some(entry) => *entry = Some(prepared),
            None => self.docs.push(Some(prepared)),
        }
        self.doc_index.insert(key, index);
        Ok(index)
    }

    /// Forgets compiled documents that no scope uses and nobody else holds, or, with
    /// `held_too`, that no scope uses (the host's cache may hold the document: it is
    /// compiled again on its next start). Answers how many it forgot.
    fn evict_unused_documents(&mut self, held_too: bool) -> usize {
        let mut evicted = 0;
        for entry in &mut self.docs {
            let unused = entry
                .as_ref()
                .is_some_and(|p| p.scopes == 0 && (held_too || Rc::strong_count(&p.doc) == 1));
            if unused {
                if let Some(p) = entry.take() {
                    self.doc_index.remove(&(Rc::as_ptr(&p.doc) as usize));
                    evicted += 1;
                }
            }
        }
        evicted
    }

    /// Runs `f` inside the realm with the scope and its document; maps JS failures.
    fn run<T>(
        &mut self,
        id: ScopeId,
        f: impl for<'js> FnOnce(&Ctx<'js>, &Realm, &mut Scope, &Prepared) -> JsResult<T>,
    ) -> Result<T, ScriptError> {
        let Self {
            realm,
            scopes,
            docs,
            ..
        } = self;
        let Some(scope) = scopes.get_mut(id) else {
            return Err(ScriptError::new("the session's scope no longer exists"));
        };
        let Some(Some(prepared)) = docs.get(scope.doc as usize) else {
            return Err(ScriptError::new("the session's document is not prepared"));
        };
        let realm: &Realm = realm;
        let ledger = realm.ledger.as_deref();
        if let Some(ledger) = ledger {
            // A refusal an earlier evaluation caught (`try`) is not this one's.
            ledger.take_refused(id);
        }
        let result = realm.enter(id, |ctx| {
            f(ctx, realm, scope, prepared).map_err(|e| realm.script_error(ctx, e))
        });
        match result {
            // Refused for its share: say so, not QuickJS's bare "out of memory".
            Err(e) => Err(ledger
                .and_then(|l| l.take_refused(id))
                .map_or(e, share_exceeded)),
            Ok(value) => Ok(value),
        }
    }

    /// Compiles the chunks of the cases an evaluation will run, before it runs: QuickJS's
    /// limit can only be lifted for a compile outside any evaluation (see `heap_guard`).
    /// A chunk that does not fit the shard's heap is the evaluation's error.
    fn compile_for(&mut self, id: ScopeId, uses: Uses) -> Result<(), ScriptError> {
        let prepared = self
            .scopes
            .get(id)
            .and_then(|scope| self.docs.get(scope.doc as usize));
        let Some(Some(prepared)) = prepared else {
            // `run` answers with the reason.
            return Ok(());
        };
        if prepared.uncompiled.get() == 0 {
            return Ok(());
        }
        for case in uses.cases(prepared).into_iter().flatten() {
            compile_chunk_within_heap(&self.realm, prepared, case.chunk, self.heap_bytes_max)
                .map_err(|e| ScriptError::new(e.message))?;
        }
        Ok(())
    }

    /// `error` as the session's refusal for its heap share, when that is what it was.
    fn name_refusal(&self, scope: ScopeId, error: ScriptError) -> ScriptError {
        let refused = self
            .realm
            .ledger
            .as_ref()
            .and_then(|l| l.take_refused(scope));
        refused.map_or(error, share_exceeded)
    }

    /// Evaluates expression `expr` and hands its JS value to `then`.
    fn eval_with<T>(
        &mut self,
        id: ScopeId,
        expr: ExprIdx,
        then: impl for<'js> FnOnce(&Ctx<'js>, &Realm, JsValue<'js>) -> JsResult<T>,
    ) -> Result<T, ScriptError> {
        self.compile_for(id, Uses::Read(expr))?;
        self.run(id, |ctx, realm, scope, prepared| {
            let case = read_case(ctx, prepared, expr)?;
            let value = scope.read(ctx, prepared, case)?;
            then(ctx, realm, value)
        })
    }

    /// Sets variable `name` of the scope to a converted value.
    fn set_data(&mut self, id: ScopeId, name: &str, value: &Value) -> Result<(), ScriptError> {
        self.run(id, |ctx, realm, scope, _| {
            let js = convert::to_js(ctx, &realm.helpers, value)?;
            scope.object(ctx)?.set(name, js)
        })
    }
}

/// The case reading `expr`; an index outside the document is a thrown `RangeError`.
fn read_case(ctx: &Ctx<'_>, prepared: &Prepared, expr: ExprIdx) -> JsResult<CaseRef> {
    match prepared.read.get(expr.0 as usize) {
        Some(&case) => Ok(case),
        None => Err(rquickjs::Exception::throw_range(
            ctx,
            "no such expression in the document",
        )),
    }
}

/// The case assigning to `location`; an error if it is not a location.
fn write_case(ctx: &Ctx<'_>, prepared: &Prepared, location: ExprIdx) -> JsResult<CaseRef> {
    match prepared.write.get(location.0 as usize) {
        Some(Some(case)) => Ok(*case),
        _ => Err(rquickjs::Exception::throw_type(
            ctx,
            "the expression is not a location",
        )),
    }
}

/// The variable name of a `<foreach>` `item`/`index`, which must be a legal name.
fn loop_variable<'a>(ctx: &Ctx<'_>, prepared: &'a Prepared, expr: ExprIdx) -> JsResult<&'a str> {
    let text = prepared
        .doc
        .exprs
        .get(expr.0 as usize)
        .map_or("", |e| e.text.trim());
    if lexer::is_variable_name(text) {
        Ok(text)
    } else {
        let message = format!("'{text}' is not a legal variable name for <foreach>");
        Err(rquickjs::Exception::throw_syntax(ctx, &message))
    }
}

impl Datamodel for EcmascriptDatamodel {
    fn create_scope(
        &mut self,
        doc: &Rc<Document>,
        sys: &SystemVars<'_>,
    ) -> Result<ScopeId, ScopeError> {
        let index = self.prepared_index(doc)?;
        let Some(Some(prepared)) = self.docs.get_mut(index as usize) else {
            return Err(ScopeError {
                message: "document cache is inconsistent".into(),
            });
        };
        let object = self.realm.with(|ctx| make_scope(&ctx, prepared, sys));
        // The heap's size is read only on a refusal: QuickJS computes it by walking the
        // whole heap, which at 100,000 live sessions costs more than the start itself.
        let realm = &self.realm;
        let max = self.heap_bytes_max;
        let object = object.map_err(|message| scope_refusal(message, realm.heap_bytes(), max))?;
        let scope = Scope::new(index, object, prepared.chunks.len());
        let id = self.scopes.insert(scope).map_err(|_| ScopeError {
            message: "too many scopes".into(),
        })?;
        prepared.scopes += 1;
        if let Some(ledger) = &self.realm.ledger {
            ledger.open(id);
        }
        let mut configs = self.realm.shared.configs.borrow_mut();
        if configs.len() <= id.slot as usize {
            configs.resize_with(id.slot as usize + 1, Configuration::default);
        }
        configs[id.slot as usize] = Configuration {
            doc: Some(doc.clone()),
            words: Vec::new(),
        };
        Ok(id)
    }

    fn drop_scope(&mut self, scope: ScopeId) {
        let Some(removed) = self.scopes.remove(scope) else {
            return;
        };
        if let Some(ledger) = &self.realm.ledger {
            // Before the scope's objects are freed: they are the shard's to credit now.
            ledger.close(scope);
        }
        if let Some(Some(prepared)) = self.docs.get_mut(removed.doc as usize) {
            assert!(
                prepared.scopes > 0,
                "a document's scope count covers its scopes"
            );
            prepared.scopes -= 1;
        }
        if let Some(config) = self
            .realm
            .shared
            .configs
            .borrow_mut()
            .get_mut(scope.slot as usize)
        {
            *config = Configuration::default();
        }
        drop(removed);
    }

    fn set_now(&mut self, now_ms: u64) {
        self.realm.shared.now_ms.set(now_ms as f64);
    }

    fn set_event(&mut self, scope: ScopeId, event: &Event) -> Result<(), ScriptError> {
        let mut data_error = None;
        self.run(scope, |ctx, realm, scope, prepared| {
            let data = match convert::to_js(ctx, &realm.helpers, &event.data) {
                Ok(data) => data,
                Err(e) => {
                    // Unconvertible data (too deep, heap full) shows as `undefined`, and
                    // the session hears why.
                    data_error = Some(realm.script_error(ctx, e));
                    JsValue::new_undefined(ctx.clone())
                }
            };
            bind_event(ctx, realm, scope, prepared, event, data)
        })?;
        match data_error {
            Some(e) => Err(self.name_refusal(scope, e)),
            None => Ok(()),
        }
    }

    fn set_configuration(&mut self, scope: ScopeId, active: &[u64]) {
        if self.scopes.get(scope).is_none() {
            return;
        }
        if let Some(config) = self
            .realm
            .shared
            .configs
            .borrow_mut()
            .get_mut(scope.slot as usize)
        {
            config.words.clear();
            config.words.extend_from_slice(active);
        }
    }

    fn init_data(&mut self, scope: ScopeId, data: DataIdx) -> Result<(), ScriptError> {
        let doc = self
            .scopes
            .get(scope)
            .and_then(|s| self.docs.get(s.doc as usize));
        let Some(Some(prepared)) = doc else {
            return Err(ScriptError::new("the session's scope no longer exists"));
        };
        let doc = prepared.doc.clone();
        let Some(decl) = doc.data.get(data.0 as usize) else {
            return Err(ScriptError::new("no such <data> in the document"));
        };
        let id = &*decl.id;
        match &decl.init {
            DataInit::None => self.set_data(scope, id, &Value::Undefined),
            DataInit::Value(value) => self.set_data(scope, id, value),
            DataInit::LoadError(message) => {
                self.set_data(scope, id, &Value::Undefined)?;
                Err(ScriptError::new(message.to_string()))
            }
            DataInit::Expr(expr) => {
                let expr = *expr;
                self.compile_for(scope, Uses::Init { data, expr })?;
                let result = self.run(scope, |ctx, _, scope, prepared| {
                    let object = scope.object(ctx)?.into_value();
                    if let Some(Some(case)) = prepared.inits.get(data.0 as usize) {
                        return scope.call(ctx, prepared, *case, object).map(drop);
                    }
                    let value =
                        scope.call(ctx, prepared, read_case(ctx, prepared, expr)?, object)?;
                    scope.object(ctx)?.set(id, value)
                });
                if result.is_err() {
                    // The variable exists either way; a failed initialisation leaves it unset.
                    let _ = self.set_data(scope, id, &Value::Undefined);
                }
                result
            }
        }
    }

    fn set_variable(
        &mut self,
        scope: ScopeId,
        name: &str,
        value: &Value,
    ) -> Result<bool, ScriptError> {
        self.run(scope, |ctx, realm, scope, _| {
            let object = scope.object(ctx)?;
            if !object.contains_key(name)? {
                return Ok(false);
            }
            let js = convert::to_js(ctx, &realm.helpers, value)?;
            object.set(name, js)?;
            Ok(true)
        })
    }

    fn eval_cond(&mut self, scope: ScopeId, expr: ExprIdx) -> Result<bool, ScriptError> {
        self.eval_with(scope, expr, |ctx, _, value| match value.as_bool() {
            Some(b) => Ok(b),
            None => rquickjs::convert::Coerced::<bool>::from_js(ctx, value).map(|b| b.0),
        })
    }

    fn eval_value(&mut self, scope: ScopeId, expr: ExprIdx) -> Result<Value, ScriptError> {
        self.eval_with(scope, expr, |ctx, realm, value| {
            convert::to_value(ctx, &realm.helpers, value)
        })
    }

    fn eval_string(&mut self, scope: ScopeId, expr: ExprIdx) -> Result<String, ScriptError> {
        self.eval_with(scope, expr, |ctx, realm, value| {
            convert::text(ctx, &realm.helpers, value).map(String::from)
        })
    }

    fn assign(
        &mut self,
        scope: ScopeId,
        location: ExprIdx,
        expr: ExprIdx,
    ) -> Result<(), ScriptError> {
        self.compile_for(scope, Uses::Assign { location, expr })?;
        self.run(scope, |ctx, _, scope, prepared| {
            let undefined = JsValue::new_undefined(ctx.clone());
            if let Some(case) = prepared.pair(location.0, expr.0) {
                return scope.call(ctx, prepared, case, undefined).map(drop);
            }
            let value = scope.read(ctx, prepared, read_case(ctx, prepared, expr)?)?;
            let write = write_case(ctx, prepared, location)?;
            scope.call(ctx, prepared, write, value).map(drop)
        })
    }

    fn assign_value(
        &mut self,
        scope: ScopeId,
        location: ExprIdx,
        value: &Value,
    ) -> Result<(), ScriptError> {
        self.compile_for(scope, Uses::Write(location))?;
        self.run(scope, |ctx, realm, scope, prepared| {
            let write = write_case(ctx, prepared, location)?;
            let js = convert::to_js(ctx, &realm.helpers, value)?;
            scope.call(ctx, prepared, write, js).map(drop)
        })
    }

    fn run_script(&mut self, scope: ScopeId, script: ExprIdx) -> Result<(), ScriptError> {
        self.eval_with(scope, script, |_, _, _| Ok(()))
    }

    fn foreach_begin(&mut self, scope: ScopeId, array: ExprIdx) -> Result<u32, ScriptError> {
        self.compile_for(scope, Uses::Read(array))?;
        self.run(scope, |ctx, realm, scope, prepared| {
            let value = scope.read(ctx, prepared, read_case(ctx, prepared, array)?)?;
            let copy_list: Function = realm.helpers.copy_list.clone().restore(ctx)?;
            let copy: Object = copy_list.call((value,))?;
            let len: f64 = copy.get("length")?;
            if !(0.0..=u32::MAX as f64).contains(&len) {
                return Err(rquickjs::Exception::throw_range(
                    ctx,
                    "foreach array is too long",
                ));
            }
            scope.loops.push(Persistent::save(ctx, copy));
            Ok(len as u32)
        })
    }

    fn foreach_assign(
        &mut self,
        scope: ScopeId,
        item: ExprIdx,
        index: Option<ExprIdx>,
        i: u32,
    ) -> Result<(), ScriptError> {
        self.run(scope, |ctx, _, scope, prepared| {
            let item = loop_variable(ctx, prepared, item)?;
            let index = index
                .map(|index| loop_variable(ctx, prepared, index))
                .transpose()?;
            let Some(list) = scope.loops.last() else {
                return Err(rquickjs::Exception::throw_internal(
                    ctx,
                    "no <foreach> is running",
                ));
            };
            let value: JsValue = list.clone().restore(ctx)?.get(i)?;
            let object = scope.object(ctx)?;
            object.set(item, value)?;
            if let Some(index) = index {
                object.set(index, i)?;
            }
            Ok(())
        })
    }

    fn foreach_end(&mut self, scope: ScopeId) {
        if let Some(scope) = self.scopes.get_mut(scope) {
            scope.loops.pop();
        }
    }

    fn set_host_value(
        &mut self,
        scope: ScopeId,
        name: &str,
        value: &Value,
    ) -> Result<(), ScriptError> {
        if !is_host_name(name) {
            let message = format!("'{name}' is not a host value name");
            return Err(ScriptError::new(message));
        }
        self.run(scope, |ctx, realm, scope, _| {
            let js = convert::to_js(ctx, &realm.helpers, value)?;
            // Read-only, like `_event`; configurable, so the next binding can replace it.
            let flags = rquickjs::object::Property::from(js).configurable();
            scope.object(ctx)?.prop(name, flags)
        })
    }

    fn take_script_effects(&mut self, scope: ScopeId) -> Vec<ScriptEffect> {
        if self.realm.shared.effects.borrow().is_empty() {
            return Vec::new();
        }
        let pending = std::mem::take(&mut *self.realm.shared.effects.borrow_mut());
        let helpers = &self.realm.helpers;
        self.realm.with(|ctx| {
            let mut taken = Vec::new();
            for effect in pending {
                // Only this scope's are asked for; another's (a scope that ended inside
                // its script) have no session left to perform them.
                match effect {
                    PendingEffect::Raise { slot, name, data } if slot == scope.slot => {
                        let data = data.and_then(|data| data.restore(&ctx).ok());
                        let data = data.and_then(|d| convert::to_value(&ctx, helpers, d).ok());
                        let data = data.unwrap_or(Value::Undefined);
                        taken.push(ScriptEffect::Raise { name, data });
                    }
                    PendingEffect::Log {
                        slot,
                        label,
                        message,
                    } if slot == scope.slot => taken.push(ScriptEffect::Log { label, message }),
                    _ => {}
                }
            }
            taken
        })
    }

    fn set_host_function(&mut self, name: &str, f: HostFunction) -> Result<(), ScriptError> {
        if !is_host_name(name) {
            let message = format!("'{name}' is not a host function name");
            return Err(ScriptError::new(message));
        }
        self.realm.install_host_function(name, f)
    }

    fn snapshot(&mut self, scope: ScopeId) -> Value {
        let result = self.run(scope, |ctx, realm, scope, _| {
            let object = scope.object(ctx)?;
            let filter = rquickjs::object::Filter::new().string().enum_only();
            let keys = object
                .own_keys::<String>(filter)
                .collect::<JsResult<Vec<String>>>()?;
            let mut fields = Vec::with_capacity(keys.len());
            for key in keys {
                let value: JsValue = object.get(key.as_str())?;
                if value.is_function() {
                    continue;
                }
                match convert::to_value(ctx, &realm.helpers, value) {
                    Ok(v) => fields.push((key.into_boxed_str(), v)),
                    Err(_) => drop(ctx.catch()),
                }
            }
            Ok(Value::Object(fields))
        });
        result.unwrap_or_default()
    }
}

/// Makes the `_event` object of `event` with `data` and binds it in `scope`.
fn bind_event<'js>(
    ctx: &Ctx<'js>,
    realm: &Realm,
    scope: &Scope,
    prepared: &Prepared,
    event: &Event,
    data: JsValue<'js>,
) -> JsResult<()> {
    // The wire text when the event crossed a protocol, else the data's text.
    let raw = prepared
        .uses
        .raw
        .then(|| match &event.raw {
            Some(raw) => Some(raw.to_string()),
            None => convert::raw_text(&event.data),
        })
        .flatten();
    let mut args = rquickjs::function::Args::new(ctx.clone(), 8);
    args.push_arg(&*event.name)?;
    args.push_arg(event.kind.as_str())?;
    for field in [
        &event.sendid,
        &event.origin,
        &event.origintype,
        &event.invokeid,
    ] {
        args.push_arg(field.as_deref())?;
    }
    args.push_arg(data)?;
    args.push_arg(raw.as_deref())?;
    let make_event: Function = realm.helpers.make_event.clone().restore(ctx)?;
    let event: Object = make_event.call_arg(args)?;
    // Defined from Rust: no descriptor object, and the flags (read-only, configurable)
    // stay as the maker set them, so the scope keeps its shape.
    let flags = rquickjs::object::Property::from(event).configurable();
    scope.object(ctx)?.prop("_event", flags)
}

/// Calls the document's scope maker with the system variables.
fn make_scope(
    ctx: &Ctx<'_>,
    prepared: &Prepared,
    sys: &SystemVars<'_>,
) -> Result<Persistent<Object<'static>>, String> {
    let err = |e: rquickjs::Error| match e {
        rquickjs::Error::Exception => realm::describe(ctx, ctx.catch()),
        other => other.to_string(),
    };
    // Only what the document uses is converted: most documents use no system variable.
    let uses = prepared.uses;
    let text = |used: bool, s: &str| -> rquickjs::Result<JsValue<'_>> {
        match used {
            true => Ok(rquickjs::String::from_str(ctx.clone(), s)?.into_value()),
            false => Ok(JsValue::new_undefined(ctx.clone())),
        }
    };
    let session_id = text(uses.session_id, sys.session_id).map_err(err)?;
    let name = text(uses.name, sys.name).map_err(err)?;
    let io = match uses.ioprocessors {
        true => {
            let io = Array::new(ctx.clone()).map_err(err)?;
            for (i, (kind, location)) in sys.ioprocessors.iter().enumerate() {
                io.set(2 * i, *kind).map_err(err)?;
                io.set(2 * i + 1, *location).map_err(err)?;
            }
            io.into_value()
        }
        false => JsValue::new_undefined(ctx.clone()),
    };
    let maker: Function = prepared.maker.clone().restore(ctx).map_err(err)?;
    let object: Object = maker.call((session_id, name, io, -1)).map_err(err)?;
    Ok(Persistent::save(ctx, object))
}
