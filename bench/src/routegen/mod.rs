//! The routing load generator behind `routegen` (`src/bin/routegen.rs`): interactions
//! through `POST /interactions`, a strategy that queues each one and offers it to a ready
//! agent, and the latency from the POST's scheduled time to the offer's arrival on the
//! agent's offer stream, with a backlog of interactions waiting in queues meanwhile.
//!
//! It is a sibling of [`crate::loadgen`] rather than one of its scenarios: it needs a setup
//! over the API (agents, one Server-Sent Events stream each, a backlog checked with
//! `/routing/statistics`) and measures an arrival on a different socket than the request,
//! matched by a stamp in the interaction's data, with offers that never come counted. It
//! shares loadgen's busy-polled sockets, error kinds, histograms and option bounds.
//!
//! Like loadgen it only targets loopback and every run is bounded (see [`options`]).

mod arrivals;
mod conn;
mod drive;
mod ledger;
pub mod offer_stream;
pub mod options;
mod setup;

#[cfg(test)]
mod tests;

pub use drive::{run, OFFER_WAIT_MS};
