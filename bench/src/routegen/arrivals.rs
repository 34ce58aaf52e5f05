//! Every agent's offer stream, read as offers arrive.
//!
//! The generator's core spins (see `loadgen::wait`): it must not make the server pay a
//! wake-up per event it sends, so nothing sleeps on these sockets. Reading each of a hundred
//! streams in turn would cost a hundred failed `read`s per round, and that round is the
//! resolution of the measured latency; one non-blocking `epoll_wait` (timeout 0) names the
//! streams that have data instead, one system call per round whatever the number of agents.
//! With nobody blocked in `epoll_wait`, the server's send wakes no one.

use nix::sys::epoll::{Epoll, EpollCreateFlags, EpollEvent, EpollFlags};

use super::offer_stream::{Arrival, OfferStream, StreamError};

/// Ready streams taken per poll at most (the rest are reported by the next poll).
const READY_PER_POLL_MAX: usize = 256;

/// The streams and their readiness poll.
pub struct Arrivals {
    epoll: Epoll,
    streams: Vec<OfferStream>,
    ready: Vec<EpollEvent>,
}

impl Arrivals {
    /// No streams yet.
    pub fn new() -> Result<Arrivals, String> {
        let epoll = Epoll::new(EpollCreateFlags::EPOLL_CLOEXEC)
            .map_err(|e| format!("epoll_create1: {e}"))?;
        Ok(Arrivals {
            epoll,
            streams: Vec::new(),
            ready: vec![EpollEvent::empty(); READY_PER_POLL_MAX],
        })
    }

    /// Adds a stream; it is polled from now on.
    pub fn add(&mut self, stream: OfferStream) -> Result<(), String> {
        let index = self.streams.len() as u64;
        let event = EpollEvent::new(EpollFlags::EPOLLIN | EpollFlags::EPOLLRDHUP, index);
        self.epoll
            .add(&stream, event)
            .map_err(|e| format!("epoll_ctl: {e}"))?;
        self.streams.push(stream);
        Ok(())
    }

    /// Streams whose 200 head has arrived.
    pub fn streaming(&self) -> usize {
        self.streams.iter().filter(|s| s.is_streaming()).count()
    }

    /// Reads every stream that has data without waiting, appending the offers to
    /// `arrivals`. A stream that fails fails the run: the server dropped a desktop.
    pub fn poll(&mut self, arrivals: &mut Vec<Arrival>) -> Result<(), String> {
        let ready = self
            .epoll
            .wait(&mut self.ready, 0)
            .map_err(|e| format!("epoll_wait: {e}"))?;
        for event in &self.ready[..ready] {
            let index = event.data() as usize;
            let stream = &mut self.streams[index];
            stream
                .read(arrivals)
                .map_err(|e: StreamError| format!("offer stream of {}: {e}", stream.agent()))?;
        }
        Ok(())
    }
}
