use crate::common::TestEnv;

#[test]
fn new_token_old_expires_after_grace_linked_in_history() {
    let mut env = TestEnv::new();
    env.set_now("2026-03-01T10:00:00Z");
    let old = env.create(
        "sync",
        &["contacts:write"],
        &[
            "--expires",
            "30d",
            "--allow-ip",
            "10.0.0.0/8",
            "--description",
            "d",
        ],
    );
    env.set_now("2026-03-05T10:00:00Z");
    let v = env
        .run(&["rotate", "sync", "--grace", "2h", "--json"])
        .success()
        .json();
    let secret = v["token"].as_str().unwrap();
    tokenctl::token::parse(secret).expect("new token parses");
    assert_ne!(v["id"], old.id.as_str());
    assert_eq!(v["name"], "sync");
    assert_eq!(v["scopes"], serde_json::json!(["contacts:write"]));
    assert_eq!(v["allowed_ips"], serde_json::json!(["10.0.0.0/8"]));
    assert_eq!(v["description"], "d");
    assert_eq!(v["rotated_from"], old.id.as_str());
    assert_eq!(
        v["expires_at"], "2026-04-04T10:00:00Z",
        "the old token's 30-day lifetime"
    );
    let o = env.show(&old.id);
    assert_eq!(o["expires_at"], "2026-03-05T12:00:00Z");
    assert_eq!(o["rotated_to"], v["id"]);
    assert_eq!(o["status"], "rotating");
    // Both work during the grace period; the old one stops at its end.
    assert_eq!(env.verify(secret, &["--ip", "10.1.1.1"]).0, 0);
    assert_eq!(env.verify(&old.secret, &["--ip", "10.1.1.1"]).0, 0);
    env.set_now("2026-03-05T12:00:00Z");
    let (code, d) = env.verify(&old.secret, &["--ip", "10.1.1.1"]);
    assert_eq!((code, d["reason"].as_str()), (3, Some("expired")));
    let actions: Vec<&str> = o["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["create", "rotate"]);
}

#[test]
fn plain_output_is_the_token_only() {
    let env = TestEnv::new();
    env.create("sync", &["contacts:write"], &[]);
    let run = env.run(&["rotate", "sync"]).success();
    assert!(tokenctl::token::parse(run.stdout.trim_end()).is_ok());
    assert_eq!(run.stdout.lines().count(), 1);
    assert!(run.stderr.contains("keeps working until"), "{}", run.stderr);
}

#[test]
fn grace_zero_revokes_at_once() {
    let env = TestEnv::new();
    let old = env.create("sync", &["contacts:write"], &[]);
    env.run(&["rotate", &old.id, "--grace", "0"]).success();
    let o = env.show(&old.id);
    assert_eq!(o["status"], "revoked");
    assert_eq!(o["revoke_reason"], "rotated");
    assert_eq!(env.verify(&old.secret, &[]).0, 3);
}

#[test]
fn cron_rotation_by_name_follows_the_chain() {
    let env = TestEnv::new();
    env.create("sync", &["contacts:write"], &[]);
    let first = env.run(&["rotate", "sync", "--json"]).success().json();
    let second = env.run(&["rotate", "sync", "--json"]).success().json();
    assert_eq!(second["rotated_from"], first["id"]);
}

#[test]
fn refusals() {
    let env = TestEnv::new();
    let t = env.create("sync", &["contacts:write"], &[]);
    let run = env.run(&["rotate", "sync", "--expires", "2y"]).code(2);
    assert!(run.stderr.contains("maximum lifetime"), "{}", run.stderr);
    let run = env.run(&["rotate", "sync", "--grace", "soon"]).code(2);
    assert!(run.stderr.contains("'soon'"), "{}", run.stderr);
    env.run(&["revoke", &t.id, "--yes"]).success();
    let run = env.run(&["rotate", &t.id]).code(2);
    assert!(run.stderr.contains("revoked"), "{}", run.stderr);
}
