//! `baton serve`: the shard-per-core server. One pinned glommio executor per configured
//! core; each shard owns a session host ([`crate::local::Host`]), a driver task that runs
//! it, and its own socket for every HTTP listener (SO_REUSEPORT, [`listeners`]), serving the
//! session API ([`api`]) and, on `admin = true` listeners, the admin endpoints ([`admin`]).
//! SIGTERM or SIGINT stops accepting, lets in-flight requests finish, and exits. SIGHUP or
//! `POST /admin/reload` reloads the configuration without a restart ([`reload`]): listeners
//! added, removed or reopened, certificates re-read, new limits for new connections and
//! sessions; live connections and sessions are untouched. Listeners with
//! `tls = "on" | "mutual"` run the handshake per connection ([`tls`]).
//!
//! Across shards: a session id encodes its home shard, so a request for a session of
//! another shard is forwarded to it over the mesh, `#_scxml_<id>` sends reach sessions of
//! other shards ([`remote`]), and `/metrics`, `/health` and `/scxml/sessions` cover every
//! shard ([`peer`]).
//!
//! Documents named by URL are fetched with the shard's outbound client and cached compiled
//! per shard ([`crate::documents`]).
//!
//! Routing ([`routing_api`], [`crate::orchestration`]): the shard `routing.shard` owns
//! agents, queues and interactions and runs the sessions that own interactions; the
//! interaction and agent APIs, agents' offer streams included, are forwarded to it from
//! any shard.
//!
//! The W3C Basic HTTP Event I/O Processor runs both ways ([`basichttp`]): every HTTP
//! listener serves `/basichttp/{id}` (an event for the session, forwarded to its home shard
//! like the other session routes), each session's `_ioprocessors` location is
//! `[basichttp] location` (or the first plain/TLS listener's specific address) followed by
//! that path, and `<send type="...#BasicHTTPEventProcessor">` POSTs asynchronously with
//! the shard's outbound client, a later failure raising `error.communication` in the sender.

pub mod admin;
pub mod answer;
pub mod api;
pub mod audit;
pub mod authorize;
pub mod basichttp;
pub mod driver;
#[doc(hidden)]
pub mod fuzzing;
pub mod idealtime;
pub mod ids;
pub mod jobs;
pub mod listeners;
pub mod log_rate;
pub mod metrics;
pub mod peer;
pub mod reload;
pub mod remote;
pub mod reply;
pub mod route;
pub mod routing_api;
pub mod sip;
pub mod tls;

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

use protocols::http::server::StopSignal;
use protocols::tls::{ClientTls, ServerTls, TlsError};

use crate::access::{ListenerPolicy, Policies};
use crate::config::{BasicHttpLocation, Config, Machine};
use crate::documents::Documents;
use crate::local::{Host, HostConfig, LogMode, Places, RequestIdForm};
use crate::orchestration::handler::{statistics_function, RoutingActions, STATISTICS_FUNCTION};
use crate::orchestration::Orchestration;
use crate::shard::{start_shards, ShardContext, ShardId};
use api::Shard;
use listeners::ShardListeners;
use reload::{Coordinator, Order, ReloadHandle, Source};

/// Sessions listed per page of `GET /scxml/sessions` at most.
const SESSIONS_PAGE_MAX: u32 = 1_000;

/// Why the server could not run.
#[derive(Debug)]
pub enum ServeError {
    /// A TLS listener's certificate, key or client CA cannot be used (the message names the
    /// file).
    Tls {
        /// The listener's name.
        listener: String,
        /// What is wrong, and with which file.
        source: TlsError,
    },
    /// The `[outbound]` trust roots or client certificate cannot be used (the message names
    /// the file).
    OutboundTls(TlsError),
    /// An `[[access]]` tokens file cannot be used, or a credential is given twice.
    Access(crate::access::AccessError),
    /// The shards did not start or stop cleanly.
    Shards(crate::shard::ShardError),
    /// The signal handlers could not be installed.
    Signals(std::io::Error),
    /// The reload coordinator's thread could not be started.
    Reloader(std::io::Error),
    /// A listener could not bind its address on some shard (e.g. the port is taken).
    Bind(Vec<reload::BindFailure>),
}

impl std::fmt::Display for ServeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ServeError::Tls { listener, source } => {
                write!(f, "listener \"{listener}\": {source}")
            }
            ServeError::OutboundTls(e) => write!(f, "[outbound]: {e}"),
            ServeError::Access(e) => write!(f, "[[access]]: {e}"),
            ServeError::Shards(e) => write!(f, "{e}"),
            ServeError::Signals(e) => write!(f, "cannot install signal handlers: {e}"),
            ServeError::Reloader(e) => write!(f, "cannot start the reload thread: {e}"),
            ServeError::Bind(failures) => {
                let all: Vec<String> = failures.iter().map(ToString::to_string).collect();
                write!(f, "{}", all.join("; "))
            }
        }
    }
}

impl ServeError {
    /// Whether the configuration is at fault (exit status 2) rather than the host.
    pub fn is_configuration(&self) -> bool {
        matches!(
            self,
            ServeError::Tls { .. } | ServeError::OutboundTls(_) | ServeError::Access(_)
        )
    }
}

/// Runs the server until SIGTERM/SIGINT; SIGHUP reloads the configuration from `source`
/// (which `config` was read from).
pub fn serve(config: Config, source: Source) -> Result<(), ServeError> {
    announce_basichttp_location(&config);
    for listener in config.exposed_admin_listeners() {
        let warning = reload::exposed_admin_warning(&listener.name, listener.address);
        eprintln!("baton: warning: {warning}");
    }
    for src in crate::documents::configured_outside_allow(&config) {
        eprintln!("baton: warning: '{src}' is outside [documents] allow: its starts are refused");
    }
    let listener_tls = tls::load(&config)?;
    let access = Policies::load(&config).map_err(ServeError::Access)?;
    let outbound_tls = outbound_tls(&config)?;
    let (order_senders, orders) = order_channels(&config);
    let signals = signal_hook::iterator::Signals::new([
        signal_hook::consts::SIGTERM,
        signal_hook::consts::SIGINT,
        signal_hook::consts::SIGHUP,
    ])
    .map_err(ServeError::Signals)?;
    let (reload, requests) = reload::requests();
    let startup = Arc::new(Startup {
        config: config.clone(),
        tls: listener_tls,
        access,
        outbound_tls,
        orders,
        reload: reload.clone(),
        bind_failures: Mutex::new(Vec::new()),
    });
    let shard_startup = Arc::clone(&startup);
    let started = start_shards(&config, move |context| {
        run_shard(context, Arc::clone(&shard_startup))
    })
    .map_err(ServeError::Shards)?;
    let shutdown = started.shutdown().clone();
    let coordinator = Coordinator::new(source, config, order_senders, shutdown.clone());
    coordinator.start(requests).map_err(ServeError::Reloader)?;
    std::thread::spawn(move || on_signals(signals, &reload, &shutdown));
    started.join().map_err(ServeError::Shards)?;
    let failures = std::mem::take(&mut *startup.bind_failures.lock().expect("not poisoned"));
    match failures.is_empty() {
        true => Ok(()),
        false => Err(ServeError::Bind(failures)),
    }
}

/// What every shard starts from; shared by the shards' threads at start only.
struct Startup {
    config: Config,
    /// Each listener's TLS material, in listener order.
    tls: Vec<Option<ServerTls>>,
    /// Each listener's access policy, in listener order.
    access: Vec<Arc<ListenerPolicy>>,
    /// The `[outbound]` TLS roots and client certificate, read once.
    outbound_tls: ClientTls,
    /// One reload order receiver per shard, each taken by its shard.
    orders: OrderReceivers,
    reload: ReloadHandle,
    /// Listeners that could not bind at start; any stops the server.
    bind_failures: Mutex<Vec<reload::BindFailure>>,
}

/// One reload order channel per shard: the senders for the coordinator, the receivers for
/// the shards to take at start (each its own, by index).
type OrderReceivers = Mutex<Vec<Option<mpsc::Receiver<Order>>>>;

fn order_channels(config: &Config) -> (Vec<mpsc::Sender<Order>>, OrderReceivers) {
    let shards = config.cores(&Machine::probe()).len();
    let (senders, receivers): (Vec<_>, Vec<_>) = (0..shards).map(|_| mpsc::channel()).unzip();
    (
        senders,
        Mutex::new(receivers.into_iter().map(Some).collect()),
    )
}

/// The signal thread: SIGHUP asks for a reload; SIGTERM or SIGINT asks every shard to stop.
fn on_signals(
    mut signals: signal_hook::iterator::Signals,
    reload: &ReloadHandle,
    shutdown: &crate::shard::Shutdown,
) {
    for signal in signals.forever() {
        if signal == signal_hook::consts::SIGHUP {
            eprintln!("baton: signal {signal}: reloading the configuration");
            reload.request(reload::Origin::Signal);
            continue;
        }
        eprintln!("baton: signal {signal}: stopping (in-flight requests finish)");
        shutdown.request();
        break;
    }
}

/// Says where sessions receive Basic HTTP events, or why they have no location.
fn announce_basichttp_location(config: &Config) {
    match config.basichttp_location() {
        BasicHttpLocation::Configured(base) | BasicHttpLocation::Listener { base, .. } => {
            eprintln!("baton: basichttp location: {base}/basichttp/<sessionid>");
        }
        BasicHttpLocation::Unknown { why } => eprintln!(
            "baton: basichttp: sessions get no location in _ioprocessors ({why}); set \
             [basichttp] location = \"http(s)://HOST:PORT\" (sends still work)"
        ),
    }
}

/// The outbound TLS configuration (`[outbound]` roots and client certificate), read once.
fn outbound_tls(config: &Config) -> Result<ClientTls, ServeError> {
    let outbound = &config.outbound;
    let client_cert = match (&outbound.cert, &outbound.key) {
        (Some(cert), Some(key)) => Some((cert.as_path(), key.as_path())),
        _ => None,
    };
    ClientTls::from_files(outbound.roots.as_deref(), client_cert).map_err(ServeError::OutboundTls)
}

/// One shard: its host, driver and listeners, until shutdown.
async fn run_shard(context: ShardContext<peer::Call>, startup: Arc<Startup>) {
    let (id, config) = (context.shard.0, &startup.config);
    let orders = startup.orders.lock().expect("not poisoned")[usize::from(id)]
        .take()
        .expect("one order receiver per shard");
    let shard = Rc::new(new_shard(&context, config, &startup.outbound_tls));
    peer::join(&shard, context.inbox);
    basichttp::join(&shard, config);
    let stop = StopSignal::new();
    let driver = glommio::spawn_local(driver::drive(Rc::clone(&shard), stop.clone()));
    let sip_tasks = match shard.orchestration.is_some() {
        true => sip::start(&shard, config, &startup.tls, &stop),
        false => Ok(Vec::new()),
    };
    let sip_tasks = match sip_tasks {
        Ok(tasks) => tasks,
        Err(failures) => {
            refuse_start(&startup, &context.shutdown, failures);
            Vec::new()
        }
    };
    let reload = startup.reload.clone();
    let security = (&startup.tls[..], &startup.access[..]);
    match ShardListeners::open(id, config, security, Rc::clone(&shard), reload) {
        Ok(listeners) => {
            if id == 0 {
                for listener in &config.listeners {
                    eprintln!("baton: listening on {}", listeners::describe(listener));
                }
            }
            listeners.serve(orders, context.shutdown.clone()).await;
        }
        Err(failures) => refuse_start(&startup, &context.shutdown, failures),
    }
    stop.stop();
    driver.await;
    for task in sip_tasks {
        task.await;
    }
    // The endpoint holds the shard: let both go.
    shard.sip.borrow_mut().take();
}

/// A listener could not bind: the server stops, naming it (see [`ServeError::Bind`]).
fn refuse_start(
    startup: &Startup,
    shutdown: &crate::shard::Shutdown,
    failures: Vec<reload::BindFailure>,
) {
    let mut recorded = startup.bind_failures.lock().expect("not poisoned");
    recorded.extend(failures);
    shutdown.request();
}

/// The shard's session state, sized from `config`.
fn new_shard(
    context: &ShardContext<peer::Call>,
    config: &Config,
    outbound_tls: &ClientTls,
) -> Shard {
    let seed = ids::ShardSessionIds::seed_from_start();
    let host_config = HostConfig {
        limits: config.limits.engine_limits(),
        seed,
        sessions_max: config.limits.sessions_per_shard_max,
        queue_events_max: config.limits.event_queue_max,
        log: LogMode::Buffered,
        requests_pending_max: config.limits.pending_requests_per_shard_max,
        places: Places::from_config(config.documents.allow.as_deref()),
        documents_cached_max: config.documents.cache_entries_max,
        documents_cached_bytes_max: config.documents.cache_bytes_max,
        request_ids: RequestIdForm::keyed(),
        ..HostConfig::default()
    };
    let mut host = Host::with_ids(
        host_config,
        Box::new(ids::ShardSessionIds::new(context.shard)),
    );
    let routing_shard = ShardId(config.routing.shard);
    let orchestration = (context.shard == routing_shard).then(|| {
        let orchestration = Rc::new(RefCell::new(Orchestration::new(
            &config.routing,
            config.entry_points.clone(),
            config.gateways.clone(),
        )));
        let actions = RoutingActions(Rc::clone(&orchestration));
        host.set_extension_handler(Rc::new(actions));
        let statistics = statistics_function(Rc::clone(&orchestration));
        let installed = host.set_host_function(STATISTICS_FUNCTION, statistics);
        installed.expect("_statistics is a host name and a fresh heap has room");
        orchestration
    });
    Shard {
        host: RefCell::new(host),
        wake: driver::Wake::default(),
        page_max: SESSIONS_PAGE_MAX,
        metrics: metrics::Metrics::new(context.shard.0),
        audit: audit::Audit::new(context.shard.0),
        peers: peer::Peers::new(Rc::clone(&context.mesh), request_timeout(config)),
        documents: Documents::new(config, outbound_tls.for_shard()),
        replies: reply::Replies::new(config.limits.request_reply_timeout_ms),
        idealtime_ahead_max_ms: config.limits.idealtime_ahead_max_ms,
        query_bytes_max: Cell::new(config.limits.query_bytes_max),
        application: RefCell::new(config.application.clone()),
        routing_shard,
        orchestration,
        jobs_in_flight: Cell::new(0),
        call_orders: RefCell::new(Vec::new()),
        sip: RefCell::new(None),
        routing_points: RefCell::new(config.routing_points.clone()),
    }
}

/// How long a shard waits for another's answer: as long as a client may take to send a
/// whole request (`limits.request_timeout_ms`).
fn request_timeout(config: &Config) -> Duration {
    Duration::from_millis(u64::from(config.limits.request_timeout_ms))
}
