//! The server's metrics, in the Prometheus text format (0.0.4): requests by outcome and
//! reason, ambiguous requests by kind, `/introspect` and `/revoke` requests by result,
//! `/auth` latency, flushes and their duration, whether usage can be committed, buffered
//! uses, connections held and closed.
//!
//! Labels are fixed words (outcomes and denial reasons), never request data: no token,
//! name, path or address ever becomes a label, so a flood of garbage cannot grow the
//! registry. Every label combination is created at start-up, so counting a request is
//! one atomic add.

use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::encoding::prometheus_text;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::{Metric, Registry};

use crate::verify::{Ambiguity, Decision, DenyReason};

/// The counter of an `/auth` request that ended in `decided` (`None`: the database could
/// not answer): allowed first, then one per denial reason, then errors.
fn request_index(decided: Option<&Decision>) -> usize {
    match decided {
        Some(Decision::Allowed(_)) => 0,
        Some(Decision::Denied(d)) => {
            1 + DenyReason::ALL
                .iter()
                .position(|r| *r == d.reason)
                .unwrap_or_default()
        }
        None => 1 + DenyReason::ALL.len(),
    }
}

/// The `outcome` and `reason` labels of each counter, in [`request_index`] order.
fn request_labels() -> impl Iterator<Item = (&'static str, &'static str)> {
    let denied = DenyReason::ALL.iter().map(|r| ("denied", r.as_str()));
    std::iter::once(("allowed", "none"))
        .chain(denied)
        .chain(std::iter::once(("error", "storage")))
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    outcome: &'static str,
    reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct AmbiguityLabels {
    kind: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ClosedLabels {
    why: &'static str,
}

/// Why the server closed a connection itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Closed {
    /// No complete request head within the header timeout.
    HeaderTimeout,
    /// Idle between requests for longer than the idle timeout.
    IdleTimeout,
    /// Every slot was taken, and this was the idle connection of the peer holding most.
    Evicted,
}

impl Closed {
    const ALL: [Closed; 3] = [Closed::HeaderTimeout, Closed::IdleTimeout, Closed::Evicted];

    fn label(self) -> &'static str {
        match self {
            Closed::HeaderTimeout => "header_timeout",
            Closed::IdleTimeout => "idle_timeout",
            Closed::Evicted => "evicted",
        }
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct FlushLabels {
    result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabels {
    result: &'static str,
}

/// How an `/introspect` request ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Introspected {
    Active,
    Inactive,
    /// The caller's own token was missing or not valid (401).
    Unauthenticated,
    /// The caller's token may not introspect (403).
    Forbidden,
    /// The request itself was refused (400, 405, 408, 413, 415).
    InvalidRequest,
    /// The database could not answer (503).
    Error,
}

impl Introspected {
    const ALL: [Introspected; 6] = [
        Introspected::Active,
        Introspected::Inactive,
        Introspected::Unauthenticated,
        Introspected::Forbidden,
        Introspected::InvalidRequest,
        Introspected::Error,
    ];

    fn label(self) -> &'static str {
        match self {
            Introspected::Active => "active",
            Introspected::Inactive => "inactive",
            Introspected::Unauthenticated => "unauthenticated",
            Introspected::Forbidden => "forbidden",
            Introspected::InvalidRequest => "invalid_request",
            Introspected::Error => "error",
        }
    }
}

/// How a `/revoke` request ended. Whether a token was revoked is deliberately not among
/// them: `/metrics` is as reachable as `/revoke`, and would tell whoever revokes what
/// the answer hides (the admin event log has every revocation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Revoked {
    /// Answered 200: the token is revoked now, if it was one.
    Accepted,
    RateLimited,
    InvalidRequest,
    Error,
}

impl Revoked {
    const ALL: [Revoked; 4] = [
        Revoked::Accepted,
        Revoked::RateLimited,
        Revoked::InvalidRequest,
        Revoked::Error,
    ];

    fn label(self) -> &'static str {
        match self {
            Revoked::Accepted => "accepted",
            Revoked::RateLimited => "rate_limited",
            Revoked::InvalidRequest => "invalid_request",
            Revoked::Error => "error",
        }
    }
}

pub struct Metrics {
    registry: Registry,
    requests: Vec<Counter>,
    ambiguous: Vec<Counter>,
    latency: Histogram,
    connections: Gauge,
    closed: Vec<Counter>,
    introspections: Vec<Counter>,
    revocations: Vec<Counter>,
    usage: UsageMetrics,
}

/// Commits of buffered usage, and what waits in memory.
struct UsageMetrics {
    commit_failing: Gauge,
    flush_ok: Counter,
    flush_failed: Counter,
    flush_duration: Histogram,
    flushed_uses: Counter,
    buffered_uses: Gauge,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("tokenctl_serve");
        let r = &mut registry;
        let requests = counters(
            r,
            "requests",
            "Forward-auth requests answered, by outcome (allowed, denied, error) and reason",
            request_labels().map(|(outcome, reason)| RequestLabels { outcome, reason }),
        );
        let ambiguous = counters(
            r,
            "ambiguous_requests",
            "Forward-auth requests refused because readers disagree about them, by kind",
            Ambiguity::ALL.map(|a| AmbiguityLabels { kind: a.as_str() }),
        );
        let connections = registered(
            r,
            "connections",
            "Client connections open now",
            Gauge::default(),
        );
        let closed = counters(
            r,
            "connections_closed",
            "Connections the server closed itself, by why (header_timeout, idle_timeout, evicted)",
            Closed::ALL.map(|c| ClosedLabels { why: c.label() }),
        );
        // 50µs to ~1.6s.
        let latency = Histogram::new(exponential_buckets(0.000_05, 2.0, 16));
        let latency = registered(
            r,
            "request_duration_seconds",
            "Time to answer a forward-auth request",
            latency,
        );
        let introspections = counters(
            r,
            "introspection_requests",
            "/introspect requests answered, by result (active, inactive, unauthenticated, forbidden, invalid_request, error)",
            Introspected::ALL.map(|i| ResultLabels { result: i.label() }),
        );
        let revocations = counters(
            r,
            "revocation_requests",
            "/revoke requests answered, by result (accepted, rate_limited, invalid_request, error)",
            Revoked::ALL.map(|x| ResultLabels { result: x.label() }),
        );
        let usage = UsageMetrics::register(r);
        Metrics {
            introspections,
            revocations,
            registry,
            requests,
            ambiguous,
            latency,
            connections,
            closed,
            usage,
        }
    }

    /// Counts an `/auth` request that ended in `decided` (`None`: the database could not
    /// answer) by its outcome and reason.
    pub fn request(&self, decided: Option<&Decision>, took: Duration) {
        if let Some(c) = self.requests.get(request_index(decided)) {
            c.inc();
        }
        self.latency.observe(took.as_secs_f64());
    }

    pub fn introspected(&self, result: Introspected) {
        if let Some(i) = Introspected::ALL.iter().position(|x| *x == result) {
            self.introspections[i].inc();
        }
    }

    pub fn revoked(&self, result: Revoked) {
        if let Some(i) = Revoked::ALL.iter().position(|x| *x == result) {
            self.revocations[i].inc();
        }
    }

    pub fn ambiguous(&self, kind: Ambiguity) {
        if let Some(i) = Ambiguity::ALL.iter().position(|a| *a == kind) {
            self.ambiguous[i].inc();
        }
    }

    pub fn connection_opened(&self) {
        self.connections.inc();
    }

    pub fn connection_ended(&self, closed: Option<Closed>) {
        self.connections.dec();
        if let Some(i) = closed.and_then(|c| Closed::ALL.iter().position(|x| *x == c)) {
            self.closed[i].inc();
        }
    }

    /// Whether usage cannot be committed now: the last commit failed.
    pub fn usage_commit_failing(&self) -> bool {
        self.usage.commit_failing.get() != 0
    }

    pub fn flushed(&self, uses: u64, took: Duration) {
        self.usage.commit_failing.set(0);
        self.usage.flush_ok.inc();
        self.usage.flushed_uses.inc_by(uses);
        self.usage.flush_duration.observe(took.as_secs_f64());
    }

    pub fn flush_failed(&self, took: Duration) {
        self.usage.commit_failing.set(1);
        self.usage.flush_failed.inc();
        self.usage.flush_duration.observe(took.as_secs_f64());
    }

    /// The text exposition, with the buffered-uses gauge read now.
    pub fn render(&self, buffered_uses: u64) -> String {
        self.usage
            .buffered_uses
            .set(i64::try_from(buffered_uses).unwrap_or(i64::MAX));
        let mut out = String::with_capacity(4096);
        // Writing into a String cannot fail.
        let _ = prometheus_text::encode(&mut out, &self.registry);
        out
    }
}

impl UsageMetrics {
    fn register(r: &mut Registry) -> UsageMetrics {
        let flushes = counters(
            r,
            "usage_flushes",
            "Commits of buffered usage to the database, by result (ok, failed)",
            ["ok", "failed"].map(|result| FlushLabels { result }),
        );
        // 1ms to ~4s.
        let flush_duration = Histogram::new(exponential_buckets(0.001, 2.0, 13));
        let flush_duration = registered(
            r,
            "usage_flush_duration_seconds",
            "Time to commit buffered usage in one transaction",
            flush_duration,
        );
        let flushed_uses = registered(
            r,
            "usage_flushed_uses",
            "Token uses committed to the database",
            Counter::default(),
        );
        let commit_failing = registered(
            r,
            "usage_commit_failing",
            "1 while the last commit of usage failed (then /healthz answers 503), else 0",
            Gauge::default(),
        );
        let buffered_uses = registered(
            r,
            "usage_buffered_uses",
            "Token uses recorded in memory, not yet committed",
            Gauge::default(),
        );
        let [flush_ok, flush_failed] = [&flushes[0], &flushes[1]].map(Counter::clone);
        UsageMetrics {
            commit_failing,
            flush_ok,
            flush_failed,
            flush_duration,
            flushed_uses,
            buffered_uses,
        }
    }
}

/// Registers `metric` under `name`, and returns it for counting.
fn registered<M: Metric + Clone>(registry: &mut Registry, name: &str, help: &str, metric: M) -> M {
    registry.register(name, help, metric.clone());
    metric
}

/// Registers a family of counters, with each of `labels` created now: every combination
/// shows from the start, and counting is one atomic add.
fn counters<L>(
    registry: &mut Registry,
    name: &str,
    help: &str,
    labels: impl IntoIterator<Item = L>,
) -> Vec<Counter>
where
    L: EncodeLabelSet + Clone + std::hash::Hash + Eq + std::fmt::Debug + Send + Sync + 'static,
{
    let family = Family::<L, Counter>::default();
    registry.register(name, help, family.clone());
    labels
        .into_iter()
        .map(|l| family.get_or_create(&l).clone())
        .collect()
}

/// The `Content-Type` of [`Metrics::render`]'s output.
pub const CONTENT_TYPE: &str = prometheus_text::CONTENT_TYPE;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verify::{Denial, Grant};

    fn denial(reason: DenyReason) -> Decision {
        Decision::Denied(Denial {
            reason,
            token_id: None,
            name: None,
            quota: None,
        })
    }

    #[test]
    fn every_outcome_has_its_counter() {
        let m = Metrics::new();
        let allowed = Decision::Allowed(Grant {
            token_id: "abcd1234".into(),
            name: "importer".into(),
            env: "live".into(),
            scopes: "cases:read".into(),
            quota: None,
            expires_at: None,
            issued_at: chrono::DateTime::UNIX_EPOCH,
        });
        let denials: Vec<Decision> = DenyReason::ALL.into_iter().map(denial).collect();
        let mut outcomes = vec![Some(&allowed)];
        outcomes.extend(denials.iter().map(Some));
        outcomes.push(None);
        for (i, decided) in outcomes.iter().enumerate() {
            assert_eq!(request_index(*decided), i);
            m.request(*decided, Duration::from_micros(120));
        }
        assert_eq!(request_labels().count(), outcomes.len());
        m.request(Some(&denial(DenyReason::Revoked)), Duration::from_millis(2));
        m.flushed(3, Duration::from_millis(4));
        m.flush_failed(Duration::from_millis(1));
        assert!(m.usage_commit_failing());
        m.ambiguous(Ambiguity::DotSegment);
        m.introspected(Introspected::Inactive);
        m.revoked(Revoked::RateLimited);
        m.connection_opened();
        m.connection_opened();
        m.connection_ended(Some(Closed::IdleTimeout));
        let text = m.render(7);
        for line in [
            "tokenctl_serve_requests_total{outcome=\"allowed\",reason=\"none\"} 1",
            "tokenctl_serve_requests_total{outcome=\"denied\",reason=\"missing\"} 1",
            "tokenctl_serve_requests_total{outcome=\"denied\",reason=\"revoked\"} 2",
            "tokenctl_serve_requests_total{outcome=\"denied\",reason=\"unmapped\"} 1",
            "tokenctl_serve_requests_total{outcome=\"denied\",reason=\"suspended\"} 1",
            "tokenctl_serve_requests_total{outcome=\"error\",reason=\"storage\"} 1",
            "tokenctl_serve_requests_total{outcome=\"denied\",reason=\"ambiguous\"} 1",
            "tokenctl_serve_ambiguous_requests_total{kind=\"dot_segment\"} 1",
            "tokenctl_serve_ambiguous_requests_total{kind=\"case\"} 0",
            "tokenctl_serve_usage_commit_failing 1",
            "tokenctl_serve_connections 1",
            "tokenctl_serve_connections_closed_total{why=\"idle_timeout\"} 1",
            "tokenctl_serve_connections_closed_total{why=\"evicted\"} 0",
            "tokenctl_serve_request_duration_seconds_count 15",
            "tokenctl_serve_usage_flushes_total{result=\"ok\"} 1",
            "tokenctl_serve_usage_flushes_total{result=\"failed\"} 1",
            "tokenctl_serve_usage_flush_duration_seconds_count 2",
            "tokenctl_serve_usage_flushed_uses_total 3",
            "tokenctl_serve_usage_buffered_uses 7",
            "tokenctl_serve_introspection_requests_total{result=\"inactive\"} 1",
            "tokenctl_serve_introspection_requests_total{result=\"active\"} 0",
            "tokenctl_serve_revocation_requests_total{result=\"rate_limited\"} 1",
            "tokenctl_serve_revocation_requests_total{result=\"accepted\"} 0",
        ] {
            assert!(text.lines().any(|l| l == line), "{line} missing:\n{text}");
        }
        let text_labels = text
            .lines()
            .filter(|l| l.starts_with("tokenctl_serve_requests_total{"))
            .count();
        assert_eq!(
            text_labels, 14,
            "the fourteen label pairs of the README\n{text}"
        );
    }
}
