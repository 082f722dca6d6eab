use crate::common::TestEnv;

fn reason(env: &TestEnv, secret: &str, args: &[&str]) -> (i32, Option<String>) {
    let (code, d) = env.verify(secret, args);
    (code, d["reason"].as_str().map(str::to_string))
}

fn reason_bytes(env: &TestEnv, input: &[u8]) -> (i32, serde_json::Value) {
    let out = env
        .cmd()
        .args(["verify", "--json"])
        .write_stdin(input)
        .output()
        .unwrap();
    (
        out.status.code().unwrap(),
        serde_json::from_slice(&out.stdout).unwrap(),
    )
}

#[test]
fn malformed() {
    let env = TestEnv::new();
    let good = env.create("x", &["cases:read"], &[]).secret;
    let mut bad_check = good.clone().into_bytes();
    let last = bad_check.len() - 1;
    bad_check[last] = if bad_check[last] == b'A' { b'B' } else { b'A' };
    let too_long = format!("{good}{}", "x".repeat(5000));
    for input in [
        b"not a token\n".to_vec(),
        bad_check,
        b"tok_live_\xff\xfe\n".to_vec(),
        too_long.into_bytes(),
        format!("{}\n", &good[..good.len() - 1]).into_bytes(),
    ] {
        let (code, d) = reason_bytes(&env, &input);
        assert_eq!(code, 3, "{d}");
        assert_eq!(d["reason"], "malformed");
        assert_eq!(d["allowed"], false);
        assert_eq!(d["token_id"], serde_json::Value::Null);
    }
}

#[test]
fn each_reason_for_its_case_only() {
    let mut env = TestEnv::new();
    env.set_now("2026-03-01T10:00:00Z");
    let read = env.create("reader", &["cases:read"], &[]);
    let writer = env.create("writer", &["cases:write"], &[]);
    let all_read = env.create("all-read", &["*:read"], &[]);
    let test_env = env.create("tester", &["cases:read"], &["--env", "test"]);
    let v4 = env.create("v4", &["cases:read"], &["--allow-ip", "203.0.113.0/24"]);
    let v6 = env.create("v6", &["cases:read"], &["--allow-ip", "2001:db8:1::/48"]);
    let short = env.create("short", &["cases:read"], &["--expires", "1h"]);
    let gone = env.create("gone", &["cases:read"], &[]);
    env.run(&["revoke", &gone.id, "--yes"]).success();
    let unknown = tokenctl::token::generate("tok", "live").unwrap();

    let ok = (0, None);
    let no = |code, r: &str| (code, Some(r.to_string()));
    assert_eq!(reason(&env, &read.secret, &["--scope", "cases:read"]), ok);
    assert_eq!(
        reason(&env, &read.secret, &["--scope", "cases:write"]),
        no(4, "insufficient_scope")
    );
    assert_eq!(reason(&env, &writer.secret, &["--scope", "cases:read"]), ok);
    assert_eq!(
        reason(&env, &writer.secret, &["--scope", "invoices:read"]),
        no(4, "insufficient_scope")
    );
    assert_eq!(
        reason(&env, &writer.secret, &["--scope", "cases:delete"]),
        no(4, "insufficient_scope")
    );
    assert_eq!(
        reason(&env, &all_read.secret, &["--scope", "invoices:read"]),
        ok
    );
    assert_eq!(
        reason(&env, &all_read.secret, &["--scope", "anything:read"]),
        ok
    );
    assert_eq!(
        reason(&env, &all_read.secret, &["--scope", "cases:write"]),
        no(4, "insufficient_scope")
    );
    assert_eq!(reason(&env, &test_env.secret, &["--env", "test"]), ok);
    assert_eq!(
        reason(&env, &test_env.secret, &["--env", "live"]),
        no(4, "wrong_env")
    );
    assert_eq!(reason(&env, &read.secret, &["--env", "live"]), ok);
    assert_eq!(reason(&env, &v4.secret, &["--ip", "203.0.113.200"]), ok);
    assert_eq!(
        reason(&env, &v4.secret, &["--ip", "203.0.114.1"]),
        no(4, "ip_not_allowed")
    );
    assert_eq!(reason(&env, &v4.secret, &[]), no(4, "ip_not_allowed"));
    assert_eq!(
        reason(&env, &v4.secret, &["--ip", "2001:db8:1::5"]),
        no(4, "ip_not_allowed")
    );
    assert_eq!(
        reason(&env, &v6.secret, &["--ip", "2001:db8:1:ffff::1"]),
        ok
    );
    assert_eq!(
        reason(&env, &v6.secret, &["--ip", "2001:db8:2::1"]),
        no(4, "ip_not_allowed")
    );
    assert_eq!(
        reason(&env, &gone.secret, &["--scope", "cases:read"]),
        no(3, "revoked")
    );
    assert_eq!(reason(&env, unknown.secret.expose(), &[]), no(3, "unknown"));
    assert_eq!(reason(&env, &short.secret, &[]), ok);
    env.set_now("2026-03-01T10:59:59Z");
    assert_eq!(reason(&env, &short.secret, &[]), ok);
    env.set_now("2026-03-01T11:00:00Z");
    assert_eq!(
        reason(&env, &short.secret, &[]),
        no(3, "expired"),
        "expired at exactly expires_at"
    );
    // Revoked wins over the request's other problems: the token is dead.
    assert_eq!(
        reason(
            &env,
            &gone.secret,
            &["--scope", "x:delete", "--env", "test"]
        ),
        no(3, "revoked")
    );
}

#[test]
fn plain_output_and_json_names() {
    let env = TestEnv::new();
    let t = env.create("importer", &["cases:read"], &[]);
    let run = env
        .run_with(&["verify"], Some(&format!("{}\n", t.secret)))
        .success();
    assert_eq!(run.stdout, format!("allowed (token {} 'importer')\n", t.id));
    let (_, d) = env.verify(&t.secret, &[]);
    assert_eq!(
        d,
        serde_json::json!({"allowed": true, "reason": null, "token_id": t.id, "name": "importer"})
    );
}

#[test]
fn never_from_an_argument() {
    let env = TestEnv::new();
    let t = env.create("x", &["cases:read"], &[]);
    let run = env.run(&["verify", &t.secret]).code(2);
    assert!(run.stderr.contains("shell history"), "{}", run.stderr);
    assert!(!run.stderr.contains(&t.secret) && !run.stdout.contains(&t.secret));
    assert_eq!(env.show(&t.id)["requests_24h"], 0);
}

#[test]
fn from_the_environment_variable() {
    let env = TestEnv::new();
    let t = env.create("x", &["cases:read"], &[]);
    let out = env
        .cmd()
        .args(["verify", "--json"])
        .env("TOKENCTL_TOKEN", &t.secret)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn empty_stdin_is_a_usage_error() {
    let env = TestEnv::new();
    env.create("x", &["cases:read"], &[]);
    let run = env.run(&["verify"]).code(2);
    assert!(run.stderr.contains("no token"), "{}", run.stderr);
}

#[test]
fn records_unless_told_not_to() {
    let env = TestEnv::new();
    let t = env.create("x", &["cases:read"], &[]);
    env.verify(&t.secret, &["--no-record"]);
    assert_eq!(env.show(&t.id)["requests_24h"], 0);
    env.verify(&t.secret, &[]);
    env.verify(&t.secret, &["--scope", "cases:write"]);
    let v = env.show(&t.id);
    assert_eq!(v["usage"]["allowed_24h"], 1);
    assert_eq!(v["usage"]["denied_24h"], 1);
    // Unknown and malformed tokens are counted per source IP.
    env.verify("garbage", &["--ip", "198.51.100.1"]);
    let unknown = tokenctl::token::generate("tok", "live").unwrap();
    env.verify(unknown.secret.expose(), &["--ip", "198.51.100.1"]);
    let audit = env.run(&["audit", "--json"]).success().json();
    let strangers = audit["strangers"].as_array().unwrap();
    assert_eq!(strangers.len(), 2, "{strangers:?}");
    assert!(
        strangers
            .iter()
            .all(|s| s["ip"] == "198.51.100.1" && s["count"] == 1)
    );
}

#[test]
fn missing_database_denies_and_is_not_created() {
    let env = TestEnv::sqlite();
    let t = tokenctl::token::generate("tok", "live").unwrap();
    let run = env.run_with(&["verify"], Some(t.secret.expose())).code(1);
    assert!(run.stderr.contains("no database at"), "{}", run.stderr);
    assert!(!run.stdout.contains("allowed"));
    assert!(!env.db().exists());
}

#[test]
fn unreadable_database_denies() {
    let env = TestEnv::sqlite();
    let t = env.create("x", &["cases:read"], &[]);
    std::fs::write(env.db(), b"garbage that replaced the database").unwrap();
    let run = env.run_with(&["verify"], Some(&t.secret)).code(1);
    assert!(run.stderr.contains("denied"), "{}", run.stderr);
    assert!(!run.stderr.contains(&t.secret));
}
