//! The per-request cost of access control (issue 11): finding a request's principal from a
//! bearer token (a SHA-256 of the token and one hash-table look-up) or from the names of a
//! verified client certificate, among 500 of each (1,000 `[[access]]` entries, near the
//! bound of 1,024; more desktops belong in a tokens file); the open listener for reference.
use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use protocols::http::server::Peer;
use runtime::access::{token_hash_hex, Policies};
use runtime::config::Config;

/// Principals configured of each kind.
const PRINCIPALS: usize = 500;

fn config() -> Config {
    let mut text = String::from(
        "[[listener]]\nname = \"api\"\naddress = \"10.0.0.1:8080\"\naccess = \"rules\"\n\n",
    );
    for n in 0..PRINCIPALS {
        let hash = token_hash_hex(&format!("token-{n:04}-0123456789abcdef"));
        text.push_str(&format!(
            "[[access]]\nname = \"p{n}\"\nroles = [\"integrator\"]\ntoken_sha256 = \"{hash}\"\n\n\
             [[access]]\nname = \"c{n}\"\nroles = [\"integrator\"]\ncertificate = \"app{n}.example\"\n\n"
        ));
    }
    Config::from_toml_str(&text, "bench").expect("the bench configuration is valid")
}

fn access(c: &mut Criterion) {
    let config = config();
    let policies = Policies::load(&config).expect("policies");
    let policy = &policies[0];
    let mut group = c.benchmark_group("access");
    let header = b"Bearer token-0250-0123456789abcdef".as_slice();
    let nobody = Peer::default();
    group.bench_function("bearer_token", |b| {
        b.iter(|| {
            policy
                .authenticate(black_box(Some(header)), &nobody)
                .is_ok()
        })
    });
    let client = Peer {
        address: None,
        certificate_names: vec!["app250.example".into()],
    };
    group.bench_function("client_certificate", |b| {
        b.iter(|| policy.authenticate(None, black_box(&client)).is_ok())
    });
    let open_config = Config::from_toml_str(
        "[[listener]]\nname = \"api\"\naddress = \"127.0.0.1:8080\"\n",
        "bench",
    )
    .expect("valid");
    let open = Policies::load(&open_config).expect("policies");
    group.bench_function("open_listener", |b| {
        b.iter(|| open[0].authenticate(black_box(None), &nobody).is_ok())
    });
    group.finish();
}

criterion_group!(benches, access);
criterion_main!(benches);
