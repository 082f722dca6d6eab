//! `scan`: where each leaked token was found, its status in this database, and what was
//! searched. Only hints are shown, never a token.

use std::collections::HashSet;

use serde::Serialize;

use super::table::{Cell, Fit, Table};
use super::{Style, View};
use crate::scan::{Origin, Skipped};
use crate::store::{Status, TokenRecord};
use crate::text::{count, escape, shell_quote};

/// Short commit ids in tables and revocation reasons.
const SHORT_COMMIT: usize = 12;

/// A token found in the searched material, looked up in this database.
#[derive(Debug, Clone)]
pub struct Leak {
    pub origin: Origin,
    pub line: u64,
    pub column: u64,
    pub hint: String,
    /// `None`: not in this database.
    pub token: Option<TokenRecord>,
    /// The token's status when it was found, before `--revoke` acted.
    pub status: Option<Status>,
    /// Whether this run revoked it.
    pub revoked: bool,
}

impl Leak {
    fn status_text(&self) -> &'static str {
        self.status.map_or("unknown", Status::as_str)
    }

    /// Where, as `path:line:column`, `commit:path:line:column` or `stdin:line:column`.
    pub fn location(&self) -> String {
        let place = match &self.origin {
            Origin::File(path) => path.clone(),
            Origin::Blob { commit, path } => match commit {
                Some(c) => format!("{}:{path}", &c[..c.len().min(SHORT_COMMIT)]),
                None => format!("(tag):{path}"),
            },
            Origin::Stdin => "stdin".into(),
        };
        format!("{place}:{}:{}", self.line, self.column)
    }

    /// The revocation reason recorded for it.
    pub fn reason(&self) -> String {
        format!("leaked: {}", self.location())
            .chars()
            .take(crate::commands::TEXT_MAX_CHARS)
            .collect()
    }
}

/// What was searched.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Searched {
    #[serde(rename = "files_scanned")]
    pub files: u64,
    #[serde(rename = "blobs_scanned")]
    pub blobs: u64,
    #[serde(rename = "bytes_scanned")]
    pub bytes: u64,
    pub skipped: Skipped,
    /// Standard input rather than files.
    #[serde(skip)]
    pub stdin: bool,
}

#[derive(Serialize)]
pub struct ScanReport<'a> {
    #[serde(serialize_with = "leaks_json")]
    pub findings: &'a [Leak],
    #[serde(flatten)]
    pub searched: Searched,
    /// `--revoke` was given.
    #[serde(skip)]
    pub revoking: bool,
}

#[derive(Serialize)]
struct LeakJson<'a> {
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

fn leaks_json<S: serde::Serializer>(leaks: &&[Leak], s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(leaks.iter().map(|f| {
        let (source, path, commit) = match &f.origin {
            Origin::File(p) => ("file", Some(p.as_str()), None),
            Origin::Blob { commit, path } => ("git", Some(path.as_str()), commit.as_deref()),
            Origin::Stdin => ("stdin", None, None),
        };
        LeakJson {
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
    }))
}

impl View for ScanReport<'_> {
    fn text(&self, style: &Style) -> String {
        if self.findings.is_empty() {
            return String::new();
        }
        let mut table = Table::new(&["LOCATION", "TOKEN", "STATUS", "ID", "NAME"])
            .fit(0, Fit::Cut)
            .fit(4, Fit::Cut);
        for f in self.findings {
            let status = match f.status {
                Some(s) if f.revoked => format!("{s}, now revoked").into(),
                Some(s) => Cell::status(s),
                None => "unknown".into(),
            };
            let (id, name) = match &f.token {
                Some(t) => (t.id.clone(), escape(&t.name).into_owned()),
                None => ("-".into(), "-".into()),
            };
            table.row(vec![
                f.location().into(),
                f.hint.as_str().into(),
                status,
                id.into(),
                name.into(),
            ]);
        }
        table.render(style.color, style.width)
    }

    fn notes(&self, _style: &Style, _json: bool) -> Vec<String> {
        let mut notes = self.revocations();
        notes.push(self.summary());
        let active = self
            .findings
            .iter()
            .any(|f| f.status.is_some_and(Status::is_live));
        if active && !self.revoking {
            notes.push(
                "Revoke the active ones with --revoke (same arguments), or one by one with \
                 'tokenctl revoke ID --reason leaked'."
                    .into(),
            );
        }
        notes
    }
}

impl ScanReport<'_> {
    /// Each token this run revoked, once, with the first place it was found, and the
    /// commands that issue replacements.
    fn revocations(&self) -> Vec<String> {
        let mut seen = HashSet::new();
        let mut revoked = Vec::new();
        let mut replacements = Vec::new();
        for f in self.findings.iter().filter(|f| f.revoked) {
            let Some(t) = f.token.as_ref().filter(|t| seen.insert(t.id.as_str())) else {
                continue;
            };
            revoked.push(format!(
                "Revoked token {} '{}' ({}).",
                t.id,
                escape(&t.name),
                f.reason()
            ));
            replacements.push(format!("  {}", replacement(t)));
        }
        if !replacements.is_empty() {
            revoked.push(
                "Issue replacements with the same grants, and put them where the old ones were used:"
                    .into(),
            );
            revoked.extend(replacements);
            revoked.push(
                "The leaked secrets stay where they were found; revoked, they are harmless there."
                    .into(),
            );
        }
        revoked
    }

    /// One line: what was searched, what was skipped, what was found.
    fn summary(&self) -> String {
        let s = &self.searched;
        let mut searched = Vec::new();
        if s.stdin {
            searched.push("stdin".to_string());
        } else if s.files > 0 || s.blobs == 0 {
            searched.push(count(s.files, "file", "files"));
        }
        if s.blobs > 0 {
            searched.push(count(s.blobs, "blob", "blobs"));
        }
        let mut text = format!(
            "Searched {} ({})",
            searched.join(" and "),
            human_bytes(s.bytes)
        );
        let sk = s.skipped;
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
        if self.findings.is_empty() {
            text.push_str(". No tokens found.");
        } else {
            let parts: Vec<String> = ["active", "rotating", "expired", "revoked", "unknown"]
                .iter()
                .filter_map(|status| {
                    let n = self
                        .findings
                        .iter()
                        .filter(|f| f.status_text() == *status)
                        .count();
                    (n > 0).then(|| format!("{n} {status}"))
                })
                .collect();
            text.push_str(&format!(
                ". Found {}: {}.",
                count(self.findings.len() as u64, "token", "tokens"),
                parts.join(", ")
            ));
        }
        text
    }
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
    if let Some(lifetime) = crate::expiry::lifetime(t.created_at, t.expires_at) {
        cmd.push(format!("--expires {lifetime}"));
    }
    cmd.join(" ")
}

fn human_bytes(n: u64) -> String {
    match n {
        n if n >= 1 << 30 => format!("{:.1} GiB", n as f64 / (1u64 << 30) as f64),
        n if n >= 1 << 20 => format!("{:.1} MiB", n as f64 / (1u64 << 20) as f64),
        n if n >= 1 << 10 => format!("{:.1} KiB", n as f64 / 1024.0),
        n => format!("{n} bytes"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::sample;

    #[test]
    fn sizes() {
        assert_eq!(human_bytes(12), "12 bytes");
        assert_eq!(human_bytes(100 << 20), "100.0 MiB");
    }

    #[test]
    fn human() {
        let style = sample::style();
        let mut t = sample::token("k3j9x0a1", "Mailchimp sync");
        t.expires_at = Some(sample::at("2026-03-31T10:00:00Z"));
        let leak = |origin: Origin, token: Option<TokenRecord>, revoked: bool| Leak {
            origin,
            line: 2,
            column: 7,
            hint: "tok_live_8fQ2…".into(),
            status: token.as_ref().map(|_| Status::Active),
            token,
            revoked,
        };
        let leaks = [
            leak(Origin::File("config/.env".into()), Some(t.clone()), true),
            leak(
                Origin::Blob {
                    commit: Some("3f2a9c1e04b7aa00".into()),
                    path: "deploy.yml".into(),
                },
                Some(t),
                true,
            ),
            leak(Origin::Stdin, None, false),
        ];
        let report = ScanReport {
            findings: &leaks,
            searched: Searched {
                files: 1,
                blobs: 1,
                bytes: 2048,
                skipped: Skipped::default(),
                stdin: false,
            },
            revoking: true,
        };
        insta::assert_snapshot!(report.text(&style), @r"
        LOCATION                     TOKEN           STATUS               ID        NAME
        config/.env:2:7              tok_live_8fQ2…  active, now revoked  k3j9x0a1  Mailchimp sync
        3f2a9c1e04b7:deploy.yml:2:7  tok_live_8fQ2…  active, now revoked  k3j9x0a1  Mailchimp sync
        stdin:2:7                    tok_live_8fQ2…  unknown              -         -
        ");
        insta::assert_snapshot!(report.notes(&style, false).join("\n"), @r"
        Revoked token k3j9x0a1 'Mailchimp sync' (leaked: config/.env:2:7).
        Issue replacements with the same grants, and put them where the old ones were used:
          tokenctl create --name 'Mailchimp sync' --scope cases:write --scope documents:read --env live --expires 30d
        The leaked secrets stay where they were found; revoked, they are harmless there.
        Searched 1 file and 1 blob (2.0 KiB). Found 3 tokens: 2 active, 1 unknown.
        ");
    }
}
