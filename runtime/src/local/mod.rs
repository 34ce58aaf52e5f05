//! The local host: runs SCXML sessions (many top-level sessions and the trees of sessions
//! they invoke) on the current thread, and performs their effects.
//!
//! `baton run` and the W3C conformance suite both run documents through this module, so
//! the suite tests the same code path a strategy author uses; `baton serve` runs one host
//! per shard. The host owns one datamodel of each kind (sessions are scopes in it), the
//! session slab with each session's external queue, a timer heap for delayed sends, and a
//! cache of compiled documents.
//!
//! Two ways to drive it. The server's: [`Host::start_session`], [`Host::send_event`],
//! [`Host::terminate`] and [`Host::query`] address sessions by id, [`Host::run_ready`] runs
//! what is ready within a step budget, and [`Host::take_finished`] reports the top-level
//! sessions that ended. `baton run`'s and the conformance suite's: [`Host::start`] starts
//! one "root" session, and [`Host::run`], [`Host::outcome`] and [`Host::configuration`]
//! follow it.
//!
//! It never reads a clock: every call takes `now_ms`, and [`Host::run`] takes a [`Clock`],
//! real ([`RealClock`]) or virtual ([`VirtualClock`]).
//!
//! Scheduling: [`Host::step`] does one unit of work: it first finishes what the last step
//! asked for (start invoked children, close cancelled ones), then gives one external event
//! to the next session with a non-empty queue (round-robin, in the order sessions became
//! ready, so a step costs the same with ten sessions or ten thousand), and when every queue
//! is empty it moves the timers that are due into their targets' queues.

pub mod basichttp;
mod clock;
mod directory;
mod effects;
mod extensions;
mod js_heap;
mod loader;
pub mod places;
mod remote;
mod requests;
mod sessions;
mod starts;
mod timers;

use std::collections::VecDeque;
use std::path::Path;
use std::rc::Rc;

use engine::datamodel::ecmascript::EcmascriptDatamodel;
use engine::datamodel::null::NullDatamodel;
use engine::datamodel::Datamodel;
use engine::effects::{SendError, BASICHTTP_PROCESSOR};
use engine::event::{Event, EventKind};
use engine::limits::Limits;
use engine::model::{DatamodelKind, Document};
use engine::session::{EndReason, Session, SessionConfig, Status};
use engine::value::Value;

pub use basichttp::{BasicHttpProcessor, HttpSend};
pub use clock::{epoch_ms_now, Clock, RealClock, VirtualClock};
pub use directory::{SeededIds, SessionIds, SessionKey, SessionsFull, ID_ATTEMPTS_MAX};
pub use extensions::ExtensionHandler;
pub use js_heap::metered_datamodel;
pub use loader::{
    compile_with, resolve, CompiledFile, FileCompile, FileLoader, FileLookup, LoadError,
    INLINE_DOCUMENTS_MAX,
};
pub use places::{FileRefusal, Places};
pub use remote::{NoRemote, Remote};
pub use requests::{Answer, Reply, RequestIdForm, RESPONSE_STATUS_DEFAULT, SESSION_ENDED_STATUS};
pub use sessions::{DeliverError, Finished, Progress, SessionInfo, SessionSummary};

use directory::{Directory, InsertError, Origin, Phase};
use effects::HostEffects;
use loader::DocumentCache;
use requests::Requests;
use starts::DeferredStarts;
use timers::Timers;

/// How a host runs. [`HostConfig::default`] suits `baton run`.
#[derive(Clone, Debug)]
pub struct HostConfig {
    /// The engine's bounds, for every session and document.
    pub limits: Limits,
    /// Seeds session ids and the ECMAScript `Math.random` (default 0), so runs replay.
    pub seed: u64,
    /// Where `<log>` output goes (default: stderr).
    pub log: LogMode,
    /// Print each microstep's transitions on stderr (default false; `baton run --trace`).
    pub trace: bool,
    /// Most sessions alive at once, top-level and invoked (default 10,000). A start past
    /// it is refused with [`StartError::Full`]; an `<invoke>` past it fails with
    /// `error.execution` in the parent. Cost: one slot and one scope each.
    pub sessions_max: u32,
    /// Most events waiting in one session's external queue (default 10,000). A send past it
    /// fails with `error.communication` in the sender; [`Host::send_event`] past it is
    /// refused with [`DeliverError::QueueFull`].
    pub queue_events_max: u32,
    /// Requests awaiting a `<session:response>` at once (default 10,000). A request past
    /// it is refused with [`DeliverError::RequestsFull`]. Cost: a map entry each.
    pub requests_pending_max: u32,
    /// Run the Basic HTTP Event I/O Processor: a loopback listener and a client for
    /// `<send type="...#BasicHTTPEventProcessor">` (default false). Cost: one thread and one
    /// loopback port per host.
    pub basichttp: bool,
    /// Where documents and their sources may be read from (default: anywhere, for
    /// `baton run`; the server passes `[documents] allow`).
    pub places: Places,
    /// Compiled file documents kept (default 256; `documents.cache_entries_max`).
    pub documents_cached_max: u32,
    /// Source bytes of the compiled file documents kept (default 32 MiB;
    /// `documents.cache_bytes_max`).
    pub documents_cached_bytes_max: u32,
    /// How request ids are spelt (default sequential; the server's are keyed).
    pub request_ids: RequestIdForm,
}

impl Default for HostConfig {
    fn default() -> Self {
        HostConfig {
            limits: Limits::default(),
            seed: 0,
            log: LogMode::Stderr,
            trace: false,
            sessions_max: 10_000,
            queue_events_max: 10_000,
            requests_pending_max: 10_000,
            basichttp: false,
            places: Places::anywhere(),
            documents_cached_max: 256,
            documents_cached_bytes_max: 32 << 20,
            request_ids: RequestIdForm::Sequential,
        }
    }
}

/// Where `<log>` lines go. A line is `label: message`, or the message alone.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogMode {
    /// Written to stderr as they happen.
    Stderr,
    /// Kept in memory for [`Host::take_log`] (tests).
    Capture,
    /// Dropped.
    Discard,
    /// Collected and written to stderr in one write by [`Host::flush_log`] (the server
    /// flushes after each run of ready work, so a busy shard pays one write per batch
    /// rather than one per line). Each line names its session: `[session ID] label: message`.
    Buffered,
}

/// Buffered log text written at once past this size, so the buffer stays bounded.
const LOG_BUFFER_BYTES_MAX: usize = 64 * 1024;

/// The `<log>` sink.
struct LogSink {
    mode: LogMode,
    lines: Vec<String>,
    buffer: String,
}

impl LogSink {
    fn write(&mut self, label: Option<&str>, message: &str) {
        self.write_for(None, label, message);
    }

    /// Writes a line of session `session` (named in [`LogMode::Buffered`] lines only).
    fn write_for(&mut self, session: Option<&str>, label: Option<&str>, message: &str) {
        use std::fmt::Write as _;
        let label = label.filter(|label| !label.is_empty());
        match self.mode {
            LogMode::Buffered => {
                if let Some(session) = session {
                    let _ = write!(self.buffer, "[session {session}] ");
                }
                if let Some(label) = label {
                    let _ = write!(self.buffer, "{label}: ");
                }
                self.buffer.push_str(message);
                self.buffer.push('\n');
                if self.buffer.len() > LOG_BUFFER_BYTES_MAX {
                    self.flush();
                }
                return;
            }
            LogMode::Discard => return,
            LogMode::Stderr | LogMode::Capture => {}
        }
        let line = match label {
            Some(label) => format!("{label}: {message}"),
            None => message.to_owned(),
        };
        match self.mode {
            LogMode::Capture => self.lines.push(line),
            _ => eprintln!("{line}"),
        }
    }

    /// Writes the buffered lines ([`LogMode::Buffered`]) to stderr in one write.
    fn flush(&mut self) {
        use std::io::Write as _;
        if self.buffer.is_empty() {
            return;
        }
        // A full or closed stderr must not stop the sessions: the lines are dropped.
        let _ = std::io::stderr().lock().write_all(self.buffer.as_bytes());
        self.buffer.clear();
    }

    /// A message from the host itself (not from `<log>`), prefixed `baton: `.
    fn note(&mut self, message: &str) {
        self.write(Some("baton"), message);
    }
}

/// Work a step leaves for right after it, because it needs the datamodel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Work {
    /// Create and start an invoked child.
    Start(SessionKey),
    /// Close a child whose invocation was cancelled, with its descendants.
    Close(SessionKey),
}

/// What [`Host::step`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stepped {
    /// The root session ran a macrostep (its configuration may have changed, or it ended).
    Root,
    /// Some other work: a child's macrostep, a child started or closed.
    Other,
}

/// How [`Host::run`] ended.
#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    /// The root reached a top-level final state.
    Done {
        /// Its id.
        final_state: Box<str>,
        /// Its `<donedata>`.
        donedata: Value,
    },
    /// The root was ended by an engine limit.
    Ended(EndReason),
    /// The deadline passed first.
    Deadline,
    /// Nothing is queued and no timer is pending: no event can ever arrive.
    Quiescent,
    /// More steps than the caller allowed (sessions that keep messaging each other).
    StepLimit,
}

/// Why [`Host::start`] failed.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum StartError {
    /// The datamodel refused the session's scope.
    Scope {
        /// The datamodel's reason.
        message: String,
    },
    /// [`HostConfig::sessions_max`] is reached.
    Full(SessionsFull),
    /// The starting session's tree holds `limits.sessions_per_tree_max` sessions.
    TreeFull {
        /// The bound.
        sessions_max: u32,
    },
    /// The [`SessionIds`] source answered only ids in use ([`ID_ATTEMPTS_MAX`] times).
    IdInUse {
        /// The last id it answered.
        id: Box<str>,
    },
}

impl From<InsertError> for StartError {
    fn from(error: InsertError) -> StartError {
        match error {
            InsertError::Full(full) => StartError::Full(full),
            InsertError::TreeFull { sessions_max } => StartError::TreeFull { sessions_max },
            InsertError::IdInUse(id) => StartError::IdInUse { id },
        }
    }
}

impl std::fmt::Display for StartError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StartError::Scope { message } => write!(f, "cannot create the session: {message}"),
            StartError::Full(full) => write!(f, "too many sessions (limit {})", full.sessions_max),
            StartError::TreeFull { sessions_max } => write!(
                f,
                "the starting session's tree holds {sessions_max} sessions \
                 (limits.sessions_per_tree_max)"
            ),
            StartError::IdInUse { id } => write!(f, "no fresh session id (last: '{id}')"),
        }
    }
}

impl std::error::Error for StartError {}

/// Everything of the host except the datamodels, so that a step can borrow both.
struct Core {
    config: HostConfig,
    dir: Directory,
    timers: Timers,
    /// Top-level sessions whose initial macrostep waits for a time (`idealtime`).
    starts: DeferredStarts,
    /// Requests awaiting `<session:response>`, and their answers.
    requests: Requests,
    docs: DocumentCache,
    work: VecDeque<Work>,
    log: LogSink,
    now_ms: u64,
    /// The top-level session [`Host::start`] started, for the root-centric helpers.
    root: Option<SessionKey>,
    root_status: Option<Status>,
    /// Top-level sessions that ended, until [`Host::take_finished`].
    finished: Vec<Finished>,
    /// Where sends to session ids this host does not hold go.
    remote: Box<dyn Remote>,
    /// The Basic HTTP processor: the loopback one when [`HostConfig::basichttp`] is set and
    /// it could bind, or the one given to [`Host::set_basichttp`].
    basichttp: Option<Box<dyn BasicHttpProcessor>>,
    /// What performs the routing actions (set on the routing shard only).
    extensions: Option<Rc<dyn ExtensionHandler>>,
}

/// A single-threaded host for top-level sessions and their invoked descendants.
pub struct Host {
    ecmascript: EcmascriptDatamodel,
    null: NullDatamodel,
    core: Core,
}

/// The datamodel for a document of kind `kind`.
fn datamodel<'a>(
    ecmascript: &'a mut EcmascriptDatamodel,
    null: &'a mut NullDatamodel,
    kind: DatamodelKind,
) -> &'a mut dyn Datamodel {
    match kind {
        DatamodelKind::Ecmascript => ecmascript,
        DatamodelKind::Null => null,
    }
}

impl Host {
    /// A host with no sessions, whose ids come from [`SeededIds`] of `config.seed`.
    pub fn new(config: HostConfig) -> Host {
        let ids = Box::new(SeededIds::new(config.seed));
        Host::with_ids(config, ids)
    }

    /// A host with no sessions, whose ids come from `ids`.
    pub fn with_ids(config: HostConfig, ids: Box<dyn SessionIds>) -> Host {
        let ecmascript = match js_heap::metered_datamodel(&config.limits, config.seed) {
            Ok(ecmascript) => ecmascript,
            Err(e) => panic!("cannot start the ECMAScript datamodel: {}", e.message),
        };
        let basichttp = match config.basichttp {
            false => None,
            true => basichttp::BasicHttp::start()
                .map_err(|e| eprintln!("baton: the Basic HTTP processor cannot listen: {e}"))
                .ok()
                .map(|http| Box::new(http) as Box<dyn BasicHttpProcessor>),
        };
        let core = Core {
            basichttp,
            dir: {
                let mut dir = Directory::new(config.sessions_max, ids);
                dir.set_tree_sessions_max(config.limits.sessions_per_tree_max);
                dir.set_events_per_second_max(config.limits.session_events_per_second_max);
                dir
            },
            timers: Timers::default(),
            starts: DeferredStarts::default(),
            requests: Requests::new(config.requests_pending_max, config.request_ids.clone()),
            docs: DocumentCache::new(
                config.places.clone(),
                config.documents_cached_max,
                config.documents_cached_bytes_max,
            ),
            work: VecDeque::new(),
            log: LogSink {
                buffer: String::new(),
                mode: config.log,
                lines: Vec::new(),
            },
            now_ms: 0,
            root: None,
            root_status: None,
            finished: Vec::new(),
            remote: Box::new(NoRemote),
            extensions: None,
            config,
        };
        Host {
            ecmascript,
            null: NullDatamodel::new(),
            core,
        }
    }

    /// Replaces the engine bounds and the external-queue bound (a configuration reload).
    /// A session copies its own bounds (microsteps, internal queue, foreach) when it starts,
    /// so running sessions keep theirs; the per-send bounds (`delayed_sends_max`,
    /// `queue_events_max`) apply to the next send of any session. When a document bound
    /// changed, the cached documents are dropped so the next start compiles under the new
    /// bounds (running sessions hold their own reference to theirs). The JS runtime's budget
    /// (`script_fuel_max`, `js_*_bytes_max`) is fixed when the host is created.
    pub fn set_limits(&mut self, limits: Limits, queue_events_max: u32) {
        assert!(queue_events_max > 0);
        let old = &self.core.config.limits;
        let documents_changed = (old.document_bytes_max, old.states_max, old.depth_max)
            != (
                limits.document_bytes_max,
                limits.states_max,
                limits.depth_max,
            );
        if documents_changed {
            self.core.docs.clear();
        }
        self.ecmascript.set_heap_bounds(&limits);
        self.core
            .dir
            .set_tree_sessions_max(limits.sessions_per_tree_max);
        self.core
            .dir
            .set_events_per_second_max(limits.session_events_per_second_max);
        self.core.config.limits = limits;
        self.core.config.queue_events_max = queue_events_max;
    }

    /// Loads and compiles a document file from the allowed places (cached by canonical
    /// path). Messages name it as `path`, as the first load spelt it.
    pub fn load(&mut self, path: &Path) -> Result<Rc<Document>, LoadError> {
        self.core.docs.file(path, &self.core.config.limits)
    }

    /// The cached document of the file `path` names, or the job that compiles it, to run
    /// off the shard and hand to [`Host::keep_compiled`].
    pub fn lookup_file(&mut self, path: &Path) -> Result<FileLookup, LoadError> {
        self.core.docs.lookup_file(path, &self.core.config.limits)
    }

    /// Caches a file document compiled by a [`FileCompile`] and answers it.
    pub fn keep_compiled(&mut self, compiled: CompiledFile) -> Rc<Document> {
        self.core.docs.keep_compiled(compiled)
    }

    /// Times a session used up its second's events (`limits.session_events_per_second_max`)
    /// and was held until the next.
    pub fn sessions_throttled(&self) -> u64 {
        self.core.dir.throttles()
    }

    /// File documents compiled and cached now.
    pub fn documents_cached(&self) -> usize {
        self.core.docs.files_cached()
    }

    /// Compiles a document from text (not cached); `name` is its location, used in messages
    /// and to resolve its relative `src` attributes.
    pub fn compile(&mut self, text: &str, name: &str) -> Result<Rc<Document>, LoadError> {
        let limits = &self.core.config.limits;
        compile_with(text, name, self.core.docs.places(), limits).map(Rc::new)
    }

    /// Sets the Basic HTTP processor (the server's), replacing the loopback one if any.
    /// Sessions started from now on get its location in `_ioprocessors`.
    pub fn set_basichttp(&mut self, processor: Box<dyn BasicHttpProcessor>) {
        self.core.basichttp = Some(processor);
    }

    /// Sets where sends to session ids this host does not hold go (default [`NoRemote`]).
    pub fn set_remote(&mut self, remote: Box<dyn Remote>) {
        self.core.remote = remote;
    }

    /// Ends every session of a previous run, then starts `doc` as the root session and runs
    /// its initial macrostep. Invoked children start on the following [`Host::step`]s.
    pub fn start(
        &mut self,
        doc: Rc<Document>,
        params: &[(Box<str>, Value)],
        now_ms: u64,
    ) -> Result<Status, StartError> {
        self.reset();
        self.core.now_ms = now_ms;
        let key = self.admit(doc, params.to_vec(), Origin::Client)?;
        self.core.root = Some(key);
        // A created top-level session already has its scope, so its launch cannot fail.
        let launched = self.launch(key);
        assert!(launched.is_ok(), "a created session launches");
        Ok(self.core.root_status.clone().unwrap_or(Status::Running))
    }

    /// Queues an external event for the root session.
    pub fn deliver(&mut self, event: Event) -> Result<(), SendError> {
        let root = self.core.root.ok_or_else(|| SendError {
            reason: "no session is running".to_owned(),
        })?;
        self.core.enqueue(root, event).map_err(|error| SendError {
            reason: error.to_string(),
        })
    }

    /// Does one unit of work at `now_ms`; `None` when nothing is runnable before a timer.
    pub fn step(&mut self, now_ms: u64) -> Option<Stepped> {
        self.core.now_ms = self.core.now_ms.max(now_ms);
        self.core.receive_basichttp();
        loop {
            if let Some(work) = self.core.work.pop_front() {
                self.do_work(work);
                return Some(Stepped::Other);
            }
            if let Some(key) = self.core.dir.next_runnable(self.core.now_ms) {
                let is_root = self.core.root == Some(key);
                self.run_event(key);
                return Some(if is_root {
                    Stepped::Root
                } else {
                    Stepped::Other
                });
            }
            // Both, not short-circuited: whatever is due moves now.
            let fired = self.fire_due_timers() | self.fire_due_starts();
            if !fired {
                return None;
            }
        }
    }

    /// When the next delayed send fires, deferred start is due, or throttled session may
    /// run again (`limits.session_events_per_second_max`), if any is pending.
    pub fn next_timer_ms(&mut self) -> Option<u64> {
        let send = self.core.timers.next_ms();
        let start = self.core.starts.next_ms();
        let release = self.core.dir.next_release_ms();
        [send, start, release].into_iter().flatten().min()
    }

    /// True if some work, event or timer is pending, that is, the run can still progress.
    pub fn has_pending(&self) -> bool {
        let queued = self.core.dir.has_runnable();
        let waiting = !self.core.timers.is_empty()
            || !self.core.starts.is_empty()
            || self.core.dir.has_throttled();
        !self.core.work.is_empty() || queued || waiting
    }

    /// How the root ended, once it has.
    pub fn root_status(&self) -> Option<&Status> {
        self.core.root_status.as_ref()
    }

    /// The ids of the root's active states in document order (the `<scxml>` root excluded);
    /// empty once it has ended.
    pub fn configuration(&self) -> Vec<Box<str>> {
        self.core
            .root
            .map_or_else(Vec::new, |key| self.configuration_of(key))
    }

    /// The ids of the active states of the session `key` (its `<scxml>` root excluded).
    pub fn configuration_of(&self, key: SessionKey) -> Vec<Box<str>> {
        let Some(slot) = self.core.dir.get(key) else {
            return Vec::new();
        };
        let Phase::Idle(session) = &slot.phase else {
            return Vec::new();
        };
        let doc = session.document();
        let active = session.configuration().filter(|idx| idx.0 != 0);
        active.map(|idx| doc.state(idx).id.clone()).collect()
    }

    /// The `_sessionid` of the session `key`.
    pub fn session_id(&self, key: SessionKey) -> Option<&str> {
        self.core.dir.get(key).map(|slot| &*slot.id)
    }

    /// The root session's key, while it runs.
    pub fn root(&self) -> Option<SessionKey> {
        self.core.root
    }

    /// How many sessions are alive (top-level and invoked).
    pub fn sessions(&self) -> usize {
        self.core.dir.len()
    }

    /// Writes the lines collected under [`LogMode::Buffered`] to stderr.
    pub fn flush_log(&mut self) {
        self.core.log.flush();
    }

    /// The captured `<log>` lines (with [`LogMode::Capture`]), emptying the buffer.
    pub fn take_log(&mut self) -> Vec<String> {
        std::mem::take(&mut self.core.log.lines)
    }

    /// Runs until the root ends, `deadline_ms` passes, nothing can happen any more
    /// ([`Outcome::Quiescent`]) or `steps_max` steps were taken. With a [`VirtualClock`]
    /// time jumps to the next timer whenever nothing is runnable.
    pub fn run(&mut self, clock: &mut dyn Clock, deadline_ms: u64, steps_max: u64) -> Outcome {
        let mut steps: u64 = 0;
        loop {
            if let Some(outcome) = self.outcome() {
                self.drain_work();
                return outcome;
            }
            let now_ms = clock.now_ms();
            if now_ms >= deadline_ms {
                return Outcome::Deadline;
            }
            if self.step(now_ms).is_some() {
                steps += 1;
                if steps >= steps_max {
                    return Outcome::StepLimit;
                }
                continue;
            }
            match self.next_timer_ms() {
                Some(at_ms) => clock.idle_until(at_ms.min(deadline_ms)),
                None => return Outcome::Quiescent,
            }
        }
    }

    /// The root's end as an [`Outcome`], once it has ended.
    pub fn outcome(&self) -> Option<Outcome> {
        match self.core.root_status.as_ref()? {
            Status::Running => None,
            Status::Done {
                final_state,
                donedata,
            } => Some(Outcome::Done {
                final_state: final_state.clone(),
                donedata: donedata.clone(),
            }),
            Status::Ended(reason) => Some(Outcome::Ended(reason.clone())),
        }
    }

    /// Ends every session without running any more of their content, drops pending timers
    /// and queued work. Captured log lines are kept.
    pub fn reset(&mut self) {
        let Host {
            ecmascript,
            null,
            core,
        } = self;
        for key in core.dir.keys() {
            if let Some(mut slot) = core.dir.remove(key) {
                let phase = std::mem::replace(&mut slot.phase, Phase::Busy);
                if let Phase::Idle(session) | Phase::Created(session) = phase {
                    datamodel(ecmascript, null, slot.doc.datamodel).drop_scope(session.scope());
                }
            }
        }
        core.timers.clear();
        core.starts.clear();
        core.requests.clear();
        core.work.clear();
        core.finished.clear();
        core.root = None;
        core.root_status = None;
    }

    /// Moves due timers to their targets' queues; false if none was due.
    fn fire_due_timers(&mut self) -> bool {
        let mut fired = false;
        while let Some(timer) = self.core.timers.pop_due(self.core.now_ms) {
            fired = true;
            self.core.deliver_due(timer.owner, timer.out);
        }
        fired
    }

    /// Moves the deferred starts that are due to the work queue; false if none was due.
    fn fire_due_starts(&mut self) -> bool {
        let mut fired = false;
        while let Some(key) = self.core.starts.pop_due(self.core.now_ms) {
            fired = true;
            self.core.work.push_back(Work::Start(key));
        }
        fired
    }

    /// Finishes the work the last steps left (closing cancelled children, whose `<onexit>`
    /// handlers still run) without delivering any more events. Called once the root ended.
    pub fn drain_work(&mut self) {
        while let Some(work) = self.core.work.pop_front() {
            self.do_work(work);
        }
    }

    fn do_work(&mut self, work: Work) {
        match work {
            Work::Start(key) => {
                if let Err(message) = self.launch(key) {
                    self.fail_child_start(key, &message);
                }
            }
            Work::Close(key) => self.close_session(key),
        }
    }

    /// Runs the initial macrostep of the session in slot `key`: a created top-level one, or
    /// an invoked child (phase `Starting`), whose session is created first.
    fn launch(&mut self, key: SessionKey) -> Result<(), String> {
        let Host {
            ecmascript,
            null,
            core,
        } = self;
        let Some(slot) = core.dir.get_mut(key) else {
            return Ok(());
        };
        let phase = std::mem::replace(&mut slot.phase, Phase::Busy);
        slot.started_at_ms = core.now_ms;
        let dm = datamodel(ecmascript, null, slot.doc.datamodel);
        let mut session = match phase {
            Phase::Created(session) => session,
            Phase::Starting { params } => {
                let doc = Rc::clone(&slot.doc);
                let http = core.basichttp.as_deref();
                new_session(dm, &core.config.limits, http, doc, &slot.id, &params)?
            }
            Phase::Idle(_) | Phase::Busy => {
                slot.phase = phase;
                return Ok(());
            }
        };
        let now_ms = core.now_ms;
        let status = session.start(dm, &mut HostEffects { core, key }, now_ms);
        self.finish_step(key, session, status);
        Ok(())
    }

    /// Adds a top-level session for `doc` and creates its scope; it is launched later.
    fn admit(
        &mut self,
        doc: Rc<Document>,
        params: Vec<(Box<str>, Value)>,
        origin: Origin,
    ) -> Result<SessionKey, StartError> {
        let Host {
            ecmascript,
            null,
            core,
        } = self;
        let kind = doc.datamodel;
        let key = core
            .dir
            .insert(Rc::clone(&doc), Phase::Busy, origin, core.now_ms)?;
        let slot = core.dir.get_mut(key);
        let slot = slot.expect("a session just inserted is present");
        let dm = datamodel(ecmascript, null, kind);
        let http = core.basichttp.as_deref();
        match new_session(dm, &core.config.limits, http, doc, &slot.id, &params) {
            Ok(session) => {
                slot.phase = Phase::Created(session);
                Ok(key)
            }
            Err(message) => {
                core.dir.remove(key);
                Err(StartError::Scope { message })
            }
        }
    }

    /// A child whose session could not be created: the parent gets `error.execution`.
    fn fail_child_start(&mut self, key: SessionKey, message: &str) {
        let Some(slot) = self.core.dir.remove(key) else {
            return;
        };
        self.core.requests.end_owner(key);
        if let Some(link) = slot.parent {
            let mut event = Event::new("error.execution", EventKind::Platform);
            event.invokeid = Some(link.invokeid);
            event.data = Value::Object(vec![("message".into(), Value::String(message.into()))]);
            // The parent may have ended in the same step; then nobody waits for the error.
            let _ = self.core.enqueue(link.key, event);
        }
        if self.core.root == Some(key) {
            self.core.root = None;
        }
    }

    /// Gives the next queued event to the session `key`.
    fn run_event(&mut self, key: SessionKey) {
        let Host {
            ecmascript,
            null,
            core,
        } = self;
        let Some(slot) = core.dir.get_mut(key) else {
            return;
        };
        let Some(event) = slot.queue.pop_front() else {
            return;
        };
        let Phase::Idle(mut session) = std::mem::replace(&mut slot.phase, Phase::Busy) else {
            unreachable!("next_runnable returns idle sessions only");
        };
        let dm = datamodel(ecmascript, null, slot.doc.datamodel);
        let now_ms = core.now_ms;
        let status = session.handle_event(dm, &mut HostEffects { core, key }, now_ms, &event);
        self.finish_step(key, session, status);
    }

    /// Puts a stepped session back, or retires it if it ended.
    fn finish_step(&mut self, key: SessionKey, session: Box<Session>, status: Status) {
        match status {
            Status::Running => {
                if let Some(slot) = self.core.dir.get_mut(key) {
                    slot.phase = Phase::Idle(session);
                }
                // Events that arrived while it ran (or before it started) wait their turn.
                self.core.dir.mark_ready(key);
            }
            Status::Done { ref donedata, .. } => {
                self.notify_parent_done(key, donedata);
                self.retire(key, session, status);
            }
            Status::Ended(ref reason) => {
                let id = self.core.dir.get(key).map_or("?", |slot| &*slot.id);
                let note = format!("session {id} ended: {reason:?}");
                self.core.log.note(&note);
                self.retire(key, session, status);
            }
        }
    }

    /// Sends `done.invoke.<invokeid>` to the parent of a child that reached a final state.
    fn notify_parent_done(&mut self, key: SessionKey, donedata: &Value) {
        let Some(link) = self.core.dir.get(key).and_then(|slot| slot.parent.clone()) else {
            return;
        };
        let name = format!("done.invoke.{}", link.invokeid);
        let mut event = Event::external(&name, donedata.clone());
        event.invokeid = Some(link.invokeid);
        if let Err(error) = self.core.enqueue(link.key, event) {
            self.core
                .log
                .note(&format!("{name} not delivered: {error}"));
        }
    }

    /// Frees an ended session: its scope, its timers, its slot; closes its children.
    fn retire(&mut self, key: SessionKey, session: Box<Session>, status: Status) {
        let Host {
            ecmascript,
            null,
            core,
        } = self;
        datamodel(ecmascript, null, session.document().datamodel).drop_scope(session.scope());
        core.timers.cancel_owner(key);
        core.requests.end_owner(key);
        if let Some(slot) = core.dir.remove(key) {
            core.close_children(&slot.children);
            if slot.top_level {
                let status = status.clone();
                core.finished.push(Finished {
                    id: slot.id,
                    status,
                });
            }
        }
        if core.root == Some(key) {
            core.root_status = Some(status);
        }
    }

    /// Closes a session (a cancelled child, or a terminated top-level session): its exit
    /// handlers run, its own children are closed next. No `done` follows.
    fn close_session(&mut self, key: SessionKey) {
        let Host {
            ecmascript,
            null,
            core,
        } = self;
        let Some(slot) = core.dir.get_mut(key) else {
            return;
        };
        let phase = std::mem::replace(&mut slot.phase, Phase::Busy);
        let kind = slot.doc.datamodel;
        if let Phase::Idle(session) | Phase::Created(session) = phase {
            let dm = datamodel(ecmascript, null, kind);
            (*session).close(dm, &mut HostEffects { core, key });
        }
        // The engine cancels the invocations of active states; anything left (a child still
        // starting) is closed here.
        if let Some(slot) = core.dir.remove(key) {
            core.close_children(&slot.children);
        }
        core.timers.cancel_owner(key);
        core.requests.end_owner(key);
    }
}

/// Creates a session for `doc` (its scope in `dm`), to be started with `params`.
fn new_session(
    dm: &mut dyn Datamodel,
    limits: &Limits,
    http: Option<&dyn BasicHttpProcessor>,
    doc: Rc<Document>,
    id: &str,
    params: &[(Box<str>, Value)],
) -> Result<Box<Session>, String> {
    let location = http.and_then(|http| http.location(id));
    let ioprocessors: Vec<(&str, &str)> = match &location {
        Some(location) => vec![("basichttp", location), (BASICHTTP_PROCESSOR, location)],
        None => Vec::new(),
    };
    let config = SessionConfig {
        session_id: id,
        params,
        ioprocessors: &ioprocessors,
        limits,
    };
    let session = Session::new(doc, dm, &config).map_err(|e| e.message)?;
    Ok(Box::new(session))
}

impl Core {
    /// Detaches the children of a removed session and queues their closing.
    fn close_children(&mut self, children: &[(Box<str>, SessionKey)]) {
        for (_, child) in children {
            if let Some(slot) = self.dir.get_mut(*child) {
                slot.parent = None;
                self.work.push_back(Work::Close(*child));
            }
        }
    }
}
