//! `tokenctl backup`: a private, consistent copy that still verifies the secrets of its
//! time, written without following links or replacing files unasked.
//!
//! SQLite-only (`TestEnv::sqlite`): `backup` writes SQLite files; on PostgreSQL it is
//! refused (pg_dump is the tool there).

use std::os::unix::fs::PermissionsExt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::common::TestEnv;

fn mode(path: &std::path::Path) -> u32 {
    std::fs::symlink_metadata(path)
        .unwrap()
        .permissions()
        .mode()
        & 0o7777
}

/// Runs `tokenctl backup ARGS` under umask 022, as a careless cron job would.
fn backup_022(env: &TestEnv, args: &str) -> std::process::Output {
    let bin = assert_cmd::cargo::cargo_bin("tokenctl");
    std::process::Command::new("sh")
        .arg("-c")
        .arg(format!("umask 022; exec '{}' backup {args}", bin.display()))
        .env("TOKENCTL_DB", env.db())
        .env("HOME", env.dir())
        .current_dir(env.dir())
        .output()
        .unwrap()
}

#[test]
fn the_copy_is_private_and_verifies_the_secrets_of_its_time() {
    let env = TestEnv::sqlite();
    let kept = env.create("kept", &["cases:read"], &[]);
    let gone = env.create("gone", &["cases:read"], &[]);
    env.run(&["revoke", &gone.id, "--yes"]).success();
    let out = backup_022(&env, "copies/nightly.db --json");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let copy = env.dir().join("copies/nightly.db");
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["path"], copy.to_str().unwrap());
    assert_eq!(report["tokens"], 2);
    assert_eq!(report["bytes"], std::fs::metadata(&copy).unwrap().len());
    assert_eq!(mode(&copy), 0o600);
    // One self-contained file: nothing left beside it.
    let beside: Vec<String> = std::fs::read_dir(copy.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(beside, ["nightly.db"]);

    // A token created after the backup is unknown to it; the old ones answer as before.
    let later = env.create("later", &["cases:read"], &[]);
    let on_copy = |secret: &str| {
        let run = env.run_with(
            &[
                "--db",
                copy.to_str().unwrap(),
                "verify",
                "--no-record",
                "--json",
            ],
            Some(&format!("{secret}\n")),
        );
        (run.code, run.json()["reason"].clone())
    };
    assert_eq!(on_copy(&kept.secret), (0, serde_json::Value::Null));
    assert_eq!(on_copy(&gone.secret).0, 3);
    assert_eq!(on_copy(&later.secret), (3, "unknown".into()));

    let events = env.run(&["audit", "--events", "--json"]).success().json();
    let backup = events
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "backup")
        .expect("a backup event");
    assert_eq!(backup["details"]["path"], copy.to_str().unwrap());
}

#[test]
fn an_existing_path_is_kept_unless_forced_and_a_link_is_never_followed() {
    let env = TestEnv::sqlite();
    env.create("t", &["cases:read"], &[]);
    let existing = env.dir().join("existing.db");
    std::fs::write(&existing, b"older backup").unwrap();
    let run = env.run(&["backup", existing.to_str().unwrap()]).code(2);
    assert!(run.stderr.contains("--force"), "{}", run.stderr);
    assert_eq!(std::fs::read(&existing).unwrap(), b"older backup");
    env.run(&["backup", existing.to_str().unwrap(), "--force"])
        .success();
    assert_eq!(mode(&existing), 0o600);
    assert!(
        std::fs::read(&existing)
            .unwrap()
            .starts_with(b"SQLite format 3\0")
    );

    // A link planted at the path, pointing at a file the backup must not overwrite.
    let precious = env.dir().join("precious.txt");
    std::fs::write(&precious, b"keep me").unwrap();
    std::fs::set_permissions(&precious, std::fs::Permissions::from_mode(0o644)).unwrap();
    let link = env.dir().join("link.db");
    std::os::unix::fs::symlink(&precious, &link).unwrap();
    env.run(&["backup", link.to_str().unwrap()]).code(2);
    env.run(&["backup", link.to_str().unwrap(), "--force"])
        .success();
    assert_eq!(std::fs::read(&precious).unwrap(), b"keep me");
    assert_eq!(mode(&precious), 0o644);
    assert!(
        !std::fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert_eq!(mode(&link), 0o600);

    // Never onto the database itself.
    let run = env
        .run(&["backup", env.db().to_str().unwrap(), "--force"])
        .code(2);
    assert!(run.stderr.contains("the database itself"), "{}", run.stderr);
}

/// Backups taken while another process creates tokens: each is a consistent snapshot
/// that passes SQLite's integrity check and opens as a tokenctl database.
#[test]
fn backups_while_another_process_writes() {
    let env = Arc::new(TestEnv::sqlite());
    env.create("first", &["cases:read"], &[]);
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (env, stop) = (Arc::clone(&env), Arc::clone(&stop));
        std::thread::spawn(move || {
            let mut made = 0;
            while !stop.load(Ordering::Relaxed) || made < 5 {
                env.run(&[
                    "create",
                    "--name",
                    &format!("w{made}"),
                    "--scope",
                    "cases:read",
                ])
                .success();
                made += 1;
            }
            made
        })
    };
    let mut counts = Vec::new();
    for i in 0..5 {
        let copy = env.dir().join(format!("b{i}.db"));
        let report = env
            .run(&["backup", copy.to_str().unwrap(), "--json"])
            .success()
            .json();
        let mut copied = crate::common::Sqlite3::open(&copy);
        assert_eq!(copied.run("PRAGMA integrity_check;"), "ok");
        let tokens: u64 = copied.run("SELECT count(*) FROM tokens;").parse().unwrap();
        drop(copied);
        assert_eq!(report["tokens"], tokens);
        counts.push(tokens);
        env.run(&["--db", copy.to_str().unwrap(), "list", "--status", "all"])
            .success();
    }
    stop.store(true, Ordering::Relaxed);
    let made = writer.join().unwrap();
    assert!(counts.windows(2).all(|w| w[0] <= w[1]), "{counts:?}");
    assert!(*counts.last().unwrap() <= made + 1);
}
