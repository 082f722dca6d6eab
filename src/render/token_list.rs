//! `list`: one row per token.

use serde::Serialize;

use super::table::{Cell, Fit, Table};
use super::{Style, TokenJson, View, time};
use crate::text::escape;

/// The tokens `list` found, in creation order.
#[derive(Serialize)]
#[serde(transparent)]
pub struct TokenList<'a> {
    pub tokens: Vec<TokenJson<'a>>,
}

impl View for TokenList<'_> {
    fn text(&self, style: &Style) -> String {
        if self.tokens.is_empty() {
            return String::new();
        }
        // A LIMIT column only when some token has a rate limit: lists without any look
        // as they always did.
        let limits = self.tokens.iter().any(|t| t.rate_limit.is_some());
        let mut headers = vec![
            "ID",
            "NAME",
            "ENV",
            "SCOPES",
            "EXPIRES",
            "LAST USED",
            "REQ 24H",
        ];
        headers.extend(limits.then_some("LIMIT"));
        headers.push("STATUS");
        let mut table = Table::new(&headers).fit(1, Fit::Cut).fit(3, Fit::Items);
        for t in &self.tokens {
            let mut row: Vec<Cell> = vec![
                t.id.into(),
                escape(t.name).into(),
                t.env.into(),
                t.scopes.into(),
                time::cell(t.expires_at, style.now, "never").into(),
                time::cell(t.last_used_at, style.now, "never").into(),
                t.requests_24h.into(),
            ];
            if limits {
                row.push(
                    t.rate_limit
                        .map_or_else(|| "-".to_string(), |l| l.to_string())
                        .into(),
                );
            }
            row.push(Cell::status(t.status));
            table.row(row);
        }
        table.render(style.color, style.width)
    }

    fn notes(&self, _style: &Style, json: bool) -> Vec<String> {
        if self.tokens.is_empty() && !json {
            vec!["No tokens match.".into()]
        } else {
            Vec::new()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::sample;
    use crate::usage::Requests;

    #[test]
    fn human() {
        let style = sample::style();
        let mut a = sample::token("k3j9x0a1", "Mailchimp sync");
        a.last_used_at = Some(sample::at("2026-03-03T09:00:00Z"));
        let mut b = sample::token("p0a8s2kd", "old\u{1b}[2J importer");
        b.revoked_at = Some(sample::at("2026-03-02T10:00:00Z"));
        b.expires_at = None;
        let busy = Requests {
            allowed_24h: 12,
            denied_24h: 1,
            ..Requests::default()
        };
        let list = TokenList {
            tokens: vec![
                TokenJson::new(&a, &busy, style.now),
                TokenJson::new(&b, &Requests::default(), style.now),
            ],
        };
        insta::assert_snapshot!(list.text(&style), @r"
        ID        NAME                   ENV   SCOPES                      EXPIRES      LAST USED  REQ 24H  STATUS
        k3j9x0a1  Mailchimp sync         live  cases:write documents:read  in 3 months  1h ago     13       active
        p0a8s2kd  old\u{1b}[2J importer  live  cases:write documents:read  never        never      0        revoked
        ");
        assert!(list.notes(&style, false).is_empty());
        // A suspended token, and a column for the rate limits once one token has one.
        a.rate_limit = Some("100/min".parse().unwrap());
        b.revoked_at = None;
        b.suspended_at = Some(sample::at("2026-03-02T10:00:00Z"));
        let list = TokenList {
            tokens: vec![
                TokenJson::new(&a, &busy, style.now),
                TokenJson::new(&b, &Requests::default(), style.now),
            ],
        };
        insta::assert_snapshot!(list.text(&style), @r"
        ID        NAME                   ENV   SCOPES                      EXPIRES      LAST USED  REQ 24H  LIMIT    STATUS
        k3j9x0a1  Mailchimp sync         live  cases:write documents:read  in 3 months  1h ago     13       100/min  active
        p0a8s2kd  old\u{1b}[2J importer  live  cases:write documents:read  never        never      0        -        suspended
        ");
        let empty = TokenList { tokens: Vec::new() };
        assert_eq!(empty.text(&style), "");
        assert_eq!(empty.notes(&style, false), ["No tokens match."]);
        assert!(empty.notes(&style, true).is_empty());
    }

    /// At 80 columns nothing is split across lines: names are cut with `…`, scopes kept
    /// whole with a count of the rest, ids, times and statuses kept as they are.
    #[test]
    fn eighty_columns() {
        let style = Style {
            width: Some(80),
            ..sample::style()
        };
        let mut a = sample::token(
            "k3j9x0a1",
            "Nightly import of case files from the old system",
        );
        a.scopes = crate::ScopeSet::parse_list("cases:write contacts:read documents:read").unwrap();
        let b = sample::token("p0a8s2kd", "Zoë's app");
        let none = Requests::default();
        let list = TokenList {
            tokens: vec![
                TokenJson::new(&a, &none, style.now),
                TokenJson::new(&b, &none, style.now),
            ],
        };
        let text = list.text(&style);
        insta::assert_snapshot!(text, @r"
        ID        NAME     ENV   SCOPES          EXPIRES      LAST USED  REQ 24H  STATUS
        k3j9x0a1  Nightl…  live  cases:write +2  in 3 months  never      0        active
        p0a8s2kd  Zoë's …  live  cases:write +1  in 3 months  never      0        active
        ");
        for line in text.lines() {
            assert!(unicode_width::UnicodeWidthStr::width(line) <= 80, "{line}");
        }
    }
}
