//! Baton extension actions at run time: evaluate the compiled attributes and payload, hand
//! the action to the host ([`Effects::extension`]). Which request a `<session:response>`
//! answers by default is tracked here too.

use super::exec::ExecError;
use super::{Cx, Session};
use crate::effects::ExtensionAction;
use crate::event::{Event, EventKind};
use crate::extension::{AttributeDefault, REQUEST_ORIGINTYPE};
use crate::model::{Dyn, ExtensionIdx};
use crate::value::Value;

/// The request id an external event carries, if it is a request event.
pub(super) fn request_of(event: &Event) -> Option<Box<str>> {
    let is_request = event.kind == EventKind::External
        && event.origintype.as_deref() == Some(REQUEST_ORIGINTYPE);
    if !is_request {
        return None;
    }
    event.sendid.clone()
}

impl Session {
    /// Evaluates the action at `idx` and asks the host to perform it. An evaluation error
    /// or the host's refusal is `error.execution` (the block stops).
    pub(super) fn extension(
        &mut self,
        cx: &mut Cx<'_>,
        idx: ExtensionIdx,
    ) -> Result<(), ExecError> {
        let doc = cx.doc;
        let action = &doc.extensions[idx.0 as usize];
        let spec = action.kind.spec();
        assert!(action.args.len() == spec.attributes.len());
        let mut args = Vec::with_capacity(spec.attributes.len());
        for (attribute, arg) in spec.attributes.iter().zip(&action.args) {
            let value = match arg {
                Some(Dyn::Literal(text)) => Value::String(text.clone()),
                Some(Dyn::Expr(e)) => cx.dm.eval_value(self.scope, *e)?,
                None => match attribute.default {
                    AttributeDefault::Undefined => Value::Undefined,
                    AttributeDefault::CurrentRequest => {
                        self.request.clone().map_or(Value::Undefined, Value::String)
                    }
                },
            };
            args.push((attribute.name, value));
        }
        let data = self.payload_data(cx, &action.payload)?;
        let kind = action.kind;
        let performed = cx.fx.extension(ExtensionAction { kind, args, data });
        performed.map_err(|e| ExecError::new(format!("<{}>: {}", spec.name, e.reason)))
    }
}
