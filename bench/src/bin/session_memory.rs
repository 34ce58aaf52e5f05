//! Memory per idle session: starts N ping-pong sessions (default 100,000), keeps them all
//! alive, and reports the growth of the process's resident set per session, plus the JS
//! heap share. Run: `cargo run --release -p baton-bench --bin session_memory [N]`.

use std::time::Instant;

use baton_bench::{compile_fixture, start_session, NullEffects, PINGPONG};
use engine::datamodel::ecmascript::EcmascriptDatamodel;
use engine::limits::Limits;

/// Resident set size of this process in bytes, from /proc/self/statm.
fn resident_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    pages * 4096
}

fn main() {
    let sessions: usize = std::env::args()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(100_000);
    let limits = Limits::default();
    let doc = compile_fixture(PINGPONG, "pingpong.scxml");
    let mut dm = EcmascriptDatamodel::new(&limits, 1);
    let mut fx = NullEffects::default();
    let ids: Vec<String> = (0..sessions).map(|i| format!("s{i}")).collect();
    let mut live = Vec::with_capacity(sessions);
    // One session first, so one-time costs (document preparation) are not counted.
    live.push(start_session(&doc, &mut dm, &mut fx, "warmup", &limits));
    let before = resident_bytes();
    let started = Instant::now();
    for id in &ids {
        live.push(start_session(&doc, &mut dm, &mut fx, id, &limits));
    }
    let elapsed = started.elapsed();
    let after = resident_bytes();
    let per_session = (after.saturating_sub(before)) as f64 / sessions as f64;
    println!(
        "{{\"sessions\":{sessions},\"resident_bytes_per_session\":{per_session:.0},\
         \"start_us_mean\":{:.3},\"starts_per_s\":{:.0}}}",
        elapsed.as_secs_f64() * 1e6 / sessions as f64,
        sessions as f64 / elapsed.as_secs_f64()
    );
    for session in live {
        session.close(&mut dm, &mut fx);
    }
}
