//! Voice calls at the SIP routing point: how the strategies' actions on a call that waits
//! for its answer become that answer.
//!
//! A call is an interaction whose INVITE is still open. While it is, the routing actions
//! that would otherwise offer it to a desktop instead decide the SIP final response, left
//! in the outbox as a [`CallOrder`] for the SIP endpoint:
//! - `<ixn:route>` / `<ixn:redirect>`: `302` to the agent's voice address (the reserved
//!   agent, or `target="agent:ID"`), or to the `sip:`/`sips:`/`tel:` URI or number the
//!   target names. A call sent to an agent is `accepted` by that agent and holds its
//!   voice capacity until the interaction is completed (the strategy, the desktop, or the
//!   session's end); one sent elsewhere is completed.
//! - `<ixn:reject status reason>`: the failure status (default 603 Decline).
//! - `<dialog:play>` / `<dialog:collect>`: `302` to the media server with RFC 4240
//!   announcement parameters (`sip:annc@MS;play=URL;repeat=N`) or an RFC 5552 dialog
//!   (`sip:dialog@MS;voicexml=URL`).
//! - `<queue:submit>` that has to wait: a provisional `182 Queued`.
//!
//! When the strategy does not decide (its session ends, or the endpoint's decision timer
//! fires) the call goes to the default destination, and the session hears
//! `interaction.deleted`; so does it when the caller hangs up (CANCEL).

use serde_json::{json, Value as Json};

use engine::effects::ExtensionAction;
use engine::value::Value;

use super::{InteractionId, InteractionState, Orchestration};

/// What the SIP endpoint must do for a call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CallAnswer {
    /// It waits in a queue: the queued provisional response.
    Queued,
    /// `302 Moved Temporarily` to `contact`: a URI, or a bare number the endpoint turns
    /// into `sip:NUMBER@` the host the call was sent to.
    Redirect {
        /// Where to.
        contact: String,
    },
    /// A failure response.
    Reject {
        /// 400 to 699.
        status: u16,
        /// Why, for the `Reason`/`Warning` header.
        reason: String,
    },
    /// The strategy did not decide: the routing point's default destination.
    Default {
        /// Why, for the log and the `Warning` header.
        reason: String,
    },
}

/// A call's answer, for the SIP endpoint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CallOrder {
    /// The call's interaction.
    pub id: InteractionId,
    /// What to answer.
    pub answer: CallAnswer,
}

/// An action's outcome before it becomes an event (as in [`super::actions`]).
type Outcome = Result<Json, String>;

/// Longest redirect target a strategy may name, in bytes: the answer must fit a datagram.
const CONTACT_BYTES_MAX: usize = 512;

/// The default status of `<ixn:reject>` without one.
const REJECT_STATUS_DEFAULT: u16 = 603;

impl Orchestration {
    /// The SIP endpoint admitted `id` as a call waiting for its answer.
    pub fn call_arrived(&mut self, id: InteractionId) {
        self.calls.insert(id);
    }

    /// Whether `id` is a call still waiting for its final response.
    pub fn is_open_call(&self, id: InteractionId) -> bool {
        self.calls.contains(&id)
    }

    /// Sets the media server treatments go to (`sip.media_server`).
    pub fn set_media_server(&mut self, media_server: Option<String>) {
        self.media_server = media_server;
    }

    /// Decides call `id`: no later action can answer it again.
    fn answer_call(&mut self, id: InteractionId, answer: CallAnswer) {
        if !matches!(answer, CallAnswer::Queued) {
            self.calls.remove(&id);
        }
        self.outbox.calls.push(CallOrder { id, answer });
    }

    /// A queued submission of an open call: the caller hears that it waits.
    pub(super) fn call_queued(&mut self, id: InteractionId) {
        if self.calls.contains(&id) {
            self.answer_call(id, CallAnswer::Queued);
        }
    }

    /// The caller hung up (CANCEL) before an answer: the interaction leaves its queue or
    /// agent, and the session hears `interaction.deleted` with reason `cancelled`.
    pub fn call_cancelled(&mut self, id: InteractionId, now_ms: u64) {
        self.call_gone(id, "cancelled", now_ms);
    }

    /// The endpoint gave up waiting for the strategy and sent the call to the default
    /// destination: the session hears `interaction.deleted` with reason `timeout`.
    pub fn call_timed_out(&mut self, id: InteractionId, now_ms: u64) {
        self.call_gone(id, "timeout", now_ms);
    }

    fn call_gone(&mut self, id: InteractionId, reason: &str, now_ms: u64) {
        if !self.calls.remove(&id) {
            return;
        }
        let Some(interaction) = self.interactions.get(id) else {
            return;
        };
        let was = interaction.state;
        self.release(id, now_ms);
        self.notify(
            id,
            "interaction.deleted",
            None,
            json!({"reason": reason, "was": was.name()}),
        );
        self.after_router(now_ms);
    }

    /// An open call's interaction ended without a routing decision (`<ixn:terminate>`,
    /// `POST .../complete`): the caller hears `480 Temporarily Unavailable`.
    pub(super) fn call_ended_unanswered(&mut self, id: InteractionId, reason: &str) {
        if self.calls.contains(&id) {
            let reason = reason.to_owned();
            self.answer_call(
                id,
                CallAnswer::Reject {
                    status: 480,
                    reason,
                },
            );
        }
    }

    /// A session ended: its calls still open go to the default destination.
    pub(super) fn calls_of_ended_session(&mut self, owned: &[InteractionId]) {
        for &id in owned {
            if self.calls.contains(&id) {
                let reason = "the strategy ended without deciding".to_owned();
                self.answer_call(id, CallAnswer::Default { reason });
            }
        }
    }

    /// `<ixn:route>` / `<ixn:redirect>` of an open call: a redirect to an agent, a URI or
    /// a number.
    pub(super) fn route_call(
        &mut self,
        id: InteractionId,
        action: &ExtensionAction,
        now_ms: u64,
    ) -> Outcome {
        let interaction = self.interactions.get(id).ok_or("the interaction ended")?;
        let reserved = interaction.agent.clone();
        let target = match action.arg("target") {
            Value::String(target) => Some(target.to_string()),
            Value::Undefined | Value::Null => None,
            other => return Err(format!("target must be a string, not {}", other.to_json())),
        };
        let agent = match target.as_deref() {
            None => Some(
                reserved
                    .clone()
                    .ok_or("no agent is reserved for it: name a target")?,
            ),
            Some(uri) if is_uri_or_number(uri) => None,
            Some(name) => Some(name.strip_prefix("agent:").unwrap_or(name).to_owned()),
        };
        let Some(agent) = agent else {
            let contact = target.unwrap_or_default();
            if contact.len() > CONTACT_BYTES_MAX {
                return Err(format!("target is over {CONTACT_BYTES_MAX} bytes"));
            }
            self.release(id, now_ms);
            self.answer_call(
                id,
                CallAnswer::Redirect {
                    contact: contact.clone(),
                },
            );
            return Ok(json!({"contact": contact}));
        };
        let media = self.router.media("voice").ok_or("voice is unknown")?;
        let address = self.router.agent_address(&agent, media).map(str::to_owned);
        let address = address.ok_or_else(|| format!("agent '{agent}' has no voice address"))?;
        if reserved.as_deref() != Some(agent.as_str()) {
            self.move_to(id, reserved.as_deref(), &agent, media, now_ms)?;
        }
        self.router
            .accept(id.0, &agent, now_ms)
            .map_err(|e| e.to_string())?;
        self.submissions.remove(&id);
        if let Some(interaction) = self.interactions.get_mut(id) {
            interaction.state = InteractionState::Accepted;
            interaction.agent = Some(agent.clone());
            interaction.accepted_ms = now_ms;
        }
        self.answer_call(
            id,
            CallAnswer::Redirect {
                contact: address.clone(),
            },
        );
        Ok(json!({"agent": agent, "address": address, "contact": address}))
    }

    /// `<ixn:reject>`: an open call gets the failure status; any other interaction is
    /// completed. Either way it leaves its queue or agent.
    pub(super) fn reject_interaction(
        &mut self,
        session: &str,
        action: &ExtensionAction,
        now_ms: u64,
    ) -> Outcome {
        let id = self.interaction_of(session, action)?;
        let status = match engine::extension::integer(action.arg("status")) {
            None if matches!(action.arg("status"), Value::Undefined | Value::Null) => {
                REJECT_STATUS_DEFAULT
            }
            // These need headers a redirect server has nothing to put in (RFC 3261 §21.4).
            Some(status @ (401 | 405 | 407 | 420)) => {
                return Err(format!(
                    "status {status} needs headers a rejection cannot carry"
                ));
            }
            Some(status @ 400..=699) => status as u16,
            _ => {
                let found = action.arg("status").to_json();
                return Err(format!(
                    "status must be a SIP failure from 400 to 699, not {found}"
                ));
            }
        };
        let reason = match action.arg("reason") {
            Value::String(reason) => reason.to_string(),
            _ => String::new(),
        };
        self.release(id, now_ms);
        if self.calls.contains(&id) {
            let answer = CallAnswer::Reject {
                status,
                reason: reason.clone(),
            };
            self.answer_call(id, answer);
        }
        Ok(json!({"interaction": id.to_string(), "status": status, "reason": reason}))
    }

    /// `<dialog:play>` / `<dialog:collect>`: the open call goes to the media server.
    pub(super) fn treatment(
        &mut self,
        session: &str,
        action: &ExtensionAction,
        collect: bool,
        now_ms: u64,
    ) -> Outcome {
        let id = self.interaction_of(session, action)?;
        if !self.calls.contains(&id) {
            return Err(format!(
                "interaction {id} is not a call waiting for an answer"
            ));
        }
        let server = self
            .media_server
            .as_deref()
            .ok_or("no media server is configured (sip.media_server)")?;
        let src = match action.arg("src") {
            Value::String(src) => src.to_string(),
            other => return Err(format!("src must be a URL, not {}", other.to_json())),
        };
        let contact = match collect {
            true => media_server_uri(server, "dialog", &[("voicexml", src)]),
            false => media_server_uri(server, "annc", &announcement_parameters(action, src)?),
        };
        self.release(id, now_ms);
        self.answer_call(
            id,
            CallAnswer::Redirect {
                contact: contact.clone(),
            },
        );
        Ok(json!({"interaction": id.to_string(), "contact": contact}))
    }
}

/// `play`, `repeat`, `duration` (ms) and `locale` of an RFC 4240 announcement.
fn announcement_parameters(
    action: &ExtensionAction,
    src: String,
) -> Result<Vec<(&'static str, String)>, String> {
    let mut parameters = vec![("play", src)];
    match action.arg("repeat") {
        Value::Undefined | Value::Null => {}
        Value::String(text) if &**text == "forever" => {
            parameters.push(("repeat", "forever".into()))
        }
        other => match engine::extension::integer(other) {
            Some(n) if n > 0 => parameters.push(("repeat", n.to_string())),
            _ => {
                return Err(format!(
                    "repeat must be a count or \"forever\", not {}",
                    other.to_json()
                ))
            }
        },
    }
    match action.arg("duration") {
        Value::Undefined | Value::Null => {}
        other => match engine::extension::duration_ms(other) {
            Some(ms) => parameters.push(("duration", ms.to_string())),
            None => {
                return Err(format!(
                    "duration must be like 30s, not {}",
                    other.to_json()
                ))
            }
        },
    }
    if let Value::String(locale) = action.arg("locale") {
        parameters.push(("locale", locale.to_string()));
    }
    Ok(parameters)
}

/// True for a target that is no agent: a `sip:`, `sips:` or `tel:` URI, or a number
/// (digits, with an optional leading `+`).
pub fn is_uri_or_number(target: &str) -> bool {
    let number = target.strip_prefix('+').unwrap_or(target);
    crate::config::is_redirect_uri(target)
        || (!number.is_empty() && number.bytes().all(|b| b.is_ascii_digit()))
}

/// `sip:SERVICE@HOST;name=value...` on the media server `server` (`sip:HOST[:PORT]`, a
/// user part in it is replaced), with the values escaped as URI parameters.
pub fn media_server_uri(server: &str, service: &str, parameters: &[(&str, String)]) -> String {
    let (scheme, rest) = server.split_once(':').unwrap_or(("sip", server));
    let host = rest.rsplit_once('@').map_or(rest, |(_, host)| host);
    let mut uri = format!("{scheme}:{service}@{host}");
    for (name, value) in parameters {
        uri.push(';');
        uri.push_str(name);
        uri.push('=');
        escape_parameter(value, &mut uri);
    }
    uri
}

/// Percent-escapes what a SIP URI parameter value may not hold (RFC 3261 `paramchar`).
fn escape_parameter(value: &str, out: &mut String) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || b"[]/:&+$-_.!~*'()".contains(&byte) {
            out.push(char::from(byte));
            continue;
        }
        out.push('%');
        out.push(char::from(HEX[usize::from(byte >> 4)]));
        out.push(char::from(HEX[usize::from(byte & 0xf)]));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn media_server_uris_follow_rfc_4240() {
        let play = vec![
            ("play", "http://media/welcome.wav?lang=en".to_owned()),
            ("repeat", "forever".to_owned()),
        ];
        assert_eq!(
            media_server_uri("sip:10.0.0.9:5060", "annc", &play),
            "sip:annc@10.0.0.9:5060;play=http://media/welcome.wav%3Flang%3Den;repeat=forever"
        );
        let vxml = [("voicexml", "https://ivr/collect.vxml".to_owned())];
        assert_eq!(
            media_server_uri("sip:old@ms.example", "dialog", &vxml),
            "sip:dialog@ms.example;voicexml=https://ivr/collect.vxml"
        );
    }

    #[test]
    fn targets_that_are_not_agents() {
        for target in ["sip:x@pbx", "tel:+15551234", "+15551234", "5000"] {
            assert!(is_uri_or_number(target), "{target}");
        }
        for target in ["alice", "agent:alice", "+", "", "sip:"] {
            assert!(!is_uri_or_number(target), "{target}");
        }
    }
}
