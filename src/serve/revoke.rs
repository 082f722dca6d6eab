//! `POST /revoke`: token revocation by whoever holds the token (RFC 7009), for a leak
//! found in a public repository, a log or a ticket.
//!
//! Presenting the token is the authorisation: any token of the database is revoked, of
//! any environment (killing a leaked token is never the wrong direction), with the reason
//! [`REASON`], through the store's own revocation (the one `tokenctl revoke` uses: the
//! revision changes in the same transaction, so the very next `/auth` request denies it)
//! and an admin event whose actor names the client address.
//!
//! No oracle: the answer is the same 200 with an empty body and the same headers whether
//! the token existed, was revoked already, or was never one of ours, and it leaves no
//! earlier than [`FLOOR`] after the request arrived, which is longer than the revocation
//! takes, so that its time does not tell either. `/metrics` counts only that it was
//! accepted. Calls are limited per client address (see [`throttle`](super::throttle)).

use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Result;
use hyper::body::{Bytes, Incoming};
use hyper::header::{HeaderValue, RETRY_AFTER};
use hyper::{Request, Response, StatusCode};

use super::endpoints::{App, Body, form_refused, oauth_error, text};
use super::form;
use super::log;
use super::metrics::Revoked;
use super::throttle::Throttle;
use crate::store::Store;

/// The revocation reason recorded for the token.
pub const REASON: &str = "revoked by its holder via /revoke";
/// The earliest an accepted revocation is answered, from the request's arrival.
pub const FLOOR: Duration = Duration::from_millis(100);

/// A connection of its own for revocations, and the per-address budget.
pub struct Revocations {
    store: Arc<Mutex<Store>>,
    throttle: Throttle,
}

impl Revocations {
    pub fn new(store: Store, throttle: Throttle) -> Revocations {
        Revocations {
            store: Arc::new(Mutex::new(store)),
            throttle,
        }
    }

    /// Revokes the token with these bytes if it is one of ours and not revoked yet;
    /// returns the id revoked. A storage error is an error (503).
    async fn revoke(&self, token: Bytes, client: Option<IpAddr>) -> Result<Option<String>> {
        let store = Arc::clone(&self.store);
        tokio::task::spawn_blocking(move || {
            let Some(hash) = std::str::from_utf8(&token)
                .ok()
                .and_then(|t| crate::token::parse(t).ok())
                .map(|parsed| parsed.hash())
            else {
                return Ok(None);
            };
            let mut store = store.lock().unwrap_or_else(|e| e.into_inner());
            let Some(found) = store.find_by_hash(&hash)? else {
                return Ok(None);
            };
            if found.revoked_at.is_some() {
                return Ok(None);
            }
            let actor = match client {
                Some(ip) => format!("holder at {ip} via /revoke"),
                None => "holder at an unknown address via /revoke".to_string(),
            };
            store.revoke_token(&found.id, Some(REASON), &actor, crate::clock::now())?;
            Ok(Some(found.id))
        })
        .await?
    }
}

impl App {
    /// Answers `/revoke`, and counts the answer in `/metrics`.
    pub(super) async fn revoke(&self, req: Request<Incoming>, peer: IpAddr) -> Response<Body> {
        let (response, result) = self.revocation(req, peer).await;
        self.metrics.revoked(result);
        response
    }

    async fn revocation(&self, req: Request<Incoming>, peer: IpAddr) -> (Response<Body>, Revoked) {
        let arrived = Instant::now();
        let client = match self.post_from(&req, peer) {
            Ok(ip) => ip,
            Err(refused) => return (*refused, Revoked::InvalidRequest),
        };
        // A trusted proxy that sent no readable address: its own budget.
        if let Err(wait) = self
            .revocations
            .throttle
            .admit(client.unwrap_or(peer), arrived)
        {
            return (too_many(wait), Revoked::RateLimited);
        }
        let asked = match form::read_form(req, self.body_timeout).await {
            Ok(asked) => asked,
            Err(e) => return (form_refused(e), Revoked::InvalidRequest),
        };
        let revoked = self.revocations.revoke(asked.token, client).await;
        tokio::time::sleep_until((arrived + FLOOR).into()).await;
        match revoked {
            Ok(id) => {
                if let Some(id) = id {
                    let from = client.map_or("an unknown address".into(), |ip| ip.to_string());
                    log(&format!(
                        "token {id} revoked by its holder via /revoke from {from}"
                    ));
                }
                (text(StatusCode::OK, ""), Revoked::Accepted)
            }
            Err(e) => {
                self.log_storage_error(&e);
                (
                    oauth_error(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "temporarily_unavailable",
                        "the database cannot answer; retry later",
                    ),
                    Revoked::Error,
                )
            }
        }
    }
}

/// 429 with the whole seconds until the address may revoke again.
fn too_many(wait: Duration) -> Response<Body> {
    let mut r = oauth_error(
        StatusCode::TOO_MANY_REQUESTS,
        "too_many_requests",
        "too many revocations from this address; retry later",
    );
    let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    if let Ok(v) = HeaderValue::from_str(&seconds.max(1).to_string()) {
        r.headers_mut().insert(RETRY_AFTER, v);
    }
    r
}
