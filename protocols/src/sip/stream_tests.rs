//! Framing on streams: whole buffers, byte-by-byte arrival, keep-alives and refusals.

use super::*;

fn request(call_id: &str, body: &str) -> Vec<u8> {
    format!(
        "INVITE sip:5000@baton SIP/2.0\r\n\
         Via: SIP/2.0/TCP 10.0.0.9:5060;branch=z9hG4bK{call_id}\r\n\
         From: <sip:a@x>;tag=1\r\nTo: <sip:5000@baton>\r\nCall-ID: {call_id}\r\n\
         CSeq: 1 INVITE\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// What a connection saw: messages (or invalid ones' errors), pings, and the final verdict.
#[derive(Debug, PartialEq)]
struct Seen {
    messages: Vec<Result<Message, SipError>>,
    pings: usize,
    skipped: usize,
    error: Option<SipError>,
    left: usize,
}

/// Feeds `input` in pieces of `piece` bytes (0: all at once), dropping consumed bytes.
fn feed(input: &[u8], piece: usize, limits: SipLimits) -> Seen {
    let mut decoder = SipStreamDecoder::new(limits);
    let mut seen = Seen {
        messages: Vec::new(),
        pings: 0,
        skipped: 0,
        error: None,
        left: 0,
    };
    let mut buffer = Vec::new();
    let step = if piece == 0 {
        input.len().max(1)
    } else {
        piece
    };
    for chunk in input.chunks(step) {
        buffer.extend_from_slice(chunk);
        loop {
            let consumed = match decoder.decode(&buffer) {
                Err(error) => {
                    assert_eq!(decoder.decode(&buffer), Err(error), "errors are sticky");
                    seen.error = Some(error);
                    return seen;
                }
                Ok(Framed::Need) => break,
                Ok(Framed::Message(message, consumed)) => {
                    seen.messages.push(Ok(message));
                    consumed
                }
                Ok(Framed::Invalid { error, consumed }) => {
                    seen.messages.push(Err(error));
                    consumed
                }
                Ok(Framed::Skip(consumed)) => {
                    seen.skipped += consumed;
                    consumed
                }
                Ok(Framed::Ping(consumed)) => {
                    seen.pings += 1;
                    seen.skipped += consumed;
                    consumed
                }
            };
            assert!(consumed > 0 && consumed <= buffer.len());
            buffer.drain(..consumed);
        }
    }
    seen.left = buffer.len();
    seen
}

fn same_whole_and_bytewise(input: &[u8], limits: SipLimits) -> Seen {
    let whole = feed(input, 0, limits);
    assert_eq!(feed(input, 1, limits), whole);
    assert_eq!(feed(input, 7, limits), whole);
    whole
}

#[test]
fn two_messages_in_one_buffer() {
    let first = request("one", "v=0\r\n");
    let second = request("two", "");
    let both = [first.clone(), second.clone()].concat();
    let mut decoder = SipStreamDecoder::new(SipLimits::DEFAULT);
    let Ok(Framed::Message(message, consumed)) = decoder.decode(&both) else {
        panic!("a message is framed");
    };
    assert_eq!(consumed, first.len());
    assert_eq!(message.call_id(), Some("one"));
    assert_eq!(message.body, b"v=0\r\n");
    let Ok(Framed::Message(message, consumed)) = decoder.decode(&both[first.len()..]) else {
        panic!("a second message is framed");
    };
    assert_eq!(consumed, second.len());
    assert_eq!(message.call_id(), Some("two"));
    assert_eq!(decoder.decode(&[]), Ok(Framed::Need));
}

#[test]
fn a_message_split_byte_by_byte() {
    let input = [request("a", "body"), request("b", "x"), request("c", "")].concat();
    let seen = same_whole_and_bytewise(&input, SipLimits::DEFAULT);
    let ids: Vec<_> = seen
        .messages
        .iter()
        .map(|m| m.as_ref().unwrap().call_id().unwrap().to_owned())
        .collect();
    assert_eq!(ids, ["a", "b", "c"]);
    assert_eq!(seen.error, None);
    assert_eq!(seen.left, 0);
    // An incomplete message consumes nothing.
    let partial = feed(&input[..input.len() - 3], 1, SipLimits::DEFAULT);
    assert_eq!(partial.messages.len(), 2);
    assert!(partial.left > 0);
}

#[test]
fn keep_alives_are_skipped_and_pings_reported() {
    let message = request("k", "");
    let input = [
        &b"\r\n\r\n"[..],
        &message,
        b"\r\n",
        &message,
        b"\r\n\r\n\r\n\r\n",
        b"\n\n",
    ]
    .concat();
    let seen = same_whole_and_bytewise(&input, SipLimits::DEFAULT);
    assert_eq!(seen.messages.len(), 2);
    assert_eq!(seen.pings, 3);
    assert_eq!(seen.skipped, 4 + 2 + 8 + 2);
    let mut decoder = SipStreamDecoder::new(SipLimits::DEFAULT);
    assert_eq!(decoder.decode(b"\r\n\r\nINVITE"), Ok(Framed::Ping(4)));
    assert_eq!(decoder.decode(b"\r\nINVITE"), Ok(Framed::Skip(2)));
    assert_eq!(decoder.decode(b"INVITE"), Ok(Framed::Need));
}

#[test]
fn bare_lf_on_a_stream() {
    let input = String::from_utf8(request("lf", "xy"))
        .unwrap()
        .replace("\r\n", "\n");
    let seen = same_whole_and_bytewise(input.as_bytes(), SipLimits::DEFAULT);
    assert_eq!(seen.messages.len(), 1);
    assert_eq!(seen.messages[0].as_ref().unwrap().body, b"xy");
}

#[test]
fn a_malformed_but_framed_message_keeps_the_connection() {
    let bad = String::from_utf8(request("bad", "12"))
        .unwrap()
        .replace("1 INVITE", "1 BYE")
        .into_bytes();
    let input = [bad.clone(), request("good", "")].concat();
    let seen = same_whole_and_bytewise(&input, SipLimits::DEFAULT);
    assert_eq!(seen.messages[0], Err(SipError::CSeqMismatch));
    assert_eq!(seen.messages[1].as_ref().unwrap().call_id(), Some("good"));
    assert_eq!(seen.error, None);
    let mut decoder = SipStreamDecoder::new(SipLimits::DEFAULT);
    let framed = decoder.decode(&input).unwrap();
    assert_eq!(
        framed,
        Framed::Invalid {
            error: SipError::CSeqMismatch,
            consumed: bad.len()
        }
    );
    assert!(salvage_for_response(&input[..bad.len()]).is_some());
}

#[test]
fn missing_or_conflicting_content_length_breaks_the_stream() {
    let missing = String::from_utf8(request("m", ""))
        .unwrap()
        .replace("Content-Length: 0\r\n", "");
    let seen = same_whole_and_bytewise(missing.as_bytes(), SipLimits::DEFAULT);
    assert_eq!(seen.error, Some(SipError::MissingContentLength));
    let conflicting = String::from_utf8(request("c", "ab"))
        .unwrap()
        .replace("Content-Length: 2\r\n", "Content-Length: 2\r\nl: 3\r\n");
    let seen = same_whole_and_bytewise(conflicting.as_bytes(), SipLimits::DEFAULT);
    assert_eq!(seen.error, Some(SipError::BadContentLength));
}

#[test]
fn oversize_breaks_the_stream() {
    let limits = SipLimits {
        message_bytes_max: 400,
        headers_max: 20,
        body_bytes_max: 100,
    };
    let endless_head = b"INVITE sip:a@b SIP/2.0\r\nX-Pad: ".repeat(20);
    let seen = feed(&endless_head, 1, limits);
    assert_eq!(
        seen.error,
        Some(SipError::TooLarge {
            limit: 400,
            actual: 401
        })
    );
    assert!(matches!(
        feed(&endless_head, 0, limits).error,
        Some(SipError::TooLarge { limit: 400, .. })
    ));
    let big_body = request("big", &"x".repeat(101));
    let seen = same_whole_and_bytewise(&big_body, limits);
    assert_eq!(
        seen.error,
        Some(SipError::BodyTooLarge {
            limit: 100,
            actual: 101
        })
    );
    let head_len = request("t", "").len();
    let too_long = request("t", &"x".repeat(400 - head_len + 1));
    assert!(too_long.len() > 400);
    let seen = same_whole_and_bytewise(
        &too_long,
        SipLimits {
            body_bytes_max: 400,
            ..limits
        },
    );
    assert_eq!(
        seen.error,
        Some(SipError::TooLarge {
            limit: 400,
            actual: too_long.len() as u64
        })
    );
    assert_eq!(seen.messages.len(), 0);
}
