//! Nudges: a thread that wakes every sleeping shard ten times a second through an ordinary
//! socket read, so that a timer wake-up glommio loses is late by at most [`NUDGE_EVERY`]
//! instead of forever.
//!
//! A glommio executor with nothing to run sleeps on its main io_uring; its timers complete
//! on the latency ring, which wakes the main one through a poll of the latency ring's file
//! descriptor. After heavy SIP load that wake-up was seen lost (twice in hundreds of
//! thousands of calls, DataDog/glommio#547 describes the same): the shard slept in
//! `io_cqring_wait` with its timers due, and a SIGTERM never finished, because the
//! listeners poll the shutdown flag with a timer. Interrupting the sleep (gdb) let it go on.
//! A read completing on the main ring wakes the shard without that link, and the executor
//! then runs every timer that is due. Idle cost: ten reads per second per shard.

use std::io::ErrorKind;
use std::os::fd::{AsRawFd, FromRawFd, IntoRawFd};
use std::os::unix::net::UnixStream;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use futures_lite::AsyncReadExt;
use glommio::TaskQueueHandle;

/// How late a lost timer wake-up can be.
pub const NUDGE_EVERY: Duration = Duration::from_millis(100);

/// The write ends of the shards' nudge sockets, shared with the nudging thread.
#[derive(Clone, Debug, Default)]
pub struct Nudger {
    writers: Arc<Mutex<Vec<UnixStream>>>,
}

impl Nudger {
    /// Starts the thread. It ends within [`NUDGE_EVERY`] of the last clone's drop.
    pub fn start() -> std::io::Result<Nudger> {
        let nudger = Nudger::default();
        let writers = Arc::downgrade(&nudger.writers);
        std::thread::Builder::new()
            .name("baton-nudge".into())
            .spawn(move || nudge_while_wanted(&writers))?;
        Ok(nudger)
    }

    /// Gives the calling shard its nudges: a task in `queue` that reads them until the
    /// executor ends. `queue` must not be latency-sensitive: glommio puts the I/O of such
    /// queues on the latency ring, whose link is what the nudges bypass. Without a socket
    /// (descriptors exhausted) the shard runs unnudged.
    pub fn join(&self, queue: TaskQueueHandle) {
        let Ok((reader, writer)) = UnixStream::pair() else {
            return;
        };
        if writer.set_nonblocking(true).is_err() {
            return;
        }
        // SAFETY: the descriptor is a connected stream socket this function owns.
        let reader = unsafe { glommio::net::UnixStream::from_raw_fd(reader.into_raw_fd()) };
        let spawned = glommio::spawn_local_into(read_nudges(reader), queue);
        if let Ok(task) = spawned {
            task.detach();
            self.writers.lock().expect("not poisoned").push(writer);
        }
    }
}

async fn read_nudges(mut reader: glommio::net::UnixStream) {
    let mut bytes = [0u8; 64];
    while let Ok(1..) = reader.read(&mut bytes).await {}
}

fn nudge_while_wanted(writers: &Weak<Mutex<Vec<UnixStream>>>) {
    loop {
        std::thread::sleep(NUDGE_EVERY);
        let Some(writers) = writers.upgrade() else {
            return;
        };
        // A full socket already holds a nudge; a closed one belongs to a shard that ended.
        writers
            .lock()
            .expect("not poisoned")
            .retain(|writer| match nudge(writer) {
                Ok(()) => true,
                Err(error) => error.kind() == ErrorKind::WouldBlock,
            });
    }
}

/// Writes one byte without raising SIGPIPE when the shard's end is closed.
fn nudge(writer: &UnixStream) -> std::io::Result<()> {
    // SAFETY: a valid socket and a one-byte buffer that outlives the call.
    let sent = unsafe {
        libc::send(
            writer.as_raw_fd(),
            [1u8].as_ptr().cast(),
            1,
            libc::MSG_NOSIGNAL | libc::MSG_DONTWAIT,
        )
    };
    match sent {
        1 => Ok(()),
        _ => Err(std::io::Error::last_os_error()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use glommio::{Latency, LocalExecutorBuilder, Placement, Shares};

    fn on_an_executor<F, Fut>(run: F)
    where
        F: FnOnce() -> Fut + Send + 'static,
        Fut: std::future::Future<Output = ()> + 'static,
    {
        LocalExecutorBuilder::new(Placement::Unbound)
            .io_memory(1 << 20)
            .spawn(run)
            .expect("an executor")
            .join()
            .expect("the shard ran");
    }

    #[test]
    fn a_live_shard_stays_nudged_and_the_thread_lets_go_with_the_last_handle() {
        let nudger = Nudger::start().expect("a thread");
        let shard_nudger = nudger.clone();
        on_an_executor(move || async move {
            let queue = glommio::executor().create_task_queue(
                Shares::default(),
                Latency::NotImportant,
                "background",
            );
            shard_nudger.join(queue);
            glommio::timer::sleep(NUDGE_EVERY * 3).await;
            // Three nudges were sent and none failed: a failed one drops the socket.
            let writers = shard_nudger.writers.lock().expect("not poisoned").len();
            assert_eq!(writers, 1);
        });
        // The thread holds the list weakly (upgrading it for each round of nudges).
        let writers = Arc::downgrade(&nudger.writers);
        drop(nudger);
        let deadline = std::time::Instant::now() + NUDGE_EVERY * 10;
        while writers.upgrade().is_some() {
            assert!(
                std::time::Instant::now() < deadline,
                "the thread kept the list"
            );
            std::thread::sleep(NUDGE_EVERY / 10);
        }
    }

    #[test]
    fn a_shard_reads_its_nudges_until_their_socket_closes() {
        on_an_executor(|| async {
            let (reader, writer) = UnixStream::pair().expect("a pair");
            // SAFETY: a connected stream socket owned here.
            let reader = unsafe { glommio::net::UnixStream::from_raw_fd(reader.into_raw_fd()) };
            let reading = glommio::spawn_local(read_nudges(reader));
            for _ in 0..3 {
                nudge(&writer).expect("a nudge");
            }
            drop(writer);
            let ended = protocols::timeout::within(NUDGE_EVERY * 10, reading).await;
            assert!(ended.is_some(), "the reader did not see its socket close");
        });
    }

    #[test]
    fn a_nudge_to_a_closed_shard_fails_without_a_signal() {
        let (reader, writer) = UnixStream::pair().expect("a pair");
        assert!(nudge(&writer).is_ok());
        drop(reader);
        let error = nudge(&writer).expect_err("the reader is gone");
        assert_ne!(error.kind(), ErrorKind::WouldBlock);
    }
}
