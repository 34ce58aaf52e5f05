//! The SIP endpoint's sockets: a UDP socket and a TCP (or TLS) listener per SIP listener,
//! a task per stream connection, and the control task that runs timers and decisions.
//!
//! Every task hands what it read to the endpoint synchronously and then sends what the
//! endpoint queued ([`flush`]), so one turn reads, decides and writes without another task
//! in between. Borrows of the endpoint's state never cross an await.

use std::rc::Rc;
use std::time::Duration;

use futures_lite::io::{AsyncReadExt, AsyncWriteExt};
use futures_lite::{future, AsyncRead, AsyncWrite};
use glommio::net::{TcpListener, UdpSocket};
use protocols::http::server::StopSignal;
use protocols::sip::{Framed, Peer, SipStreamDecoder, Transport};
use protocols::tls::{ServerTls, SharedServerTls};

use super::{udp_peer, SipEndpoint};
use crate::config::{ListenerConfig, Tls};
use crate::local::epoch_ms_now;

/// Socket buffer asked for each UDP socket, in bytes. The kernel caps it at
/// `net.core.rmem_max` / `wmem_max` (see tuning/README.md): bursts of calls beyond the
/// buffer are dropped by the kernel and recovered only by the callers' retransmissions.
const UDP_BUFFER_BYTES: usize = 4 << 20;

/// Messages queued for one stream connection before it counts as too slow and is closed.
const CONNECTION_QUEUE_MAX: usize = 1_024;

/// Longest sleep of the control task with nothing scheduled (to notice a stop).
const IDLE_SLEEP: Duration = Duration::from_secs(1);

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
        let udp = Rc::new(udp_socket(listener.address)?);
        *endpoint.udp.borrow_mut() = Some(Rc::clone(&udp));
        tasks.push(glommio::spawn_local(udp_loop(
            Rc::clone(endpoint),
            udp,
            stop.clone(),
        )));
    }
    Ok(tasks)
}

fn udp_socket(address: std::net::SocketAddr) -> std::io::Result<UdpSocket> {
    use socket2::{Domain, Socket, Type};
    let socket = Socket::new(Domain::for_address(address), Type::DGRAM, None)?;
    socket.set_reuse_address(true)?;
    // Best effort: the kernel caps both at its maximum, which is the operator's to raise.
    let _ = socket.set_recv_buffer_size(UDP_BUFFER_BYTES);
    let _ = socket.set_send_buffer_size(UDP_BUFFER_BYTES);
    socket.bind(&address.into())?;
    Ok(UdpSocket::from(socket))
}

async fn udp_loop(endpoint: Rc<SipEndpoint>, socket: Rc<UdpSocket>, stop: StopSignal) {
    let mut buffer = vec![0u8; 65_535];
    while !stop.is_stopped() {
        let received = future::or(async { Some(socket.recv_from(&mut buffer).await) }, async {
            stop.wait().await;
            None
        })
        .await;
        match received {
            None => break,
            Some(Ok((length, from))) => endpoint.on_bytes(&buffer[..length], udp_peer(from)),
            // ICMP errors of earlier sends surface here; the socket itself is fine.
            Some(Err(_)) => continue,
        }
        flush(&endpoint).await;
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
        if endpoint.connections.borrow().len() >= endpoint.connections_max as usize {
            continue; // dropped: closes the connection (limits.connections_per_shard_max)
        }
        let endpoint = Rc::clone(&endpoint);
        let (tls, stop) = (tls.clone(), stop.clone());
        glommio::spawn_local(async move {
            let _ = stream.set_nodelay(true);
            let Ok(addr) = stream.peer_addr() else {
                return;
            };
            match tls {
                None => connection(endpoint, stream, addr, transport, stop).await,
                Some(tls) => {
                    if let Ok(stream) = tls.accept(stream).await {
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
    loop {
        let read = match reader.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(read) => read,
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
                    flush(endpoint).await;
                    return;
                }
            }
        }
        flush(endpoint).await;
    }
}

/// The control task: performs the strategies' decisions, runs transaction timers and
/// call deadlines, and sends what they queued; sleeps until the next deadline or a wake.
pub async fn control(endpoint: Rc<SipEndpoint>, stop: StopSignal) {
    while !stop.is_stopped() {
        let now_ms = epoch_ms_now();
        endpoint.take_orders(now_ms);
        endpoint.tick(now_ms);
        endpoint.expire_calls(now_ms);
        // Expiry may have produced orders (a timed-out call's session events do not, but
        // its interaction's release can answer other calls).
        endpoint.take_orders(now_ms);
        flush(&endpoint).await;
        let sleep = match endpoint.next_deadline_ms() {
            Some(at_ms) => Duration::from_millis(at_ms.saturating_sub(epoch_ms_now())),
            None => IDLE_SLEEP,
        };
        let woken = endpoint.shard.sip_wake.wait();
        let timer = glommio::timer::sleep(sleep.min(IDLE_SLEEP));
        future::or(future::or(woken, async { timer.await }), stop.wait()).await;
    }
}

/// Sends everything the endpoint queued: datagrams on the UDP socket, stream messages to
/// their connection's writer. A message for a connection that closed is dropped (its
/// transaction's timers end it).
pub async fn flush(endpoint: &SipEndpoint) {
    let outgoing = endpoint.take_outgoing();
    if outgoing.is_empty() {
        return;
    }
    let udp = endpoint.udp.borrow().clone();
    for (peer, bytes) in outgoing {
        match peer.transport {
            Transport::Udp => {
                if let Some(udp) = &udp {
                    let _ = udp.send_to(&bytes, peer.addr).await;
                }
            }
            Transport::Tcp | Transport::Tls => {
                let connections = endpoint.connections.borrow();
                if let Some(tx) = connections.get(&peer.connection) {
                    let _ = tx.try_send(bytes);
                }
            }
        }
    }
}
