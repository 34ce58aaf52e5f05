//! The names a peer certificate identifies: for logs, the subject's common name or else the
//! first subject alternative name ([`peer_name`]); for access control, every one of them
//! ([`certificate_names`]), which an operator maps to a principal.
//!
//! A minimal DER walk over the fixed X.509 layout, borrowing from the certificate: no
//! allocation, no recursion, and any malformed input is `None`. It never decides trust; rustls
//! has verified the certificate before anyone asks for its name.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

const TAG_SEQUENCE: u8 = 0x30;
const TAG_SET: u8 = 0x31;
const TAG_OID: u8 = 0x06;
const TAG_OCTET_STRING: u8 = 0x04;
const TAG_VERSION: u8 = 0xA0;
const TAG_EXTENSIONS: u8 = 0xA3;
const TAG_SAN_EMAIL: u8 = 0x81;
const TAG_SAN_DNS: u8 = 0x82;
const TAG_SAN_URI: u8 = 0x86;
const TAG_SAN_IP: u8 = 0x87;
/// id-at-commonName, 2.5.4.3.
const OID_COMMON_NAME: &[u8] = &[0x55, 0x04, 0x03];
/// id-ce-subjectAltName, 2.5.29.17.
const OID_SUBJECT_ALT_NAME: &[u8] = &[0x55, 0x1D, 0x11];

/// What a peer certificate calls its holder.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PeerName<'a> {
    /// The subject's common name (CN).
    CommonName(&'a str),
    /// The first subject alternative name, a DNS name.
    Dns(&'a str),
    /// The first subject alternative name, an IP address.
    Ip(IpAddr),
}

impl fmt::Display for PeerName<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PeerName::CommonName(name) => write!(f, "CN={name}"),
            PeerName::Dns(name) => write!(f, "DNS:{name}"),
            PeerName::Ip(address) => write!(f, "IP:{address}"),
        }
    }
}

/// The subject common name of a DER certificate, else its first DNS or IP alternative name.
pub fn peer_name(certificate_der: &[u8]) -> Option<PeerName<'_>> {
    let (subject, extensions) = subject_and_extensions(certificate_der)?;
    if let Some(name) = common_name(subject) {
        return Some(PeerName::CommonName(name));
    }
    first_alt_name(extensions?)
}

/// Most names [`certificate_names`] returns: a certificate is bounded by the handshake's
/// size, but a principal needs only a few names, and matching stays cheap.
pub const CERTIFICATE_NAMES_MAX: usize = 16;

/// Every name a DER certificate gives its holder: each subject common name, then each
/// DNS, e-mail, URI and IP subject alternative name, in certificate order, at most
/// [`CERTIFICATE_NAMES_MAX`]. Names that are not UTF-8 are skipped; malformed input gives
/// what was read before the fault (never a panic).
pub fn certificate_names(certificate_der: &[u8]) -> Vec<String> {
    let mut names = Vec::new();
    let Some((subject, extensions)) = subject_and_extensions(certificate_der) else {
        return names;
    };
    common_names(subject, &mut names);
    if let Some(extensions) = extensions {
        alt_names(extensions, &mut names);
    }
    names.truncate(CERTIFICATE_NAMES_MAX);
    names
}

/// Appends every CN attribute of a Name.
fn common_names(name: &[u8], names: &mut Vec<String>) {
    let mut rdns = Reader::new(name);
    while let Some(rdn) = rdns.take(TAG_SET) {
        let mut attributes = Reader::new(rdn);
        while let Some(attribute) = attributes.take(TAG_SEQUENCE) {
            let mut fields = Reader::new(attribute);
            if fields.take(TAG_OID) != Some(OID_COMMON_NAME) {
                continue;
            }
            if let Some(value) = fields.next().and_then(|(_, v)| std::str::from_utf8(v).ok()) {
                push_name(names, value.to_owned());
            }
        }
    }
}

/// Appends every DNS, e-mail, URI and IP entry of the subjectAltName extension.
fn alt_names(extensions: &[u8], names: &mut Vec<String>) {
    let Some(mut entries) = alt_name_entries(extensions) else {
        return;
    };
    while let Some((tag, content)) = entries.next() {
        let name = match tag {
            TAG_SAN_DNS | TAG_SAN_EMAIL | TAG_SAN_URI => {
                std::str::from_utf8(content).ok().map(str::to_owned)
            }
            TAG_SAN_IP => ip_address(content).map(|ip| ip.to_string()),
            _ => None,
        };
        if let Some(name) = name {
            push_name(names, name);
        }
    }
}

fn push_name(names: &mut Vec<String>, name: String) {
    if names.len() < CERTIFICATE_NAMES_MAX {
        names.push(name);
    }
}

/// The GeneralNames of the subjectAltName extension, as a reader over its entries.
fn alt_name_entries(extensions: &[u8]) -> Option<Reader<'_>> {
    let mut list = Reader::new(extensions);
    while let Some(extension) = list.take(TAG_SEQUENCE) {
        let mut fields = Reader::new(extension);
        if fields.take(TAG_OID)? != OID_SUBJECT_ALT_NAME {
            continue;
        }
        // Skip the optional `critical` BOOLEAN to reach the OCTET STRING.
        let value = loop {
            let (tag, content) = fields.next()?;
            if tag == TAG_OCTET_STRING {
                break content;
            }
        };
        return Some(Reader::new(Reader::new(value).take(TAG_SEQUENCE)?));
    }
    None
}

/// The subject Name and the extensions of a certificate's TBSCertificate.
fn subject_and_extensions(der: &[u8]) -> Option<(&[u8], Option<&[u8]>)> {
    let certificate = Reader::new(der).take(TAG_SEQUENCE)?;
    let mut tbs = Reader::new(Reader::new(certificate).take(TAG_SEQUENCE)?);
    if tbs.peek_tag() == Some(TAG_VERSION) {
        tbs.next()?;
    }
    // serialNumber, signature, issuer and validity precede the subject.
    for _ in 0..4 {
        tbs.next()?;
    }
    let subject = tbs.take(TAG_SEQUENCE)?;
    let mut extensions = None;
    while let Some((tag, content)) = tbs.next() {
        if tag == TAG_EXTENSIONS {
            extensions = Some(Reader::new(content).take(TAG_SEQUENCE)?);
        }
    }
    Some((subject, extensions))
}

/// The first CN attribute of a Name (SEQUENCE OF SET OF AttributeTypeAndValue).
fn common_name(name: &[u8]) -> Option<&str> {
    let mut rdns = Reader::new(name);
    while let Some(rdn) = rdns.take(TAG_SET) {
        let mut attributes = Reader::new(rdn);
        while let Some(attribute) = attributes.take(TAG_SEQUENCE) {
            let mut fields = Reader::new(attribute);
            if fields.take(TAG_OID)? == OID_COMMON_NAME {
                // UTF8String, PrintableString and IA5String are all valid UTF-8 when sane.
                let (_, value) = fields.next()?;
                return std::str::from_utf8(value).ok();
            }
        }
    }
    None
}

/// The first DNS or IP entry of the subjectAltName extension.
fn first_alt_name(extensions: &[u8]) -> Option<PeerName<'_>> {
    let mut entries = alt_name_entries(extensions)?;
    while let Some((tag, content)) = entries.next() {
        match tag {
            TAG_SAN_DNS => return std::str::from_utf8(content).ok().map(PeerName::Dns),
            TAG_SAN_IP => return ip_address(content).map(PeerName::Ip),
            _ => {}
        }
    }
    None
}

fn ip_address(octets: &[u8]) -> Option<IpAddr> {
    if let Ok(v4) = <[u8; 4]>::try_from(octets) {
        return Some(IpAddr::V4(Ipv4Addr::from(v4)));
    }
    let v6 = <[u8; 16]>::try_from(octets).ok()?;
    Some(IpAddr::V6(Ipv6Addr::from(v6)))
}

/// A cursor over consecutive DER TLVs with single-byte tags, which is all X.509 uses here.
struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    fn new(bytes: &'a [u8]) -> Reader<'a> {
        Reader { rest: bytes }
    }

    fn peek_tag(&self) -> Option<u8> {
        self.rest.first().copied()
    }

    /// The next TLV's content if its tag is `tag`.
    fn take(&mut self, tag: u8) -> Option<&'a [u8]> {
        let (found, content) = self.next()?;
        (found == tag).then_some(content)
    }

    /// The next TLV as (tag, content), or `None` at the end or on malformed length.
    fn next(&mut self) -> Option<(u8, &'a [u8])> {
        let (&tag, rest) = self.rest.split_first()?;
        let (&first, mut rest) = rest.split_first()?;
        let length = if first < 0x80 {
            usize::from(first)
        } else {
            // Long form: 1 to 4 length octets cover any certificate we would accept.
            let octets = usize::from(first & 0x7F);
            if octets == 0 || octets > 4 || rest.len() < octets {
                return None;
            }
            let (length_octets, after) = rest.split_at(octets);
            rest = after;
            length_octets
                .iter()
                .fold(0usize, |length, &octet| (length << 8) | usize::from(octet))
        };
        if rest.len() < length {
            return None;
        }
        let (content, after) = rest.split_at(length);
        self.rest = after;
        Some((tag, content))
    }
}
