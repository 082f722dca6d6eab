//! Walking trees of files and searching each file, in parallel.
//!
//! Every file counts, hidden or git-ignored: leaks hide in `.env` files that `.gitignore`
//! keeps out of commits, so no ignore file is honoured. Symbolic links are not followed (a
//! link out of the tree would search someone else's files; one inside it reaches what the
//! walk reaches anyway), and only regular files are read (a FIFO would block forever).
//! `.git` directories are left out unless asked for, and even then their object store is
//! left to [`super::git`], which reads it decompressed.

use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use indicatif::ProgressBar;
use walkdir::WalkDir;

use super::{BINARY_PROBE, Origin, Scan, Skipped, display_text, is_binary, sightings};

/// More threads than this gain nothing: the disk or the page cache is the limit by then.
const MAX_THREADS: usize = 8;

/// A file the walk found, to be searched.
#[derive(Debug, Clone)]
pub struct FileEntry {
    pub path: PathBuf,
    pub size: u64,
}

/// What the walk found: files to search, and what it left out on the way.
#[derive(Debug, Default)]
pub struct Tree {
    pub files: Vec<FileEntry>,
    pub skipped: Skipped,
    pub warnings: Vec<String>,
}

impl Tree {
    pub fn bytes(&self) -> u64 {
        self.files.iter().map(|f| f.size).sum()
    }
}

/// Lists the regular files under `roots` (a root may itself be a file), in name order.
/// Files above `max_size` are counted, not listed. With `git_dir`, `.git` directories are
/// walked too, except their `objects`.
pub fn walk(roots: &[PathBuf], max_size: u64, git_dir: bool) -> Tree {
    let mut tree = Tree::default();
    for root in roots {
        let entries = WalkDir::new(root)
            .follow_links(false)
            .sort_by_file_name()
            .into_iter()
            .filter_entry(|e| {
                let name = e.file_name();
                let is_dir = e.file_type().is_dir();
                if !is_dir || e.depth() == 0 {
                    return true;
                }
                if name == ".git" {
                    return git_dir;
                }
                !(name == "objects" && e.path().parent().is_some_and(is_git_dir))
            });
        for entry in entries {
            let entry = match entry {
                Ok(e) => e,
                Err(e) => {
                    tree.skipped.unreadable += 1;
                    tree.warnings.push(walk_error(&e));
                    continue;
                }
            };
            if !entry.file_type().is_file() {
                continue;
            }
            match entry.metadata() {
                Ok(m) if m.len() > max_size => tree.skipped.too_large += 1,
                Ok(m) => tree.files.push(FileEntry {
                    path: entry.into_path(),
                    size: m.len(),
                }),
                Err(e) => {
                    tree.skipped.unreadable += 1;
                    tree.warnings.push(walk_error(&e));
                }
            }
        }
    }
    tree
}

fn is_git_dir(p: &Path) -> bool {
    p.file_name().is_some_and(|n| n == ".git")
}

fn walk_error(e: &walkdir::Error) -> String {
    match e.path() {
        Some(p) => format!(
            "cannot read {}: {}",
            display_path(p),
            e.io_error()
                .map_or_else(|| e.to_string(), |io| io.to_string())
        ),
        None => e.to_string(),
    }
}

/// A path as findings show it: as given, without a leading `./`, escaped, tokens hidden.
pub fn display_path(p: &Path) -> String {
    let p = p.strip_prefix(".").unwrap_or(p);
    display_text(&p.to_string_lossy())
}

/// Searches every file of `tree` on all cores; `progress` advances by bytes.
pub fn search(tree: Tree, max_size: u64, progress: &ProgressBar) -> Scan {
    let next = AtomicUsize::new(0);
    let merged = Mutex::new(Scan {
        skipped: tree.skipped,
        warnings: tree.warnings,
        ..Scan::default()
    });
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .clamp(1, MAX_THREADS)
        .min(tree.files.len().max(1));
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                let mut mine = Scan::default();
                let mut buf = Vec::new();
                while let Some(file) = tree.files.get(next.fetch_add(1, Ordering::Relaxed)) {
                    search_file(file, max_size, &mut buf, &mut mine);
                    progress.inc(file.size);
                }
                merged.lock().expect("no panics while merging").add(mine);
            });
        }
    });
    let mut scan = merged.into_inner().expect("no panics while merging");
    scan.sightings.sort_by(|a, b| {
        (&a.origin, a.line, a.readings[0].column).cmp(&(&b.origin, b.line, b.readings[0].column))
    });
    scan
}

fn search_file(file: &FileEntry, max_size: u64, buf: &mut Vec<u8>, scan: &mut Scan) {
    match read_text(&file.path, file.size, max_size, buf) {
        Ok(Content::Text) => {
            scan.files += 1;
            scan.bytes += buf.len() as u64;
            let origin = Origin::File(display_path(&file.path));
            scan.sightings.extend(sightings(buf, &origin));
        }
        Ok(Content::Binary) => scan.skipped.binary += 1,
        Ok(Content::TooLarge) => scan.skipped.too_large += 1,
        Err(e) => {
            scan.skipped.unreadable += 1;
            scan.warnings
                .push(format!("cannot read {}: {e}", display_path(&file.path)));
        }
    }
}

enum Content {
    Text,
    Binary,
    TooLarge,
}

/// Reads a file into `buf` unless it is binary (then only its start is read) or has grown
/// past `max_size` since the walk.
fn read_text(path: &Path, size: u64, max_size: u64, buf: &mut Vec<u8>) -> io::Result<Content> {
    buf.clear();
    buf.reserve(size as usize + 1);
    let mut f = File::open(path)?;
    (&mut f).take(BINARY_PROBE as u64).read_to_end(buf)?;
    if is_binary(buf) {
        return Ok(Content::Binary);
    }
    let room = (max_size + 1).saturating_sub(buf.len() as u64);
    f.take(room).read_to_end(buf)?;
    if buf.len() as u64 > max_size {
        return Ok(Content::TooLarge);
    }
    Ok(Content::Text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::token;

    #[test]
    fn walks_hidden_ignored_and_skips_binary_large_and_git() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let t = token::generate("tok", "live").unwrap();
        let secret = t.secret.expose();
        std::fs::create_dir_all(root.join(".git/objects/ab")).unwrap();
        std::fs::create_dir_all(root.join("sub/.hidden")).unwrap();
        std::fs::write(root.join(".gitignore"), ".env\n").unwrap();
        std::fs::write(root.join(".env"), format!("TOKEN={secret}\n")).unwrap();
        std::fs::write(root.join("sub/.hidden/x.txt"), format!("\n\n {secret}")).unwrap();
        std::fs::write(root.join("bin.dat"), [b'a', 0, b'b']).unwrap();
        std::fs::write(root.join("big.txt"), vec![b'a'; 2_000]).unwrap();
        std::fs::write(root.join(".git/config"), secret).unwrap();
        std::fs::write(root.join(".git/objects/ab/cd"), secret).unwrap();

        let tree = walk(&[root.to_path_buf()], 1_000, false);
        assert_eq!(tree.skipped.too_large, 1);
        let scan = search(tree, 1_000, &ProgressBar::hidden());
        assert_eq!(scan.files, 3);
        assert_eq!(scan.skipped.binary, 1);
        let places: Vec<(String, u64)> = scan
            .sightings
            .iter()
            .map(|s| match &s.origin {
                Origin::File(p) => {
                    let name = Path::new(p).file_name().unwrap().to_string_lossy();
                    (name.into_owned(), s.line)
                }
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(places, [(".env".to_string(), 1), ("x.txt".to_string(), 3)]);

        let with_git = search(
            walk(&[root.to_path_buf()], 1_000, true),
            1_000,
            &ProgressBar::hidden(),
        );
        assert_eq!(with_git.sightings.len(), 3, "config, not objects");
    }

    #[test]
    fn display_path_drops_dot_slash() {
        assert_eq!(display_path(Path::new("./a/b.txt")), "a/b.txt");
        assert_eq!(display_path(Path::new("../a")), "../a");
    }
}
