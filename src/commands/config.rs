//! `tokenctl config`: the settings every admin and process shares.

use anyhow::Result;

use super::{Ctx, actor};
use crate::cli::{ConfigAction, ConfigArgs};
use crate::error::Exit;
use crate::render::{SettingChanged, SettingList, SettingRow, SettingValue};
use crate::settings::{KEYS, SettingError, Settings, key};

pub fn run(ctx: &Ctx, args: ConfigArgs) -> Result<Exit> {
    match args.action {
        ConfigAction::List { .. } => {
            let settings = ctx.store()?.settings()?;
            let defaults = Settings::default();
            let settings = KEYS
                .iter()
                .map(|k| SettingRow {
                    key: k.name,
                    value: settings.value_of(k.name).unwrap_or_default(),
                    default: defaults.value_of(k.name).unwrap_or_default(),
                    description: k.help,
                })
                .collect();
            ctx.ui.emit(&SettingList { settings })?;
        }
        ConfigAction::Get { key: name, .. } => {
            let k = key(&name).ok_or_else(|| SettingError::UnknownKey(name.clone()))?;
            let value = ctx
                .store()?
                .settings()?
                .value_of(k.name)
                .unwrap_or_default();
            ctx.ui.emit(&SettingValue { key: k.name, value })?;
        }
        ConfigAction::Set { key: name, value } => {
            let mut store = ctx.store_creating()?;
            let value = store.set_setting(&name, &value, &actor(), ctx.now)?;
            ctx.ui.emit(&SettingChanged { key: &name, value })?;
        }
    }
    Ok(Exit::Success)
}
