//! `prune`: how much usage was (or would be) deleted.

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
}
