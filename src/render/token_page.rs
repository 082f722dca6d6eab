//! `show`: one token's page — metadata, usage and history. Never the secret.

use serde::Serialize;

use super::table::Table;
use super::{Style, TokenJson, View, event_summary, ip_table, predecessors, sparkline, time};
use crate::anomaly::Finding;
use crate::store::AdminEvent;
use crate::text::escape;
use crate::usage::{DayUsage, IpUsage, Requests};

#[derive(Serialize)]
pub struct TokenPage<'a> {
    #[serde(flatten)]
    pub token: TokenJson<'a>,
    pub usage: PageUsage<'a>,
    pub flags: &'a [Finding],
    pub events: &'a [AdminEvent],
    /// The tokens this one replaced through rotation, newest first.
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    pub predecessors: &'a [TokenJson<'a>],
}

/// Requests per window, per source IP (30 days) and per UTC day (30 days, today last).
#[derive(Serialize)]
pub struct PageUsage<'a> {
    #[serde(flatten)]
    pub requests: Requests,
    pub ips: &'a [IpUsage],
    pub daily: &'a [DayUsage],
}

impl View for TokenPage<'_> {
    fn text(&self, style: &Style) -> String {
        let mut out = self.metadata(style);
        out.push('\n');
        out.push_str(&self.counts());
        let per_day: Vec<u64> = self
            .usage
            .daily
            .iter()
            .map(|d| d.allowed + d.denied)
            .collect();
        let peak = per_day.iter().max().copied().unwrap_or(0);
        out.push_str(&format!(
            "\nLast 30 days  |{}|  (requests per UTC day, peak {peak})\n",
            sparkline(&per_day)
        ));
        if !self.usage.ips.is_empty() {
            out.push('\n');
            out.push_str(&ip_table(self.usage.ips, "30D", style));
        }
        out.push_str(&predecessors::shown(self.predecessors, style));
        if !self.events.is_empty() {
            out.push_str("\nHistory\n");
            for e in self.events {
                out.push_str(&format!(
                    "  {}  {:<8} {}  {}\n",
                    time::absolute(e.at, style, "%Y-%m-%d %H:%M"),
                    e.action,
                    escape(&e.actor),
                    escape(&event_summary(e))
                ));
            }
        }
        out
    }
}

impl TokenPage<'_> {
    /// `Label        value` lines.
    fn metadata(&self, style: &Style) -> String {
        let t = &self.token;
        let when = |x| time::when(x, style);
        let mut out = String::new();
        let mut line = |label: &str, value: String| {
            out.push_str(&format!("{label:<13}{value}\n"));
        };
        line("ID", t.id.to_string());
        line("Name", escape(t.name).into_owned());
        if let Some(d) = t.description {
            line("Description", escape(d).into_owned());
        }
        line("Status", t.status.to_string());
        line("Environment", t.env.to_string());
        line("Scopes", t.scopes.to_string());
        line(
            "Allowed IPs",
            if t.allowed_ips.is_empty() {
                "any".to_string()
            } else {
                t.allowed_ips.join(", ")
            },
        );
        if let Some(limit) = t.rate_limit {
            line("Rate limit", limit.to_string());
        }
        line("Hint", t.hint.to_string());
        line(
            "Created",
            format!("{} by {}", when(t.created_at), escape(t.created_by)),
        );
        line(
            "Expires",
            t.expires_at.map_or_else(|| "never".to_string(), when),
        );
        if let Some(r) = t.revoked_at {
            let reason = t
                .revoke_reason
                .map(|r| format!(": {}", escape(r)))
                .unwrap_or_default();
            line("Revoked", format!("{}{reason}", when(r)));
        }
        if let Some(at) = t.suspended_at {
            let reason = t
                .suspend_reason
                .map(|r| format!(": {}", escape(r)))
                .unwrap_or_default();
            line("Suspended", format!("{}{reason}", when(at)));
        }
        if let Some(from) = t.rotated_from {
            line("Rotated from", from.to_string());
        }
        if let Some(to) = t.rotated_to {
            line("Rotated to", to.to_string());
        }
        line(
            "Last used",
            match (t.last_used_at, t.last_used_ip) {
                (Some(at), Some(ip)) => format!("{} from {ip}", when(at)),
                (Some(at), None) => when(at),
                _ => "never".to_string(),
            },
        );
        for f in self.flags {
            line("Flag", format!("{} {}", f.flag, f.detail));
        }
        out
    }

    /// Allowed and denied requests per window.
    fn counts(&self) -> String {
        let r = &self.usage.requests;
        let mut counts = Table::new(&["REQUESTS", "24H", "7D", "30D"]);
        counts.row(vec![
            "allowed".into(),
            r.allowed_24h.into(),
            r.allowed_7d.into(),
            r.allowed_30d.into(),
        ]);
        counts.row(vec![
            "denied".into(),
            r.denied_24h.into(),
            r.denied_7d.into(),
            r.denied_30d.into(),
        ]);
        counts.render(false, None)
    }
}

#[cfg(test)]
mod tests {
    use chrono::NaiveDate;

    use super::*;
    use crate::anomaly::Flag;
    use crate::render::sample;

    #[test]
    fn human() {
        let style = sample::style();
        let mut t = sample::token("k3j9x0a1", "importer");
        t.description = Some("nightly case import".into());
        t.allowed_ips = vec!["10.0.0.0/8".parse().unwrap()];
        t.last_used_at = Some(style.now);
        t.last_used_ip = Some("192.0.2.1".into());
        let requests = Requests {
            allowed_24h: 1,
            denied_24h: 1,
            allowed_7d: 1,
            denied_7d: 1,
            allowed_30d: 1,
            denied_30d: 1,
        };
        let ips = [
            IpUsage {
                ip: "10.0.0.1".into(),
                allowed: 1,
                denied: 0,
                first_seen: style.now,
                last_seen: style.now,
            },
            IpUsage {
                ip: "192.0.2.1".into(),
                allowed: 0,
                denied: 1,
                first_seen: style.now,
                last_seen: style.now,
            },
        ];
        let first = NaiveDate::from_ymd_opt(2026, 2, 2).unwrap();
        let daily: Vec<DayUsage> = (0..30)
            .map(|i| DayUsage {
                day: first + chrono::Days::new(i),
                allowed: u64::from(i == 29),
                denied: u64::from(i == 29),
                rate_limited: 0,
            })
            .collect();
        let flags = [Finding {
            flag: Flag::IpBlocked,
            detail: "outside the allow list: 192.0.2.1 ×1".into(),
        }];
        let events = [AdminEvent {
            seq: 1,
            at: t.created_at,
            actor: "alice".into(),
            action: "create".into(),
            token_id: Some(t.id.clone()),
            details: serde_json::json!({"name": "importer", "scopes": ["cases:write"]}),
        }];
        let page = TokenPage {
            token: TokenJson::new(&t, &requests, style.now),
            usage: PageUsage {
                requests,
                ips: &ips,
                daily: &daily,
            },
            flags: &flags,
            events: &events,
            predecessors: &[],
        };
        insta::assert_snapshot!(page.text(&style), @r"
        ID           k3j9x0a1
        Name         importer
        Description  nightly case import
        Status       active
        Environment  live
        Scopes       cases:write documents:read
        Allowed IPs  10.0.0.0/8
        Hint         tok_live_8fQ2…
        Created      2026-03-01 10:00 UTC (2 days ago) by alice
        Expires      2026-05-30 10:00 UTC (in 3 months)
        Last used    2026-03-03 10:00 UTC (just now) from 192.0.2.1
        Flag         IP_BLOCKED outside the allow list: 192.0.2.1 ×1

        REQUESTS  24H  7D  30D
        allowed   1    1   1
        denied    1    1   1

        Last 30 days  |                             █|  (requests per UTC day, peak 2)

        IP         ALLOWED (30D)  DENIED (30D)  FIRST SEEN  LAST SEEN
        10.0.0.1   1              0             just now    just now
        192.0.2.1  0              1             just now    just now

        History
          2026-03-01 10:00 UTC  create   alice  name=importer scopes=cases:write
        ");
    }

    #[test]
    fn suspended_and_limited() {
        let style = sample::style();
        let mut t = sample::token("k3j9x0a1", "importer");
        t.suspended_at = Some(sample::at("2026-03-03T09:00:00Z"));
        t.suspend_reason = Some("spike\u{7} from 192.0.2.1".into());
        t.rate_limit = Some("5000/h".parse().unwrap());
        let page = TokenPage {
            token: TokenJson::new(&t, &Requests::default(), style.now),
            usage: PageUsage {
                requests: Requests::default(),
                ips: &[],
                daily: &[],
            },
            flags: &[],
            events: &[],
            predecessors: &[],
        };
        insta::assert_snapshot!(page.metadata(&style), @r"
        ID           k3j9x0a1
        Name         importer
        Status       suspended
        Environment  live
        Scopes       cases:write documents:read
        Allowed IPs  any
        Rate limit   5000/h
        Hint         tok_live_8fQ2…
        Created      2026-03-01 10:00 UTC (2 days ago) by alice
        Expires      2026-05-30 10:00 UTC (in 3 months)
        Suspended    2026-03-03 09:00 UTC (1h ago): spike\u{7} from 192.0.2.1
        Last used    never
        ");
    }
}
