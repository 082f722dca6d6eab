//! Store tests on in-memory and temporary-file databases.

use std::collections::HashMap;
use std::net::IpAddr;
use std::os::unix::fs::PermissionsExt;

use chrono::{DateTime, TimeDelta, Utc};
use sha2::{Digest, Sha256};

use super::migrations::{APPLICATION_ID, MIGRATIONS};
use crate::expiry::Span;
use crate::scope::ScopeSet;
use crate::store::{
    Error, NewToken, OldTokenEnd, OpenMode, Refusal, Revocation, Status, Store, TokenFilter,
};
use crate::token;
use crate::usage::{Outcome, Presented, UsageBuffer};

fn t(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

fn new_token(name: &str, scopes: &str, expires_at: Option<DateTime<Utc>>) -> (NewToken, String) {
    let g = token::generate("tok", "live").unwrap();
    let secret = g.secret.expose().to_string();
    (
        NewToken {
            hash: g.hash,
            hint: g.hint,
            name: name.into(),
            description: None,
            env: "live".into(),
            scopes: ScopeSet::parse_list(scopes).unwrap(),
            allowed_ips: vec![],
            expires_at,
            rate_limit: None,
        },
        secret,
    )
}

const NOW: &str = "2026-06-01T12:00:00Z";

#[test]
fn every_migration_applies_and_is_pinned() {
    let store = Store::open_in_memory().unwrap();
    assert_eq!(store.schema_version().unwrap(), MIGRATIONS.len() as i64);
    // Migrations are append-only: a shipped one must never change. If this fails, undo the
    // edit and add a new migration instead.
    assert_eq!(
        PINNED_DIGESTS.len(),
        MIGRATIONS.len(),
        "add the new migration's digest below"
    );
    let digests: Vec<String> = MIGRATIONS
        .iter()
        .map(|m| {
            Sha256::digest(m.as_bytes())[..8]
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect()
        })
        .collect();
    assert_eq!(digests, PINNED_DIGESTS, "a shipped migration was edited");
}

const PINNED_DIGESTS: [&str; 9] = [
    "dac8aa65dd3836a4",
    "4edb9ae9926f6684",
    "a2e73bd90d70a3cf",
    "c181dd598ab6b705",
    "372c6447a379c19a",
    "38dfe63c861ab92c",
    "80dcc8a1022c4458",
    "826f3d83b83bbb73",
    "9aab310e244d2742",
];

#[test]
fn create_find_and_resolve() {
    let mut store = Store::open_in_memory().unwrap();
    let now = t(NOW);
    let (new, secret) = new_token("importer", "cases:write", Some(now + TimeDelta::days(30)));
    let rec = store.create_token(&new, "alice", now).unwrap();
    assert_eq!(rec.name, "importer");
    assert_eq!(rec.created_by, "alice");
    assert_eq!(rec.status(now), Status::Active);
    let found = store
        .find_by_hash(&token::parse(&secret).unwrap().hash())
        .unwrap()
        .unwrap();
    assert_eq!(found, rec);
    assert_eq!(store.resolve(&rec.id, now).unwrap().id, rec.id);
    assert_eq!(store.resolve("importer", now).unwrap().id, rec.id);
    let err = store.resolve("nobody", now).unwrap_err();
    assert!(matches!(err, Error::NotFound(_)), "{err}");
    let events = store.events(Some(&rec.id), None).unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].action, "create");
    assert_eq!(events[0].actor, "alice");
}

#[test]
fn status_is_computed_at_read_time() {
    let mut store = Store::open_in_memory().unwrap();
    let now = t(NOW);
    let end = now + TimeDelta::hours(1);
    let (new, _) = new_token("short", "cases:read", Some(end));
    let rec = store.create_token(&new, "a", now).unwrap();
    assert_eq!(rec.status(end - TimeDelta::seconds(1)), Status::Active);
    assert_eq!(rec.status(end), Status::Expired);
    let filter = |status| TokenFilter {
        status: Some(status),
        ..TokenFilter::default()
    };
    assert_eq!(
        store
            .list_tokens(&filter(Status::Active), end - TimeDelta::seconds(1))
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        store
            .list_tokens(&filter(Status::Expired), end)
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        store
            .list_tokens(&filter(Status::Active), end)
            .unwrap()
            .len(),
        0
    );
}

#[test]
fn list_filters() {
    let mut store = Store::open_in_memory().unwrap();
    let now = t(NOW);
    let (a, _) = new_token("a", "cases:read", Some(now + TimeDelta::days(5)));
    let (mut b, _) = new_token("b", "cases:read", Some(now + TimeDelta::days(50)));
    b.env = "test".into();
    let (c, _) = new_token("c", "cases:read", None);
    let a = store.create_token(&a, "x", now).unwrap();
    store.create_token(&b, "x", now).unwrap();
    let c = store.create_token(&c, "x", now).unwrap();
    store.revoke_token(&c.id, Some("gone"), "x", now).unwrap();
    let names = |f: TokenFilter| -> Vec<String> {
        store
            .list_tokens(&f, now)
            .unwrap()
            .into_iter()
            .map(|t| t.name)
            .collect()
    };
    assert_eq!(names(TokenFilter::default()), ["a", "b", "c"]);
    assert_eq!(
        names(TokenFilter {
            status: Some(Status::Revoked),
            ..Default::default()
        }),
        ["c"]
    );
    assert_eq!(
        names(TokenFilter {
            env: Some("test".into()),
            ..Default::default()
        }),
        ["b"]
    );
    assert_eq!(
        names(TokenFilter {
            expiring_before: Some(now + TimeDelta::days(7)),
            ..Default::default()
        }),
        ["a"]
    );
    // Never used: counts from creation.
    assert!(
        names(TokenFilter {
            unused_since: Some(now),
            ..Default::default()
        })
        .is_empty()
    );
    let later = now + TimeDelta::days(2);
    let buf = UsageBuffer::new();
    buf.record(Presented::Token(a.key), None, Outcome::Allowed, later);
    store.record_usage(&buf.take()).unwrap();
    let unused = store
        .list_tokens(
            &TokenFilter {
                unused_since: Some(later - TimeDelta::hours(1)),
                ..Default::default()
            },
            later,
        )
        .unwrap();
    assert_eq!(
        unused.iter().map(|t| t.name.as_str()).collect::<Vec<_>>(),
        ["b", "c"]
    );
}

#[test]
fn revoke_is_idempotent() {
    let mut store = Store::open_in_memory().unwrap();
    let now = t(NOW);
    let (new, _) = new_token("x", "cases:read", None);
    let rec = store.create_token(&new, "a", now).unwrap();
    let first = store
        .revoke_token(&rec.id, Some("leaked"), "a", now)
        .unwrap();
    let Revocation::Revoked(r) = first else {
        panic!("{first:?}")
    };
    assert_eq!(r.revoked_at, Some(now));
    assert_eq!(r.revoke_reason.as_deref(), Some("leaked"));
    let second = store
        .revoke_token(&rec.id, Some("again"), "a", now + TimeDelta::hours(1))
        .unwrap();
    let Revocation::AlreadyRevoked(r2) = second else {
        panic!("{second:?}")
    };
    assert_eq!(r2.revoked_at, Some(now));
    assert_eq!(r2.revoke_reason.as_deref(), Some("leaked"));
    let actions: Vec<String> = store
        .events(Some(&rec.id), None)
        .unwrap()
        .into_iter()
        .map(|e| e.action)
        .collect();
    assert_eq!(actions, ["create", "revoke"]);
}

#[test]
fn rotation_links_and_ends_the_old_token() {
    let mut store = Store::open_in_memory().unwrap();
    let now = t(NOW);
    let (old, _) = new_token("sync", "contacts:write", Some(now + TimeDelta::days(30)));
    let old = store.create_token(&old, "a", now).unwrap();
    let (next, _) = new_token("sync", "contacts:write", Some(now + TimeDelta::days(30)));
    let grace_end = now + TimeDelta::hours(24);
    let (new, old_after) = store
        .rotate_token(&old.id, &next, OldTokenEnd::ExpiresAt(grace_end), "a", now)
        .unwrap();
    assert_eq!(new.rotated_from.as_deref(), Some(old.id.as_str()));
    assert_eq!(old_after.rotated_to.as_deref(), Some(new.id.as_str()));
    assert_eq!(old_after.expires_at, Some(grace_end));
    // During the grace period both are active; the name resolves to the newest.
    assert_eq!(store.resolve("sync", now).unwrap().id, new.id);
    // Rotating the old one again is refused.
    let (again, _) = new_token("sync", "contacts:write", None);
    assert!(
        store
            .rotate_token(&old.id, &again, OldTokenEnd::RevokedNow, "a", now)
            .is_err()
    );
    // Grace never extends a token's life.
    let (short, _) = new_token("short", "cases:read", Some(now + TimeDelta::hours(1)));
    let short = store.create_token(&short, "a", now).unwrap();
    let (next, _) = new_token("short", "cases:read", None);
    let (_, short_after) = store
        .rotate_token(
            &short.id,
            &next,
            OldTokenEnd::ExpiresAt(now + TimeDelta::days(1)),
            "a",
            now,
        )
        .unwrap();
    assert_eq!(short_after.expires_at, Some(now + TimeDelta::hours(1)));
    // --grace 0 revokes.
    let (next, _) = new_token("sync", "contacts:write", None);
    let (_, revoked) = store
        .rotate_token(&new.id, &next, OldTokenEnd::RevokedNow, "a", now)
        .unwrap();
    assert_eq!(revoked.status(now), Status::Revoked);
    assert_eq!(revoked.revoke_reason.as_deref(), Some("rotated"));
}

#[test]
fn ambiguous_names_list_the_ids() {
    let mut store = Store::open_in_memory().unwrap();
    let now = t(NOW);
    let (a, _) = new_token("dup", "cases:read", None);
    let (b, _) = new_token("dup", "cases:read", None);
    let a = store.create_token(&a, "x", now).unwrap();
    let b = store.create_token(&b, "x", now).unwrap();
    let err = store.resolve("dup", now).unwrap_err();
    let Error::Ambiguous { ids, .. } = &err else {
        panic!("{err}")
    };
    assert_eq!(ids, &[a.id.clone(), b.id.clone()]);
    // Revoking one leaves the active one as the answer.
    store.revoke_token(&a.id, None, "x", now).unwrap();
    assert_eq!(store.resolve("dup", now).unwrap().id, b.id);
}

#[test]
fn settings_are_validated_and_logged() {
    let mut store = Store::open_in_memory().unwrap();
    let now = t(NOW);
    assert_eq!(store.settings().unwrap().token_prefix, "tok");
    assert_eq!(
        store
            .set_setting("modules", "cases, invoices", "root", now)
            .unwrap(),
        "cases,invoices"
    );
    assert_eq!(store.settings().unwrap().modules, ["cases", "invoices"]);
    assert!(
        store
            .set_setting("max_lifetime", "1d", "root", now)
            .is_err()
    );
    assert!(store.set_setting("bogus", "1", "root", now).is_err());
    let events = store.events(None, None).unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].details["new"], "cases,invoices");
}

fn ip(s: &str) -> Option<IpAddr> {
    Some(s.parse().unwrap())
}

#[test]
fn usage_windows_follow_hour_boundaries() {
    let mut store = Store::open_in_memory().unwrap();
    let now = t("2026-06-10T12:30:00Z");
    let (new, _) = new_token("x", "cases:read", None);
    let rec = store
        .create_token(&new, "a", now - TimeDelta::days(60))
        .unwrap();
    let key = rec.key;
    let buf = UsageBuffer::new();
    let record = |at: &str, n: usize, outcome| {
        for _ in 0..n {
            buf.record(Presented::Token(key), ip("10.0.0.1"), outcome, t(at));
        }
    };
    record("2026-06-10T12:00:00Z", 3, Outcome::Allowed); // current hour
    record("2026-06-09T13:00:00Z", 2, Outcome::Denied); // 23 hours back: inside 24h
    record("2026-06-09T12:59:59Z", 5, Outcome::Allowed); // 24 hours back: outside 24h
    record("2026-06-03T13:00:00Z", 7, Outcome::Allowed); // hour 167 back: inside 7d
    record("2026-06-03T12:59:59Z", 11, Outcome::Allowed); // hour 168 back: outside 7d
    record("2026-05-11T13:00:00Z", 13, Outcome::Allowed); // hour 719 back: inside 30d
    record("2026-05-11T12:00:00Z", 17, Outcome::Allowed); // hour 720 back: outside 30d
    store.record_usage(&buf.take()).unwrap();
    let r = store.token_requests(key, now).unwrap();
    assert_eq!((r.allowed_24h, r.denied_24h), (3, 2));
    assert_eq!((r.allowed_7d, r.denied_7d), (3 + 5 + 7, 2));
    assert_eq!((r.allowed_30d, r.denied_30d), (3 + 5 + 7 + 11 + 13, 2));
    assert_eq!(store.all_requests(now).unwrap()[&key], r);
    let after = store.token(&rec.id).unwrap().unwrap();
    assert_eq!(after.last_used_at, Some(t("2026-06-10T12:00:00Z")));
    assert_eq!(after.last_used_ip.as_deref(), Some("10.0.0.1"));
    // Daily series: UTC days, zeros included.
    let days = store
        .daily_usage(Some(key), t("2026-06-09T00:00:00Z"), now)
        .unwrap();
    assert_eq!(days.len(), 2);
    assert_eq!((days[0].allowed, days[0].denied), (5, 2));
    assert_eq!((days[1].allowed, days[1].denied), (3, 0));
}

#[test]
fn flushes_accumulate_and_keep_first_and_last_seen() {
    let mut store = Store::open_in_memory().unwrap();
    let now = t(NOW);
    let (new, _) = new_token("x", "cases:read", None);
    let rec = store.create_token(&new, "a", now).unwrap();
    let buf = UsageBuffer::new();
    buf.record(
        Presented::Token(rec.key),
        ip("10.0.0.1"),
        Outcome::Allowed,
        now,
    );
    store.record_usage(&buf.take()).unwrap();
    buf.record(
        Presented::Token(rec.key),
        ip("10.0.0.1"),
        Outcome::Allowed,
        now + TimeDelta::minutes(5),
    );
    buf.record(
        Presented::Token(rec.key),
        ip("2001:db8::1"),
        Outcome::Denied,
        now + TimeDelta::minutes(6),
    );
    buf.record(Presented::Unknown, ip("10.9.9.9"), Outcome::Denied, now);
    buf.record(Presented::Malformed, ip("10.9.9.9"), Outcome::Denied, now);
    buf.record(Presented::Malformed, ip("10.9.9.9"), Outcome::Denied, now);
    store.record_usage(&buf.take()).unwrap();
    let ips = store
        .token_ips(rec.key, now - TimeDelta::days(1), false)
        .unwrap();
    assert_eq!(ips.len(), 2);
    let v4 = ips.iter().find(|i| i.ip == "10.0.0.1").unwrap();
    assert_eq!((v4.allowed, v4.denied), (2, 0));
    assert_eq!(v4.first_seen, now);
    assert_eq!(v4.last_seen, now + TimeDelta::minutes(5));
    let strangers = store.stranger_usage(now - TimeDelta::days(1)).unwrap();
    let counts: HashMap<String, u64> = strangers.into_iter().map(|s| (s.kind, s.count)).collect();
    assert_eq!(counts["unknown"], 1);
    assert_eq!(counts["malformed"], 2);
    let totals = store.window_totals(now - TimeDelta::days(1)).unwrap();
    assert_eq!(totals[&rec.key].distinct_ips, 2);
    assert_eq!(totals[&rec.key].allowed + totals[&rec.key].denied, 3);
}

/// Uses decided against a token that this database does not hold (a backup without it
/// was restored before the flush) are dropped; the rest of the batch is committed. Before,
/// the foreign key failed the whole batch, and every later one it was merged into.
#[test]
fn usage_of_a_token_no_longer_in_the_database_does_not_block_the_rest() {
    let mut store = Store::open_in_memory().unwrap();
    let now = t(NOW);
    let (new, _) = new_token("x", "cases:read", None);
    let rec = store.create_token(&new, "a", now).unwrap();
    let buf = UsageBuffer::new();
    buf.record(
        Presented::Token(rec.key + 1),
        ip("10.0.0.1"),
        Outcome::Allowed,
        now,
    );
    buf.record(
        Presented::Token(rec.key),
        ip("10.0.0.1"),
        Outcome::Allowed,
        now,
    );
    buf.record(Presented::Unknown, ip("10.0.0.1"), Outcome::Denied, now);
    store.record_usage(&buf.take()).unwrap();
    let requests = store.token_requests(rec.key, now).unwrap();
    assert_eq!((requests.allowed_30d, requests.denied_30d), (1, 0));
    assert_eq!(
        store.token_requests(rec.key + 1, now).unwrap().allowed_30d,
        0
    );
    assert_eq!(
        store
            .stranger_usage(now - TimeDelta::days(1))
            .unwrap()
            .len(),
        1
    );
}

#[test]
fn anomaly_facts() {
    let mut store = Store::open_in_memory().unwrap();
    let now = t(NOW);
    let (mut new, _) = new_token("x", "cases:read", None);
    new.allowed_ips = vec!["10.0.0.0/8".parse().unwrap()];
    let rec = store
        .create_token(&new, "a", now - TimeDelta::days(40))
        .unwrap();
    let buf = UsageBuffer::new();
    let key = Presented::Token(rec.key);
    for d in 1..=30 {
        buf.record(
            key,
            ip("10.0.0.1"),
            Outcome::Allowed,
            now - TimeDelta::days(d),
        );
    }
    buf.record(
        key,
        ip("10.0.0.2"),
        Outcome::Allowed,
        now - TimeDelta::hours(2),
    );
    buf.record(
        key,
        ip("192.0.2.1"),
        Outcome::Denied,
        now - TimeDelta::hours(1),
    );
    store.record_usage(&buf.take()).unwrap();
    let facts = store.anomaly_facts(None, now).unwrap();
    let new_ips: Vec<&str> = facts.new_ips.iter().map(|(_, ip, _)| ip.as_str()).collect();
    assert_eq!(new_ips, ["10.0.0.2", "192.0.2.1"]);
    let days = facts.daily[&rec.key];
    assert_eq!(days[30], 2);
    // Exactly 24h ago is the first hour before the 24h window.
    assert_eq!(days[..30].iter().sum::<u64>(), 30);
    assert!(facts.denied_after_end.is_empty());
    assert_eq!(facts.restricted_ips.len(), 2);
    store
        .revoke_token(&rec.id, None, "a", now - TimeDelta::minutes(30))
        .unwrap();
    buf.record(
        key,
        ip("10.0.0.1"),
        Outcome::Ended,
        now - TimeDelta::minutes(10),
    );
    store.record_usage(&buf.take()).unwrap();
    let facts = store.anomaly_facts(Some(rec.key), now).unwrap();
    assert_eq!(facts.denied_after_end, vec![(rec.key, 1)]);
}

#[test]
fn prune_deletes_old_usage_only() {
    let mut store = Store::open_in_memory().unwrap();
    let now = t(NOW);
    let (new, _) = new_token("x", "cases:read", None);
    let rec = store
        .create_token(&new, "a", now - TimeDelta::days(500))
        .unwrap();
    let buf = UsageBuffer::new();
    buf.record(
        Presented::Token(rec.key),
        None,
        Outcome::Allowed,
        now - TimeDelta::days(450),
    );
    buf.record(
        Presented::Token(rec.key),
        None,
        Outcome::Allowed,
        now - TimeDelta::days(450),
    );
    buf.record(
        Presented::Unknown,
        None,
        Outcome::Denied,
        now - TimeDelta::days(450),
    );
    buf.record(
        Presented::Token(rec.key),
        None,
        Outcome::Allowed,
        now - TimeDelta::days(1),
    );
    store.record_usage(&buf.take()).unwrap();
    let before = now - Span::days(400).delta();
    let dry = store.prune_usage(before, true, "a", now).unwrap();
    assert_eq!((dry.usage_rows, dry.stranger_rows, dry.uses), (1, 1, 3));
    assert_eq!(
        store.events(None, None).unwrap().len(),
        1,
        "dry run logs nothing"
    );
    let done = store.prune_usage(before, false, "a", now).unwrap();
    assert_eq!(done, dry);
    assert_eq!(store.token_requests(rec.key, now).unwrap().allowed_30d, 1);
    assert!(store.token(&rec.id).unwrap().is_some());
    assert_eq!(
        store.events(None, None).unwrap().last().unwrap().action,
        "prune"
    );
    assert_eq!(store.prune_usage(before, false, "a", now).unwrap().uses, 0);
}

fn temp_db() -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tokens.db");
    (dir, path)
}

#[test]
fn files_are_owner_only() {
    let (_dir, path) = temp_db();
    let mut store = Store::open(&path, OpenMode::Create).unwrap();
    let (new, _) = new_token("x", "cases:read", None);
    store.create_token(&new, "a", t(NOW)).unwrap();
    for suffix in ["", "-wal", "-shm"] {
        let p = format!("{}{suffix}", path.display());
        let mode = std::fs::metadata(&p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{p}");
    }
}

#[test]
fn loose_permissions_are_repaired_with_a_warning() {
    let (_dir, path) = temp_db();
    drop(Store::open(&path, OpenMode::Create).unwrap());
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    let mut store = Store::open(&path, OpenMode::Create).unwrap();
    let warnings = store.take_warnings();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(warnings[0].contains("0644"));
    assert_eq!(
        std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
        0o600
    );
}

#[test]
fn existing_mode_never_creates() {
    let (_dir, path) = temp_db();
    let err = Store::open(&path, OpenMode::Existing).unwrap_err();
    assert!(err.to_string().contains("does not exist"), "{err}");
    assert!(matches!(err, Error::Unavailable(_)), "{err:?}");
    assert!(!path.exists());
}

fn assert_refused(bytes: &[u8], expect: &str, why: Refusal) {
    let (_dir, path) = temp_db();
    std::fs::write(&path, bytes).unwrap();
    let err = Store::open(&path, OpenMode::Create).unwrap_err();
    assert!(
        matches!(err, Error::Refused { refusal, .. } if refusal == why),
        "{err:?}"
    );
    let msg = format!("{err:#}");
    assert!(msg.contains(expect), "{msg}");
    assert!(msg.contains("left untouched"), "{msg}");
    assert_eq!(std::fs::read(&path).unwrap(), bytes, "file was modified");
}

#[test]
fn junk_file_is_refused_untouched() {
    let mut junk = b"this is not a database at all\n".repeat(200);
    junk.truncate(4096);
    assert_refused(&junk, "not an SQLite database", Refusal::Damaged);
}

#[test]
fn foreign_sqlite_file_is_refused_untouched() {
    let (_dir, path) = temp_db();
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch("CREATE TABLE notes (body TEXT); INSERT INTO notes VALUES ('hi');")
            .unwrap();
    }
    assert_refused(
        &std::fs::read(&path).unwrap(),
        "another application",
        Refusal::Foreign,
    );
}

#[test]
fn newer_schema_is_refused_untouched() {
    let (_dir, path) = temp_db();
    drop(Store::open(&path, OpenMode::Create).unwrap());
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.pragma_update(None, "journal_mode", "DELETE").unwrap();
        conn.pragma_update(None, "user_version", 99).unwrap();
    }
    let bytes = std::fs::read(&path).unwrap();
    assert_refused(
        &bytes,
        "newer than this tokenctl understands",
        Refusal::NewerSchema,
    );
}

#[test]
fn corrupt_file_is_refused_untouched() {
    let (_dir, path) = temp_db();
    {
        let mut store = Store::open(&path, OpenMode::Create).unwrap();
        let (new, _) = new_token("x", "cases:read", None);
        store.create_token(&new, "a", t(NOW)).unwrap();
        store
            .conn_for_tests()
            .pragma_update(None, "journal_mode", "DELETE")
            .unwrap();
    }
    let mut bytes = std::fs::read(&path).unwrap();
    // Keep the header, destroy the schema page's contents.
    for b in bytes[100..4096].iter_mut() {
        *b = 0xA5;
    }
    assert_refused(&bytes, "refusing to use", Refusal::Damaged);
}

#[test]
fn version_one_database_upgrades() {
    let (_dir, path) = temp_db();
    std::fs::copy(
        concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/schema-v1.db"),
        &path,
    )
    .unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    let mut store = Store::open(&path, OpenMode::Create).unwrap();
    assert_eq!(store.schema_version().unwrap(), MIGRATIONS.len() as i64);
    let now = t(NOW);
    let old = store.resolve("from v1", now).unwrap();
    assert_eq!(old.scopes.to_string(), "cases:read");
    let buf = UsageBuffer::new();
    buf.record(
        Presented::Token(old.key),
        ip("10.0.0.1"),
        Outcome::Allowed,
        now,
    );
    store.record_usage(&buf.take()).unwrap();
    assert_eq!(store.token_requests(old.key, now).unwrap().allowed_24h, 1);
}

#[test]
fn application_id_marks_our_files() {
    let (_dir, path) = temp_db();
    let store = Store::open(&path, OpenMode::Create).unwrap();
    let id: i32 = store
        .conn_for_tests()
        .query_row("PRAGMA application_id", [], |r| r.get(0))
        .unwrap();
    assert_eq!(id, APPLICATION_ID);
}

/// One token's usage queries search the (token, hour) key: their cost must not grow with
/// the usage of other tokens (bench/usage-scaling.sh measures it).
#[test]
fn one_token_queries_use_the_token_key() {
    use super::token_days::{requests_sql, spike_sql};
    use super::token_recent::RECENT_SQL;
    use super::usage::{
        DAILY_SQL, DENIED_AFTER_END_SQL, NEW_IPS_SQL, RESTRICTED_IPS_SQL, for_token,
    };
    let store = Store::open_in_memory().unwrap();
    for (sql, column) in [
        (DAILY_SQL, "token_pk"),
        (RECENT_SQL, "token_pk"),
        (spike_sql(5).as_str(), "t.pk"),
        (requests_sql(5).as_str(), "t.pk"),
        (DENIED_AFTER_END_SQL, "t.pk"),
        (RESTRICTED_IPS_SQL, "t.pk"),
        (NEW_IPS_SQL, "n.token_pk"),
    ] {
        let one = for_token(sql, column, Some(1));
        let mut stmt = store
            .conn_for_tests()
            .prepare(&format!("EXPLAIN QUERY PLAN {one}"))
            .unwrap();
        let n = stmt.parameter_count();
        let plan: Vec<String> = stmt
            .query_map(rusqlite::params_from_iter(std::iter::repeat_n(1, n)), |r| {
                r.get(3)
            })
            .unwrap()
            .map(Result::unwrap)
            .collect();
        let plan = plan.join("\n");
        let searches_token = plan.contains("PRIMARY KEY (token_pk=?")
            || plan.contains("token_recent USING INTEGER PRIMARY KEY (rowid=?)");
        assert!(searches_token, "{one}\n{plan}");
        // Only the 32 day boundaries of `SPIKE` are scanned.
        let scans_usage = plan.lines().any(|l| {
            l.contains("SCAN")
                && !l.contains("boundary")
                && !l.contains("CONSTANT ROW")
                && l != "SCAN b"
        });
        assert!(!scans_usage, "{one}\n{plan}");
        assert!(!for_token(sql, column, None).contains(":token"));
    }
}

/// The all-token queries of `list` and `audit` read `usage` and `token_days` a token at
/// a time, by key: never the whole table, which grows with history (bench/history.sh
/// measures it). Only the tokens, their IPs, `SPIKE`'s day boundaries and its row per
/// token in `token_recent` are scanned.
#[test]
fn all_token_queries_never_read_the_whole_history() {
    use super::token_days::{LIMITED_SQL, requests_sql, spike_sql, window_totals_sql};
    use super::token_recent::RECENT_SQL;
    use super::usage::{DENIED_AFTER_END_SQL, NEW_IPS_SQL, RESTRICTED_IPS_SQL, for_token};
    let store = Store::open_in_memory().unwrap();
    for sql in [
        LIMITED_SQL.to_string(),
        spike_sql(5),
        RECENT_SQL.to_string(),
        requests_sql(5),
        window_totals_sql(5),
        DENIED_AFTER_END_SQL.to_string(),
        RESTRICTED_IPS_SQL.to_string(),
        NEW_IPS_SQL.to_string(),
    ] {
        let all = for_token(&sql, "", None);
        let mut stmt = store
            .conn_for_tests()
            .prepare(&format!("EXPLAIN QUERY PLAN {all}"))
            .unwrap();
        let n = stmt.parameter_count();
        let plan: Vec<String> = stmt
            .query_map(rusqlite::params_from_iter(std::iter::repeat_n(1, n)), |r| {
                r.get(3)
            })
            .unwrap()
            .map(Result::unwrap)
            .collect();
        let scanned: Vec<&String> = plan
            .iter()
            .filter(|l| {
                l.split(' ').nth(1).is_some_and(|table| {
                    l.starts_with("SCAN ")
                        && !["t", "n", "b", "boundary", "CONSTANT", "token_recent"].contains(&table)
                })
            })
            .collect();
        assert!(scanned.is_empty(), "{all}\n{}", plan.join("\n"));
    }
}

/// Side files are moved aside only when they are the ones the connection found: a new
/// database created at the path (with side files of its own) keeps them.
#[test]
fn only_the_old_files_side_files_are_moved_aside() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.db");
    let side = |s: &str| dir.path().join(format!("t.db{s}"));
    let old = Store::open(&path, OpenMode::Create).unwrap();
    old.check_same_database().unwrap();
    for s in ["", "-wal", "-shm"] {
        std::fs::remove_file(side(s)).unwrap();
    }
    let new = Store::open(&path, OpenMode::Create).unwrap();
    let err = old.check_same_database().unwrap_err().to_string();
    assert!(err.contains("deleted or replaced"), "{err}");
    assert!(!err.contains("moved"), "{err}");
    assert!(side("-wal").exists() && side("-shm").exists());
    new.check_same_database().unwrap();
}

/// Rows and bytes of the usage tables, after a checkpoint: (stranger rows, usage rows,
/// bytes of the database file).
fn usage_footprint(store: &Store) -> (u64, u64, u64) {
    let conn = store.conn_for_tests();
    conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE)")
        .unwrap();
    let count = |sql: &str| conn.query_row(sql, [], |r| r.get::<_, u64>(0)).unwrap();
    (
        count("SELECT count(*) FROM stranger_usage"),
        count("SELECT count(*) FROM usage"),
        count("SELECT page_count * page_size FROM pragma_page_count, pragma_page_size"),
    )
}

/// Garbage tokens from 100,000 distinct IPv4 addresses and 100,000 distinct IPv6
/// addresses (half in one /64, half each in a /64 of its own), recorded through two
/// buffers flushed by two stores as two servers would: the stranger rows of the hour stay
/// within the bound, and every use is still counted. (It printed the figures quoted in
/// SECURITY.md.)
#[test]
fn strangers_write_a_bounded_number_of_rows_per_hour() {
    use crate::usage::{OVERFLOW_IP, STRANGER_SOURCES_PER_HOUR};
    let (_dir, path) = temp_db();
    let mut first = Store::open(&path, OpenMode::Create).unwrap();
    let mut second = Store::open(&path, OpenMode::Existing).unwrap();
    let now = t(NOW);
    let (_, _, bytes_before) = usage_footprint(&first);
    let (a, b) = (UsageBuffer::new(), UsageBuffer::new());
    let n: u32 = 100_000;
    for i in 0..n {
        let v4 = IpAddr::from(std::net::Ipv4Addr::from(0x0a00_0000 + i));
        a.record(Presented::Malformed, Some(v4), Outcome::Denied, now);
        let v6 = if i % 2 == 0 {
            std::net::Ipv6Addr::from(0x2001_0db8_0000_0001_0000_0000_0000_0000_u128 + u128::from(i))
        } else {
            std::net::Ipv6Addr::from(
                0x2001_0db8_0001_0000_0000_0000_0000_0000_u128 + (u128::from(i) << 64),
            )
        };
        b.record(
            Presented::Unknown,
            Some(IpAddr::from(v6)),
            Outcome::Denied,
            now,
        );
        // Several flushes, alternating between the two stores.
        if i % 25_000 == 24_999 {
            first.record_usage(&a.take()).unwrap();
            second.record_usage(&b.take()).unwrap();
        }
    }
    let (rows, _, bytes_after) = usage_footprint(&first);
    assert!(
        rows <= STRANGER_SOURCES_PER_HOUR + 2,
        "{rows} stranger rows in one hour"
    );
    let strangers = first.stranger_usage(now - TimeDelta::hours(1)).unwrap();
    let total: u64 = strangers.iter().map(|s| s.count).sum();
    assert_eq!(total, 2 * u64::from(n), "uses were lost");
    assert!(strangers.iter().any(|s| s.ip == OVERFLOW_IP));
    eprintln!(
        "strangers: {} uses from 100,000 IPv4 and 100,000 IPv6 addresses in one hour: {rows} rows, {} bytes of database growth",
        2 * n,
        bytes_after - bytes_before
    );
    // The next hour has its own allowance; one client's /64 is one source.
    let later = now + TimeDelta::hours(1);
    for i in 0..1_000_u128 {
        let v6 = std::net::Ipv6Addr::from(0x2001_0db8_0000_0001_0000_0000_0000_0000_u128 + i);
        a.record(
            Presented::Unknown,
            Some(IpAddr::from(v6)),
            Outcome::Denied,
            later,
        );
    }
    first.record_usage(&a.take()).unwrap();
    let next = first.stranger_usage(later).unwrap();
    assert_eq!(next.len(), 1);
    assert_eq!(
        (next[0].ip.as_str(), next[0].count),
        ("2001:db8:0:1::/64", 1_000)
    );
}

/// A token presented from more addresses in an hour than are kept one by one (a leaked
/// token, revoked or not): the rest are counted under `other`, across flushes.
#[test]
fn a_token_writes_a_bounded_number_of_rows_per_hour() {
    use crate::usage::{OVERFLOW_IP, TOKEN_SOURCES_PER_HOUR};
    let mut store = Store::open_in_memory().unwrap();
    let now = t(NOW);
    let (new, _) = new_token("leaked", "cases:read", None);
    let rec = store.create_token(&new, "a", now).unwrap();
    let buf = UsageBuffer::new();
    let n = TOKEN_SOURCES_PER_HOUR as u32 + 500;
    for i in 0..n {
        let v4 = IpAddr::from(std::net::Ipv4Addr::from(0x0a00_0000 + i));
        buf.record(Presented::Token(rec.key), Some(v4), Outcome::Denied, now);
        if i % 400 == 0 {
            store.record_usage(&buf.take()).unwrap();
        }
    }
    store.record_usage(&buf.take()).unwrap();
    let ips = store
        .token_ips(rec.key, now - TimeDelta::hours(1), false)
        .unwrap();
    assert_eq!(ips.len() as u64, TOKEN_SOURCES_PER_HOUR + 1);
    let other = ips.iter().find(|i| i.ip == OVERFLOW_IP).unwrap();
    assert_eq!(other.denied, 500);
    let total: u64 = ips.iter().map(|i| i.denied).sum();
    assert_eq!(total, u64::from(n));
}
