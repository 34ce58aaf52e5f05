//! Outbound HTTP(S) for one shard: document fetches and `<send type="basichttp">` (webhooks
//! next). [`Outbound::request`] resolves the host, binds the local end the first
//! matching `[[outbound.bind]]` rule names, connects, runs TLS for `https:` (verifying the
//! server against `[outbound] roots`, presenting the client certificate when configured),
//! and exchanges one request for one response, every stage bounded in time and size.
//! Before connecting, each resolved address is judged by `[[outbound.allow]]`
//! ([`destination`]); a refused one is never connected to.
//!
//! One connection per request (`Connection: close`): outbound traffic is rare next to the
//! session API, and a pool can be added behind the same call when `basichttp` sends need it.
//! It never blocks the shard: host names resolve on the shard's blocking thread.

mod bind;
pub mod destination;
mod error;
mod resolve;
pub mod url;

use std::cell::RefCell;
use std::net::SocketAddr;

use protocols::http::client::{self, LocalBind};
use protocols::http::{HttpLimits, OutboundRequest, Response};
use protocols::tls::{self, ClientTls, MaybeTls};

use crate::config::{BindRule, OutboundConfig};

pub use bind::local_bind;
pub use destination::Destinations;
pub use error::OutboundError;
pub use url::{is_http_url, Scheme, Url, UrlError};

/// Addresses of one host tried in turn before a request fails.
pub const ADDRESSES_TRIED_MAX: usize = 4;

/// One shard's outbound client.
pub struct Outbound {
    tls: ClientTls,
    binds: Vec<BindRule>,
    /// Borrowed only between awaits, to judge an address.
    destinations: RefCell<Destinations>,
    limits: HttpLimits,
    connect_timeout_ms: u32,
    request_timeout_ms: u32,
}

impl Outbound {
    /// A client under `config`, never connecting to the `admin` listeners' addresses;
    /// `tls` is the shard's copy of the outbound TLS configuration (see
    /// [`ClientTls::for_shard`]).
    pub fn new(config: &OutboundConfig, tls: ClientTls, admin: Vec<SocketAddr>) -> Outbound {
        assert!(config.connect_timeout_ms > 0);
        assert!(config.request_timeout_ms > 0);
        let limits = HttpLimits {
            header_bytes_max: config.header_bytes_max,
            body_bytes_max: config.response_bytes_max,
            ..HttpLimits::DEFAULT
        };
        assert!(limits.validate().is_ok(), "outbound limits are validated");
        Outbound {
            tls: tls.with_handshake_timeout_ms(config.connect_timeout_ms),
            binds: config.binds.clone(),
            destinations: RefCell::new(Destinations::new(config.allow.clone(), admin)),
            limits,
            connect_timeout_ms: config.connect_timeout_ms,
            request_timeout_ms: config.request_timeout_ms,
        }
    }

    /// Replaces the admin listeners' addresses (after a reload changed the listeners).
    pub fn set_admin(&self, admin: Vec<SocketAddr>) {
        self.destinations.borrow_mut().set_admin(admin);
    }

    /// Sends `method url` with `headers` (not Host, Content-Length, Transfer-Encoding or
    /// Connection, which are written here) and `body`; answers the response, whatever its
    /// status.
    pub async fn request(
        &self,
        method: &str,
        url: &Url,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Result<Response, OutboundError> {
        let tcp = self.connect(url).await?;
        let mut stream = match url.scheme() {
            Scheme::Http => MaybeTls::Plain(tcp),
            Scheme::Https => {
                let connected = tls::connect(&self.tls, url.host(), tcp).await;
                MaybeTls::from(connected.map_err(OutboundError::Tls)?)
            }
        };
        let host = url.host_header();
        let request = OutboundRequest {
            method,
            target: url.target(),
            host: &host,
            headers,
            body,
            close: true,
        };
        let reply = client::send(&mut stream, &request, &self.limits, self.request_timeout_ms);
        let reply = reply.await.map_err(OutboundError::Exchange)?;
        Ok(reply.response)
    }

    /// A TCP connection to the first of the host's addresses that accepts, bound as the
    /// rules say.
    async fn connect(&self, url: &Url) -> Result<glommio::net::TcpStream, OutboundError> {
        let addresses = resolve::addresses(url.host(), url.port(), self.connect_timeout_ms);
        let addresses = addresses.await?;
        assert!(!addresses.is_empty());
        let addresses = self.allowed(url.host(), addresses);
        if addresses.is_empty() {
            return Err(OutboundError::NotAllowed);
        }
        let mut last_error = None;
        for &address in addresses.iter().take(ADDRESSES_TRIED_MAX) {
            let local = local_bind(&self.binds, url.host(), address);
            match client::connect(address, local, self.connect_timeout_ms).await {
                Ok(stream) => return Ok(stream),
                Err(source) => last_error = Some(connect_error(address, local, source)),
            }
        }
        Err(last_error.expect("at least one address was tried"))
    }
}

impl Outbound {
    /// The `addresses` of `host` that `[[outbound.allow]]` admits (the borrow ends here,
    /// before any await).
    fn allowed(&self, host: &str, mut addresses: Vec<SocketAddr>) -> Vec<SocketAddr> {
        let destinations = self.destinations.borrow();
        addresses.retain(|address| destinations.allowed(host, *address));
        addresses
    }
}

fn connect_error(
    address: SocketAddr,
    local: LocalBind,
    source: client::ClientError,
) -> OutboundError {
    OutboundError::Connect {
        address,
        local,
        source,
    }
}
