//! The day rows of `token_days` and the month rows of `token_recent` against the raw
//! `usage` rows they summarise: after
//! random recording (late flushes for old hours included), pruning of usage and of
//! tokens, and when built by the migration from the raw rows.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::{IpAddr, Ipv4Addr};

use chrono::{DateTime, TimeDelta, Utc};
use rusqlite::{Connection, params};

use super::migrations::MIGRATIONS;
use super::token_recent;
use crate::scope::ScopeSet;
use crate::store::NewToken;
use crate::store::Store;
use crate::token;
use crate::usage::{Outcome, Presented, Requests, UsageBuffer, WindowTotals, hour_of};

/// A small deterministic generator (xorshift), so that a failure can be replayed.
struct Dice(u64);

impl Dice {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

fn token(name: &str) -> NewToken {
    let g = token::generate("tok", "live").unwrap();
    NewToken {
        hash: g.hash,
        hint: g.hint,
        name: name.into(),
        description: None,
        env: "live".into(),
        scopes: ScopeSet::parse_list("cases:read").unwrap(),
        allowed_ips: vec![],
        expires_at: None,
        rate_limit: None,
    }
}

/// The request windows summed from the raw rows, as `list` counted them before the
/// running totals.
fn raw_requests(conn: &Connection, now: DateTime<Utc>) -> HashMap<i64, Requests> {
    let h = hour_of(now);
    conn.prepare(
        "SELECT token_pk, \
           sum(CASE WHEN hour >= ?1 THEN allowed ELSE 0 END), \
           sum(CASE WHEN hour >= ?1 THEN denied ELSE 0 END), \
           sum(CASE WHEN hour >= ?2 THEN allowed ELSE 0 END), \
           sum(CASE WHEN hour >= ?2 THEN denied ELSE 0 END), \
           sum(allowed), sum(denied) \
         FROM usage WHERE hour >= ?3 GROUP BY token_pk",
    )
    .unwrap()
    .query_map(params![h - 23, h - 167, h - 719], |r| {
        Ok((
            r.get(0)?,
            Requests {
                allowed_24h: r.get(1)?,
                denied_24h: r.get(2)?,
                allowed_7d: r.get(3)?,
                denied_7d: r.get(4)?,
                allowed_30d: r.get(5)?,
                denied_30d: r.get(6)?,
            },
        ))
    })
    .unwrap()
    .map(Result::unwrap)
    .collect()
}

fn raw_window_totals(conn: &Connection, since: DateTime<Utc>) -> HashMap<i64, WindowTotals> {
    conn.prepare(
        "SELECT token_pk, sum(allowed), sum(denied), count(DISTINCT ip), max(last_seen), \
           sum(limited) FROM usage WHERE hour >= ?1 GROUP BY token_pk",
    )
    .unwrap()
    .query_map([hour_of(since)], |r| {
        Ok((
            r.get(0)?,
            WindowTotals {
                allowed: r.get(1)?,
                denied: r.get(2)?,
                limited: r.get(5)?,
                distinct_ips: r.get(3)?,
                last_seen: r.get::<_, Option<i64>>(4)?.map(super::from_ts),
            },
        ))
    })
    .unwrap()
    .map(Result::unwrap)
    .collect()
}

/// `SPIKE`'s 31 days, summed from the raw rows.
fn raw_daily(conn: &Connection, now: DateTime<Utc>) -> HashMap<i64, [u64; 31]> {
    let h = hour_of(now);
    let base = h - 23 - 720;
    let mut out: HashMap<i64, [u64; 31]> = HashMap::new();
    let mut stmt = conn
        .prepare(
            "SELECT token_pk, (hour - ?1) / 24, sum(allowed + denied) FROM usage \
             WHERE hour >= ?1 AND hour <= ?2 GROUP BY token_pk, (hour - ?1) / 24",
        )
        .unwrap();
    let rows = stmt
        .query_map(params![base, h], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, usize>(1)?,
                r.get::<_, u64>(2)?,
            ))
        })
        .unwrap();
    for row in rows {
        let (token, day, n) = row.unwrap();
        out.entry(token).or_insert([0; 31])[day] += n;
    }
    out
}

/// Every summary the store reads, at a few moments and windows.
type Readings = Vec<(
    HashMap<i64, Requests>,
    Vec<HashMap<i64, WindowTotals>>,
    HashMap<i64, [u64; 31]>,
)>;

fn readings(store: &Store, now: DateTime<Utc>) -> Readings {
    [0, 3, 20]
        .into_iter()
        .map(|days_back| {
            let at = now - TimeDelta::days(days_back);
            let windows = [1, 7, 30, 45]
                .into_iter()
                .map(|d| store.window_totals(at - TimeDelta::days(d)).unwrap())
                .collect();
            let daily = store.anomaly_facts(None, at).unwrap().daily;
            (store.all_requests(at).unwrap(), windows, daily)
        })
        .collect()
}

/// `usage` summed per token and hour.
fn raw_hours(conn: &Connection) -> BTreeMap<(i64, i64), (u64, u64)> {
    conn.prepare(
        "SELECT token_pk, hour, sum(allowed), sum(denied) FROM usage GROUP BY token_pk, hour",
    )
    .unwrap()
    .query_map([], |r| Ok(((r.get(0)?, r.get(1)?), (r.get(2)?, r.get(3)?))))
    .unwrap()
    .map(Result::unwrap)
    .collect()
}

/// `token_days` as (token, hour) counts, and each row's running totals with its day's.
#[allow(clippy::type_complexity)]
fn day_rows(conn: &Connection) -> (BTreeMap<(i64, i64), (u64, u64)>, Vec<(i64, [u64; 4])>) {
    let a: Vec<String> = (0..24).map(|k| format!("allowed_to_{k}")).collect();
    let d: Vec<String> = (0..24).map(|k| format!("denied_to_{k}")).collect();
    let sql = format!(
        "SELECT token_pk, day, allowed_before, denied_before, {}, {} FROM token_days \
         ORDER BY token_pk, day",
        a.join(", "),
        d.join(", ")
    );
    let mut hours = BTreeMap::new();
    let mut totals = Vec::new();
    let mut stmt = conn.prepare(&sql).unwrap();
    let mut rows = stmt.query([]).unwrap();
    while let Some(r) = rows.next().unwrap() {
        let (token, day): (i64, i64) = (r.get(0).unwrap(), r.get(1).unwrap());
        let mut sums = [r.get(2).unwrap(), r.get(3).unwrap(), 0, 0];
        for k in 0..24 {
            let (to_a, to_d): (u64, u64) = (r.get(4 + k).unwrap(), r.get(28 + k).unwrap());
            let (allowed, denied) = (to_a - sums[2], to_d - sums[3]);
            (sums[2], sums[3]) = (to_a, to_d);
            if allowed + denied > 0 {
                hours.insert((token, day * 24 + k as i64), (allowed, denied));
            }
        }
        totals.push((token, sums));
    }
    (hours, totals)
}

/// Each token's `token_recent` row holds exactly the raw uses of the hours from its first
/// on, and answers `SPIKE` at `now` without falling back to `token_days`.
fn check_recent(conn: &Connection, now: DateTime<Utc>) {
    let raw = raw_hours(conn);
    let base = hour_of(now) - 23 - 720;
    let rows = token_recent::rows_for_tests(conn, base);
    let with_usage: BTreeSet<i64> = raw.keys().map(|&(t, _)| t).collect();
    assert_eq!(
        rows.iter().map(|r| r.0).collect::<BTreeSet<_>>(),
        with_usage
    );
    for (token, recent, daily) in &rows {
        let held = recent.held();
        let first = recent.first_hour_for_tests();
        let expected: BTreeMap<i64, (u64, u64)> = raw
            .range((*token, first)..=(*token, i64::MAX))
            .filter(|(_, h)| **h != (0, 0))
            .map(|(&(_, h), &uses)| (h, uses))
            .collect();
        assert_eq!(held, expected, "token_recent of {token}");
        assert!(daily.is_some(), "SPIKE at {now} reads token_recent");
    }
}

/// The summaries agree with the raw rows: hour by hour, in their running totals, and in
/// every window the store reads from them.
fn check(store: &Store, now: DateTime<Utc>) {
    let conn = store.conn_for_tests();
    check_recent(conn, now);
    let (hours, totals) = day_rows(conn);
    assert_eq!(hours, raw_hours(conn), "token_days differs from usage");
    for pair in totals.windows(2) {
        let ((t0, [a0, d0, da, dd]), (t1, [a1, d1, ..])) = (pair[0], pair[1]);
        if t0 == t1 {
            assert_eq!((a1, d1), (a0 + da, d0 + dd), "running totals do not add up");
        }
    }
    for (i, (requests, windows, daily)) in readings(store, now).into_iter().enumerate() {
        let at = now - TimeDelta::days([0, 3, 20][i]);
        assert_eq!(requests, raw_requests(conn, at), "requests at {at}");
        for (w, d) in windows.iter().zip([1, 7, 30, 45]) {
            let raw = raw_window_totals(conn, at - TimeDelta::days(d));
            assert_eq!(w, &raw, "window of {d} days at {at}");
        }
        assert_eq!(daily, raw_daily(conn, at), "daily uses at {at}");
    }
}

#[test]
fn summaries_match_the_raw_counts() {
    let mut store = Store::open_in_memory().unwrap();
    let now: DateTime<Utc> = "2026-06-10T12:30:00Z".parse().unwrap();
    let created = now - TimeDelta::days(400);
    let tokens: Vec<_> = (0..5).map(|i| token(&format!("t{i}"))).collect();
    let tokens = store.create_tokens(&tokens, "a", created).unwrap();
    let mut dice = Dice(0x2545_f491_4f6c_dd1d);
    for round in 0..30 {
        let buf = UsageBuffer::new();
        for _ in 0..40 {
            let t = &tokens[dice.below(tokens.len() as u64) as usize];
            let ip = IpAddr::V4(Ipv4Addr::new(10, 0, 0, dice.below(4) as u8));
            let outcome =
                [Outcome::Allowed, Outcome::Denied, Outcome::Ended][dice.below(3) as usize];
            let at = now - TimeDelta::seconds(dice.below(60 * 86_400) as i64);
            buf.record(Presented::Token(t.key()), Some(ip), outcome, at);
        }
        store.record_usage(&buf.take()).unwrap();
        if round % 7 == 6 {
            let before = now - TimeDelta::hours(dice.below(50 * 24) as i64);
            store.prune_usage(before, false, "a", now).unwrap();
        }
        check(&store, now);
    }

    // Pruned up to an hour with uses: that hour stays, in the summaries as in `usage`.
    let ten_days_back = hour_of(now) - 240;
    let raw = raw_hours(store.conn_for_tests());
    let (&(_, hour), _) = raw.iter().find(|((_, h), _)| *h >= ten_days_back).unwrap();
    let before = super::from_ts(hour * 3600 + 1800);
    store.prune_usage(before, false, "a", now).unwrap();
    check(&store, now);

    // Built from the raw rows by the migration: the same windows.
    let before_rebuild = readings(&store, now);
    store
        .conn_for_tests()
        .execute_batch(&format!(
            "DROP TABLE token_days; DROP TABLE token_recent; \
             ALTER TABLE token_ips DROP COLUMN last_kept; {} {}",
            MIGRATIONS[4], MIGRATIONS[6]
        ))
        .unwrap();
    super::migrations::after(store.conn_for_tests(), 7).unwrap();
    check(&store, now);
    assert_eq!(readings(&store, now), before_rebuild);

    // Copied into a new file (`tokenctl copy`): summaries computed there from the raw rows
    // agree with them, and read the same windows.
    let dir = tempfile::tempdir().unwrap();
    let to = crate::store::Location::File(dir.path().join("copy.db"));
    store.copy_to(&to, "a", now).unwrap();
    let copy = Store::open(&to, crate::store::OpenMode::Existing).unwrap();
    check(&copy, now);
    assert_eq!(readings(&copy, now), before_rebuild);

    // Deleting a token deletes its summaries with its usage.
    store
        .revoke_token(&tokens[1].id, None, "a", now - TimeDelta::days(2))
        .unwrap();
    let pruned = store
        .prune_tokens(now - TimeDelta::days(1), false, "a", now)
        .unwrap();
    assert_eq!(pruned.ids, [tokens[1].id.clone()]);
    let left: i64 = store
        .conn_for_tests()
        .query_row(
            "SELECT count(*) FROM token_days WHERE token_pk = ?1",
            [tokens[1].key()],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(left, 0);
    check(&store, now);
}
