//! The tokens that a shown token replaced (its rotation chain), with their usage: after a
//! rotation, `show NAME` and `audit NAME` find the new token, and the use before the
//! rotation is its predecessors'. Labelled apart, never added to the token's own counts.

use serde::Serialize;

use super::table::{Cell, Table};
use super::{Style, TokenJson, time};

/// A predecessor over an audit window, shaped like `audit ID`'s own JSON.
#[derive(Debug, Serialize)]
pub struct PredecessorAudit<'a> {
    pub token: TokenJson<'a>,
    pub requests: u64,
    pub denied: u64,
    pub distinct_ips: usize,
}

const HEADING: &str =
    "Tokens this one replaced by rotation (newest first); their use is not in the counts above:\n";

/// `show`'s table of predecessors, with their requests per window; empty without any.
pub fn shown(predecessors: &[TokenJson<'_>], style: &Style) -> String {
    if predecessors.is_empty() {
        return String::new();
    }
    let mut table = Table::new(&["PREDECESSOR", "STATUS", "LAST USED", "24H", "7D", "30D"]);
    for p in predecessors {
        table.row(vec![
            p.id.into(),
            Cell::status(p.status),
            last_used(p, style).into(),
            p.requests_24h.into(),
            p.requests_7d.into(),
            p.requests_30d.into(),
        ]);
    }
    format!("\n{HEADING}{}", table.render(style.color, style.width))
}

/// `audit`'s table of predecessors, with their use over the window; empty without any.
pub fn audited(predecessors: &[PredecessorAudit<'_>], window: &str, style: &Style) -> String {
    if predecessors.is_empty() {
        return String::new();
    }
    let requests = format!("REQUESTS ({window})");
    let denied = format!("DENIED ({window})");
    let ips = format!("SOURCE IPS ({window})");
    let mut table = Table::new(&[
        "PREDECESSOR",
        "STATUS",
        &requests,
        &denied,
        &ips,
        "LAST USED",
    ]);
    for p in predecessors {
        table.row(vec![
            p.token.id.into(),
            Cell::status(p.token.status),
            p.requests.into(),
            p.denied.into(),
            p.distinct_ips.into(),
            last_used(&p.token, style).into(),
        ]);
    }
    format!("\n{HEADING}{}", table.render(style.color, style.width))
}

fn last_used(t: &TokenJson<'_>, style: &Style) -> String {
    t.last_used_at
        .map_or_else(|| "never".to_string(), |at| time::relative(at, style.now))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::sample;
    use crate::store::TokenRecord;
    use crate::usage::Requests;

    fn predecessor(style: &Style) -> TokenRecord {
        let mut t = sample::token("p0p0p0p0", "importer");
        t.rotated_to = Some("k3j9x0a1".into());
        t.expires_at = Some(style.now + chrono::TimeDelta::hours(20));
        t.last_used_at = Some(style.now - chrono::TimeDelta::hours(2));
        t
    }

    #[test]
    fn human() {
        let style = sample::style();
        let t = predecessor(&style);
        let requests = Requests {
            allowed_24h: 5,
            denied_24h: 1,
            allowed_7d: 40,
            denied_7d: 2,
            allowed_30d: 90,
            denied_30d: 3,
        };
        let shown_text = shown(&[TokenJson::new(&t, &requests, style.now)], &style);
        let audit = PredecessorAudit {
            token: TokenJson::new(&t, &requests, style.now),
            requests: 42,
            denied: 2,
            distinct_ips: 1,
        };
        let audited_text = audited(&[audit], "7D", &style);
        insta::assert_snapshot!(format!("{shown_text}{audited_text}"), @r"

        Tokens this one replaced by rotation (newest first); their use is not in the counts above:
        PREDECESSOR  STATUS    LAST USED  24H  7D  30D
        p0p0p0p0     rotating  2h ago     6    42  93

        Tokens this one replaced by rotation (newest first); their use is not in the counts above:
        PREDECESSOR  STATUS    REQUESTS (7D)  DENIED (7D)  SOURCE IPS (7D)  LAST USED
        p0p0p0p0     rotating  42             2            1                2h ago
        ");
        assert_eq!(shown(&[], &style), "");
    }
}
