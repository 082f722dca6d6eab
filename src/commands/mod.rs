//! One file per subcommand, and the one dispatcher. A command reads its arguments, asks
//! the store, and returns a view for `Ui::emit` to print; it writes no SQL, parses no
//! text by hand and formats nothing itself.

mod audit;
mod backup;
mod completions;
mod config;
mod copy;
mod create;
mod init;
mod limit;
mod list;
mod prune;
mod resume;
mod revoke;
mod rotate;
mod scan;
mod serve;
mod show;
mod suspend;
mod verify;

use std::path::PathBuf;

use anyhow::{Context as _, Result};
use chrono::{DateTime, Utc};

use crate::cli::{Cli, Command};
use crate::error::{AmbiguousName, Exit, MissingDatabase, usage};
use crate::render::Zone;
use crate::store::{Error as StoreError, Location, OpenMode, Store, TokenRecord};
use crate::ui::Ui;

/// Longest description or reason, in characters.
pub(crate) const TEXT_MAX_CHARS: usize = 1_000;

/// What every command gets: the terminal, the database path and the time of the run.
pub struct Ctx {
    pub ui: Ui,
    pub db: Location,
    pub now: DateTime<Utc>,
}

impl Ctx {
    /// Opens the database, which must exist: a mistyped `--db` must not turn into an
    /// empty database that reports "no tokens" and "unknown" where there are some.
    pub fn store(&self) -> Result<Store> {
        if !Store::exists(&self.db)? {
            return Err(MissingDatabase {
                location: self.db.clone(),
            }
            .into());
        }
        self.open(OpenMode::Admin)
    }

    /// Opens the database, creating it (0600, in a 0700 directory) if it does not exist:
    /// only for the commands that write something worth keeping (`init`, `create`,
    /// `config set`).
    pub fn store_creating(&self) -> Result<Store> {
        self.open(OpenMode::Create)
    }

    fn open(&self, mode: OpenMode) -> Result<Store> {
        let mut store = Store::open(&self.db, mode)?;
        // Also the warnings that arise later, such as a revocation that needed the space
        // reserve of a full disk.
        store.report_warnings_to(self.ui.warning_printer());
        Ok(store)
    }
}

/// A database location as given: a PostgreSQL URL, or a path, where a `~` the shell did
/// not expand (it was quoted, or came from a variable) would name a folder called `~` in
/// the current directory.
fn check_db_path(path: PathBuf) -> Result<Location> {
    let location = Location::parse(path.as_os_str()).map_err(|e| usage(e.to_string()))?;
    if let Location::File(path) = &location {
        check_path_is_expanded(path)?;
    }
    Ok(location)
}

/// Refuses a path that starts with a literal `~`.
pub fn check_path_is_expanded(path: &std::path::Path) -> Result<()> {
    if path.to_string_lossy().starts_with('~') {
        return Err(crate::error::usage_with_hint(
            format!(
                "the path '{}' starts with a literal '~', which the shell did not expand",
                crate::text::escape(&path.to_string_lossy())
            ),
            "write $HOME/... (unquoted) or the full path",
        ));
    }
    Ok(())
}

/// The acting OS user recorded in the event log: the login name, and the user who ran
/// sudo when there is one.
pub fn actor() -> String {
    let user = whoami::username().unwrap_or_else(|_| "unknown".into());
    match std::env::var("SUDO_USER") {
        Ok(sudo) if !sudo.is_empty() && sudo != user => format!("{user} (sudo by {sudo})"),
        _ => user,
    }
}

/// The default database: `~/.local/share/tokenctl/tokens.db` on Linux.
pub fn default_db() -> Result<PathBuf> {
    let dirs = directories::ProjectDirs::from("", "", "tokenctl")
        .context("cannot find a home directory for the default database; pass --db PATH")?;
    Ok(dirs.data_dir().join("tokens.db"))
}

/// The token an `ID|NAME` argument means. A name that several tokens share is an error
/// that lists them (id, status, created, expires), so that the admin can pick the id.
/// When `reference` named `t` by its name (not its id): the tokens `t` replaced through
/// rotation that `pick` chooses, oldest first; by id, none. For the commands that act on
/// what a name still means, the old secret in its grace period included.
pub fn chain_by_name(
    store: &Store,
    t: &TokenRecord,
    reference: &str,
    pick: impl Fn(&TokenRecord) -> bool,
) -> Result<Vec<TokenRecord>> {
    if t.id == reference {
        return Ok(Vec::new());
    }
    let mut earlier = predecessors(store, t)?;
    earlier.retain(|p| pick(p));
    earlier.reverse();
    Ok(earlier)
}

/// The tokens `t` replaced through rotation, directly or not, newest first.
pub fn predecessors(store: &Store, t: &TokenRecord) -> Result<Vec<TokenRecord>> {
    let mut chain: Vec<TokenRecord> = store
        .rotation_chain(&t.id)?
        .into_iter()
        .take_while(|c| c.id != t.id)
        .collect();
    chain.reverse();
    Ok(chain)
}

pub fn resolve(store: &Store, reference: &str, now: DateTime<Utc>) -> Result<TokenRecord> {
    let (name, ids) = match store.resolve(reference, now) {
        Ok(t) => return Ok(t),
        Err(StoreError::Ambiguous { name, ids }) => (name, ids),
        Err(err) => return Err(err.into()),
    };
    let mut candidates = Vec::with_capacity(ids.len());
    for id in &ids {
        candidates.extend(store.token(id)?);
    }
    Err(AmbiguousName {
        name,
        candidates,
        now,
    }
    .into())
}

/// A token name as [`crate::name::check`] accepts it (a usage error otherwise).
pub fn check_name(name: &str) -> Result<String> {
    Ok(crate::name::check(name)?)
}

/// A description or reason: at most 1,000 characters (shown escaped).
pub fn check_text(what: &str, text: &str) -> Result<String> {
    if text.chars().count() > TEXT_MAX_CHARS {
        return Err(usage(format!(
            "the {what} is longer than {TEXT_MAX_CHARS} characters"
        )));
    }
    Ok(text.to_string())
}

pub fn run(cli: Cli) -> Result<Exit> {
    let now = crate::clock::now();
    let ctx = Ctx {
        ui: Ui::new(
            cli.quiet,
            cli.color,
            cli.command.json(),
            now,
            if cli.utc { Zone::Utc } else { Zone::Local },
        ),
        db: match cli.db {
            Some(p) => check_db_path(p)?,
            None => Location::File(default_db()?),
        },
        now,
    };
    match cli.command {
        Command::Init(_) => init::run(&ctx),
        Command::Create(args) => create::run(&ctx, args),
        Command::List(args) => list::run(&ctx, args),
        Command::Show(args) => show::run(&ctx, args),
        Command::Revoke(args) => revoke::run(&ctx, args),
        Command::Suspend(args) => suspend::run(&ctx, args),
        Command::Resume(args) => resume::run(&ctx, args),
        Command::Limit(args) => limit::run(&ctx, args),
        Command::Rotate(args) => rotate::run(&ctx, args),
        Command::Audit(args) => audit::run(&ctx, args),
        Command::Verify(args) => verify::run(&ctx, args),
        Command::Serve(args) => serve::run(&ctx, args),
        Command::Config(args) => config::run(&ctx, args),
        Command::Prune(args) => prune::run(&ctx, args),
        Command::Backup(args) => backup::run(&ctx, args),
        Command::Copy(args) => copy::run(&ctx, args),
        Command::Scan(args) => scan::run(&ctx, args),
        Command::Completions(args) => completions::run(&ctx, args),
    }
}
