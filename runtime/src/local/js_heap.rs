//! The shard's QuickJS allocator: every block asks the engine's [`HeapLedger`] first, so each
//! session has its share of the JS heap (issue 11).
//!
//! The engine forbids `unsafe`, and an allocator handed to C is nothing but raw pointers,
//! so it lives here. Each block carries a 16-byte header in front of what QuickJS sees:
//! its size and its owner (the session charged for it, or the shard). Freeing a block
//! credits that owner, whichever session's evaluation or garbage collection frees it.
//! The ledger decides; this module only keeps the header honest.
//!
//! What it must never do: hand QuickJS a block that the ledger did not charge, or credit
//! a block twice. Both would make the accounting drift, and the shard's bound with it.

use std::alloc::{alloc, alloc_zeroed, dealloc, realloc, Layout};
use std::ptr;
use std::rc::Rc;

use engine::datamodel::ecmascript::heap::{HeapLedger, HeapOwner};
use engine::datamodel::ecmascript::EcmascriptDatamodel;
use engine::datamodel::ScopeError;
use engine::limits::Limits;
use rquickjs::allocator::Allocator;

/// The header before each block: its size (what QuickJS asked for, rounded) and owner.
#[repr(C)]
#[derive(Clone, Copy)]
struct Header {
    size: u64,
    owner: u64,
}

/// Header size, which is also the alignment of every block: QuickJS needs 8, and 16 keeps
/// what follows the header aligned for anything it stores.
const HEADER_BYTES: usize = 16;
const BLOCK_ALIGN: usize = 16;
const _: () = assert!(std::mem::size_of::<Header>() == HEADER_BYTES);
// The header is one alignment unit, so what follows it is aligned as the block is.
const _: () = assert!(HEADER_BYTES == BLOCK_ALIGN);

/// The allocator QuickJS calls; charges through the shared ledger.
struct LedgerAllocator {
    ledger: Rc<HeapLedger>,
}

/// The layout of a block whose user part is `size` bytes; `None` if it cannot exist.
fn layout(size: usize) -> Option<Layout> {
    let total = size.checked_add(HEADER_BYTES)?;
    Layout::from_size_align(total, BLOCK_ALIGN).ok()
}

/// The bytes the ledger counts for a block of `size`: the header is memory too.
fn charged(size: usize) -> u64 {
    (size + HEADER_BYTES) as u64
}

/// Rounds up to the alignment, as `usable_size` promises QuickJS the whole block.
fn round(size: usize) -> Option<usize> {
    size.checked_next_multiple_of(BLOCK_ALIGN)
}

impl LedgerAllocator {
    /// Allocates a block of `size` with `zeroed` contents or not, charged to the ledger.
    fn block(&mut self, size: usize, zeroed: bool) -> *mut u8 {
        let Some(size) = round(size).filter(|&s| s > 0) else {
            return ptr::null_mut();
        };
        let Some(layout) = layout(size) else {
            return ptr::null_mut();
        };
        let Some(owner) = self.ledger.charge(charged(size)) else {
            return ptr::null_mut();
        };
        // SAFETY: `layout` has a non-zero size (the header alone is 16 bytes).
        let base = unsafe {
            match zeroed {
                true => alloc_zeroed(layout),
                false => alloc(layout),
            }
        };
        if base.is_null() {
            self.ledger.credit(owner, charged(size));
            return ptr::null_mut();
        }
        let header = Header {
            size: size as u64,
            owner: owner.to_bits(),
        };
        // SAFETY: `base` is a fresh block of at least HEADER_BYTES, aligned for `Header`;
        // the user part starts HEADER_BYTES in, inside the same block.
        unsafe {
            base.cast::<Header>().write(header);
            base.add(HEADER_BYTES)
        }
    }
}

/// The header of a block this allocator handed out at `user`.
///
/// # Safety
/// `user` must come from [`LedgerAllocator`] and not have been freed.
unsafe fn header_of(user: *mut u8) -> (*mut u8, Header) {
    // SAFETY: per the contract, the header sits HEADER_BYTES before `user`, in the block.
    unsafe {
        let base = user.sub(HEADER_BYTES);
        (base, base.cast::<Header>().read())
    }
}

// SAFETY: every pointer returned is null or the user part of a live block of at least the
// requested size, aligned to 16; `usable_size` reads the size the header recorded.
unsafe impl Allocator for LedgerAllocator {
    fn alloc(&mut self, size: usize) -> *mut u8 {
        self.block(size, false)
    }

    fn calloc(&mut self, count: usize, size: usize) -> *mut u8 {
        match count.checked_mul(size) {
            Some(total) => self.block(total, true),
            None => ptr::null_mut(),
        }
    }

    unsafe fn dealloc(&mut self, user: *mut u8) {
        if user.is_null() {
            return;
        }
        // SAFETY: QuickJS frees only blocks this allocator gave it, once each.
        let (base, header) = unsafe { header_of(user) };
        let size = header.size as usize;
        self.ledger
            .credit(HeapOwner::from_bits(header.owner), charged(size));
        let layout = layout(size).expect("a live block's layout was valid when made");
        // SAFETY: `base` was allocated with exactly this layout.
        unsafe { dealloc(base, layout) };
    }

    unsafe fn realloc(&mut self, user: *mut u8, new_size: usize) -> *mut u8 {
        if user.is_null() {
            return self.block(new_size, false);
        }
        if new_size == 0 {
            // As C's realloc: the block is freed (QuickJS frees itself instead, but a
            // block must never be lost to a size of 0).
            // SAFETY: `user` is a live block of this allocator (the caller's contract).
            unsafe { self.dealloc(user) };
            return ptr::null_mut();
        }
        let Some(new_size) = round(new_size) else {
            return ptr::null_mut();
        };
        let Some(new_layout) = layout(new_size) else {
            return ptr::null_mut();
        };
        // SAFETY: QuickJS reallocates only live blocks this allocator gave it.
        let (base, header) = unsafe { header_of(user) };
        let old_size = header.size as usize;
        let old_owner = HeapOwner::from_bits(header.owner);
        let ledger = &self.ledger;
        let Some(owner) = ledger.recharge(old_owner, charged(old_size), charged(new_size)) else {
            return ptr::null_mut();
        };
        let old_layout = layout(old_size).expect("a live block's layout was valid when made");
        // SAFETY: `base` was allocated with `old_layout`; the new size is non-zero.
        let moved = unsafe { realloc(base, old_layout, new_layout.size()) };
        if moved.is_null() {
            // The old block is untouched: put its charge back where it was.
            ledger.credit(owner, charged(new_size));
            ledger.restore(old_owner, charged(old_size));
            return ptr::null_mut();
        }
        let header = Header {
            size: new_size as u64,
            owner: owner.to_bits(),
        };
        // SAFETY: `moved` is a live block of the new layout, which holds the header.
        unsafe {
            moved.cast::<Header>().write(header);
            moved.add(HEADER_BYTES)
        }
    }

    unsafe fn usable_size(user: *mut u8) -> usize {
        // SAFETY: QuickJS asks only about live blocks this allocator gave it.
        let (_, header) = unsafe { header_of(user) };
        header.size as usize
    }
}

/// The ECMAScript datamodel of a shard, on a QuickJS runtime whose every allocation goes
/// through the ledger: the shard's heap bound and each session's share both hold.
pub fn metered_datamodel(limits: &Limits, seed: u64) -> Result<EcmascriptDatamodel, ScopeError> {
    let ledger = Rc::new(HeapLedger::new(
        limits.js_heap_bytes_max,
        limits.js_heap_per_session_bytes_max,
    ));
    let allocator = LedgerAllocator {
        ledger: ledger.clone(),
    };
    let runtime = rquickjs::Runtime::new_with_alloc(allocator).map_err(|e| ScopeError {
        message: format!("cannot create the JS runtime: {e}"),
    })?;
    EcmascriptDatamodel::try_new_metered(limits, seed, runtime, ledger)
}

#[cfg(test)]
mod tests {
    use engine::datamodel::ScopeId;

    use super::*;

    #[test]
    fn every_block_is_charged_and_credited_once() {
        let ledger = Rc::new(HeapLedger::new(1 << 20, 4 << 10));
        let mut allocator = LedgerAllocator {
            ledger: ledger.clone(),
        };
        let scope = ScopeId {
            slot: 0,
            generation: 0,
        };
        ledger.open(scope);
        ledger.enter(Some(scope));
        let block = allocator.alloc(100);
        assert!(!block.is_null());
        assert_eq!(
            ledger.session_bytes(scope),
            112 + 16,
            "rounded, with its header"
        );
        // SAFETY: `block` is live and from this allocator.
        let grown = unsafe { allocator.realloc(block, 1_000) };
        assert!(!grown.is_null());
        assert_eq!(ledger.session_bytes(scope), 1_008 + 16);
        // SAFETY: as above.
        assert_eq!(unsafe { LedgerAllocator::usable_size(grown) }, 1_008);
        // SAFETY: as above; over the 4 KiB share, so refused and left as it was.
        let refused = unsafe { allocator.realloc(grown, 8_000) };
        assert!(refused.is_null());
        assert_eq!(ledger.session_bytes(scope), 1_008 + 16);
        ledger.enter(None);
        // SAFETY: as above.
        unsafe { allocator.dealloc(grown) };
        assert_eq!(ledger.session_bytes(scope), 0, "credited to its owner");
        assert_eq!(ledger.bytes(), 0);
        let zeroed = allocator.calloc(4, 8);
        // SAFETY: a live block of 32 bytes.
        let bytes = unsafe { std::slice::from_raw_parts(zeroed, 32) };
        assert!(bytes.iter().all(|&b| b == 0));
        // SAFETY: live and from this allocator; a size of 0 frees it.
        assert!(unsafe { allocator.realloc(zeroed, 0) }.is_null());
        assert_eq!(ledger.bytes(), 0);
    }
}
