//! What each role may do with each route: the table of `docs/security.md`, as code.
//!
//! A principal with any role the route allows is served. The agent role is narrower: it may
//! use the routes of its own agent id only, and its answers and interaction reads are marked
//! with that id ([`RoutingRoute`]'s `as_agent`) so that the routing shard, which knows whom
//! an interaction is offered to, refuses another agent's.

use crate::access::{Principal, Roles};
use crate::config::Role;

use super::route::{Route, RoutingRoute};

const ADMIN: Roles = Roles::of(&[Role::Admin]);
const INTEGRATOR: Roles = Roles::of(&[Role::Admin, Role::Integrator]);
const READER: Roles = Roles::of(&[Role::Admin, Role::Integrator, Role::Supervisor]);
const METRICS: Roles = Roles::of(&[Role::Admin, Role::Supervisor, Role::Metrics]);

/// Why a principal may not do what it asked: 403.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Forbidden {
    /// The roles that would have been allowed, for the message.
    pub allowed: &'static str,
}

impl Forbidden {
    /// The answer's message.
    pub fn reason(self) -> String {
        format!(
            "not allowed for this principal's roles (allowed: {})",
            self.allowed
        )
    }
}

/// Whether `principal` may use `route`; for an agent, marks the route with its agent id.
pub fn authorize(principal: &Principal, route: &mut Route) -> Result<(), Forbidden> {
    let (roles, allowed) = match route {
        Route::Start
        | Route::Event { .. }
        | Route::Request { .. }
        | Route::Query { .. }
        | Route::Terminate { .. }
        | Route::BasicHttp { .. } => (INTEGRATOR, "admin, integrator"),
        Route::Sessions => (READER, "admin, integrator, supervisor"),
        Route::Help | Route::Health => (Roles::ALL, "any"),
        Route::Metrics => (METRICS, "admin, supervisor, metrics"),
        Route::Routing(routing) => return authorize_routing(principal, routing),
    };
    match principal.roles.meets(roles) {
        true => Ok(()),
        false => Err(Forbidden { allowed }),
    }
}

/// Whether `principal` may use the admin endpoints.
pub fn authorize_admin(principal: &Principal) -> Result<(), Forbidden> {
    match principal.roles.meets(ADMIN) {
        true => Ok(()),
        false => Err(Forbidden { allowed: "admin" }),
    }
}

fn authorize_routing(principal: &Principal, route: &mut RoutingRoute) -> Result<(), Forbidden> {
    let (roles, allowed, agent_may) = match route {
        RoutingRoute::Create | RoutingRoute::PutAgent { .. } | RoutingRoute::DeleteAgent { .. } => {
            (INTEGRATOR, "admin, integrator", false)
        }
        RoutingRoute::Statistics => (READER, "admin, integrator, supervisor", false),
        RoutingRoute::Interaction { .. } | RoutingRoute::Agent { .. } => {
            (READER, "admin, integrator, supervisor, the agent", true)
        }
        RoutingRoute::Answer { .. }
        | RoutingRoute::AgentState { .. }
        | RoutingRoute::Offers { .. } => (INTEGRATOR, "admin, integrator, the agent", true),
    };
    if principal.roles.meets(roles) {
        return Ok(());
    }
    let forbidden = Forbidden { allowed };
    let agent = match (&principal.agent, principal.roles.has(Role::Agent)) {
        (Some(agent), true) if agent_may => agent,
        _ => return Err(forbidden),
    };
    match route {
        RoutingRoute::Agent { id }
        | RoutingRoute::AgentState { id }
        | RoutingRoute::Offers { id }
            if id == agent =>
        {
            Ok(())
        }
        RoutingRoute::Interaction { as_agent, .. } | RoutingRoute::Answer { as_agent, .. } => {
            *as_agent = Some(agent.clone());
            Ok(())
        }
        _ => Err(forbidden),
    }
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;

    use super::*;
    use crate::serve::route::OfferAnswer;

    fn principal(roles: &[Role], agent: Option<&str>) -> Principal {
        Principal {
            name: Cow::Borrowed("test"),
            roles: Roles::of(roles),
            agent: agent.map(str::to_owned),
        }
    }

    fn agent_route(id: &str) -> Route {
        Route::Routing(RoutingRoute::Agent { id: id.into() })
    }

    #[test]
    fn each_role_gets_its_routes() {
        let supervisor = principal(&[Role::Supervisor], None);
        assert!(authorize(&supervisor, &mut Route::Sessions).is_ok());
        assert!(authorize(&supervisor, &mut Route::Metrics).is_ok());
        assert!(authorize(&supervisor, &mut Route::Query { id: "s".into() }).is_err());
        assert!(authorize(&supervisor, &mut Route::Start).is_err());
        let metrics = principal(&[Role::Metrics], None);
        assert!(authorize(&metrics, &mut Route::Metrics).is_ok());
        assert!(authorize(&metrics, &mut Route::Sessions).is_err());
        let integrator = principal(&[Role::Integrator], None);
        assert!(authorize(&integrator, &mut Route::Start).is_ok());
        assert!(authorize(&integrator, &mut Route::Metrics).is_err());
        assert!(authorize_admin(&integrator).is_err());
        assert!(authorize_admin(Principal::open()).is_ok());
    }

    #[test]
    fn an_agent_is_confined_to_its_own_id() {
        let alice = principal(&[Role::Agent], Some("alice"));
        assert!(authorize(&alice, &mut agent_route("alice")).is_ok());
        assert!(authorize(&alice, &mut agent_route("bob")).is_err());
        assert!(authorize(&alice, &mut Route::Sessions).is_err());
        let mut create = Route::Routing(RoutingRoute::Create);
        assert!(authorize(&alice, &mut create).is_err());
        let mut answer = Route::Routing(RoutingRoute::Answer {
            id: "1".into(),
            answer: OfferAnswer::Accept,
            as_agent: None,
        });
        assert!(authorize(&alice, &mut answer).is_ok());
        let Route::Routing(RoutingRoute::Answer { as_agent, .. }) = answer else {
            unreachable!("unchanged variant");
        };
        assert_eq!(as_agent.as_deref(), Some("alice"));
        // An integrator's answer is not marked: it may answer for any agent.
        let integrator = principal(&[Role::Integrator], None);
        let mut answer = Route::Routing(RoutingRoute::Answer {
            id: "1".into(),
            answer: OfferAnswer::Complete,
            as_agent: None,
        });
        assert!(authorize(&integrator, &mut answer).is_ok());
        assert!(matches!(
            answer,
            Route::Routing(RoutingRoute::Answer { as_agent: None, .. })
        ));
    }
}
