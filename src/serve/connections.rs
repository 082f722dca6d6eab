//! Which connections `serve` holds, and for how long: the header-read and idle timeouts
//! and a connection limit that one peer cannot fill.
//!
//! Every connection is in one of three phases: waiting for a request head (from the
//! connection's start, or from the first byte of a later request), idle between requests,
//! or busy with a request. A watchdog task per connection closes it when a head has not
//! arrived within the header timeout (however slowly its bytes trickle in) or when it has
//! been idle longer than the idle timeout; a busy connection is never closed (its request
//! waits only for the database). The watchdog wakes four times per timeout and closes
//! a phase it has seen unchanged for a whole timeout, so a request costs two atomic
//! stores, no timer and no clock reading (profiled under bench/serve.sh's load, two
//! clock readings a request took about 2.5% of the server's time).
//!
//! When every slot is taken, a new connection is not left in the kernel's queue: the
//! oldest connection that is not busy, of the peer address holding the most
//! connections, is closed to make room. A peer that opens hundreds of idle or trickling
//! connections thus loses its own first, and `/healthz` and a proxy's new connections are
//! still served. (Peers on one machine share an address: then the oldest waiting
//! connection goes, whoever holds it.)
//!
//! This module never reads a request: it only sees that bytes arrived.

use std::collections::HashMap;
use std::io;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::Notify;

use super::metrics::Closed;

/// How long connections may wait, and how many may be open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// From a connection's start, or a request's first byte, to the end of its head.
    pub header_timeout: Duration,
    /// Between the end of a response and the first byte of the next request.
    pub idle_timeout: Duration,
    pub max_connections: usize,
}

const HEAD: u64 = 0;
const IDLE: u64 = 1;
const BUSY: u64 = 2;
/// Looks per timeout: a phase ends between one timeout and 1¼ of it after it began.
const LOOKS: u32 = 4;

/// One connection's phase, shared by its socket wrapper, its request handler and its
/// watchdog: a generation count times four plus the phase, so that a request costs two
/// atomic stores and no clock reading.
#[derive(Debug)]
pub struct Phase {
    state: AtomicU64,
    evict: Notify,
}

impl Phase {
    fn new() -> Phase {
        Phase {
            state: AtomicU64::new(HEAD),
            evict: Notify::new(),
        }
    }

    /// Only the connection's own task writes (its socket and its handler run there).
    fn set(&self, phase: u64) {
        let generation = self.state.load(Ordering::Relaxed) >> 2;
        self.state
            .store(((generation + 1) << 2) | phase, Ordering::Release);
    }

    /// A request head is complete and is being answered.
    pub fn busy(&self) {
        self.set(BUSY);
    }

    /// The answer is out: waiting for the next request.
    pub fn idle(&self) {
        self.set(IDLE);
    }

    fn bytes_arrived(&self) {
        if self.state.load(Ordering::Relaxed) & 3 == IDLE {
            self.set(HEAD);
        }
    }

    fn read(&self) -> u64 {
        self.state.load(Ordering::Acquire)
    }

    /// Resolves when the connection must be closed, and says why: the watchdog looks
    /// [`LOOKS`] times per timeout and closes a phase it has seen unchanged for a whole
    /// timeout.
    pub async fn watch(&self, limits: Limits) -> Closed {
        let mut seen = self.read();
        let mut unchanged = 0;
        loop {
            let timeout = match seen & 3 {
                HEAD => limits.header_timeout,
                _ => limits.idle_timeout,
            };
            tokio::select! {
                _ = tokio::time::sleep(timeout / LOOKS) => {}
                _ = self.evict.notified() => return Closed::Evicted,
            }
            let now = self.read();
            if now != seen || now & 3 == BUSY {
                seen = now;
                unchanged = 0;
                continue;
            }
            unchanged += 1;
            if unchanged >= LOOKS {
                return if now & 3 == HEAD {
                    Closed::HeaderTimeout
                } else {
                    Closed::IdleTimeout
                };
            }
        }
    }
}

struct Entry {
    peer: IpAddr,
    phase: Arc<Phase>,
}

/// The open connections.
pub struct Connections {
    limits: Limits,
    slots: Mutex<Slots>,
    freed: Notify,
}

#[derive(Default)]
struct Slots {
    next_id: u64,
    open: HashMap<u64, Entry>,
}

/// A connection's slot; dropping it frees the slot.
pub struct Ticket {
    connections: Arc<Connections>,
    id: u64,
    pub phase: Arc<Phase>,
}

impl Drop for Ticket {
    fn drop(&mut self) {
        self.connections.lock().open.remove(&self.id);
        self.connections.freed.notify_one();
    }
}

impl Connections {
    pub fn new(limits: Limits) -> Arc<Connections> {
        Arc::new(Connections {
            limits,
            slots: Mutex::new(Slots::default()),
            freed: Notify::new(),
        })
    }

    pub fn limits(&self) -> Limits {
        self.limits
    }

    fn lock(&self) -> MutexGuard<'_, Slots> {
        self.slots.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A place for a new connection from `peer`: at once while slots are free, else by
    /// closing a waiting connection of the peer holding most; only when every connection
    /// is busy does it wait for one to end.
    pub async fn admit(self: &Arc<Self>, peer: IpAddr) -> Ticket {
        loop {
            let freed = self.freed.notified();
            {
                let mut slots = self.lock();
                if slots.open.len() >= self.limits.max_connections
                    && let Some(entry) = victim(&slots.open).and_then(|v| slots.open.remove(&v))
                {
                    entry.phase.evict.notify_one();
                }
                if slots.open.len() < self.limits.max_connections {
                    let phase = Arc::new(Phase::new());
                    let id = slots.next_id;
                    slots.next_id += 1;
                    slots.open.insert(
                        id,
                        Entry {
                            peer,
                            phase: Arc::clone(&phase),
                        },
                    );
                    return Ticket {
                        connections: Arc::clone(self),
                        id,
                        phase,
                    };
                }
            }
            freed.await;
        }
    }
}

/// The connection to close for a newcomer: not busy, of the peer with the most open
/// connections, the oldest. `None` when every connection is busy.
fn victim(open: &HashMap<u64, Entry>) -> Option<u64> {
    let mut held: HashMap<IpAddr, usize> = HashMap::new();
    for entry in open.values() {
        *held.entry(entry.peer).or_default() += 1;
    }
    open.iter()
        .filter_map(|(id, entry)| {
            let busy = entry.phase.read() & 3 == BUSY;
            (!busy).then_some((held[&entry.peer], std::cmp::Reverse(*id)))
        })
        .max()
        .map(|(_, std::cmp::Reverse(id))| id)
}

/// A TCP stream that tells its [`Phase`] when request bytes arrive.
pub struct Watched {
    stream: TcpStream,
    phase: Arc<Phase>,
}

impl Watched {
    pub fn new(stream: TcpStream, phase: Arc<Phase>) -> Watched {
        Watched { stream, phase }
    }
}

impl AsyncRead for Watched {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.stream).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.phase.bytes_arrived();
        }
        polled
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(max: usize) -> Limits {
        Limits {
            header_timeout: Duration::from_secs(5),
            idle_timeout: Duration::from_secs(10),
            max_connections: max,
        }
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_full_table_closes_a_waiting_connection_of_the_largest_holder() {
        let connections = Connections::new(limits(4));
        let hoarder: IpAddr = "192.0.2.1".parse().unwrap();
        let proxy: IpAddr = "192.0.2.2".parse().unwrap();
        let first_proxy = connections.admit(proxy).await;
        first_proxy.phase.busy();
        let mut hoarded = Vec::new();
        for _ in 0..3 {
            hoarded.push(connections.admit(hoarder).await);
        }
        // Full: the proxy's next connection evicts the hoarder's oldest, not the proxy's.
        let second_proxy = connections.admit(proxy).await;
        let watch = hoarded[0].phase.watch(connections.limits());
        assert_eq!(
            tokio::time::timeout(Duration::from_secs(1), watch).await,
            Ok(Closed::Evicted)
        );
        assert_eq!(connections.lock().open.len(), 4);
        // Busy connections are never evicted: with all busy, a newcomer waits until one
        // ends.
        for t in hoarded[1..].iter().chain([&first_proxy, &second_proxy]) {
            t.phase.busy();
        }
        let waiting =
            tokio::time::timeout(Duration::from_millis(50), connections.admit(proxy)).await;
        assert!(waiting.is_err(), "admitted over the limit");
        drop(hoarded.pop());
        let admitted =
            tokio::time::timeout(Duration::from_secs(10), connections.admit(proxy)).await;
        assert!(admitted.is_ok());
    }

    #[tokio::test(flavor = "current_thread")]
    async fn timeouts_follow_the_phase() {
        let connections = Connections::new(Limits {
            header_timeout: Duration::from_millis(20),
            idle_timeout: Duration::from_millis(40),
            max_connections: 8,
        });
        let peer: IpAddr = "192.0.2.1".parse().unwrap();
        let t = connections.admit(peer).await;
        // A new connection must send its head within the header timeout.
        assert_eq!(
            t.phase.watch(connections.limits()).await,
            Closed::HeaderTimeout
        );
        t.phase.idle();
        assert_eq!(
            t.phase.watch(connections.limits()).await,
            Closed::IdleTimeout
        );
        t.phase.idle();
        t.phase.bytes_arrived();
        assert_eq!(
            t.phase.watch(connections.limits()).await,
            Closed::HeaderTimeout
        );
        t.phase.busy();
        let busy = tokio::time::timeout(
            Duration::from_millis(200),
            t.phase.watch(connections.limits()),
        );
        assert!(busy.await.is_err(), "a busy connection was closed");
    }
}
