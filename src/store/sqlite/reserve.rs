//! The reserve: a file of [`RESERVE_BYTES`] kept beside the database
//! (`tokens.db-reserve`, 0600, the database's owner), so that a revocation can be
//! written on a full disk.
//!
//! A disk filled by anything (logs, another program, a flood of usage) makes every
//! SQLite write fail, and a revocation that cannot be written leaves a stolen token
//! working. When a write that must not fail (a revocation) fails for lack of space, the
//! store takes the write lock, deletes this file and writes again (see
//! `Sqlite::write_despite_full_disk`). Admin commands make the file again whenever it is
//! missing and the disk has room. This module never touches a file by that name that is
//! not a plain file of the database's owner.

use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use super::file;

/// Room a revocation needs on a full disk, with a wide margin: it appends a few pages
/// (4 KiB each) to the -wal file, the -shm file may grow by 32 KiB, and a checkpoint may
/// grow the database by what the log held.
pub const RESERVE_BYTES: u64 = 1024 * 1024;

/// The reserve of one database.
#[derive(Debug)]
pub(super) struct Reserve {
    path: PathBuf,
    /// The database file's owner and group, who own the reserve too.
    owner: (u32, u32),
}

impl Reserve {
    pub fn beside(db: &Path, found: &file::Found) -> Reserve {
        let mut path = db.as_os_str().to_owned();
        path.push("-reserve");
        Reserve {
            path: PathBuf::from(path),
            owner: (found.uid, found.gid),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Makes the reserve if it is missing. Returns a warning when it cannot be made.
    pub fn keep(&self) -> Option<String> {
        let made = match file::find(&self.path) {
            Ok(Some(_)) => return None,
            Ok(None) => self.make(),
            Err(e) => Err(e),
        };
        made.err().map(|e| {
            format!(
                "there is no space reserve for revocations at {} ({e}): on a full disk a revocation could fail. Free space on that disk; the next tokenctl command that finds room makes the reserve",
                self.path.display()
            )
        })
    }

    /// Written in full under a temporary name, then renamed into place only if the name
    /// is free: a reserve at the name always holds its whole size.
    fn make(&self) -> io::Result<()> {
        let dir = self.path.parent().unwrap_or(Path::new("/"));
        let name = self.path.file_name().unwrap_or_default().to_string_lossy();
        let temp = dir.join(format!(".{name}.new-{}", std::process::id()));
        let _ = fs::remove_file(&temp);
        let result = (|| {
            let mut f = OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
                .open(&temp)?;
            // Blocks that are really allocated: a sparse file would free nothing.
            let allocated =
                rustix::fs::fallocate(&f, rustix::fs::FallocateFlags::empty(), 0, RESERVE_BYTES);
            if let Err(e) = allocated {
                if e != rustix::io::Errno::OPNOTSUPP && e != rustix::io::Errno::NOSYS {
                    return Err(e.into());
                }
                // Random bytes where fallocate is missing: a compressing file system
                // would store zeros in no space at all.
                let mut chunk = vec![0u8; 64 * 1024];
                for _ in 0..RESERVE_BYTES / chunk.len() as u64 {
                    rand::fill(&mut chunk[..]);
                    f.write_all(&chunk)?;
                }
            }
            f.sync_all()?;
            if file::effective_uid() == 0 {
                std::os::unix::fs::fchown(&f, Some(self.owner.0), Some(self.owner.1))?;
            }
            use rustix::fs::{CWD, RenameFlags, renameat_with};
            match renameat_with(CWD, &temp, CWD, &self.path, RenameFlags::NOREPLACE) {
                Ok(()) | Err(rustix::io::Errno::EXIST) => Ok(()),
                Err(e) => Err(io::Error::from(e)),
            }
        })();
        let _ = fs::remove_file(&temp);
        result
    }

    /// The warning for a change that was written only by deleting the reserve.
    pub fn used(&self) -> String {
        format!(
            "THE DISK IS FULL. This change was written only by deleting the {} KiB space reserve {}. Free space on that disk now: until then other changes and usage recording fail, and another revocation may find no room. The next tokenctl command that finds room makes the reserve again.",
            RESERVE_BYTES / 1024,
            self.path.display()
        )
    }

    /// Deletes the reserve, freeing its space. Returns whether there was one.
    pub fn release(&self) -> io::Result<bool> {
        let Some(found) = file::find(&self.path)? else {
            return Ok(false);
        };
        if found.not_plain().is_some() || found.uid != self.owner.0 {
            return Ok(false);
        }
        fs::remove_file(&self.path)?;
        Ok(true)
    }
}
