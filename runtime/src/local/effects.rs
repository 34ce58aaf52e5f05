//! The [`Effects`] of one session, performed against the host's other sessions.
//!
//! The engine calls these during a step, while the stepped session is out of its slot and
//! the datamodel is borrowed by the step. So everything that needs the datamodel (starting
//! a child, closing one) is queued as [`Work`] and done right after the step, in order.
//! Everything else happens at once: a send is validated and queued synchronously, so an
//! unknown target raises `error.communication` in the sender at the right moment.

use engine::effects::{
    DelayedRefusal, Effects, ExtensionAction, ExtensionError, ExtensionOutcome, InvokeError,
    InvokeRequest, Outgoing, SendError, Target, BASICHTTP_PROCESSOR, SCXML_INVOKE, SCXML_PROCESSOR,
};
use engine::event::Event;
use engine::extension::ActionKind;
use engine::value::Value;

use super::basichttp::{communication_error, form_body, HttpSend};
use super::directory::{InsertError, Origin, ParentLink, Phase, SessionKey};
use super::{Core, DeliverError, Work};

/// The effects of the session `key`, performed on `core`.
pub(crate) struct HostEffects<'a> {
    pub core: &'a mut Core,
    pub key: SessionKey,
}

/// Why an invoke could not insert its child.
fn insert_refusal(error: &InsertError) -> String {
    match error {
        InsertError::Full(full) => format!("too many sessions (limit {})", full.sessions_max),
        InsertError::TreeFull { sessions_max } => format!(
            "the session's tree holds {sessions_max} sessions (limits.sessions_per_tree_max)"
        ),
        InsertError::IdInUse(id) => format!("no fresh session id (last: '{id}')"),
    }
}

/// True for the SCXML event I/O processor's type, however it is spelt.
fn is_scxml_processor(type_: &str) -> bool {
    type_ == SCXML_PROCESSOR || type_ == "scxml"
}

/// True for the SCXML invoke type, with or without its trailing slash.
fn is_scxml_invoke(type_: &str) -> bool {
    type_ == SCXML_INVOKE || type_ == "scxml" || type_ == SCXML_INVOKE.trim_end_matches('/')
}

impl HostEffects<'_> {
    /// A Basic HTTP send: handed to the processor now, or when its timer fires.
    fn send_basichttp(&mut self, out: Outgoing) -> Result<(), SendError> {
        if self.core.basichttp.is_none() {
            let reason = "the Basic HTTP processor is not running in this host".to_owned();
            return Err(SendError { reason });
        }
        if out.delay_ms == 0 {
            return self.core.deliver(self.key, out);
        }
        self.schedule(out)
    }

    /// Holds a delayed send until it is due. The engine asked [`Effects::admit_delayed`]
    /// first; a send that skipped it is held anyway, and the bounds catch the next one.
    fn schedule(&mut self, out: Outgoing) -> Result<(), SendError> {
        let at_ms = self.core.now_ms.saturating_add(out.delay_ms);
        self.core.timers.schedule(at_ms, self.key, out);
        Ok(())
    }
}

impl Effects for HostEffects<'_> {
    /// Refuses a delayed send past `limits.delayed_sends_max` pending for this session, or
    /// past `limits.delayed_send_bytes_max` of pending payload.
    fn admit_delayed(&mut self, out: &Outgoing) -> Result<(), DelayedRefusal> {
        let limits = &self.core.config.limits;
        let pending = self.core.timers.pending(self.key);
        if pending.count >= limits.delayed_sends_max {
            return Err(DelayedRefusal::Count {
                pending: pending.count,
                pending_max: limits.delayed_sends_max,
            });
        }
        let payload_bytes = out.payload_bytes();
        if pending.bytes + payload_bytes > u64::from(limits.delayed_send_bytes_max) {
            return Err(DelayedRefusal::Bytes {
                pending_bytes: pending.bytes,
                payload_bytes,
                bytes_max: limits.delayed_send_bytes_max,
            });
        }
        Ok(())
    }

    fn send(&mut self, out: Outgoing) -> Result<(), SendError> {
        if out.type_.as_ref() == BASICHTTP_PROCESSOR {
            return self.send_basichttp(out);
        }
        if !is_scxml_processor(&out.type_) {
            let reason = format!("unsupported event I/O processor '{}'", out.type_);
            return Err(SendError { reason });
        }
        // Resolve now even when delayed: a target that does not exist is an error of the
        // send itself, not of a later delivery.
        self.core.check_target(self.key, &out.target)?;
        let delayed = out.delay_ms > 0 || out.target == Target::SelfInternal;
        if !delayed {
            return self.core.deliver(self.key, out);
        }
        self.schedule(out)
    }

    fn cancel(&mut self, sendid: &str) {
        self.core.timers.cancel(self.key, sendid);
    }

    fn invoke(&mut self, request: InvokeRequest) -> Result<(), InvokeError> {
        if !is_scxml_invoke(&request.type_) {
            let reason = format!("unsupported invoke type '{}'", request.type_);
            return Err(InvokeError { reason });
        }
        if self.core.dir.child(self.key, &request.invokeid).is_some() {
            let reason = format!("invoke id '{}' is already in use", request.invokeid);
            return Err(InvokeError { reason });
        }
        let depth_max = self.core.config.limits.invoke_depth_max;
        if self.core.dir.invoke_depth(self.key) >= depth_max {
            let reason = format!("invocations nest {depth_max} deep (limits.invoke_depth_max)");
            return Err(InvokeError { reason });
        }
        let doc = self.core.child_document(&request)?;
        let link = ParentLink {
            key: self.key,
            invokeid: request.invokeid.clone(),
        };
        let phase = Phase::Starting {
            params: request.params,
        };
        let now_ms = self.core.now_ms;
        let inserted = self
            .core
            .dir
            .insert(doc, phase, Origin::Invoked(link), now_ms);
        let child = inserted.map_err(|error| InvokeError {
            reason: insert_refusal(&error),
        })?;
        if let Some(slot) = self.core.dir.get_mut(child) {
            slot.autoforward = request.autoforward;
        }
        if let Some(parent) = self.core.dir.get_mut(self.key) {
            parent.children.push((request.invokeid, child));
        }
        self.core.work.push_back(Work::Start(child));
        Ok(())
    }

    fn cancel_invoke(&mut self, invokeid: &str) {
        if let Some(child) = self.core.dir.unlink_child(self.key, invokeid) {
            self.core.work.push_back(Work::Close(child));
        }
    }

    fn forward(&mut self, invokeid: &str, event: &Event) {
        let Some(child) = self.core.dir.child(self.key, invokeid) else {
            return;
        };
        let queue_max = self.core.config.queue_events_max as usize;
        if let Some(slot) = self.core.dir.get_mut(child) {
            if slot.autoforward && slot.queue.len() < queue_max {
                slot.queue.push_back(event.clone());
            }
        }
        self.core.dir.mark_ready(child);
    }

    fn extension(&mut self, action: ExtensionAction) -> Result<ExtensionOutcome, ExtensionError> {
        if action.kind == ActionKind::SessionResponse {
            self.core.requests.respond(&action)?;
            return Ok(ExtensionOutcome::default());
        }
        let Some(handler) = self.core.extensions.clone() else {
            return Err(super::extensions::unperformed(&action));
        };
        let slot = self
            .core
            .dir
            .get(self.key)
            .expect("a stepping session has a slot");
        let (id, doc) = (slot.id.clone(), std::rc::Rc::clone(&slot.doc));
        handler.perform(&id, &doc, &action, self.core.now_ms)
    }

    fn log(&mut self, label: Option<&str>, message: &str) {
        let id = self.core.dir.get(self.key).map(|slot| &*slot.id);
        self.core.log.write_for(id, label, message);
    }

    fn trace(&mut self, line: &str) {
        if self.core.config.trace {
            let id = self.core.dir.get(self.key).map_or("?", |slot| &*slot.id);
            eprintln!("[trace {id}] {line}");
        }
    }

    fn tracing(&self) -> bool {
        self.core.config.trace
    }
}

impl Core {
    /// The session a send from `from` to `target` reaches, and the invoke id to stamp on
    /// the event (set when a child sends to its parent).
    pub(crate) fn route(
        &self,
        from: SessionKey,
        target: &Target,
    ) -> Result<(SessionKey, Option<Box<str>>), SendError> {
        let unknown = |what: &str| SendError {
            reason: format!("no such target: {what}"),
        };
        match target {
            Target::SelfExternal | Target::SelfInternal => Ok((from, None)),
            Target::Parent => {
                let slot = self.dir.get(from).ok_or_else(|| unknown("#_parent"))?;
                let link = slot.parent.as_ref().ok_or_else(|| unknown("#_parent"))?;
                Ok((link.key, Some(link.invokeid.clone())))
            }
            Target::Invoked(id) => {
                let child = self
                    .dir
                    .child(from, id)
                    .ok_or_else(|| unknown(&format!("#_{id}")))?;
                Ok((child, None))
            }
            Target::Session(id) => {
                let key = self
                    .dir
                    .by_id(id)
                    .ok_or_else(|| unknown(&format!("#_scxml_{id}")))?;
                Ok((key, None))
            }
            Target::Uri(uri) => Err(SendError {
                reason: format!("no event I/O processor can reach '{uri}'"),
            }),
        }
    }

    /// Checks that a send from `from` can reach `target`: a session here, or a session id
    /// the [`super::Remote`] may reach.
    pub(crate) fn check_target(&self, from: SessionKey, target: &Target) -> Result<(), SendError> {
        if let Target::Session(id) = target {
            if self.dir.by_id(id).is_none() && self.remote.reaches(id) {
                return Ok(());
            }
        }
        self.route(from, target).map(|_| ())
    }

    /// Puts `out` on its target's external queue now, or hands it to the [`super::Remote`]
    /// when it names a session id this host does not hold.
    pub(crate) fn deliver(&mut self, from: SessionKey, out: Outgoing) -> Result<(), SendError> {
        if out.type_.as_ref() == BASICHTTP_PROCESSOR {
            return self.post_basichttp(from, out);
        }
        if let Target::Session(id) = &out.target {
            if self.dir.by_id(id).is_none() {
                let id = id.clone();
                return self.remote.send_remote(&id, out);
            }
        }
        let (to, invokeid) = self.route(from, &out.target)?;
        let mut event = out.event;
        if invokeid.is_some() {
            event.invokeid = invokeid;
        }
        self.enqueue(to, event).map_err(|error| SendError {
            reason: error.to_string(),
        })
    }

    /// Delivers a delayed send whose timer fired. The target may have ended since the send:
    /// an SCXML event is then dropped, as a message to a session that no longer exists
    /// would be. A Basic HTTP send the processor refuses raises `error.communication` in
    /// its sender, on the external queue, as any error found after the `<send>` ran does.
    pub(crate) fn deliver_due(&mut self, owner: SessionKey, out: Outgoing) {
        let is_basichttp = out.type_.as_ref() == BASICHTTP_PROCESSOR;
        let sendid = out.sendid.clone();
        let Err(error) = self.deliver(owner, out) else {
            return;
        };
        if is_basichttp {
            let event = communication_error(sendid, &error.reason);
            // A sender whose queue is full loses the error, as it would lose any event.
            let _ = self.enqueue(owner, event);
        } else if self.config.trace {
            eprintln!("[trace] delayed send dropped: {}", error.reason);
        }
    }

    /// Hands a due Basic HTTP send from `from` to the processor and, since the peer may be
    /// this host, moves what arrived into the sessions' queues before the sender goes on
    /// (W3C 201: ordering as in-process).
    fn post_basichttp(&mut self, from: SessionKey, out: Outgoing) -> Result<(), SendError> {
        let Target::Uri(url) = out.target else {
            let reason = "a Basic HTTP send needs a URL target".to_owned();
            return Err(SendError { reason });
        };
        let Some(sender) = self.dir.get(from) else {
            let reason = "the sending session has ended".to_owned();
            return Err(SendError { reason });
        };
        let send = HttpSend {
            from: sender.id.clone(),
            sendid: out.sendid,
            url,
            body: form_body(&out.event.name, &out.event.data),
        };
        let Some(http) = self.basichttp.as_mut() else {
            let reason = "the Basic HTTP processor is not running in this host".to_owned();
            return Err(SendError { reason });
        };
        http.post(send)?;
        self.receive_basichttp();
        Ok(())
    }

    /// Moves events that arrived over Basic HTTP into their sessions' queues.
    pub(crate) fn receive_basichttp(&mut self) {
        let Some(http) = &self.basichttp else { return };
        let mut arrived = Vec::new();
        while let Some(incoming) = http.try_recv() {
            arrived.push(incoming);
        }
        for incoming in arrived {
            let Some(key) = self.dir.by_id(&incoming.session) else {
                self.log.note(&format!(
                    "Basic HTTP event for unknown session {}",
                    incoming.session
                ));
                continue;
            };
            if let Err(error) = self.enqueue(key, incoming.event) {
                self.log.note(&format!("Basic HTTP event dropped: {error}"));
            }
        }
    }

    /// Appends an event to a session's external queue, within its bound.
    pub(crate) fn enqueue(&mut self, to: SessionKey, event: Event) -> Result<(), DeliverError> {
        let queue_max = self.config.queue_events_max;
        let slot = self.dir.get_mut(to).ok_or(DeliverError::UnknownSession)?;
        if slot.queue.len() >= queue_max as usize {
            return Err(DeliverError::QueueFull { queue_max });
        }
        slot.queue.push_back(event);
        self.dir.mark_ready(to);
        Ok(())
    }

    /// Compiles (or finds in the cache) the document an `<invoke>` names.
    fn child_document(
        &mut self,
        request: &InvokeRequest,
    ) -> Result<std::rc::Rc<engine::model::Document>, InvokeError> {
        let limits = &self.config.limits;
        let loaded = match (&request.src, &request.content) {
            (Some(src), _) => {
                let path = super::loader::resolve(&request.base, src)
                    .map_err(|reason| InvokeError { reason })?;
                self.docs.file(&path, limits)
            }
            (None, Some(Value::Xml(text) | Value::String(text))) => {
                self.docs.inline(&request.base, text, limits)
            }
            (None, Some(other)) => {
                let reason = format!("invoke content is not a document: {other:?}");
                return Err(InvokeError { reason });
            }
            (None, None) => {
                return Err(InvokeError {
                    reason: "invoke has neither src nor content".into(),
                });
            }
        };
        loaded.map_err(|error| InvokeError {
            reason: error.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn type_names() {
        assert!(is_scxml_processor(SCXML_PROCESSOR));
        assert!(is_scxml_processor("scxml"));
        assert!(!is_scxml_processor(
            "http://www.w3.org/TR/scxml/#BasicHTTPEventProcessor"
        ));
        assert!(is_scxml_invoke("http://www.w3.org/TR/scxml"));
        assert!(is_scxml_invoke(SCXML_INVOKE));
        assert!(!is_scxml_invoke("http://example.com/vxml"));
    }

    /// A delayed Basic HTTP send the processor refuses when it is due raises
    /// `error.communication` (with its send id) in the sender, rather than vanishing.
    #[test]
    fn a_delayed_basichttp_send_refused_when_due_raises_error_communication() {
        use crate::local::{Host, HostConfig, LogMode, Outcome, VirtualClock};
        let config = HostConfig {
            basichttp: true,
            log: LogMode::Capture,
            ..HostConfig::default()
        };
        let mut host = Host::new(config);
        let text = r#"<scxml xmlns="http://www.w3.org/2005/07/scxml" version="1.0"
                datamodel="ecmascript" initial="s">
              <state id="s">
                <onentry>
                  <send id="late" type="basichttp" target="ftp://127.0.0.1/x" delay="10ms"
                        event="e"/>
                </onentry>
                <transition event="error.communication" cond="_event.sendid == 'late'"
                            target="pass"/>
                <transition event="*" target="fail"/>
              </state>
              <final id="pass"/>
              <final id="fail"/>
            </scxml>"#;
        let doc = host.compile(text, "late.scxml").expect("compiles");
        host.start(doc, &[], 0).expect("starts");
        let outcome = host.run(&mut VirtualClock::new(), 10_000, 100);
        let Outcome::Done { final_state, .. } = outcome else {
            panic!("{outcome:?}");
        };
        assert_eq!(&*final_state, "pass");
    }
}
