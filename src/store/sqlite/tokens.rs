//! The `tokens` table: insert, look up (by hash, id or name), list, revoke, rotate, and
//! delete those long ended (`prune --tokens`).

use std::sync::Arc;

use anyhow::{Context, bail};
use chrono::{DateTime, Utc};
use ipnet::IpNet;
use rusqlite::{OptionalExtension, Row, params, types::Type};
use serde_json::json;

use super::events::insert_event;
use super::{Sqlite, from_ts, ts};
use crate::rate_limit::RateLimit;
use crate::render::rfc3339_text;
use crate::scope::ScopeSet;
use crate::store::{
    Credential, Error, NewToken, OldTokenEnd, PrunedTokens, Result, Revocation, SameName, Status,
    TokenChange, TokenFilter, TokenRecord, Tokens,
};
use crate::token::{self, TokenHash};

pub(super) const COLUMNS: &str = "pk, id, name, description, env, scopes, allowed_ips, hint, \
     created_at, created_by, expires_at, revoked_at, revoke_reason, rotated_from, rotated_to, \
     last_used_at, last_used_ip, suspended_at, suspend_reason, rate_limit, rate_per";

/// How many times to draw a new public id when one collides (1 in 36^8 per existing token).
const ID_ATTEMPTS: usize = 8;

/// Column `i` as stored grants (`cases:read invoices:write`).
fn scopes_at(r: &Row<'_>, i: usize) -> rusqlite::Result<ScopeSet> {
    ScopeSet::parse_list(r.get_ref(i)?.as_str()?).map_err(|e| bad_column(i, e.to_string()))
}

/// Column `i` as a stored allow list (space-separated networks).
fn networks_at(r: &Row<'_>, i: usize) -> rusqlite::Result<Vec<IpNet>> {
    r.get_ref(i)?
        .as_str()?
        .split_whitespace()
        .map(|n| n.parse::<IpNet>().map_err(|e| bad_column(i, e.to_string())))
        .collect()
}

/// Columns `i` and `i + 1` as a stored rate limit (requests, and seconds they are per).
fn rate_limit_at(r: &Row<'_>, i: usize) -> rusqlite::Result<Option<RateLimit>> {
    match (r.get::<_, Option<i64>>(i)?, r.get::<_, Option<i64>>(i + 1)?) {
        (None, None) => Ok(None),
        (Some(n), Some(per)) => RateLimit::from_stored(n, per)
            .map(Some)
            .ok_or_else(|| bad_column(i, format!("rate limit {n} per {per}s"))),
        _ => Err(bad_column(i, "half a rate limit".into())),
    }
}

fn bad_column(i: usize, why: String) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(i, Type::Text, why.into())
}

pub(super) fn from_row(r: &Row<'_>) -> rusqlite::Result<TokenRecord> {
    Ok(TokenRecord {
        key: r.get(0)?,
        id: r.get(1)?,
        name: r.get(2)?,
        description: r.get(3)?,
        env: r.get(4)?,
        scopes: scopes_at(r, 5)?,
        allowed_ips: networks_at(r, 6)?,
        hint: r.get(7)?,
        created_at: from_ts(r.get(8)?),
        created_by: r.get(9)?,
        expires_at: r.get::<_, Option<i64>>(10)?.map(from_ts),
        revoked_at: r.get::<_, Option<i64>>(11)?.map(from_ts),
        revoke_reason: r.get(12)?,
        rotated_from: r.get(13)?,
        rotated_to: r.get(14)?,
        last_used_at: r.get::<_, Option<i64>>(15)?.map(from_ts),
        last_used_ip: r.get(16)?,
        suspended_at: r.get::<_, Option<i64>>(17)?.map(from_ts),
        suspend_reason: r.get(18)?,
        rate_limit: rate_limit_at(r, 19)?,
    })
}

/// Inserts a token with a fresh public id; retries the id on the (rare) collision.
fn insert(
    tx: &rusqlite::Transaction<'_>,
    new: &NewToken,
    rotated_from: Option<&str>,
    actor: &str,
    now: DateTime<Utc>,
) -> anyhow::Result<String> {
    for _ in 0..ID_ATTEMPTS {
        let id = token::new_public_id()?;
        let taken: bool = tx.query_row(
            // Nor another token's name: `show ID|NAME` looks ids up first, and would hide
            // the token of that name.
            "SELECT EXISTS (SELECT 1 FROM tokens WHERE id = ?1 OR name = ?1)",
            [&id],
            |r| r.get(0),
        )?;
        if taken {
            continue;
        }
        tx.execute(
            "INSERT INTO tokens (id, hash, hint, name, description, env, scopes, allowed_ips, \
             created_at, created_by, expires_at, rotated_from, rate_limit, rate_per) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
            params![
                id,
                &new.hash.0[..],
                new.hint,
                new.name,
                new.description,
                new.env,
                new.scopes.to_string(),
                crate::allowlist::to_text(&new.allowed_ips),
                ts(now),
                actor,
                new.expires_at.map(ts),
                rotated_from,
                new.rate_limit.map(|l| l.requests),
                new.rate_limit.map(|l| l.per.seconds()),
            ],
        )?;
        return Ok(id);
    }
    bail!("could not find an unused token id after {ID_ATTEMPTS} attempts")
}

/// The active tokens named ?1 at ?2: `active_named` (oldest first) and its ids.
const ACTIVE_NAMED: &str = "FROM tokens WHERE name = ?1 AND revoked_at IS NULL \
     AND (expires_at IS NULL OR expires_at > ?2)";

/// The first name among `rows` (one column) that `wanted` accepts.
fn first_wanted(
    mut rows: rusqlite::Rows<'_>,
    wanted: &mut dyn FnMut(&str) -> bool,
) -> Result<Option<String>> {
    while let Some(row) = rows.next()? {
        let name = row.get_ref(0)?.as_str().map_err(rusqlite::Error::from)?;
        if wanted(name) {
            return Ok(Some(name.to_string()));
        }
    }
    Ok(None)
}

fn by_id(conn: &rusqlite::Connection, id: &str) -> anyhow::Result<Option<TokenRecord>> {
    let sql = format!("SELECT {COLUMNS} FROM tokens WHERE id = ?1");
    Ok(conn
        .prepare_cached(&sql)?
        .query_row([id], from_row)
        .optional()?)
}

fn require(conn: &rusqlite::Connection, id: &str) -> anyhow::Result<TokenRecord> {
    by_id(conn, id)?.ok_or_else(|| Error::NotFound(id.to_string()).into())
}

impl Tokens for Sqlite {
    /// Inserts a new token and logs a `create` event.
    fn create_token(
        &mut self,
        new: &NewToken,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<TokenRecord> {
        let mut created = self.create_tokens(std::slice::from_ref(new), actor, now)?;
        Ok(created.pop().expect("one token in, one out"))
    }

    /// Inserts several tokens in one transaction (all or none), each with its `create`
    /// event: for imports and for seeding test and benchmark databases.
    fn create_tokens(
        &mut self,
        new: &[NewToken],
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<Vec<TokenRecord>> {
        let tx = self.write_credentials()?;
        let mut records = Vec::with_capacity(new.len());
        for n in new {
            let id = insert(&tx, n, None, actor, now)?;
            insert_event(&tx, now, actor, "create", Some(&id), &n.create_details())?;
            records.push(require(&tx, &id)?);
        }
        tx.commit()?;
        Ok(records)
    }

    /// What verification needs of the token with this hash: the lookup done for every
    /// request, so it reads only the columns the checks use, through a cached statement.
    fn credential_by_hash(&self, hash: &TokenHash) -> Result<Option<Credential>> {
        const SQL: &str = "SELECT pk, id, name, env, scopes, allowed_ips, expires_at, revoked_at, \
                           suspended_at IS NOT NULL, rate_limit, rate_per, created_at \
                           FROM tokens WHERE hash = ?1";
        Ok(self
            .conn
            .prepare_cached(SQL)?
            .query_row([&hash.0[..]], |r| {
                let text = |i: usize| -> rusqlite::Result<Arc<str>> {
                    Ok(Arc::from(r.get_ref(i)?.as_str()?))
                };
                Ok(Credential {
                    key: r.get(0)?,
                    id: text(1)?,
                    name: text(2)?,
                    env: text(3)?,
                    scopes: text(4)?,
                    scope_set: scopes_at(r, 4)?,
                    allowed_ips: networks_at(r, 5)?,
                    expires_at: r.get::<_, Option<i64>>(6)?.map(from_ts),
                    revoked_at: r.get::<_, Option<i64>>(7)?.map(from_ts),
                    suspended: r.get(8)?,
                    rate_limit: rate_limit_at(r, 9)?,
                    created_at: from_ts(r.get(11)?),
                })
            })
            .optional()?)
    }

    /// The token with this hash, with all its metadata.
    fn find_by_hash(&self, hash: &TokenHash) -> Result<Option<TokenRecord>> {
        let sql = format!("SELECT {COLUMNS} FROM tokens WHERE hash = ?1");
        Ok(self
            .conn
            .prepare_cached(&sql)?
            .query_row([&hash.0[..]], from_row)
            .optional()?)
    }

    /// The token with this public id.
    fn token(&self, id: &str) -> Result<Option<TokenRecord>> {
        Ok(by_id(&self.conn, id)?)
    }

    /// Resolves `ID|NAME` as `show`, `revoke`, `rotate` and `audit` take it. A name shared
    /// by several tokens narrows to the active ones, then to the newest of a rotation chain
    /// (the one not rotated to another); if that still leaves several, it is ambiguous.
    fn resolve(&self, reference: &str, now: DateTime<Utc>) -> Result<TokenRecord> {
        if let Some(t) = self.token(reference)? {
            return Ok(t);
        }
        let sql = format!("SELECT {COLUMNS} FROM tokens WHERE name = ?1 ORDER BY pk");
        let mut stmt = self.conn.prepare_cached(&sql)?;
        let mut found: Vec<TokenRecord> = stmt
            .query_map([reference], from_row)?
            .collect::<rusqlite::Result<_>>()?;
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

    /// Every name in use, once each, in no particular order.
    fn find_name(
        &self,
        ascii_starts: &[u8],
        wanted: &mut dyn FnMut(&str) -> bool,
    ) -> Result<Option<String>> {
        // Ranges of the index on names, which compares UTF-8 bytes: [b, b + 1) for each
        // ASCII start b, then from U+0080 on: the names that begin beyond ASCII.
        let mut in_range = self
            .conn
            .prepare_cached("SELECT DISTINCT name FROM tokens WHERE name >= ?1 AND name < ?2")?;
        for &b in ascii_starts.iter().filter(|b| b.is_ascii()) {
            let from = if b == 0 {
                String::new()
            } else {
                char::from(b).to_string()
            };
            let to = char::from(b + 1).to_string();
            if let Some(found) = first_wanted(in_range.query(params![from, to])?, wanted)? {
                return Ok(Some(found));
            }
        }
        let mut beyond = self
            .conn
            .prepare_cached("SELECT DISTINCT name FROM tokens WHERE name >= ?1")?;
        first_wanted(beyond.query(params!["\u{80}"])?, wanted)
    }

    /// Active tokens with this exact name (for the "already exists" warning).
    fn active_named(&self, name: &str, now: DateTime<Utc>) -> Result<Vec<TokenRecord>> {
        let mut stmt = self
            .conn
            .prepare_cached(&format!("SELECT {COLUMNS} {ACTIVE_NAMED} ORDER BY pk"))?;
        let rows = stmt.query_map(params![name, ts(now)], from_row)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Two statements, not PostgreSQL's one with `count(*) OVER ()`: SQLite answers that
    /// one from a temporary copy of every row, three times slower at 5,000 rows.
    fn active_ids_named(&self, name: &str, now: DateTime<Utc>, newest: u32) -> Result<SameName> {
        let count: i64 = self
            .conn
            .prepare_cached(&format!("SELECT count(*) {ACTIVE_NAMED}"))?
            .query_row(params![name, ts(now)], |r| r.get(0))?;
        if count == 0 {
            return Ok(SameName::default());
        }
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT id {ACTIVE_NAMED} ORDER BY pk DESC LIMIT ?3"
        ))?;
        let ids = stmt.query_map(params![name, ts(now), newest], |r| r.get(0))?;
        let mut newest: Vec<String> = ids.collect::<rusqlite::Result<_>>()?;
        newest.reverse();
        // Read apart, the two may disagree (a token revoked or created in between): no
        // count without ids, nor fewer counted than named.
        if newest.is_empty() {
            return Ok(SameName::default());
        }
        Ok(SameName {
            count: u64::try_from(count)
                .unwrap_or_default()
                .max(newest.len() as u64),
            newest,
        })
    }

    /// Tokens matching `filter`, oldest first.
    fn each_token(
        &self,
        filter: &TokenFilter,
        now: DateTime<Utc>,
        each: &mut dyn FnMut(TokenRecord) -> Result<()>,
    ) -> Result<()> {
        let mut sql = format!("SELECT {COLUMNS} FROM tokens WHERE 1");
        let mut values: Vec<rusqlite::types::Value> = Vec::new();
        let mut clause = |text: &str, value: Option<rusqlite::types::Value>| {
            sql.push_str(" AND ");
            sql.push_str(text);
            values.extend(value);
        };
        match filter.status {
            None => {}
            Some(Status::Active) => clause(
                "revoked_at IS NULL AND (expires_at IS NULL OR expires_at > ?)",
                Some(ts(now).into()),
            ),
            Some(Status::Rotating) => clause(
                "revoked_at IS NULL AND rotated_to IS NOT NULL AND suspended_at IS NULL \
                 AND (expires_at IS NULL OR expires_at > ?)",
                Some(ts(now).into()),
            ),
            Some(Status::Suspended) => clause(
                "revoked_at IS NULL AND suspended_at IS NOT NULL \
                 AND (expires_at IS NULL OR expires_at > ?)",
                Some(ts(now).into()),
            ),
            Some(Status::Expired) => clause(
                "revoked_at IS NULL AND expires_at <= ?",
                Some(ts(now).into()),
            ),
            Some(Status::Revoked) => clause("revoked_at IS NOT NULL", None),
        }
        if let Some(env) = &filter.env {
            clause("env = ?", Some(env.clone().into()));
        }
        if let Some(before) = filter.expiring_before {
            // A rotated token's expiry is the end of its grace period, which needs no
            // attention: its successor is the one to watch.
            clause(
                "expires_at < ? AND rotated_to IS NULL",
                Some(ts(before).into()),
            );
        }
        if let Some(since) = filter.unused_since {
            clause(
                "coalesce(last_used_at, created_at) < ?",
                Some(ts(since).into()),
            );
        }
        sql.push_str(" ORDER BY created_at, pk");
        let mut stmt = self.conn.prepare(&sql)?;
        for record in stmt.query_map(rusqlite::params_from_iter(values), from_row)? {
            each(record?)?;
        }
        Ok(())
    }

    /// Revokes several tokens in one transaction: all of them, or (on any error) none.
    /// Each is reported as revoked or as already revoked, in the order given. Written
    /// even on a full disk, through the space reserve (see `write_despite_full_disk`).
    fn revoke_tokens(
        &mut self,
        ids: &[&str],
        reason: Option<&str>,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<Vec<Revocation>> {
        let done = self.write_despite_full_disk(|tx| {
            let mut done = Vec::with_capacity(ids.len());
            for &id in ids {
                let current = require(tx, id)?;
                if current.revoked_at.is_some() {
                    done.push(Revocation::AlreadyRevoked(current));
                    continue;
                }
                tx.execute(
                    "UPDATE tokens SET revoked_at = ?2, revoke_reason = ?3 WHERE id = ?1",
                    params![id, ts(now), reason],
                )?;
                insert_event(
                    tx,
                    now,
                    actor,
                    "revoke",
                    Some(id),
                    &json!({ "reason": reason }),
                )?;
                done.push(Revocation::Revoked(require(tx, id)?));
            }
            Ok(done)
        })?;
        Ok(done)
    }

    /// Every token of `id`'s rotation chain (the tokens it was rotated from and to, and
    /// theirs), oldest first; `id` itself included.
    fn rotation_chain(&self, id: &str) -> Result<Vec<TokenRecord>> {
        let start = require(&self.conn, id)?;
        // Links are only ever written by `rotate_token`, but a damaged file could hold a
        // loop: never follow an id twice.
        let mut seen = std::collections::HashSet::from([start.id.clone()]);
        let mut follow = |link: Option<String>| -> anyhow::Result<Option<TokenRecord>> {
            match link {
                Some(id) if seen.insert(id.clone()) => Ok(Some(require(&self.conn, &id)?)),
                _ => Ok(None),
            }
        };
        let mut chain = Vec::new();
        let mut from = follow(start.rotated_from.clone())?;
        while let Some(t) = from {
            from = follow(t.rotated_from.clone())?;
            chain.push(t);
        }
        chain.reverse();
        let mut to = follow(start.rotated_to.clone())?;
        chain.push(start);
        while let Some(t) = to {
            to = follow(t.rotated_to.clone())?;
            chain.push(t);
        }
        Ok(chain)
    }

    /// Issues `new` as the successor of `old_id` and ends the old token as `end` says.
    /// Returns the new token and the old one as they are afterwards.
    fn rotate_token(
        &mut self,
        old_id: &str,
        new: &NewToken,
        end: OldTokenEnd,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<(TokenRecord, TokenRecord)> {
        let rotate = |tx: &rusqlite::Transaction<'_>| rotate_in(tx, old_id, new, end, actor, now);
        let both = match end {
            // The old token must stop now: as sure to be written as a revocation.
            OldTokenEnd::RevokedNow => self.write_despite_full_disk(rotate)?,
            OldTokenEnd::ExpiresAt(_) => {
                let tx = self.write_credentials()?;
                let both = rotate(&tx)?;
                tx.commit()
                    .context("could not commit the rotation; nothing was changed")?;
                both
            }
        };
        Ok(both)
    }

    /// Written even on a full disk, as a revocation is: suspending is how an incident
    /// is stopped while it is looked into.
    fn suspend_tokens(
        &mut self,
        ids: &[&str],
        reason: Option<&str>,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<Vec<TokenChange>> {
        let done = self.write_despite_full_disk(|tx| {
            change_all_in(tx, ids, "be suspended", actor, now, |t| {
                if t.suspended_at.is_some() {
                    return Ok(None);
                }
                tx.execute(
                    "UPDATE tokens SET suspended_at = ?2, suspend_reason = ?3 WHERE id = ?1",
                    params![t.id, ts(now), reason],
                )?;
                Ok(Some(("suspend", json!({ "reason": reason }))))
            })
        })?;
        Ok(done)
    }

    fn resume_tokens(
        &mut self,
        ids: &[&str],
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<Vec<TokenChange>> {
        self.change_tokens(ids, "be resumed", actor, now, |tx, t| {
            if t.suspended_at.is_none() {
                return Ok(None);
            }
            tx.execute(
                "UPDATE tokens SET suspended_at = NULL, suspend_reason = NULL WHERE id = ?1",
                [&t.id],
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
        let mut done =
            self.change_tokens(&[id], "be given a rate limit", actor, now, |tx, t| {
                if t.rate_limit == limit {
                    return Ok(None);
                }
                tx.execute(
                    "UPDATE tokens SET rate_limit = ?2, rate_per = ?3 WHERE id = ?1",
                    params![
                        id,
                        limit.map(|l| l.requests),
                        limit.map(|l| l.per.seconds())
                    ],
                )?;
                let shown = |l: Option<RateLimit>| l.map(|l| l.to_string());
                let details = json!({ "from": shown(t.rate_limit), "to": shown(limit) });
                Ok(Some(("rate_limit", details)))
            })?;
        Ok(done.pop().expect("one token in, one out"))
    }

    fn prune_tokens(
        &mut self,
        before: DateTime<Utc>,
        dry_run: bool,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<PrunedTokens> {
        let cutoff = ts(before);
        let count = |each: &[(String, u64, u64)]| PrunedTokens {
            ids: each.iter().map(|(id, ..)| id.clone()).collect(),
            usage_rows: each.iter().map(|&(_, rows, _)| rows).sum(),
            uses: each.iter().map(|&(.., uses)| uses).sum(),
        };
        if dry_run {
            // A read: no write lock, and no change signal for servers to act on.
            let tx = self.conn.unchecked_transaction()?;
            return Ok(count(&ended_before(&tx, cutoff)?));
        }
        let tx = self.write_credentials()?;
        let each = ended_before(&tx, cutoff)?;
        let pruned = count(&each);
        if each.is_empty() {
            return Ok(pruned);
        }
        for sql in [
            "UPDATE tokens SET rotated_from = NULL WHERE rotated_from IN (SELECT id FROM tokens WHERE {ended})",
            "UPDATE tokens SET rotated_to = NULL WHERE rotated_to IN (SELECT id FROM tokens WHERE {ended})",
            "DELETE FROM usage WHERE token_pk IN (SELECT pk FROM tokens WHERE {ended})",
            "DELETE FROM token_ips WHERE token_pk IN (SELECT pk FROM tokens WHERE {ended})",
            "DELETE FROM token_days WHERE token_pk IN (SELECT pk FROM tokens WHERE {ended})",
            "DELETE FROM token_recent WHERE token_pk IN (SELECT pk FROM tokens WHERE {ended})",
            "DELETE FROM tokens WHERE {ended}",
        ] {
            tx.execute(
                &sql.replace("{ended}", ENDED_BEFORE),
                &[(":cutoff", &cutoff)],
            )?;
        }
        for (id, rows, uses) in &each {
            let details =
                json!({ "before": rfc3339_text(before), "usage_rows": rows, "uses": uses });
            insert_event(&tx, now, actor, "prune", Some(id), &details)?;
        }
        tx.commit()?;
        Ok(pruned)
    }
}

/// A change to one token, as `update` decides it on the token as it is under the write
/// lock: the statement it ran and its event (action and details), or `None` for
/// nothing to do.
type Update = anyhow::Result<Option<(&'static str, serde_json::Value)>>;

impl Sqlite {
    /// Runs `update` on each of the tokens `ids` in one write transaction, all or none,
    /// and logs their events; the revision moves when something changed. `change` says
    /// what was refused of a revoked or expired token ("be resumed").
    fn change_tokens(
        &mut self,
        ids: &[&str],
        change: &str,
        actor: &str,
        now: DateTime<Utc>,
        update: impl Fn(&rusqlite::Transaction<'_>, &TokenRecord) -> Update,
    ) -> Result<Vec<TokenChange>> {
        let tx = self.write_credentials()?;
        let done = change_all_in(&tx, ids, change, actor, now, |t| update(&tx, t))?;
        tx.commit()?;
        Ok(done)
    }
}

/// Each of the tokens `ids` under the write lock, refused if revoked or expired, then
/// `update`d, its event logged and read as it is now: in the order given.
fn change_all_in(
    tx: &rusqlite::Transaction<'_>,
    ids: &[&str],
    change: &str,
    actor: &str,
    now: DateTime<Utc>,
    update: impl Fn(&TokenRecord) -> Update,
) -> anyhow::Result<Vec<TokenChange>> {
    let mut changes = Vec::with_capacity(ids.len());
    for &id in ids {
        let current = require(tx, id)?;
        current.check_live(change, now)?;
        let done = update(&current)?;
        let changed = done.is_some();
        if let Some((action, details)) = done {
            insert_event(tx, now, actor, action, Some(id), &details)?;
        }
        changes.push(TokenChange {
            token: require(tx, id)?,
            changed,
        });
    }
    Ok(changes)
}

/// Tokens revoked before `:cutoff`, or expired (not revoked) before it.
const ENDED_BEFORE: &str =
    "(revoked_at < :cutoff OR (revoked_at IS NULL AND expires_at < :cutoff))";

/// The tokens [`ENDED_BEFORE`] `cutoff`, oldest first: id, usage rows and uses of each.
fn ended_before(
    tx: &rusqlite::Transaction<'_>,
    cutoff: i64,
) -> rusqlite::Result<Vec<(String, u64, u64)>> {
    let sql = format!(
        "SELECT t.id, count(u.token_pk), coalesce(sum(u.allowed + u.denied), 0) \
         FROM tokens t LEFT JOIN usage u ON u.token_pk = t.pk \
         WHERE {ENDED_BEFORE} GROUP BY t.pk ORDER BY t.pk"
    );
    tx.prepare(&sql)?
        .query_map(&[(":cutoff", &cutoff)], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })?
        .collect()
}

/// The rotation's changes, inside the caller's transaction: the new token, the old one's
/// end, their events. Returns both as they are afterwards.
fn rotate_in(
    tx: &rusqlite::Transaction<'_>,
    old_id: &str,
    new: &NewToken,
    end: OldTokenEnd,
    actor: &str,
    now: DateTime<Utc>,
) -> anyhow::Result<(TokenRecord, TokenRecord)> {
    let old = require(tx, old_id)?;
    old.check_rotatable()?;
    let new_id = insert(tx, new, Some(old_id), actor, now)?;
    let details = match end {
        OldTokenEnd::RevokedNow => {
            tx.execute(
                "UPDATE tokens SET rotated_to = ?2, revoked_at = ?3, revoke_reason = 'rotated' \
                     WHERE id = ?1",
                params![old_id, new_id, ts(now)],
            )?;
            json!({ "to": new_id, "revoked": true })
        }
        OldTokenEnd::ExpiresAt(at) => {
            let at = old.expires_at.map_or(at, |e| e.min(at));
            tx.execute(
                "UPDATE tokens SET rotated_to = ?2, expires_at = ?3 WHERE id = ?1",
                params![old_id, new_id, ts(at)],
            )?;
            json!({ "to": new_id, "expires_at": rfc3339_text(at) })
        }
    };
    insert_event(tx, now, actor, "rotate", Some(old_id), &details)?;
    insert_event(
        tx,
        now,
        actor,
        "create",
        Some(&new_id),
        &json!({
            "name": new.name,
            "env": new.env,
            "scopes": new.scopes,
            "expires_at": new.expires_at.map(rfc3339_text),
            "rotated_from": old_id,
        }),
    )?;
    let new_record = require(tx, &new_id)?;
    let old_record = require(tx, old_id)?;
    Ok((new_record, old_record))
}
