//! One keep-alive API connection of the generator, on a busy-polled socket
//! (`loadgen::wait`), opened on first use and again after any failure.

use std::net::SocketAddr;
use std::time::Duration;

use protocols::http::client;
use protocols::http::{HttpLimits, OutboundRequest, Response};

use crate::loadgen::report::ErrorKind;
use crate::loadgen::wait::ClientStream;

/// Pause after a failed connect, so a dead server is not hammered in a tight loop.
const CONNECT_RETRY_MS: u64 = 10;
/// Response bodies kept at most (the API's answers are small).
const RESPONSE_BODY_BYTES_MAX: u32 = 64 * 1024;

/// A connection to the API.
pub struct Conn {
    address: SocketAddr,
    host: String,
    timeout_ms: u32,
    limits: HttpLimits,
    stream: Option<ClientStream>,
}

impl Conn {
    /// Not connected yet.
    pub fn new(address: SocketAddr, host: &str, timeout_ms: u32) -> Conn {
        Conn {
            address,
            host: host.to_string(),
            timeout_ms,
            limits: HttpLimits {
                body_bytes_max: RESPONSE_BODY_BYTES_MAX,
                ..HttpLimits::DEFAULT
            },
            stream: None,
        }
    }

    /// Sends one request (a JSON body unless empty) and reads its response, whatever its
    /// status; an error is a failure to get one.
    pub async fn exchange(
        &mut self,
        method: &str,
        target: &str,
        body: &[u8],
    ) -> Result<Response, ErrorKind> {
        if self.stream.is_none() {
            match ClientStream::connect_busy(self.address) {
                Ok(stream) => self.stream = Some(stream),
                Err(_) => {
                    glommio::timer::sleep(Duration::from_millis(CONNECT_RETRY_MS)).await;
                    return Err(ErrorKind::Connect);
                }
            }
        }
        let stream = self.stream.as_mut().expect("connected above");
        let headers: &[(&str, &str)] = match body.is_empty() {
            true => &[],
            false => &[("Content-Type", "application/json")],
        };
        let request = OutboundRequest {
            method,
            target,
            host: &self.host,
            headers,
            body,
            close: false,
        };
        match client::send(stream, &request, &self.limits, self.timeout_ms).await {
            Ok(reply) => {
                if !reply.keep_alive {
                    self.stream = None;
                }
                Ok(reply.response)
            }
            Err(error) => {
                self.stream = None;
                Err(ErrorKind::of_client_error(&error))
            }
        }
    }

    /// [`Conn::exchange`] for setup steps: any failure or a status other than `expected`
    /// becomes a message naming the request and the server's reason.
    pub async fn expect(
        &mut self,
        method: &str,
        target: &str,
        body: &[u8],
        expected: &[u16],
    ) -> Result<Response, String> {
        let response = self
            .exchange(method, target, body)
            .await
            .map_err(|kind| format!("{method} {target}: {}", kind.name()))?;
        if !expected.contains(&response.status) {
            let reason = String::from_utf8_lossy(&response.body);
            return Err(format!(
                "{method} {target}: answered {} {reason}",
                response.status
            ));
        }
        Ok(response)
    }
}
