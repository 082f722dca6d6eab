//! The `token_recent` table: per token, its allowed and denied uses in each hour of the
//! 32 UTC days up to the latest day it was used on, in one short row. `list`'s windows
//! (24 hours, 7 and 30 days), `audit`'s windows of up to 31 days and `SPIKE`'s 31 days of
//! 24 hours are all sums over those hours: one row per token, whatever the history.
//! Written by the transaction that writes the `usage` rows it sums, kept consistent by
//! `prune`.
//!
//! The row is exact for the hours of days from `latest - 31` on; older uses (a late flush,
//! or a reading for a moment long past) are in `token_days` only, which answers then. A
//! token without a row has no usage.
//!
//! A row's hours are a blob of varints, one per hour from the first (trailing empty hours
//! left out): `allowed << 1 | (denied > 0)`, followed by `denied` when that bit is set. An
//! hour without use is one byte, a month of a busy token about a kilobyte.

use std::collections::{BTreeMap, HashMap};

use rusqlite::types::Type;
use rusqlite::{OptionalExtension, ToSql, params};

use super::Sqlite;
use super::usage::{bind, for_token};
use crate::store::Result;

/// Days the row holds: `SPIKE`'s 31 windows of 24 hours span 32 UTC days.
const DAYS: i64 = 32;

/// One token's row: the latest day with a use, and the (allowed, denied) uses per hour
/// of the days from `latest - 31` on, by position, without trailing empty hours.
#[derive(Debug, Default, PartialEq)]
pub(super) struct Recent {
    latest: i64,
    hours: Vec<(u64, u64)>,
}

impl Recent {
    fn first_hour(&self) -> i64 {
        first_hour(self.latest)
    }

    /// From the stored blob ([`Recent::blob`]).
    fn parse(latest: i64, blob: &[u8]) -> rusqlite::Result<Recent> {
        let mut hours = Vec::new();
        for_each_hour(blob, |_, allowed, denied| hours.push((allowed, denied)))?;
        Ok(Recent { latest, hours })
    }

    fn blob(&self) -> Vec<u8> {
        let used = self.hours.iter().rposition(|&h| h != (0, 0));
        let mut blob = Vec::with_capacity(used.map_or(0, |u| u + 1));
        for &(allowed, denied) in &self.hours[..used.map_or(0, |u| u + 1)] {
            put(&mut blob, u128::from(allowed) << 1 | u128::from(denied > 0));
            if denied > 0 {
                put(&mut blob, u128::from(denied));
            }
        }
        blob
    }

    /// Adds uses at hour `hour`: a later day moves the row's days forward; a day before
    /// them is left to `token_days`.
    fn add(&mut self, hour: i64, allowed: u64, denied: u64) {
        let day = hour.div_euclid(24);
        if day > self.latest {
            let gone = ((day - self.latest) * 24) as usize;
            self.hours.drain(..gone.min(self.hours.len()));
            self.latest = day;
        }
        let Ok(at) = usize::try_from(hour - self.first_hour()) else {
            return;
        };
        if at >= self.hours.len() {
            self.hours.resize(at + 1, (0, 0));
        }
        let h = &mut self.hours[at];
        (h.0, h.1) = (h.0 + allowed, h.1 + denied);
    }

    /// The first hour held, for the tests that compare rows with the raw rows.
    #[cfg(test)]
    pub(super) fn first_hour_for_tests(&self) -> i64 {
        self.first_hour()
    }

    /// The uses per hour with any, for the tests that compare them with the raw rows.
    #[cfg(test)]
    pub(super) fn held(&self) -> BTreeMap<i64, (u64, u64)> {
        let first = self.first_hour();
        (first..)
            .zip(self.hours.iter().copied())
            .filter(|&(_, h)| h != (0, 0))
            .collect()
    }
}

/// The first hour held by a row whose latest day is `latest`.
fn first_hour(latest: i64) -> i64 {
    (latest - DAYS + 1) * 24
}

/// Appends `n` as a little-endian base-128 varint.
fn put(blob: &mut Vec<u8>, mut n: u128) {
    while n >= 0x80 {
        blob.push((n as u8 & 0x7f) | 0x80);
        n >>= 7;
    }
    blob.push(n as u8);
}

/// Reads a varint at `at`, moving past it.
fn take(blob: &[u8], at: &mut usize) -> Option<u128> {
    let mut n = 0u128;
    for shift in (0..=126).step_by(7) {
        let byte = *blob.get(*at)?;
        *at += 1;
        n |= u128::from(byte & 0x7f).checked_shl(shift)?;
        if byte < 0x80 {
            return Some(n);
        }
    }
    None
}

/// Calls `f` with each hour's offset from the row's first hour and its allowed and
/// denied uses.
fn for_each_hour(blob: &[u8], mut f: impl FnMut(i64, u64, u64)) -> rusqlite::Result<()> {
    let bad = || {
        let why = "token_recent: not a sequence of varint uses";
        rusqlite::Error::FromSqlConversionFailure(2, Type::Blob, why.into())
    };
    let (mut at, mut offset) = (0, 0);
    while let Some(&byte) = blob.get(at) {
        // Most hours are one or two bytes: fewer than 8,192 allowed uses and none denied.
        if byte & 0x81 == 0 {
            f(offset, u64::from(byte >> 1), 0);
            (at, offset) = (at + 1, offset + 1);
            continue;
        }
        if let Some(&next) = blob.get(at + 1).filter(|&&n| n < 0x80 && byte & 1 == 0) {
            f(
                offset,
                u64::from(byte & 0x7f) >> 1 | u64::from(next) << 6,
                0,
            );
            (at, offset) = (at + 2, offset + 1);
            continue;
        }
        let head = take(blob, &mut at).ok_or_else(bad)?;
        let allowed = u64::try_from(head >> 1).map_err(|_| bad())?;
        let denied = match head & 1 {
            1 => u64::try_from(take(blob, &mut at).ok_or_else(bad)?).map_err(|_| bad())?,
            _ => 0,
        };
        f(offset, allowed, denied);
        offset += 1;
    }
    Ok(())
}

/// What the stored rows answer: sums over the hours from some hour on, or `None` when
/// that hour is before the row's first, where only `token_days` knows.
pub(super) struct Sums<'a> {
    latest: i64,
    blob: &'a [u8],
}

impl Sums<'_> {
    /// Allowed and denied uses of each window from one of `starts` on (hours), in order.
    fn windows<const N: usize>(
        &self,
        starts: [i64; N],
    ) -> rusqlite::Result<Option<[(u64, u64); N]>> {
        let first = first_hour(self.latest);
        if starts.iter().any(|&s| s < first) {
            return Ok(None);
        }
        let mut sums = [(0, 0); N];
        for_each_hour(self.blob, |offset, allowed, denied| {
            for (sum, &start) in sums.iter_mut().zip(&starts) {
                if first + offset >= start {
                    (sum.0, sum.1) = (sum.0 + allowed, sum.1 + denied);
                }
            }
        })?;
        Ok(Some(sums))
    }

    /// `SPIKE`'s uses in each of the 31 windows of 24 hours from hour `base` on.
    fn daily(&self, base: i64) -> rusqlite::Result<Option<[u64; 31]>> {
        let first = first_hour(self.latest);
        if base < first {
            return Ok(None);
        }
        let mut days = [0; 31];
        let skip = base - first;
        for_each_hour(self.blob, |offset, allowed, denied| {
            let day = usize::try_from(offset - skip).map(|h| h / 24);
            if let Some(uses) = day.ok().and_then(|d| days.get_mut(d)) {
                *uses += allowed + denied;
            }
        })?;
        Ok(Some(days))
    }
}

fn read(tx: &rusqlite::Connection, key: i64) -> rusqlite::Result<Option<Recent>> {
    tx.prepare_cached("SELECT latest, hours FROM token_recent WHERE token_pk = ?1")?
        .query_row([key], |r| {
            Recent::parse(r.get(0)?, r.get_ref(1)?.as_blob()?)
        })
        .optional()
}

fn write(tx: &rusqlite::Connection, key: i64, recent: &Recent) -> rusqlite::Result<()> {
    tx.prepare_cached(
        "INSERT INTO token_recent (token_pk, latest, hours) VALUES (?1, ?2, ?3) \
         ON CONFLICT DO UPDATE SET latest = excluded.latest, hours = excluded.hours",
    )?
    .execute(params![key, recent.latest, recent.blob()])?;
    Ok(())
}

/// Adds uses per token and hour (those `token_days::add` adds), one row read and written
/// per token. Inside the transaction that writes the `usage` rows.
pub(super) fn add(
    tx: &rusqlite::Connection,
    sums: &BTreeMap<(i64, i64), (u64, u64)>,
) -> rusqlite::Result<()> {
    let mut by_token: BTreeMap<i64, Vec<(i64, u64, u64)>> = BTreeMap::new();
    for (&(key, hour), &(allowed, denied)) in sums {
        by_token
            .entry(key)
            .or_default()
            .push((hour, allowed, denied));
    }
    for (key, hours) in by_token {
        let mut recent = match read(tx, key)? {
            Some(r) => r,
            // No row, no usage: the row starts with the batch's latest day.
            None => Recent {
                latest: hours.iter().map(|h| h.0.div_euclid(24)).max().unwrap_or(0),
                hours: Vec::new(),
            },
        };
        for (hour, allowed, denied) in hours {
            recent.add(hour, allowed, denied);
        }
        write(tx, key, &recent)?;
    }
    Ok(())
}

/// Builds every row from the raw `usage` rows: when the table is created (schema 7).
pub(super) fn build(tx: &rusqlite::Connection) -> rusqlite::Result<()> {
    let sums: BTreeMap<(i64, i64), (u64, u64)> = tx
        .prepare(
            "WITH latest AS (SELECT token_pk, max(hour) / 24 AS day FROM usage GROUP BY token_pk) \
             SELECT u.token_pk, u.hour, sum(u.allowed), sum(u.denied) \
               FROM usage u JOIN latest l ON l.token_pk = u.token_pk \
              WHERE u.hour >= (l.day - 31) * 24 GROUP BY u.token_pk, u.hour",
        )?
        .query_map([], |r| Ok(((r.get(0)?, r.get(1)?), (r.get(2)?, r.get(3)?))))?
        .collect::<rusqlite::Result<_>>()?;
    add(tx, &sums)
}

/// Drops the hours before hour `cutoff` from the rows that hold any.
pub(super) fn prune(tx: &rusqlite::Transaction<'_>, cutoff: i64) -> rusqlite::Result<()> {
    let rows: Vec<(i64, Recent)> = tx
        .prepare("SELECT token_pk, latest, hours FROM token_recent WHERE (latest - 31) * 24 < ?1")?
        .query_map([cutoff], |r| {
            Ok((
                r.get(0)?,
                Recent::parse(r.get(1)?, r.get_ref(2)?.as_blob()?)?,
            ))
        })?
        .collect::<rusqlite::Result<_>>()?;
    for (key, mut recent) in rows {
        let gone = (cutoff - recent.first_hour()) as usize;
        for hour in recent.hours.iter_mut().take(gone) {
            *hour = (0, 0);
        }
        write(tx, key, &recent)?;
    }
    Ok(())
}

/// Allowed and denied uses in each of N windows.
pub(super) type Windows<const N: usize> = [(u64, u64); N];

/// The rows of the tokens used on a day from `:first` on.
pub(super) const RECENT_SQL: &str =
    "SELECT token_pk, latest, hours FROM token_recent WHERE latest >= :first {token}";

impl Sqlite {
    /// Calls `each` with the row of every token (`key`, or all) used on day `first_day`
    /// or later.
    fn recent_rows(
        &self,
        key: Option<i64>,
        first_day: i64,
        mut each: impl FnMut(i64, Sums<'_>) -> rusqlite::Result<()>,
    ) -> Result<()> {
        let sql = for_token(RECENT_SQL, "token_pk", key);
        let mut stmt = self.conn.prepare_cached(&sql)?;
        let mut rows = stmt.query(&*bind(&[(":first", &first_day as &dyn ToSql)], &key))?;
        while let Some(r) = rows.next()? {
            let sums = Sums {
                latest: r.get(1)?,
                blob: r.get_ref(2)?.as_blob().map_err(rusqlite::Error::from)?,
            };
            each(r.get(0)?, sums)?;
        }
        Ok(())
    }

    /// Allowed and denied uses from each hour of `starts` on, per token (`key`, or all)
    /// used then; `None` when a window starts before some token's row, for `token_days`
    /// to answer.
    pub(super) fn recent_windows<const N: usize>(
        &self,
        key: Option<i64>,
        starts: [i64; N],
    ) -> Result<Option<HashMap<i64, Windows<N>>>> {
        let earliest = starts.iter().copied().min().unwrap_or(0);
        let mut out = HashMap::new();
        let mut complete = true;
        self.recent_rows(key, earliest.div_euclid(24), |token, sums| {
            match sums.windows(starts)? {
                Some(w) if w.iter().any(|&(a, d)| a + d > 0) => {
                    out.insert(token, w);
                }
                Some(_) => {}
                None => complete = false,
            }
            Ok(())
        })?;
        Ok(complete.then_some(out))
    }

    /// `SPIKE`'s uses per day of the 31 days from hour `base` on, per token used then: one
    /// `token_recent` row per token, or its `token_days` rows when the days start before
    /// the row's.
    pub(super) fn daily_uses(
        &self,
        key: Option<i64>,
        base: i64,
    ) -> Result<HashMap<i64, [u64; 31]>> {
        let mut out = HashMap::new();
        let mut older = Vec::new();
        self.recent_rows(key, base.div_euclid(24), |token, sums| {
            match sums.daily(base)? {
                Some(days) if days.iter().any(|&n| n > 0) => {
                    out.insert(token, days);
                }
                Some(_) => {}
                None => older.push(token),
            }
            Ok(())
        })?;
        for token in older {
            out.extend(self.daily_uses_by_day_rows(Some(token), base)?);
        }
        Ok(out)
    }
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
            let (latest, blob): (i64, Vec<u8>) = (r.get(1)?, r.get(2)?);
            let sums = Sums {
                latest,
                blob: &blob,
            };
            Ok((r.get(0)?, Recent::parse(latest, &blob)?, sums.daily(base)?))
        })
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        /// Any hours survive the blob, and garbage is refused rather than misread.
        #[test]
        fn blob_round_trips(hours in proptest::collection::vec(
            prop_oneof![(0..20_000u64, 0..3u64), (any::<u64>(), any::<u64>())],
            0..50,
        )) {
            let mut recent = Recent { latest: 20_000, hours };
            let parsed = Recent::parse(recent.latest, &recent.blob()).unwrap();
            while recent.hours.last() == Some(&(0, 0)) {
                recent.hours.pop();
            }
            prop_assert_eq!(parsed, recent);
        }

        #[test]
        fn garbage_is_an_error_or_some_hours(blob in proptest::collection::vec(any::<u8>(), 0..40)) {
            let _ = Recent::parse(1, &blob);
        }
    }

    #[test]
    fn a_truncated_varint_is_refused() {
        assert!(Recent::parse(1, &[0x81]).is_err());
        assert!(Recent::parse(1, &[0x03]).is_err());
        assert!(Recent::parse(1, &[0xff; 20]).is_err());
    }
}
