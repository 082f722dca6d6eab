//! `create` and `rotate`: the new secret, alone on stdout (or in JSON), and a notice on
//! stderr that it is shown only once.

use serde::Serialize;

use super::{Style, TokenJson, View, time};
use crate::text::escape;

/// A token just issued, with its secret.
#[derive(Serialize)]
pub struct Issued<'a> {
    #[serde(flatten)]
    pub metadata: TokenJson<'a>,
    /// The secret, shown this once.
    pub token: &'a str,
    /// "Created", "Rotated: new".
    #[serde(skip)]
    pub verb: &'static str,
    /// For `rotate`: what became of the token it replaces.
    #[serde(skip)]
    pub old: Option<OldToken<'a>>,
}

/// The token a rotation replaced, as it is after the rotation.
pub struct OldToken<'a> {
    pub id: &'a str,
    pub name: &'a str,
    pub revoked: bool,
    pub expires_at: Option<chrono::DateTime<chrono::Utc>>,
}

impl View for Issued<'_> {
    fn text(&self, _style: &Style) -> String {
        format!("{}\n", self.token)
    }

    fn notes(&self, style: &Style, _json: bool) -> Vec<String> {
        let t = &self.metadata;
        let expiry = t.expires_at.map_or_else(
            || "never expires".to_string(),
            |at| format!("expires {}", time::when(at, style)),
        );
        let mut notes = vec![format!(
            "{} token {} '{}' ({}, {}), {expiry}.\nThis is the only time the secret is shown: store it now.",
            self.verb,
            t.id,
            escape(t.name),
            t.env,
            t.scopes,
        )];
        if let Some(old) = &self.old {
            let fate = match (old.revoked, old.expires_at) {
                (true, _) => "is revoked".to_string(),
                (false, Some(at)) => format!("keeps working until {}", time::when(at, style)),
                (false, None) => "keeps working".to_string(),
            };
            notes.push(format!(
                "The old token {} '{}' {fate}.",
                old.id,
                escape(old.name)
            ));
        }
        notes
    }

    fn holds_secret(&self) -> bool {
        true
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
        let t = sample::token("k3j9x0a1", "Mailchimp sync");
        let issued = Issued {
            metadata: TokenJson::new(&t, &Requests::default(), style.now),
            token: "tok_live_secret",
            verb: "Rotated: new",
            old: Some(OldToken {
                id: "p0a8s2kd",
                name: "Mailchimp sync",
                revoked: false,
                expires_at: Some(sample::at("2026-03-03T11:00:00Z")),
            }),
        };
        assert_eq!(issued.text(&style), "tok_live_secret\n");
        insta::assert_snapshot!(issued.notes(&style, false).join("\n"), @r"
        Rotated: new token k3j9x0a1 'Mailchimp sync' (live, cases:write documents:read), expires 2026-05-30 10:00 UTC (in 3 months).
        This is the only time the secret is shown: store it now.
        The old token p0a8s2kd 'Mailchimp sync' keeps working until 2026-03-03 11:00 UTC (in 1h).
        ");
        assert!(issued.holds_secret());
    }
}
