//! Shard executors: one glommio `LocalExecutor` per configured core, pinned, each with a
//! latency-class task queue (protocol I/O, macrosteps) and a background one.
//!
//! Start-up is checked: an executor that cannot be created (io_uring refused, locked
//! memory exhausted) fails [`start_shards`] with the shard and core named, after the
//! shards already started are stopped again.
//!
//! Stopping is joint: a shard whose future returned keeps its executor (and so the tasks
//! reading its mesh inbox) running until every shard's future returned, because a peer
//! still finishing its in-flight requests may be waiting for this shard's answer.

use std::fmt;
use std::future::Future;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Duration;

use glommio::channels::channel_mesh::MeshBuilder;
use glommio::TaskQueueHandle;
use glommio::{
    ExecutorJoinHandle, Latency, LocalExecutorBuilder, Placement, PoolPlacement, Shares,
};

use super::id::ShardId;
use super::mesh::{Mesh, MeshInbox, NoCall, ShardMsg};
use super::nudge::Nudger;
use crate::config::{Config, Machine};

/// How often a waiting shard looks at the shutdown flag. Shutdown comes from another
/// thread (a signal handler, the admin API), which cannot wake a glommio executor
/// directly; a 10 ms poll costs nothing measurable and bounds the reaction time.
const SHUTDOWN_POLL: Duration = Duration::from_millis(10);

/// The shutdown request every shard observes. Cheap to clone; any thread may request.
#[derive(Clone, Debug, Default)]
pub struct Shutdown {
    requested: Arc<AtomicBool>,
}

impl Shutdown {
    /// Asks every shard to stop.
    pub fn request(&self) {
        self.requested.store(true, Ordering::Release);
    }

    /// Whether a stop was asked for.
    pub fn is_requested(&self) -> bool {
        self.requested.load(Ordering::Acquire)
    }

    /// Completes within 10 ms of a stop request. Call it on a shard only.
    pub async fn requested(&self) {
        while !self.is_requested() {
            glommio::timer::sleep(SHUTDOWN_POLL).await;
        }
    }
}

/// What a shard gets when it starts. `C` is the type of the calls its mesh carries besides
/// events ([`ShardMsg::Call`]).
pub struct ShardContext<C: Send + 'static = NoCall> {
    /// This shard.
    pub shard: ShardId,
    /// The core it is pinned to.
    pub core: u16,
    /// How many shards run.
    pub shards: u16,
    /// The latency-class queue the shard's future runs in: protocol I/O, macrosteps.
    pub latency_queue: TaskQueueHandle,
    /// The background queue: document fetches, metrics, housekeeping.
    pub background_queue: TaskQueueHandle,
    /// Sending side of the cross-shard mesh.
    pub mesh: Rc<Mesh<C>>,
    /// Receiving side of the mesh; run it with [`MeshInbox::run`].
    pub inbox: MeshInbox<C>,
    /// The stop request; the shard's future should return soon after it.
    pub shutdown: Shutdown,
}

/// Why shards did not start or did not stop cleanly.
#[derive(Debug)]
#[non_exhaustive]
pub enum ShardError {
    /// The executor thread or the executor itself could not be created.
    Start {
        /// The shard.
        shard: ShardId,
        /// Its core.
        core: u16,
        /// glommio's or the OS's reason.
        error: std::io::Error,
    },
    /// A shard's thread panicked or its executor failed while running.
    Stopped {
        /// The shard.
        shard: ShardId,
        /// glommio's reason.
        error: std::io::Error,
    },
}

impl fmt::Display for ShardError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ShardError::Start { shard, core, error } => {
                write!(f, "shard {shard} (core {core}) did not start: {error}")
            }
            ShardError::Stopped { shard, error } => write!(f, "shard {shard} failed: {error}"),
        }
    }
}

impl std::error::Error for ShardError {}

/// Running shards: their threads and the shared stop request.
pub struct Shards {
    handles: Vec<ExecutorJoinHandle<()>>,
    shutdown: Shutdown,
}

impl Shards {
    /// The stop request (clone it into a signal handler).
    pub fn shutdown(&self) -> &Shutdown {
        &self.shutdown
    }

    /// How many shards run.
    pub fn len(&self) -> usize {
        self.handles.len()
    }

    /// Whether no shard runs (never true after a successful start).
    pub fn is_empty(&self) -> bool {
        self.handles.is_empty()
    }

    /// Waits for every shard to return; the first failure is reported after all joined.
    pub fn join(self) -> Result<(), ShardError> {
        let mut first_error = None;
        for (index, handle) in self.handles.into_iter().enumerate() {
            if let Err(error) = handle.join() {
                let shard = ShardId(index as u16);
                first_error.get_or_insert(ShardError::Stopped {
                    shard,
                    error: error.into(),
                });
            }
        }
        first_error.map_or(Ok(()), Err)
    }
}

/// Starts one pinned executor per configured core and runs `make_shard(context)` on each,
/// in its latency-class queue. Returns once every executor exists; the shards' futures
/// run until they return (normally after [`ShardContext::shutdown`] is requested).
///
/// `config` must have passed [`Config::validate`]; `"all"` cores are read from this
/// process's affinity again here.
pub fn start_shards<C, F, Fut>(config: &Config, make_shard: F) -> Result<Shards, ShardError>
where
    C: Send + 'static,
    F: Fn(ShardContext<C>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + 'static,
{
    let cores = config.cores(&Machine::probe());
    assert!(!cores.is_empty());
    let shards = u16::try_from(cores.len()).expect("validated: shards fit a u16");
    let queue_max = config.limits.mesh_queue_max as usize;
    let mesh = MeshBuilder::<ShardMsg<C>, _>::full(cores.len(), queue_max);
    let running = Arc::new(AtomicUsize::new(cores.len()));
    let make_shard = Arc::new(make_shard);
    let shutdown = Shutdown::default();
    // Without the thread shards still run; a lost timer wake-up would just not be bounded.
    let nudger = Nudger::start().ok();
    let mut started = Shards {
        handles: Vec::with_capacity(cores.len()),
        shutdown: shutdown.clone(),
    };
    for (index, &core) in cores.iter().enumerate() {
        let shard = ShardId(index as u16);
        let (ready_tx, ready_rx) = mpsc::sync_channel::<()>(1);
        let plan = ShardPlan {
            shard,
            core,
            shards,
            config: config.clone(),
            mesh: mesh.clone(),
            shutdown: shutdown.clone(),
            running: Arc::clone(&running),
            nudger: nudger.clone(),
        };
        let make_shard = Arc::clone(&make_shard);
        let spawned = builder(config, shard, core).spawn(move || async move {
            // The executor exists: tell the starter before waiting for the others.
            let _ = ready_tx.send(());
            plan.run(&*make_shard).await;
        });
        let failure = match spawned {
            Ok(handle) => {
                started.handles.push(handle);
                // A dropped sender without a message: the executor was never created.
                ready_rx.recv().err().map(|_| None)
            }
            Err(error) => Some(Some(error.into())),
        };
        if let Some(error) = failure {
            return Err(abort(started, shard, core, error));
        }
    }
    Ok(started)
}

fn builder(config: &Config, shard: ShardId, core: u16) -> LocalExecutorBuilder {
    let preempt = Duration::from_micros(u64::from(config.runtime.latency_queue_preempt_us));
    LocalExecutorBuilder::new(Placement::Fixed(usize::from(core)))
        .name(&format!("baton-shard-{shard}"))
        .io_memory(config.runtime.io_memory_bytes as usize)
        .preempt_timer(preempt)
        // The blocking thread (document compiles, name lookups) is not pinned to the
        // shard's core: it may run wherever a core is idle (`documents/off_shard.rs`).
        .blocking_thread_pool_placement(PoolPlacement::Unbound(1))
}

/// Stops the shards already started and names the one that failed. `error` is the spawn
/// error, or `None` when the failure is in the shard's thread (read from its join).
fn abort(
    mut started: Shards,
    shard: ShardId,
    core: u16,
    error: Option<std::io::Error>,
) -> ShardError {
    started.shutdown.request();
    let failed = match error {
        Some(_) => None,
        None => started.handles.pop(),
    };
    let error = match (error, failed) {
        (Some(error), _) => error,
        (None, Some(handle)) => match handle.join() {
            Err(error) => error.into(),
            Ok(()) => std::io::Error::other("the shard stopped before it started"),
        },
        (None, None) => std::io::Error::other("the shard did not start"),
    };
    // The shards that did start are stopped; their own results no longer matter.
    let _ = started.join();
    ShardError::Start { shard, core, error }
}

/// Everything a shard's thread needs to set itself up.
struct ShardPlan<C: Send + 'static> {
    shard: ShardId,
    core: u16,
    shards: u16,
    config: Config,
    mesh: MeshBuilder<ShardMsg<C>, glommio::channels::channel_mesh::Full>,
    shutdown: Shutdown,
    /// Shards whose future has not returned yet.
    running: Arc<AtomicUsize>,
    /// Wakes the shard now and then (see [`super::nudge`]).
    nudger: Option<Nudger>,
}

/// Counts its shard out of [`ShardPlan::running`] when dropped: when the shard's future
/// returns, or when its thread unwinds, so that the others never wait for a dead shard.
struct Running(Arc<AtomicUsize>);

impl Drop for Running {
    fn drop(&mut self) {
        let before = self.0.fetch_sub(1, Ordering::AcqRel);
        assert!(before > 0);
    }
}

impl<C: Send + 'static> ShardPlan<C> {
    async fn run<F, Fut>(self, make_shard: &F)
    where
        F: Fn(ShardContext<C>) -> Fut,
        Fut: Future<Output = ()> + 'static,
    {
        let running = Running(Arc::clone(&self.running));
        let runtime = &self.config.runtime;
        let executor = glommio::executor();
        // Not `Latency::Matters`: glommio puts such a queue's I/O on its latency ring, and a
        // shard asleep on the main ring is woken from the latency ring through a poll link
        // that was measured losing wake-ups (the shard slept 32 ms with datagrams waiting;
        // SIP p99 at 20,000 calls/s 9 to 45 ms with it, 2.9 to 4.1 ms without). How long a
        // queue runs before the other gets a turn is the executor's preempt timer
        // (`latency_queue_preempt_us`, set in `builder`).
        let latency_queue = executor.create_task_queue(
            Shares::Static(usize::from(runtime.latency_queue_shares)),
            Latency::NotImportant,
            "latency",
        );
        let background_queue = executor.create_task_queue(
            Shares::Static(usize::from(runtime.background_queue_shares)),
            Latency::NotImportant,
            "background",
        );
        if let Some(nudger) = &self.nudger {
            nudger.join(background_queue);
        }
        // Joining waits for every shard; a failed start elsewhere asks us to stop instead.
        let joined = futures_lite::future::or(async { self.mesh.join().await.ok() }, async {
            self.shutdown.requested().await;
            None
        })
        .await;
        let Some((senders, receivers)) = joined else {
            return;
        };
        let mesh = Rc::new(Mesh::new(self.shard, senders));
        let context = ShardContext {
            shard: self.shard,
            core: self.core,
            shards: self.shards,
            latency_queue,
            background_queue,
            mesh: Rc::clone(&mesh),
            inbox: MeshInbox::new(self.shard, receivers),
            shutdown: self.shutdown,
        };
        let task = glommio::spawn_local_into(make_shard(context), latency_queue)
            .expect("the latency queue was created above");
        task.await;
        // Keep answering peers (the inbox tasks run on) until every shard is done.
        drop(running);
        while self.running.load(Ordering::Acquire) > 0 {
            glommio::timer::sleep(SHUTDOWN_POLL).await;
        }
        // Peers' inboxes see this shard's streams end.
        mesh.close();
    }
}
