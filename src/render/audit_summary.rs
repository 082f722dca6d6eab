//! `audit` without a token: one row per token over the window, the flags of the last 24
//! hours, and uses of tokens this database does not know.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::table::{Cell, Fit, Table};
use super::{Style, View, time};
use crate::anomaly::Finding;
use crate::store::Status;
use crate::text::{count, escape, rfc3339, rfc3339_opt};
use crate::usage::{OVERFLOW_IP, STRANGER_SOURCES_PER_HOUR, StrangerUsage};

#[derive(Serialize)]
pub struct SummaryRow<'a> {
    pub id: &'a str,
    pub name: &'a str,
    pub status: Status,
    pub requests: u64,
    pub denied: u64,
    /// Of the denied requests, those over the token's rate limit.
    pub rate_limited: u64,
    pub distinct_ips: u64,
    /// The last use in the window.
    #[serde(with = "rfc3339_opt")]
    pub last_used_at: Option<DateTime<Utc>>,
    pub flags: &'a [Finding],
    /// Whether the token was ever used, in the window or before.
    #[serde(skip)]
    pub ever_used: bool,
}

#[derive(Serialize)]
pub struct AuditSummary<'a> {
    #[serde(with = "rfc3339")]
    pub since: DateTime<Utc>,
    pub tokens: Vec<SummaryRow<'a>>,
    /// Flags about the database rather than one token (`FLOOD`).
    pub flags: &'a [Finding],
    pub strangers: &'a [StrangerUsage],
    /// `--anomalies`: only flagged tokens were asked for.
    #[serde(skip)]
    pub anomalies_only: bool,
}

impl AuditSummary<'_> {
    /// Whether any token, or the database as a whole, is flagged.
    pub fn flagged(&self) -> bool {
        !self.flags.is_empty() || self.tokens.iter().any(|r| !r.flags.is_empty())
    }

    fn table(&self, style: &Style) -> String {
        // A LIMITED column (of DENIED) only when some request was over a rate limit:
        // summaries without any look as they always did.
        let limited = self.tokens.iter().any(|r| r.rate_limited > 0);
        let mut headers = vec!["ID", "NAME", "STATUS", "REQUESTS", "DENIED"];
        headers.extend(limited.then_some("LIMITED"));
        headers.extend(["IPS", "LAST USED", "FLAGS"]);
        let flags_column = headers.len() - 1;
        let mut table = Table::new(&headers)
            .fit(1, Fit::Cut)
            .fit(flags_column, Fit::Items);
        for r in &self.tokens {
            let flags: Vec<&str> = r.flags.iter().map(|f| f.flag.as_str()).collect();
            let mut row: Vec<Cell> = vec![
                r.id.into(),
                escape(r.name).into(),
                Cell::status(r.status),
                r.requests.into(),
                r.denied.into(),
            ];
            if limited {
                row.push(r.rate_limited.into());
            }
            row.extend([
                r.distinct_ips.into(),
                // "never": not once; "-": not in the window.
                time::cell(
                    r.last_used_at,
                    style.now,
                    if r.ever_used { "-" } else { "never" },
                )
                .into(),
                flags.join(" ").into(),
            ]);
            table.row(row);
        }
        table.render(style.color, style.width)
    }
}

impl View for AuditSummary<'_> {
    fn text(&self, style: &Style) -> String {
        let mut out = if self.tokens.is_empty() {
            String::new()
        } else {
            self.table(style)
        };
        if self.flagged() {
            if !out.is_empty() {
                out.push('\n');
            }
            out.push_str("Findings (last 24 hours):\n");
            for r in self.tokens.iter().filter(|r| !r.flags.is_empty()) {
                for f in r.flags {
                    out.push_str(&format!("  {}  {:<10}  {}\n", r.id, f.flag, f.detail));
                }
            }
            for f in self.flags {
                out.push_str(&format!("  {:<8}  {:<10}  {}\n", "-", f.flag, f.detail));
            }
        }
        out
    }

    fn notes(&self, _style: &Style, json: bool) -> Vec<String> {
        let mut notes = Vec::new();
        if json {
            return notes;
        }
        if self.tokens.is_empty() && self.flags.is_empty() {
            notes.push(if self.anomalies_only {
                "No anomalies in the last 24 hours.".to_string()
            } else {
                "No tokens and no usage in the window.".to_string()
            });
        }
        if let Some(top) = self.strangers.first().filter(|_| !self.anomalies_only) {
            let uses: u64 = self.strangers.iter().map(|s| s.count).sum();
            let mut ips: Vec<&str> = self
                .strangers
                .iter()
                .filter(|s| s.ip != OVERFLOW_IP)
                .map(|s| s.ip.as_str())
                .collect();
            ips.sort_unstable();
            ips.dedup();
            let overflow: u64 = self
                .strangers
                .iter()
                .filter(|s| s.ip == OVERFLOW_IP)
                .map(|s| s.count)
                .sum();
            let overflow = if overflow > 0 {
                format!(
                    "; {} more from sources past the {STRANGER_SOURCES_PER_HOUR} an hour kept one by one, counted as '{OVERFLOW_IP}'",
                    count(overflow, "use", "uses")
                )
            } else {
                String::new()
            };
            notes.push(format!(
                "Unknown or malformed tokens: {} from {} in the window (most: {} ×{} {}){overflow}.",
                count(uses, "use", "uses"),
                count(ips.len() as u64, "source", "sources"),
                super::ip_label(&top.ip),
                top.count,
                top.kind
            ));
        }
        notes
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::anomaly::Flag;
    use crate::render::sample;

    #[test]
    fn human() {
        let style = sample::style();
        let flags = [Finding {
            flag: Flag::NewIp,
            detail: "first seen in the last 24h: 198.51.100.4".into(),
        }];
        let strangers = [StrangerUsage {
            ip: "203.0.113.9".into(),
            kind: "unknown".into(),
            count: 7,
            first_seen: style.now,
            last_seen: style.now,
        }];
        let summary = AuditSummary {
            since: sample::at("2026-02-01T10:00:00Z"),
            tokens: vec![
                SummaryRow {
                    id: "k3j9x0a1",
                    name: "Mailchimp sync",
                    status: Status::Active,
                    requests: 120,
                    denied: 2,
                    rate_limited: 0,
                    distinct_ips: 2,
                    last_used_at: Some(sample::at("2026-03-03T08:00:00Z")),
                    flags: &flags,
                    ever_used: true,
                },
                SummaryRow {
                    id: "p0a8s2kd",
                    name: "importer",
                    status: Status::Active,
                    requests: 0,
                    denied: 0,
                    rate_limited: 0,
                    distinct_ips: 0,
                    last_used_at: None,
                    flags: &[],
                    ever_used: false,
                },
                SummaryRow {
                    id: "m4v7c2qe",
                    name: "old importer",
                    status: Status::Active,
                    requests: 0,
                    denied: 0,
                    rate_limited: 0,
                    distinct_ips: 0,
                    last_used_at: None,
                    flags: &[],
                    ever_used: true,
                },
            ],
            flags: &[],
            strangers: &strangers,
            anomalies_only: false,
        };
        insta::assert_snapshot!(summary.text(&style), @r"
        ID        NAME            STATUS  REQUESTS  DENIED  IPS  LAST USED  FLAGS
        k3j9x0a1  Mailchimp sync  active  120       2       2    2h ago     NEW_IP
        p0a8s2kd  importer        active  0         0       0    never
        m4v7c2qe  old importer    active  0         0       0    -

        Findings (last 24 hours):
          k3j9x0a1  NEW_IP  first seen in the last 24h: 198.51.100.4
        ");
        insta::assert_snapshot!(summary.notes(&style, false).join("\n"), @r"
        Unknown or malformed tokens: 7 uses from 1 source in the window (most: 203.0.113.9 ×7 unknown).
        ");
        assert!(summary.notes(&style, true).is_empty());
        // Requests over a rate limit get a column of their own, and a JSON key.
        let mut summary = summary;
        summary.tokens.truncate(2);
        summary.tokens[0].flags = &[];
        summary.tokens[0].rate_limited = 1;
        insta::assert_snapshot!(summary.text(&style), @r"
        ID        NAME            STATUS  REQUESTS  DENIED  LIMITED  IPS  LAST USED  FLAGS
        k3j9x0a1  Mailchimp sync  active  120       2       1        2    2h ago
        p0a8s2kd  importer        active  0         0       0        0    never
        ");
        let json = serde_json::to_value(&summary).unwrap();
        assert_eq!(json["tokens"][0]["rate_limited"], 1);
    }
}
