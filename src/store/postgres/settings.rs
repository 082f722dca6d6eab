//! The `settings` table: key/value text pairs, validated by `crate::settings`.

use chrono::{DateTime, Utc};
use postgres::GenericClient;
use serde_json::json;

use super::Postgres;
use super::events::insert_event;
use crate::settings::{SettingError, Settings};
use crate::store::{Configuration, Error, Result};

fn read(c: &mut impl GenericClient) -> anyhow::Result<Settings> {
    let pairs: Vec<(String, String)> = c
        .query("SELECT key, value FROM settings", &[])?
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    Ok(Settings::from_pairs(pairs).map_err(invalid)?)
}

/// A value the settings' rules refuse: the user's to change.
fn invalid(e: SettingError) -> Error {
    Error::invalid(e.to_string())
}

impl Configuration for Postgres {
    fn settings(&self) -> Result<Settings> {
        self.with(|c| read(&mut c.client))
    }

    /// Checked against the settings as they are under the revision row's lock (see the
    /// module's notes on writes), so two admins cannot together produce an inconsistent
    /// pair.
    fn set_setting(
        &mut self,
        key: &str,
        value: &str,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<String> {
        self.write(true, |tx| {
            let current = read(tx)?;
            let old = current.value_of(key);
            let (_, normalized) = current.with(key, value).map_err(invalid)?;
            tx.execute(
                "INSERT INTO settings (key, value) VALUES ($1, $2) \
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                &[&key, &normalized],
            )?;
            let details = json!({ "key": key, "old": old, "new": normalized });
            insert_event(tx, now, actor, "config_set", None, &details)?;
            Ok(normalized)
        })
    }
}
