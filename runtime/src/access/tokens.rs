//! Principals from `[[access]]` entries: a certificate name, a token hash, or a tokens file
//! of `SHA256-HEX NAME` lines, read bounded.

use std::io::Read;
use std::sync::Arc;

use super::{AccessError, ListenerPolicy, Principal, Roles};
use crate::config::{parse_sha256, AccessRule, Role};

/// Largest tokens file, in bytes: 16 MiB holds about 200,000 desktops' tokens; a larger
/// file is refused rather than read (it is re-read on every reload).
pub const TOKENS_FILE_BYTES_MAX: u64 = 16 << 20;

/// The SHA-256 of `bytes`.
pub fn sha256(bytes: &[u8]) -> [u8; 32] {
    let digest = ring::digest::digest(&ring::digest::SHA256, bytes);
    let mut out = [0u8; 32];
    out.copy_from_slice(digest.as_ref());
    out
}

/// The SHA-256 of `token` as 64 lowercase hex digits, as `token_sha256` and tokens files
/// write it.
pub fn token_hash_hex(token: &str) -> String {
    sha256(token.as_bytes())
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

/// The credentials of one `[[access]]` entry and the principals they identify.
#[derive(Debug, Default)]
pub(super) struct Family {
    tokens: Vec<([u8; 32], Arc<Principal>)>,
    certificates: Vec<(String, Arc<Principal>)>,
}

impl Family {
    /// Adds the family's credentials to `policy` of `listener`; a credential already there
    /// for another principal is refused (which one would a request be?).
    pub(super) fn add_to(
        &self,
        policy: &mut ListenerPolicy,
        listener: &str,
    ) -> Result<(), AccessError> {
        for (hash, principal) in &self.tokens {
            if let Some(other) = policy.tokens.insert(*hash, Arc::clone(principal)) {
                let credential = format!("token_sha256 {}", hex(hash));
                return Err(ambiguous(listener, credential, &other, principal));
            }
        }
        for (name, principal) in &self.certificates {
            if let Some(other) = policy
                .certificates
                .insert(name.clone(), Arc::clone(principal))
            {
                let credential = format!("certificate \"{name}\"");
                return Err(ambiguous(listener, credential, &other, principal));
            }
        }
        Ok(())
    }
}

fn ambiguous(
    listener: &str,
    credential: String,
    first: &Principal,
    second: &Principal,
) -> AccessError {
    AccessError::Ambiguous {
        listener: listener.to_owned(),
        credential,
        principals: (first.name.to_string(), second.name.to_string()),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// The principals `rule` names (its tokens file read now). `rule` is validated.
pub(super) fn principals(rule: &AccessRule) -> Result<Family, AccessError> {
    let roles = Roles::of(&rule.roles);
    let principal = |name: &str, agent: Option<String>| {
        Arc::new(Principal {
            name: name.to_owned().into(),
            roles,
            agent,
        })
    };
    let mut family = Family::default();
    if let Some(name) = &rule.certificate {
        let one = principal(&rule.name, rule.agent.clone());
        family.certificates.push((name.clone(), one));
    }
    if let Some(hash) = rule.token_sha256.as_deref().and_then(parse_sha256) {
        family
            .tokens
            .push((hash, principal(&rule.name, rule.agent.clone())));
    }
    if let Some(path) = &rule.tokens_file {
        let text = read_bounded(path)?;
        let agents = rule.roles.contains(&Role::Agent);
        for (index, line) in text.lines().enumerate() {
            let number = u32::try_from(index + 1).unwrap_or(u32::MAX);
            let fault = |fault| AccessError::Line {
                path: path.clone(),
                line: number,
                fault,
            };
            let Some((hash, name)) = token_line(line).map_err(fault)? else {
                continue;
            };
            let agent = agents.then(|| name.to_owned());
            family.tokens.push((hash, principal(name, agent)));
        }
    }
    Ok(family)
}

/// One tokens-file line: `None` for a blank or comment line.
fn token_line(line: &str) -> Result<Option<([u8; 32], &str)>, &'static str> {
    let line = line.split('#').next().unwrap_or_default().trim();
    if line.is_empty() {
        return Ok(None);
    }
    let mut fields = line.split_whitespace();
    let hash = fields.next().and_then(parse_sha256);
    let hash = hash.ok_or("expected SHA256-HEX NAME: the hash is not 64 hex digits")?;
    let name = fields
        .next()
        .ok_or("expected SHA256-HEX NAME: the name is missing")?;
    if fields.next().is_some() {
        return Err("expected SHA256-HEX NAME: more than two fields");
    }
    Ok(Some((hash, name)))
}

/// The file's text, refusing anything that is not a regular file under the bound.
fn read_bounded(path: &std::path::Path) -> Result<String, AccessError> {
    let refuse = |reason: String| AccessError::Read {
        path: path.to_path_buf(),
        reason,
    };
    let file = std::fs::File::open(path).map_err(|e| refuse(e.to_string()))?;
    let metadata = file.metadata().map_err(|e| refuse(e.to_string()))?;
    if !metadata.is_file() {
        return Err(refuse("not a regular file".into()));
    }
    let mut text = String::new();
    let mut bounded = file.take(TOKENS_FILE_BYTES_MAX + 1);
    bounded
        .read_to_string(&mut text)
        .map_err(|e| refuse(e.to_string()))?;
    if text.len() as u64 > TOKENS_FILE_BYTES_MAX {
        return Err(refuse(format!("larger than {TOKENS_FILE_BYTES_MAX} bytes")));
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_lines() {
        let hash = token_hash_hex("secret");
        assert_eq!(
            hash,
            "2bb80d537b1da3e38bd30361aa855686bde0eacd7162fef6a25fe97bf527a25b"
        );
        let line = format!("{hash} alice  # Alice's desktop");
        let (parsed, name) = token_line(&line).unwrap().unwrap();
        assert_eq!(parsed, sha256(b"secret"));
        assert_eq!(name, "alice");
        assert_eq!(token_line("  # only a comment"), Ok(None));
        assert!(token_line("abc alice").is_err());
        assert!(token_line(&hash).is_err());
        assert!(token_line(&format!("{hash} alice extra")).is_err());
    }
}
