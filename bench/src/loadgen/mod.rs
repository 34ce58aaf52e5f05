//! The HTTP load generator behind `loadgen` (`src/bin/loadgen.rs`): closed or open loop
//! against Baton's session API on loopback, latencies in an hdrhistogram, one JSON line out.
//!
//! It never targets anything but loopback and every run is bounded in time and connections
//! (see [`options`]), because it is built to saturate the machine it runs on.

mod drive;
pub mod options;
pub mod report;
pub mod wait;

pub use drive::run;
