//! `audit --events`: the admin event log of the window.

use serde::Serialize;

use super::table::{Fit, Table};
use super::{Style, View, event_summary, time};
use crate::store::AdminEvent;
use crate::text::escape;

#[derive(Serialize)]
#[serde(transparent)]
pub struct EventLog<'a> {
    pub events: &'a [AdminEvent],
}

impl View for EventLog<'_> {
    fn text(&self, style: &Style) -> String {
        if self.events.is_empty() {
            return String::new();
        }
        let mut table = Table::new(&["TIME", "ACTOR", "ACTION", "TOKEN", "DETAILS"])
            .fit(1, Fit::Cut)
            .fit(4, Fit::Cut);
        for e in self.events {
            table.row(vec![
                time::absolute(e.at, style, "%Y-%m-%d %H:%M:%S").into(),
                escape(&e.actor).into(),
                e.action.as_str().into(),
                e.token_id.as_deref().unwrap_or("-").into(),
                escape(&event_summary(e)).into(),
            ]);
        }
        table.render(false, style.width)
    }

    fn notes(&self, _style: &Style, json: bool) -> Vec<String> {
        if self.events.is_empty() && !json {
            vec!["No admin events in the window.".into()]
        } else {
            Vec::new()
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
        let events = [
            AdminEvent {
                seq: 1,
                at: sample::at("2026-03-01T10:00:00Z"),
                actor: "alice".into(),
                action: "config_set".into(),
                token_id: None,
                details: serde_json::json!({"key": "modules", "value": "cases"}),
            },
            AdminEvent {
                seq: 2,
                at: sample::at("2026-03-02T11:30:05Z"),
                actor: "root (sudo by bob)".into(),
                action: "revoke".into(),
                token_id: Some("k3j9x0a1".into()),
                details: serde_json::json!({"reason": "leaked\nin a ticket", "also": null}),
            },
        ];
        insta::assert_snapshot!(EventLog { events: &events }.text(&style), @r"
        TIME                     ACTOR               ACTION      TOKEN     DETAILS
        2026-03-01 10:00:00 UTC  alice               config_set  -         key=modules value=cases
        2026-03-02 11:30:05 UTC  root (sudo by bob)  revoke      k3j9x0a1  reason=leaked\nin a ticket
        ");
        let none = EventLog { events: &[] };
        assert_eq!(
            none.notes(&style, false),
            ["No admin events in the window."]
        );
    }
}
