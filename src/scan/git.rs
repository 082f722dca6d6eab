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
//! - `git cat-file --batch` reads each blob once, one process per core on consecutive
//!   parts of the list, decompressing while this process searches.
//!
//! The two listings run at the same time, each one walk over the history, so the cost is
//! about two `git log --raw` plus reading every blob once. The blob-type filter needs
//! git 2.32 or later.

use std::collections::HashMap;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::path::{Component, Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::thread::JoinHandle;

use anyhow::{Context, Result, bail};
use indicatif::ProgressBar;

use super::{Origin, Scan, display_text, is_binary, spots};
use crate::text::escape;

/// At most this many `git cat-file` processes read one repository's blobs.
const MAX_READERS: usize = 4;
/// Fewer blobs than this are not worth another process.
const MIN_PART: usize = 1_000;

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
    // Blobs are read in rev-list's order, which follows the packs' and so keeps git's
    // delta cache warm, by one cat-file per core on consecutive parts of the list:
    // inflating and applying deltas is most of the work.
    let readers = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .clamp(1, MAX_READERS);
    let part = blobs.len().div_ceil(readers).max(MIN_PART);
    let mut scan = Scan::default();
    std::thread::scope(|s| -> Result<()> {
        let parts: Vec<_> = blobs
            .chunks(part)
            .map(|p| s.spawn(|| read_blobs(dir, p, max_size, progress, &origin)))
            .collect();
        for p in parts {
            scan.add(p.join().expect("a blob reader does not panic")?);
        }
        Ok(())
    })?;
    // Findings in the order the leaks happened: oldest commit first.
    let order: HashMap<&str, usize> = intro
        .commits
        .iter()
        .enumerate()
        .map(|(i, c)| (c.as_str(), i))
        .collect();
    scan.sightings.sort_by_cached_key(|s| match &s.origin {
        Origin::Blob { commit, path } => (
            commit
                .as_deref()
                .and_then(|c| order.get(c).copied())
                .unwrap_or(usize::MAX),
            path.clone(),
            s.line,
            s.readings[0].column,
        ),
        _ => (usize::MAX, String::new(), s.line, s.readings[0].column),
    });
    Ok(scan)
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
fn read_blobs<F: Fn(&[u8]) -> Origin>(
    dir: &Path,
    blobs: &[Vec<u8>],
    max_size: u64,
    progress: &ProgressBar,
    origin: &F,
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

    /// git in `dir` with no user or system configuration.
    fn git_in(dir: &Path, args: &[&str], stdin: &[u8]) -> String {
        let mut child = Command::new("git")
            .args(["-c", "init.defaultBranch=main"])
            .args(args)
            .current_dir(dir)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("GIT_AUTHOR_NAME", "t")
            .env("GIT_AUTHOR_EMAIL", "t@example.com")
            .env("GIT_COMMITTER_NAME", "t")
            .env("GIT_COMMITTER_EMAIL", "t@example.com")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(stdin).unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "git {args:?}");
        String::from_utf8(out.stdout).unwrap()
    }

    /// Deleted files, a conflict resolution in a merge, a tag on a bare blob, and enough
    /// blobs for several readers.
    #[test]
    fn history_of_a_repository() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let secret = || crate::token::generate("tok", "live").unwrap();
        let (deleted, merged, tagged) = (secret(), secret(), secret());
        let mut stream = String::new();
        let mut commit = |branch: &str, parents: &[&str], files: &[(&str, String)], mark: u32| {
            stream.push_str(&format!(
                "commit refs/heads/{branch}\nmark :{mark}\ncommitter t <t@example.com> {} +0000\ndata 1\nx\n",
                1_600_000_000 + mark
            ));
            for (i, p) in parents.iter().enumerate() {
                stream.push_str(&format!("{} {p}\n", if i == 0 { "from" } else { "merge" }));
            }
            for (path, content) in files {
                if content.is_empty() {
                    stream.push_str(&format!("D {path}\n"));
                } else {
                    stream.push_str(&format!(
                        "M 100644 inline {path}\ndata {}\n{content}\n",
                        content.len()
                    ));
                }
            }
            stream.push('\n');
        };
        let filler: Vec<(String, String)> = (0..2_100)
            .map(|i| (format!("f/{i}.txt"), format!("filler {i}\n")))
            .collect();
        let filler: Vec<(&str, String)> = filler
            .iter()
            .map(|(p, c)| (p.as_str(), c.clone()))
            .collect();
        commit("main", &[], &filler, 1);
        commit(
            "main",
            &[":1"],
            &[("a.txt", format!("one\ntoken {}\n", deleted.secret.expose()))],
            2,
        );
        commit("main", &[":2"], &[("a.txt", String::new())], 3);
        commit("side", &[":1"], &[("b.txt", "side\n".into())], 4);
        commit(
            "main",
            &[":3", ":4"],
            &[
                ("b.txt", "side\n".into()),
                ("c.txt", format!("= {}\n", merged.secret.expose())),
            ],
            5,
        );
        git_in(root, &["init", "-q"], b"");
        git_in(root, &["fast-import", "--quiet"], stream.as_bytes());
        let blob = git_in(
            root,
            &["hash-object", "-w", "--stdin"],
            tagged.secret.expose().as_bytes(),
        );
        git_in(
            root,
            &["tag", "-a", "-m", "t", "bare-blob", blob.trim()],
            b"",
        );
        let commits: Vec<String> = git_in(
            root,
            &["rev-list", "--all", "--reverse", "--topo-order"],
            b"",
        )
        .lines()
        .map(str::to_string)
        .collect();
        let merge = git_in(root, &["rev-parse", "main"], b"").trim().to_string();
        let add = git_in(root, &["rev-parse", "main~1~1"], b"")
            .trim()
            .to_string();
        assert_eq!(commits.len(), 5);

        let repo = repository(root).unwrap();
        let scan = search(&repo, 1 << 20, &ProgressBar::hidden()).unwrap();
        assert_eq!(scan.blobs, 2_100 + 4);
        let found: Vec<(Option<String>, String, crate::token::TokenHash)> = scan
            .sightings
            .iter()
            .map(|s| match &s.origin {
                Origin::Blob { commit, path } => (
                    commit.clone(),
                    Path::new(path)
                        .file_name()
                        .map_or(String::new(), |n| n.to_string_lossy().into_owned()),
                    s.readings[0].hash,
                ),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(
            found,
            [
                (Some(add), "a.txt".into(), deleted.hash),
                (Some(merge), "c.txt".into(), merged.hash),
                (
                    None,
                    root.file_name().unwrap().to_string_lossy().into_owned(),
                    tagged.hash
                ),
            ]
        );
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
