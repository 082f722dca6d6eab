//! `create --if-absent` when the token exists: no secret, only what exists.

use serde::Serialize;

use super::{Style, TokenJson, View, time};
use crate::text::escape;

/// The active token that made `create --if-absent` create nothing (the newest, when
/// several share the name). Its JSON is the token's, without `token`.
#[derive(Serialize)]
pub struct ExistingToken<'a> {
    #[serde(flatten)]
    pub token: TokenJson<'a>,
    /// Ids of other active tokens with the same name.
    #[serde(skip)]
    pub others: Vec<&'a str>,
}

impl View for ExistingToken<'_> {
    fn text(&self, _style: &Style) -> String {
        String::new()
    }

    fn notes(&self, style: &Style, _json: bool) -> Vec<String> {
        let t = &self.token;
        let expiry = t.expires_at.map_or_else(
            || "never expires".to_string(),
            |at| format!("expires {}", time::when(at, style)),
        );
        let mut notes = vec![format!(
            "An active token named '{}' exists already: {} ({}, {}), {expiry}. Nothing was created.",
            escape(t.name),
            t.id,
            t.env,
            t.scopes
        )];
        if !self.others.is_empty() {
            notes.push(format!(
                "Other active tokens have that name too: {}.",
                self.others.join(", ")
            ));
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
        let t = sample::token("k3j9x0a1", "ci-4242");
        let view = ExistingToken {
            token: TokenJson::new(&t, &Requests::default(), style.now),
            others: vec!["p0a8s2kd"],
        };
        assert_eq!(view.text(&style), "");
        insta::assert_snapshot!(view.notes(&style, false).join("\n"), @r"
        An active token named 'ci-4242' exists already: k3j9x0a1 (live, cases:write documents:read), expires 2026-05-30 10:00 UTC (in 3 months). Nothing was created.
        Other active tokens have that name too: p0a8s2kd.
        ");
    }
}
