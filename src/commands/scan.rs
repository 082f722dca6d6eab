//! `tokenctl scan`: finds leaked tokens in files, git history or stdin, tells which are
//! active in this database, and with `--revoke` shuts them off.
//!
//! The search lives in `crate::scan` and never sees the database; this file looks up what
//! it saw, revokes, and prints. Nothing here ever holds a token's text, only hashes and
//! hints, so no output can contain one.

use std::collections::hash_map::Entry;
use std::collections::{HashMap, HashSet};
use std::io::Read;
use std::path::PathBuf;

use anyhow::{Context as _, Result};
use chrono::{DateTime, Utc};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::{Ctx, actor};
use crate::cli::ScanArgs;
use crate::error::{Exit, usage};
use crate::render::{Leak, ScanReport, Searched};
use crate::scan::{self, Origin, Scan, Sighting, git, gitleaks, walk};
use crate::store::{Revocation, Status, Store, TokenFilter, TokenRecord};
use crate::token::{TokenHash, is_valid_prefix};

/// A progress bar appears for trees larger than this many files or bytes, on a terminal.
const LARGE_TREE_FILES: usize = 2_000;
const LARGE_TREE_BYTES: u64 = 64 << 20;
/// How many read problems are shown one by one; the rest are counted.
const WARNINGS_SHOWN: usize = 10;

pub fn run(ctx: &Ctx, args: ScanArgs) -> Result<Exit> {
    let mut store = ctx.store()?;
    if args.gitleaks_rule {
        return gitleaks_rule(ctx, &store);
    }
    let scan = if args.stdin {
        from_stdin()?
    } else {
        from_paths(ctx, &args)?
    };
    for w in scan.warnings.iter().take(WARNINGS_SHOWN) {
        ctx.ui.warn(w);
    }
    if scan.warnings.len() > WARNINGS_SHOWN {
        ctx.ui.warn(&format!(
            "{} more files could not be read",
            scan.warnings.len() - WARNINGS_SHOWN
        ));
    }
    let mut leaks = look_up(&store, &scan.sightings, ctx.now)?;
    let active = leaks
        .iter()
        .filter(|f| f.status.is_some_and(Status::is_live))
        .count();
    let unknown = leaks.iter().filter(|f| f.token.is_none()).count();
    if args.revoke {
        revoke(ctx, &mut store, &mut leaks)?;
    }
    ctx.ui.emit(&ScanReport {
        findings: &leaks,
        searched: Searched {
            files: scan.files,
            blobs: scan.blobs,
            bytes: scan.bytes,
            skipped: scan.skipped,
            stdin: args.stdin,
        },
        revoking: args.revoke,
    })?;
    let failed = active > 0 || (args.strict && unknown > 0);
    Ok(if failed {
        Exit::Findings
    } else {
        Exit::Success
    })
}

fn from_stdin() -> Result<Scan> {
    let mut bytes = Vec::new();
    std::io::stdin()
        .lock()
        .read_to_end(&mut bytes)
        .context("could not read stdin")?;
    Ok(Scan {
        sightings: scan::sightings(&bytes, &Origin::Stdin),
        bytes: bytes.len() as u64,
        ..Scan::default()
    })
}

fn from_paths(ctx: &Ctx, args: &ScanArgs) -> Result<Scan> {
    let paths = if args.paths.is_empty() {
        vec![PathBuf::from(".")]
    } else {
        args.paths.clone()
    };
    for p in &paths {
        super::check_path_is_expanded(p)?;
        if let Err(e) = p.symlink_metadata() {
            return Err(usage(format!(
                "cannot scan {}: {e}",
                scan::display_text(&p.to_string_lossy())
            )));
        }
    }
    // Repositories first: a PATH outside any is an error before anything is read.
    let mut repos: Vec<git::Repository> = Vec::new();
    if args.git {
        for p in &paths {
            let repo = git::repository(p)?;
            if !repos.iter().any(|r| r.git_dir == repo.git_dir) {
                repos.push(repo);
            }
        }
    }

    let tree = walk::walk(&paths, args.max_size, args.git);
    let large = tree.files.len() > LARGE_TREE_FILES || tree.bytes() > LARGE_TREE_BYTES;
    let bar = progress(
        ctx,
        large,
        tree.bytes(),
        "{spinner} files [{bar:30}] {bytes}/{total_bytes} ({eta})",
    );
    let mut scan = walk::search(tree, args.max_size, &bar);
    bar.finish_and_clear();

    for repo in &repos {
        let bar = progress(
            ctx,
            true,
            0,
            "{spinner} history [{bar:30}] {pos}/{len} blobs ({eta})",
        );
        scan.add(git::search(repo, args.max_size, &bar)?);
        bar.finish_and_clear();
    }
    Ok(scan)
}

/// A progress bar on stderr when it is a terminal, `--quiet` is off and the work is
/// large; a hidden one otherwise.
fn progress(ctx: &Ctx, large: bool, length: u64, template: &str) -> ProgressBar {
    if !large || !ctx.ui.can_show_progress() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(Some(length), ProgressDrawTarget::stderr());
    if let Ok(style) = ProgressStyle::with_template(template) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar
}

/// Looks up every sighting: the first reading this database knows, else the first.
fn look_up(store: &Store, sightings: &[Sighting], now: DateTime<Utc>) -> Result<Vec<Leak>> {
    let mut known: HashMap<TokenHash, Option<TokenRecord>> = HashMap::new();
    let mut leaks = Vec::with_capacity(sightings.len());
    for s in sightings {
        let mut chosen = None;
        for r in &s.readings {
            let token = match known.entry(r.hash) {
                Entry::Occupied(e) => e.into_mut(),
                Entry::Vacant(e) => e.insert(store.find_by_hash(&r.hash)?),
            };
            if let Some(t) = token {
                chosen = Some((r, Some(t.clone())));
                break;
            }
        }
        let (reading, token) = chosen.unwrap_or((&s.readings[0], None));
        leaks.push(Leak {
            origin: s.origin.clone(),
            line: s.line,
            column: reading.column,
            hint: reading.hint.clone(),
            status: token.as_ref().map(|t| t.status(now)),
            token,
            revoked: false,
        });
    }
    Ok(leaks)
}

/// Revokes each active token found, once, with the first place it was found as reason.
fn revoke(ctx: &Ctx, store: &mut Store, leaks: &mut [Leak]) -> Result<()> {
    let actor = actor();
    let mut revoked: HashSet<String> = HashSet::new();
    for f in leaks.iter_mut() {
        let Some(t) = f
            .token
            .as_ref()
            .filter(|_| f.status.is_some_and(Status::is_live))
        else {
            continue;
        };
        if revoked.contains(&t.id) {
            f.revoked = true;
            continue;
        }
        match store.revoke_token(&t.id, Some(&f.reason()), &actor, ctx.now)? {
            Revocation::Revoked(r) => {
                revoked.insert(r.id);
                f.revoked = true;
            }
            // Revoked by someone else since it was looked up: nothing to do.
            Revocation::AlreadyRevoked(_) => {}
        }
    }
    Ok(())
}

/// Prints the gitleaks configuration: the database's prefix, and any other prefix that an
/// active token still carries (the setting may have changed since it was issued).
fn gitleaks_rule(ctx: &Ctx, store: &Store) -> Result<Exit> {
    let mut prefixes = vec![store.settings()?.token_prefix];
    let active = TokenFilter {
        status: Some(Status::Active),
        ..TokenFilter::default()
    };
    for t in store.list_tokens(&active, ctx.now)? {
        if let Some((prefix, _)) = t.hint.split_once('_')
            && is_valid_prefix(prefix)
            && !prefixes.iter().any(|p| p == prefix)
        {
            prefixes.push(prefix.to_string());
        }
    }
    ctx.ui.data(&gitleaks::rule(&prefixes))?;
    Ok(Exit::Success)
}
