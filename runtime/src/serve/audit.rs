//! The audit log: one stderr line for every administrative action and every refused
//! request, naming the listener, the peer, the principal and the outcome.
//!
//! Refusals come from anyone who reaches a port, so they are rate-limited per shard (at
//! most [`REFUSALS_LOGGED_PER_SECOND_MAX`] lines a second, then a count of those left out)
//! and counted in `/metrics` regardless. Administrative actions come from authenticated
//! administrators and are never left out.

use std::fmt::Write as _;

use protocols::http::server::Peer;
use protocols::http::Request;

use super::log_rate::LogRate;

/// Refusals logged per shard per second at most; the rest are counted.
pub const REFUSALS_LOGGED_PER_SECOND_MAX: u32 = 20;

/// Longest request path written to the log, in characters; a longer one is cut.
const PATH_LOGGED_CHARS_MAX: usize = 200;

/// One shard's audit log.
pub struct Audit {
    shard: u16,
    refusals: LogRate,
}

impl Audit {
    /// The audit log of `shard`.
    pub fn new(shard: u16) -> Audit {
        Audit {
            shard,
            refusals: LogRate::new(REFUSALS_LOGGED_PER_SECOND_MAX),
        }
    }

    /// Logs an administrative request and its status.
    pub fn admin_action(
        &self,
        listener: &str,
        peer: &Peer,
        principal: &str,
        request: &Request,
        status: u16,
    ) {
        let line = self.line(listener, peer, Some(principal), request);
        eprintln!("{line} -> {status}");
    }

    /// Logs a refused request (`principal` is `None` when none was found), within the rate.
    pub fn refusal(
        &self,
        listener: &str,
        peer: &Peer,
        principal: Option<&str>,
        request: &Request,
        status: u16,
        reason: &str,
    ) {
        let shard = self.shard;
        let admitted = self.refusals.admit(|left_out| {
            eprintln!("baton: audit: shard {shard}: {left_out} more refusals not logged");
        });
        if !admitted {
            return;
        }
        let line = self.line(listener, peer, principal, request);
        eprintln!("{line} -> {status} refused: {reason}");
    }

    fn line(
        &self,
        listener: &str,
        peer: &Peer,
        principal: Option<&str>,
        request: &Request,
    ) -> String {
        let mut line = format!("baton: audit: shard {} listener \"{listener}\"", self.shard);
        match peer.address {
            Some(address) => {
                let _ = write!(line, " peer {address}");
            }
            None => line.push_str(" peer unknown"),
        }
        match principal {
            Some(name) => {
                let _ = write!(line, " principal \"{}\"", name.escape_debug());
            }
            None => line.push_str(" no principal"),
        }
        let _ = write!(line, " {} ", request.method_str().escape_debug());
        // The path is the client's: escaped, so it cannot forge a line, and cut short.
        let path = request.path().chars().take(PATH_LOGGED_CHARS_MAX);
        line.extend(path.flat_map(char::escape_debug));
        line
    }
}
