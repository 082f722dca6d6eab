//! The usage tables: committing batches of counters (and, through `token_days` and
//! `token_recent`, their summaries in the same transaction), one token's usage by IP and
//! by day, the facts the anomaly rules need, and pruning. The all-token windows are the
//! summaries'.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use rusqlite::{ToSql, params};
use serde_json::json;

use super::events::insert_event;
use super::{Sqlite, from_ts, ts};
use super::{token_days, token_recent};
use crate::store::{Pruned, Result, UsageCounters};
use crate::usage::{
    AnomalyFacts, Batch, DayUsage, IpUsage, NO_IP, OVERFLOW_IP, Presented, Requests,
    STRANGER_SOURCES_PER_HOUR, StrangerTotals, StrangerUsage, TOKEN_SOURCES_PER_HOUR, UsageRow,
    WindowTotals, hour_of,
};

const HOURS_24H: i64 = 24;
const HOURS_30D: i64 = 30 * 24;

pub(super) const DAILY_SQL: &str = "SELECT hour / 24, sum(allowed), sum(denied), sum(limited) FROM usage \
             WHERE hour >= :since {token} GROUP BY hour / 24";
/// `NEW_IP`: IPs first seen since `:day_start` by tokens seen from other IPs before.
pub(super) const NEW_IPS_SQL: &str = "SELECT n.token_pk, n.ip, n.first_seen FROM token_ips n \
             WHERE n.first_seen >= :day_start AND n.ip NOT IN (:no_ip, :overflow) {token} \
               AND EXISTS (SELECT 1 FROM token_ips o WHERE o.token_pk = n.token_pk \
                           AND o.first_seen < :day_start AND o.ip NOT IN (:no_ip, :overflow)) \
             ORDER BY n.token_pk, n.first_seen";
/// `DENIED_USE`: uses denied because the token had been revoked or had expired (only such
/// tokens have them). `CROSS JOIN` reads the tokens first and then each one's recent
/// hours by key: without statistics, SQLite would read all of `usage` instead.
pub(super) const DENIED_AFTER_END_SQL: &str = "SELECT u.token_pk, sum(u.ended) FROM tokens t \
             CROSS JOIN usage u ON u.token_pk = t.pk AND u.hour >= :recent \
             WHERE (t.revoked_at IS NOT NULL OR t.expires_at <= :now) AND u.ended > 0 {token} \
             GROUP BY u.token_pk";
/// `IP_BLOCKED`: uses per IP of tokens with an allow list (read as `DENIED_USE` is).
pub(super) const RESTRICTED_IPS_SQL: &str = "SELECT u.token_pk, u.ip, sum(u.allowed + u.denied) FROM tokens t \
             CROSS JOIN usage u ON u.token_pk = t.pk AND u.hour >= :recent \
             WHERE t.allowed_ips != '' {token} \
             GROUP BY u.token_pk, u.ip";

/// `sql` for one token or for all: `{token}` becomes `AND <column> = :token` when `key`
/// is given, nothing otherwise. Two statement texts, not `(:token IS NULL OR ...)`, which
/// would keep SQLite from searching the (token, hour) key and make a one-token query
/// read the whole window of every token.
pub(super) fn for_token(sql: &str, column: &str, key: Option<i64>) -> String {
    let filter = match key {
        Some(_) => format!("AND {column} = :token"),
        None => String::new(),
    };
    sql.replace("{token}", &filter)
}

/// The named parameters of a [`for_token`] statement.
pub(super) fn bind<'a>(
    params: &[(&'a str, &'a dyn ToSql)],
    key: &'a Option<i64>,
) -> Vec<(&'a str, &'a dyn ToSql)> {
    let mut all = params.to_vec();
    if let Some(k) = key {
        all.push((":token", k));
    }
    all
}

/// The sources with rows of their own, per hour of unknown and malformed tokens (`None`)
/// or of one token, as counted in the database during one commit.
#[derive(Default)]
struct Sources {
    seen: HashMap<(Option<i64>, i64), u64>,
}

impl Sources {
    /// The source label `row` is written under: its own, unless it would be a new source
    /// in an hour that has all the sources it may have, then [`OVERFLOW_IP`].
    fn admit<'r>(
        &mut self,
        tx: &rusqlite::Transaction<'_>,
        row: &'r UsageRow,
    ) -> anyhow::Result<&'r str> {
        if row.ip == OVERFLOW_IP {
            return Ok(&row.ip);
        }
        let (token, limit) = match row.presented {
            Presented::Token(key) => (Some(key), TOKEN_SOURCES_PER_HOUR),
            _ => (None, STRANGER_SOURCES_PER_HOUR),
        };
        let known: bool = match token {
            Some(key) => tx
                .prepare_cached(
                    "SELECT EXISTS (SELECT 1 FROM usage WHERE token_pk = ?1 AND hour = ?2 AND ip = ?3)",
                )?
                .query_row(params![key, row.hour, row.ip], |r| r.get(0))?,
            None => tx
                .prepare_cached(
                    "SELECT EXISTS (SELECT 1 FROM stranger_usage WHERE hour = ?1 AND ip = ?2 AND kind = ?3)",
                )?
                .query_row(
                    params![row.hour, row.ip, row.presented.stranger_label()],
                    |r| r.get(0),
                )?,
        };
        if known {
            return Ok(&row.ip);
        }
        let count = match self.seen.entry((token, row.hour)) {
            std::collections::hash_map::Entry::Occupied(o) => o.into_mut(),
            std::collections::hash_map::Entry::Vacant(v) => {
                let n: u64 = match token {
                    Some(key) => tx
                        .prepare_cached(
                            "SELECT count(*) FROM usage WHERE token_pk = ?1 AND hour = ?2 AND ip != ?3",
                        )?
                        .query_row(params![key, row.hour, OVERFLOW_IP], |r| r.get(0))?,
                    None => tx
                        .prepare_cached(
                            "SELECT count(*) FROM stranger_usage WHERE hour = ?1 AND ip != ?2",
                        )?
                        .query_row(params![row.hour, OVERFLOW_IP], |r| r.get(0))?,
                };
                v.insert(n)
            }
        };
        if *count >= limit {
            return Ok(OVERFLOW_IP);
        }
        *count += 1;
        Ok(&row.ip)
    }
}

impl UsageCounters for Sqlite {
    /// Commits a batch of counters in one transaction, and moves each token's
    /// `last_used_at`/`last_used_ip` forward. Counts of a token this database does not
    /// hold are dropped: a backup restored in place (`sqlite3 tokens.db .restore`) since
    /// the use was decided has nowhere to keep them, and failing on them would fail this
    /// batch and every later one it is merged into.
    ///
    /// A row for a new source in an hour is written only while that hour has fewer than
    /// [`STRANGER_SOURCES_PER_HOUR`] (unknown and malformed tokens) or
    /// [`TOKEN_SOURCES_PER_HOUR`] (per token) sources; the uses of any further source are
    /// added to the hour's [`OVERFLOW_IP`] row. Counted here, under the write lock, so the
    /// bound holds whatever the buffers, flushes and processes that write.
    fn record_usage(&mut self, batch: &Batch) -> Result<()> {
        if batch.rows.is_empty() {
            return Ok(());
        }
        let tx = self.write()?;
        {
            let mut usage = tx.prepare_cached(
                "INSERT INTO usage (token_pk, hour, ip, allowed, denied, ended, first_seen, last_seen, \
                   limited) \
                 SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9 WHERE EXISTS (SELECT 1 FROM tokens WHERE pk = ?1) \
                 ON CONFLICT DO UPDATE SET allowed = allowed + excluded.allowed, \
                   denied = denied + excluded.denied, ended = ended + excluded.ended, \
                   limited = limited + excluded.limited, \
                   first_seen = min(first_seen, excluded.first_seen), \
                   last_seen = max(last_seen, excluded.last_seen)",
            )?;
            let mut ips = tx.prepare_cached(
                "INSERT INTO token_ips (token_pk, ip, first_seen, last_seen, last_kept) \
                 VALUES (?1, ?2, ?3, ?4, ?4) \
                 ON CONFLICT DO UPDATE SET first_seen = min(first_seen, excluded.first_seen), \
                   last_seen = max(last_seen, excluded.last_seen), \
                   last_kept = max(coalesce(last_kept, excluded.last_kept), excluded.last_kept)",
            )?;
            let mut strangers = tx.prepare_cached(
                "INSERT INTO stranger_usage (hour, ip, kind, count, first_seen, last_seen) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6) \
                 ON CONFLICT DO UPDATE SET count = count + excluded.count, \
                   first_seen = min(first_seen, excluded.first_seen), \
                   last_seen = max(last_seen, excluded.last_seen)",
            )?;
            let mut sources = Sources::default();
            let mut last_use: HashMap<i64, (i64, String)> = HashMap::new();
            let mut sums: BTreeMap<(i64, i64), (u64, u64)> = BTreeMap::new();
            for row in &batch.rows {
                let c = &row.counts;
                let ip = sources.admit(&tx, row)?;
                match row.presented {
                    Presented::Token(key) => {
                        let added = usage.execute(params![
                            key,
                            row.hour,
                            ip,
                            c.allowed,
                            c.denied,
                            c.ended,
                            c.first_seen,
                            c.last_seen,
                            c.limited
                        ])?;
                        if added == 0 {
                            continue;
                        }
                        let sum = sums.entry((key, row.hour)).or_default();
                        sum.0 += c.allowed;
                        sum.1 += c.denied;
                        ips.execute(params![key, ip, c.first_seen, c.last_seen])?;
                        let e = last_use
                            .entry(key)
                            .or_insert_with(|| (c.last_seen, ip.to_string()));
                        if c.last_seen > e.0 {
                            *e = (c.last_seen, ip.to_string());
                        }
                    }
                    kind => {
                        strangers.execute(params![
                            row.hour,
                            ip,
                            kind.stranger_label(),
                            c.allowed + c.denied,
                            c.first_seen,
                            c.last_seen
                        ])?;
                    }
                }
            }
            let mut touch = tx.prepare_cached(
                "UPDATE tokens SET last_used_at = ?2, last_used_ip = nullif(?3, '') \
                 WHERE pk = ?1 AND (last_used_at IS NULL OR last_used_at <= ?2)",
            )?;
            for (key, (at, ip)) in last_use {
                touch.execute(params![key, at, ip])?;
            }
            token_days::add(&tx, &sums)?;
            token_recent::add(&tx, &sums)?;
        }
        tx.commit()?;
        Ok(())
    }

    /// Request windows of every token used in the last 30 days, by token key.
    fn all_requests(&self, now: DateTime<Utc>) -> Result<HashMap<i64, Requests>> {
        self.requests_of(None, now)
    }

    /// Request windows of one token.
    fn token_requests(&self, key: i64, now: DateTime<Utc>) -> Result<Requests> {
        Ok(self
            .requests_of(Some(key), now)?
            .remove(&key)
            .unwrap_or_default())
    }

    /// Per source IP of one token: uses since `since` and first/last sighting ever.
    /// With `seen_only`, IPs without use in the window are left out.
    fn token_ips(&self, key: i64, since: DateTime<Utc>, seen_only: bool) -> Result<Vec<IpUsage>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT ti.ip, coalesce(sum(u.allowed), 0), coalesce(sum(u.denied), 0), \
                    ti.first_seen, ti.last_seen \
             FROM token_ips ti \
             LEFT JOIN usage u ON u.token_pk = ti.token_pk AND u.ip = ti.ip AND u.hour >= ?2 \
             WHERE ti.token_pk = ?1 GROUP BY ti.ip \
             HAVING NOT ?3 OR coalesce(sum(u.allowed), 0) + coalesce(sum(u.denied), 0) > 0 \
             ORDER BY ti.last_seen DESC, ti.ip",
        )?;
        let rows = stmt.query_map(params![key, hour_of(since), seen_only], |r| {
            Ok(IpUsage {
                ip: r.get(0)?,
                allowed: r.get(1)?,
                denied: r.get(2)?,
                first_seen: from_ts(r.get(3)?),
                last_seen: from_ts(r.get(4)?),
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Uses per UTC day from `since` (hourly resolution: the first day counts from the
    /// hour of `since`) to `now`, of one token or (with `None`) all tokens; days without
    /// use are included as zeros.
    fn daily_usage(
        &self,
        key: Option<i64>,
        since: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<Vec<DayUsage>> {
        let first_hour = hour_of(since);
        let first_day = first_hour.div_euclid(24);
        let last_day = hour_of(now).div_euclid(24);
        let sql = for_token(DAILY_SQL, "token_pk", key);
        let mut stmt = self.conn.prepare_cached(&sql)?;
        let found: HashMap<i64, (u64, u64, u64)> = stmt
            .query_map(&*bind(&[(":since", &first_hour)], &key), |r| {
                Ok((r.get(0)?, (r.get(1)?, r.get(2)?, r.get(3)?)))
            })?
            .collect::<rusqlite::Result<_>>()?;
        Ok(crate::usage::days(first_day..=last_day, &found))
    }

    /// Per token used since `since`: totals, distinct IPs and last use in the window.
    fn window_totals(&self, since: DateTime<Utc>) -> Result<HashMap<i64, WindowTotals>> {
        self.totals_since(since)
    }

    /// Uses of tokens this database does not know, per IP and kind, since `since`.
    fn stranger_usage(&self, since: DateTime<Utc>) -> Result<Vec<StrangerUsage>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT ip, kind, sum(count), min(first_seen), max(last_seen) FROM stranger_usage \
             WHERE hour >= ?1 GROUP BY ip, kind ORDER BY sum(count) DESC, ip, kind",
        )?;
        let rows = stmt.query_map([hour_of(since)], |r| {
            Ok(StrangerUsage {
                ip: r.get(0)?,
                kind: r.get(1)?,
                count: r.get(2)?,
                first_seen: from_ts(r.get(3)?),
                last_seen: from_ts(r.get(4)?),
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// The facts behind the anomaly flags, about the 24 hours up to `now`; for one token
    /// or (with `None`) all.
    fn anomaly_facts(&self, key: Option<i64>, now: DateTime<Utc>) -> Result<AnomalyFacts> {
        let h = hour_of(now);
        let day_start = ts(now) - 86_400;
        // Hours [h-23, h] are "the last 24h"; the 30 days before start 720 hours earlier.
        let recent = h - HOURS_24H + 1;
        let base = recent - HOURS_30D;
        let mut facts = AnomalyFacts::default();
        if key.is_none() {
            facts.strangers = self
                .conn
                .prepare_cached(
                    "SELECT coalesce(sum(count), 0), count(DISTINCT nullif(ip, ?2)), \
                       coalesce(sum(CASE WHEN ip = ?2 THEN count END), 0) \
                     FROM stranger_usage WHERE hour >= ?1",
                )?
                .query_row(params![recent, OVERFLOW_IP], |r| {
                    Ok(StrangerTotals {
                        uses: r.get(0)?,
                        sources: r.get(1)?,
                        overflow_uses: r.get(2)?,
                    })
                })?;
        }

        let sql = for_token(NEW_IPS_SQL, "n.token_pk", key);
        let params = [
            (":day_start", &day_start as &dyn ToSql),
            (":no_ip", &NO_IP),
            (":overflow", &OVERFLOW_IP),
        ];
        facts.new_ips = self
            .conn
            .prepare_cached(&sql)?
            .query_map(&*bind(&params, &key), |r| {
                Ok((r.get(0)?, r.get(1)?, from_ts(r.get(2)?)))
            })?
            .collect::<rusqlite::Result<_>>()?;

        facts.daily = self.daily_uses(key, base)?;

        let sql = for_token(DENIED_AFTER_END_SQL, "t.pk", key);
        let now_ts = ts(now);
        let params = [(":recent", &recent as &dyn ToSql), (":now", &now_ts)];
        facts.denied_after_end = self
            .conn
            .prepare_cached(&sql)?
            .query_map(&*bind(&params, &key), |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<rusqlite::Result<_>>()?;

        let sql = for_token(RESTRICTED_IPS_SQL, "t.pk", key);
        let params = [(":recent", &recent as &dyn ToSql)];
        facts.restricted_ips = self
            .conn
            .prepare_cached(&sql)?
            .query_map(&*bind(&params, &key), |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            })?
            .collect::<rusqlite::Result<_>>()?;
        Ok(facts)
    }

    /// Deletes usage counters of hours that ended before `before` (all of them with
    /// `dry_run` false), logging a `prune` event. Tokens and events are kept.
    fn prune_usage(
        &mut self,
        before: DateTime<Utc>,
        dry_run: bool,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<Pruned> {
        let cutoff = hour_of(before);
        let tx = self.write()?;
        let (usage_rows, usage_uses): (u64, u64) = tx.query_row(
            "SELECT count(*), coalesce(sum(allowed + denied), 0) FROM usage WHERE hour < ?1",
            [cutoff],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        let (stranger_rows, stranger_uses): (u64, u64) = tx.query_row(
            "SELECT count(*), coalesce(sum(count), 0) FROM stranger_usage WHERE hour < ?1",
            [cutoff],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        let pruned = Pruned {
            usage_rows,
            stranger_rows,
            uses: usage_uses + stranger_uses,
        };
        if dry_run {
            return Ok(pruned);
        }
        tx.execute("DELETE FROM usage WHERE hour < ?1", [cutoff])?;
        token_days::prune(&tx, cutoff)?;
        token_recent::prune(&tx, cutoff)?;
        // An IP whose latest kept row was older has no row left.
        tx.execute(
            "UPDATE token_ips SET last_kept = NULL WHERE last_kept < ?1",
            [cutoff * 3600],
        )?;
        tx.execute("DELETE FROM stranger_usage WHERE hour < ?1", [cutoff])?;
        insert_event(
            &tx,
            now,
            actor,
            "prune",
            None,
            &json!({
                "before": crate::render::rfc3339_text(before),
                "usage_rows": pruned.usage_rows,
                "stranger_rows": pruned.stranger_rows,
                "uses": pruned.uses,
            }),
        )?;
        tx.commit()?;
        Ok(pruned)
    }
}
