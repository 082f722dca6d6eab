//! The write-behind half of usage recording: a thread with its own connection that
//! commits the shared [`UsageBuffer`] in one transaction every second, sooner when many
//! rows are waiting, and once more when the server stops.
//!
//! Sooner by rows, not by uses: a busy server's uses fold into a few rows (one per token,
//! hour and address), and committing those ten times a second (as counting uses did at
//! 100,000 requests a second) took the CPU from the requests in flight for half a
//! millisecond each time, which showed in their tail latency.
//!
//! What a crash can lose: uses are in memory from their request until the next commit,
//! so SIGKILL (or a power cut) loses at most the last second of counts, never a token
//! or a revocation. A failed commit puts the batch back and is retried on the next tick;
//! the buffer's key limit keeps memory bounded meanwhile.

use std::sync::Arc;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, anyhow};

use super::log;
use super::metrics::Metrics;
use crate::store::Store;
use crate::usage::UsageBuffer;
use crate::verify;

/// Longest time a recorded use waits in memory.
pub const INTERVAL: Duration = Duration::from_secs(1);
/// How often the buffer's size is looked at.
const TICK: Duration = Duration::from_millis(100);
/// Buffered rows (distinct token, hour and address) that trigger a commit before the
/// interval is up.
const EARLY_ROWS: usize = 10_000;

pub struct Flusher {
    stop: mpsc::Sender<()>,
    thread: JoinHandle<Result<u64>>,
}

impl Flusher {
    pub fn start(mut store: Store, usage: Arc<UsageBuffer>, metrics: Arc<Metrics>) -> Result<Self> {
        let (stop, stopped) = mpsc::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("tokenctl-flush".into())
            .spawn(move || {
                // Its wake-ups, ten a second on a busy server, must not preempt the
                // runtime in the middle of answering.
                super::batch_scheduling();
                let mut last = Instant::now();
                let mut replaced = false;
                // Until told to stop (or the server is gone): tick.
                while let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(TICK) {
                    // Notice a deleted or replaced database file within a tick even when
                    // no request comes: the check moves the old -wal and -shm aside
                    // before another process can open the new file with them.
                    if let Err(e) = store.check_same_database()
                        && !std::mem::replace(&mut replaced, true)
                    {
                        log(&format!("denying every request: {e:#}"));
                    }
                    if last.elapsed() >= INTERVAL || usage.keys() >= EARLY_ROWS {
                        last = Instant::now();
                        if let Err(e) = commit_and_count(&mut store, &usage, &metrics) {
                            log(&format!("cannot record usage (will retry): {e:#}"));
                        }
                    }
                }
                commit_and_count(&mut store, &usage, &metrics)
            })
            .context("cannot start the usage flusher thread")?;
        Ok(Flusher { stop, thread })
    }

    /// Commits what is left and stops; returns the uses of that last commit.
    pub fn stop(self) -> Result<u64> {
        let _ = self.stop.send(());
        self.thread
            .join()
            .map_err(|_| anyhow!("the usage flusher thread panicked"))?
    }
}

/// Commits what is buffered, and counts the commit (its uses, time and result) in the
/// metrics.
fn commit_and_count(store: &mut Store, usage: &UsageBuffer, metrics: &Metrics) -> Result<u64> {
    if usage.is_empty() {
        return Ok(0);
    }
    let started = Instant::now();
    match verify::commit_buffered(store, usage) {
        Ok(n) => {
            metrics.flushed(n, started.elapsed());
            Ok(n)
        }
        Err(e) => {
            metrics.flush_failed(started.elapsed());
            Err(e.context(format!("{} uses are waiting in memory", usage.len())))
        }
    }
}
