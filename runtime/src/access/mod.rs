//! Who is asking: each HTTP request's principal, from a bearer token or a mutual-TLS client
//! certificate, under its listener's [`ListenerPolicy`].
//!
//! What it does: [`Policies::load`] turns `[[access]]` (and the tokens files it names) into
//! one immutable policy per listener, at start and on every reload, shared by every shard;
//! [`ListenerPolicy::authenticate`] finds a request's [`Principal`]. What a principal may do
//! with a route is decided in `serve::authorize`, next to the routes.
//!
//! What it must never do: keep a token in clear (only SHA-256s are held, compared by
//! hash-table look-up), or answer a request on a rules listener without a principal.
//! An open listener (loopback, or `access = "open"`) serves every request as
//! [`Principal::open`], an administrator.

mod tokens;

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use protocols::http::server::Peer;

use crate::config::{access_applies, effective_access, Config, EffectiveAccess, Role};

pub use tokens::{sha256, token_hash_hex, TOKENS_FILE_BYTES_MAX};

/// A set of roles, one bit each.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Roles(u8);

impl Roles {
    /// Every role.
    pub const ALL: Roles = Roles(0b1_1111);

    /// The set of `roles`.
    pub const fn of(roles: &[Role]) -> Roles {
        let mut bits = 0;
        let mut index = 0;
        while index < roles.len() {
            bits |= Roles::bit(roles[index]);
            index += 1;
        }
        Roles(bits)
    }

    const fn bit(role: Role) -> u8 {
        match role {
            Role::Admin => 1,
            Role::Integrator => 2,
            Role::Supervisor => 4,
            Role::Agent => 8,
            Role::Metrics => 16,
        }
    }

    /// Whether the set holds `role`.
    pub fn has(self, role: Role) -> bool {
        self.0 & Roles::bit(role) != 0
    }

    /// Whether the two sets share a role.
    pub fn meets(self, other: Roles) -> bool {
        self.0 & other.0 != 0
    }
}

/// Who a request comes from, and what it may be.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Principal {
    /// The `[[access]]` name (or tokens-file line name), for the audit log.
    pub name: Cow<'static, str>,
    /// What it may do.
    pub roles: Roles,
    /// The one agent it acts as, with the agent role.
    pub agent: Option<String>,
}

/// The principal of every request on an open listener.
static OPEN: Principal = Principal {
    name: Cow::Borrowed("open listener"),
    roles: Roles::ALL,
    agent: None,
};

impl Principal {
    /// The principal of an open listener: an administrator, by configuration.
    pub fn open() -> &'static Principal {
        &OPEN
    }
}

/// Why a request has no principal.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Unauthenticated {
    /// Neither a token nor a client certificate: 401.
    NoCredentials,
    /// `Authorization` is not `Bearer TOKEN`: 401.
    NotBearer,
    /// A bearer token no principal has: 401.
    UnknownToken,
    /// A verified client certificate none of whose names a principal has: 403.
    UnknownCertificate {
        /// The certificate's first name, for the audit log.
        name: String,
    },
}

impl Unauthenticated {
    /// The HTTP status: 403 when TLS did identify the client, else 401.
    pub fn status(&self) -> u16 {
        match self {
            Unauthenticated::UnknownCertificate { .. } => 403,
            _ => 401,
        }
    }
}

impl fmt::Display for Unauthenticated {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Unauthenticated::NoCredentials => write!(
                f,
                "authentication required: send Authorization: Bearer TOKEN, or a client \
                 certificate on a mutual-TLS listener"
            ),
            Unauthenticated::NotBearer => write!(f, "Authorization must be Bearer TOKEN"),
            Unauthenticated::UnknownToken => write!(f, "the bearer token is not valid"),
            Unauthenticated::UnknownCertificate { name } => write!(
                f,
                "the client certificate ({name}) is not mapped to a principal"
            ),
        }
    }
}

/// One listener's access: open, or the principals that may use it.
#[derive(Debug, Default)]
pub struct ListenerPolicy {
    open: bool,
    tokens: HashMap<[u8; 32], Arc<Principal>>,
    certificates: HashMap<String, Arc<Principal>>,
}

impl ListenerPolicy {
    /// A policy that serves everyone as [`Principal::open`].
    pub fn open() -> ListenerPolicy {
        ListenerPolicy {
            open: true,
            ..ListenerPolicy::default()
        }
    }

    /// Whether every request is served without credentials.
    pub fn is_open(&self) -> bool {
        self.open
    }

    /// The principal of a request with `authorization` (the header's value, if any) from
    /// `peer`. A token, when sent, decides alone: a wrong token is refused even from a
    /// client whose certificate would do, so a client never runs as someone it did not ask
    /// to be.
    pub fn authenticate(
        &self,
        authorization: Option<&[u8]>,
        peer: &Peer,
    ) -> Result<&Principal, Unauthenticated> {
        if self.open {
            return Ok(Principal::open());
        }
        if let Some(value) = authorization {
            let token = bearer_token(value).ok_or(Unauthenticated::NotBearer)?;
            let found = self.tokens.get(&sha256(token));
            return found.map(|p| &**p).ok_or(Unauthenticated::UnknownToken);
        }
        let Some(first) = peer.certificate_names.first() else {
            return Err(Unauthenticated::NoCredentials);
        };
        let names = peer.certificate_names.iter();
        let mut found = names.filter_map(|name| self.certificates.get(name));
        found
            .next()
            .map(|p| &**p)
            .ok_or_else(|| Unauthenticated::UnknownCertificate {
                name: first.clone(),
            })
    }
}

/// `TOKEN` of `Bearer TOKEN` (the scheme in any case, RFC 7235), without surrounding space.
fn bearer_token(value: &[u8]) -> Option<&[u8]> {
    let scheme = value.get(..7)?;
    if !scheme.eq_ignore_ascii_case(b"bearer ") {
        return None;
    }
    let token = value[7..].trim_ascii();
    (!token.is_empty()).then_some(token)
}

/// Why the access rules could not be loaded (a tokens file): the start or reload is
/// refused, naming the file.
#[derive(Debug)]
#[non_exhaustive]
pub enum AccessError {
    /// A tokens file could not be read, or is larger than [`TOKENS_FILE_BYTES_MAX`].
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// A tokens file line is not `SHA256-HEX NAME`.
    Line {
        /// The file.
        path: PathBuf,
        /// 1-based line.
        line: u32,
        /// What is wrong.
        fault: &'static str,
    },
    /// One token hash or certificate name given to two principals of one listener.
    Ambiguous {
        /// The listener.
        listener: String,
        /// The hash (hex) or certificate name.
        credential: String,
        /// The two principals.
        principals: (String, String),
    },
}

impl fmt::Display for AccessError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AccessError::Read { path, reason } => write!(f, "{}: {reason}", path.display()),
            AccessError::Line { path, line, fault } => {
                write!(f, "{}:{line}: {fault}", path.display())
            }
            AccessError::Ambiguous {
                listener,
                credential,
                principals: (first, second),
            } => write!(
                f,
                "listener \"{listener}\": credential {credential} is given to both \
                 \"{first}\" and \"{second}\""
            ),
        }
    }
}

impl std::error::Error for AccessError {}

/// Every listener's policy, in listener order.
pub struct Policies;

impl Policies {
    /// Reads the tokens files of `config` and builds each listener's policy (SIP listeners
    /// get an open policy that nothing consults). `config` is validated.
    pub fn load(config: &Config) -> Result<Vec<Arc<ListenerPolicy>>, AccessError> {
        let mut families = Vec::with_capacity(config.access.len());
        for rule in &config.access {
            families.push(tokens::principals(rule)?);
        }
        let mut policies = Vec::with_capacity(config.listeners.len());
        for listener in &config.listeners {
            // A validated configuration resolves every listener; were one not to, it would
            // get rules with no principal, refusing everything rather than serving anyone.
            let mode = effective_access(listener, &config.access);
            if mode == Ok(EffectiveAccess::Open) {
                policies.push(Arc::new(ListenerPolicy::open()));
                continue;
            }
            let mut policy = ListenerPolicy::default();
            let rules = config.access.iter().zip(&families);
            for (_, family) in rules.filter(|(rule, _)| access_applies(rule, listener)) {
                family.add_to(&mut policy, &listener.name)?;
            }
            policies.push(Arc::new(policy));
        }
        Ok(policies)
    }
}
