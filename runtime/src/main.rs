//! The `baton` command. See [`runtime::cli`].

// Shards allocate and free small objects on their own threads all the time; mimalloc's
// thread-local free lists make that cheaper than glibc's malloc (see the README).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// mimalloc's option for how long freed memory stays before it is returned (ms), and
/// Baton's default for it: never (see `main`).
const PURGE_DELAY: &str = "MIMALLOC_PURGE_DELAY";
const PURGE_DELAY_MS: &str = "-1";

fn main() {
    // mimalloc gives freed memory back to the kernel 10 ms after it falls idle. Under a
    // steady call load that memory is wanted again moments later, and faulting it back in
    // stalls the shard: the SIP benchmark's p99 at 25,000 calls/s went from 43 ms to
    // 5.4 ms with purging off (bench/RESULTS-sip.md). So the process keeps its peak
    // memory, as a dedicated host can afford; an operator's own MIMALLOC_PURGE_DELAY (ms)
    // wins. Set before any other thread exists and before mimalloc first reads the option
    // (at its first purge).
    if std::env::var_os(PURGE_DELAY).is_none() {
        std::env::set_var(PURGE_DELAY, PURGE_DELAY_MS);
    }
    disable_transparent_huge_pages();
    let args: Vec<std::ffi::OsString> = std::env::args_os().skip(1).collect();
    std::process::exit(runtime::cli::main(&args));
}

/// Turns transparent huge pages off for this process, unless `BATON_THP=on`. A shard
/// touching new heap memory then faults it in 4 KiB at a time (about 1.5 µs each here)
/// instead of 2 MiB at a time: zeroing a huge page that the host has not backed yet took
/// 5 ms on this project's virtual machines, and each such fault stalled every call of the
/// shard (the SIP benchmark's 10 to 60 ms p99 episodes while its heap grew).
fn disable_transparent_huge_pages() {
    if std::env::var_os("BATON_THP").is_some_and(|value| value == "on") {
        return;
    }
    // SAFETY: prctl with these arguments only sets a flag of the calling process.
    let refused = unsafe { libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0) } != 0;
    if refused {
        eprintln!(
            "baton: could not turn transparent huge pages off ({}); running with them",
            std::io::Error::last_os_error()
        );
    }
}
