//! The three endpoints: `/auth` (the forward-auth decision), `/healthz` and `/metrics`.
//!
//! `/auth` answers 200 with `X-Token-Id`, `X-Token-Name` and `X-Token-Scopes`; 401 with
//! `WWW-Authenticate: Bearer` when no bearer token was presented, with
//! `error="invalid_token"` for a malformed, unknown, revoked or expired one; 403 for a
//! genuine token that may not make the request, with an RFC 6750 challenge that says why
//! (the scope it lacks, or an `error_description` for environment, address, a request no
//! rule maps or an ambiguous one); 503 when the database cannot answer. It never answers
//! 200 without a fresh database decision.

use std::convert::Infallible;
use std::net::IpAddr;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::header::{
    CACHE_CONTROL, CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue, WWW_AUTHENTICATE,
};
use hyper::{Request, Response, StatusCode, Uri};
use ipnet::IpNet;

use super::forwarded::{self, Credential};
use super::log;
use super::metrics::{self, Metrics, Verdict};
use super::rules::{Rules, Unmapped};
use super::uri::{NormalPath, UriPolicy};
use super::verifiers::{Check, Verifiers};
use crate::scope::Scope;
use crate::store::Store;
use crate::usage::{Outcome, Presented, UsageBuffer};
use crate::verify::{Decision, DenyReason, Grant};

static X_TOKEN_ID: HeaderName = HeaderName::from_static("x-token-id");
static X_TOKEN_NAME: HeaderName = HeaderName::from_static("x-token-name");
static X_TOKEN_SCOPES: HeaderName = HeaderName::from_static("x-token-scopes");

const NO_TOKEN: &str = "Bearer";
const INVALID_TOKEN: &str = "Bearer error=\"invalid_token\"";
const WRONG_ENV: &str =
    "Bearer error=\"invalid_token\", error_description=\"the token is for another environment\"";
const IP_NOT_ALLOWED: &str = "Bearer error=\"invalid_token\", error_description=\"the token may not be used from this client address\"";
const UNMAPPED: &str = "Bearer error=\"insufficient_scope\", error_description=\"no rule maps this request to a scope\"";

pub type Body = Full<Bytes>;

/// Everything a request needs, shared by all connections.
pub struct App {
    pub rules: Rules,
    pub uri_policy: UriPolicy,
    pub trusted_proxies: Vec<IpNet>,
    pub verifiers: Verifiers,
    pub usage: Arc<UsageBuffer>,
    pub metrics: Arc<Metrics>,
    /// A connection of its own for `/healthz`, so that a health check never waits behind
    /// verifications.
    pub health: Arc<Mutex<Store>>,
    /// When a storage error was last logged (seconds since the epoch): at most one line
    /// a second, however many requests fail.
    pub last_error_log: AtomicI64,
}

impl App {
    pub async fn handle(
        self: Arc<Self>,
        req: Request<Incoming>,
        peer: IpAddr,
    ) -> Result<Response<Body>, Infallible> {
        Ok(match req.uri().path() {
            "/healthz" => self.healthz().await,
            "/metrics" => self.metrics(),
            p if p == "/auth" || p.starts_with("/auth/") => self.auth(&req, peer).await,
            _ => text(
                StatusCode::NOT_FOUND,
                "not found: use /auth, /healthz or /metrics\n",
            ),
        })
    }

    async fn auth(&self, req: &Request<Incoming>, peer: IpAddr) -> Response<Body> {
        let started = Instant::now();
        let Question {
            credential,
            scope,
            ip,
        } = question(
            req.method().as_str(),
            req.uri(),
            req.headers(),
            peer,
            &Policy {
                rules: &self.rules,
                uri: self.uri_policy,
                trusted_proxies: &self.trusted_proxies,
            },
        );
        if let Err(Unmapped::Ambiguous(kind)) = scope {
            self.metrics.ambiguous(kind);
        }
        let (verdict, grant) = match credential {
            Credential::Missing => (Verdict::Missing, None),
            Credential::OtherScheme | Credential::Malformed => {
                self.usage.record(
                    Presented::Malformed,
                    ip,
                    Outcome::Denied,
                    crate::clock::now(),
                );
                let verdict = if matches!(credential, Credential::OtherScheme) {
                    Verdict::Missing
                } else {
                    Verdict::Denied(DenyReason::Malformed)
                };
                (verdict, None)
            }
            Credential::Bearer(token) => {
                let check = Check {
                    token,
                    scope: scope.as_ref().ok().cloned(),
                    ip,
                };
                match self.verifiers.verify(check).await {
                    Ok(Decision::Allowed(grant)) => (Verdict::Allowed, Some(grant)),
                    Ok(Decision::Denied(d)) if d.reason == DenyReason::InsufficientScope => {
                        match &scope {
                            Err(Unmapped::NoRule) => (Verdict::Unmapped, None),
                            Err(Unmapped::Ambiguous(_)) => (Verdict::Ambiguous, None),
                            Ok(_) => (Verdict::Denied(d.reason), None),
                        }
                    }
                    Ok(Decision::Denied(d)) => (Verdict::Denied(d.reason), None),
                    Err(e) => {
                        self.log_storage_error(&e);
                        (Verdict::StorageError, None)
                    }
                }
            }
        };
        let response = answer(verdict, grant, scope.as_ref());
        self.metrics.request(verdict, started.elapsed());
        response
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

    fn log_storage_error(&self, e: &anyhow::Error) {
        let now = crate::clock::now().timestamp();
        if self.last_error_log.swap(now, Ordering::Relaxed) != now {
            log(&format!("denying requests: cannot verify: {e:#}"));
        }
    }
}

/// What an `/auth` request asks, read from the request alone: which credential, for
/// which scope, from which client.
#[derive(Debug)]
pub struct Question {
    pub credential: Credential,
    /// The scope the original request needs, or why it maps to none.
    pub scope: Result<Scope, Unmapped>,
    /// The client; `None` when a trusted proxy sent an unreadable address.
    pub ip: Option<IpAddr>,
}

/// How a server reads requests: its rules, how it reads URIs, whom it trusts.
#[derive(Debug, Clone, Copy)]
pub struct Policy<'a> {
    pub rules: &'a Rules,
    pub uri: UriPolicy,
    pub trusted_proxies: &'a [IpNet],
}

/// Reads an `/auth` request (its method, URI, headers and TCP peer) into a [`Question`].
/// No I/O and no state, so that everything a client controls before the database is
/// asked can be fuzzed without a socket (`fuzz/fuzz_targets/http_request.rs`).
pub fn question(
    method: &str,
    uri: &Uri,
    headers: &HeaderMap,
    peer: IpAddr,
    policy: &Policy<'_>,
) -> Question {
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
        credential: forwarded::credential(headers),
        scope: match conflict {
            Some(kind) => Err(Unmapped::Ambiguous(kind)),
            None => scope,
        },
        ip,
    }
}

fn required_scope(
    method: &str,
    own_uri: &str,
    headers: &HeaderMap,
    policy: &Policy<'_>,
) -> Result<Scope, Unmapped> {
    let method = forwarded::original_method(headers, method).map_err(Unmapped::Ambiguous)?;
    let uri = forwarded::original_uri(headers, own_uri).map_err(Unmapped::Ambiguous)?;
    let path = NormalPath::from_uri(uri, policy.uri).map_err(Unmapped::Ambiguous)?;
    let overrides = forwarded::method_overrides(headers, uri).map_err(Unmapped::Ambiguous)?;
    let overrides: Vec<&str> = overrides.iter().map(String::as_str).collect();
    policy.rules.required(method, &overrides, &path)
}

/// The response to an `/auth` request that ended in `verdict`: 200 only with a grant,
/// 503 when the database could not answer, 403 for a genuine token that may not do this
/// (with the scope it lacks, or what else was wrong), 401 otherwise.
pub fn answer(
    verdict: Verdict,
    grant: Option<Grant>,
    scope: Result<&Scope, &Unmapped>,
) -> Response<Body> {
    match (verdict, grant) {
        (Verdict::Allowed, Some(grant)) => allowed(grant),
        (Verdict::StorageError, _) => {
            let mut r = text(StatusCode::SERVICE_UNAVAILABLE, "");
            r.headers_mut()
                .insert(hyper::header::RETRY_AFTER, HeaderValue::from_static("1"));
            r
        }
        (Verdict::Denied(DenyReason::WrongEnv), _) => {
            forbidden(HeaderValue::from_static(WRONG_ENV))
        }
        (Verdict::Denied(DenyReason::IpNotAllowed), _) => {
            forbidden(HeaderValue::from_static(IP_NOT_ALLOWED))
        }
        (Verdict::Denied(DenyReason::InsufficientScope), _) => match scope {
            // A scope is `[a-z0-9_*-]+:[a-z]+`: nothing in it needs quoting.
            Ok(s) => forbidden(
                HeaderValue::from_str(&format!(
                    "Bearer error=\"insufficient_scope\", scope=\"{s}\""
                ))
                .unwrap_or(HeaderValue::from_static(UNMAPPED)),
            ),
            Err(_) => forbidden(HeaderValue::from_static(UNMAPPED)),
        },
        (Verdict::Unmapped, _) => forbidden(HeaderValue::from_static(UNMAPPED)),
        (Verdict::Ambiguous, _) => {
            let why = match scope {
                Err(Unmapped::Ambiguous(kind)) => kind.description(),
                _ => "the request reads differently to different servers",
            };
            forbidden(
                HeaderValue::from_str(&format!(
                    "Bearer error=\"invalid_request\", error_description=\"ambiguous request: {why}\""
                ))
                .unwrap_or(HeaderValue::from_static(UNMAPPED)),
            )
        }
        (Verdict::Missing, _) => unauthorized(NO_TOKEN),
        _ => unauthorized(INVALID_TOKEN),
    }
}

fn text(status: StatusCode, body: &'static str) -> Response<Body> {
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

/// 200 with the token's id, name and scopes; the name is escaped when a header could not
/// carry it as it is (see [`header_text`]).
fn allowed(grant: Grant) -> Response<Body> {
    let mut r = text(StatusCode::OK, "");
    let h = r.headers_mut();
    h.insert(X_TOKEN_ID.clone(), header_text(&grant.token_id));
    h.insert(X_TOKEN_NAME.clone(), header_text(&grant.name));
    h.insert(X_TOKEN_SCOPES.clone(), header_text(&grant.scopes));
    r
}

fn unauthorized(challenge: &'static str) -> Response<Body> {
    let mut r = text(StatusCode::UNAUTHORIZED, "");
    r.headers_mut()
        .insert(WWW_AUTHENTICATE, HeaderValue::from_static(challenge));
    r
}

/// 403 with an RFC 6750 section 3 challenge.
fn forbidden(challenge: HeaderValue) -> Response<Body> {
    let mut r = text(StatusCode::FORBIDDEN, "");
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
    use crate::serve::uri::Ambiguity;

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
        assert!(matches!(&q.credential, Credential::Bearer(b) if b.as_bytes() == b"tok_live_x"));
        assert_eq!(q.scope.map(|s| s.to_string()).as_deref(), Ok("cases:write"));
        assert_eq!(q.ip, Some("203.0.113.7".parse().unwrap()));
        // Envoy ext_authz: the original request is the auth request, below /auth.
        let q = ask("DELETE", "/auth/api/cases/4?x=1", &[], local);
        assert!(matches!(q.credential, Credential::Missing));
        assert_eq!(
            q.scope.map(|s| s.to_string()).as_deref(),
            Ok("cases:delete")
        );
        // A peer that is not a trusted proxy is the client, whatever it claims.
        let remote: IpAddr = "198.51.100.9".parse().unwrap();
        let q = ask("GET", "/auth", &[("x-real-ip", "203.0.113.7")], remote);
        assert_eq!(q.ip, Some(remote));
        assert_eq!(q.scope, Err(Unmapped::NoRule));
        // Ambiguous: a dot segment, an override asking for more, two client addresses.
        let token = ("authorization", "Bearer tok_live_x");
        let q = ask(
            "GET",
            "/auth",
            &[token, ("x-original-uri", "/api/invoices/%2e%2e/cases/1")],
            local,
        );
        assert_eq!(q.scope, Err(Unmapped::Ambiguous(Ambiguity::DotSegment)));
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
        assert_eq!(q.scope, Err(Unmapped::Ambiguous(Ambiguity::MethodOverride)));
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
        assert_eq!(
            q.scope,
            Err(Unmapped::Ambiguous(Ambiguity::ConflictingHeaders))
        );
        assert_eq!(q.ip, None);
    }

    #[test]
    fn only_a_grant_is_allowed() {
        let grant = Grant {
            token_id: "abcd1234".into(),
            name: "importer".into(),
            env: "live".into(),
            scopes: "cases:read".into(),
        };
        let scope: Scope = "cases:write".parse().unwrap();
        let status = |v: Verdict, g: Option<Grant>| answer(v, g, Ok(&scope)).status().as_u16();
        assert_eq!(status(Verdict::Allowed, Some(grant.clone())), 200);
        assert_eq!(status(Verdict::Allowed, None), 401);
        assert_eq!(status(Verdict::StorageError, Some(grant)), 503);
        assert_eq!(status(Verdict::Missing, None), 401);
        assert_eq!(status(Verdict::Unmapped, None), 403);
        assert_eq!(status(Verdict::Ambiguous, None), 403);
        for reason in DenyReason::ALL {
            let want = if reason.is_forbidden() { 403 } else { 401 };
            assert_eq!(status(Verdict::Denied(reason), None), want, "{reason}");
        }
    }

    /// RFC 6750 section 3: no error code without a bearer token; the scope only when the token
    /// lacks it; otherwise a description of what was wrong.
    #[test]
    fn challenges_say_what_was_wrong() {
        let scope: Scope = "cases:write".parse().unwrap();
        let challenge = |v: Verdict, s: Result<&Scope, &Unmapped>| {
            answer(v, None, s).headers()[WWW_AUTHENTICATE]
                .to_str()
                .unwrap()
                .to_string()
        };
        let ambiguous = Unmapped::Ambiguous(Ambiguity::DotSegment);
        for (verdict, scope, want) in [
            (Verdict::Missing, Ok(&scope), "Bearer"),
            (
                Verdict::Denied(DenyReason::Revoked),
                Ok(&scope),
                "Bearer error=\"invalid_token\"",
            ),
            (
                Verdict::Denied(DenyReason::InsufficientScope),
                Ok(&scope),
                "Bearer error=\"insufficient_scope\", scope=\"cases:write\"",
            ),
            (
                Verdict::Denied(DenyReason::WrongEnv),
                Ok(&scope),
                "Bearer error=\"invalid_token\", error_description=\"the token is for another environment\"",
            ),
            (
                Verdict::Denied(DenyReason::IpNotAllowed),
                Ok(&scope),
                "Bearer error=\"invalid_token\", error_description=\"the token may not be used from this client address\"",
            ),
            (
                Verdict::Unmapped,
                Err(&Unmapped::NoRule),
                "Bearer error=\"insufficient_scope\", error_description=\"no rule maps this request to a scope\"",
            ),
            (
                Verdict::Ambiguous,
                Err(&ambiguous),
                "Bearer error=\"invalid_request\", error_description=\"ambiguous request: the path has a dot segment\"",
            ),
        ] {
            assert_eq!(challenge(verdict, scope), want, "{verdict:?}");
        }
        for kind in Ambiguity::ALL {
            let c = challenge(Verdict::Ambiguous, Err(&Unmapped::Ambiguous(kind)));
            assert!(c.contains(kind.description()), "{c}");
        }
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
