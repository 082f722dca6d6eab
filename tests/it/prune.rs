use chrono::{DateTime, Utc};
use tokenctl::{Question, Verifier};

use crate::common::TestEnv;

#[test]
fn deletes_old_usage_keeps_tokens_and_logs() {
    let mut env = TestEnv::new();
    env.set_now("2025-01-01T00:00:00Z");
    env.run(&["config", "set", "max_lifetime", "none"])
        .success();
    let t = env.create("old", &["cases:read"], &["--expires", "never"]);
    let mut v = Verifier::open(env.store_location()).unwrap();
    let at = |s: &str| s.parse::<DateTime<Utc>>().unwrap();
    v.verify_at(&Question::new(&t.secret), at("2025-01-02T00:00:00Z"))
        .unwrap();
    v.verify_at(&Question::new(&t.secret), at("2026-02-20T00:00:00Z"))
        .unwrap();
    v.commit_usage().unwrap();
    env.set_now("2026-03-01T00:00:00Z");
    let dry = env.run(&["prune", "--dry-run", "--json"]).success().json();
    assert_eq!(
        (dry["dry_run"].as_bool(), dry["uses"].as_u64()),
        (Some(true), Some(1))
    );
    let run = env.run(&["prune"]).success();
    assert!(
        run.stdout.starts_with("Deleted 1 usage row (1 use)"),
        "{}",
        run.stdout
    );
    let again = env
        .run(&["prune", "--usage-older-than", "1d", "--json"])
        .success()
        .json();
    assert_eq!(again["uses"], 1);
    assert_eq!(env.show(&t.id)["status"], "active");
    let events = env.run(&["audit", "--events", "--json"]).success().json();
    assert_eq!(
        events
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["action"] == "prune")
            .count(),
        2
    );
    env.run(&["prune", "--usage-older-than", "soon"]).code(2);
}

/// `prune --tokens`: revoked and expired tokens past the retention go, with their usage;
/// their events stay, and each deletion is logged.
#[test]
fn tokens_past_their_retention_are_deleted_with_their_usage_events_kept() {
    let mut env = TestEnv::new();
    env.set_now("2025-01-01T00:00:00Z");
    let revoked = env.create("ci-1", &["cases:read"], &["--expires", "30d"]);
    let expired = env.create("ci-2", &["cases:read"], &["--expires", "30d"]);
    let rotated = env.create("sync", &["cases:read"], &["--expires", "300d"]);
    assert_eq!(env.verify(&revoked.secret, &["--ip", "10.0.0.1"]).0, 0);
    env.run(&["revoke", &revoked.id, "--yes"]).success();
    env.run(&["rotate", "sync", "--grace", "0"]).success();
    env.set_now("2025-12-01T00:00:00Z");
    let recent = env.create("ci-3", &["cases:read"], &[]);
    env.run(&["revoke", &recent.id, "--yes"]).success();
    let kept = env.create("live", &["cases:read"], &[]);

    env.set_now("2026-01-15T00:00:00Z");
    let dry = env
        .run(&[
            "prune",
            "--tokens",
            "--older-than",
            "300d",
            "--dry-run",
            "--json",
        ])
        .success()
        .json();
    assert_eq!(dry["dry_run"], true);
    let mut doomed = vec![revoked.id.clone(), expired.id.clone(), rotated.id.clone()];
    doomed.sort();
    let ids = |v: &serde_json::Value| {
        let mut ids: Vec<String> = v["tokens"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i.as_str().unwrap().to_string())
            .collect();
        ids.sort();
        ids
    };
    assert_eq!(ids(&dry), doomed);
    assert_eq!((&dry["usage_rows"], &dry["uses"]), (&1.into(), &1.into()));
    assert_eq!(
        env.run(&["list", "--status", "all", "--json"])
            .success()
            .json()
            .as_array()
            .unwrap()
            .len(),
        6
    );

    // The default retention (400d) keeps them all; the setting changes it.
    let none = env.run(&["prune", "--tokens", "--json"]).success().json();
    assert!(none["tokens"].as_array().unwrap().is_empty());
    env.run(&["config", "set", "token_retention", "300d"])
        .success();
    let run = env.run(&["prune", "--tokens"]).success();
    assert!(
        run.stdout
            .starts_with("Deleted 3 tokens revoked or expired before 2025-03-21T00:00:00Z"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains("with their 1 usage row (1 use); their events are kept"),
        "{}",
        run.stdout
    );

    let left: Vec<String> = env
        .run(&["list", "--status", "all", "--json"])
        .success()
        .json()
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(left.len(), 3);
    assert!(left.contains(&recent.id) && left.contains(&kept.id));
    // The rotated token's successor stays, without its link to the deleted one.
    let successor = left
        .iter()
        .find(|id| **id != recent.id && **id != kept.id)
        .unwrap();
    assert!(env.show(successor)["rotated_from"].is_null());
    env.run(&["show", &revoked.id]).code(1);
    let events = env
        .run(&["audit", "--events", "--since", "400d", "--json"])
        .success()
        .json();
    let of = |id: &str| -> Vec<String> {
        events
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["token_id"] == id)
            .map(|e| e["action"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(of(&revoked.id), ["create", "revoke", "prune"]);
    assert_eq!(of(&expired.id), ["create", "prune"]);
    env.run(&["prune", "--older-than", "1d"]).code(2);
    env.run(&["prune", "--tokens", "--usage-older-than", "1d"])
        .code(2);
}
