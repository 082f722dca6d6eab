//! `audit ID|NAME`: one token's usage over the window, by source IP and by UTC day.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::predecessors::{self, PredecessorAudit};
use super::table::Table;
use super::{Style, TokenJson, View, ip_table, time};
use crate::anomaly::Finding;
use crate::text::{count, escape, rfc3339};
use crate::usage::{DayUsage, IpUsage};

#[derive(Serialize)]
pub struct TokenAudit<'a> {
    #[serde(with = "rfc3339")]
    pub since: DateTime<Utc>,
    pub token: TokenJson<'a>,
    pub requests: u64,
    pub denied: u64,
    pub distinct_ips: usize,
    pub flags: &'a [Finding],
    /// `None` when `--by day` left it out.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub by_ip: Option<&'a [IpUsage]>,
    /// `None` when `--by ip` left it out.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub by_day: Option<&'a [DayUsage]>,
    /// The tokens this one replaced through rotation, newest first, over the window.
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    pub predecessors: &'a [PredecessorAudit<'a>],
    /// The window as the column headers name it: "30D".
    #[serde(skip)]
    pub window: String,
}

impl View for TokenAudit<'_> {
    fn text(&self, style: &Style) -> String {
        let t = &self.token;
        let mut out = format!(
            "Token {} '{}' ({}): {}, {} denied, {} since {}\n",
            t.id,
            escape(t.name),
            t.status,
            count(self.requests, "request", "requests"),
            self.denied,
            count(self.distinct_ips as u64, "source IP", "source IPs"),
            time::when(self.since, style)
        );
        for f in self.flags {
            out.push_str(&format!("Flag {}: {}\n", f.flag, f.detail));
        }
        if let Some(ips) = self.by_ip.filter(|ips| !ips.is_empty()) {
            out.push('\n');
            out.push_str(&ip_table(ips, &self.window, style));
        }
        if let Some(days) = self.by_day {
            let mut table = Table::new(&["DAY (UTC)", "ALLOWED", "DENIED"]);
            for d in days.iter().filter(|d| d.allowed + d.denied > 0) {
                table.row(vec![d.day.into(), d.allowed.into(), d.denied.into()]);
            }
            if !table.is_empty() {
                out.push('\n');
                out.push_str(&table.render(false, None));
            }
        }
        out.push_str(&predecessors::audited(
            self.predecessors,
            &self.window,
            style,
        ));
        out
    }
}

#[cfg(test)]
mod tests {
    use chrono::NaiveDate;

    use super::*;
    use crate::render::sample;
    use crate::usage::Requests;

    #[test]
    fn human() {
        let style = sample::style();
        let t = sample::token("k3j9x0a1", "importer");
        let ips = [IpUsage {
            ip: String::new(),
            allowed: 0,
            denied: 1,
            first_seen: style.now,
            last_seen: style.now,
        }];
        let days = [
            DayUsage {
                day: NaiveDate::from_ymd_opt(2026, 3, 2).unwrap(),
                allowed: 0,
                denied: 0,
            },
            DayUsage {
                day: NaiveDate::from_ymd_opt(2026, 3, 3).unwrap(),
                allowed: 0,
                denied: 1,
            },
        ];
        let audit = TokenAudit {
            since: sample::at("2026-02-24T10:00:00Z"),
            token: TokenJson::new(&t, &Requests::default(), style.now),
            requests: 1,
            denied: 1,
            distinct_ips: 1,
            flags: &[],
            by_ip: Some(&ips),
            by_day: Some(&days),
            window: "7D".into(),
            predecessors: &[],
        };
        insta::assert_snapshot!(audit.text(&style), @r"
        Token k3j9x0a1 'importer' (active): 1 request, 1 denied, 1 source IP since 2026-02-24 10:00 UTC (7 days ago)

        IP       ALLOWED (7D)  DENIED (7D)  FIRST SEEN  LAST SEEN
        (no IP)  0             1            just now    just now

        DAY (UTC)   ALLOWED  DENIED
        2026-03-03  0        1
        ");
    }
}
