//! The audit log: one stderr line for every administrative action and every refused
//! request, naming the listener, the peer, the principal and the outcome.
//!
//! Refusals come from anyone who reaches a port, so they are rate-limited per shard (at
//! most [`REFUSALS_LOGGED_PER_SECOND_MAX`] lines a second, then a count of those left out)
//! and counted in `/metrics` regardless. Administrative actions come from authenticated
//! administrators and are never left out.

use std::cell::Cell;
use std::fmt::Write as _;
use std::time::{Duration, Instant};

use protocols::http::server::Peer;
use protocols::http::Request;

/// Refusals logged per shard per second at most; the rest are counted.
pub const REFUSALS_LOGGED_PER_SECOND_MAX: u32 = 20;

/// Longest request path written to the log, in characters; a longer one is cut.
const PATH_LOGGED_CHARS_MAX: usize = 200;

/// One shard's audit log.
pub struct Audit {
    shard: u16,
    window_start: Cell<Instant>,
    window_refusals: Cell<u32>,
}

impl Audit {
    /// The audit log of `shard`.
    pub fn new(shard: u16) -> Audit {
        Audit {
            shard,
            window_start: Cell::new(Instant::now()),
            window_refusals: Cell::new(0),
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
        if !self.admit_refusal() {
            return;
        }
        let line = self.line(listener, peer, principal, request);
        eprintln!("{line} -> {status} refused: {reason}");
    }

    /// Whether one more refusal may be logged in this second; reports the ones left out
    /// of the last window when a new one starts.
    fn admit_refusal(&self) -> bool {
        let now = Instant::now();
        if now.duration_since(self.window_start.get()) >= Duration::from_secs(1) {
            let left_out = self
                .window_refusals
                .get()
                .saturating_sub(REFUSALS_LOGGED_PER_SECOND_MAX);
            if left_out > 0 {
                eprintln!(
                    "baton: audit: shard {}: {left_out} more refusals not logged",
                    self.shard
                );
            }
            self.window_start.set(now);
            self.window_refusals.set(0);
        }
        let count = self.window_refusals.get().saturating_add(1);
        self.window_refusals.set(count);
        count <= REFUSALS_LOGGED_PER_SECOND_MAX
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
