//! The SQLite backend: opening a file safely, the pragmas, migrations, and one file per
//! table family (`tokens`, `settings`, `events`, `usage`).
//!
//! Every write runs in a `BEGIN IMMEDIATE` transaction: it takes the write lock up front,
//! so a concurrent writer waits in the busy handler instead of failing with SQLITE_BUSY
//! when it would upgrade a read lock (which WAL mode cannot retry).

mod backup;
mod events;
mod file;
mod migrations;
mod open;
mod reserve;
mod settings;
mod token_days;
mod tokens;
mod usage;

pub use tokens::PrunedTokens;
pub use usage::Pruned;

use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};
use chrono::{DateTime, TimeZone, Utc};
use rusqlite::{Connection, Transaction, TransactionBehavior};

pub use open::OpenMode;
pub use reserve::RESERVE_BYTES;

/// Advice for the first SQLite error in `err`'s chain, if there is one worth giving.
pub fn advice(err: &anyhow::Error) -> Option<&'static str> {
    err.chain()
        .find_map(|e| e.downcast_ref::<rusqlite::Error>())
        .and_then(open::advice)
}

/// An open tokenctl database. One connection; not shared between threads.
pub struct Store {
    conn: Connection,
    path: PathBuf,
    /// Device and inode of the file opened; `None` in memory.
    file: Option<(u64, u64)>,
    /// Device and inode of its `-wal` and `-shm` files, as found after opening.
    side_files: [Option<(u64, u64)>; 2],
    /// The space kept beside the database for revocations on a full disk; `None` in
    /// memory.
    reserve: Option<reserve::Reserve>,
    warnings: Vec<String>,
    /// Where warnings go as they arise, once the caller has said so.
    warning_sink: Option<WarningSink>,
}

/// Where a store's warnings go as they arise ([`Store::report_warnings_to`]).
pub type WarningSink = Box<dyn Fn(&str) + Send>;

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("path", &self.path).finish()
    }
}

impl Store {
    /// Opens (and with [`OpenMode::Create`], creates) the database at `path`.
    pub fn open(path: &Path, mode: OpenMode) -> Result<Store> {
        open::open(path, mode)
    }

    /// An in-memory database with the current schema, for tests.
    pub fn open_in_memory() -> Result<Store> {
        open::open_in_memory()
    }

    pub fn path(&self) -> &Path {
        &self.path
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
    pub fn check_file(&self) -> Result<()> {
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
        anyhow::bail!(
            "the database {} was deleted or replaced while in use; restart to open the file there now (to restore a backup without a restart, use sqlite3's .restore: see SECURITY.md){moved}",
            self.path.display()
        )
    }

    /// Problems found while opening that the user should hear about (for example
    /// permissions that were repaired).
    pub fn take_warnings(&mut self) -> Vec<String> {
        std::mem::take(&mut self.warnings)
    }

    /// Hands the warnings found so far to `sink`, and every later one as it arises (a
    /// revocation that used the reserve on a full disk says so this way).
    pub fn report_warnings_to(&mut self, sink: WarningSink) {
        for w in self.warnings.drain(..) {
            sink(&w);
        }
        self.warning_sink = Some(sink);
    }

    fn warn(&mut self, msg: String) {
        match &self.warning_sink {
            Some(sink) => sink(&msg),
            None => self.warnings.push(msg),
        }
    }

    /// The schema version of the open database.
    pub fn schema_version(&self) -> Result<i64> {
        Ok(self
            .conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))?)
    }

    /// The raw connection, for tests that damage the database on purpose.
    #[cfg(test)]
    pub(crate) fn conn_for_tests(&self) -> &Connection {
        &self.conn
    }

    /// Runs `reads` in one read transaction: every query in it sees the same snapshot,
    /// the one current when the first of them runs, and the shared-memory locks of WAL
    /// mode are taken once for all of them instead of once per statement.
    pub fn in_one_snapshot<T>(&self, reads: impl FnOnce() -> T) -> Result<T> {
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

    /// A number that changes whenever another connection (another process, or another
    /// `Store`) commits to the database; this connection's own commits leave it alone.
    pub fn data_version(&self) -> Result<i64> {
        Ok(self
            .conn
            .prepare_cached("PRAGMA data_version")?
            .query_row([], |r| r.get(0))?)
    }

    fn write(&mut self) -> Result<Transaction<'_>> {
        Ok(self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?)
    }

    /// Runs `change` in a write transaction and commits it, for a write that must not
    /// fail (a revocation). If the disk is full, the reserve beside the database is
    /// deleted and the change written again, and a warning says so; see [`reserve`].
    fn write_despite_full_disk<T>(
        &mut self,
        change: impl Fn(&Transaction<'_>) -> Result<T>,
    ) -> Result<T> {
        let first = self.write().and_then(|tx| {
            let out = change(&tx)?;
            tx.commit()?;
            Ok(out)
        });
        let err = match first {
            Err(e) if is_disk_full(&e) => e,
            done => return done,
        };
        let Store { conn, reserve, .. } = self;
        let Some(reserve) = reserve else {
            return Err(err);
        };
        // The write lock first: until this commits, no other writer (a server's usage
        // flush) can take the space the reserve frees.
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
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
