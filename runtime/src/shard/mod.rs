//! The shard layer: shard-per-core executors, session ids that route, each shard's
//! session table, and the bounded mesh between shards.
//!
//! What it does: [`start_shards`] runs one pinned glommio executor per configured core;
//! each shard owns a [`SessionTable`] whose [`SessionId`]s carry the home shard, so any
//! shard routes an event with [`SessionId::shard`] and hands it over the [`Mesh`].
//!
//! What it must never do: share mutable state between shards. Only owned plain messages
//! ([`ShardMsg`]) cross, over bounded channels, and a full channel is a typed refusal
//! ([`MeshError::Full`]), never a wait or an unbounded queue.

mod executor;
mod id;
mod mesh;
mod nudge;
mod table;

#[cfg(test)]
mod tests;

pub use executor::{start_shards, ShardContext, ShardError, Shards, Shutdown};
pub use id::{ParseSessionIdError, SessionId, ShardId};
pub use mesh::{Mesh, MeshError, MeshInbox, NoCall, ShardMsg};
pub use table::{AdmitError, SessionTable};
