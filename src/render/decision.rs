//! `verify`: the decision, as one line or as JSON.

use serde::Serialize;

use super::{Style, View};
use crate::text::escape;
use crate::verify::DenyReason;

#[derive(Serialize)]
pub struct DecisionView<'a> {
    pub allowed: bool,
    pub reason: Option<DenyReason>,
    pub token_id: Option<&'a str>,
    pub name: Option<&'a str>,
}

impl View for DecisionView<'_> {
    fn text(&self, _style: &Style) -> String {
        let who = match (self.token_id, self.name) {
            (Some(id), Some(name)) => format!(" (token {id} '{}')", escape(name)),
            _ => String::new(),
        };
        match self.reason {
            None => format!("allowed{who}\n"),
            Some(r) => format!("denied: {r}{who}\n"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::sample;

    #[test]
    fn human() {
        let style = sample::style();
        let allowed = DecisionView {
            allowed: true,
            reason: None,
            token_id: Some("k3j9x0a1"),
            name: Some("importer"),
        };
        assert_eq!(
            allowed.text(&style),
            "allowed (token k3j9x0a1 'importer')\n"
        );
        let denied = DecisionView {
            allowed: false,
            reason: Some(DenyReason::Unknown),
            token_id: None,
            name: None,
        };
        assert_eq!(denied.text(&style), "denied: unknown\n");
    }
}
