//! Opening a database file: creation with safe permissions, recognising what the file is
//! before anything is written to it, pragmas, and migrations.
//!
//! A file that is not ours (another application's SQLite file, a non-SQLite file, a
//! corrupt one) or that a newer tokenctl wrote is refused before any write, so it is left
//! byte-for-byte as it was.

use std::fs::{self, DirBuilder, OpenOptions};
use std::io;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use rusqlite::{Connection, ErrorCode, OpenFlags};

use super::migrations::{self, APPLICATION_ID, MIGRATIONS};
use super::{Sqlite, file, reserve};
use crate::store::location::Location;
use crate::store::{Error, OpenMode, Refusal};

/// How long a command waits for another process's write lock before giving up.
const BUSY_TIMEOUT: Duration = Duration::from_secs(30);

impl OpenMode {
    /// Whether a missing file is an error rather than something to create.
    fn must_exist(self) -> bool {
        self != OpenMode::Create
    }

    /// Whether the process is an admin command, which may hold the database alone for a
    /// moment and looks after the space reserve.
    fn is_admin(self) -> bool {
        self != OpenMode::Existing
    }
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

pub fn open(given: &Path, mode: OpenMode) -> Result<Sqlite> {
    let mut warnings = Vec::new();
    let path = locate(given, mode)?;
    let found = match file::find(&path).map_err(|e| cannot(given, mode, e))? {
        Some(found) => found,
        None if mode.must_exist() => return Err(missing(given)),
        None => {
            create_database(&path).map_err(|e| {
                if e.is::<Unsafe>() {
                    Error::Refused {
                        refusal: Refusal::Unsafe,
                        message: format!("refusing to create {}: {e}", given.display()),
                    }
                    .into()
                } else {
                    e.context(cannot_create(given))
                }
            })?;
            file::find(&path)
                .map_err(|e| cannot(given, mode, e))?
                .ok_or_else(|| anyhow!("database {} vanished as it was created", given.display()))?
        }
    };
    examine(given, &path, &found).map_err(|e| refuse(given, e))?;

    let identity = identify_unchanged(&path).map_err(|e| refuse(given, e))?;
    if identity == Identity::Empty {
        if found.uid != file::effective_uid() {
            return Err(refuse(
                given,
                anyhow!(Unsafe(format!(
                    "it is an empty file of user {}, and tokenctl makes a database only in a file of its own user",
                    found.uid
                ))),
            ));
        }
        if mode.must_exist() {
            bail!(
                "database {} is empty: no token was ever created in it",
                given.display()
            );
        }
    }
    // Only now is the file known to be ours (or an empty one of ours to make ours).
    tighten(&path, &found, &mut warnings);

    let conn = match connect(given, &path, &found, false) {
        // With no other process holding it open, SQLite must create the 32 KiB -shm file
        // to open the database in WAL mode. On a full disk an admin command (a revocation,
        // perhaps) opens it in exclusive locking mode instead, which keeps that index in
        // memory and so needs no space to open; other processes wait for it to finish.
        Err(e) if mode.is_admin() && super::is_disk_full(&e) => {
            warnings.push(format!(
                "the disk holding {} is full: opened the database for this command alone (other processes wait until it ends); free space on that disk",
                path.display()
            ));
            connect(given, &path, &found, true)?
        }
        other => other?,
    };
    let mut side_files = [None, None];
    for (suffix, seen) in SIDE_FILES.iter().zip(&mut side_files) {
        let side = side_file(&path, suffix);
        if let Some(f) = side_file_checked(&side, &found).map_err(|e| refuse(given, e))? {
            tighten(&side, &f, &mut warnings);
            *seen = Some(f.identity());
        }
    }
    let reserve = reserve::Reserve::beside(&path, &found);
    if mode.is_admin() {
        warnings.extend(reserve.keep());
    }
    Ok(Sqlite {
        conn,
        file: Some(found.identity()),
        side_files,
        location: Location::File(path.clone()),
        path,
        reserve: Some(reserve),
        signal: Default::default(),
        owner: (found.uid, found.gid),
        made_here: identity == Identity::Empty,
        warnings,
        warning_sink: None,
    })
}

/// Opens the examined file with SQLite, makes sure it is the one examined, migrates it
/// and switches it to WAL mode; `exclusive`: in exclusive locking mode.
fn connect(given: &Path, path: &Path, found: &file::Found, exclusive: bool) -> Result<Connection> {
    let mut conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX
            | OpenFlags::SQLITE_OPEN_NOFOLLOW,
    )
    .map_err(|e| explain(given, e))?;
    // The file SQLite opened must be the one examined; only someone who can write the
    // directory could have swapped them, and examine refused such directories.
    if file_identity(path) != Some(found.identity()) {
        bail!(
            "database {} was replaced while it was being opened; try again",
            given.display()
        );
    }
    conn.busy_timeout(BUSY_TIMEOUT)?;
    if exclusive {
        // Before the first access: only then does SQLite do without the -shm file.
        conn.pragma_update(None, "locking_mode", "EXCLUSIVE")?;
    }

    let identity = identify_consistently(&conn).map_err(|e| refuse(given, e))?;
    if identity
        != (Identity::Ours {
            version: migrations::latest(),
        })
    {
        migrate(&mut conn).map_err(|e| refuse(given, e))?;
    }
    use_wal(&conn).map_err(|e| refuse(given, e))?;
    conn.pragma_update(None, "foreign_keys", true)?;
    // FULL: a revocation that returned is on disk even if the machine loses power.
    conn.pragma_update(None, "synchronous", "FULL")?;
    // A read opens the -wal and -shm (a new database in WAL mode has none yet), so that
    // their permissions are checked and their identity recorded.
    conn.query_row("PRAGMA user_version", [], |_| Ok(()))?;
    Ok(conn)
}

/// The database's path with its directory made canonical (created 0700 first for an
/// admin command), so that the checks, SQLite and the -wal/-shm files all agree on one
/// directory. The last component is kept as given: a symbolic link there is refused,
/// not followed.
pub(super) fn locate(given: &Path, mode: OpenMode) -> Result<PathBuf> {
    let Some(name) = given.file_name() else {
        bail!("{} does not name a database file", given.display());
    };
    let dir = given
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    if mode == OpenMode::Create && !dir.exists() {
        DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .with_context(|| format!("cannot create the directory {}", dir.display()))?;
    }
    match fs::canonicalize(dir) {
        Ok(dir) => Ok(dir.join(name)),
        Err(e) if e.kind() == io::ErrorKind::NotFound && mode.must_exist() => Err(missing(given)),
        Err(e) => Err(cannot(given, mode, e)),
    }
}

/// A database that must exist and does not: whoever verifies against it denies.
fn missing(given: &Path) -> anyhow::Error {
    Error::unavailable(format!(
        "database {} does not exist (set --db or TOKENCTL_DB to the database your tokens are in)",
        given.display()
    ))
    .into()
}

fn cannot_create(given: &Path) -> String {
    format!(
        "cannot create the database {} (is the directory writable?)",
        given.display()
    )
}

fn cannot(given: &Path, mode: OpenMode, e: io::Error) -> anyhow::Error {
    let what = match mode {
        OpenMode::Create => cannot_create(given),
        OpenMode::Admin | OpenMode::Existing => {
            format!("cannot open the database {}", given.display())
        }
    };
    anyhow::Error::new(e).context(what)
}

/// Refuses a file that is not a plain file with one name, a file that is a mount point of
/// its own, a directory that lets other users swap files, and `-wal`/`-shm` files that
/// are not the database's. Looks only.
fn examine(given: &Path, path: &Path, found: &file::Found) -> Result<()> {
    if found.kind == rustix::fs::FileType::Symlink {
        let target = fs::canonicalize(given)
            .or_else(|_| fs::read_link(given))
            .map_or_else(|_| "?".to_string(), |t| t.display().to_string());
        bail!(Unsafe(format!(
            "it is a symbolic link to {target}. tokenctl follows no link to a database, so that no link can point it at another program's file: give the real path (--db {target})"
        )));
    }
    if let Some(why) = found.not_plain() {
        let hint = if found.kind == rustix::fs::FileType::RegularFile {
            format!(
                ". SQLite finds the -wal and -shm files by the name it was given, so a change made through one name, a revocation among them, can go unseen through another. Keep one name (find the others with: find / -xdev -samefile {}); to share the database with a container, bind-mount its directory",
                given.display()
            )
        } else {
            String::new()
        };
        bail!(Unsafe(format!("{why}{hint}")));
    }
    if found.is_mount_root(path) {
        bail!(Unsafe(
            "it is a mount point of its own (a file bind-mounted into place). SQLite finds the -wal and -shm files by name, beside the path it was given, so changes made through this path and through the mount's source, a revocation among them, go unseen by each other. Bind-mount the directory that holds the database instead".to_string()
        ));
    }
    let dir = path.parent().unwrap_or(Path::new("/"));
    if let Some(why) = file::unsafe_directory(dir, Some(found.uid)) {
        bail!(Unsafe(why));
    }
    for suffix in SIDE_FILES {
        side_file_checked(&side_file(path, suffix), found)?;
    }
    Ok(())
}

/// A `-wal` or `-shm` file, if there is one, when it can be the database's own: a plain
/// file with one name, of the database's owner. SQLite would write the database's log
/// into any file by that name, or read another user's log as the database's.
fn side_file_checked(side: &Path, db: &file::Found) -> Result<Option<file::Found>> {
    let Some(f) = file::find(side)? else {
        return Ok(None);
    };
    let name = side.file_name().map(|n| n.to_string_lossy().into_owned());
    let name = name.unwrap_or_default();
    if let Some(why) = f.not_plain() {
        bail!(Unsafe(format!(
            "its file {name} is not SQLite's: {why}; move it away (with every tokenctl process stopped)"
        )));
    }
    if f.uid != db.uid {
        bail!(Unsafe(format!(
            "its file {name} belongs to user {}, not to the database's owner ({}): another user may have planted it to read or forge the database's log; remove it (with every tokenctl process stopped)",
            f.uid, db.uid
        )));
    }
    Ok(Some(f))
}

pub fn open_in_memory() -> Result<Sqlite> {
    let mut conn = Connection::open_in_memory()?;
    migrate(&mut conn)?;
    conn.pragma_update(None, "foreign_keys", true)?;
    Ok(Sqlite {
        conn,
        path: PathBuf::from(":memory:"),
        location: Location::File(PathBuf::from(":memory:")),
        file: None,
        side_files: [None, None],
        reserve: None,
        signal: Default::default(),
        owner: (0, 0),
        made_here: true,
        warnings: Vec::new(),
        warning_sink: None,
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

/// Makes a new database at `path` unless a file is there: built and migrated under a
/// temporary name in the same directory (0600), then renamed into place only if the
/// path is still free. So nobody ever finds a half-made database at the path, and a
/// process that loses the race uses the winner's file.
fn create_database(path: &Path) -> Result<()> {
    build_new(path, |_| Ok(())).map(|_| ())
}

/// Builds a new database for `path` under a temporary name in its directory (0600, no
/// link followed), migrated, filled by `fill`, then renamed to `path` only if nothing is
/// there: `None` when something was. A failure, or a file found at `path`, leaves no
/// trace of the new one.
pub(super) fn build_new<T>(
    path: &Path,
    fill: impl FnOnce(&mut Connection) -> Result<T>,
) -> Result<Option<T>> {
    let dir = path.parent().unwrap_or(Path::new("/"));
    if let Some(why) = file::unsafe_directory(dir, None) {
        bail!(Unsafe(why));
    }
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(format!(
        ".new-{}-{:08x}",
        std::process::id(),
        rand::random::<u32>()
    ));
    let temp = dir.join(format!(".{}", name.to_string_lossy()));
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(&temp)?;
    let built = (|| -> Result<T> {
        let mut conn = Connection::open_with_flags(
            &temp,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NOFOLLOW,
        )?;
        migrate(&mut conn)?;
        // Persisted in the header: the file is in WAL mode from its first open on.
        conn.query_row("PRAGMA journal_mode = WAL", [], |_| Ok(()))?;
        let filled = fill(&mut conn)?;
        conn.close().map_err(|(_, e)| e)?;
        Ok(filled)
    })();
    let placed = built.and_then(|filled| {
        use rustix::fs::{CWD, RenameFlags, renameat_with};
        match renameat_with(CWD, &temp, CWD, path, RenameFlags::NOREPLACE) {
            Ok(()) => Ok(Some(filled)),
            Err(rustix::io::Errno::EXIST) => Ok(None),
            Err(e) => Err(io::Error::from(e).into()),
        }
    });
    // Gone after a rename; the loser's (or a failed) copy is removed here.
    for suffix in ["", "-wal", "-shm", "-journal"] {
        let _ = fs::remove_file(side_file(&temp, suffix));
    }
    placed
}

/// Database files hold token hashes and usage history: owner-only. A looser file,
/// already identified as ours, is repaired through its descriptor, with a warning.
fn tighten(path: &Path, found: &file::Found, warnings: &mut Vec<String>) {
    let mode = found.mode & 0o777;
    if mode & 0o077 == 0 {
        return;
    }
    match found.set_mode(mode & 0o700 | 0o600) {
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

/// What the file is, read from the main file as it lies on disk: SQLite opens it
/// read-only with `immutable=1`, so it takes no lock, rolls back no journal, applies no
/// log and creates no `-wal` or `-shm` file. Another application's database with a hot
/// journal beside it would otherwise be changed by merely being read. The schema version
/// read here may lag behind the log; [`identify_consistently`] reads it again once the
/// file is known to be ours.
///
/// A file whose header already names it ours is told by the header alone, read with a
/// plain `read`: even a lock-free SQLite read parses the schema, and could meet pages a
/// checkpoint of another process is rewriting at that moment and call a healthy
/// database corrupt. The header's application id is written once, before the file is
/// put in place, and never changes.
fn identify_unchanged(path: &Path) -> Result<Identity> {
    if let Some(version) = ours_by_header(path)? {
        return Ok(Identity::Ours { version });
    }
    let mut uri = String::from("file:");
    for &b in path.as_os_str().as_encoded_bytes() {
        if b.is_ascii_alphanumeric() || b"/-._~".contains(&b) {
            uri.push(b as char);
        } else {
            uri.push_str(&format!("%{b:02X}"));
        }
    }
    uri.push_str("?immutable=1");
    let conn = Connection::open_with_flags(
        &uri,
        OpenFlags::SQLITE_OPEN_READ_ONLY
            | OpenFlags::SQLITE_OPEN_URI
            | OpenFlags::SQLITE_OPEN_NO_MUTEX
            | OpenFlags::SQLITE_OPEN_NOFOLLOW,
    )?;
    identify(&conn)
}

/// The schema version in the header of an SQLite file whose application id is ours;
/// `None` for any other file (empty, shorter than a header, not SQLite, another id).
fn ours_by_header(path: &Path) -> Result<Option<i64>> {
    use std::io::Read;
    let mut header = [0u8; 100];
    let mut file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(path)?;
    let mut got = 0;
    while got < header.len() {
        match file.read(&mut header[got..])? {
            0 => return Ok(None),
            n => got += n,
        }
    }
    let field = |at: usize| i32::from_be_bytes(header[at..at + 4].try_into().expect("4 bytes"));
    if &header[..16] != b"SQLite format 3\0" || field(68) != APPLICATION_ID {
        return Ok(None);
    }
    Ok(Some(i64::from(field(60))))
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

/// A file, or a place, that tokenctl must not use, and why.
#[derive(Debug)]
pub(super) struct Unsafe(String);

impl std::fmt::Display for Unsafe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Unsafe {}

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
            .and_then(|()| migrations::after(&tx, i + 1))
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
    let (refusal, why) = if let Some(e) = err.downcast_ref::<rusqlite::Error>() {
        match e.sqlite_error_code() {
            Some(ErrorCode::NotADatabase) => (
                Refusal::Damaged,
                "it is not an SQLite database (or its header is damaged)".to_string(),
            ),
            Some(ErrorCode::DatabaseCorrupt) => (
                Refusal::Damaged,
                format!("it is corrupt ({e}); restore it from a backup"),
            ),
            _ => return explain(path, err_into_sqlite(err)),
        }
    } else if err.is::<Newer>() {
        (Refusal::NewerSchema, err.to_string())
    } else if err.is::<Foreign>() {
        (Refusal::Foreign, err.to_string())
    } else if err.is::<Unsafe>() {
        (Refusal::Unsafe, err.to_string())
    } else {
        return err.context(format!("cannot open the database {}", path.display()));
    };
    Error::Refused {
        refusal,
        message: format!(
            "refusing to use {}: {why}. The file was left untouched.",
            path.display()
        ),
    }
    .into()
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
