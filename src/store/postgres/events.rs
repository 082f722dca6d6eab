//! The append-only admin event log: who changed what, and when.

use chrono::{DateTime, Utc};
use postgres::{GenericClient, Row};

use super::{Postgres, from_ts, ts};
use crate::store::{AdminEvent, EventLog, Result};

/// Appends an event inside the caller's transaction, so the change and its record commit
/// together or not at all. Every transaction that logs one holds the revision row's lock
/// (see the module's notes on writes), so `seq` follows commit order.
pub(super) fn insert_event(
    tx: &mut impl GenericClient,
    now: DateTime<Utc>,
    actor: &str,
    action: &str,
    token_id: Option<&str>,
    details: &serde_json::Value,
) -> anyhow::Result<()> {
    tx.execute(
        "INSERT INTO events (at, actor, action, token_id, details) VALUES ($1, $2, $3, $4, $5)",
        &[&ts(now), &actor, &action, &token_id, &details.to_string()],
    )?;
    Ok(())
}

fn from_row(r: &Row) -> anyhow::Result<AdminEvent> {
    let details: String = r.try_get(5)?;
    Ok(AdminEvent {
        seq: r.try_get(0)?,
        at: from_ts(r.try_get(1)?),
        actor: r.try_get(2)?,
        action: r.try_get(3)?,
        token_id: r.try_get(4)?,
        details: serde_json::from_str(&details).unwrap_or(serde_json::Value::String(details)),
    })
}

impl EventLog for Postgres {
    fn events(
        &self,
        token_id: Option<&str>,
        since: Option<DateTime<Utc>>,
    ) -> Result<Vec<AdminEvent>> {
        let since = since.map_or(i64::MIN, ts);
        self.with(|c| {
            let rows = match token_id {
                Some(id) => c.client.query(
                    "SELECT seq, at, actor, action, token_id, details FROM events \
                     WHERE token_id = $1 AND at >= $2 ORDER BY seq",
                    &[&id, &since],
                )?,
                None => c.client.query(
                    "SELECT seq, at, actor, action, token_id, details FROM events \
                     WHERE at >= $1 ORDER BY seq",
                    &[&since],
                )?,
            };
            rows.iter().map(from_row).collect()
        })
    }
}
