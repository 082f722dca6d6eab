//! The question a verification answers: which credential a request presents, what the
//! request needs, and where it comes from. `serve` reads one from each `/auth` request
//! (`serve::endpoints::question`) and queues it to a verifier thread as it is; an API
//! server that uses the library builds one with [`Question::new`]. A [`Verifier`]
//! decides it.
//!
//! A question holds the token the way its asker does (a `&str`, or the header value the
//! server already holds): nothing here copies it, and `Debug` never shows it.
//!
//! [`Verifier`]: super::Verifier

use std::fmt;
use std::net::IpAddr;

use super::reason::{DenyReason, Unmapped};
use crate::scope::{Scope, ScopeSet};

/// What a request's `Authorization` header presents; `T` holds a bearer token's bytes.
/// Not comparable: nothing should compare secrets but the store, by hash.
#[derive(Clone)]
pub enum Authorization<T> {
    /// No `Authorization` header: nothing was presented.
    Missing,
    /// One `Authorization` header of another scheme (`Basic ...`): no bearer token was
    /// presented, so the answer carries no error code (RFC 6750 section 3.1).
    OtherScheme,
    /// Several `Authorization` headers, or `Bearer` without a token: presented, but
    /// unreadable.
    Malformed,
    /// A bearer token, as presented (it may be anything, including non-UTF-8: the
    /// verifier decides).
    Bearer(T),
}

impl<T> fmt::Debug for Authorization<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Authorization::Missing => "Missing",
            Authorization::OtherScheme => "OtherScheme",
            Authorization::Malformed => "Malformed",
            Authorization::Bearer(_) => "Bearer(<redacted>)",
        })
    }
}

/// What a request needs beyond a genuine, active token of the right environment and
/// client address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Need {
    /// Nothing more: the token alone is checked (`tokenctl verify` without `--scope`).
    Nothing,
    Scope(Scope),
    /// A scope no token can have: even a genuine, active token is refused, after the
    /// other checks, with the reason the server found.
    Unmapped(Unmapped),
}

impl Need {
    /// The refusal of a genuine, active token whose grants are `granted`, if any.
    pub(super) fn refused(&self, granted: &ScopeSet) -> Option<DenyReason> {
        match self {
            Need::Nothing => None,
            Need::Scope(s) => (!granted.allows(s)).then_some(DenyReason::InsufficientScope),
            Need::Unmapped(why) => Some(why.reason()),
        }
    }
}

impl From<Result<Scope, Unmapped>> for Need {
    fn from(mapped: Result<Scope, Unmapped>) -> Need {
        match mapped {
            Ok(scope) => Need::Scope(scope),
            Err(why) => Need::Unmapped(why),
        }
    }
}

/// What is asked about one request.
#[derive(Debug, Clone)]
pub struct Question<T> {
    pub authorization: Authorization<T>,
    pub need: Need,
    /// The client's address; a token with an allow list is refused without one (a
    /// trusted proxy that sent an unreadable address).
    pub ip: Option<IpAddr>,
}

impl<T: AsRef<[u8]>> Question<T> {
    /// A question about the bearer token `token`, needing nothing more, from no address.
    pub fn new(token: T) -> Question<T> {
        Question {
            authorization: Authorization::Bearer(token),
            need: Need::Nothing,
            ip: None,
        }
    }

    pub fn scope(mut self, scope: Scope) -> Self {
        self.need = Need::Scope(scope);
        self
    }

    /// Marks the request as one no scope covers (see [`Need::Unmapped`]).
    pub fn unmapped(mut self, why: Unmapped) -> Self {
        self.need = Need::Unmapped(why);
        self
    }

    pub fn ip(mut self, ip: IpAddr) -> Self {
        self.ip = Some(ip);
        self
    }
}
