//! The SQLite backend: opening a file safely, the pragmas, migrations, and one file per
//! table family (`tokens`, `settings`, `events`, `usage`, and the summaries `usage` writes
//! with its counters: `token_days`, running totals, and `token_recent`, a month by hour).
//! The only code that knows SQL or names rusqlite.
//!
//! Every write runs in a `BEGIN IMMEDIATE` transaction: it takes the write lock up front,
//! so a concurrent writer waits in the busy handler instead of failing with SQLITE_BUSY
//! when it would upgrade a read lock (which WAL mode cannot retry).
//!
//! # How SQLite keeps the contract's guarantees (see `store::backend`)
//!
//! 1. The revision is the value of `credentials_revision`, which triggers on `tokens`
//!    replace with a random one in the same transaction as any credential change,
//!    whoever writes it. tokenctl's own credential writes also take a ticket of the
//!    database's [`ChangeSignal`] (see `store::signal`), so that a verifier on this machine
//!    can tell, without a query, that nothing changed.
//! 2. A snapshot is a read transaction (`BEGIN DEFERRED`): in WAL mode, every read in it
//!    sees the database as of its first read, the revision included.
//! 3. The database is the file opened as long as the path names the same device and
//!    inode (one `stat`, see [`Sqlite::check_same_database`](Backend::check_same_database)).

pub mod allocator;
mod backup;
mod copy;
mod events;
mod file;
mod migrations;
mod open;
mod reserve;
mod settings;
#[cfg(test)]
pub(crate) mod testing;
mod token_days;
mod token_recent;
mod tokens;
mod usage;

use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context as _;
use chrono::{DateTime, TimeZone, Utc};
use rusqlite::{Connection, Transaction, TransactionBehavior};

use super::error::Kind;
use super::location::Location;
use super::records::Sink;
use super::signal::{ChangeSignal, Ticket};
use super::{Backend, BackupReport, Error, Result, Revision, WarningSink};

pub use reserve::RESERVE_BYTES;

/// The kind of the first SQLite error in `err`'s chain, and the advice worth giving
/// about it; `None` if SQLite raised none.
pub(super) fn classify(err: &anyhow::Error) -> Option<(Kind, Option<&'static str>)> {
    let e = err
        .chain()
        .find_map(|e| e.downcast_ref::<rusqlite::Error>())?;
    let kind = match e.sqlite_error_code() {
        Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked) => Kind::Busy,
        Some(rusqlite::ErrorCode::CannotOpen) => Kind::Unavailable,
        _ => Kind::Other,
    };
    Some((kind, open::advice(e)))
}

/// `?` on a driver error in a contract method: classified like any other failure.
impl From<rusqlite::Error> for Error {
    fn from(e: rusqlite::Error) -> Error {
        Error::from(anyhow::Error::new(e))
    }
}

/// An open tokenctl database in an SQLite file. One connection; not shared between
/// threads.
pub struct Sqlite {
    conn: Connection,
    path: PathBuf,
    /// The same path, as the contract names a location.
    location: Location,
    /// Device and inode of the file opened; `None` in memory.
    file: Option<(u64, u64)>,
    /// Device and inode of its `-wal` and `-shm` files, as found after opening.
    side_files: [Option<(u64, u64)>; 2],
    /// The space kept beside the database for revocations on a full disk; `None` in
    /// memory.
    reserve: Option<reserve::Reserve>,
    /// The database's change signal, once opened (see [`Sqlite::change_signal`]); its
    /// owner is the database file's.
    signal: RefCell<Option<Arc<ChangeSignal>>>,
    owner: (u32, u32),
    /// The database file was made by this handle's opening.
    made_here: bool,
    warnings: Vec<String>,
    /// Where warnings go as they arise, once the caller has said so.
    warning_sink: Option<WarningSink>,
}

/// Named as the caller knows it; the path only (a verifier's `Debug` shows it).
impl std::fmt::Debug for Sqlite {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("path", &self.path).finish()
    }
}

impl Backend for Sqlite {
    fn location(&self) -> &Location {
        &self.location
    }

    /// Read through a cached statement: on the verification path. With the schema's
    /// version, which any change to the schema moves (a table or trigger dropped by
    /// hand), so that cached credentials do not outlive the table they came from.
    fn revision(&self) -> Result<Revision> {
        const SQL: &str = "SELECT value, (SELECT schema_version FROM pragma_schema_version) \
                           FROM credentials_revision";
        let (value, schema) = self
            .conn
            .prepare_cached(SQL)?
            .query_row([], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(Revision::new(value, schema))
    }

    /// The file beside the database (see `store::signal`), opened on first use and again
    /// whenever the file at its path is no longer the one mapped (one `stat`). `None` in
    /// memory, or when it cannot be opened: verifiers then read the revision every time.
    fn change_signal(&self) -> Option<Arc<ChangeSignal>> {
        self.open_signal().ok()
    }

    /// One read transaction: every query in it sees the same snapshot, the one current
    /// when the first of them runs, and the shared-memory locks of WAL mode are taken
    /// once for all of them instead of once per statement.
    fn in_one_snapshot<T>(&self, reads: impl FnOnce() -> T) -> Result<T> {
        self.conn.prepare_cached("BEGIN DEFERRED")?.execute([])?;
        let out = reads();
        if let Err(e) = self
            .conn
            .prepare_cached("COMMIT")
            .and_then(|mut s| s.execute([]))
        {
            // Never leave the connection inside a transaction that would pin old data.
            let _ = self.conn.execute_batch("ROLLBACK");
            return Err(e.into());
        }
        Ok(out)
    }

    /// Fails when the file at the store's path is no longer the one this connection
    /// opened (deleted, or replaced by `mv`): SQLite would go on using the old file
    /// through its descriptor, where no revocation will ever arrive. Re-opening the path
    /// is no cure: SQLite pairs a database with its `-wal` and `-shm` files by name, and
    /// those at the path are the old file's. Opened next to them, a new file is read
    /// through the old file's log, which brought revoked tokens back and corrupted the
    /// new file when tried (tests/it/serve_faults.rs). So the caller denies until the
    /// process is restarted, and the old side files are moved aside, so that the restart
    /// (or any other process) opens the new file alone. Costs one `stat`.
    fn check_same_database(&self) -> Result<()> {
        let Some(opened) = self.file else {
            return Ok(());
        };
        if open::file_identity(&self.path) == Some(opened) {
            return Ok(());
        }
        let moved = open::set_aside(&self.path, &self.side_files);
        let moved = if moved.is_empty() {
            String::new()
        } else {
            let names: Vec<String> = moved.iter().map(|p| p.display().to_string()).collect();
            format!(
                "; moved the old file's {} aside, so that SQLite cannot apply them to the file there now",
                names.join(" and ")
            )
        };
        Err(Error::unavailable(format!(
            "the database {} was deleted or replaced while in use; restart to open the file there now (to restore a backup without a restart, use sqlite3's .restore: see SECURITY.md){moved}",
            self.path.display()
        )))
    }

    /// Without the file check, a deleted database still answers through its descriptor.
    fn health(&self) -> Result<()> {
        self.check_same_database()?;
        self.schema_version()?;
        Ok(())
    }

    fn schema_version(&self) -> Result<i64> {
        Ok(self
            .conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))?)
    }

    fn take_warnings(&mut self) -> Vec<String> {
        std::mem::take(&mut self.warnings)
    }

    fn report_warnings_to(&mut self, sink: WarningSink) {
        for w in self.warnings.drain(..) {
            sink(&w);
        }
        self.warning_sink = Some(sink);
    }

    fn export(&self, sink: Sink<'_>) -> Result<()> {
        self.export_records(sink)
    }

    fn backup_to(
        &mut self,
        dest: &Path,
        replace: bool,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<BackupReport> {
        Ok(self.write_backup(dest, replace, actor, now)?)
    }
}

impl Sqlite {
    /// Opens (and with [`OpenMode::Create`](super::OpenMode::Create), creates) the
    /// database at `path`.
    pub fn open(path: &Path, mode: super::OpenMode) -> Result<Sqlite> {
        Ok(open::open(path, mode)?)
    }

    /// An in-memory database with the current schema, for tests.
    pub fn open_in_memory() -> Result<Sqlite> {
        Ok(open::open_in_memory()?)
    }

    fn warn(&mut self, msg: String) {
        match &self.warning_sink {
            Some(sink) => sink(&msg),
            None => self.warnings.push(msg),
        }
    }

    /// The raw connection, for tests that look at or damage the database on purpose.
    #[cfg(test)]
    pub(crate) fn conn_for_tests(&self) -> &Connection {
        &self.conn
    }

    /// A write transaction that changes no credential (usage, settings, events).
    fn write(&mut self) -> anyhow::Result<Transaction<'_>> {
        Ok(self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?)
    }

    /// The change signal, (re)opened as [`change_signal`](Backend::change_signal) says.
    fn open_signal(&self) -> anyhow::Result<Arc<ChangeSignal>> {
        let mut slot = self.signal.borrow_mut();
        if let Some(signal) = &*slot
            && signal.is_current()
        {
            return Ok(Arc::clone(signal));
        }
        *slot = None;
        if self.file.is_none() {
            anyhow::bail!("an in-memory database has none");
        }
        let path = ChangeSignal::path_for(&self.path);
        let opened = ChangeSignal::open(&path, self.owner)
            .with_context(|| format!("cannot open the change signal {}", path.display()))?;
        let opened = Arc::new(opened);
        *slot = Some(Arc::clone(&opened));
        Ok(opened)
    }

    /// A write transaction that changes credentials: it takes a ticket of the change
    /// signal once it holds the write lock (see `store::signal`).
    fn write_credentials(&mut self) -> anyhow::Result<CredentialWrite<'_>> {
        let signal = self.signal_for_write();
        Ok(CredentialWrite::begin(&mut self.conn, signal)?)
    }

    /// The signal a credential change takes its ticket from. A verifier may still have
    /// mapped a file this change cannot reach: one deleted or replaced less than
    /// [`CHECK_INTERVAL`](super::signal::CHECK_INTERVAL) ago (the signal file is that
    /// young), or any when the signal cannot be opened. The change then returns only
    /// after that interval, by when every verifier has looked at the path and read the
    /// database's revision again, so that its caller can still rely on the next request
    /// seeing it. Not for a database this handle made: no verifier can have known an
    /// older signal of it (one of a deleted database denies anyway).
    fn signal_for_write(&mut self) -> Signalled {
        if self.file.is_none() {
            return Signalled {
                signal: None,
                wait: false,
            };
        }
        match self.open_signal() {
            Ok(signal) => Signalled {
                wait: signal.young() && !self.made_here,
                signal: Some(signal),
            },
            Err(e) => {
                self.warn(format!(
                    "{e:#}: this change waits {} ms, until every server on this machine has read the database again",
                    super::signal::CHECK_INTERVAL.as_millis()
                ));
                Signalled {
                    signal: None,
                    wait: true,
                }
            }
        }
    }

    /// Runs `change` in a write transaction and commits it, for a write that must not
    /// fail (a revocation). If the disk is full, the reserve beside the database is
    /// deleted and the change written again, and a warning says so; see [`reserve`].
    fn write_despite_full_disk<T>(
        &mut self,
        change: impl Fn(&Transaction<'_>) -> anyhow::Result<T>,
    ) -> anyhow::Result<T> {
        let first = self.write_credentials().and_then(|tx| {
            let out = change(&tx)?;
            tx.commit()?;
            Ok(out)
        });
        let err = match first {
            Err(e) if is_disk_full(&e) => e,
            done => return done,
        };
        if self.reserve.is_none() {
            return Err(err);
        }
        let signal = self.signal_for_write();
        let Sqlite { conn, reserve, .. } = self;
        let reserve = reserve.as_ref().expect("checked above");
        // The write lock first: until this commits, no other writer (a server's usage
        // flush) can take the space the reserve frees.
        let tx = CredentialWrite::begin(conn, signal)?;
        let released = reserve
            .release()
            .with_context(|| format!("cannot delete the reserve {}", reserve.path().display()))?;
        if !released {
            return Err(err.context(format!(
                "the disk is full, and the space reserve ({}) is already used: free space on that disk, then try again",
                reserve.path().display()
            )));
        }
        let out = change(&tx)?;
        tx.commit().with_context(|| {
            format!(
                "the disk is full: not even the {} KiB released from the reserve sufficed; free space on that disk, then try again",
                RESERVE_BYTES / 1024
            )
        })?;
        let msg = reserve.used();
        self.warn(msg);
        Ok(out)
    }
}

/// Where a credential change takes its ticket, and whether it must wait before
/// returning (see [`Sqlite::signal_for_write`]).
struct Signalled {
    signal: Option<Arc<ChangeSignal>>,
    wait: bool,
}

/// A credential-changing write transaction (see `store::signal` for the protocol): the
/// ticket is taken once `BEGIN IMMEDIATE` holds the write lock, and finished only after
/// the commit or the rollback (when dropped) has returned.
struct CredentialWrite<'a> {
    tx: Option<Transaction<'a>>,
    ticket: Option<(Arc<ChangeSignal>, Ticket)>,
    wait: bool,
}

impl<'a> CredentialWrite<'a> {
    fn begin(
        conn: &'a mut Connection,
        signalled: Signalled,
    ) -> rusqlite::Result<CredentialWrite<'a>> {
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let ticket = signalled.signal.map(|s| {
            let t = s.begin();
            (s, t)
        });
        Ok(CredentialWrite {
            tx: Some(tx),
            ticket,
            wait: signalled.wait,
        })
    }

    fn commit(mut self) -> rusqlite::Result<()> {
        self.tx.take().expect("committed once").commit()?;
        self.finish();
        if self.wait {
            std::thread::sleep(super::signal::CHECK_INTERVAL + std::time::Duration::from_millis(1));
        }
        Ok(())
    }

    fn finish(&mut self) {
        if let Some((signal, ticket)) = self.ticket.take() {
            signal.finish(ticket);
        }
    }
}

impl<'a> std::ops::Deref for CredentialWrite<'a> {
    type Target = Transaction<'a>;

    fn deref(&self) -> &Transaction<'a> {
        self.tx.as_ref().expect("not yet committed")
    }
}

impl Drop for CredentialWrite<'_> {
    fn drop(&mut self) {
        // Rolled back (if not committed) before the ticket is finished.
        drop(self.tx.take());
        self.finish();
    }
}

/// Whether `err` is SQLite failing to write for lack of space (`SQLITE_FULL`, or the
/// write and shared-memory errors a full disk causes in the -wal and -shm files).
pub(super) fn is_disk_full(err: &anyhow::Error) -> bool {
    err.chain()
        .filter_map(|e| e.downcast_ref::<rusqlite::Error>())
        .any(|e| match e {
            rusqlite::Error::SqliteFailure(f, _) => {
                f.code == rusqlite::ErrorCode::DiskFull
                    || f.extended_code == rusqlite::ffi::SQLITE_IOERR_WRITE
                    || f.extended_code == rusqlite::ffi::SQLITE_IOERR_SHMSIZE
            }
            _ => false,
        })
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

#[cfg(test)]
mod summary_tests;
#[cfg(test)]
mod tests;
