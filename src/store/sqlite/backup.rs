//! A consistent copy of the database through SQLite's online backup API, written so that
//! no other user can read it at any moment: under a temporary name created 0600 (the
//! umask cannot widen that), checked, synced, then renamed into place.

use std::fs::{self, OpenOptions};
use std::io;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use chrono::{DateTime, Utc};
use rusqlite::{Connection, OpenFlags};
use serde_json::json;

use super::events::insert_event;
use super::{Sqlite, file};
use crate::store::{BackupReport, Error};

impl Sqlite {
    /// Copies the database to `dest` (0600) in one read snapshot, so writers carry on
    /// meanwhile and the copy holds exactly the commits made before it began. Refuses an
    /// existing `dest` unless `replace`; a symbolic link at `dest` is never followed (with
    /// `replace`, the link itself is replaced). Missing directories are made 0700. Logs a
    /// `backup` event.
    pub(super) fn write_backup(
        &mut self,
        dest: &Path,
        replace: bool,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<BackupReport> {
        let Some(name) = dest.file_name() else {
            bail!(Error::invalid(format!(
                "{} does not name a file",
                dest.display()
            )));
        };
        let dir = match dest.parent().filter(|d| !d.as_os_str().is_empty()) {
            Some(d) => d.to_path_buf(),
            None => PathBuf::from("."),
        };
        if !dir.exists() {
            use std::os::unix::fs::DirBuilderExt;
            fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(&dir)
                .with_context(|| format!("cannot create the directory {}", dir.display()))?;
        }
        if let Some(found) = file::find(dest)? {
            let same = self.file == Some(found.identity())
                || self.side_files.contains(&Some(found.identity()));
            if same {
                bail!(Error::invalid(format!(
                    "{} is the database itself; give another path",
                    dest.display()
                )));
            }
            if !replace {
                bail!(Error::invalid(format!(
                    "{} exists; pass --force to replace it",
                    dest.display()
                )));
            }
            if found.kind == rustix::fs::FileType::Directory {
                bail!(Error::invalid(format!(
                    "{} is a directory; give the path of the backup file",
                    dest.display()
                )));
            }
        }
        let temp = dir.join(format!(
            ".{}.partial-{}-{:08x}",
            name.to_string_lossy(),
            std::process::id(),
            rand::random::<u32>()
        ));
        let written = self.copy_into(&temp).and_then(|report| {
            place(&temp, dest, replace)?;
            Ok(report)
        });
        for suffix in ["", "-journal", "-wal", "-shm"] {
            let mut side = temp.as_os_str().to_owned();
            side.push(suffix);
            let _ = fs::remove_file(PathBuf::from(side));
        }
        let mut report = written?;
        report.path = fs::canonicalize(dest).unwrap_or_else(|_| dest.to_path_buf());
        let tx = self.write()?;
        insert_event(
            &tx,
            now,
            actor,
            "backup",
            None,
            &json!({
                "path": report.path.display().to_string(),
                "bytes": report.bytes,
                "tokens": report.tokens,
            }),
        )?;
        tx.commit()?;
        Ok(report)
    }

    /// Writes the copy to `temp` (which must not exist), checks and syncs it.
    fn copy_into(&self, temp: &Path) -> Result<BackupReport> {
        OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(temp)
            .with_context(|| format!("cannot create {}", temp.display()))?;
        let mut copy = Connection::open_with_flags(
            temp,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NOFOLLOW,
        )?;
        {
            let backup = rusqlite::backup::Backup::new(&self.conn, &mut copy)?;
            // Every page in one step: one read transaction, one consistent snapshot,
            // never restarted by a concurrent writer.
            backup.step(-1)?;
        }
        let check: String = copy.query_row("PRAGMA quick_check", [], |r| r.get(0))?;
        if check != "ok" {
            bail!("the copy failed its check ({check}); nothing was written at the path");
        }
        let tokens: u64 = copy.query_row("SELECT count(*) FROM tokens", [], |r| r.get(0))?;
        // Rollback journal, so that the copy is one self-contained file.
        copy.query_row("PRAGMA journal_mode = DELETE", [], |_| Ok(()))?;
        copy.close().map_err(|(_, e)| e)?;
        let f = fs::File::open(temp)?;
        f.sync_all()?;
        Ok(BackupReport {
            path: PathBuf::new(),
            bytes: f.metadata()?.len(),
            tokens,
        })
    }
}

/// Renames the finished copy to `dest` (replacing what is there only if `replace`) and
/// syncs the directory, so that the name survives a crash too.
fn place(temp: &Path, dest: &Path, replace: bool) -> Result<()> {
    use rustix::fs::{CWD, RenameFlags, renameat_with};
    let flags = if replace {
        RenameFlags::empty()
    } else {
        RenameFlags::NOREPLACE
    };
    match renameat_with(CWD, temp, CWD, dest, flags) {
        Ok(()) => {}
        Err(rustix::io::Errno::EXIST) => bail!(Error::invalid(format!(
            "{} exists; pass --force to replace it",
            dest.display()
        ))),
        Err(e) => {
            return Err(io::Error::from(e))
                .with_context(|| format!("cannot write the backup to {}", dest.display()));
        }
    }
    let dir = dest.parent().filter(|d| !d.as_os_str().is_empty());
    fs::File::open(dir.unwrap_or(Path::new(".")))?.sync_all()?;
    Ok(())
}
