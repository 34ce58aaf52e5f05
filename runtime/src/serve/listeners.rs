//! One shard's listeners: opened at start, changed by configuration reloads, drained at
//! shutdown.
//!
//! Each shard binds its own socket for every listener (`SO_REUSEPORT`) and runs one accept
//! loop per socket, each with its own [`StopSignal`], so a single listener can stop
//! accepting while the others keep serving. A reload arrives as orders from the reload
//! coordinator ([`super::reload`]) in two phases, so that the shards change together or not
//! at all:
//!
//! 1. **Prepare**: bind a socket for every listener of the new configuration that this shard
//!    does not run yet, or whose address, protocol or TLS mode changed. Nothing else
//!    changes; a bind that fails is reported and the sockets bound so far are dropped.
//! 2. **Commit** (every shard prepared) or **Abort** (one did not). Commit starts the new
//!    sockets' accept loops, stops accepting on the listeners removed or replaced (their
//!    connections finish the request in flight and close, as at shutdown), swaps the
//!    certificates of the listeners kept, and installs the new limits for new connections
//!    and new sessions. Commit does no I/O and cannot fail.
//!
//! Between the phases a prepared socket may already queue connections in its backlog; they
//! are accepted at commit, or reset at abort (the kernel's usual fate for a closed
//! listener's backlog).

use std::rc::Rc;
use std::sync::mpsc;
use std::sync::Arc;
use std::time::Duration;

use glommio::net::TcpListener;
use glommio::Task;
use protocols::http::server::{
    accept_loop, accept_loop_with, listen, AcceptReport, ServerConfig, ServerTimeouts,
    SharedServerConfig, StopSignal,
};
use protocols::http::HttpLimits;
use protocols::tls::{ServerTls, SharedServerTls};

use super::admin::ListenerHandler;
use super::api::Shard;
use super::reload::{BindFailure, Change, Order, Prepared, ReloadHandle};
use super::tls::TlsListener;
use crate::access::ListenerPolicy;
use crate::config::{Config, ListenerConfig, Protocol, Tls};
use crate::shard::Shutdown;

/// How often a shard looks for reload orders. The coordinator runs on its own thread, which
/// cannot wake a glommio executor; a 10 ms poll costs nothing measurable and bounds how
/// late each phase of a reload starts on this shard.
const ORDER_POLL: Duration = Duration::from_millis(10);

/// A listener accepting on this shard.
struct Running {
    config: ListenerConfig,
    handler: Rc<ListenerHandler>,
    tls: Option<SharedServerTls>,
    stop: StopSignal,
    task: Task<AcceptReport>,
}

/// Sockets bound by a Prepare, waiting for Commit or Abort.
struct Pending {
    generation: u32,
    change: Arc<Change>,
    sockets: Vec<(usize, TcpListener)>,
}

/// One shard's listeners and the serving state they share.
pub struct ShardListeners {
    shard: u16,
    api: Rc<Shard>,
    reload: ReloadHandle,
    server: SharedServerConfig,
    running: Vec<Running>,
    pending: Option<Pending>,
    /// Accept loops told to stop by a reload, still finishing their connections. One entry
    /// per listener removed or replaced since start; awaited at shutdown.
    draining: Vec<Task<()>>,
}

impl ShardListeners {
    /// Opens every listener of `config` on this shard; `security` holds each listener's
    /// loaded TLS material and access policy, in listener order. If a listener cannot
    /// bind, none is kept open and the failures are returned: a server must not run short
    /// of a listener its configuration names, so that the configuration in force always
    /// describes what runs.
    pub fn open(
        shard: u16,
        config: &Config,
        security: (&[Option<ServerTls>], &[Arc<ListenerPolicy>]),
        api: Rc<Shard>,
        reload: ReloadHandle,
    ) -> Result<ShardListeners, Vec<BindFailure>> {
        let (tls, access) = security;
        assert_eq!(config.listeners.len(), tls.len());
        assert_eq!(config.listeners.len(), access.len());
        let mut listeners = ShardListeners {
            shard,
            api,
            reload,
            server: SharedServerConfig::new(server_config(config)),
            running: Vec::with_capacity(config.listeners.len()),
            pending: None,
            draining: Vec::new(),
        };
        let mut failures = Vec::new();
        for (index, listener) in config.listeners.iter().enumerate() {
            if listener.protocol == Protocol::Sip {
                continue; // the routing shard's SIP endpoint serves it (`super::sip`)
            }
            let (loaded, policy) = (tls[index].as_ref(), &access[index]);
            match listen(listener.address) {
                Ok(socket) => listeners.start(listener, loaded, policy, socket),
                Err(e) => failures.push(BindFailure {
                    shard,
                    listener: listener.name.clone(),
                    address: listener.address,
                    error: e.to_string(),
                }),
            }
        }
        match failures.is_empty() {
            true => Ok(listeners),
            // Dropping the accept loops' tasks cancels them and closes their sockets.
            false => Err(failures),
        }
    }

    /// Obeys reload orders until shutdown is requested, then stops accepting everywhere and
    /// returns once every connection has finished its in-flight request.
    pub async fn serve(mut self, orders: mpsc::Receiver<Order>, shutdown: Shutdown) {
        while !shutdown.is_requested() {
            glommio::timer::sleep(ORDER_POLL).await;
            while let Ok(order) = orders.try_recv() {
                self.obey(order).await;
            }
        }
        self.pending = None;
        for running in &self.running {
            running.stop.stop();
        }
        for running in self.running {
            let report = running.task.await;
            let name = &running.config.name;
            eprintln!(
                "baton: shard {}: listener \"{name}\": {report:?}",
                self.shard
            );
        }
        for draining in self.draining {
            draining.await;
        }
    }

    async fn obey(&mut self, order: Order) {
        match order {
            Order::Prepare {
                generation,
                change,
                reply,
            } => {
                let failures = self.prepare(generation, change);
                let prepared = Prepared {
                    shard: self.shard,
                    generation,
                    failures,
                };
                // The coordinator may have given up waiting; then an Abort follows.
                let _ = reply.send(prepared);
            }
            Order::Commit { generation, reply } => {
                self.commit(generation);
                // The stopped accept loops were woken; they run (and close their sockets)
                // before this task again, so "committed" means removed ports refuse.
                futures_lite::future::yield_now().await;
                let _ = reply.send(self.shard);
            }
            Order::Abort { generation } => {
                if self.pending.as_ref().map(|p| p.generation) == Some(generation) {
                    self.pending = None;
                }
            }
        }
    }

    /// Binds the sockets `change` needs on this shard. On any failure, binds nothing.
    fn prepare(&mut self, generation: u32, change: Arc<Change>) -> Vec<BindFailure> {
        self.pending = None;
        let mut sockets = Vec::new();
        let mut failures = Vec::new();
        for (index, listener) in change.config.listeners.iter().enumerate() {
            if listener.protocol == Protocol::Sip || !self.needs_socket(listener, &change) {
                continue;
            }
            match listen(listener.address) {
                Ok(socket) => sockets.push((index, socket)),
                Err(e) => failures.push(BindFailure {
                    shard: self.shard,
                    listener: listener.name.clone(),
                    address: listener.address,
                    error: e.to_string(),
                }),
            }
        }
        if failures.is_empty() {
            self.pending = Some(Pending {
                generation,
                change,
                sockets,
            });
        }
        failures
    }

    /// Whether `listener` gets a new socket: not running here, or changed in a way the
    /// running socket cannot follow (address, protocol, TLS mode).
    fn needs_socket(&self, listener: &ListenerConfig, change: &Change) -> bool {
        let replaced = change
            .plan
            .listeners_changed
            .iter()
            .any(|changed| changed.name == listener.name);
        replaced || !self.running.iter().any(|r| r.config.name == listener.name)
    }

    /// Applies the prepared change of `generation`.
    fn commit(&mut self, generation: u32) {
        let Some(pending) = self.pending.take() else {
            return;
        };
        if pending.generation != generation {
            return;
        }
        let change = pending.change;
        let opened: Vec<&str> = pending
            .sockets
            .iter()
            .map(|(index, _)| &*change.config.listeners[*index].name)
            .collect();
        let (kept, closed): (Vec<Running>, Vec<Running>) = std::mem::take(&mut self.running)
            .into_iter()
            .partition(|running| {
                let name = &*running.config.name;
                !opened.contains(&name) && change.config.listeners.iter().any(|l| l.name == name)
            });
        for running in closed {
            self.close(running);
        }
        self.running = kept;
        for running in &mut self.running {
            keep(running, &change);
        }
        for (index, socket) in pending.sockets {
            let listener = &change.config.listeners[index];
            let policy = &change.access[index];
            self.start(listener, change.tls[index].as_ref(), policy, socket);
            if self.shard == 0 {
                eprintln!("baton: listening on {}", describe(listener));
            }
        }
        self.server.set(server_config(&change.config));
        let outbound = self.api.documents.outbound();
        outbound.set_admin(change.config.admin_addresses());
        let limits = &change.config.limits;
        let mut host = self.api.host.borrow_mut();
        host.set_limits(limits.engine_limits(), limits.event_queue_max);
        self.api
            .replies
            .set_timeout_ms(limits.request_reply_timeout_ms);
        self.api.query_bytes_max.set(limits.query_bytes_max);
        drop(host);
        *self.api.application.borrow_mut() = change.config.application.clone();
        if let Some(orchestration) = &self.api.orchestration {
            let config = &change.config;
            let (entry_points, gateways) = (config.entry_points.clone(), config.gateways.clone());
            orchestration
                .borrow_mut()
                .reconfigure(entry_points, gateways);
        }
        *self.api.routing_points.borrow_mut() = change.config.routing_points.clone();
        if let Some(sip) = self.api.sip.borrow().as_ref() {
            sip.reload_certificates(&change.config.listeners, &change.tls);
        }
    }

    /// Starts accepting on `socket` for `listener`, admitting the principals of `policy`.
    fn start(
        &mut self,
        listener: &ListenerConfig,
        tls: Option<&ServerTls>,
        policy: &Arc<ListenerPolicy>,
        socket: TcpListener,
    ) {
        let handler = Rc::new(ListenerHandler::new(
            Rc::clone(&self.api),
            listener,
            Arc::clone(policy),
            self.shard,
            self.reload.clone(),
        ));
        let tls = tls.map(|loaded| SharedServerTls::new(loaded.for_shard()));
        let stop = StopSignal::new();
        let (server, handle) = (self.server.clone(), Rc::clone(&handler));
        let task = match &tls {
            None => glommio::spawn_local(accept_loop(socket, handle, server, stop.clone())),
            Some(shared) => {
                let acceptor = TlsListener::new(shared.clone(), &listener.name, self.shard);
                let acceptor = Rc::new(acceptor);
                let run = accept_loop_with(socket, acceptor, handle, server, stop.clone());
                glommio::spawn_local(run)
            }
        };
        self.running.push(Running {
            config: listener.clone(),
            handler,
            tls,
            stop,
            task,
        });
    }

    /// Stops accepting on `running`; its connections finish their in-flight request.
    fn close(&mut self, running: Running) {
        running.stop.stop();
        let shard = self.shard;
        let name = running.config.name;
        let task = running.task;
        let draining = glommio::spawn_local(async move {
            let report = task.await;
            eprintln!("baton: shard {shard}: listener \"{name}\" closed by reload: {report:?}");
        });
        self.draining.push(draining);
    }
}

/// Brings a listener that keeps its socket up to date: certificate and tokens files re-read
/// (always, since files are rotated in place), `admin`, its access policy, and the
/// configuration it reports.
fn keep(running: &mut Running, change: &Change) {
    let index = change
        .config
        .listeners
        .iter()
        .position(|listener| listener.name == running.config.name)
        .expect("kept listeners are in the new configuration");
    let listener = &change.config.listeners[index];
    if let (Some(shared), Some(loaded)) = (&running.tls, &change.tls[index]) {
        shared.reload(loaded.clone());
    }
    running.handler.set_admin(listener.admin);
    running
        .handler
        .set_policy(Arc::clone(&change.access[index]));
    running.config = listener.clone();
}

/// `http://ADDRESS (name)` for logs.
pub fn describe(listener: &ListenerConfig) -> String {
    let scheme = match (listener.protocol, listener.tls) {
        (Protocol::Http, Tls::Off) => "http",
        (Protocol::Http, Tls::On | Tls::Mutual) => "https",
        (Protocol::Sip, Tls::Off) => "sip (udp, tcp)",
        (Protocol::Sip, Tls::On | Tls::Mutual) => "sips (tls)",
    };
    let admin = if listener.admin {
        ", serves /admin/"
    } else {
        ""
    };
    match listener.protocol {
        Protocol::Http => format!("{scheme}://{} ({}{admin})", listener.address, listener.name),
        Protocol::Sip => format!("{scheme} {} ({})", listener.address, listener.name),
    }
}

/// The HTTP limits and timeouts of `config`. The request-target bound follows the head
/// bound, so that every validated configuration gives valid [`HttpLimits`].
pub fn server_config(config: &Config) -> ServerConfig {
    let limits = &config.limits;
    ServerConfig {
        limits: HttpLimits {
            header_bytes_max: limits.header_bytes_max,
            body_bytes_max: limits.body_bytes_max,
            uri_bytes_max: HttpLimits::DEFAULT
                .uri_bytes_max
                .min(limits.header_bytes_max),
            ..HttpLimits::DEFAULT
        },
        timeouts: ServerTimeouts {
            header_timeout_ms: limits.header_timeout_ms,
            request_timeout_ms: limits.request_timeout_ms,
            idle_timeout_ms: limits.idle_timeout_ms,
        },
        connections_max: limits.connections_per_shard_max,
        connections_per_address_max: limits.connections_per_address_max,
    }
}
