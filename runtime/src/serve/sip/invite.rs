//! A new INVITE: from its routing point to a voice interaction whose strategy runs.

use std::rc::Rc;

use protocols::sip::{StartLine, TxKey};
use serde_json::{json, Map};

use super::calls::Call;
use super::{uri_host, SipEndpoint};
use crate::config::RoutingPointConfig;
use crate::orchestration::{Customer, NewInteraction};
use crate::serve::routing_api::{admit_and_start, pump};

/// What the endpoint reads from the INVITE.
struct Invite {
    number: Option<String>,
    caller: Option<String>,
    host: String,
    data: Map<String, serde_json::Value>,
}

fn read(endpoint: &SipEndpoint, key: TxKey) -> Option<Invite> {
    let transactions = endpoint.transactions.borrow();
    let request = transactions.request(key)?;
    let StartLine::Request { uri, .. } = &request.start else {
        return None;
    };
    let header = |name: &str| request.header(name).unwrap_or_default();
    let sip = json!({
        "call_id": request.call_id(),
        "from": header("From"),
        "to": header("To"),
        "request_uri": uri,
    });
    let mut data = Map::new();
    data.insert("sip".into(), sip);
    Some(Invite {
        number: request.request_user().map(str::to_owned),
        caller: request.from_user().map(str::to_owned),
        host: uri_host(uri).to_owned(),
        data,
    })
}

/// Admits the call of INVITE transaction `key`: finds its routing point, opens the
/// strategy, creates the voice interaction and starts (or joins) its session. A number
/// that is no routing point gets `404`; a bound reached, `503`; a strategy that cannot be
/// opened or started, the default destination.
pub async fn admit(endpoint: Rc<SipEndpoint>, key: TxKey, arrived: std::time::Instant) {
    let now_ms = endpoint.now_ms();
    let Some(invite) = read(&endpoint, key) else {
        return;
    };
    let point = invite.number.as_deref().and_then(|number| {
        let points = endpoint.shard.routing_points.borrow();
        points.iter().find(|p| p.number == number).cloned()
    });
    let Some(point) = point else {
        endpoint.respond(key, 404, &[], now_ms);
        endpoint.flush();
        return;
    };
    let timeout_ms = point
        .route_timeout_ms
        .unwrap_or(endpoint.settings.route_timeout_ms);
    let call = Call::new(
        point.default_destination.clone(),
        invite.host.clone(),
        now_ms + u64::from(timeout_ms),
        arrived,
    );
    endpoint.calls.borrow_mut().insert(key, call);
    if let Err(reason) = Box::pin(start(&endpoint, key, &point, invite)).await {
        refuse(&endpoint, key, reason);
    }
    endpoint.flush();
}

/// Why a call could not be admitted.
enum Refused {
    /// A bound: `503`.
    Full(String),
    /// The strategy cannot run: the default destination.
    Failed(String),
}

async fn start(
    endpoint: &SipEndpoint,
    key: TxKey,
    point: &RoutingPointConfig,
    invite: Invite,
) -> Result<(), Refused> {
    let shard = &endpoint.shard;
    let orchestration = shard.orchestration.as_ref().expect("the routing shard");
    let application = orchestration
        .borrow()
        .entry_application(&point.entry_point, "voice")
        .map_err(|refusal| Refused::Failed(refusal.reason))?;
    let src = shard.application_src(application);
    let doc = shard.documents.open(&shard.host, &src, None).await;
    let doc = doc.map_err(|e| Refused::Failed(e.to_string()))?;
    if endpoint.calls.borrow().get(key).is_none() {
        return Ok(()); // cancelled while the document was opened
    }
    let new = NewInteraction {
        media: "voice".into(),
        entry_point: point.entry_point.clone(),
        customer: Customer {
            id: invite.caller.clone(),
            ani: invite.caller,
            ..Customer::default()
        },
        data: invite.data,
    };
    let admitted = admit_and_start(shard, new, Vec::new(), doc, |orchestration, id| {
        orchestration.call_arrived(id)
    });
    match admitted {
        Ok((id, _, _)) => {
            let bound = endpoint.calls.borrow_mut().bind(key, id);
            assert!(bound, "no await between the check above and here");
            pump(shard);
            Ok(())
        }
        Err(refusal) if refusal.status == 503 => Err(Refused::Full(refusal.reason)),
        Err(refusal) => Err(Refused::Failed(refusal.reason)),
    }
}

fn refuse(endpoint: &SipEndpoint, key: TxKey, refused: Refused) {
    let now_ms = endpoint.now_ms();
    let Some(call) = endpoint.calls.borrow_mut().remove(key) else {
        return;
    };
    match refused {
        Refused::Full(reason) => {
            super::bump(&endpoint.counters.refused);
            let warning = super::warning(&reason);
            let extra = [("Warning", warning.as_str()), ("Retry-After", "5")];
            endpoint.respond(key, 503, &extra, now_ms);
        }
        Refused::Failed(reason) => {
            eprintln!("baton: sip: a call's strategy could not start: {reason}");
            endpoint.default_destination(key, &call, &reason, now_ms);
        }
    }
}
