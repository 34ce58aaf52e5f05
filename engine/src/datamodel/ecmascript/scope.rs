//! One session's scope: its variables object, its dispatcher closures, its loop copies.
//!
//! The scope object `S` is a null-prototype object whose own properties are the session's
//! variables; dispatchers (see [`super::factory`]) are created on the first evaluation that
//! needs their chunk, so a session only pays for the parts of the document it runs.

use rquickjs::function::This;
use rquickjs::{Ctx, Function, Object, Persistent, Result, Value as JsValue};

use super::factory::{CaseRef, Prepared};

/// A session's JS state. Dropping it releases its JS objects.
pub(crate) struct Scope {
    /// Index of the prepared document.
    pub doc: u32,
    /// The variables object `S`.
    pub object: Persistent<Object<'static>>,
    /// Per chunk of the document, the dispatcher bound to `S`, once created.
    pub dispatchers: Box<[Option<Persistent<Function<'static>>>]>,
    /// `<foreach>` copies, innermost last.
    pub loops: Vec<Persistent<Object<'static>>>,
}

impl Scope {
    /// A scope of document `doc` (with `chunks` chunks) around the object `S`.
    pub fn new(doc: u32, object: Persistent<Object<'static>>, chunks: usize) -> Scope {
        Scope {
            doc,
            object,
            dispatchers: (0..chunks).map(|_| None).collect(),
            loops: Vec::new(),
        }
    }

    /// The variables object.
    pub fn object<'js>(&self, ctx: &Ctx<'js>) -> Result<Object<'js>> {
        self.object.clone().restore(ctx)
    }

    /// Runs a case with argument `arg` (the value to assign, for writes).
    pub fn call<'js>(
        &mut self,
        ctx: &Ctx<'js>,
        prepared: &Prepared,
        case: CaseRef,
        arg: JsValue<'js>,
    ) -> Result<JsValue<'js>> {
        let dispatcher = self.dispatcher(ctx, prepared, case.chunk)?;
        dispatcher.call((case.local, arg))
    }

    /// Runs a reading case (an expression or a script). Scripts find the scope object in
    /// the argument (see `script_rewrite::SCOPE`).
    pub fn read<'js>(
        &mut self,
        ctx: &Ctx<'js>,
        prepared: &Prepared,
        case: CaseRef,
    ) -> Result<JsValue<'js>> {
        let object = self.object(ctx)?.into_value();
        self.call(ctx, prepared, case, object)
    }

    /// The dispatcher for `chunk`, created on first use by calling the chunk's factory with
    /// `S` (as the argument and as `this`, which scripts see as the global object) and the
    /// host-function object.
    fn dispatcher<'js>(
        &mut self,
        ctx: &Ctx<'js>,
        prepared: &Prepared,
        chunk: u32,
    ) -> Result<Function<'js>> {
        let slot = self.dispatchers.get_mut(chunk as usize);
        assert!(slot.is_some(), "a case's chunk belongs to its document");
        let Some(slot) = slot else {
            return Err(rquickjs::Error::Unknown);
        };
        if let Some(f) = slot {
            return f.clone().restore(ctx);
        }
        let factory = prepared.factory(ctx, chunk)?;
        let object = self.object.clone().restore(ctx)?;
        let host = prepared.host.clone().restore(ctx)?;
        let f: Function = factory.call((This(object.clone()), object, host))?;
        *slot = Some(Persistent::save(ctx, f.clone()));
        Ok(f)
    }
}
