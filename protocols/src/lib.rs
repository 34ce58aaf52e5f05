//! Baton's wire protocols: sans-IO codecs and their server loops.
//!
//! This crate is empty until the runtime issue lands HTTP/1.1, TLS and the Basic HTTP event
//! I/O processor, and the voice issue lands SIP. It must never depend on `engine` or
//! `runtime`: protocols hand plain request values to a sink that `runtime` implements.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod tls;

pub mod http;

pub mod sip;

pub mod timeout;

#[doc(hidden)]
pub mod fuzzing;
