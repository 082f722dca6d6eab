//! The SQLite backend: opening a file safely, the pragmas, migrations, and one file per
//! table family (`tokens`, `settings`, `events`, `usage`).
//!
//! Every write runs in a `BEGIN IMMEDIATE` transaction: it takes the write lock up front,
//! so a concurrent writer waits in the busy handler instead of failing with SQLITE_BUSY
//! when it would upgrade a read lock (which WAL mode cannot retry).

mod events;
mod migrations;
mod open;
mod settings;
mod tokens;
mod usage;

pub use usage::Pruned;

use std::path::{Path, PathBuf};

use anyhow::Result;
use chrono::{DateTime, TimeZone, Utc};
use rusqlite::{Connection, Transaction, TransactionBehavior};

pub use open::OpenMode;

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
    warnings: Vec<String>,
}

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
mod tests;
