//! The store's errors, by what a caller can do about them: a reference that names no
//! token or several, a request that the stored state refuses, a database that tokenctl
//! must not use, a database that is busy or cannot be reached, and every other failure.
//! A backend's advice about a failure travels with it as data ([`Error::advice`]).
//!
//! Messages and their causes read exactly as the backend's failure does: the wrapped
//! failure's own chain of causes is kept, so `error: …` and each `caused by: …` line are
//! the same whichever layer the error passes through.

use std::error::Error as StdError;
use std::fmt;

use crate::text::escape;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No token has this id or name.
    #[error("no token has the id or name '{}' (see 'tokenctl list --status all')", escape(.0))]
    NotFound(String),
    /// Several tokens answer to this name, none of them the obvious one.
    #[error(
        "several tokens are named '{}' ({}); give the id instead",
        escape(.name),
        .ids.join(", ")
    )]
    Ambiguous { name: String, ids: Vec<String> },
    /// What was asked contradicts what is stored (rotating a revoked token, a setting's
    /// invalid value) or names a place the store will not write: the user's to change.
    #[error(transparent)]
    Invalid(Failure),
    /// The database is not one this tokenctl may use; it was left untouched.
    #[error("{message}")]
    Refused { refusal: Refusal, message: String },
    /// Another process kept the database locked for longer than the store waits.
    #[error(transparent)]
    Busy(Failure),
    /// The database cannot be reached, or is no longer the one opened: whoever decides
    /// on a request denies (fails closed) until it is back.
    #[error(transparent)]
    Unavailable(Failure),
    #[error(transparent)]
    Other(Failure),
}

/// Why a database was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// A place another user or program could use to swap or read the database: a link,
    /// a second name, a mount point, a directory or side file of someone else.
    Unsafe,
    /// Another application's database.
    Foreign,
    /// Written by a newer tokenctl, whose schema this one does not know.
    NewerSchema,
    /// Not a database, or a damaged one.
    Damaged,
}

impl Error {
    /// A request the stored state refuses, for the reason given.
    pub fn invalid(message: String) -> Error {
        Error::Invalid(Failure::new(anyhow::Error::msg(message), None))
    }

    /// An unavailable database, for the reason given.
    pub fn unavailable(message: String) -> Error {
        Error::Unavailable(Failure::new(anyhow::Error::msg(message), None))
    }

    /// What the user can do about this failure, when the backend knows.
    pub fn advice(&self) -> Option<&'static str> {
        match self {
            Error::Invalid(f) | Error::Busy(f) | Error::Unavailable(f) | Error::Other(f) => {
                f.advice
            }
            _ => None,
        }
    }
}

/// A failure with its causes, and the backend's advice about it.
#[derive(Debug)]
pub struct Failure {
    error: anyhow::Error,
    advice: Option<&'static str>,
}

impl Failure {
    pub fn new(error: anyhow::Error, advice: Option<&'static str>) -> Failure {
        Failure { error, advice }
    }
}

/// The failure's own message; with `{:#}`, its causes too.
impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if f.alternate() {
            write!(f, "{:#}", self.error)
        } else {
            write!(f, "{}", self.error)
        }
    }
}

/// Its causes are the wrapped failure's: the message is not repeated.
impl StdError for Failure {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.error.source()
    }
}

/// What kind of failure, and what to advise about it: the backend that recognises one of
/// its driver's errors in the chain says so (see `super::classify`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Invalid,
    Busy,
    Unavailable,
    Other,
}

impl From<anyhow::Error> for Error {
    /// A store error passed back unchanged; any other failure classified by the backend
    /// whose driver raised it (or by a store error among its causes).
    fn from(err: anyhow::Error) -> Error {
        let err = match err.downcast::<Error>() {
            Ok(e) => return e,
            Err(err) => err,
        };
        let (kind, advice) = super::classify(&err)
            .or_else(|| {
                err.chain()
                    .find_map(|e| e.downcast_ref::<Error>())
                    .map(|e| (e.kind(), e.advice()))
            })
            .unwrap_or((Kind::Other, None));
        let failure = Failure::new(err, advice);
        match kind {
            Kind::Invalid => Error::Invalid(failure),
            Kind::Busy => Error::Busy(failure),
            Kind::Unavailable => Error::Unavailable(failure),
            Kind::Other => Error::Other(failure),
        }
    }
}

impl Error {
    fn kind(&self) -> Kind {
        match self {
            Error::Invalid(_) => Kind::Invalid,
            Error::Busy(_) => Kind::Busy,
            Error::Unavailable(_) => Kind::Unavailable,
            _ => Kind::Other,
        }
    }
}
