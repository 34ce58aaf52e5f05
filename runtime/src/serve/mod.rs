//! `baton serve`: the shard-per-core server. One pinned glommio executor per configured
//! core; each shard owns a session host ([`crate::local::Host`]), a driver task that runs
//! it, and its own socket for every HTTP listener (SO_REUSEPORT), serving the session API
//! ([`api`]). SIGTERM or SIGINT stops accepting, lets in-flight requests finish, and exits.
//!
//! Not yet here (the rest of the server issue): TLS listeners (`protocols::tls` is ready
//! to wire in), reload, metrics, cross-shard session routing, documents over HTTP(S).

pub mod api;
pub mod driver;
pub mod route;

use std::cell::RefCell;
use std::rc::Rc;

use protocols::http::server::{accept_loop, listen, ServerConfig, ServerTimeouts, StopSignal};
use protocols::http::HttpLimits;

use crate::config::{Config, Protocol, Tls};
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
            ServeError::Shards(e) => write!(f, "{e}"),
            ServeError::Signals(e) => write!(f, "cannot install signal handlers: {e}"),
        }
    }
}

/// Runs the server until SIGTERM/SIGINT.
pub fn serve(config: Config) -> Result<(), ServeError> {
    for listener in &config.listeners {
        if listener.protocol != Protocol::Http {
            let what = "a protocol other than http";
            return Err(ServeError::Unsupported {
                listener: listener.name.clone(),
                what,
            });
        }
        if listener.tls != Tls::Off {
            let what = "TLS on a listener";
            return Err(ServeError::Unsupported {
                listener: listener.name.clone(),
                what,
            });
        }
    }
    let shard_config = config.clone();
    let shards = start_shards(&config, move |context| {
        run_shard(context, shard_config.clone())
    })
    .map_err(ServeError::Shards)?;
    let shutdown = shards.shutdown().clone();
    let mut signals = signal_hook::iterator::Signals::new([
        signal_hook::consts::SIGTERM,
        signal_hook::consts::SIGINT,
    ])
    .map_err(ServeError::Signals)?;
    std::thread::spawn(move || {
        if let Some(signal) = signals.forever().next() {
            eprintln!("baton: signal {signal}: stopping (in-flight requests finish)");
            shutdown.request();
        }
    });
    shards.join().map_err(ServeError::Shards)
}

/// One shard: its host, driver and listeners, until shutdown.
async fn run_shard(context: ShardContext, config: Config) {
    let host_config = HostConfig {
        limits: config.limits.engine_limits(),
        seed: u64::from(context.shard.0),
        sessions_max: config.limits.sessions_per_shard_max,
        queue_events_max: config.limits.event_queue_max,
        ..HostConfig::default()
    };
    let shard = Rc::new(Shard {
        host: RefCell::new(Host::new(host_config)),
        wake: driver::Wake::default(),
        page_max: SESSIONS_PAGE_MAX,
    });
    let stop = StopSignal::new();
    let driver = glommio::spawn_local(driver::drive(Rc::clone(&shard), stop.clone()));
    let server = server_config(&config);
    let mut loops = Vec::new();
    for listener in &config.listeners {
        match listen(listener.address) {
            Ok(socket) => {
                let api = Rc::new(SessionApi::new(Rc::clone(&shard)));
                let task = accept_loop(socket, api, server, stop.clone());
                loops.push(glommio::spawn_local(task));
            }
            Err(e) => eprintln!(
                "baton: shard {}: listener \"{}\" cannot bind {}: {e}",
                context.shard.0, listener.name, listener.address
            ),
        }
    }
    if context.shard.0 == 0 {
        for listener in &config.listeners {
            eprintln!(
                "baton: listening on http://{} ({})",
                listener.address, listener.name
            );
        }
    }
    context.shutdown.requested().await;
    stop.stop();
    for task in loops {
        let report = task.await;
        eprintln!("baton: shard {}: {report:?}", context.shard.0);
    }
    driver.await;
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
