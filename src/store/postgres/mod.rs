//! The PostgreSQL backend: a database named by a URL, tokenctl's tables in their own
//! schema, connections from a pool shared within the process (`pool`), migrations of
//! its own (`migrations`, `open`), and one file per table family (`tokens`, `settings`,
//! `events`, `usage`). The only code that knows PostgreSQL's SQL or names its driver.
//!
//! # Writes
//!
//! Every transaction that changes a credential, a setting or the event log starts by
//! bumping `meta.revision` (`UPDATE`, which takes that row's lock until commit). So such
//! writers run one after the other, whichever machine they run on, and each statement
//! after the bump (READ COMMITTED: each statement sees what was committed before it
//! began) sees every earlier writer's commit: a revocation cannot be overwritten by a
//! concurrent rotation, nor a token rotated twice. Usage commits do not bump it (they
//! change no credential); they serialise on an advisory lock of their own and add with
//! `INSERT … ON CONFLICT … DO UPDATE SET n = n + excluded.n`, which PostgreSQL applies
//! atomically per row, so no increment is lost or counted twice.
//!
//! # How PostgreSQL keeps the contract's guarantees (see `store::backend`)
//!
//! 1. The revision is `meta.revision`, bumped inside every credential-changing
//!    transaction: it commits atomically with the change, so whoever sees the change sees
//!    the new number, and whoever sees the old number sees none of the change, whichever
//!    server or process wrote it.
//! 2. A snapshot is a `REPEATABLE READ READ ONLY` transaction on one connection: its
//!    first statement (the revision read) fixes the snapshot for every later read in it.
//!    A snapshot taken after a revocation committed sees it: PostgreSQL makes a commit
//!    visible to every snapshot taken after the commit returned.
//! 3. The database is the one opened as long as `meta.instance` (a random identity
//!    written when the schema was created) is unchanged. Dropping and re-creating the
//!    schema, or pointing the URL at another server, changes it. An unreachable server
//!    is not a different database: every read fails then, and the verifier denies.

mod events;
mod migrations;
mod open;
mod pgpass;
mod pool;
mod settings;
mod tokens;
mod usage;

use std::cell::RefCell;
use std::path::Path;
use std::sync::Arc;

use anyhow::Context as _;
use chrono::{DateTime, TimeZone, Utc};
use postgres::Transaction;
use postgres::error::SqlState;

use super::error::Kind;
use super::location::{Location, PostgresUrl};
use super::{Backend, BackupReport, Error, OpenMode, Result, Revision, WarningSink};
use pool::{Conn, Pool};

/// The kind of the first PostgreSQL error in `err`'s chain, and the advice worth giving
/// about it; `None` if the driver raised none.
pub(super) fn classify(err: &anyhow::Error) -> Option<(Kind, Option<&'static str>)> {
    let e = err
        .chain()
        .find_map(|e| e.downcast_ref::<postgres::Error>())?;
    const UNREACHABLE: &str = "check that the PostgreSQL server is running and reachable, and the URL's host, port, user and password (or PGPASSWORD, ~/.pgpass)";
    Some(match e.code() {
        None => (Kind::Unavailable, Some(UNREACHABLE)),
        Some(c) if c.code().starts_with("08") || c.code().starts_with("57P") => {
            (Kind::Unavailable, Some(UNREACHABLE))
        }
        Some(c) if c.code().starts_with("28") => (
            Kind::Unavailable,
            Some(
                "PostgreSQL refused the role or its password: check the URL's user, and PGPASSWORD or ~/.pgpass",
            ),
        ),
        Some(&SqlState::T_R_SERIALIZATION_FAILURE)
        | Some(&SqlState::T_R_DEADLOCK_DETECTED)
        | Some(&SqlState::QUERY_CANCELED)
        | Some(&SqlState::LOCK_NOT_AVAILABLE) => (
            Kind::Busy,
            Some(
                "another transaction kept the database busy for longer than tokenctl waits; try again",
            ),
        ),
        Some(&SqlState::INSUFFICIENT_PRIVILEGE) => (
            Kind::Other,
            Some(
                "the PostgreSQL role lacks a privilege on tokenctl's schema (see README: Several servers)",
            ),
        ),
        Some(_) => (Kind::Other, None),
    })
}

/// `?` on a driver error in a contract method: classified like any other failure.
impl From<postgres::Error> for Error {
    fn from(e: postgres::Error) -> Error {
        Error::from(anyhow::Error::new(e))
    }
}

/// An open tokenctl database on a PostgreSQL server. Not shared between threads; its
/// connections come from the process's pool for the URL.
pub struct Postgres {
    location: Location,
    pool: Arc<Pool>,
    /// The connection a snapshot reads through, while one is open.
    pinned: RefCell<Option<Conn>>,
    /// `meta.instance` as found when opened.
    instance: String,
    warnings: Vec<String>,
}

impl std::fmt::Debug for Postgres {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("location", &self.location)
            .finish()
    }
}

impl Postgres {
    /// Opens the database at `url`; with [`OpenMode::Create`], creates tokenctl's schema
    /// in it if it is not there.
    pub fn open(url: &PostgresUrl, mode: OpenMode) -> Result<Postgres> {
        let location = Location::Postgres(url.clone());
        let mut warnings = Vec::new();
        let shown = location.to_string();
        let opened = (|| {
            let pool = Pool::for_url(url, &mut warnings)?;
            let mut conn = pool.get()?;
            let instance = open::prepare(&mut conn, &shown, mode)?;
            pool.put(conn);
            anyhow::Ok((pool, instance))
        })();
        // A password file that was ignored may be why: say so with the failure.
        let (pool, instance) = opened.map_err(|e| {
            let e = warnings.iter().fold(e, |e, w| e.context(w.clone()));
            Error::from(match e.downcast::<Error>() {
                Ok(store) => return store,
                Err(e) => e.context(format!("cannot open the database {shown}")),
            })
        })?;
        Ok(Postgres {
            location,
            pool,
            pinned: RefCell::new(None),
            instance,
            warnings,
        })
    }

    /// Whether tokenctl's schema is in the database at `url`.
    pub fn exists(url: &PostgresUrl) -> Result<bool> {
        match Postgres::open(url, OpenMode::Existing) {
            Ok(_) => Ok(true),
            Err(Error::Unavailable(f)) if f.to_string().starts_with("there is no tokenctl") => {
                Ok(false)
            }
            Err(e) => Err(e),
        }
    }

    /// Runs `f` on a connection: the snapshot's, inside one, else one from the pool
    /// (returned afterwards unless it broke).
    fn with<T>(&self, f: impl FnOnce(&mut Conn) -> anyhow::Result<T>) -> Result<T> {
        if let Some(conn) = self.pinned.borrow_mut().as_mut() {
            return Ok(f(conn)?);
        }
        let mut conn = self.pool.get()?;
        let out = f(&mut conn);
        self.pool.put(conn);
        Ok(out.with_context(|| format!("database {}", self.location))?)
    }

    /// Runs `change` in one transaction and commits it. `credentials`: the change
    /// bumps the revision first, which also queues it behind every other such writer.
    fn write<T>(
        &mut self,
        credentials: bool,
        change: impl FnOnce(&mut Transaction<'_>) -> anyhow::Result<T>,
    ) -> Result<T> {
        self.with(|conn| {
            let mut tx = conn.client.transaction()?;
            if credentials {
                tx.execute("UPDATE meta SET revision = revision + 1", &[])?;
            }
            let out = change(&mut tx)?;
            tx.commit()?;
            Ok(out)
        })
    }
}

impl Backend for Postgres {
    fn location(&self) -> &Location {
        &self.location
    }

    fn revision(&self) -> Result<Revision> {
        self.with(|c| {
            let sql = c.prepared("SELECT revision FROM meta")?;
            Ok(Revision::new(c.client.query_one(&sql, &[])?.get(0), 0))
        })
    }

    /// One `REPEATABLE READ READ ONLY` transaction on one connection, kept for the reads.
    fn in_one_snapshot<T>(&self, reads: impl FnOnce() -> T) -> Result<T> {
        let mut conn = self.pool.get()?;
        conn.client
            .batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")?;
        *self.pinned.borrow_mut() = Some(conn);
        let out = reads();
        let mut conn = self.pinned.borrow_mut().take().expect("pinned above");
        // A failed read aborted the transaction: COMMIT then rolls it back.
        let ended = conn.client.batch_execute("COMMIT");
        self.pool.put(conn);
        ended?;
        Ok(out)
    }

    /// Compares `meta.instance` with the one found when opened. An unreachable server
    /// passes: every read fails then on its own, and whoever decides denies.
    fn check_same_database(&self) -> Result<()> {
        let found = self.with(|c| {
            let sql = c.prepared("SELECT instance FROM meta")?;
            Ok(c.client
                .query_opt(&sql, &[])?
                .map(|r| r.get::<_, String>(0)))
        });
        match found {
            Ok(Some(instance)) if instance == self.instance => Ok(()),
            Err(Error::Unavailable(_) | Error::Busy(_)) => Ok(()),
            _ => Err(Error::unavailable(format!(
                "the database {} was dropped or replaced while in use (its tokenctl schema is not the one opened); restart to open the one there now",
                self.location
            ))),
        }
    }

    fn health(&self) -> Result<()> {
        self.check_same_database()?;
        self.schema_version()?;
        Ok(())
    }

    fn schema_version(&self) -> Result<i64> {
        self.with(|c| Ok(c.client.query_one("SELECT version FROM meta", &[])?.get(0)))
    }

    fn take_warnings(&mut self) -> Vec<String> {
        std::mem::take(&mut self.warnings)
    }

    /// Every warning arises while opening (a password file others may read), so none
    /// comes later.
    fn report_warnings_to(&mut self, sink: WarningSink) {
        for w in self.warnings.drain(..) {
            sink(&w);
        }
    }

    /// Not built yet for PostgreSQL: `pg_dump` is the tool there.
    fn backup_to(
        &mut self,
        _dest: &Path,
        _replace: bool,
        _actor: &str,
        _now: DateTime<Utc>,
    ) -> Result<BackupReport> {
        Err(Error::invalid(format!(
            "'tokenctl backup' writes SQLite files and cannot copy the PostgreSQL database {} yet; back it up with pg_dump --schema=tokenctl",
            self.location
        )))
    }
}

/// Seconds since the epoch, as stored.
fn ts(t: DateTime<Utc>) -> i64 {
    t.timestamp()
}

fn from_ts(s: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(s, 0)
        .single()
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
}
