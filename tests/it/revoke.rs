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
