//! `tokenctl copy --to DEST`: everything of a database (tokens with their hashes,
//! settings, events, usage) into a new database of either backend, where every old
//! secret verifies; a DEST that holds anything, or is a link, refused and left as it was;
//! a URL's password in no output.

use std::ffi::{OsStr, OsString};
use std::os::unix::fs::PermissionsExt;

use serde_json::Value;

use crate::common::{Made, TestEnv};

const NOW: &str = "2026-11-20T12:00:00Z";

/// A database with something in every table: tokens of every status and environment, a
/// rotation, an allow list, a description, a setting, uses over several days (allowed,
/// denied, from several addresses) and uses of an unknown token. Returns every token made.
fn populate(env: &mut TestEnv) -> Vec<Made> {
    env.set_now("2026-11-01T09:00:00Z");
    env.run(&["config", "set", "modules", "cases,documents"])
        .success();
    let importer = env.create("importer", &["cases:write"], &["--expires", "90d"]);
    let sync = env.create(
        "sync",
        &["documents:read"],
        &[
            "--allow-ip",
            "203.0.113.0/24",
            "--description",
            "nightly sync",
        ],
    );
    let ci = env.create("ci", &["cases:read"], &["--env", "test"]);
    let leaked = env.create("leaked", &["cases:read"], &[]);
    env.run(&["revoke", &leaked.id, "--reason", "leaked", "--yes"])
        .success();
    let mut made = vec![importer, sync, ci, leaked];
    for (day, ip) in [
        (3, "203.0.113.7"),
        (10, "203.0.113.9"),
        (19, "198.51.100.4"),
    ] {
        env.set_now(&format!("2026-11-{day:02}T1{}:30:00Z", day % 10));
        for m in &made {
            env.verify(&m.secret, &["--scope", "cases:read", "--ip", ip]);
        }
        env.verify(
            "tok_live_000000000000000000000000000000000000",
            &["--ip", ip],
        );
    }
    env.set_now("2026-11-19T15:00:00Z");
    let rotated = env
        .run(&["rotate", &made[0].id, "--grace", "7d", "--json"])
        .success()
        .json();
    made.push(Made {
        id: rotated["id"].as_str().unwrap().to_string(),
        secret: rotated["token"].as_str().unwrap().to_string(),
    });
    env.set_now(NOW);
    made
}

/// What the commands show of the database at `db`, as JSON (and `config list` as text).
fn views(env: &TestEnv, db: &OsStr, made: &[Made]) -> Vec<(String, Value)> {
    let mut shown = Vec::new();
    let mut view = |args: &[&str]| {
        let mut all = vec![OsString::from("--db"), db.to_owned()];
        all.extend(args.iter().map(OsString::from));
        let out = env.cmd().args(&all).output().unwrap();
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8(out.stdout).unwrap();
        let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
        shown.push((args.join(" "), value));
    };
    view(&["list", "--status", "all", "--json"]);
    view(&["audit", "--json"]);
    view(&["audit", "--anomalies", "--json"]);
    view(&["audit", "--events", "--since", "90d", "--json"]);
    view(&["config", "list", "--json"]);
    view(&["config", "list"]);
    for m in made {
        view(&["show", &m.id, "--json"]);
        view(&["audit", &m.id, "--json"]);
    }
    shown
}

/// `views`' event log without its last `n` events (the copies'), which it returns.
fn without_copy_events(views: &mut [(String, Value)], n: usize) -> Vec<Value> {
    let (_, log) = views
        .iter_mut()
        .find(|(args, _)| args.starts_with("audit --events"))
        .unwrap();
    let events = log.as_array_mut().expect("the event log is an array");
    events.split_off(events.len() - n)
}

/// The decisions on every secret, recorded nowhere.
fn decisions(env: &TestEnv, db: &OsStr, made: &[Made]) -> Vec<(i32, Value)> {
    made.iter()
        .map(|m| {
            let out = env
                .cmd()
                .arg("--db")
                .arg(db)
                .args(["verify", "--json", "--no-record", "--scope", "cases:read"])
                .write_stdin(format!("{}\n", m.secret))
                .output()
                .unwrap();
            let code = out.status.code().unwrap();
            (code, serde_json::from_slice(&out.stdout).unwrap())
        })
        .collect()
}

/// `copy --to dest --json` from `db`, which must succeed.
fn copy(env: &TestEnv, db: &OsStr, dest: &OsStr) -> (Value, String) {
    let out = env
        .cmd()
        .arg("--db")
        .arg(db)
        .args(["copy", "--json", "--to"])
        .arg(dest)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{stderr}");
    (serde_json::from_slice(&out.stdout).unwrap(), stderr)
}

/// SQLite to PostgreSQL and back to SQLite: the same tokens, settings, events and usage
/// in every view, every old secret answered the same on both copies, the password of the
/// URL in no output.
#[test]
fn sqlite_to_postgres_to_sqlite_keeps_everything() {
    let Some(mut env) = TestEnv::postgres() else {
        return;
    };
    let url = env.location();
    let mut source = TestEnv::sqlite();
    let made = populate(&mut source);
    let first = source.db().to_path_buf();
    let back = env.dir().join("back").join("tokens.db");
    env.set_now(NOW);
    let before = views(&env, first.as_os_str(), &made);
    let (to_postgres, said) = copy(&env, first.as_os_str(), &url);
    let (to_sqlite, said_back) = copy(&env, &url, back.as_os_str());
    assert_eq!(to_postgres["rows"]["tokens"], 5);
    assert_eq!(to_postgres["rows"]["settings"], 1);
    assert_eq!(to_sqlite["rows"]["tokens"], 5);
    assert_eq!(
        to_sqlite["rows"]["events"].as_u64().unwrap(),
        to_postgres["rows"]["events"].as_u64().unwrap() + 1,
        "the copy event travels with the log"
    );
    for table in ["usage", "token_ips", "stranger_usage"] {
        assert!(to_postgres["rows"][table].as_u64().unwrap() > 0, "{table}");
        assert_eq!(to_postgres["rows"][table], to_sqlite["rows"][table]);
    }
    assert_eq!(
        std::fs::metadata(&back).unwrap().permissions().mode() & 0o777,
        0o600
    );

    let mut on_postgres = views(&env, &url, &made);
    let mut on_sqlite = views(&env, back.as_os_str(), &made);
    let copies = without_copy_events(&mut on_postgres, 1);
    assert_eq!(copies[0]["action"], "copy");
    assert_eq!(copies[0]["details"]["from"], first.to_str().unwrap());
    let copies = without_copy_events(&mut on_sqlite, 2);
    let shown_url = copies[1]["details"]["from"].as_str().unwrap().to_string();
    assert_eq!(shown_url, without_password(url.to_str().unwrap()));
    assert_eq!(before, on_postgres);
    assert_eq!(before, on_sqlite);

    let answers = decisions(&env, first.as_os_str(), &made);
    // The old token in its grace period, its successor and the test one; the revoked one
    // and the one without the scope are denied.
    let allowed: Vec<bool> = answers.iter().map(|(code, _)| *code == 0).collect();
    assert_eq!(allowed, [true, false, true, false, true]);
    assert_eq!(answers, decisions(&env, &url, &made));
    assert_eq!(answers, decisions(&env, back.as_os_str(), &made));

    let password = password_of(url.to_str().unwrap());
    let everything = format!(
        "{to_postgres}{said}{to_sqlite}{said_back}{}{shown_url}",
        serde_json::to_string(&on_sqlite).unwrap()
    );
    assert!(
        !everything.contains(&format!(":{password}@")),
        "{everything}"
    );
    assert_eq!(to_postgres["to"], shown_url.as_str());
    assert_eq!(to_sqlite["from"], shown_url.as_str());
}

/// `url` without the password of its `user:password@` part.
fn without_password(url: &str) -> String {
    url.replace(&format!(":{}@", password_of(url)), "@")
}

/// The password in a URL's `user:password@` part.
fn password_of(url: &str) -> String {
    let user_info = url.split_once("://").unwrap().1.split_once('@').unwrap().0;
    user_info.split_once(':').unwrap().1.to_string()
}

/// The database under test (either backend) into a new file: the same views.
#[test]
fn a_copy_in_a_new_file_shows_what_the_database_shows() {
    let mut env = TestEnv::new();
    let made = populate(&mut env);
    let dest = env.dir().join("copy.db");
    let db = env.location();
    let before = views(&env, &db, &made);
    let out = env.run(&["copy", "--to", dest.to_str().unwrap()]).success();
    assert!(
        out.stdout.starts_with("Copied 5 tokens, 1 setting, "),
        "{}",
        out.stdout
    );
    assert!(out.stderr.contains("'copy' event"), "{}", out.stderr);
    let mut after = views(&env, dest.as_os_str(), &made);
    let copies = without_copy_events(&mut after, 1);
    assert_eq!(copies[0]["action"], "copy");
    assert_eq!(before, after);
    assert_eq!(before, views(&env, &db, &made), "the source changed");
}

/// An existing file, a tokenctl database or not, and a symbolic link (to a file, or to
/// nowhere) are refused; each is left exactly as it was, and nothing is created.
#[test]
fn a_file_that_exists_or_a_link_is_refused_and_left_alone() {
    let env = TestEnv::new();
    env.create("api", &["cases:read"], &[]);
    let other = TestEnv::sqlite();
    other.create("other", &["cases:read"], &[]);
    let plain = env.dir().join("notes.txt");
    std::fs::write(&plain, "keep me").unwrap();
    let target = env.dir().join("target.db");
    std::fs::write(&target, "keep me too").unwrap();
    let link = env.dir().join("link.db");
    std::os::unix::fs::symlink(&target, &link).unwrap();
    let dangling = env.dir().join("dangling.db");
    let nowhere = env.dir().join("nowhere.db");
    std::os::unix::fs::symlink(&nowhere, &dangling).unwrap();
    let before = std::fs::read(other.db()).unwrap();
    for (dest, why) in [
        (other.db().to_path_buf(), "exists"),
        (plain.clone(), "exists"),
        (link.clone(), "symbolic link"),
        (dangling.clone(), "symbolic link"),
    ] {
        let run = env.run(&["copy", "--to", dest.to_str().unwrap()]).code(2);
        assert!(run.stderr.contains(why), "{}", run.stderr);
        assert!(run.stdout.is_empty());
    }
    assert_eq!(std::fs::read(other.db()).unwrap(), before);
    assert_eq!(std::fs::read_to_string(&plain).unwrap(), "keep me");
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "keep me too");
    assert!(!nowhere.exists(), "the dangling link was followed");
    let left: Vec<String> = std::fs::read_dir(env.dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".new-"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

/// A PostgreSQL database that holds tokenctl data is refused and left as it was.
#[test]
fn a_postgres_database_with_data_is_refused_and_left_alone() {
    let Some(dest) = TestEnv::postgres() else {
        return;
    };
    let kept = dest.create("kept", &["cases:read"], &[]);
    let before = dest.run(&["audit", "--events", "--json"]).success().json();
    let env = TestEnv::sqlite();
    env.create("api", &["cases:read"], &[]);
    let url = dest.location();
    let run = env.run(&["copy", "--to", url.to_str().unwrap()]).code(2);
    assert!(
        run.stderr.contains("already holds tokenctl data"),
        "{}",
        run.stderr
    );
    assert!(
        !run.stderr
            .contains(&format!(":{}@", password_of(url.to_str().unwrap()))),
        "{}",
        run.stderr
    );
    assert_eq!(
        dest.run(&["audit", "--events", "--json"]).success().json(),
        before
    );
    let (code, _) = dest.verify(&kept.secret, &["--no-record"]);
    assert_eq!(code, 0);
    let list = dest.run(&["list", "--json"]).success().json();
    assert_eq!(list.as_array().unwrap().len(), 1);
}
