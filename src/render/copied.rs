//! `copy`: what was copied, from where, to where.

use super::{Style, View};
use crate::store::Copied;
use crate::text::{count, escape};

/// The tables whose rows the summary counts as usage.
const USAGE: [&str; 3] = ["usage", "token_ips", "stranger_usage"];

impl View for Copied {
    fn text(&self, _style: &Style) -> String {
        let usage: u64 = USAGE.iter().map(|t| self.of(t)).sum();
        let named = ["tokens", "settings", "events"];
        let other: u64 = (self.rows.iter())
            .filter(|(t, _)| !named.contains(t) && !USAGE.contains(t))
            .map(|(_, n)| n)
            .sum();
        let mut parts = vec![
            count(self.of("tokens"), "token", "tokens"),
            count(self.of("settings"), "setting", "settings"),
            count(self.of("events"), "event", "events"),
            count(usage, "usage row", "usage rows"),
        ];
        if other > 0 {
            parts.push(count(other, "other row", "other rows"));
        }
        let last = parts.pop().unwrap_or_default();
        format!(
            "Copied {} and {last} from {} to {}.\n",
            parts.join(", "),
            escape(&self.from),
            escape(&self.to)
        )
    }

    fn notes(&self, _style: &Style, json: bool) -> Vec<String> {
        if json {
            return Vec::new();
        }
        vec![format!(
            "Every token works there with its secret as it does here; the copy is logged there as a 'copy' event. To use it: --db or TOKENCTL_DB={}",
            escape(&self.to)
        )]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::sample;

    #[test]
    fn human() {
        let mut copied = Copied::new(
            "/var/lib/tokenctl/tokens.db".into(),
            "postgres://tokenctl@db.internal/tokens".into(),
        );
        for (table, n) in [
            ("tokens", 12),
            ("settings", 1),
            ("events", 40),
            ("usage", 900),
        ] {
            let table = crate::store::records::TABLES
                .iter()
                .find(|t| t.name == table)
                .unwrap();
            (0..n).for_each(|_| copied.count(table));
        }
        insta::assert_snapshot!(copied.text(&sample::style()), @"Copied 12 tokens, 1 setting, 40 events and 900 usage rows from /var/lib/tokenctl/tokens.db to postgres://tokenctl@db.internal/tokens.");
        insta::assert_snapshot!(copied.notes(&sample::style(), false).join("\n"), @"Every token works there with its secret as it does here; the copy is logged there as a 'copy' event. To use it: --db or TOKENCTL_DB=postgres://tokenctl@db.internal/tokens");
    }
}
