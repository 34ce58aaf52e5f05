//! Configuration reload without a restart: the coordinator thread, and what it says.
//!
//! A reload is asked for by SIGHUP (the signal thread) or `POST /admin/reload` (a shard's
//! handler, [`super::admin`]), through a [`ReloadHandle`]. One coordinator thread owns the
//! configuration in force and runs reloads one at a time:
//!
//! 1. Re-read the `--config` file, parse and validate it ([`Config::load`]). A bad file is
//!    refused with the message naming the key; nothing changes. Without `--config` (the
//!    embedded default) there is no file: the configuration stays and only certificate
//!    files are re-read.
//! 2. Compute the plan ([`Config::reload_plan`]) and the configuration that will be in
//!    force ([`Config::in_force_after_reload`]: keys that need a restart keep their values).
//! 3. Load every TLS listener's certificate, key and client CA again. A bad file refuses the
//!    reload, naming listener and file.
//! 4. Two phases over every shard ([`super::listeners`]): Prepare (bind the new sockets),
//!    then Commit on all, or Abort on all if any shard could not bind. So the shards change
//!    together or not at all, and the configuration in force always describes what every
//!    shard runs.
//!
//! The coordinator talks to shards over one std channel per shard, carrying owned `Send`
//! orders (the new configuration and TLS material behind an `Arc`, read-only); shards poll
//! it (see `ORDER_POLL`). It is the only state shared across shards besides the shutdown
//! flag, and it is never mutated by a shard.

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::mpsc::{self, RecvTimeoutError, TryRecvError, TrySendError};
use std::sync::Arc;
use std::time::{Duration, Instant};

use protocols::tls::ServerTls;

use super::listeners::server_config;
use super::{tls, ServeError};
use crate::access::{ListenerPolicy, Policies};
use crate::config::{Config, ReloadPlan};
use crate::shard::Shutdown;

/// Reload requests waiting behind the one running, at most; one more is refused as busy
/// (503 over HTTP), so a client looping on `/admin/reload` cannot queue work without bound.
pub const RELOADS_QUEUED_MAX: usize = 1;

/// How long the coordinator waits for every shard to answer one phase. A shard answers
/// within its order poll (10 ms) unless it is stopping or stuck.
const SHARD_ANSWER_TIMEOUT: Duration = Duration::from_secs(5);

/// How long `POST /admin/reload` waits for the coordinator: both phases and the file reads.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(15);

/// How often a waiting handler looks for the coordinator's answer (it runs on another
/// thread, which cannot wake the shard's executor).
const ANSWER_POLL: Duration = Duration::from_millis(10);

/// Where the configuration comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    /// `--config FILE`: re-read on every reload.
    File(PathBuf),
    /// The embedded default: nothing to re-read but certificate files.
    Embedded,
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::File(path) => write!(f, "{}", path.display()),
            Source::Embedded => write!(f, "<embedded default>"),
        }
    }
}

/// Who asked for a reload (for the log).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Origin {
    /// SIGHUP.
    Signal,
    /// `POST /admin/reload` on `listener` of `shard`.
    Admin {
        /// The shard that took the request.
        shard: u16,
        /// The listener it came in on.
        listener: String,
    },
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Signal => write!(f, "SIGHUP"),
            Origin::Admin { shard, listener } => {
                write!(
                    f,
                    "POST /admin/reload, listener \"{listener}\", shard {shard}"
                )
            }
        }
    }
}

/// A reload that was applied on every shard.
#[derive(Clone, Debug)]
pub struct Applied {
    /// The reload's number: reloads that reached the shards, counted from 1 (a reload a
    /// shard refused used a number too).
    pub generation: u32,
    /// Where the configuration was read from.
    pub source: String,
    /// What changed.
    pub plan: ReloadPlan,
    /// The TLS listeners whose certificate files were read again.
    pub certificates_reloaded: Vec<String>,
    /// What the operator should know: keys that need a restart, admin listeners exposed,
    /// shards that did not confirm.
    pub warnings: Vec<String>,
}

/// Why a reload changed nothing.
#[derive(Clone, Debug)]
pub enum Refusal {
    /// The file cannot be read, is not TOML, or breaks a rule; the message names the key.
    Config(String),
    /// A certificate, key or client CA cannot be used; the message names listener and file.
    Certificate(String),
    /// A shard could not bind a new socket; no shard changed.
    Bind(Vec<BindFailure>),
    /// A reload is running and another is already waiting.
    Busy,
    /// The server is stopping (or a shard stopped answering).
    Stopping(String),
    /// The coordinator did not answer within [`ANSWER_TIMEOUT`]; it may still apply.
    TimedOut,
}

impl Refusal {
    /// The HTTP status of `POST /admin/reload` for this refusal.
    pub fn status(&self) -> u16 {
        match self {
            Refusal::Config(_) | Refusal::Certificate(_) => 422,
            Refusal::Bind(_) => 409,
            Refusal::Busy | Refusal::Stopping(_) => 503,
            Refusal::TimedOut => 504,
        }
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::Config(message) | Refusal::Certificate(message) => write!(f, "{message}"),
            Refusal::Bind(failures) => {
                let all: Vec<String> = failures.iter().map(ToString::to_string).collect();
                write!(f, "{}", all.join("; "))
            }
            Refusal::Busy => write!(f, "a reload is running and another is waiting"),
            Refusal::Stopping(why) => write!(f, "{why}"),
            Refusal::TimedOut => write!(
                f,
                "the reload did not finish within {} s; see the server log",
                ANSWER_TIMEOUT.as_secs()
            ),
        }
    }
}

/// What a reload came to.
pub type Outcome = Result<Applied, Refusal>;

/// A socket a shard could not bind.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BindFailure {
    /// The shard.
    pub shard: u16,
    /// The listener.
    pub listener: String,
    /// Its new address.
    pub address: SocketAddr,
    /// The OS's reason.
    pub error: String,
}

impl fmt::Display for BindFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let BindFailure {
            shard,
            listener,
            address,
            error,
        } = self;
        write!(
            f,
            "listener \"{listener}\": shard {shard} cannot bind {address}: {error}"
        )
    }
}

/// The change every shard applies: read-only, shared by the shards behind an `Arc`.
pub struct Change {
    /// The configuration in force once committed.
    pub config: Config,
    /// What changed.
    pub plan: ReloadPlan,
    /// Each listener's TLS material, in listener order (`None` for plain listeners).
    pub tls: Vec<Option<ServerTls>>,
    /// Each listener's access policy, in listener order (tokens files read again).
    pub access: Vec<Arc<ListenerPolicy>>,
}

/// An order from the coordinator to one shard.
pub enum Order {
    /// Bind what `change` needs; answer with [`Prepared`].
    Prepare {
        /// The reload.
        generation: u32,
        /// What to apply.
        change: Arc<Change>,
        /// Where to answer.
        reply: mpsc::Sender<Prepared>,
    },
    /// Apply the prepared change; answer with the shard's number.
    Commit {
        /// The reload.
        generation: u32,
        /// Where to answer.
        reply: mpsc::Sender<u16>,
    },
    /// Drop the prepared sockets.
    Abort {
        /// The reload.
        generation: u32,
    },
}

/// A shard's answer to Prepare.
pub struct Prepared {
    /// The shard.
    pub shard: u16,
    /// The reload it answers.
    pub generation: u32,
    /// Sockets it could not bind (none: ready to commit).
    pub failures: Vec<BindFailure>,
}

struct Request {
    origin: Origin,
    answer: Option<mpsc::Sender<Outcome>>,
}

/// The coordinator's side of [`requests`]: hand it to [`Coordinator::start`].
pub struct Requests {
    incoming: mpsc::Receiver<Request>,
}

/// A bounded request line to the coordinator ([`RELOADS_QUEUED_MAX`] waiting): the handle
/// for whoever asks (shards, the signal thread), the receiver for the coordinator, which
/// may start later.
pub fn requests() -> (ReloadHandle, Requests) {
    let (requests, incoming) = mpsc::sync_channel(RELOADS_QUEUED_MAX);
    (ReloadHandle { requests }, Requests { incoming })
}

/// Asks the coordinator for reloads. Cheap to clone; usable from any thread.
#[derive(Clone, Debug)]
pub struct ReloadHandle {
    requests: mpsc::SyncSender<Request>,
}

impl fmt::Debug for Request {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "reload request ({})", self.origin)
    }
}

impl ReloadHandle {
    /// Asks for a reload whose outcome is only logged (SIGHUP). Refused at once, with a
    /// log line, when one is already waiting.
    pub fn request(&self, origin: Origin) {
        let request = Request {
            origin,
            answer: None,
        };
        if let Err(error) = self.requests.try_send(request) {
            let why = match error {
                TrySendError::Full(_) => Refusal::Busy.to_string(),
                TrySendError::Disconnected(_) => "the reload coordinator stopped".to_owned(),
            };
            eprintln!("baton: reload refused: {why}");
        }
    }

    /// Asks for a reload and waits for its outcome without blocking the shard.
    pub async fn reload(&self, origin: Origin) -> Outcome {
        let (answer, outcome) = mpsc::channel();
        let request = Request {
            origin,
            answer: Some(answer),
        };
        match self.requests.try_send(request) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => return Err(Refusal::Busy),
            Err(TrySendError::Disconnected(_)) => return Err(stopped()),
        }
        let deadline = Instant::now() + ANSWER_TIMEOUT;
        loop {
            match outcome.try_recv() {
                Ok(outcome) => return outcome,
                Err(TryRecvError::Disconnected) => return Err(stopped()),
                Err(TryRecvError::Empty) if Instant::now() >= deadline => {
                    return Err(Refusal::TimedOut)
                }
                Err(TryRecvError::Empty) => glommio::timer::sleep(ANSWER_POLL).await,
            }
        }
    }
}

fn stopped() -> Refusal {
    Refusal::Stopping("the reload coordinator stopped".to_owned())
}

/// The reload coordinator's state: the configuration in force and the way to each shard.
pub struct Coordinator {
    source: Source,
    in_force: Config,
    shards: Vec<mpsc::Sender<Order>>,
    shutdown: Shutdown,
    generation: u32,
}

impl Coordinator {
    /// A coordinator for shards reached by `shards` (in shard order), with `in_force`
    /// running, read from `source`.
    pub fn new(
        source: Source,
        in_force: Config,
        shards: Vec<mpsc::Sender<Order>>,
        shutdown: Shutdown,
    ) -> Coordinator {
        assert!(!shards.is_empty());
        Coordinator {
            source,
            in_force,
            shards,
            shutdown,
            generation: 0,
        }
    }

    /// Runs the coordinator on a thread of its own, answering the requests of `requests`'
    /// handles. The thread ends when every handle is dropped (or with the process).
    pub fn start(self, requests: Requests) -> std::io::Result<()> {
        std::thread::Builder::new()
            .name("baton-reload".into())
            .spawn(move || self.run(requests.incoming))?;
        Ok(())
    }

    fn run(mut self, incoming: mpsc::Receiver<Request>) {
        for request in incoming {
            let outcome = self.reload();
            log(&request.origin, &outcome);
            if let Some(answer) = request.answer {
                // The handler may have timed out and gone; the log has the outcome.
                let _ = answer.send(outcome);
            }
        }
    }

    /// One reload, start to end. On any refusal the configuration in force is unchanged.
    fn reload(&mut self) -> Outcome {
        let new = match &self.source {
            Source::File(path) => Config::load(path).map_err(|e| Refusal::Config(e.to_string()))?,
            Source::Embedded => self.in_force.clone(),
        };
        let plan = Config::reload_plan(&self.in_force, &new);
        let config = Config::in_force_after_reload(&self.in_force, &new);
        // Validation keeps these valid; a mismatch must refuse, never panic a shard.
        if let Err(e) = server_config(&config).limits.validate() {
            return Err(Refusal::Config(format!("{}: {e:?}", self.source)));
        }
        let tls = tls::load(&config).map_err(|e| match e {
            ServeError::Tls { listener, source } => {
                Refusal::Certificate(format!("listener \"{listener}\": {source}"))
            }
            other => Refusal::Certificate(other.to_string()),
        })?;
        // A tokens file that cannot be read refuses the reload as a bad file does.
        let access = Policies::load(&config).map_err(|e| Refusal::Config(e.to_string()))?;
        let certificates_reloaded = config
            .listeners
            .iter()
            .zip(&tls)
            .filter(|(_, loaded)| loaded.is_some())
            .map(|(listener, _)| listener.name.clone())
            .collect();
        let warnings = warnings(&self.source, &plan, &config);
        self.generation += 1;
        let change = Arc::new(Change {
            config,
            plan,
            tls,
            access,
        });
        self.prepare(&change)?;
        let mut applied = Applied {
            generation: self.generation,
            source: self.source.to_string(),
            plan: change.plan.clone(),
            certificates_reloaded,
            warnings,
        };
        applied.warnings.extend(self.commit());
        self.in_force = change.config.clone();
        Ok(applied)
    }

    /// Phase 1 on every shard; on any failure, aborts everywhere.
    fn prepare(&self, change: &Arc<Change>) -> Result<(), Refusal> {
        let generation = self.generation;
        let (reply, answers) = mpsc::channel();
        for shard in &self.shards {
            let order = Order::Prepare {
                generation,
                change: Arc::clone(change),
                reply: reply.clone(),
            };
            // A shard that has stopped has dropped its receiver: counted as silent below.
            let _ = shard.send(order);
        }
        drop(reply);
        let mut failures = Vec::new();
        let answered = self.collect(&answers, |prepared: Prepared| {
            assert_eq!(prepared.generation, generation);
            failures.extend(prepared.failures);
        });
        let outcome = match answered {
            Err(refusal) => Err(refusal),
            Ok(()) if failures.is_empty() => return Ok(()),
            Ok(()) => Err(Refusal::Bind(failures)),
        };
        for shard in &self.shards {
            let _ = shard.send(Order::Abort { generation });
        }
        outcome
    }

    /// Phase 2 on every shard. Returns warnings for shards that did not confirm (they apply
    /// the change whenever they next poll, unless they are stopping).
    fn commit(&self) -> Vec<String> {
        let generation = self.generation;
        let (reply, answers) = mpsc::channel();
        for shard in &self.shards {
            let order = Order::Commit {
                generation,
                reply: reply.clone(),
            };
            let _ = shard.send(order);
        }
        drop(reply);
        match self.collect(&answers, |_shard: u16| {}) {
            Ok(()) => Vec::new(),
            Err(refusal) => vec![format!("not confirmed by every shard: {refusal}")],
        }
    }

    /// Waits for one answer per shard, within [`SHARD_ANSWER_TIMEOUT`]; gives up early when
    /// the server is stopping.
    fn collect<T>(
        &self,
        answers: &mpsc::Receiver<T>,
        mut take: impl FnMut(T),
    ) -> Result<(), Refusal> {
        let deadline = Instant::now() + SHARD_ANSWER_TIMEOUT;
        let mut missing = self.shards.len();
        while missing > 0 {
            if self.shutdown.is_requested() {
                return Err(Refusal::Stopping("the server is stopping".into()));
            }
            match answers.recv_timeout(ANSWER_POLL) {
                Ok(answer) => {
                    take(answer);
                    missing -= 1;
                }
                Err(RecvTimeoutError::Timeout) if Instant::now() < deadline => {}
                Err(_) => {
                    let why = format!(
                        "{missing} of {} shards did not answer within {} s",
                        self.shards.len(),
                        SHARD_ANSWER_TIMEOUT.as_secs()
                    );
                    return Err(Refusal::Stopping(why));
                }
            }
        }
        Ok(())
    }
}

/// The warnings of an applied reload.
fn warnings(source: &Source, plan: &ReloadPlan, config: &Config) -> Vec<String> {
    let mut warnings = Vec::new();
    if *source == Source::Embedded {
        warnings.push(
            "no configuration file (the embedded default is in force): only certificate \
             files were read again; start with --config FILE to reload settings"
                .to_owned(),
        );
    }
    for key in &plan.restart_required {
        warnings.push(format!(
            "{key} changed: it takes effect after a restart; the running value stays"
        ));
    }
    for listener in config.exposed_admin_listeners() {
        warnings.push(exposed_admin_warning(&listener.name, listener.address));
    }
    warnings
}

/// The warning for an admin listener anyone reaching its address may use.
pub fn exposed_admin_warning(name: &str, address: SocketAddr) -> String {
    format!(
        "listener \"{name}\" serves /admin/ on {address}, not loopback and without mutual \
         TLS: anyone who reaches it can reload the server"
    )
}

fn log(origin: &Origin, outcome: &Outcome) {
    match outcome {
        Ok(applied) => {
            eprintln!(
                "baton: reload {} ({origin}) applied from {}: {}",
                applied.generation, applied.source, applied.plan
            );
            for warning in &applied.warnings {
                eprintln!("baton: reload {}: warning: {warning}", applied.generation);
            }
        }
        Err(refusal) => eprintln!(
            "baton: reload refused ({origin}), the configuration in force stays: {refusal}"
        ),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;

    /// Stand-ins for shards: each answers orders as a shard does, failing Prepare when told
    /// to, and records what it was told. What a shard does with an order is covered over
    /// real sockets in `tests/serve_reload.rs`; this checks the coordinator's protocol.
    struct Shards {
        senders: Vec<mpsc::Sender<Order>>,
        seen: Arc<Mutex<Vec<String>>>,
    }

    fn shards(count: u16, failing: Option<u16>) -> Shards {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let senders = (0..count)
            .map(|shard| {
                let (sender, orders) = mpsc::channel::<Order>();
                let seen = Arc::clone(&seen);
                std::thread::spawn(move || {
                    for order in orders {
                        let said = obey(shard, order, failing == Some(shard));
                        seen.lock().unwrap().push(said);
                    }
                });
                sender
            })
            .collect();
        Shards { senders, seen }
    }

    fn obey(shard: u16, order: Order, fail: bool) -> String {
        match order {
            Order::Prepare {
                generation,
                change,
                reply,
            } => {
                let failures = match fail {
                    false => Vec::new(),
                    true => vec![BindFailure {
                        shard,
                        listener: change.config.listeners[0].name.clone(),
                        address: change.config.listeners[0].address,
                        error: "Address already in use".into(),
                    }],
                };
                let prepared = Prepared {
                    shard,
                    generation,
                    failures,
                };
                reply.send(prepared).unwrap();
                format!("prepare {generation} on {shard}")
            }
            Order::Commit { generation, reply } => {
                reply.send(shard).unwrap();
                format!("commit {generation} on {shard}")
            }
            Order::Abort { generation } => format!("abort {generation} on {shard}"),
        }
    }

    fn seen(shards: &Shards, count: usize) -> Vec<String> {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let mut seen = shards.seen.lock().unwrap().clone();
            if seen.len() >= count || Instant::now() > deadline {
                seen.sort();
                return seen;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    fn temp_file(tag: &str, text: &str) -> PathBuf {
        let path = std::env::temp_dir().join(format!("baton-coord-{tag}-{}", std::process::id()));
        std::fs::write(&path, text).unwrap();
        path
    }

    #[test]
    fn embedded_default_rereads_certificates_only() {
        let shards = shards(2, None);
        let senders = shards.senders.clone();
        let mut coordinator = Coordinator::new(
            Source::Embedded,
            Config::default(),
            senders,
            Shutdown::default(),
        );
        let applied = coordinator.reload().expect("applied");
        assert!(applied.plan.is_empty());
        assert_eq!(applied.source, "<embedded default>");
        assert!(applied.warnings[0].contains("only certificate files"));
        let expected = [
            "commit 1 on 0",
            "commit 1 on 1",
            "prepare 1 on 0",
            "prepare 1 on 1",
        ];
        assert_eq!(seen(&shards, 4), expected);
    }

    #[test]
    fn one_shard_failing_to_bind_aborts_everywhere() {
        let path = temp_file(
            "bind",
            "[[listener]]\nname = \"new\"\naddress = \"127.0.0.1:1\"\n",
        );
        let shards = shards(2, Some(1));
        let old = Config::default();
        let source = Source::File(path.clone());
        let mut coordinator = Coordinator::new(
            source,
            old.clone(),
            shards.senders.clone(),
            Shutdown::default(),
        );
        let refusal = coordinator.reload().expect_err("refused");
        assert_eq!(refusal.status(), 409);
        assert_eq!(
            refusal.to_string(),
            "listener \"new\": shard 1 cannot bind 127.0.0.1:1: Address already in use"
        );
        assert_eq!(
            coordinator.in_force, old,
            "the configuration in force stays"
        );
        let expected = [
            "abort 1 on 0",
            "abort 1 on 1",
            "prepare 1 on 0",
            "prepare 1 on 1",
        ];
        assert_eq!(seen(&shards, 4), expected);
        let _ = std::fs::remove_file(path);
    }

    #[test]
    fn a_bad_file_reaches_no_shard() {
        let path = temp_file("bad", "[limits]\nevent_queue_max = 0\n");
        let shards = shards(1, None);
        let source = Source::File(path.clone());
        let mut coordinator = Coordinator::new(
            source,
            Config::default(),
            shards.senders.clone(),
            Shutdown::default(),
        );
        let refusal = coordinator.reload().expect_err("refused");
        assert_eq!(refusal.status(), 422);
        assert!(refusal
            .to_string()
            .ends_with("limits.event_queue_max must be at least 1"));
        std::thread::sleep(Duration::from_millis(20));
        assert!(shards.seen.lock().unwrap().is_empty());
        let _ = std::fs::remove_file(path);
    }

    #[test]
    fn a_stopping_server_refuses() {
        let (sender, _silent) = mpsc::channel();
        let shutdown = Shutdown::default();
        shutdown.request();
        let mut coordinator =
            Coordinator::new(Source::Embedded, Config::default(), vec![sender], shutdown);
        let refusal = coordinator.reload().expect_err("refused");
        assert_eq!(refusal.status(), 503);
    }
}
