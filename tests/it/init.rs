//! Which commands may create a database (`init`, `create`, `config set`) and which must
//! refuse a missing one, and the exit statuses that tell findings from failures.

use std::path::Path;

use crate::common::TestEnv;

/// Every command that reads or changes what exists, with its arguments.
const EXISTING_ONLY: &[&[&str]] = &[
    &["list"],
    &["list", "--json"],
    &["show", "importer"],
    &["revoke", "importer", "--yes"],
    &["rotate", "importer"],
    &["audit"],
    &["audit", "--check"],
    &["audit", "--events"],
    &["audit", "importer"],
    &["scan", "."],
    &["scan", "--stdin"],
    &["scan", "--gitleaks-rule"],
    &["config", "list"],
    &["config", "get", "modules"],
    &["prune"],
    &["verify"],
];

#[test]
fn commands_that_do_not_write_refuse_a_missing_database() {
    let env = TestEnv::new();
    let typo = env.dir().join("srv").join("tokns.db");
    for args in EXISTING_ONLY {
        let mut all = vec!["--db", typo.to_str().unwrap()];
        all.extend_from_slice(args);
        let run = env.run_with(&all, Some("tok_live_x\n")).code(1);
        assert!(
            run.stderr
                .contains(&format!("no database at {}", typo.display()))
                && run.stderr.contains("init"),
            "{args:?}: {}",
            run.stderr
        );
        assert!(run.stdout.is_empty(), "{args:?}: {}", run.stdout);
        assert!(
            !typo.parent().unwrap().exists(),
            "{args:?} created {}",
            typo.display()
        );
    }
}

#[test]
fn init_create_and_config_set_create_it() {
    let env = TestEnv::new();
    let db = |name: &str| env.dir().join(name).join("tokens.db");
    let at = |path: &Path, args: &[&str]| {
        let mut all = vec!["--db", path.to_str().unwrap()];
        all.extend_from_slice(args);
        env.run(&all).success()
    };
    let run = at(&db("a"), &["init"]);
    assert_eq!(
        run.stderr.trim(),
        format!("Created the database {}.", db("a").display())
    );
    let mode = |p: &Path| {
        std::os::unix::fs::PermissionsExt::mode(&p.metadata().unwrap().permissions()) & 0o777
    };
    assert_eq!(mode(&db("a")), 0o600);
    assert_eq!(mode(db("a").parent().unwrap()), 0o700);
    let again = at(&db("a"), &["init"]);
    assert!(again.stderr.contains("exists already"), "{}", again.stderr);
    at(
        &db("b"),
        &["create", "--name", "x", "--scope", "cases:read"],
    );
    assert!(db("b").exists());
    at(&db("c"), &["config", "set", "modules", "cases"]);
    assert!(db("c").exists());
    // What they created is a database the other commands accept.
    assert_eq!(
        at(&db("a"), &["list", "--json"]).json(),
        serde_json::json!([])
    );
}

#[test]
fn a_literal_tilde_is_refused_with_a_hint() {
    let env = TestEnv::new();
    for args in [
        &["--db", "~/tokens.db", "init"][..],
        &["--db", "~/tokens.db", "list"],
    ] {
        let run = env.run(args).code(2);
        assert!(
            run.stderr.contains("literal '~'") && run.stderr.contains("hint: write $HOME"),
            "{args:?}: {}",
            run.stderr
        );
    }
    let run = env
        .cmd()
        .env("TOKENCTL_DB", "~/tokens.db")
        .args(["create", "--name", "x", "--scope", "cases:read"])
        .output()
        .unwrap();
    assert_eq!(run.status.code(), Some(2));
    assert!(!env.dir().join("~").exists(), "a folder named ~ was made");
    env.run(&["init"]).success();
    let run = env.run(&["scan", "~/src"]).code(2);
    assert!(run.stderr.contains("literal '~'"), "{}", run.stderr);
}

/// Findings (5) and failures (1) differ in every command that reports findings, so that
/// cron can tell an attack from a broken job.
#[test]
fn findings_and_failures_have_distinct_exit_statuses() {
    let env = TestEnv::new();
    let t = env.create("leaked", &["cases:read"], &[]);
    std::fs::write(env.dir().join("leak.txt"), format!("{}\n", t.secret)).unwrap();
    env.run(&["scan", "leak.txt"]).code(5);
    env.run_with(&["scan", "--stdin"], Some(&t.secret)).code(5);
    env.run_with(&["verify", "--ip", "192.0.2.1"], Some(&t.secret))
        .success();
    // Revoked, then presented: DENIED_USE.
    env.run(&["revoke", &t.id, "--yes"]).success();
    env.run_with(&["verify"], Some(&t.secret)).code(3);
    let flagged = env.run(&["audit", "--check"]).code(5);
    assert!(
        flagged.stdout.contains("presented once in the last 24h"),
        "{}",
        flagged.stdout
    );
    env.run(&["audit", "--check", "--anomalies", "--json"])
        .code(5);

    // The same checks on a damaged database: could not look.
    let broken = env.dir().join("broken.db");
    std::fs::write(&broken, vec![0x42; 8192]).unwrap();
    let on_broken = |args: &[&str]| {
        let mut all = vec!["--db", broken.to_str().unwrap()];
        all.extend_from_slice(args);
        env.run(&all).code(1)
    };
    on_broken(&["audit", "--check"]);
    on_broken(&["scan", "leak.txt"]);
}
