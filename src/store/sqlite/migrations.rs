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
    // 5: per token and hour, the uses summed over source IPs, and the running totals up to
    // and including that hour (pruned hours too): a window's uses are a difference of two
    // running totals, so `list` and `audit` read two rows per token whatever the history.
    // Per token and IP, the last sighting among the rows `usage` still holds (NULL once
    // pruned): the IPs with use in a window are those last kept in it. Written by the
    // transaction that writes the `usage` rows they sum.
    "
    CREATE TABLE token_hours (
        token_pk        INTEGER NOT NULL REFERENCES tokens(pk),
        hour            INTEGER NOT NULL,
        allowed         INTEGER NOT NULL,
        denied          INTEGER NOT NULL,
        allowed_through INTEGER NOT NULL,
        denied_through  INTEGER NOT NULL,
        PRIMARY KEY (token_pk, hour)
    ) STRICT, WITHOUT ROWID;
    INSERT INTO token_hours (token_pk, hour, allowed, denied, allowed_through, denied_through)
    SELECT token_pk, hour, allowed, denied,
           sum(allowed) OVER running, sum(denied) OVER running
      FROM (SELECT token_pk, hour, sum(allowed) AS allowed, sum(denied) AS denied
              FROM usage GROUP BY token_pk, hour)
    WINDOW running AS (PARTITION BY token_pk ORDER BY hour ROWS UNBOUNDED PRECEDING);

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
];

/// The schema version this build writes and understands.
pub fn latest() -> i64 {
    MIGRATIONS.len() as i64
}
