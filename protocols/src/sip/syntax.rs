//! Lexical pieces of SIP (RFC 3261 §7, §25) shared by the parser, the accessors, the stream
//! framer and the transaction layer: lines and folded header fields, tokens, compact header
//! names, separators that respect quoted strings and `<...>`, parameters and URI users.
//!
//! Everything here borrows from its input and allocates only to join a folded header field,
//! so the per-message paths (matching, framing) stay allocation-free.

use std::borrow::Cow;

/// Compact header names (RFC 3261 §7.3.3 and the later registrations in the IANA SIP
/// parameters registry) and their long forms.
const COMPACT_NAMES: [(u8, &str); 19] = [
    (b'a', "Accept-Contact"),
    (b'b', "Referred-By"),
    (b'c', "Content-Type"),
    (b'd', "Request-Disposition"),
    (b'e', "Content-Encoding"),
    (b'f', "From"),
    (b'i', "Call-ID"),
    (b'j', "Reject-Contact"),
    (b'k', "Supported"),
    (b'l', "Content-Length"),
    (b'm', "Contact"),
    (b'o', "Event"),
    (b'r', "Refer-To"),
    (b's', "Subject"),
    (b't', "To"),
    (b'u', "Allow-Events"),
    (b'v', "Via"),
    (b'x', "Session-Expires"),
    (b'y', "Identity"),
];

/// The long form of a compact header name (either case); any other name as given.
pub(crate) fn canonical_name(name: &str) -> &str {
    let [letter] = name.as_bytes() else {
        return name;
    };
    let letter = letter.to_ascii_lowercase();
    COMPACT_NAMES
        .iter()
        .find(|(compact, _)| *compact == letter)
        .map_or(name, |(_, long)| long)
}

/// Whether a header called `found` (as stored, possibly compact) is the one called
/// `wanted` (already canonical), ignoring ASCII case.
pub(crate) fn name_is(found: &str, wanted: &str) -> bool {
    canonical_name(found).eq_ignore_ascii_case(wanted)
}

/// Whether `byte` may appear in a token (RFC 3261 §25.1).
pub(crate) fn is_token_byte(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || b"-.!%*_+`'~".contains(&byte)
}

/// Whether `text` is a non-empty token.
pub(crate) fn is_token(text: &[u8]) -> bool {
    !text.is_empty() && text.iter().all(|&byte| is_token_byte(byte))
}

/// Linear white space within a line: SP or HTAB.
pub(crate) fn is_lws(byte: u8) -> bool {
    byte == b' ' || byte == b'\t'
}

/// A control character other than HTAB: never valid in a start line or header field, and
/// a CR or LF in a value copied into a response would forge header lines.
pub(crate) fn has_control(text: &[u8]) -> bool {
    text.iter()
        .any(|&byte| (byte < 0x20 && byte != b'\t') || byte == 0x7f)
}

/// `text` without leading and trailing SP / HTAB.
pub(crate) fn trim_lws(text: &str) -> &str {
    text.trim_matches([' ', '\t'])
}

/// `text` without leading and trailing SP / HTAB.
pub(crate) fn trim_lws_bytes(mut text: &[u8]) -> &[u8] {
    while let [first, rest @ ..] = text {
        if !is_lws(*first) {
            break;
        }
        text = rest;
    }
    while let [rest @ .., last] = text {
        if !is_lws(*last) {
            break;
        }
        text = rest;
    }
    text
}

/// `bytes` without the CRs and LFs before a start line (RFC 3261 §7.5 keep-alives).
pub(crate) fn skip_line_ends(bytes: &[u8]) -> &[u8] {
    let start = bytes
        .iter()
        .position(|&byte| byte != b'\r' && byte != b'\n')
        .unwrap_or(bytes.len());
    &bytes[start..]
}

/// Finds the empty line ending a header section, searching for line ends from `from`.
/// `Ok(body_start)` is the offset just after it. `Err(resume)` means it is not (yet) there:
/// a later search over a longer buffer may restart at `resume`. Accepts CRLF and bare LF.
pub(crate) fn find_head_end(bytes: &[u8], from: usize) -> Result<usize, usize> {
    let mut at = from.min(bytes.len());
    while let Some(offset) = bytes[at..].iter().position(|&byte| byte == b'\n') {
        let newline = at + offset;
        match (bytes.get(newline + 1), bytes.get(newline + 2)) {
            (None, _) | (Some(b'\r'), None) => return Err(newline),
            (Some(b'\n'), _) => return Ok(newline + 2),
            (Some(b'\r'), Some(b'\n')) => return Ok(newline + 3),
            _ => at = newline + 1,
        }
    }
    Err(bytes.len())
}

/// The physical lines of `bytes`, without their LF or CR LF ends; a last line without an
/// end is yielded too (salvage reads truncated datagrams).
pub(crate) struct Lines<'a> {
    bytes: &'a [u8],
}

impl<'a> Lines<'a> {
    pub(crate) fn new(bytes: &'a [u8]) -> Self {
        Self { bytes }
    }
}

impl<'a> Iterator for Lines<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        if self.bytes.is_empty() {
            return None;
        }
        let (line, rest) = match self.bytes.iter().position(|&byte| byte == b'\n') {
            Some(newline) => (&self.bytes[..newline], &self.bytes[newline + 1..]),
            None => (self.bytes, &[][..]),
        };
        self.bytes = rest;
        Some(line.strip_suffix(b"\r").unwrap_or(line))
    }
}

/// One logical header field: continuation lines (starting with SP or HTAB) joined to it by
/// one SP, as RFC 3261 §7.3.1 makes them equivalent.
pub(crate) struct Field<'a> {
    /// The number of its first physical line in the message (the start line is 1).
    pub line: u32,
    /// `name: value`, unfolded; owned only when continuation lines were joined.
    pub text: Cow<'a, [u8]>,
    /// A continuation line with no field before it: malformed.
    pub orphan: bool,
}

impl Field<'_> {
    /// The name and the trimmed value, when there is a colon and a non-empty name before it.
    pub(crate) fn split(&self) -> Option<(&[u8], &[u8])> {
        let colon = self.text.iter().position(|&byte| byte == b':')?;
        let name = trim_lws_bytes(&self.text[..colon]);
        let value = trim_lws_bytes(&self.text[colon + 1..]);
        (!name.is_empty()).then_some((name, value))
    }
}

/// The header fields after a start line, up to the empty line that ends them.
pub(crate) struct Fields<'a> {
    lines: std::iter::Peekable<Lines<'a>>,
    line: u32,
}

impl<'a> Fields<'a> {
    /// The fields in `lines`, whose first line is line `first_line` of the message.
    pub(crate) fn new(lines: Lines<'a>, first_line: u32) -> Self {
        Self {
            lines: lines.peekable(),
            line: first_line.saturating_sub(1),
        }
    }
}

impl<'a> Iterator for Fields<'a> {
    type Item = Field<'a>;

    fn next(&mut self) -> Option<Field<'a>> {
        let first = self.lines.next().filter(|line| !line.is_empty())?;
        self.line = self.line.saturating_add(1);
        let line = self.line;
        let orphan = is_lws(first[0]);
        let mut text = Cow::Borrowed(first);
        while let Some(next) = self
            .lines
            .next_if(|next| next.first().is_some_and(|&b| is_lws(b)))
        {
            self.line = self.line.saturating_add(1);
            let piece = trim_lws_bytes(next);
            let joined = text.to_mut();
            while joined.last().is_some_and(|&byte| is_lws(byte)) {
                joined.pop();
            }
            if !piece.is_empty() {
                joined.push(b' ');
                joined.extend_from_slice(piece);
            }
        }
        Some(Field { line, text, orphan })
    }
}

/// The offset of the first `separator` in `text` outside quoted strings (with their
/// backslash escapes) and, when `angles`, outside `<...>`.
pub(crate) fn find_separator(text: &str, separator: u8, angles: bool) -> Option<usize> {
    let (mut quoted, mut escaped, mut angled) = (false, false, false);
    for (at, &byte) in text.as_bytes().iter().enumerate() {
        if quoted {
            if escaped {
                escaped = false;
            } else if byte == b'\\' {
                escaped = true;
            } else if byte == b'"' {
                quoted = false;
            }
            continue;
        }
        match byte {
            b'"' => quoted = true,
            b'<' if angles => angled = true,
            b'>' if angles => angled = false,
            _ if byte == separator && !angled => return Some(at),
            _ => {}
        }
    }
    None
}

/// The pieces of `text` between top-level separators (see [`find_separator`]), untrimmed.
pub(crate) struct Split<'a> {
    rest: Option<&'a str>,
    separator: u8,
    angles: bool,
}

impl<'a> Split<'a> {
    pub(crate) fn new(text: &'a str, separator: u8, angles: bool) -> Self {
        Self {
            rest: Some(text),
            separator,
            angles,
        }
    }
}

impl<'a> Iterator for Split<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        let rest = self.rest?;
        match find_separator(rest, self.separator, self.angles) {
            Some(at) => {
                self.rest = Some(&rest[at + 1..]);
                Some(&rest[..at])
            }
            None => {
                self.rest = None;
                Some(rest)
            }
        }
    }
}

/// The non-empty, trimmed comma-separated elements of a header value (a Via value may hold
/// several; commas inside quoted strings or `<...>` do not separate).
pub(crate) fn elements(value: &str) -> impl Iterator<Item = &str> {
    Split::new(value, b',', true)
        .map(trim_lws)
        .filter(|element| !element.is_empty())
}

/// Splits a name-addr or addr-spec (From, To, Contact) into its URI and the header
/// parameters after it (RFC 3261 §20.10: without `<>`, parameters belong to the header).
pub(crate) fn split_name_addr(value: &str) -> (&str, &str) {
    match find_separator(value, b'<', false) {
        Some(open) => {
            let inner = &value[open + 1..];
            match inner.find('>') {
                Some(close) => (trim_lws(&inner[..close]), &inner[close + 1..]),
                None => (trim_lws(inner), ""),
            }
        }
        None => match find_separator(value, b';', false) {
            Some(semicolon) => (trim_lws(&value[..semicolon]), &value[semicolon..]),
            None => (trim_lws(value), ""),
        },
    }
}

/// Whether a From or To value is an address whose tag can be read back: quoted strings
/// closed, a `<` closed by a `>`, a URI with a scheme and without quotes, angle brackets
/// or white space, and no angle brackets among the parameters after it.
pub(crate) fn is_address(value: &str) -> bool {
    if !quotes_closed(value) {
        return false;
    }
    if let Some(open) = find_separator(value, b'<', false) {
        if !value[open..].contains('>') {
            return false;
        }
    }
    let (uri, params) = split_name_addr(value);
    let uri_byte = |byte: u8| !b"\"<> \t".contains(&byte);
    let has_scheme = uri
        .split_once(':')
        .is_some_and(|(scheme, rest)| !scheme.is_empty() && !rest.is_empty());
    has_scheme
        && uri.bytes().all(uri_byte)
        && quotes_closed(params)
        && find_separator(params, b'<', false).is_none()
        && find_separator(params, b'>', false).is_none()
}

/// Whether every quoted string in `text` is closed.
pub(crate) fn quotes_closed(text: &str) -> bool {
    let (mut quoted, mut escaped) = (false, false);
    for byte in text.bytes() {
        if escaped {
            escaped = false;
        } else if quoted && byte == b'\\' {
            escaped = true;
        } else if byte == b'"' {
            quoted = !quoted;
        }
    }
    !quoted
}

/// The user part of a `sip:`/`sips:` URI (without a password) or the number of a `tel:`
/// URI, as written (still %-escaped); `None` for other schemes or when there is none.
pub(crate) fn uri_user(uri: &str) -> Option<&str> {
    let (scheme, rest) = uri.split_once(':')?;
    let user = if scheme.eq_ignore_ascii_case("sip") || scheme.eq_ignore_ascii_case("sips") {
        let (userinfo, _) = rest.split_once('@')?;
        userinfo.split(':').next().unwrap_or(userinfo)
    } else if scheme.eq_ignore_ascii_case("tel") {
        rest.split([';', '?']).next().unwrap_or(rest)
    } else {
        return None;
    };
    (!user.is_empty()).then_some(user)
}

/// Parses `digits` (only ASCII digits, at most 19 of them) as a number.
pub(crate) fn parse_decimal(digits: &[u8]) -> Option<u64> {
    if digits.is_empty() || digits.len() > 19 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(
        digits
            .iter()
            .fold(0, |n, &digit| n * 10 + u64::from(digit - b'0')),
    )
}

/// The sequence number and method token of a CSeq value (RFC 3261 §20.16: the number is
/// below 2**31, then linear white space, then the method).
pub(crate) fn split_cseq(value: &str) -> Option<(u32, &str)> {
    let value = trim_lws(value);
    let digits_end = value.find([' ', '\t'])?;
    let number = parse_decimal(&value.as_bytes()[..digits_end])?;
    let method = trim_lws(&value[digits_end..]);
    if number >= 1 << 31 || !is_token(method.as_bytes()) {
        return None;
    }
    Some((u32::try_from(number).ok()?, method))
}
