//! `POST /introspect`: token introspection (RFC 7662), for resource servers that speak
//! OAuth rather than forward auth.
//!
//! Two questions, each decided by the verifier threads exactly as an `/auth` request's
//! is (same checks in the same order, same recording): first the caller's own bearer
//! token, which must grant `tokenctl:read` (else 401 or 403 with the challenge `/auth`
//! would answer), then the form's token, which needs nothing more. Both go to a verifier
//! thread in one hand-off (a second would cost a cross-thread round trip per request),
//! but the form's token is decided only when the caller may ask: a caller without the
//! scope learns nothing of the token it sent, and its use is not recorded. (A caller
//! that presents no bearer token at all is refused before its body is read; one that
//! presents any gets the form's errors, which tell nothing about tokens, first.)
//! Anything that denies on `/auth` (unknown,
//! revoked, expired, another environment, an address outside its allow list, and every
//! reason added later) makes the token inactive: exactly `{"active":false}`, whatever
//! the reason, so that the answer never tells which.
//!
//! Whose address: both tokens are judged and their uses recorded from the client address
//! of the introspection request, read as `/auth` reads it (`X-Real-IP` or
//! `X-Forwarded-For` from a trusted proxy, else the TCP peer). A resource server on a
//! trusted address that forwards its own client's address in `X-Real-IP` thus gets the
//! token's allow list checked against that client, as `/auth` would.

use std::sync::LazyLock;

use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use serde::Serialize;

use super::endpoints::{App, Body, answer, form_refused, json, oauth_error};
use super::form;
use super::forwarded::{self, Bearer};
use super::metrics::Introspected;
use crate::scope::{Access, Module, RESERVED_MODULE, Scope};
use crate::verify::{Authorization, Decision, Grant, Need, Question};

/// What the caller's own token must grant.
static INTROSPECT: LazyLock<Need> = LazyLock::new(|| {
    Need::Scope(Scope {
        module: Module::Named(RESERVED_MODULE.into()),
        access: Access::Read,
    })
});

/// RFC 7662 section 2.2, for an active token, with tokenctl's own `environment`.
#[derive(Serialize)]
struct Active<'a> {
    active: bool,
    scope: &'a str,
    /// The token's public id: the "client" is whoever holds the token.
    client_id: &'a str,
    username: &'a str,
    token_type: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    exp: Option<i64>,
    iat: i64,
    sub: &'a str,
    environment: &'a str,
}

impl<'a> Active<'a> {
    fn of(grant: &'a Grant) -> Active<'a> {
        Active {
            active: true,
            scope: &grant.scopes,
            client_id: &grant.token_id,
            username: &grant.name,
            token_type: "Bearer",
            exp: grant.expires_at.map(|t| t.timestamp()),
            iat: grant.issued_at.timestamp(),
            sub: &grant.token_id,
            environment: &grant.env,
        }
    }
}

impl App {
    /// Answers `/introspect`, and counts the answer in `/metrics`.
    pub(super) async fn introspect(
        &self,
        req: Request<Incoming>,
        peer: std::net::IpAddr,
    ) -> Response<Body> {
        let (response, result) = self.introspection(req, peer).await;
        self.metrics.introspected(result);
        response
    }

    async fn introspection(
        &self,
        req: Request<Incoming>,
        peer: std::net::IpAddr,
    ) -> (Response<Body>, Introspected) {
        let ip = match self.post_from(&req, peer) {
            Ok(ip) => ip,
            Err(refused) => return (*refused, Introspected::InvalidRequest),
        };
        let caller = Question {
            authorization: forwarded::authorization(forwarded::Headers::read(req.headers())),
            need: INTROSPECT.clone(),
            ip,
        };
        // A caller that presents no bearer token is refused before the body is read.
        if matches!(caller.authorization, Authorization::Bearer(_)) {
            let asked = match form::read_form(req, self.body_timeout).await {
                Ok(asked) => asked,
                Err(e) => return (form_refused(e), Introspected::InvalidRequest),
            };
            let question = Question {
                authorization: Authorization::Bearer(Bearer::from_body(asked.token)),
                need: Need::Nothing,
                ip,
            };
            return self.introspected(caller, question).await;
        }
        refused_caller(self.decide(&caller).await.as_ref())
    }

    /// Decides the caller's token and, only if it may introspect, the token asked about:
    /// both in one hand-off to a verifier thread.
    async fn introspected(
        &self,
        caller: Question<Bearer>,
        question: Question<Bearer>,
    ) -> (Response<Body>, Introspected) {
        let (first, then) = self.verifiers.verify_then(&caller, Some(&question)).await;
        let decided = match first {
            Ok(Decision::Allowed(_)) => then,
            Ok(refused) => return refused_caller(Some(&refused)),
            Err(e) => Some(Err(e)),
        };
        match decided {
            Some(Ok(Decision::Allowed(grant))) => (
                json(StatusCode::OK, &Active::of(&grant)),
                Introspected::Active,
            ),
            Some(Ok(Decision::Denied(_))) => (
                json(StatusCode::OK, &serde_json::json!({ "active": false })),
                Introspected::Inactive,
            ),
            Some(Err(e)) => {
                self.log_storage_error(&e);
                (answer(None, &Need::Nothing), Introspected::Error)
            }
            None => (answer(None, &Need::Nothing), Introspected::Error),
        }
    }
}

/// The caller may not introspect: what `/auth` would answer it, given the scope needed.
fn refused_caller(decided: Option<&Decision>) -> (Response<Body>, Introspected) {
    let result = match decided {
        Some(Decision::Denied(d)) if d.reason.is_forbidden() => Introspected::Forbidden,
        Some(_) => Introspected::Unauthenticated,
        None => Introspected::Error,
    };
    (answer(decided, &INTROSPECT), result)
}

/// Copies of the client-address header disagree: no address can be trusted.
fn bad_address(kind: crate::verify::Ambiguity) -> Response<Body> {
    oauth_error(
        StatusCode::BAD_REQUEST,
        "invalid_request",
        kind.description(),
    )
}

impl App {
    /// What both form endpoints (`/introspect`, `/revoke`) check before anything else: a
    /// POST, and the client's address (`None`: a trusted proxy sent none readable). `Err`
    /// holds the refusal to answer with (boxed: it is rare, and large).
    pub(super) fn post_from(
        &self,
        req: &Request<Incoming>,
        peer: std::net::IpAddr,
    ) -> Result<Option<std::net::IpAddr>, Box<Response<Body>>> {
        if req.method() != Method::POST {
            return Err(Box::new(form_refused(form::FormError::Method)));
        }
        forwarded::client_ip(
            peer,
            forwarded::Headers::read(req.headers()),
            &self.trusted_proxies,
        )
        .map_err(|kind| Box::new(bad_address(kind)))
    }
}
