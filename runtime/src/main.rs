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
    let args: Vec<std::ffi::OsString> = std::env::args_os().skip(1).collect();
    std::process::exit(runtime::cli::main(&args));
}
