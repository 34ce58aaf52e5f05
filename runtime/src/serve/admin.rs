//! The handler of one listener: who is asking ([`ListenerPolicy::authenticate`]), then the
//! session API ([`SessionApi`]), or the admin endpoints (`POST /admin/reload`) when the
//! listener has `admin = true` and the principal the `admin` role.
//!
//! A request without a principal is refused before its path is even looked at (401, or 403
//! for a client certificate mapped to none), so an unauthenticated client learns nothing of
//! which paths or sessions exist. Every refusal and every admin action is audited
//! ([`super::audit`]). The policy is swapped by reloads and read per request, so revoking a
//! token applies to connections already open.
//!
//! Admin paths are recognised by their `/admin` prefix before anything else, so the session
//! API pays one prefix comparison for them. On a listener without `admin`, they answer 403:
//! a customer-facing listener must not let its clients reconfigure the server. The flag is
//! read per request, so a reload that revokes it applies to connections already open too.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::Arc;
use std::time::Instant;

use protocols::http::server::{Handler, Peer};
use protocols::http::{Request, Response};
use serde_json::{json, Value};

use super::answer::{json_response, route_error};
use super::api::{SessionApi, Shard};
use super::authorize::authorize_admin;
use super::reload::{Applied, Origin, Refusal, ReloadHandle};
use super::route::{admin_route, is_admin_path, AdminRoute, RouteKind};
use crate::access::{ListenerPolicy, Principal};
use crate::config::{ListenerConfig, ReloadPlan};

/// What one listener on one shard answers.
pub struct ListenerHandler {
    api: SessionApi,
    shard: Rc<Shard>,
    shard_id: u16,
    name: String,
    admin: Cell<bool>,
    policy: RefCell<Arc<ListenerPolicy>>,
    reload: ReloadHandle,
}

impl ListenerHandler {
    /// The handler of `listener` on shard `shard_id`, serving `shard`'s sessions to the
    /// principals `policy` admits.
    pub fn new(
        shard: Rc<Shard>,
        listener: &ListenerConfig,
        policy: Arc<ListenerPolicy>,
        shard_id: u16,
        reload: ReloadHandle,
    ) -> ListenerHandler {
        ListenerHandler {
            api: SessionApi::new(Rc::clone(&shard)),
            shard,
            shard_id,
            name: listener.name.clone(),
            admin: Cell::new(listener.admin),
            policy: RefCell::new(policy),
            reload,
        }
    }

    /// Allows or refuses the admin endpoints from the next request on.
    pub fn set_admin(&self, admin: bool) {
        self.admin.set(admin);
    }

    /// Judges requests by `policy` from the next request on.
    pub fn set_policy(&self, policy: Arc<ListenerPolicy>) {
        *self.policy.borrow_mut() = policy;
    }

    async fn admin(&self, request: &Request, peer: &Peer, principal: &Principal) -> Response {
        if !self.admin.get() {
            let reason = "the admin endpoints are not served on this listener \
                          (listener key admin = false)";
            return self.refuse(request, peer, Some(principal), 403, reason);
        }
        if let Err(forbidden) = authorize_admin(principal) {
            let reason = forbidden.reason();
            return self.refuse(request, peer, Some(principal), 403, &reason);
        }
        let response = match admin_route(request.method(), request.path()) {
            Ok(AdminRoute::Reload) => self.reload().await,
            Err(e) => route_error(e),
        };
        let audit = &self.shard.audit;
        audit.admin_action(&self.name, peer, &principal.name, request, response.status);
        response
    }

    /// A refusal, audited and counted: `principal` is `None` when there is none.
    fn refuse(
        &self,
        request: &Request,
        peer: &Peer,
        principal: Option<&Principal>,
        status: u16,
        reason: &str,
    ) -> Response {
        let name = principal.map(|p| &*p.name);
        let audit = &self.shard.audit;
        audit.refusal(&self.name, peer, name, request, status, reason);
        self.shard.metrics.access_refused(principal.is_none());
        let response = Response::error(status, reason);
        match status {
            401 => response.with_header("WWW-Authenticate", "Bearer realm=\"baton\""),
            _ => response,
        }
    }

    async fn reload(&self) -> Response {
        let origin = Origin::Admin {
            shard: self.shard_id,
            listener: self.name.clone(),
        };
        match self.reload.reload(origin).await {
            Ok(applied) => json_response(200, &applied_json(&applied)),
            Err(refusal) => json_response(refusal.status(), &refusal_json(&refusal)),
        }
    }
}

impl Handler for ListenerHandler {
    async fn handle(&self, request: &Request, peer: &Peer) -> Response {
        // One reference count per request; the policy a reload replaces lives on until
        // the requests judged by it are answered.
        let policy = Arc::clone(&self.policy.borrow());
        let authorization = request.header("authorization");
        let principal = match policy.authenticate(authorization, peer) {
            Ok(principal) => principal,
            Err(refused) => {
                let reason = refused.to_string();
                return self.refuse(request, peer, None, refused.status(), &reason);
            }
        };
        if !is_admin_path(request.path()) {
            return match self.api.handle_as(request, principal).await {
                Ok(response) => response,
                Err(forbidden) => {
                    let reason = forbidden.reason();
                    self.refuse(request, peer, Some(principal), 403, &reason)
                }
            };
        }
        let started = Instant::now();
        let response = self.admin(request, peer, principal).await;
        let metrics = &self.shard.metrics;
        metrics.request(RouteKind::Admin, response.status, started);
        response
    }
}

/// The answer to an applied reload: what changed and what to know.
pub fn applied_json(applied: &Applied) -> Value {
    json!({
        "reloaded": true,
        "generation": applied.generation,
        "source": applied.source,
        "summary": applied.plan.to_string(),
        "changes": plan_json(&applied.plan),
        "certificates_reloaded": applied.certificates_reloaded,
        "restart_required": applied.plan.restart_required,
        "warnings": applied.warnings,
    })
}

fn plan_json(plan: &ReloadPlan) -> Value {
    let changed: Vec<Value> = plan
        .listeners_changed
        .iter()
        .map(|change| {
            json!({
                "name": change.name,
                "address": change.address,
                "protocol": change.protocol,
                "tls": change.tls,
            })
        })
        .collect();
    json!({
        "listeners_added": plan.listeners_added,
        "listeners_removed": plan.listeners_removed,
        "listeners_changed": changed,
        "certificates_changed": plan.certificates_changed,
        "admin_changed": plan.admin_changed,
        "access_changed": plan.access_changed,
        "limits_changed": plan.limits_changed,
        "application_changed": plan.application_changed,
        "entry_points_changed": plan.entry_points_changed,
    })
}

/// The answer to a refused reload: `{"error", "status", "reloaded": false}`, plus the bind
/// failures one by one when shards could not bind.
pub fn refusal_json(refusal: &Refusal) -> Value {
    let mut body = json!({
        "error": refusal.to_string(),
        "status": refusal.status(),
        "reloaded": false,
    });
    if let Refusal::Bind(failures) = refusal {
        let failures: Vec<Value> = failures
            .iter()
            .map(|failure| {
                json!({
                    "listener": failure.listener,
                    "shard": failure.shard,
                    "address": failure.address.to_string(),
                    "error": failure.error,
                })
            })
            .collect();
        body["failures"] = Value::Array(failures);
    }
    body
}
