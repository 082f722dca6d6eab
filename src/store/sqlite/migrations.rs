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
];

/// The schema version this build writes and understands.
pub fn latest() -> i64 {
    MIGRATIONS.len() as i64
}
