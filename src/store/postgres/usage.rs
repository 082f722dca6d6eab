//! The usage tables: committing batches of counters as aggregated upserts, the windows
//! `list`, `show` and `audit` show, the facts the anomaly rules need, and pruning. The
//! windows are sums over `usage` read by its primary key and hour index, where SQLite
//! reads its running totals per token and day: the same figures. Sums are cast back to
//! `bigint`, `least`/`greatest` are `min`/`max` of two values.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use postgres::types::ToSql;
use postgres::{GenericClient, Row, Transaction};
use serde_json::json;

use super::events::insert_event;
use super::{Postgres, from_ts, ts};
use crate::store::{Pruned, Result, UsageCounters};
use crate::usage::{
    AnomalyFacts, Batch, DayUsage, IpUsage, NO_IP, OVERFLOW_IP, Presented, Requests,
    STRANGER_SOURCES_PER_HOUR, StrangerTotals, StrangerUsage, TOKEN_SOURCES_PER_HOUR, UsageRow,
    WindowTotals, hour_of,
};

const HOURS_24H: i64 = 24;
const HOURS_7D: i64 = 7 * 24;
const HOURS_30D: i64 = 30 * 24;

/// The advisory lock usage commits take, so that the per-hour bound on sources is
/// counted by one committer at a time: "usag".
const USAGE_LOCK: i64 = 0x7573_6167;

const DAILY_SQL: &str = "SELECT hour / 24, sum(allowed)::bigint, sum(denied)::bigint, \
             sum(limited)::bigint FROM usage \
     WHERE hour >= $1 {token} GROUP BY hour / 24";
/// `NEW_IP`: IPs first seen since `$1` by tokens seen from other IPs before.
const NEW_IPS_SQL: &str = "SELECT n.token_pk, n.ip, n.first_seen FROM token_ips n \
     WHERE n.first_seen >= $1 AND n.ip NOT IN ($2, $3) {token} \
       AND EXISTS (SELECT 1 FROM token_ips o WHERE o.token_pk = n.token_pk \
                   AND o.first_seen < $1 AND o.ip NOT IN ($2, $3)) \
     ORDER BY n.token_pk, n.first_seen";
/// `SPIKE`: uses per day of the 31 days from `$1` up to the hour `$2`.
const SPIKE_SQL: &str = "SELECT token_pk, (hour - $1) / 24, sum(allowed + denied)::bigint FROM usage \
     WHERE hour >= $1 AND hour <= $2 {token} GROUP BY token_pk, (hour - $1) / 24";
/// `DENIED_USE`: uses denied because the token had been revoked or had expired (only
/// such tokens have them).
const DENIED_AFTER_END_SQL: &str = "SELECT u.token_pk, sum(u.ended)::bigint FROM usage u \
     JOIN tokens t ON t.pk = u.token_pk \
     WHERE u.hour >= $1 AND u.ended > 0 {token} \
       AND (t.revoked_at IS NOT NULL OR t.expires_at <= $2) \
     GROUP BY u.token_pk";
/// `IP_BLOCKED`: uses per IP of tokens with an allow list.
const RESTRICTED_IPS_SQL: &str = "SELECT u.token_pk, u.ip, sum(u.allowed + u.denied)::bigint \
     FROM usage u JOIN tokens t ON t.pk = u.token_pk \
     WHERE u.hour >= $1 AND t.allowed_ips != '' {token} GROUP BY u.token_pk, u.ip";

/// `sql` for one token or for all: `{token}` becomes `AND <column> = $n` (the parameter
/// after `params`) when `key` is given, nothing otherwise; with the parameters to bind.
fn for_token<'a>(
    sql: &str,
    column: &str,
    key: &'a Option<i64>,
    params: &[&'a (dyn ToSql + Sync)],
) -> (String, Vec<&'a (dyn ToSql + Sync)>) {
    let mut all = params.to_vec();
    let filter = match key {
        Some(k) => {
            all.push(k);
            format!("AND {column} = ${}", all.len())
        }
        None => String::new(),
    };
    (sql.replace("{token}", &filter), all)
}

/// A count as stored (never negative).
fn count(r: &Row, i: usize) -> anyhow::Result<u64> {
    Ok(r.try_get::<_, Option<i64>>(i)?.unwrap_or(0).max(0) as u64)
}

/// Whether `row` may have a source row of its own, under the per-hour bound, as counted
/// in the database during one commit (see the SQLite backend's `Sources`).
#[derive(Default)]
struct Sources {
    seen: HashMap<(Option<i64>, i64), u64>,
}

impl Sources {
    fn admit<'r>(
        &mut self,
        tx: &mut Transaction<'_>,
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
            Some(key) => tx.query_one(
                "SELECT EXISTS (SELECT 1 FROM usage WHERE token_pk = $1 AND hour = $2 AND ip = $3)",
                &[&key, &row.hour, &row.ip],
            )?,
            None => tx.query_one(
                "SELECT EXISTS (SELECT 1 FROM stranger_usage WHERE hour = $1 AND ip = $2 AND kind = $3)",
                &[&row.hour, &row.ip, &row.presented.stranger_label()],
            )?,
        }
        .get(0);
        if known {
            return Ok(&row.ip);
        }
        let n = match self.seen.entry((token, row.hour)) {
            std::collections::hash_map::Entry::Occupied(o) => o.into_mut(),
            std::collections::hash_map::Entry::Vacant(v) => {
                let r = match token {
                    Some(key) => tx.query_one(
                        "SELECT count(*) FROM usage WHERE token_pk = $1 AND hour = $2 AND ip != $3",
                        &[&key, &row.hour, &OVERFLOW_IP],
                    )?,
                    None => tx.query_one(
                        "SELECT count(*) FROM stranger_usage WHERE hour = $1 AND ip != $2",
                        &[&row.hour, &OVERFLOW_IP],
                    )?,
                };
                v.insert(count(&r, 0)?)
            }
        };
        if *n >= limit {
            return Ok(OVERFLOW_IP);
        }
        *n += 1;
        Ok(&row.ip)
    }
}

/// Adds one token row and its sighting; whether the token is held.
fn add_token_row(
    tx: &mut Transaction<'_>,
    key: i64,
    row: &UsageRow,
    ip: &str,
) -> anyhow::Result<bool> {
    let c = &row.counts;
    let added = tx.execute(
        "INSERT INTO usage (token_pk, hour, ip, allowed, denied, ended, first_seen, last_seen, \
           limited) \
         SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9 WHERE EXISTS (SELECT 1 FROM tokens WHERE pk = $1) \
         ON CONFLICT (token_pk, hour, ip) DO UPDATE SET \
           allowed = usage.allowed + excluded.allowed, \
           denied = usage.denied + excluded.denied, ended = usage.ended + excluded.ended, \
           limited = usage.limited + excluded.limited, \
           first_seen = least(usage.first_seen, excluded.first_seen), \
           last_seen = greatest(usage.last_seen, excluded.last_seen)",
        &[
            &key,
            &row.hour,
            &ip,
            &(c.allowed as i64),
            &(c.denied as i64),
            &(c.ended as i64),
            &c.first_seen,
            &c.last_seen,
            &(c.limited as i64),
        ],
    )?;
    if added == 0 {
        return Ok(false);
    }
    tx.execute(
        "INSERT INTO token_ips (token_pk, ip, first_seen, last_seen) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (token_pk, ip) DO UPDATE SET \
           first_seen = least(token_ips.first_seen, excluded.first_seen), \
           last_seen = greatest(token_ips.last_seen, excluded.last_seen)",
        &[&key, &ip, &c.first_seen, &c.last_seen],
    )?;
    Ok(true)
}

fn add_stranger_row(tx: &mut Transaction<'_>, row: &UsageRow, ip: &str) -> anyhow::Result<()> {
    let c = &row.counts;
    tx.execute(
        "INSERT INTO stranger_usage (hour, ip, kind, count, first_seen, last_seen) \
         VALUES ($1, $2, $3, $4, $5, $6) \
         ON CONFLICT (hour, ip, kind) DO UPDATE SET \
           count = stranger_usage.count + excluded.count, \
           first_seen = least(stranger_usage.first_seen, excluded.first_seen), \
           last_seen = greatest(stranger_usage.last_seen, excluded.last_seen)",
        &[
            &row.hour,
            &ip,
            &row.presented.stranger_label(),
            &((c.allowed + c.denied) as i64),
            &c.first_seen,
            &c.last_seen,
        ],
    )?;
    Ok(())
}

/// How long a committed batch's identity is kept: a batch whose commit's reply was lost
/// is committed again once its server reaches the database again, within a day. This is
/// the one bound on "counted once": a server that lost a commit's reply and then cannot
/// reach the database for longer may count that batch (one flush, about a second of its
/// uses) twice. Batches waiting are never merged (`UsageBuffer::restore`), so any number
/// of failed commits in a row is otherwise exact.
const BATCH_IDS_KEPT_SECONDS: i64 = 86_400;

/// Records the batch's identity (by the database's clock), dropping those past
/// [`BATCH_IDS_KEPT_SECONDS`]; whether it is new.
fn first_commit(tx: &mut Transaction<'_>, batch: &Batch) -> anyhow::Result<bool> {
    let added = tx.execute(
        "INSERT INTO usage_batches (id, at) VALUES ($1, extract(epoch FROM now())::bigint) \
         ON CONFLICT (id) DO NOTHING",
        &[&format!("{:032x}", batch.id)],
    )?;
    tx.execute(
        "DELETE FROM usage_batches WHERE at < extract(epoch FROM now())::bigint - $1",
        &[&BATCH_IDS_KEPT_SECONDS],
    )?;
    Ok(added == 1)
}

/// The batch's rows, in the caller's transaction, then each token's last use; nothing
/// if the batch was committed before.
fn commit_batch(tx: &mut Transaction<'_>, batch: &Batch) -> anyhow::Result<()> {
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&USAGE_LOCK])?;
    if !first_commit(tx, batch)? {
        return Ok(());
    }
    let mut sources = Sources::default();
    let mut last_use: HashMap<i64, (i64, String)> = HashMap::new();
    for row in &batch.rows {
        let ip = sources.admit(tx, row)?;
        match row.presented {
            Presented::Token(key) => {
                if !add_token_row(tx, key, row, ip)? {
                    continue;
                }
                let seen = row.counts.last_seen;
                let e = last_use
                    .entry(key)
                    .or_insert_with(|| (seen, ip.to_string()));
                if seen > e.0 {
                    *e = (seen, ip.to_string());
                }
            }
            _ => add_stranger_row(tx, row, ip)?,
        }
    }
    for (key, (at, ip)) in last_use {
        tx.execute(
            "UPDATE tokens SET last_used_at = $2, last_used_ip = nullif($3, '') \
             WHERE pk = $1 AND (last_used_at IS NULL OR last_used_at <= $2)",
            &[&key, &at, &ip],
        )?;
    }
    Ok(())
}

impl UsageCounters for Postgres {
    /// One transaction; counts of a token this database does not hold are dropped, and
    /// sources past the per-hour bound are counted under [`OVERFLOW_IP`], as in SQLite.
    /// Aggregated upserts: several servers flushing the same token, hour and address add
    /// up exactly. No revision bump: usage changes no credential.
    fn record_usage(&mut self, batch: &Batch) -> Result<()> {
        if batch.rows.is_empty() {
            return Ok(());
        }
        self.write(false, |tx| commit_batch(tx, batch))
    }

    fn all_requests(&self, now: DateTime<Utc>) -> Result<HashMap<i64, Requests>> {
        self.requests_where(None, now)
    }

    fn token_requests(&self, key: i64, now: DateTime<Utc>) -> Result<Requests> {
        Ok(self
            .requests_where(Some(key), now)?
            .remove(&key)
            .unwrap_or_default())
    }

    fn token_ips(&self, key: i64, since: DateTime<Utc>, seen_only: bool) -> Result<Vec<IpUsage>> {
        self.with(|c| {
            let rows = c.client.query(
                "SELECT ti.ip, coalesce(sum(u.allowed), 0)::bigint, \
                        coalesce(sum(u.denied), 0)::bigint, ti.first_seen, ti.last_seen \
                 FROM token_ips ti \
                 LEFT JOIN usage u ON u.token_pk = ti.token_pk AND u.ip = ti.ip AND u.hour >= $2 \
                 WHERE ti.token_pk = $1 GROUP BY ti.ip, ti.first_seen, ti.last_seen \
                 HAVING NOT $3 OR coalesce(sum(u.allowed), 0) + coalesce(sum(u.denied), 0) > 0 \
                 ORDER BY ti.last_seen DESC, ti.ip COLLATE \"C\"",
                &[&key, &hour_of(since), &seen_only],
            )?;
            rows.iter()
                .map(|r| {
                    Ok(IpUsage {
                        ip: r.try_get(0)?,
                        allowed: count(r, 1)?,
                        denied: count(r, 2)?,
                        first_seen: from_ts(r.try_get(3)?),
                        last_seen: from_ts(r.try_get(4)?),
                    })
                })
                .collect()
        })
    }

    fn daily_usage(
        &self,
        key: Option<i64>,
        since: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<Vec<DayUsage>> {
        let first_hour = hour_of(since);
        let first_day = first_hour.div_euclid(24);
        let last_day = hour_of(now).div_euclid(24);
        let (sql, params) = for_token(DAILY_SQL, "token_pk", &key, &[&first_hour]);
        let found: HashMap<i64, (u64, u64, u64)> = self.with(|c| {
            c.client
                .query(&sql, &params)?
                .iter()
                .map(|r| Ok((r.try_get(0)?, (count(r, 1)?, count(r, 2)?, count(r, 3)?))))
                .collect()
        })?;
        Ok(crate::usage::days(first_day..=last_day, &found))
    }

    fn window_totals(&self, since: DateTime<Utc>) -> Result<HashMap<i64, WindowTotals>> {
        self.with(|c| {
            let rows = c.client.query(
                "SELECT token_pk, sum(allowed)::bigint, sum(denied)::bigint, count(DISTINCT ip), \
                   max(last_seen), sum(limited)::bigint FROM usage WHERE hour >= $1 \
                 GROUP BY token_pk \
                 HAVING sum(allowed + denied) > 0",
                &[&hour_of(since)],
            )?;
            rows.iter()
                .map(|r| {
                    let totals = WindowTotals {
                        allowed: count(r, 1)?,
                        denied: count(r, 2)?,
                        limited: count(r, 5)?,
                        distinct_ips: count(r, 3)?,
                        last_seen: r.try_get::<_, Option<i64>>(4)?.map(from_ts),
                    };
                    Ok((r.try_get(0)?, totals))
                })
                .collect()
        })
    }

    fn stranger_usage(&self, since: DateTime<Utc>) -> Result<Vec<StrangerUsage>> {
        self.with(|c| {
            let rows = c.client.query(
                "SELECT ip, kind, sum(count)::bigint, min(first_seen), max(last_seen) \
                 FROM stranger_usage WHERE hour >= $1 GROUP BY ip, kind \
                 ORDER BY sum(count) DESC, ip COLLATE \"C\", kind COLLATE \"C\"",
                &[&hour_of(since)],
            )?;
            rows.iter()
                .map(|r| {
                    Ok(StrangerUsage {
                        ip: r.try_get(0)?,
                        kind: r.try_get(1)?,
                        count: count(r, 2)?,
                        first_seen: from_ts(r.try_get(3)?),
                        last_seen: from_ts(r.try_get(4)?),
                    })
                })
                .collect()
        })
    }

    fn anomaly_facts(&self, key: Option<i64>, now: DateTime<Utc>) -> Result<AnomalyFacts> {
        self.with(|c| anomaly_facts(&mut c.client, key, now))
    }

    fn prune_usage(
        &mut self,
        before: DateTime<Utc>,
        dry_run: bool,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<Pruned> {
        self.write(true, |tx| {
            prune(tx, hour_of(before), dry_run, actor, now, before)
        })
    }
}

/// The facts behind the anomaly flags, about the 24 hours up to `now`.
fn anomaly_facts(
    c: &mut impl GenericClient,
    key: Option<i64>,
    now: DateTime<Utc>,
) -> anyhow::Result<AnomalyFacts> {
    let h = hour_of(now);
    let day_start = ts(now) - 86_400;
    // Hours [h-23, h] are "the last 24h"; the 30 days before start 720 hours earlier.
    let recent = h - HOURS_24H + 1;
    let base = recent - HOURS_30D;
    let mut facts = AnomalyFacts::default();
    if key.is_none() {
        let r = c.query_one(
            "SELECT coalesce(sum(count), 0)::bigint, count(DISTINCT nullif(ip, $2)), \
               coalesce(sum(CASE WHEN ip = $2 THEN count END), 0)::bigint \
             FROM stranger_usage WHERE hour >= $1",
            &[&recent, &OVERFLOW_IP],
        )?;
        facts.strangers = StrangerTotals {
            uses: count(&r, 0)?,
            sources: count(&r, 1)?,
            overflow_uses: count(&r, 2)?,
        };
    }
    let (sql, p) = for_token(
        NEW_IPS_SQL,
        "n.token_pk",
        &key,
        &[&day_start, &NO_IP, &OVERFLOW_IP],
    );
    for r in c.query(&sql, &p)? {
        facts
            .new_ips
            .push((r.try_get(0)?, r.try_get(1)?, from_ts(r.try_get(2)?)));
    }
    let (sql, p) = for_token(SPIKE_SQL, "token_pk", &key, &[&base, &h]);
    for r in c.query(&sql, &p)? {
        let (token, day): (i64, i64) = (r.try_get(0)?, r.try_get(1)?);
        if let Ok(day) = usize::try_from(day)
            && day < 31
        {
            facts.daily.entry(token).or_insert([0; 31])[day] += count(&r, 2)?;
        }
    }
    let now_ts = ts(now);
    let (sql, p) = for_token(
        DENIED_AFTER_END_SQL,
        "u.token_pk",
        &key,
        &[&recent, &now_ts],
    );
    for r in c.query(&sql, &p)? {
        facts.denied_after_end.push((r.try_get(0)?, count(&r, 1)?));
    }
    let (sql, p) = for_token(RESTRICTED_IPS_SQL, "u.token_pk", &key, &[&recent]);
    for r in c.query(&sql, &p)? {
        facts
            .restricted_ips
            .push((r.try_get(0)?, r.try_get(1)?, count(&r, 2)?));
    }
    Ok(facts)
}

/// Counts (and unless `dry_run`, deletes) the counters of hours before `cutoff`.
fn prune(
    tx: &mut Transaction<'_>,
    cutoff: i64,
    dry_run: bool,
    actor: &str,
    now: DateTime<Utc>,
    before: DateTime<Utc>,
) -> anyhow::Result<Pruned> {
    let u = tx.query_one(
        "SELECT count(*), coalesce(sum(allowed + denied), 0)::bigint FROM usage WHERE hour < $1",
        &[&cutoff],
    )?;
    let s = tx.query_one(
        "SELECT count(*), coalesce(sum(count), 0)::bigint FROM stranger_usage WHERE hour < $1",
        &[&cutoff],
    )?;
    let pruned = Pruned {
        usage_rows: count(&u, 0)?,
        stranger_rows: count(&s, 0)?,
        uses: count(&u, 1)? + count(&s, 1)?,
    };
    if dry_run {
        return Ok(pruned);
    }
    tx.execute("DELETE FROM usage WHERE hour < $1", &[&cutoff])?;
    tx.execute("DELETE FROM stranger_usage WHERE hour < $1", &[&cutoff])?;
    let details = json!({
        "before": crate::render::rfc3339_text(before),
        "usage_rows": pruned.usage_rows,
        "stranger_rows": pruned.stranger_rows,
        "uses": pruned.uses,
    });
    insert_event(tx, now, actor, "prune", None, &details)?;
    Ok(pruned)
}

impl Postgres {
    /// Request windows of one token or of all, by token key.
    fn requests_where(
        &self,
        key: Option<i64>,
        now: DateTime<Utc>,
    ) -> Result<HashMap<i64, Requests>> {
        let h = hour_of(now);
        let (d1, d7, d30) = (h - HOURS_24H + 1, h - HOURS_7D + 1, h - HOURS_30D + 1);
        let sql = "SELECT token_pk, \
               sum(CASE WHEN hour >= $1 THEN allowed ELSE 0 END)::bigint, \
               sum(CASE WHEN hour >= $1 THEN denied ELSE 0 END)::bigint, \
               sum(CASE WHEN hour >= $2 THEN allowed ELSE 0 END)::bigint, \
               sum(CASE WHEN hour >= $2 THEN denied ELSE 0 END)::bigint, \
               sum(allowed)::bigint, sum(denied)::bigint \
             FROM usage WHERE hour >= $3 {token} GROUP BY token_pk \
             HAVING sum(allowed + denied) > 0";
        let (sql, p) = for_token(sql, "token_pk", &key, &[&d1, &d7, &d30]);
        self.with(|c| {
            c.client
                .query(&sql, &p)?
                .iter()
                .map(|r| {
                    let req = Requests {
                        allowed_24h: count(r, 1)?,
                        denied_24h: count(r, 2)?,
                        allowed_7d: count(r, 3)?,
                        denied_7d: count(r, 4)?,
                        allowed_30d: count(r, 5)?,
                        denied_30d: count(r, 6)?,
                    };
                    Ok((r.try_get(0)?, req))
                })
                .collect()
        })
    }
}
