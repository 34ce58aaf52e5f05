//! Client-side port definition: which local end an outbound connection binds.

use std::net::{IpAddr, SocketAddr};

use protocols::http::client::LocalBind;

use crate::config::{BindRule, LocalPorts};

/// The local end for a connection to `host` (as the URL names it) at `address`: the first
/// rule whose host and port match, else whatever the kernel picks. A rule whose local
/// address is of the other family than `address` does not match, so one list can serve
/// IPv4 and IPv6 destinations.
pub fn local_bind(rules: &[BindRule], host: &str, address: SocketAddr) -> LocalBind {
    let matching = rules.iter().find(|rule| {
        let host_matches = rule
            .host
            .as_ref()
            .is_none_or(|pattern| pattern.matches(host, address.ip()));
        let port_matches = rule.port.is_none_or(|port| port == address.port());
        let family_matches = rule.local_address.is_ipv4() == address.is_ipv4();
        host_matches && port_matches && family_matches
    });
    let Some(rule) = matching else {
        return LocalBind::Any;
    };
    let ip: IpAddr = rule.local_address;
    match rule.local_port {
        LocalPorts::Any => LocalBind::Address(SocketAddr::new(ip, 0)),
        LocalPorts::Port(port) => LocalBind::Address(SocketAddr::new(ip, port)),
        LocalPorts::Range { first, last } => LocalBind::PortRange {
            ip,
            port_first: first,
            port_last: last,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::HostMatch;

    fn rule(
        host: Option<HostMatch>,
        port: Option<u16>,
        local: &str,
        ports: LocalPorts,
    ) -> BindRule {
        BindRule {
            host,
            port,
            local_address: local.parse().unwrap(),
            local_port: ports,
        }
    }

    #[test]
    fn first_matching_rule_wins() {
        let network = HostMatch::Network {
            network: "10.0.0.0".parse().unwrap(),
            prefix: 8,
        };
        let rules = [
            rule(
                Some(HostMatch::Name("*.apps.example".into())),
                None,
                "10.9.0.1",
                LocalPorts::Port(4000),
            ),
            rule(
                Some(network),
                Some(443),
                "10.9.0.2",
                LocalPorts::Range {
                    first: 5000,
                    last: 5009,
                },
            ),
            rule(None, None, "10.9.0.3", LocalPorts::Any),
            rule(None, None, "::1", LocalPorts::Port(6000)),
        ];
        let at = |address: &str| address.parse::<SocketAddr>().unwrap();
        assert_eq!(
            local_bind(&rules, "a.apps.example", at("10.1.1.1:443")),
            LocalBind::Address(at("10.9.0.1:4000"))
        );
        assert_eq!(
            local_bind(&rules, "other", at("10.1.1.1:443")),
            LocalBind::PortRange {
                ip: "10.9.0.2".parse().unwrap(),
                port_first: 5000,
                port_last: 5009
            }
        );
        assert_eq!(
            local_bind(&rules, "other", at("10.1.1.1:80")),
            LocalBind::Address(at("10.9.0.3:0"))
        );
        assert_eq!(
            local_bind(&rules, "v6", at("[::2]:80")),
            LocalBind::Address(at("[::1]:6000"))
        );
        assert_eq!(
            local_bind(&rules[..1], "apps.example", at("10.1.1.1:80")),
            LocalBind::Any
        );
    }
}
