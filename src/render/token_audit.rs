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
    /// Of `denied`, those refused by the token's rate limit.
    pub rate_limited: u64,
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
        // Rate-limited requests are named only when there are any.
        let limited = match self.rate_limited {
            0 => String::new(),
            n => format!(" ({n} rate-limited)"),
        };
        let mut out = format!(
            "Token {} '{}' ({}): {}, {} denied{limited}, {} since {}\n",
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
            let limited = days.iter().any(|d| d.rate_limited > 0);
            let mut headers = vec!["DAY (UTC)", "ALLOWED", "DENIED"];
            headers.extend(limited.then_some("LIMITED"));
            let mut table = Table::new(&headers);
            for d in days.iter().filter(|d| d.allowed + d.denied > 0) {
                let mut row = vec![d.day.into(), d.allowed.into(), d.denied.into()];
                row.extend(limited.then(|| d.rate_limited.into()));
                table.row(row);
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
    use crate::render::{Style, sample};
    use crate::usage::Requests;

    /// An audit of one token over 7 days; its one denial rate-limited when `limited`.
    fn sample_audit(limited: u64, check: impl FnOnce(&TokenAudit, &Style)) {
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
                rate_limited: 0,
            },
            DayUsage {
                day: NaiveDate::from_ymd_opt(2026, 3, 3).unwrap(),
                allowed: 0,
                denied: 1,
                rate_limited: limited,
            },
        ];
        let audit = TokenAudit {
            since: sample::at("2026-02-24T10:00:00Z"),
            token: TokenJson::new(&t, &Requests::default(), style.now),
            requests: 1,
            denied: 1,
            rate_limited: limited,
            distinct_ips: 1,
            flags: &[],
            by_ip: Some(&ips),
            by_day: Some(&days),
            window: "7D".into(),
            predecessors: &[],
        };
        check(&audit, &style);
    }

    #[test]
    fn human() {
        sample_audit(0, |audit, style| {
            insta::assert_snapshot!(audit.text(style), @r"
        Token k3j9x0a1 'importer' (active): 1 request, 1 denied, 1 source IP since 2026-02-24 10:00 UTC (7 days ago)

        IP       ALLOWED (7D)  DENIED (7D)  FIRST SEEN  LAST SEEN
        (no IP)  0             1            just now    just now

        DAY (UTC)   ALLOWED  DENIED
        2026-03-03  0        1
        ");
        });
    }

    #[test]
    fn rate_limited_requests_are_named_when_there_are_some() {
        sample_audit(1, |audit, style| {
            insta::assert_snapshot!(audit.text(style), @r"
            Token k3j9x0a1 'importer' (active): 1 request, 1 denied (1 rate-limited), 1 source IP since 2026-02-24 10:00 UTC (7 days ago)

            IP       ALLOWED (7D)  DENIED (7D)  FIRST SEEN  LAST SEEN
            (no IP)  0             1            just now    just now

            DAY (UTC)   ALLOWED  DENIED  LIMITED
            2026-03-03  0        1       1
            ");
            let json = serde_json::to_value(audit).unwrap();
            assert_eq!(json["rate_limited"], 1);
            assert_eq!(json["by_day"][1]["rate_limited"], 1);
        });
    }
}
