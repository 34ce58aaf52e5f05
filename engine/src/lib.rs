//! Baton's SCXML engine: W3C SCXML 1.0 with the ECMAScript and null data models.
//!
//! What it does: parses a document with quick-xml ([`parse`]), validates and compiles it once
//! into immutable tables ([`model::Document`], shared by every session of that document), and
//! interprets sessions with the specification's algorithm ([`session::Session`]).
//!
//! What it must never do: I/O, clock reads, threads or global state. Time comes in as an
//! argument (`now_ms`), effects (send, schedule, cancel, invoke, log) go out through the
//! [`effects::Effects`] trait that the runtime implements. That keeps every session
//! deterministic and replayable, and keeps the engine usable on any executor. Baton's own
//! actions (executable content in Baton namespaces, such as `<session:response>`) leave the
//! same way; [`extension`] describes them.
#![forbid(unsafe_code)]
#![warn(missing_docs)]
// A rejected document is a cold path: a rich, position-carrying CompileError by value is
// clearer than boxing it, and costs nothing measurable.
#![allow(clippy::result_large_err)]

pub mod compile;
pub mod datamodel;
pub mod delay;
pub mod effects;
pub mod error;
pub mod event;
pub mod extension;
pub mod limits;
pub mod model;
pub mod parse;
pub mod session;
pub mod value;

#[doc(hidden)]
pub mod fuzzing;
