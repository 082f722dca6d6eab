//! The PostgreSQL schema, as an append-only list of migrations inside the dedicated
//! schema `tokenctl`; `meta.version` counts those applied.
//!
//! Never edit or reorder a migration that has shipped: databases in the field already ran
//! it. Add a new one at the end. Timestamps are seconds since the epoch, as in the SQLite
//! backend, so that both compute the same windows and print the same times.

/// Tells tokenctl's `meta` table from another application's table of that name.
pub const APPLICATION: &str = "tokenctl";

pub const MIGRATIONS: &[&str] = &[
    // 1: the identity and revision row; tokens, settings, admin event log; usage counters
    // per token, hour and source IP, first/last sighting per token and IP, uses of tokens
    // this database does not know.
    "
    CREATE TABLE meta (
        singleton   BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (singleton),
        application TEXT NOT NULL,
        version     BIGINT NOT NULL,
        instance    TEXT NOT NULL,
        revision    BIGINT NOT NULL DEFAULT 0
    );

    CREATE TABLE settings (
        key   TEXT PRIMARY KEY,
        value TEXT NOT NULL
    );

    CREATE TABLE tokens (
        pk            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        id            TEXT NOT NULL UNIQUE,
        hash          BYTEA NOT NULL UNIQUE CHECK (length(hash) = 32),
        hint          TEXT NOT NULL,
        name          TEXT NOT NULL,
        description   TEXT,
        env           TEXT NOT NULL,
        scopes        TEXT NOT NULL,
        allowed_ips   TEXT NOT NULL DEFAULT '',
        created_at    BIGINT NOT NULL,
        created_by    TEXT NOT NULL,
        expires_at    BIGINT,
        revoked_at    BIGINT,
        revoke_reason TEXT,
        rotated_from  TEXT REFERENCES tokens(id),
        rotated_to    TEXT REFERENCES tokens(id),
        last_used_at  BIGINT,
        last_used_ip  TEXT
    );
    CREATE INDEX tokens_name ON tokens(name);
    CREATE INDEX tokens_created ON tokens(created_at);

    CREATE TABLE events (
        seq      BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        at       BIGINT NOT NULL,
        actor    TEXT NOT NULL,
        action   TEXT NOT NULL,
        token_id TEXT REFERENCES tokens(id),
        details  TEXT NOT NULL DEFAULT '{}'
    );
    CREATE INDEX events_token ON events(token_id, seq);

    CREATE TABLE usage (
        token_pk   BIGINT NOT NULL REFERENCES tokens(pk),
        hour       BIGINT NOT NULL,
        ip         TEXT NOT NULL,
        allowed    BIGINT NOT NULL,
        denied     BIGINT NOT NULL,
        first_seen BIGINT NOT NULL,
        last_seen  BIGINT NOT NULL,
        PRIMARY KEY (token_pk, hour, ip)
    );
    CREATE INDEX usage_by_hour ON usage(hour);

    CREATE TABLE token_ips (
        token_pk   BIGINT NOT NULL REFERENCES tokens(pk),
        ip         TEXT NOT NULL,
        first_seen BIGINT NOT NULL,
        last_seen  BIGINT NOT NULL,
        PRIMARY KEY (token_pk, ip)
    );

    CREATE TABLE stranger_usage (
        hour       BIGINT NOT NULL,
        ip         TEXT NOT NULL,
        kind       TEXT NOT NULL CHECK (kind IN ('unknown', 'malformed')),
        count      BIGINT NOT NULL,
        first_seen BIGINT NOT NULL,
        last_seen  BIGINT NOT NULL,
        PRIMARY KEY (hour, ip, kind)
    );
    ",
    // 2: denied uses of a token that had been revoked or had expired (`DENIED_USE`), apart
    // from the hour's other denials; rows written before only know that they were denied:
    // those seen after the token's end count as such, as before. The event log outlives
    // the tokens it names (`prune --tokens` deletes old tokens and keeps their events).
    // The windows of `list` and `audit` are sums over `usage`, read by its primary key
    // and hour index: no running totals are kept here.
    "
    ALTER TABLE usage ADD COLUMN ended BIGINT NOT NULL DEFAULT 0;
    UPDATE usage SET ended = denied
     WHERE denied > 0
       AND last_seen >= (SELECT coalesce(t.revoked_at, t.expires_at) FROM tokens t
                          WHERE t.pk = usage.token_pk);
    ALTER TABLE events DROP CONSTRAINT events_token_id_fkey;
    ",
    // 3: the identities of the usage batches committed in the last day, written in the
    // transaction that adds their counts: a batch committed again, because the reply to
    // its commit was lost with the connection, adds nothing.
    "
    CREATE TABLE usage_batches (
        id TEXT PRIMARY KEY,
        at BIGINT NOT NULL
    );
    CREATE INDEX usage_batches_at ON usage_batches(at);
    ",
    // 4: suspension (a token refused until resumed, its expiry running on) and rate limits
    // (at most `rate_limit` requests per `rate_per` seconds: 1, 60 or 3600); uses refused
    // for being over the limit, counted apart within `denied` and found through a partial
    // index, so that `audit` reads only the hours that had any.
    "
    ALTER TABLE tokens ADD COLUMN suspended_at BIGINT;
    ALTER TABLE tokens ADD COLUMN suspend_reason TEXT;
    ALTER TABLE tokens ADD COLUMN rate_limit BIGINT CHECK (rate_limit > 0);
    ALTER TABLE tokens ADD COLUMN rate_per BIGINT CHECK (rate_per IN (1, 60, 3600));
    ALTER TABLE tokens ADD CONSTRAINT tokens_rate_whole
        CHECK ((rate_limit IS NULL) = (rate_per IS NULL));
    ALTER TABLE usage ADD COLUMN limited BIGINT NOT NULL DEFAULT 0;
    CREATE INDEX usage_limited ON usage(hour) WHERE limited > 0;
    ",
];

/// The schema version this build writes and understands.
pub fn latest() -> i64 {
    MIGRATIONS.len() as i64
}
