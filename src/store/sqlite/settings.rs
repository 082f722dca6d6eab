//! The `settings` table: key/value text pairs, validated by `crate::settings`.

use chrono::{DateTime, Utc};
use rusqlite::params;
use serde_json::json;

use super::Sqlite;
use super::events::insert_event;
use crate::settings::{SettingError, Settings};
use crate::store::{Configuration, Error, Result};

fn read(conn: &rusqlite::Connection) -> Result<Settings> {
    let mut stmt = conn.prepare_cached("SELECT key, value FROM settings")?;
    let pairs: Vec<(String, String)> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<rusqlite::Result<_>>()?;
    Settings::from_pairs(pairs).map_err(invalid)
}

/// A value the settings' rules refuse: the user's to change.
fn invalid(e: SettingError) -> Error {
    Error::invalid(e.to_string())
}

impl Configuration for Sqlite {
    /// The settings, defaults filled in.
    fn settings(&self) -> Result<Settings> {
        read(&self.conn)
    }

    /// Validates and stores one setting, logging a `config_set` event. Returns the
    /// normalized value. The check runs under the write lock, against the settings as they
    /// are then, so two admins cannot together produce an inconsistent pair.
    fn set_setting(
        &mut self,
        key: &str,
        value: &str,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<String> {
        let tx = self.write()?;
        let current = read(&tx)?;
        let old = current.value_of(key);
        let (_, normalized) = current.with(key, value).map_err(invalid)?;
        tx.execute(
            "INSERT INTO settings (key, value) VALUES (?1, ?2) \
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            params![key, normalized],
        )?;
        insert_event(
            &tx,
            now,
            actor,
            "config_set",
            None,
            &json!({ "key": key, "old": old, "new": normalized }),
        )?;
        tx.commit()?;
        Ok(normalized)
    }
}
