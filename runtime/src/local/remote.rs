//! Sends to sessions this host does not hold: `#_scxml_<id>` of a session on another shard.
//!
//! A host knows only its own sessions. When a `<send>` names a session id it does not know,
//! it hands the event to its [`Remote`]; the server's implementation routes it by the home
//! shard encoded in the id. The default, [`NoRemote`], answers that no such session exists,
//! which raises `error.communication` in the sender, as for any unknown target.

use engine::effects::{Outgoing, SendError};

/// Where a host sends events for session ids it does not hold.
pub trait Remote {
    /// Whether `id` may name a session elsewhere. Asked when a delayed send is made, so a
    /// send to an id that no host can own fails at once rather than when its timer fires.
    /// Default: true (the event is then offered to [`Remote::send_remote`] when it is due).
    fn reaches(&self, _id: &str) -> bool {
        true
    }

    /// Delivers `out` to the session `id` elsewhere, or says why it cannot. An error raises
    /// `error.communication` in the sender when the send is immediate; a delayed one that
    /// fails is dropped, as a message to a session that has ended would be.
    fn send_remote(&mut self, id: &str, out: Outgoing) -> Result<(), SendError>;
}

/// The default [`Remote`]: a host alone, every unknown id is an unknown target.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoRemote;

impl Remote for NoRemote {
    fn reaches(&self, _id: &str) -> bool {
        false
    }

    fn send_remote(&mut self, id: &str, _out: Outgoing) -> Result<(), SendError> {
        Err(SendError {
            reason: format!("no such target: #_scxml_{id}"),
        })
    }
}
