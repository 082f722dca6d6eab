use crate::common::{TestEnv, redact};

fn names(v: &serde_json::Value) -> Vec<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn filters() {
    let mut env = TestEnv::new();
    env.set_now("2026-03-01T10:00:00Z");
    env.create("soon", &["cases:read"], &["--expires", "5d"]);
    env.create(
        "later",
        &["cases:read"],
        &["--expires", "60d", "--env", "test"],
    );
    let gone = env.create("gone", &["cases:read"], &[]);
    env.run(&["revoke", &gone.id, "--yes"]).success();
    let list = |env: &TestEnv, args: &[&str]| {
        let mut all = vec!["list", "--json"];
        all.extend_from_slice(args);
        names(&env.run(&all).success().json())
    };
    assert_eq!(list(&env, &[]), ["soon", "later"]);
    assert_eq!(list(&env, &["--status", "all"]), ["soon", "later", "gone"]);
    assert_eq!(list(&env, &["--status", "revoked"]), ["gone"]);
    assert_eq!(list(&env, &["--env", "test"]), ["later"]);
    assert_eq!(list(&env, &["--expiring-within", "7d"]), ["soon"]);
    assert_eq!(list(&env, &["--unused-for", "1d"]), Vec::<String>::new());
    env.set_now("2026-03-08T10:00:00Z");
    assert_eq!(list(&env, &["--status", "expired"]), ["soon"]);
    assert_eq!(list(&env, &["--unused-for", "1d"]), ["later"]);
    let run = env.run(&["list", "--status", "bogus"]).code(2);
    assert!(run.stderr.contains("bogus"));
}

#[test]
fn table_snapshot() {
    let mut env = TestEnv::new();
    env.set_now("2026-03-01T10:00:00Z");
    let a = env.create("Mailchimp sync", &["contacts:write"], &["--expires", "30d"]);
    let b = env.create(
        "importer",
        &["cases:write", "documents:read"],
        &["--env", "test"],
    );
    env.set_now("2026-03-01T13:00:00Z");
    env.verify(&a.secret, &["--ip", "203.0.113.7"]);
    let out = env.run(&["list"]).success().stdout;
    insta::assert_snapshot!(redact(&out, &[(&a.id, "[ID-A]  "), (&b.id, "[ID-B]  ")]), @r"
    ID        NAME            ENV   SCOPES                      EXPIRES      LAST USED  REQ 24H  STATUS
    [ID-A]    Mailchimp sync  live  contacts:write              in 30 days   just now   1        active
    [ID-B]    importer        test  cases:write documents:read  in 3 months  never      0        active
    ");
}

#[test]
fn empty_list_says_so_on_stderr() {
    let env = TestEnv::new();
    env.run(&["init"]).success();
    let run = env.run(&["list"]).success();
    assert!(run.stdout.is_empty());
    assert!(run.stderr.contains("No tokens"));
    assert_eq!(
        env.run(&["list", "--json"]).success().json(),
        serde_json::json!([])
    );
}

/// The JSON list is written as the tokens are read: a reader that goes away mid-list
/// (more than the 64 KiB written at once) ends it quietly too.
#[test]
fn closed_stdout_is_not_an_error() {
    let env = TestEnv::new();
    let description = "d".repeat(1000);
    for i in 0..80 {
        env.create(
            &format!("t{i}"),
            &["cases:read"],
            &["--description", &description],
        );
    }
    let mut child = env
        .std_cmd()
        .arg("list")
        .arg("--json")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn color_always_and_never() {
    let env = TestEnv::new();
    env.create("c", &["cases:read"], &[]);
    let colored = env.run(&["--color", "always", "list"]).success().stdout;
    assert!(colored.contains("\x1b["), "{colored:?}");
    let plain = env.run(&["--color", "never", "list"]).success().stdout;
    assert!(!plain.contains('\x1b'));
    // auto without a terminal: plain.
    assert!(!env.run(&["list"]).success().stdout.contains('\x1b'));
}

/// A token in its rotation grace period has a status of its own until the grace ends, and
/// is no renewal candidate for --expiring-within.
#[test]
fn a_token_in_its_rotation_grace_is_rotating() {
    let mut env = TestEnv::new();
    env.set_now("2026-03-01T10:00:00Z");
    let old = env.create("sync", &["cases:read"], &["--expires", "30d"]);
    env.create("soon", &["cases:read"], &["--expires", "5d"]);
    env.run(&["rotate", "sync", "--grace", "1d"]).success();
    let list = |env: &TestEnv, args: &[&str]| {
        let mut all = vec!["list", "--json"];
        all.extend_from_slice(args);
        env.run(&all).success().json()
    };
    let all = list(&env, &[]);
    let statuses: Vec<(&str, &str)> = all
        .as_array()
        .unwrap()
        .iter()
        .map(|t| (t["name"].as_str().unwrap(), t["status"].as_str().unwrap()))
        .collect();
    assert_eq!(
        statuses,
        [("sync", "rotating"), ("soon", "active"), ("sync", "active")]
    );
    let rotating = list(&env, &["--status", "rotating"]);
    assert_eq!(rotating.as_array().unwrap().len(), 1);
    assert_eq!(rotating[0]["id"], old.id.as_str());
    assert_eq!(names(&list(&env, &["--expiring-within", "7d"])), ["soon"]);
    let human = env.run(&["list"]).success().stdout;
    assert!(human.contains("rotating"), "{human}");
    // The grace over, it is expired like any other.
    env.set_now("2026-03-02T10:00:00Z");
    assert!(
        list(&env, &["--status", "rotating"])
            .as_array()
            .unwrap()
            .is_empty()
    );
    assert_eq!(env.show(&old.id)["status"], "expired");
}

/// A database from before the running totals (schema 3) gets them from its usage rows on
/// first open: `list` and `audit` count as they did.
#[test]
fn counts_survive_the_upgrade_that_adds_running_totals() {
    use chrono::{DateTime, TimeDelta, Utc};
    use tokenctl::{Question, Verifier};

    let mut env = TestEnv::sqlite();
    env.set_now("2026-03-01T10:00:00Z");
    let a = env.create("a", &["cases:read"], &["--expires", "90d"]);
    let b = env.create("b", &["cases:read"], &["--expires", "90d"]);
    let now: DateTime<Utc> = "2026-03-20T10:30:00Z".parse().unwrap();
    let mut v = Verifier::open(env.db()).unwrap();
    for (i, hours_back) in [0, 5, 23, 24, 100, 167, 168, 300, 719, 720]
        .iter()
        .enumerate()
    {
        let at = now - TimeDelta::hours(*hours_back);
        let ip = format!("10.0.0.{}", i % 3).parse().unwrap();
        for secret in [&a.secret, &b.secret].into_iter().take(1 + i % 2) {
            v.verify_at(&Question::new(secret).ip(ip), at).unwrap();
        }
    }
    v.commit_usage().unwrap();
    drop(v);
    env.set_now("2026-03-20T10:30:00Z");
    let figures = |env: &TestEnv| {
        (
            env.run(&["list", "--json"]).success().json(),
            env.run(&["audit", "--json"]).success().json(),
            env.run(&["audit", "--since", "7d", "--json"])
                .success()
                .json(),
        )
    };
    let current = figures(&env);
    assert_eq!(current.0[0]["requests_30d"], 9, "{}", current.0);

    crate::common::Sqlite3::open(env.db()).run(
        "DROP TRIGGER tokens_inserted; DROP TRIGGER tokens_deleted; DROP TRIGGER tokens_changed; \
         DROP TABLE credentials_revision; DROP TABLE token_days; DROP TABLE token_recent; \
         ALTER TABLE token_ips DROP COLUMN last_kept; \
         ALTER TABLE usage DROP COLUMN ended; DROP INDEX usage_limited; \
         ALTER TABLE usage DROP COLUMN limited; ALTER TABLE tokens DROP COLUMN suspended_at; \
         ALTER TABLE tokens DROP COLUMN suspend_reason; ALTER TABLE tokens DROP COLUMN rate_per; \
         ALTER TABLE tokens DROP COLUMN rate_limit; PRAGMA user_version = 3;",
    );
    assert_eq!(figures(&env), current);
}
