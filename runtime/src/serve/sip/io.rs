//! The SIP endpoint's sockets: a UDP socket and a TCP (or TLS) listener per SIP listener,
//! and a task per stream connection.
//!
//! Every task hands what it read to the endpoint synchronously and then sends what the
//! endpoint queued ([`SipEndpoint::flush`]: UDP sends are non-blocking syscalls, stream
//! messages go to their connection's writer task), so one turn reads, decides and writes
//! without another task in between. Timers run in the shard's driver
//! ([`SipEndpoint::run_timers`]). Borrows of the endpoint's state never cross an await.

use std::net::IpAddr;
use std::rc::Rc;

use futures_lite::io::{AsyncReadExt, AsyncWriteExt};
use futures_lite::{future, AsyncRead, AsyncWrite};
use glommio::net::{TcpListener, UdpSocket};
use protocols::http::server::StopSignal;
use protocols::sip::{Framed, Peer, SipStreamDecoder, Transport};
use protocols::timeout::within;
use protocols::tls::{ServerTls, SharedServerTls};

use super::{udp_peer, SipEndpoint};
use crate::config::{ListenerConfig, Tls};

/// Socket buffer asked for each UDP socket, in bytes. The kernel caps it at
/// `net.core.rmem_max` / `wmem_max` (see tuning/README.md): bursts of calls beyond the
/// buffer are dropped by the kernel and recovered only by the callers' retransmissions.
const UDP_BUFFER_BYTES: usize = 4 << 20;

/// Messages queued for one stream connection; past it, messages for a peer that does not
/// read are dropped (counted in `baton_sip_send_failures_total`).
const CONNECTION_QUEUE_MAX: usize = 1_024;

/// One accepted stream connection in [`SipEndpoint::streams`], from its accept until its
/// task ends.
struct CountedStream(Rc<SipEndpoint>, IpAddr);

impl CountedStream {
    /// Counts a connection from `ip`, or `None` when the shard's or the address's bound is
    /// reached (`limits.connections_per_shard_max`, `limits.connections_per_address_max`).
    fn new(endpoint: &Rc<SipEndpoint>, ip: IpAddr) -> Option<Self> {
        let mut by_address = endpoint.streams_by_address.borrow_mut();
        let from_address = by_address.entry(ip).or_insert(0);
        if endpoint.streams.get() >= endpoint.connections_max
            || *from_address >= endpoint.connections_per_address_max
        {
            if *from_address == 0 {
                by_address.remove(&ip);
            }
            return None;
        }
        *from_address += 1;
        endpoint.streams.set(endpoint.streams.get() + 1);
        Some(Self(Rc::clone(endpoint), ip))
    }
}

impl Drop for CountedStream {
    fn drop(&mut self) {
        self.0.streams.set(self.0.streams.get() - 1);
        let mut by_address = self.0.streams_by_address.borrow_mut();
        if let Some(count) = by_address.get_mut(&self.1) {
            *count -= 1;
            if *count == 0 {
                by_address.remove(&self.1);
            }
        }
    }
}

/// Opens `listener`'s sockets and starts their tasks.
pub fn open(
    endpoint: &Rc<SipEndpoint>,
    listener: &ListenerConfig,
    tls: Option<&ServerTls>,
    stop: &StopSignal,
) -> std::io::Result<Vec<glommio::Task<()>>> {
    let mut tasks = Vec::new();
    let tcp = TcpListener::bind(listener.address).map_err(std::io::Error::from)?;
    let tls = tls.map(|loaded| SharedServerTls::new(loaded.for_shard()));
    if let Some(shared) = &tls {
        let entry = (listener.name.clone(), shared.clone());
        endpoint.tls.borrow_mut().push(entry);
    }
    let transport = match listener.tls {
        Tls::Off => Transport::Tcp,
        Tls::On | Tls::Mutual => Transport::Tls,
    };
    let accept = accept_loop(Rc::clone(endpoint), tcp, tls, transport, stop.clone());
    tasks.push(glommio::spawn_local(accept));
    if listener.tls == Tls::Off {
        let (udp, sending) = udp_socket(listener.address)?;
        let index = {
            let mut sockets = endpoint.udp.borrow_mut();
            sockets.push(sending);
            sockets.len() - 1
        };
        let receive = udp_loop(Rc::clone(endpoint), udp, index, stop.clone());
        tasks.push(glommio::spawn_local(receive));
    }
    Ok(tasks)
}

/// The listener's UDP socket for receiving, and a non-blocking handle of the same socket
/// for sending.
fn udp_socket(address: std::net::SocketAddr) -> std::io::Result<(UdpSocket, std::net::UdpSocket)> {
    use socket2::{Domain, Socket, Type};
    let socket = Socket::new(Domain::for_address(address), Type::DGRAM, None)?;
    socket.set_reuse_address(true)?;
    // Best effort: the kernel caps both at its maximum, which is the operator's to raise.
    let _ = socket.set_recv_buffer_size(UDP_BUFFER_BYTES);
    let _ = socket.set_send_buffer_size(UDP_BUFFER_BYTES);
    socket.bind(&address.into())?;
    let sending = std::net::UdpSocket::from(socket.try_clone()?);
    sending.set_nonblocking(true)?;
    Ok((UdpSocket::from(socket), sending))
}

async fn udp_loop(endpoint: Rc<SipEndpoint>, socket: UdpSocket, index: usize, stop: StopSignal) {
    let mut buffer = vec![0u8; 65_535];
    while !stop.is_stopped() {
        let received = future::or(async { Some(socket.recv_from(&mut buffer).await) }, async {
            stop.wait().await;
            None
        })
        .await;
        match received {
            None => break,
            Some(Ok((length, from))) => {
                endpoint.on_bytes(&buffer[..length], udp_peer(from, index));
            }
            // ICMP errors of earlier sends surface here; the socket itself is fine.
            Some(Err(_)) => {}
        }
        endpoint.flush();
        // A busy socket never makes `recv_from` wait, so without this the loop would read
        // every queued datagram before the driver ran a single strategy: the 100s go out at
        // once, the 302s only once the burst is read. Yielding lets each call's strategy
        // run (and its answer leave) in arrival order.
        future::yield_now().await;
    }
}

async fn accept_loop(
    endpoint: Rc<SipEndpoint>,
    listener: TcpListener,
    tls: Option<SharedServerTls>,
    transport: Transport,
    stop: StopSignal,
) {
    loop {
        let accepted = future::or(async { Some(listener.accept().await) }, async {
            stop.wait().await;
            None
        })
        .await;
        let stream = match accepted {
            None => return,
            Some(Ok(stream)) => stream,
            Some(Err(_)) => continue,
        };
        let Ok(addr) = stream.peer_addr() else {
            continue;
        };
        // Counted from the accept, handshakes included, so that half-open TLS connections
        // cannot exceed the bounds either; past one, the connection is dropped (closed).
        let Some(counted) = CountedStream::new(&endpoint, addr.ip()) else {
            continue;
        };
        let endpoint = Rc::clone(&endpoint);
        let (tls, stop) = (tls.clone(), stop.clone());
        glommio::spawn_local(async move {
            let _counted = counted;
            let _ = stream.set_nodelay(true);
            match tls {
                None => connection(endpoint, stream, addr, transport, stop).await,
                Some(tls) => {
                    let idle = endpoint.idle_timeout();
                    // A peer silent during its handshake is as idle as one silent after it.
                    if let Some(Ok(stream)) = within(idle, tls.accept(stream)).await {
                        connection(endpoint, stream, addr, transport, stop).await;
                    }
                }
            }
        })
        .detach();
    }
}

/// Serves one stream connection: reads framed messages, writes what the endpoint sends
/// to it, until either side closes or the server stops.
async fn connection<S>(
    endpoint: Rc<SipEndpoint>,
    stream: S,
    addr: std::net::SocketAddr,
    transport: Transport,
    stop: StopSignal,
) where
    S: AsyncRead + AsyncWrite + Unpin + 'static,
{
    let id = endpoint.next_connection.get();
    endpoint.next_connection.set(id + 1);
    let (tx, rx) = flume::bounded::<Vec<u8>>(CONNECTION_QUEUE_MAX);
    endpoint.connections.borrow_mut().insert(id, tx);
    let (mut reader, mut writer) = futures_lite::io::split(stream);
    let writing = glommio::spawn_local(async move {
        while let Ok(bytes) = rx.recv_async().await {
            if writer.write_all(&bytes).await.is_err() || writer.flush().await.is_err() {
                break;
            }
        }
    });
    let peer = Peer {
        transport,
        addr,
        connection: id,
    };
    let reading = read_messages(&endpoint, &mut reader, peer);
    future::or(reading, stop.wait()).await;
    endpoint.connections.borrow_mut().remove(&id);
    // Dropping the sender ends the writer once it has written what was queued.
    let _ = writing.await;
}

async fn read_messages<R: AsyncRead + Unpin>(
    endpoint: &Rc<SipEndpoint>,
    reader: &mut R,
    peer: Peer,
) {
    let mut decoder = SipStreamDecoder::new(endpoint.limits);
    let mut buffer: Vec<u8> = Vec::with_capacity(8_192);
    let mut chunk = vec![0u8; 16_384];
    let idle = endpoint.idle_timeout();
    loop {
        // Silence for `sip.connection_idle_ms` closes the connection (keep-alive CRLFs
        // count as traffic), so idle peers cannot hold `connections_max` forever.
        let read = match within(idle, reader.read(&mut chunk)).await {
            None | Some(Ok(0) | Err(_)) => return,
            Some(Ok(read)) => read,
        };
        buffer.extend_from_slice(&chunk[..read]);
        loop {
            match decoder.decode(&buffer) {
                Ok(Framed::Message(message, consumed)) => {
                    buffer.drain(..consumed);
                    endpoint.on_message(message, peer);
                }
                Ok(Framed::Invalid { error, consumed }) => {
                    endpoint.on_malformed(&buffer[..consumed], &error, peer);
                    buffer.drain(..consumed);
                }
                Ok(Framed::Skip(consumed)) => {
                    buffer.drain(..consumed);
                }
                Ok(Framed::Ping(consumed)) => {
                    buffer.drain(..consumed);
                    endpoint.pong(peer);
                }
                Ok(Framed::Need) => break,
                Err(error) => {
                    // The stream cannot be framed any more: answer what can be, then close.
                    endpoint.on_malformed(&buffer, &error, peer);
                    endpoint.flush();
                    return;
                }
            }
        }
        endpoint.flush();
    }
}
