//! Host names to addresses without blocking the shard.
//!
//! glommio has no resolver, and `getaddrinfo` blocks (reading `/etc/hosts`, asking DNS), so
//! names resolve on the shard's blocking thread, raced against the connect timeout. IP
//! literals, the common case for application servers inside a contact centre, skip it.

use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::time::Duration;

use futures_lite::future;

use super::OutboundError;

/// The addresses of `host` on `port`, in the resolver's order; never empty on success.
pub(super) async fn addresses(
    host: &str,
    port: u16,
    timeout_ms: u32,
) -> Result<Vec<SocketAddr>, OutboundError> {
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(vec![SocketAddr::new(ip, port)]);
    }
    let name = host.to_owned();
    let lookup = glommio::executor().spawn_blocking(move || {
        (name.as_str(), port)
            .to_socket_addrs()
            .map(Iterator::collect::<Vec<_>>)
    });
    let deadline = async {
        glommio::timer::sleep(Duration::from_millis(u64::from(timeout_ms))).await;
        Err(OutboundError::ResolveTimeout {
            host: host.into(),
            timeout_ms,
        })
    };
    let lookup = async {
        match lookup.await {
            Ok(found) if !found.is_empty() => Ok(found),
            Ok(_) => Err(OutboundError::Resolve {
                host: host.into(),
                reason: "no address".into(),
            }),
            Err(error) => Err(OutboundError::Resolve {
                host: host.into(),
                reason: error.to_string().into(),
            }),
        }
    };
    future::or(lookup, deadline).await
}
