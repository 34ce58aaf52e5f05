//! Compiles documents so that QuickJS's compiler never runs out of memory (issue 11).
//!
//! Why: QuickJS (quickjs-ng 0.16.2, vendored by rquickjs-sys 0.14) frees an atom twice when
//! an allocation fails while it turns a parsed function into bytecode. `resolve_labels`
//! (quickjs.c) releases the atoms of the instructions it drops or rewrites (dead code,
//! `push_atom_value` + `drop`, `get_field length`) while it copies the bytecode; when one
//! of its allocations then fails (`add_reloc`, or the output buffer), it returns with the
//! *input* bytecode still in place (its `fail:` label says "XXX: not safe"), and
//! `js_create_function`'s `fail:` path frees that input through `js_free_function_def` →
//! `free_bytecode_atoms`, releasing those atoms a second time. The atom's slot is then on
//! the free list, the next release reads the free-list link as a pointer, and the process
//! dies in `__JS_FreeAtom`: every session of every shard lost.
//!
//! So no compile of ours may fail for memory: the heap is measured first (a document that
//! will not fit is refused without calling QuickJS), the compile runs with QuickJS's limit
//! lifted, and the heap is measured again (a document that did not fit is dropped and
//! refused). A document can overshoot the bound only by its own compiled size, which
//! `limits.document_bytes_max` bounds. The refusal is a [`ScopeError`] naming the bound,
//! which the runtime answers with 503.
//!
//! What this does not cover: a session script's own `eval` or `new Function` compiles
//! through the same QuickJS code and can meet the same bug if the heap is exhausted at
//! that moment; only the upstream fix removes that.

use std::rc::Rc;
use std::time::{Duration, Instant};

use super::factory::{prepare, Prepared};
use super::realm::Realm;
use crate::datamodel::ScopeError;
use crate::model::Document;

/// Heap a compile needs per byte of expression text, as a multiple (measured: a document of
/// 20,000 short conditions, 0.2 MB of text, takes 4.1 MB: 20 times). Only an estimate, to
/// refuse early: the measurement after the compile is what keeps the bound.
const COMPILE_BYTES_PER_TEXT_BYTE: u64 = 24;

/// Heap a document's preparation needs besides its variables (the scope maker, shapes).
const COMPILE_BYTES_MIN: u64 = 64 << 10;

/// Heap one chunk's compile needs besides its text (the factory, its bytecode headers).
const CHUNK_COMPILE_BYTES_MIN: u64 = 4 << 10;

/// The shortest time between two collections made to find room for a compile.
const COLLECTION_INTERVAL: Duration = Duration::from_millis(10);

/// QuickJS's memory limit, lifted while it lives and restored when it drops (also on panic).
struct LimitLifted<'a> {
    realm: &'a Realm,
}

impl<'a> LimitLifted<'a> {
    fn new(realm: &'a Realm) -> LimitLifted<'a> {
        // QuickJS reads 0 as "no limit".
        realm.runtime.set_memory_limit(0);
        if let Some(ledger) = &realm.ledger {
            ledger.unbounded(true);
        }
        LimitLifted { realm }
    }
}

impl Drop for LimitLifted<'_> {
    fn drop(&mut self) {
        if let Some(ledger) = &self.realm.ledger {
            ledger.unbounded(false);
        }
        let limit = self.realm.quickjs_limit_bytes;
        self.realm.runtime.set_memory_limit(limit);
    }
}

/// The refusal of a document that does not fit.
fn heap_full(used: u64, heap_bytes_max: u32) -> ScopeError {
    ScopeError {
        message: format!(
            "the shard's JS heap is full ({used} of {heap_bytes_max} bytes, \
             limits.js_heap_bytes_max): the document's expressions cannot be compiled"
        ),
    }
}

/// Heap the preparation of `doc` is expected to need: its scope maker declares its
/// variables (the expressions compile later, chunk by chunk).
fn compile_bytes_estimate(doc: &Document) -> u64 {
    let names: u64 = doc.data.iter().map(|d| d.id.len() as u64).sum();
    COMPILE_BYTES_MIN + names * COMPILE_BYTES_PER_TEXT_BYTE
}

/// Bytes the heap holds now; collects cycles first when `room` would not fit otherwise,
/// at most once per [`COLLECTION_INTERVAL`]: a session whose event meets a thousand
/// uncompiled chunks in a full heap must cost a thousand refusals, not a thousand
/// collections of the whole heap.
fn heap_bytes_with_room(realm: &Realm, room: u64, heap_bytes_max: u32) -> u64 {
    let used = realm.heap_bytes();
    if used + room <= u64::from(heap_bytes_max) {
        return used;
    }
    let now = Instant::now();
    let recent = realm
        .collected_at
        .get()
        .is_some_and(|at| now.duration_since(at) < COLLECTION_INTERVAL);
    if recent {
        return used;
    }
    realm.runtime.run_gc();
    realm.collected_at.set(Some(Instant::now()));
    realm.heap_bytes()
}

/// Compiles `chunk` of `prepared` (if it is not compiled yet) the same way: refused without
/// calling QuickJS when the heap cannot hold it, and compiled with the limit lifted. A
/// chunk that overshoots its estimate is kept: the overshoot is one chunk's (at most
/// [`super::factory::CHUNK_CASES_MAX`] cases), and the next allocation past the bound is
/// refused as usual.
pub(crate) fn compile_chunk_within_heap(
    realm: &Realm,
    prepared: &Prepared,
    chunk: u32,
    heap_bytes_max: u32,
) -> Result<(), ScopeError> {
    let Some(bytes) = prepared.uncompiled_bytes(chunk) else {
        return Ok(());
    };
    let estimate = CHUNK_COMPILE_BYTES_MIN + bytes * COMPILE_BYTES_PER_TEXT_BYTE;
    let used = heap_bytes_with_room(realm, estimate, heap_bytes_max);
    if used + estimate > u64::from(heap_bytes_max) {
        return Err(heap_full(used, heap_bytes_max));
    }
    let lifted = LimitLifted::new(realm);
    let compiled = realm.with(|ctx| prepared.compile_chunk(&ctx, chunk));
    drop(lifted);
    compiled
}

/// Compiles `doc` without QuickJS ever seeing an allocation fail; refuses it when the
/// heap cannot hold it. Without the ledger the heap is walked twice (QuickJS has no cheaper
/// count), which a document compile, once per document, can afford.
pub(crate) fn prepare_within_heap(
    realm: &Realm,
    doc: &Rc<Document>,
    heap_bytes_max: u32,
) -> Result<Prepared, ScopeError> {
    assert!(heap_bytes_max > 0, "a heap bound of 0 would mean no bound");
    let estimate = compile_bytes_estimate(doc);
    let used = heap_bytes_with_room(realm, estimate, heap_bytes_max);
    if used + estimate > u64::from(heap_bytes_max) {
        return Err(heap_full(used, heap_bytes_max));
    }
    let lifted = LimitLifted::new(realm);
    let host = realm.helpers.host.clone();
    let prepared = realm.with(|ctx| prepare(&ctx, doc, host));
    drop(lifted);
    let prepared = prepared?;
    let used = realm.heap_bytes();
    if used > u64::from(heap_bytes_max) {
        // Dropping it frees its functions at once: they are reference-counted.
        drop(prepared);
        return Err(heap_full(used, heap_bytes_max));
    }
    Ok(prepared)
}
