//! What the README's scripts rely on: `create` and `rotate` whose secret stdout does not
//! take fail, and say which token nobody has the secret of; revoking a name whose tokens
//! are all revoked already succeeds, so that a script can run again.

use std::process::Stdio;

use crate::common::TestEnv;

const NAME: &str = "Mailchimp sync";

// create and rotate when stdout does not take the secret.

#[test]
fn a_secret_that_stdout_does_not_take_fails_the_command_and_says_what_to_do() {
    let env = TestEnv::new();
    env.create(NAME, &["contacts:write"], &[]);
    let plain = ["create", "--name", "importer", "--scope", "cases:read"];
    let json = [
        "create",
        "--name",
        "sync",
        "--scope",
        "cases:read",
        "--json",
    ];
    let full_disk = || Stdio::from(std::fs::File::create("/dev/full").unwrap());
    for (args, stdout) in [
        (&plain[..], closed_pipe()),
        (&["rotate", NAME][..], full_disk()),
        (&json[..], closed_pipe()),
    ] {
        let out = env.std_cmd().args(args).stdout(stdout).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {stderr}");
        let id = stderr
            .strip_prefix("error: token ")
            .and_then(|rest| rest.split_whitespace().next())
            .unwrap_or_else(|| panic!("{args:?}: {stderr}"));
        assert!(
            stderr.contains("so nobody has it")
                && stderr.contains(&format!("`tokenctl rotate {id} --grace 0`")),
            "{args:?}: {stderr}"
        );
        assert_eq!(env.show(id)["status"], "active", "{args:?}: it was issued");
        // What the message says to do.
        let secret = env.run(&["rotate", id, "--grace", "0"]).success().stdout;
        assert_eq!(env.verify(secret.trim(), &[]).0, 0);
        assert_eq!(env.show(id)["status"], "revoked");
    }
}

#[test]
fn revoking_a_name_whose_tokens_are_all_revoked_changes_nothing_and_succeeds() {
    let mut env = TestEnv::new();
    env.set_now("2026-03-01T10:00:00Z");
    env.create("importer", &["cases:read"], &["--expires", "7d"]);
    env.run(&["revoke", "importer", "--yes"]).success();
    let second = env.create("importer", &["cases:read"], &["--expires", "7d"]);
    env.run(&["revoke", "importer", "--yes"]).success();
    let run = env
        .run(&["revoke", "importer", "--yes", "--json"])
        .success();
    assert_eq!(run.json()["id"], second.id.as_str(), "the newest");
    assert!(run.stderr.contains("was already revoked"), "{}", run.stderr);
    // One of them merely expired: the admin picks.
    let third = env.create("importer", &["cases:read"], &["--expires", "1d"]);
    env.set_now("2026-03-03T10:00:00Z");
    let run = env.run(&["revoke", "importer", "--yes"]).code(1);
    assert!(
        run.stderr.contains("several tokens are named 'importer'"),
        "{}",
        run.stderr
    );
    assert_eq!(
        env.show(&third.id)["status"],
        "expired",
        "nothing was revoked"
    );
}

/// A pipe whose reader is gone: writing to it fails with EPIPE.
fn closed_pipe() -> Stdio {
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    Stdio::from(writer)
}
