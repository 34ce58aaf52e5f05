//! Compiles a document's expressions once, into per-chunk dispatcher factories.
//!
//! Every evaluation the datamodel can make is a *case*: reading an expression (a value, a
//! condition as `!!(...)`, a location, or running a script), writing a location, a whole
//! `<assign>` (expression then location, one call instead of two), or a `<data expr>`
//! initialisation. Cases are grouped into chunks of up to [`CHUNK_CASES_MAX`]; each chunk
//! compiles to one factory
//!
//! ```js
//! (function (__baton_S, __baton_H) { with (__baton_H) { with (__baton_S) {
//!     return (__baton_i, __baton_v) => {
//!     "use strict"; if (__baton_i < 2) { ... case 0 ... } else { ... } }; } } })
//! ```
//!
//! which a session calls once, with its scope object and the realm's host-function object
//! (`__baton_H`, whose functions the session's own variables hide), to get a dispatcher
//! closure; its
//! argument `__baton_v` is the value to assign for writes and the scope object for reads
//! (scripts and initialisations store into it). The
//! `with` makes the scope's properties the datamodel variables; strict mode inside makes an
//! assignment to an undeclared name a `ReferenceError` (SCXML's `error.execution`); the
//! binary `if` tree keeps dispatch at four comparisons. Chunks bound the closures a session
//! creates to the parts of the document it actually runs.
//!
//! A case that does not compile becomes a thrower of its `SyntaxError`, so one bad
//! expression fails only when evaluated (W3C tests 309, 487). A case whose brackets do not
//! balance gets a chunk of its own, so it cannot reach into its neighbours.
//!
//! Chunks compile when a session first needs one ([`Prepared::compile_chunk`], called
//! through `heap_guard` before the evaluation starts), not when the document is prepared:
//! QuickJS's compile is the dear part of a start (a 4 MB document of 40,000 conditions
//! takes about 150 ms), and a shard must not stall that long for parts no session runs.

use std::cell::RefCell;
use std::fmt::Write as _;
use std::rc::Rc;

use rquickjs::context::EvalOptions;
use rquickjs::{Array, Ctx, Error as JsError, Function, Object, Persistent};

use super::realm::describe;
use super::script_rewrite::{is_balanced, rewrite, SCOPE};
use crate::datamodel::ScopeError;
use crate::model::{DataIdx, DataInit, Dialect, Document, Expr, ExprIdx, ExprKind, Instr};

/// Most cases in one chunk: dispatch costs log2 of it in comparisons.
pub(crate) const CHUNK_CASES_MAX: usize = 16;

/// Which system variables a document mentions; only those are created per session.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct SystemUse {
    /// `_sessionid`.
    pub session_id: bool,
    /// `_name`.
    pub name: bool,
    /// `_ioprocessors`.
    pub ioprocessors: bool,
    /// `_x` (reserved for platform extensions; an empty object).
    pub x: bool,
    /// `_data`, the ORS name of the datamodel itself (ORS documents only).
    pub data: bool,
    /// `_event` (also when the compiler set [`Document::uses_event`]).
    pub event: bool,
    /// `_event.raw` is mentioned: events carry their data's text.
    pub raw: bool,
}

/// Where a case lives: its chunk and its index inside the chunk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct CaseRef {
    /// Index into [`Prepared::factories`].
    pub chunk: u32,
    /// The dispatcher's `__baton_i` for the case.
    pub local: u32,
}

/// An `<assign>` compiled as one case.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Pair {
    /// The `expr` the case evaluates (the location is the index of the pair).
    pub expr: u32,
    /// The case.
    pub case: CaseRef,
}

/// A document prepared for sessions.
pub(crate) struct Prepared {
    /// Kept alive so that its address, the cache key, stays unique.
    pub doc: Rc<Document>,
    /// `(sessionid, name, ioprocessors, steps) => scope`.
    pub maker: Persistent<Function<'static>>,
    /// Scope objects of every prefix of the maker's steps, kept so their shapes stay shared.
    #[allow(dead_code)] // Held, never read: holding it is the point.
    pub shapes: Persistent<Array<'static>>,
    /// Per chunk, `(scope, host) => dispatcher`, or its cases' sources until compiled.
    pub chunks: Vec<RefCell<Chunk>>,
    /// Chunks not compiled yet: at 0 an evaluation needs no look at its chunk.
    pub uncompiled: std::cell::Cell<u32>,
    /// The realm's host-function object, the factories' second argument.
    pub host: Persistent<Object<'static>>,
    /// Per expression, the case that evaluates it.
    pub read: Vec<CaseRef>,
    /// Per expression, the case that assigns to it (locations only).
    pub write: Vec<Option<CaseRef>>,
    /// Per location expression, its `<assign>` as one case.
    pub pairs: Vec<Option<Pair>>,
    /// Per `<data>` with an expression, its initialisation as one case.
    pub inits: Vec<Option<CaseRef>>,
    /// System variables to create.
    pub uses: SystemUse,
    /// Live scopes of this document.
    pub scopes: u32,
}

/// The cases an evaluation will run, so that their chunks compile before it starts.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Uses {
    /// Reading an expression or running a script.
    Read(ExprIdx),
    /// Writing a location.
    Write(ExprIdx),
    /// `<assign location expr>`.
    Assign { location: ExprIdx, expr: ExprIdx },
    /// `<data expr>`.
    Init { data: DataIdx, expr: ExprIdx },
}

impl Uses {
    /// The cases, as [`Prepared`]'s tables place them (`None` where it has none).
    pub fn cases(self, prepared: &Prepared) -> [Option<CaseRef>; 2] {
        let read = |e: ExprIdx| prepared.read.get(e.0 as usize).copied();
        let write = |l: ExprIdx| prepared.write.get(l.0 as usize).copied().flatten();
        match self {
            Uses::Read(expr) => [read(expr), None],
            Uses::Write(location) => [write(location), None],
            Uses::Assign { location, expr } => match prepared.pair(location.0, expr.0) {
                Some(case) => [Some(case), None],
                None => [read(expr), write(location)],
            },
            Uses::Init { data, expr } => match prepared.inits.get(data.0 as usize) {
                Some(Some(case)) => [Some(*case), None],
                _ => [read(expr), None],
            },
        }
    }
}

/// One chunk of a prepared document.
pub(crate) enum Chunk {
    /// Not compiled yet: its cases' sources.
    Source(Vec<String>),
    /// Its factory.
    Compiled(Persistent<Function<'static>>),
}

impl Prepared {
    /// Source bytes of `chunk` while it is not compiled (what its compile will need).
    pub fn uncompiled_bytes(&self, chunk: u32) -> Option<u64> {
        match &*self.chunks.get(chunk as usize)?.borrow() {
            Chunk::Source(cases) => Some(cases.iter().map(|c| c.len() as u64).sum()),
            Chunk::Compiled(_) => None,
        }
    }

    /// Compiles `chunk` if it is not compiled yet. Called only through `heap_guard`.
    pub fn compile_chunk(&self, ctx: &Ctx<'_>, chunk: u32) -> Result<(), ScopeError> {
        let Some(cell) = self.chunks.get(chunk as usize) else {
            return Err(ScopeError {
                message: "no such chunk in the document".into(),
            });
        };
        let mut cases = match &mut *cell.borrow_mut() {
            Chunk::Source(cases) => std::mem::take(cases),
            Chunk::Compiled(_) => return Ok(()),
        };
        let factory =
            compile_group(ctx, &self.doc, &mut cases).and_then(|groups| combine(ctx, groups));
        match factory {
            Ok(factory) => {
                *cell.borrow_mut() = Chunk::Compiled(Persistent::save(ctx, factory));
                self.uncompiled.set(self.uncompiled.get() - 1);
                Ok(())
            }
            Err(error) => {
                // Kept to try again: a later session may find room.
                *cell.borrow_mut() = Chunk::Source(cases);
                Err(error)
            }
        }
    }

    /// The factory of a compiled `chunk`.
    pub fn factory<'js>(&self, ctx: &Ctx<'js>, chunk: u32) -> rquickjs::Result<Function<'js>> {
        let chunk = self.chunks.get(chunk as usize).map(RefCell::borrow);
        match chunk.as_deref() {
            Some(Chunk::Compiled(factory)) => factory.clone().restore(ctx),
            // `heap_guard` compiles every chunk an evaluation needs before it starts.
            _ => Err(rquickjs::Exception::throw_internal(
                ctx,
                "the expression's chunk is not compiled",
            )),
        }
    }

    /// The single case for `<assign location expr>`, if there is one.
    pub fn pair(&self, location: u32, expr: u32) -> Option<CaseRef> {
        let pair = self.pairs.get(location as usize).copied().flatten()?;
        (pair.expr == expr).then_some(pair.case)
    }
}

/// The case texts of a document, before chunking.
#[derive(Default)]
struct Cases {
    sources: Vec<String>,
    read: Vec<u32>,
    write: Vec<Option<u32>>,
    pairs: Vec<Option<(u32, u32)>>,
    inits: Vec<Option<u32>>,
    declared: Vec<Box<str>>,
}

/// Compiles `doc`'s cases and its scope maker.
pub(crate) fn prepare<'js>(
    ctx: &Ctx<'js>,
    doc: &Rc<Document>,
    host: Persistent<Object<'static>>,
) -> Result<Prepared, ScopeError> {
    let cases = collect_cases(doc);
    let uses = system_use(doc);
    let (chunks, refs) = split_chunks(cases.sources);
    let at = |case: u32| refs[case as usize];
    let (maker_src, steps) = maker_source(&cases.declared, uses);
    let maker: Function = compile(ctx, doc, maker_src).map_err(|message| ScopeError { message })?;
    let shapes = keep_shapes(ctx, &maker, steps).map_err(|e| ScopeError {
        message: format!("cannot prepare the scope layout: {e}"),
    })?;
    let pairs = cases.pairs.iter().map(|p| {
        p.map(|(expr, case)| Pair {
            expr,
            case: at(case),
        })
    });
    Ok(Prepared {
        doc: doc.clone(),
        maker: Persistent::save(ctx, maker),
        shapes: Persistent::save(ctx, shapes),
        uncompiled: std::cell::Cell::new(chunks.len() as u32),
        chunks,
        host,
        read: cases.read.iter().map(|&c| at(c)).collect(),
        write: cases.write.iter().map(|c| c.map(at)).collect(),
        pairs: pairs.collect(),
        inits: cases.inits.iter().map(|c| c.map(at)).collect(),
        uses,
        scopes: 0,
    })
}

/// Generates every case's source text.
fn collect_cases(doc: &Document) -> Cases {
    let mut cases = Cases::default();
    for data in &doc.data {
        push_unique(&mut cases.declared, &data.id);
    }
    for expr in &doc.exprs {
        cases.read.push(cases.sources.len() as u32);
        let source = match expr.kind {
            ExprKind::Value | ExprKind::Location => format!("return ({}\n);", trimmed(expr)),
            ExprKind::Cond => format!("return !!({}\n);", trimmed(expr)),
            ExprKind::Script => {
                let r = rewrite(&expr.text);
                r.declared
                    .iter()
                    .for_each(|name| push_unique(&mut cases.declared, name));
                let mut body = String::from("{ ");
                for f in &r.functions {
                    let _ = write!(body, "{SCOPE}.{f} = {f}; ");
                }
                body.push_str(&r.body);
                body.push_str("\n} return;");
                body
            }
        };
        cases.sources.push(source);
        let write = (expr.kind == ExprKind::Location).then(|| {
            cases
                .sources
                .push(format!("({}\n) = __baton_v; return;", trimmed(expr)));
            cases.sources.len() as u32 - 1
        });
        cases.write.push(write);
    }
    collect_pairs(doc, &mut cases);
    collect_inits(doc, &mut cases);
    cases
}

/// One case per `<assign>`: the expression, then the location, in one call.
fn collect_pairs(doc: &Document, cases: &mut Cases) {
    cases.pairs = vec![None; doc.exprs.len()];
    for instr in &doc.instrs {
        let Instr::Assign { location, expr } = instr else {
            continue;
        };
        let (Some(l), Some(e)) = (
            doc.exprs.get(location.0 as usize),
            doc.exprs.get(expr.0 as usize),
        ) else {
            continue;
        };
        let slot = &mut cases.pairs[location.0 as usize];
        if slot.is_none() && l.kind == ExprKind::Location && e.kind == ExprKind::Value {
            let (l, e) = (trimmed(l), trimmed(e));
            let source = format!("{{ const __baton_r = ({e}\n); ({l}\n) = __baton_r; }} return;");
            cases.sources.push(source);
            *slot = Some((expr.0, cases.sources.len() as u32 - 1));
        }
    }
}

/// One case per `<data expr>`: evaluate and store on the scope (the argument) in one call.
fn collect_inits(doc: &Document, cases: &mut Cases) {
    for data in &doc.data {
        let DataInit::Expr(expr) = data.init else {
            cases.inits.push(None);
            continue;
        };
        let Some(e) = doc
            .exprs
            .get(expr.0 as usize)
            .filter(|e| e.kind == ExprKind::Value)
        else {
            cases.inits.push(None);
            continue;
        };
        let key = js_string(&data.id);
        cases
            .sources
            .push(format!("{SCOPE}[{key}] = ({}\n); return;", trimmed(e)));
        cases.inits.push(Some(cases.sources.len() as u32 - 1));
    }
}

fn push_unique(names: &mut Vec<Box<str>>, name: &str) {
    if !names.iter().any(|n| &**n == name) {
        names.push(name.into());
    }
}

/// An expression's text without trailing whitespace and semicolons (`new f();` is a common
/// way to write an expression, W3C test 452). An empty value expression is `undefined`, as
/// `eval("")` is (`<log expr=""/>`, W3C test 307).
fn trimmed(expr: &Expr) -> &str {
    let text = expr
        .text
        .trim_end_matches(|c: char| c == ';' || c.is_whitespace());
    if text.trim_start().is_empty() && expr.kind == ExprKind::Value {
        return "undefined";
    }
    text
}

/// Scans the expression texts for system variable names. `eval` or `Function` could name
/// anything, so they count as using them all.
fn system_use(doc: &Document) -> SystemUse {
    let ors = doc.dialect == Dialect::Ors;
    let mut uses = SystemUse {
        event: doc.uses_event,
        ..SystemUse::default()
    };
    for expr in &doc.exprs {
        let t = &*expr.text;
        let any = t.contains("eval") || t.contains("Function");
        uses.session_id |= any || t.contains("_sessionid");
        uses.name |= any || t.contains("_name");
        uses.ioprocessors |= any || t.contains("_ioprocessors");
        uses.x |= any || t.contains("_x");
        uses.data |= ors && (any || t.contains("_data"));
        uses.event |= any || t.contains("_event");
        uses.raw |= any || t.contains("raw");
    }
    uses
}

/// Groups cases into chunks (compiled later); returns the chunks and each case's place.
fn split_chunks(mut sources: Vec<String>) -> (Vec<RefCell<Chunk>>, Vec<CaseRef>) {
    let mut chunks = Vec::new();
    let mut refs = Vec::with_capacity(sources.len());
    let mut start = 0;
    while start < sources.len() {
        let mut end = start + 1;
        if is_balanced(&sources[start]) {
            while end < sources.len() && end - start < CHUNK_CASES_MAX && is_balanced(&sources[end])
            {
                end += 1;
            }
        }
        let chunk = chunks.len() as u32;
        refs.extend((0..end - start).map(|local| CaseRef {
            chunk,
            local: local as u32,
        }));
        let cases = sources[start..end].iter_mut().map(std::mem::take).collect();
        chunks.push(RefCell::new(Chunk::Source(cases)));
        start = end;
    }
    assert_eq!(refs.len(), sources.len(), "every case has a place");
    (chunks, refs)
}

/// One factory for a chunk compiled as several (see [`compile_group`]): it makes each
/// part's dispatcher and sends every case index to the part that holds it.
fn combine<'js>(
    ctx: &Ctx<'js>,
    mut groups: Vec<(Function<'js>, usize)>,
) -> Result<Function<'js>, ScopeError> {
    if groups.len() == 1 {
        return Ok(groups.remove(0).0);
    }
    let fail = |e: JsError| ScopeError {
        message: format!("cannot combine a chunk's parts: {e}"),
    };
    let combinator: Function = ctx
        .eval(
            "(function (parts, counts) { return function (S, H) { \
               const ds = parts.map((f) => f.call(this, S, H)); \
               return (i, v) => { let k = 0; \
                 while (i >= counts[k]) { i -= counts[k]; k += 1; } \
                 return ds[k](i, v); }; }; })",
        )
        .map_err(fail)?;
    let parts = Array::new(ctx.clone()).map_err(fail)?;
    let counts = Array::new(ctx.clone()).map_err(fail)?;
    for (index, (part, count)) in groups.into_iter().enumerate() {
        parts.set(index, part).map_err(fail)?;
        counts.set(index, count as u32).map_err(fail)?;
    }
    combinator.call((parts, counts)).map_err(fail)
}

/// Compiles one chunk. If it fails, each case is compiled alone and the bad ones become
/// throwers; if the chunk still fails, every case gets its own factory. Returns the
/// factories with the number of cases each holds, in case order.
fn compile_group<'js>(
    ctx: &Ctx<'js>,
    doc: &Document,
    cases: &mut [String],
) -> Result<Vec<(Function<'js>, usize)>, ScopeError> {
    if let Ok(f) = compile(ctx, doc, chunk_source(cases)) {
        return Ok(vec![(f, cases.len())]);
    }
    for case in cases.iter_mut() {
        if let Err(message) = compile(ctx, doc, chunk_source(std::slice::from_ref(case))) {
            *case = format!("throw new SyntaxError({});", js_string(&message));
        }
    }
    if let Ok(f) = compile(ctx, doc, chunk_source(cases)) {
        return Ok(vec![(f, cases.len())]);
    }
    let mut out = Vec::with_capacity(cases.len());
    for case in cases.iter() {
        let f = compile(ctx, doc, chunk_source(std::slice::from_ref(case)))
            .map_err(|message| ScopeError { message })?;
        out.push((f, 1));
    }
    Ok(out)
}

/// Evaluates a function expression; a syntax error comes back as its message.
fn compile<'js>(ctx: &Ctx<'js>, doc: &Document, source: String) -> Result<Function<'js>, String> {
    let mut options = EvalOptions::default();
    options.strict = false;
    options.backtrace_barrier = true;
    options.filename = Some(doc.source_name.to_string());
    ctx.eval_with_options(source, options).map_err(|e| match e {
        JsError::Exception => describe(ctx, ctx.catch()),
        other => other.to_string(),
    })
}

/// The factory source for a chunk of cases.
fn chunk_source(cases: &[String]) -> String {
    let body: usize = cases.iter().map(|c| c.len() + 40).sum();
    let mut src = String::with_capacity(body + 200);
    src.push_str("(function (__baton_S, __baton_H) { with (__baton_H) { with (__baton_S) { ");
    src.push_str("return (__baton_i, __baton_v) => { \"use strict\";\n");
    dispatch_tree(&mut src, cases, 0);
    src.push_str("\n}; } } })");
    src
}

/// A binary `if` tree over `cases`, whose first case has index `first`. Recursion depth is
/// log2 of [`CHUNK_CASES_MAX`].
fn dispatch_tree(src: &mut String, cases: &[String], first: usize) {
    if let [case] = cases {
        src.push_str("{ ");
        src.push_str(case);
        src.push_str("\n}");
        return;
    }
    let mid = cases.len() / 2;
    let _ = write!(src, "if (__baton_i < {}) ", first + mid);
    dispatch_tree(src, &cases[..mid], first);
    src.push_str(" else ");
    dispatch_tree(src, &cases[mid..], first + mid);
}

/// The scope maker: a null-prototype object with every variable declared, plus the
/// system variables the document uses, read-only.
///
/// `__baton_steps` stops it after that many properties (`-1`: never). Preparation keeps one
/// object of each prefix alive ([`Prepared::shapes`]): QuickJS shares an object layout
/// ("shape") between objects only while some object holds it, so with the prefixes alive
/// every scope reuses the same shapes instead of building its own, which makes scopes
/// both faster to create and smaller.
fn maker_source(declared: &[Box<str>], uses: SystemUse) -> (String, u32) {
    const SYSTEM: [&str; 6] = [
        "_sessionid",
        "_name",
        "_ioprocessors",
        "_x",
        "_event",
        "_data",
    ];
    let mut src = String::from(
        "(function (__baton_sid, __baton_name, __baton_io, __baton_steps) { \"use strict\";\n\
         const def = Object.defineProperty, freeze = Object.freeze;\n\
         const S = Object.create(null);\n",
    );
    let mut steps = 0u32;
    let mut step = |src: &mut String, line: &str| {
        src.push_str("if (__baton_steps-- === 0) return S;\n");
        src.push_str(line);
        steps += 1;
    };
    for name in declared.iter().filter(|n| !SYSTEM.contains(&&***n)) {
        step(&mut src, &format!("S[{}] = undefined;\n", js_string(name)));
    }
    if uses.session_id {
        step(
            &mut src,
            "def(S, \"_sessionid\", { value: __baton_sid });\n",
        );
    }
    if uses.name {
        step(&mut src, "def(S, \"_name\", { value: __baton_name });\n");
    }
    if uses.ioprocessors {
        src.push_str(
            "const io = {};\n\
             for (let i = 0; i + 1 < __baton_io.length; i += 2) {\n\
             def(io, __baton_io[i], { value: freeze({ location: __baton_io[i + 1] }), \
             enumerable: true });\n}\n",
        );
        step(
            &mut src,
            "def(S, \"_ioprocessors\", { value: freeze(io) });\n",
        );
    }
    if uses.x {
        step(&mut src, "def(S, \"_x\", { value: freeze({}) });\n");
    }
    if uses.data {
        // The datamodel itself: `_data.x` reads and assigns the variable `x`. Not
        // enumerable, so a snapshot of the datamodel does not contain itself.
        step(&mut src, "def(S, \"_data\", { value: S });\n");
    }
    if uses.event {
        step(
            &mut src,
            "def(S, \"_event\", { value: undefined, configurable: true });\n",
        );
    }
    src.push_str("return S; })");
    (src, steps)
}

/// Most maker prefixes kept alive: the shapes of the first this many scope variables are
/// shared; later ones are built per scope. Bounds the quadratic cost of the prefixes.
const SHAPE_PREFIXES_MAX: u32 = 128;

/// Calls the maker for each prefix of its steps (see [`maker_source`]).
fn keep_shapes<'js>(
    ctx: &Ctx<'js>,
    maker: &Function<'js>,
    steps: u32,
) -> rquickjs::Result<Array<'js>> {
    let keep = Array::new(ctx.clone())?;
    let io = Array::new(ctx.clone())?;
    for i in 0..=steps.min(SHAPE_PREFIXES_MAX) {
        let prefix: rquickjs::Object = maker.call(("", "", io.clone(), i as i32))?;
        keep.set(i as usize, prefix)?;
    }
    Ok(keep)
}

/// A JavaScript string literal for `s` (JSON's escaping is valid JavaScript).
pub(crate) fn js_string(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| String::from("\"\""))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cases(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("return {i};")).collect()
    }

    #[test]
    fn dispatch_tree_covers_every_case_once() {
        for n in 1..=CHUNK_CASES_MAX {
            let src = chunk_source(&cases(n));
            for i in 0..n {
                assert_eq!(src.matches(&format!("return {i};")).count(), 1);
            }
            assert_eq!(src.matches("if (").count(), n - 1);
        }
    }

    #[test]
    fn trailing_semicolons_are_trimmed() {
        let expr = Expr {
            text: "new testobject(); \n".into(),
            kind: ExprKind::Value,
            position: Default::default(),
        };
        assert_eq!(trimmed(&expr), "new testobject()");
        let empty = Expr {
            text: " ".into(),
            kind: ExprKind::Value,
            position: Default::default(),
        };
        assert_eq!(trimmed(&empty), "undefined");
    }

    /// A chunk compiled as several parts answers every case from the part that holds it.
    #[test]
    fn combined_parts_dispatch_each_case_to_its_own_part() {
        let runtime = rquickjs::Runtime::new().expect("runtime");
        let context = rquickjs::Context::full(&runtime).expect("context");
        context.with(|ctx| {
            let part = |sources: &[&str]| -> Function {
                let cases: Vec<String> = sources.iter().map(|c| c.to_string()).collect();
                let mut options = EvalOptions::default();
                // The factories' `with` is sloppy-mode only.
                options.strict = false;
                let source = chunk_source(&cases);
                ctx.eval_with_options(source, options).expect("compiles")
            };
            let parts = vec![
                (part(&["return 'a0';", "return 'a1';"]), 2),
                (part(&["return 'b0';"]), 1),
                (
                    part(&["return 'c0' + __baton_v;", "return 'c1';", "return 'c2';"]),
                    3,
                ),
            ];
            let factory = combine(&ctx, parts).expect("combined");
            let scope = Object::new(ctx.clone()).expect("S");
            let host = Object::new(ctx.clone()).expect("H");
            let dispatch: Function = factory.call((scope, host)).expect("dispatcher");
            let answers: Vec<String> = (0..6u32)
                .map(|i| dispatch.call((i, "!")).expect("case runs"))
                .collect();
            assert_eq!(answers, ["a0", "a1", "b0", "c0!", "c1", "c2"]);
        });
    }

    /// Chunks are split without compiling: every case has its place, at most
    /// `CHUNK_CASES_MAX` to a chunk, and an unbalanced case alone in its chunk.
    #[test]
    fn chunks_are_split_before_any_compile() {
        let mut sources = cases(CHUNK_CASES_MAX + 3);
        sources[5] = "return ((1;".into();
        let (chunks, refs) = split_chunks(sources);
        assert_eq!(refs.len(), CHUNK_CASES_MAX + 3);
        assert_eq!(refs[5], CaseRef { chunk: 1, local: 0 });
        assert_eq!(refs[6], CaseRef { chunk: 2, local: 0 });
        let sizes: Vec<usize> = chunks
            .iter()
            .map(|c| match &*c.borrow() {
                Chunk::Source(cases) => cases.len(),
                Chunk::Compiled(_) => 0,
            })
            .collect();
        assert_eq!(sizes, [5, 1, CHUNK_CASES_MAX - 3]);
    }
}
