//! Errors whose exit status differs from the default, and the one place that maps an
//! error to an exit status (SPEC §7).
//!
//! Commands return `anyhow::Result<Exit>`: an `Exit` for outcomes that are not errors
//! (findings, verify denials), an error otherwise. A [`UsageError`] anywhere in the chain
//! means the user asked for something invalid (exit 2); a closed stdout is success.

use std::fmt;
use std::io;

/// The exit statuses of SPEC §7.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    Success = 0,
    /// An operational error, or findings (`audit --check`, `scan`).
    Failure = 1,
    Usage = 2,
    /// `verify`: malformed, unknown, revoked or expired.
    Unauthenticated = 3,
    /// `verify`: scope, IP or environment.
    Forbidden = 4,
}

impl Exit {
    pub fn code(self) -> u8 {
        self as u8
    }
}

/// Invalid flags or values: exit 2. The message names the bad value (escaped).
#[derive(Debug)]
pub struct UsageError(pub String);

impl fmt::Display for UsageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

/// Shorthand for returning a usage error from a command.
pub fn usage(msg: impl Into<String>) -> anyhow::Error {
    anyhow::Error::new(UsageError(msg.into()))
}

/// Maps a failed command to its exit status.
pub fn exit_for(err: &anyhow::Error) -> Exit {
    if is_broken_pipe(err) {
        return Exit::Success;
    }
    if err.chain().any(|e| e.is::<UsageError>()) {
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
}
