//! The records of a tokenctl database in the one form every backend reads and writes, so
//! that `tokenctl copy` moves a database from one backend to another (or to a new one of
//! the same kind) without reissuing a token: the tables, their columns in order, and
//! untyped values, as [`super::Backend::export`] hands them out and
//! `super::Import::import_into_empty` writes them.
//!
//! [`TABLES`] is everything a database holds that is not derived from something else.
//! Each backend keeps, beside it, the list of what it stores and does not carry
//! (summaries it recomputes from these records, bookkeeping of its own), and a test of
//! each backend fails when its schema holds a table or column that neither list names: a
//! column added by a migration must be added here, or copies would silently drop it.

use serde::ser::{Serialize, SerializeMap, Serializer};

use super::Result;

/// One stored value, as both backends can hold it.
#[derive(Clone, PartialEq, Eq)]
pub enum Value {
    Null,
    Integer(i64),
    Text(String),
    Blob(Vec<u8>),
}

/// Only the kind and size: a record holds hashes and user text, which have no place in
/// a log.
impl std::fmt::Debug for Value {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Value::Null => f.write_str("Null"),
            Value::Integer(_) => f.write_str("Integer"),
            Value::Text(t) => write!(f, "Text({} bytes)", t.len()),
            Value::Blob(b) => write!(f, "Blob({} bytes)", b.len()),
        }
    }
}

/// A table every backend stores, as carried from one database to another.
#[derive(Debug)]
pub struct Table {
    pub name: &'static str,
    /// Every column carried, in the order of the values of each row.
    pub columns: &'static [&'static str],
    /// The order rows are read in (and so written in): a key of the table.
    pub order: &'static str,
    /// A column that names one row, by which [`Table::linked_later`] columns are written
    /// (for a table without such columns, the first column of its key, unused).
    pub key: &'static str,
    /// Columns that refer to a row of the same table written later (a token's successor):
    /// written once every row of the table is there, so that no reference is dangling at
    /// any moment and no backend needs its constraints deferred.
    pub linked_later: &'static [&'static str],
}

impl Table {
    /// Where `column` is in a row of this table.
    pub fn position(&self, column: &str) -> usize {
        self.columns
            .iter()
            .position(|c| *c == column)
            .unwrap_or_else(|| panic!("{}.{column} is not carried", self.name))
    }
}

/// Every table carried, parents before the tables that refer to them.
pub const TABLES: &[Table] = &[
    Table {
        name: "settings",
        columns: &["key", "value"],
        order: "key",
        key: "key",
        linked_later: &[],
    },
    Table {
        name: "tokens",
        columns: &[
            "pk",
            "id",
            "hash",
            "hint",
            "name",
            "description",
            "env",
            "scopes",
            "allowed_ips",
            "created_at",
            "created_by",
            "expires_at",
            "revoked_at",
            "revoke_reason",
            "rotated_from",
            "rotated_to",
            "last_used_at",
            "last_used_ip",
            "suspended_at",
            "suspend_reason",
            "rate_limit",
            "rate_per",
        ],
        order: "pk",
        key: "pk",
        linked_later: &["rotated_to"],
    },
    Table {
        name: "events",
        columns: &["seq", "at", "actor", "action", "token_id", "details"],
        order: "seq",
        key: "seq",
        linked_later: &[],
    },
    Table {
        name: "usage",
        columns: &[
            "token_pk",
            "hour",
            "ip",
            "allowed",
            "denied",
            "ended",
            "first_seen",
            "last_seen",
            "limited",
        ],
        order: "token_pk, hour, ip",
        key: "token_pk",
        linked_later: &[],
    },
    Table {
        name: "token_ips",
        columns: &["token_pk", "ip", "first_seen", "last_seen"],
        order: "token_pk, ip",
        key: "token_pk",
        linked_later: &[],
    },
    Table {
        name: "stranger_usage",
        columns: &["hour", "ip", "kind", "count", "first_seen", "last_seen"],
        order: "hour, ip, kind",
        key: "hour",
        linked_later: &[],
    },
];

/// Where an export hands each row: the table it is of (tables in [`TABLES`]' order, each
/// one's rows together) and its values, in the table's column order.
pub type Sink<'a> = &'a mut dyn FnMut(&'static Table, &[Value]) -> Result<()>;

/// Runs an export into the sink it is given: how an import reads its source.
pub type Source<'a> = &'a mut dyn FnMut(Sink<'_>) -> Result<()>;

/// What a copy wrote, and the event that says so in the new database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Copied {
    /// The database copied, shown without a password.
    pub from: String,
    /// The new database, shown without a password.
    pub to: String,
    /// Rows copied, per table, in [`TABLES`]' order.
    pub rows: Vec<(&'static str, u64)>,
}

impl Copied {
    /// A report with nothing counted yet.
    pub fn new(from: String, to: String) -> Copied {
        Copied {
            from,
            to,
            rows: TABLES.iter().map(|t| (t.name, 0)).collect(),
        }
    }

    /// Counts one more row of `table`.
    pub fn count(&mut self, table: &Table) {
        if let Some((_, n)) = self.rows.iter_mut().find(|(name, _)| *name == table.name) {
            *n += 1;
        }
    }

    /// Rows copied of `table`.
    pub fn of(&self, table: &str) -> u64 {
        self.rows
            .iter()
            .find(|(name, _)| *name == table)
            .map_or(0, |(_, n)| *n)
    }

    /// The details of the `copy` event logged in the new database.
    pub fn event_details(&self) -> serde_json::Value {
        let mut details = serde_json::to_value(self).expect("a report serializes");
        if let Some(fields) = details.as_object_mut() {
            fields.remove("to");
        }
        details
    }
}

/// `{"from": …, "to": …, "rows": {"settings": n, "tokens": n, …}}`, tables in order.
impl Serialize for Copied {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        struct Rows<'a>(&'a [(&'static str, u64)]);
        impl Serialize for Rows<'_> {
            fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
                let mut map = s.serialize_map(Some(self.0.len()))?;
                for (table, n) in self.0 {
                    map.serialize_entry(table, n)?;
                }
                map.end()
            }
        }
        let mut map = s.serialize_map(Some(3))?;
        map.serialize_entry("from", &self.from)?;
        map.serialize_entry("to", &self.to)?;
        map.serialize_entry("rows", &Rows(&self.rows))?;
        map.end()
    }
}

/// Fails unless every column of `schema` (table, column) is carried or left out by
/// `not_carried`, and every carried column is in `schema`: a migration that adds a column
/// fails a backend's test here until the column is carried ([`TABLES`]) or its absence
/// explained.
#[cfg(test)]
pub(crate) fn check_carried(
    schema: &std::collections::BTreeSet<(String, String)>,
    not_carried: &[(&str, &[&str], &str)],
) {
    let carried: std::collections::BTreeSet<(String, String)> = TABLES
        .iter()
        .flat_map(|t| {
            t.columns
                .iter()
                .map(|c| (t.name.to_string(), c.to_string()))
        })
        .collect();
    let left_out = |(table, column): &(String, String)| {
        not_carried
            .iter()
            .any(|(t, cs, _)| t == table && (cs.is_empty() || cs.contains(&column.as_str())))
    };
    let unexplained: Vec<_> = schema
        .iter()
        .filter(|c| !carried.contains(*c) && !left_out(c))
        .collect();
    assert!(
        unexplained.is_empty(),
        "neither carried nor explained: {unexplained:?}"
    );
    let missing: Vec<_> = carried.difference(schema).collect();
    assert!(
        missing.is_empty(),
        "carried but not in the schema: {missing:?}"
    );
}
