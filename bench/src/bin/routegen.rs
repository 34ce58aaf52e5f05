//! `routegen`: measures Baton's routing (interactions routed per second, and the latency
//! from `POST /interactions` to the offer on the agent's stream) on loopback and prints one
//! JSON line. `routegen --help` lists the options; `bench/routing/run.sh` uses it.

use baton_bench::routegen::{options, run};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let options = match options::parse(&args) {
        Ok(Some(options)) => options,
        Ok(None) => {
            print!("{}", options::USAGE);
            return;
        }
        Err(message) => {
            eprintln!("routegen: {message}\n\n{}", options::USAGE);
            std::process::exit(2);
        }
    };
    match run(options) {
        Ok(report) => println!("{report}"),
        Err(message) => {
            eprintln!("routegen: {message}");
            std::process::exit(1);
        }
    }
}
