//! Exit statuses, the errors whose status differs from the default, their hints, and the
//! one place that maps an error to an exit status and writes it out (README, "Exit
//! status").
//!
//! Commands return `anyhow::Result<Exit>`: an `Exit` for outcomes that are not errors
//! (findings, verify denials), an error otherwise. Errors keep their types wherever they
//! are raised; [`exit_for`] looks at the types in the chain (as jj's `command_error.rs`
//! does with its error kinds): the user asked for something invalid (exit 2), a reader
//! closed stdout (success), or anything else went wrong (exit 1). Hints are data that the
//! error types carry, gathered by [`hints`] and printed on lines of their own.

use std::error::Error as StdError;
use std::io;

use crate::expiry::{ExpiryError, LifetimeError, SpanError};
use crate::name::NameError;
use crate::scope::{ScopeError, UnknownModule};
use crate::settings::SettingError;
use crate::store::Error as StoreError;

/// How a run ended, as the process's exit status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    Success = 0,
    /// An operational error: the command could not do its job (a missing or unreadable
    /// database, a token not found, a full disk).
    Failure = 1,
    Usage = 2,
    /// `verify`: malformed, unknown, revoked or expired.
    Unauthenticated = 3,
    /// `verify`: scope, IP or environment.
    Forbidden = 4,
    /// The check ran and found something: `audit --check` flagged an anomaly, `scan`
    /// found an active token. Apart from 1, so that a cron job can tell an attack from a
    /// broken job.
    Findings = 5,
}

impl Exit {
    pub fn code(self) -> u8 {
        self as u8
    }
}

/// Invalid flags or values that a command found (exit 2). The message names the bad value
/// (escaped).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

/// A usage error and what to do instead.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct HintedUsageError {
    pub message: String,
    pub hint: String,
}

/// The database file a command needs is not there.
#[derive(Debug, thiserror::Error)]
#[error("there is no database at {location}")]
pub struct MissingDatabase {
    pub location: crate::store::Location,
}

impl MissingDatabase {
    /// How to create it, or to point at the right one.
    pub fn hint(&self) -> String {
        format!(
            "create it with 'tokenctl --db {} init', or point --db or TOKENCTL_DB at the database your tokens are in",
            crate::text::shell_quote(&self.location.to_string())
        )
    }
}

/// A name given for `ID|NAME` that several tokens share, none of them the obvious one
/// (the newest active token of a rotation chain).
#[derive(Debug, thiserror::Error)]
#[error(
    "several tokens are named '{}'; give the id of the one you mean:\n{}",
    crate::text::escape(.name),
    candidates_table(.candidates, .now)
)]
pub struct AmbiguousName {
    pub name: String,
    pub candidates: Vec<crate::store::TokenRecord>,
    /// The time of the run, for the statuses.
    pub now: chrono::DateTime<chrono::Utc>,
}

/// The tokens an ambiguous name could mean: id, status, creation and expiry (in UTC, as
/// an error message is read without a zone setting), indented under the message.
fn candidates_table(
    tokens: &[crate::store::TokenRecord],
    now: &chrono::DateTime<chrono::Utc>,
) -> String {
    use crate::render::table::{Cell, Table};
    let at = |t: chrono::DateTime<chrono::Utc>| t.format("%Y-%m-%d %H:%M UTC").to_string();
    let mut table = Table::new(&["ID", "STATUS", "CREATED", "EXPIRES"]);
    for t in tokens {
        table.row(vec![
            t.id.as_str().into(),
            Cell::status(t.status(*now)),
            at(t.created_at).into(),
            t.expires_at.map_or_else(|| "never".to_string(), at).into(),
        ]);
    }
    table
        .render(false, None)
        .lines()
        .map(|l| format!("  {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// A usage error from a command.
pub fn usage(message: impl Into<String>) -> anyhow::Error {
    anyhow::Error::new(UsageError(message.into()))
}

/// A usage error with what to do about it.
pub fn usage_with_hint(message: impl Into<String>, hint: impl Into<String>) -> anyhow::Error {
    anyhow::Error::new(HintedUsageError {
        message: message.into(),
        hint: hint.into(),
    })
}

/// Whether `e` says that the user asked for something invalid: a bad value of a flag or
/// argument, refused by the rules that own it.
fn is_usage(e: &(dyn StdError + 'static)) -> bool {
    e.is::<UsageError>()
        || e.is::<HintedUsageError>()
        || e.is::<NameError>()
        || e.is::<ScopeError>()
        || e.is::<UnknownModule>()
        || e.is::<SpanError>()
        || e.is::<ExpiryError>()
        || e.is::<LifetimeError>()
        || e.is::<SettingError>()
}

/// The status a store error calls for, by its kind: a request the stored state refuses
/// is the user's to change; a database that is missing, refused, busy or failing is not.
fn store_exit(e: &StoreError) -> Exit {
    match e {
        StoreError::Invalid(_) => Exit::Usage,
        StoreError::NotFound(_)
        | StoreError::Ambiguous { .. }
        | StoreError::Refused { .. }
        | StoreError::Busy(_)
        | StoreError::Unavailable(_)
        | StoreError::Other(_) => Exit::Failure,
    }
}

/// Maps a failed command to its exit status.
pub fn exit_for(err: &anyhow::Error) -> Exit {
    if is_broken_pipe(err) {
        return Exit::Success;
    }
    let store_usage = |e: &(dyn StdError + 'static)| {
        e.downcast_ref::<StoreError>()
            .is_some_and(|e| store_exit(e) == Exit::Usage)
    };
    if err.chain().any(|e| is_usage(e) || store_usage(e)) {
        return Exit::Usage;
    }
    Exit::Failure
}

/// A reader that closed our stdout (`tokenctl list | head -1`) is not an error.
pub fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|e| {
        e.downcast_ref::<io::Error>()
            .is_some_and(|e| e.kind() == io::ErrorKind::BrokenPipe)
    })
}

/// What the user can do about `err`: the hints its types carry, then the store's advice
/// about a database failure.
pub fn hints(err: &anyhow::Error) -> Vec<String> {
    let mut hints: Vec<String> = err
        .chain()
        .filter_map(|e| {
            if let Some(u) = e.downcast_ref::<HintedUsageError>() {
                Some(u.hint.clone())
            } else if let Some(m) = e.downcast_ref::<MissingDatabase>() {
                Some(m.hint())
            } else {
                e.downcast_ref::<LifetimeError>()
                    .and_then(LifetimeError::hint)
                    .map(str::to_string)
            }
        })
        .collect();
    hints.extend(
        err.chain()
            .filter_map(|e| e.downcast_ref::<StoreError>())
            .find_map(StoreError::advice)
            .map(str::to_string),
    );
    hints
}

/// The text written to stderr for a failed command: the error, its causes, its hints.
pub fn report(err: &anyhow::Error) -> String {
    let mut text = format!("error: {err}");
    for cause in err.chain().skip(1) {
        text.push_str(&format!("\n  caused by: {cause}"));
    }
    for hint in hints(err) {
        // Some messages already say it (an open error names the advice with the path).
        if !text.contains(&hint) {
            text.push_str(&format!("\n  hint: {hint}"));
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mapping() {
        assert_eq!(exit_for(&usage("bad")), Exit::Usage);
        assert_eq!(
            exit_for(&usage("bad").context("while creating")),
            Exit::Usage
        );
        assert_eq!(exit_for(&anyhow::anyhow!("disk")), Exit::Failure);
        let pipe = anyhow::Error::new(io::Error::from(io::ErrorKind::BrokenPipe));
        assert_eq!(exit_for(&pipe.context("writing")), Exit::Success);
    }

    #[test]
    fn typed_user_errors_are_usage_errors_wherever_they_are_in_the_chain() {
        let bad_scope = "cases".parse::<crate::Scope>().unwrap_err();
        assert_eq!(exit_for(&anyhow::Error::new(bad_scope)), Exit::Usage);
        let setting = SettingError::UnknownKey("nope".into());
        let wrapped = anyhow::Error::new(setting).context("config set");
        assert_eq!(exit_for(&wrapped), Exit::Usage);
        let name = crate::name::check("").unwrap_err();
        assert_eq!(exit_for(&anyhow::Error::new(name)), Exit::Usage);
    }

    #[test]
    fn store_errors_map_by_kind_and_bring_their_advice() {
        use crate::store::{Error as StoreError, Failure};
        let refused = StoreError::invalid("token k3j9x0a1 is revoked".into());
        let refused = anyhow::Error::new(refused).context("rotating");
        assert_eq!(exit_for(&refused), Exit::Usage);
        let missing = anyhow::Error::new(StoreError::NotFound("nobody".into()));
        assert_eq!(exit_for(&missing), Exit::Failure);
        let locked = Failure::new(anyhow::anyhow!("database is locked"), Some("try again"));
        let err = anyhow::Error::new(StoreError::Busy(locked)).context("revoking");
        assert_eq!(exit_for(&err), Exit::Failure);
        assert_eq!(
            report(&err),
            "error: revoking\n  caused by: database is locked\n  hint: try again"
        );
    }

    #[test]
    fn hints_are_printed_on_their_own_line() {
        let err = usage_with_hint("revoking k3j9x0a1 needs confirmation", "pass --yes");
        assert_eq!(
            report(&err),
            "error: revoking k3j9x0a1 needs confirmation\n  hint: pass --yes"
        );
        let never = LifetimeError::NeverNotAllowed(crate::expiry::Span::days(365));
        let text = report(&anyhow::Error::new(never));
        assert!(
            text.ends_with(
                "\n  hint: set max_lifetime to 'none' first: tokenctl config set max_lifetime none"
            ),
            "{text}"
        );
    }
}
