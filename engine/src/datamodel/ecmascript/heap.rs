//! Who holds the shard's JS heap: a ledger of bytes per session, with each session's share.
//!
//! QuickJS has one memory limit for the whole runtime, and every session of a shard lives
//! in that runtime, so without this one session could fill the heap and every other
//! session's evaluations and every later start would fail. The host gives QuickJS an
//! allocator that asks this ledger before each allocation ([`HeapLedger::charge`]) and tells
//! it after each free ([`HeapLedger::credit`]); the allocator stores the owner in each
//! block's header, so a block is credited to the session that allocated it whoever frees
//! it (a garbage collection run during another session's evaluation, or the scope's drop).
//!
//! The owner of a new block is the session being evaluated ([`HeapLedger::enter`]), else
//! the shard (realm setup, compiled documents, scope objects). An allocation is refused
//! when the shard's heap would exceed `limits.js_heap_bytes_max`, or the session's bytes
//! `limits.js_heap_per_session_bytes_max`; QuickJS then throws, the evaluation fails, and
//! the session gets `error.execution` naming the bound. The session is not ended: its share
//! already bounds what it can hold, so it cannot hurt the others, and the strategy may
//! recover (drop what it holds). Compiling a document runs unbounded ([`HeapLedger::
//! unbounded`], see `heap_guard.rs`): QuickJS's compiler must never see an allocation fail.
//!
//! QuickJS packs objects of 512 bytes or less into 4 KiB arenas that it allocates through
//! the allocator, so a session is charged per arena it causes, not per small object: the
//! accounting is exact to within a few arenas per session.
//!
//! ```text
//!   scope created ──open──▶ charged (bytes ≤ share) ──close──▶ closed (late credits ignored)
//! ```

use std::cell::RefCell;

use crate::datamodel::ScopeId;

/// Who a block of the JS heap is charged to: a session's scope, or the shard.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HeapOwner(u64);

impl HeapOwner {
    /// The shard: realm setup, compiled documents, scope objects before their session.
    pub const SHARD: HeapOwner = HeapOwner(u64::MAX);

    fn of(scope: ScopeId) -> HeapOwner {
        HeapOwner((u64::from(scope.slot) << 32) | u64::from(scope.generation))
    }

    fn scope(self) -> Option<ScopeId> {
        (self != HeapOwner::SHARD).then_some(ScopeId {
            slot: (self.0 >> 32) as u32,
            generation: self.0 as u32,
        })
    }

    /// The owner as stored in a block header.
    pub fn to_bits(self) -> u64 {
        self.0
    }

    /// The owner read back from a block header.
    pub fn from_bits(bits: u64) -> HeapOwner {
        HeapOwner(bits)
    }
}

/// One session's bytes.
#[derive(Clone, Copy, Debug, Default)]
struct Account {
    generation: u32,
    open: bool,
    bytes: u64,
    /// The bytes of an allocation refused for the share since the last
    /// [`HeapLedger::take_refused`].
    refused: Option<u64>,
}

#[derive(Debug, Default)]
struct Ledger {
    bytes: u64,
    bytes_max: u64,
    session_bytes_max: u64,
    current: Option<ScopeId>,
    unbounded: bool,
    accounts: Vec<Account>,
}

impl Ledger {
    fn account(&mut self, scope: ScopeId) -> Option<&mut Account> {
        let account = self.accounts.get_mut(scope.slot as usize)?;
        (account.open && account.generation == scope.generation).then_some(account)
    }
}

/// The ledger of one shard's JS heap. Shared (`Rc`) between the datamodel and the allocator.
#[derive(Debug, Default)]
pub struct HeapLedger {
    inner: RefCell<Ledger>,
}

/// Why an evaluation's allocation was refused: the session used up its share.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ShareExceeded {
    /// The session's bytes when it was refused.
    pub bytes: u64,
    /// The bytes it asked for.
    pub requested: u64,
    /// `limits.js_heap_per_session_bytes_max`.
    pub bytes_max: u64,
}

impl HeapLedger {
    /// A ledger bounding the shard at `bytes_max` and each session at `session_bytes_max`.
    pub fn new(bytes_max: u32, session_bytes_max: u32) -> HeapLedger {
        assert!(session_bytes_max > 0, "a zero share refuses every session");
        assert!(
            session_bytes_max <= bytes_max,
            "a share is part of the shard's heap"
        );
        HeapLedger {
            inner: RefCell::new(Ledger {
                bytes_max: u64::from(bytes_max),
                session_bytes_max: u64::from(session_bytes_max),
                ..Ledger::default()
            }),
        }
    }

    /// Asks for `bytes` more on behalf of the current owner; `None` refuses them.
    pub fn charge(&self, bytes: u64) -> Option<HeapOwner> {
        let mut ledger = self.inner.borrow_mut();
        let unbounded = ledger.unbounded;
        if !unbounded && ledger.bytes + bytes > ledger.bytes_max {
            return None;
        }
        let share = ledger.session_bytes_max;
        let owner = match ledger.current {
            Some(scope) => match ledger.account(scope) {
                Some(account) if !unbounded && account.bytes + bytes > share => {
                    account.refused = Some(bytes);
                    return None;
                }
                Some(account) => {
                    account.bytes += bytes;
                    HeapOwner::of(scope)
                }
                None => HeapOwner::SHARD,
            },
            None => HeapOwner::SHARD,
        };
        ledger.bytes += bytes;
        Some(owner)
    }

    /// Gives back `bytes` charged to `owner`.
    pub fn credit(&self, owner: HeapOwner, bytes: u64) {
        let mut ledger = self.inner.borrow_mut();
        assert!(ledger.bytes >= bytes, "a credit matches an earlier charge");
        ledger.bytes -= bytes;
        if let Some(account) = owner.scope().and_then(|scope| ledger.account(scope)) {
            // A closed or reused slot ignores credits from its former session.
            account.bytes = account.bytes.saturating_sub(bytes);
        }
    }

    /// A block of `old` bytes charged to `owner` grows or shrinks to `new` bytes, charged
    /// to the current owner; `None` refuses it and leaves the old charge as it was.
    pub fn recharge(&self, owner: HeapOwner, old: u64, new: u64) -> Option<HeapOwner> {
        self.credit(owner, old);
        let charged = self.charge(new);
        if charged.is_none() {
            self.restore(owner, old);
        }
        charged
    }

    /// Charges `bytes` back to `owner` without a bound: undoes a credit (a block that
    /// could not move stays where it was, charged as before).
    pub fn restore(&self, owner: HeapOwner, bytes: u64) {
        let mut ledger = self.inner.borrow_mut();
        ledger.bytes += bytes;
        if let Some(account) = owner.scope().and_then(|scope| ledger.account(scope)) {
            account.bytes += bytes;
        }
    }

    /// Charges allocations to `scope` from now on (`None`: to the shard).
    pub fn enter(&self, scope: Option<ScopeId>) {
        self.inner.borrow_mut().current = scope;
    }

    /// Lifts both bounds (`true`) or puts them back (`false`).
    pub fn unbounded(&self, on: bool) {
        self.inner.borrow_mut().unbounded = on;
    }

    /// Opens `scope`'s account at zero bytes.
    pub fn open(&self, scope: ScopeId) {
        let mut ledger = self.inner.borrow_mut();
        let slot = scope.slot as usize;
        if ledger.accounts.len() <= slot {
            ledger.accounts.resize(slot + 1, Account::default());
        }
        ledger.accounts[slot] = Account {
            generation: scope.generation,
            open: true,
            bytes: 0,
            refused: None,
        };
    }

    /// Closes `scope`'s account: its blocks freed later are credited to the shard total only.
    pub fn close(&self, scope: ScopeId) {
        let mut ledger = self.inner.borrow_mut();
        if let Some(account) = ledger.account(scope) {
            account.open = false;
        }
        if ledger.current == Some(scope) {
            ledger.current = None;
        }
    }

    /// Bytes the shard's heap holds, as the allocator counts them.
    pub fn bytes(&self) -> u64 {
        self.inner.borrow().bytes
    }

    /// Bytes charged to `scope` (0 for a closed or unknown scope).
    pub fn session_bytes(&self, scope: ScopeId) -> u64 {
        self.inner
            .borrow_mut()
            .account(scope)
            .map_or(0, |account| account.bytes)
    }

    /// Whether an allocation of `scope` was refused for its share since the last call.
    pub fn take_refused(&self, scope: ScopeId) -> Option<ShareExceeded> {
        let mut ledger = self.inner.borrow_mut();
        let bytes_max = ledger.session_bytes_max;
        let account = ledger.account(scope)?;
        let requested = account.refused.take()?;
        Some(ShareExceeded {
            bytes: account.bytes,
            requested,
            bytes_max,
        })
    }

    /// New bounds (a configuration reload); blocks already held stay.
    pub fn set_bounds(&self, bytes_max: u32, session_bytes_max: u32) {
        assert!(
            session_bytes_max <= bytes_max,
            "a share is part of the shard's heap"
        );
        let mut ledger = self.inner.borrow_mut();
        ledger.bytes_max = u64::from(bytes_max);
        ledger.session_bytes_max = u64::from(session_bytes_max);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: ScopeId = ScopeId {
        slot: 0,
        generation: 0,
    };
    const B: ScopeId = ScopeId {
        slot: 1,
        generation: 0,
    };

    #[test]
    fn sessions_are_charged_their_own_blocks_whoever_frees_them() {
        let ledger = HeapLedger::new(1_000, 100);
        ledger.open(A);
        ledger.open(B);
        ledger.enter(Some(A));
        let a = ledger.charge(60).expect("within A's share");
        assert!(ledger.charge(60).is_none(), "A's share is 100");
        assert!(ledger.take_refused(A).is_some());
        assert!(ledger.take_refused(A).is_none(), "taken once");
        ledger.enter(Some(B));
        let b = ledger.charge(90).expect("B has its own share");
        ledger.credit(a, 60);
        assert_eq!(ledger.session_bytes(A), 0, "credited to A while B runs");
        assert_eq!(ledger.session_bytes(B), 90);
        ledger.enter(None);
        let shard = ledger
            .charge(800)
            .expect("the shard is bounded only by the total");
        assert!(ledger.charge(200).is_none(), "the shard's heap is 1,000");
        ledger.credit(b, 90);
        ledger.credit(shard, 800);
        assert_eq!(ledger.bytes(), 0);
    }

    #[test]
    fn a_reused_slot_ignores_its_former_sessions_credits() {
        let ledger = HeapLedger::new(1_000, 100);
        ledger.open(A);
        ledger.enter(Some(A));
        let old = ledger.charge(50).expect("fits");
        ledger.close(A);
        let again = ScopeId {
            slot: 0,
            generation: 1,
        };
        ledger.open(again);
        ledger.enter(Some(again));
        let new = ledger.charge(30).expect("fits");
        ledger.credit(old, 50);
        assert_eq!(ledger.session_bytes(again), 30);
        assert_eq!(ledger.bytes(), 30);
        assert!(ledger.recharge(new, 30, 200).is_none(), "over the share");
        assert_eq!(
            ledger.session_bytes(again),
            30,
            "a refused realloc changes nothing"
        );
        ledger.unbounded(true);
        assert!(
            ledger.recharge(new, 30, 200).is_some(),
            "compiles are unbounded"
        );
    }
}
