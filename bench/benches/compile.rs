//! Compile time of a 200-state routing-style document.
use baton_bench::routing_document;
use criterion::{criterion_group, criterion_main, Criterion};
use engine::compile::{compile, NoLoader};
use engine::limits::Limits;

fn bench(c: &mut Criterion) {
    let text = routing_document(200);
    let limits = Limits::default();
    c.bench_function("compile/routing_200_states", |b| {
        b.iter(|| compile(&text, "routing.scxml", &mut NoLoader, &limits).is_ok())
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
