//! The shard's QuickJS runtime and context: limits, the injected clock and random source,
//! `In()`, the frozen intrinsics, and the JavaScript helpers the datamodel calls.
//!
//! One realm serves every session of a shard, so isolation between sessions rests on the
//! realm being immutable after setup: `realm.js` freezes every reachable intrinsic and the
//! global object, so no script can leave anything behind that another session would see.

use std::cell::{Cell, RefCell};
use std::rc::{Rc, Weak};

use rquickjs::context::EvalOptions;
use rquickjs::convert::Coerced;
use rquickjs::function::{Opt, Rest};
use rquickjs::{
    Context, Ctx, Error as JsError, Exception, FromJs, Function, Persistent, Runtime, Value,
};

use super::convert;
use super::heap::HeapLedger;
use crate::datamodel::{HostFunction, ScopeError, ScopeId, ScriptError};
use crate::limits::Limits;
use crate::model::Document;

/// Promise jobs run after each evaluation, at most this many, and only while fuel lasts.
/// Jobs cannot be discarded, so a script that keeps queuing them (each job queuing the
/// next) costs every later evaluation up to this many short jobs: a bound, not a cure.
const JOBS_PER_EVALUATION_MAX: u32 = 256;

/// The active configuration of one scope, for `In()`.
#[derive(Default)]
pub(crate) struct Configuration {
    /// The scope's document (for state ids); `None` for a free slot.
    pub doc: Option<Rc<Document>>,
    /// Bit `i` set: state `i` is active.
    pub words: Vec<u64>,
}

/// State shared between the Rust side and the native functions inside the realm.
pub(crate) struct Shared {
    /// What `Date.now()` returns.
    pub now_ms: Cell<f64>,
    /// Interrupt polls used by the current evaluation.
    pub fuel_used: Cell<u32>,
    /// Interrupt polls allowed per evaluation.
    pub fuel_max: u32,
    /// The `Math.random` state (SplitMix64).
    rng: Cell<u64>,
    /// The scope slot being evaluated: `In()` answers for it.
    pub current: Cell<u32>,
    /// Per scope slot, the configuration `In()` reads.
    pub configs: RefCell<Vec<Configuration>>,
    /// What scripts asked of their sessions through `__Raise` and `__Log`, not yet taken.
    pub effects: RefCell<Vec<PendingEffect>>,
}

/// A script's request through a built-in, with the slot of the scope that made it; the
/// event data stays a JS value until it is taken (a native has no converter).
pub(crate) enum PendingEffect {
    /// `__Raise(name, params)`.
    Raise {
        slot: u32,
        name: String,
        data: Option<Persistent<rquickjs::Value<'static>>>,
    },
    /// `__Log(message, label)`.
    Log {
        slot: u32,
        label: String,
        message: String,
    },
}

impl Shared {
    fn next_random(&self) -> f64 {
        // SplitMix64: small, fast and good enough for scripts; not for cryptography.
        let mut z = self.rng.get().wrapping_add(0x9e37_79b9_7f4a_7c15);
        self.rng.set(z);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        (z >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// `In(id)` for the scope being evaluated.
    fn is_active(&self, id: &str) -> bool {
        let configs = self.configs.borrow();
        let Some(config) = configs.get(self.current.get() as usize) else {
            return false;
        };
        let Some(state) = config.doc.as_ref().and_then(|d| d.state_by_id(id)) else {
            return false;
        };
        let i = state.0 as usize;
        config
            .words
            .get(i / 64)
            .is_some_and(|w| w & (1u64 << (i % 64)) != 0)
    }

    /// The ids of the active states of the scope being evaluated, in document order
    /// (`__GetCurrentStates()`).
    fn active_ids(&self) -> Vec<String> {
        let configs = self.configs.borrow();
        let Some(config) = configs.get(self.current.get() as usize) else {
            return Vec::new();
        };
        let Some(doc) = &config.doc else {
            return Vec::new();
        };
        let active = |i: usize| {
            config
                .words
                .get(i / 64)
                .is_some_and(|w| w & (1u64 << (i % 64)) != 0)
        };
        // State 0 is the `<scxml>` root, not a state an application names.
        (1..doc.states.len())
            .filter(|&i| active(i))
            .map(|i| doc.states[i].id.to_string())
            .collect()
    }

    /// The location of the document of the scope being evaluated (`__GetDocumentURL()`).
    fn document_url(&self) -> String {
        let configs = self.configs.borrow();
        let doc = configs
            .get(self.current.get() as usize)
            .and_then(|c| c.doc.as_ref());
        doc.map_or_else(String::new, |doc| doc.source_name.to_string())
    }

    /// True once the current evaluation has used up its fuel.
    pub fn fuel_exhausted(&self) -> bool {
        self.fuel_used.get() > self.fuel_max
    }
}

/// The JavaScript helpers from `realm.js`.
pub(crate) struct Helpers {
    /// Objects kept alive for their shapes (see `realm.js`).
    #[allow(dead_code)] // Held, never read: holding it is the point.
    pub shapes: Persistent<rquickjs::Object<'static>>,
    /// `makeEvent(name, type, sendid, origin, origintype, invokeid, data, raw)`.
    pub make_event: Persistent<Function<'static>>,
    /// `copyList(value)`: the `<foreach>` copy.
    pub copy_list: Persistent<Function<'static>>,
    /// `buildDom(flat)`: a DOM document from flat node records.
    pub build_dom: Persistent<Function<'static>>,
    /// `serialize(node)`: XML text of a DOM node.
    pub serialize: Persistent<Function<'static>>,
    /// `kindOf(object)`: how to convert an object to a plain value.
    pub kind_of: Persistent<Function<'static>>,
    /// `callToJSON(value, key)`.
    pub call_to_json: Persistent<Function<'static>>,
    /// `wellFormed(string)`: lone surrogates replaced by U+FFFD.
    pub well_formed: Persistent<Function<'static>>,
    /// The object holding host functions, which every expression's names resolve through
    /// after the session's scope (see `factory.rs`).
    pub host: Persistent<rquickjs::Object<'static>>,
}

/// One shard's JavaScript engine. Field order matters: everything holding JS values drops
/// before the context, and the context before the runtime.
pub(crate) struct Realm {
    /// Shared (weakly) with the host functions, which convert their arguments with it.
    pub helpers: Rc<Helpers>,
    pub shared: Rc<Shared>,
    pub context: Context,
    /// Per-session accounting, when the host's allocator keeps it (see `heap.rs`).
    pub ledger: Option<Rc<HeapLedger>>,
    /// QuickJS's own memory limit: the shard's bound, or 0 (none) when the ledger bounds it.
    pub quickjs_limit_bytes: usize,
    pub runtime: Runtime,
    /// When `heap_guard` last collected to find room for a compile.
    pub collected_at: std::cell::Cell<Option<std::time::Instant>>,
}

impl Realm {
    /// Creates the runtime and context with `limits` and sets up the realm. `metered` is a
    /// runtime whose allocator keeps the ledger; without it QuickJS's own limit bounds
    /// the shard and sessions have no share.
    pub fn new(
        limits: &Limits,
        seed: u64,
        metered: Option<(Runtime, Rc<HeapLedger>)>,
    ) -> Result<Realm, ScopeError> {
        let fail = |what: &str, e: JsError| ScopeError {
            message: format!("{what}: {e}"),
        };
        let (runtime, ledger) = match metered {
            Some((runtime, ledger)) => (runtime, Some(ledger)),
            None => (
                Runtime::new().map_err(|e| fail("cannot create the JS runtime", e))?,
                None,
            ),
        };
        let quickjs_limit_bytes = match ledger {
            Some(_) => 0,
            None => limits.js_heap_bytes_max as usize,
        };
        runtime.set_memory_limit(quickjs_limit_bytes);
        runtime.set_max_stack_size(limits.js_stack_bytes_max as usize);
        let shared = Rc::new(Shared {
            now_ms: Cell::new(0.0),
            fuel_used: Cell::new(0),
            fuel_max: limits.script_fuel_max,
            rng: Cell::new(seed),
            current: Cell::new(u32::MAX),
            configs: RefCell::new(Vec::new()),
            effects: RefCell::new(Vec::new()),
        });
        let fuel = shared.clone();
        runtime.set_interrupt_handler(Some(Box::new(move || {
            fuel.fuel_used.set(fuel.fuel_used.get().saturating_add(1));
            fuel.fuel_exhausted()
        })));
        let context =
            Context::full(&runtime).map_err(|e| fail("cannot create the JS context", e))?;
        let helpers = context
            .with(|ctx| setup(&ctx, &shared))
            .map_err(|message| ScopeError { message })?;
        Ok(Realm {
            helpers: Rc::new(helpers),
            shared,
            context,
            ledger,
            quickjs_limit_bytes,
            runtime,
            collected_at: std::cell::Cell::new(None),
        })
    }

    /// Runs `f` as one evaluation for scope `slot`: with fresh fuel, `In()` answering for
    /// that scope, and the promise jobs it queued run afterwards.
    pub fn enter<T>(
        &self,
        scope: ScopeId,
        f: impl for<'js> FnOnce(&Ctx<'js>) -> Result<T, ScriptError>,
    ) -> Result<T, ScriptError> {
        self.shared.fuel_used.set(0);
        self.shared.current.set(scope.slot);
        let _charged = self
            .ledger
            .as_deref()
            .map(|ledger| Charging::new(ledger, scope));
        self.context.with(|ctx| {
            let result = f(&ctx);
            for _ in 0..JOBS_PER_EVALUATION_MAX {
                if self.shared.fuel_exhausted() || !ctx.execute_pending_job() {
                    break;
                }
            }
            result
        })
    }

    /// Runs `f` in the context with fresh fuel, outside any scope (compiling documents,
    /// creating scopes): a previous evaluation's exhausted fuel must not interrupt it.
    pub fn with<T>(&self, f: impl for<'js> FnOnce(Ctx<'js>) -> T) -> T {
        self.shared.fuel_used.set(0);
        self.shared.current.set(u32::MAX);
        self.context.with(f)
    }

    /// Turns a failed JS operation into a [`ScriptError`], clearing the pending exception.
    pub fn script_error(&self, ctx: &Ctx<'_>, error: JsError) -> ScriptError {
        let exception = matches!(error, JsError::Exception).then(|| ctx.catch());
        if self.shared.fuel_exhausted() {
            let max = self.shared.fuel_max;
            return ScriptError::new(format!("script ran out of fuel ({max} interrupt polls)"));
        }
        match (error, exception) {
            (_, Some(value)) => ScriptError::new(describe(ctx, value)),
            (JsError::Allocation, _) => ScriptError::new("out of memory"),
            (other, _) => ScriptError::new(other.to_string()),
        }
    }

    /// Installs `f` as the host function `name` (see [`Helpers::host`]): read-only, and
    /// frozen, so that no session can change what another one calls.
    pub fn install_host_function(&self, name: &str, f: HostFunction) -> Result<(), ScriptError> {
        let helpers = Rc::downgrade(&self.helpers);
        self.with(|ctx| {
            let installed = host_function(&ctx, name, f, helpers).and_then(|native| {
                let object: rquickjs::Object = ctx.globals().get("Object")?;
                let freeze: Function = object.get("freeze")?;
                freeze.call::<_, Value>((native.clone(),))?;
                let host = self.helpers.host.clone().restore(&ctx)?;
                // Configurable, so the host can replace it; scripts cannot delete it, as
                // they run in strict mode and never see the object.
                host.prop(
                    name,
                    rquickjs::object::Property::from(native).configurable(),
                )
            });
            installed.map_err(|e| self.script_error(&ctx, e))
        })
    }

    /// Bytes the JS heap holds: the ledger's count (cheap), else QuickJS's accounting
    /// (a walk over the whole heap).
    pub fn heap_bytes(&self) -> u64 {
        match &self.ledger {
            Some(ledger) => ledger.bytes(),
            None => self.runtime.memory_usage().malloc_size.max(0) as u64,
        }
    }
}

/// Allocations charged to a session while it lives; to the shard again when it drops.
struct Charging<'a> {
    ledger: &'a HeapLedger,
}

impl<'a> Charging<'a> {
    fn new(ledger: &'a HeapLedger, scope: ScopeId) -> Charging<'a> {
        ledger.enter(Some(scope));
        Charging { ledger }
    }
}

impl Drop for Charging<'_> {
    fn drop(&mut self) {
        self.ledger.enter(None);
    }
}

/// A readable message for a thrown value: `Name: message` for errors, else `String(v)`.
pub(crate) fn describe<'js>(ctx: &Ctx<'js>, value: Value<'js>) -> String {
    if let Some(obj) = value.as_object() {
        // Getters on a thrown object run here too, still bounded by the evaluation's fuel.
        let field = |key: &str| -> Option<String> {
            match obj.get::<_, Value>(key) {
                Ok(v) if !v.is_undefined() => Coerced::<String>::from_js(ctx, v).ok().map(|s| s.0),
                Ok(_) => None,
                Err(_) => {
                    let _ = ctx.catch();
                    None
                }
            }
        };
        match (field("name"), field("message")) {
            (Some(name), Some(message)) if !message.is_empty() => {
                return format!("{name}: {message}")
            }
            (Some(name), Some(_)) => return name,
            (None, Some(message)) => return message,
            _ => {}
        }
    }
    match Coerced::<String>::from_js(ctx, value) {
        Ok(text) => text.0,
        Err(_) => {
            let _ = ctx.catch();
            "uncaught exception".to_owned()
        }
    }
}

/// A native function that converts its arguments to plain values, calls `f`, and converts
/// the result back; `f`'s error is thrown as an `Error` with its message. It holds the
/// helpers weakly: a strong reference from inside the runtime would keep JS values alive
/// past the runtime's end.
fn host_function<'js>(
    ctx: &Ctx<'js>,
    name: &str,
    f: HostFunction,
    helpers: Weak<Helpers>,
) -> Result<Function<'js>, JsError> {
    let call = move |ctx: Ctx<'js>, args: Rest<Value<'js>>| -> Result<Value<'js>, JsError> {
        let Some(helpers) = helpers.upgrade() else {
            return Err(Exception::throw_internal(&ctx, "the datamodel is gone"));
        };
        let mut values = Vec::with_capacity(args.0.len());
        for arg in args.0 {
            values.push(convert::to_value(&ctx, &helpers, arg)?);
        }
        match f(&values) {
            Ok(result) => convert::to_js(&ctx, &helpers, &result),
            Err(message) => Err(Exception::throw_message(&ctx, &message)),
        }
    };
    Function::new(ctx.clone(), call)?.with_name(name)
}

/// The built-in functions ORS documents call (Composer's libraries and generated code use
/// them), on the host object: every document's names resolve through it after the
/// session's own variables, so a document that declares one of these names keeps its own.
fn install_builtins<'js>(
    ctx: &Ctx<'js>,
    shared: &Rc<Shared>,
    host: &rquickjs::Object<'js>,
) -> rquickjs::Result<()> {
    let raising = shared.clone();
    let raise = Function::new(
        ctx.clone(),
        move |name: Coerced<String>, data: Opt<rquickjs::Value<'_>>| {
            let data = data
                .0
                .map(|data| Persistent::save(&data.ctx().clone(), data));
            raising.effects.borrow_mut().push(PendingEffect::Raise {
                slot: raising.current.get(),
                name: name.0,
                data,
            });
        },
    )?
    .with_name("__Raise")?;
    let logging = shared.clone();
    let log = Function::new(
        ctx.clone(),
        move |message: Coerced<String>, label: Opt<Coerced<String>>| {
            logging.effects.borrow_mut().push(PendingEffect::Log {
                slot: logging.current.get(),
                label: label.0.map(|l| l.0).unwrap_or_default(),
                message: message.0,
            });
        },
    )?
    .with_name("__Log")?;
    let states = shared.clone();
    let current_states =
        Function::new(ctx.clone(), move || states.active_ids())?.with_name("__GetCurrentStates")?;
    let documents = shared.clone();
    let document_url = Function::new(ctx.clone(), move || documents.document_url())?
        .with_name("__GetDocumentURL")?;
    host.set("__Raise", raise)?;
    host.set("__Log", log)?;
    host.set("__GetCurrentStates", current_states)?;
    host.set("__GetDocumentURL", document_url)?;
    Ok(())
}

/// Installs the natives and runs `realm.js`; returns its helpers.
fn setup(ctx: &Ctx<'_>, shared: &Rc<Shared>) -> Result<Helpers, String> {
    let err = |e: JsError| match e {
        JsError::Exception => describe(ctx, ctx.catch()),
        other => other.to_string(),
    };
    let now = shared.clone();
    let now_fn = Function::new(ctx.clone(), move || now.now_ms.get()).map_err(err)?;
    let rng = shared.clone();
    let random_fn = Function::new(ctx.clone(), move || rng.next_random()).map_err(err)?;
    let random_fn = random_fn.with_name("random").map_err(err)?;
    let config = shared.clone();
    let in_fn = Function::new(ctx.clone(), move |id: Opt<Coerced<String>>| match id.0 {
        Some(id) => config.is_active(&id.0),
        None => false,
    })
    .map_err(err)?
    .with_name("In")
    .map_err(err)?;
    let mut options = EvalOptions::default();
    options.strict = false;
    let init: Function = ctx
        .eval_with_options(include_str!("realm.js"), options)
        .map_err(err)?;
    let realm: rquickjs::Object = init.call((now_fn, random_fn, in_fn)).map_err(err)?;
    let helpers: rquickjs::Object = realm.get("helpers").map_err(err)?;
    let shapes: rquickjs::Object = realm.get("shapes").map_err(err)?;
    let host: rquickjs::Object = realm.get("host").map_err(err)?;
    install_builtins(ctx, shared, &host).map_err(err)?;
    let get = |name: &str| -> Result<Persistent<Function<'static>>, String> {
        let f: Function = helpers.get(name).map_err(err)?;
        Ok(Persistent::save(ctx, f))
    };
    Ok(Helpers {
        shapes: Persistent::save(ctx, shapes),
        make_event: get("makeEvent")?,
        copy_list: get("copyList")?,
        build_dom: get("buildDom")?,
        serialize: get("serialize")?,
        kind_of: get("kindOf")?,
        call_to_json: get("callToJSON")?,
        well_formed: get("wellFormed")?,
        host: Persistent::save(ctx, host),
    })
}
