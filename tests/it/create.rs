use crate::common::{TestEnv, redact};

#[test]
fn prints_only_the_token_on_stdout() {
    let env = TestEnv::new();
    let run = env
        .run(&[
            "create",
            "--name",
            "Mailchimp sync",
            "--scope",
            "contacts:write",
        ])
        .success();
    let line = run.stdout.strip_suffix('\n').expect("newline");
    assert!(!line.contains('\n'));
    let parsed = tokenctl::token::parse(line).expect("parses");
    assert_eq!(parsed.env(), "live");
    assert_eq!(line.len(), 9 + 36);
    assert!(run.stderr.contains("only time"), "{}", run.stderr);
    assert!(!run.stderr.contains(line));
}

#[test]
fn json_has_metadata_and_the_token_which_verifies() {
    let mut env = TestEnv::new();
    env.set_now("2026-03-01T10:00:00Z");
    let v = env
        .run(&[
            "create",
            "--name",
            "importer",
            "--scope",
            "cases:write,documents:read",
            "--expires",
            "30d",
            "--env",
            "test",
            "--allow-ip",
            "203.0.113.0/24",
            "--allow-ip",
            "2001:db8::/32",
            "--description",
            "nightly import",
            "--json",
        ])
        .success()
        .json();
    let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    for key in [
        "id",
        "name",
        "description",
        "env",
        "scopes",
        "allowed_ips",
        "status",
        "hint",
        "created_at",
        "created_by",
        "expires_at",
        "revoked_at",
        "revoke_reason",
        "last_used_at",
        "last_used_ip",
        "requests_24h",
        "requests_7d",
        "requests_30d",
        "rotated_from",
        "rotated_to",
        "token",
    ] {
        assert!(keys.contains(&key), "missing {key} in {keys:?}");
    }
    assert_eq!(
        v["scopes"],
        serde_json::json!(["cases:write", "documents:read"])
    );
    assert_eq!(
        v["allowed_ips"],
        serde_json::json!(["203.0.113.0/24", "2001:db8::/32"])
    );
    assert_eq!(v["env"], "test");
    assert_eq!(v["status"], "active");
    assert_eq!(v["created_at"], "2026-03-01T10:00:00Z");
    assert_eq!(v["expires_at"], "2026-03-31T10:00:00Z");
    assert_eq!(v["revoked_at"], serde_json::Value::Null);
    let secret = v["token"].as_str().unwrap();
    assert!(secret.starts_with("tok_test_"));
    assert!(v["hint"].as_str().unwrap().starts_with(&secret[..13]));
    let (code, decision) = env.verify(secret, &["--ip", "203.0.113.9"]);
    assert_eq!(code, 0, "{decision}");
    assert_eq!(decision["token_id"], v["id"]);
}

#[test]
fn the_secret_is_not_stored() {
    let env = TestEnv::new();
    let mut secrets = Vec::new();
    for i in 0..5 {
        secrets.push(env.create(&format!("t{i}"), &["cases:read"], &[]).secret);
    }
    // Also while a second connection keeps the WAL from being checkpointed away.
    let store = tokenctl::Store::open(env.store_location(), tokenctl::OpenMode::Existing).unwrap();
    secrets.push(env.create("t5", &["cases:read"], &[]).secret);
    let bytes = env.stored_bytes();
    drop(store);
    for s in &secrets {
        let body = &s[9..39];
        assert!(!contains(&bytes, s.as_bytes()), "token stored");
        assert!(!contains(&bytes, body.as_bytes()), "body stored");
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// Everything the database says, for "nothing changed" checks.
fn state(env: &TestEnv) -> (String, String) {
    (
        env.run(&["list", "--status", "all", "--json"])
            .success()
            .stdout,
        env.run(&["audit", "--events", "--json"]).success().stdout,
    )
}

#[test]
fn bad_input_is_refused_with_exit_2_and_changes_nothing() {
    let env = TestEnv::new();
    env.create("existing", &["cases:read"], &[]);
    env.run(&["config", "set", "modules", "cases,invoices,contacts"])
        .success();
    let before = state(&env);
    let long_name = "n".repeat(101);
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["--name", "x"], "at least one --scope"),
        (
            vec!["--name", "x", "--scope", "cases"],
            "'cases' is not of the form",
        ),
        (
            vec!["--name", "x", "--scope", "cases:admin"],
            "access 'admin'",
        ),
        (
            vec!["--name", "x", "--scope", "Cases:read"],
            "module 'Cases'",
        ),
        (
            vec!["--name", "x", "--scope", "invoice:read"],
            "did you mean 'invoices'",
        ),
        (vec!["--name", "x", "--scope", "*:delete"], "--unrestricted"),
        (
            vec!["--name", "x", "--scope", "cases:read", "--expires", "400d"],
            "'400d' is beyond the maximum",
        ),
        (
            vec![
                "--name",
                "x",
                "--scope",
                "cases:read",
                "--expires",
                "2020-01-01",
            ],
            "'2020-01-01' is not in the future",
        ),
        (
            vec!["--name", "x", "--scope", "cases:read", "--expires", "never"],
            "never expire",
        ),
        (
            vec!["--name", "x", "--scope", "cases:read", "--expires", "12x"],
            "'12x'",
        ),
        (
            vec!["--name", "x", "--scope", "cases:read", "--expires", "-1d"],
            "'-1d'",
        ),
        (
            vec![
                "--name",
                "x",
                "--scope",
                "cases:read",
                "--allow-ip",
                "10.0.0.0/33",
            ],
            "10.0.0.0/33",
        ),
        (
            vec![
                "--name",
                "x",
                "--scope",
                "cases:read",
                "--allow-ip",
                "10.0.0.1/8",
            ],
            "did you mean 10.0.0.0/8",
        ),
        (
            vec!["--name", "x", "--scope", "cases:read", "--env", "Prod"],
            "'Prod'",
        ),
        (vec!["--name", "", "--scope", "cases:read"], "name is empty"),
        (
            vec!["--name", "   ", "--scope", "cases:read"],
            "name is empty",
        ),
        (
            vec!["--name", &long_name, "--scope", "cases:read"],
            "longer than 100",
        ),
    ];
    for (args, expect) in cases {
        let mut all = vec!["create"];
        all.extend(args.iter().copied());
        let run = env.run(&all).code(2);
        assert!(run.stderr.contains(expect), "{args:?}: {}", run.stderr);
        assert!(run.stdout.is_empty(), "{args:?} printed {}", run.stdout);
    }
    assert_eq!(state(&env), before);
}

#[test]
fn unrestricted_needs_the_flag() {
    let env = TestEnv::new();
    let v = env.create("root", &["*:delete"], &["--unrestricted"]);
    assert_eq!(env.show(&v.id)["scopes"], serde_json::json!(["*:delete"]));
}

#[test]
fn control_characters_never_reach_the_terminal_raw() {
    let env = TestEnv::new();
    let run = env
        .run(&[
            "create",
            "--name",
            "evil\x1b[2J\nname",
            "--scope",
            "cases:read",
        ])
        .code(2);
    assert!(!run.stderr.contains('\x1b'), "{:?}", run.stderr);
    assert!(
        run.stderr.contains("evil\\u{1b}[2J\\nname"),
        "{}",
        run.stderr
    );
    // Descriptions and reasons may hold anything; they are shown escaped.
    let made = env.create(
        "ok",
        &["cases:read"],
        &["--description", "line1\nline2\x1b]0;pwned\x07"],
    );
    env.run(&["revoke", &made.id, "--yes", "--reason", "bad\x1b[31m"])
        .success();
    for args in [
        vec!["show", &made.id],
        vec!["list", "--status", "all"],
        vec!["audit", "--events"],
    ] {
        let run = env.run(&args).success();
        assert!(
            !run.stdout.contains('\x1b') && !run.stdout.contains('\x07'),
            "{args:?}: {:?}",
            run.stdout
        );
    }
    let shown = env.run(&["show", &made.id]).success().stdout;
    assert!(
        shown.contains("line1\\nline2\\u{1b}]0;pwned\\u{7}"),
        "{shown}"
    );
    assert!(shown.contains("bad\\u{1b}[31m"), "{shown}");
}

#[test]
fn a_name_written_by_another_tool_is_escaped_too() {
    let env = TestEnv::sqlite();
    let made = env.create("plain", &["cases:read"], &[]);
    crate::common::sqlite3(
        env.db(),
        &format!(
            "UPDATE tokens SET name = 'a' || char(27) || '[2Jb' || char(10) || 'c' WHERE id = '{}';",
            made.id
        ),
    );
    for args in [vec!["show", made.id.as_str()], vec!["list"], vec!["audit"]] {
        let out = env.run(&args).success().stdout;
        assert!(!out.contains('\x1b'), "{args:?}: {out:?}");
        assert!(out.contains("a\\u{1b}[2Jb\\nc"), "{args:?}: {out}");
    }
}

#[test]
fn warns_when_an_active_token_has_the_name() {
    let env = TestEnv::new();
    let first = env.create("sync", &["cases:read"], &[]);
    let run = env
        .run(&["create", "--name", "sync", "--scope", "cases:read"])
        .success();
    assert!(
        run.stderr.contains("already named 'sync'"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains(&first.id));
}

#[test]
fn the_same_name_warning_names_the_newest_five() {
    let env = TestEnv::new();
    let ids: Vec<String> = (0..7)
        .map(|_| env.create("nightly", &["cases:read"], &[]).id)
        .collect();
    let run = env
        .run(&["create", "--name", "nightly", "--scope", "cases:read"])
        .success();
    let expected = format!("(2 older, {})", ids[2..].join(", "));
    assert!(run.stderr.contains(&expected), "{}", run.stderr);
    assert!(!run.stderr.contains(&ids[1]), "{}", run.stderr);
}

#[test]
fn missing_values_without_a_terminal_are_errors() {
    let env = TestEnv::new();
    let run = env.run(&["create", "--scope", "cases:read"]).code(2);
    assert!(run.stderr.contains("--name is required"), "{}", run.stderr);
    assert!(run.stderr.contains("not a terminal"));
}

#[test]
fn quiet_keeps_only_the_token() {
    let env = TestEnv::new();
    let run = env
        .run(&["-q", "create", "--name", "q", "--scope", "cases:read"])
        .success();
    assert!(run.stderr.is_empty(), "{}", run.stderr);
    assert!(tokenctl::token::parse(run.stdout.trim_end()).is_ok());
}

#[test]
fn expiry_forms() {
    let mut env = TestEnv::new();
    env.set_now("2026-03-01T10:00:00Z");
    env.run(&["config", "set", "max_lifetime", "none"])
        .success();
    for (given, expect) in [
        ("12h", serde_json::json!("2026-03-01T22:00:00Z")),
        ("6w", serde_json::json!("2026-04-12T10:00:00Z")),
        ("1y", serde_json::json!("2027-03-01T10:00:00Z")),
        ("2027-03-01", serde_json::json!("2027-03-01T00:00:00Z")),
        (
            "2027-03-01T12:00:00+02:00",
            serde_json::json!("2027-03-01T10:00:00Z"),
        ),
        ("never", serde_json::Value::Null),
    ] {
        let v = env
            .run(&[
                "create",
                "--name",
                given,
                "--scope",
                "cases:read",
                "--expires",
                given,
                "--json",
            ])
            .success()
            .json();
        assert_eq!(v["expires_at"], expect, "{given}");
    }
    let v = env
        .run(&[
            "create",
            "--name",
            "default",
            "--scope",
            "cases:read",
            "--json",
        ])
        .success()
        .json();
    assert_eq!(v["expires_at"], "2026-05-30T10:00:00Z", "default 90d");
}

#[test]
fn notice_snapshot() {
    let mut env = TestEnv::new();
    env.set_now("2026-03-01T10:00:00Z");
    let run = env
        .run(&[
            "create",
            "--name",
            "Mailchimp sync",
            "--scope",
            "contacts:write",
            "--expires",
            "30d",
        ])
        .success();
    let id = env.run(&["list", "--json"]).success().json()[0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    insta::assert_snapshot!(redact(&run.stderr, &[(&id, "[ID]")]), @r"
    Created token [ID] 'Mailchimp sync' (live, contacts:write), expires 2026-03-31 10:00 UTC (in 30 days).
    This is the only time the secret is shown: store it now.
    ");
}

/// A name must not pass for another: invisible or bidirectional characters, look-alike
/// spaces, mixed scripts, another token's name in look-alike letters, another token's id.
#[test]
fn names_that_render_like_others_are_refused() {
    let env = TestEnv::new();
    let first = env.create("Mailchimp sync", &["contacts:write"], &[]);
    let refused = |name: &str, says: &str| {
        let run = env
            .run(&["create", "--name", name, "--scope", "cases:read"])
            .code(2);
        assert!(run.stderr.contains(says), "{name:?}: {}", run.stderr);
        assert!(run.stdout.is_empty());
    };
    refused("Mailchimp\u{200b} sync", "U+200B");
    refused("Mailchimp sync\u{202e}", "U+202E");
    refused("Mailchimp\u{a0}sync", "U+00A0");
    refused("Mailchimp  sync", "several spaces");
    refused("M\u{430}ilchimp sync", "mixes letters");
    refused("Mai1chimp sync", "looks like the name of an existing token");
    refused(&first.id, "is the id of token");
    let tokens = env.run(&["list", "--json"]).success().json();
    assert_eq!(tokens.as_array().unwrap().len(), 1);
    // Names in one script, and the same name again, are fine.
    env.create("Импорт", &["cases:read"], &[]);
    env.create("Mailchimp sync", &["contacts:write"], &[]);
}

/// nginx answers 500 when the auth response's head outgrows its buffer: a token's grants
/// are capped so that the headers `serve` sends always fit in 4 KiB.
#[test]
fn scopes_per_token_are_capped() {
    let env = TestEnv::new();
    let module = |i: usize| format!("m{i:0>31}");
    let at_most: Vec<String> = (0..50).map(|i| format!("{}:delete", module(i))).collect();
    let refs: Vec<&str> = at_most.iter().map(String::as_str).collect();
    env.create(&"ü".repeat(100), &refs, &[]);
    let one_more = format!("{},{}:read", at_most.join(","), module(50));
    let run = env
        .run(&["create", "--name", "wide", "--scope", &one_more])
        .code(2);
    assert!(run.stderr.contains("at most 50 scopes"), "{}", run.stderr);
    // Duplicates and covered grants do not count: 60 given, 50 kept.
    let covered: Vec<String> = (0..10).map(|i| format!("{}:read", module(i))).collect();
    let many = format!("{},{}", at_most.join(","), covered.join(","));
    env.run(&["create", "--name", "wide", "--scope", &many])
        .success();
}

/// A provisioning job may run twice: the second run finds the token, creates nothing and
/// prints no secret.
#[test]
fn if_absent_creates_nothing_when_the_name_is_taken() {
    let env = TestEnv::new();
    let args = [
        "create",
        "--name",
        "ci-4242",
        "--scope",
        "cases:read",
        "--if-absent",
    ];
    let first = env.run(&args).success();
    assert!(tokenctl::token::parse(first.stdout.trim_end()).is_ok());
    let second = env.run(&args).success();
    assert_eq!(second.stdout, "", "no secret the second time");
    assert!(
        second.stderr.contains("exists already") && second.stderr.contains("Nothing was created"),
        "{}",
        second.stderr
    );
    let mut with_json = args.to_vec();
    with_json.push("--json");
    let v = env.run(&with_json).success().json();
    assert_eq!(v["name"], "ci-4242");
    assert!(v.get("token").is_none(), "{v}");
    let tokens = env.run(&["list", "--json"]).success().json();
    assert_eq!(tokens.as_array().unwrap().len(), 1);
    assert_eq!(v["id"], tokens[0]["id"]);
    // Asked for other grants: still nothing created, and a warning says how they differ.
    let other = env
        .run(&[
            "create",
            "--name",
            "ci-4242",
            "--scope",
            "cases:write",
            "--if-absent",
        ])
        .success();
    assert!(
        other.stderr.contains("not live with cases:write"),
        "{}",
        other.stderr
    );
    // A bad flag is still an error.
    env.run(&[
        "create",
        "--name",
        "ci-4242",
        "--scope",
        "*:delete",
        "--if-absent",
    ])
    .code(2);
    // Revoked, the name is free again.
    env.run(&["revoke", "ci-4242", "--yes"]).success();
    let again = env.run(&args).success();
    assert!(tokenctl::token::parse(again.stdout.trim_end()).is_ok());
}
