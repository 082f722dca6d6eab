//! `tokenctl copy` for PostgreSQL: every record read through cursors in the store's
//! snapshot transaction (each fetch a statement of its own, under the statement timeout,
//! whatever the size of the tables), and a database filled from another's records in one
//! transaction that also creates tokenctl's schema when it is absent, so that a failure
//! leaves the database exactly as it was, schema included.

use anyhow::{anyhow, bail};
use chrono::{DateTime, Utc};
use postgres::binary_copy::BinaryCopyInWriter;
use postgres::types::{ToSql, Type};
use postgres::{GenericClient, Row, Transaction};

use super::events::insert_event;
use super::pool::{Conn, SCHEMA};
use super::{Postgres, on_server, open};
use crate::store::location::{Location, PostgresUrl};
use crate::store::records::{Copied, Sink, Source, TABLES, Table, Value};
use crate::store::{Backend, Error, Import, Result};

/// What the schema holds beyond the carried tables, and why a copy leaves it out:
/// (table, columns, why); no columns: the whole table. Checked against the schema by
/// the PostgreSQL contract tests (`store::tests`).
#[cfg(test)]
pub(in crate::store) const NOT_CARRIED: &[(&str, &[&str], &str)] = &[
    (
        "meta",
        &[],
        "this database's own identity, schema version and revision",
    ),
    (
        "usage_batches",
        &[],
        "the batches committed to this database, against their being counted twice here",
    ),
];

/// Rows read per fetch.
const FETCH: usize = 1000;

impl Postgres {
    /// Reads every carried table in the snapshot, in key order.
    pub(super) fn export_records(&self, sink: Sink<'_>) -> Result<()> {
        self.in_one_snapshot(|| self.with(|c| export_from(&mut c.client, sink)))?
    }
}

fn export_from(client: &mut impl GenericClient, sink: Sink<'_>) -> anyhow::Result<()> {
    for table in TABLES {
        client.batch_execute(&format!(
            "DECLARE copy_rows NO SCROLL CURSOR FOR SELECT {} FROM {} ORDER BY {}",
            table.columns.join(", "),
            table.name,
            table.order
        ))?;
        loop {
            let rows = client.query(&format!("FETCH {FETCH} FROM copy_rows"), &[])?;
            for row in &rows {
                let values = (0..table.columns.len())
                    .map(|i| value_of(table, row, i))
                    .collect::<anyhow::Result<Vec<_>>>()?;
                sink(table, &values)?;
            }
            if rows.len() < FETCH {
                break;
            }
        }
        client.batch_execute("CLOSE copy_rows")?;
    }
    Ok(())
}

/// A stored value as carried, by its column's type.
fn value_of(table: &Table, row: &Row, i: usize) -> anyhow::Result<Value> {
    let int = |n: Option<i64>| n.map_or(Value::Null, Value::Integer);
    Ok(match *row.columns()[i].type_() {
        Type::INT8 => int(row.try_get(i)?),
        Type::INT4 => int(row.try_get::<_, Option<i32>>(i)?.map(i64::from)),
        Type::INT2 => int(row.try_get::<_, Option<i16>>(i)?.map(i64::from)),
        Type::BOOL => int(row.try_get::<_, Option<bool>>(i)?.map(i64::from)),
        Type::TEXT | Type::VARCHAR => row
            .try_get::<_, Option<String>>(i)?
            .map_or(Value::Null, Value::Text),
        Type::BYTEA => row
            .try_get::<_, Option<Vec<u8>>>(i)?
            .map_or(Value::Null, Value::Blob),
        ref other => bail!(
            "{}.{} is of type {other}, which copy does not carry",
            table.name,
            table.columns[i]
        ),
    })
}

/// A carried value as a parameter of the type its column has here.
enum Param {
    Int8(Option<i64>),
    Int4(Option<i32>),
    Int2(Option<i16>),
    Bool(Option<bool>),
    Text(Option<String>),
    Bytea(Option<Vec<u8>>),
}

impl Param {
    fn of(table: &Table, column: &str, v: &Value, ty: &Type) -> anyhow::Result<Param> {
        let mismatch = || {
            anyhow!(
                "cannot write {v:?} into {}.{column}, of type {ty}",
                table.name
            )
        };
        let int = |v: &Value| match v {
            Value::Null => Ok(None),
            Value::Integer(n) => Ok(Some(*n)),
            _ => Err(mismatch()),
        };
        Ok(match *ty {
            Type::INT8 => Param::Int8(int(v)?),
            Type::INT4 => Param::Int4(int(v)?.map(i32::try_from).transpose()?),
            Type::INT2 => Param::Int2(int(v)?.map(i16::try_from).transpose()?),
            Type::BOOL => Param::Bool(int(v)?.map(|n| n != 0)),
            Type::TEXT | Type::VARCHAR => Param::Text(match v {
                Value::Null => None,
                Value::Text(t) => Some(t.clone()),
                _ => return Err(mismatch()),
            }),
            Type::BYTEA => Param::Bytea(match v {
                Value::Null => None,
                Value::Blob(b) => Some(b.clone()),
                _ => return Err(mismatch()),
            }),
            _ => return Err(mismatch()),
        })
    }

    fn sql(&self) -> &(dyn ToSql + Sync) {
        match self {
            Param::Int8(v) => v,
            Param::Int4(v) => v,
            Param::Int2(v) => v,
            Param::Bool(v) => v,
            Param::Text(v) => v,
            Param::Bytea(v) => v,
        }
    }
}

impl Import for Postgres {
    type Place = PostgresUrl;

    fn import_into_empty(
        url: &PostgresUrl,
        source: Source<'_>,
        copied: Copied,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<Copied> {
        let shown = Location::Postgres(url.clone()).to_string();
        let (_, copied, _) = on_server(url, |conn| {
            fill(conn, &shown, source, copied, actor, now)
                .map_err(|e| Error::from(e.context(format!("cannot copy into {shown}"))).into())
        })?;
        Ok(copied)
    }
}

/// In one transaction: the schema if absent, a check that nothing is in it, the records,
/// the identity sequences moved past them, and the `copy` event.
fn fill(
    conn: &mut Conn,
    shown: &str,
    source: Source<'_>,
    mut copied: Copied,
    actor: &str,
    now: DateTime<Utc>,
) -> anyhow::Result<Copied> {
    let mut tx = conn.client.transaction()?;
    open::ensure_schema(&mut tx, shown)?;
    // Every writer of tokens, settings and events bumps it first: taking its lock here
    // keeps them out until this commits, so the database stays empty until then.
    tx.execute("UPDATE meta SET revision = revision + 1", &[])?;
    for table in TABLES {
        let sql = format!("SELECT EXISTS (SELECT 1 FROM {})", table.name);
        if tx.query_one(&sql, &[])?.get::<_, bool>(0) {
            bail!(Error::invalid(format!(
                "{shown} already holds tokenctl data (its {} table is not empty); copy writes only into a database without tokenctl's schema or with an empty one. Nothing was changed there",
                table.name
            )));
        }
    }
    {
        let mut writer = Writer {
            tx: &mut tx,
            table: None,
            pending: Vec::new(),
            links: Vec::new(),
            copied: &mut copied,
        };
        source(&mut |table, values| Ok(writer.row(table, values)?))?;
        writer.complete()?;
    }
    move_sequences(&mut tx)?;
    insert_event(&mut tx, now, actor, "copy", None, &copied.event_details())?;
    tx.commit()?;
    Ok(copied)
}

/// Rows written table by table, sent in chunks of [`CHUNK`] through `COPY … FROM STDIN`
/// (binary), each chunk a statement of its own, under the statement timeout. The links
/// to later rows of the table ([`Table::linked_later`]) are kept until it is complete.
struct Writer<'a, 't> {
    tx: &'a mut Transaction<'t>,
    /// The table being written, and the types its columns have here.
    table: Option<(&'static Table, Vec<Type>)>,
    /// Its rows not sent yet.
    pending: Vec<Vec<Value>>,
    /// Key, then the linked columns' values, of each row that links to another.
    links: Vec<Vec<Value>>,
    copied: &'a mut Copied,
}

/// Rows per `COPY`.
const CHUNK: usize = 1000;

impl Writer<'_, '_> {
    fn row(&mut self, table: &'static Table, values: &[Value]) -> anyhow::Result<()> {
        if self
            .table
            .as_ref()
            .is_none_or(|(t, _)| !std::ptr::eq(*t, table))
        {
            self.complete()?;
            let sql = format!("SELECT {} FROM {}", table.columns.join(", "), table.name);
            let read = self.tx.prepare(&sql)?;
            let types = read.columns().iter().map(|c| c.type_().clone()).collect();
            self.table = Some((table, types));
        }
        let mut link = vec![values[table.position(table.key)].clone()];
        let mut row = values.to_vec();
        for column in table.linked_later {
            let i = table.position(column);
            link.push(std::mem::replace(&mut row[i], Value::Null));
        }
        if !table.linked_later.is_empty() && link[1..].iter().any(|v| *v != Value::Null) {
            self.links.push(link);
        }
        self.pending.push(row);
        self.copied.count(table);
        if self.pending.len() >= CHUNK {
            self.send()?;
        }
        Ok(())
    }

    /// Sends the rows not sent yet. Keys go in as they were (`COPY` writes identity
    /// columns as given): the usage rows and the event log refer to them.
    fn send(&mut self) -> anyhow::Result<()> {
        let Writer {
            tx, table, pending, ..
        } = self;
        let Some((table, types)) = table.as_ref().filter(|_| !pending.is_empty()) else {
            return Ok(());
        };
        let sql = format!(
            "COPY {} ({}) FROM STDIN (FORMAT binary)",
            table.name,
            table.columns.join(", ")
        );
        let mut copy = BinaryCopyInWriter::new(tx.copy_in(&sql)?, types);
        for row in pending.drain(..) {
            let params = (row.iter().zip(table.columns).zip(types))
                .map(|((v, c), ty)| Param::of(table, c, v, ty))
                .collect::<anyhow::Result<Vec<_>>>()?;
            let refs: Vec<&(dyn ToSql + Sync)> = params.iter().map(Param::sql).collect();
            copy.write(&refs)?;
        }
        copy.finish()?;
        Ok(())
    }

    /// Sends the rest of the table being written, then its links.
    fn complete(&mut self) -> anyhow::Result<()> {
        self.send()?;
        let Some((table, _)) = self.table.as_ref().filter(|_| !self.links.is_empty()) else {
            return Ok(());
        };
        let table: &'static Table = table;
        let mut columns = vec![table.key];
        columns.extend(table.linked_later);
        let set: Vec<String> = (table.linked_later.iter().enumerate())
            .map(|(i, c)| format!("{c} = ${}", i + 2))
            .collect();
        let sql = format!(
            "UPDATE {} SET {} WHERE {} = $1",
            table.name,
            set.join(", "),
            table.key
        );
        let update = self.tx.prepare(&sql)?;
        for link in self.links.drain(..) {
            let params = (link.iter().zip(&columns).zip(update.params()))
                .map(|((v, c), ty)| Param::of(table, c, v, ty))
                .collect::<anyhow::Result<Vec<_>>>()?;
            let refs: Vec<&(dyn ToSql + Sync)> = params.iter().map(Param::sql).collect();
            self.tx.execute(&update, &refs)?;
        }
        Ok(())
    }
}

/// Moves each identity sequence past the keys written, so that the next token or event
/// gets a key of its own.
fn move_sequences(tx: &mut Transaction<'_>) -> anyhow::Result<()> {
    let identities = tx.query(
        "SELECT table_name::text, column_name::text FROM information_schema.columns \
          WHERE table_schema = $1 AND is_identity = 'YES'",
        &[&SCHEMA],
    )?;
    for row in identities {
        let (table, column): (String, String) = (row.get(0), row.get(1));
        tx.execute(
            &format!(
                "SELECT setval(pg_get_serial_sequence($1, $2), m) \
                   FROM (SELECT max({column}) AS m FROM {table}) t WHERE m IS NOT NULL"
            ),
            &[&format!("{SCHEMA}.{table}"), &column],
        )?;
    }
    Ok(())
}
