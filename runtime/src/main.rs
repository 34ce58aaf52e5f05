//! The `baton` command. See [`runtime::cli`].

fn main() {
    let args: Vec<std::ffi::OsString> = std::env::args_os().skip(1).collect();
    std::process::exit(runtime::cli::main(&args));
}
