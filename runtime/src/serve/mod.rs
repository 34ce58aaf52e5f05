//! `baton serve`: the shard-per-core server. One pinned glommio executor per configured
//! core; each shard owns a session host ([`crate::local::Host`]), a driver task that runs
//! it, and its own socket for every HTTP listener (SO_REUSEPORT), serving the session API
//! ([`api`]). SIGTERM or SIGINT stops accepting, lets in-flight requests finish, and exits.
//! Listeners with `tls = "on" | "mutual"` run the handshake per connection ([`tls`]); SIGHUP
//! re-reads their certificate files for new connections.
//!
//! Not yet here (the rest of the server issue): reloading the rest of the configuration,
//! metrics, cross-shard session routing, documents over HTTP(S).

pub mod api;
pub mod driver;
pub mod idealtime;
pub mod ids;
pub mod metrics;
pub mod reply;
pub mod route;
pub mod tls;

use std::cell::RefCell;
use std::rc::Rc;

use protocols::http::server::{
    accept_loop, accept_loop_with, listen, AcceptReport, ServerConfig, ServerTimeouts, StopSignal,
};
use protocols::http::HttpLimits;
use protocols::tls::{ServerTls, SharedServerTls, TlsError};

use crate::config::{Config, ListenerConfig, Protocol};
use crate::local::{Host, HostConfig};
use crate::shard::{start_shards, ShardContext};
use api::{SessionApi, Shard};

/// Sessions listed per page of `GET /scxml/sessions` at most.
const SESSIONS_PAGE_MAX: u32 = 1_000;

/// Why the server could not run.
#[derive(Debug)]
pub enum ServeError {
    /// A listener the server does not support yet (e.g. TLS, SIP).
    Unsupported {
        /// The listener's name.
        listener: String,
        /// What is missing.
        what: &'static str,
    },
    /// A TLS listener's certificate, key or client CA cannot be used (the message names the
    /// file).
    Tls {
        /// The listener's name.
        listener: String,
        /// What is wrong, and with which file.
        source: TlsError,
    },
    /// The shards did not start or stop cleanly.
    Shards(crate::shard::ShardError),
    /// The signal handlers could not be installed.
    Signals(std::io::Error),
}

impl std::fmt::Display for ServeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ServeError::Unsupported { listener, what } => {
                write!(f, "listener \"{listener}\": {what} is not supported yet")
            }
            ServeError::Tls { listener, source } => {
                write!(f, "listener \"{listener}\": {source}")
            }
            ServeError::Shards(e) => write!(f, "{e}"),
            ServeError::Signals(e) => write!(f, "cannot install signal handlers: {e}"),
        }
    }
}

impl ServeError {
    /// Whether the configuration is at fault (exit status 2) rather than the host.
    pub fn is_configuration(&self) -> bool {
        matches!(self, ServeError::Tls { .. })
    }
}

/// Runs the server until SIGTERM/SIGINT; SIGHUP reloads TLS certificates.
pub fn serve(config: Config) -> Result<(), ServeError> {
    for listener in &config.listeners {
        if listener.protocol != Protocol::Http {
            let what = "a protocol other than http";
            return Err(ServeError::Unsupported {
                listener: listener.name.clone(),
                what,
            });
        }
    }
    let listener_tls = tls::load(&config)?;
    let reload = tls::ReloadRequests::default();
    let shard_config = config.clone();
    let shard_reload = reload.clone();
    let shards = start_shards(&config, move |context| {
        let (config, tls) = (shard_config.clone(), listener_tls.clone());
        run_shard(context, config, tls, shard_reload.clone())
    })
    .map_err(ServeError::Shards)?;
    let shutdown = shards.shutdown().clone();
    let mut signals = signal_hook::iterator::Signals::new([
        signal_hook::consts::SIGTERM,
        signal_hook::consts::SIGINT,
        signal_hook::consts::SIGHUP,
    ])
    .map_err(ServeError::Signals)?;
    std::thread::spawn(move || {
        for signal in signals.forever() {
            if signal == signal_hook::consts::SIGHUP {
                eprintln!("baton: signal {signal}: reloading TLS certificates");
                reload.request();
                continue;
            }
            eprintln!("baton: signal {signal}: stopping (in-flight requests finish)");
            shutdown.request();
            break;
        }
    });
    shards.join().map_err(ServeError::Shards)
}

/// One shard: its host, driver and listeners, until shutdown.
async fn run_shard(
    context: ShardContext,
    config: Config,
    listener_tls: Vec<Option<ServerTls>>,
    reload: tls::ReloadRequests,
) {
    let seed = ids::ShardSessionIds::seed_from_start();
    let host_config = HostConfig {
        limits: config.limits.engine_limits(),
        seed,
        sessions_max: config.limits.sessions_per_shard_max,
        queue_events_max: config.limits.event_queue_max,
        requests_pending_max: config.limits.pending_requests_per_shard_max,
        ..HostConfig::default()
    };
    let shard = Rc::new(Shard {
        host: RefCell::new(Host::with_ids(
            host_config,
            Box::new(ids::ShardSessionIds::new(context.shard, seed)),
        )),
        wake: driver::Wake::default(),
        page_max: SESSIONS_PAGE_MAX,
        metrics: metrics::Metrics::new(context.shard.0),
        replies: reply::Replies::new(context.shard.0, config.limits.request_reply_timeout_ms),
        idealtime_ahead_max_ms: config.limits.idealtime_ahead_max_ms,
    });
    let stop = StopSignal::new();
    let driver = glommio::spawn_local(driver::drive(Rc::clone(&shard), stop.clone()));
    let server = server_config(&config);
    let mut loops = Vec::new();
    let mut reloadable = Vec::new();
    for (listener, loaded) in config.listeners.iter().zip(listener_tls) {
        match listen(listener.address) {
            Ok(socket) => {
                let api = Rc::new(SessionApi::new(Rc::clone(&shard)));
                let shard_id = context.shard.0;
                let tls = loaded.map(|loaded| SharedServerTls::new(loaded.for_shard()));
                if let Some(shared) = &tls {
                    reloadable.push((listener.clone(), shared.clone()));
                }
                let task = spawn_listener(socket, api, server, tls, listener, shard_id, &stop);
                loops.push(task);
            }
            Err(e) => eprintln!(
                "baton: shard {}: listener \"{}\" cannot bind {}: {e}",
                context.shard.0, listener.name, listener.address
            ),
        }
    }
    if context.shard.0 == 0 {
        for listener in &config.listeners {
            let scheme = if listener.tls == crate::config::Tls::Off {
                "http"
            } else {
                "https"
            };
            eprintln!(
                "baton: listening on {scheme}://{} ({})",
                listener.address, listener.name
            );
        }
    }
    let reloader = tls::reload_on_request(reloadable, reload, stop.clone(), context.shard.0);
    let reloader = glommio::spawn_local(reloader);
    context.shutdown.requested().await;
    stop.stop();
    for task in loops {
        let report = task.await;
        eprintln!("baton: shard {}: {report:?}", context.shard.0);
    }
    reloader.await;
    driver.await;
}

/// Starts one listener's accept loop: plain, or with the TLS handshake first.
fn spawn_listener(
    socket: glommio::net::TcpListener,
    api: Rc<SessionApi>,
    server: ServerConfig,
    tls: Option<SharedServerTls>,
    listener: &ListenerConfig,
    shard: u16,
    stop: &StopSignal,
) -> glommio::Task<AcceptReport> {
    let stop = stop.clone();
    match tls {
        None => glommio::spawn_local(accept_loop(socket, api, server, stop)),
        Some(shared) => {
            let acceptor = Rc::new(tls::TlsListener::new(shared, &listener.name, shard));
            glommio::spawn_local(accept_loop_with(socket, acceptor, api, server, stop))
        }
    }
}

fn server_config(config: &Config) -> ServerConfig {
    let limits = &config.limits;
    ServerConfig {
        limits: HttpLimits {
            header_bytes_max: limits.header_bytes_max,
            body_bytes_max: limits.body_bytes_max,
            ..HttpLimits::DEFAULT
        },
        timeouts: ServerTimeouts {
            header_timeout_ms: limits.header_timeout_ms,
            request_timeout_ms: limits.request_timeout_ms,
            idle_timeout_ms: limits.idle_timeout_ms,
        },
        connections_max: limits.connections_per_shard_max,
    }
}
