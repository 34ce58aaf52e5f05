//! The cross-shard mesh: one bounded channel per ordered pair of shards, carrying owned
//! plain messages. Nothing else crosses shards: no shared maps, no locks, no `Rc`.
//!
//! Sending never waits: [`Mesh::try_send_to`] either queues the message or refuses with a
//! typed [`MeshError`], and the sender decides what a refusal means (for an SCXML `<send>`,
//! `error.communication` in the sending session). The refused message is dropped.
//!
//! The mesh carries two kinds of message: an event for a session ([`ShardMsg::Deliver`]),
//! and a call of the layer above ([`ShardMsg::Call`], type parameter `C`: for `baton serve`
//! an API request or a question about the receiving shard, with its reply path inside), so
//! that this layer knows nothing of HTTP and the server's messages are still typed.

use std::cell::RefCell;
use std::fmt;
use std::rc::Rc;

use engine::event::Event;
use glommio::channels::channel_mesh::{Receivers, Senders};
use glommio::GlommioError;

use super::id::{SessionId, ShardId};

/// A message from one shard to another. Owned plain data only (it is `Send`).
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum ShardMsg<C = NoCall> {
    /// Put `event` on the external queue of session `id`, which lives on the receiving
    /// shard.
    Deliver {
        /// The target session; `id.shard()` is the receiving shard.
        id: SessionId,
        /// The event.
        event: Event,
    },
    /// A call for the receiving shard's server.
    Call {
        /// The session the call is about, if any; `to.shard()` is the receiving shard.
        to: Option<SessionId>,
        /// What is asked, with the reply path.
        call: C,
    },
}

/// The call type of a mesh that carries none: it has no values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NoCall {}

/// Why a message was not queued.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum MeshError {
    /// The channel to `shard` holds `limits.mesh_queue_max` messages: back-pressure.
    Full {
        /// The receiving shard.
        shard: ShardId,
    },
    /// `shard` stopped (shutdown): nothing will read the channel again.
    Closed {
        /// The receiving shard.
        shard: ShardId,
    },
    /// `shard` is this shard: handle the message locally instead.
    Local {
        /// This shard.
        shard: ShardId,
    },
    /// No such shard.
    Unknown {
        /// The requested shard.
        shard: ShardId,
        /// How many shards run.
        shards: u16,
    },
}

impl fmt::Display for MeshError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MeshError::Full { shard } => write!(f, "the channel to shard {shard} is full"),
            MeshError::Closed { shard } => write!(f, "shard {shard} has stopped"),
            MeshError::Local { shard } => {
                write!(f, "shard {shard} sent a mesh message to itself")
            }
            MeshError::Unknown { shard, shards } => {
                write!(f, "there is no shard {shard} (shards: {shards})")
            }
        }
    }
}

impl std::error::Error for MeshError {}

/// This shard's sending side of the mesh.
pub struct Mesh<C: Send + 'static = NoCall> {
    shard: ShardId,
    shards: u16,
    senders: Senders<ShardMsg<C>>,
}

impl<C: Send + 'static> Mesh<C> {
    pub(super) fn new(shard: ShardId, senders: Senders<ShardMsg<C>>) -> Mesh<C> {
        // Peers are ordered by executor creation, which follows shard order: check it.
        assert_eq!(senders.peer_id(), shard.index());
        let shards = u16::try_from(senders.nr_consumers()).expect("shard count fits a u16");
        assert!(shard.0 < shards);
        Mesh {
            shard,
            shards,
            senders,
        }
    }

    /// This shard.
    pub fn shard(&self) -> ShardId {
        self.shard
    }

    /// How many shards run.
    pub fn shards(&self) -> u16 {
        self.shards
    }

    /// Queues `msg` for `shard` without waiting.
    pub fn try_send_to(&self, shard: ShardId, msg: ShardMsg<C>) -> Result<(), MeshError> {
        if shard == self.shard {
            return Err(MeshError::Local { shard });
        }
        if shard.0 >= self.shards {
            return Err(MeshError::Unknown {
                shard,
                shards: self.shards,
            });
        }
        assert!(addressed_to(shard, &msg));
        match self.senders.try_send_to(shard.index(), msg) {
            Ok(()) => Ok(()),
            Err(GlommioError::WouldBlock(_)) => Err(MeshError::Full { shard }),
            Err(_) => Err(MeshError::Closed { shard }),
        }
    }

    /// Closes this shard's outgoing channels; peers' inboxes see the end of this stream.
    pub fn close(&self) {
        self.senders.close();
    }
}

/// This shard's receiving side of the mesh.
pub struct MeshInbox<C: Send + 'static = NoCall> {
    shard: ShardId,
    receivers: Receivers<ShardMsg<C>>,
}

impl<C: Send + 'static> MeshInbox<C> {
    pub(super) fn new(shard: ShardId, receivers: Receivers<ShardMsg<C>>) -> MeshInbox<C> {
        assert_eq!(receivers.peer_id(), shard.index());
        MeshInbox { shard, receivers }
    }

    /// Receives until every peer closed its channel to this shard, calling
    /// `on_message(from, msg)` for each message. Spawn it on the latency-class queue: one
    /// task per peer runs in the queue this future runs in.
    pub async fn run(mut self, on_message: impl FnMut(ShardId, ShardMsg<C>) + 'static) {
        let on_message = Rc::new(RefCell::new(on_message));
        let tasks: Vec<_> = self
            .receivers
            .streams()
            .into_iter()
            .map(|(peer, receiver)| {
                let on_message = Rc::clone(&on_message);
                let from = ShardId(u16::try_from(peer).expect("peer index fits a u16"));
                let shard = self.shard;
                glommio::spawn_local(async move {
                    while let Some(msg) = receiver.recv().await {
                        assert!(addressed_to(shard, &msg));
                        // The borrow ends before the next await.
                        (on_message.borrow_mut())(from, msg);
                    }
                })
            })
            .collect();
        for task in tasks {
            task.await;
        }
    }
}

/// The pair check across the boundary, on both sides: a delivery, or a call about a
/// session, goes to the session's home shard.
fn addressed_to<C>(shard: ShardId, msg: &ShardMsg<C>) -> bool {
    match msg {
        ShardMsg::Deliver { id, .. } => id.shard() == shard,
        ShardMsg::Call { to, .. } => to.is_none_or(|id| id.shard() == shard),
    }
}
