//! Where outbound connections may go (`[[outbound.allow]]`), judged on the resolved
//! address right before connecting, so a name that resolves to loopback is caught.
//!
//! Refused unless a rule names them: the address classes a strategy has no business
//! reaching from a server (loopback, link-local, unspecified, multicast, broadcast, and
//! the cloud metadata addresses). "Names" means an address or network rule inside the
//! class: `127.0.0.1` or `127.0.0.0/8` does, `0.0.0.0/0` or a host name does not, so a DNS
//! answer can never open the way. An admin listener (`admin = true`) is never a
//! destination, whatever the rules say: its address and port, or any local address on its
//! port when it binds the unspecified address.
//!
//! What it must never do: connect before judging, or tell apart why a destination was
//! refused (one error, [`super::OutboundError::NotAllowed`], the same for every refusal,
//! raised before any packet is sent, so it says nothing about the port).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};

use crate::config::{in_network, AllowRule, HostMatch};

/// Address classes refused unless a rule inside them names them.
const REFUSED_CLASSES: [(IpAddr, u8); 12] = [
    (IpAddr::V4(Ipv4Addr::new(0, 0, 0, 0)), 8),
    (IpAddr::V4(Ipv4Addr::new(127, 0, 0, 0)), 8),
    (IpAddr::V4(Ipv4Addr::new(169, 254, 0, 0)), 16),
    (IpAddr::V4(Ipv4Addr::new(224, 0, 0, 0)), 4),
    (IpAddr::V4(Ipv4Addr::new(255, 255, 255, 255)), 32),
    // Alibaba Cloud's metadata service, and Azure's wire server.
    (IpAddr::V4(Ipv4Addr::new(100, 100, 100, 200)), 32),
    (IpAddr::V4(Ipv4Addr::new(168, 63, 129, 16)), 32),
    (IpAddr::V6(Ipv6Addr::UNSPECIFIED), 128),
    (IpAddr::V6(Ipv6Addr::LOCALHOST), 128),
    (IpAddr::V6(Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 0)), 10),
    (IpAddr::V6(Ipv6Addr::new(0xff00, 0, 0, 0, 0, 0, 0, 0)), 8),
    // AWS's metadata service over IPv6.
    (
        IpAddr::V6(Ipv6Addr::new(0xfd00, 0x0ec2, 0, 0, 0, 0, 0, 0x0254)),
        128,
    ),
];

/// The rules and the admin listeners' addresses one shard judges destinations by.
#[derive(Clone, Debug)]
pub struct Destinations {
    rules: Option<Vec<AllowRule>>,
    admin: Vec<SocketAddr>,
}

impl Destinations {
    /// `rules` (`outbound.allow`; absent: any destination outside the refused classes),
    /// never reaching `admin`.
    pub fn new(rules: Option<Vec<AllowRule>>, admin: Vec<SocketAddr>) -> Destinations {
        Destinations { rules, admin }
    }

    /// Replaces the admin listeners' addresses (listeners reload live).
    pub fn set_admin(&mut self, admin: Vec<SocketAddr>) {
        self.admin = admin;
    }

    /// Whether `host` (as the URL names it) resolved to `address` may be connected to.
    pub fn allowed(&self, host: &str, address: SocketAddr) -> bool {
        allowed(
            self.rules.as_deref(),
            &self.admin,
            host,
            address,
            is_local_address,
        )
    }
}

/// The judgement, pure but for `is_local` (whether an address is this host's).
pub fn allowed(
    rules: Option<&[AllowRule]>,
    admin: &[SocketAddr],
    host: &str,
    address: SocketAddr,
    is_local: impl Fn(IpAddr) -> bool,
) -> bool {
    let (ip, port) = (address.ip().to_canonical(), address.port());
    let admin_port = admin.iter().filter(|admin| admin.port() == port);
    let is_admin = admin_port.into_iter().any(|admin| {
        let admin_ip = admin.ip().to_canonical();
        admin_ip == ip || (admin_ip.is_unspecified() && is_local(ip))
    });
    if is_admin {
        return false;
    }
    let class = refused_class(ip);
    match rules {
        None => class.is_none(),
        Some(rules) => rules
            .iter()
            .any(|rule| rule_allows(rule, host, ip, port, class)),
    }
}

/// The refused class `ip` (canonical) is in, if any.
fn refused_class(ip: IpAddr) -> Option<(IpAddr, u8)> {
    let classes = REFUSED_CLASSES.iter().copied();
    classes
        .filter(|(network, prefix)| in_network(ip, *network, *prefix))
        .max_by_key(|(_, prefix)| *prefix)
}

fn rule_allows(
    rule: &AllowRule,
    host: &str,
    ip: IpAddr,
    port: u16,
    class: Option<(IpAddr, u8)>,
) -> bool {
    if rule.port.is_some_and(|allowed| allowed != port) {
        return false;
    }
    match (&rule.host, class) {
        (HostMatch::Name(_), None) => rule.host.matches(host, ip),
        (HostMatch::Name(_), Some(_)) => false,
        (HostMatch::Network { network, prefix }, class) => {
            let network = network.to_canonical();
            let prefix = match (rule_network_mapped(&rule.host), *prefix) {
                (true, prefix) => prefix.saturating_sub(96),
                (false, prefix) => prefix,
            };
            let inside = in_network(ip, network, prefix);
            let names_class = class.is_none_or(|(class_network, class_prefix)| {
                prefix >= class_prefix && in_network(network, class_network, class_prefix)
            });
            inside && names_class
        }
    }
}

/// Whether a rule's network is written as an IPv4-mapped IPv6 address
/// (`::ffff:127.0.0.1`), which matches as the IPv4 address it maps.
fn rule_network_mapped(host: &HostMatch) -> bool {
    match host {
        HostMatch::Network {
            network: IpAddr::V6(v6),
            ..
        } => v6.to_ipv4_mapped().is_some(),
        _ => false,
    }
}

/// Whether `ip` is an address of this host: loopback, unspecified, or one a socket can
/// bind (no packet is sent; a bind to a foreign address fails at once).
fn is_local_address(ip: IpAddr) -> bool {
    ip.is_loopback() || ip.is_unspecified() || UdpSocket::bind(SocketAddr::new(ip, 0)).is_ok()
}

/// Fuzz entry point: bytes become a rule, a destination and an admin address; the
/// judgement must never panic, never allow the admin address, and never allow a refused
/// class to a name rule.
#[doc(hidden)]
pub fn fuzz_destination(bytes: &[u8]) {
    if bytes.len() < 2 * 16 + 6 {
        return;
    }
    let v6 = |at: usize| {
        let octets: [u8; 16] = bytes[at..at + 16].try_into().expect("16 bytes");
        IpAddr::V6(Ipv6Addr::from(octets)).to_canonical()
    };
    let (network, target) = (v6(0), v6(16));
    let prefix = bytes[32] % if network.is_ipv4() { 33 } else { 129 };
    let port = u16::from_be_bytes([bytes[33], bytes[34]]).max(1);
    let rule_port = bytes[35].is_multiple_of(2).then_some(port);
    let rules = [
        AllowRule {
            host: HostMatch::Network { network, prefix },
            port: rule_port,
        },
        AllowRule {
            host: HostMatch::Name("h".to_owned()),
            port: None,
        },
    ];
    let address = SocketAddr::new(target, port);
    let admin = [address];
    assert!(!allowed(Some(&rules), &admin, "h", address, |_| true));
    let named = allowed(Some(&rules[1..]), &[], "h", address, |_| false);
    assert!(!named || refused_class(target).is_none());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(host: &str, port: Option<u16>) -> AllowRule {
        let text = format!("host = \"{host}\"");
        let mut rule: AllowRule = toml::from_str(&text).expect("a rule");
        rule.port = port;
        rule
    }

    fn judge(rules: Option<&[AllowRule]>, host: &str, address: &str) -> bool {
        let address: SocketAddr = address.parse().expect("an address");
        allowed(rules, &[], host, address, |_| false)
    }

    #[test]
    fn refused_classes_without_rules() {
        let refused = [
            "127.0.0.1:80",
            "127.8.9.1:80",
            "0.0.0.0:80",
            "169.254.169.254:80",
            "[::1]:80",
            "[::]:80",
            "[fe80::1]:80",
            "[::ffff:127.0.0.1]:80",
            "[::ffff:169.254.169.254]:80",
            "[fd00:ec2::254]:80",
            "100.100.100.200:80",
            "224.0.0.1:80",
            "255.255.255.255:80",
        ];
        for address in refused {
            assert!(!judge(None, "h", address), "{address}");
        }
        for address in ["10.1.2.3:80", "192.168.1.1:443", "[2001:db8::1]:80"] {
            assert!(judge(None, "h", address), "{address}");
        }
    }

    #[test]
    fn only_rules_inside_a_class_open_it() {
        let loopback = [rule("127.0.0.0/8", None)];
        assert!(judge(Some(&loopback), "localhost", "127.0.0.1:9"));
        assert!(
            !judge(Some(&loopback), "h", "10.0.0.1:9"),
            "only what a rule names"
        );
        let everything = [rule("0.0.0.0/0", None), rule("localhost", None)];
        assert!(!judge(Some(&everything), "localhost", "127.0.0.1:9"));
        assert!(judge(Some(&everything), "h", "10.0.0.1:9"));
        let one_port = [rule("::ffff:127.0.0.1", Some(8080))];
        assert!(judge(Some(&one_port), "h", "127.0.0.1:8080"));
        assert!(!judge(Some(&one_port), "h", "127.0.0.1:8081"));
        let names = [rule("*.example.com", Some(443))];
        assert!(judge(Some(&names), "a.example.com", "10.0.0.1:443"));
        assert!(!judge(Some(&names), "a.example.com", "127.0.0.1:443"));
        assert!(!judge(Some(&names), "example.com", "10.0.0.1:443"));
    }

    /// The fuzz target's properties over seeded pseudo-random inputs biased to the
    /// refused classes (cargo-fuzz needs nightly; this runs on every `cargo test`).
    #[test]
    fn fuzz_destination_holds_on_seeded_inputs() {
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for round in 0..5_000 {
            let mut bytes = [0u8; 38];
            for byte in bytes.iter_mut() {
                *byte = next() as u8;
            }
            // Every other input carries IPv4-mapped addresses, some in a refused class.
            if round % 2 == 0 {
                for at in [0, 16] {
                    bytes[at..at + 10].fill(0);
                    bytes[at + 10..at + 12].fill(0xff);
                    bytes[at + 12] = [127, 169, 10, 0][(next() % 4) as usize];
                }
            }
            fuzz_destination(&bytes);
        }
    }

    #[test]
    fn admin_listeners_are_never_destinations() {
        let loopback = [rule("127.0.0.0/8", None), rule("::1", None)];
        let admin: SocketAddr = "127.0.0.1:9000".parse().expect("an address");
        let to = |text: &str, local: bool| {
            let address: SocketAddr = text.parse().expect("an address");
            allowed(Some(&loopback), &[admin], "h", address, |_| local)
        };
        assert!(!to("127.0.0.1:9000", false));
        assert!(!to("[::ffff:127.0.0.1]:9000", false));
        assert!(to("127.0.0.1:9001", false));
        let any: SocketAddr = "0.0.0.0:9000".parse().expect("an address");
        let everywhere = [rule("0.0.0.0/0", None), rule("127.0.0.0/8", None)];
        let target: SocketAddr = "10.0.0.5:9000".parse().expect("an address");
        assert!(!allowed(Some(&everywhere), &[any], "h", target, |_| true));
        assert!(allowed(Some(&everywhere), &[any], "h", target, |_| false));
        assert!(is_local_address("127.0.0.1".parse().expect("an address")));
        assert!(!is_local_address("192.0.2.1".parse().expect("an address")));
    }
}
