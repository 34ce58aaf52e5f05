//! Every bound the engine enforces, in one place, with units and defaults; also the bounds
//! a host enforces per session on the engine's behalf (`delayed_*`, `invoke_depth_max`,
//! `sessions_per_tree_max`, `session_events_per_second_max`), so that every host applies
//! them under the same names.
//!
//! A document over a load-time bound is rejected with a [`crate::error::CompileError`]; a
//! session over a run-time bound gets `error.execution` or is ended with a reason
//! ([`crate::session::EndReason`]). Nothing here is ever a panic.

/// Bounds on documents and sessions. Construct with [`Limits::default`] and override fields.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Largest document accepted, in bytes (default 4 MiB). Cost: parse time and memory.
    pub document_bytes_max: u32,
    /// Most states (including history and final states) in one document (default 10,000).
    pub states_max: u32,
    /// Deepest nesting of states and of executable content (default 64).
    pub depth_max: u16,
    /// Microsteps in one macrostep before the session is ended (default 1,000). Stops
    /// eventless-transition and raise loops.
    pub microsteps_per_macrostep_max: u32,
    /// Internal queue length before the session is ended (default 1,000).
    pub internal_queue_max: u32,
    /// Delayed `<send>`s pending per session; one more raises `error.execution` (default 1,000).
    pub delayed_sends_max: u32,
    /// Payload bytes of one session's pending delayed `<send>`s (default 1 MiB, about 1 KiB
    /// for each of `delayed_sends_max` sends); a send past it raises `error.execution`.
    /// Counted by [`crate::effects::Outgoing::payload_bytes`].
    pub delayed_send_bytes_max: u32,
    /// Nesting of `<invoke>`: a session this many invocations deep cannot invoke (default
    /// 16). The invoke fails as any invoke the host cannot start does. Stops `<invoke>`
    /// recursion at once, long before [`Limits::sessions_per_tree_max`].
    pub invoke_depth_max: u32,
    /// Sessions alive at once in one tree: a session a client started, the sessions it
    /// invokes and those they start with `<session:start>`, recursively (default 1,000).
    /// One more fails its `<invoke>` or answers its `<session:start>` with an error, so one
    /// client's session cannot fill the host's session table.
    pub sessions_per_tree_max: u32,
    /// External events one session may process per second of the host's clock (default
    /// 1,000). Past it the session's events wait, in its queue, for the next second: a
    /// `<send>`-to-self loop costs its shard about this many macrosteps a second instead of
    /// every cycle, and the other sessions keep their latency.
    pub session_events_per_second_max: u32,
    /// Iterations of one `<foreach>` before it raises `error.execution` (default 100,000).
    pub foreach_items_max: u32,
    /// Run-time budget of one script or expression evaluation, in QuickJS interrupt polls
    /// (QuickJS polls about every 10,000 bytecode branches; default 1,000, roughly 50 ms).
    /// Counted rather than timed so that the engine reads no clock and runs replay exactly.
    pub script_fuel_max: u32,
    /// JS heap of one shard's runtime, in bytes (default 256 MiB).
    pub js_heap_bytes_max: u32,
    /// JS heap one session may hold, in bytes (default 16 MiB; at most `js_heap_bytes_max`).
    /// An allocation past it fails the evaluation with `error.execution` in that session
    /// only. Kept when the host gives QuickJS the ledger's allocator (`baton serve` does).
    pub js_heap_per_session_bytes_max: u32,
    /// JS stack of one shard's runtime, in bytes (default 512 KiB).
    pub js_stack_bytes_max: u32,
}

/// The default JS heap of a shard.
pub const JS_HEAP_BYTES_DEFAULT: u32 = 256 << 20;

/// The default JS heap share of a session: a sixteenth of the shard's, so that no session
/// can hold the heap, while a session's usual few KiB to MiBs fit many times over.
pub const JS_HEAP_PER_SESSION_BYTES_DEFAULT: u32 = 16 << 20;
const _: () = assert!(JS_HEAP_PER_SESSION_BYTES_DEFAULT <= JS_HEAP_BYTES_DEFAULT);

/// The default microstep bound; also the bound the tests use to check loop detection.
pub const MICROSTEPS_PER_MACROSTEP_DEFAULT: u32 = 1_000;

impl Default for Limits {
    fn default() -> Self {
        Limits {
            document_bytes_max: 4 << 20,
            states_max: 10_000,
            depth_max: 64,
            microsteps_per_macrostep_max: MICROSTEPS_PER_MACROSTEP_DEFAULT,
            internal_queue_max: 1_000,
            delayed_sends_max: 1_000,
            delayed_send_bytes_max: 1 << 20,
            invoke_depth_max: 16,
            sessions_per_tree_max: 1_000,
            session_events_per_second_max: 1_000,
            foreach_items_max: 100_000,
            script_fuel_max: 1_000,
            js_heap_bytes_max: JS_HEAP_BYTES_DEFAULT,
            js_heap_per_session_bytes_max: JS_HEAP_PER_SESSION_BYTES_DEFAULT,
            js_stack_bytes_max: 512 << 10,
        }
    }
}
