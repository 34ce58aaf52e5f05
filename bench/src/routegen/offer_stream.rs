//! One agent's offer stream as the generator reads it: `GET /agents/{id}/offers` on a
//! non-blocking socket, the response head, the chunked body and the Server-Sent Events in
//! it, each decoded by `protocols`' sans-IO decoders as bytes arrive.
//!
//! The socket is read only when the generator's readiness poll says it has data
//! ([`super::arrivals`]), until it would block; every `offer` event becomes an [`Arrival`]
//! stamped with the time its bytes were read, carrying the `t` the generator put into the
//! interaction's attached data. Other events (`revoked`) and keep-alive comments are read
//! and dropped.

use std::fmt;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::fd::{AsFd, BorrowedFd};
use std::time::Instant;

use protocols::http::sse::{SseDecoder, SseError, SseEvent};
use protocols::http::{
    encode_request, Decoded, HttpError, HttpLimits, OutboundRequest, ResponseDecoder,
    StreamedBodyDecoder,
};

/// The read buffer's first size; it grows (up to [`INPUT_BYTES_MAX`]) only for a response
/// head that does not fit, since the body decoder consumes partial chunks.
const INPUT_BYTES_FIRST: usize = 16 * 1024;
/// The read buffer's bound: a head larger than this is refused.
const INPUT_BYTES_MAX: usize = 256 * 1024;
/// One event at most (an offer carries the interaction and its attached data).
const EVENT_BYTES_MAX: u32 = 1 << 20;

/// An offer as it arrived.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Arrival {
    /// The `t` of the offered interaction's attached data, if it has a whole number there.
    pub stamp_ns: Option<u64>,
    /// When the bytes that completed the event were read.
    pub arrived: Instant,
}

/// Why a stream stopped.
#[derive(Debug)]
#[non_exhaustive]
pub enum StreamError {
    /// A socket error.
    Io(io::Error),
    /// The server closed the connection or ended the body.
    Closed,
    /// The response was malformed.
    Http(HttpError),
    /// The event stream was malformed.
    Sse(SseError),
    /// The server answered something other than 200.
    Status {
        /// The status it answered.
        status: u16,
    },
    /// The response head does not fit the read buffer.
    HeadTooLarge {
        /// The buffer's bound.
        input_bytes_max: usize,
    },
}

impl fmt::Display for StreamError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Io(error) => write!(f, "i/o error: {error}"),
            Self::Closed => write!(f, "the server closed the stream"),
            Self::Http(error) => write!(f, "bad response: {error}"),
            Self::Sse(error) => write!(f, "bad event stream: {error}"),
            Self::Status { status } => write!(f, "answered {status}, not 200"),
            Self::HeadTooLarge { input_bytes_max } => {
                write!(f, "response head larger than {input_bytes_max} bytes")
            }
        }
    }
}

/// One open offer stream and its decoders.
pub struct OfferStream {
    agent: String,
    socket: TcpStream,
    /// `Some` until the response head has arrived.
    head: Option<ResponseDecoder>,
    /// `Some` once the head has arrived.
    body: Option<StreamedBodyDecoder>,
    sse: SseDecoder,
    input: Vec<u8>,
    start: usize,
    end: usize,
    /// Body bytes of the last read, framing removed.
    data: Vec<u8>,
    events: Vec<SseEvent>,
}

impl OfferStream {
    /// Connects and sends `GET /agents/{agent}/offers` (blocking: a loopback connect and a
    /// small write, once, before any measurement); the socket is then non-blocking.
    pub fn open(address: SocketAddr, host: &str, agent: &str) -> io::Result<OfferStream> {
        let mut socket = TcpStream::connect(address)?;
        socket.set_nodelay(true)?;
        let target = format!("/agents/{agent}/offers");
        let request = OutboundRequest {
            method: "GET",
            target: &target,
            host,
            headers: &[("Accept", "text/event-stream")],
            body: b"",
            close: false,
        };
        let mut out = Vec::with_capacity(128);
        encode_request(&request, &mut out);
        socket.write_all(&out)?;
        socket.set_nonblocking(true)?;
        let limits = HttpLimits::DEFAULT;
        Ok(OfferStream {
            agent: agent.to_string(),
            socket,
            head: Some(ResponseDecoder::streamed(limits)),
            body: None,
            sse: SseDecoder::new(EVENT_BYTES_MAX),
            input: vec![0; INPUT_BYTES_FIRST],
            start: 0,
            end: 0,
            data: Vec::new(),
            events: Vec::new(),
        })
    }

    /// The agent whose offers these are.
    pub fn agent(&self) -> &str {
        &self.agent
    }

    /// Whether the 200 head has arrived (the server registered the stream).
    pub fn is_streaming(&self) -> bool {
        self.body.is_some()
    }

    /// Reads everything that has arrived, until the socket would block, appending each
    /// offer to `arrivals`.
    pub fn read(&mut self, arrivals: &mut Vec<Arrival>) -> Result<(), StreamError> {
        loop {
            self.make_room()?;
            match self.socket.read(&mut self.input[self.end..]) {
                Ok(0) => return Err(StreamError::Closed),
                Ok(read) => {
                    let arrived = Instant::now();
                    self.end += read;
                    self.decode(arrived, arrivals)?;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(StreamError::Io(e)),
            }
        }
    }

    fn decode(&mut self, arrived: Instant, arrivals: &mut Vec<Arrival>) -> Result<(), StreamError> {
        if let Some(head) = &mut self.head {
            let progress = head
                .decode(&self.input[self.start..self.end])
                .map_err(StreamError::Http)?;
            self.start += progress.consumed;
            if progress.decoded != Decoded::Complete {
                return Ok(());
            }
            let (response, body) = head.take_streamed();
            if response.status != 200 {
                return Err(StreamError::Status {
                    status: response.status,
                });
            }
            self.head = None;
            self.body = Some(body);
        }
        let body = self.body.as_mut().expect("the head was read above");
        self.data.clear();
        let progress = body
            .decode(&self.input[self.start..self.end], &mut self.data)
            .map_err(StreamError::Http)?;
        self.start += progress.consumed;
        self.sse
            .decode(&self.data, &mut self.events)
            .map_err(StreamError::Sse)?;
        for event in self.events.drain(..) {
            if event.name == "offer" {
                let stamp_ns = offer_stamp(&event.data);
                arrivals.push(Arrival { stamp_ns, arrived });
            }
        }
        match progress.decoded {
            Decoded::Complete => Err(StreamError::Closed),
            _ => Ok(()),
        }
    }

    /// Moves unconsumed bytes to the front; grows the buffer only when they fill it.
    fn make_room(&mut self) -> Result<(), StreamError> {
        if self.start == self.end {
            (self.start, self.end) = (0, 0);
            return Ok(());
        }
        if self.end < self.input.len() {
            return Ok(());
        }
        self.input.copy_within(self.start..self.end, 0);
        (self.start, self.end) = (0, self.end - self.start);
        if self.end == self.input.len() {
            if self.input.len() >= INPUT_BYTES_MAX {
                return Err(StreamError::HeadTooLarge {
                    input_bytes_max: INPUT_BYTES_MAX,
                });
            }
            self.input.resize(self.input.len() * 2, 0);
        }
        Ok(())
    }
}

impl AsFd for OfferStream {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.socket.as_fd()
    }
}

/// The `t` in an offer event's data: `{"interaction": {"data": {"t": N, ..}, ..}, ..}`.
pub fn offer_stamp(data: &str) -> Option<u64> {
    let offer: serde_json::Value = serde_json::from_str(data).ok()?;
    offer.get("interaction")?.get("data")?.get("t")?.as_u64()
}
