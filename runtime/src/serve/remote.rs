//! The SCXML event I/O processor across shards: a `<send target="#_scxml_<id>">` whose
//! session lives on another shard goes over the mesh ([`ShardMsg::Deliver`]) and is queued
//! there by the home shard's inbox ([`super::peer::join`]). The home is a pure function of
//! the id, so no directory is consulted.
//!
//! A refusal is immediate and raises `error.communication` in the sender: a malformed id,
//! an id whose shard does not run, a full channel (back-pressure) or a stopped shard. Once
//! queued, the send has succeeded; a target that has ended meanwhile drops the event, as a
//! local delayed send to an ended session does. Events from one shard to another keep
//! their order (one FIFO channel per ordered pair of shards, read in order).
//!
//! `#_parent` and `#_<invokeid>` never cross shards: an invoked child lives on its parent's
//! host, so the host routes those itself.

use std::rc::Rc;

use engine::effects::{Outgoing, SendError};

use super::peer::{home, Call, Home};
use crate::local::Remote;
use crate::shard::{Mesh, MeshError, ShardMsg};

/// Sends to sessions of other shards over the mesh.
pub struct MeshRemote {
    mesh: Rc<Mesh<Call>>,
}

impl MeshRemote {
    /// The remote of the shard whose mesh side is `mesh`.
    pub fn new(mesh: Rc<Mesh<Call>>) -> MeshRemote {
        MeshRemote { mesh }
    }

    fn home(&self, id: &str) -> Home {
        home(self.mesh.shard(), self.mesh.shards(), id)
    }
}

impl Remote for MeshRemote {
    fn reaches(&self, id: &str) -> bool {
        matches!(self.home(id), Home::Peer(_))
    }

    fn send_remote(&mut self, id: &str, out: Outgoing) -> Result<(), SendError> {
        // The host asks only for ids it does not hold, so an id of this shard is unknown.
        let Home::Peer(to) = self.home(id) else {
            return Err(SendError {
                reason: format!("no such target: #_scxml_{id}"),
            });
        };
        let msg = ShardMsg::Deliver {
            id: to,
            event: out.event,
        };
        self.mesh
            .try_send_to(to.shard(), msg)
            .map_err(|error| refused(id, error))
    }
}

/// The `error.communication` reason of a send the mesh refused.
fn refused(id: &str, error: MeshError) -> SendError {
    let why = match error {
        MeshError::Full { shard } => {
            format!("the channel to shard {shard} is full (limits.mesh_queue_max)")
        }
        other => other.to_string(),
    };
    SendError {
        reason: format!("cannot send to #_scxml_{id}: {why}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shard::ShardId;

    #[test]
    fn refusals_name_the_target_and_the_reason() {
        let shard = ShardId(1);
        let full = refused("abc", MeshError::Full { shard });
        assert_eq!(
            full.reason,
            "cannot send to #_scxml_abc: the channel to shard 1 is full (limits.mesh_queue_max)"
        );
        let closed = refused("abc", MeshError::Closed { shard });
        assert_eq!(
            closed.reason,
            "cannot send to #_scxml_abc: shard 1 has stopped"
        );
    }
}
