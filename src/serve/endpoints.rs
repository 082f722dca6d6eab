//! The endpoints: `/auth` (the forward-auth decision), `/healthz` and `/metrics`, and
//! the routes to `/introspect` and `/revoke` (see [`introspect`](super::introspect) and
//! [`revoke`](super::revoke)), with the JSON answers those share.
//!
//! `/auth` answers 200 with `X-Token-Id`, `X-Token-Name` and `X-Token-Scopes`; 401 with
//! `WWW-Authenticate: Bearer` when no bearer token was presented, with
//! `error="invalid_token"` for a malformed, unknown, revoked or expired one; 403 for a
//! genuine token that may not make the request, with an RFC 6750 challenge that says why
//! (the scope it lacks, or an `error_description` for environment, address, a request no
//! rule maps or an ambiguous one); 429 with `Retry-After` and the RateLimit headers for a
//! token over its rate limit (403 for nginx, `--rate-limited-status`); 503 when the
//! database cannot answer. It never answers 200 without a fresh database decision.

use std::borrow::Cow;
use std::convert::Infallible;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use anyhow::Result;
use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::header::{
    CACHE_CONTROL, CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue, RETRY_AFTER, WWW_AUTHENTICATE,
};
use hyper::{Request, Response, StatusCode, Uri};
use ipnet::IpNet;

use super::form::FormError;
use super::forwarded::{self, Bearer};
use super::log;
use super::metrics::{self, Metrics};
use super::revoke::Revocations;
use super::rules::Rules;
use super::uri::{NormalPath, UriPolicy};
use super::verifiers::Verifiers;
use crate::scope::Scope;
use crate::store::Store;
use crate::usage::UsageBuffer;
use crate::verify::{Decision, Denial, DenyReason, Grant, Need, Question, Quota, Unmapped};

static X_TOKEN_ID: HeaderName = HeaderName::from_static("x-token-id");
static X_TOKEN_NAME: HeaderName = HeaderName::from_static("x-token-name");
static X_TOKEN_SCOPES: HeaderName = HeaderName::from_static("x-token-scopes");
static RATELIMIT_POLICY: HeaderName = HeaderName::from_static("ratelimit-policy");
static RATELIMIT: HeaderName = HeaderName::from_static("ratelimit");

pub type Body = Full<Bytes>;

/// Everything a request needs, shared by all connections.
pub struct App {
    pub rules: Rules,
    pub uri_policy: UriPolicy,
    pub trusted_proxies: Vec<IpNet>,
    /// What a request over its token's rate limit gets: 429, or 403 for nginx.
    pub rate_limited_status: StatusCode,
    pub verifiers: Verifiers,
    pub usage: Arc<UsageBuffer>,
    pub metrics: Arc<Metrics>,
    /// A connection of its own for `/healthz`, so that a health check never waits behind
    /// verifications.
    pub health: Arc<Mutex<Store>>,
    /// When a storage error was last logged (seconds since the epoch): at most one line
    /// a second, however many requests fail.
    pub last_error_log: AtomicI64,
    /// `/revoke`'s connection and per-address budget.
    pub revocations: Revocations,
    /// How long the body of an `/introspect` or `/revoke` request may take to arrive.
    pub body_timeout: Duration,
}

/// What a request asks for, read before anything is awaited; the future that answers it.
enum Route {
    /// Answered at once: most `/auth` requests, `/metrics`, an unknown path. The answer
    /// is handed to hyper after one turn of the runtime (see [`App::handle`]).
    Ready {
        response: Option<Response<Body>>,
        waited: bool,
    },
    /// What waits (for a verifier thread, a body read under a timer, a blocking task),
    /// in a box of its own.
    Boxed(Pin<Box<dyn Future<Output = Response<Body>> + Send>>),
}

impl Route {
    fn ready(response: Response<Body>) -> Self {
        Route::Ready {
            response: Some(response),
            waited: false,
        }
    }
}

impl Future for Route {
    type Output = Result<Response<Body>, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.get_mut() {
            Route::Ready { response, waited } => {
                if !*waited {
                    // To the back of the runtime's queue, behind the connections that
                    // are ready now.
                    *waited = true;
                    cx.waker().wake_by_ref();
                    return Poll::Pending;
                }
                let response = response.take().expect("a request answered twice");
                Poll::Ready(Ok(response))
            }
            Route::Boxed(answering) => answering.as_mut().poll(cx).map(Ok),
        }
    }
}

/// An `/auth` request, read: its question (whose need the answer reads again: the scope
/// a token lacks, the kind of ambiguity), and when it arrived.
struct Asked {
    question: Question<Bearer>,
    started: Instant,
}

impl App {
    /// Answers a request. Everything is read from the request here, before the returned
    /// future first runs, and most `/auth` requests (those the verifiers decide without a
    /// thread) are answered here too: hyper moves that future into its connection for
    /// every request, so it holds an answer, or a box with what waits for one (under
    /// bench/serve.sh's load, moving a future that held the request cost 0.7% of the
    /// server's time, and one that held `/auth`'s wait, about 1 KB, 0.5%).
    ///
    /// An answer ready at once still waits for one turn of the runtime before hyper
    /// writes it: the connections whose requests arrived together are all read and
    /// decided first, then all answered, back to back. A client waiting for its answers
    /// is then woken once for a batch of them rather than once for each, and the server
    /// pays for each wake-up, in the write that delivers it: under bench/serve.sh's load,
    /// 14-17% more requests a second and 0.8-1.0 µs less CPU time each, and a lower p99.
    /// The wait is one pass over the connections that are ready now: an answer waits for
    /// no more than theirs.
    pub fn handle(
        self: &Arc<Self>,
        req: Request<Incoming>,
        peer: IpAddr,
    ) -> impl Future<Output = Result<Response<Body>, Infallible>> + Send + use<> {
        self.route(req, peer)
    }

    fn route(self: &Arc<Self>, req: Request<Incoming>, peer: IpAddr) -> Route {
        let path = req.uri().path();
        if path == "/auth" || path.starts_with("/auth/") {
            let asked = self.ask(&req, peer);
            if let Some((decided, _)) = self.verifiers.decide_now(&asked.question, None) {
                return Route::ready(self.auth_answer(&asked, decided));
            }
            let app = Arc::clone(self);
            return Route::Boxed(Box::pin(async move { app.auth(asked).await }));
        }
        let app = Arc::clone(self);
        match path {
            "/healthz" => Route::Boxed(Box::pin(async move { app.healthz().await })),
            "/metrics" => Route::ready(self.metrics()),
            "/introspect" => Route::Boxed(Box::pin(async move { app.introspect(req, peer).await })),
            "/revoke" => Route::Boxed(Box::pin(async move { app.revoke(req, peer).await })),
            _ => Route::ready(text(
                StatusCode::NOT_FOUND,
                "not found: use /auth, /introspect, /revoke, /healthz or /metrics\n",
            )),
        }
    }

    /// Reads an `/auth` request into its question.
    fn ask(&self, req: &Request<Incoming>, peer: IpAddr) -> Asked {
        let started = Instant::now();
        let policy = Policy {
            rules: &self.rules,
            uri: self.uri_policy,
            trusted_proxies: &self.trusted_proxies,
        };
        let question = question(
            req.method().as_str(),
            req.uri(),
            req.headers(),
            peer,
            &policy,
        );
        // Counted whatever the credential: an operator sees what clients try.
        if let Need::Unmapped(Unmapped::Ambiguous(kind)) = question.need {
            self.metrics.ambiguous(kind);
        }
        Asked { question, started }
    }

    /// Answers an `/auth` request that only a verifier thread can decide (`route` found
    /// that the cache could not).
    async fn auth(&self, asked: Asked) -> Response<Body> {
        let (decided, _) = self.verifiers.ask_thread(&asked.question, None).await;
        self.auth_answer(&asked, decided)
    }

    /// The answer to an `/auth` request, once decided; counted in the metrics.
    fn auth_answer(&self, asked: &Asked, decided: Result<Decision>) -> Response<Body> {
        let decided = self.decided(decided);
        let need = &asked.question.need;
        let mut response = answer(decided.as_ref(), need);
        if response.status() == StatusCode::TOO_MANY_REQUESTS {
            over_limit_as(&mut response, self.rate_limited_status, need);
        }
        self.metrics
            .request(decided.as_ref(), asked.started.elapsed());
        response
    }

    /// Decides a question on the verifier threads; `None` when the database could not
    /// answer (logged).
    pub(super) async fn decide(&self, question: &Question<Bearer>) -> Option<Decision> {
        let decided = self.verifiers.verify(question).await;
        self.decided(decided)
    }

    /// A decision, or `None` when the database could not answer (logged).
    fn decided(&self, decided: Result<Decision>) -> Option<Decision> {
        decided.map_err(|e| self.log_storage_error(&e)).ok()
    }

    async fn healthz(&self) -> Response<Body> {
        if !self.verifiers.healthy() {
            return text(StatusCode::SERVICE_UNAVAILABLE, "verifier threads failed\n");
        }
        // Requests are still decided, but their use is not recorded: an operator must
        // know before the buffer's bound starts folding addresses together.
        if self.metrics.usage_commit_failing() {
            return text(
                StatusCode::SERVICE_UNAVAILABLE,
                "degraded: usage cannot be committed to the database\n",
            );
        }
        let store = Arc::clone(&self.health);
        let checked = tokio::task::spawn_blocking(move || {
            let store = store.lock().unwrap_or_else(|e| e.into_inner());
            store.health()
        })
        .await;
        match checked {
            Ok(Ok(_)) => text(StatusCode::OK, "ok\n"),
            Ok(Err(e)) => {
                self.log_storage_error(&e.into());
                text(StatusCode::SERVICE_UNAVAILABLE, "database unavailable\n")
            }
            Err(_) => text(StatusCode::SERVICE_UNAVAILABLE, "database unavailable\n"),
        }
    }

    fn metrics(&self) -> Response<Body> {
        let mut r = text(StatusCode::OK, "");
        *r.body_mut() = Full::new(Bytes::from(self.metrics.render(self.usage.len())));
        r.headers_mut().insert(
            CONTENT_TYPE,
            HeaderValue::from_static(metrics::CONTENT_TYPE),
        );
        r
    }

    pub(super) fn log_storage_error(&self, e: &anyhow::Error) {
        let now = crate::clock::now().timestamp();
        if self.last_error_log.swap(now, Ordering::Relaxed) != now {
            log(&format!("denying requests: cannot verify: {e:#}"));
        }
    }
}

/// How a server reads requests: its rules, how it reads URIs, whom it trusts.
#[derive(Debug, Clone, Copy)]
pub struct Policy<'a> {
    pub rules: &'a Rules,
    pub uri: UriPolicy,
    pub trusted_proxies: &'a [IpNet],
}

/// Reads an `/auth` request (its method, URI, headers and TCP peer) into the question a
/// verifier decides: which credential, what the original request needs (a scope, or why
/// none covers it), from which client (`None` when a trusted proxy sent an unreadable
/// address). No I/O and no state, so that everything a client controls before the
/// database is asked can be fuzzed without a socket (`fuzz/fuzz_targets/http_request.rs`).
pub fn question(
    method: &str,
    uri: &Uri,
    headers: &HeaderMap,
    peer: IpAddr,
    policy: &Policy<'_>,
) -> Question<Bearer> {
    let headers = forwarded::Headers::read(headers);
    let (ip, conflict) = match forwarded::client_ip(peer, headers, policy.trusted_proxies) {
        Ok(ip) => (ip, None),
        Err(kind) => (None, Some(kind)),
    };
    // Without X-Original-URI or X-Forwarded-Uri, the original request is the auth
    // request itself, as Envoy's ext_authz sends it: /auth<original path>.
    let own_uri = uri.path_and_query().map_or("/", |p| p.as_str());
    let own_uri = match own_uri.strip_prefix("/auth") {
        Some(rest) if rest.starts_with('/') => rest,
        _ => own_uri,
    };
    let scope = required_scope(method, own_uri, headers, policy);
    Question {
        authorization: forwarded::authorization(headers),
        need: match conflict {
            Some(kind) => Need::Unmapped(Unmapped::Ambiguous(kind)),
            None => Need::from(scope),
        },
        ip,
    }
}

fn required_scope(
    method: &str,
    own_uri: &str,
    headers: forwarded::Headers<'_>,
    policy: &Policy<'_>,
) -> Result<Scope, Unmapped> {
    let method = forwarded::original_method(headers, method).map_err(Unmapped::Ambiguous)?;
    let uri = forwarded::original_uri(headers, own_uri).map_err(Unmapped::Ambiguous)?;
    let path = NormalPath::from_uri(uri, policy.uri).map_err(Unmapped::Ambiguous)?;
    let overrides = forwarded::method_overrides(headers, uri).map_err(Unmapped::Ambiguous)?;
    let overrides: Vec<&str> = overrides.iter().map(String::as_str).collect();
    policy.rules.required(method, &overrides, &path)
}

/// The response to an `/auth` request: 200 only with a grant, 503 when the database
/// could not answer (`None`), and for a denial what its reason says (status and
/// challenge), given what the question needed.
pub fn answer(decided: Option<&Decision>, need: &Need) -> Response<Body> {
    match decided {
        Some(Decision::Allowed(grant)) => allowed(grant),
        Some(Decision::Denied(denial)) => denied(denial, need),
        None => {
            let mut r = text(StatusCode::SERVICE_UNAVAILABLE, "");
            r.headers_mut()
                .insert(hyper::header::RETRY_AFTER, HeaderValue::from_static("1"));
            r
        }
    }
}

pub(super) fn text(status: StatusCode, body: &'static str) -> Response<Body> {
    let mut r = Response::new(Full::new(Bytes::from_static(body.as_bytes())));
    *r.status_mut() = status;
    r.headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if !body.is_empty() {
        r.headers_mut().insert(
            CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        );
    }
    r
}

/// A JSON answer (`/introspect`, and the errors of both OAuth endpoints).
pub(super) fn json(status: StatusCode, value: &impl serde::Serialize) -> Response<Body> {
    let mut r = text(status, "");
    // Serialising plain strings and numbers cannot fail.
    *r.body_mut() = Full::new(Bytes::from(serde_json::to_vec(value).unwrap_or_default()));
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    r
}

/// An OAuth error answer (RFC 6749 section 5.2): its code and plain words.
pub(super) fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response<Body> {
    json(
        status,
        &serde_json::json!({ "error": error, "error_description": description }),
    )
}

/// A form request refused before any token in it was looked at.
pub(super) fn form_refused(e: FormError) -> Response<Body> {
    let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::BAD_REQUEST);
    let mut r = oauth_error(status, "invalid_request", &e.description());
    if e == FormError::Method {
        r.headers_mut()
            .insert(hyper::header::ALLOW, HeaderValue::from_static("POST"));
    }
    r
}

/// 200 with the token's id, name and scopes; the name is escaped when a header could not
/// carry it as it is (see [`header_text`]). A rate-limited token's allowance in the
/// RateLimit headers.
fn allowed(grant: &Grant) -> Response<Body> {
    let mut r = text(StatusCode::OK, "");
    let h = r.headers_mut();
    h.insert(X_TOKEN_ID.clone(), header_text(&grant.token_id));
    h.insert(X_TOKEN_NAME.clone(), header_text(&grant.name));
    h.insert(X_TOKEN_SCOPES.clone(), header_text(&grant.scopes));
    if let Some(quota) = &grant.quota {
        rate_limit_headers(h, quota);
    }
    r
}

/// The IETF httpapi RateLimit header fields (draft-ietf-httpapi-ratelimit-headers-09
/// syntax): the token's policy, `q` requests per `w` seconds, and what is left of it,
/// `r` requests, all back in `t` seconds. The policy is named `token`: the allowance is
/// the token's, whoever presents it.
fn rate_limit_headers(h: &mut HeaderMap, quota: &Quota) {
    let policy = format!(
        "\"token\";q={};w={}",
        quota.limit.requests,
        quota.limit.per.seconds()
    );
    let current = format!("\"token\";r={};t={}", quota.remaining, quota.reset_secs);
    for (name, value) in [(&RATELIMIT_POLICY, policy), (&RATELIMIT, current)] {
        if let Ok(value) = HeaderValue::from_str(&value) {
            h.insert(name.clone(), value);
        }
    }
}

/// 429 for a token over its rate limit, with `Retry-After` (seconds) and the RateLimit
/// headers; no challenge: the credentials are fine, the client must wait.
fn over_limit(quota: Option<&Quota>) -> Response<Body> {
    let mut r = text(StatusCode::TOO_MANY_REQUESTS, "");
    if let Some(quota) = quota {
        let h = r.headers_mut();
        h.insert(RETRY_AFTER, HeaderValue::from(quota.retry_after_secs));
        rate_limit_headers(h, quota);
    }
    r
}

/// Answers an over-limit request with `status` instead of 429: 403 for nginx's
/// auth_request, which turns any status but 2xx, 401 and 403 into 500. Its configuration
/// tells this 403 from the others by its `Retry-After`; the challenge is the reason's.
fn over_limit_as(response: &mut Response<Body>, status: StatusCode, need: &Need) {
    if status == StatusCode::TOO_MANY_REQUESTS {
        return;
    }
    *response.status_mut() = status;
    let challenge = DenyReason::RateLimited.challenge(need);
    if let Ok(value) = HeaderValue::from_str(&challenge) {
        response.headers_mut().insert(WWW_AUTHENTICATE, value);
    }
}

/// 401 or 403 with an RFC 6750 section 3 challenge, both as the reason decides; 429 for
/// a token over its rate limit.
fn denied(denial: &Denial, need: &Need) -> Response<Body> {
    if denial.reason == DenyReason::RateLimited {
        return over_limit(denial.quota.as_ref());
    }
    let status = if denial.reason.is_forbidden() {
        StatusCode::FORBIDDEN
    } else {
        StatusCode::UNAUTHORIZED
    };
    let challenge = match denial.reason.challenge(need) {
        Cow::Borrowed(fixed) => HeaderValue::from_static(fixed),
        // Scopes and descriptions are plain ASCII; a header could refuse nothing else.
        Cow::Owned(made) => HeaderValue::from_str(&made)
            .unwrap_or(HeaderValue::from_static("Bearer error=\"invalid_request\"")),
    };
    let mut r = text(status, "");
    r.headers_mut().insert(WWW_AUTHENTICATE, challenge);
    r
}

/// User text (a token's name) as a header value: printable ASCII is kept, and every
/// other byte of the UTF-8 text (control characters, non-ASCII letters), `%` itself,
/// and a leading or trailing space are percent-encoded, so that any URL decoder
/// (`decodeURIComponent`, Python's `unquote`) gives back the exact name.
pub fn header_text(s: &str) -> HeaderValue {
    let last = s.len().saturating_sub(1);
    let keep = |(i, b): (usize, u8)| match b {
        b' ' => i != 0 && i != last,
        b'%' => false,
        0x21..=0x7e => true,
        _ => false,
    };
    let text = if s.bytes().enumerate().all(keep) {
        s.to_string()
    } else {
        let mut out = String::with_capacity(s.len() + 16);
        for (i, b) in s.bytes().enumerate() {
            if keep((i, b)) {
                out.push(char::from(b));
            } else {
                out.push_str(&format!("%{b:02X}"));
            }
        }
        out
    };
    // Only visible ASCII and inner spaces remain, which a header value always accepts.
    HeaderValue::from_maybe_shared(Bytes::from(text)).unwrap_or(HeaderValue::from_static(""))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verify::{Ambiguity, Authorization, DenyReason};

    fn scope(s: &str) -> Need {
        Need::Scope(s.parse().unwrap())
    }

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        pairs
            .iter()
            .map(|(n, v)| {
                (
                    HeaderName::from_bytes(n.as_bytes()).unwrap(),
                    HeaderValue::from_str(v).unwrap(),
                )
            })
            .collect()
    }

    #[test]
    fn questions_as_proxies_ask_them() {
        let rules = Rules::convention();
        let trusted = forwarded::default_trusted();
        let local: IpAddr = "127.0.0.1".parse().unwrap();
        let policy = Policy {
            rules: &rules,
            uri: UriPolicy::Strict,
            trusted_proxies: &trusted,
        };
        let ask = |method: &str, uri: &str, h: &[(&str, &str)], peer: IpAddr| {
            question(method, &uri.parse().unwrap(), &headers(h), peer, &policy)
        };
        // nginx auth_request: the original request in X-Original-*, the client in X-Real-IP.
        let q = ask(
            "GET",
            "/auth",
            &[
                ("authorization", "Bearer tok_live_x"),
                ("x-original-method", "POST"),
                ("x-original-uri", "/api/cases/1"),
                ("x-real-ip", "203.0.113.7"),
            ],
            local,
        );
        assert!(
            matches!(&q.authorization, Authorization::Bearer(b) if b.as_bytes() == b"tok_live_x")
        );
        assert!(!format!("{q:?}").contains("tok_live_x"), "{q:?}");
        assert_eq!(q.need, scope("cases:write"));
        assert_eq!(q.ip, Some("203.0.113.7".parse().unwrap()));
        // Envoy ext_authz: the original request is the auth request, below /auth.
        let q = ask("DELETE", "/auth/api/cases/4?x=1", &[], local);
        assert!(matches!(q.authorization, Authorization::Missing));
        assert_eq!(q.need, scope("cases:delete"));
        // A peer that is not a trusted proxy is the client, whatever it claims.
        let remote: IpAddr = "198.51.100.9".parse().unwrap();
        let q = ask("GET", "/auth", &[("x-real-ip", "203.0.113.7")], remote);
        assert_eq!(q.ip, Some(remote));
        assert_eq!(q.need, Need::Unmapped(Unmapped::NoRule));
        // Ambiguous: a dot segment, an override asking for more, two client addresses.
        let token = ("authorization", "Bearer tok_live_x");
        let q = ask(
            "GET",
            "/auth",
            &[token, ("x-original-uri", "/api/invoices/%2e%2e/cases/1")],
            local,
        );
        let ambiguous = |kind| Need::Unmapped(Unmapped::Ambiguous(kind));
        assert_eq!(q.need, ambiguous(Ambiguity::DotSegment));
        let q = ask(
            "GET",
            "/auth",
            &[
                token,
                ("x-original-uri", "/api/cases/1"),
                ("x-http-method-override", "DELETE"),
            ],
            local,
        );
        assert_eq!(q.need, ambiguous(Ambiguity::MethodOverride));
        let q = ask(
            "GET",
            "/auth",
            &[
                ("x-original-uri", "/api/cases/1"),
                ("x-real-ip", "203.0.113.7"),
                ("x-real-ip", "198.51.100.1"),
            ],
            local,
        );
        assert_eq!(q.need, ambiguous(Ambiguity::ConflictingHeaders));
        assert_eq!(q.ip, None);
    }

    fn denial(reason: DenyReason) -> Decision {
        Decision::Denied(Denial {
            reason,
            token_id: None,
            name: None,
            quota: None,
        })
    }

    #[test]
    fn only_a_grant_is_allowed() {
        let grant = Grant {
            token_id: "abcd1234".into(),
            name: "importer".into(),
            env: "live".into(),
            scopes: "cases:read".into(),
            quota: None,
            expires_at: None,
            issued_at: chrono::DateTime::UNIX_EPOCH,
        };
        let need = scope("cases:write");
        let status = |d: Option<&Decision>| answer(d, &need).status().as_u16();
        assert_eq!(status(Some(&Decision::Allowed(grant))), 200);
        assert_eq!(status(None), 503);
        for reason in DenyReason::ALL {
            let want = match reason {
                DenyReason::RateLimited => 429,
                r if r.is_forbidden() => 403,
                _ => 401,
            };
            assert_eq!(status(Some(&denial(reason))), want, "{reason}");
        }
        let forbidden = [
            DenyReason::WrongEnv,
            DenyReason::IpNotAllowed,
            DenyReason::InsufficientScope,
            DenyReason::Unmapped,
            DenyReason::Ambiguous,
            DenyReason::RateLimited,
        ];
        for reason in DenyReason::ALL {
            assert_eq!(
                reason.is_forbidden(),
                forbidden.contains(&reason),
                "{reason}"
            );
        }
    }

    /// RFC 6750 section 3: no error code without a bearer token; the scope only when the
    /// token lacks it; otherwise a description of what was wrong.
    #[test]
    fn challenges_say_what_was_wrong() {
        let challenge = |reason: DenyReason, need: &Need| {
            answer(Some(&denial(reason)), need).headers()[WWW_AUTHENTICATE]
                .to_str()
                .unwrap()
                .to_string()
        };
        let needs = scope("cases:write");
        let ambiguous = Need::Unmapped(Unmapped::Ambiguous(Ambiguity::DotSegment));
        for (reason, need, want) in [
            (DenyReason::Missing, &needs, "Bearer"),
            (
                DenyReason::Malformed,
                &needs,
                "Bearer error=\"invalid_token\"",
            ),
            (
                DenyReason::Revoked,
                &needs,
                "Bearer error=\"invalid_token\"",
            ),
            (
                DenyReason::InsufficientScope,
                &needs,
                "Bearer error=\"insufficient_scope\", scope=\"cases:write\"",
            ),
            (
                DenyReason::WrongEnv,
                &needs,
                "Bearer error=\"invalid_token\", error_description=\"the token is for another environment\"",
            ),
            (
                DenyReason::IpNotAllowed,
                &needs,
                "Bearer error=\"invalid_token\", error_description=\"the token may not be used from this client address\"",
            ),
            (
                DenyReason::Unmapped,
                &Need::Unmapped(Unmapped::NoRule),
                "Bearer error=\"insufficient_scope\", error_description=\"no rule maps this request to a scope\"",
            ),
            (
                DenyReason::Ambiguous,
                &ambiguous,
                "Bearer error=\"invalid_request\", error_description=\"ambiguous request: the path has a dot segment\"",
            ),
        ] {
            assert_eq!(challenge(reason, need), want, "{reason:?}");
        }
        for kind in Ambiguity::ALL {
            let need = Need::Unmapped(Unmapped::Ambiguous(kind));
            let c = challenge(DenyReason::Ambiguous, &need);
            assert!(c.contains(kind.description()), "{c}");
        }
    }

    /// 429 with Retry-After and the RateLimit fields, no challenge; 403 with the
    /// challenge and the same fields for nginx; a limited grant carries the fields too.
    #[test]
    fn over_the_limit_is_429_with_the_ratelimit_fields() {
        let quota = |remaining, retry_after_secs| Quota {
            limit: "100/min".parse().unwrap(),
            remaining,
            reset_secs: 30,
            retry_after_secs,
        };
        let over = Decision::Denied(Denial {
            quota: Some(quota(0, 2)),
            ..match denial(DenyReason::RateLimited) {
                Decision::Denied(d) => d,
                Decision::Allowed(_) => unreachable!(),
            }
        });
        let need = scope("cases:read");
        let mut r = answer(Some(&over), &need);
        let fields = |r: &Response<Body>| {
            [
                "retry-after",
                "ratelimit-policy",
                "ratelimit",
                "www-authenticate",
            ]
            .map(|n| r.headers().get(n).map(|v| v.to_str().unwrap().to_string()))
        };
        assert_eq!(r.status(), 429);
        let policy = Some("\"token\";q=100;w=60".to_string());
        assert_eq!(
            fields(&r),
            [
                Some("2".into()),
                policy.clone(),
                Some("\"token\";r=0;t=30".into()),
                None
            ]
        );
        over_limit_as(&mut r, StatusCode::FORBIDDEN, &need);
        assert_eq!(r.status(), 403);
        let [retry, _, _, challenge] = fields(&r);
        assert_eq!(retry.as_deref(), Some("2"));
        assert_eq!(
            challenge.as_deref(),
            Some(
                "Bearer error=\"invalid_token\", error_description=\"the token is over its rate limit\""
            )
        );
        let grant = Decision::Allowed(Grant {
            token_id: "abcd1234".into(),
            name: "importer".into(),
            env: "live".into(),
            scopes: "cases:read".into(),
            quota: Some(quota(41, 0)),
            expires_at: None,
            issued_at: chrono::DateTime::UNIX_EPOCH,
        });
        let r = answer(Some(&grant), &need);
        assert_eq!(
            fields(&r),
            [None, policy, Some("\"token\";r=41;t=30".into()), None]
        );
    }

    /// A waker that counts its wake-ups.
    struct Counting(std::sync::atomic::AtomicUsize);

    impl std::task::Wake for Counting {
        fn wake(self: Arc<Self>) {
            self.wake_by_ref();
        }

        fn wake_by_ref(self: &Arc<Self>) {
            self.0.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// An answer decided at once is not handed over at the first poll: its task is woken
    /// to come back after the connections ready now, and the answer is handed over at
    /// the next poll, unchanged.
    #[test]
    fn a_ready_answer_waits_one_turn() {
        let wakes = Arc::new(Counting(Default::default()));
        let waker = std::task::Waker::from(Arc::clone(&wakes));
        let mut cx = Context::from_waker(&waker);
        let mut route = Route::ready(text(StatusCode::NOT_FOUND, "gone\n"));
        assert!(Pin::new(&mut route).poll(&mut cx).is_pending());
        assert_eq!(
            wakes.0.load(Ordering::Relaxed),
            1,
            "woken to be polled again"
        );
        let Poll::Ready(Ok(answer)) = Pin::new(&mut route).poll(&mut cx) else {
            panic!("not answered at the second poll");
        };
        assert_eq!(answer.status(), StatusCode::NOT_FOUND);
        assert_eq!(wakes.0.load(Ordering::Relaxed), 1, "no further wake-up");
    }

    /// The size of the futures `handle` returns, without making one.
    fn future_size<F, Fut>(_: F) -> usize
    where
        F: Fn(&Arc<App>, Request<Incoming>, IpAddr) -> Fut,
    {
        std::mem::size_of::<Fut>()
    }

    /// hyper moves the future of every request into its connection: it holds an answer
    /// or a box, not the request nor what any endpoint waits with (2,136 bytes with
    /// those inline, 976 with `/auth`'s wait inline; 152 now, with the turn an answer waits).
    #[test]
    fn the_request_future_holds_only_an_answer_or_a_box() {
        let size = future_size(App::handle);
        assert!(size <= 256, "{size} bytes");
    }

    #[test]
    fn header_text_escapes_what_headers_cannot_carry() {
        let cases = [
            ("Mailchimp sync", "Mailchimp sync"),
            ("100% done", "100%25 done"),
            ("Zoë", "Zo%C3%AB"),
            ("a\r\nX-Evil: 1", "a%0D%0AX-Evil: 1"),
            ("tab\there", "tab%09here"),
            (" edge ", "%20edge%20"),
            ("", ""),
        ];
        for (name, want) in cases {
            assert_eq!(header_text(name).to_str().unwrap(), want, "{name:?}");
        }
    }
}
