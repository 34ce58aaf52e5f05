//! Baton's integration tests: one binary, one module per subject.
//!
//! - `w3c`: the W3C SCXML 1.0 IRP suite (automatic tests), data-driven from
//!   `shared/w3c-scxml/MANIFEST.tsv`, run through `runtime::local` in virtual time.
//! - `manual`: the eight mandatory manual W3C tests, turned into automatic checks of what
//!   their instructions ask a tester to look at.
//! - `host`: behaviours of the local host itself (delivery order, cancel, ids, limits).
//! - `sessions`: the local host as the server drives it (many top-level sessions by id,
//!   query, list, terminate, finished sessions, `run_ready`, the `Remote` hook).
//!
//! The `baton` command line is tested in `runtime/tests/cli.rs`, where Cargo can build and
//! locate the binary.

mod host;
mod manual;
mod sessions;
mod support;
mod tidy;
mod w3c;
