//! The append-only admin event log: who changed what, and when.

use chrono::{DateTime, Utc};
use rusqlite::{Row, params};

use super::{Sqlite, from_ts, ts};
use crate::store::{AdminEvent, EventLog, Result};

/// Appends an event inside the caller's transaction, so the change and its record commit
/// together or not at all.
pub(super) fn insert_event(
    tx: &rusqlite::Transaction<'_>,
    now: DateTime<Utc>,
    actor: &str,
    action: &str,
    token_id: Option<&str>,
    details: &serde_json::Value,
) -> anyhow::Result<()> {
    tx.prepare_cached(
        "INSERT INTO events (at, actor, action, token_id, details) VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute(params![
        ts(now),
        actor,
        action,
        token_id,
        details.to_string()
    ])?;
    Ok(())
}

fn from_row(r: &Row<'_>) -> rusqlite::Result<AdminEvent> {
    let details: String = r.get(5)?;
    Ok(AdminEvent {
        seq: r.get(0)?,
        at: from_ts(r.get(1)?),
        actor: r.get(2)?,
        action: r.get(3)?,
        token_id: r.get(4)?,
        details: serde_json::from_str(&details).unwrap_or(serde_json::Value::String(details)),
    })
}

impl EventLog for Sqlite {
    /// Events since `since` (all if `None`), oldest first; for one token if `token_id`.
    fn events(
        &self,
        token_id: Option<&str>,
        since: Option<DateTime<Utc>>,
    ) -> Result<Vec<AdminEvent>> {
        let since = since.map_or(i64::MIN, ts);
        // Separate texts so that one token's history uses the (token_id, seq) index.
        let mut stmt;
        let rows = match token_id {
            Some(id) => {
                stmt = self.conn.prepare_cached(
                    "SELECT seq, at, actor, action, token_id, details FROM events \
                     WHERE token_id = ?1 AND at >= ?2 ORDER BY seq",
                )?;
                stmt.query_map(params![id, since], from_row)?
            }
            None => {
                stmt = self.conn.prepare_cached(
                    "SELECT seq, at, actor, action, token_id, details FROM events \
                     WHERE at >= ?1 ORDER BY seq",
                )?;
                stmt.query_map(params![since], from_row)?
            }
        };
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }
}
