//! Session ids for `baton serve`: the home shard is encoded (`shard::SessionId`), so any
//! later request or `#_scxml_` send can be routed by a pure function of the id, and the
//! rest is random per process start, so ids do not repeat across restarts (an integrator
//! holding an id from before a restart gets 404, never someone else's session).

use crate::local::SessionIds;
use crate::shard::{SessionId, ShardId};

/// Ids of one shard: its number, then 52 pseudo-random bits (splitmix64 over a seed taken
/// from the clock and the process id at start; collisions are retried by the host).
pub struct ShardSessionIds {
    shard: ShardId,
    state: u64,
}

impl ShardSessionIds {
    /// Ids for `shard`, from `seed`.
    pub fn new(shard: ShardId, seed: u64) -> ShardSessionIds {
        ShardSessionIds {
            shard,
            state: seed ^ (u64::from(shard.0) << 48),
        }
    }

    /// A seed that differs between process starts.
    pub fn seed_from_start() -> u64 {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        nanos ^ (u64::from(std::process::id()) << 32)
    }

    fn next_bits(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

impl SessionIds for ShardSessionIds {
    fn next_id(&mut self) -> Box<str> {
        let bits = self.next_bits();
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
    fn ids_encode_the_shard_and_do_not_repeat_across_seeds() {
        let mut first = ShardSessionIds::new(ShardId(3), 1);
        let mut second = ShardSessionIds::new(ShardId(3), 2);
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
