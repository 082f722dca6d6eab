//! `tokenctl copy` for SQLite: every record read in one read transaction, and a new
//! database file written from another database's records, made as `create` makes one
//! (0600, no link followed, under a temporary name until it is complete), filled in one
//! transaction and renamed into place only if the path is still free.
//!
//! The summaries `token_days`, `token_recent` and `token_ips.last_kept` are not carried:
//! they are computed from the `usage` rows written, by the code that keeps them when usage
//! is recorded, so they agree with the raw rows whatever the source kept.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::anyhow;
use chrono::{DateTime, Utc};
use rusqlite::types::{Value as SqlValue, ValueRef};
use rusqlite::{Connection, Statement, Transaction, TransactionBehavior, params_from_iter};

use super::events::insert_event;
use super::{Sqlite, file, open, token_days, token_recent};
use crate::store::records::{Copied, Sink, Source, TABLES, Table, Value};
use crate::store::{Backend, Error, Import, OpenMode, Refusal, Result};

/// What the schema holds beyond the carried tables, and why a copy leaves it out:
/// (table, columns, why); no columns: the whole table. Checked against the schema below.
#[cfg(test)]
const NOT_CARRIED: &[(&str, &[&str], &str)] = &[
    ("token_days", &[], "summed from usage in the new database"),
    (
        "credentials_revision",
        &[],
        "the new database's own, set as its tokens are written",
    ),
    ("token_recent", &[], "summed from usage in the new database"),
    (
        "token_ips",
        &["last_kept"],
        "the latest sighting usage holds, read from usage in the new database",
    ),
];

impl Sqlite {
    /// Reads every carried table in one read transaction, in key order.
    pub(super) fn export_records(&self, sink: Sink<'_>) -> Result<()> {
        self.in_one_snapshot(|| {
            for table in TABLES {
                let sql = format!(
                    "SELECT {} FROM {} ORDER BY {}",
                    table.columns.join(", "),
                    table.name,
                    table.order
                );
                let mut read = self.conn.prepare(&sql)?;
                let mut rows = read.query([])?;
                let mut values = Vec::with_capacity(table.columns.len());
                while let Some(row) = rows.next()? {
                    values.clear();
                    for i in 0..table.columns.len() {
                        values.push(value_of(table, i, row.get_ref(i)?)?);
                    }
                    sink(table, &values)?;
                }
            }
            Ok(())
        })?
    }
}

/// A stored value as carried. STRICT tables hold no other kind than these four.
fn value_of(table: &Table, i: usize, v: ValueRef<'_>) -> Result<Value> {
    Ok(match v {
        ValueRef::Null => Value::Null,
        ValueRef::Integer(n) => Value::Integer(n),
        ValueRef::Text(t) => Value::Text(String::from_utf8(t.to_vec()).map_err(|_| {
            Error::from(anyhow!(
                "{}.{} holds text that is not UTF-8",
                table.name,
                table.columns[i]
            ))
        })?),
        ValueRef::Blob(b) => Value::Blob(b.to_vec()),
        ValueRef::Real(_) => {
            return Err(Error::from(anyhow!(
                "{}.{} holds a real number, which tokenctl never writes",
                table.name,
                table.columns[i]
            )));
        }
    })
}

fn sql_value(v: &Value) -> SqlValue {
    match v {
        Value::Null => SqlValue::Null,
        Value::Integer(n) => SqlValue::Integer(*n),
        Value::Text(t) => SqlValue::Text(t.clone()),
        Value::Blob(b) => SqlValue::Blob(b.clone()),
    }
}

impl Import for Sqlite {
    type Place = Path;

    fn import_into_empty(
        given: &Path,
        source: Source<'_>,
        copied: Copied,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<Copied> {
        let path = open::locate(given, OpenMode::Create)?;
        if let Some(found) = file::find(&path).map_err(anyhow::Error::from)? {
            return Err(not_new(given, &found));
        }
        let built =
            open::build_new(&path, |conn| fill(conn, source, copied, actor, now)).map_err(|e| {
                match e.downcast::<open::Unsafe>() {
                    Ok(why) => Error::Refused {
                        refusal: Refusal::Unsafe,
                        message: format!("refusing to create {}: {why}", given.display()),
                    },
                    Err(e) => Error::from(e),
                }
            })?;
        built.ok_or_else(|| {
            Error::invalid(format!(
                "{} appeared while the copy was written; nothing was changed there",
                given.display()
            ))
        })
    }
}

/// Why an existing `found` at `given` is not a place to copy to.
fn not_new(given: &Path, found: &file::Found) -> Error {
    let what = match found.kind {
        rustix::fs::FileType::Symlink => "is a symbolic link, which copy never follows",
        rustix::fs::FileType::Directory => "is a directory",
        _ => "exists",
    };
    Error::invalid(format!(
        "{} {what}; copy writes a new database file and never overwrites one: give a path where there is nothing",
        given.display()
    ))
}

/// Writes the records, the summaries and the `copy` event in one transaction.
fn fill(
    conn: &mut Connection,
    source: Source<'_>,
    mut copied: Copied,
    actor: &str,
    now: DateTime<Utc>,
) -> anyhow::Result<Copied> {
    conn.pragma_update(None, "foreign_keys", true)?;
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    {
        let mut writer = Writer {
            tx: &tx,
            table: None,
            links: Vec::new(),
            copied: &mut copied,
        };
        source(&mut |table, values| Ok(writer.row(table, values)?))?;
        writer.link()?;
    }
    summarise(&tx)?;
    insert_event(&tx, now, actor, "copy", None, &copied.event_details())?;
    tx.commit()?;
    Ok(copied)
}

/// Rows written table by table; the links to later rows of the table ([`Table::linked_later`])
/// kept until the table is complete.
struct Writer<'a, 't> {
    tx: &'a Transaction<'t>,
    /// The table being written, and its prepared insert.
    table: Option<(&'static Table, Statement<'a>)>,
    /// Key, then the linked columns' values, of each row that links to another.
    links: Vec<Vec<Value>>,
    copied: &'a mut Copied,
}

impl Writer<'_, '_> {
    fn row(&mut self, table: &'static Table, values: &[Value]) -> anyhow::Result<()> {
        if self
            .table
            .as_ref()
            .is_none_or(|(t, _)| !std::ptr::eq(*t, table))
        {
            self.link()?;
            let placeholders: Vec<String> = (1..=values.len()).map(|i| format!("?{i}")).collect();
            let sql = format!(
                "INSERT INTO {} ({}) VALUES ({})",
                table.name,
                table.columns.join(", "),
                placeholders.join(", ")
            );
            self.table = Some((table, self.tx.prepare(&sql)?));
        }
        let mut row: Vec<SqlValue> = values.iter().map(sql_value).collect();
        let mut link = vec![values[table.position(table.key)].clone()];
        for column in table.linked_later {
            let i = table.position(column);
            link.push(values[i].clone());
            row[i] = SqlValue::Null;
        }
        if !table.linked_later.is_empty() && link[1..].iter().any(|v| *v != Value::Null) {
            self.links.push(link);
        }
        if let Some((_, insert)) = &mut self.table {
            insert.execute(params_from_iter(row))?;
        }
        self.copied.count(table);
        Ok(())
    }

    /// Writes the links of the table just completed.
    fn link(&mut self) -> anyhow::Result<()> {
        let Some((table, _)) = self.table.as_ref().filter(|_| !self.links.is_empty()) else {
            return Ok(());
        };
        let table: &'static Table = table;
        let set: Vec<String> = (table.linked_later.iter().enumerate())
            .map(|(i, c)| format!("{c} = ?{}", i + 2))
            .collect();
        let sql = format!(
            "UPDATE {} SET {} WHERE {} = ?1",
            table.name,
            set.join(", "),
            table.key
        );
        for link in self.links.drain(..) {
            let values: Vec<SqlValue> = link.iter().map(sql_value).collect();
            self.tx
                .prepare_cached(&sql)?
                .execute(params_from_iter(values))?;
        }
        Ok(())
    }
}

/// The summaries of the `usage` rows written, as recording them would have made them.
fn summarise(tx: &Transaction<'_>) -> anyhow::Result<()> {
    let sums: BTreeMap<(i64, i64), (u64, u64)> = tx
        .prepare(
            "SELECT token_pk, hour, sum(allowed), sum(denied) FROM usage GROUP BY token_pk, hour",
        )?
        .query_map([], |r| Ok(((r.get(0)?, r.get(1)?), (r.get(2)?, r.get(3)?))))?
        .collect::<rusqlite::Result<_>>()?;
    token_days::add(tx, &sums)?;
    token_recent::add(tx, &sums)?;
    tx.execute(
        "UPDATE token_ips SET last_kept = (SELECT max(u.last_seen) FROM usage u \
          WHERE u.token_pk = token_ips.token_pk AND u.ip = token_ips.ip)",
        [],
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    /// Every table and column of the schema is carried or said not to be.
    #[test]
    fn every_column_is_carried_or_explained() {
        let store = crate::store::Store::open_in_memory().unwrap();
        let schema: BTreeSet<(String, String)> = store
            .conn_for_tests()
            .prepare(
                "SELECT m.name, c.name FROM sqlite_schema m, pragma_table_info(m.name) c \
                  WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%'",
            )
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        crate::store::records::check_carried(&schema, NOT_CARRIED);
    }
}
