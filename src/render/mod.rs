//! The renderer: turns what a command returns (a view) into text for people or JSON for
//! programs. Commands build a view and hand it to `Ui::emit`; the human form of each view
//! lives in a file of its own here, and its JSON form is the view's `Serialize`.
//!
//! Human forms are pure functions of the view and a [`Style`] (the time of the run, the
//! zone, colour, width): nothing here reads the database, the clock or the terminal, so
//! each form is snapshot-tested on made-up values.

mod audit_summary;
mod backup;
mod copied;
mod decision;
mod event_log;
mod existing;
mod issued;
mod predecessors;
mod pruned;
mod revoked;
mod scan_report;
mod settings;
pub mod table;
pub mod time;
mod token;
mod token_audit;
mod token_changed;
mod token_list;
mod token_page;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::store::AdminEvent;

pub use audit_summary::{AuditSummary, SummaryRow};
pub use decision::DecisionView;
pub use event_log::EventLog;
pub use existing::ExistingToken;
pub use issued::{Issued, OldToken};
pub use predecessors::PredecessorAudit;
pub use pruned::{PruneReport, TokenPruneReport};
pub use revoked::Revoked;
pub use scan_report::{Leak, ScanReport, Searched};
pub use settings::{SettingChanged, SettingList, SettingRow, SettingValue};
pub use time::Zone;
pub use token::TokenJson;
pub use token_audit::TokenAudit;
pub use token_changed::{Change, TokenChanged};
pub use token_list::TokenList;
pub use token_page::{PageUsage, TokenPage};
// `store/`, `serve/` and `usage.rs` still name these helpers through `render`; they
// live in the leaf module `text`.
pub use crate::text::{escape, rfc3339, rfc3339_opt, rfc3339_text};

/// How human forms are drawn for this run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Style {
    /// The time of the run, for relative times.
    pub now: DateTime<Utc>,
    pub zone: Zone,
    /// Whether stdout takes ANSI colours.
    pub color: bool,
    /// The terminal's width, when stdout is one: tables fit it.
    pub width: Option<usize>,
}

/// A value a command returns for output: JSON through its `Serialize`, text through
/// [`View::text`], and notices for stderr.
pub trait View: Serialize {
    /// The human form for stdout; nothing is printed when it is empty.
    fn text(&self, style: &Style) -> String;

    /// Messages for stderr, printed after the data. `json`: whether the data went out as
    /// JSON (notices that only repeat what the JSON holds are left out then).
    fn notes(&self, _style: &Style, _json: bool) -> Vec<String> {
        Vec::new()
    }

    /// Whether the view holds a secret: then its output is written from buffers that are
    /// zeroed afterwards, never streamed.
    fn holds_secret(&self) -> bool {
        false
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

/// A source IP as tables show it; uses without an address (a `verify` without `--ip`)
/// are counted under the empty one.
fn ip_label(ip: &str) -> &str {
    if ip.is_empty() { "(no IP)" } else { ip }
}

/// Per-IP rows: requests in the window, first and last sighting.
fn ip_table(ips: &[crate::usage::IpUsage], window: &str, style: &Style) -> String {
    let allowed = format!("ALLOWED ({window})");
    let denied = format!("DENIED ({window})");
    let mut table = table::Table::new(&["IP", &allowed, &denied, "FIRST SEEN", "LAST SEEN"]);
    for ip in ips {
        table.row(vec![
            ip_label(&ip.ip).into(),
            ip.allowed.into(),
            ip.denied.into(),
            time::relative(ip.first_seen, style.now).into(),
            time::relative(ip.last_seen, style.now).into(),
        ]);
    }
    table.render(false, style.width)
}

/// Made-up values for the snapshot tests of the human forms.
#[cfg(test)]
pub(crate) mod sample {
    use chrono::{DateTime, Utc};

    use super::{Style, Zone};
    use crate::store::TokenRecord;

    pub fn at(rfc3339: &str) -> DateTime<Utc> {
        rfc3339.parse().unwrap()
    }

    /// 2026-03-03 10:00 UTC, colour off.
    pub fn style() -> Style {
        Style {
            now: at("2026-03-03T10:00:00Z"),
            zone: Zone::Utc,
            color: false,
            width: None,
        }
    }

    /// An active token created two days before [`style`]'s now.
    pub fn token(id: &str, name: &str) -> TokenRecord {
        TokenRecord {
            key: 1,
            id: id.into(),
            name: name.into(),
            description: None,
            env: "live".into(),
            scopes: crate::ScopeSet::parse_list("cases:write documents:read").unwrap(),
            allowed_ips: Vec::new(),
            hint: "tok_live_8fQ2…".into(),
            created_at: at("2026-03-01T10:00:00Z"),
            created_by: "alice".into(),
            expires_at: Some(at("2026-05-30T10:00:00Z")),
            revoked_at: None,
            revoke_reason: None,
            rotated_from: None,
            rotated_to: None,
            last_used_at: None,
            last_used_ip: None,
            suspended_at: None,
            suspend_reason: None,
            rate_limit: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sparklines() {
        assert_eq!(sparkline(&[0, 1, 8, 4]), " ▁█▄");
        assert_eq!(sparkline(&[0, 0]), "  ");
        assert_eq!(sparkline(&[1, 2]), "▄█");
        assert_eq!(sparkline(&[]), "");
    }
}
