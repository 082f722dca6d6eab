//! Git history: every blob reachable from any ref, each read once, with the commit that
//! added it.
//!
//! Git's plumbing does the reading, so any repository git can read works (packs, shallow
//! clones, SHA-256 object ids) and nothing here parses the object store:
//!
//! - `git rev-list --objects --all --filter=object:type=blob` names every blob reachable
//!   from a ref: branches, tags (also a tag that points straight at a blob), stash, notes.
//! - `git log --all --topo-order --reverse --raw -c` lists, oldest first with parents before
//!   children, what each commit's diff adds. The first commit that adds a blob is the one
//!   reported, with the path it had there. With `-c` a merge lists only paths that differ
//!   from all its parents, so the blob of a conflict resolution is attributed to the merge
//!   and everything else to the commit that really wrote it.
//! - `git cat-file --batch` reads each blob once, decompressing in its own process while
//!   this one searches the previous blob.
//!
//! The two listings run at the same time, each one walk over the history, so the cost is
//! about two `git log --raw` plus reading every blob once.

use std::collections::HashMap;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::path::{Component, Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::thread::JoinHandle;

use anyhow::{Context, Result, bail};
use indicatif::ProgressBar;

use super::{Origin, Scan, display_text, is_binary, spots};
use crate::render::escape;

/// A repository found from a path the user gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Repository {
    /// The `.git` directory, absolute: the same repository reached from two paths is
    /// scanned once.
    pub git_dir: PathBuf,
    /// What blob paths are joined to: the work tree's top as seen from where the user is
    /// (`""` when they stand in it), or the path given for a bare repository.
    pub shown_from: PathBuf,
}

/// The repository that holds `path` (a directory or a file in one).
pub fn repository(path: &Path) -> Result<Repository> {
    let dir = if path.is_dir() {
        path
    } else {
        path.parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."))
    };
    let out = run_git(
        dir,
        &["rev-parse", "--absolute-git-dir", "--is-bare-repository"],
    )
    .with_context(|| {
        format!(
            "--git: {} is not in a git repository",
            display_text(&path.to_string_lossy())
        )
    })?;
    let mut lines = out.lines();
    let git_dir = PathBuf::from(lines.next().unwrap_or_default());
    let bare = lines.next() == Some("true");
    let shown_from = if bare {
        dir.to_path_buf()
    } else {
        let cdup = run_git(dir, &["rev-parse", "--show-cdup"])?;
        normalize(&dir.join(cdup.trim_end_matches('\n')))
    };
    Ok(Repository {
        git_dir,
        shown_from,
    })
}

/// Removes `.` and `name/..` from a path without touching the file system.
fn normalize(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir
                if matches!(out.components().next_back(), Some(Component::Normal(_))) =>
            {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

/// Runs a short git command in `dir` and returns its stdout.
fn run_git(dir: &Path, args: &[&str]) -> Result<String> {
    let out = git(dir)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .context("could not run git (is it installed?)")?;
    if !out.status.success() {
        bail!("{}", git_message(&out.stderr));
    }
    String::from_utf8(out.stdout).context("git printed something that is not UTF-8")
}

fn git_message(stderr: &[u8]) -> String {
    let text = String::from_utf8_lossy(stderr);
    let text = text.trim();
    format!(
        "git: {}",
        escape(if text.is_empty() { "failed" } else { text })
    )
}

/// `git` for reading a repository that may not be trusted: no pager, no prompts, no
/// signature checks, no replace refs, and only the repository's own objects.
fn git(dir: &Path) -> Command {
    let mut cmd = Command::new("git");
    cmd.arg("--no-pager")
        .arg("--no-replace-objects")
        .arg("-C")
        .arg(dir)
        .env("GIT_TERMINAL_PROMPT", "0")
        .env_remove("GIT_DIR")
        .env_remove("GIT_WORK_TREE")
        .env_remove("GIT_INDEX_FILE")
        .env_remove("GIT_OBJECT_DIRECTORY")
        .env_remove("GIT_ALTERNATE_OBJECT_DIRECTORIES");
    cmd
}

/// A running git whose stderr is collected on the side, so it can never fill its pipe.
struct Running {
    child: Child,
    stderr: JoinHandle<Vec<u8>>,
    what: &'static str,
}

impl Running {
    fn spawn(mut cmd: Command, what: &'static str, stdin: bool) -> Result<Running> {
        let mut child = cmd
            .stdin(if stdin { Stdio::piped() } else { Stdio::null() })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("could not run {what} (is git installed?)"))?;
        let mut err = child.stderr.take().expect("piped");
        let stderr = std::thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = err.read_to_end(&mut buf);
            buf
        });
        Ok(Running {
            child,
            stderr,
            what,
        })
    }

    fn stdout(&mut self) -> ChildStdout {
        self.child.stdout.take().expect("piped")
    }

    fn finish(mut self) -> Result<()> {
        let status = self.child.wait()?;
        let stderr = self.stderr.join().unwrap_or_default();
        if !status.success() {
            bail!("{} failed: {}", self.what, git_message(&stderr));
        }
        Ok(())
    }
}

/// Where a blob first appeared.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Introduced {
    /// Index into the commit list, oldest first.
    commit: usize,
    path: Vec<u8>,
}

/// The first commit and path of every blob a commit's diff adds, from
/// `git log -z --raw --format=%x00%H` output.
#[derive(Debug, Default)]
struct Introductions {
    commits: Vec<String>,
    blobs: HashMap<Vec<u8>, Introduced>,
}

impl Introductions {
    /// Reads the log. Records are NUL-separated: a commit id, or a raw diff line
    /// (`:<modes> <ids> <status>`, one colon per parent) followed by its path.
    fn read(log: impl Read) -> Result<Introductions> {
        let mut intro = Introductions::default();
        let mut fields = BufReader::with_capacity(1 << 16, log).split(0);
        while let Some(field) = fields.next() {
            let field = field?;
            let field = field.strip_prefix(b"\n").unwrap_or(&field);
            if field.is_empty() {
                continue;
            }
            if field[0] != b':' {
                intro
                    .commits
                    .push(String::from_utf8_lossy(field).into_owned());
                continue;
            }
            let path = fields
                .next()
                .context("git log: a diff line without a path")??;
            let Some(commit) = intro.commits.len().checked_sub(1) else {
                bail!("git log: a diff line before any commit");
            };
            if let Some(blob) = added_blob(field) {
                intro
                    .blobs
                    .entry(blob.to_vec())
                    .or_insert(Introduced { commit, path });
            }
        }
        Ok(intro)
    }
}

/// The blob id a raw diff line leaves at its path, unless the path is deleted or holds a
/// submodule commit rather than a blob.
fn added_blob(line: &[u8]) -> Option<&[u8]> {
    let parents = line.iter().take_while(|&&b| b == b':').count();
    let words: Vec<&[u8]> = line[parents..].split(|&b| b == b' ').collect();
    // `parents + 1` modes, `parents + 1` ids, then the status letters.
    let (mode, id) = (words.get(parents)?, words.get(2 * parents + 1)?);
    let deleted = id.iter().all(|&b| b == b'0');
    let gitlink = *mode == b"160000";
    (!deleted && !gitlink).then_some(*id)
}

/// Searches every blob of `repo`'s history. `progress` gets the blob count as its length
/// and advances by blobs.
pub fn search(repo: &Repository, max_size: u64, progress: &ProgressBar) -> Result<Scan> {
    let dir = repo.git_dir.as_path();
    let mut log_cmd = git(dir);
    log_cmd.args([
        "log",
        "--all",
        "--topo-order",
        "--reverse",
        "--no-renames",
        "--root",
        "--raw",
        "--no-abbrev",
        "-c",
        "-z",
        "--no-color",
        "--no-show-signature",
        "--format=%x00%H",
    ]);
    let mut log = Running::spawn(log_cmd, "git log", false)?;
    let log_out = log.stdout();
    let reader = std::thread::spawn(move || Introductions::read(log_out));

    let mut list_cmd = git(dir);
    list_cmd.args([
        "rev-list",
        "--objects",
        "--all",
        "--filter=object:type=blob",
        "--filter-provided-objects",
        "--no-object-names",
    ]);
    let mut list = Running::spawn(list_cmd, "git rev-list", false)?;
    let mut blobs = Vec::new();
    for line in BufReader::new(list.stdout()).split(b'\n') {
        let line = line?;
        if !line.is_empty() {
            blobs.push(line);
        }
    }
    list.finish()?;
    let intro = reader.join().expect("the log reader does not panic")?;
    log.finish()?;

    // Oldest introduction first, so findings read in the order the leaks happened.
    blobs.sort_by_key(|b| intro.blobs.get(b).map_or(usize::MAX, |i| i.commit));
    progress.set_length(blobs.len() as u64);
    let origin = |blob: &[u8]| match intro.blobs.get(blob) {
        Some(i) => Origin::Blob {
            commit: Some(intro.commits[i.commit].clone()),
            path: shown(&repo.shown_from, &i.path),
        },
        None => Origin::Blob {
            commit: None,
            path: shown(&repo.shown_from, b""),
        },
    };
    read_blobs(dir, &blobs, max_size, progress, origin)
}

/// A path inside the repository as findings show it.
fn shown(from: &Path, path: &[u8]) -> String {
    let path = String::from_utf8_lossy(path);
    let joined = if from.as_os_str().is_empty() {
        PathBuf::from(path.as_ref())
    } else {
        from.join(path.as_ref())
    };
    display_text(&joined.to_string_lossy())
}

/// Reads `blobs` through one `git cat-file --batch` and searches them.
fn read_blobs(
    dir: &Path,
    blobs: &[Vec<u8>],
    max_size: u64,
    progress: &ProgressBar,
    origin: impl Fn(&[u8]) -> Origin,
) -> Result<Scan> {
    let mut cmd = git(dir);
    cmd.args(["cat-file", "--batch", "--buffer"]);
    let mut cat = Running::spawn(cmd, "git cat-file", true)?;
    let mut input = cat.child.stdin.take().expect("piped");
    let mut out = BufReader::with_capacity(1 << 16, cat.stdout());
    let mut scan = Scan::default();
    std::thread::scope(|s| -> Result<()> {
        // Writing from another thread: cat-file answers while it reads, and both pipes
        // filling up at once would deadlock.
        let writer = s.spawn(move || -> io::Result<()> {
            let mut w = io::BufWriter::new(&mut input);
            for b in blobs {
                w.write_all(b)?;
                w.write_all(b"\n")?;
            }
            w.flush()
        });
        let mut header = Vec::new();
        let mut content = Vec::new();
        for blob in blobs {
            header.clear();
            out.read_until(b'\n', &mut header)?;
            let size = parse_header(&header, blob)?;
            let Some(size) = size else {
                scan.skipped.unreadable += 1;
                progress.inc(1);
                continue;
            };
            if size > max_size {
                io::copy(&mut (&mut out).take(size + 1), &mut io::sink())?;
                scan.skipped.too_large += 1;
            } else {
                content.resize(size as usize + 1, 0);
                out.read_exact(&mut content)?;
                content.pop();
                if is_binary(&content) {
                    scan.skipped.binary += 1;
                } else {
                    scan.blobs += 1;
                    scan.bytes += size;
                    let spots = spots(&content);
                    if !spots.is_empty() {
                        let origin = origin(blob);
                        scan.sightings
                            .extend(spots.into_iter().map(|s| s.at(&origin)));
                    }
                }
            }
            progress.inc(1);
        }
        writer.join().expect("the writer does not panic")?;
        Ok(())
    })?;
    drop(out);
    cat.finish()?;
    Ok(scan)
}

/// `<id> blob <size>` gives the size; `<id> missing` (a broken repository) gives none.
fn parse_header(header: &[u8], blob: &[u8]) -> Result<Option<u64>> {
    let text = String::from_utf8_lossy(header);
    let mut words = text.trim_end().split(' ');
    let id = words.next().unwrap_or_default();
    if id.as_bytes() != blob {
        bail!(
            "git cat-file: answered for {} instead of the blob asked for",
            escape(id)
        );
    }
    match (words.next(), words.next()) {
        (Some("missing"), _) => Ok(None),
        (Some(_), Some(size)) => size
            .parse()
            .map(Some)
            .with_context(|| format!("git cat-file: bad size {}", escape(size))),
        _ => bail!("git cat-file: unexpected answer {}", escape(&text)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_lines() {
        let one = b":100644 100644 1111111111111111111111111111111111111111 2222222222222222222222222222222222222222 M";
        assert_eq!(
            added_blob(one),
            Some(&b"2222222222222222222222222222222222222222"[..])
        );
        let deleted = b":100644 000000 1111111111111111111111111111111111111111 0000000000000000000000000000000000000000 D";
        assert_eq!(added_blob(deleted), None);
        let merge = b"::100644 100644 100644 1111111111111111111111111111111111111111 2222222222222222222222222222222222222222 3333333333333333333333333333333333333333 MM";
        assert_eq!(
            added_blob(merge),
            Some(&b"3333333333333333333333333333333333333333"[..])
        );
        let submodule = b":000000 160000 0000000000000000000000000000000000000000 4444444444444444444444444444444444444444 A";
        assert_eq!(added_blob(submodule), None);
    }

    #[test]
    fn log_records() {
        let log = b"\0c1\0\n:000000 100644 0000 aaaa A\0a.txt\0:000000 100644 0000 bbbb A\0d/b c.txt\0\0c2\0\n:100644 100644 aaaa cccc M\0a.txt\0\0c3\0\0\0c4\0\n:000000 100644 0000 aaaa A\0copy.txt\0";
        let intro = Introductions::read(&log[..]).unwrap();
        assert_eq!(intro.commits, ["c1", "c2", "c3", "c4"]);
        let at = |id: &[u8]| {
            intro
                .blobs
                .get(id)
                .map(|i| (i.commit, String::from_utf8_lossy(&i.path).into_owned()))
        };
        assert_eq!(at(b"aaaa"), Some((0, "a.txt".into())));
        assert_eq!(at(b"bbbb"), Some((0, "d/b c.txt".into())));
        assert_eq!(at(b"cccc"), Some((1, "a.txt".into())));
    }

    #[test]
    fn paths_normalize() {
        assert_eq!(normalize(Path::new("sub/../")), PathBuf::new());
        assert_eq!(normalize(Path::new("./")), PathBuf::new());
        assert_eq!(normalize(Path::new("a/b/../../..")), PathBuf::from(".."));
        assert_eq!(normalize(Path::new("/r/sub/..")), PathBuf::from("/r"));
        assert_eq!(shown(Path::new(""), b"x/y"), "x/y");
        assert_eq!(shown(Path::new("../r"), b"x"), "../r/x");
    }
}
