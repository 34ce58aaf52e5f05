//! The strategies' routing actions (`queue:`, `ixn:`, `session:fetch`, `session:start`),
//! performed for the session that ran them.
//!
//! Every action answers with an event to that session, `_event.sendid` and
//! `_event.data.requestid` set to the action's id: `<name>.done` when it took effect (for
//! `<queue:submit>`, when an agent is reserved, at once or later), `error.<name>` with
//! `_event.data.reason` when it did not (a bad argument, an interaction that is not the
//! session's, a refusal by the router, a timeout). Actions never fail the macrostep: a
//! strategy handles routing outcomes as events, as on the established servers.

use engine::effects::{ExtensionAction, ExtensionError, ExtensionOutcome};
use engine::extension::ActionKind;
use engine::value::Value;
use serde_json::{json, Value as Json};

use super::{InteractionId, InteractionState, Job, Orchestration, INTERACTIONS_VARIABLE};
use crate::routing::{MediaId, Ordering, Submission, Submitted};

/// The event names of an action: what it is called in `.done` / `error.` events.
fn action_name(kind: ActionKind) -> Option<&'static str> {
    Some(match kind {
        ActionKind::QueueSubmit => "queue.submit",
        ActionKind::QueueCancel => "queue.cancel",
        ActionKind::QueueUpdate => "queue.update",
        ActionKind::IxnRoute => "ixn.route",
        ActionKind::IxnRedirect => "ixn.redirect",
        ActionKind::IxnAttach => "ixn.attach",
        ActionKind::IxnTerminate => "ixn.terminate",
        ActionKind::IxnCreateMessage => "ixn.createmessage",
        ActionKind::IxnReject => "ixn.reject",
        ActionKind::DialogPlay => "dialog.play",
        ActionKind::DialogCollect => "dialog.collect",
        ActionKind::SessionFetch => "session.fetch",
        ActionKind::SessionStart => "session.start",
        _ => return None,
    })
}

/// An action's outcome before it becomes an event: extra `data` fields, or a reason.
type Outcome = Result<Json, String>;

impl Orchestration {
    /// Performs `action` for `session`. Outcomes are events (see the module notes); the
    /// returned value refreshes the session's `_interactions` before its next content runs,
    /// when the session `reads_interactions` at all.
    pub fn perform(
        &mut self,
        session: &str,
        action: &ExtensionAction,
        reads_interactions: bool,
        now_ms: u64,
    ) -> Result<ExtensionOutcome, ExtensionError> {
        let Some(name) = action_name(action.kind) else {
            let spec = action.kind.spec();
            let reason = format!("<{}> is not a routing action", spec.name);
            return Err(ExtensionError { reason });
        };
        let requestid: Box<str> = action.id.clone();
        let outcome = match action.kind {
            ActionKind::QueueSubmit => self.submit(session, action, &requestid, now_ms),
            ActionKind::QueueCancel => self.cancel(session, action, now_ms),
            ActionKind::QueueUpdate => self.update(session, action, now_ms),
            ActionKind::IxnRoute | ActionKind::IxnRedirect => self.route(session, action, now_ms),
            ActionKind::IxnAttach => self.attach(session, action),
            ActionKind::IxnTerminate => self.terminate(session, action, now_ms),
            ActionKind::IxnCreateMessage => self.create_message(session, action, &requestid),
            ActionKind::IxnReject => self.reject_interaction(session, action, now_ms),
            ActionKind::DialogPlay => self.treatment(session, action, false, now_ms),
            ActionKind::DialogCollect => self.treatment(session, action, true, now_ms),
            ActionKind::SessionFetch => fetch(action, session, &requestid).map(|job| {
                self.outbox.jobs.push(job);
                Json::Null
            }),
            ActionKind::SessionStart => start(action, session, &requestid).map(|job| {
                self.outbox.jobs.push(job);
                Json::Null
            }),
            _ => unreachable!("action_name lists the routing actions"),
        };
        self.after_router(now_ms);
        match outcome {
            // A submission's `.done` comes when an agent is reserved; a job's when it ends.
            Ok(Json::Null) => {}
            Ok(data) => self.answer(session, &format!("{name}.done"), &requestid, data),
            Err(reason) => {
                let data = json!({"reason": reason});
                self.answer(session, &format!("error.{name}"), &requestid, data);
            }
        }
        if !reads_interactions {
            return Ok(ExtensionOutcome::default());
        }
        let interactions = self.interactions_value(session);
        Ok(ExtensionOutcome {
            host_values: vec![(INTERACTIONS_VARIABLE.into(), interactions)],
        })
    }

    /// Queues an action's answer: `data` plus `requestid`, sendid = the request id.
    fn answer(&mut self, session: &str, name: &str, requestid: &str, data: Json) {
        let mut data = match data {
            Json::Object(map) => map,
            _ => serde_json::Map::new(),
        };
        data.insert("requestid".into(), Json::String(requestid.into()));
        self.send(session, name, Some(requestid.into()), Json::Object(data));
    }

    /// The interaction an action names (`interaction` / `interactionexpr`), or by default the
    /// session's newest interaction still in progress. It must be the session's own.
    pub(super) fn interaction_of(
        &self,
        session: &str,
        action: &ExtensionAction,
    ) -> Result<InteractionId, String> {
        let id = match action.arg("interaction") {
            Value::Undefined | Value::Null => self
                .interactions
                .of_session(session)
                .iter()
                .rev()
                .copied()
                .find(|&id| {
                    self.interactions
                        .get(id)
                        .is_some_and(|i| i.state != InteractionState::Completed)
                })
                .ok_or("the session has no interaction in progress")?,
            Value::String(text) => InteractionId::parse(text)
                .ok_or_else(|| format!("'{text}' is not an interaction id"))?,
            other => {
                return Err(format!(
                    "interaction must be an id, not {}",
                    other.to_json()
                ))
            }
        };
        let interaction = self
            .interactions
            .get(id)
            .ok_or_else(|| format!("no interaction {id}"))?;
        if interaction.session.as_deref() != Some(session) {
            return Err(format!("interaction {id} belongs to another session"));
        }
        if interaction.state == InteractionState::Completed {
            return Err(format!("interaction {id} is completed"));
        }
        Ok(id)
    }

    fn submit(
        &mut self,
        session: &str,
        action: &ExtensionAction,
        requestid: &str,
        now_ms: u64,
    ) -> Outcome {
        let id = self.interaction_of(session, action)?;
        if self.submissions.contains_key(&id) {
            return Err(format!("interaction {id} is already submitted to a queue"));
        }
        let targets = targets_text(action.arg("targets"))?;
        let targets = self
            .router
            .parse_targets(&targets)
            .map_err(|e| format!("targets '{targets}': {e}"))?;
        let media = self
            .interactions
            .get(id)
            .map(|i| i.media.clone())
            .unwrap_or_default();
        let media = self
            .router
            .media(&media)
            .ok_or("the interaction's media is unknown")?;
        let submission = Submission {
            interaction: id.0,
            media,
            targets,
            priority: integer(action.arg("priority"), "priority")?.unwrap_or(0),
            timeout_ms: duration_ms(action.arg("timeout"))?.unwrap_or(0),
            ordering: ordering(action.arg("ordering"))?,
        };
        let submitted = self
            .router
            .submit(submission, now_ms)
            .map_err(|e| e.to_string())?;
        self.submissions.insert(id, requestid.into());
        match submitted {
            Submitted::Reserved { agent } => self.reserved(id, agent),
            Submitted::Queued => {
                self.set_state(id, InteractionState::Queued, None);
                self.call_queued(id);
            }
        }
        Ok(Json::Null)
    }

    fn cancel(&mut self, session: &str, action: &ExtensionAction, now_ms: u64) -> Outcome {
        let id = self.interaction_of(session, action)?;
        if self.submissions.remove(&id).is_none() {
            return Err(format!("interaction {id} is not in a queue"));
        }
        let agent = self.interactions.get(id).and_then(|i| i.agent.clone());
        self.router
            .cancel(id.0, now_ms)
            .map_err(|e| e.to_string())?;
        if let Some(agent) = agent {
            self.offers.revoke(&agent, id);
        }
        self.set_state(id, InteractionState::Routing, None);
        Ok(json!({"interaction": id.to_string()}))
    }

    fn update(&mut self, session: &str, action: &ExtensionAction, now_ms: u64) -> Outcome {
        let id = self.interaction_of(session, action)?;
        let priority = integer(action.arg("priority"), "priority")?.ok_or("priority is missing")?;
        self.router
            .set_priority(id.0, priority, now_ms)
            .map_err(|e| e.to_string())?;
        Ok(json!({"interaction": id.to_string(), "priority": priority}))
    }

    /// `<ixn:route>` / `<ixn:redirect>`: offers the interaction to an agent, the one named
    /// by `target` (`agent:ID` or `ID`) or else the one reserved for it by the queue.
    fn route(&mut self, session: &str, action: &ExtensionAction, now_ms: u64) -> Outcome {
        let id = self.interaction_of(session, action)?;
        if self.is_open_call(id) {
            return self.route_call(id, action, now_ms);
        }
        let interaction = self.interactions.get(id).ok_or("the interaction ended")?;
        let reserved = interaction.agent.clone();
        let media_name = interaction.media.clone();
        let agent = match action.arg("target") {
            Value::String(target) => target.strip_prefix("agent:").unwrap_or(target).to_owned(),
            Value::Undefined | Value::Null => reserved
                .clone()
                .ok_or("no agent is reserved for it: name a target")?,
            other => return Err(format!("target must be a string, not {}", other.to_json())),
        };
        let media = self
            .router
            .media(&media_name)
            .ok_or("the interaction's media is unknown")?;
        let timeout_ms = duration_ms(action.arg("timeout"))?.filter(|&ms| ms > 0);
        let accepted = interaction.state == InteractionState::Accepted;
        if accepted || reserved.as_deref() != Some(agent.as_str()) {
            self.move_to(id, reserved.as_deref(), &agent, media, now_ms)?;
        }
        let offered = match timeout_ms {
            Some(timeout_ms) => self.router.offered_within(id.0, now_ms, timeout_ms),
            None => self.router.offered(id.0, now_ms),
        };
        offered.map_err(|e| e.to_string())?;
        self.set_state(id, InteractionState::Offered, Some(agent.clone()));
        let interaction = self.interactions.get(id).map(|i| i.to_json());
        let offer = json!({"interaction": interaction, "data": action.data.to_json()});
        self.offers.offer(&agent, id, &offer);
        let address = self.router.agent_address(&agent, media).map(str::to_owned);
        Ok(json!({"agent": agent, "address": address}))
    }

    /// Reserves `agent` for `id` in place of whoever had it: a queued submission is
    /// withdrawn, a reservation released, an accepted interaction's agent freed (a transfer).
    pub(super) fn move_to(
        &mut self,
        id: InteractionId,
        previous: Option<&str>,
        agent: &str,
        media: MediaId,
        now_ms: u64,
    ) -> Result<(), String> {
        // Checked first, so that a refused move leaves the interaction where it was.
        let view = self
            .router
            .agent(agent)
            .ok_or_else(|| format!("no agent '{agent}'"))?;
        let media_name = self.router.media_name(media);
        let room = view
            .media
            .iter()
            .any(|m| m.media == media_name && m.load < m.capacity);
        if view.state != "ready" || !room {
            let reason = format!("agent '{agent}' is not ready or has no room for {media_name}");
            return Err(reason);
        }
        if let Some(previous) = previous {
            self.offers.revoke(previous, id);
        }
        self.submissions.remove(&id);
        // Refused only when the router holds nothing for it, which is what is wanted.
        let _ = self.router.complete(id.0, now_ms);
        self.set_state(id, InteractionState::Routing, None);
        self.router
            .reserve_agent(id.0, agent, media, now_ms)
            .map_err(|e| e.to_string())
    }

    fn attach(&mut self, session: &str, action: &ExtensionAction) -> Outcome {
        let id = self.interaction_of(session, action)?;
        let Json::Object(pairs) = action.data.to_json() else {
            return Err("attach takes key-value pairs (namelist or <param>)".into());
        };
        let interaction = self
            .interactions
            .get_mut(id)
            .ok_or("the interaction ended")?;
        let keys: Vec<String> = pairs.keys().cloned().collect();
        interaction.data.extend(pairs);
        Ok(json!({"keys": keys}))
    }

    fn terminate(&mut self, session: &str, action: &ExtensionAction, now_ms: u64) -> Outcome {
        let id = self.interaction_of(session, action)?;
        self.release(id, now_ms);
        self.call_ended_unanswered(id, "terminated by the strategy");
        let reason = match action.arg("reason") {
            Value::String(reason) => Json::String(reason.to_string()),
            _ => Json::Null,
        };
        Ok(json!({"interaction": id.to_string(), "reason": reason}))
    }

    fn create_message(
        &mut self,
        session: &str,
        action: &ExtensionAction,
        requestid: &str,
    ) -> Outcome {
        let media = text_arg(action.arg("media"), "media")?.ok_or("media is missing")?;
        let to = text_arg(action.arg("to"), "to")?.ok_or("to is missing")?;
        let gateway_name = text_arg(action.arg("gateway"), "gateway")?;
        let gateway = self
            .gateway(gateway_name.as_deref(), &media)
            .ok_or_else(|| match &gateway_name {
                Some(name) => format!("no gateway '{name}' ([[gateway]])"),
                None => format!("no gateway for media '{media}' ([[gateway]])"),
            })?;
        let interaction = match action.arg("interaction") {
            Value::Undefined | Value::Null => None,
            _ => Some(self.interaction_of(session, action)?.to_string()),
        };
        let body = json!({
            "media": media,
            "to": to,
            "from": gateway.from,
            "subject": text_arg(action.arg("subject"), "subject")?,
            "body": action.data.to_json(),
            "interaction": interaction,
            "session": session,
            "requestid": requestid,
        });
        self.outbox.jobs.push(Job::Message {
            session: session.into(),
            requestid: requestid.into(),
            url: gateway.url.clone(),
            body,
        });
        Ok(Json::Null)
    }
}

fn fetch(action: &ExtensionAction, session: &str, requestid: &str) -> Result<Job, String> {
    let url = text_arg(action.arg("src"), "src")?.ok_or("src is missing")?;
    let method = match text_arg(action.arg("method"), "method")?.as_deref() {
        None | Some("GET") | Some("get") => "GET",
        Some("POST") | Some("post") => "POST",
        Some(other) => return Err(format!("method must be GET or POST, not '{other}'")),
    };
    let body = match (&action.data, method) {
        (Value::Undefined, _) | (_, "GET") => None,
        (data, _) => Some(data.to_json()),
    };
    Ok(Job::Fetch {
        session: session.into(),
        requestid: requestid.into(),
        method,
        url,
        body,
    })
}

fn start(action: &ExtensionAction, session: &str, requestid: &str) -> Result<Job, String> {
    let src = text_arg(action.arg("src"), "src")?.ok_or("src is missing")?;
    let params = match &action.data {
        Value::Object(pairs) => pairs.clone(),
        Value::Undefined => Vec::new(),
        _ => return Err("a session's parameters are key-value pairs (<param>)".into()),
    };
    Ok(Job::Start {
        session: session.into(),
        requestid: requestid.into(),
        src,
        params,
    })
}

/// A string argument, `None` when absent.
fn text_arg(value: &Value, name: &str) -> Result<Option<String>, String> {
    match value {
        Value::Undefined | Value::Null => Ok(None),
        Value::String(text) => Ok(Some(text.to_string())),
        Value::Number(_) | Value::Bool(_) => Ok(Some(value.to_json().to_string())),
        other => Err(format!("{name} must be a string, not {}", other.to_json())),
    }
}

/// `targets`: a string, or an array of strings joined as one list.
fn targets_text(value: &Value) -> Result<String, String> {
    match value {
        Value::String(text) => Ok(text.to_string()),
        Value::Array(items) => items
            .iter()
            .map(|item| match item {
                Value::String(text) => Ok(text.to_string()),
                other => Err(format!(
                    "a target must be a string, not {}",
                    other.to_json()
                )),
            })
            .collect::<Result<Vec<_>, _>>()
            .map(|items| items.join(", ")),
        Value::Undefined | Value::Null => Err("targets is missing".into()),
        other => Err(format!("targets must be a string, not {}", other.to_json())),
    }
}

/// A whole number argument (a number, or a string of one), `None` when absent.
fn integer(value: &Value, name: &str) -> Result<Option<i32>, String> {
    let number = match value {
        Value::Undefined | Value::Null => return Ok(None),
        Value::Number(n) => *n,
        Value::String(text) => text.trim().parse::<f64>().unwrap_or(f64::NAN),
        _ => f64::NAN,
    };
    let whole = number.fract() == 0.0 && number.abs() <= f64::from(i32::MAX);
    match whole {
        true => Ok(Some(number as i32)),
        false => Err(format!(
            "{name} must be a whole number, not {}",
            value.to_json()
        )),
    }
}

/// A duration: a number of ms, or a string like a `<send delay>` (`30s`, `500ms`).
fn duration_ms(value: &Value) -> Result<Option<u64>, String> {
    match value {
        Value::Undefined | Value::Null => Ok(None),
        other => engine::extension::duration_ms(other)
            .map(Some)
            .ok_or_else(|| {
                let found = other.to_json();
                format!("timeout must be a duration such as 30s or 500ms, not {found}")
            }),
    }
}

fn ordering(value: &Value) -> Result<Ordering, String> {
    match value {
        Value::Undefined | Value::Null => Ok(Ordering::LongestIdle),
        Value::String(text) => text.parse().map_err(|_| {
            format!("ordering '{text}' is not longest-idle, most-skilled or least-occupied")
        }),
        other => Err(format!(
            "ordering must be a string, not {}",
            other.to_json()
        )),
    }
}
