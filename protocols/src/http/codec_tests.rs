use super::*;

fn decode_all(input: &[u8], limits: HttpLimits) -> Result<Vec<Request>, HttpError> {
    let mut decoder = RequestDecoder::new(limits);
    let mut rest = input;
    let mut out = Vec::new();
    loop {
        let progress = decoder.decode(rest)?;
        rest = &rest[progress.consumed..];
        match progress.decoded {
            Decoded::Complete => out.push(decoder.take_request()),
            Decoded::Continue => {}
            Decoded::Partial => return Ok(out),
        }
    }
}

fn decode_bytewise(input: &[u8], limits: HttpLimits) -> Result<Vec<Request>, HttpError> {
    let mut decoder = RequestDecoder::new(limits);
    let mut buffer = Vec::new();
    let mut out = Vec::new();
    for &byte in input {
        buffer.push(byte);
        loop {
            let progress = decoder.decode(&buffer)?;
            buffer.drain(..progress.consumed);
            match progress.decoded {
                Decoded::Complete => out.push(decoder.take_request()),
                Decoded::Continue => {}
                Decoded::Partial => break,
            }
        }
    }
    Ok(out)
}

fn one(input: &[u8]) -> Request {
    let requests = decode_all(input, HttpLimits::DEFAULT).unwrap();
    assert_eq!(requests.len(), 1, "{requests:?}");
    requests.into_iter().next().unwrap()
}

fn error_of(input: &[u8], limits: HttpLimits) -> HttpError {
    let error = decode_all(input, limits).unwrap_err();
    assert_eq!(
        decode_bytewise(input, limits).unwrap_err().status(),
        error.status()
    );
    error
}

#[test]
fn simple_get_with_query_and_headers() {
    let request = one(b"GET /scxml/sessions?page=2&x=%20 HTTP/1.1\r\nHost: a\r\nX-A: b c\r\n\r\n");
    assert_eq!(request.method(), Method::Get);
    assert_eq!(request.method_str(), "GET");
    assert_eq!(request.path(), "/scxml/sessions");
    assert_eq!(request.query(), Some("page=2&x=%20"));
    assert_eq!(request.header("x-a"), Some(&b"b c"[..]));
    assert_eq!(request.headers().count(), 2);
    assert!(request.keep_alive());
    assert!(request.body().is_empty());
    assert_eq!(request.version(), Version::Http11);
}

#[test]
fn content_length_body_and_pipelining() {
    let input = b"POST /a HTTP/1.1\r\nContent-Length: 5\r\n\r\nhelloGET /b HTTP/1.1\r\n\r\n\
                  PUT /c?q HTTP/1.1\r\ncontent-length: 2\r\n\r\nok";
    let requests = decode_all(input, HttpLimits::DEFAULT).unwrap();
    assert_eq!(requests.len(), 3);
    assert_eq!(requests[0].body(), b"hello");
    assert_eq!(requests[1].path(), "/b");
    assert_eq!(requests[2].method(), Method::Put);
    assert_eq!(requests[2].query(), Some("q"));
    assert_eq!(requests[2].body(), b"ok");
    assert_eq!(
        decode_bytewise(input, HttpLimits::DEFAULT).unwrap(),
        requests
    );
}

#[test]
fn chunked_bodies_and_edge_cases() {
    let input = b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n\
                  5\r\nhello\r\n1;ext=1\r\n \r\nA\r\n0123456789\r\n0\r\nTrailer: x\r\n\r\n\
                  GET /next HTTP/1.1\r\n\r\n";
    let requests = decode_all(input, HttpLimits::DEFAULT).unwrap();
    assert_eq!(requests.len(), 2);
    assert_eq!(requests[0].body(), b"hello 0123456789");
    assert_eq!(requests[1].path(), "/next");
    assert_eq!(
        decode_bytewise(input, HttpLimits::DEFAULT).unwrap(),
        requests
    );
    // An empty chunked body.
    let empty = one(b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n");
    assert!(empty.body().is_empty());
    // Missing CRLF after data, bad size, size line too long.
    let bad = [
        &b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabX"[..],
        b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffffff1\r\n",
    ];
    for input in bad {
        assert!(matches!(
            error_of(input, HttpLimits::DEFAULT),
            HttpError::InvalidChunk { .. }
        ));
    }
    let mut long = b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n1;".to_vec();
    long.extend(std::iter::repeat_n(b'a', CHUNK_SIZE_LINE_BYTES_MAX));
    assert_eq!(error_of(&long, HttpLimits::DEFAULT).status(), 400);
    long.extend_from_slice(b"\r\n");
    assert_eq!(error_of(&long, HttpLimits::DEFAULT).status(), 400);
}

#[test]
fn chunked_body_over_limit_is_413() {
    let limits = HttpLimits {
        body_bytes_max: 8,
        ..HttpLimits::DEFAULT
    };
    let input = b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n5\r\n";
    let error = error_of(input, limits);
    assert_eq!(
        error,
        HttpError::BodyTooLarge {
            body_bytes: 10,
            body_bytes_max: 8
        }
    );
    assert_eq!(error.status(), 413);
}

#[test]
fn expect_continue() {
    let mut decoder = RequestDecoder::new(HttpLimits::DEFAULT);
    let head = b"POST / HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n";
    let progress = decoder.decode(head).unwrap();
    assert_eq!(
        progress,
        Progress {
            consumed: head.len(),
            decoded: Decoded::Continue
        }
    );
    let progress = decoder.decode(b"abc").unwrap();
    assert_eq!(
        progress,
        Progress {
            consumed: 3,
            decoded: Decoded::Complete
        }
    );
    assert_eq!(decoder.request().body(), b"abc");
    assert!(decoder.request().expect_continue());
    // No body, nothing to continue; HTTP/1.0 clients do not understand 100.
    let no_body = one(b"GET / HTTP/1.1\r\nExpect: 100-continue\r\n\r\n");
    assert!(no_body.expect_continue());
    let old = one(b"POST / HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\nx");
    assert!(!old.expect_continue());
}

#[test]
fn keep_alive_rules() {
    assert!(one(b"GET / HTTP/1.1\r\n\r\n").keep_alive());
    assert!(!one(b"GET / HTTP/1.1\r\nConnection: close\r\n\r\n").keep_alive());
    assert!(!one(b"GET / HTTP/1.1\r\nConnection: Upgrade, CLOSE\r\n\r\n").keep_alive());
    assert!(!one(b"GET / HTTP/1.0\r\n\r\n").keep_alive());
    assert!(one(b"GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n").keep_alive());
    assert_eq!(one(b"GET / HTTP/1.0\r\n\r\n").version(), Version::Http10);
}

#[test]
fn every_status_path() {
    let d = HttpLimits::DEFAULT;
    let cases: [(&[u8], u16); 12] = [
        (b"GET / HTTP/1.1\r\nBad Header\r\n\r\n", 400),
        (b"G@T / HTTP/1.1\r\n\r\n", 400),
        (b"GET / HTTX/1.1\r\n\r\n", 400),
        (b"GET / HTTP/2.0\r\n\r\n", 505),
        (b"GET / HTTP/1.1\r\nContent-Length: 1x\r\n\r\n", 400),
        (
            b"GET / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
            400,
        ),
        (
            b"POST / HTTP/1.1\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n",
            400,
        ),
        (
            b"POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
            501,
        ),
        (
            b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked, chunked\r\n\r\n",
            400,
        ),
        (b"POST / HTTP/1.1\r\nContent-Length: 1048577\r\n\r\n", 413),
        (
            b"POST / HTTP/1.1\r\nContent-Length: 99999999999999999999\r\n\r\n",
            400,
        ),
        (
            b"GETGETGETGETGETGETGETGETGETGETGETGET / HTTP/1.1\r\n\r\n",
            400,
        ),
    ];
    for (input, status) in cases {
        let error = error_of(input, d);
        assert_eq!(
            error.status(),
            status,
            "{}: {error}",
            String::from_utf8_lossy(input)
        );
        assert!(!error.reason().is_empty());
    }
}

#[test]
fn limit_statuses() {
    let limits = HttpLimits {
        header_bytes_max: 128,
        headers_max: 2,
        uri_bytes_max: 32,
        ..HttpLimits::DEFAULT
    };
    let long_uri = format!("GET /{} HTTP/1.1\r\n\r\n", "a".repeat(40));
    assert_eq!(error_of(long_uri.as_bytes(), limits).status(), 414);
    let longer_uri = format!("GET /{}", "a".repeat(200));
    assert!(matches!(
        error_of(longer_uri.as_bytes(), limits),
        HttpError::UriTooLong { .. }
    ));
    let big_head = format!("GET / HTTP/1.1\r\nX: {}\r\n\r\n", "v".repeat(200));
    assert!(matches!(
        error_of(big_head.as_bytes(), limits),
        HttpError::HeadersTooLarge { .. }
    ));
    let unfinished = format!("GET / HTTP/1.1\r\nX: {}", "v".repeat(200));
    assert_eq!(error_of(unfinished.as_bytes(), limits).status(), 431);
    let many = b"GET / HTTP/1.1\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n";
    assert_eq!(
        error_of(many, limits),
        HttpError::TooManyHeaders { headers_max: 2 }
    );
    assert_eq!(HttpError::TooManyHeaders { headers_max: 2 }.status(), 431);
}

#[test]
fn errors_are_sticky() {
    let mut decoder = RequestDecoder::new(HttpLimits::DEFAULT);
    let error = decoder.decode(b"BAD\x01 / HTTP/1.1\r\n\r\n").unwrap_err();
    assert_eq!(decoder.decode(b"GET / HTTP/1.1\r\n\r\n"), Err(error));
}

#[test]
fn bytewise_equals_all_at_once() {
    let input = b"POST /x?y=1 HTTP/1.1\r\nContent-Length: 3\r\nA: b\r\n\r\nabc\
                  POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nExpect: 100-continue\r\n\r\n\
                  3\r\nabc\r\n0\r\n\r\nGET / HTTP/1.0\r\n\r\n";
    let whole = decode_all(input, HttpLimits::DEFAULT).unwrap();
    assert_eq!(whole.len(), 3);
    assert_eq!(decode_bytewise(input, HttpLimits::DEFAULT).unwrap(), whole);
    crate::fuzzing::http_request(input);
}

#[test]
fn limits_validate() {
    assert!(HttpLimits::DEFAULT.validate().is_ok());
    let bad = HttpLimits {
        headers_max: 500,
        ..HttpLimits::DEFAULT
    };
    assert_eq!(
        bad.validate(),
        Err(InvalidLimits::HeadersMax { headers_max: 500 })
    );
    let bad = HttpLimits {
        uri_bytes_max: 1 << 20,
        ..HttpLimits::DEFAULT
    };
    assert!(bad.validate().is_err());
}

#[test]
fn response_encoding() {
    let mut out = Vec::new();
    let response = Response::json(200, b"{}".to_vec()).with_header("X-Id", "7");
    encode_response(&response, false, &mut out);
    assert_eq!(
        out,
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nX-Id: 7\r\n\
          Content-Length: 2\r\n\r\n{}"
    );
    out.clear();
    encode_response(&Response::new(204), true, &mut out);
    assert_eq!(out, b"HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n");
    let error = Response::error(413, "body too large");
    let body: serde_json::Value = serde_json::from_slice(&error.body).unwrap();
    assert_eq!(
        body,
        serde_json::json!({"error": "body too large", "status": 413})
    );
}

#[test]
fn request_encoding_round_trips() {
    let mut out = Vec::new();
    let request = OutboundRequest {
        method: "POST",
        target: "/basichttp?x=1",
        host: "127.0.0.1:80",
        headers: &[("Content-Type", "application/x-www-form-urlencoded")],
        body: b"_scxmleventname=go",
        close: true,
    };
    encode_request(&request, &mut out);
    let decoded = one(&out);
    assert_eq!(decoded.path(), "/basichttp");
    assert_eq!(decoded.body(), b"_scxmleventname=go");
    assert_eq!(decoded.header("host"), Some(&b"127.0.0.1:80"[..]));
    assert!(!decoded.keep_alive());
}

fn responses(input: &[u8], head_request: bool) -> Result<(Response, bool, usize), HttpError> {
    let mut decoder = ResponseDecoder::new(HttpLimits::DEFAULT, head_request);
    let progress = decoder.decode(input)?;
    if progress.decoded != Decoded::Complete {
        decoder.finish()?;
    }
    let keep_alive = decoder.keep_alive();
    Ok((decoder.take_response(), keep_alive, progress.consumed))
}

#[test]
fn response_decoding_framings() {
    let (response, keep_alive, used) = responses(
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nETag: \"x\"\r\n\r\nhiEXTRA",
        false,
    )
    .unwrap();
    assert_eq!(
        (response.status, &response.body[..], keep_alive, used),
        (200, &b"hi"[..], true, 51)
    );
    assert_eq!(response.header("etag"), Some("\"x\""));
    let chunked = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\n\
                    Transfer-Encoding: chunked\r\n\r\n2\r\nab\r\n0\r\n\r\n";
    let (response, _, _) = responses(chunked, false).unwrap();
    assert_eq!((response.status, &response.body[..]), (201, &b"ab"[..]));
    let (response, keep_alive, _) =
        responses(b"HTTP/1.0 200 OK\r\n\r\nuntil close", false).unwrap();
    assert_eq!(
        (&response.body[..], keep_alive),
        (&b"until close"[..], false)
    );
    let (response, _, _) =
        responses(b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n", true).unwrap();
    assert!(response.body.is_empty());
    let (response, _, _) = responses(b"HTTP/1.1 204 No Content\r\n\r\n", false).unwrap();
    assert_eq!(response.status, 204);
    let short = responses(b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nabc", false);
    assert_eq!(short.unwrap_err(), HttpError::UnexpectedEof);
    assert_eq!(
        responses(b"HTTP/3.0 200 OK\r\n\r\n", false)
            .unwrap_err()
            .status(),
        505
    );
    crate::fuzzing::http_response(chunked);
}

/// fuzz_1: a trailer exactly at the head limit, its closing CRLF arriving in two reads.
#[test]
fn fuzz_1_trailer_at_the_limit_split_before_its_end() {
    let limits = HttpLimits {
        header_bytes_max: 256,
        uri_bytes_max: 64,
        ..HttpLimits::DEFAULT
    };
    let mut input =
        b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nx\r\n0\r\n".to_vec();
    input.extend_from_slice(format!("T: {}\r\n", "v".repeat(256 - 5)).as_bytes());
    input.extend_from_slice(b"\r\nGET / HTTP/1.1\r\n\r\n");
    assert_eq!(decode_all(&input, limits).unwrap().len(), 2);
    assert_eq!(decode_bytewise(&input, limits).unwrap().len(), 2);
}

/// A streamed body is bounded chunk by chunk, never in total: an event stream runs forever.
#[test]
fn streamed_chunked_body_is_bounded_per_chunk() {
    let limits = HttpLimits {
        body_bytes_max: 8,
        ..HttpLimits::DEFAULT
    };
    let mut decoder = StreamedBodyDecoder::chunked(limits);
    let mut data = Vec::new();
    for _ in 0..100 {
        let progress = decoder.decode(b"8\r\n12345678\r\n", &mut data).unwrap();
        assert_eq!(
            (progress.consumed, progress.decoded),
            (13, Decoded::Partial)
        );
        assert_eq!(data, b"12345678");
        data.clear();
    }
    let progress = decoder.decode(b"0\r\n\r\nnext", &mut data).unwrap();
    assert_eq!(
        (progress.consumed, progress.decoded),
        (5, Decoded::Complete)
    );
    assert!(decoder.is_done());
    let mut oversized = StreamedBodyDecoder::chunked(limits);
    let error = oversized.decode(b"9\r\n", &mut data).unwrap_err();
    assert_eq!(error.status(), 413);
    assert_eq!(oversized.decode(b"", &mut data), Err(error), "errors stick");
    let mut cut = StreamedBodyDecoder::chunked(limits);
    cut.decode(b"2\r\nab", &mut data).unwrap();
    assert_eq!(cut.finish(), Err(HttpError::UnexpectedEof));
}

/// A streamed response decoder completes at the end of the head and hands the body over
/// with its framing: chunked, close-delimited (never bounded in total) or by length.
#[test]
fn streamed_response_hands_over_the_body_after_the_head() {
    let limits = HttpLimits {
        body_bytes_max: 4,
        ..HttpLimits::DEFAULT
    };
    let chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX: y\r\n\r\n3\r\nabc\r\n";
    let mut decoder = ResponseDecoder::streamed(limits);
    let progress = decoder.decode(chunked).unwrap();
    assert_eq!(progress.decoded, Decoded::Complete);
    let (head, mut body) = decoder.take_streamed();
    assert_eq!((head.status, head.header("x")), (200, Some("y")));
    assert!(head.body.is_empty());
    let mut data = Vec::new();
    body.decode(&chunked[progress.consumed..], &mut data)
        .unwrap();
    assert_eq!(data, b"abc");

    let close = b"HTTP/1.0 200 OK\r\n\r\n0123456789";
    let mut decoder = ResponseDecoder::streamed(limits);
    let progress = decoder.decode(close).unwrap();
    let (_, mut body) = decoder.take_streamed();
    data.clear();
    body.decode(&close[progress.consumed..], &mut data).unwrap();
    assert_eq!(data, b"0123456789");
    assert_eq!(body.finish(), Ok(()));

    let length = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi";
    let mut decoder = ResponseDecoder::streamed(limits);
    let progress = decoder.decode(length).unwrap();
    let (_, mut body) = decoder.take_streamed();
    data.clear();
    let rest = body
        .decode(&length[progress.consumed..], &mut data)
        .unwrap();
    assert_eq!((&data[..], rest.decoded), (&b"hi"[..], Decoded::Complete));
}
