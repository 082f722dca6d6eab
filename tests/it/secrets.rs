//! Secret hygiene: after a token's whole life — created, used, denied, rotated, revoked,
//! audited, scanned — its text appears nowhere but the one stdout that issued it: not in
//! the database or its WAL, not in any other output or error message, not in the argv of
//! a process tokenctl starts.

use std::path::Path;
use std::process::Command;

use crate::common::TestEnv;

fn assert_absent(what: &str, text: &[u8], secrets: &[&str]) {
    for s in secrets {
        let body = &s.as_bytes()[s.len() - 36..s.len() - 6];
        assert!(
            !text.windows(body.len()).any(|w| w == body),
            "{what} contains a secret's random part"
        );
    }
}

#[test]
fn a_tokens_life_leaves_no_trace_of_it() {
    let env = TestEnv::sqlite();
    let first = env.create("sync", &["contacts:write"], &["--allow-ip", "10.0.0.0/8"]);
    // Keep a reader open so the WAL is not checkpointed away before we read it.
    let mut reader = crate::common::Sqlite3::open(env.db());
    reader.run("SELECT count(*) FROM tokens;");
    let mut outputs: Vec<u8> = Vec::new();
    let mut keep = |run: crate::common::Run| {
        outputs.extend(run.stdout.bytes());
        outputs.extend(run.stderr.bytes());
    };
    for args in [
        vec!["--ip", "10.1.1.1", "--scope", "contacts:read"],
        vec!["--ip", "192.0.2.1"],
        vec!["--scope", "cases:write"],
        vec!["--env", "test"],
    ] {
        let mut all = vec!["verify"];
        all.extend(args);
        keep(env.run_with(&all, Some(&first.secret)));
        keep(env.run_with(&[&all[..], &["--json"]].concat(), Some(&first.secret)));
    }
    // Malformed variants of the secret must not be echoed either.
    keep(env.run_with(&["verify"], Some(&format!("{}x", first.secret))));
    keep(env.run_with(&["verify"], Some(&first.secret.to_uppercase())));
    keep(env.run(&["verify", &first.secret]));
    let rotated = env
        .run(&["rotate", "sync", "--grace", "1h", "--json"])
        .success();
    let second: serde_json::Value = rotated.json();
    let second = second["token"].as_str().unwrap().to_string();
    keep(crate::common::Run {
        code: 0,
        stdout: String::new(),
        stderr: rotated.stderr,
    });
    keep(env.run(&["revoke", &first.id, "--yes", "--reason", "done"]));
    keep(env.run_with(&["verify"], Some(&first.secret)));
    for args in [
        vec!["list", "--status", "all"],
        vec!["list", "--status", "all", "--json"],
        vec!["show", &first.id],
        vec!["show", &first.id, "--json"],
        vec!["audit"],
        vec!["audit", "--json"],
        vec!["audit", &first.id, "--json"],
        vec!["audit", "--events", "--json"],
    ] {
        keep(env.run(&args));
    }
    let secrets = [first.secret.as_str(), second.as_str()];
    assert_absent("the output", &outputs, &secrets);
    assert_absent("the database and its WAL", &env.stored_bytes(), &secrets);
    drop(reader);
}

#[test]
fn scan_never_passes_a_token_to_git() {
    if !crate::tools::available("git", "secrets::scan_never_passes_a_token_to_git") {
        return;
    }
    let env = TestEnv::new();
    let made = env.create("leaky", &["cases:read"], &[]);
    let repo = env.dir().join("repo");
    std::fs::create_dir_all(&repo).unwrap();
    std::fs::write(
        repo.join("config.env"),
        format!("API_TOKEN={}\n", made.secret),
    )
    .unwrap();
    let git = |args: &[&str]| {
        let ok = Command::new("git")
            .args([
                "-c",
                "user.name=T",
                "-c",
                "user.email=t@example.com",
                "-c",
                "commit.gpgsign=false",
            ])
            .args(args)
            .current_dir(&repo)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .status()
            .unwrap()
            .success();
        assert!(ok, "git {args:?}");
    };
    git(&["init", "-q"]);
    git(&["add", "."]);
    git(&["commit", "-qm", "leak"]);
    // A git that records its arguments, then runs the real one.
    let real = String::from_utf8(
        Command::new("sh")
            .args(["-c", "command -v git"])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    let wrap = env.dir().join("wrap");
    std::fs::create_dir_all(&wrap).unwrap();
    let log = env.dir().join("git-argv.log");
    let script = format!(
        "#!/bin/sh\nprintf '%s\\n' \"$*\" >> '{}'\nexec '{}' \"$@\"\n",
        log.display(),
        real.trim()
    );
    write_executable(&wrap.join("git"), &script);
    let path = format!("{}:{}", wrap.display(), std::env::var("PATH").unwrap());
    let out = env
        .cmd()
        .env("PATH", path)
        .args([
            "scan",
            repo.to_str().unwrap(),
            "--git",
            "--revoke",
            "--json",
        ])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(5),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let argv = std::fs::read(&log).expect("scan ran git");
    assert!(!argv.is_empty());
    assert_absent("git's argv", &argv, &[&made.secret]);
    assert_absent(
        "scan's output",
        &[out.stdout, out.stderr].concat(),
        &[&made.secret],
    );
    assert_eq!(env.show(&made.id)["status"], "revoked");
}

fn write_executable(path: &Path, content: &str) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, content).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}
