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
    let mut v = Verifier::open(env.db()).unwrap();
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
