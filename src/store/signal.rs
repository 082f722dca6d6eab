//! The change signal: two counters in a small file beside the database
//! (`tokens.db-signal`, 0600, the database's owner), mapped into the memory of every
//! process that uses it, so that a verifier can learn that no credential changed with two
//! memory reads instead of a query.
//!
//! # The protocol
//!
//! Every credential-changing transaction of tokenctl, once it holds the database's write
//! lock and before it commits, increments `started` and keeps the new value as its ticket;
//! after its commit (or its rollback) returns, it raises `finished` to its ticket
//! (`fetch_max`, so an earlier writer that finishes late never lowers it).
//!
//! A verifier reads `started`, then `finished`. Equal, at `s`: every ticket up to `s` has
//! finished, so every such commit is visible to any snapshot begun afterwards; and no
//! ticket above `s` had begun when `started` was read, so no credential change has
//! committed since. Different: a change is under way, or a writer died between the two
//! steps; the verifier does not trust the counters and reads the database (see
//! `verify::cache`). The next writer's ticket settles them again: writers take tickets
//! under the write lock, one at a time, so when the writer of ticket `t` finishes, every
//! ticket below `t` has committed, rolled back or died.
//!
//! A crash at any step is safe: before `started` moves nothing has committed; between the
//! steps the counters differ and every verifier reads the database; after `finished`
//! moves the change is visible. What the counters cannot see, verifiers catch by reading
//! the database's own revision at least every [`CHECK_INTERVAL`] (50 ms): a change
//! written by a program that does not take tickets (the sqlite3 shell), this file deleted
//! or replaced, a writer that could not open it. A tokenctl writer that cannot open the
//! file, or finds it younger than that interval (a verifier may still map the file it
//! replaced), waits out the interval after its commit: its caller can still rely on the
//! next request seeing the change.
//!
//! Like SQLite's own `-shm` file, this file is trusted by whoever can write the
//! database: a process of its owner that truncates it makes the mapped pages vanish, and
//! readers of them get SIGBUS.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// How long a verifier decides from the signal alone before it reads the database's
/// revision again, and checks that the database and this file are still the ones opened:
/// the bound on how late a change the signal cannot see is noticed.
pub const CHECK_INTERVAL: Duration = Duration::from_millis(50);

/// The file's size: one page, of which the first 32 bytes are used: the magic,
/// `started`, `finished`, and when the file was made.
const SIZE: usize = 4096;
/// Marks a file laid out as this module expects ("tokcsig1").
const MAGIC: u64 = u64::from_le_bytes(*b"tokcsig1");

/// A credential change in progress: its place among the others.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use = "a ticket must be finished, or verifiers read the database until the next change"]
pub struct Ticket(u64);

/// The mapped signal file of one database.
pub struct ChangeSignal {
    path: PathBuf,
    /// Device and inode of the file mapped.
    identity: (u64, u64),
    words: NonNull<AtomicU64>,
}

// SAFETY: the mapping is shared memory read and written only through atomics; the pointer
// stays valid until `Drop` unmaps it, which needs the value owned.
unsafe impl Send for ChangeSignal {}
unsafe impl Sync for ChangeSignal {}

impl std::fmt::Debug for ChangeSignal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChangeSignal")
            .field("path", &self.path)
            .field("read", &self.read())
            .finish()
    }
}

impl ChangeSignal {
    /// The signal of the database at `db`: `db` with `-signal` appended.
    pub fn path_for(db: &Path) -> PathBuf {
        let mut path = db.as_os_str().to_owned();
        path.push("-signal");
        PathBuf::from(path)
    }

    /// Opens (making it if missing: 0600, owned like the database, `owner`) and maps the
    /// signal file at `path`. Refuses a link, anything but a plain file, and a file that
    /// holds something else.
    pub fn open(path: &Path, owner: (u32, u32)) -> io::Result<ChangeSignal> {
        let options = |create_new: bool| {
            let mut o = OpenOptions::new();
            o.read(true)
                .write(true)
                .create_new(create_new)
                .mode(0o600)
                .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC);
            o
        };
        let file = match options(true).open(path) {
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => options(false).open(path)?,
            opened => opened?,
        };
        let meta = file.metadata()?;
        if !meta.file_type().is_file() {
            return Err(io::Error::other("not a plain file"));
        }
        if rustix::process::geteuid().is_root() && (meta.uid(), meta.gid()) != owner {
            std::os::unix::fs::fchown(&file, Some(owner.0), Some(owner.1))?;
        }
        // Grown, never shrunk (another process may have it mapped already), by writing
        // zeros: a page that is mapped but has no blocks on disk would raise SIGBUS when
        // first written on a full disk; the write fails instead.
        if meta.len() < SIZE as u64 {
            use std::os::unix::fs::FileExt;
            let zeros = [0u8; SIZE];
            file.write_all_at(&zeros[meta.len() as usize..], meta.len())?;
        }
        let signal = ChangeSignal {
            path: path.to_owned(),
            identity: (meta.dev(), meta.ino()),
            words: map(&file)?,
        };
        // A new file is all zeros: the first to open it says when it was made, then
        // marks it (a process that dies in between leaves it unmarked, for the next).
        let magic = signal.word(0);
        if magic.load(Ordering::SeqCst) == 0 {
            signal.word(3).store(monotonic_nanos(), Ordering::SeqCst);
        }
        match magic.compare_exchange(0, MAGIC, Ordering::SeqCst, Ordering::SeqCst) {
            Ok(_) | Err(MAGIC) => Ok(signal),
            Err(_) => Err(io::Error::other(
                "it holds something other than a tokenctl change signal",
            )),
        }
    }

    /// Whether this file was made less than [`CHECK_INTERVAL`] ago: a
    /// verifier may then still have the file it replaced mapped, one that no longer
    /// moves, until its next check of the path. A change committed now must wait out the
    /// rest of the interval before it returns (see `Sqlite::signal_for_write`). Measured
    /// on the machine's monotonic clock, which every process shares; a file older than
    /// the last boot counts as old (no process can have mapped its predecessor).
    pub fn young(&self) -> bool {
        let made = self.word(3).load(Ordering::SeqCst);
        let now = monotonic_nanos();
        made <= now && now - made < CHECK_INTERVAL.as_nanos() as u64
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn word(&self, i: usize) -> &AtomicU64 {
        debug_assert!(i < 4);
        // SAFETY: the mapping is SIZE bytes, page-aligned, and lives as long as `self`;
        // word 3 ends at byte 32.
        unsafe { &*self.words.as_ptr().add(i) }
    }

    /// Where the credentials stand, if no change is in progress and none died half-way:
    /// `Some(s)` means every change up to `s` is committed and visible, and none after it
    /// had begun when this was called. `None`: read the database.
    pub fn read(&self) -> Option<u64> {
        let started = self.word(1).load(Ordering::SeqCst);
        let finished = self.word(2).load(Ordering::SeqCst);
        (started == finished).then_some(started)
    }

    /// Takes a ticket for a credential change. Call it holding the database's write lock,
    /// before committing.
    pub fn begin(&self) -> Ticket {
        Ticket(self.word(1).fetch_add(1, Ordering::SeqCst).wrapping_add(1))
    }

    /// Marks the change of `ticket` done, after its commit or rollback has returned.
    pub fn finish(&self, ticket: Ticket) {
        self.word(2).fetch_max(ticket.0, Ordering::SeqCst);
    }

    /// Whether the file at the path is still the one mapped: one `stat`.
    pub fn is_current(&self) -> bool {
        std::fs::symlink_metadata(&self.path).is_ok_and(|m| (m.dev(), m.ino()) == self.identity)
    }
}

/// Nanoseconds on the machine's monotonic clock (since boot, the same in every process).
fn monotonic_nanos() -> u64 {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::Monotonic);
    (t.tv_sec as u64).saturating_mul(1_000_000_000) + t.tv_nsec as u64
}

fn map(file: &File) -> io::Result<NonNull<AtomicU64>> {
    use rustix::mm::{MapFlags, ProtFlags, mmap};
    // SAFETY: a fresh shared mapping of SIZE bytes of a file at least that long; nothing
    // else in this process holds a reference into it.
    let ptr = unsafe {
        mmap(
            std::ptr::null_mut(),
            SIZE,
            ProtFlags::READ | ProtFlags::WRITE,
            MapFlags::SHARED,
            file,
            0,
        )
    }?;
    NonNull::new(ptr.cast()).ok_or_else(|| io::Error::other("mmap returned null"))
}

impl Drop for ChangeSignal {
    fn drop(&mut self) {
        // SAFETY: mapped in `open` with this size; no reference into it outlives `self`.
        unsafe {
            let _ = rustix::mm::munmap(self.words.as_ptr().cast(), SIZE);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn owner(dir: &Path) -> (u32, u32) {
        let m = std::fs::metadata(dir).unwrap();
        (m.uid(), m.gid())
    }

    #[test]
    fn counters_are_shared_between_mappings_and_settle_after_every_ticket() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db-signal");
        let a = ChangeSignal::open(&path, owner(dir.path())).unwrap();
        let b = ChangeSignal::open(&path, owner(dir.path())).unwrap();
        assert_eq!(a.read(), Some(0));
        let first = a.begin();
        assert_eq!(b.read(), None, "a change in progress");
        let second = b.begin();
        // The later writer finishes first: still unsettled until the earlier one does.
        b.finish(second);
        assert_eq!(a.read(), Some(2));
        a.finish(first);
        assert_eq!(a.read(), Some(2), "a late finish never lowers the count");
        // A writer that died after its ticket: unsettled until the next one finishes.
        let _died = a.begin();
        assert_eq!(b.read(), None);
        let next = b.begin();
        b.finish(next);
        assert_eq!(a.read(), Some(4));
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        assert!(a.young() && b.young());
        std::thread::sleep(CHECK_INTERVAL);
        assert!(!a.young());
    }

    #[test]
    fn foreign_files_links_and_replacements_are_refused_or_noticed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db-signal");
        std::fs::write(&path, vec![7u8; SIZE]).unwrap();
        assert!(ChangeSignal::open(&path, owner(dir.path())).is_err());
        std::fs::remove_file(&path).unwrap();
        let target = dir.path().join("elsewhere");
        std::os::unix::fs::symlink(&target, &path).unwrap();
        assert!(ChangeSignal::open(&path, owner(dir.path())).is_err());
        assert!(!target.exists(), "a link is not followed");
        std::fs::remove_file(&path).unwrap();
        let signal = ChangeSignal::open(&path, owner(dir.path())).unwrap();
        assert!(signal.is_current());
        std::fs::remove_file(&path).unwrap();
        assert!(!signal.is_current());
        let _other = ChangeSignal::open(&path, owner(dir.path())).unwrap();
        assert!(
            !signal.is_current(),
            "a new file at the path is another signal"
        );
    }
}
