//! The agents' side: profiles and states (`PUT /agents/{id}`, `POST /agents/{id}/state`),
//! and their answers to offers (`POST /interactions/{id}/accept|reject|complete`).
//!
//! Each call checks the interaction's state first, so a race (an answer to an offer that
//! was withdrawn meanwhile, a second accept, a complete while queued) gets a clear refusal
//! or a consistent outcome, never a half-applied change.

use serde_json::{json, Map, Value as Json};

use super::{InteractionId, InteractionState, Orchestration, Refusal};
use crate::routing::{AgentProfile, AgentState, RouterError};

/// The status a router refusal answers with.
fn router_status(error: &RouterError) -> u16 {
    match error {
        RouterError::UnknownAgent | RouterError::UnknownInteraction => 404,
        RouterError::AgentsFull { .. }
        | RouterError::SubmissionsFull { .. }
        | RouterError::SkillsFull { .. }
        | RouterError::GroupsFull { .. } => 503,
        RouterError::AgentHasWork { .. }
        | RouterError::NotReserved
        | RouterError::AlreadyAccepted
        | RouterError::AlreadySubmitted
        | RouterError::AgentNotAvailable => 409,
        _ => 400,
    }
}

fn refused(error: RouterError) -> Refusal {
    Refusal::new(router_status(&error), error.to_string())
}

/// Reads an agent profile: `{"skills": {"Mortgage": 7}, "groups": ["Loans"],
/// "capacity": {"voice": 1, "chat": 3}, "addresses": {"voice": "sip:alice@pbx"}}`.
pub fn profile_from_json(body: &Map<String, Json>) -> Result<AgentProfile, Refusal> {
    let bad = |what: &str| Refusal::new(400, what.to_owned());
    let mut profile = AgentProfile::default();
    for (name, value) in body {
        match name.as_str() {
            "skills" => {
                let skills = value
                    .as_object()
                    .ok_or_else(|| bad("skills must be an object"))?;
                for (skill, level) in skills {
                    let level = level
                        .as_u64()
                        .and_then(|level| u8::try_from(level).ok())
                        .ok_or_else(|| bad(&format!("skill '{skill}': level must be 0 to 255")))?;
                    profile.skills.push((skill.clone(), level));
                }
            }
            "groups" => {
                let groups = value
                    .as_array()
                    .ok_or_else(|| bad("groups must be an array"))?;
                for group in groups {
                    let group = group
                        .as_str()
                        .ok_or_else(|| bad("a group must be a string"))?;
                    profile.groups.push(group.to_owned());
                }
            }
            "capacity" => {
                let capacity = value
                    .as_object()
                    .ok_or_else(|| bad("capacity must be an object"))?;
                for (media, count) in capacity {
                    let count = count
                        .as_u64()
                        .and_then(|count| u16::try_from(count).ok())
                        .ok_or_else(|| bad(&format!("capacity '{media}' must be 0 to 65535")))?;
                    profile.capacity.push((media.clone(), count));
                }
            }
            "addresses" => {
                let addresses = value
                    .as_object()
                    .ok_or_else(|| bad("addresses must be an object"))?;
                for (media, address) in addresses {
                    let address = address
                        .as_str()
                        .ok_or_else(|| bad(&format!("address '{media}' must be a string")))?;
                    profile.addresses.push((media.clone(), address.to_owned()));
                }
            }
            other => {
                return Err(bad(&format!(
                    "unknown field '{other}' (skills, groups, capacity, addresses)"
                )))
            }
        }
    }
    Ok(profile)
}

/// Reads a state change: `{"state": "ready" | "not-ready" | "after-call-work" |
/// "logged-out", "reason": "..."}` (a reason only with `not-ready`).
pub fn state_from_json(body: &Map<String, Json>) -> Result<AgentState, Refusal> {
    let name = body.get("state").and_then(Json::as_str).unwrap_or_default();
    let reason = body.get("reason").and_then(Json::as_str).map(str::to_owned);
    let with_reason = reason.is_some();
    let Some(state) = AgentState::from_name(name, reason) else {
        let reason =
            "state must be \"ready\", \"not-ready\", \"after-call-work\" or \"logged-out\"";
        return Err(Refusal::new(400, reason));
    };
    if with_reason && !matches!(state, AgentState::NotReady { .. }) {
        return Err(Refusal::new(400, "a reason goes with \"not-ready\" only"));
    }
    Ok(state)
}

impl Orchestration {
    /// Creates or replaces agent `id`'s profile; true if created.
    pub fn put_agent(
        &mut self,
        id: &str,
        profile: AgentProfile,
        now_ms: u64,
    ) -> Result<bool, Refusal> {
        let created = self
            .router
            .put_agent(id, profile, now_ms)
            .map_err(refused)?;
        self.after_router(now_ms);
        Ok(created)
    }

    /// Removes agent `id` (refused while it holds work).
    pub fn remove_agent(&mut self, id: &str, now_ms: u64) -> Result<(), Refusal> {
        self.router.remove_agent(id, now_ms).map_err(refused)?;
        self.after_router(now_ms);
        Ok(())
    }

    /// Sets agent `id`'s state; a ready agent is matched with waiting interactions at once.
    pub fn set_agent_state(
        &mut self,
        id: &str,
        state: AgentState,
        now_ms: u64,
    ) -> Result<(), Refusal> {
        self.router
            .set_agent_state(id, state, now_ms)
            .map_err(refused)?;
        self.after_router(now_ms);
        Ok(())
    }

    /// The agent as `GET /agents/{id}` shows it, with its pending offers and open streams.
    pub fn agent_json(&self, id: &str) -> Option<Json> {
        let view = self.router.agent(id)?;
        let mut json = view.to_json();
        let offers: Vec<String> = self
            .offers
            .pending(id)
            .iter()
            .map(ToString::to_string)
            .collect();
        if let Json::Object(map) = &mut json {
            map.insert("offers".into(), json!(offers));
            map.insert("streams".into(), json!(self.offers.streams(id)));
        }
        Some(json)
    }

    fn offered_to(&self, id: InteractionId, agent: &str) -> Result<(), Refusal> {
        let interaction = self
            .interactions
            .get(id)
            .ok_or_else(|| Refusal::new(404, format!("no interaction {id}")))?;
        let offered = interaction.state == InteractionState::Offered;
        if !offered || interaction.agent.as_deref() != Some(agent) {
            let reason = format!(
                "interaction {id} is not offered to agent '{agent}' (it is {})",
                interaction.state.name()
            );
            return Err(Refusal::new(409, reason));
        }
        Ok(())
    }

    /// Agent `agent` accepts the offer of `id`: the session hears `interaction.accepted`.
    pub fn accept(&mut self, id: InteractionId, agent: &str, now_ms: u64) -> Result<Json, Refusal> {
        self.offered_to(id, agent)?;
        self.router.accept(id.0, agent, now_ms).map_err(refused)?;
        self.submissions.remove(&id);
        self.offers.answered(agent, id);
        if let Some(interaction) = self.interactions.get_mut(id) {
            interaction.state = InteractionState::Accepted;
            interaction.accepted_ms = now_ms;
        }
        self.notify(id, "interaction.accepted", None, json!({"agent": agent}));
        self.after_router(now_ms);
        Ok(self.interaction_json(id))
    }

    /// Agent `agent` rejects the offer of `id`: a queued interaction goes back to the head
    /// of its queue (not to be offered to `agent` again); the session hears
    /// `interaction.rejected`, and `queue.submit.done` when another agent is reserved.
    /// A direct route (no queue) just frees the agent; either way the router reports the
    /// release, which [`Orchestration::after_router`] turns into the session's event.
    pub fn reject(&mut self, id: InteractionId, agent: &str, now_ms: u64) -> Result<Json, Refusal> {
        self.offered_to(id, agent)?;
        self.offers.answered(agent, id);
        self.router.reject(id.0, agent, now_ms).map_err(refused)?;
        self.after_router(now_ms);
        Ok(self.interaction_json(id))
    }

    /// Completes `id` (the agent's wrap-up, or an integrator's close), in any state: it
    /// leaves its queue or agent, and the session hears `interaction.deleted`.
    pub fn complete(&mut self, id: InteractionId, now_ms: u64) -> Result<Json, Refusal> {
        let interaction = self
            .interactions
            .get(id)
            .ok_or_else(|| Refusal::new(404, format!("no interaction {id}")))?;
        if interaction.state == InteractionState::Completed {
            return Err(Refusal::new(
                409,
                format!("interaction {id} is already completed"),
            ));
        }
        let was = interaction.state;
        self.release(id, now_ms);
        self.call_ended_unanswered(id, "completed");
        let data = json!({"reason": "completed", "was": was.name()});
        self.notify(id, "interaction.deleted", None, data);
        let json = self.interaction_json(id);
        if self
            .interactions
            .get(id)
            .is_some_and(|i| i.session.is_none())
        {
            self.interactions.remove(id);
        }
        self.after_router(now_ms);
        Ok(json)
    }

    /// The agent an interaction is reserved for, offered to or taken by.
    pub fn interaction_agent(&self, id: InteractionId) -> Option<&str> {
        self.interactions.get(id)?.agent.as_deref()
    }

    /// The interaction as the APIs show it (`null` if gone).
    pub fn interaction_json(&self, id: InteractionId) -> Json {
        self.interactions
            .get(id)
            .map_or(Json::Null, |i| i.to_json())
    }
}
