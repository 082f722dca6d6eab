//! `backup`: where the copy went.

use super::{Style, View};
use crate::store::BackupReport;
use crate::text::count;

impl View for BackupReport {
    fn text(&self, _style: &Style) -> String {
        format!(
            "Backed up {} to {} ({}, mode 0600).\n",
            count(self.tokens, "token", "tokens"),
            self.path.display(),
            count(self.bytes, "byte", "bytes")
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::sample;

    #[test]
    fn human() {
        let report = BackupReport {
            path: "/var/backups/tokens.db".into(),
            bytes: 53_248,
            tokens: 1,
        };
        insta::assert_snapshot!(report.text(&sample::style()), @"Backed up 1 token to /var/backups/tokens.db (53248 bytes, mode 0600).");
    }
}
