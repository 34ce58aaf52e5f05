//! `[[access]]` (who may use the HTTP API, and as what) and each listener's `access` mode.
//!
//! An entry names a principal, the roles it holds, and how it proves who it is: the names of
//! a mutual-TLS client certificate (`certificate`), a bearer token stored as its SHA-256
//! (`token_sha256`), or a file of such tokens (`tokens_file`, one principal a line, re-read
//! on every reload). Tokens are never stored in clear: a leaked configuration does not leak
//! them.
//!
//! What it must never do: leave a listener that anyone on the network reaches open by
//! accident. A listener on a non-loopback address must have rules, or say `access = "open"`.

use std::collections::HashSet;
use std::path::PathBuf;

use serde::Deserialize;

use super::{ListenerConfig, Problem, Protocol, Tls};

/// Most `[[access]]` entries: each is compared by name at load, and a deployment needs a few
/// (agents' desktops share one entry through a tokens file).
pub const ACCESS_RULES_MAX: usize = 1_024;

/// A role: a set of operations on the API (see `docs/security.md` for the table).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Everything: reload, every session's datamodel, agents, interactions, metrics.
    Admin,
    /// The session API (start, event, request, query, terminate, list, Basic HTTP) and
    /// interactions and agents (create, read, answer, provision).
    Integrator,
    /// Read-only: the session list, routing statistics, agents and interactions, metrics.
    Supervisor,
    /// One agent's desktop: that agent's profile, state, offer stream, and answers to the
    /// interactions offered to it. Needs `agent`.
    Agent,
    /// `GET /metrics` (and `/health`).
    Metrics,
}

impl Role {
    /// The configuration word.
    pub fn name(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Integrator => "integrator",
            Role::Supervisor => "supervisor",
            Role::Agent => "agent",
            Role::Metrics => "metrics",
        }
    }
}

/// How a listener admits requests.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ListenerAccess {
    /// Not written: `rules` when an `[[access]]` entry applies to the listener, else `open`
    /// on a loopback address; a listener on any other address without rules is refused.
    #[default]
    Auto,
    /// Every request is served, as an administrator: for loopback, or a network that a
    /// firewall already restricts. Must be written out for a non-loopback address.
    Open,
    /// Every request needs a principal from `[[access]]` (401 without one, 403 for an
    /// operation its roles do not allow).
    Rules,
}

/// One `[[access]]` entry.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AccessRule {
    /// The principal's name, shown in the audit log; unique. With `tokens_file`, the name of
    /// the family (each line names its own principal).
    pub name: String,
    /// What the principal may do; at least one. `agent` stands alone.
    pub roles: Vec<Role>,
    /// With the `agent` role: the one agent id the principal acts as. Refused otherwise, and
    /// with `tokens_file` (each line's name is its agent id).
    pub agent: Option<String>,
    /// Listeners the entry applies to, by name (default: every HTTP listener).
    pub listeners: Vec<String>,
    /// A client-certificate name (subject CN, or a DNS, e-mail, URI or IP alternative
    /// name) that identifies the principal on a `tls = "mutual"` listener.
    pub certificate: Option<String>,
    /// The SHA-256 of the principal's bearer token, 64 hex digits (`baton token` makes a
    /// token and its hash). Sent as `Authorization: Bearer TOKEN`.
    pub token_sha256: Option<String>,
    /// A file of tokens, one principal a line: `SHA256-HEX NAME` (`#` starts a comment).
    /// Each principal has this entry's roles; with the `agent` role, NAME is its agent id.
    /// Re-read on every reload, so tokens are added and revoked without a restart.
    pub tokens_file: Option<PathBuf>,
}

/// The mode a listener runs with once `Auto` is resolved.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EffectiveAccess {
    /// Every request served as an administrator.
    Open,
    /// Every request needs a principal.
    Rules,
}

/// Whether `rule` applies to `listener`.
pub fn applies(rule: &AccessRule, listener: &ListenerConfig) -> bool {
    listener.protocol == Protocol::Http
        && (rule.listeners.is_empty() || rule.listeners.contains(&listener.name))
}

/// `listener`'s mode under `rules`; `Err` for a listener that must not run as configured.
pub fn effective(
    listener: &ListenerConfig,
    rules: &[AccessRule],
) -> Result<EffectiveAccess, Problem> {
    let applying = rules.iter().any(|rule| applies(rule, listener));
    let problem = |fault: String| Problem::Access {
        key: format!("listener \"{}\"", listener.name),
        fault,
    };
    match listener.access {
        ListenerAccess::Open => Ok(EffectiveAccess::Open),
        ListenerAccess::Rules if applying => Ok(EffectiveAccess::Rules),
        ListenerAccess::Rules => Err(problem(
            "access = \"rules\" but no [[access]] entry applies to it".into(),
        )),
        ListenerAccess::Auto if applying => Ok(EffectiveAccess::Rules),
        ListenerAccess::Auto if listener.address.ip().is_loopback() => Ok(EffectiveAccess::Open),
        ListenerAccess::Auto => Err(problem(format!(
            "address {} is not loopback and no [[access]] entry applies to it: add \
             [[access]] entries, or write access = \"open\" if a firewall guards it",
            listener.address
        ))),
    }
}

/// Every rule of `[[access]]` and of the listeners' `access` that parsing cannot check.
pub(super) fn validate(rules: &[AccessRule], listeners: &[ListenerConfig]) -> Result<(), Problem> {
    if rules.len() > ACCESS_RULES_MAX {
        return Err(Problem::AboveMax {
            key: "access",
            value: rules.len() as u64,
            max: ACCESS_RULES_MAX as u64,
        });
    }
    let mut names = HashSet::new();
    for (index, rule) in rules.iter().enumerate() {
        let fault = |fault: &str| Problem::Access {
            key: format!("access[{index}]"),
            fault: fault.to_owned(),
        };
        if rule.name.is_empty() {
            return Err(fault("name is empty"));
        }
        if !names.insert(rule.name.as_str()) {
            return Err(fault(&format!("name \"{}\" is used twice", rule.name)));
        }
        validate_rule(rule, listeners).map_err(|text| fault(&text))?;
    }
    for listener in listeners.iter().filter(|l| l.protocol == Protocol::Http) {
        effective(listener, rules)?;
    }
    for listener in listeners.iter().filter(|l| l.protocol == Protocol::Sip) {
        if listener.access != ListenerAccess::Auto {
            return Err(Problem::Access {
                key: format!("listener \"{}\"", listener.name),
                fault: "access is for HTTP listeners; a SIP listener trusts its network \
                        (or mutual TLS)"
                    .into(),
            });
        }
    }
    Ok(())
}

fn validate_rule(rule: &AccessRule, listeners: &[ListenerConfig]) -> Result<(), String> {
    if rule.roles.is_empty() {
        return Err("roles is empty; name at least one".into());
    }
    let agent_role = rule.roles.contains(&Role::Agent);
    if agent_role && rule.roles.len() > 1 {
        return Err("the agent role stands alone (an agent's desktop gets nothing else)".into());
    }
    match (agent_role, &rule.agent, &rule.tokens_file) {
        (true, None, None) => return Err("the agent role needs agent = \"ID\"".into()),
        (true, Some(_), Some(_)) => {
            return Err("agent is set with tokens_file: each line's name is its agent".into())
        }
        (false, Some(_), _) => return Err("agent is set without the agent role".into()),
        _ => {}
    }
    if matches!(&rule.agent, Some(agent) if agent.is_empty()) {
        return Err("agent is empty".into());
    }
    let proofs = [
        rule.certificate.is_some(),
        rule.token_sha256.is_some(),
        rule.tokens_file.is_some(),
    ];
    if proofs.iter().filter(|&&set| set).count() != 1 {
        return Err("needs exactly one of certificate, token_sha256, tokens_file".into());
    }
    if let Some(hash) = &rule.token_sha256 {
        parse_sha256(hash).ok_or("token_sha256 is not 64 hex digits")?;
    }
    if matches!(&rule.certificate, Some(name) if name.is_empty()) {
        return Err("certificate is empty".into());
    }
    for name in &rule.listeners {
        let Some(listener) = listeners.iter().find(|l| l.name == *name) else {
            return Err(format!(
                "listeners names \"{name}\", which is not a [[listener]]"
            ));
        };
        if listener.protocol != Protocol::Http {
            return Err(format!("listeners names \"{name}\", a SIP listener"));
        }
        if rule.certificate.is_some() && listener.tls != Tls::Mutual {
            return Err(format!(
                "certificate on listener \"{name}\", which does not ask for client \
                 certificates (tls = \"mutual\")"
            ));
        }
    }
    Ok(())
}

/// The 32 bytes of a SHA-256 written as 64 hex digits (either case).
pub fn parse_sha256(hex: &str) -> Option<[u8; 32]> {
    let bytes = hex.as_bytes();
    if bytes.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (index, pair) in bytes.chunks_exact(2).enumerate() {
        let digit = |byte: u8| char::from(byte).to_digit(16);
        out[index] = u8::try_from(digit(pair[0])? * 16 + digit(pair[1])?).ok()?;
    }
    Some(out)
}
