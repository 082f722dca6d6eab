//! `tokenctl config`: the settings every admin and process shares.

use anyhow::Result;
use comfy_table::Cell;
use serde::Serialize;

use super::{Ctx, actor};
use crate::cli::{ConfigAction, ConfigArgs};
use crate::error::Exit;
use crate::render;
use crate::settings::{KEYS, SettingError, Settings, key};

#[derive(Serialize)]
struct SettingJson<'a> {
    key: &'a str,
    value: String,
    default: String,
    description: &'a str,
}

pub fn run(ctx: &Ctx, args: ConfigArgs) -> Result<Exit> {
    match args.action {
        ConfigAction::List { json } => {
            let settings = ctx.store()?.settings()?;
            let defaults = Settings::default();
            let rows: Vec<SettingJson> = KEYS
                .iter()
                .map(|k| SettingJson {
                    key: k.name,
                    value: settings.value_of(k.name).unwrap_or_default(),
                    default: defaults.value_of(k.name).unwrap_or_default(),
                    description: k.help,
                })
                .collect();
            if json {
                ctx.ui.json(&rows)?;
            } else {
                let mut table = render::table(&["KEY", "VALUE", "DEFAULT", "DESCRIPTION"]);
                for r in &rows {
                    table.add_row(vec![
                        Cell::new(r.key),
                        Cell::new(&r.value),
                        Cell::new(&r.default),
                        Cell::new(r.description),
                    ]);
                }
                render::style(&mut table, false);
                ctx.ui.data(&render::table_text(&table))?;
            }
        }
        ConfigAction::Get { key: name, json } => {
            let k = key(&name).ok_or_else(|| SettingError::UnknownKey(name.clone()))?;
            let value = ctx
                .store()?
                .settings()?
                .value_of(k.name)
                .unwrap_or_default();
            if json {
                ctx.ui
                    .json(&serde_json::json!({ "key": k.name, "value": value }))?;
            } else {
                ctx.ui.data(&value)?;
            }
        }
        ConfigAction::Set { key: name, value } => {
            let mut store = ctx.store()?;
            let stored = store.set_setting(&name, &value, &actor(), ctx.now)?;
            ctx.ui.status(&format!("{name} = {stored}"));
        }
    }
    Ok(Exit::Success)
}
