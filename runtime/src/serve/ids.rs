//! Session ids for `baton serve`: the home shard is encoded (`shard::SessionId`), so any
//! later request or `#_scxml_` send can be routed by a pure function of the id, and the
//! rest is 52 bits from the operating system's cryptographic source ([`crate::entropy`]):
//! an id cannot be guessed from others, and ids do not repeat across restarts (an
//! integrator holding an id from before a restart gets 404, never someone else's session).

use crate::entropy::random_u64;
use crate::local::SessionIds;
use crate::shard::{SessionId, ShardId};

/// Ids of one shard: its number, then 52 random bits (collisions are retried by the host).
pub struct ShardSessionIds {
    shard: ShardId,
}

impl ShardSessionIds {
    /// Ids for `shard`.
    pub fn new(shard: ShardId) -> ShardSessionIds {
        ShardSessionIds { shard }
    }

    /// A seed for the shard's `Math.random`, different at every start and unpredictable.
    pub fn seed_from_start() -> u64 {
        random_u64()
    }
}

impl SessionIds for ShardSessionIds {
    fn next_id(&mut self) -> Box<str> {
        let bits = random_u64();
        let slot = (bits as u32) & ((1 << SessionId::SLOT_BITS) - 1);
        let generation = ((bits >> 32) as u32) & SessionId::GENERATION_MAX;
        SessionId::new(self.shard, slot, generation)
            .to_string()
            .into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_encode_the_shard_and_do_not_repeat() {
        let mut first = ShardSessionIds::new(ShardId(3));
        let mut second = ShardSessionIds::new(ShardId(3));
        let a: Vec<Box<str>> = (0..100).map(|_| first.next_id()).collect();
        let b: Vec<Box<str>> = (0..100).map(|_| second.next_id()).collect();
        for id in a.iter().chain(&b) {
            let parsed: SessionId = id.parse().expect("a session id");
            assert_eq!(parsed.shard(), ShardId(3));
        }
        assert!(a.iter().all(|id| !b.contains(id)));
        let mut unique = a.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), a.len());
    }
}
