//! Agents' offer streams: each desktop that opens `GET /agents/{id}/offers` gets a channel
//! here, and every offer to that agent is written to all its channels as a Server-Sent
//! Event (`event: offer`, then `event: revoked` when the offer is withdrawn).
//!
//! Offers are also kept per agent until answered or withdrawn, so a desktop that connects
//! (or reconnects) after the offer was made still receives it first thing. A channel is
//! bounded: a desktop too slow to read misses the event (counted), never the shard's
//! memory; a closed channel (the desktop went away) is forgotten at the next send.
//!
//! An agent has at most `routing.offer_streams_per_agent_max` streams (default 1): a new
//! one replaces the oldest, which is told so (`event: replaced`) and closed. A desktop that
//! reconnects after a network break thus never waits for its dead connection to time out,
//! and one client cannot hold every stream slot of the shard through one agent.

use std::collections::HashMap;

use serde_json::{json, Value as Json};

use super::InteractionId;
use crate::config::RoutingConfig;

/// One SSE message: `event: NAME`, the JSON on one `data:` line (compact JSON has no
/// newline), and the blank line that ends it.
pub fn sse_message(name: &str, data: &Json) -> Vec<u8> {
    format!("event: {name}\ndata: {data}\n\n").into_bytes()
}

/// The offer streams and pending offers of every agent.
pub struct OfferStreams {
    streams: HashMap<String, Vec<flume::Sender<Vec<u8>>>>,
    pending: HashMap<String, Vec<(InteractionId, Vec<u8>)>>,
    buffer: u32,
    dropped: u64,
    streams_max: u32,
    streams_per_agent_max: u32,
    keepalive_ms: u64,
    last_keepalive_ms: u64,
}

impl OfferStreams {
    /// No streams yet, under `config`'s bounds: `offer_streams_max` at once,
    /// `offer_streams_per_agent_max` per agent, each buffering `offer_stream_buffer`
    /// messages and sent a keep-alive comment every `stream_keepalive_ms`.
    pub fn new(config: &RoutingConfig) -> OfferStreams {
        assert!(config.offer_streams_max > 0);
        assert!(config.offer_streams_per_agent_max > 0);
        assert!(config.offer_stream_buffer > 0);
        assert!(config.stream_keepalive_ms > 0);
        OfferStreams {
            streams: HashMap::new(),
            pending: HashMap::new(),
            buffer: config.offer_stream_buffer,
            dropped: 0,
            streams_max: config.offer_streams_max,
            streams_per_agent_max: config.offer_streams_per_agent_max,
            keepalive_ms: config.stream_keepalive_ms.into(),
            last_keepalive_ms: 0,
        }
    }

    /// Refuses a new stream past `routing.offer_streams_max`.
    pub fn check_room(&self) -> Result<(), String> {
        let open: usize = self.streams.values().map(Vec::len).sum();
        match open < self.streams_max as usize {
            true => Ok(()),
            false => Err(format!(
                "{} offer streams are open (routing.offer_streams_max)",
                self.streams_max
            )),
        }
    }

    /// Sends a keep-alive comment to every stream when one is due (so proxies keep idle
    /// streams open, and streams of desktops that went away are noticed and dropped).
    /// Answers when the next one is due.
    pub fn keep_alive(&mut self, now_ms: u64) -> u64 {
        if now_ms >= self.last_keepalive_ms + self.keepalive_ms {
            self.last_keepalive_ms = now_ms;
            let agents: Vec<String> = self.streams.keys().cloned().collect();
            for agent in agents {
                self.broadcast(&agent, b":\n\n");
            }
        }
        self.last_keepalive_ms + self.keepalive_ms
    }

    /// A new stream for `agent`: the receiving end, with the agent's pending offers queued.
    pub fn open(&mut self, agent: &str) -> flume::Receiver<Vec<u8>> {
        let (tx, rx) = flume::bounded(self.buffer as usize);
        self.attach(agent, tx);
        rx
    }

    /// Adds a stream opened elsewhere (another shard's desktop connection). At the agent's
    /// bound, the oldest stream is told it is replaced and closed first.
    pub fn attach(&mut self, agent: &str, tx: flume::Sender<Vec<u8>>) {
        for (_, message) in self.pending.get(agent).into_iter().flatten() {
            if tx.try_send(message.clone()).is_err() {
                self.dropped += 1;
            }
        }
        let streams = self.streams.entry(agent.to_owned()).or_default();
        // Streams of desktops that went away are not counted against the bound.
        streams.retain(|old| !old.is_disconnected());
        while streams.len() >= self.streams_per_agent_max as usize {
            let oldest = streams.remove(0);
            let reason = json!({"reason": "another offer stream was opened for this agent"});
            // Best effort: a full stream closes without the notice.
            let _ = oldest.try_send(sse_message("replaced", &reason));
        }
        streams.push(tx);
    }

    /// Offers interaction `id` to `agent`: `offer` is the event's data.
    pub fn offer(&mut self, agent: &str, id: InteractionId, offer: &Json) {
        let message = sse_message("offer", offer);
        self.broadcast(agent, &message);
        let pending = self.pending.entry(agent.to_owned()).or_default();
        pending.retain(|(other, _)| *other != id);
        pending.push((id, message));
    }

    /// Withdraws the offer of `id` to `agent` (accepted, rejected, expired, cancelled).
    pub fn revoke(&mut self, agent: &str, id: InteractionId) {
        let Some(pending) = self.pending.get_mut(agent) else {
            return;
        };
        let before = pending.len();
        pending.retain(|(other, _)| *other != id);
        if pending.len() == before {
            return;
        }
        if pending.is_empty() {
            self.pending.remove(agent);
        }
        let message = sse_message("revoked", &json!({"interaction": id.to_string()}));
        self.broadcast(agent, &message);
    }

    /// Forgets the offer of `id` to `agent` without telling the desktop (it answered).
    pub fn answered(&mut self, agent: &str, id: InteractionId) {
        if let Some(pending) = self.pending.get_mut(agent) {
            pending.retain(|(other, _)| *other != id);
            if pending.is_empty() {
                self.pending.remove(agent);
            }
        }
    }

    /// The interactions offered to `agent` and not answered yet.
    pub fn pending(&self, agent: &str) -> Vec<InteractionId> {
        let pending = self.pending.get(agent).into_iter().flatten();
        pending.map(|(id, _)| *id).collect()
    }

    /// Open streams of `agent`.
    pub fn streams(&self, agent: &str) -> usize {
        self.streams.get(agent).map_or(0, Vec::len)
    }

    /// Messages dropped because a stream's buffer was full.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    fn broadcast(&mut self, agent: &str, message: &[u8]) {
        let Some(streams) = self.streams.get_mut(agent) else {
            return;
        };
        let mut dropped = 0;
        streams.retain(|tx| match tx.try_send(message.to_vec()) {
            Ok(()) => true,
            Err(flume::TrySendError::Full(_)) => {
                dropped += 1;
                true
            }
            Err(flume::TrySendError::Disconnected(_)) => false,
        });
        if streams.is_empty() {
            self.streams.remove(agent);
        }
        self.dropped += dropped;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn streams(per_agent: u32, buffer: u32) -> OfferStreams {
        OfferStreams::new(&RoutingConfig {
            offer_streams_max: 10,
            offer_streams_per_agent_max: per_agent,
            offer_stream_buffer: buffer,
            stream_keepalive_ms: 1_000,
            ..RoutingConfig::default()
        })
    }

    #[test]
    fn a_late_desktop_gets_the_pending_offer_and_revocations() {
        let mut offers = streams(1, 4);
        let id = InteractionId(7);
        offers.offer("alice", id, &json!({"n": 1}));
        let rx = offers.open("alice");
        let first = String::from_utf8(rx.try_recv().unwrap()).unwrap();
        assert_eq!(first, "event: offer\ndata: {\"n\":1}\n\n");
        offers.revoke("alice", id);
        let second = String::from_utf8(rx.try_recv().unwrap()).unwrap();
        assert!(second.starts_with("event: revoked\n"), "{second}");
        assert!(offers.pending("alice").is_empty());
    }

    #[test]
    fn closed_streams_are_forgotten_and_full_ones_count_drops() {
        let mut offers = streams(2, 1);
        let rx = offers.open("bob");
        drop(offers.open("bob"));
        offers.offer("bob", InteractionId(1), &json!({}));
        assert_eq!(offers.streams("bob"), 1, "the closed stream is gone");
        offers.offer("bob", InteractionId(2), &json!({}));
        assert_eq!(offers.dropped(), 1, "the buffer of one was full");
        assert!(rx.try_recv().is_ok());
    }

    #[test]
    fn a_new_stream_replaces_the_oldest_at_the_agents_bound() {
        let mut offers = streams(2, 4);
        let first = offers.open("carol");
        let second = offers.open("carol");
        let third = offers.open("carol");
        assert_eq!(offers.streams("carol"), 2);
        let notice = String::from_utf8(first.try_recv().unwrap()).unwrap();
        assert!(
            notice.starts_with(
                "event: replaced
"
            ),
            "{notice}"
        );
        assert!(first.recv().is_err(), "the replaced stream is closed");
        offers.offer("carol", InteractionId(3), &json!({}));
        assert!(second.try_recv().is_ok());
        assert!(third.try_recv().is_ok());
        // A stream whose desktop went away does not count.
        drop(second);
        let _fourth = offers.open("carol");
        assert!(third.try_recv().is_err(), "the live stream was kept");
        assert_eq!(offers.streams("carol"), 2);
    }
}
