//! Entry points for cargo-fuzz targets in `tests/fuzz/`. Not a public API.

use std::sync::Arc;

use protocols::http::server::Peer;
use protocols::http::Method;

use super::authorize::authorize;
use super::route::{route, Route, RoutingRoute};
use crate::access::{sha256, ListenerPolicy, Policies, Principal};
use crate::config::{Config, Role};

/// Tokens of the principals the fuzzed policy knows: (token, role, agent).
const TOKENS: [(&str, Role, Option<&str>); 3] = [
    ("admin-token", Role::Admin, None),
    ("supervisor-token", Role::Supervisor, None),
    ("alice-token", Role::Agent, Some("alice")),
];

thread_local! {
    /// Built once per thread: parsing a configuration per input would slow fuzzing down.
    static POLICY: Arc<ListenerPolicy> = build_policy();
}

/// The policy of a rules listener with the principals of [`TOKENS`] and a certificate
/// principal `crm` (integrator).
fn build_policy() -> Arc<ListenerPolicy> {
    let mut text = String::from(
        "[[listener]]\nname = \"api\"\naddress = \"127.0.0.1:1\"\naccess = \"rules\"\n\n\
         [[access]]\nname = \"crm\"\nroles = [\"integrator\"]\ncertificate = \"crm\"\n\n",
    );
    for (token, role, agent) in TOKENS {
        let hash: String = sha256(token.as_bytes())
            .iter()
            .map(|byte| format!("{byte:02x}"))
            .collect();
        text += &format!(
            "[[access]]\nname = \"{token}\"\nroles = [\"{}\"]\ntoken_sha256 = \"{hash}\"\n",
            role.name()
        );
        if let Some(agent) = agent {
            text += &format!("agent = \"{agent}\"\n");
        }
        text += "\n";
    }
    let config = Config::from_toml_str(&text, "fuzz").expect("a valid configuration");
    let mut policies = Policies::load(&config).expect("no files to read");
    policies.remove(0)
}

/// The access decision over arbitrary bytes, read as `AUTHORIZATION \n CERT-NAME \n METHOD
/// PATH`: never panics; a principal is found only for a known token or certificate name;
/// and an agent is let through only to its own id or with its answers marked as its own.
pub fn access_decision(data: &[u8]) {
    POLICY.with(|policy| decide(policy, data));
}

fn decide(policy: &ListenerPolicy, data: &[u8]) {
    let mut parts = data.splitn(3, |&byte| byte == b'\n');
    let authorization = parts.next().filter(|value| !value.is_empty());
    let names = parts.next().map(String::from_utf8_lossy);
    let request = String::from_utf8_lossy(parts.next().unwrap_or_default()).into_owned();
    let peer = Peer {
        address: None,
        certificate_names: names.into_iter().map(|name| name.into_owned()).collect(),
    };
    let Ok(principal) = policy.authenticate(authorization, &peer) else {
        return;
    };
    check_principal(principal, authorization, &peer);
    let (method, path) = request.split_once(' ').unwrap_or(("GET", &request));
    let method = match method {
        "GET" => Method::Get,
        "PUT" => Method::Put,
        "DELETE" => Method::Delete,
        _ => Method::Post,
    };
    let Ok(mut route) = route(method, path) else {
        return;
    };
    if authorize(principal, &mut route).is_ok() && principal.roles.has(Role::Agent) {
        check_agent_route(principal, &route);
    }
}

fn check_principal(principal: &Principal, authorization: Option<&[u8]>, peer: &Peer) {
    match authorization {
        Some(value) => {
            let token = value[7..].trim_ascii();
            let known = TOKENS.iter().find(|(t, ..)| t.as_bytes() == token);
            let (name, ..) = known.expect("only a known token finds a principal");
            assert_eq!(principal.name, *name);
        }
        None => {
            assert!(peer.certificate_names.iter().any(|name| name == "crm"));
            assert_eq!(principal.name, "crm");
        }
    }
}

fn check_agent_route(principal: &Principal, route: &Route) {
    let agent = principal
        .agent
        .as_deref()
        .expect("an agent principal has its id");
    match route {
        Route::Routing(
            RoutingRoute::Agent { id }
            | RoutingRoute::AgentState { id }
            | RoutingRoute::Offers { id },
        ) => assert_eq!(id, agent),
        Route::Routing(
            RoutingRoute::Interaction { as_agent, .. } | RoutingRoute::Answer { as_agent, .. },
        ) => assert_eq!(as_agent.as_deref(), Some(agent)),
        Route::Health | Route::Help => {}
        other => panic!("an agent was let through to {other:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The fuzz target's properties over seeded random inputs built from meaningful
    /// pieces (cargo-fuzz explores further; this runs in every test run).
    #[test]
    fn access_decision_holds_over_seeded_inputs() {
        let seed = crate::entropy::random_u64();
        println!("seed {seed}");
        let mut state = seed;
        let mut next = |n: usize| {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (state >> 33) as usize % n
        };
        let headers = [
            "",
            "Bearer admin-token",
            "Bearer alice-token",
            "bearer  alice-token ",
            "Bearer nope",
            "Basic abc",
            "Bearer supervisor-token",
            "Bearer",
        ];
        let names = ["", "crm", "stranger", "crm\u{0}"];
        let methods = ["GET", "POST", "PUT", "DELETE", "PATCH"];
        let paths = [
            "/agents/alice",
            "/agents/bob/state",
            "/agents/alice/offers",
            "/interactions/00000000000000aa/accept",
            "/interactions",
            "/metrics",
            "/scxml/sessions",
            "/scxml/session/x/query",
            "/admin/reload",
            "/health",
            "/agents/al%69ce",
            "/agents/alice/",
            "//agents//alice",
        ];
        for _ in 0..20_000 {
            let input = format!(
                "{}\n{}\n{} {}",
                headers[next(headers.len())],
                names[next(names.len())],
                methods[next(methods.len())],
                paths[next(paths.len())]
            );
            access_decision(input.as_bytes());
        }
    }
}
