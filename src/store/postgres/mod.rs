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

pub(in crate::store) mod copy;
mod events;
mod migrations;
mod open;
mod pgpass;
mod pool;
mod settings;
pub(in crate::store) mod tls;
mod tokens;
mod usage;

use std::cell::RefCell;
use std::path::Path;
use std::sync::Arc;

use anyhow::Context as _;
use chrono::{DateTime, TimeZone, Utc};
use postgres::error::SqlState;
use postgres::{SimpleQueryMessage, Transaction};

use super::error::Kind;
use super::location::{Location, PostgresUrl};
use super::records::Sink;
use super::{Backend, BackupReport, Error, OpenMode, Result, Revision, WarningSink};
use pool::{Conn, Pool};

/// The kind of the first PostgreSQL error in `err`'s chain, and the advice worth giving
/// about it; `None` if the driver raised none.
pub(super) fn classify(err: &anyhow::Error) -> Option<(Kind, Option<&'static str>)> {
    let e = err
        .chain()
        .find_map(|e| e.downcast_ref::<postgres::Error>())?;
    const UNREACHABLE: &str = "check that the PostgreSQL server is running and reachable, and the URL's host, port, user and password (or PGPASSWORD, ~/.pgpass)";
    if e.to_string().starts_with("error performing TLS handshake") {
        return Some((
            Kind::Unavailable,
            Some(
                "the TLS connection to PostgreSQL failed: check the URL's sslmode, and with verify-ca or verify-full that sslrootcert holds the root that signed the server's certificate (verify-full: issued for the URL's host)",
            ),
        ));
    }
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
    pinned: RefCell<Option<Pinned>>,
    /// `meta.instance` as found when opened; `None` until then, for a store made while
    /// the server could not be reached (see [`Postgres::open_serving`]).
    instance: RefCell<Option<String>>,
    /// How the schema is checked when it is opened.
    mode: OpenMode,
    warnings: Vec<String>,
}

/// A snapshot's connection, and whether its transaction has begun: it begins with the
/// first read, in the same round trip when that read is the revision (as on every
/// verification), so that a verification answered from the cache costs two round trips
/// (begin and read the revision; commit), not three.
struct Pinned {
    conn: Conn,
    begun: bool,
}

const BEGIN_SNAPSHOT: &str = "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY";

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
        let shown = location.to_string();
        let (pool, instance, warnings) = on_server(url, |conn| open::prepare(conn, &shown, mode))?;
        Ok(Postgres {
            location,
            pool,
            pinned: RefCell::new(None),
            instance: RefCell::new(Some(instance)),
            mode,
            warnings,
        })
    }

    /// Opens the database at `url` for `serve`, which starts even while the server is
    /// down, and fails closed until it is up: when the server cannot be reached (now, or
    /// without `connect_now` at all), the store is opened on its first use that reaches
    /// it, where its schema is checked as [`OpenMode::Existing`] does; until then every
    /// use fails as unavailable. Returns why the server could not be reached now. Any
    /// other failure (a refused password, a foreign schema) is returned as an error.
    pub fn open_serving(url: &PostgresUrl, connect_now: bool) -> Result<(Postgres, Option<Error>)> {
        let unreached = if connect_now {
            match Postgres::open(url, OpenMode::Existing) {
                Err(e) if unreachable(&e) => Some(e),
                opened => return opened.map(|p| (p, None)),
            }
        } else {
            None
        };
        let mut warnings = Vec::new();
        let pool = Pool::for_url(url, &mut warnings)?;
        let store = Postgres {
            location: Location::Postgres(url.clone()),
            pool,
            pinned: RefCell::new(None),
            instance: RefCell::new(None),
            mode: OpenMode::Existing,
            warnings,
        };
        Ok((store, unreached))
    }

    /// Opens the database if it was not reachable when this store was made: checks its
    /// schema on a connection that reaches it and keeps its identity.
    fn opened(&self) -> Result<()> {
        if self.instance.borrow().is_some() {
            return Ok(());
        }
        let mut conn = self.pool.get()?;
        let found = open::prepare(&mut conn, &self.location.to_string(), self.mode);
        self.pool.put(conn);
        *self.instance.borrow_mut() = Some(found?);
        Ok(())
    }

    /// Whether tokenctl's schema is in the database at `url` (a foreign one counts: it
    /// is refused when opened).
    pub fn exists(url: &PostgresUrl) -> Result<bool> {
        Ok(on_server(url, |conn| open::has_schema(&mut conn.client))?.1)
    }

    /// Runs `f` on a connection: the snapshot's, inside one, else one from the pool
    /// (returned afterwards unless it broke).
    fn with<T>(&self, f: impl FnOnce(&mut Conn) -> anyhow::Result<T>) -> Result<T> {
        if let Some(pinned) = self.pinned.borrow_mut().as_mut() {
            if !pinned.begun {
                pinned.conn.client.batch_execute(BEGIN_SNAPSHOT)?;
                pinned.begun = true;
            }
            return Ok(f(&mut pinned.conn)?);
        }
        self.opened()?;
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
        if let Some(pinned) = self.pinned.borrow_mut().as_mut()
            && !pinned.begun
        {
            pinned.begun = true;
            let sql = format!("{BEGIN_SNAPSHOT}; SELECT revision FROM meta");
            let read = pinned.conn.client.simple_query(&sql)?;
            let value = read.iter().find_map(|m| match m {
                SimpleQueryMessage::Row(row) => row.get(0),
                _ => None,
            });
            let revision = value
                .and_then(|v| v.parse().ok())
                .ok_or_else(|| Error::unavailable("the database holds no revision".into()))?;
            return Ok(Revision::new(revision, 0));
        }
        self.with(|c| {
            let sql = c.prepared("SELECT revision FROM meta")?;
            Ok(Revision::new(c.client.query_one(&sql, &[])?.get(0), 0))
        })
    }

    /// One `REPEATABLE READ READ ONLY` transaction on one connection, kept for the reads:
    /// its snapshot is taken by its first statement, before any read returns.
    fn in_one_snapshot<T>(&self, reads: impl FnOnce() -> T) -> Result<T> {
        self.opened()?;
        let conn = self.pool.get()?;
        *self.pinned.borrow_mut() = Some(Pinned { conn, begun: false });
        let out = reads();
        let Pinned { mut conn, begun } = self.pinned.borrow_mut().take().expect("pinned above");
        // A failed read aborted the transaction: COMMIT then rolls it back.
        let ended = if begun {
            conn.client.batch_execute("COMMIT")
        } else {
            Ok(())
        };
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
            Ok(Some(instance)) if self.instance.borrow().as_deref() == Some(&instance) => Ok(()),
            Err(Error::Unavailable(_) | Error::Busy(_)) => Ok(()),
            Err(refused @ Error::Refused { .. }) => Err(refused),
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

    fn export(&self, sink: Sink<'_>) -> Result<()> {
        self.export_records(sink)
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

/// Whether `err` says that the server could not be reached at all (nothing listening, no
/// route, a connection cut, a server starting or shutting down), rather than that a
/// server answered and refused.
fn unreachable(err: &Error) -> bool {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = cause {
        if e.is::<std::io::Error>() {
            return true;
        }
        if let Some(c) = e.downcast_ref::<postgres::Error>().and_then(|p| p.code()) {
            return c.code().starts_with("08") || c.code().starts_with("57P");
        }
        cause = e.source();
    }
    false
}

/// Runs `first` on a connection to `url` from the process's pool; returns the pool, what
/// `first` found, and the warnings of setting up the connection. A failure names the
/// database, and an ignored password file, which may be why.
fn on_server<T>(
    url: &PostgresUrl,
    first: impl FnOnce(&mut Conn) -> anyhow::Result<T>,
) -> Result<(Arc<Pool>, T, Vec<String>)> {
    let mut warnings = Vec::new();
    let done = Pool::for_url(url, &mut warnings).and_then(|pool| {
        let mut conn = pool.get()?;
        let found = first(&mut conn)?;
        pool.put(conn);
        Ok((pool, found))
    });
    match done {
        Ok((pool, found)) => Ok((pool, found, warnings)),
        Err(e) => Err(match e.downcast::<Error>() {
            Ok(store) => store,
            Err(e) => {
                let e = warnings.iter().fold(e, |e, w| e.context(w.clone()));
                Error::from(e.context(format!("cannot open the database {url}")))
            }
        }),
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
