//! Baton extension actions at run time: evaluate the compiled attributes and payload, give
//! the execution its id, hand the action to the host ([`Effects::extension`]) and bind the
//! host values it hands back. Which request a `<session:response>` answers by default is
//! tracked here too.

use super::exec::ExecError;
use super::{Cx, Session};
use crate::effects::ExtensionAction;
use crate::event::{Event, EventKind};
use crate::extension::{AttributeDefault, REQUEST_ORIGINTYPE};
use crate::model::{Dyn, Extension, ExtensionIdx};
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
    /// Evaluates the action at `idx`, stores its new id at `idlocation`, asks the host to
    /// perform it, and binds the host values the host hands back. An evaluation error, a
    /// bad `idlocation` or the host's refusal is `error.execution` (the block stops); after
    /// a bad `idlocation` the host is not asked.
    pub(super) fn extension(
        &mut self,
        cx: &mut Cx<'_>,
        idx: ExtensionIdx,
    ) -> Result<(), ExecError> {
        let doc = cx.doc;
        let action = &doc.extensions[idx.0 as usize];
        let spec = action.kind.spec();
        let args = self.extension_args(cx, action)?;
        let data = self.payload_data(cx, &action.payload)?;
        let id = self.extension_id(cx, action)?;
        let performed = cx.fx.extension(ExtensionAction {
            kind: action.kind,
            id: id.clone(),
            args,
            data,
        });
        let outcome = performed.map_err(|e| ExecError {
            message: format!("<{}>: {}", spec.name, e.reason),
            sendid: (!id.is_empty()).then_some(id),
        })?;
        for (name, value) in &outcome.host_values {
            cx.dm.set_host_value(self.scope, name, value)?;
        }
        Ok(())
    }

    /// Every attribute of the action's spec, in spec order: a literal as a string, an
    /// expression's value, or the spec's default.
    fn extension_args(
        &mut self,
        cx: &mut Cx<'_>,
        action: &Extension,
    ) -> Result<Vec<(&'static str, Value)>, ExecError> {
        let spec = action.kind.spec();
        assert!(action.args.len() == spec.attributes.len());
        let mut args = Vec::with_capacity(spec.attributes.len());
        for (attribute, arg) in spec.attributes.iter().zip(&action.args) {
            let value = match arg {
                Some(Dyn::Literal(text)) => Value::String(text.clone()),
                Some(Dyn::Expr(e)) => cx.dm.eval_value(self.scope, *e)?,
                None => match attribute.default {
                    AttributeDefault::Undefined => Value::Undefined,
                    AttributeDefault::Literal(text) => Value::String(text.into()),
                    AttributeDefault::CurrentRequest => {
                        self.request.clone().map_or(Value::Undefined, Value::String)
                    }
                },
            };
            args.push((attribute.name, value));
        }
        Ok(args)
    }

    /// A new id for an action that has one (`<module>.<sessionid>.<n>`, from the counter
    /// that numbers `<send>` ids), stored at its `idlocation`; empty for one that has none.
    fn extension_id(&mut self, cx: &mut Cx<'_>, action: &Extension) -> Result<Box<str>, ExecError> {
        let spec = action.kind.spec();
        if !spec.id_location {
            assert!(action.id_location.is_none());
            return Ok("".into());
        }
        let module = crate::extension::module_of(spec.namespace);
        assert!(
            module.is_some(),
            "an action's namespace is a Baton namespace"
        );
        let id = self.issue_id(&format!("{}.", module.unwrap_or("")));
        if let Some(location) = action.id_location {
            let value = Value::String(id.clone());
            cx.dm.assign_value(self.scope, location, &value)?;
        }
        Ok(id)
    }
}
