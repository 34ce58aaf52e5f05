//! Which responses hold a document, and its text.
//!
//! - XML: `application/scxml+xml`, `application/xml`, `text/xml`, any `+xml` type.
//! - JSON: `application/json` (or any `+json` type) holding an object whose `"scxml"` member
//!   is the document's text: `{"scxml": "<scxml ...>...</scxml>"}`; other members are
//!   ignored. Compile errors then count lines and columns within that string.
//! - Naive servers: no type, `text/plain` or `application/octet-stream` is read by the
//!   URL's extension: `.scxml`/`.xml` as XML, `.json` as JSON; anything else is refused.
//! - Every other type is refused (an HTML error or login page served with status 200 is the
//!   usual culprit), naming the type.
//!
//! Text must be UTF-8 (a byte-order mark is dropped).

use super::error::DocumentError;
use crate::outbound::Url;

/// How a response body is read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Media {
    /// The body is the SCXML text.
    Xml,
    /// The body is a JSON object with the SCXML text in `"scxml"`.
    Json,
}

/// The reading of a body of `content_type` fetched from `url`.
pub fn media(url: &Url, content_type: Option<&str>) -> Result<Media, DocumentError> {
    let essence = content_type
        .map(|value| {
            value
                .split(';')
                .next()
                .unwrap_or_default()
                .trim()
                .to_ascii_lowercase()
        })
        .unwrap_or_default();
    match essence.as_str() {
        "application/scxml+xml" | "application/xml" | "text/xml" => return Ok(Media::Xml),
        "application/json" => return Ok(Media::Json),
        xml if xml.ends_with("+xml") => return Ok(Media::Xml),
        json if json.ends_with("+json") => return Ok(Media::Json),
        "" | "text/plain" | "application/octet-stream" => {}
        _ => return Err(refused(url, content_type)),
    }
    let path = url.target().split('?').next().unwrap_or_default();
    let extension = path.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase());
    match extension.as_deref() {
        Some("scxml" | "xml") => Ok(Media::Xml),
        Some("json") => Ok(Media::Json),
        _ => Err(refused(url, content_type)),
    }
}

fn refused(url: &Url, content_type: Option<&str>) -> DocumentError {
    DocumentError::Media {
        url: url.to_string(),
        content_type: content_type.unwrap_or("(none)").into(),
    }
}

/// The document text of `body`, read as `media`.
pub fn text(url: &Url, media: Media, body: Vec<u8>) -> Result<String, DocumentError> {
    let text = utf8(url, body)?;
    match media {
        Media::Xml => Ok(text),
        Media::Json => unwrap_json(url, &text),
    }
}

/// `body` as UTF-8 text, without a byte-order mark.
pub fn utf8(url: &Url, body: Vec<u8>) -> Result<String, DocumentError> {
    let mut text = String::from_utf8(body).map_err(|_| DocumentError::Encoding {
        url: url.to_string(),
    })?;
    if text.starts_with('\u{feff}') {
        text.drain(..'\u{feff}'.len_utf8());
    }
    Ok(text)
}

fn unwrap_json(url: &Url, text: &str) -> Result<String, DocumentError> {
    let fail = |reason: String| DocumentError::Json {
        url: url.to_string(),
        reason,
    };
    let value: serde_json::Value = serde_json::from_str(text).map_err(|e| fail(e.to_string()))?;
    match value.get("scxml") {
        Some(serde_json::Value::String(scxml)) => Ok(scxml.clone()),
        Some(_) => Err(fail("member \"scxml\" is not a string".into())),
        None => Err(fail("expected an object with the member \"scxml\"".into())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(text: &str) -> Url {
        Url::parse(text).unwrap()
    }

    #[test]
    fn types_and_extensions() {
        let plain = url("http://h/app");
        let scxml = url("http://h/app.SCXML?v=1");
        let json = url("http://h/app.json");
        assert_eq!(
            media(&plain, Some("application/scxml+xml")).unwrap(),
            Media::Xml
        );
        assert_eq!(
            media(&plain, Some("Text/XML; charset=utf-8")).unwrap(),
            Media::Xml
        );
        assert_eq!(
            media(&plain, Some("application/vnd.x+xml")).unwrap(),
            Media::Xml
        );
        assert_eq!(
            media(&plain, Some("application/json")).unwrap(),
            Media::Json
        );
        assert_eq!(media(&scxml, Some("text/plain")).unwrap(), Media::Xml);
        assert_eq!(media(&scxml, None).unwrap(), Media::Xml);
        assert_eq!(
            media(&json, Some("application/octet-stream")).unwrap(),
            Media::Json
        );
        assert!(media(&plain, Some("text/plain")).is_err());
        let html = media(&scxml, Some("text/html")).unwrap_err().to_string();
        assert!(
            html.contains("text/html") && html.contains("app.SCXML"),
            "{html}"
        );
    }

    #[test]
    fn json_wrapper() {
        let at = url("http://h/a.json");
        let body = br#"{"name": "a", "scxml": "<scxml/>"}"#.to_vec();
        assert_eq!(text(&at, Media::Json, body).unwrap(), "<scxml/>");
        assert!(text(&at, Media::Json, b"[1]".to_vec()).is_err());
        assert!(text(&at, Media::Json, br#"{"scxml": 1}"#.to_vec()).is_err());
        assert!(text(&at, Media::Xml, vec![0xff, 0xfe]).is_err());
        let bom = "\u{feff}<scxml/>".as_bytes().to_vec();
        assert_eq!(text(&at, Media::Xml, bom).unwrap(), "<scxml/>");
    }
}
