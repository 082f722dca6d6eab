//! tokenctl: API tokens for a web application's HTTP API — created with the least scope
//! that works, stored as hashes in one SQLite file, verified on every request, and audited.
//!
//! The binary is a thin wrapper over [`run`]. A Rust API server uses the library directly:
//! open the database with a [`Verifier`], ask it a [`Question`] about each request, and
//! commit the recorded uses now and then (see [`Verifier`] for an example).

pub mod allowlist;
pub mod anomaly;
pub mod cli;
pub mod clock;
mod commands;
pub mod complete;
pub mod error;
pub mod expiry;
pub mod name;
pub mod rate_limit;
pub mod render;
pub mod scan;
pub mod scope;
pub mod serve;
pub mod settings;
pub mod store;
pub mod text;
pub mod token;
mod ui;
pub mod usage;
pub mod verify;

use std::ffi::OsString;
use std::io::Write;

use clap::Parser;

pub use error::Exit;
pub use scope::{Access, Scope, ScopeSet};
pub use store::{OpenMode, Store, TokenRecord};
pub use usage::UsageBuffer;
pub use verify::{Authorization, Decision, Denial, DenyReason, Grant, Need, Question, Verifier};

/// Runs the command line `args` (including the program name) and returns the exit status.
/// Errors are printed to stderr here, and nowhere else.
pub fn run<I, T>(args: I) -> Exit
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let cli = match cli::Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => return clap_error(e),
    };
    match commands::run(cli) {
        Ok(exit) => exit,
        Err(err) => {
            let exit = error::exit_for(&err);
            if exit != Exit::Success {
                let _ = writeln!(std::io::stderr(), "{}", error::report(&err));
            }
            exit
        }
    }
}

/// Help and version go to stdout with exit 0; usage errors to stderr with exit 2. Clap
/// quotes the offending argument, so control characters in it are escaped first.
fn clap_error(e: clap::Error) -> Exit {
    use clap::error::ErrorKind;
    match e.kind() {
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => {
            let _ = e.print();
            Exit::Success
        }
        ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            let _ = e.print();
            Exit::Usage
        }
        _ => {
            let text = e.render().to_string();
            let safe: String = text
                .split('\n')
                .map(|l| text::escape(l).into_owned())
                .collect::<Vec<_>>()
                .join("\n");
            let _ = write!(std::io::stderr(), "{safe}");
            Exit::Usage
        }
    }
}
