//! A few threads, each with its own [`Verifier`] (one SQLite connection), that answer
//! the async side's checks so that no database call ever runs on the runtime.
//!
//! Checks wait in one bounded queue that every thread takes from: a thread held up by
//! the disk delays only the check it holds, and a flood of requests waits in the queue
//! (bounded memory) instead of piling up threads. All verifiers record into the one
//! shared [`UsageBuffer`] that the flusher commits.

use std::net::IpAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use anyhow::{Context as _, Result, anyhow};
use tokio::sync::oneshot;

use super::forwarded::Bearer;
use crate::scope::Scope;
use crate::store::{OpenMode, Store};
use crate::usage::UsageBuffer;
use crate::verify::{Decision, Request, Verifier};

/// Checks that may wait for a thread before senders wait too.
const QUEUE_LEN: usize = 1024;

/// One request to decide.
#[derive(Debug)]
pub struct Check {
    pub token: Bearer,
    /// `None`: the request maps to no scope.
    pub scope: Option<Scope>,
    pub ip: Option<IpAddr>,
}

struct Job {
    check: Check,
    reply: oneshot::Sender<Result<Decision>>,
}

pub struct Verifiers {
    queue: async_channel::Sender<Job>,
    threads: Mutex<Vec<JoinHandle<()>>>,
}

impl Verifiers {
    /// Opens `count` connections (all before returning: a database that cannot be opened
    /// stops the server before it listens) and starts a thread for each.
    pub fn start(db: &Path, count: usize, env: &str, usage: &Arc<UsageBuffer>) -> Result<Self> {
        let (queue, jobs) = async_channel::bounded::<Job>(QUEUE_LEN);
        let mut verifiers = Vec::with_capacity(count);
        for _ in 0..count {
            let store = Store::open(db, OpenMode::Existing)?;
            verifiers.push(Verifier::with_buffer(store, Arc::clone(usage)));
        }
        let mut threads = Vec::with_capacity(count);
        for (i, verifier) in verifiers.into_iter().enumerate() {
            let jobs = jobs.clone();
            let env = env.to_string();
            let thread = std::thread::Builder::new()
                .name(format!("tokenctl-verify-{i}"))
                .spawn(move || work(verifier, &jobs, &env))
                .context("cannot start a verifier thread")?;
            threads.push(thread);
        }
        Ok(Verifiers {
            queue,
            threads: Mutex::new(threads),
        })
    }

    /// Decides `check` on a verifier thread. An error (the database failing, or the
    /// verifiers gone) means: deny.
    pub async fn verify(&self, check: Check) -> Result<Decision> {
        let (reply, answer) = oneshot::channel();
        self.queue
            .send(Job { check, reply })
            .await
            .map_err(|_| anyhow!("the verifier threads have stopped"))?;
        answer
            .await
            .map_err(|_| anyhow!("a verifier thread stopped while checking"))?
    }

    /// Lets the threads finish the checks already queued, and waits for them.
    pub fn stop(&self) {
        self.queue.close();
        let threads = std::mem::take(&mut *self.threads.lock().unwrap_or_else(|e| e.into_inner()));
        for t in threads {
            let _ = t.join();
        }
    }
}

impl Drop for Verifiers {
    /// Without [`stop`](Verifiers::stop) (a start-up error), the threads still end.
    fn drop(&mut self) {
        self.queue.close();
    }
}

fn work(mut verifier: Verifier, jobs: &async_channel::Receiver<Job>, env: &str) {
    while let Ok(Job { check, reply }) = jobs.recv_blocking() {
        let mut request = Request::new(check.token.as_bytes()).env(env);
        request.scope = check.scope.as_ref();
        request.unmapped = check.scope.is_none();
        request.ip = check.ip;
        let decision = verifier.verify_at(&request, crate::clock::now());
        // The requester may have gone (client disconnected): the use is recorded anyway.
        let _ = reply.send(decision);
    }
}
