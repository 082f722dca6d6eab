//! The database file: permissions, refusal of files that are not ours, bad places.

use std::os::unix::fs::PermissionsExt;
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::common::TestEnv;

fn mode(path: &std::path::Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

fn side(env: &TestEnv, suffix: &str) -> std::path::PathBuf {
    let mut s = env.db().as_os_str().to_owned();
    s.push(suffix);
    s.into()
}

#[test]
fn owner_only_under_umask_022() {
    let env = TestEnv::new();
    let bin = assert_cmd::cargo::cargo_bin("tokenctl");
    let run_sh = |name: &str| {
        let status = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!(
                "umask 022; exec '{}' create --name {name} --scope cases:read >/dev/null 2>&1",
                bin.display()
            ))
            .env("TOKENCTL_DB", env.db())
            .env("HOME", env.dir())
            .status()
            .unwrap();
        assert!(status.success());
    };
    run_sh("first");
    assert_eq!(mode(env.db()), 0o600);
    assert_eq!(mode(env.db().parent().unwrap()), 0o700);
    // Keep a reader open so the -wal and -shm files stay after the next write.
    let conn = rusqlite::Connection::open(env.db()).unwrap();
    conn.query_row("SELECT count(*) FROM tokens", [], |r| r.get::<_, i64>(0))
        .unwrap();
    run_sh("second");
    for suffix in ["-wal", "-shm"] {
        assert_eq!(mode(&side(&env, suffix)), 0o600, "{suffix}");
    }
}

fn assert_refused(env: &TestEnv, bytes: &[u8], expect: &str) {
    std::fs::create_dir_all(env.db().parent().unwrap()).unwrap();
    std::fs::write(env.db(), bytes).unwrap();
    std::fs::set_permissions(env.db(), std::fs::Permissions::from_mode(0o600)).unwrap();
    for args in [
        vec!["list"],
        vec!["create", "--name", "x", "--scope", "cases:read"],
    ] {
        let run = env.run(&args).code(1);
        assert!(run.stderr.contains(expect), "{args:?}: {}", run.stderr);
        assert!(run.stderr.contains("left untouched"), "{}", run.stderr);
        assert_eq!(
            std::fs::read(env.db()).unwrap(),
            bytes,
            "{args:?} modified the file"
        );
    }
}

#[test]
fn junk_file() {
    let env = TestEnv::new();
    assert_refused(
        &env,
        &b"PK\x03\x04 definitely a zip file".repeat(100),
        "not an SQLite database",
    );
}

#[test]
fn foreign_sqlite_file() {
    let env = TestEnv::new();
    let other = env.dir().join("other.db");
    let conn = rusqlite::Connection::open(&other).unwrap();
    conn.execute_batch("CREATE TABLE users (name TEXT); INSERT INTO users VALUES ('ann');")
        .unwrap();
    drop(conn);
    assert_refused(&env, &std::fs::read(&other).unwrap(), "another application");
}

#[test]
fn newer_schema() {
    let env = TestEnv::new();
    env.create("x", &["cases:read"], &[]);
    let conn = rusqlite::Connection::open(env.db()).unwrap();
    conn.pragma_update(None, "journal_mode", "DELETE").unwrap();
    conn.pragma_update(None, "user_version", 1000).unwrap();
    drop(conn);
    let bytes = std::fs::read(env.db()).unwrap();
    assert_refused(&env, &bytes, "newer than this tokenctl understands");
}

#[test]
fn database_under_a_file_is_a_clear_error() {
    let env = TestEnv::new();
    let file = env.dir().join("plain-file");
    std::fs::write(&file, b"x").unwrap();
    let db = file.join("tokens.db");
    let run = env.run(&["--db", db.to_str().unwrap(), "init"]).code(1);
    assert!(
        run.stderr.contains("cannot create the database") && run.stderr.contains("Not a directory"),
        "{}",
        run.stderr
    );
}

#[test]
fn read_only_directory_is_a_clear_error() {
    if is_root() {
        eprintln!(
            "notice: skipped read_only_directory_is_a_clear_error: root ignores directory permissions"
        );
        return;
    }
    let env = TestEnv::new();
    let dir = env.dir().join("ro");
    std::fs::create_dir(&dir).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o500)).unwrap();
    let db = dir.join("tokens.db");
    let run = env.run(&["--db", db.to_str().unwrap(), "init"]).code(1);
    assert!(
        run.stderr.contains("cannot create the database"),
        "{}",
        run.stderr
    );
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).unwrap();
}

fn is_root() -> bool {
    std::fs::metadata("/proc/self")
        .map(|m| std::os::unix::fs::MetadataExt::uid(&m) == 0)
        .unwrap_or(false)
}

#[test]
fn world_readable_database_is_repaired_with_a_warning() {
    let env = TestEnv::new();
    env.create("x", &["cases:read"], &[]);
    std::fs::set_permissions(env.db(), std::fs::Permissions::from_mode(0o644)).unwrap();
    let run = env.run(&["list"]).success();
    assert!(
        run.stderr.contains("warning:") && run.stderr.contains("0644"),
        "{}",
        run.stderr
    );
    assert_eq!(mode(env.db()), 0o600);
}

#[test]
fn default_database_location() {
    let env = TestEnv::new();
    let out = env
        .cmd()
        .env_remove("TOKENCTL_DB")
        .args(["create", "--name", "d", "--scope", "cases:read"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let path = env.dir().join("xdg-data/tokenctl/tokens.db");
    assert_eq!(mode(&path), 0o600);
    assert_eq!(mode(path.parent().unwrap()), 0o700);
}

/// No command waits for input when stdin is not a terminal, even a pipe nobody closes.
#[test]
fn no_command_waits_for_input() {
    let env = TestEnv::new();
    let t = env.create("x", &["cases:read"], &[]);
    let commands: Vec<Vec<&str>> = vec![
        vec!["create", "--scope", "cases:read"],
        vec!["create", "--name", "y"],
        vec!["revoke", &t.id],
        vec!["list"],
        vec!["show", &t.id],
        vec!["rotate", &t.id, "--grace", "1h"],
        vec!["audit"],
        vec!["config", "list"],
        vec!["prune", "--dry-run"],
    ];
    for args in commands {
        let mut child = env
            .std_cmd()
            .args(&args)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let _open_stdin = child.stdin.take();
        // Generous: this detects a hang, it does not measure speed.
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                assert!(status.code().is_some(), "{args:?}");
                break;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!("{args:?} waited for input");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}
