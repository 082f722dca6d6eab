//! A few threads, each with its own [`Verifier`] (one SQLite connection), that answer
//! the async side's checks so that no database call ever runs on the runtime. All
//! verifiers record into the one shared [`UsageBuffer`] that the flusher commits.
//!
//! The hand-off is built to move checks in batches, because on a busy server the cost of
//! waking threads, not of SQLite, decides the throughput:
//!
//! - checks wait in one queue that every thread takes from (a thread held up by the disk
//!   delays only what it holds); a thread takes everything queued at once;
//! - the threads run as `SCHED_BATCH` on Linux: waking one never preempts the runtime,
//!   which queues the checks of every request that is ready before it yields the CPU;
//! - answers go back as one batch to one task on the runtime, which hands them out: one
//!   cross-thread wake-up per batch instead of one per request.
//!
//! The queue needs no limit of its own: HTTP/1.1 has at most one request in progress per
//! connection, and connections are limited.

use std::collections::VecDeque;
use std::net::IpAddr;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;

use anyhow::{Context as _, Result, anyhow};
use tokio::sync::{Notify, oneshot};

use super::forwarded::Bearer;
use crate::scope::Scope;
use crate::store::{OpenMode, Store};
use crate::usage::UsageBuffer;
use crate::verify::{Decision, Request, Verifier};

/// The most checks a thread takes at once; the rest stay for the other threads.
const BATCH: usize = 64;

/// One request to decide.
#[derive(Debug)]
pub struct Check {
    pub token: Bearer,
    /// `None`: the request maps to no scope.
    pub scope: Option<Scope>,
    pub ip: Option<IpAddr>,
}

type Answer = (oneshot::Sender<Result<Decision>>, Result<Decision>);

struct Job {
    check: Check,
    reply: oneshot::Sender<Result<Decision>>,
}

#[derive(Default)]
struct Queue {
    jobs: VecDeque<Job>,
    closed: bool,
    /// Threads waiting for work: a wake-up (a system call) only when one is.
    idle: usize,
    /// A thread panicked.
    failed: bool,
}

#[derive(Default)]
struct Shared {
    queue: Mutex<Queue>,
    work: Condvar,
    answers: Mutex<Vec<Answer>>,
    answered: Notify,
}

pub struct Verifiers {
    shared: Arc<Shared>,
    threads: Mutex<Vec<JoinHandle<()>>>,
}

/// A poisoned lock only means another thread panicked; the data is still consistent
/// (every critical section here is a push or a take).
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Verifiers {
    /// Opens `count` connections (all before returning: a database that cannot be opened
    /// stops the server before it listens) and starts a thread for each.
    pub fn start(
        db: &crate::store::Location,
        count: usize,
        env: &str,
        usage: &Arc<UsageBuffer>,
    ) -> Result<Self> {
        let mut verifiers = Vec::with_capacity(count);
        for _ in 0..count {
            let store = Store::open(db, OpenMode::Existing)?;
            verifiers.push(Verifier::with_buffer(store, Arc::clone(usage)));
        }
        let shared = Arc::new(Shared::default());
        let mut threads = Vec::with_capacity(count);
        for (i, verifier) in verifiers.into_iter().enumerate() {
            let shared = Arc::clone(&shared);
            let env = env.to_string();
            let thread = std::thread::Builder::new()
                .name(format!("tokenctl-verify-{i}"))
                .spawn(move || work(verifier, &shared, &env))
                .context("cannot start a verifier thread")?;
            threads.push(thread);
        }
        Ok(Verifiers {
            shared,
            threads: Mutex::new(threads),
        })
    }

    /// Hands out the threads' answers; must run on the runtime for as long as checks are
    /// made.
    pub async fn deliver_answers(&self) {
        loop {
            self.shared.answered.notified().await;
            let answers = std::mem::take(&mut *lock(&self.shared.answers));
            for (reply, decision) in answers {
                // The requester may have gone (client disconnected); the use is recorded.
                let _ = reply.send(decision);
            }
        }
    }

    /// Decides `check` on a verifier thread. An error (the database failing, or the
    /// verifiers gone) means: deny.
    pub async fn verify(&self, check: Check) -> Result<Decision> {
        let (reply, answer) = oneshot::channel();
        let wake = {
            let mut queue = lock(&self.shared.queue);
            if queue.closed {
                return Err(anyhow!("the verifier threads have stopped"));
            }
            queue.jobs.push_back(Job { check, reply });
            queue.idle > 0
        };
        if wake {
            self.shared.work.notify_one();
        }
        answer
            .await
            .map_err(|_| anyhow!("a verifier thread stopped while checking"))?
    }

    /// Whether the threads are working (none has panicked).
    pub fn healthy(&self) -> bool {
        !lock(&self.shared.queue).failed
    }

    /// Lets the threads finish the checks already queued, and waits for them.
    pub fn stop(&self) {
        lock(&self.shared.queue).closed = true;
        self.shared.work.notify_all();
        let threads = std::mem::take(&mut *lock(&self.threads));
        for t in threads {
            let _ = t.join();
        }
    }
}

impl Drop for Verifiers {
    /// Without [`stop`](Verifiers::stop) (a start-up error), the threads still end.
    fn drop(&mut self) {
        lock(&self.shared.queue).closed = true;
        self.shared.work.notify_all();
    }
}

/// If a verifier thread panics, every waiting and later check is refused (503) rather
/// than left hanging, and `/healthz` says so.
struct PanicGuard<'a>(&'a Shared);

impl Drop for PanicGuard<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            super::log(
                "a verifier thread panicked: denying every request from now on; restart the server",
            );
            let mut queue = lock(&self.0.queue);
            queue.closed = true;
            queue.failed = true;
            // Dropping the jobs drops their reply senders: their requests get 503.
            queue.jobs.clear();
        }
    }
}

fn work(mut verifier: Verifier, shared: &Shared, env: &str) {
    let _guard = PanicGuard(shared);
    batch_scheduling();
    loop {
        let batch: Vec<Job> = {
            let mut queue = lock(&shared.queue);
            while queue.jobs.is_empty() {
                if queue.closed {
                    return;
                }
                queue.idle += 1;
                queue = shared.work.wait(queue).unwrap_or_else(|e| e.into_inner());
                queue.idle -= 1;
            }
            let n = queue.jobs.len().min(BATCH);
            queue.jobs.drain(..n).collect()
        };
        // One snapshot for the batch: every check in it arrived before it is taken.
        let (checks, replies): (Vec<Check>, Vec<_>) =
            batch.into_iter().map(|j| (j.check, j.reply)).unzip();
        let requests: Vec<Request<'_>> = checks
            .iter()
            .map(|check| {
                let mut request = Request::new(check.token.as_bytes()).env(env);
                request.scope = check.scope.as_ref();
                request.unmapped = check.scope.is_none();
                request.ip = check.ip;
                request
            })
            .collect();
        let decisions = verifier.verify_all_at(&requests, crate::clock::now());
        let answers: Vec<Answer> = replies.into_iter().zip(decisions).collect();
        lock(&shared.answers).extend(answers);
        shared.answered.notify_one();
    }
}

/// `SCHED_BATCH`: same share of the CPU, but a wake-up does not preempt the thread that
/// is running (the runtime, on a single CPU), so checks arrive in batches. Best effort:
/// without it the server is merely slower.
fn batch_scheduling() {
    #[cfg(target_os = "linux")]
    // SAFETY: sched_setscheduler with pid 0 changes only the calling thread's policy
    // and reads nothing but the parameter struct passed by reference.
    unsafe {
        let param = libc::sched_param { sched_priority: 0 };
        libc::sched_setscheduler(0, libc::SCHED_BATCH, &param);
    }
}
