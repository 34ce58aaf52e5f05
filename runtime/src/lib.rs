//! Baton's runtime: hosts engine sessions and performs their effects.
//!
//! What it does: [`local`] runs a tree of SCXML sessions on one thread (delivering their
//! events, firing their timers, starting their children), and [`cli`] is the `baton`
//! command built on it. What it must never do: put SCXML semantics here. The engine decides
//! what happens; the runtime only carries it out, so every host behaves the same.
#![warn(missing_docs)]

pub mod access;
pub mod cli;
pub mod config;
pub mod documents;
pub mod entropy;
pub mod local;
pub mod orchestration;
pub mod outbound;
pub mod routing;
pub mod serve;
pub mod shard;
