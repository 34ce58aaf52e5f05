//! Event throughput on one session: ping-pong, and ping-pong with a `cond` on each
//! transition. One iteration is one external event and its macrostep.
use baton_bench::{compile_fixture, pingpong_with_cond, start_session, NullEffects, PINGPONG};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use engine::datamodel::ecmascript::EcmascriptDatamodel;
use engine::event::Event;
use engine::limits::Limits;
use engine::value::Value;

/// `metered`: on the server's datamodel, whose allocator charges each session's heap share
/// (`runtime::local::metered_datamodel`); otherwise on QuickJS's own allocator.
fn bench_events(c: &mut Criterion, name: &str, text: &str, metered: bool) {
    let limits = Limits::default();
    let doc = compile_fixture(text, name);
    let mut dm = match metered {
        true => runtime::local::metered_datamodel(&limits, 1).expect("a datamodel"),
        false => EcmascriptDatamodel::new(&limits, 1),
    };
    let name = match metered {
        true => format!("{name}_metered"),
        false => name.to_owned(),
    };
    let mut fx = NullEffects::default();
    let mut session = start_session(&doc, &mut dm, &mut fx, "s", &limits);
    let event = Event::external("e", Value::Undefined);
    let mut group = c.benchmark_group("events");
    group.throughput(Throughput::Elements(1));
    group.bench_function(&name, |b| {
        b.iter(|| session.handle_event(&mut dm, &mut fx, 0, &event))
    });
    group.finish();
}

fn bench(c: &mut Criterion) {
    // Each pair back to back, so that a shared machine's load skews both alike.
    for metered in [false, true] {
        bench_events(c, "pingpong", PINGPONG, metered);
    }
    for metered in [false, true] {
        bench_events(c, "pingpong_cond", &pingpong_with_cond(), metered);
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
