//! Opening a PostgreSQL database: recognising tokenctl's schema, refusing another
//! application's or a newer tokenctl's (left untouched), and creating or migrating ours
//! under a transaction-scoped advisory lock, so that processes starting at once on an
//! empty database create it once.

use anyhow::{Context as _, anyhow};
use postgres::{GenericClient, Transaction};

use super::migrations::{self, APPLICATION, MIGRATIONS};
use super::pool::{Conn, SCHEMA};
use crate::store::{Error, OpenMode, Refusal};

/// The advisory lock taken while the schema is created or migrated: "tokc" twice.
const MIGRATION_LOCK: i64 = 0x746f_6b63_746f_6b63;

/// What the database holds under the schema's name.
enum State {
    /// No such schema.
    Absent,
    /// The schema exists, with nothing in it.
    Empty,
    /// tokenctl's schema, at this version, with this identity.
    Ours { version: i64, instance: String },
    /// Something else, described.
    Foreign(String),
}

/// Makes sure tokenctl's schema is there at the current version (creating it only with
/// [`OpenMode::Create`]); returns the database's identity.
pub(super) fn prepare(conn: &mut Conn, shown: &str, mode: OpenMode) -> anyhow::Result<String> {
    match state(&mut conn.client)? {
        State::Ours { version, instance } if version == migrations::latest() => {
            return Ok(instance);
        }
        State::Absent | State::Empty if mode != OpenMode::Create => {
            return Err(Error::unavailable(format!(
                "there is no tokenctl database at {shown} (no schema \"{SCHEMA}\" with tokenctl's tables)"
            ))
            .into());
        }
        other => refuse(shown, other)?,
    }
    let mut tx = conn.client.transaction()?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])?;
    // Another process may have done it while this one waited for the lock.
    let from = match state(&mut tx)? {
        State::Ours { version, instance } if version == migrations::latest() => {
            tx.commit()?;
            return Ok(instance);
        }
        State::Ours { version, .. } => version,
        State::Absent | State::Empty => 0,
        other => return refuse(shown, other).map(|()| unreachable!("refused")),
    };
    let instance = migrate(&mut tx, from)?;
    tx.commit()?;
    Ok(instance)
}

/// Inside the caller's transaction: tokenctl's schema at the current version, created or
/// migrated under the advisory lock if need be, for a copy into this database. Refuses a
/// foreign or newer schema. The caller's rollback undoes it all.
pub(super) fn ensure_schema(tx: &mut Transaction<'_>, shown: &str) -> anyhow::Result<()> {
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])?;
    let from = match state(tx)? {
        State::Ours { version, .. } if version == migrations::latest() => return Ok(()),
        State::Ours { version, .. } if version < migrations::latest() => version,
        State::Absent | State::Empty => 0,
        other => return refuse(shown, other).map(|()| unreachable!("refused")),
    };
    migrate(tx, from).map(|_| ())
}

/// Creates the schema if need be and applies the migrations after `from`; returns the
/// database's identity.
fn migrate(tx: &mut Transaction<'_>, from: i64) -> anyhow::Result<String> {
    tx.batch_execute(&format!(
        "CREATE SCHEMA IF NOT EXISTS {SCHEMA}; SET LOCAL search_path = {SCHEMA}"
    ))?;
    for (i, migration) in MIGRATIONS.iter().enumerate().skip(from as usize) {
        tx.batch_execute(migration)
            .with_context(|| format!("schema migration {} failed", i + 1))?;
        if i == 0 {
            tx.execute(
                "INSERT INTO meta (application, version, instance) \
                 VALUES ($1, 0, gen_random_uuid()::text)",
                &[&APPLICATION],
            )?;
        }
        tx.execute("UPDATE meta SET version = $1", &[&(i as i64 + 1)])?;
    }
    Ok(tx.query_one("SELECT instance FROM meta", &[])?.get(0))
}

/// Whether there is anything under tokenctl's schema name.
pub(super) fn has_schema(c: &mut impl GenericClient) -> anyhow::Result<bool> {
    Ok(!matches!(state(c)?, State::Absent | State::Empty))
}

/// Fails with the refusal `state` calls for; a state that may be used passes.
fn refuse(shown: &str, state: State) -> anyhow::Result<()> {
    let (refusal, why) = match state {
        State::Ours { version, .. } if version > migrations::latest() => (
            Refusal::NewerSchema,
            format!(
                "its schema version {version} is newer than this tokenctl understands ({}); upgrade tokenctl",
                migrations::latest()
            ),
        ),
        State::Foreign(why) => (Refusal::Foreign, why),
        _ => return Ok(()),
    };
    Err(Error::Refused {
        refusal,
        message: format!("refusing to use {shown}: {why}. The database was left untouched."),
    }
    .into())
}

/// Reads what is under the schema's name, changing nothing.
fn state(c: &mut impl GenericClient) -> anyhow::Result<State> {
    let row = c.query_one(
        "SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1), \
           (SELECT count(*) FROM pg_class k JOIN pg_namespace n ON n.oid = k.relnamespace \
             WHERE n.nspname = $1), \
           to_regclass($2) IS NOT NULL",
        &[&SCHEMA, &format!("{SCHEMA}.meta")],
    )?;
    let (exists, objects, has_meta): (bool, i64, bool) = (row.get(0), row.get(1), row.get(2));
    if !exists {
        return Ok(State::Absent);
    }
    if objects == 0 {
        return Ok(State::Empty);
    }
    let foreign = || {
        State::Foreign(format!(
            "its schema \"{SCHEMA}\" holds {objects} objects of another application, not tokenctl's tables"
        ))
    };
    if !has_meta {
        return Ok(foreign());
    }
    let sql = format!("SELECT application, version, instance FROM {SCHEMA}.meta");
    match c.query_opt(&sql, &[]) {
        Ok(Some(r)) if r.try_get::<_, String>(0).is_ok_and(|a| a == APPLICATION) => {
            Ok(State::Ours {
                version: r.try_get(1).map_err(|e| anyhow!(e))?,
                instance: r.try_get(2).map_err(|e| anyhow!(e))?,
            })
        }
        Ok(_) => Ok(foreign()),
        Err(e) if e.as_db_error().is_some() => Ok(foreign()),
        Err(e) => Err(e.into()),
    }
}
