//! `suspend`, `resume` and `limit`: what changed, as notices; the token as JSON with
//! `--json`, with `"changed"`.

use serde::Serialize;

use super::{Style, TokenJson, View, time};
use crate::text::escape;

/// Which change was asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    Suspended,
    Resumed,
    /// A new rate limit, or none.
    Limited,
}

#[derive(Serialize)]
pub struct TokenChanged<'a> {
    #[serde(flatten)]
    pub token: TokenJson<'a>,
    /// False when the token was as asked already: nothing was written or logged.
    pub changed: bool,
    #[serde(skip)]
    pub change: Change,
    /// Tokens of its rotation chain changed with it (by name): still-working ones
    /// suspended, suspended ones resumed.
    #[serde(rename = "also_changed", skip_serializing_if = "<[String]>::is_empty")]
    pub also: &'a [String],
}

impl View for TokenChanged<'_> {
    fn text(&self, _style: &Style) -> String {
        String::new()
    }

    fn notes(&self, style: &Style, _json: bool) -> Vec<String> {
        let t = &self.token;
        let token = format!("token {} '{}'", t.id, escape(t.name));
        let note = match (self.change, self.changed) {
            (Change::Suspended, true) => format!(
                "Suspended {token}: it is refused until 'tokenctl resume {}'.",
                t.id
            ),
            (Change::Suspended, false) => {
                let since = t.suspended_at.map(|at| time::when(at, style));
                format!(
                    "Token {} '{}' was already suspended ({}); nothing changed.",
                    t.id,
                    escape(t.name),
                    since.unwrap_or_default()
                )
            }
            (Change::Resumed, true) => format!("Resumed {token}: it works again."),
            (Change::Resumed, false) => format!(
                "Token {} '{}' was not suspended; nothing changed.",
                t.id,
                escape(t.name)
            ),
            (Change::Limited, changed) => {
                let limit = t.rate_limit.map_or_else(
                    || "no rate limit".to_string(),
                    |l| format!("a rate limit of {l}"),
                );
                let verb = if changed { "now has" } else { "already had" };
                let unchanged = if changed { "" } else { "; nothing changed" };
                format!(
                    "Token {} '{}' {verb} {limit}{unchanged}.",
                    t.id,
                    escape(t.name)
                )
            }
        };
        let mut notes = vec![note];
        for id in self.also {
            notes.push(match self.change {
                Change::Suspended => format!(
                    "Also suspended {id}, which it was rotated from and which still worked."
                ),
                Change::Resumed => format!("Also resumed {id}, which it was rotated from."),
                Change::Limited => format!("Also changed {id}, which it was rotated from."),
            });
        }
        notes
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
        let mut t = sample::token("k3j9x0a1", "importer\u{7}");
        t.suspended_at = Some(sample::at("2026-03-02T10:00:00Z"));
        t.rate_limit = Some("100/min".parse().unwrap());
        let notes = |t: &crate::TokenRecord, change, changed| {
            let view = TokenChanged {
                token: TokenJson::new(t, &Requests::default(), style.now),
                changed,
                change,
                also: &[],
            };
            assert_eq!(view.text(&style), "");
            view.notes(&style, false).join("\n")
        };
        let mut all = vec![
            notes(&t, Change::Suspended, true),
            notes(&t, Change::Suspended, false),
            notes(&t, Change::Limited, true),
            notes(&t, Change::Limited, false),
        ];
        t.suspended_at = None;
        t.rate_limit = None;
        all.extend([
            notes(&t, Change::Resumed, true),
            notes(&t, Change::Resumed, false),
            notes(&t, Change::Limited, true),
        ]);
        let also = ["p0a8s2kd".to_string()];
        for change in [Change::Suspended, Change::Resumed] {
            let view = TokenChanged {
                token: TokenJson::new(&t, &Requests::default(), style.now),
                changed: true,
                change,
                also: &also,
            };
            all.push(view.notes(&style, false)[1].clone());
            let json = serde_json::to_value(&view).unwrap();
            assert_eq!(json["also_changed"][0], "p0a8s2kd");
        }
        insta::assert_snapshot!(all.join("\n"), @r"
        Suspended token k3j9x0a1 'importer\u{7}': it is refused until 'tokenctl resume k3j9x0a1'.
        Token k3j9x0a1 'importer\u{7}' was already suspended (2026-03-02 10:00 UTC (1 day ago)); nothing changed.
        Token k3j9x0a1 'importer\u{7}' now has a rate limit of 100/min.
        Token k3j9x0a1 'importer\u{7}' already had a rate limit of 100/min; nothing changed.
        Resumed token k3j9x0a1 'importer\u{7}': it works again.
        Token k3j9x0a1 'importer\u{7}' was not suspended; nothing changed.
        Token k3j9x0a1 'importer\u{7}' now has no rate limit.
        Also suspended p0a8s2kd, which it was rotated from and which still worked.
        Also resumed p0a8s2kd, which it was rotated from.
        ");
    }
}
