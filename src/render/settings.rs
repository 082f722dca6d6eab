//! `config`: the settings, one setting's value, a change.

use serde::Serialize;

use super::table::{Fit, Table};
use super::{Style, View};

#[derive(Serialize)]
pub struct SettingRow<'a> {
    pub key: &'a str,
    pub value: String,
    pub default: String,
    pub description: &'a str,
}

/// `config list`.
#[derive(Serialize)]
#[serde(transparent)]
pub struct SettingList<'a> {
    pub settings: Vec<SettingRow<'a>>,
}

impl View for SettingList<'_> {
    fn text(&self, style: &Style) -> String {
        let mut table = Table::new(&["KEY", "VALUE", "DEFAULT", "DESCRIPTION"]).fit(3, Fit::Cut);
        for r in &self.settings {
            table.row(vec![
                r.key.into(),
                r.value.as_str().into(),
                r.default.as_str().into(),
                r.description.into(),
            ]);
        }
        table.render(false, style.width)
    }
}

/// `config get KEY`: the value alone on its line.
#[derive(Serialize)]
pub struct SettingValue<'a> {
    pub key: &'a str,
    pub value: String,
}

impl View for SettingValue<'_> {
    fn text(&self, _style: &Style) -> String {
        format!("{}\n", self.value)
    }
}

/// `config set KEY VALUE`: the value as stored (normalised), as a notice.
#[derive(Serialize)]
pub struct SettingChanged<'a> {
    pub key: &'a str,
    pub value: String,
}

impl View for SettingChanged<'_> {
    fn text(&self, _style: &Style) -> String {
        String::new()
    }

    fn notes(&self, _style: &Style, _json: bool) -> Vec<String> {
        vec![format!("{} = {}", self.key, self.value)]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::sample;

    #[test]
    fn human() {
        let style = sample::style();
        let list = SettingList {
            settings: vec![SettingRow {
                key: "max_lifetime",
                value: "none".into(),
                default: "1y".into(),
                description: "longest lifetime allowed",
            }],
        };
        insta::assert_snapshot!(list.text(&style), @r"
        KEY           VALUE  DEFAULT  DESCRIPTION
        max_lifetime  none   1y       longest lifetime allowed
        ");
        let value = SettingValue {
            key: "modules",
            value: String::new(),
        };
        assert_eq!(value.text(&style), "\n");
        let changed = SettingChanged {
            key: "modules",
            value: "cases,invoices".into(),
        };
        assert_eq!(changed.notes(&style, false), ["modules = cases,invoices"]);
    }
}
