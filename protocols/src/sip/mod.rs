//! SIP (RFC 3261) for a redirect server / routing point, sans-IO: the message codec
//! ([`Message`], [`SipStreamDecoder`] for TCP/TLS framing), building responses
//! ([`response()`]) and the server transaction layer ([`Transactions`]).
//!
//! Nothing here performs I/O, reads a clock or draws entropy: bytes and `now_ms` come in,
//! messages, bytes to send and events come out. The parsers never panic on input (fuzzed
//! by `tests/fuzz/fuzz_targets/sip_*.rs`). The glommio transports and the call logic live
//! in `runtime`.
//!
//! A typical request's path: the transport parses a datagram ([`Message::parse`]; on error
//! [`salvage_for_response`] may allow a 400 to be answered), stamps the top Via
//! ([`stamp_received`]), and hands it to [`Transactions::on_request`]; the TU answers new
//! transactions with [`Transactions::respond`], building responses with [`response()`]
//! and the transaction's [`Transactions::to_tag`]; the transport sends what
//! [`Transactions::drain_outgoing`] yields and calls [`Transactions::tick`] at
//! [`Transactions::next_deadline_ms`].

mod error;
mod message;
mod parse;
mod response;
mod stream;
mod syntax;
mod transaction;
mod via;

pub use error::{SipError, SipLimits};
pub use message::{Header, Message, Method, StartLine};
pub use parse::salvage_for_response;
pub use response::{
    reason_phrase, response, response_destination, stamp_received, write_response, DEFAULT_PORT,
};
pub use stream::{Framed, SipStreamDecoder};
pub use transaction::{
    Arrival, Peer, RespondError, Transactions, Transport, TxEvent, TxKey, TxLimits, TxTimers,
};
pub use via::{Via, MAGIC_COOKIE};

#[cfg(test)]
mod tests;

#[cfg(test)]
mod stream_tests;

#[cfg(test)]
mod transaction_tests;
