//! The schema, as an append-only list of migrations over `PRAGMA user_version`.
//!
//! Never edit or reorder a migration that has shipped: databases in the field already ran
//! it. Add a new one at the end. A test pins the text of every migration.

/// `PRAGMA application_id`: "tokc". Tells a tokenctl database from any other SQLite file.
pub const APPLICATION_ID: i32 = 0x746f_6b63;

pub const MIGRATIONS: &[&str] = &[
    // 1: tokens, settings, admin event log.
    "
    CREATE TABLE settings (
        key   TEXT PRIMARY KEY,
        value TEXT NOT NULL
    ) STRICT;

    CREATE TABLE tokens (
        pk            INTEGER PRIMARY KEY,
        id            TEXT NOT NULL UNIQUE,
        hash          BLOB NOT NULL UNIQUE CHECK (length(hash) = 32),
        hint          TEXT NOT NULL,
        name          TEXT NOT NULL,
        description   TEXT,
        env           TEXT NOT NULL,
        scopes        TEXT NOT NULL,
        allowed_ips   TEXT NOT NULL DEFAULT '',
        created_at    INTEGER NOT NULL,
        created_by    TEXT NOT NULL,
        expires_at    INTEGER,
        revoked_at    INTEGER,
        revoke_reason TEXT,
        rotated_from  TEXT REFERENCES tokens(id),
        rotated_to    TEXT REFERENCES tokens(id),
        last_used_at  INTEGER,
        last_used_ip  TEXT
    ) STRICT;
    CREATE INDEX tokens_name ON tokens(name);

    CREATE TABLE events (
        seq      INTEGER PRIMARY KEY,
        at       INTEGER NOT NULL,
        actor    TEXT NOT NULL,
        action   TEXT NOT NULL,
        token_id TEXT REFERENCES tokens(id),
        details  TEXT NOT NULL DEFAULT '{}'
    ) STRICT;
    CREATE INDEX events_token ON events(token_id, seq);
    ",
    // 2: usage counters per token, hour and source IP; first/last sighting per token and
    // IP; uses of tokens this database does not know.
    "
    CREATE TABLE usage (
        token_pk   INTEGER NOT NULL REFERENCES tokens(pk),
        hour       INTEGER NOT NULL,
        ip         TEXT NOT NULL,
        allowed    INTEGER NOT NULL,
        denied     INTEGER NOT NULL,
        first_seen INTEGER NOT NULL,
        last_seen  INTEGER NOT NULL,
        PRIMARY KEY (token_pk, hour, ip)
    ) STRICT, WITHOUT ROWID;
    CREATE INDEX usage_by_hour ON usage(hour);

    CREATE TABLE token_ips (
        token_pk   INTEGER NOT NULL REFERENCES tokens(pk),
        ip         TEXT NOT NULL,
        first_seen INTEGER NOT NULL,
        last_seen  INTEGER NOT NULL,
        PRIMARY KEY (token_pk, ip)
    ) STRICT, WITHOUT ROWID;

    CREATE TABLE stranger_usage (
        hour       INTEGER NOT NULL,
        ip         TEXT NOT NULL,
        kind       TEXT NOT NULL CHECK (kind IN ('unknown', 'malformed')),
        count      INTEGER NOT NULL,
        first_seen INTEGER NOT NULL,
        last_seen  INTEGER NOT NULL,
        PRIMARY KEY (hour, ip, kind)
    ) STRICT, WITHOUT ROWID;
    ",
    // 3: `list` reads tokens in creation order from an index instead of sorting them.
    "
    CREATE INDEX tokens_created ON tokens(created_at);
    ",
    // 4: denied uses of a token that had been revoked or had expired (`DENIED_USE`), apart
    // from the hour's other denials. Rows written before only know that they were denied:
    // those seen after the token's end are counted as such, as the flag did until now.
    "
    ALTER TABLE usage ADD COLUMN ended INTEGER NOT NULL DEFAULT 0;
    UPDATE usage SET ended = denied
     WHERE denied > 0
       AND last_seen >= (SELECT coalesce(t.revoked_at, t.expires_at) FROM tokens t
                          WHERE t.pk = usage.token_pk);
    ",
    // 5: per token and UTC day, the running totals of the days before it (pruned ones
    // too), and its uses up to and including each of its 24 hours, summed over source IPs:
    // a window from any hour on is the latest running total less the one at its first
    // hour, two columns of one row, so `list` and `audit` read a few rows per token, all of
    // its last month in a page or two, whatever the history. Per token and IP, the last
    // sighting among the rows `usage` still holds (NULL once pruned): the IPs with use in
    // a window are those last kept in it. Written by the transaction that writes the
    // `usage` rows they sum.
    "
    CREATE TABLE token_days (
        token_pk       INTEGER NOT NULL REFERENCES tokens(pk),
        day            INTEGER NOT NULL,
        allowed_before INTEGER NOT NULL,
        denied_before  INTEGER NOT NULL,
        allowed_to_0  INTEGER NOT NULL DEFAULT 0,
        allowed_to_1  INTEGER NOT NULL DEFAULT 0,
        allowed_to_2  INTEGER NOT NULL DEFAULT 0,
        allowed_to_3  INTEGER NOT NULL DEFAULT 0,
        allowed_to_4  INTEGER NOT NULL DEFAULT 0,
        allowed_to_5  INTEGER NOT NULL DEFAULT 0,
        allowed_to_6  INTEGER NOT NULL DEFAULT 0,
        allowed_to_7  INTEGER NOT NULL DEFAULT 0,
        allowed_to_8  INTEGER NOT NULL DEFAULT 0,
        allowed_to_9  INTEGER NOT NULL DEFAULT 0,
        allowed_to_10 INTEGER NOT NULL DEFAULT 0,
        allowed_to_11 INTEGER NOT NULL DEFAULT 0,
        allowed_to_12 INTEGER NOT NULL DEFAULT 0,
        allowed_to_13 INTEGER NOT NULL DEFAULT 0,
        allowed_to_14 INTEGER NOT NULL DEFAULT 0,
        allowed_to_15 INTEGER NOT NULL DEFAULT 0,
        allowed_to_16 INTEGER NOT NULL DEFAULT 0,
        allowed_to_17 INTEGER NOT NULL DEFAULT 0,
        allowed_to_18 INTEGER NOT NULL DEFAULT 0,
        allowed_to_19 INTEGER NOT NULL DEFAULT 0,
        allowed_to_20 INTEGER NOT NULL DEFAULT 0,
        allowed_to_21 INTEGER NOT NULL DEFAULT 0,
        allowed_to_22 INTEGER NOT NULL DEFAULT 0,
        allowed_to_23 INTEGER NOT NULL DEFAULT 0,
        denied_to_0   INTEGER NOT NULL DEFAULT 0,
        denied_to_1   INTEGER NOT NULL DEFAULT 0,
        denied_to_2   INTEGER NOT NULL DEFAULT 0,
        denied_to_3   INTEGER NOT NULL DEFAULT 0,
        denied_to_4   INTEGER NOT NULL DEFAULT 0,
        denied_to_5   INTEGER NOT NULL DEFAULT 0,
        denied_to_6   INTEGER NOT NULL DEFAULT 0,
        denied_to_7   INTEGER NOT NULL DEFAULT 0,
        denied_to_8   INTEGER NOT NULL DEFAULT 0,
        denied_to_9   INTEGER NOT NULL DEFAULT 0,
        denied_to_10  INTEGER NOT NULL DEFAULT 0,
        denied_to_11  INTEGER NOT NULL DEFAULT 0,
        denied_to_12  INTEGER NOT NULL DEFAULT 0,
        denied_to_13  INTEGER NOT NULL DEFAULT 0,
        denied_to_14  INTEGER NOT NULL DEFAULT 0,
        denied_to_15  INTEGER NOT NULL DEFAULT 0,
        denied_to_16  INTEGER NOT NULL DEFAULT 0,
        denied_to_17  INTEGER NOT NULL DEFAULT 0,
        denied_to_18  INTEGER NOT NULL DEFAULT 0,
        denied_to_19  INTEGER NOT NULL DEFAULT 0,
        denied_to_20  INTEGER NOT NULL DEFAULT 0,
        denied_to_21  INTEGER NOT NULL DEFAULT 0,
        denied_to_22  INTEGER NOT NULL DEFAULT 0,
        denied_to_23  INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (token_pk, day)
    ) STRICT, WITHOUT ROWID;
    INSERT INTO token_days (token_pk, day, allowed_before, denied_before,
        allowed_to_0, allowed_to_1, allowed_to_2, allowed_to_3, allowed_to_4,
        allowed_to_5, allowed_to_6, allowed_to_7, allowed_to_8, allowed_to_9,
        allowed_to_10, allowed_to_11, allowed_to_12, allowed_to_13, allowed_to_14,
        allowed_to_15, allowed_to_16, allowed_to_17, allowed_to_18, allowed_to_19,
        allowed_to_20, allowed_to_21, allowed_to_22, allowed_to_23,
        denied_to_0, denied_to_1, denied_to_2, denied_to_3, denied_to_4, denied_to_5,
        denied_to_6, denied_to_7, denied_to_8, denied_to_9, denied_to_10, denied_to_11,
        denied_to_12, denied_to_13, denied_to_14, denied_to_15, denied_to_16,
        denied_to_17, denied_to_18, denied_to_19, denied_to_20, denied_to_21,
        denied_to_22, denied_to_23)
    SELECT token_pk, day,
           coalesce(sum(allowed_to_23) OVER earlier, 0), coalesce(sum(denied_to_23) OVER earlier, 0),
           allowed_to_0, allowed_to_1, allowed_to_2, allowed_to_3, allowed_to_4,
           allowed_to_5, allowed_to_6, allowed_to_7, allowed_to_8, allowed_to_9,
           allowed_to_10, allowed_to_11, allowed_to_12, allowed_to_13, allowed_to_14,
           allowed_to_15, allowed_to_16, allowed_to_17, allowed_to_18, allowed_to_19,
           allowed_to_20, allowed_to_21, allowed_to_22, allowed_to_23,
           denied_to_0, denied_to_1, denied_to_2, denied_to_3, denied_to_4, denied_to_5,
           denied_to_6, denied_to_7, denied_to_8, denied_to_9, denied_to_10,
           denied_to_11, denied_to_12, denied_to_13, denied_to_14, denied_to_15,
           denied_to_16, denied_to_17, denied_to_18, denied_to_19, denied_to_20,
           denied_to_21, denied_to_22, denied_to_23
      FROM (SELECT token_pk, hour / 24 AS day,
             sum(CASE WHEN hour % 24 <= 0 THEN allowed ELSE 0 END) AS allowed_to_0,
             sum(CASE WHEN hour % 24 <= 1 THEN allowed ELSE 0 END) AS allowed_to_1,
             sum(CASE WHEN hour % 24 <= 2 THEN allowed ELSE 0 END) AS allowed_to_2,
             sum(CASE WHEN hour % 24 <= 3 THEN allowed ELSE 0 END) AS allowed_to_3,
             sum(CASE WHEN hour % 24 <= 4 THEN allowed ELSE 0 END) AS allowed_to_4,
             sum(CASE WHEN hour % 24 <= 5 THEN allowed ELSE 0 END) AS allowed_to_5,
             sum(CASE WHEN hour % 24 <= 6 THEN allowed ELSE 0 END) AS allowed_to_6,
             sum(CASE WHEN hour % 24 <= 7 THEN allowed ELSE 0 END) AS allowed_to_7,
             sum(CASE WHEN hour % 24 <= 8 THEN allowed ELSE 0 END) AS allowed_to_8,
             sum(CASE WHEN hour % 24 <= 9 THEN allowed ELSE 0 END) AS allowed_to_9,
             sum(CASE WHEN hour % 24 <= 10 THEN allowed ELSE 0 END) AS allowed_to_10,
             sum(CASE WHEN hour % 24 <= 11 THEN allowed ELSE 0 END) AS allowed_to_11,
             sum(CASE WHEN hour % 24 <= 12 THEN allowed ELSE 0 END) AS allowed_to_12,
             sum(CASE WHEN hour % 24 <= 13 THEN allowed ELSE 0 END) AS allowed_to_13,
             sum(CASE WHEN hour % 24 <= 14 THEN allowed ELSE 0 END) AS allowed_to_14,
             sum(CASE WHEN hour % 24 <= 15 THEN allowed ELSE 0 END) AS allowed_to_15,
             sum(CASE WHEN hour % 24 <= 16 THEN allowed ELSE 0 END) AS allowed_to_16,
             sum(CASE WHEN hour % 24 <= 17 THEN allowed ELSE 0 END) AS allowed_to_17,
             sum(CASE WHEN hour % 24 <= 18 THEN allowed ELSE 0 END) AS allowed_to_18,
             sum(CASE WHEN hour % 24 <= 19 THEN allowed ELSE 0 END) AS allowed_to_19,
             sum(CASE WHEN hour % 24 <= 20 THEN allowed ELSE 0 END) AS allowed_to_20,
             sum(CASE WHEN hour % 24 <= 21 THEN allowed ELSE 0 END) AS allowed_to_21,
             sum(CASE WHEN hour % 24 <= 22 THEN allowed ELSE 0 END) AS allowed_to_22,
             sum(CASE WHEN hour % 24 <= 23 THEN allowed ELSE 0 END) AS allowed_to_23,
             sum(CASE WHEN hour % 24 <= 0 THEN denied ELSE 0 END) AS denied_to_0,
             sum(CASE WHEN hour % 24 <= 1 THEN denied ELSE 0 END) AS denied_to_1,
             sum(CASE WHEN hour % 24 <= 2 THEN denied ELSE 0 END) AS denied_to_2,
             sum(CASE WHEN hour % 24 <= 3 THEN denied ELSE 0 END) AS denied_to_3,
             sum(CASE WHEN hour % 24 <= 4 THEN denied ELSE 0 END) AS denied_to_4,
             sum(CASE WHEN hour % 24 <= 5 THEN denied ELSE 0 END) AS denied_to_5,
             sum(CASE WHEN hour % 24 <= 6 THEN denied ELSE 0 END) AS denied_to_6,
             sum(CASE WHEN hour % 24 <= 7 THEN denied ELSE 0 END) AS denied_to_7,
             sum(CASE WHEN hour % 24 <= 8 THEN denied ELSE 0 END) AS denied_to_8,
             sum(CASE WHEN hour % 24 <= 9 THEN denied ELSE 0 END) AS denied_to_9,
             sum(CASE WHEN hour % 24 <= 10 THEN denied ELSE 0 END) AS denied_to_10,
             sum(CASE WHEN hour % 24 <= 11 THEN denied ELSE 0 END) AS denied_to_11,
             sum(CASE WHEN hour % 24 <= 12 THEN denied ELSE 0 END) AS denied_to_12,
             sum(CASE WHEN hour % 24 <= 13 THEN denied ELSE 0 END) AS denied_to_13,
             sum(CASE WHEN hour % 24 <= 14 THEN denied ELSE 0 END) AS denied_to_14,
             sum(CASE WHEN hour % 24 <= 15 THEN denied ELSE 0 END) AS denied_to_15,
             sum(CASE WHEN hour % 24 <= 16 THEN denied ELSE 0 END) AS denied_to_16,
             sum(CASE WHEN hour % 24 <= 17 THEN denied ELSE 0 END) AS denied_to_17,
             sum(CASE WHEN hour % 24 <= 18 THEN denied ELSE 0 END) AS denied_to_18,
             sum(CASE WHEN hour % 24 <= 19 THEN denied ELSE 0 END) AS denied_to_19,
             sum(CASE WHEN hour % 24 <= 20 THEN denied ELSE 0 END) AS denied_to_20,
             sum(CASE WHEN hour % 24 <= 21 THEN denied ELSE 0 END) AS denied_to_21,
             sum(CASE WHEN hour % 24 <= 22 THEN denied ELSE 0 END) AS denied_to_22,
             sum(CASE WHEN hour % 24 <= 23 THEN denied ELSE 0 END) AS denied_to_23
              FROM usage GROUP BY token_pk, hour / 24)
    WINDOW earlier AS (PARTITION BY token_pk ORDER BY day ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING);

    ALTER TABLE token_ips ADD COLUMN last_kept INTEGER;
    UPDATE token_ips SET last_kept = kept.last_seen
      FROM (SELECT token_pk, ip, max(last_seen) AS last_seen FROM usage GROUP BY token_pk, ip) AS kept
     WHERE token_ips.token_pk = kept.token_pk AND token_ips.ip = kept.ip;
    ",
    // 6: the event log outlives the tokens it names (`prune --tokens` deletes old tokens
    // and keeps their events): `token_id` no longer references `tokens`. `events` is
    // nobody's parent, so it can be rebuilt with foreign keys on.
    "
    CREATE TABLE events_kept (
        seq      INTEGER PRIMARY KEY,
        at       INTEGER NOT NULL,
        actor    TEXT NOT NULL,
        action   TEXT NOT NULL,
        token_id TEXT,
        details  TEXT NOT NULL DEFAULT '{}'
    ) STRICT;
    INSERT INTO events_kept (seq, at, actor, action, token_id, details)
    SELECT seq, at, actor, action, token_id, details FROM events;
    DROP TABLE events;
    ALTER TABLE events_kept RENAME TO events;
    CREATE INDEX events_token ON events(token_id, seq);
    ",
    // 7: per token, its allowed and denied uses in each hour of the 32 UTC days up to the
    // latest day it was used on, in one row (a blob of varints, see `token_recent`):
    // `list`'s and `audit`'s windows and `SPIKE` read a row per token instead of a month of
    // `token_days`. Written by the transaction that writes the `usage` rows it sums; filled
    // from them by `after` below.
    "
    CREATE TABLE token_recent (
        token_pk INTEGER PRIMARY KEY REFERENCES tokens(pk),
        latest   INTEGER NOT NULL,
        hours    BLOB NOT NULL
    ) STRICT;
    ",
    // 8: suspension (a token refused until resumed, its expiry running on) and rate limits
    // (at most `rate_limit` requests per `rate_per` seconds: 1, 60 or 3600); uses refused
    // for being over the limit, counted apart within `denied` and found through a partial
    // index, so that `audit` reads only the hours that had any.
    "
    ALTER TABLE tokens ADD COLUMN suspended_at INTEGER;
    ALTER TABLE tokens ADD COLUMN suspend_reason TEXT;
    ALTER TABLE tokens ADD COLUMN rate_limit INTEGER CHECK (rate_limit > 0);
    ALTER TABLE tokens ADD COLUMN rate_per INTEGER CHECK (
        CASE WHEN rate_per IS NULL THEN rate_limit IS NULL
             ELSE rate_per IN (1, 60, 3600) AND rate_limit IS NOT NULL END);
    ALTER TABLE usage ADD COLUMN limited INTEGER NOT NULL DEFAULT 0;
    CREATE INDEX usage_limited ON usage(hour) WHERE limited > 0;
    ",
    // 9: the credentials' revision, moved by triggers in the same transaction as any
    // change to what a verifier reads of a token, whoever writes it (the sqlite3 shell
    // included; recording usage, which only moves last_used_*, does not). A new random
    // value each time, so that equal values mean the same credentials even across a
    // restore from a backup.
    "
    CREATE TABLE credentials_revision (
        only  INTEGER PRIMARY KEY CHECK (only = 0),
        value INTEGER NOT NULL
    ) STRICT;
    INSERT INTO credentials_revision (only, value) VALUES (0, random());
    CREATE TRIGGER tokens_inserted AFTER INSERT ON tokens
    BEGIN UPDATE credentials_revision SET value = random(); END;
    CREATE TRIGGER tokens_deleted AFTER DELETE ON tokens
    BEGIN UPDATE credentials_revision SET value = random(); END;
    CREATE TRIGGER tokens_changed AFTER UPDATE OF
        pk, id, hash, hint, name, description, env, scopes, allowed_ips, created_at,
        created_by, expires_at, revoked_at, revoke_reason, rotated_from, rotated_to,
        suspended_at, suspend_reason, rate_limit, rate_per
    ON tokens
    BEGIN UPDATE credentials_revision SET value = random(); END;
    ",
];

/// What a migration needs beyond its SQL, run in its transaction right after it: the
/// summaries whose encoding SQL cannot write, built from the raw rows.
pub(super) fn after(tx: &rusqlite::Connection, version: usize) -> rusqlite::Result<()> {
    match version {
        7 => super::token_recent::build(tx),
        _ => Ok(()),
    }
}

/// The schema version this build writes and understands.
pub fn latest() -> i64 {
    MIGRATIONS.len() as i64
}
