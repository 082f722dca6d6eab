//! Opening a database file: creation with safe permissions, recognising what the file is
//! before anything is written to it, pragmas, and migrations.
//!
//! A file that is not ours (another application's SQLite file, a non-SQLite file, a
//! corrupt one) or that a newer tokenctl wrote is refused before any write, so it is left
//! byte-for-byte as it was.

use std::fs::{self, DirBuilder, OpenOptions};
use std::io;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use rusqlite::{Connection, ErrorCode, OpenFlags};

use super::Store;
use super::migrations::{self, APPLICATION_ID, MIGRATIONS};

/// How long a command waits for another process's write lock before giving up.
const BUSY_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpenMode {
    /// Create the file (0600, in a 0700 directory) if it does not exist: admin commands.
    Create,
    /// The file must exist already: `verify` and `serve`, which must never conjure up an
    /// empty database and must fail closed when theirs is missing.
    Existing,
}

/// What the file turned out to be, read without writing.
#[derive(Debug, PartialEq, Eq)]
enum Identity {
    /// A new, empty file.
    Empty,
    Ours {
        version: i64,
    },
}

pub fn open(path: &Path, mode: OpenMode) -> Result<Store> {
    let mut warnings = Vec::new();
    if path.is_dir() {
        bail!("{} is a directory, not a database file", path.display());
    }
    match mode {
        OpenMode::Create => create_file(path)?,
        OpenMode::Existing => {
            if !path.exists() {
                bail!(
                    "database {} does not exist (set --db or TOKENCTL_DB to the database your tokens are in)",
                    path.display()
                );
            }
        }
    }
    tighten_permissions(path, &mut warnings);
    // Before opening: if the file is replaced in between, the connection is to a newer
    // file than the one recorded, and check_file refuses (safe), never the reverse.
    let file = file_identity(path);

    let mut conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| explain(path, e))?;
    conn.busy_timeout(BUSY_TIMEOUT)?;

    let identity = identify_consistently(&conn).map_err(|e| refuse(path, e))?;
    if identity == Identity::Empty && mode == OpenMode::Existing {
        bail!(
            "database {} is empty: no token was ever created in it",
            path.display()
        );
    }
    if identity
        != (Identity::Ours {
            version: migrations::latest(),
        })
    {
        migrate(&mut conn).map_err(|e| refuse(path, e))?;
    }
    use_wal(&conn).map_err(|e| refuse(path, e))?;
    conn.pragma_update(None, "foreign_keys", true)?;
    // FULL: a revocation that returned is on disk even if the machine loses power.
    conn.pragma_update(None, "synchronous", "FULL")?;
    // A read opens the -wal and -shm (a new database in WAL mode has none yet), so that
    // their permissions are checked and their identity recorded.
    conn.query_row("PRAGMA user_version", [], |_| Ok(()))?;
    for suffix in SIDE_FILES {
        tighten_permissions(&side_file(path, suffix), &mut warnings);
    }
    Ok(Store {
        conn,
        file,
        side_files: SIDE_FILES.map(|suffix| file_identity(&side_file(path, suffix))),
        path: path.to_path_buf(),
        warnings,
    })
}

pub fn open_in_memory() -> Result<Store> {
    let mut conn = Connection::open_in_memory()?;
    migrate(&mut conn)?;
    conn.pragma_update(None, "foreign_keys", true)?;
    Ok(Store {
        conn,
        path: PathBuf::from(":memory:"),
        file: None,
        side_files: [None, None],
        warnings: Vec::new(),
    })
}

/// Device and inode of the file at `path` now, if there is one.
pub(super) fn file_identity(path: &Path) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    fs::metadata(path).ok().map(|m| (m.dev(), m.ino()))
}

/// The files SQLite keeps beside a database in WAL mode, and pairs with it by name.
pub(super) const SIDE_FILES: [&str; 2] = ["-wal", "-shm"];

/// Moves the side files this connection found at open aside (renamed with a
/// `.replaced-<time>` suffix), if they are still there, after the database file itself
/// was deleted or replaced: they hold the old file's log and index, which SQLite would
/// apply to whatever file is put at the path next, and which it leaves in place when the
/// connection closes because the file moved. Returns the new names. Renamed, not
/// deleted: the old file's last transactions stay recoverable.
pub(super) fn set_aside(path: &Path, seen: &[Option<(u64, u64)>; 2]) -> Vec<PathBuf> {
    // One connection at a time, so that a second one finds the files gone rather than
    // racing the first to them.
    static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%SZ");
    let mut moved = Vec::new();
    for (suffix, seen) in SIDE_FILES.iter().zip(seen) {
        let side = side_file(path, suffix);
        if seen.is_some() && file_identity(&side) == *seen {
            let aside = side_file(&side, &format!(".replaced-{stamp}"));
            if fs::rename(&side, &aside).is_ok() {
                moved.push(aside);
            }
        }
    }
    moved
}

fn side_file(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

/// Creates the file 0600 (and missing directories 0700) unless it exists.
fn create_file(path: &Path) -> Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty())
        && !dir.exists()
    {
        DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .with_context(|| format!("cannot create the directory {}", dir.display()))?;
    }
    match OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
    {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e).with_context(|| {
            format!(
                "cannot create the database {} (is the directory writable?)",
                path.display()
            )
        }),
    }
}

/// Database files hold token hashes and usage history: owner-only. A looser file is
/// repaired with a warning.
fn tighten_permissions(path: &Path, warnings: &mut Vec<String>) {
    let Ok(meta) = fs::metadata(path) else {
        return;
    };
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 == 0 {
        return;
    }
    match fs::set_permissions(path, fs::Permissions::from_mode(0o600)) {
        Ok(()) => warnings.push(format!(
            "{} was accessible to other users (mode {mode:04o}); changed it to 0600",
            path.display()
        )),
        Err(e) => warnings.push(format!(
            "{} is accessible to other users (mode {mode:04o}) and could not be changed to 0600: {e}",
            path.display()
        )),
    }
}

/// [`identify`] inside one read transaction, so that the header and the schema are read
/// from the same snapshot even while another process initialises the file.
fn identify_consistently(conn: &Connection) -> Result<Identity> {
    let tx = conn.unchecked_transaction()?;
    let identity = identify(&tx);
    // A read-only transaction has nothing to undo; after an I/O error SQLite may already
    // have ended it, and that "no transaction is active" must not hide the real error.
    let _ = tx.rollback();
    identity
}

/// Reads the header fields and the schema size; writes nothing.
fn identify(conn: &Connection) -> Result<Identity> {
    let app_id: i32 = conn.query_row("PRAGMA application_id", [], |r| r.get(0))?;
    let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    let objects: i64 = conn.query_row("SELECT count(*) FROM sqlite_schema", [], |r| r.get(0))?;
    if app_id == APPLICATION_ID {
        if version > migrations::latest() {
            return Err(anyhow!(Newer(version)));
        }
        return Ok(Identity::Ours { version });
    }
    if app_id == 0 && version == 0 && objects == 0 {
        return Ok(Identity::Empty);
    }
    Err(anyhow!(Foreign { app_id, objects }))
}

#[derive(Debug)]
struct Newer(i64);

impl std::fmt::Display for Newer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "its schema version {} is newer than this tokenctl understands ({}); upgrade tokenctl",
            self.0,
            migrations::latest()
        )
    }
}

impl std::error::Error for Newer {}

#[derive(Debug)]
struct Foreign {
    app_id: i32,
    objects: i64,
}

impl std::fmt::Display for Foreign {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "it is an SQLite database of another application (application_id {:#x}, {} schema objects), not a tokenctl database",
            self.app_id, self.objects
        )
    }
}

impl std::error::Error for Foreign {}

/// Applies the migrations the file lacks, in one IMMEDIATE transaction. The identity is
/// checked again under the write lock: another process may have initialised the file
/// since we looked.
fn migrate(conn: &mut Connection) -> Result<()> {
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let from = match identify(&tx)? {
        Identity::Empty => {
            tx.pragma_update(None, "application_id", APPLICATION_ID)?;
            0
        }
        Identity::Ours { version } => version,
    };
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(from as usize) {
        tx.execute_batch(sql)
            .with_context(|| format!("migration {} failed", i + 1))?;
    }
    tx.pragma_update(None, "user_version", migrations::latest())?;
    tx.commit()?;
    Ok(())
}

/// WAL lets readers (verify, serve) proceed while an admin writes. Switching needs a
/// moment of exclusive access, which a process that is creating the same file at the same
/// time may hold: retry for as long as the busy timeout.
fn use_wal(conn: &Connection) -> Result<()> {
    let started = Instant::now();
    loop {
        let mode: rusqlite::Result<String> =
            conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0));
        match mode {
            Ok(m) if m.eq_ignore_ascii_case("wal") => return Ok(()),
            Ok(m) => bail!("could not switch to WAL journal mode (got '{m}')"),
            Err(e)
                if e.sqlite_error_code() == Some(ErrorCode::DatabaseBusy)
                    && started.elapsed() < BUSY_TIMEOUT =>
            {
                std::thread::sleep(Duration::from_millis(5));
            }
            Err(e) => return Err(e.into()),
        }
    }
}

/// Wraps a failure to open or recognise the file in a message that says what the file
/// is, and that it was not changed.
fn refuse(path: &Path, err: anyhow::Error) -> anyhow::Error {
    let why = if let Some(e) = err.downcast_ref::<rusqlite::Error>() {
        match e.sqlite_error_code() {
            Some(ErrorCode::NotADatabase) => {
                "it is not an SQLite database (or its header is damaged)".to_string()
            }
            Some(ErrorCode::DatabaseCorrupt) => {
                format!("it is corrupt ({e}); restore it from a backup")
            }
            _ => return explain(path, err_into_sqlite(err)),
        }
    } else if err.is::<Newer>() || err.is::<Foreign>() {
        err.to_string()
    } else {
        return err.context(format!("cannot open the database {}", path.display()));
    };
    anyhow!(
        "refusing to use {}: {why}. The file was left untouched.",
        path.display()
    )
}

fn err_into_sqlite(err: anyhow::Error) -> rusqlite::Error {
    err.downcast::<rusqlite::Error>()
        .expect("checked by the caller")
}

/// What to tell the user about an SQLite failure they can do something about.
pub fn advice(e: &rusqlite::Error) -> Option<&'static str> {
    match e.sqlite_error_code()? {
        ErrorCode::CannotOpen => Some(
            "check that the file and its directory exist and are writable: SQLite creates -wal and -shm files beside the database",
        ),
        ErrorCode::ReadOnly => Some("the database or its directory is read-only for this user"),
        ErrorCode::PermissionDenied => Some("permission denied"),
        ErrorCode::DiskFull => {
            Some("the disk is full; the change was rolled back, nothing was written")
        }
        ErrorCode::SystemIoFailure => Some(
            "the disk is full, a file size limit was reached, or the disk failed; the change was rolled back",
        ),
        ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked => {
            Some("another process kept the database locked for more than 30 seconds; try again")
        }
        ErrorCode::DatabaseCorrupt | ErrorCode::NotADatabase => {
            Some("the database file is damaged; restore it from a backup")
        }
        _ => None,
    }
}

/// A failure to open the file, with advice when there is some.
pub(super) fn explain(path: &Path, e: rusqlite::Error) -> anyhow::Error {
    let what = match advice(&e) {
        Some(h) => format!("database {}: {h}", path.display()),
        None => format!("database {}", path.display()),
    };
    anyhow::Error::new(e).context(what)
}
