//! The `token_recent` table: per token, its uses (allowed and denied) in each hour of the
//! 32 UTC days up to the latest day it was used on, in one row. `SPIKE` reads its 31
//! days of 24 hours from it, one row per token whatever the history; written by the
//! transaction that writes the `usage` rows it sums, kept consistent by `prune`.
//!
//! The row is exact for the hours of days from `latest - 31` on; older uses (a late flush,
//! or a reading for a moment long past) are in `token_days` only, which answers then. A
//! token without a row has no usage.

use std::collections::{BTreeMap, HashMap};

use rusqlite::types::Type;
use rusqlite::{OptionalExtension, ToSql, params};

use super::Sqlite;
use super::usage::{bind, for_token};
use crate::store::Result;

/// Days the row holds: `SPIKE`'s 31 windows of 24 hours span 32 UTC days.
const DAYS: i64 = 32;

/// One token's row: the latest day with a use, and the uses per hour of the days from
/// `latest - 31` on, zeros left out.
#[derive(Debug, Default, PartialEq)]
pub(super) struct Recent {
    latest: i64,
    hours: BTreeMap<i64, u64>,
}

impl Recent {
    fn first_hour(&self) -> i64 {
        (self.latest - DAYS + 1) * 24
    }

    /// From the stored text ([`Recent::text`]).
    fn parse(latest: i64, text: &str) -> rusqlite::Result<Recent> {
        let first = (latest - DAYS + 1) * 24;
        let mut hours = BTreeMap::new();
        for_each_hour(text, |offset, uses| {
            hours.insert(first + offset, uses);
        })?;
        Ok(Recent { latest, hours })
    }

    /// The stored text: the uses of each hour from the first, zeros left empty, joined by
    /// commas, up to the last hour with uses.
    fn text(&self) -> String {
        let first = self.first_hour();
        let mut text = String::new();
        let mut at = first;
        for (&h, n) in &self.hours {
            text.extend(std::iter::repeat_n(',', (h - at) as usize));
            text.push_str(&n.to_string());
            at = h;
        }
        text
    }

    /// Adds `uses` at hour `hour`: a later day moves the row's days forward; a day before
    /// them is left to `token_days`.
    fn add(&mut self, hour: i64, uses: u64) {
        let day = hour.div_euclid(24);
        if day > self.latest {
            self.latest = day;
            let first = self.first_hour();
            self.hours.retain(|&h, _| h >= first);
        }
        if hour >= self.first_hour() && uses > 0 {
            *self.hours.entry(hour).or_default() += uses;
        }
    }

    /// The first hour held and the uses per hour, for the tests that compare them with
    /// the raw rows.
    #[cfg(test)]
    pub(super) fn held(&self) -> (i64, &BTreeMap<i64, u64>) {
        (self.first_hour(), &self.hours)
    }
}

/// Calls `f` with the offset from the first hour and the uses of each hour with uses in a
/// stored row, parsed as it is read: `SPIKE` reads a month of hours per token this way,
/// without allocating.
fn for_each_hour(text: &str, mut f: impl FnMut(i64, u64)) -> rusqlite::Result<()> {
    let bad = || {
        let why = format!("token_recent: not uses joined by commas: {text:.40}");
        rusqlite::Error::FromSqlConversionFailure(1, Type::Text, why.into())
    };
    let (mut offset, mut uses, mut digits) = (0i64, 0u64, 0);
    for &c in text.as_bytes().iter().chain(b",") {
        match c {
            b'0'..=b'9' => {
                let d = u64::from(c - b'0');
                uses = uses
                    .checked_mul(10)
                    .and_then(|u| u.checked_add(d))
                    .ok_or_else(bad)?;
                digits += 1;
            }
            b',' => {
                if digits > 0 {
                    f(offset, uses);
                }
                (offset, uses, digits) = (offset + 1, 0, 0);
            }
            _ => return Err(bad()),
        }
    }
    Ok(())
}

/// `SPIKE`'s uses in each of the 31 windows of 24 hours from hour `base` on, from a stored
/// row, or `None` when they start before the row's days.
fn daily(latest: i64, text: &str, base: i64) -> rusqlite::Result<Option<[u64; 31]>> {
    if base.div_euclid(24) < latest - DAYS + 1 {
        return Ok(None);
    }
    let first = (latest - DAYS + 1) * 24;
    let mut days = [0; 31];
    for_each_hour(text, |offset, uses| {
        let h = first + offset;
        if (base..base + 31 * 24).contains(&h) {
            days[((h - base) / 24) as usize] += uses;
        }
    })?;
    Ok(Some(days))
}

fn read(tx: &rusqlite::Connection, key: i64) -> rusqlite::Result<Option<Recent>> {
    tx.prepare_cached("SELECT latest, hours FROM token_recent WHERE token_pk = ?1")?
        .query_row([key], |r| Recent::parse(r.get(0)?, r.get_ref(1)?.as_str()?))
        .optional()
}

fn write(tx: &rusqlite::Connection, key: i64, recent: &Recent) -> rusqlite::Result<()> {
    tx.prepare_cached(
        "INSERT INTO token_recent (token_pk, latest, hours) VALUES (?1, ?2, ?3) \
         ON CONFLICT DO UPDATE SET latest = excluded.latest, hours = excluded.hours",
    )?
    .execute(params![key, recent.latest, recent.text()])?;
    Ok(())
}

/// Adds a batch's uses per token and hour (those `token_days::add` adds), one row read
/// and written per token. Inside the transaction that writes the `usage` rows.
pub(super) fn add(
    tx: &rusqlite::Transaction<'_>,
    sums: &BTreeMap<(i64, i64), (u64, u64)>,
) -> rusqlite::Result<()> {
    let mut by_token: BTreeMap<i64, Vec<(i64, u64)>> = BTreeMap::new();
    for (&(key, hour), &(allowed, denied)) in sums {
        by_token
            .entry(key)
            .or_default()
            .push((hour, allowed + denied));
    }
    for (key, hours) in by_token {
        let mut recent = match read(tx, key)? {
            Some(r) => r,
            // No row, no usage: the row starts with the batch's latest day.
            None => Recent {
                latest: hours
                    .iter()
                    .map(|&(h, _)| h.div_euclid(24))
                    .max()
                    .unwrap_or(0),
                hours: BTreeMap::new(),
            },
        };
        for (hour, uses) in hours {
            recent.add(hour, uses);
        }
        write(tx, key, &recent)?;
    }
    Ok(())
}

/// Drops the hours before hour `cutoff` from the rows that hold any.
pub(super) fn prune(tx: &rusqlite::Transaction<'_>, cutoff: i64) -> rusqlite::Result<()> {
    let rows: Vec<(i64, Recent)> = tx
        .prepare("SELECT token_pk, latest, hours FROM token_recent WHERE (latest - 31) * 24 < ?1")?
        .query_map([cutoff], |r| {
            Ok((
                r.get(0)?,
                Recent::parse(r.get(1)?, r.get_ref(2)?.as_str()?)?,
            ))
        })?
        .collect::<rusqlite::Result<_>>()?;
    for (key, mut recent) in rows {
        recent.hours.retain(|&h, _| h >= cutoff);
        write(tx, key, &recent)?;
    }
    Ok(())
}

/// The rows of the tokens used on a day from `:first` on.
pub(super) const RECENT_SQL: &str =
    "SELECT token_pk, latest, hours FROM token_recent WHERE latest >= :first {token}";

/// `SPIKE`'s days from hour `base` on ([`daily`]) of the tokens (`key`, or all) used on
/// one of them.
fn daily_rows(
    conn: &rusqlite::Connection,
    key: Option<i64>,
    base: i64,
) -> rusqlite::Result<Vec<(i64, Option<[u64; 31]>)>> {
    let sql = for_token(RECENT_SQL, "token_pk", key);
    let first_day = base.div_euclid(24);
    conn.prepare_cached(&sql)?
        .query_map(&*bind(&[(":first", &first_day as &dyn ToSql)], &key), |r| {
            Ok((r.get(0)?, daily(r.get(1)?, r.get_ref(2)?.as_str()?, base)?))
        })?
        .collect()
}

/// Every stored row as token, `Recent` and `SPIKE`'s days from hour `base` on, for the
/// tests that compare them with the raw rows.
#[cfg(test)]
pub(super) fn rows_for_tests(
    conn: &rusqlite::Connection,
    base: i64,
) -> Vec<(i64, Recent, Option<[u64; 31]>)> {
    conn.prepare("SELECT token_pk, latest, hours FROM token_recent")
        .unwrap()
        .query_map([], |r| {
            let (latest, text): (i64, String) = (r.get(1)?, r.get(2)?);
            Ok((
                r.get(0)?,
                Recent::parse(latest, &text)?,
                daily(latest, &text, base)?,
            ))
        })
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

impl Sqlite {
    /// `SPIKE`'s uses per day of the 31 days from hour `base` on, per token used then: one
    /// `token_recent` row per token, or its `token_days` rows when the days start before
    /// the row's.
    pub(super) fn daily_uses(
        &self,
        key: Option<i64>,
        base: i64,
    ) -> Result<HashMap<i64, [u64; 31]>> {
        let mut out = HashMap::new();
        for (token, days) in daily_rows(&self.conn, key, base)? {
            match days {
                Some(days) if days.iter().any(|&n| n > 0) => {
                    out.insert(token, days);
                }
                Some(_) => {}
                None => out.extend(self.daily_uses_by_day_rows(Some(token), base)?),
            }
        }
        Ok(out)
    }
}
