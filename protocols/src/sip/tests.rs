//! Parsing, encoding, salvage and response building, on messages shaped like real traffic.

use std::net::SocketAddr;

use super::*;

const SDP: &str = "v=0\r\no=user1 53655765 2353687637 IN IP4 127.0.0.1\r\ns=-\r\n\
c=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 6000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n";

/// An INVITE the way SIPp's built-in `uac` scenario sends it.
fn sipp_invite() -> Vec<u8> {
    format!(
        "INVITE sip:service@127.0.0.1:5060 SIP/2.0\r\n\
         Via: SIP/2.0/UDP 127.0.0.1:5061;branch=z9hG4bK-2113-1-0\r\n\
         From: sipp <sip:sipp@127.0.0.1:5061>;tag=2113SIPpTag001\r\n\
         To: service <sip:service@127.0.0.1:5060>\r\n\
         Call-ID: 1-2113@127.0.0.1\r\n\
         CSeq: 1 INVITE\r\n\
         Contact: sip:sipp@127.0.0.1:5061\r\n\
         Max-Forwards: 70\r\n\
         Subject: Performance Test\r\n\
         Content-Type: application/sdp\r\n\
         Content-Length: {}\r\n\r\n{SDP}",
        SDP.len()
    )
    .into_bytes()
}

fn parse(bytes: &[u8]) -> Message {
    Message::parse(bytes, &SipLimits::DEFAULT).unwrap()
}

fn refusal(bytes: &[u8]) -> SipError {
    Message::parse(bytes, &SipLimits::DEFAULT).unwrap_err()
}

/// A minimal valid request with `extra` header lines (each ending in CRLF) before the
/// blank line.
fn options_with(extra: &str) -> Vec<u8> {
    format!(
        "OPTIONS sip:5000@baton.example.com SIP/2.0\r\n\
         Via: SIP/2.0/UDP pbx.example.com:5060;branch=z9hG4bKabc\r\n\
         From: <sip:pbx@example.com>;tag=f1\r\n\
         To: <sip:5000@baton.example.com>\r\n\
         Call-ID: opt-1@pbx\r\n\
         CSeq: 7 OPTIONS\r\n{extra}\r\n"
    )
    .into_bytes()
}

fn addr(text: &str) -> SocketAddr {
    text.parse().unwrap()
}

#[test]
fn sipp_invite_with_sdp() {
    let invite = parse(&sipp_invite());
    assert!(invite.is_request());
    assert_eq!(invite.method(), Some(&Method::Invite));
    assert_eq!(invite.request_uri(), Some("sip:service@127.0.0.1:5060"));
    assert_eq!(invite.request_user(), Some("service"));
    assert_eq!(invite.from_user(), Some("sipp"));
    assert_eq!(invite.from_tag(), Some("2113SIPpTag001"));
    assert_eq!(invite.to_tag(), None);
    assert_eq!(invite.call_id(), Some("1-2113@127.0.0.1"));
    assert_eq!(invite.cseq(), Some((1, Method::Invite)));
    assert_eq!(invite.status(), None);
    assert_eq!(invite.header("content-type"), Some("application/sdp"));
    assert_eq!(invite.header("c"), Some("application/sdp"));
    assert_eq!(invite.header("max-forwards"), Some("70"));
    assert_eq!(invite.body, SDP.as_bytes());
    assert_eq!(invite.headers.len(), 10);
    let via = invite.top_via().unwrap();
    assert_eq!(via.transport, "UDP");
    assert_eq!(via.host, "127.0.0.1");
    assert_eq!(via.port, Some(5061));
    assert_eq!(via.branch.as_deref(), Some("z9hG4bK-2113-1-0"));
    assert_eq!(via.received, None);
    assert_eq!(via.rport, None);
}

#[test]
fn compact_headers_get_their_long_names() {
    let bytes = b"INVITE sip:+15550100@10.0.0.1;user=phone SIP/2.0\r\n\
        v: SIP/2.0/tcp 10.0.0.9;branch=z9hG4bK77;rport\r\n\
        f: \"Alice\" <sip:+15550111@10.0.0.9>;tag=a1\r\n\
        t: <sip:+15550100@10.0.0.1>\r\n\
        i: compact@10.0.0.9\r\n\
        m: <sip:alice@10.0.0.9;transport=tcp>\r\n\
        k: timer\r\n\
        s: hi\r\n\
        e: gzip\r\n\
        CSeq: 2 INVITE\r\n\
        c: application/sdp\r\n\
        l: 3\r\n\r\nabc";
    let invite = parse(bytes);
    let names: Vec<_> = invite.headers.iter().map(|h| h.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "Via",
            "From",
            "To",
            "Call-ID",
            "Contact",
            "Supported",
            "Subject",
            "Content-Encoding",
            "CSeq",
            "Content-Type",
            "Content-Length"
        ]
    );
    assert_eq!(invite.header("i"), Some("compact@10.0.0.9"));
    assert_eq!(invite.header("CALL-ID"), Some("compact@10.0.0.9"));
    assert_eq!(invite.body, b"abc");
    assert_eq!(invite.request_user(), Some("+15550100"));
    assert_eq!(invite.from_user(), Some("+15550111"));
    let via = invite.top_via().unwrap();
    assert_eq!(via.transport, "TCP");
    assert_eq!(via.port, None);
    assert_eq!(via.rport, Some(None));
}

#[test]
fn folded_headers_are_joined_by_one_space() {
    let bytes = options_with(
        "Subject: I know you're there,\r\n   pick up the phone\r\n\tand talk to me!\r\n\
         Via: SIP/2.0/UDP second.example.com;\r\n branch=z9hG4bKfold\r\n",
    );
    let message = parse(&bytes);
    assert_eq!(
        message.header("Subject"),
        Some("I know you're there, pick up the phone and talk to me!")
    );
    let vias: Vec<_> = message.headers("Via").collect();
    assert_eq!(
        vias[1],
        "SIP/2.0/UDP second.example.com; branch=z9hG4bKfold"
    );
}

#[test]
fn via_elements_in_one_header_and_across_headers() {
    let bytes = b"BYE sip:agent@10.0.0.5 SIP/2.0\r\n\
        Via: SIP/2.0/UDP proxy1.example.com;branch=z9hG4bK1, SIP/2.0/UDP [2001:db8::9]:5070\
        ;branch=z9hG4bK2;x=\"a,b\"\r\n\
        From: <sip:a@example.com>;tag=1\r\n\
        Via: SIP/2.0/TCP client.example.com:5062;branch=z9hG4bK3;received=192.0.2.4\r\n\
        To: <sip:b@example.com>;tag=2\r\n\
        Call-ID: vias\r\n\
        CSeq: 3 BYE\r\n\r\n";
    let bye = parse(bytes);
    let vias: Vec<_> = bye.headers("v").collect();
    assert_eq!(
        vias,
        [
            "SIP/2.0/UDP proxy1.example.com;branch=z9hG4bK1",
            "SIP/2.0/UDP [2001:db8::9]:5070;branch=z9hG4bK2;x=\"a,b\"",
            "SIP/2.0/TCP client.example.com:5062;branch=z9hG4bK3;received=192.0.2.4"
        ]
    );
    assert_eq!(bye.top_via().unwrap().host, "proxy1.example.com");
    assert_eq!(bye.to_tag(), Some("2"));
    // Other headers are yielded whole, commas and all.
    let bytes = options_with("Contact: <sip:a@x>, <sip:b@y>\r\n");
    assert_eq!(parse(&bytes).headers("m").count(), 1);
}

#[test]
fn bare_lf_line_ends_and_leading_keep_alives() {
    let crlf = options_with("");
    let lf: Vec<u8> = String::from_utf8(crlf.clone())
        .unwrap()
        .replace("\r\n", "\n")
        .into_bytes();
    assert_eq!(parse(&lf), parse(&crlf));
    let mut keep_alive = b"\r\n\r\n\n".to_vec();
    keep_alive.extend_from_slice(&crlf);
    assert_eq!(parse(&keep_alive), parse(&crlf));
}

#[test]
fn options_without_content_length_takes_the_rest_of_the_datagram() {
    let options = parse(&options_with(""));
    assert_eq!(options.method(), Some(&Method::Options));
    assert_eq!(options.cseq(), Some((7, Method::Options)));
    assert!(options.body.is_empty());
    let mut with_body = options_with("");
    with_body.extend_from_slice(b"tail");
    assert_eq!(parse(&with_body).body, b"tail");
    // Content-Length shorter than the datagram: the rest is dropped (RFC 3261 §18.3).
    let mut short = options_with("Content-Length: 2\r\n");
    short.extend_from_slice(b"tail");
    assert_eq!(parse(&short).body, b"ta");
}

#[test]
fn extension_methods_and_responses() {
    let info = parse(&options_with("").replace_all("OPTIONS", "INFO"));
    assert_eq!(info.method(), Some(&Method::Other("INFO".into())));
    assert_eq!(info.cseq(), Some((7, Method::Other("INFO".into()))));
    let bytes = b"SIP/2.0 180 Ringing\r\n\
        Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKx\r\n\
        From: <sip:a@x>;tag=1\r\nTo: <sip:b@y>;tag=9\r\nCall-ID: r\r\nCSeq: 1 INVITE\r\n\
        Content-Length: 0\r\n\r\n";
    let ringing = parse(bytes);
    assert!(!ringing.is_request());
    assert_eq!(ringing.status(), Some(180));
    assert_eq!(ringing.method(), None);
    assert_eq!(ringing.request_user(), None);
    assert_eq!(
        ringing.start,
        StartLine::Response {
            status: 180,
            reason: "Ringing".into()
        }
    );
    // A missing reason phrase is tolerated.
    let bare = String::from_utf8(bytes.to_vec())
        .unwrap()
        .replace(" Ringing", "");
    assert_eq!(parse(bare.as_bytes()).status(), Some(180));
}

trait ReplaceAll {
    fn replace_all(&self, from: &str, to: &str) -> Vec<u8>;
}

impl ReplaceAll for Vec<u8> {
    fn replace_all(&self, from: &str, to: &str) -> Vec<u8> {
        String::from_utf8(self.clone())
            .unwrap()
            .replace(from, to)
            .into_bytes()
    }
}

#[test]
fn encode_then_parse_round_trips() {
    for bytes in [sipp_invite(), options_with("Subject: x\r\n y\r\n")] {
        let message = parse(&bytes);
        let mut encoded = Vec::new();
        message.encode(&mut encoded);
        let again = parse(&encoded);
        assert_eq!(again.start, message.start);
        assert_eq!(again.body, message.body);
        let without_length = |m: &Message| {
            let mut headers = m.headers.clone();
            headers.retain(|h| h.name != "Content-Length");
            headers
        };
        assert_eq!(without_length(&again), without_length(&message));
        let mut twice = Vec::new();
        again.encode(&mut twice);
        assert_eq!(twice, encoded);
    }
}

#[test]
fn encode_writes_a_correct_content_length_and_cannot_forge_lines() {
    let mut message = parse(&sipp_invite());
    message.body.truncate(5);
    message.headers.push(Header {
        name: "l".into(),
        value: "999".into(),
    });
    message.headers.push(Header {
        name: "X-Evil".into(),
        value: "a\r\nVia: forged".into(),
    });
    let mut out = Vec::new();
    message.encode(&mut out);
    let text = String::from_utf8(out.clone()).unwrap();
    assert!(text.starts_with("INVITE sip:service@127.0.0.1:5060 SIP/2.0\r\n"));
    assert!(text.ends_with("X-Evil: a  Via: forged\r\nContent-Length: 5\r\n\r\nv=0\r\n"));
    assert_eq!(text.matches("Content-Length").count(), 1);
    let again = parse(&out);
    assert_eq!(again.headers("Via").count(), 1);
    assert_eq!(again.body, b"v=0\r\n");
}

/// The minimal OPTIONS with `from` replaced by `to`.
fn edited(from: &str, to: &str) -> Vec<u8> {
    let bytes = options_with("");
    assert!(String::from_utf8_lossy(&bytes).contains(from));
    bytes.replace_all(from, to)
}

fn assert_refused(bytes: &[u8], error: SipError, status: u16) {
    let found = refusal(bytes);
    assert_eq!(found, error, "{}", String::from_utf8_lossy(bytes));
    assert_eq!(found.status(), status);
    assert!(
        !found.to_string().contains('"'),
        "Display fits in a Warning text"
    );
}

#[test]
fn refusals_of_the_start_line_and_header_lines() {
    assert_refused(b"\r\n\r\n", SipError::Empty, 400);
    assert_refused(&edited("\r\n\r\n", "\r\n"), SipError::Unterminated, 400);
    assert_refused(
        &edited("OPTIONS sip", "OPTIONS  sip"),
        SipError::BadStartLine,
        400,
    );
    assert_refused(
        &edited("OPTIONS sip:5000@", "OPTIONS 5000@"),
        SipError::BadStartLine,
        400,
    );
    assert_refused(
        &edited("SIP/2.0\r\n", "SIP/3.0\r\n"),
        SipError::BadVersion,
        505,
    );
    assert_refused(
        &edited("SIP/2.0\r\n", "HTTP/1.1\r\n"),
        SipError::BadStartLine,
        400,
    );
    let line_7 = SipError::BadHeader { line: 7 };
    assert_refused(&options_with("Bad Name: x\r\n"), line_7, 400);
    assert_refused(&options_with("NoColon\r\n"), line_7, 400);
    assert_refused(&options_with("X-Nul: a\0b\r\n"), line_7, 400);
    assert_refused(&options_with("X-Cr: a\rb\r\n"), line_7, 400);
    let mut invalid_utf8 = options_with("X-Latin1: caf\u{e9}\r\n");
    let at = invalid_utf8.iter().position(|&b| b == 0xc3).unwrap();
    invalid_utf8.remove(at);
    assert_refused(&invalid_utf8, line_7, 400);
    let folded_first = edited("SIP/2.0\r\nVia", "SIP/2.0\r\n folded\r\nVia");
    assert_refused(&folded_first, SipError::BadHeader { line: 2 }, 400);
}

#[test]
fn refusals_of_the_required_headers_and_framing() {
    let missing = |name| SipError::MissingHeader { name };
    assert_refused(
        &edited("Call-ID: opt-1@pbx\r\n", ""),
        missing("Call-ID"),
        400,
    );
    assert_refused(
        &edited("Via: SIP", "Via:\r\nX-Via: SIP"),
        missing("Via"),
        400,
    );
    let bad_to = SipError::BadAddress { name: "To" };
    assert_refused(
        &edited("baton.example.com>", "baton.example.com"),
        bad_to,
        400,
    );
    let bad_from = SipError::BadAddress { name: "From" };
    assert_refused(
        &edited("From: <sip:pbx", "From: \"pbx <sip:pbx"),
        bad_from,
        400,
    );
    assert_refused(
        &edited("From: <sip:pbx@example.com>", "From: pbx"),
        bad_from,
        400,
    );
    assert_refused(&edited("CSeq: 7", "CSeq: x7"), SipError::BadCSeq, 400);
    assert_refused(
        &edited("CSeq: 7", "CSeq: 2147483648"),
        SipError::BadCSeq,
        400,
    );
    assert_refused(
        &edited("7 OPTIONS", "7 INVITE"),
        SipError::CSeqMismatch,
        400,
    );
    assert_refused(
        &edited("SIP/2.0/UDP pbx", "SIP/1.0/UDP pbx"),
        SipError::BadVia,
        400,
    );
    assert_refused(
        &edited(":5060;branch", ":5060 junk;branch"),
        SipError::BadVia,
        400,
    );
    let bad_length = SipError::BadContentLength;
    assert_refused(&options_with("Content-Length: ten\r\n"), bad_length, 400);
    assert_refused(
        &options_with("Content-Length: 0\r\nl: 1\r\n"),
        bad_length,
        400,
    );
    let too_large = SipError::BodyTooLarge {
        limit: 16_384,
        actual: 20_000,
    };
    assert_refused(&options_with("Content-Length: 20000\r\n"), too_large, 413);
    let truncated = SipError::BodyTruncated {
        declared: 10,
        available: 0,
    };
    assert_refused(&options_with("Content-Length: 10\r\n"), truncated, 400);
}

#[test]
fn size_refusals() {
    let small = SipLimits {
        message_bytes_max: 300,
        headers_max: 6,
        body_bytes_max: 10,
    };
    let big = options_with(&"X-Pad: 0123456789\r\n".repeat(20));
    assert_eq!(
        Message::parse(&big, &small).unwrap_err(),
        SipError::TooLarge {
            limit: 300,
            actual: big.len() as u64
        }
    );
    assert_eq!(Message::parse(&big, &small).unwrap_err().status(), 513);
    let many = options_with("X-A: 1\r\nX-B: 2\r\n");
    let error = Message::parse(&many, &small).unwrap_err();
    assert_eq!(error, SipError::TooManyHeaders { headers_max: 6 });
    assert_eq!(error.status(), 513);
    let mut body = options_with("");
    body.extend_from_slice(b"0123456789a");
    assert_eq!(
        Message::parse(&body, &small).unwrap_err(),
        SipError::BodyTooLarge {
            limit: 10,
            actual: 11
        }
    );
}

#[test]
fn error_messages_read_as_sentences() {
    assert_eq!(
        SipError::MissingHeader { name: "CSeq" }.to_string(),
        "the CSeq header field is missing"
    );
    assert_eq!(
        SipError::TooLarge {
            limit: 10,
            actual: 12
        }
        .to_string(),
        "the message of 12 bytes exceeds the limit of 10"
    );
    assert_eq!(
        SipError::BadHeader { line: 3 }.to_string(),
        "header line 3 is malformed"
    );
}

#[test]
fn uri_users() {
    let with_uri = |uri: &str| options_with("").replace_all("sip:5000@baton.example.com", uri);
    assert_eq!(
        parse(&with_uri("sip:5000@h;x=y")).request_user(),
        Some("5000")
    );
    assert_eq!(
        parse(&with_uri("tel:+1555;phone-context=x")).request_user(),
        Some("+1555")
    );
    assert_eq!(
        parse(&with_uri("sips:bob:secret@h")).request_user(),
        Some("bob")
    );
    assert_eq!(parse(&with_uri("sip:h.example.com")).request_user(), None);
    assert_eq!(parse(&with_uri("urn:service:sos")).request_user(), None);
    let quoted = options_with("").replace_all(
        "From: <sip:pbx@example.com>;tag=f1",
        "From: \"Doe; <John>\" <sip:+4930123@gw;user=phone>;tag=q;x",
    );
    let message = parse(&quoted);
    assert_eq!(message.from_user(), Some("+4930123"));
    assert_eq!(message.from_tag(), Some("q"));
    let addr_spec =
        options_with("").replace_all("From: <sip:pbx@example.com>;tag=f1", "From: sip:7@gw;tag=z");
    assert_eq!(parse(&addr_spec).from_user(), Some("7"));
    assert_eq!(parse(&addr_spec).from_tag(), Some("z"));
}

#[test]
fn salvage_keeps_what_a_response_needs() {
    let broken = options_with("Bad Header\r\nContent-Length: nine\r\n");
    assert!(Message::parse(&broken, &SipLimits::DEFAULT).is_err());
    let salvaged = salvage_for_response(&broken).unwrap();
    assert_eq!(salvaged.method(), Some(&Method::Options));
    let names: Vec<_> = salvaged.headers.iter().map(|h| h.name.as_str()).collect();
    assert_eq!(names, ["Via", "From", "To", "Call-ID", "CSeq"]);
    assert_eq!(salvaged.call_id(), Some("opt-1@pbx"));
    let answer = response(&salvaged, 400, reason_phrase(400), "t", &[]);
    let mut bytes = Vec::new();
    answer.encode(&mut bytes);
    assert_eq!(parse(&bytes).status(), Some(400));
    // A version we do not speak can still be answered 505.
    let future = options_with("").replace_all("SIP/2.0\r\n", "SIP/3.0\r\n");
    assert_eq!(refusal(&future).status(), 505);
    assert!(salvage_for_response(&future).is_some());
}

#[test]
fn salvage_gives_up_without_the_five_headers_or_for_ack_and_responses() {
    let no_call_id = options_with("").replace_all("Call-ID: opt-1@pbx\r\n", "");
    assert_eq!(salvage_for_response(&no_call_id), None);
    let ack = options_with("Bad Header\r\n").replace_all("OPTIONS", "ACK");
    assert_eq!(salvage_for_response(&ack), None);
    let response =
        b"SIP/2.0 200 OK\r\nVia: x\r\nFrom: a\r\nTo: b\r\nCall-ID: c\r\nCSeq: 1 A\r\n\r\n";
    assert_eq!(salvage_for_response(response), None);
    assert_eq!(
        salvage_for_response(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"),
        None
    );
    assert_eq!(salvage_for_response(b""), None);
}

#[test]
fn response_copies_the_dialog_headers() {
    let bytes = b"INVITE sip:5000@baton SIP/2.0\r\n\
        Via: SIP/2.0/UDP proxy;branch=z9hG4bKp, SIP/2.0/UDP client;branch=z9hG4bKc\r\n\
        v: SIP/2.0/UDP origin;branch=z9hG4bKo\r\n\
        f: <sip:a@x>;tag=from1\r\n\
        To: <sip:5000@baton>\r\n\
        Call-ID: call-7\r\n\
        CSeq: 42 INVITE\r\n\
        Timestamp: 54\r\n\
        Content-Length: 0\r\n\r\n";
    let invite = parse(bytes);
    let contact = "<sip:agent@10.0.0.5>";
    let moved = response(
        &invite,
        302,
        reason_phrase(302),
        "t0",
        &[("Contact", contact)],
    );
    let mut encoded = Vec::new();
    moved.encode(&mut encoded);
    assert_eq!(
        String::from_utf8(encoded).unwrap(),
        "SIP/2.0 302 Moved Temporarily\r\n\
         Via: SIP/2.0/UDP proxy;branch=z9hG4bKp, SIP/2.0/UDP client;branch=z9hG4bKc\r\n\
         Via: SIP/2.0/UDP origin;branch=z9hG4bKo\r\n\
         From: <sip:a@x>;tag=from1\r\n\
         To: <sip:5000@baton>;tag=t0\r\n\
         Call-ID: call-7\r\n\
         CSeq: 42 INVITE\r\n\
         Contact: <sip:agent@10.0.0.5>\r\n\
         Content-Length: 0\r\n\r\n"
    );
    let trying = response(&invite, 100, "Trying", "t0", &[]);
    assert_eq!(trying.to_tag(), None);
    assert_eq!(trying.header("Timestamp"), Some("54"));
    assert_eq!(trying.header("Content-Length"), Some("0"));
    let queued = response(&invite, 182, "Queued", "t0", &[]);
    assert_eq!(queued.to_tag(), Some("t0"));
    assert_eq!(queued.header("Timestamp"), None);
    // An existing To tag (a request within a dialog) is kept.
    let mut in_dialog = invite.clone();
    let to = in_dialog
        .headers
        .iter_mut()
        .find(|h| h.name == "To")
        .unwrap();
    to.value.push_str(";tag=old");
    let busy = response(&in_dialog, 486, reason_phrase(486), "t0", &[]);
    assert_eq!(busy.to_tag(), Some("old"));
    assert_eq!(busy.header("To"), Some("<sip:5000@baton>;tag=old"));
}

#[test]
fn reason_phrases() {
    assert_eq!(reason_phrase(100), "Trying");
    assert_eq!(reason_phrase(182), "Queued");
    assert_eq!(reason_phrase(302), "Moved Temporarily");
    assert_eq!(reason_phrase(481), "Call/Transaction Does Not Exist");
    assert_eq!(reason_phrase(487), "Request Terminated");
    assert_eq!(reason_phrase(513), "Message Too Large");
    assert_eq!(reason_phrase(603), "Decline");
    assert_eq!(reason_phrase(299), "Unknown");
}

fn via_of(top: &str) -> Message {
    parse(&options_with("").replace_all("SIP/2.0/UDP pbx.example.com:5060;branch=z9hG4bKabc", top))
}

fn stamped(top: &str, source: &str) -> String {
    let mut request = via_of(top);
    stamp_received(&mut request, addr(source));
    let value = request.headers("Via").next().unwrap().to_owned();
    let mut again = request.clone();
    stamp_received(&mut again, addr(source));
    assert_eq!(again, request, "stamping is idempotent");
    value
}

#[test]
fn stamping_received_and_rport() {
    let source = "192.0.2.7:5080";
    // A sent-by that is the source address needs nothing.
    let same = "SIP/2.0/UDP 192.0.2.7:5080;branch=z9hG4bK1";
    assert_eq!(stamped(same, source), same);
    // A domain name, or another address, gets received.
    assert_eq!(
        stamped("SIP/2.0/UDP pbx.example.com;branch=z9hG4bK1", source),
        "SIP/2.0/UDP pbx.example.com;branch=z9hG4bK1;received=192.0.2.7"
    );
    assert_eq!(
        stamped("SIP/2.0/UDP 10.1.1.1:5060 ; branch=z9hG4bK1", source),
        "SIP/2.0/UDP 10.1.1.1:5060;branch=z9hG4bK1;received=192.0.2.7"
    );
    // A bare rport is filled, and received is then always added (RFC 3581 §4).
    assert_eq!(
        stamped("SIP/2.0/UDP 192.0.2.7:5060;rport;branch=z9hG4bK1", source),
        "SIP/2.0/UDP 192.0.2.7:5060;rport=5080;branch=z9hG4bK1;received=192.0.2.7"
    );
    // A received the sender wrote itself is replaced.
    assert_eq!(
        stamped(
            "SIP/2.0/UDP 192.0.2.7:5080;received=203.0.113.1;branch=z9hG4bK1",
            source
        ),
        "SIP/2.0/UDP 192.0.2.7:5080;branch=z9hG4bK1"
    );
    assert_eq!(
        stamped(
            "SIP/2.0/UDP [2001:db8::1];branch=z9hG4bK1",
            "[2001:db8::2]:5060"
        ),
        "SIP/2.0/UDP [2001:db8::1];branch=z9hG4bK1;received=2001:db8::2"
    );
    assert_eq!(
        stamped(
            "SIP/2.0/UDP [2001:db8::1];branch=z9hG4bK1",
            "[2001:db8::1]:5060"
        ),
        "SIP/2.0/UDP [2001:db8::1];branch=z9hG4bK1"
    );
    // Only the top element changes.
    let two = "SIP/2.0/UDP a.example;rport;branch=z9hG4bK1, SIP/2.0/UDP b.example;branch=z9hG4bK2";
    let mut request = via_of(two);
    stamp_received(&mut request, addr(source));
    let vias: Vec<_> = request.headers("Via").collect();
    assert_eq!(
        vias,
        [
            "SIP/2.0/UDP a.example;rport=5080;branch=z9hG4bK1;received=192.0.2.7",
            "SIP/2.0/UDP b.example;branch=z9hG4bK2"
        ]
    );
    let via = request.top_via().unwrap();
    assert_eq!(via.rport, Some(Some(5080)));
    assert_eq!(via.received.as_deref(), Some("192.0.2.7"));
}

#[test]
fn response_destinations() {
    let source = addr("192.0.2.7:40000");
    let destination = |top: &str| {
        let mut request = via_of(top);
        let unstamped = response_destination(&request, source);
        stamp_received(&mut request, source);
        assert_eq!(response_destination(&request, source), unstamped);
        unstamped
    };
    // rport: back where it came from.
    assert_eq!(
        destination("SIP/2.0/UDP 10.0.0.1:5062;rport;branch=z9hG4bK1"),
        source
    );
    // Otherwise: the source (received) address at the sent-by port, or 5060.
    assert_eq!(
        destination("SIP/2.0/UDP 10.0.0.1:5062;branch=z9hG4bK1"),
        addr("192.0.2.7:5062")
    );
    assert_eq!(
        destination("SIP/2.0/UDP pbx.example.com;branch=z9hG4bK1"),
        addr("192.0.2.7:5060")
    );
    assert_eq!(
        destination("SIP/2.0/UDP 192.0.2.7:5070;branch=z9hG4bK1"),
        addr("192.0.2.7:5070")
    );
    // A received the sender forged does not steer the response.
    assert_eq!(
        destination("SIP/2.0/UDP 192.0.2.7;received=203.0.113.9;branch=z9hG4bK1"),
        addr("192.0.2.7:5060")
    );
    let mut no_via = via_of("SIP/2.0/UDP a;branch=z9hG4bK1");
    no_via.headers.retain(|header| header.name != "Via");
    assert_eq!(response_destination(&no_via, source), source);
}

#[test]
fn the_fuzz_properties_hold_on_these_messages() {
    let regressions: [&[u8]; 3] = [
        // Stamping appended to an unclosed quoted string in a Via parameter.
        b"INVITE sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:506;tag=\"ch=z9hG4bK1;rport\r\n\
          From: <sip:a@b>;tag=1\r\nTo: <sip:c@d>\r\nCall-ID: x\r\nCSeq: 1 INVITE\r\n\r\n",
        // A '<' in a Via parameter hid the comma between elements.
        b"OPTIONS sip:5000@b SIP/2.0\r\n\
          v: SIP/2.0/TCP [2001:db8::1]:5060;received=1.2<.3.4;branch=z9hG4bKabc, SIP/2.0/UDP x\r\n\
          f: <sip:a@b>;tag=1\r\nt: sip:c@d\r\ni: x\r\nCSeq: 7 OPTIONS\r\n\r\n",
        // A To whose '>' was inside a quoted string hid the tag a response adds.
        b"INVITE sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\n\
          From: <sip:a@b>;tag=1\r\nTo: x <sip:y: \"a;<b>\" <sip:z@h>\r\nCall-ID: x\r\n\
          CSeq: 1 INVITE\r\n\r\n",
    ];
    let sipp = sipp_invite();
    let options = options_with("Subject: a\r\n b\r\n");
    let inputs = regressions.into_iter().chain([&sipp[..], &options[..]]);
    for input in inputs {
        for seed in [0u8, 1, 2, 3] {
            let data = [&[seed][..], input].concat();
            crate::fuzzing::sip_message(&data);
            crate::fuzzing::sip_stream(&data);
        }
    }
    assert_eq!(refusal(regressions[0]), SipError::BadVia);
    assert_eq!(refusal(regressions[1]), SipError::BadVia);
    assert_eq!(refusal(regressions[2]), SipError::BadAddress { name: "To" });
}

#[test]
fn a_response_written_directly_is_the_encoded_one() {
    let invite = parse(&sipp_invite());
    let tagged = parse(&edited(
        "To: <sip:5000@baton.example.com>",
        "To: <sip:5000@baton.example.com>;tag=theirs",
    ));
    let stamped = parse(&options_with(
        "Timestamp: 54.2\r\nv: SIP/2.0/TCP 10.1.1.1\r\n",
    ));
    type Case<'a> = (&'a Message, u16, &'a str, &'a [(&'a str, &'a str)]);
    let cases: [Case; 6] = [
        (&invite, 100, "", &[]),
        (&stamped, 100, "", &[]),
        (&invite, 302, "a1b2", &[("Contact", "<sip:agent@10.0.0.5>")]),
        (&tagged, 486, "a1b2", &[("Warning", "399 baton \"busy\"")]),
        // What a strategy names is cleaned of line ends; a Content-Length is Baton's own.
        (
            &invite,
            302,
            "t",
            &[("Contact", "<sip:x>\r\nEvil: 1"), ("Content-Length", "9")],
        ),
        (&stamped, 603, "", &[]),
    ];
    for (request, status, tag, extra) in cases {
        let mut expected = Vec::new();
        response(request, status, reason_phrase(status), tag, extra).encode(&mut expected);
        let mut written = Vec::new();
        write_response(
            request,
            status,
            reason_phrase(status),
            tag,
            extra,
            &mut written,
        );
        assert_eq!(
            String::from_utf8_lossy(&written),
            String::from_utf8_lossy(&expected),
            "{status} with {extra:?}"
        );
    }
}
