//! Compiling off the shard's thread.
//!
//! Parsing and validating a document is linear in its size but not cheap (a 4 MB document
//! of 40,000 transitions takes about 40 ms), and a shard that compiled in line would stall
//! every other session and call it serves for that long. So starts compile on the shard's
//! blocking thread (glommio's, which also resolves host names), and the shard goes on
//! serving while they do. That thread runs at the lowest CPU priority (nice 19): where
//! shards keep every core busy, a compile waits for them, not they for it.
//!
//! What remains on the shard: the ECMAScript side of a document, which must be compiled
//! into the shard's own JS realm; it is compiled a chunk of expressions at a time, when a
//! session first evaluates one (see the engine's `factory.rs`).

use std::any::Any;
use std::cell::Cell;
use std::panic::{self, AssertUnwindSafe};

/// The nice value of the compiling thread: the lowest priority.
const COMPILE_NICE: libc::c_int = 19;

thread_local! {
    /// Whether this (blocking) thread's priority was lowered already.
    static LOWERED: Cell<bool> = const { Cell::new(false) };
}

/// A compile that panicked (a bug in the compiler): the start fails, the shard goes on.
#[derive(Debug)]
pub struct CompilerPanicked {
    /// The panic's message, when it has one.
    pub message: String,
}

/// Runs `job` on the shard's blocking thread and answers its result.
pub async fn run<R: Send + 'static>(
    job: impl FnOnce() -> R + Send + 'static,
) -> Result<R, CompilerPanicked> {
    glommio::executor()
        .spawn_blocking(move || {
            lower_priority_once();
            panic::catch_unwind(AssertUnwindSafe(job)).map_err(|payload| CompilerPanicked {
                message: panic_message(payload.as_ref()),
            })
        })
        .await
}

/// Lowers this thread's CPU priority, once. On Linux the nice value is per thread, so this
/// leaves the shard's own thread as it is. A refusal (a sandbox) only costs priority.
fn lower_priority_once() {
    if LOWERED.get() {
        return;
    }
    LOWERED.set(true);
    // SAFETY: plain system calls on this thread's own id; no memory is passed.
    unsafe {
        let tid = libc::syscall(libc::SYS_gettid) as libc::id_t;
        libc::setpriority(libc::PRIO_PROCESS, tid, COMPILE_NICE);
    }
}

fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(text) = payload.downcast_ref::<&str>() {
        return (*text).to_owned();
    }
    if let Some(text) = payload.downcast_ref::<String>() {
        return text.clone();
    }
    "no message".to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jobs_run_off_the_shard_thread_at_low_priority_and_panics_are_answered() {
        let executor = glommio::LocalExecutorBuilder::default()
            .spawn(|| async {
                let shard = std::thread::current().id();
                let (thread, nice) = run(|| {
                    // SAFETY: reads this thread's own nice value.
                    let nice = unsafe {
                        let tid = libc::syscall(libc::SYS_gettid) as libc::id_t;
                        libc::getpriority(libc::PRIO_PROCESS, tid)
                    };
                    (std::thread::current().id(), nice)
                })
                .await
                .expect("no panic");
                assert_ne!(thread, shard, "the job ran on the shard's thread");
                assert_eq!(nice, COMPILE_NICE);
                let panicked = run(|| -> u32 { panic!("compiler bug") }).await;
                let message = panicked.expect_err("a panic is answered").message;
                assert_eq!(message, "compiler bug");
                // The blocking thread survives a panic: the next job runs.
                assert_eq!(run(|| 7).await.expect("no panic"), 7);
            })
            .expect("executor");
        executor.join().expect("the test ran");
    }
}
