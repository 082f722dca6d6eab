//! Small things operators tripped over: colours against NO_COLOR, a proxy list that trusts
//! everyone, a token for an environment no server runs.

use crate::common::TestEnv;

#[test]
fn an_explicit_color_always_wins_over_no_color() {
    let env = TestEnv::new();
    env.create("c", &["cases:read"], &[]);
    let run = |color: &str| {
        let out = env
            .cmd()
            .env("NO_COLOR", "1")
            .args(["--color", color, "list"])
            .output()
            .unwrap();
        String::from_utf8(out.stdout).unwrap()
    };
    assert!(
        run("always").contains("\x1b[38;5;10mactive"),
        "{:?}",
        run("always")
    );
    assert!(!run("auto").contains('\x1b'));
}

#[test]
fn trusting_every_address_as_a_proxy_warns() {
    let env = TestEnv::new();
    env.run(&["init"]).success();
    for all in ["0.0.0.0/0", "::/0"] {
        // The database is not there: serve stops before it listens, after the warning.
        let run = env
            .run(&[
                "--db",
                "missing.db",
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--trust-proxy",
                all,
            ])
            .code(1);
        assert!(
            run.stderr
                .contains(&format!("warning: --trust-proxy {all} trusts every client")),
            "{}",
            run.stderr
        );
    }
    let run = env
        .run(&[
            "--db",
            "missing.db",
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--trust-proxy",
            "10.0.0.0/8",
        ])
        .code(1);
    assert!(
        !run.stderr.contains("trusts every client"),
        "{}",
        run.stderr
    );
}

#[test]
fn the_first_token_of_an_unusual_environment_warns() {
    let env = TestEnv::new();
    let create = |name: &str, env_name: &str| {
        env.run(&[
            "create",
            "--name",
            name,
            "--scope",
            "cases:read",
            "--env",
            env_name,
        ])
        .success()
        .stderr
    };
    assert!(!create("a", "live").contains("warning"));
    let first = create("b", "prod");
    assert!(
        first.contains("warning: no other token is for the environment 'prod'")
            && first.contains("--env prod"),
        "{first}"
    );
    assert!(
        !create("c", "prod").contains("warning"),
        "the second one is expected"
    );
}
