//! The contract's rules (`store::backend`), which every backend must obey, checked at the
//! [`Store`] level. A backend runs all of them with [`check`] and a factory of its own
//! that makes a new, empty database and returns a way to open handles on it; SQLite's is
//! at the end of this file.

use chrono::{DateTime, TimeDelta, Utc};

use super::location::Location;
use super::records::Value;
use super::{
    Error, Import, NewToken, OldTokenEnd, OpenMode, Revocation, SameName, Status, Store,
    TokenFilter,
};
use crate::rate_limit::RateLimit;
use crate::scope::ScopeSet;
use crate::token;
use crate::usage::{Outcome, Presented, UsageBuffer};

/// Opens another handle on one database (another connection, as another process would
/// have). The first call finds the database empty, with the current schema.
pub(crate) type Handles = Box<dyn FnMut() -> Store>;

/// One rule, given handles on a database of its own.
type Rule = fn(&mut dyn FnMut() -> Store);

const RULES: &[(&str, Rule)] = &[
    ("resolve finds by id and name, or says why not", resolve),
    (
        "revision moves with every credential change",
        revision_moves,
    ),
    ("revision stays for usage and reads", revision_stays),
    ("a snapshot is consistent", snapshot_is_consistent),
    (
        "a committed revocation is seen by the next read",
        revocation_is_seen_at_once,
    ),
    ("a token is rotated once", rotated_once),
    (
        "pruning tokens deletes the long-ended ones only",
        tokens_pruned,
    ),
    ("the database answers as the one opened", same_database),
    (
        "suspension is seen at once, reversible, and refused on ended tokens",
        suspended_and_resumed,
    ),
    (
        "a rate limit is stored, changed, removed and carried",
        rate_limits,
    ),
    (
        "names are found by their first character, and tokens by their name",
        names_found_by_first_character,
    ),
];

/// Runs every rule, each on a new database from `new_database`.
pub(crate) fn check(mut new_database: impl FnMut() -> Handles) {
    for (name, rule) in RULES {
        eprintln!("contract rule: {name}");
        let mut handles = new_database();
        rule(&mut *handles);
    }
}

fn now() -> DateTime<Utc> {
    "2026-06-01T12:00:00Z".parse().unwrap()
}

/// A token to create, and its secret's hash.
fn new_token(name: &str) -> NewToken {
    let g = token::generate("tok", "live").unwrap();
    NewToken {
        hash: g.hash,
        hint: g.hint,
        name: name.into(),
        description: None,
        env: "live".into(),
        scopes: ScopeSet::parse_list("cases:read").unwrap(),
        allowed_ips: vec![],
        expires_at: Some(now() + TimeDelta::days(30)),
        rate_limit: None,
    }
}

fn resolve(open: &mut dyn FnMut() -> Store) {
    let mut store = open();
    let made = store
        .create_token(&new_token("importer"), "t", now())
        .unwrap();
    assert_eq!(store.resolve(&made.id, now()).unwrap(), made);
    assert_eq!(store.resolve("importer", now()).unwrap(), made);
    let err = store.resolve("nobody", now()).unwrap_err();
    assert!(matches!(&err, Error::NotFound(r) if r == "nobody"), "{err}");
    let twin = store
        .create_token(&new_token("importer"), "t", now())
        .unwrap();
    let err = store.resolve("importer", now()).unwrap_err();
    let Error::Ambiguous { name, ids } = &err else {
        panic!("{err}")
    };
    assert_eq!(
        (name.as_str(), ids),
        ("importer", &vec![made.id.clone(), twin.id.clone()])
    );
    store.revoke_token(&made.id, None, "t", now()).unwrap();
    assert_eq!(store.resolve("importer", now()).unwrap().id, twin.id);
}

/// Creation, rotation and revocation change the revision that another handle reads, and
/// the one the writing handle reads itself.
fn revision_moves(open: &mut dyn FnMut() -> Store) {
    let verifier = open();
    let mut admin = open();
    let mut seen = vec![verifier.revision().unwrap(), admin.revision().unwrap()];
    let mut changed = |what: &str, admin: &Store| {
        let now = [verifier.revision().unwrap(), admin.revision().unwrap()];
        assert_ne!(now[0], seen[0], "{what}: the other handle's revision");
        assert_ne!(now[1], seen[1], "{what}: the writer's own revision");
        seen = now.to_vec();
    };
    let made = admin.create_token(&new_token("a"), "t", now()).unwrap();
    changed("create", &admin);
    let (next, _) = admin
        .rotate_token(
            &made.id,
            &new_token("a"),
            OldTokenEnd::ExpiresAt(now()),
            "t",
            now(),
        )
        .unwrap();
    changed("rotate with a grace period", &admin);
    let (last, _) = admin
        .rotate_token(
            &next.id,
            &new_token("a"),
            OldTokenEnd::RevokedNow,
            "t",
            now(),
        )
        .unwrap();
    changed("rotate revoking at once", &admin);
    admin
        .suspend_token(&last.id, Some("looking"), "t", now())
        .unwrap();
    changed("suspend", &admin);
    admin.resume_token(&last.id, "t", now()).unwrap();
    changed("resume", &admin);
    let limit = Some("10/s".parse().unwrap());
    admin.set_rate_limit(&last.id, limit, "t", now()).unwrap();
    changed("set a rate limit", &admin);
    admin.set_rate_limit(&last.id, None, "t", now()).unwrap();
    changed("remove a rate limit", &admin);
    admin.revoke_tokens(&[&last.id], None, "t", now()).unwrap();
    changed("revoke", &admin);
}

/// A suspension is seen by the next read through any handle, logged once, listed as
/// such; the expiry runs on; resuming undoes it; ended tokens are refused.
fn suspended_and_resumed(open: &mut dyn FnMut() -> Store) {
    let mut admin = open();
    let token = new_token("a");
    let made = admin.create_token(&token, "t", now()).unwrap();
    let verifier = open();
    assert!(
        !verifier
            .credential_by_hash(&token.hash)
            .unwrap()
            .unwrap()
            .suspended
    );
    let done = admin
        .suspend_token(&made.id, Some("spike"), "t", now())
        .unwrap();
    assert!(done.changed);
    assert_eq!(done.token.status(now()), Status::Suspended);
    assert_eq!(done.token.suspend_reason.as_deref(), Some("spike"));
    assert_eq!(done.token.expires_at, made.expires_at, "the expiry runs on");
    let seen = verifier.credential_by_hash(&token.hash).unwrap().unwrap();
    assert_eq!(seen.status(now()), Status::Suspended);
    let end = made.expires_at.unwrap();
    assert_eq!(seen.status(end), Status::Expired);
    let again = admin.suspend_token(&made.id, None, "t", now()).unwrap();
    assert!(!again.changed);
    assert_eq!(again.token.suspend_reason.as_deref(), Some("spike"));
    let listed = |status| {
        let filter = TokenFilter {
            status: Some(status),
            ..TokenFilter::default()
        };
        let found = verifier.list_tokens(&filter, now()).unwrap();
        found.into_iter().map(|t| t.id).collect::<Vec<_>>()
    };
    assert_eq!(listed(Status::Suspended), std::slice::from_ref(&made.id));
    assert_eq!(listed(Status::Active), std::slice::from_ref(&made.id));
    assert!(listed(Status::Rotating).is_empty());
    // A suspended token is not rotated: its successor would work.
    let err = admin
        .rotate_token(
            &made.id,
            &new_token("a"),
            OldTokenEnd::RevokedNow,
            "t",
            now(),
        )
        .unwrap_err();
    assert!(matches!(err, Error::Invalid(_)), "{err}");
    assert_eq!(verifier.resolve("a", now()).unwrap().id, made.id);
    let resumed = admin.resume_token(&made.id, "t", now()).unwrap();
    assert!(resumed.changed);
    assert_eq!(resumed.token.status(now()), Status::Active);
    assert_eq!(resumed.token.suspend_reason, None);
    assert!(
        !verifier
            .credential_by_hash(&token.hash)
            .unwrap()
            .unwrap()
            .suspended
    );
    assert!(!admin.resume_token(&made.id, "t", now()).unwrap().changed);
    assert!(listed(Status::Suspended).is_empty());
    let actions: Vec<String> = admin
        .events(Some(&made.id), None)
        .unwrap()
        .into_iter()
        .map(|e| format!("{} {}", e.action, e.details))
        .collect();
    assert_eq!(
        actions[1..],
        [r#"suspend {"reason":"spike"}"#, "resume {}"],
        "{actions:?}"
    );
    // Nothing about an ended token can matter again.
    admin.revoke_token(&made.id, None, "t", now()).unwrap();
    for err in [
        admin.suspend_token(&made.id, None, "t", now()).unwrap_err(),
        admin.resume_token(&made.id, "t", now()).unwrap_err(),
    ] {
        assert!(matches!(err, Error::Invalid(_)), "{err}");
    }
    let expired = admin.create_token(&new_token("b"), "t", now()).unwrap();
    let err = admin
        .suspend_token(&expired.id, None, "t", expired.expires_at.unwrap())
        .unwrap_err();
    assert!(matches!(err, Error::Invalid(_)), "{err}");

    // Several at once (a rotation chain): all or none. An ended token among them leaves
    // the others as they were.
    let x = admin.create_token(&new_token("x"), "t", now()).unwrap();
    let y = admin.create_token(&new_token("y"), "t", now()).unwrap();
    let suspended = |store: &Store, id: &str| store.token(id).unwrap().unwrap().suspended_at;
    let err = admin
        .suspend_tokens(&[&x.id, &made.id], None, "t", now())
        .unwrap_err();
    assert!(matches!(err, Error::Invalid(_)), "{err}");
    assert_eq!(suspended(&verifier, &x.id), None);
    let both = admin
        .suspend_tokens(&[&y.id, &x.id], Some("incident"), "t", now())
        .unwrap();
    let ids: Vec<&str> = both.iter().map(|c| c.token.id.as_str()).collect();
    assert_eq!(ids, [&y.id, &x.id]);
    assert!(
        both.iter()
            .all(|c| c.changed && c.token.suspended_at.is_some())
    );
    let err = admin
        .resume_tokens(&[&x.id, &made.id], "t", now())
        .unwrap_err();
    assert!(matches!(err, Error::Invalid(_)), "{err}");
    assert!(suspended(&verifier, &x.id).is_some());
    let both = admin.resume_tokens(&[&x.id, &y.id], "t", now()).unwrap();
    assert!(
        both.iter()
            .all(|c| c.changed && c.token.suspended_at.is_none())
    );
    assert_eq!(suspended(&verifier, &y.id), None);
}

/// A rate limit is stored with the token, read by verification, changed and removed (each
/// change logged once), carried by a rotation that is given it, and refused on an ended
/// token.
fn rate_limits(open: &mut dyn FnMut() -> Store) {
    let mut admin = open();
    let verifier = open();
    let limit: RateLimit = "100/min".parse().unwrap();
    let mut token = new_token("a");
    token.rate_limit = Some(limit);
    let made = admin.create_token(&token, "t", now()).unwrap();
    assert_eq!(made.rate_limit, Some(limit));
    let seen = verifier.credential_by_hash(&token.hash).unwrap().unwrap();
    assert_eq!(seen.rate_limit, Some(limit));
    let tighter: RateLimit = "5/s".parse().unwrap();
    let done = admin
        .set_rate_limit(&made.id, Some(tighter), "t", now())
        .unwrap();
    assert!(done.changed);
    assert_eq!(done.token.rate_limit, Some(tighter));
    let seen = verifier.credential_by_hash(&token.hash).unwrap().unwrap();
    assert_eq!(seen.rate_limit, Some(tighter));
    let same = admin.set_rate_limit(&made.id, Some(tighter), "t", now());
    assert!(!same.unwrap().changed);
    let removed = admin.set_rate_limit(&made.id, None, "t", now()).unwrap();
    assert_eq!((removed.changed, removed.token.rate_limit), (true, None));
    assert_eq!(
        verifier
            .credential_by_hash(&token.hash)
            .unwrap()
            .unwrap()
            .rate_limit,
        None
    );
    let details: Vec<String> = admin
        .events(Some(&made.id), None)
        .unwrap()
        .into_iter()
        .filter(|e| e.action == "rate_limit")
        .map(|e| e.details.to_string())
        .collect();
    assert_eq!(
        details,
        [
            r#"{"from":"100/min","to":"5/s"}"#,
            r#"{"from":"5/s","to":null}"#
        ]
    );
    let mut next = new_token("a");
    next.rate_limit = Some(limit);
    let (new, _) = admin
        .rotate_token(&made.id, &next, OldTokenEnd::RevokedNow, "t", now())
        .unwrap();
    assert_eq!(
        admin.token(&new.id).unwrap().unwrap().rate_limit,
        Some(limit)
    );
    let err = admin
        .set_rate_limit(&made.id, Some(limit), "t", now())
        .unwrap_err();
    assert!(matches!(err, Error::Invalid(_)), "{err}");
}

/// Recording usage and reading leave the revision read through the same handle alone:
/// a server's cache survives its own bookkeeping.
fn revision_stays(open: &mut dyn FnMut() -> Store) {
    let mut store = open();
    let made = store.create_token(&new_token("a"), "t", now()).unwrap();
    let before = store.revision().unwrap();
    let uses = UsageBuffer::new();
    uses.record(Presented::Token(made.key()), None, Outcome::Allowed, now());
    uses.record(Presented::Unknown, None, Outcome::Denied, now());
    store.record_usage(&uses.take()).unwrap();
    let hash = new_token("unused").hash;
    store.credential_by_hash(&hash).unwrap();
    store.list_tokens(&TokenFilter::default(), now()).unwrap();
    store.resolve("a", now()).unwrap();
    store.events(None, None).unwrap();
    store.settings().unwrap();
    store.all_requests(now()).unwrap();
    let other = open();
    other.list_tokens(&TokenFilter::default(), now()).unwrap();
    assert_eq!(store.revision().unwrap(), before);
    let in_snapshot = store.in_one_snapshot(|| store.revision().unwrap()).unwrap();
    assert_eq!(in_snapshot, before);
}

/// Inside a snapshot, a revocation committed meanwhile by another handle is seen by no
/// read, the revision included; after it, by every read.
fn snapshot_is_consistent(open: &mut dyn FnMut() -> Store) {
    let mut admin = open();
    let token = new_token("a");
    let made = admin.create_token(&token, "t", now()).unwrap();
    let verifier = open();
    let (before, during) = verifier
        .in_one_snapshot(|| {
            let before = verifier.revision().unwrap();
            let first = verifier.credential_by_hash(&token.hash).unwrap().unwrap();
            assert_eq!(first.revoked_at, None);
            admin.revoke_token(&made.id, None, "t", now()).unwrap();
            let again = verifier.credential_by_hash(&token.hash).unwrap().unwrap();
            assert_eq!(
                again.revoked_at, None,
                "a read in the snapshot saw a later commit"
            );
            (before, verifier.revision().unwrap())
        })
        .unwrap();
    assert_eq!(before, during, "the revision moved inside one snapshot");
    assert_ne!(verifier.revision().unwrap(), before);
    let after = verifier.credential_by_hash(&token.hash).unwrap().unwrap();
    assert_eq!(after.revoked_at, Some(now()));
}

/// Once `revoke` returned, the next read through any handle sees the token revoked.
fn revocation_is_seen_at_once(open: &mut dyn FnMut() -> Store) {
    let mut admin = open();
    let token = new_token("a");
    let made = admin.create_token(&token, "t", now()).unwrap();
    let verifier = open();
    assert!(verifier.credential_by_hash(&token.hash).unwrap().is_some());
    let done = admin
        .revoke_token(&made.id, Some("leak"), "t", now())
        .unwrap();
    assert!(matches!(done, Revocation::Revoked(_)), "{done:?}");
    let seen = verifier.credential_by_hash(&token.hash).unwrap().unwrap();
    assert_eq!(seen.revoked_at, Some(now()));
    let again = admin.revoke_token(&made.id, None, "t", now()).unwrap();
    assert!(matches!(again, Revocation::AlreadyRevoked(_)), "{again:?}");
    let revocations = admin.events(Some(&made.id), None).unwrap();
    let revocations = revocations.iter().filter(|e| e.action == "revoke").count();
    assert_eq!(revocations, 1);
}

/// A rotation makes one successor; rotating the old token again is the user's mistake.
fn rotated_once(open: &mut dyn FnMut() -> Store) {
    let mut first = open();
    let mut second = open();
    let made = first.create_token(&new_token("a"), "t", now()).unwrap();
    let end = OldTokenEnd::ExpiresAt(now() + TimeDelta::hours(1));
    let (next, old) = first
        .rotate_token(&made.id, &new_token("a"), end, "t", now())
        .unwrap();
    assert_eq!(old.rotated_to.as_deref(), Some(next.id.as_str()));
    let err = second
        .rotate_token(&made.id, &new_token("a"), end, "t", now())
        .unwrap_err();
    assert!(matches!(err, Error::Invalid(_)), "{err}");
    let chain = second.rotation_chain(&next.id).unwrap();
    let ids: Vec<&str> = chain.iter().map(|t| t.id.as_str()).collect();
    assert_eq!(ids, [made.id.as_str(), next.id.as_str()]);
}

/// `find_name` offers each name that begins with one of the ASCII starts, or with any
/// character beyond ASCII, once; and no other. `active_ids_named` gives the ids of
/// `active_named`'s tokens.
fn names_found_by_first_character(open: &mut dyn FnMut() -> Store) {
    let mut store = open();
    let names = [
        "alpha", "alpha", "beta", "a", "b", "Z", "~x", "\u{7f}y", "é", "東京", "\u{80}",
    ];
    let ids: Vec<String> = names
        .iter()
        .map(|name| store.create_token(&new_token(name), "t", now()).unwrap().id)
        .collect();
    let named = store.active_ids_named("alpha", now(), 5).unwrap();
    assert_eq!(named.count, 2);
    assert_eq!(named.newest, ids[..2]);
    let records = store.active_named("alpha", now()).unwrap();
    assert_eq!(
        records.iter().map(|t| &t.id).collect::<Vec<_>>(),
        named.newest.iter().collect::<Vec<_>>()
    );
    // The newest only, oldest first; the count is of all of them.
    let more: Vec<String> = (0..3)
        .map(|_| {
            store
                .create_token(&new_token("alpha"), "t", now())
                .unwrap()
                .id
        })
        .collect();
    let named = store.active_ids_named("alpha", now(), 2).unwrap();
    assert_eq!(named.count, 5);
    assert_eq!(named.newest, more[1..]);
    store.revoke_token(&more[2], None, "t", now()).unwrap();
    let named = store.active_ids_named("alpha", now(), 2).unwrap();
    assert_eq!((named.count, &named.newest[..]), (4, &more[..2]));
    assert_eq!(
        store.active_ids_named("nobody", now(), 2).unwrap(),
        SameName::default()
    );
    let offered = |starts: &[u8]| {
        let mut seen = Vec::new();
        let found = store
            .find_name(starts, &mut |name| {
                seen.push(name.to_string());
                false
            })
            .unwrap();
        assert_eq!(found, None);
        seen.sort();
        seen
    };
    let sorted = |names: &[&str]| {
        let mut names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        names.sort();
        names
    };
    let beyond_ascii = ["é", "東京", "\u{80}"];
    assert_eq!(offered(b""), sorted(&beyond_ascii));
    assert_eq!(
        offered(b"a"),
        sorted(&[&["a", "alpha"][..], &beyond_ascii].concat())
    );
    assert_eq!(
        offered(b"~\x7f"),
        sorted(&[&["~x", "\u{7f}y"][..], &beyond_ascii].concat())
    );
    let found = store
        .find_name(b"abZ", &mut |name| name.len() > 1 && name.starts_with('b'))
        .unwrap();
    assert_eq!(found.as_deref(), Some("beta"));
}

/// `prune_tokens` deletes the tokens that ended before the cutoff with their usage,
/// keeps their events, unlinks their rotation partners, and moves the revision.
fn tokens_pruned(open: &mut dyn FnMut() -> Store) {
    let mut admin = open();
    let verifier = open();
    let t0 = now() - TimeDelta::days(10);
    let old = admin.create_token(&new_token("ci"), "t", t0).unwrap();
    let end = OldTokenEnd::RevokedNow;
    let (kept, _) = admin
        .rotate_token(&old.id, &new_token("ci"), end, "t", t0)
        .unwrap();
    let recent = admin.create_token(&new_token("r"), "t", t0).unwrap();
    admin
        .revoke_tokens(&[&recent.id], None, "t", now())
        .unwrap();
    let buf = UsageBuffer::new();
    buf.record(Presented::Token(old.key()), None, Outcome::Ended, t0);
    admin.record_usage(&buf.take()).unwrap();
    let cutoff = now() - TimeDelta::days(1);
    let signalled = || verifier.change_signal().map(|s| s.read());
    let signal = signalled();
    let counted = admin.prune_tokens(cutoff, true, "t", now()).unwrap();
    assert_eq!(signalled(), signal, "a dry run is no credential change");
    assert_eq!(counted.ids, std::slice::from_ref(&old.id));
    assert_eq!((counted.usage_rows, counted.uses), (1, 1));
    assert!(
        admin.token(&old.id).unwrap().is_some(),
        "a dry run deletes nothing"
    );
    let before = verifier.revision().unwrap();
    assert_eq!(
        admin.prune_tokens(cutoff, false, "t", now()).unwrap(),
        counted
    );
    assert_ne!(verifier.revision().unwrap(), before, "the revision moves");
    assert_eq!(admin.token(&old.id).unwrap(), None);
    assert!(
        admin.token(&recent.id).unwrap().is_some(),
        "ended after the cutoff"
    );
    assert_eq!(admin.token(&kept.id).unwrap().unwrap().rotated_from, None);
    assert!(
        admin.all_requests(t0).unwrap().is_empty(),
        "its usage is gone"
    );
    let events = admin.events(Some(&old.id), None).unwrap();
    let actions: Vec<&str> = events.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(actions, ["create", "rotate", "prune"]);
}

fn same_database(open: &mut dyn FnMut() -> Store) {
    let store = open();
    store.check_same_database().unwrap();
    store.health().unwrap();
    assert!(store.schema_version().unwrap() > 0);
}

/// A database with something in every carried table: tokens of every status, a
/// rotation, an allow list and a description, settings, usage of tokens (spread over
/// days, and thousands of rows of one) and of strangers. Returns the hashes of its tokens.
fn populate(store: &mut Store) -> Vec<token::TokenHash> {
    let t0 = now() - TimeDelta::days(20);
    let mut hashes = Vec::new();
    let mut made = Vec::new();
    for (i, name) in ["importer", "mailchimp", "ci", "mobile"].iter().enumerate() {
        let mut new = new_token(name);
        if i == 1 {
            new.description = Some("nightly sync".into());
            new.allowed_ips = vec!["203.0.113.0/24".parse().unwrap()];
        }
        hashes.push(new.hash);
        made.push(store.create_token(&new, "t", t0).unwrap());
    }
    let successor = new_token("importer");
    hashes.push(successor.hash);
    let end = OldTokenEnd::ExpiresAt(t0 + TimeDelta::days(1));
    store
        .rotate_token(&made[0].id, &successor, end, "t", t0)
        .unwrap();
    store
        .revoke_token(&made[2].id, Some("leaked"), "t", t0)
        .unwrap();
    store.set_setting("token_prefix", "acme", "t", t0).unwrap();
    let uses = UsageBuffer::new();
    for day in 0..20 {
        let at = t0 + TimeDelta::days(day) + TimeDelta::hours(day % 5);
        let ip = Some(format!("198.51.100.{}", day % 3).parse().unwrap());
        uses.record(Presented::Token(made[1].key()), ip, Outcome::Allowed, at);
        uses.record(Presented::Token(made[2].key()), ip, Outcome::Ended, at);
        uses.record(Presented::Unknown, ip, Outcome::Denied, at);
    }
    // More rows than a backend reads or writes at once: one a hour for three months.
    for hour in 0..2100 {
        let at = now() - TimeDelta::hours(hour);
        uses.record(Presented::Token(made[3].key()), None, Outcome::Allowed, at);
    }
    store.record_usage(&uses.take()).unwrap();
    hashes
}

/// Every record of `store`, table by table.
fn records(store: &Store) -> Vec<(&'static str, Vec<Value>)> {
    let mut all = Vec::new();
    store
        .export(&mut |table, values| {
            all.push((table.name, values.to_vec()));
            Ok(())
        })
        .unwrap();
    all
}

/// What the anomaly rules see at `at`, its lists sorted (their order is unspecified).
fn facts(store: &Store, at: DateTime<Utc>) -> crate::usage::AnomalyFacts {
    let mut facts = store.anomaly_facts(None, at).unwrap();
    facts.new_ips.sort();
    facts.denied_after_end.sort();
    facts.restricted_ips.sort();
    facts
}

/// `to`, a new database, after a copy of `from`: the same records (and one `copy` event
/// more, naming `from`), the same summaries, every token found by its hash; a second
/// copy into it is refused and changes nothing.
fn copies_everything(from: &mut Store, to: &Location) {
    let hashes = populate(from);
    let copied = from.copy_to(to, "t", now()).unwrap();
    assert_eq!(copied.of("tokens"), 5);
    assert_eq!(copied.of("settings"), 1);
    assert!(copied.of("usage") > 2100, "{copied:?}");
    let copy = Store::open(to, OpenMode::Existing).unwrap();
    let (mut ours, mut theirs) = (records(from), records(&copy));
    let last_event = theirs.iter().rposition(|(t, _)| *t == "events").unwrap();
    let event = theirs.remove(last_event);
    assert_eq!(event.1[3], Value::Text("copy".into()));
    let Value::Text(details) = &event.1[5] else {
        panic!("{event:?}")
    };
    assert!(details.contains(&from.location().to_string()), "{details}");
    assert_eq!(ours, theirs);
    for hash in &hashes {
        assert_eq!(
            from.find_by_hash(hash).unwrap(),
            copy.find_by_hash(hash).unwrap()
        );
        assert!(copy.credential_by_hash(hash).unwrap().is_some());
    }
    for at in [now(), now() - TimeDelta::days(9)] {
        assert_eq!(
            from.all_requests(at).unwrap(),
            copy.all_requests(at).unwrap()
        );
        assert_eq!(facts(from, at), facts(&copy, at));
        let since = at - TimeDelta::days(30);
        assert_eq!(
            from.window_totals(since).unwrap(),
            copy.window_totals(since).unwrap()
        );
        assert_eq!(
            from.daily_usage(None, since, at).unwrap(),
            copy.daily_usage(None, since, at).unwrap()
        );
        assert_eq!(
            from.stranger_usage(since).unwrap(),
            copy.stranger_usage(since).unwrap()
        );
    }
    ours = records(&copy);
    let err = from.copy_to(to, "t", now()).unwrap_err();
    assert!(matches!(err, Error::Invalid(_)), "{err}");
    assert_eq!(
        records(&copy),
        ours,
        "a refused copy changed the destination"
    );
    let mut copy = copy;
    let next = copy.create_token(&new_token("after"), "t", now()).unwrap();
    assert!(next.key() > 5, "the new token reused a copied key");
}

/// A source that fails half-way leaves no database at `to`.
fn failed_copy_leaves_nothing(from: &mut Store, to: &Location) {
    populate(from);
    let copied = super::records::Copied::new(from.location().to_string(), to.to_string());
    let mut rows = 0;
    let mut failing = |sink: super::records::Sink<'_>| {
        from.export(&mut |table, values| {
            rows += 1;
            if table.name == "usage" {
                return Err(Error::unavailable("the source went away".into()));
            }
            sink(table, values)
        })
    };
    let err = match to {
        Location::File(path) => {
            super::sqlite::Sqlite::import_into_empty(path, &mut failing, copied, "t", now())
        }
        Location::Postgres(url) => {
            super::postgres::Postgres::import_into_empty(url, &mut failing, copied, "t", now())
        }
    }
    .unwrap_err();
    assert!(err.to_string().contains("the source went away"), "{err}");
    assert!(rows > 5, "it failed before writing anything");
    assert!(!Store::exists(to).unwrap(), "a failed copy left a database");
}

mod sqlite {
    use super::*;

    /// Handles on a new database file in a temporary directory, which lives as long as
    /// the handles do.
    fn new_database() -> Handles {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tokens.db");
        Box::new(move || {
            let _keep = &dir;
            Store::open(&path, OpenMode::Create).unwrap()
        })
    }

    #[test]
    fn sqlite_keeps_the_contract() {
        check(new_database);
    }

    #[test]
    fn sqlite_copies_to_sqlite() {
        let dir = tempfile::tempdir().unwrap();
        let to = Location::File(dir.path().join("copy.db"));
        copies_everything(&mut new_database()(), &to);
        let mode = std::fs::metadata(dir.path().join("copy.db")).unwrap();
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(mode.permissions().mode() & 0o777, 0o600);
        let other = Location::File(dir.path().join("failed.db"));
        failed_copy_leaves_nothing(&mut new_database()(), &other);
    }
}

mod postgres {
    use super::*;
    use crate::store::location::{Location, PostgresUrl};

    /// A database of its own on the server `TOKENCTL_TEST_POSTGRES` names, dropped with
    /// the last handle (connections still open to it are ended).
    struct Database {
        server: String,
        name: String,
    }

    impl Drop for Database {
        fn drop(&mut self) {
            if let Ok(mut admin) = ::postgres::Client::connect(&self.server, ::postgres::NoTls) {
                let drop = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
                let _ = admin.batch_execute(&drop);
            }
        }
    }

    /// The test server, or `None` (skipped, and said so) outside CI; under CI a missing
    /// server fails the test.
    fn server() -> Option<String> {
        match std::env::var("TOKENCTL_TEST_POSTGRES") {
            Ok(url) if !url.is_empty() => Some(url),
            _ if std::env::var("CI").is_ok_and(|v| v == "true") => {
                panic!("CI=true, but TOKENCTL_TEST_POSTGRES names no PostgreSQL server")
            }
            _ => {
                // Past the harness's capture (which only takes `eprintln!`): shown by
                // `cargo test`.
                use std::io::Write;
                let _ = writeln!(
                    std::io::stderr(),
                    "skipped: the PostgreSQL contract tests need TOKENCTL_TEST_POSTGRES=postgres://USER:PASSWORD@HOST/DB (a role with CREATEDB; see README, Development)"
                );
                None
            }
        }
    }

    /// A new database of its own on `server`, without tokenctl's schema, and its URL.
    fn new_url(server: &str) -> (Database, PostgresUrl) {
        let name = format!("tokenctl_unit_{:016x}", rand::random::<u64>());
        let mut admin = ::postgres::Client::connect(server, ::postgres::NoTls).unwrap();
        admin
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .unwrap();
        let base = server.rsplit_once('/').map_or(server, |(b, _)| b);
        let url = PostgresUrl::parse(&format!("{base}/{name}")).unwrap();
        let db = Database {
            server: server.to_string(),
            name,
        };
        (db, url)
    }

    fn new_database(server: &str) -> Handles {
        let (db, url) = new_url(server);
        Box::new(move || {
            let _keep = &db;
            Store::open(Location::Postgres(url.clone()), OpenMode::Create).unwrap()
        })
    }

    /// SQLite to PostgreSQL (no schema there yet), PostgreSQL to SQLite, and PostgreSQL
    /// to a PostgreSQL database with an empty schema.
    #[test]
    fn postgres_copies_both_ways() {
        let Some(server) = server() else { return };
        let dir = tempfile::tempdir().unwrap();
        let mut sqlite = Store::open(dir.path().join("a.db"), OpenMode::Create).unwrap();
        let (_db, url) = new_url(&server);
        copies_everything(&mut sqlite, &Location::Postgres(url));
        let mut handles = new_database(&server);
        copies_everything(&mut handles(), &Location::File(dir.path().join("b.db")));
        let mut handles = new_database(&server);
        let mut postgres = handles();
        let (_empty, url) = new_url(&server);
        drop(Store::open(Location::Postgres(url.clone()), OpenMode::Create).unwrap());
        copies_everything(&mut postgres, &Location::Postgres(url));
        let (_db, url) = new_url(&server);
        let mut sqlite = Store::open(dir.path().join("c.db"), OpenMode::Create).unwrap();
        failed_copy_leaves_nothing(&mut sqlite, &Location::Postgres(url));
    }

    /// Every table and column of the schema is carried or said not to be.
    #[test]
    fn postgres_columns_are_carried_or_explained() {
        let Some(server) = server() else { return };
        let (_db, url) = new_url(&server);
        drop(Store::open(Location::Postgres(url.clone()), OpenMode::Create).unwrap());
        let mut client = url.config().connect(::postgres::NoTls).unwrap();
        let schema = client
            .query(
                "SELECT table_name::text, column_name::text FROM information_schema.columns \
                  WHERE table_schema = 'tokenctl'",
                &[],
            )
            .unwrap()
            .iter()
            .map(|r| (r.get(0), r.get(1)))
            .collect();
        crate::store::records::check_carried(&schema, crate::store::postgres::copy::NOT_CARRIED);
    }

    #[test]
    fn postgres_keeps_the_contract() {
        let Some(server) = server() else { return };
        check(|| new_database(&server));
    }
}

/// Only the SQLite backend names its driver, tests included: everything else reaches the
/// database through [`Store`]. (`benches/verify.rs` measures a raw-SQLite floor on
/// purpose and is not looked at.)
#[test]
fn only_the_sqlite_backend_names_its_driver() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let this = root.join(file!());
    let mut naming = Vec::new();
    for top in ["src", "tests", "xtask"] {
        for entry in walkdir::WalkDir::new(root.join(top)) {
            let path = entry.unwrap().into_path();
            let rust = path.extension().is_some_and(|e| e == "rs");
            if !rust || path == this || path.starts_with(root.join("src/store/sqlite")) {
                continue;
            }
            if std::fs::read_to_string(&path).unwrap().contains("rusqlite") {
                naming.push(path);
            }
        }
    }
    assert!(naming.is_empty(), "{naming:?}");
}
