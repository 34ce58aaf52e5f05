//! The routing shard's jobs: what a strategy's action asked for that takes I/O
//! (`<session:fetch>`, `<ixn:createmessage>`, `<session:start>`), each a task of its own.
//!
//! A job ends in one event to the session that asked, `_event.sendid` and
//! `_event.data.requestid` = the action's id: `session.fetch.done` `{status, body}`,
//! `ixn.createmessage.done` `{status}`, `session.start.done` `{sessionid}`, or
//! `error.<action>` `{reason}`. Jobs in flight are bounded like Basic HTTP sends
//! ([`JOBS_IN_FLIGHT_MAX`]): one past it fails at once with its error event.

use std::rc::Rc;

use engine::event::{Event, EventKind};
use engine::value::Value;
use serde_json::{json, Value as Json};

use super::api::Shard;
use crate::orchestration::{Job, ORIGINTYPE};
use crate::outbound::Url;

/// Most jobs in flight on the routing shard. Cost: a task and an outbound connection each.
pub const JOBS_IN_FLIGHT_MAX: u32 = 4_096;

/// Starts `job` as a task of the shard.
pub fn spawn(shard: &Rc<Shard>, job: Job) {
    let (session, requestid, action) = match &job {
        Job::Fetch {
            session, requestid, ..
        } => (session.clone(), requestid.clone(), "session.fetch"),
        Job::Message {
            session, requestid, ..
        } => (session.clone(), requestid.clone(), "ixn.createmessage"),
        Job::Start {
            session, requestid, ..
        } => (session.clone(), requestid.clone(), "session.start"),
    };
    let in_flight = &shard.jobs_in_flight;
    if in_flight.get() >= JOBS_IN_FLIGHT_MAX {
        let reason = format!("{JOBS_IN_FLIGHT_MAX} jobs are in flight on the routing shard");
        let data = json!({"reason": reason});
        answer(
            shard,
            &session,
            &format!("error.{action}"),
            &requestid,
            data,
        );
        return;
    }
    in_flight.set(in_flight.get() + 1);
    let shard = Rc::clone(shard);
    let task = glommio::spawn_local(async move {
        let outcome = run(&shard, job).await;
        shard.jobs_in_flight.set(shard.jobs_in_flight.get() - 1);
        let (name, data) = match outcome {
            Ok(data) => (format!("{action}.done"), data),
            Err(reason) => (format!("error.{action}"), json!({"reason": reason})),
        };
        answer(&shard, &session, &name, &requestid, data);
    });
    task.detach();
}

async fn run(shard: &Shard, job: Job) -> Result<Json, String> {
    match job {
        Job::Fetch {
            method, url, body, ..
        } => {
            let body = body.map(|body| body.to_string().into_bytes());
            let (status, text) = http(shard, method, &url, body.as_deref()).await?;
            // A JSON answer is handed over parsed; anything else as its text.
            let body = serde_json::from_slice(&text)
                .unwrap_or_else(|_| Json::String(String::from_utf8_lossy(&text).into_owned()));
            match (200..300).contains(&status) {
                true => Ok(json!({"status": status, "body": body})),
                false => Err(format!("{url} answered {status}")),
            }
        }
        Job::Message { url, body, .. } => {
            let body = body.to_string().into_bytes();
            let (status, _) = http(shard, "POST", &url, Some(&body)).await?;
            match (200..300).contains(&status) {
                true => Ok(json!({"status": status})),
                false => Err(format!("the gateway {url} answered {status}")),
            }
        }
        Job::Start {
            src,
            params,
            session,
            ..
        } => start(shard, &src, params, &session).await,
    }
}

async fn http(
    shard: &Shard,
    method: &str,
    url: &str,
    body: Option<&[u8]>,
) -> Result<(u16, Vec<u8>), String> {
    let parsed = Url::parse(url).map_err(|e| format!("bad URL {e}"))?;
    let headers = [
        ("Content-Type", "application/json"),
        ("Accept", "application/json"),
    ];
    let headers = match body {
        Some(_) => &headers[..],
        None => &headers[1..],
    };
    let outbound = shard.documents.outbound();
    let response = outbound
        .request(method, &parsed, headers, body.unwrap_or_default())
        .await
        .map_err(|e| format!("{url}: {e}"))?;
    Ok((response.status, response.body))
}

/// `<session:start>` of session `starter`: the new session joins its tree, bounded by
/// `limits.sessions_per_tree_max`.
async fn start(
    shard: &Shard,
    src: &str,
    params: Vec<(Box<str>, Value)>,
    starter: &str,
) -> Result<Json, String> {
    let src = shard.application_src(src.to_owned());
    let doc = shard
        .documents
        .open(&shard.host, &src, None)
        .await
        .map_err(|e| e.to_string())?;
    let mut host = shard.host.borrow_mut();
    let key = host
        .start_session_by(doc, params, starter)
        .map_err(|e| e.to_string())?;
    let session = host.session_id(key).unwrap_or_default().to_owned();
    drop(host);
    shard.metrics.session_started();
    Ok(json!({"sessionid": session}))
}

/// Queues the job's answer for `session`.
fn answer(shard: &Shard, session: &str, name: &str, requestid: &str, data: Json) {
    let mut data = match data {
        Json::Object(map) => map,
        _ => serde_json::Map::new(),
    };
    data.insert("requestid".into(), Json::String(requestid.into()));
    let mut event = Event::new(name, EventKind::External);
    event.data = Value::from_json(&Json::Object(data));
    event.sendid = Some(requestid.into());
    event.origintype = Some(ORIGINTYPE.into());
    if shard.host.borrow_mut().send_event(session, event).is_ok() {
        shard.wake.wake();
    }
}
