//! `tokenctl serve`: the forward-auth HTTP endpoint that nginx `auth_request`,
//! Caddy `forward_auth`, Traefik `ForwardAuth` and Envoy `ext_authz` ask about every
//! request's bearer token.
//!
//! Shape: a tokio runtime runs hyper (HTTP/1.1) and never touches SQLite; a few verifier
//! threads, one connection each, decide (see [`verifiers`]); a flusher thread commits the
//! shared usage buffer every second (see [`flusher`]).
//!
//! Why nothing can outlive a revocation: a request is decided from the token rows the
//! process has read only while the change signal proves that no credential changed since
//! they were read (see `verify::cache`); otherwise a verifier thread takes the requests
//! queued so far and decides them in one read snapshot that begins after all of them
//! arrived, and the store's contract (`store/backend.rs`) makes that snapshot see every
//! transaction committed before it began. Either way, a request that arrives after
//! `tokenctl revoke` has returned is denied.
//!
//! Fail closed: the database is opened before listening (a missing or unreadable one
//! stops the server with exit 1; a PostgreSQL server that cannot be reached yet is opened
//! once it can, and answered 503 until then), and any error while verifying answers 503,
//! never 200.
//! SIGTERM and SIGINT stop accepting, let requests in progress finish, commit the
//! recorded usage and exit 0.
//!
//! Decided on what the upstream will see: a request that common servers can read
//! differently (its path, a method override, disagreeing copies of a header) is denied
//! (see [`uri`], [`mapping`], [`forwarded`]). Bounded for any local process: each
//! connection's head and idle time, and the number held, fairly (see [`connections`]).

pub mod connections;
pub mod endpoints;
pub mod flusher;
pub mod form;
pub mod forwarded;
pub mod glob;
mod introspect;
pub mod mapping;
pub mod metrics;
mod revoke;
pub mod rules;
pub mod throttle;
pub mod uri;
pub mod verifiers;

use std::net::{IpAddr, SocketAddr, TcpListener as StdListener};
use std::path::PathBuf;
use std::sync::atomic::AtomicI64;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context as _, Result};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use hyper_util::server::graceful::GracefulShutdown;
use ipnet::IpNet;
use tokio::net::TcpListener;
use tokio::signal::unix::{SignalKind, signal};

use crate::store::Store;
use crate::usage::UsageBuffer;
use connections::{Connections, Limits, Ticket, Watched};
use endpoints::App;
use flusher::Flusher;
use metrics::Metrics;
use revoke::Revocations;
use rules::Rules;
use throttle::{REVOCATIONS_PER_MINUTE, Throttle};
use uri::UriPolicy;
use verifiers::Verifiers;

/// Largest request head accepted (request line and headers), however its bytes arrive;
/// larger gets 431. With the connection limit, this bounds the memory garbage requests
/// can take. hyper also refuses more than 100 header lines with 431.
const MAX_HEAD_BYTES: usize = 64 * 1024;
/// How long requests in progress may take to finish after SIGTERM.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// How `serve` runs, with every value already checked.
#[derive(Debug)]
pub struct Config {
    pub db: crate::store::Location,
    pub listen: SocketAddr,
    pub env: String,
    pub rules: Rules,
    /// Where the rules came from, for the start-up message.
    pub rules_file: Option<PathBuf>,
    pub uri_policy: UriPolicy,
    pub trusted_proxies: Vec<IpNet>,
    /// 429, or 403 for nginx's auth_request (`--rate-limited-status`).
    pub rate_limited_status: hyper::StatusCode,
    pub limits: Limits,
}

/// A line on stderr (journald adds the time).
pub(crate) fn log(msg: &str) {
    eprintln!("{msg}");
}

/// Runs the server until SIGTERM or SIGINT; returns after the last usage commit.
/// `notice` shows informational lines (the command silences it with `--quiet`); the
/// listening address and errors are always printed.
pub fn run(mut config: Config, notice: &dyn Fn(&str)) -> Result<()> {
    no_core_dumps();
    config.limits.max_connections = fit_open_files(config.limits.max_connections);
    let parallelism = std::thread::available_parallelism().map_or(1, |n| n.get());
    let usage = Arc::new(UsageBuffer::new());
    let metrics = Arc::new(Metrics::new());
    // Every connection is opened before listening, so a missing, foreign or unreadable
    // database stops the server here instead of denying (or worse) later. A PostgreSQL
    // server that cannot be reached yet is no reason not to start: until it is reached
    // (and its schema checked) every request is denied with 503.
    let (health, unreached) = Store::open_serving(&config.db, true)?;
    if let Some(e) = &unreached {
        log(&format!(
            "the database cannot be reached yet: answering 503 until it can: {e:#}"
        ));
    }
    let connect_now = unreached.is_none();
    let verifiers = Verifiers::start(
        &config.db,
        connect_now,
        verifier_threads(parallelism),
        &config.env,
        &usage,
    )?;
    let revocations = Revocations::new(
        Store::open_serving(&config.db, connect_now)?.0,
        Throttle::new(REVOCATIONS_PER_MINUTE, throttle::MAX_ADDRESSES),
    );
    let flusher = Flusher::start(
        Store::open_serving(&config.db, connect_now)?.0,
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
        uri_policy: config.uri_policy,
        trusted_proxies: config.trusted_proxies.clone(),
        rate_limited_status: config.rate_limited_status,
        verifiers,
        usage: Arc::clone(&usage),
        metrics,
        health: Arc::new(Mutex::new(health)),
        last_error_log: AtomicI64::new(0),
        revocations,
        body_timeout: config.limits.header_timeout,
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

/// Presented tokens pass through this process's memory (hyper's read buffer of each
/// connection holds the request head until the next request overwrites it or the
/// connection closes): a core dump would write them to disk, and a non-dumpable process
/// cannot be read through ptrace or /proc/PID/mem by another process of the same user.
/// Best effort: a failure leaves the process as it was.
fn no_core_dumps() {
    #[cfg(target_os = "linux")]
    // SAFETY: PR_SET_DUMPABLE takes plain integers; setrlimit reads the struct passed by
    // reference. Neither touches memory of ours otherwise.
    unsafe {
        libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0);
        let none = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        libc::setrlimit(libc::RLIMIT_CORE, &none);
    }
}

/// File descriptors kept for the database, the listener and the runtime.
const SPARE_FILES: u64 = 64;

/// Raises the soft limit on open files to the hard one, and returns how many connections
/// fit under it: past the limit, accept() would fail and new connections would wait in
/// the kernel's queue, the very stall the connection limit prevents.
fn fit_open_files(wanted: usize) -> usize {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit and setrlimit read or write only the struct passed.
    let soft = unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 {
            return wanted;
        }
        if limit.rlim_cur < limit.rlim_max {
            let raised = libc::rlimit {
                rlim_cur: limit.rlim_max,
                rlim_max: limit.rlim_max,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                limit.rlim_cur = limit.rlim_max;
            }
        }
        limit.rlim_cur
    };
    let fits = usize::try_from(soft.saturating_sub(SPARE_FILES)).unwrap_or(usize::MAX);
    if fits < wanted {
        log(&format!(
            "warning: {soft} open files allowed (ulimit -n): holding at most {fits} connections instead of --max-connections {wanted}"
        ));
        return fits.max(1);
    }
    wanted
}

/// Verifier threads: one per CPU (SQLite reads in WAL mode run in parallel), at most 8.
/// On one CPU a second thread only adds context switches and lock contention: measured
/// with bench/serve.sh, one thread answers more requests with a lower p99.
fn verifier_threads(parallelism: usize) -> usize {
    parallelism.clamp(1, 8)
}

/// Threads for the runtime's blocking work: `/revoke` and `/healthz`, each of which waits
/// for its one store behind a mutex. More would only wait too, each with its stack and
/// its allocator's heap (tokio's default of 512 let a flood of `/revoke` from many
/// addresses grow memory by tens of MiB); their requests queue instead.
const BLOCKING_THREADS: usize = 4;

/// `SCHED_BATCH` for the calling thread (a verifier or the flusher): same share of the
/// CPU, but its wake-up does not preempt the thread that is running (the runtime, on a
/// single CPU), which goes on answering; for the verifiers, questions then arrive in
/// batches. Best effort: without it the server is merely slower.
fn batch_scheduling() {
    #[cfg(target_os = "linux")]
    // SAFETY: sched_setscheduler with pid 0 changes only the calling thread's policy
    // and reads nothing but the parameter struct passed by reference.
    unsafe {
        let param = libc::sched_param { sched_priority: 0 };
        libc::sched_setscheduler(0, libc::SCHED_BATCH, &param);
    }
}

/// How many tasks the runtime polls before it asks the kernel for new events (tokio's
/// default is 61): enough to answer every connection that was ready at once, each polled
/// twice (an answer waits a turn, see `App::handle`), before the next ones are read. At
/// 256 connections under bench/serve.sh's load, 6% more requests a second than with 61
/// (2,048 did no better). The longest a timer can wait for it is that many polls.
const EVENT_INTERVAL: u32 = 512;

/// One CPU: a single-threaded runtime (no cross-thread wake-ups); more: one worker each,
/// up to 4 (the verifiers, not HTTP parsing, are the work). Public for
/// `examples/hyper_floor.rs`, the floor of this stack, which must be set up the same way.
#[doc(hidden)]
pub fn runtime(parallelism: usize) -> Result<tokio::runtime::Runtime> {
    let mut builder = if parallelism == 1 {
        tokio::runtime::Builder::new_current_thread()
    } else {
        let mut b = tokio::runtime::Builder::new_multi_thread();
        b.worker_threads(parallelism.min(4));
        b
    };
    builder
        .enable_all()
        .max_blocking_threads(BLOCKING_THREADS)
        .event_interval(EVENT_INTERVAL)
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
    log(&format!("listening on {}", listener.local_addr()?));
    announce(&app, config, notice);
    let http = http_builder();
    let answers = Arc::clone(&app);
    tokio::spawn(async move { answers.verifiers.deliver_answers().await });
    let graceful = GracefulShutdown::new();
    let connections = Connections::new(config.limits);
    let why = loop {
        let accepted = tokio::select! {
            biased;
            _ = terminate.recv() => break "SIGTERM",
            _ = interrupt.recv() => break "SIGINT",
            accepted = async {
                let (stream, peer) = listener.accept().await?;
                let ticket = connections.admit(peer.ip().to_canonical()).await;
                std::io::Result::Ok((ticket, stream, peer))
            } => accepted,
        };
        match accepted {
            Ok((ticket, stream, peer)) => {
                let serving = Serving {
                    http: &http,
                    graceful: &graceful,
                    app: &app,
                    limits: config.limits,
                };
                serving.spawn(ticket, stream, peer.ip());
            }
            Err(e) => {
                // Out of file descriptors and the like: wait a moment rather than spin.
                log(&format!("cannot accept a connection: {e}"));
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
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

/// The informational lines at start-up: what is accepted, and the connection limits.
fn announce(app: &App, config: &Config, notice: &dyn Fn(&str)) {
    let rules = match &config.rules_file {
        None => "the /api/<module>/ convention".to_string(),
        Some(file) => format!("{} rules in {}", app.rules.len(), file.display()),
    };
    let trusted: Vec<String> = app.trusted_proxies.iter().map(|n| n.to_string()).collect();
    let uris = match config.uri_policy {
        UriPolicy::Strict => "ambiguous URIs denied",
        UriPolicy::Normalize => "URIs normalised as the proxy does (--ambiguous-uris normalize)",
    };
    notice(&format!(
        "accepting {} tokens; scopes from {rules}; {uris}; client addresses from X-Real-IP or X-Forwarded-For only when the peer is in {}",
        config.env,
        trusted.join(", ")
    ));
    notice(&format!(
        "at most {} connections; request heads within {}s, idle connections closed after {}s",
        config.limits.max_connections,
        config.limits.header_timeout.as_secs_f64(),
        config.limits.idle_timeout.as_secs_f64()
    ));
}

/// hyper's HTTP/1 options for serve's connections. Public for `examples/hyper_floor.rs`.
#[doc(hidden)]
pub fn http_builder() -> http1::Builder {
    let mut http = http1::Builder::new();
    // The timeouts are the watchdog's (see `connections`): hyper's header timer, armed
    // per request, would cost more and cannot tell idle from slow.
    http.header_read_timeout(None)
        // Both: max_buf_size alone is checked only before a read, so one read could
        // complete a head of up to twice the limit; max_header_size counts the head.
        .max_header_size(MAX_HEAD_BYTES)
        .max_buf_size(MAX_HEAD_BYTES)
        // Responses are a small head and no body: one plain write() each is cheaper than
        // writev() (measured with bench/serve.sh).
        .writev(false);
    http
}

/// What serving an accepted connection needs.
struct Serving<'a> {
    http: &'a http1::Builder,
    graceful: &'a GracefulShutdown,
    app: &'a Arc<App>,
    limits: Limits,
}

impl Serving<'_> {
    /// Serves the connection in a task of its own, watched by another that closes it
    /// when it stays silent too long (see `connections`).
    fn spawn(self, ticket: Ticket, stream: tokio::net::TcpStream, peer_ip: IpAddr) {
        let _ = stream.set_nodelay(true);
        let metrics = Arc::clone(&self.app.metrics);
        let app = Arc::clone(self.app);
        let phase = Arc::clone(&ticket.phase);
        let conn = self.http.serve_connection(
            TokioIo::new(Watched::new(stream, Arc::clone(&phase))),
            service_fn(move |req| {
                phase.busy();
                // Not inside the async block: its future, which hyper moves for every
                // request, would then hold the request too.
                let answering = app.handle(req, peer_ip);
                let phase = Arc::clone(&phase);
                async move {
                    let answer = answering.await;
                    phase.idle();
                    answer
                }
            }),
        );
        let conn = self.graceful.watch(conn);
        let limits = self.limits;
        metrics.connection_opened();
        // The watchdog is a task of its own: in one select! with the connection, it would
        // be polled on every wake-up of the connection, that is several times a request.
        let mut served = tokio::spawn(conn);
        tokio::spawn(async move {
            let closed = tokio::select! {
                _ = &mut served => None,
                why = ticket.phase.watch(limits) => {
                    // Dropping the connection closes its socket.
                    served.abort();
                    Some(why)
                }
            };
            metrics.connection_ended(closed);
            drop(ticket);
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connections_fit_under_the_open_files_limit() {
        assert_eq!(fit_open_files(10), 10);
        let fits = fit_open_files(usize::MAX);
        let mut limit = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit writes only the struct passed.
        assert_eq!(
            unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) },
            0
        );
        // Raised to the hard limit, and room kept for everything else.
        assert_eq!(limit.rlim_cur, limit.rlim_max);
        assert_eq!(
            fits as u64,
            limit.rlim_cur.saturating_sub(SPARE_FILES).max(1)
        );
    }
}
