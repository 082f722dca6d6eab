//! The `tokens` table: insert, look up (by hash, id or name), list, revoke, rotate, and
//! delete those long ended (`prune --tokens`).

use std::sync::Arc;

use anyhow::{anyhow, bail};
use chrono::{DateTime, Utc};
use ipnet::IpNet;
use postgres::types::ToSql;
use postgres::{GenericClient, Row};
use serde_json::json;

use super::events::insert_event;
use super::{Postgres, from_ts, ts};
use crate::rate_limit::RateLimit;
use crate::render::rfc3339_text;
use crate::scope::ScopeSet;
use crate::store::{
    Credential, Error, NewToken, OldTokenEnd, PrunedTokens, Result, Revocation, SameName, Status,
    TokenChange, TokenFilter, TokenRecord, Tokens,
};
use crate::token::{self, TokenHash};

const COLUMNS: &str = "pk, id, name, description, env, scopes, allowed_ips, hint, \
     created_at, created_by, expires_at, revoked_at, revoke_reason, rotated_from, rotated_to, \
     last_used_at, last_used_ip, suspended_at, suspend_reason, rate_limit, rate_per";

/// How many times to draw a new public id when one collides (1 in 36^8 per existing token).
const ID_ATTEMPTS: usize = 8;

fn scopes(text: &str) -> anyhow::Result<ScopeSet> {
    ScopeSet::parse_list(text).map_err(|e| anyhow!("stored scopes '{text}': {e}"))
}

fn networks(text: &str) -> anyhow::Result<Vec<IpNet>> {
    text.split_whitespace()
        .map(|n| {
            n.parse::<IpNet>()
                .map_err(|e| anyhow!("stored network '{n}': {e}"))
        })
        .collect()
}

/// Columns `i` and `i + 1` as a stored rate limit (requests, and seconds they are per).
fn rate_limit_at(r: &Row, i: usize) -> anyhow::Result<Option<RateLimit>> {
    match (
        r.try_get::<_, Option<i64>>(i)?,
        r.try_get::<_, Option<i64>>(i + 1)?,
    ) {
        (None, None) => Ok(None),
        (Some(n), Some(per)) => RateLimit::from_stored(n, per)
            .map(Some)
            .ok_or_else(|| anyhow!("stored rate limit {n} per {per}s")),
        _ => bail!("stored rate limit is half a rate limit"),
    }
}

fn from_row(r: &Row) -> anyhow::Result<TokenRecord> {
    Ok(TokenRecord {
        key: r.try_get(0)?,
        id: r.try_get(1)?,
        name: r.try_get(2)?,
        description: r.try_get(3)?,
        env: r.try_get(4)?,
        scopes: scopes(r.try_get(5)?)?,
        allowed_ips: networks(r.try_get(6)?)?,
        hint: r.try_get(7)?,
        created_at: from_ts(r.try_get(8)?),
        created_by: r.try_get(9)?,
        expires_at: r.try_get::<_, Option<i64>>(10)?.map(from_ts),
        revoked_at: r.try_get::<_, Option<i64>>(11)?.map(from_ts),
        revoke_reason: r.try_get(12)?,
        rotated_from: r.try_get(13)?,
        rotated_to: r.try_get(14)?,
        last_used_at: r.try_get::<_, Option<i64>>(15)?.map(from_ts),
        last_used_ip: r.try_get(16)?,
        suspended_at: r.try_get::<_, Option<i64>>(17)?.map(from_ts),
        suspend_reason: r.try_get(18)?,
        rate_limit: rate_limit_at(r, 19)?,
    })
}

fn records(rows: Vec<Row>) -> anyhow::Result<Vec<TokenRecord>> {
    rows.iter().map(from_row).collect()
}

/// Inserts a token with a fresh public id; retries the id on the (rare) collision.
fn insert(
    tx: &mut impl GenericClient,
    new: &NewToken,
    rotated_from: Option<&str>,
    actor: &str,
    now: DateTime<Utc>,
) -> anyhow::Result<String> {
    for _ in 0..ID_ATTEMPTS {
        let id = token::new_public_id()?;
        // Nor another token's name: `show ID|NAME` looks ids up first, and would hide the
        // token of that name.
        let taken: bool = tx
            .query_one(
                "SELECT EXISTS (SELECT 1 FROM tokens WHERE id = $1 OR name = $1)",
                &[&id],
            )?
            .get(0);
        if taken {
            continue;
        }
        tx.execute(
            "INSERT INTO tokens (id, hash, hint, name, description, env, scopes, allowed_ips, \
             created_at, created_by, expires_at, rotated_from, rate_limit, rate_per) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
            &[
                &id,
                &&new.hash.0[..],
                &new.hint,
                &new.name,
                &new.description,
                &new.env,
                &new.scopes.to_string(),
                &crate::allowlist::to_text(&new.allowed_ips),
                &ts(now),
                &actor,
                &new.expires_at.map(ts),
                &rotated_from,
                &new.rate_limit.map(|l| i64::from(l.requests)),
                &new.rate_limit.map(|l| i64::from(l.per.seconds())),
            ],
        )?;
        return Ok(id);
    }
    bail!("could not find an unused token id after {ID_ATTEMPTS} attempts")
}

/// The token `id`; with `lock`, its row is locked until the transaction ends.
fn by_id(c: &mut impl GenericClient, id: &str, lock: bool) -> anyhow::Result<Option<TokenRecord>> {
    let sql = format!(
        "SELECT {COLUMNS} FROM tokens WHERE id = $1{}",
        if lock { " FOR UPDATE" } else { "" }
    );
    c.query_opt(&sql, &[&id])?
        .as_ref()
        .map(from_row)
        .transpose()
}

/// The active tokens named $1 at $2: `active_named` (oldest first) and its ids.
const ACTIVE_NAMED: &str = "FROM tokens WHERE name = $1 AND revoked_at IS NULL \
     AND (expires_at IS NULL OR expires_at > $2)";

fn require(c: &mut impl GenericClient, id: &str, lock: bool) -> anyhow::Result<TokenRecord> {
    by_id(c, id, lock)?.ok_or_else(|| Error::NotFound(id.to_string()).into())
}

impl Tokens for Postgres {
    fn create_token(
        &mut self,
        new: &NewToken,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<TokenRecord> {
        let mut created = self.create_tokens(std::slice::from_ref(new), actor, now)?;
        Ok(created.pop().expect("one token in, one out"))
    }

    fn create_tokens(
        &mut self,
        new: &[NewToken],
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<Vec<TokenRecord>> {
        self.write(true, |tx| {
            let mut records = Vec::with_capacity(new.len());
            for n in new {
                let id = insert(tx, n, None, actor, now)?;
                insert_event(tx, now, actor, "create", Some(&id), &n.create_details())?;
                records.push(require(tx, &id, false)?);
            }
            Ok(records)
        })
    }

    /// The lookup of every request: a statement prepared once per connection, reading
    /// only the columns the checks use.
    fn credential_by_hash(&self, hash: &TokenHash) -> Result<Option<Credential>> {
        const SQL: &str = "SELECT pk, id, name, env, scopes, allowed_ips, expires_at, revoked_at, \
                           suspended_at IS NOT NULL, rate_limit, rate_per, created_at \
                           FROM tokens WHERE hash = $1";
        self.with(|c| {
            let stmt = c.prepared(SQL)?;
            let Some(r) = c.client.query_opt(&stmt, &[&&hash.0[..]])? else {
                return Ok(None);
            };
            let text =
                |i: usize| -> anyhow::Result<Arc<str>> { Ok(Arc::from(r.try_get::<_, &str>(i)?)) };
            Ok(Some(Credential {
                key: r.try_get(0)?,
                id: text(1)?,
                name: text(2)?,
                env: text(3)?,
                scopes: text(4)?,
                scope_set: scopes(r.try_get(4)?)?,
                allowed_ips: networks(r.try_get(5)?)?,
                expires_at: r.try_get::<_, Option<i64>>(6)?.map(from_ts),
                revoked_at: r.try_get::<_, Option<i64>>(7)?.map(from_ts),
                suspended: r.try_get(8)?,
                rate_limit: rate_limit_at(&r, 9)?,
                created_at: from_ts(r.try_get(11)?),
            }))
        })
    }

    fn find_by_hash(&self, hash: &TokenHash) -> Result<Option<TokenRecord>> {
        let sql = format!("SELECT {COLUMNS} FROM tokens WHERE hash = $1");
        self.with(|c| {
            c.client
                .query_opt(&sql, &[&&hash.0[..]])?
                .as_ref()
                .map(from_row)
                .transpose()
        })
    }

    fn token(&self, id: &str) -> Result<Option<TokenRecord>> {
        self.with(|c| by_id(&mut c.client, id, false))
    }

    /// As the SQLite backend resolves: an id first, then a name, narrowed to the active
    /// tokens, then to the newest of a rotation chain.
    fn resolve(&self, reference: &str, now: DateTime<Utc>) -> Result<TokenRecord> {
        if let Some(t) = self.token(reference)? {
            return Ok(t);
        }
        let sql = format!("SELECT {COLUMNS} FROM tokens WHERE name = $1 ORDER BY pk");
        let mut found = self.with(|c| records(c.client.query(&sql, &[&reference])?))?;
        if found.len() > 1 && found.iter().any(|t| t.status(now).is_live()) {
            found.retain(|t| t.status(now).is_live());
        }
        if found.len() > 1 && found.iter().any(|t| t.rotated_to.is_none()) {
            found.retain(|t| t.rotated_to.is_none());
        }
        match found.len() {
            0 => Err(Error::NotFound(reference.to_string())),
            1 => Ok(found.pop().expect("one element")),
            _ => Err(Error::Ambiguous {
                name: reference.to_string(),
                ids: found.into_iter().map(|t| t.id).collect(),
            }),
        }
    }

    fn find_name(
        &self,
        ascii_starts: &[u8],
        wanted: &mut dyn FnMut(&str) -> bool,
    ) -> Result<Option<String>> {
        // ascii() is the first character's code point.
        let starts: Vec<i32> = ascii_starts.iter().map(|&b| i32::from(b)).collect();
        let rows = self.with(|c| {
            Ok(c.client.query(
                "SELECT DISTINCT name FROM tokens WHERE ascii(name) = ANY($1) OR ascii(name) >= 128",
                &[&starts],
            )?)
        })?;
        Ok(rows
            .iter()
            .map(|r| r.get::<_, &str>(0))
            .find(|name| wanted(name))
            .map(str::to_string))
    }

    fn active_named(&self, name: &str, now: DateTime<Utc>) -> Result<Vec<TokenRecord>> {
        let sql = format!("SELECT {COLUMNS} {ACTIVE_NAMED} ORDER BY pk");
        self.with(|c| records(c.client.query(&sql, &[&name, &ts(now)])?))
    }

    fn active_ids_named(&self, name: &str, now: DateTime<Utc>, newest: u32) -> Result<SameName> {
        // One statement, one round trip: the count over every row, the ids of the newest.
        let sql = format!("SELECT id, count(*) OVER () {ACTIVE_NAMED} ORDER BY pk DESC LIMIT $3");
        let rows = self.with(|c| {
            Ok(c.client
                .query(&sql, &[&name, &ts(now), &i64::from(newest)])?)
        })?;
        let count = rows.first().map_or(0, |r| r.get::<_, i64>(1));
        Ok(SameName {
            count: u64::try_from(count).unwrap_or_default(),
            newest: rows.iter().rev().map(|r| r.get(0)).collect(),
        })
    }

    /// Read whole before the first token is passed on: a query that fails half-way and is
    /// retried on a new connection must not pass the first tokens twice.
    fn each_token(
        &self,
        filter: &TokenFilter,
        now: DateTime<Utc>,
        each: &mut dyn FnMut(TokenRecord) -> Result<()>,
    ) -> Result<()> {
        let mut sql = format!("SELECT {COLUMNS} FROM tokens WHERE true");
        let mut values: Vec<Box<dyn ToSql + Sync>> = Vec::new();
        let mut clause = |text: &str, value: Option<Box<dyn ToSql + Sync>>| {
            sql.push_str(" AND ");
            let n = values.len() + 1;
            sql.push_str(&text.replace('?', &format!("${n}")));
            values.extend(value);
        };
        match filter.status {
            None => {}
            Some(Status::Active) => clause(
                "revoked_at IS NULL AND (expires_at IS NULL OR expires_at > ?)",
                Some(Box::new(ts(now))),
            ),
            Some(Status::Rotating) => clause(
                "revoked_at IS NULL AND rotated_to IS NOT NULL AND suspended_at IS NULL \
                 AND (expires_at IS NULL OR expires_at > ?)",
                Some(Box::new(ts(now))),
            ),
            Some(Status::Suspended) => clause(
                "revoked_at IS NULL AND suspended_at IS NOT NULL \
                 AND (expires_at IS NULL OR expires_at > ?)",
                Some(Box::new(ts(now))),
            ),
            Some(Status::Expired) => clause(
                "revoked_at IS NULL AND expires_at <= ?",
                Some(Box::new(ts(now))),
            ),
            Some(Status::Revoked) => clause("revoked_at IS NOT NULL", None),
        }
        if let Some(env) = &filter.env {
            clause("env = ?", Some(Box::new(env.clone())));
        }
        if let Some(before) = filter.expiring_before {
            // A rotated token's expiry is the end of its grace period, which needs no
            // attention: its successor is the one to watch.
            clause(
                "expires_at < ? AND rotated_to IS NULL",
                Some(Box::new(ts(before))),
            );
        }
        if let Some(since) = filter.unused_since {
            clause(
                "coalesce(last_used_at, created_at) < ?",
                Some(Box::new(ts(since))),
            );
        }
        sql.push_str(" ORDER BY created_at, pk");
        let params: Vec<&(dyn ToSql + Sync)> = values.iter().map(|v| &**v).collect();
        let rows = self.with(|c| Ok(c.client.query(&sql, &params)?))?;
        for row in &rows {
            each(from_row(row)?)?;
        }
        Ok(())
    }

    /// All of them, or (on any error) none, in one transaction queued behind every
    /// other credential change (see the module's notes on writes).
    fn revoke_tokens(
        &mut self,
        ids: &[&str],
        reason: Option<&str>,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<Vec<Revocation>> {
        self.write(true, |tx| {
            let mut done = Vec::with_capacity(ids.len());
            for &id in ids {
                let current = require(tx, id, true)?;
                if current.revoked_at.is_some() {
                    done.push(Revocation::AlreadyRevoked(current));
                    continue;
                }
                tx.execute(
                    "UPDATE tokens SET revoked_at = $2, revoke_reason = $3 WHERE id = $1",
                    &[&id, &ts(now), &reason],
                )?;
                insert_event(
                    tx,
                    now,
                    actor,
                    "revoke",
                    Some(id),
                    &json!({ "reason": reason }),
                )?;
                done.push(Revocation::Revoked(require(tx, id, false)?));
            }
            Ok(done)
        })
    }

    fn rotation_chain(&self, id: &str) -> Result<Vec<TokenRecord>> {
        self.with(|c| {
            let c = &mut c.client;
            let start = require(c, id, false)?;
            // A damaged database could hold a loop: never follow an id twice.
            let mut seen = std::collections::HashSet::from([start.id.clone()]);
            let mut follow = |c: &mut postgres::Client,
                              link: Option<String>|
             -> anyhow::Result<Option<TokenRecord>> {
                match link {
                    Some(id) if seen.insert(id.clone()) => Ok(Some(require(c, &id, false)?)),
                    _ => Ok(None),
                }
            };
            let mut chain = Vec::new();
            let mut from = follow(c, start.rotated_from.clone())?;
            while let Some(t) = from {
                from = follow(c, t.rotated_from.clone())?;
                chain.push(t);
            }
            chain.reverse();
            let mut to = follow(c, start.rotated_to.clone())?;
            chain.push(start);
            while let Some(t) = to {
                to = follow(c, t.rotated_to.clone())?;
                chain.push(t);
            }
            Ok(chain)
        })
    }

    /// One transaction, queued behind every other credential change, with the old
    /// token's row locked: a token is rotated once.
    fn rotate_token(
        &mut self,
        old_id: &str,
        new: &NewToken,
        end: OldTokenEnd,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<(TokenRecord, TokenRecord)> {
        self.write(true, |tx| rotate_in(tx, old_id, new, end, actor, now))
    }

    fn suspend_tokens(
        &mut self,
        ids: &[&str],
        reason: Option<&str>,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<Vec<TokenChange>> {
        change_tokens(self, ids, "be suspended", actor, now, |tx, t| {
            if t.suspended_at.is_some() {
                return Ok(None);
            }
            tx.execute(
                "UPDATE tokens SET suspended_at = $2, suspend_reason = $3 WHERE id = $1",
                &[&t.id, &ts(now), &reason],
            )?;
            Ok(Some(("suspend", json!({ "reason": reason }))))
        })
    }

    fn resume_tokens(
        &mut self,
        ids: &[&str],
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<Vec<TokenChange>> {
        change_tokens(self, ids, "be resumed", actor, now, |tx, t| {
            if t.suspended_at.is_none() {
                return Ok(None);
            }
            tx.execute(
                "UPDATE tokens SET suspended_at = NULL, suspend_reason = NULL WHERE id = $1",
                &[&t.id],
            )?;
            Ok(Some(("resume", json!({}))))
        })
    }

    fn set_rate_limit(
        &mut self,
        id: &str,
        limit: Option<RateLimit>,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<TokenChange> {
        change_token(self, id, "be given a rate limit", actor, now, |tx, t| {
            if t.rate_limit == limit {
                return Ok(None);
            }
            tx.execute(
                "UPDATE tokens SET rate_limit = $2, rate_per = $3 WHERE id = $1",
                &[
                    &id,
                    &limit.map(|l| i64::from(l.requests)),
                    &limit.map(|l| i64::from(l.per.seconds())),
                ],
            )?;
            let shown = |l: Option<RateLimit>| l.map(|l| l.to_string());
            let details = json!({ "from": shown(t.rate_limit), "to": shown(limit) });
            Ok(Some(("rate_limit", details)))
        })
    }

    /// One transaction, queued behind every other credential change (a dry run changes
    /// nothing, and leaves the revision alone).
    fn prune_tokens(
        &mut self,
        before: DateTime<Utc>,
        dry_run: bool,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<PrunedTokens> {
        self.write(!dry_run, |tx| {
            prune_in(tx, ts(before), dry_run, actor, now, before)
        })
    }
}

/// What a change to one token did: its action and the event's details, or `None` for
/// nothing to do.
type Update = anyhow::Result<Option<(&'static str, serde_json::Value)>>;

/// Runs `update` on the token `id`, its row locked, in one transaction queued behind
/// every other credential change (it moves the revision), and logs its event. `change`
/// says what is refused of a revoked or expired token ("be resumed").
fn change_token(
    pg: &mut Postgres,
    id: &str,
    change: &str,
    actor: &str,
    now: DateTime<Utc>,
    update: impl Fn(&mut postgres::Transaction<'_>, &TokenRecord) -> Update,
) -> Result<TokenChange> {
    let mut done = change_tokens(pg, &[id], change, actor, now, update)?;
    Ok(done.pop().expect("one token in, one out"))
}

/// Each of the tokens `ids` under the write lock, refused if revoked or expired, then
/// `update`d, its event logged: in one transaction, all or none.
fn change_tokens(
    pg: &mut Postgres,
    ids: &[&str],
    change: &str,
    actor: &str,
    now: DateTime<Utc>,
    update: impl Fn(&mut postgres::Transaction<'_>, &TokenRecord) -> Update,
) -> Result<Vec<TokenChange>> {
    pg.write(true, |tx| {
        let mut changes = Vec::with_capacity(ids.len());
        for &id in ids {
            let current = require(tx, id, true)?;
            current.check_live(change, now)?;
            let done = update(tx, &current)?;
            let changed = done.is_some();
            if let Some((action, details)) = done {
                insert_event(tx, now, actor, action, Some(id), &details)?;
            }
            changes.push(TokenChange {
                token: require(tx, id, false)?,
                changed,
            });
        }
        Ok(changes)
    })
}

/// Tokens revoked before `$1`, or expired (not revoked) before it.
const ENDED_BEFORE: &str = "(revoked_at < $1 OR (revoked_at IS NULL AND expires_at < $1))";

/// [`Tokens::prune_tokens`] inside the caller's transaction: the tokens ended before
/// `cutoff`, their links, usage and sources deleted, a `prune` event for each.
fn prune_in(
    tx: &mut postgres::Transaction<'_>,
    cutoff: i64,
    dry_run: bool,
    actor: &str,
    now: DateTime<Utc>,
    before: DateTime<Utc>,
) -> anyhow::Result<PrunedTokens> {
    let each = ended_before(tx, cutoff)?;
    let pruned = PrunedTokens {
        ids: each.iter().map(|(id, ..)| id.clone()).collect(),
        usage_rows: each.iter().map(|&(_, rows, _)| rows).sum(),
        uses: each.iter().map(|&(.., uses)| uses).sum(),
    };
    if dry_run || each.is_empty() {
        return Ok(pruned);
    }
    for sql in [
        "UPDATE tokens SET rotated_from = NULL WHERE rotated_from IN (SELECT id FROM tokens WHERE {ended})",
        "UPDATE tokens SET rotated_to = NULL WHERE rotated_to IN (SELECT id FROM tokens WHERE {ended})",
        "DELETE FROM usage WHERE token_pk IN (SELECT pk FROM tokens WHERE {ended})",
        "DELETE FROM token_ips WHERE token_pk IN (SELECT pk FROM tokens WHERE {ended})",
        "DELETE FROM tokens WHERE {ended}",
    ] {
        tx.execute(&sql.replace("{ended}", ENDED_BEFORE), &[&cutoff])?;
    }
    for (id, rows, uses) in &each {
        let details = json!({ "before": rfc3339_text(before), "usage_rows": rows, "uses": uses });
        insert_event(tx, now, actor, "prune", Some(id), &details)?;
    }
    Ok(pruned)
}

/// The tokens [`ENDED_BEFORE`] `cutoff`, oldest first: id, usage rows and uses of each.
fn ended_before(
    tx: &mut postgres::Transaction<'_>,
    cutoff: i64,
) -> anyhow::Result<Vec<(String, u64, u64)>> {
    let sql = format!(
        "SELECT t.id, count(u.token_pk), coalesce(sum(u.allowed + u.denied), 0)::bigint \
         FROM tokens t LEFT JOIN usage u ON u.token_pk = t.pk \
         WHERE {ENDED_BEFORE} GROUP BY t.pk ORDER BY t.pk"
    );
    tx.query(&sql, &[&cutoff])?
        .iter()
        .map(|r| {
            let (rows, uses): (i64, i64) = (r.try_get(1)?, r.try_get(2)?);
            Ok((r.try_get(0)?, rows.max(0) as u64, uses.max(0) as u64))
        })
        .collect()
}

/// The rotation's changes, inside the caller's transaction: the new token, the old one's
/// end, their events. Returns both as they are afterwards.
fn rotate_in(
    tx: &mut postgres::Transaction<'_>,
    old_id: &str,
    new: &NewToken,
    end: OldTokenEnd,
    actor: &str,
    now: DateTime<Utc>,
) -> anyhow::Result<(TokenRecord, TokenRecord)> {
    let old = require(tx, old_id, true)?;
    old.check_rotatable()?;
    let new_id = insert(tx, new, Some(old_id), actor, now)?;
    let details = match end {
        OldTokenEnd::RevokedNow => {
            tx.execute(
                "UPDATE tokens SET rotated_to = $2, revoked_at = $3, revoke_reason = 'rotated' \
                 WHERE id = $1",
                &[&old_id, &new_id, &ts(now)],
            )?;
            json!({ "to": new_id, "revoked": true })
        }
        OldTokenEnd::ExpiresAt(at) => {
            let at = old.expires_at.map_or(at, |e| e.min(at));
            tx.execute(
                "UPDATE tokens SET rotated_to = $2, expires_at = $3 WHERE id = $1",
                &[&old_id, &new_id, &ts(at)],
            )?;
            json!({ "to": new_id, "expires_at": rfc3339_text(at) })
        }
    };
    insert_event(tx, now, actor, "rotate", Some(old_id), &details)?;
    let created = json!({
        "name": new.name,
        "env": new.env,
        "scopes": new.scopes,
        "expires_at": new.expires_at.map(rfc3339_text),
        "rotated_from": old_id,
    });
    insert_event(tx, now, actor, "create", Some(&new_id), &created)?;
    let new_record = require(tx, &new_id, false)?;
    let old_record = require(tx, old_id, false)?;
    Ok((new_record, old_record))
}
