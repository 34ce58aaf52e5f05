//! `loadgen`: drives Baton's HTTP session API (or any HTTP/1.1 server) on loopback and
//! prints one JSON line. `loadgen --help` lists the options; `bench/http/run.sh` uses it.

use baton_bench::loadgen::{options, run};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let options = match options::parse(&args) {
        Ok(Some(options)) => options,
        Ok(None) => {
            print!("{}", options::USAGE);
            return;
        }
        Err(message) => {
            eprintln!("loadgen: {message}\n\n{}", options::USAGE);
            std::process::exit(2);
        }
    };
    match run(options) {
        Ok(report) => println!("{report}"),
        Err(message) => {
            eprintln!("loadgen: {message}");
            std::process::exit(1);
        }
    }
}
