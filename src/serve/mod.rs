//! `tokenctl serve`: the forward-auth HTTP endpoint (SPEC §8) that nginx `auth_request`,
//! Caddy `forward_auth`, Traefik `ForwardAuth` and Envoy `ext_authz` ask about every
//! request's bearer token.
//!
//! Shape: a tokio runtime runs hyper (HTTP/1.1) and never touches SQLite; a few verifier
//! threads, one connection each, decide (see [`verifiers`]); a flusher thread commits the
//! shared usage buffer every second (see [`flusher`]).
//!
//! Why nothing can outlive a revocation: a verifier thread takes the requests queued so
//! far and decides them in one read transaction that begins after all of them arrived;
//! SQLite in WAL mode lets it see every transaction committed before it began, so a
//! request that arrives after `tokenctl revoke` has returned is denied. Token rows are
//! reused between batches only while `PRAGMA data_version`, read in that same
//! transaction, shows that no other connection has committed since (see
//! [`Verifier::verify_all_at`](crate::verify::Verifier::verify_all_at)).
//!
//! Fail closed: the database is opened before listening (a missing or unreadable one
//! stops the server with exit 1), and any error while verifying answers 503, never 200.
//! SIGTERM and SIGINT stop accepting, let requests in progress finish, commit the
//! recorded usage and exit 0.

pub mod endpoints;
pub mod flusher;
pub mod forwarded;
pub mod metrics;
pub mod rules;
pub mod verifiers;

use std::net::{SocketAddr, TcpListener as StdListener};
use std::path::PathBuf;
use std::sync::atomic::AtomicI64;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context as _, Result};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use ipnet::IpNet;
use tokio::net::TcpListener;
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::Semaphore;

use crate::store::{OpenMode, Store};
use crate::usage::UsageBuffer;
use endpoints::App;
use flusher::Flusher;
use metrics::Metrics;
use rules::Rules;
use verifiers::Verifiers;

/// Open connections served at once (well below the usual limit of 1024 open files);
/// more wait in the kernel's accept queue. With the header limit below, this bounds the
/// memory garbage requests can take.
const MAX_CONNECTIONS: usize = 512;
/// Largest request head accepted (request line and headers); larger gets 431.
const MAX_HEAD_BYTES: usize = 64 * 1024;
/// Unless listening on loopback only, a client must send its request head within this
/// time, or the connection is closed; it is also how long an idle keep-alive connection
/// stays open: longer than nginx's default upstream `keepalive_timeout` (60s), so that
/// nginx, not us, closes idle ones. On loopback the only clients are local proxies, and
/// the timer it costs on every request (hyper arms one per request head) is skipped.
const HEAD_TIMEOUT: Duration = Duration::from_secs(75);
/// How long requests in progress may take to finish after SIGTERM.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// How `serve` runs, with every value already checked.
#[derive(Debug)]
pub struct Config {
    pub db: PathBuf,
    pub listen: SocketAddr,
    pub env: String,
    pub rules: Rules,
    /// Where the rules came from, for the start-up message.
    pub rules_file: Option<PathBuf>,
    pub trusted_proxies: Vec<IpNet>,
}

/// A line on stderr (journald adds the time).
pub(crate) fn log(msg: &str) {
    eprintln!("{msg}");
}

/// Runs the server until SIGTERM or SIGINT; returns after the last usage commit.
/// `notice` shows informational lines (the command silences it with `--quiet`); the
/// listening address and errors are always printed.
pub fn run(config: Config, notice: &dyn Fn(&str)) -> Result<()> {
    let parallelism = std::thread::available_parallelism().map_or(1, |n| n.get());
    let usage = Arc::new(UsageBuffer::new());
    let metrics = Arc::new(Metrics::new());
    // Every connection is opened before listening, so a missing, foreign or unreadable
    // database stops the server here instead of denying (or worse) later.
    let verifiers = Verifiers::start(
        &config.db,
        verifier_threads(parallelism),
        &config.env,
        &usage,
    )?;
    let health = Store::open(&config.db, OpenMode::Existing)?;
    let flusher = Flusher::start(
        Store::open(&config.db, OpenMode::Existing)?,
        Arc::clone(&usage),
        Arc::clone(&metrics),
    )?;
    let listener = StdListener::bind(config.listen)
        .with_context(|| format!("cannot listen on {}", config.listen))?;
    listener.set_nonblocking(true)?;
    if !config.listen.ip().is_loopback() {
        log(&format!(
            "warning: listening on {}, not only on loopback: anyone who can reach it can test tokens against it",
            config.listen
        ));
    }

    let app = Arc::new(App {
        rules: config.rules.clone(),
        trusted_proxies: config.trusted_proxies.clone(),
        verifiers,
        usage: Arc::clone(&usage),
        metrics,
        health: Arc::new(Mutex::new(health)),
        last_error_log: AtomicI64::new(0),
    });
    let runtime = runtime(parallelism)?;
    let served = runtime.block_on(serve(listener, Arc::clone(&app), &config, notice));
    // Connections the grace period gave up on are dropped here; their requests were
    // not answered.
    runtime.shutdown_timeout(Duration::from_secs(1));
    app.verifiers.stop();
    let last = flusher
        .stop()
        .context("usage of the last second was not recorded")?;
    served?;
    notice(&format!("stopped; committed the last {last} buffered uses"));
    Ok(())
}

/// Verifier threads: one per CPU (SQLite reads in WAL mode run in parallel), at most 8.
/// On one CPU a second thread only adds context switches and lock contention: measured
/// with bench/serve.sh, one thread answers more requests with a lower p99.
fn verifier_threads(parallelism: usize) -> usize {
    parallelism.clamp(1, 8)
}

/// One CPU: a single-threaded runtime (no cross-thread wake-ups); more: one worker each,
/// up to 4 (the verifiers, not HTTP parsing, are the work).
fn runtime(parallelism: usize) -> Result<tokio::runtime::Runtime> {
    let mut builder = if parallelism == 1 {
        tokio::runtime::Builder::new_current_thread()
    } else {
        let mut b = tokio::runtime::Builder::new_multi_thread();
        b.worker_threads(parallelism.min(4));
        b
    };
    builder
        .enable_all()
        .thread_name("tokenctl-http")
        .build()
        .context("cannot start the async runtime")
}

async fn serve(
    listener: StdListener,
    app: Arc<App>,
    config: &Config,
    notice: &dyn Fn(&str),
) -> Result<()> {
    // Handlers first: a SIGTERM that arrives right after "listening" must not kill the
    // process before it flushes.
    let mut terminate = signal(SignalKind::terminate())?;
    let mut interrupt = signal(SignalKind::interrupt())?;
    let listener = TcpListener::from_std(listener)?;
    let local = listener.local_addr()?;
    log(&format!("listening on {local}"));
    let rules = match &config.rules_file {
        None => "the /api/<module>/ convention".to_string(),
        Some(file) => format!("{} rules in {}", app.rules.len(), file.display()),
    };
    let trusted: Vec<String> = app.trusted_proxies.iter().map(|n| n.to_string()).collect();
    notice(&format!(
        "accepting {} tokens; scopes from {rules}; client addresses from X-Real-IP or X-Forwarded-For only when the peer is in {}",
        config.env,
        trusted.join(", ")
    ));

    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout((!local.ip().is_loopback()).then_some(HEAD_TIMEOUT))
        .max_buf_size(MAX_HEAD_BYTES)
        // Responses are a small head and no body: one plain write() each is cheaper than
        // writev() (measured with bench/serve.sh).
        .writev(false);
    let answers = Arc::clone(&app);
    tokio::spawn(async move { answers.verifiers.deliver_answers().await });
    let graceful = GracefulShutdown::new();
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let why = loop {
        let accepted = tokio::select! {
            biased;
            _ = terminate.recv() => break "SIGTERM",
            _ = interrupt.recv() => break "SIGINT",
            accepted = async {
                let slot = Arc::clone(&slots).acquire_owned().await;
                (slot, listener.accept().await)
            } => accepted,
        };
        let (slot, (stream, peer)) = match accepted {
            (Ok(slot), Ok(connection)) => (slot, connection),
            (Ok(_), Err(e)) => {
                // Out of file descriptors and the like: wait a moment rather than spin.
                log(&format!("cannot accept a connection: {e}"));
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
            // The semaphore is never closed.
            (Err(_), _) => continue,
        };
        let _ = stream.set_nodelay(true);
        let app = Arc::clone(&app);
        let peer_ip = peer.ip();
        let conn = http.serve_connection(
            TokioIo::new(stream),
            service_fn(move |req| Arc::clone(&app).handle(req, peer_ip)),
        );
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            let _ = conn.await;
            drop(slot);
        });
    };
    drop(listener);
    notice(&format!(
        "{why}: stopped listening; finishing {} open connections",
        graceful.count()
    ));
    if tokio::time::timeout(SHUTDOWN_GRACE, graceful.shutdown())
        .await
        .is_err()
    {
        log(&format!(
            "gave up waiting for connections after {}s",
            SHUTDOWN_GRACE.as_secs()
        ));
    }
    Ok(())
}
