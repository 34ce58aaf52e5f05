//! What leaves a session: `<send>` (type and target resolution, ids, delays, payloads),
//! `<invoke>` of children after each macrostep, and `<donedata>`.

use super::exec::ExecError;
use super::{Cx, Invocation, Session};
use crate::delay::parse_delay_ms;
use crate::effects::{
    InvokeRequest, Outgoing, Target, BASICHTTP_PROCESSOR, SCXML_INVOKE, SCXML_PROCESSOR,
};
use crate::event::{Event, EventKind};
use crate::model::{Content, Delay, Dialect, InvokeIdx, Payload, SendId, SendIdx, StateIdx};
use crate::value::Value;

/// The event I/O processors a `<send>` can name.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Processor {
    Scxml,
    BasicHttp,
}

impl Session {
    /// Executes `<send>`. Evaluation errors are `error.execution` (the block stops); a
    /// dispatch the host refuses is `error.communication` (the block goes on).
    pub(super) fn send(&mut self, cx: &mut Cx<'_>, idx: SendIdx) -> Result<(), ExecError> {
        let send = &cx.doc.sends[idx.0 as usize];
        let name = match &send.event {
            Some(event) => self.dyn_string(cx, event)?,
            None => "".into(),
        };
        let target = match &send.target {
            Some(target) => Some(self.dyn_string(cx, target)?),
            None => None,
        };
        let processor = match &send.type_ {
            Some(type_) => processor_of(&self.dyn_string(cx, type_)?)?,
            None => Processor::Scxml,
        };
        let user_id = self.send_id(cx, &send.id)?;
        let delay_ms = match &send.delay {
            None => 0,
            Some(Delay::Ms(ms)) => *ms,
            Some(Delay::Expr(e)) => {
                let text = cx.dm.eval_string(self.scope, *e)?;
                parse_delay_ms(&text)
                    .ok_or_else(|| ExecError::new(format!("bad delay '{text}'")))?
            }
        };
        let data = self.payload_data(cx, &send.payload)?;
        let event = Event {
            name,
            kind: EventKind::External,
            sendid: user_id.clone(),
            origin: Some(self.location.clone()),
            origintype: Some(SCXML_PROCESSOR.into()),
            invokeid: None,
            data,
            raw: None,
        };
        let sendid = user_id.unwrap_or_else(|| self.issue_id(""));
        let target = match cx.doc.dialect {
            // ORS writes the internal queue `_internal` (an expression's value).
            Dialect::Ors if target.as_deref() == Some("_internal") => Some("#_internal".into()),
            _ => target,
        };
        let target = match resolve_target(processor, target) {
            Ok(target) => target,
            Err(TargetError::Unsupported(message)) => {
                return Err(ExecError {
                    message,
                    sendid: Some(sendid),
                })
            }
            Err(TargetError::Unreachable(message)) => {
                self.communication_error(sendid, message);
                return Ok(());
            }
        };
        if target == Target::SelfInternal && delay_ms == 0 {
            self.enqueue_internal(Event {
                kind: EventKind::Internal,
                ..event
            });
            return Ok(());
        }
        let type_ = match processor {
            Processor::Scxml => SCXML_PROCESSOR,
            Processor::BasicHttp => BASICHTTP_PROCESSOR,
        };
        let out = Outgoing {
            sendid: sendid.clone(),
            target,
            type_: type_.into(),
            delay_ms,
            event,
        };
        if out.is_delayed() {
            // A bound of the sender's own: `error.execution`, and the send is not made.
            if let Err(refusal) = cx.fx.admit_delayed(&out) {
                return Err(ExecError {
                    message: refusal.to_string(),
                    sendid: Some(sendid),
                });
            }
        }
        if let Err(e) = cx.fx.send(out) {
            self.communication_error(sendid, e.reason);
        }
        Ok(())
    }

    /// Places `error.communication` for the send `sendid` on the internal queue.
    fn communication_error(&mut self, sendid: Box<str>, reason: String) {
        let data = Value::Object(vec![("message".into(), Value::String(reason.into()))]);
        let mut error = Event::platform("error.communication", data);
        error.sendid = Some(sendid);
        self.enqueue_internal(error);
    }

    /// The id the author asked for: literal, or generated and stored at `idlocation`.
    fn send_id(&mut self, cx: &mut Cx<'_>, id: &SendId) -> Result<Option<Box<str>>, ExecError> {
        match id {
            SendId::None => Ok(None),
            SendId::Literal(id) => Ok(Some(id.clone())),
            SendId::Location(location) => {
                let id = self.issue_id("");
                let value = Value::String(id.clone());
                cx.dm.assign_value(self.scope, *location, &value)?;
                Ok(Some(id))
            }
        }
    }

    /// `namelist` and `<param>` as an object (duplicates kept), or `<content>`.
    pub(super) fn payload_data(
        &mut self,
        cx: &mut Cx<'_>,
        payload: &Payload,
    ) -> Result<Value, ExecError> {
        if let Some(content) = &payload.content {
            return match content {
                Content::Value(value) => Ok(value.clone()),
                Content::Expr(e) => Ok(cx.dm.eval_value(self.scope, *e)?),
            };
        }
        Ok(match self.payload_fields(cx, payload)? {
            fields if fields.is_empty() => Value::Undefined,
            fields => Value::Object(fields),
        })
    }

    fn payload_fields(
        &mut self,
        cx: &mut Cx<'_>,
        payload: &Payload,
    ) -> Result<Vec<(Box<str>, Value)>, ExecError> {
        let mut fields = Vec::with_capacity(payload.namelist.len() + payload.params.len());
        for (name, location) in &payload.namelist {
            fields.push((name.clone(), cx.dm.eval_value(self.scope, *location)?));
        }
        for param in &payload.params {
            fields.push((
                param.name.clone(),
                cx.dm.eval_value(self.scope, param.value)?,
            ));
        }
        Ok(fields)
    }

    /// Evaluates a final state's `<donedata>`; an error raises `error.execution` and gives
    /// no data.
    pub(super) fn eval_donedata(&mut self, cx: &mut Cx<'_>, s: StateIdx) -> Value {
        let Some(donedata) = &cx.doc.state(s).donedata else {
            return Value::Undefined;
        };
        match self.payload_data(cx, donedata) {
            Ok(value) => value,
            Err(e) => {
                self.raise_error(e);
                Value::Undefined
            }
        }
    }

    /// Starts the invocations of every state entered during the macrostep and still active.
    pub(super) fn start_invocations(&mut self, cx: &mut Cx<'_>) {
        if self.to_invoke.is_empty() {
            return;
        }
        let entered: Vec<StateIdx> = self.to_invoke.iter().collect();
        self.to_invoke.clear();
        for s in entered {
            for i in cx.doc.state(s).invokes.clone() {
                if let Err(e) = self.invoke(cx, InvokeIdx(i)) {
                    self.raise_error(e);
                }
            }
        }
    }

    fn invoke(&mut self, cx: &mut Cx<'_>, idx: InvokeIdx) -> Result<(), ExecError> {
        let doc = cx.doc;
        let invoke = &doc.invokes[idx.0 as usize];
        let invokeid: Box<str> = match &invoke.id {
            SendId::Literal(id) => id.clone(),
            SendId::None | SendId::Location(_) => {
                let prefix = format!("{}.", doc.state(invoke.state).id);
                self.issue_id(&prefix)
            }
        };
        if let SendId::Location(location) = &invoke.id {
            let value = Value::String(invokeid.clone());
            cx.dm.assign_value(self.scope, *location, &value)?;
        }
        let type_ = match &invoke.type_ {
            Some(type_) => invoke_type(&self.dyn_string(cx, type_)?)?,
            None => SCXML_INVOKE,
        };
        let src = match &invoke.src {
            Some(src) => Some(self.dyn_string(cx, src)?),
            None => None,
        };
        let content = match &invoke.payload.content {
            Some(Content::Value(value)) => Some(value.clone()),
            Some(Content::Expr(e)) => Some(cx.dm.eval_value(self.scope, *e)?),
            None => None,
        };
        let params = self.payload_fields(cx, &invoke.payload)?;
        let request = InvokeRequest {
            invokeid: invokeid.clone(),
            type_: type_.into(),
            src,
            base: doc.source_name.clone(),
            content,
            params,
            autoforward: invoke.autoforward,
        };
        cx.fx
            .invoke(request)
            .map_err(|e| ExecError::new(e.reason))?;
        let autoforward = invoke.autoforward;
        self.invocations.push(Invocation {
            invoke: idx,
            id: invokeid,
            autoforward,
        });
        Ok(())
    }
}

fn processor_of(type_: &str) -> Result<Processor, ExecError> {
    match type_ {
        "scxml" | SCXML_PROCESSOR => Ok(Processor::Scxml),
        "basichttp" | BASICHTTP_PROCESSOR => Ok(Processor::BasicHttp),
        other => Err(ExecError::new(format!("unsupported send type '{other}'"))),
    }
}

fn invoke_type(type_: &str) -> Result<&'static str, ExecError> {
    match type_ {
        "scxml" | SCXML_INVOKE | "http://www.w3.org/TR/scxml" => Ok(SCXML_INVOKE),
        other => Err(ExecError::new(format!("unsupported invoke type '{other}'"))),
    }
}

/// Why a `<send>` target cannot be used.
enum TargetError {
    /// Not a valid target for the processor: `error.execution`.
    Unsupported(String),
    /// Valid, but nothing can be reached (a Basic HTTP send without a target):
    /// `error.communication` (W3C 577).
    Unreachable(String),
}

/// Maps a target URI to a [`Target`].
fn resolve_target(processor: Processor, target: Option<Box<str>>) -> Result<Target, TargetError> {
    let Some(target) = target else {
        return match processor {
            Processor::Scxml => Ok(Target::SelfExternal),
            Processor::BasicHttp => Err(TargetError::Unreachable(
                "a basichttp send needs a target".into(),
            )),
        };
    };
    if processor == Processor::BasicHttp {
        return Ok(Target::Uri(target));
    }
    Ok(match &*target {
        "#_internal" => Target::SelfInternal,
        "#_parent" => Target::Parent,
        t if t.starts_with("#_scxml_") => Target::Session(t["#_scxml_".len()..].into()),
        t if t.starts_with("#_") && t.len() > 2 => Target::Invoked(t[2..].into()),
        other => {
            let message = format!("unsupported target '{other}' for the SCXML processor");
            return Err(TargetError::Unsupported(message));
        }
    })
}
