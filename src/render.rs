//! Everything that turns values into text: escaping of user-supplied text, times
//! (absolute and relative), tables, sparklines, and the JSON shape of a token (SPEC §7).
//!
//! Commands build values and hand them here; nothing here reads the database.

use std::fmt::Write as _;

use chrono::{DateTime, Local, Utc};
use comfy_table::{Cell, Color, ContentArrangement, Table, presets};
use serde::Serialize;

use crate::store::{AdminEvent, Status, TokenRecord};
use crate::usage::{IpUsage, Requests};

// `store/`, `serve/` and `usage.rs` still name these helpers through `render`; they
// live in the leaf module `text`.
pub use crate::text::{escape, rfc3339, rfc3339_opt, rfc3339_text};

/// "in 12 days", "3h ago", "just now".
pub fn relative(t: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let secs = (t - now).num_seconds();
    let span = secs.unsigned_abs();
    if span < 60 {
        return "just now".into();
    }
    // Rounded to the nearest unit: a 30-day token created a second ago expires "in 30 days".
    let round = |unit: u64| (span + unit / 2) / unit;
    let amount = match span {
        s if s < 3_570 => format!("{}m", round(60)),
        s if s < 84_600 => format!("{}h", round(3_600)),
        s if s < 129_600 => "1 day".into(),
        s if s < 59 * 86_400 => format!("{} days", round(86_400)),
        s if s < 729 * 86_400 => format!("{} months", round(30 * 86_400)),
        _ => format!("{} years", round(365 * 86_400)),
    };
    if secs > 0 {
        format!("in {amount}")
    } else {
        format!("{amount} ago")
    }
}

/// Local time to the minute, then the relative time: "2027-03-01 10:00 (in 93 days)".
pub fn when(t: DateTime<Utc>, now: DateTime<Utc>) -> String {
    format!(
        "{} ({})",
        t.with_timezone(&Local).format("%Y-%m-%d %H:%M"),
        relative(t, now)
    )
}

/// Optional time in a table cell: relative, or `never`/`-`.
pub fn cell_time(t: Option<DateTime<Utc>>, now: DateTime<Utc>, none: &str) -> String {
    t.map_or_else(|| none.to_string(), |t| relative(t, now))
}

/// A borderless table that fits the terminal's width when stdout is one.
pub fn table(header: &[&str]) -> Table {
    let mut t = Table::new();
    t.load_style(presets::NOTHING)
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_header(header.iter().map(Cell::new));
    t
}

/// Renders a table as text: columns two spaces apart, no padding at line starts or ends.
pub fn table_text(t: &Table) -> String {
    let mut t = t.clone();
    for column in t.column_iter_mut() {
        column.set_padding((0, 2));
    }
    let mut out = String::new();
    for line in t.lines() {
        let _ = writeln!(out, "{}", line.trim_end());
    }
    out
}

/// A status cell, coloured when colour is on.
pub fn status_cell(status: Status, color: bool) -> Cell {
    let cell = Cell::new(status.as_str());
    if !color {
        return cell;
    }
    cell.fg(match status {
        Status::Active => Color::Green,
        Status::Expired => Color::Yellow,
        Status::Revoked => Color::Red,
    })
}

/// Tables built with colour must be told to keep it when stdout is not what comfy-table
/// would detect as a terminal (`--color always`).
pub fn style(t: &mut Table, color: bool) {
    if color {
        t.enforce_styling();
    } else {
        t.force_no_tty();
    }
}

/// A one-line bar chart: ' ' for zero, then ▁ to █ scaled to the maximum.
pub fn sparkline(values: &[u64]) -> String {
    const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
    let max = values.iter().copied().max().unwrap_or(0);
    values
        .iter()
        .map(|&v| {
            if v == 0 {
                ' '
            } else {
                let idx = ((v * 8 - 1) / max) as usize;
                BARS[idx.min(7)]
            }
        })
        .collect()
}

/// A token as every JSON output shows it (SPEC §7 keys).
#[derive(Debug, Serialize)]
pub struct TokenJson<'a> {
    pub id: &'a str,
    pub name: &'a str,
    pub description: Option<&'a str>,
    pub env: &'a str,
    pub scopes: &'a crate::scope::ScopeSet,
    pub allowed_ips: Vec<String>,
    pub status: Status,
    pub hint: &'a str,
    #[serde(with = "rfc3339")]
    pub created_at: DateTime<Utc>,
    pub created_by: &'a str,
    #[serde(with = "rfc3339_opt")]
    pub expires_at: Option<DateTime<Utc>>,
    #[serde(with = "rfc3339_opt")]
    pub revoked_at: Option<DateTime<Utc>>,
    pub revoke_reason: Option<&'a str>,
    #[serde(with = "rfc3339_opt")]
    pub last_used_at: Option<DateTime<Utc>>,
    pub last_used_ip: Option<&'a str>,
    pub requests_24h: u64,
    pub requests_7d: u64,
    pub requests_30d: u64,
    pub rotated_from: Option<&'a str>,
    pub rotated_to: Option<&'a str>,
}

impl<'a> TokenJson<'a> {
    pub fn new(t: &'a TokenRecord, requests: &Requests, now: DateTime<Utc>) -> TokenJson<'a> {
        TokenJson {
            id: &t.id,
            name: &t.name,
            description: t.description.as_deref(),
            env: &t.env,
            scopes: &t.scopes,
            allowed_ips: t.allowed_ips.iter().map(|n| n.to_string()).collect(),
            status: t.status(now),
            hint: &t.hint,
            created_at: t.created_at,
            created_by: &t.created_by,
            expires_at: t.expires_at,
            revoked_at: t.revoked_at,
            revoke_reason: t.revoke_reason.as_deref(),
            last_used_at: t.last_used_at,
            last_used_ip: t.last_used_ip.as_deref(),
            requests_24h: requests.total_24h(),
            requests_7d: requests.total_7d(),
            requests_30d: requests.total_30d(),
            rotated_from: t.rotated_from.as_deref(),
            rotated_to: t.rotated_to.as_deref(),
        }
    }
}

/// A token plus its secret: what `create --json` and `rotate --json` print.
#[derive(Serialize)]
pub struct IssuedJson<'a> {
    #[serde(flatten)]
    pub metadata: TokenJson<'a>,
    /// The secret, shown this once.
    pub token: &'a str,
}

/// Per-IP rows: requests in the window, first and last sighting.
pub fn ip_table(ips: &[IpUsage], window: &str, now: DateTime<Utc>) -> Table {
    let allowed = format!("ALLOWED ({window})");
    let denied = format!("DENIED ({window})");
    let mut table = table(&["IP", &allowed, &denied, "FIRST SEEN", "LAST SEEN"]);
    for ip in ips {
        table.add_row(vec![
            Cell::new(if ip.ip.is_empty() {
                "(none given)"
            } else {
                &ip.ip
            }),
            Cell::new(ip.allowed),
            Cell::new(ip.denied),
            Cell::new(relative(ip.first_seen, now)),
            Cell::new(relative(ip.last_seen, now)),
        ]);
    }
    style(&mut table, false);
    table
}

fn detail_value(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Array(items) => {
            items.iter().map(detail_value).collect::<Vec<_>>().join(",")
        }
        other => other.to_string(),
    }
}

/// The details of an event in a line: `key=value` pairs.
pub fn event_summary(e: &AdminEvent) -> String {
    match &e.details {
        serde_json::Value::Object(map) => map
            .iter()
            .filter(|(_, v)| !v.is_null())
            .map(|(k, v)| format!("{k}={}", detail_value(v)))
            .collect::<Vec<_>>()
            .join(" "),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_times() {
        let now: DateTime<Utc> = "2026-06-01T12:00:00Z".parse().unwrap();
        let at = |s: &str| s.parse::<DateTime<Utc>>().unwrap();
        assert_eq!(relative(at("2026-06-01T12:00:30Z"), now), "just now");
        assert_eq!(relative(at("2026-06-01T09:00:00Z"), now), "3h ago");
        assert_eq!(relative(at("2026-06-13T12:00:00Z"), now), "in 12 days");
        assert_eq!(relative(at("2026-06-02T13:00:00Z"), now), "in 1 day");
        assert_eq!(relative(at("2026-06-01T12:05:00Z"), now), "in 5m");
        assert_eq!(relative(at("2027-06-01T12:00:00Z"), now), "in 12 months");
        assert_eq!(relative(at("2030-06-01T12:00:00Z"), now), "in 4 years");
    }

    #[test]
    fn sparklines() {
        assert_eq!(sparkline(&[0, 1, 8, 4]), " ▁█▄");
        assert_eq!(sparkline(&[0, 0]), "  ");
        assert_eq!(sparkline(&[1, 2]), "▄█");
        assert_eq!(sparkline(&[]), "");
    }
}
