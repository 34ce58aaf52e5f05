//! The interaction and agent APIs (`/interactions`, `/agents`, `/routing/statistics`),
//! answered on the routing shard.
//!
//! A request that lands on another shard is forwarded there whole ([`super::peer`]), as a
//! session request is forwarded to its session's home; an agent's offer stream too (its
//! body is a channel, so it crosses back to the connection's shard). On the routing shard
//! each request borrows the orchestration briefly, never across an await, then [`pump`]
//! hands the events, jobs and call answers it produced to the host, the job runner and the
//! SIP endpoint.

use std::rc::Rc;

use engine::value::Value;
use protocols::http::params::Params;
use protocols::http::{BodyStream, Response};
use serde_json::{json, Map, Value as Json};

use super::answer::json_response;
use super::api::Shard;
use super::jobs;
use super::route::{OfferAnswer, RoutingRoute};
use crate::local::epoch_ms_now;
use crate::orchestration::desk::{profile_from_json, state_from_json};
use crate::orchestration::{
    Admitted, Customer, InteractionId, NewInteraction, Orchestration, Refusal,
    INTERACTIONS_VARIABLE,
};

/// A refusal as an HTTP answer.
fn refusal(refusal: Refusal) -> Response {
    Response::error(refusal.status, &refusal.reason)
}

/// The parameters as one JSON object (a JSON body's fields, or form/query fields).
fn body_object(params: Params) -> Map<String, Json> {
    params.into_iter().collect()
}

/// Answers a routing request on the routing shard (`shard.orchestration` is set).
pub async fn answer_here(shard: &Rc<Shard>, route: RoutingRoute, params: Params) -> Response {
    let Some(orchestration) = shard.orchestration.as_ref() else {
        return Response::error(500, "routing requests are answered on the routing shard");
    };
    let now_ms = epoch_ms_now();
    let body = body_object(params);
    let response = match route {
        RoutingRoute::Create => return Box::pin(create(shard, body)).await,
        RoutingRoute::Interaction { id, as_agent } => {
            let id = InteractionId::parse(&id);
            let orchestration = orchestration.borrow();
            // An agent sees its own interactions only; another's is "no such" to it, so
            // that ids cannot be probed.
            let visible = id.filter(|id| match &as_agent {
                None => true,
                Some(agent) => orchestration.interaction_agent(*id) == Some(agent.as_str()),
            });
            let found = visible.map(|id| orchestration.interaction_json(id));
            match found {
                Some(json) if !json.is_null() => json_response(200, &json),
                _ => Response::error(404, "no such interaction"),
            }
        }
        RoutingRoute::Answer {
            id,
            answer,
            as_agent,
        } => offer_answer(shard, &id, answer, as_agent.as_deref(), &body, now_ms),
        RoutingRoute::PutAgent { id } => match profile_from_json(&body) {
            Ok(profile) => {
                let put = orchestration.borrow_mut().put_agent(&id, profile, now_ms);
                match put {
                    Ok(created) => agent_answer(shard, &id, if created { 201 } else { 200 }),
                    Err(e) => refusal(e),
                }
            }
            Err(e) => refusal(e),
        },
        RoutingRoute::Agent { id } => agent_answer(shard, &id, 200),
        RoutingRoute::DeleteAgent { id } => {
            let removed = orchestration.borrow_mut().remove_agent(&id, now_ms);
            match removed {
                Ok(()) => json_response(200, &json!({"agent": id, "deleted": true})),
                Err(e) => refusal(e),
            }
        }
        RoutingRoute::AgentState { id } => match state_from_json(&body) {
            Ok(state) => {
                let set = orchestration
                    .borrow_mut()
                    .set_agent_state(&id, state, now_ms);
                match set {
                    Ok(()) => agent_answer(shard, &id, 200),
                    Err(e) => refusal(e),
                }
            }
            Err(e) => refusal(e),
        },
        RoutingRoute::Statistics => statistics(shard, &body),
        RoutingRoute::Offers { id } => offer_stream(shard, &id),
    };
    pump(shard);
    response
}

fn agent_answer(shard: &Shard, id: &str, status: u16) -> Response {
    let orchestration = shard.orchestration.as_ref().expect("the routing shard");
    match orchestration.borrow().agent_json(id) {
        Some(json) => json_response(status, &json),
        None => Response::error(404, &format!("no agent '{id}'")),
    }
}

/// `GET /agents/{id}/offers`: the agent's offers as Server-Sent Events, its pending
/// offers first. The stream ends when the desktop disconnects or the server stops.
fn offer_stream(shard: &Shard, id: &str) -> Response {
    let orchestration = shard.orchestration.as_ref().expect("the routing shard");
    let mut orchestration = orchestration.borrow_mut();
    if orchestration.router().agent(id).is_none() {
        return Response::error(404, &format!("no agent '{id}'"));
    }
    let offers = orchestration.offers_mut();
    if let Err(full) = offers.check_room() {
        return Response::error(503, &full);
    }
    let events = offers.open(id).into_stream();
    Response::stream(200, BodyStream::new(events))
        .with_header("Content-Type", "text/event-stream")
        .with_header("Cache-Control", "no-cache")
}

fn statistics(shard: &Shard, body: &Map<String, Json>) -> Response {
    let orchestration = shard.orchestration.as_ref().expect("the routing shard");
    let Some(targets) = body.get("targets").and_then(Json::as_str) else {
        return Response::error(400, "missing parameter 'targets'");
    };
    let media = body.get("media").and_then(Json::as_str);
    match orchestration.borrow_mut().statistics(targets, media) {
        Ok(stats) => json_response(200, &stats),
        Err(reason) => Response::error(400, &reason),
    }
}

/// An answer to an offer. With `as_agent` (an agent's principal) the answer is that agent's
/// whatever the body says, and the interaction must be offered to or taken by it: another
/// agent's interaction is "no such interaction" to it.
fn offer_answer(
    shard: &Shard,
    id: &str,
    answer: OfferAnswer,
    as_agent: Option<&str>,
    body: &Map<String, Json>,
    now_ms: u64,
) -> Response {
    let orchestration = shard.orchestration.as_ref().expect("the routing shard");
    let Some(id) = InteractionId::parse(id) else {
        return Response::error(404, "no such interaction");
    };
    let mut orchestration = orchestration.borrow_mut();
    if let Some(agent) = as_agent {
        if orchestration.interaction_agent(id) != Some(agent) {
            return Response::error(404, "no such interaction");
        }
    }
    let agent = as_agent.or_else(|| body.get("agent").and_then(Json::as_str));
    let answered = match (answer, agent) {
        (OfferAnswer::Complete, _) => orchestration.complete(id, now_ms),
        (_, None) => return Response::error(400, "missing parameter 'agent'"),
        (OfferAnswer::Accept, Some(agent)) => orchestration.accept(id, agent, now_ms),
        (OfferAnswer::Reject, Some(agent)) => orchestration.reject(id, agent, now_ms),
    };
    match answered {
        Ok(json) => json_response(200, &json),
        Err(e) => refusal(e),
    }
}

/// Reads `POST /interactions`: `{"media", "entry_point", "customer": {"id", "ani",
/// "email", "phone"}, "data": {...}}`.
fn new_interaction(body: &Map<String, Json>) -> Result<NewInteraction, Refusal> {
    let bad = |reason: &str| Refusal {
        status: 400,
        reason: reason.to_owned(),
    };
    for name in body.keys() {
        if !matches!(
            name.as_str(),
            "media" | "entry_point" | "customer" | "data" | "params"
        ) {
            let reason =
                format!("unknown field '{name}' (media, entry_point, customer, data, params)");
            return Err(bad(&reason));
        }
    }
    let text = |name: &str| body.get(name).and_then(Json::as_str).map(str::to_owned);
    let media = text("media").ok_or_else(|| bad("missing field 'media'"))?;
    let entry_point = text("entry_point").ok_or_else(|| bad("missing field 'entry_point'"))?;
    let customer = match body.get("customer") {
        None => Customer::default(),
        Some(Json::Object(customer)) => {
            let field = |name: &str| match customer.get(name) {
                None | Some(Json::Null) => Ok(None),
                Some(Json::String(text)) => Ok(Some(text.clone())),
                Some(Json::Number(n)) => Ok(Some(n.to_string())),
                Some(_) => Err(bad(&format!("customer.{name} must be a string"))),
            };
            Customer {
                id: field("id")?,
                ani: field("ani")?,
                email: field("email")?,
                phone: field("phone")?,
            }
        }
        Some(_) => return Err(bad("customer must be an object")),
    };
    let data = match body.get("data") {
        None | Some(Json::Null) => Map::new(),
        Some(Json::Object(data)) => data.clone(),
        Some(_) => return Err(bad("data must be an object of key-value pairs")),
    };
    Ok(NewInteraction {
        media,
        entry_point,
        customer,
        data,
    })
}

/// `POST /interactions`: admits the interaction, joining the customer's conversation or
/// starting the entry point's application; answers 201 with both ids.
async fn create(shard: &Rc<Shard>, body: Map<String, Json>) -> Response {
    let orchestration = shard.orchestration.as_ref().expect("the routing shard");
    let new = match new_interaction(&body) {
        Ok(new) => new,
        Err(e) => return refusal(e),
    };
    // `params` initialise a new session's `<data>` (a conversation joined keeps its own).
    let params: Vec<(Box<str>, Value)> = match body.get("params") {
        None | Some(Json::Null) => Vec::new(),
        Some(Json::Object(params)) => params
            .iter()
            .map(|(name, value)| (name.as_str().into(), Value::from_json(value)))
            .collect(),
        Some(_) => return Response::error(400, "params must be an object"),
    };
    let application = orchestration
        .borrow()
        .entry_application(&new.entry_point, &new.media);
    let application = match application {
        Ok(application) => shard.application_src(application),
        Err(e) => return refusal(e),
    };
    // The document first (it may be fetched): no borrow is held across the await, and
    // admission below is synchronous, so two interactions of one customer cannot both
    // start a conversation.
    let opened = shard.documents.open(&shard.host, &application, None).await;
    let doc = match opened {
        Ok(doc) => doc,
        Err(e) => return Response::error(e.status(), &e.to_string()),
    };
    let admitted = admit_and_start(shard, new, params, doc, |_, _| {});
    let (id, session, joined) = match admitted {
        Ok(admitted) => admitted,
        Err(e) => return refusal(e),
    };
    pump(shard);
    let body = json!({"interaction": id.to_string(), "session": session, "joined": joined});
    json_response(201, &body)
}

/// Admits `new` (joining the customer's conversation or starting `doc` with `params`) and
/// answers the interaction, its session and whether it joined. `on_admit` runs on the
/// orchestration as soon as the interaction exists, before its session can run a step.
pub fn admit_and_start(
    shard: &Shard,
    new: NewInteraction,
    params: Vec<(Box<str>, Value)>,
    doc: Rc<engine::model::Document>,
    on_admit: impl FnOnce(&mut Orchestration, InteractionId),
) -> Result<(InteractionId, Box<str>, bool), Refusal> {
    let orchestration = shard.orchestration.as_ref().expect("the routing shard");
    let admitted = orchestration.borrow_mut().admit(new, epoch_ms_now())?;
    let id = match &admitted {
        Admitted::Joined { id, .. } | Admitted::Start { id } => *id,
    };
    on_admit(&mut orchestration.borrow_mut(), id);
    let session = match admitted {
        Admitted::Joined { id, session } => return Ok((id, session, true)),
        Admitted::Start { .. } => {
            let value = orchestration.borrow().interaction_json(id);
            let seed = single_interaction(id, value);
            let interactions = [(INTERACTIONS_VARIABLE, seed)];
            let started = shard
                .host
                .borrow_mut()
                .start_session_with(doc, params, &interactions);
            match started {
                Ok(session) => session,
                Err(e) => {
                    orchestration.borrow_mut().discard(id);
                    return Err(Refusal {
                        status: 503,
                        reason: e.to_string(),
                    });
                }
            }
        }
    };
    orchestration.borrow_mut().bind(id, &session);
    shard.metrics.session_started();
    Ok((id, session.into(), false))
}

/// `_interactions` of a new session before its interaction is bound to it.
fn single_interaction(id: InteractionId, interaction: Json) -> Value {
    let mut map = Map::new();
    map.insert(id.to_string(), interaction);
    Value::from_json(&Json::Object(map))
}

/// Hands what the orchestration left to do to the host (events, `_interactions`) and to
/// the job runner, then wakes the driver. Called after every orchestration call.
pub fn pump(shard: &Rc<Shard>) {
    let Some(orchestration) = shard.orchestration.as_ref() else {
        return;
    };
    let outbox = orchestration.borrow_mut().take_outbox();
    if outbox.is_empty() {
        return;
    }
    {
        let orchestration = orchestration.borrow();
        let mut host = shard.host.borrow_mut();
        for session in &outbox.refresh {
            if !host.reads_host_value(session, INTERACTIONS_VARIABLE) {
                continue;
            }
            let value = orchestration.interactions_value(session);
            host.set_host_value(session, INTERACTIONS_VARIABLE, value);
        }
        for (session, event) in outbox.events {
            // A session that ended meanwhile, or whose queue is full, misses the event.
            if host.send_event(&session, event).is_err() {
                shard.metrics.mesh_event_dropped();
            }
        }
    }
    for job in outbox.jobs {
        jobs::spawn(shard, job);
    }
    if !outbox.calls.is_empty() {
        shard.call_orders.borrow_mut().extend(outbox.calls);
        let sip = shard.sip.borrow().clone();
        if let Some(sip) = sip {
            sip.answer_calls();
        }
    }
    shard.wake.wake();
}
