//! What is at a database's path, looked at before SQLite or anything else touches it: the
//! kind of file, its owner, its links, whether it is a mount point, and the directories
//! above it.
//!
//! Everything here goes through `O_PATH` descriptors: one pins the inode without opening
//! the file itself (so no device is opened and no FIFO blocks), and closing it releases
//! none of the POSIX locks SQLite holds on the file in this process, which closing any
//! real descriptor of a database file would. Modes are changed through such a descriptor,
//! never through a path that a symbolic link could redirect. This module never changes
//! anything but a mode, and only when told to by the caller, who has identified the file.

use std::fs;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use rustix::fs::{FileType, OFlags};

/// One file as found at a path, held by an `O_PATH` descriptor.
pub(super) struct Found {
    fd: OwnedFd,
    pub dev: u64,
    pub ino: u64,
    pub uid: u32,
    pub gid: u32,
    /// Permission bits.
    pub mode: u32,
    pub nlink: u64,
    pub kind: FileType,
}

impl Found {
    /// The (device, inode) pair that tells this file from any other.
    pub fn identity(&self) -> (u64, u64) {
        (self.dev, self.ino)
    }

    /// Why this file is not a plain file tokenctl may use, if it is not.
    pub fn not_plain(&self) -> Option<String> {
        let what = match self.kind {
            FileType::RegularFile => {
                if self.nlink > 1 {
                    return Some(format!("it has {} hard links", self.nlink));
                }
                return None;
            }
            FileType::Directory => "a directory",
            FileType::Symlink => "a symbolic link",
            FileType::Fifo => "a FIFO (named pipe)",
            FileType::Socket => "a socket",
            FileType::CharacterDevice => "a character device",
            FileType::BlockDevice => "a block device",
            FileType::Unknown => "not a regular file",
        };
        Some(format!("it is {what}, not a database file"))
    }

    /// Sets the permission bits to `mode`, through the descriptor: the inode found, not
    /// whatever the path names by now. Linux cannot `fchmod` an `O_PATH` descriptor, but
    /// its `/proc/self/fd` entry leads to exactly that inode (glibc's `fchmodat` with
    /// `AT_SYMLINK_NOFOLLOW` works the same way).
    pub fn set_mode(&self, mode: u32) -> io::Result<()> {
        let link = format!("/proc/self/fd/{}", self.fd.as_raw_fd());
        fs::set_permissions(link, fs::Permissions::from_mode(mode))
    }

    /// Whether the file is the root of a mount of its own (a file bind-mounted onto the
    /// path): statx's `STATX_ATTR_MOUNT_ROOT` where the kernel reports it (Linux 5.8),
    /// else a mount point at `path` in `/proc/self/mountinfo`.
    pub fn is_mount_root(&self, path: &Path) -> bool {
        use rustix::fs::{AtFlags, StatxAttributes, StatxFlags, statx};
        if let Ok(x) = statx(&self.fd, "", AtFlags::EMPTY_PATH, StatxFlags::BASIC_STATS) {
            let root = StatxAttributes::MOUNT_ROOT;
            if x.stx_attributes_mask.contains(root) {
                return x.stx_attributes.contains(root);
            }
        }
        fs::read_to_string("/proc/self/mountinfo")
            .is_ok_and(|table| mount_points(&table).any(|p| p == path))
    }
}

/// The mount points listed in a `/proc/self/mountinfo` text (the fifth field, with the
/// kernel's octal escapes of space, tab, newline and backslash undone).
fn mount_points(table: &str) -> impl Iterator<Item = PathBuf> + '_ {
    table.lines().filter_map(|line| {
        let field = line.split(' ').nth(4)?;
        let mut out = Vec::with_capacity(field.len());
        let bytes = field.as_bytes();
        let mut i = 0;
        while i < bytes.len() {
            let octal = bytes
                .get(i + 1..i + 4)
                .filter(|d| bytes[i] == b'\\' && d.iter().all(|c| (b'0'..=b'7').contains(c)));
            match octal {
                Some(d) => {
                    out.push((d[0] - b'0') * 64 + (d[1] - b'0') * 8 + (d[2] - b'0'));
                    i += 4;
                }
                None => {
                    out.push(bytes[i]);
                    i += 1;
                }
            }
        }
        use std::os::unix::ffi::OsStringExt;
        Some(PathBuf::from(std::ffi::OsString::from_vec(out)))
    })
}

/// The file at `path` itself (a symbolic link is not followed), or `None` if there is
/// none.
pub(super) fn find(path: &Path) -> io::Result<Option<Found>> {
    let fd = match rustix::fs::open(
        path,
        OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        rustix::fs::Mode::empty(),
    ) {
        Ok(fd) => fd,
        Err(e) if e == rustix::io::Errno::NOENT => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    let st = rustix::fs::fstat(&fd)?;
    Ok(Some(Found {
        dev: st.st_dev as u64,
        ino: st.st_ino as u64,
        uid: st.st_uid,
        gid: st.st_gid,
        mode: st.st_mode as u32 & 0o7777,
        nlink: st.st_nlink as u64,
        kind: FileType::from_raw_mode(st.st_mode as _),
        fd,
    }))
}

/// The user this process acts as.
pub(super) fn effective_uid() -> u32 {
    rustix::process::geteuid().as_raw()
}

/// Why the directory `dir` (canonical) lets another user replace the database in it or
/// plant its `-wal` or `-shm` file, if it does: it is writable by every user (sticky or
/// not: the sticky bit keeps others from replacing a file, not from creating the side
/// files before SQLite does), it belongs to a user who is neither root, this user nor the
/// database's owner, or a directory above it is writable by every user without the
/// sticky bit (anyone could rename it away and put another in its place).
pub(super) fn unsafe_directory(dir: &Path, db_owner: Option<u32>) -> Option<String> {
    let meta = fs::metadata(dir).ok()?;
    let mode = meta.mode() & 0o7777;
    if mode & 0o002 != 0 {
        return Some(format!(
            "its directory {} is writable by every user (mode {mode:04o}), who could plant its -wal or -shm file or replace it; keep the database in a directory only its owner can write (for example: mkdir -m 700 {})",
            dir.display(),
            dir.join("tokenctl").display()
        ));
    }
    let owner = meta.uid();
    if owner != 0 && owner != effective_uid() && Some(owner) != db_owner {
        return Some(format!(
            "its directory {} belongs to user {owner}, who could replace the database; keep it in a directory of its own user or of root",
            dir.display()
        ));
    }
    dir.ancestors().skip(1).find_map(|above| {
        let m = fs::metadata(above).ok()?.mode();
        (m & 0o002 != 0 && m & 0o1000 == 0).then(|| {
            format!(
                "{} above it is writable by every user without the sticky bit (mode {:04o}): anyone could put another directory in the place of {}",
                above.display(),
                m & 0o7777,
                dir.display()
            )
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mountinfo_fields_are_unescaped() {
        let table = "36 35 98:0 /mnt1 /mnt/with\\040space rw,noatime master:1 - ext3 /dev/root rw\n\
                     40 35 0:5 /a/tokens.db /srv/tokens.db rw - ext4 /dev/sda1 rw\n";
        let points: Vec<PathBuf> = mount_points(table).collect();
        assert_eq!(
            points,
            [
                PathBuf::from("/mnt/with space"),
                PathBuf::from("/srv/tokens.db")
            ]
        );
    }
}
