//! Request parameters: percent-decoded path segments, query strings,
//! `application/x-www-form-urlencoded` and JSON bodies, as one ordered list of
//! `(name, serde_json::Value)`.
//!
//! Order is kept (and duplicate names are kept as separate entries) because the session API
//! maps parameters onto `<data>` elements and `_event.data` in the order a client sent them.

use std::borrow::Cow;
use std::fmt;

use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
use serde_json::Value;

use super::codec::Request;

/// Ordered request parameters.
pub type Params = Vec<(String, Value)>;

/// Malformed parameters. Every variant is a client error (400).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ParamError {
    /// A `%` not followed by two hex digits.
    BadPercentEncoding {
        /// Byte offset of the `%` in the encoded input.
        offset: u32,
    },
    /// Decoded bytes that are not UTF-8.
    InvalidUtf8 {
        /// Byte offset of the first bad byte in the encoded input's decoded form.
        offset: u32,
    },
    /// A body that is not valid JSON.
    InvalidJson {
        /// 1-based line of the error.
        line: u32,
        /// 1-based column of the error.
        column: u32,
    },
    /// A JSON body that is valid but not an object.
    JsonNotObject,
    /// A body whose Content-Type is neither JSON nor a form.
    UnsupportedContentType,
}

impl ParamError {
    /// The HTTP status to answer with.
    pub fn status(&self) -> u16 {
        400
    }

    /// A short, fixed description.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::BadPercentEncoding { .. } => "bad percent-encoding",
            Self::InvalidUtf8 { .. } => "parameter is not UTF-8",
            Self::InvalidJson { .. } => "body is not valid JSON",
            Self::JsonNotObject => "JSON body must be an object",
            Self::UnsupportedContentType => {
                "Content-Type must be application/json or application/x-www-form-urlencoded"
            }
        }
    }
}

impl fmt::Display for ParamError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.reason())?;
        match self {
            Self::BadPercentEncoding { offset } | Self::InvalidUtf8 { offset } => {
                write!(f, " at byte {offset}")
            }
            Self::InvalidJson { line, column } => write!(f, " at line {line}, column {column}"),
            _ => Ok(()),
        }
    }
}

impl std::error::Error for ParamError {}

/// The body formats the session API accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContentType {
    /// `application/json` or any `+json` media type.
    Json,
    /// `application/x-www-form-urlencoded`.
    Form,
    /// No Content-Type header.
    Missing,
    /// Anything else.
    Other,
}

/// Classifies a Content-Type header value (parameters such as `charset` are ignored).
pub fn content_type(value: Option<&[u8]>) -> ContentType {
    let Some(value) = value else {
        return ContentType::Missing;
    };
    let media = value
        .split(|&b| b == b';')
        .next()
        .unwrap_or(&[])
        .trim_ascii();
    let json_suffix = media.len() >= 5 && media[media.len() - 5..].eq_ignore_ascii_case(b"+json");
    if media.eq_ignore_ascii_case(b"application/json") || json_suffix {
        ContentType::Json
    } else if media.eq_ignore_ascii_case(b"application/x-www-form-urlencoded") {
        ContentType::Form
    } else {
        ContentType::Other
    }
}

fn hex_value(digit: u8) -> Option<u8> {
    match digit {
        b'0'..=b'9' => Some(digit - b'0'),
        b'a'..=b'f' => Some(digit - b'a' + 10),
        b'A'..=b'F' => Some(digit - b'A' + 10),
        _ => None,
    }
}

/// Appends the percent-decoding of `input` to `out`; `+` becomes a space when
/// `plus_as_space` (form encoding), and stays `+` in paths.
pub fn percent_decode(
    input: &[u8],
    plus_as_space: bool,
    out: &mut Vec<u8>,
) -> Result<(), ParamError> {
    let mut at = 0;
    while at < input.len() {
        let byte = input[at];
        if byte == b'%' {
            let high = input.get(at + 1).copied().and_then(hex_value);
            let low = input.get(at + 2).copied().and_then(hex_value);
            let (Some(high), Some(low)) = (high, low) else {
                return Err(ParamError::BadPercentEncoding { offset: at as u32 });
            };
            out.push(high << 4 | low);
            at += 3;
        } else {
            out.push(if byte == b'+' && plus_as_space {
                b' '
            } else {
                byte
            });
            at += 1;
        }
    }
    Ok(())
}

fn decode_string(input: &[u8], plus_as_space: bool) -> Result<String, ParamError> {
    let mut bytes = Vec::with_capacity(input.len());
    percent_decode(input, plus_as_space, &mut bytes)?;
    String::from_utf8(bytes).map_err(|error| ParamError::InvalidUtf8 {
        offset: error.utf8_error().valid_up_to() as u32,
    })
}

/// Decodes one path segment; borrows when there is nothing to decode.
pub fn decode_path_segment(segment: &str) -> Result<Cow<'_, str>, ParamError> {
    if !segment.contains('%') {
        return Ok(Cow::Borrowed(segment));
    }
    decode_string(segment.as_bytes(), false).map(Cow::Owned)
}

/// The non-empty `/`-separated segments of a raw path, still encoded.
pub fn path_segments(path: &str) -> impl Iterator<Item = &str> {
    path.split('/').filter(|segment| !segment.is_empty())
}

/// Appends the pairs of a query string or form body to `out` as string values. A name
/// without `=` gets an empty value; empty pairs (`a=1&&b=2`) are skipped.
pub fn parse_form(input: &[u8], out: &mut Params) -> Result<(), ParamError> {
    for pair in input.split(|&b| b == b'&').filter(|pair| !pair.is_empty()) {
        let (name, value) = match pair.iter().position(|&b| b == b'=') {
            Some(equals) => (&pair[..equals], &pair[equals + 1..]),
            None => (pair, &[][..]),
        };
        let name = decode_string(name, true)?;
        let value = decode_string(value, true)?;
        out.push((name, Value::String(value)));
    }
    Ok(())
}

/// Appends the members of a JSON object body to `out`, in document order.
pub fn parse_json_object(body: &[u8], out: &mut Params) -> Result<(), ParamError> {
    let mut deserializer = serde_json::Deserializer::from_slice(body);
    let members = OrderedObject::deserialize(&mut deserializer)
        .and_then(|members| deserializer.end().map(|()| members))
        .map_err(|error| match error.classify() {
            serde_json::error::Category::Data => ParamError::JsonNotObject,
            _ => ParamError::InvalidJson {
                line: error.line() as u32,
                column: error.column() as u32,
            },
        })?;
    out.extend(members.0);
    Ok(())
}

/// A JSON object's members in document order (serde_json's `Map` sorts them unless the
/// crate-wide `preserve_order` feature is on, which would change the engine's maps too).
struct OrderedObject(Params);

impl<'de> Deserialize<'de> for OrderedObject {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(OrderedObjectVisitor)
    }
}

struct OrderedObjectVisitor;

impl<'de> Visitor<'de> for OrderedObjectVisitor {
    type Value = OrderedObject;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<OrderedObject, A::Error> {
        let mut members = Vec::with_capacity(map.size_hint().unwrap_or(0).min(64));
        while let Some((name, value)) = map.next_entry::<String, Value>()? {
            members.push((name, value));
        }
        Ok(OrderedObject(members))
    }
}

/// Appends a request's parameters to `out`: the query string first, then the body. The body
/// format follows Content-Type; without one, a body starting with `{` is JSON and anything
/// else a form. An empty body adds nothing whatever its type.
pub fn request_params(request: &Request, out: &mut Params) -> Result<(), ParamError> {
    if let Some(query) = request.query() {
        parse_form(query.as_bytes(), out)?;
    }
    let body = request.body();
    if body.trim_ascii().is_empty() {
        return Ok(());
    }
    match content_type(request.header("content-type")) {
        ContentType::Json => parse_json_object(body, out),
        ContentType::Form => parse_form(body, out),
        ContentType::Missing if body.trim_ascii_start().starts_with(b"{") => {
            parse_json_object(body, out)
        }
        ContentType::Missing => parse_form(body, out),
        ContentType::Other => Err(ParamError::UnsupportedContentType),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn percent_decoding() {
        let mut out = Vec::new();
        percent_decode(b"a%20b+c%2Fd", true, &mut out).unwrap();
        assert_eq!(out, b"a b c/d");
        out.clear();
        percent_decode(b"a+b", false, &mut out).unwrap();
        assert_eq!(out, b"a+b");
        for bad in [&b"%"[..], b"%2", b"%zz", b"ab%2g"] {
            let error = percent_decode(bad, true, &mut out).unwrap_err();
            assert!(
                matches!(error, ParamError::BadPercentEncoding { .. }),
                "{bad:?}"
            );
            assert_eq!(error.status(), 400);
        }
        assert_eq!(
            percent_decode(b"ab%2g", true, &mut out),
            Err(ParamError::BadPercentEncoding { offset: 2 })
        );
    }

    #[test]
    fn path_segments_decode() {
        let segments: Vec<_> = path_segments("/scxml/session/a%2Fb/event/x.y").collect();
        assert_eq!(segments, ["scxml", "session", "a%2Fb", "event", "x.y"]);
        assert_eq!(decode_path_segment("a%2Fb").unwrap(), "a/b");
        assert!(matches!(
            decode_path_segment("plain").unwrap(),
            Cow::Borrowed("plain")
        ));
        assert_eq!(
            decode_path_segment("%ff"),
            Err(ParamError::InvalidUtf8 { offset: 0 })
        );
    }

    #[test]
    fn forms_keep_order_and_duplicates() {
        let mut out = Vec::new();
        parse_form(b"src=file%3A%2F%2Fa.scxml&b=1&&flag&b=two+words", &mut out).unwrap();
        let expected = [
            ("src", "file://a.scxml"),
            ("b", "1"),
            ("flag", ""),
            ("b", "two words"),
        ];
        assert_eq!(out.len(), expected.len());
        for ((name, value), (want_name, want_value)) in out.iter().zip(expected) {
            assert_eq!(name, want_name);
            assert_eq!(value, &json!(want_value));
        }
    }

    #[test]
    fn json_keeps_document_order() {
        let mut out = Vec::new();
        parse_json_object(br#"{"z": 1, "a": {"n": [1, 2]}, "m": "s"}"#, &mut out).unwrap();
        let names: Vec<_> = out.iter().map(|(name, _)| name.as_str()).collect();
        assert_eq!(names, ["z", "a", "m"]);
        assert_eq!(out[1].1, json!({"n": [1, 2]}));
    }

    #[test]
    fn json_errors_are_typed() {
        let mut out = Vec::new();
        assert_eq!(
            parse_json_object(b"[1]", &mut out),
            Err(ParamError::JsonNotObject)
        );
        assert_eq!(
            parse_json_object(b"{\n \"a\": }", &mut out),
            Err(ParamError::InvalidJson { line: 2, column: 7 })
        );
        let trailing = parse_json_object(b"{} x", &mut out).unwrap_err();
        assert!(matches!(trailing, ParamError::InvalidJson { .. }));
        assert!(trailing.to_string().contains("line 1"));
    }

    #[test]
    fn content_types() {
        assert_eq!(
            content_type(Some(b"application/json; charset=utf-8")),
            ContentType::Json
        );
        assert_eq!(
            content_type(Some(b"Application/Problem+JSON")),
            ContentType::Json
        );
        let form = content_type(Some(b"application/x-www-form-urlencoded"));
        assert_eq!(form, ContentType::Form);
        assert_eq!(content_type(Some(b"text/plain")), ContentType::Other);
        assert_eq!(content_type(None), ContentType::Missing);
    }
}
