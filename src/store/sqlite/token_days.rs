//! The `token_days` table: per token and UTC day, the running totals of the days before
//! it, and its uses up to and including each of its 24 hours. Written with the `usage`
//! rows it sums, kept consistent by `prune`, and read by the windows of `list` and
//! `audit` (and by `SPIKE` when `token_recent` does not reach back far enough).
//!
//! A window from hour `b` on holds the token's latest running total less its running
//! total at `b`: that of `b`'s day, plus the day's uses up to the hour before `b`. Every
//! window these commands read starts at the same hour of the day (24 hours, 7 and 30 days,
//! and `SPIKE`'s days all end at the current hour), so a query reads the same columns of
//! every row. A token's last month takes a page or two, whatever its history.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use rusqlite::{ToSql, params};

use super::token_recent::Windows;
use super::usage::{bind, for_token};
use super::{Sqlite, from_ts};
use crate::store::Result;
use crate::usage::{Requests, WindowTotals, hour_of};

/// The day's uses of `kind` before hour `hour` (0 to 24) in the row `alias`.
fn before_hour(alias: &str, kind: &str, hour: i64) -> String {
    match hour {
        0 => "0".to_string(),
        h => format!("{alias}{kind}_to_{}", h - 1),
    }
}

/// The running total through the end of `alias`'s day.
fn through(alias: &str, kind: &str) -> String {
    format!("{alias}.{kind}_before + {alias}.{kind}_to_23")
}

/// The running total at hour `hour` of day `day` (a parameter), from `alias`: the first
/// row of that day or later (NULL when there is none).
fn at_hour(alias: &str, kind: &str, hour: i64, day: &str) -> String {
    format!(
        "{alias}.{kind}_before + CASE WHEN {alias}.day = {day} THEN {} ELSE 0 END",
        before_hour(&format!("{alias}."), kind, hour)
    )
}

const LATEST: &str = "JOIN token_days l ON l.token_pk = t.pk \
     AND l.day = (SELECT max(day) FROM token_days WHERE token_pk = t.pk)";

/// The token's first row from day `day` (a parameter) on, as `alias`.
fn first_from(alias: &str, day: &str) -> String {
    format!(
        "LEFT JOIN token_days {alias} ON {alias}.token_pk = t.pk \
         AND {alias}.day = (SELECT min(day) FROM token_days WHERE token_pk = t.pk AND day >= {day})"
    )
}

/// `list`'s and `show`'s windows, which start at hour `hour` of the days `:d24`, `:d7d`
/// and `:d30d`: running totals through the latest day, and at each window's start.
pub(super) fn requests_sql(hour: i64) -> String {
    let mut columns = vec![through("l", "allowed"), through("l", "denied")];
    for (alias, day) in [("x24", ":d24"), ("x7", ":d7d"), ("x30", ":d30d")] {
        columns.push(at_hour(alias, "allowed", hour, day));
        columns.push(at_hour(alias, "denied", hour, day));
    }
    format!(
        "SELECT t.pk, {} FROM tokens t {LATEST} {} {} {} WHERE 1 {{token}}",
        columns.join(", "),
        first_from("x24", ":d24"),
        first_from("x7", ":d7d"),
        first_from("x30", ":d30d"),
    )
}

/// `audit`'s window from hour `hour` of day `:day` on (`:since`, in hours), per token:
/// its uses, and its source IPs last kept from then on. A row's `last_seen` falls in its
/// hour, so an IP has rows in the window exactly when its latest kept one does.
pub(super) fn window_totals_sql(hour: i64) -> String {
    format!(
        "SELECT t.pk, {} - ({}), {} - ({}), \
           (SELECT count(*) FROM token_ips i WHERE i.token_pk = t.pk AND i.last_kept >= :since * 3600), \
           (SELECT max(last_kept) FROM token_ips i WHERE i.token_pk = t.pk AND i.last_kept >= :since * 3600) \
         FROM tokens t {LATEST} {}",
        through("l", "allowed"),
        at_hour("x", "allowed", hour, ":day"),
        through("l", "denied"),
        at_hour("x", "denied", hour, ":day"),
        first_from("x", ":day").replacen("LEFT JOIN", "JOIN", 1),
    )
}

/// `SPIKE`'s days, which start at hour `hour`: every row of each token from day `:first`
/// on, with its running total at the start of the day, at hour `hour`, and at its end.
/// `CROSS JOIN` reads the tokens first, then each one's days by key.
pub(super) fn spike_sql(hour: i64) -> String {
    format!(
        "SELECT t.pk, x.day, x.allowed_before + x.denied_before, {} + {}, \
           x.allowed_to_23 + x.denied_to_23 \
         FROM tokens t CROSS JOIN token_days x ON x.token_pk = t.pk AND x.day >= :first \
         WHERE 1 {{token}}",
        before_hour("x.", "allowed", hour),
        before_hour("x.", "denied", hour),
    )
}

/// Rate-limited uses per token from hour `?1` on.
pub(super) const LIMITED_SQL: &str = "SELECT token_pk, sum(limited) FROM usage INDEXED BY usage_limited \
     WHERE limited > 0 AND hour >= ?1 GROUP BY token_pk";

/// A window's uses: the latest running total less the one at its start, if the token
/// has a row from the window's first day on.
fn window(through: u64, at_start: Option<u64>) -> u64 {
    at_start.map_or(0, |b| through.saturating_sub(b))
}

/// One row of [`spike_sql`]: day, running total at its start, at the hour, at its end.
type DayRow = (i64, u64, u64, u64);

/// The running total at hour `hour` of day `day`, from a token's rows in day order.
fn total_at(rows: &[DayRow], day: i64) -> u64 {
    match rows.iter().find(|r| r.0 >= day) {
        Some(&(d, before, at_hour, _)) if d == day => before + at_hour,
        Some(&(_, before, _, _)) => before,
        None => rows.last().map_or(0, |&(_, before, _, all)| before + all),
    }
}

/// Adds a batch's uses per token and hour: to its day's row from that hour on (the row
/// made, with the running totals before it, if new), and to the running totals of the
/// token's later days (a late flush). Inside the transaction that writes the `usage`
/// rows.
pub(super) fn add(
    tx: &rusqlite::Transaction<'_>,
    sums: &BTreeMap<(i64, i64), (u64, u64)>,
) -> Result<()> {
    let mut later = tx.prepare_cached(
        "UPDATE token_days SET allowed_before = allowed_before + ?3, \
           denied_before = denied_before + ?4 WHERE token_pk = ?1 AND day > ?2",
    )?;
    let mut upsert = tx.prepare_cached(&add_sql())?;
    for (&(key, hour), &(allowed, denied)) in sums {
        let (day, k) = (hour.div_euclid(24), hour.rem_euclid(24));
        upsert.execute(params![key, day, allowed, denied, k])?;
        later.execute(params![key, day, allowed, denied])?;
    }
    Ok(())
}

/// [`add`]'s statement: `?3` allowed and `?4` denied uses at hour `?5` of day `?2`. One
/// text for every hour, so that it stays in the statement cache.
fn add_sql() -> String {
    let before = |kind: &str| {
        format!(
            "coalesce((SELECT {} FROM token_days p WHERE p.token_pk = ?1 AND p.day < ?2 \
                         ORDER BY p.day DESC LIMIT 1), \
                      (SELECT n.{kind}_before FROM token_days n WHERE n.token_pk = ?1 \
                         AND n.day > ?2 ORDER BY n.day LIMIT 1), 0)",
            through("p", kind)
        )
    };
    let mut columns = Vec::new();
    let mut values = Vec::new();
    for (kind, uses) in [("allowed", "?3"), ("denied", "?4")] {
        for j in 0..24 {
            columns.push(format!("{kind}_to_{j}"));
            values.push(format!("iif(?5 <= {j}, {uses}, 0)"));
        }
    }
    let updates: Vec<String> = columns
        .iter()
        .map(|c| format!("{c} = {c} + excluded.{c}"))
        .collect();
    format!(
        "INSERT INTO token_days (token_pk, day, allowed_before, denied_before, {}) \
         VALUES (?1, ?2, {}, {}, {}) ON CONFLICT DO UPDATE SET {}",
        columns.join(", "),
        before("allowed"),
        before("denied"),
        values.join(", "),
        updates.join(", "),
    )
}

/// Drops the hours before hour `cutoff`: the days before it, and the first hours of its
/// day, whose uses move into that day's running totals.
pub(super) fn prune(tx: &rusqlite::Transaction<'_>, cutoff: i64) -> Result<()> {
    let (day, hour) = (cutoff.div_euclid(24), cutoff.rem_euclid(24));
    tx.execute("DELETE FROM token_days WHERE day < ?1", [day])?;
    if hour == 0 {
        return Ok(());
    }
    let mut set = Vec::new();
    for kind in ["allowed", "denied"] {
        let gone = format!("{kind}_to_{}", hour - 1);
        set.push(format!("{kind}_before = {kind}_before + {gone}"));
        set.extend((0..hour).map(|j| format!("{kind}_to_{j} = 0")));
        set.extend((hour..24).map(|j| format!("{kind}_to_{j} = {kind}_to_{j} - {gone}")));
    }
    tx.execute(
        &format!("UPDATE token_days SET {} WHERE day = ?1", set.join(", ")),
        [day],
    )?;
    tx.execute(
        "DELETE FROM token_days WHERE day = ?1 AND allowed_to_23 + denied_to_23 = 0",
        [day],
    )?;
    Ok(())
}

impl Sqlite {
    /// Request windows of one token (`key`) or of every token used in the last 30 days:
    /// from `token_recent`, which always reaches back 30 days unless uses were recorded
    /// for hours after `now`; from the running totals then.
    pub(super) fn requests_of(
        &self,
        key: Option<i64>,
        now: DateTime<Utc>,
    ) -> Result<HashMap<i64, Requests>> {
        let h = hour_of(now);
        if let Some(windows) = self.recent_windows(key, [h - 23, h - 167, h - 719])? {
            return Ok(windows
                .into_iter()
                .map(|(token, [d1, d7, d30])| {
                    let requests = Requests {
                        allowed_24h: d1.0,
                        denied_24h: d1.1,
                        allowed_7d: d7.0,
                        denied_7d: d7.1,
                        allowed_30d: d30.0,
                        denied_30d: d30.1,
                    };
                    (token, requests)
                })
                .collect());
        }
        // The windows' first hours: the 23, 167 and 719 before the current one.
        let first = |back: i64| (hour_of(now) - back).div_euclid(24);
        let (d24, d7d, d30d) = (first(23), first(167), first(719));
        let sql = for_token(
            &requests_sql((hour_of(now) + 1).rem_euclid(24)),
            "t.pk",
            key,
        );
        let params = [
            (":d24", &d24 as &dyn ToSql),
            (":d7d", &d7d),
            (":d30d", &d30d),
        ];
        let mut stmt = self.conn.prepare_cached(&sql)?;
        let rows = stmt.query_map(&*bind(&params, &key), |r| {
            let (allowed, denied): (u64, u64) = (r.get(1)?, r.get(2)?);
            Ok((
                r.get::<_, i64>(0)?,
                Requests {
                    allowed_24h: window(allowed, r.get(3)?),
                    denied_24h: window(denied, r.get(4)?),
                    allowed_7d: window(allowed, r.get(5)?),
                    denied_7d: window(denied, r.get(6)?),
                    allowed_30d: window(allowed, r.get(7)?),
                    denied_30d: window(denied, r.get(8)?),
                },
            ))
        })?;
        let mut all = rows.collect::<rusqlite::Result<HashMap<_, _>>>()?;
        all.retain(|_, r| r.total_30d() > 0);
        Ok(all)
    }

    /// Per token used since `since`: totals, distinct IPs and last use in the window.
    /// Windows of up to 31 days are sums over `token_recent`'s hours; longer ones read
    /// the running totals.
    pub(super) fn totals_since(&self, since: DateTime<Utc>) -> Result<HashMap<i64, WindowTotals>> {
        let since = hour_of(since);
        let mut all = match self.recent_windows(None, [since])? {
            Some(windows) => self.recent_totals(windows, since)?,
            None => self.day_row_totals(since)?,
        };
        // Rate-limited uses are rare and kept out of the summaries: read from the hours
        // that had any, through the partial index `usage_limited` (named: to save a sort
        // for its GROUP BY, SQLite would rather read the whole table in key order).
        let mut stmt = self.conn.prepare_cached(LIMITED_SQL)?;
        let limited = stmt.query_map([since], |r| Ok((r.get::<_, i64>(0)?, r.get(1)?)))?;
        for row in limited {
            let (key, n) = row?;
            if let Some(w) = all.get_mut(&key) {
                w.limited = n;
            }
        }
        Ok(all)
    }

    /// [`Sqlite::totals_since`] from `token_recent`'s sums over the window (`windows`)
    /// and the IPs last kept from hour `since` on.
    fn recent_totals(
        &self,
        windows: HashMap<i64, Windows<1>>,
        since: i64,
    ) -> Result<HashMap<i64, WindowTotals>> {
        let mut ips = self.conn.prepare_cached(
            "SELECT token_pk, count(*), max(last_kept) FROM token_ips \
             WHERE last_kept >= ?1 * 3600 GROUP BY token_pk",
        )?;
        let ips: HashMap<i64, (u64, Option<i64>)> = ips
            .query_map([since], |r| Ok((r.get(0)?, (r.get(1)?, r.get(2)?))))?
            .collect::<rusqlite::Result<_>>()?;
        Ok(windows
            .into_iter()
            .map(|(token, [(allowed, denied)])| {
                let (distinct_ips, last) = ips.get(&token).copied().unwrap_or((0, None));
                let totals = WindowTotals {
                    allowed,
                    denied,
                    limited: 0,
                    distinct_ips,
                    last_seen: last.map(from_ts),
                };
                (token, totals)
            })
            .collect())
    }

    /// [`Sqlite::totals_since`] from the running totals, for windows longer than
    /// `token_recent`'s rows.
    fn day_row_totals(&self, since: i64) -> Result<HashMap<i64, WindowTotals>> {
        let sql = window_totals_sql(since.rem_euclid(24));
        let mut stmt = self.conn.prepare_cached(&sql)?;
        let params = [
            (":since", &since as &dyn ToSql),
            (":day", &since.div_euclid(24)),
        ];
        let rows = stmt.query_map(&params[..], |r| {
            Ok((
                r.get(0)?,
                WindowTotals {
                    allowed: r.get(1)?,
                    denied: r.get(2)?,
                    limited: 0,
                    distinct_ips: r.get(3)?,
                    last_seen: r.get::<_, Option<i64>>(4)?.map(from_ts),
                },
            ))
        })?;
        let mut all = rows.collect::<rusqlite::Result<HashMap<i64, WindowTotals>>>()?;
        all.retain(|_, w| w.allowed + w.denied > 0);
        Ok(all)
    }

    /// `SPIKE`'s uses per day of the 31 days from hour `base` on, per token used then:
    /// differences of the running totals at the days' starts.
    pub(super) fn daily_uses_by_day_rows(
        &self,
        key: Option<i64>,
        base: i64,
    ) -> Result<HashMap<i64, [u64; 31]>> {
        let first = base.div_euclid(24);
        let sql = for_token(&spike_sql(base.rem_euclid(24)), "t.pk", key);
        let mut stmt = self.conn.prepare_cached(&sql)?;
        let mut by_token: HashMap<i64, Vec<DayRow>> = HashMap::new();
        let rows = stmt.query_map(&*bind(&[(":first", &first as &dyn ToSql)], &key), |r| {
            Ok((
                r.get::<_, i64>(0)?,
                (r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?),
            ))
        })?;
        for row in rows {
            let (token, day) = row?;
            by_token.entry(token).or_default().push(day);
        }
        Ok(by_token
            .into_iter()
            .filter_map(|(token, mut rows)| {
                rows.sort_unstable_by_key(|r| r.0);
                let starts: Vec<u64> = (0..32).map(|d| total_at(&rows, first + d)).collect();
                let days: [u64; 31] = std::array::from_fn(|d| starts[d + 1] - starts[d]);
                (days.iter().sum::<u64>() > 0).then_some((token, days))
            })
            .collect())
    }
}
