//! Server transactions: creation, retransmission absorption, Timer G/H/I/J, CANCEL, ACK,
//! refusals and RFC 2543 matching.

use std::net::SocketAddr;

use super::*;

const T1: u64 = 500;

fn udp() -> Peer {
    Peer {
        transport: Transport::Udp,
        addr: "192.0.2.10:5060".parse().unwrap(),
        connection: 0,
    }
}

fn tcp() -> Peer {
    Peer {
        transport: Transport::Tcp,
        addr: "192.0.2.10:40000".parse().unwrap(),
        connection: 7,
    }
}

fn table() -> Transactions {
    Transactions::new(TxLimits::DEFAULT)
}

/// A request from 192.0.2.10:5060 with the given method, top-Via branch, CSeq and To.
fn request(method: &str, branch: &str, cseq: &str, to: &str) -> Message {
    let branch = if branch.is_empty() {
        String::new()
    } else {
        format!(";branch={branch}")
    };
    let bytes = format!(
        "{method} sip:5000@baton.example.com SIP/2.0\r\n\
         Via: SIP/2.0/UDP 192.0.2.10:5060{branch}\r\n\
         Via: SIP/2.0/UDP 10.9.9.9;branch=z9hG4bKfar\r\n\
         From: <sip:+15550111@pbx>;tag=pbx-1\r\n\
         To: {to}\r\n\
         Call-ID: call-1@pbx\r\n\
         CSeq: {cseq}\r\n\
         Content-Length: 0\r\n\r\n"
    );
    Message::parse(bytes.as_bytes(), &SipLimits::DEFAULT).unwrap()
}

fn invite(branch: &str) -> Message {
    request("INVITE", branch, "1 INVITE", "<sip:5000@baton.example.com>")
}

fn ack(branch: &str, to_tag: &str) -> Message {
    let to = format!("<sip:5000@baton.example.com>;tag={to_tag}");
    request("ACK", branch, "1 ACK", &to)
}

fn cancel(branch: &str) -> Message {
    request("CANCEL", branch, "1 CANCEL", "<sip:5000@baton.example.com>")
}

fn new_key(arrival: Arrival) -> TxKey {
    match arrival {
        Arrival::New { key } => key,
        other => panic!("expected a new transaction, got {other:?}"),
    }
}

/// The messages queued since the last call, parsed, with where they go.
fn sent(txs: &mut Transactions) -> Vec<(Peer, Message)> {
    let mut out = Vec::new();
    txs.drain_outgoing(&mut out);
    out.into_iter()
        .map(|(peer, bytes)| (peer, Message::parse(&bytes, &SipLimits::DEFAULT).unwrap()))
        .collect()
}

fn statuses(txs: &mut Transactions) -> Vec<u16> {
    sent(txs).iter().map(|(_, m)| m.status().unwrap()).collect()
}

fn events(txs: &mut Transactions) -> Vec<TxEvent> {
    let mut out = Vec::new();
    txs.drain_events(&mut out);
    out
}

/// The TU's answer: `status` built from the transaction's request with its tag.
fn answer(txs: &mut Transactions, key: TxKey, status: u16, now_ms: u64) {
    let tag = txs.to_tag(key).unwrap().to_owned();
    let request = txs.request(key).unwrap();
    let contact = [("Contact", "<sip:agent@10.0.0.5>")];
    let message = response(request, status, reason_phrase(status), &tag, &contact);
    txs.respond(key, message, now_ms).unwrap();
}

/// Ticks at each deadline up to `until_ms`; the times at which something was sent.
fn run_until(txs: &mut Transactions, until_ms: u64) -> Vec<u64> {
    let mut sent_at = Vec::new();
    while let Some(at) = txs.next_deadline_ms().filter(|&at| at <= until_ms) {
        txs.tick(at);
        let mut out = Vec::new();
        txs.drain_outgoing(&mut out);
        sent_at.extend(out.iter().map(|_| at));
    }
    sent_at
}

#[test]
fn invite_is_new_and_100_trying_is_queued_at_once() {
    let mut txs = table();
    let key = new_key(txs.on_request(invite("z9hG4bK1"), udp(), 0));
    let sent = sent(&mut txs);
    assert_eq!(sent.len(), 1);
    let (peer, trying) = &sent[0];
    assert_eq!(*peer, udp());
    assert_eq!(trying.status(), Some(100));
    assert_eq!(trying.to_tag(), None);
    assert_eq!(trying.headers("Via").count(), 2);
    assert_eq!(txs.request(key).unwrap().call_id(), Some("call-1@pbx"));
    assert_eq!(txs.peer(key), Some(udp()));
    let tag = txs.to_tag(key).unwrap();
    assert_eq!(tag.len(), 16);
    assert!(tag.bytes().all(|b| b.is_ascii_hexdigit()));
    assert_eq!(txs.len(), 1);
    assert_eq!(txs.next_deadline_ms(), None);
}

#[test]
fn retransmitted_invite_gets_the_latest_response_again() {
    let mut txs = table();
    let key = new_key(txs.on_request(invite("z9hG4bK1"), udp(), 0));
    sent(&mut txs);
    assert_eq!(
        txs.on_request(invite("z9hG4bK1"), udp(), 10),
        Arrival::Retransmission
    );
    assert_eq!(statuses(&mut txs), [100]);
    answer(&mut txs, key, 182, 20);
    answer(&mut txs, key, 182, 30);
    assert_eq!(statuses(&mut txs), [182, 182]);
    assert_eq!(
        txs.on_request(invite("z9hG4bK1"), udp(), 40),
        Arrival::Retransmission
    );
    assert_eq!(statuses(&mut txs), [182]);
    answer(&mut txs, key, 302, 50);
    assert_eq!(statuses(&mut txs), [302]);
    assert_eq!(
        txs.on_request(invite("z9hG4bK1"), udp(), 60),
        Arrival::Retransmission
    );
    let resent = sent(&mut txs);
    assert_eq!(resent[0].1.status(), Some(302));
    assert_eq!(resent[0].1.header("Contact"), Some("<sip:agent@10.0.0.5>"));
    // Another branch is another transaction.
    assert!(matches!(
        txs.on_request(invite("z9hG4bK2"), udp(), 70),
        Arrival::New { .. }
    ));
}

#[test]
fn redirect_over_udp_is_retransmitted_until_ack_then_ends_after_t4() {
    let mut txs = table();
    let key = new_key(txs.on_request(invite("z9hG4bK1"), udp(), 0));
    answer(&mut txs, key, 302, 0);
    assert_eq!(statuses(&mut txs), [100, 302]);
    assert_eq!(
        txs.request(key),
        None,
        "the request is dropped after the final response"
    );
    assert_eq!(
        run_until(&mut txs, 12_000),
        [500, 1_500, 3_500, 7_500, 11_500]
    );
    let tag = txs.to_tag(key).unwrap().to_owned();
    assert_eq!(
        txs.on_request(ack("z9hG4bK1", &tag), udp(), 12_000),
        Arrival::Ack
    );
    assert_eq!(
        txs.on_request(ack("z9hG4bK1", &tag), udp(), 12_100),
        Arrival::Ack
    );
    assert_eq!(
        txs.on_request(invite("z9hG4bK1"), udp(), 12_200),
        Arrival::Retransmission
    );
    assert!(sent(&mut txs).is_empty(), "Confirmed absorbs silently");
    assert_eq!(run_until(&mut txs, 16_999), [] as [u64; 0]);
    assert!(events(&mut txs).is_empty());
    txs.tick(17_000);
    assert_eq!(events(&mut txs), [TxEvent::Terminated { key }]);
    assert!(sent(&mut txs).is_empty());
    assert_eq!(txs.len(), 0);
    assert_eq!(txs.next_deadline_ms(), None);
    let late = response(&invite("z9hG4bK1"), 486, "Busy Here", &tag, &[]);
    assert_eq!(
        txs.respond(key, late, 17_001),
        Err(RespondError::UnknownTransaction)
    );
    assert_eq!(txs.to_tag(key), None);
}

#[test]
fn unacknowledged_redirect_times_out_at_64_t1() {
    let mut txs = table();
    let key = new_key(txs.on_request(invite("z9hG4bK1"), udp(), 1_000));
    answer(&mut txs, key, 302, 1_000);
    sent(&mut txs);
    let resends: Vec<u64> = run_until(&mut txs, 100_000)
        .iter()
        .map(|t| t - 1_000)
        .collect();
    assert_eq!(
        resends,
        [500, 1_500, 3_500, 7_500, 11_500, 15_500, 19_500, 23_500, 27_500, 31_500]
    );
    assert_eq!(events(&mut txs), [TxEvent::AckTimeout { key }]);
    assert_eq!(txs.len(), 0);
    // An ACK after the end matches nothing.
    let tag = "whatever";
    assert_eq!(
        txs.on_request(ack("z9hG4bK1", tag), udp(), 40_000),
        Arrival::Handled
    );
}

#[test]
fn over_tcp_nothing_is_retransmitted_h_still_applies_and_i_is_zero() {
    let mut txs = table();
    let key = new_key(txs.on_request(invite("z9hG4bK1"), tcp(), 0));
    answer(&mut txs, key, 480, 0);
    let sent_now = sent(&mut txs);
    assert!(sent_now.iter().all(|(peer, _)| *peer == tcp()));
    assert_eq!(sent_now.len(), 2);
    assert_eq!(txs.next_deadline_ms(), Some(64 * T1));
    let tag = txs.to_tag(key).unwrap().to_owned();
    assert_eq!(
        txs.on_request(ack("z9hG4bK1", &tag), tcp(), 100),
        Arrival::Ack
    );
    assert_eq!(events(&mut txs), [TxEvent::Terminated { key }]);
    assert_eq!(txs.len(), 0);
    let other = new_key(txs.on_request(invite("z9hG4bK2"), tcp(), 0));
    answer(&mut txs, other, 603, 0);
    sent(&mut txs);
    assert_eq!(run_until(&mut txs, 100_000), [] as [u64; 0]);
    assert_eq!(events(&mut txs), [TxEvent::AckTimeout { key: other }]);
}

#[test]
fn cancel_before_the_final_response() {
    let mut txs = table();
    let key = new_key(txs.on_request(invite("z9hG4bK1"), udp(), 0));
    sent(&mut txs);
    assert_eq!(
        txs.on_request(cancel("z9hG4bK1"), udp(), 100),
        Arrival::Cancel { invite: key }
    );
    let ok = sent(&mut txs);
    assert_eq!(ok.len(), 1);
    assert_eq!(ok[0].1.status(), Some(200));
    assert_eq!(ok[0].1.header("CSeq"), Some("1 CANCEL"));
    assert_eq!(ok[0].1.to_tag(), txs.to_tag(key));
    // The CANCEL's retransmissions are absorbed by its own transaction.
    assert_eq!(
        txs.on_request(cancel("z9hG4bK1"), udp(), 200),
        Arrival::Retransmission
    );
    assert_eq!(statuses(&mut txs), [200]);
    answer(&mut txs, key, 487, 300);
    let terminated = sent(&mut txs);
    assert_eq!(terminated[0].1.status(), Some(487));
    assert_eq!(terminated[0].1.to_tag(), txs.to_tag(key));
    let tag = txs.to_tag(key).unwrap().to_owned();
    assert_eq!(
        txs.on_request(ack("z9hG4bK1", &tag), udp(), 400),
        Arrival::Ack
    );
    // The layer's own CANCEL transaction ends without an event.
    run_until(&mut txs, 100_000);
    assert_eq!(events(&mut txs), [TxEvent::Terminated { key }]);
    assert_eq!(txs.len(), 0);
}

#[test]
fn cancel_after_the_final_response_or_of_nothing() {
    let mut txs = table();
    let key = new_key(txs.on_request(invite("z9hG4bK1"), udp(), 0));
    answer(&mut txs, key, 302, 0);
    sent(&mut txs);
    assert_eq!(
        txs.on_request(cancel("z9hG4bK1"), udp(), 10),
        Arrival::Handled
    );
    let ok = sent(&mut txs);
    assert_eq!(ok[0].1.status(), Some(200));
    assert_eq!(ok[0].1.to_tag(), txs.to_tag(key));
    assert_eq!(
        txs.on_request(cancel("z9hG4bK9"), udp(), 20),
        Arrival::Handled
    );
    let unknown = sent(&mut txs);
    assert_eq!(unknown.len(), 1);
    assert_eq!(unknown[0].1.status(), Some(481));
    assert!(unknown[0].1.to_tag().is_some());
}

#[test]
fn options_is_answered_and_absorbed_until_timer_j() {
    let mut txs = table();
    let options = || request("OPTIONS", "z9hG4bKo", "5 OPTIONS", "<sip:baton>");
    let key = new_key(txs.on_request(options(), udp(), 0));
    assert!(sent(&mut txs).is_empty(), "no 100 for non-INVITE");
    assert_eq!(
        txs.on_request(options(), udp(), 10),
        Arrival::Retransmission
    );
    assert!(
        sent(&mut txs).is_empty(),
        "nothing sent yet, nothing resent"
    );
    answer(&mut txs, key, 200, 100);
    assert_eq!(statuses(&mut txs), [200]);
    assert_eq!(
        txs.on_request(options(), udp(), 200),
        Arrival::Retransmission
    );
    assert_eq!(statuses(&mut txs), [200]);
    txs.tick(100 + 64 * T1 - 1);
    assert!(events(&mut txs).is_empty());
    txs.tick(100 + 64 * T1);
    assert_eq!(events(&mut txs), [TxEvent::Terminated { key }]);
    assert!(
        sent(&mut txs).is_empty(),
        "a non-INVITE final is not retransmitted by timer"
    );
    // Over TCP, J is zero.
    let key = new_key(txs.on_request(options(), tcp(), 0));
    answer(&mut txs, key, 200, 0);
    assert_eq!(events(&mut txs), [TxEvent::Terminated { key }]);
    assert_eq!(txs.len(), 0);
}

#[test]
fn respond_refusals() {
    let mut txs = table();
    let key = new_key(txs.on_request(invite("z9hG4bK1"), udp(), 0));
    let request = txs.request(key).unwrap().clone();
    let tag = txs.to_tag(key).unwrap().to_owned();
    let ok = response(&request, 200, "OK", &tag, &[]);
    assert_eq!(
        txs.respond(key, ok, 0),
        Err(RespondError::TwoHundredToInvite)
    );
    assert_eq!(
        txs.respond(key, request.clone(), 0),
        Err(RespondError::NotAResponse)
    );
    let mut odd = response(&request, 302, "x", &tag, &[]);
    odd.start = StartLine::Response {
        status: 700,
        reason: String::new(),
    };
    assert_eq!(
        txs.respond(key, odd, 0),
        Err(RespondError::BadStatus { status: 700 })
    );
    answer(&mut txs, key, 302, 0);
    let again = response(&request, 486, "Busy Here", &tag, &[]);
    assert_eq!(
        txs.respond(key, again, 0),
        Err(RespondError::AlreadyFinal { status: 302 })
    );
    let provisional = response(&request, 180, "Ringing", &tag, &[]);
    assert_eq!(
        txs.respond(key, provisional, 0),
        Err(RespondError::AlreadyFinal { status: 302 })
    );
}

#[test]
fn a_full_table_refuses_with_503() {
    let mut txs = Transactions::new(TxLimits {
        transactions_max: 2,
        ..TxLimits::DEFAULT
    });
    new_key(txs.on_request(invite("z9hG4bK1"), udp(), 0));
    new_key(txs.on_request(invite("z9hG4bK2"), udp(), 0));
    sent(&mut txs);
    assert_eq!(
        txs.on_request(invite("z9hG4bK3"), udp(), 0),
        Arrival::Refused
    );
    let refused = sent(&mut txs);
    assert_eq!(refused.len(), 1);
    assert_eq!(refused[0].1.status(), Some(503));
    assert!(refused[0].1.to_tag().is_some());
    assert_eq!(txs.len(), 2);
    // Requests that match existing transactions still work.
    assert_eq!(
        txs.on_request(invite("z9hG4bK1"), udp(), 1),
        Arrival::Retransmission
    );
    assert_eq!(
        txs.on_request(ack("z9hG4bK7", "x"), udp(), 1),
        Arrival::Handled
    );
}

#[test]
fn a_cancel_is_still_honoured_when_the_table_is_full() {
    let mut txs = Transactions::new(TxLimits {
        transactions_max: 1,
        ..TxLimits::DEFAULT
    });
    let key = new_key(txs.on_request(invite("z9hG4bK1"), udp(), 0));
    sent(&mut txs);
    assert_eq!(
        txs.on_request(cancel("z9hG4bK1"), udp(), 1),
        Arrival::Cancel { invite: key }
    );
    assert_eq!(statuses(&mut txs), [200]);
    assert_eq!(txs.len(), 1);
}

#[test]
fn stale_keys_are_refused() {
    let mut txs = table();
    let key = new_key(txs.on_request(invite("z9hG4bK1"), tcp(), 0));
    let request = txs.request(key).unwrap().clone();
    answer(&mut txs, key, 302, 0);
    let tag = txs.to_tag(key).unwrap().to_owned();
    txs.on_request(ack("z9hG4bK1", &tag), tcp(), 1);
    assert_eq!(events(&mut txs), [TxEvent::Terminated { key }]);
    // The slot is reused by the next transaction, under another generation.
    let next = new_key(txs.on_request(invite("z9hG4bK2"), tcp(), 2));
    assert_ne!(next, key);
    let late = response(&request, 486, "Busy Here", &tag, &[]);
    assert_eq!(
        txs.respond(key, late, 3),
        Err(RespondError::UnknownTransaction)
    );
    assert_eq!(txs.peer(key), None);
    assert!(txs.request(next).is_some());
}

#[test]
fn rfc_2543_peers_are_matched_without_a_branch() {
    for branch in ["", "1234-old-style"] {
        let mut txs = table();
        let key = new_key(txs.on_request(invite(branch), udp(), 0));
        assert_eq!(
            txs.on_request(invite(branch), udp(), 10),
            Arrival::Retransmission
        );
        assert_eq!(statuses(&mut txs), [100, 100]);
        answer(&mut txs, key, 486, 20);
        sent(&mut txs);
        let tag = txs.to_tag(key).unwrap().to_owned();
        assert_eq!(txs.on_request(ack(branch, &tag), udp(), 30), Arrival::Ack);
        assert_eq!(run_until(&mut txs, 20 + 64 * T1), [] as [u64; 0]);
        assert_eq!(events(&mut txs), [TxEvent::Terminated { key }]);
        // A new CSeq is a new transaction.
        let reinvite = request("INVITE", branch, "2 INVITE", "<sip:5000@baton.example.com>");
        assert!(matches!(
            txs.on_request(reinvite, udp(), 40),
            Arrival::New { .. }
        ));
        // A CANCEL finds its INVITE the same way.
        assert!(matches!(
            txs.on_request(
                request("CANCEL", branch, "2 CANCEL", "<sip:x@y>"),
                udp(),
                50
            ),
            Arrival::Cancel { .. }
        ));
    }
}

#[test]
fn udp_responses_follow_rport_and_the_sent_by_port() {
    let mut txs = table();
    let nat: SocketAddr = "203.0.113.5:40001".parse().unwrap();
    let mut behind_nat = request(
        "INVITE",
        "z9hG4bKn",
        "1 INVITE",
        "<sip:5000@baton.example.com>",
    );
    let via = behind_nat
        .headers
        .iter_mut()
        .find(|h| h.name == "Via")
        .unwrap();
    via.value = "SIP/2.0/UDP 10.0.0.2:5060;rport;branch=z9hG4bKn".into();
    stamp_received(&mut behind_nat, nat);
    let peer = Peer { addr: nat, ..udp() };
    new_key(txs.on_request(behind_nat, peer, 0));
    let trying = sent(&mut txs);
    assert_eq!(trying[0].0.addr, nat);
    assert_eq!(
        trying[0].1.headers("Via").next(),
        Some("SIP/2.0/UDP 10.0.0.2:5060;rport=40001;branch=z9hG4bKn;received=203.0.113.5")
    );
    let other_port = Peer {
        addr: "192.0.2.10:6000".parse().unwrap(),
        ..udp()
    };
    new_key(txs.on_request(invite("z9hG4bKp"), other_port, 0));
    assert_eq!(sent(&mut txs)[0].0.addr, "192.0.2.10:5060".parse().unwrap());
}

#[test]
fn tags_are_distinct_and_replay_from_the_seed() {
    let tags = |seed: u64| {
        let mut txs = Transactions::new(TxLimits {
            tag_seed: seed,
            ..TxLimits::DEFAULT
        });
        (1..=50)
            .map(|n| {
                let key = new_key(txs.on_request(invite(&format!("z9hG4bK{n}")), udp(), 0));
                txs.to_tag(key).unwrap().to_owned()
            })
            .collect::<Vec<_>>()
    };
    let first = tags(7);
    assert_eq!(first, tags(7));
    assert_ne!(first, tags(8));
    let mut unique = first.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), first.len());
}

#[test]
fn stray_messages_are_dropped() {
    let mut txs = table();
    assert_eq!(
        txs.on_request(ack("z9hG4bK1", "t"), udp(), 0),
        Arrival::Handled
    );
    let ringing = response(&invite("z9hG4bK1"), 180, "Ringing", "t", &[]);
    assert_eq!(txs.on_request(ringing, udp(), 0), Arrival::Handled);
    // An ACK for an INVITE still waiting for its final response acknowledges nothing.
    new_key(txs.on_request(invite("z9hG4bK1"), udp(), 0));
    assert_eq!(
        txs.on_request(ack("z9hG4bK1", "t"), udp(), 0),
        Arrival::Handled
    );
    assert!(events(&mut txs).is_empty());
}

fn table_trying_after(trying_ms: u64) -> Transactions {
    let timers = TxTimers {
        trying_ms,
        ..TxTimers::DEFAULT
    };
    Transactions::new(TxLimits {
        timers,
        ..TxLimits::DEFAULT
    })
}

#[test]
fn a_delayed_100_is_left_out_when_the_answer_comes_first() {
    let mut txs = table_trying_after(50);
    let key = new_key(txs.on_request(invite("z9hG4bK1"), udp(), 0));
    assert!(sent(&mut txs).is_empty(), "no 100 before 50 ms");
    answer(&mut txs, key, 302, 10);
    assert_eq!(statuses(&mut txs), [302]);
    txs.tick(50);
    assert!(
        sent(&mut txs).is_empty(),
        "the answer made the 100 needless"
    );
    // An INVITE retransmitted now gets the 302 again, not a 100.
    assert_eq!(
        txs.on_request(invite("z9hG4bK1"), udp(), 60),
        Arrival::Retransmission
    );
    assert_eq!(statuses(&mut txs), [302]);
}

#[test]
fn a_delayed_100_goes_out_when_nothing_answered_in_time() {
    let mut txs = table_trying_after(50);
    let key = new_key(txs.on_request(invite("z9hG4bK1"), udp(), 0));
    assert_eq!(txs.next_deadline_ms(), Some(50));
    assert_eq!(run_until(&mut txs, 49), [] as [u64; 0]);
    txs.tick(50);
    assert_eq!(statuses(&mut txs), [100]);
    assert_eq!(txs.next_deadline_ms(), None);
    answer(&mut txs, key, 486, 900);
    assert_eq!(statuses(&mut txs), [486]);
}

#[test]
fn a_retransmitted_invite_gets_its_delayed_100_at_once() {
    let mut txs = table_trying_after(50);
    new_key(txs.on_request(invite("z9hG4bK1"), udp(), 0));
    assert_eq!(
        txs.on_request(invite("z9hG4bK1"), udp(), 20),
        Arrival::Retransmission
    );
    assert_eq!(statuses(&mut txs), [100]);
    txs.tick(50);
    assert!(sent(&mut txs).is_empty(), "one 100, not two");
}

#[test]
fn a_provisional_response_ends_the_wait_for_the_100() {
    let mut txs = table_trying_after(50);
    let key = new_key(txs.on_request(invite("z9hG4bK1"), udp(), 0));
    answer(&mut txs, key, 182, 5);
    assert_eq!(statuses(&mut txs), [182]);
    txs.tick(50);
    assert!(sent(&mut txs).is_empty());
}
