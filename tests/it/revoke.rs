use crate::common::TestEnv;

#[test]
fn needs_yes_without_a_terminal() {
    let env = TestEnv::new();
    let t = env.create("x", &["cases:read"], &[]);
    let run = env.run(&["revoke", &t.id]).code(2);
    assert!(run.stderr.contains("--yes"), "{}", run.stderr);
    assert_eq!(env.show(&t.id)["status"], "active");
}

#[test]
fn revokes_at_once_with_reason_and_is_idempotent() {
    let mut env = TestEnv::new();
    env.set_now("2026-03-01T10:00:00Z");
    let t = env.create("x", &["cases:read"], &[]);
    assert_eq!(env.verify(&t.secret, &[]).0, 0);
    env.set_now("2026-03-01T11:00:00Z");
    let v = env
        .run(&[
            "revoke",
            "x",
            "--reason",
            "pushed to GitHub",
            "--yes",
            "--json",
        ])
        .success()
        .json();
    assert_eq!(v["status"], "revoked");
    assert_eq!(v["revoked_at"], "2026-03-01T11:00:00Z");
    assert_eq!(v["revoke_reason"], "pushed to GitHub");
    let (code, d) = env.verify(&t.secret, &[]);
    assert_eq!((code, d["reason"].as_str()), (3, Some("revoked")));
    env.set_now("2026-03-01T12:00:00Z");
    let run = env.run(&["revoke", &t.id, "--yes"]).success();
    assert!(run.stderr.contains("already revoked"), "{}", run.stderr);
    // Without --yes too: nothing to confirm.
    env.run(&["revoke", &t.id]).success();
    let after = env.show(&t.id);
    assert_eq!(after["revoked_at"], "2026-03-01T11:00:00Z");
    let actions: Vec<&str> = after["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["create", "revoke"]);
}

#[test]
fn unknown_token_is_an_error() {
    let env = TestEnv::new();
    env.create("x", &["cases:read"], &[]);
    let run = env.run(&["revoke", "nope", "--yes"]).code(1);
    assert!(run.stderr.contains("'nope'"));
}

/// A leak during a rotation's grace period: the old secret still works, so revoking the
/// name must stop both, in one transaction.
#[test]
fn by_name_revokes_the_still_working_rotation_chain() {
    let mut env = TestEnv::new();
    env.set_now("2026-03-01T10:00:00Z");
    let old = env.create("sync", &["cases:read"], &[]);
    let rotated = env
        .run(&["rotate", "sync", "--grace", "2h", "--json"])
        .success()
        .json();
    let new = rotated["token"].as_str().unwrap().to_string();
    let new_id = rotated["id"].as_str().unwrap().to_string();
    assert_eq!(env.verify(&old.secret, &[]).0, 0, "the grace period runs");
    let v = env
        .run(&["revoke", "sync", "--yes", "--json", "--reason", "leaked"])
        .success()
        .json();
    assert_eq!(v["id"], new_id.as_str());
    assert_eq!(v["also_revoked"], serde_json::json!([old.id]));
    for secret in [&old.secret, &new] {
        let (code, d) = env.verify(secret, &[]);
        assert_eq!((code, d["reason"].as_str()), (3, Some("revoked")));
    }
    assert_eq!(env.show(&old.id)["revoke_reason"], "leaked");
}

/// By id, only that token; the still-working predecessor is named in a warning.
#[test]
fn by_id_revokes_one_token_and_warns_about_its_chain() {
    let env = TestEnv::new();
    let old = env.create("sync", &["cases:read"], &[]);
    let rotated = env
        .run(&["rotate", "sync", "--grace", "2h", "--json"])
        .success()
        .json();
    let new_id = rotated["id"].as_str().unwrap();
    let run = env.run(&["revoke", new_id, "--yes", "--json"]).success();
    assert!(run.stderr.contains(&old.id), "{}", run.stderr);
    assert!(run.stderr.contains("revoke by name"), "{}", run.stderr);
    assert_eq!(run.json()["also_revoked"], serde_json::json!([]));
    assert_eq!(env.verify(&old.secret, &[]).0, 0);
}

/// Two unrelated active tokens of one name: nothing is revoked, both are listed.
#[test]
fn by_name_refuses_unrelated_tokens_of_one_name() {
    let env = TestEnv::new();
    let a = env.create("twin", &["cases:read"], &[]);
    let b = env.create("twin", &["cases:read"], &[]);
    let run = env.run(&["revoke", "twin", "--yes"]).code(1);
    assert!(
        run.stderr.contains(&a.id) && run.stderr.contains(&b.id),
        "{}",
        run.stderr
    );
    assert_eq!(env.verify(&a.secret, &[]).0, 0);
    assert_eq!(env.verify(&b.secret, &[]).0, 0);
}
