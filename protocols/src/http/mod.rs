//! HTTP/1.1: a sans-IO codec ([`codec`]), request parameters ([`params`]), and the glommio
//! server ([`server`]) and client ([`client`]) loops over it. Responses may stream their body
//! ([`body_stream`]), which is how Server-Sent Events ([`sse`]) are served.
//!
//! The codec never performs I/O and never panics on input: it is fuzzed
//! (`tests/fuzz/fuzz_targets/http_*.rs`). The loops own sockets, buffers and timeouts and
//! hand complete requests to a [`server::Handler`] that `runtime` implements.

pub mod body_stream;
pub mod client;
pub mod codec;
pub mod params;
pub mod server;
pub mod sse;

#[cfg(test)]
mod tests;

#[cfg(test)]
mod stream_tests;

pub use body_stream::BodyStream;
pub use codec::{
    encode_request, encode_response, Decoded, HttpError, HttpLimits, Method, OutboundRequest,
    Progress, Request, RequestDecoder, Response, ResponseDecoder, StreamedBodyDecoder, Version,
};
