//! `prune`: how much usage, or which tokens, were (or would be) deleted.

use serde::Serialize;

use super::{Style, View};
use crate::text::count;

#[derive(Serialize)]
pub struct PruneReport {
    pub dry_run: bool,
    /// RFC 3339: usage from before this moment.
    pub before: String,
    pub usage_rows: u64,
    pub stranger_rows: u64,
    pub uses: u64,
}

impl View for PruneReport {
    fn text(&self, _style: &Style) -> String {
        let verb = if self.dry_run {
            "Would delete"
        } else {
            "Deleted"
        };
        format!(
            "{verb} {} ({}) from before {}.\n",
            count(
                self.usage_rows + self.stranger_rows,
                "usage row",
                "usage rows"
            ),
            count(self.uses, "use", "uses"),
            self.before
        )
    }
}

/// `prune --tokens`: which tokens were (or would be) deleted, and their usage.
#[derive(Serialize)]
pub struct TokenPruneReport {
    pub dry_run: bool,
    /// RFC 3339: tokens revoked or expired before this moment.
    pub before: String,
    /// Their ids.
    pub tokens: Vec<String>,
    pub usage_rows: u64,
    pub uses: u64,
}

impl View for TokenPruneReport {
    fn text(&self, _style: &Style) -> String {
        let verb = if self.dry_run {
            "Would delete"
        } else {
            "Deleted"
        };
        let n = self.tokens.len() as u64;
        let mut out = format!(
            "{verb} {} revoked or expired before {}",
            count(n, "token", "tokens"),
            self.before
        );
        if n > 0 {
            out.push_str(&format!(
                " ({}), with their {} ({}); their events are kept",
                self.tokens.join(", "),
                count(self.usage_rows, "usage row", "usage rows"),
                count(self.uses, "use", "uses"),
            ));
        }
        out.push_str(".\n");
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::sample;

    #[test]
    fn human() {
        let report = PruneReport {
            dry_run: true,
            before: "2025-01-27T10:00:00Z".into(),
            usage_rows: 10,
            stranger_rows: 2,
            uses: 345,
        };
        assert_eq!(
            report.text(&sample::style()),
            "Would delete 12 usage rows (345 uses) from before 2025-01-27T10:00:00Z.\n"
        );
    }

    #[test]
    fn tokens() {
        let mut report = TokenPruneReport {
            dry_run: false,
            before: "2025-01-27T10:00:00Z".into(),
            tokens: vec!["k3j9x0a1".into(), "p0p0p0p0".into()],
            usage_rows: 1,
            uses: 7,
        };
        assert_eq!(
            report.text(&sample::style()),
            "Deleted 2 tokens revoked or expired before 2025-01-27T10:00:00Z (k3j9x0a1, p0p0p0p0), \
             with their 1 usage row (7 uses); their events are kept.\n"
        );
        report.tokens.clear();
        report.dry_run = true;
        assert_eq!(
            report.text(&sample::style()),
            "Would delete 0 tokens revoked or expired before 2025-01-27T10:00:00Z.\n"
        );
    }
}
