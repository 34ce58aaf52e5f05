//! `http:` and `https:` URLs: just what a client needs to connect and to resolve relative
//! references (RFC 3986 §5.2, without user info, which Baton refuses rather than sends).

use std::fmt;

/// The scheme of an outbound URL.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Scheme {
    /// Plain HTTP.
    Http,
    /// HTTP over TLS, verified against `[outbound] roots`.
    Https,
}

impl Scheme {
    fn default_port(self) -> u16 {
        match self {
            Scheme::Http => 80,
            Scheme::Https => 443,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Scheme::Http => "http",
            Scheme::Https => "https",
        }
    }
}

/// An absolute `http:` or `https:` URL without fragment.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Url {
    scheme: Scheme,
    /// Lower case; an IPv6 literal without its brackets.
    host: Box<str>,
    port: u16,
    /// Path and query, starting with `/`.
    target: Box<str>,
}

/// Why a URL cannot be used.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UrlError {
    /// The URL or reference as given.
    pub url: String,
    /// What is wrong.
    pub reason: &'static str,
}

impl fmt::Display for UrlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "'{}': {}", self.url, self.reason)
    }
}

impl std::error::Error for UrlError {}

/// Whether `text` starts with `http:` or `https:` (any case): a URL rather than a path.
pub fn is_http_url(text: &str) -> bool {
    let lower = |n: usize| text.get(..n).map(str::to_ascii_lowercase);
    lower(5).as_deref() == Some("http:") || lower(6).as_deref() == Some("https:")
}

impl Url {
    /// Parses an absolute `http:`/`https:` URL; a `#fragment` is dropped.
    pub fn parse(text: &str) -> Result<Url, UrlError> {
        let fail = |reason| UrlError {
            url: text.to_owned(),
            reason,
        };
        if text.chars().any(|c| c.is_ascii_control() || c == ' ') {
            return Err(fail("contains spaces or control characters"));
        }
        let (scheme, rest) = text.split_once("://").ok_or(fail("not an absolute URL"))?;
        let scheme = match scheme.to_ascii_lowercase().as_str() {
            "http" => Scheme::Http,
            "https" => Scheme::Https,
            _ => return Err(fail("only http and https URLs are fetched")),
        };
        let rest = rest.split('#').next().unwrap_or_default();
        let split = rest.find(['/', '?']).unwrap_or(rest.len());
        let (authority, target) = rest.split_at(split);
        if authority.contains('@') {
            return Err(fail("user info in URLs is not supported"));
        }
        let (host, port) = split_authority(authority).ok_or(fail("bad host or port"))?;
        let port = port.unwrap_or(scheme.default_port());
        let target = match target {
            "" => "/".to_owned(),
            query if query.starts_with('?') => format!("/{query}"),
            path => remove_dot_segments(path),
        };
        Ok(Url {
            scheme,
            host: host.to_ascii_lowercase().into(),
            port,
            target: target.into(),
        })
    }

    /// Resolves `reference` (absolute, `//host/...`, `/path`, `path`, `?query`) against
    /// this URL.
    pub fn join(&self, reference: &str) -> Result<Url, UrlError> {
        let reference = reference.trim();
        let fail = |reason| UrlError {
            url: reference.to_owned(),
            reason,
        };
        if let Some(rest) = reference.strip_prefix("//") {
            return Url::parse(&format!("{}://{rest}", self.scheme.name()));
        }
        if has_scheme(reference) {
            return Url::parse(reference);
        }
        let reference = reference.split('#').next().unwrap_or_default();
        let (path, query) = match self.target.split_once('?') {
            Some((path, query)) => (path, Some(query)),
            None => (&*self.target, None),
        };
        let target = if reference.is_empty() {
            match query {
                Some(query) => format!("{path}?{query}"),
                None => path.to_owned(),
            }
        } else if reference.starts_with('?') {
            format!("{path}{reference}")
        } else if reference.starts_with('/') {
            remove_dot_segments(reference)
        } else {
            let directory = &path[..path.rfind('/').map_or(0, |i| i + 1)];
            remove_dot_segments(&format!("{directory}{reference}"))
        };
        if target.chars().any(|c| c.is_ascii_control() || c == ' ') {
            return Err(fail("contains spaces or control characters"));
        }
        Ok(Url {
            target: target.into(),
            ..self.clone()
        })
    }

    /// `http` or `https`.
    pub fn scheme(&self) -> Scheme {
        self.scheme
    }

    /// The host, lower case (an IPv6 literal without brackets).
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The port, explicit or the scheme's default.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Path and query, for the request line.
    pub fn target(&self) -> &str {
        &self.target
    }

    /// The `Host` header: `host[:port]`, the port only when not the default.
    pub fn host_header(&self) -> String {
        let host = match self.host.contains(':') {
            true => format!("[{}]", self.host),
            false => self.host.to_string(),
        };
        match self.port == self.scheme.default_port() {
            true => host,
            false => format!("{host}:{}", self.port),
        }
    }
}

impl fmt::Display for Url {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}://{}{}",
            self.scheme.name(),
            self.host_header(),
            self.target
        )
    }
}

/// True when `reference` begins with `scheme:` (RFC 3986: a letter, then letters, digits,
/// `+`, `-`, `.`).
fn has_scheme(reference: &str) -> bool {
    let Some((scheme, _)) = reference.split_once(':') else {
        return false;
    };
    let mut chars = scheme.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
        && !scheme.contains('/')
}

/// `host[:port]` or `[v6][:port]` → (host, port).
fn split_authority(authority: &str) -> Option<(&str, Option<u16>)> {
    let (host, port) = if let Some(rest) = authority.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        host.parse::<std::net::Ipv6Addr>().ok()?;
        match after {
            "" => (host, None),
            port => (host, Some(port.strip_prefix(':')?)),
        }
    } else {
        match authority.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        }
    };
    let valid_host = !host.is_empty()
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-._:".contains(c));
    if !valid_host {
        return None;
    }
    let port = match port {
        None | Some("") => None,
        Some(port) => Some(port.parse::<u16>().ok().filter(|port| *port > 0)?),
    };
    Some((host, port))
}

/// RFC 3986 §5.2.4 over a path with an optional query: `.` and `..` segments removed.
fn remove_dot_segments(target: &str) -> String {
    let (path, query) = match target.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (target, None),
    };
    let mut segments: Vec<&str> = Vec::new();
    let parts: Vec<&str> = path.split('/').skip(1).collect();
    let last = parts.len().saturating_sub(1);
    for (index, segment) in parts.iter().enumerate() {
        match *segment {
            "." => {}
            ".." => {
                segments.pop();
            }
            segment => segments.push(segment),
        }
        // A trailing `.` or `..` names a directory: keep the trailing slash.
        if index == last && matches!(*segment, "." | "..") {
            segments.push("");
        }
    }
    let mut out = String::with_capacity(target.len());
    for segment in &segments {
        out.push('/');
        out.push_str(segment);
    }
    if out.is_empty() {
        out.push('/');
    }
    if let Some(query) = query {
        out.push('?');
        out.push_str(query);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_hosts_ports_and_targets() {
        let url = Url::parse("HTTPS://Apps.Example.com:8443/a/b.scxml?x=1#frag").unwrap();
        assert_eq!(url.scheme(), Scheme::Https);
        assert_eq!(url.host(), "apps.example.com");
        assert_eq!(url.port(), 8443);
        assert_eq!(url.target(), "/a/b.scxml?x=1");
        assert_eq!(url.host_header(), "apps.example.com:8443");
        assert_eq!(
            url.to_string(),
            "https://apps.example.com:8443/a/b.scxml?x=1"
        );
        let url = Url::parse("http://[::1]/x").unwrap();
        assert_eq!((url.host(), url.port()), ("::1", 80));
        assert_eq!(url.host_header(), "[::1]");
        assert_eq!(Url::parse("http://h").unwrap().target(), "/");
        assert_eq!(Url::parse("http://h?q").unwrap().target(), "/?q");
    }

    #[test]
    fn refuses_what_it_cannot_fetch() {
        for bad in [
            "ftp://h/x",
            "http://user:pw@h/x",
            "http://h:0/",
            "http://h:99999/",
            "http:///x",
            "http://h/a b",
            "h/x",
        ] {
            assert!(Url::parse(bad).is_err(), "{bad}");
        }
        assert!(is_http_url("HTTP://x") && is_http_url("https://x"));
        assert!(!is_http_url("/srv/a.scxml") && !is_http_url("file:///a"));
    }

    #[test]
    fn joins_references() {
        let base = Url::parse("http://h:81/apps/main/start.scxml?v=2").unwrap();
        let join = |r: &str| base.join(r).unwrap().to_string();
        assert_eq!(join("lib.js"), "http://h:81/apps/main/lib.js");
        assert_eq!(join("../data/q.json"), "http://h:81/apps/data/q.json");
        assert_eq!(join("/root.js"), "http://h:81/root.js");
        assert_eq!(join("?v=3"), "http://h:81/apps/main/start.scxml?v=3");
        assert_eq!(join("//other/x"), "http://other/x");
        assert_eq!(join("https://s/y"), "https://s/y");
        assert_eq!(join("./a/./b/../c"), "http://h:81/apps/main/a/c");
        assert_eq!(join("../../../../x"), "http://h:81/x");
        assert!(base.join("file:///etc/passwd").is_err());
    }
}
