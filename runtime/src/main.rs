//! The `baton` command. See [`runtime::cli`].

// Shards allocate and free small objects on their own threads all the time; mimalloc's
// thread-local free lists make that cheaper than glibc's malloc (see the README).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let args: Vec<std::ffi::OsString> = std::env::args_os().skip(1).collect();
    std::process::exit(runtime::cli::main(&args));
}
