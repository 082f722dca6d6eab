//! The database file: permissions, refusal of files that are not ours, bad places.
//!
//! SQLite-only (`TestEnv::sqlite`): every test here is about the file and its side files.

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
    let env = TestEnv::sqlite();
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
    let mut reader = crate::common::Sqlite3::open(env.db());
    reader.run("SELECT count(*) FROM tokens;");
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
    let env = TestEnv::sqlite();
    assert_refused(
        &env,
        &b"PK\x03\x04 definitely a zip file".repeat(100),
        "not an SQLite database",
    );
}

#[test]
fn foreign_sqlite_file() {
    let env = TestEnv::sqlite();
    let other = env.dir().join("other.db");
    crate::common::sqlite3(
        &other,
        "CREATE TABLE users (name TEXT); INSERT INTO users VALUES ('ann');",
    );
    assert_refused(&env, &std::fs::read(&other).unwrap(), "another application");
}

#[test]
fn newer_schema() {
    let env = TestEnv::sqlite();
    env.create("x", &["cases:read"], &[]);
    crate::common::sqlite3(
        env.db(),
        "PRAGMA journal_mode = DELETE; PRAGMA user_version = 1000;",
    );
    let bytes = std::fs::read(env.db()).unwrap();
    assert_refused(&env, &bytes, "newer than this tokenctl understands");
}

#[test]
fn database_under_a_file_is_a_clear_error() {
    let env = TestEnv::sqlite();
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
    let env = TestEnv::sqlite();
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
    let env = TestEnv::sqlite();
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
    let env = TestEnv::sqlite();
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
    let env = TestEnv::sqlite();
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

/// A file's bytes and mode, to show it was not changed.
fn snapshot(path: &std::path::Path) -> (Vec<u8>, u32) {
    let meta = std::fs::symlink_metadata(path).unwrap();
    let bytes = if meta.is_file() {
        std::fs::read(path).unwrap()
    } else {
        Vec::new()
    };
    (bytes, meta.permissions().mode() & 0o7777)
}

/// Runs `list` and `create` against `db`: both refused with `expect`, and `untouched`
/// (the file, or what a link points at) byte-for-byte and mode-for-mode as it was, with
/// no -wal, -shm or reserve file made beside it.
#[track_caller]
fn assert_untouched(
    env: &TestEnv,
    db: &std::path::Path,
    untouched: &std::path::Path,
    expect: &str,
) {
    let before = snapshot(untouched);
    for args in [
        vec!["list"],
        vec!["create", "--name", "x", "--scope", "cases:read"],
    ] {
        let mut all = vec!["--db", db.to_str().unwrap()];
        all.extend(&args);
        let run = env.run(&all).code(1);
        assert!(run.stderr.contains(expect), "{args:?}: {}", run.stderr);
        assert!(run.stderr.contains("left untouched"), "{}", run.stderr);
        assert!(!run.stderr.contains("warning"), "{}", run.stderr);
        assert!(
            snapshot(untouched) == before,
            "{args:?} changed {}",
            untouched.display()
        );
        for suffix in ["-wal", "-shm", "-journal", "-reserve"] {
            for beside in [db, untouched] {
                let mut side = beside.as_os_str().to_owned();
                side.push(suffix);
                assert!(
                    !std::path::Path::new(&side).exists()
                        || beside == std::path::Path::new("/dev/null"),
                    "{args:?} made {}",
                    std::path::Path::new(&side).display()
                );
            }
        }
    }
}

fn foreign_sqlite(path: &std::path::Path) {
    crate::common::sqlite3(
        path,
        "CREATE TABLE users (name TEXT); INSERT INTO users VALUES ('ann');",
    );
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o644)).unwrap();
}

/// A symbolic link is refused, not followed: not to a plain file, not to another
/// application's database, not to a tokenctl database (whose real path the message gives).
#[test]
fn a_symbolic_link_is_refused_and_its_target_untouched() {
    let env = TestEnv::sqlite();
    std::fs::create_dir_all(env.db().parent().unwrap()).unwrap();
    let notes = env.dir().join("notes.txt");
    std::fs::write(&notes, b"not a database\n").unwrap();
    std::fs::set_permissions(&notes, std::fs::Permissions::from_mode(0o644)).unwrap();
    let link = env.dir().join("data/link.db");
    std::os::unix::fs::symlink(&notes, &link).unwrap();
    assert_untouched(&env, &link, &notes, "symbolic link");

    let other = env.dir().join("other.db");
    foreign_sqlite(&other);
    let link2 = env.dir().join("data/link2.db");
    std::os::unix::fs::symlink(&other, &link2).unwrap();
    assert_untouched(&env, &link2, &other, "symbolic link");

    // Even to one of ours, loosened: the real path is named, the mode is not repaired
    // through the link.
    env.create("t", &["cases:read"], &[]);
    std::fs::set_permissions(env.db(), std::fs::Permissions::from_mode(0o644)).unwrap();
    let link3 = env.dir().join("link3.db");
    std::os::unix::fs::symlink(env.db(), &link3).unwrap();
    let run = env.run(&["--db", link3.to_str().unwrap(), "list"]).code(1);
    assert!(
        run.stderr.contains(&format!("--db {}", env.db().display())),
        "{}",
        run.stderr
    );
    assert_eq!(mode(env.db()), 0o644);
}

/// Device nodes, FIFOs, sockets and directories are refused without being opened: a FIFO
/// does not block, /dev/null keeps its mode (the check once set it to 0600 as root).
#[test]
fn special_files_are_refused_unopened() {
    let env = TestEnv::sqlite();
    let null = std::path::Path::new("/dev/null");
    assert_untouched(&env, null, null, "character device");

    std::fs::create_dir_all(env.db().parent().unwrap()).unwrap();
    let fifo = env.dir().join("data/fifo.db");
    assert!(
        std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    std::fs::set_permissions(&fifo, std::fs::Permissions::from_mode(0o644)).unwrap();
    assert_untouched(&env, &fifo, &fifo, "FIFO");

    let socket = env.dir().join("data/socket.db");
    let _listener = std::os::unix::net::UnixListener::bind(&socket).unwrap();
    std::fs::set_permissions(&socket, std::fs::Permissions::from_mode(0o755)).unwrap();
    assert_untouched(&env, &socket, &socket, "socket");

    let dir = env.dir().join("data/dir.db");
    std::fs::create_dir(&dir).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    assert_untouched(&env, &dir, &dir, "is a directory");
}

/// Another application's database keeps its mode, and its uncommitted work: a hot
/// journal beside it (left by a crash mid-transaction) is not rolled back by tokenctl
/// merely looking at the file.
#[test]
fn another_applications_database_is_untouched_with_its_journal() {
    let env = TestEnv::sqlite();
    std::fs::create_dir_all(env.db().parent().unwrap()).unwrap();
    let work = env.dir().join("work.db");
    let mut conn = crate::common::Sqlite3::open(&work);
    conn.run(
        "PRAGMA journal_mode = DELETE; PRAGMA cache_size = 1;
         CREATE TABLE blobs (b BLOB);
         WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 200)
         INSERT INTO blobs SELECT randomblob(1000) FROM n;",
    );
    // Mid-transaction, with pages spilled into the file: a copy of the file and its
    // journal is what a crash at this moment leaves.
    conn.run("BEGIN; UPDATE blobs SET b = zeroblob(1000);");
    let crashed = env.dir().join("data/crashed.db");
    std::fs::copy(&work, &crashed).unwrap();
    let mut journal = work.as_os_str().to_owned();
    journal.push("-journal");
    let mut crashed_journal = crashed.as_os_str().to_owned();
    crashed_journal.push("-journal");
    std::fs::copy(&journal, &crashed_journal).expect("a hot journal to copy");
    drop(conn);
    std::fs::set_permissions(&crashed, std::fs::Permissions::from_mode(0o644)).unwrap();
    let journal_before = std::fs::read(&crashed_journal).unwrap();
    let before = snapshot(&crashed);
    for args in [
        vec!["list"],
        vec!["create", "--name", "x", "--scope", "a:read"],
    ] {
        let mut all = vec!["--db", crashed.to_str().unwrap()];
        all.extend(&args);
        let run = env.run(&all).code(1);
        assert!(run.stderr.contains("left untouched"), "{}", run.stderr);
        assert!(snapshot(&crashed) == before, "{args:?} changed the file");
        assert_eq!(std::fs::read(&crashed_journal).unwrap(), journal_before);
    }

    let plain = env.dir().join("data/plain.db");
    foreign_sqlite(&plain);
    assert_untouched(&env, &plain, &plain, "another application");
}

/// SQLite writes the log into whatever file is named like the -wal: one that is a link,
/// or has another name too, is refused, and what it points at is untouched.
#[test]
fn side_files_that_are_not_the_databases_are_refused() {
    let env = TestEnv::sqlite();
    env.create("t", &["cases:read"], &[]);
    let victim = env.dir().join("victim.txt");
    std::fs::write(&victim, b"precious\n").unwrap();
    std::fs::set_permissions(&victim, std::fs::Permissions::from_mode(0o644)).unwrap();
    for (suffix, how) in [
        ("-wal", "symlink"),
        ("-shm", "symlink"),
        ("-wal", "hard link"),
    ] {
        let side = side(&env, suffix);
        match how {
            "symlink" => std::os::unix::fs::symlink(&victim, &side).unwrap(),
            _ => std::fs::hard_link(&victim, &side).unwrap(),
        }
        let before = snapshot(&victim);
        let run = env.run(&["list"]).code(1);
        assert!(
            run.stderr
                .contains(&format!("its file tokens.db{suffix} is not SQLite's")),
            "{how} {suffix}: {}",
            run.stderr
        );
        assert!(
            snapshot(&victim) == before,
            "{how} {suffix} changed the target"
        );
        std::fs::remove_file(&side).unwrap();
    }
    env.run(&["list"]).success();
}

/// A -wal planted by another user (who could read it, or write a log of their own making)
/// is refused. Needs root, to make a file of another user.
#[test]
fn a_side_file_of_another_user_is_refused() {
    if !is_root() {
        eprintln!("notice: skipped a_side_file_of_another_user_is_refused: needs root");
        return;
    }
    let env = TestEnv::sqlite();
    env.create("t", &["cases:read"], &[]);
    let wal = side(&env, "-wal");
    std::fs::write(&wal, b"").unwrap();
    std::os::unix::fs::chown(&wal, Some(65534), Some(65534)).unwrap();
    let run = env.run(&["list"]).code(1);
    assert!(
        run.stderr.contains("belongs to user 65534"),
        "{}",
        run.stderr
    );
    assert_eq!(std::fs::read(&wal).unwrap(), b"");
    // And an empty file of another user is not made into a database.
    std::fs::remove_file(&wal).unwrap();
    let theirs = env.dir().join("data/theirs.db");
    std::fs::write(&theirs, b"").unwrap();
    std::os::unix::fs::chown(&theirs, Some(65534), Some(65534)).unwrap();
    std::fs::set_permissions(&theirs, std::fs::Permissions::from_mode(0o644)).unwrap();
    assert_untouched(&env, &theirs, &theirs, "empty file of user 65534");
}

/// A directory every user can write lets any of them plant the -wal or replace the
/// database: refused, for a new database and an existing one.
#[test]
fn a_directory_others_can_write_is_refused() {
    let env = TestEnv::sqlite();
    let shared = env.dir().join("shared");
    std::fs::create_dir(&shared).unwrap();
    std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o1777)).unwrap();
    let db = shared.join("tokens.db");
    let run = env.run(&[
        "--db",
        db.to_str().unwrap(),
        "create",
        "--name",
        "x",
        "--scope",
        "a:read",
    ]);
    let run = run.code(1);
    assert!(
        run.stderr.contains("writable by every user") && run.stderr.contains("mkdir -m 700"),
        "{}",
        run.stderr
    );
    assert!(!db.exists());
    env.create("t", &["cases:read"], &[]);
    std::fs::rename(env.db(), &db).unwrap();
    let before = snapshot(&db);
    let run = env.run(&["--db", db.to_str().unwrap(), "list"]).code(1);
    assert!(
        run.stderr.contains("writable by every user"),
        "{}",
        run.stderr
    );
    assert!(snapshot(&db) == before);
}

/// Not readable: refused with the reason, not repaired. As root every file is readable,
/// so this runs for other users only.
#[test]
fn an_unreadable_file_is_refused_as_it_is() {
    if is_root() {
        eprintln!("notice: skipped an_unreadable_file_is_refused_as_it_is: root reads every file");
        return;
    }
    let env = TestEnv::sqlite();
    env.create("t", &["cases:read"], &[]);
    std::fs::set_permissions(env.db(), std::fs::Permissions::from_mode(0o244)).unwrap();
    let run = env.run(&["list"]).code(1);
    assert!(run.stderr.contains("Permission denied"), "{}", run.stderr);
    assert_eq!(mode(env.db()), 0o244);
    std::fs::set_permissions(env.db(), std::fs::Permissions::from_mode(0o600)).unwrap();
}

/// A database with a second name (a hard link) could be changed through either, each
/// with its own -wal: a revocation through one was not seen through the other. Both
/// names are refused, and the message says what to do.
#[test]
fn a_hard_linked_database_is_refused() {
    let env = TestEnv::sqlite();
    let t = env.create("t", &["cases:read"], &[]);
    let second = env.dir().join("second.db");
    std::fs::hard_link(env.db(), &second).unwrap();
    for db in [env.db(), second.as_path()] {
        let run = env
            .run(&["--db", db.to_str().unwrap(), "revoke", &t.id, "--yes"])
            .code(1);
        assert!(
            run.stderr.contains("2 hard links") && run.stderr.contains("bind-mount its directory"),
            "{}",
            run.stderr
        );
        let verify = env.run_with(
            &["--db", db.to_str().unwrap(), "verify", "--no-record"],
            Some(&format!("{}\n", t.secret)),
        );
        assert_eq!(verify.code, 1, "{}", verify.stderr);
    }
    std::fs::remove_file(&second).unwrap();
    assert_eq!(env.show(&t.id)["status"], "active");
}

/// A database file bind-mounted onto another path (as into a container) is a mount point
/// of its own there, with -wal and -shm files of its own: refused. Needs a private mount
/// namespace (unshare).
#[test]
fn a_bind_mounted_database_file_is_refused() {
    if !crate::tools::available(
        "unshare",
        "storage::a_bind_mounted_database_file_is_refused",
    ) {
        return;
    }
    let env = TestEnv::sqlite();
    let t = env.create("t", &["cases:read"], &[]);
    let inside = env.dir().join("container");
    std::fs::create_dir(&inside).unwrap();
    std::fs::set_permissions(&inside, std::fs::Permissions::from_mode(0o700)).unwrap();
    let target = inside.join("tokens.db");
    std::fs::write(&target, b"").unwrap();
    let bin = assert_cmd::cargo::cargo_bin("tokenctl");
    let script = format!(
        "mount --bind '{db}' '{target}' || exit 99\n'{bin}' --db '{target}' revoke {id} --yes",
        db = env.db().display(),
        target = target.display(),
        bin = bin.display(),
        id = t.id
    );
    let mut refused = None;
    for flags in ["-rm", "-m"] {
        let out = std::process::Command::new("unshare")
            .args([flags, "sh", "-c", &script])
            .env("HOME", env.dir())
            .output()
            .unwrap();
        if out.status.code() != Some(99) {
            refused = Some(out);
            break;
        }
    }
    let Some(out) = refused else {
        assert!(
            std::env::var("CI").is_err(),
            "could not bind-mount a file in a private mount namespace"
        );
        eprintln!("notice: skipped a_bind_mounted_database_file_is_refused: no bind mount here");
        return;
    };
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("mount point of its own") && stderr.contains("Bind-mount the directory"),
        "{stderr}"
    );
    assert_eq!(env.show(&t.id)["status"], "active");
}
