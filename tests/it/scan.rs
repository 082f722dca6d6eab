//! `tokenctl scan`: files, git history, stdin, statuses, --revoke, the gitleaks rule. Every
//! run's stdout and stderr are checked for whole tokens.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

use crate::common::{Made, Run, TestEnv, redact};

/// Fails if any secret appears in the run's output, on either stream.
#[track_caller]
fn assert_no_secret(run: &Run, secrets: &[&str]) {
    for s in secrets {
        assert!(
            !run.stdout.contains(s) && !run.stderr.contains(s),
            "a whole token was printed\nstdout:\n{}\nstderr:\n{}",
            run.stdout,
            run.stderr
        );
    }
}

/// Runs `scan` with `args` and checks that no secret was printed.
fn scan(env: &TestEnv, args: &[&str], secrets: &[&str]) -> Run {
    let mut all = vec!["scan"];
    all.extend_from_slice(args);
    let run = env.run(&all);
    assert_no_secret(&run, secrets);
    run
}

fn write(root: &Path, rel: &str, content: &str) {
    let path = root.join(rel);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, content).unwrap();
}

/// git in `dir` with no user or system configuration.
fn git(env: &TestEnv, dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .args([
            "-c",
            "user.name=Test",
            "-c",
            "user.email=test@example.com",
            "-c",
            "init.defaultBranch=main",
            "-c",
            "commit.gpgsign=false",
        ])
        .args(args)
        .current_dir(dir)
        .env("HOME", env.dir())
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .output()
        .expect("git runs");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// `(path, line, column, status, id)` of each finding.
fn rows(v: &Value) -> Vec<(String, u64, u64, String, String)> {
    v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["path"].as_str().unwrap_or("-").to_string(),
                f["line"].as_u64().unwrap(),
                f["column"].as_u64().unwrap(),
                f["status"].as_str().unwrap().to_string(),
                f["id"].as_str().unwrap_or("-").to_string(),
            )
        })
        .collect()
}

/// A token with a valid checksum that no database here knows.
fn stranger() -> String {
    tokenctl::token::generate("tok", "live")
        .unwrap()
        .secret
        .expose()
        .to_string()
}

#[test]
fn finds_tokens_in_minified_json_and_ignored_env_files() {
    let env = TestEnv::new();
    let a = env.create("Mailchimp sync", &["contacts:write"], &[]);
    let b = env.create("importer", &["cases:read"], &[]);
    let root = env.dir().join("tree");
    write(&root, ".gitignore", ".env\nbuild/\n");
    write(&root, ".env", &format!("MAILCHIMP_TOKEN={}\r\n", a.secret));
    let json = format!(
        r#"{{"name":"app","é":"ü","env":"LOG=1\n{}","n":[1,2,3]}}"#,
        b.secret
    );
    write(&root, "build/config.min.json", &json);
    git(&env, &root, &["init", "-q"]);
    assert_eq!(
        git(&env, &root, &["status", "--porcelain", "--ignored"]),
        "?? .gitignore\n!! .env\n!! build/\n",
        "the .env and the build are git-ignored"
    );

    let run = scan(&env, &["tree", "--json"], &[&a.secret, &b.secret]).code(5);
    // Columns count characters: "é" and "ü" are one each; `\n` glued before the token
    // is not part of it.
    let at = json.find(&b.secret).unwrap();
    let json_column = json[..at].chars().count() as u64 + 1;
    assert_eq!(
        rows(&run.json()),
        [
            ("tree/.env".into(), 1, 17, "active".into(), a.id.clone()),
            (
                "tree/build/config.min.json".into(),
                1,
                json_column,
                "active".into(),
                b.id.clone()
            ),
        ]
    );
    assert_eq!(run.json()["findings"][0]["name"], "Mailchimp sync");
    assert_eq!(run.json()["findings"][0]["source"], "file");
    assert!(run.json()["findings"][0]["commit"].is_null());
    let hint = run.json()["findings"][0]["hint"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(a.secret.starts_with(hint.trim_end_matches('…')), "{hint}");

    let human = scan(&env, &["tree"], &[&a.secret, &b.secret]).code(5);
    assert!(human.stdout.contains("tree/.env:1:17"), "{}", human.stdout);
    assert!(human.stdout.contains("Mailchimp sync"));
    assert!(
        human.stderr.contains("Found 2 tokens: 2 active"),
        "{}",
        human.stderr
    );
    assert!(human.stderr.contains("--revoke"), "{}", human.stderr);
}

#[test]
fn statuses_active_revoked_expired_unknown() {
    let mut env = TestEnv::new();
    env.set_now("2030-01-01T00:00:00Z");
    let active = env.create("active one", &["cases:read"], &[]);
    let revoked = env.create("revoked one", &["cases:read"], &[]);
    let expiring = env.create("expiring one", &["cases:read"], &["--expires", "1h"]);
    env.run(&["revoke", &revoked.id, "--yes"]).success();
    env.set_now("2030-01-01T02:00:00Z");
    let unknown = stranger();
    let secrets = [
        active.secret.as_str(),
        revoked.secret.as_str(),
        expiring.secret.as_str(),
        unknown.as_str(),
    ];
    let root = env.dir().join("tree");
    let text = |t: &Made| format!("token: {}\n", t.secret);
    write(&root, "a.txt", &text(&active));
    write(&root, "b.txt", &text(&revoked));
    write(&root, "c.txt", &text(&expiring));
    write(&root, "d.txt", &format!("token: {unknown}\n"));

    let run = scan(&env, &["tree", "--json"], &secrets).code(5);
    let statuses: Vec<(String, String)> = rows(&run.json())
        .into_iter()
        .map(|(p, _, _, s, id)| (p, format!("{s} {id}")))
        .collect();
    assert_eq!(
        statuses,
        [
            ("tree/a.txt".into(), format!("active {}", active.id)),
            ("tree/b.txt".into(), format!("revoked {}", revoked.id)),
            ("tree/c.txt".into(), format!("expired {}", expiring.id)),
            ("tree/d.txt".into(), "unknown -".into()),
        ]
    );
    assert!(run.json()["findings"][3]["name"].is_null());

    // Without an active token the scan passes; --strict fails on the unknown one.
    std::fs::remove_file(root.join("a.txt")).unwrap();
    scan(&env, &["tree"], &secrets).success();
    scan(&env, &["tree", "--strict"], &secrets).code(5);
    std::fs::remove_file(root.join("d.txt")).unwrap();
    scan(&env, &["tree", "--strict"], &secrets).success();
}

#[test]
fn git_history_finds_a_file_deleted_later() {
    let env = TestEnv::new();
    let t = env.create("deploy", &["cases:write"], &[]);
    let root = env.dir().join("repo");
    write(&root, "README", "hello\n");
    git(&env, &root, &["init", "-q"]);
    git(&env, &root, &["add", "README"]);
    git(&env, &root, &["commit", "-qm", "first"]);
    write(
        &root,
        "config/deploy.yml",
        &format!("x: 1\ntoken: \"{}\"\n", t.secret),
    );
    git(&env, &root, &["add", "config"]);
    git(&env, &root, &["commit", "-qm", "add deploy config"]);
    let leaked_in = git(&env, &root, &["rev-parse", "HEAD"]).trim().to_string();
    git(&env, &root, &["rm", "-q", "config/deploy.yml"]);
    git(&env, &root, &["commit", "-qm", "oops, remove it"]);
    // The same blob again under another name, later: still reported once, at its first.
    write(
        &root,
        "copy.yml",
        &format!("x: 1\ntoken: \"{}\"\n", t.secret),
    );
    git(&env, &root, &["add", "copy.yml"]);
    git(&env, &root, &["commit", "-qm", "copy"]);
    git(&env, &root, &["rm", "-q", "copy.yml"]);
    git(&env, &root, &["commit", "-qm", "remove copy"]);

    scan(&env, &["repo"], &[&t.secret]).success();
    let run = scan(&env, &["repo", "--git", "--json"], &[&t.secret]).code(5);
    let v = run.json();
    let f = v["findings"].as_array().unwrap();
    assert_eq!(f.len(), 1, "{v:#}");
    assert_eq!(f[0]["source"], "git");
    assert_eq!(f[0]["commit"], leaked_in.as_str());
    assert_eq!(f[0]["path"], "repo/config/deploy.yml");
    assert_eq!(
        (f[0]["line"].as_u64(), f[0]["column"].as_u64()),
        (Some(2), Some(9))
    );
    assert_eq!(f[0]["status"], "active");
    assert!(v["blobs_scanned"].as_u64().unwrap() >= 2);

    let human = scan(&env, &["repo", "--git"], &[&t.secret]).code(5);
    let location = format!("{}:repo/config/deploy.yml:2:9", &leaked_in[..12]);
    assert!(human.stdout.contains(&location), "{}", human.stdout);

    // From inside the repository, paths are the repository's own.
    let mut cmd = env.cmd();
    let out = cmd
        .current_dir(&root)
        .args(["scan", "--git", "--json"])
        .output()
        .unwrap();
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["findings"][0]["path"], "config/deploy.yml");
    assert!(!String::from_utf8_lossy(&out.stderr).contains(&t.secret));
}

#[test]
fn git_outside_a_repository_is_an_error() {
    let env = TestEnv::new();
    env.run(&["init"]).success();
    let root = env.dir().join("plain");
    write(&root, "a.txt", "nothing\n");
    let run = scan(&env, &["plain", "--git"], &[]).code(1);
    assert!(
        run.stderr.contains("not in a git repository"),
        "{}",
        run.stderr
    );
}

#[test]
fn reads_stdin() {
    let env = TestEnv::new();
    let t = env.create("ci", &["cases:read"], &[]);
    let diff = format!(
        "diff --git a/x b/x\n--- a/x\n+++ b/x\n@@ -1 +1,2 @@\n context\n+TOKEN={}\n",
        t.secret
    );
    let run = env.run_with(&["scan", "--stdin", "--json"], Some(&diff));
    assert_no_secret(&run, &[&t.secret]);
    let run = run.code(5);
    let v = run.json();
    assert_eq!(v["findings"][0]["source"], "stdin");
    assert!(v["findings"][0]["path"].is_null());
    assert_eq!(v["findings"][0]["line"], 6);
    assert_eq!(v["findings"][0]["column"], 8);
    assert_eq!(v["findings"][0]["id"], t.id.as_str());
    assert!(run.stderr.contains("Searched stdin"), "{}", run.stderr);

    let clean = env.run_with(&["scan", "--stdin"], Some("nothing here\n"));
    assert_eq!(clean.code, 0);
    assert!(clean.stdout.is_empty());
    let both = env.run(&["scan", "--stdin", "somewhere"]);
    assert_eq!(both.code, 2, "{}", both.stderr);
}

#[test]
fn revoke_changes_only_the_active_tokens_found() {
    let mut env = TestEnv::new();
    env.set_now("2030-01-01T00:00:00Z");
    let leaked = env.create(
        "Mailchimp sync",
        &["contacts:write"],
        &["--expires", "30d", "--allow-ip", "203.0.113.0/24"],
    );
    let twice = env.create(
        "importer",
        &["cases:read", "documents:read"],
        &["--description", "nightly import"],
    );
    let safe = env.create("untouched", &["cases:read"], &[]);
    let dead = env.create("already revoked", &["cases:read"], &[]);
    env.run(&["revoke", &dead.id, "--yes", "--reason", "old"])
        .success();
    env.set_now("2030-01-02T00:00:00Z");
    let secrets = [
        leaked.secret.as_str(),
        twice.secret.as_str(),
        safe.secret.as_str(),
        dead.secret.as_str(),
    ];
    let root = env.dir().join("tree");
    write(
        &root,
        ".env",
        &format!("A={}\nB={}\n", leaked.secret, dead.secret),
    );
    write(
        &root,
        "notes/x.md",
        &format!("\n\n  {} and {}\n", twice.secret, twice.secret),
    );

    let list = |env: &TestEnv| {
        env.run(&["list", "--status", "all", "--json"])
            .success()
            .json()
    };
    let events = |env: &TestEnv| {
        env.run(&["audit", "--events", "--json", "--since", "1y"])
            .success()
            .json()
    };
    let (list_before, events_before) = (list(&env), events(&env));

    let run = scan(&env, &["tree", "--revoke", "--json"], &secrets).code(5);
    let v = run.json();
    let revoked_flags: Vec<(String, bool)> = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["id"].as_str().unwrap().to_string(),
                f["revoked"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        revoked_flags,
        [
            (leaked.id.clone(), true),
            (dead.id.clone(), false),
            (twice.id.clone(), true),
            (twice.id.clone(), true),
        ]
    );
    assert_eq!(
        v["findings"][0]["status"], "active",
        "the status when found"
    );
    assert!(
        run.stderr.contains(
            "tokenctl create --name 'Mailchimp sync' --scope contacts:write --env live \
             --allow-ip 203.0.113.0/24 --expires 30d"
        ),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains(
            "tokenctl create --name importer --scope cases:read --scope documents:read \
             --env live --description 'nightly import' --expires 90d"
        ),
        "{}",
        run.stderr
    );

    // Tokens: only the two found active ones changed, and only in their revocation.
    let (list_after, events_after) = (list(&env), events(&env));
    let by_id = |v: &Value| -> Vec<(String, Value)> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|t| (t["id"].as_str().unwrap().to_string(), t.clone()))
            .collect()
    };
    let before = by_id(&list_before);
    let after = by_id(&list_after);
    assert_eq!(before.len(), after.len());
    for ((id, b), (id2, a)) in before.iter().zip(&after) {
        assert_eq!(id, id2);
        if *id == leaked.id || *id == twice.id {
            let reason = if *id == leaked.id {
                "leaked: tree/.env:1:3"
            } else {
                "leaked: tree/notes/x.md:3:3"
            };
            assert_eq!(a["status"], "revoked");
            assert_eq!(a["revoke_reason"], reason);
            assert_eq!(a["revoked_at"], "2030-01-02T00:00:00Z");
            let mut a = a.clone();
            for k in ["status", "revoke_reason", "revoked_at"] {
                a[k] = b[k].clone();
            }
            assert_eq!(&a, b, "nothing else changed on {id}");
        } else {
            assert_eq!(a, b, "{id} is untouched");
        }
    }
    // Events: one revoke each for the two, nothing else.
    let old = events_before.as_array().unwrap().len();
    let new: Vec<(String, String)> = events_after.as_array().unwrap()[old..]
        .iter()
        .map(|e| {
            (
                e["action"].as_str().unwrap().to_string(),
                e["token_id"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        new,
        [
            ("revoke".to_string(), leaked.id.clone()),
            ("revoke".to_string(), twice.id.clone())
        ]
    );
    assert_eq!(
        &events_after.as_array().unwrap()[..old],
        events_before.as_array().unwrap().as_slice()
    );

    // The revoked tokens are refused from now on, their history says why, and the
    // database holds no secret.
    let (code, decision) = env.verify(&leaked.secret, &["--no-record"]);
    assert_eq!((code, decision["reason"].as_str()), (3, Some("revoked")));
    let history = env.show(&twice.id)["events"].clone();
    let last = history.as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["details"]["reason"], "leaked: tree/notes/x.md:3:3");
    let stored = env.stored_bytes();
    for s in secrets {
        assert!(!stored.windows(s.len()).any(|w| w == s.as_bytes()));
    }

    // Again: nothing active is left, nothing changes, exit 0.
    let again = scan(&env, &["tree", "--revoke"], &secrets).success();
    assert!(!again.stderr.contains("Revoked token"), "{}", again.stderr);
    assert_eq!(list(&env), list_after);
}

#[test]
fn skips_binary_and_large_files_and_counts_them() {
    let env = TestEnv::sqlite();
    let t = env.create("x", &["cases:read"], &[]);
    let root = env.dir().join("tree");
    let mut binary = b"\x7fELF\0\0\0".to_vec();
    binary.extend_from_slice(t.secret.as_bytes());
    std::fs::create_dir_all(&root).unwrap();
    std::fs::write(root.join("app.bin"), binary).unwrap();
    write(
        &root,
        "big.log",
        &format!("{}\n{}", "x".repeat(2_000), t.secret),
    );
    write(&root, "small.txt", "nothing\n");
    let run = scan(&env, &["tree", "--json", "--max-size", "1K"], &[&t.secret]).success();
    let v = run.json();
    assert_eq!(v["findings"], serde_json::json!([]));
    assert_eq!(v["files_scanned"], 1);
    assert_eq!(v["blobs_scanned"], 0);
    assert_eq!(
        v["skipped"],
        serde_json::json!({"binary": 1, "too_large": 1, "unreadable": 0})
    );
    let human = scan(&env, &["tree", "--max-size", "1K"], &[&t.secret]).success();
    assert!(
        human.stderr.contains("skipped 1 binary, 1 too large"),
        "{}",
        human.stderr
    );
    // Raised limit: the large file is searched.
    scan(&env, &["tree"], &[&t.secret]).code(5);
    // The database in the tree is binary, and holds hashes only.
    let data = env.db().parent().unwrap().to_str().unwrap().to_string();
    let v = scan(&env, &[&data, "--json"], &[&t.secret])
        .success()
        .json();
    assert_eq!(v["findings"], serde_json::json!([]));
    assert!(v["skipped"]["binary"].as_u64().unwrap() >= 1, "{v}");
}

#[test]
fn human_output() {
    let env = TestEnv::new();
    let a = env.create("Mailchimp sync", &["contacts:write"], &["--expires", "30d"]);
    let unknown = stranger();
    let root = env.dir().join("tree");
    write(
        &root,
        "config/.env",
        &format!("# mailchimp\nTOKEN={}\n", a.secret),
    );
    write(&root, "notes.txt", &format!("old: {unknown}\n"));
    let run = scan(&env, &["tree", "--revoke"], &[&a.secret, &unknown]).code(5);
    let pairs = [
        (&a.secret[..13], "tok_live_AAAA"),
        (&unknown[..13], "tok_live_UUUU"),
        (a.id.as_str(), "idmailch"),
    ];
    insta::assert_snapshot!(redact(&run.stdout, &pairs), @r"
    LOCATION              TOKEN           STATUS               ID        NAME
    tree/config/.env:2:7  tok_live_AAAA…  active, now revoked  idmailch  Mailchimp sync
    tree/notes.txt:1:6    tok_live_UUUU…  unknown              -         -
    ");
    insta::assert_snapshot!(redact(&run.stderr, &pairs), @r"
    Revoked token idmailch 'Mailchimp sync' (leaked: tree/config/.env:2:7).
    Issue replacements with the same grants, and put them where the old ones were used:
      tokenctl create --name 'Mailchimp sync' --scope contacts:write --env live --expires 30d
    The leaked secrets stay where they were found; revoked, they are harmless there.
    Searched 2 files (115 bytes). Found 2 tokens: 1 active, 1 unknown.
    ");
}

#[test]
fn missing_path_is_a_usage_error() {
    let env = TestEnv::new();
    env.run(&["init"]).success();
    let run = scan(&env, &["no-such-dir"], &[]).code(2);
    assert!(run.stderr.contains("no-such-dir"), "{}", run.stderr);
    scan(&env, &["--max-size", "lots"], &[]).code(2);
}

#[test]
fn file_named_after_a_token_is_shown_by_its_hint() {
    let env = TestEnv::new();
    let t = env.create("x", &["cases:read"], &[]);
    let root = env.dir().join("tree");
    write(
        &root,
        &format!("{}.txt", t.secret),
        &format!("{}\n", t.secret),
    );
    let run = scan(&env, &["tree"], &[&t.secret]).code(5);
    assert!(run.stdout.contains("tree/tok_live_"), "{}", run.stdout);
}

#[test]
fn gitleaks_rule_names_the_prefixes_in_use() {
    let env = TestEnv::new();
    env.run(&["init"]).success();
    let run = scan(&env, &["--gitleaks-rule"], &[]).success();
    assert!(
        run.stdout
            .contains(r"regex = '''\b(tok_[a-z][a-z0-9]{1,7}_[0-9A-Za-z]{36})\b'''"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("[[rules]]") && run.stdout.contains("useDefault = true"));

    // After a prefix change, active tokens with the old prefix still need catching.
    let old = env.create("old prefix", &["cases:read"], &[]);
    env.run(&["config", "set", "token_prefix", "acme"])
        .success();
    let new = env.create("new prefix", &["cases:read"], &[]);
    assert!(new.secret.starts_with("acme_live_"));
    let run = scan(&env, &["--gitleaks-rule"], &[&old.secret, &new.secret]).success();
    assert!(
        run.stdout.contains(r"\b((?:acme|tok)_[a-z]"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("Token prefix of this database: acme"),
        "{}",
        run.stdout
    );

    // Tokens of either prefix are found and known.
    let root = env.dir().join("tree");
    write(&root, "a", &format!("{} {}", old.secret, new.secret));
    let run = scan(&env, &["tree", "--json"], &[&old.secret, &new.secret]).code(5);
    let ids: Vec<String> = rows(&run.json()).into_iter().map(|r| r.4).collect();
    assert_eq!(ids, [old.id, new.id]);

    assert_eq!(env.run(&["scan", "--gitleaks-rule", "--json"]).code, 2);
}
