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
use comfy_table::Cell;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::Serialize;

use super::{Ctx, actor};
use crate::cli::ScanArgs;
use crate::error::{Exit, usage};
use crate::expiry::Span;
use crate::render::{self, escape};
use crate::scan::{self, Origin, Scan, Sighting, Skipped, git, gitleaks, walk};
use crate::store::{Revocation, Status, Store, TokenFilter, TokenRecord};
use crate::text::shell_quote;
use crate::token::{TokenHash, is_valid_prefix};

/// A progress bar appears for trees larger than this many files or bytes, on a terminal.
const LARGE_TREE_FILES: usize = 2_000;
const LARGE_TREE_BYTES: u64 = 64 << 20;
/// How many read problems are shown one by one; the rest are counted.
const WARNINGS_SHOWN: usize = 10;
/// Short commit ids in tables and revocation reasons.
const SHORT_COMMIT: usize = 12;

/// A token found, looked up.
struct Finding {
    origin: Origin,
    line: u64,
    column: u64,
    hint: String,
    /// `None`: not in this database.
    token: Option<TokenRecord>,
    /// The token's status when it was found, before `--revoke` acted.
    status: Option<Status>,
    /// Whether this run revoked it.
    revoked: bool,
}

impl Finding {
    fn status_text(&self) -> &'static str {
        self.status.map_or("unknown", Status::as_str)
    }

    /// Where, as `path:line:column`, `commit:path:line:column` or `stdin:line:column`.
    fn location(&self) -> String {
        let place = match &self.origin {
            Origin::File(path) => path.clone(),
            Origin::Blob { commit, path } => match commit {
                Some(c) => format!("{}:{path}", short(c)),
                None => format!("(tag):{path}"),
            },
            Origin::Stdin => "stdin".into(),
        };
        format!("{place}:{}:{}", self.line, self.column)
    }
}

fn short(commit: &str) -> &str {
    &commit[..commit.len().min(SHORT_COMMIT)]
}

#[derive(Serialize)]
struct FindingJson<'a> {
    /// "file", "git" or "stdin".
    source: &'static str,
    path: Option<&'a str>,
    commit: Option<&'a str>,
    line: u64,
    column: u64,
    hint: &'a str,
    status: &'static str,
    id: Option<&'a str>,
    name: Option<&'a str>,
    revoked: bool,
}

#[derive(Serialize)]
struct ScanJson<'a> {
    findings: Vec<FindingJson<'a>>,
    files_scanned: u64,
    blobs_scanned: u64,
    bytes_scanned: u64,
    skipped: Skipped,
}

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
    let mut findings = look_up(&store, &scan.sightings, ctx.now)?;
    let active = findings
        .iter()
        .filter(|f| f.status == Some(Status::Active))
        .count();
    let unknown = findings.iter().filter(|f| f.token.is_none()).count();
    if args.revoke {
        revoke(ctx, &mut store, &mut findings)?;
    }

    if args.json {
        print_json(ctx, &scan, &findings)?;
    } else if !findings.is_empty() {
        print_table(ctx, &findings)?;
    }
    summary(ctx, &scan, &findings, args.stdin);
    if active > 0 && !args.revoke {
        ctx.ui.status(
            "Revoke the active ones with --revoke (same arguments), or one by one with \
             'tokenctl revoke ID --reason leaked'.",
        );
    }
    let failed = active > 0 || (args.strict && unknown > 0);
    Ok(if failed { Exit::Failure } else { Exit::Success })
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
fn look_up(store: &Store, sightings: &[Sighting], now: DateTime<Utc>) -> Result<Vec<Finding>> {
    let mut known: HashMap<TokenHash, Option<TokenRecord>> = HashMap::new();
    let mut findings = Vec::with_capacity(sightings.len());
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
        findings.push(Finding {
            origin: s.origin.clone(),
            line: s.line,
            column: reading.column,
            hint: reading.hint.clone(),
            status: token.as_ref().map(|t| t.status(now)),
            token,
            revoked: false,
        });
    }
    Ok(findings)
}

/// Revokes each active token found, once, with the first place it was found as reason, and
/// says how to issue replacements.
fn revoke(ctx: &Ctx, store: &mut Store, findings: &mut [Finding]) -> Result<()> {
    let actor = actor();
    let mut revoked: HashSet<String> = HashSet::new();
    let mut replacements = Vec::new();
    for f in findings.iter_mut() {
        let Some(t) = f
            .token
            .as_ref()
            .filter(|_| f.status == Some(Status::Active))
        else {
            continue;
        };
        if revoked.contains(&t.id) {
            f.revoked = true;
            continue;
        }
        let reason: String = format!("leaked: {}", f.location())
            .chars()
            .take(super::TEXT_MAX_CHARS)
            .collect();
        match store.revoke_token(&t.id, Some(&reason), &actor, ctx.now)? {
            Revocation::Revoked(r) => {
                ctx.ui.status(&format!(
                    "Revoked token {} '{}' ({reason}).",
                    r.id,
                    escape(&r.name)
                ));
                replacements.push(replacement(&r));
                revoked.insert(r.id);
                f.revoked = true;
            }
            // Revoked by someone else since it was looked up: nothing to do.
            Revocation::AlreadyRevoked(_) => {}
        }
    }
    if !replacements.is_empty() {
        ctx.ui.status(
            "Issue replacements with the same grants, and put them where the old ones were used:",
        );
        for r in &replacements {
            ctx.ui.status(&format!("  {r}"));
        }
        ctx.ui.status(
            "The leaked secrets stay where they were found; revoked, they are harmless there.",
        );
    }
    Ok(())
}

/// The `tokenctl create` command that issues a token with the same name, environment,
/// scopes, allowed IPs, description and lifetime. Not `rotate`: it refuses a revoked
/// token, and a leak calls for revoking first, without the grace period rotate gives.
fn replacement(t: &TokenRecord) -> String {
    let mut cmd = vec![
        "tokenctl create --name".to_string(),
        shell_quote(&escape(&t.name)),
    ];
    for s in t.scopes.iter() {
        cmd.push(format!("--scope {}", shell_quote(&s.to_string())));
    }
    cmd.push(format!("--env {}", t.env));
    for ip in &t.allowed_ips {
        cmd.push(format!("--allow-ip {ip}"));
    }
    if let Some(d) = &t.description {
        cmd.push(format!("--description {}", shell_quote(&escape(d))));
    }
    if let Some(end) = t.expires_at {
        let lifetime = Span::seconds((end - t.created_at).num_seconds().max(1));
        cmd.push(format!("--expires {lifetime}"));
    }
    cmd.join(" ")
}

fn print_json(ctx: &Ctx, scan: &Scan, findings: &[Finding]) -> Result<()> {
    let rows = findings
        .iter()
        .map(|f| {
            let (source, path, commit) = match &f.origin {
                Origin::File(p) => ("file", Some(p.as_str()), None),
                Origin::Blob { commit, path } => ("git", Some(path.as_str()), commit.as_deref()),
                Origin::Stdin => ("stdin", None, None),
            };
            FindingJson {
                source,
                path,
                commit,
                line: f.line,
                column: f.column,
                hint: &f.hint,
                status: f.status_text(),
                id: f.token.as_ref().map(|t| t.id.as_str()),
                name: f.token.as_ref().map(|t| t.name.as_str()),
                revoked: f.revoked,
            }
        })
        .collect();
    ctx.ui.json(&ScanJson {
        findings: rows,
        files_scanned: scan.files,
        blobs_scanned: scan.blobs,
        bytes_scanned: scan.bytes,
        skipped: scan.skipped,
    })?;
    Ok(())
}

fn print_table(ctx: &Ctx, findings: &[Finding]) -> Result<()> {
    let mut table = render::table(&["LOCATION", "TOKEN", "STATUS", "ID", "NAME"]);
    for f in findings {
        let status = match f.status {
            Some(s) if f.revoked => Cell::new(format!("{s}, now revoked")),
            Some(s) => render::status_cell(s, ctx.ui.color()),
            None => Cell::new("unknown"),
        };
        let (id, name) = match &f.token {
            Some(t) => (t.id.clone(), escape(&t.name).into_owned()),
            None => ("-".into(), "-".into()),
        };
        table.add_row(vec![
            Cell::new(f.location()),
            Cell::new(&f.hint),
            status,
            Cell::new(id),
            Cell::new(name),
        ]);
    }
    render::style(&mut table, ctx.ui.color());
    ctx.ui.data(&render::table_text(&table))?;
    Ok(())
}

/// One line on stderr: what was searched, what was skipped, what was found.
fn summary(ctx: &Ctx, scan: &Scan, findings: &[Finding], stdin: bool) {
    let mut searched = Vec::new();
    if stdin {
        searched.push("stdin".to_string());
    } else if scan.files > 0 || scan.blobs == 0 {
        searched.push(plural(scan.files, "file"));
    }
    if scan.blobs > 0 {
        searched.push(plural(scan.blobs, "blob"));
    }
    let mut text = format!(
        "Searched {} ({})",
        searched.join(" and "),
        human_bytes(scan.bytes)
    );
    let sk = scan.skipped;
    if sk.total() > 0 {
        let parts: Vec<String> = [
            (sk.binary, "binary"),
            (sk.too_large, "too large"),
            (sk.unreadable, "unreadable"),
        ]
        .iter()
        .filter(|(n, _)| *n > 0)
        .map(|(n, what)| format!("{n} {what}"))
        .collect();
        text.push_str(&format!("; skipped {}", parts.join(", ")));
    }
    if findings.is_empty() {
        text.push_str(". No tokens found.");
    } else {
        let parts: Vec<String> = ["active", "expired", "revoked", "unknown"]
            .iter()
            .filter_map(|status| {
                let n = findings
                    .iter()
                    .filter(|f| f.status_text() == *status)
                    .count();
                (n > 0).then(|| format!("{n} {status}"))
            })
            .collect();
        text.push_str(&format!(
            ". Found {}: {}.",
            plural(findings.len() as u64, "token"),
            parts.join(", ")
        ));
    }
    ctx.ui.status(&text);
}

fn plural(n: u64, what: &str) -> String {
    if n == 1 {
        format!("1 {what}")
    } else {
        format!("{n} {what}s")
    }
}

fn human_bytes(n: u64) -> String {
    match n {
        n if n >= 1 << 30 => format!("{:.1} GiB", n as f64 / (1u64 << 30) as f64),
        n if n >= 1 << 20 => format!("{:.1} MiB", n as f64 / (1u64 << 20) as f64),
        n if n >= 1 << 10 => format!("{:.1} KiB", n as f64 / 1024.0),
        n => format!("{n} bytes"),
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(human_bytes(12), "12 bytes");
        assert_eq!(human_bytes(100 << 20), "100.0 MiB");
    }
}
