//! A few threads, each with its own [`Verifier`] (one SQLite connection), that decide
//! the async side's questions about bearer tokens so that no database call ever runs on
//! the runtime. Two kinds of question are decided on the runtime instead, by the same
//! rules and recorded through the same [`Recorder`]: one without a bearer token, which
//! needs no database, and one whose token the threads' shared cache holds while the
//! change signal proves that cache current ([`CachedDecider`], see `verify::cache`),
//! which is most of them on a busy server. Everything is recorded into the one shared
//! [`UsageBuffer`] that the flusher commits.
//!
//! The hand-off is built to move questions in batches, because on a busy server the
//! cost of waking threads, not of SQLite, decides the throughput:
//!
//! - questions wait in one queue that every thread takes from (a thread held up by the
//!   disk delays only what it holds); a thread takes everything queued at once;
//! - the threads run as `SCHED_BATCH` on Linux: waking one never preempts the runtime,
//!   which queues the questions of every request that is ready before it yields the CPU;
//! - answers go back as one batch to one task on the runtime, which hands them out: one
//!   cross-thread wake-up per batch instead of one per request.
//!
//! The queue needs no limit of its own: HTTP/1.1 has at most one request in progress per
//! connection, and connections are limited.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;

use anyhow::{Context as _, Result, anyhow};
use tokio::sync::{Notify, oneshot};

use super::forwarded::Bearer;
use crate::store::Store;
use crate::usage::UsageBuffer;
use crate::verify::{
    CachedDecider, CredentialCache, Decision, Limiter, Question, Recorder, Verifier,
};

/// The most questions a thread takes at once; the rest stay for the other threads.
const BATCH: usize = 64;

/// A job's decisions: its question's, and its follow-up's when that was asked.
type Decided = (Result<Decision>, Option<Result<Decision>>);
type Answer = (oneshot::Sender<Decided>, Decided);

struct Job {
    question: Question<Bearer>,
    /// Asked only when `question` is allowed, by the same thread right after it
    /// (`/introspect`'s token after its caller's): one hand-off for both.
    then: Option<Question<Bearer>>,
    reply: oneshot::Sender<Decided>,
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
    /// The threads were stopped, or one panicked: the runtime decides nothing either.
    stopped: AtomicBool,
}

pub struct Verifiers {
    shared: Arc<Shared>,
    threads: Mutex<Vec<JoinHandle<()>>>,
    /// Records what is decided on the runtime, into the threads' buffer.
    recorder: Recorder,
    /// Decides from the threads' shared cache, on the runtime.
    cached: CachedDecider,
}

/// A poisoned lock only means another thread panicked; the data is still consistent
/// (every critical section here is a push or a take).
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The answer once the threads have stopped: an error, which denies.
fn stopped() -> Decided {
    (Err(anyhow!("the verifier threads have stopped")), None)
}

impl Verifiers {
    /// Opens `count` connections (all before returning: a database that cannot be opened
    /// stops the server before it listens), each for tokens of `env`, and starts a
    /// thread for each. A PostgreSQL server that cannot be reached (now, or without
    /// `connect_now` at all) is connected to on first use (see `Store::open_serving`).
    pub fn start(
        db: &crate::store::Location,
        connect_now: bool,
        count: usize,
        env: &str,
        usage: &Arc<UsageBuffer>,
    ) -> Result<Self> {
        let mut verifiers = Vec::with_capacity(count);
        // One allowance per token for the whole process: each limit is exact here.
        let limiter = Arc::new(Limiter::new());
        // One cache: a token read by one thread is known to all, and to the runtime.
        let cache = Arc::new(CredentialCache::default());
        for _ in 0..count {
            let (store, _) = Store::open_serving(db, connect_now)?;
            let verifier = Verifier::with_buffer(store, Arc::clone(usage))
                .for_env(env)
                .with_limiter(Arc::clone(&limiter))
                .with_cache(Arc::clone(&cache));
            verifiers.push(verifier);
        }
        let cached = verifiers
            .first()
            .context("no verifier thread to start")?
            .cached_decider();
        let shared = Arc::new(Shared::default());
        let mut threads = Vec::with_capacity(count);
        for (i, verifier) in verifiers.into_iter().enumerate() {
            let shared = Arc::clone(&shared);
            let thread = std::thread::Builder::new()
                .name(format!("tokenctl-verify-{i}"))
                .spawn(move || work(verifier, &shared, i == 0))
                .context("cannot start a verifier thread")?;
            threads.push(thread);
        }
        Ok(Verifiers {
            shared,
            threads: Mutex::new(threads),
            recorder: Recorder::new(Arc::clone(usage)),
            cached,
        })
    }

    /// Hands out the threads' answers; must run on the runtime for as long as questions
    /// are asked.
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

    /// Decides `question`: on a verifier thread when it presents a bearer token, here
    /// otherwise. An error (the database failing, or the verifiers gone) means: deny.
    pub async fn verify(&self, question: &Question<Bearer>) -> Result<Decision> {
        self.verify_then(question, None).await.0
    }

    /// Decides `question` as [`verify`](Self::verify) does, and `then` only if
    /// `question` is allowed (else `then` is neither decided nor recorded, and `None`).
    /// Borrowed: only a question that goes to a thread is copied, and most are decided
    /// here, from the cache.
    pub async fn verify_then(
        &self,
        question: &Question<Bearer>,
        then: Option<&Question<Bearer>>,
    ) -> Decided {
        match self.decide_now(question, then) {
            Some(decided) => decided,
            None => self.ask_thread(question, then).await,
        }
    }

    /// What can be decided without a thread, decided now: a question without a bearer
    /// token, one whose token the cache holds while the change signal proves it current,
    /// and any once the threads have stopped (an error). `None`: only a thread can
    /// decide it (see [`verify_then`](Self::verify_then)).
    pub fn decide_now(
        &self,
        question: &Question<Bearer>,
        then: Option<&Question<Bearer>>,
    ) -> Option<Decided> {
        let now = crate::clock::now();
        if let Some(decided) = self.recorder.decide_without_token(question, now) {
            return Some((Ok(decided), None));
        }
        if self.shared.stopped.load(Ordering::Acquire) {
            return Some(stopped());
        }
        let (first, second) = self.cached.try_decide(question, then, now)?;
        Some((Ok(first), second.map(Ok)))
    }

    /// Hands the question to a verifier thread and waits for its answer: for a question
    /// [`decide_now`](Self::decide_now) declined, without deciding it here again.
    pub async fn ask_thread(
        &self,
        question: &Question<Bearer>,
        then: Option<&Question<Bearer>>,
    ) -> Decided {
        let (reply, answer) = oneshot::channel();
        let wake = {
            let mut queue = lock(&self.shared.queue);
            if queue.closed {
                return stopped();
            }
            queue.jobs.push_back(Job {
                question: question.clone(),
                then: then.cloned(),
                reply,
            });
            queue.idle > 0
        };
        if wake {
            self.shared.work.notify_one();
        }
        answer.await.unwrap_or_else(|_| {
            (
                Err(anyhow!("a verifier thread stopped while deciding")),
                None,
            )
        })
    }

    /// Whether the threads are working (none has panicked).
    pub fn healthy(&self) -> bool {
        !lock(&self.shared.queue).failed
    }

    /// Lets the threads finish the questions already queued, and waits for them.
    pub fn stop(&self) {
        self.shared.stopped.store(true, Ordering::Release);
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

/// If a verifier thread panics, every waiting and later question is refused (503) rather
/// than left hanging, and `/healthz` says so.
struct PanicGuard<'a>(&'a Shared);

impl Drop for PanicGuard<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            super::log(
                "a verifier thread panicked: denying every request from now on; restart the server",
            );
            self.0.stopped.store(true, Ordering::Release);
            let mut queue = lock(&self.0.queue);
            queue.closed = true;
            queue.failed = true;
            // Dropping the jobs drops their reply senders: their requests get 503.
            queue.jobs.clear();
        }
    }
}

/// Decides batches until the queue is closed. The thread that `warms` also keeps the
/// shared cache warm while it waits (see `CredentialCache::warm`): every `WARM_EVERY`
/// while the runtime's fast path is being used, and not at all on an idle server (the
/// next question queued wakes it).
fn work(mut verifier: Verifier, shared: &Shared, warms: bool) {
    let _guard = PanicGuard(shared);
    super::batch_scheduling();
    loop {
        let batch: Vec<Job> = {
            let mut queue = lock(&shared.queue);
            let mut warming = warms;
            while queue.jobs.is_empty() {
                if queue.closed {
                    return;
                }
                queue.idle += 1;
                if !warming {
                    queue = shared.work.wait(queue).unwrap_or_else(|e| e.into_inner());
                    queue.idle -= 1;
                    continue;
                }
                let (mut waited, timeout) = shared
                    .work
                    .wait_timeout(queue, CredentialCache::WARM_EVERY)
                    .unwrap_or_else(|e| e.into_inner());
                waited.idle -= 1;
                queue = waited;
                if timeout.timed_out() && queue.jobs.is_empty() && !queue.closed {
                    drop(queue);
                    // A failure here only lets the window lapse: the next request then
                    // refreshes, and meets the error itself.
                    warming = verifier.warm_cache().unwrap_or(false);
                    queue = lock(&shared.queue);
                }
            }
            let n = queue.jobs.len().min(BATCH);
            queue.jobs.drain(..n).collect()
        };
        let answers = decide(&mut verifier, batch);
        lock(&shared.answers).extend(answers);
        shared.answered.notify_one();
    }
}

/// Decides a batch: its questions in one snapshot (every one of them arrived before it
/// is taken), then, in a second one, the follow-ups of those allowed.
fn decide(verifier: &mut Verifier, batch: Vec<Job>) -> Vec<Answer> {
    let mut questions = Vec::with_capacity(batch.len());
    let mut pending = Vec::with_capacity(batch.len());
    for job in batch {
        questions.push(job.question);
        pending.push((job.then, job.reply));
    }
    let firsts = verifier.verify_all_at(&questions, crate::clock::now());
    let mut follow_ups = Vec::new();
    let mut asked_by = Vec::new();
    for (i, ((then, _), first)) in pending.iter_mut().zip(&firsts).enumerate() {
        if matches!(first, Ok(Decision::Allowed(_)))
            && let Some(q) = then.take()
        {
            follow_ups.push(q);
            asked_by.push(i);
        }
    }
    let mut seconds: Vec<Option<Result<Decision>>> = pending.iter().map(|_| None).collect();
    if !follow_ups.is_empty() {
        let decided = verifier.verify_all_at(&follow_ups, crate::clock::now());
        for (i, d) in asked_by.into_iter().zip(decided) {
            seconds[i] = Some(d);
        }
    }
    pending
        .into_iter()
        .zip(firsts.into_iter().zip(seconds))
        .map(|((_, reply), decided)| (reply, decided))
        .collect()
}
