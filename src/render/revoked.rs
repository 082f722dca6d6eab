//! `revoke`: what was revoked, as notices; the token as JSON with `--json`.

use serde::Serialize;

use super::{Style, TokenJson, View, time};
use crate::text::escape;

#[derive(Serialize)]
pub struct Revoked<'a> {
    #[serde(flatten)]
    pub token: TokenJson<'a>,
    /// Other tokens of its rotation chain revoked in the same transaction.
    pub also_revoked: Vec<&'a str>,
    /// It had been revoked before this run: nothing changed.
    #[serde(skip)]
    pub already: bool,
}

impl View for Revoked<'_> {
    fn text(&self, _style: &Style) -> String {
        String::new()
    }

    fn notes(&self, style: &Style, _json: bool) -> Vec<String> {
        let t = &self.token;
        let mut notes = vec![if self.already {
            let at = t
                .revoked_at
                .map(|at| time::when(at, style))
                .unwrap_or_default();
            format!(
                "Token {} '{}' was already revoked ({at}); nothing changed.",
                t.id,
                escape(t.name)
            )
        } else {
            format!("Revoked token {} '{}'.", t.id, escape(t.name))
        }];
        for id in &self.also_revoked {
            notes.push(format!(
                "Also revoked {id}, which it was rotated from and which still worked."
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
        let mut t = sample::token("k3j9x0a1", "importer");
        t.revoked_at = Some(sample::at("2026-03-02T10:00:00Z"));
        let view = |already, also| Revoked {
            token: TokenJson::new(&t, &Requests::default(), style.now),
            also_revoked: also,
            already,
        };
        assert_eq!(view(false, vec![]).text(&style), "");
        insta::assert_snapshot!(view(false, vec!["p0a8s2kd"]).notes(&style, true).join("\n"), @r"
        Revoked token k3j9x0a1 'importer'.
        Also revoked p0a8s2kd, which it was rotated from and which still worked.
        ");
        insta::assert_snapshot!(view(true, vec![]).notes(&style, false).join("\n"), @r"
        Token k3j9x0a1 'importer' was already revoked (2026-03-02 10:00 UTC (1 day ago)); nothing changed.
        ");
    }
}
