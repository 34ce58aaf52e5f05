//! Session start: create + initial macrostep, for ping-pong and a small routing strategy.
//! Sessions are closed outside the timed region.
use std::time::{Duration, Instant};

use baton_bench::{compile_fixture, start_session, NullEffects, PINGPONG, ROUTING_STRATEGY};
use criterion::{criterion_group, criterion_main, Criterion};
use engine::datamodel::ecmascript::EcmascriptDatamodel;
use engine::limits::Limits;

/// `metered`: on the server's datamodel, whose allocator charges each session's heap share
/// (`runtime::local::metered_datamodel`); otherwise on QuickJS's own allocator.
fn bench_start(c: &mut Criterion, name: &str, text: &str, metered: bool) {
    let limits = Limits::default();
    let doc = compile_fixture(text, name);
    let mut dm = match metered {
        true => runtime::local::metered_datamodel(&limits, 1).expect("a datamodel"),
        false => EcmascriptDatamodel::new(&limits, 1),
    };
    let suffix = if metered { "_metered" } else { "" };
    let mut fx = NullEffects::default();
    c.bench_function(&format!("session_start/{name}{suffix}"), |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            let mut batch = Vec::with_capacity(1024);
            let mut done = 0;
            while done < iters {
                let n = (iters - done).min(1024);
                let started = Instant::now();
                for _ in 0..n {
                    batch.push(start_session(&doc, &mut dm, &mut fx, "s", &limits));
                }
                total += started.elapsed();
                for session in batch.drain(..) {
                    session.close(&mut dm, &mut fx);
                }
                done += n;
            }
            total
        })
    });
}

fn bench(c: &mut Criterion) {
    // Each pair back to back, so that a shared machine's load skews both alike.
    for metered in [false, true] {
        bench_start(c, "pingpong", PINGPONG, metered);
    }
    for metered in [false, true] {
        bench_start(c, "routing_strategy", ROUTING_STRATEGY, metered);
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
