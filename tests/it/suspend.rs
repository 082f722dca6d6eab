//! `tokenctl suspend` and `resume`: a token refused from the next request until resumed,
//! through the CLI, `verify` and `serve`.

use crate::common::TestEnv;
use crate::serve::{Server, auth, create_expired, revoke};

#[test]
fn suspend_and_resume_from_the_command_line() {
    let env = TestEnv::new();
    let made = env.create("importer", &["cases:read"], &[]);
    let before = env.show(&made.id);

    let run = env
        .run(&[
            "suspend",
            "importer",
            "--reason",
            "spike\u{7} at 3am",
            "--json",
        ])
        .success();
    let v = run.json();
    assert_eq!(v["id"], made.id.as_str());
    assert_eq!(v["status"], "suspended");
    assert_eq!(v["suspend_reason"], "spike\u{7} at 3am");
    assert_eq!(v["changed"], true);
    assert!(v["suspended_at"].is_string(), "{v}");
    assert_eq!(v["expires_at"], before["expires_at"], "the expiry runs on");
    let stderr = env.run(&["suspend", &made.id]).success().stderr;
    assert!(stderr.contains("was already suspended"), "{stderr}");
    assert_eq!(
        env.run(&["suspend", &made.id, "--json"]).success().json()["changed"],
        false
    );

    let (code, decision) = env.verify(&made.secret, &[]);
    assert_eq!((code, &decision["reason"]), (3, &"suspended".into()));
    let listed = env
        .run(&["list", "--status", "suspended", "--json"])
        .success();
    let listed = listed.json();
    let ids: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [made.id.as_str()]);
    let table = env.run(&["list"]).success().stdout;
    assert!(
        table.lines().nth(1).unwrap().ends_with("suspended"),
        "{table}"
    );
    let page = env.run(&["show", &made.id]).success().stdout;
    assert!(page.contains("Status       suspended"), "{page}");
    assert!(page.contains(": spike\\u{7} at 3am"), "{page}");
    let rotate = env.run(&["rotate", &made.id]).code(2);
    assert!(rotate.stderr.contains("is suspended"), "{}", rotate.stderr);

    let v = env.run(&["resume", "importer", "--json"]).success().json();
    assert_eq!(
        (&v["status"], &v["changed"]),
        (&"active".into(), &true.into())
    );
    assert!(
        v["suspended_at"].is_null() && v["suspend_reason"].is_null(),
        "{v}"
    );
    let again = env.run(&["resume", &made.id]).success();
    assert!(
        again.stderr.contains("was not suspended; nothing changed"),
        "{}",
        again.stderr
    );
    assert_eq!(env.verify(&made.secret, &[]).0, 0);

    let events = env.run(&["audit", "--events", "--json"]).success().json();
    let mine: Vec<String> = events
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["token_id"] == made.id.as_str())
        .map(|e| format!("{} {}", e["action"].as_str().unwrap(), e["details"]))
        .collect();
    assert!(mine[0].starts_with("create "), "{mine:?}");
    assert_eq!(
        mine[1..],
        [r#"suspend {"reason":"spike\u0007 at 3am"}"#, "resume {}"]
    );
}

#[test]
fn ended_unknown_and_ambiguous_tokens_are_refused() {
    let env = TestEnv::new();
    let made = env.create("importer", &["cases:read"], &[]);
    revoke(&env, &made.id);
    for command in ["suspend", "resume"] {
        let run = env.run(&[command, &made.id]).code(2);
        assert!(
            run.stderr.contains("is revoked; it cannot be"),
            "{}",
            run.stderr
        );
    }
    let old = create_expired(&env, "old");
    let run = env.run(&["suspend", &old.id]).code(2);
    assert!(run.stderr.contains("is expired"), "{}", run.stderr);
    env.run(&["suspend", "nobody"]).code(1);
    let a = env.create("twin", &["cases:read"], &[]);
    let b = env.create("twin", &["cases:read"], &[]);
    let run = env.run(&["suspend", "twin"]);
    assert_ne!(run.code, 0);
    assert!(
        run.stderr.contains(&a.id) && run.stderr.contains(&b.id),
        "{}",
        run.stderr
    );
    // Once one is suspended, the name still means both: neither has ended.
    env.run(&["suspend", &a.id]).success();
    assert_ne!(env.run(&["resume", "twin"]).code, 0);
}

/// A suspension denies the very next request through a running server, with 401 and the
/// reason; resuming lets the next one through. On both backends.
#[test]
fn serve_refuses_a_suspended_token_from_the_next_request() {
    let env = TestEnv::new();
    let made = env.create("importer", &["cases:read"], &[]);
    let server = Server::start(&env, &[]);
    for _ in 0..3 {
        auth(server.addr, &made.secret, "GET", "/api/cases/1").expect(200);
        env.run(&["suspend", &made.id]).success();
        let r = auth(server.addr, &made.secret, "GET", "/api/cases/1").expect(401);
        assert_eq!(
            r.header("www-authenticate"),
            Some("Bearer error=\"invalid_token\", error_description=\"the token is suspended\"")
        );
        env.run(&["resume", &made.id]).success();
    }
    auth(server.addr, &made.secret, "GET", "/api/cases/1").expect(200);
    let metrics = crate::serve::get(server.addr, "/metrics", &[]).body;
    assert!(
        metrics
            .contains("tokenctl_serve_requests_total{outcome=\"denied\",reason=\"suspended\"} 3"),
        "{metrics}"
    );
}

/// A suspended token found in a file is a live secret (it can be resumed): `scan` reports
/// it as a finding (exit 5), and `--revoke` revokes it.
#[test]
fn scan_treats_a_suspended_token_as_live() {
    let env = TestEnv::new();
    let made = env.create("importer", &["cases:read"], &[]);
    env.run(&["suspend", &made.id]).success();
    let file = env.dir().join("leak.env");
    std::fs::write(&file, format!("TOKEN={}\n", made.secret)).unwrap();
    let path = file.to_str().unwrap();
    let found = env.run(&["scan", path, "--json"]).code(5).json();
    assert_eq!(found["findings"][0]["status"], "suspended", "{found}");
    env.run(&["scan", path, "--revoke"]).code(5);
    assert_eq!(env.show(&made.id)["status"], "revoked");
}

/// By name, a suspension stops the old secret still in its rotation grace period too
/// (the integration may still use it), and resuming by name gives both back; by id, only
/// that token.
#[test]
fn by_name_the_old_secret_in_its_grace_period_is_suspended_too() {
    let env = TestEnv::new();
    let old = env.create("importer", &["cases:read"], &[]);
    let rotated = env
        .run(&["rotate", "importer", "--grace", "1h", "--json"])
        .success()
        .json();
    let new_id = rotated["id"].as_str().unwrap();
    let new_secret = rotated["token"].as_str().unwrap();
    let v = env.run(&["suspend", "importer", "--json"]).success().json();
    assert_eq!(
        (v["id"].as_str(), &v["also_changed"]),
        (Some(new_id), &serde_json::json!([old.id]))
    );
    assert_eq!(env.verify(&old.secret, &[]).1["reason"], "suspended");
    assert_eq!(env.verify(new_secret, &[]).1["reason"], "suspended");
    let resumed = env.run(&["resume", "importer"]).success();
    assert!(
        resumed.stderr.contains(&format!("Also resumed {}", old.id)),
        "{}",
        resumed.stderr
    );
    assert_eq!(env.verify(&old.secret, &[]).0, 0);
    assert_eq!(env.show(&old.id)["status"], "rotating");
    // By id: that token alone.
    let v = env.run(&["suspend", new_id, "--json"]).success().json();
    assert!(v.get("also_changed").is_none(), "{v}");
    assert_eq!(env.verify(&old.secret, &[]).0, 0);
}
