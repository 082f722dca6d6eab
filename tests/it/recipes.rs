//! What the README's scripts rely on: `create` and `rotate` whose secret stdout does not
//! take fail, and say which token nobody has the secret of.

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

/// A pipe whose reader is gone: writing to it fails with EPIPE.
fn closed_pipe() -> Stdio {
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    Stdio::from(writer)
}
