//! Unpredictable numbers for ids a client must not guess (session and interaction ids) and
//! for seeds: the operating system's cryptographic random source (`getrandom`, through
//! ring), drawn 4 KiB at a time into a pool per thread, so that an id costs a copy, not a
//! system call, and shards never share or lock anything.
//!
//! What it must never do: fall back to a predictable source. If the kernel's source fails
//! (it cannot on a Linux this runs on, 3.17 or later), the process stops rather than hand
//! out guessable ids.

use std::cell::RefCell;

use ring::rand::{SecureRandom, SystemRandom};

/// Bytes drawn from the kernel per refill: 512 ids' worth.
const POOL_BYTES: usize = 4096;

struct Pool {
    bytes: [u8; POOL_BYTES],
    next: usize,
}

thread_local! {
    static POOL: RefCell<Pool> = const {
        RefCell::new(Pool { bytes: [0; POOL_BYTES], next: POOL_BYTES })
    };
}

/// 64 random bits from the operating system's cryptographic source.
pub fn random_u64() -> u64 {
    POOL.with(|pool| {
        let mut pool = pool.borrow_mut();
        if pool.next + 8 > POOL_BYTES {
            SystemRandom::new()
                .fill(&mut pool.bytes)
                .expect("the kernel's random source (getrandom) answers");
            pool.next = 0;
        }
        let start = pool.next;
        let mut word = [0u8; 8];
        word.copy_from_slice(&pool.bytes[start..start + 8]);
        // Used bytes are wiped, so a later memory read cannot replay a handed-out id.
        pool.bytes[start..start + 8].fill(0);
        pool.next = start + 8;
        u64::from_ne_bytes(word)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_differ_across_refills() {
        // Three pools' worth: every draw distinct (a repeat among 1,536 64-bit values
        // has a chance of about 6e-14).
        let mut seen: Vec<u64> = (0..3 * POOL_BYTES / 8).map(|_| random_u64()).collect();
        seen.sort_unstable();
        seen.dedup();
        assert_eq!(seen.len(), 3 * POOL_BYTES / 8);
        // Not stuck at zero bits: some draw has its top bit set, some has it clear.
        assert!(seen.iter().any(|v| v >> 63 == 1));
        assert!(seen.iter().any(|v| v >> 63 == 0));
    }
}
