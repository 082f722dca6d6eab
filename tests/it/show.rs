use crate::common::{TestEnv, redact};

#[test]
fn json_has_usage_and_history() {
    let mut env = TestEnv::new();
    env.set_now("2026-03-01T10:00:00Z");
    let t = env.create("importer", &["cases:read"], &[]);
    env.set_now("2026-03-01T11:15:00Z");
    env.verify(&t.secret, &["--ip", "10.0.0.1"]);
    env.verify(&t.secret, &["--ip", "10.0.0.1", "--scope", "cases:write"]);
    env.set_now("2026-03-02T09:00:00Z");
    env.verify(&t.secret, &["--ip", "2001:db8::7"]);
    let v = env.show(&t.id);
    assert_eq!(v["id"], t.id.as_str());
    assert_eq!(v["last_used_at"], "2026-03-02T09:00:00Z");
    assert_eq!(v["last_used_ip"], "2001:db8::7");
    assert_eq!(v["requests_24h"], 3);
    assert_eq!(v["usage"]["allowed_24h"], 2);
    assert_eq!(v["usage"]["denied_24h"], 1);
    assert_eq!(v["usage"]["allowed_30d"], 2);
    let ips = v["usage"]["ips"].as_array().unwrap();
    assert_eq!(ips.len(), 2);
    assert_eq!(ips[0]["ip"], "2001:db8::7");
    assert_eq!(ips[1]["first_seen"], "2026-03-01T11:15:00Z");
    let daily = v["usage"]["daily"].as_array().unwrap();
    assert_eq!(daily.len(), 30);
    assert_eq!(daily[28]["day"], "2026-03-01");
    assert_eq!(daily[28]["allowed"], 1);
    assert_eq!(daily[28]["denied"], 1);
    assert_eq!(daily[29]["allowed"], 1);
    assert_eq!(v["events"][0]["action"], "create");
    assert!(v.get("token").is_none(), "show never prints the secret");
    let text = env.run(&["show", &t.id]).success().stdout + &serde_json::to_string(&v).unwrap();
    assert!(!text.contains(&t.secret));
}

#[test]
fn human_snapshot() {
    let mut env = TestEnv::new();
    env.set_now("2026-03-01T10:00:00Z");
    let t = env.create(
        "importer",
        &["cases:write", "documents:read"],
        &[
            "--allow-ip",
            "10.0.0.0/8",
            "--description",
            "nightly case import",
        ],
    );
    env.set_now("2026-03-03T10:00:00Z");
    env.verify(&t.secret, &["--ip", "10.0.0.1"]);
    env.verify(&t.secret, &["--ip", "192.0.2.1"]);
    let hint = env.show(&t.id)["hint"].as_str().unwrap().to_string();
    let user = env.show(&t.id)["created_by"].as_str().unwrap().to_string();
    let out = env.run(&["show", "importer"]).success().stdout;
    let out = redact(
        &out,
        &[
            (&t.id, "[ID]"),
            (&hint, "[HINT]"),
            (&format!(" {user} "), " [USER] "),
            (&format!(" {user}\n"), " [USER]\n"),
        ],
    );
    insta::assert_snapshot!(out, @r"
    ID           [ID]
    Name         importer
    Description  nightly case import
    Status       active
    Environment  live
    Scopes       cases:write documents:read
    Allowed IPs  10.0.0.0/8
    Hint         [HINT]
    Created      2026-03-01 10:00 UTC (2 days ago) by [USER]
    Expires      2026-05-30 10:00 UTC (in 3 months)
    Last used    2026-03-03 10:00 UTC (just now) from 192.0.2.1
    Flag         IP_BLOCKED outside the allow list: 192.0.2.1 ×1

    REQUESTS  24H  7D  30D
    allowed   1    1   1
    denied    1    1   1

    Last 30 days  |                             █|  (requests per UTC day, peak 2)

    IP         ALLOWED (30D)  DENIED (30D)  FIRST SEEN  LAST SEEN
    10.0.0.1   1              0             just now    just now
    192.0.2.1  0              1             just now    just now

    History
      2026-03-01 10:00 UTC  create   [USER]  env=live expires_at=2026-05-30T10:00:00Z name=importer scopes=cases:write,documents:read
    ");
}

#[test]
fn unknown_and_ambiguous_references() {
    let mut env = TestEnv::new();
    env.run(&["init"]).success();
    let run = env.run(&["show", "nope"]).code(1);
    assert!(
        run.stderr.contains("no token has the id or name 'nope'"),
        "{}",
        run.stderr
    );
    env.set_now("2026-03-01T10:00:00Z");
    let a = env.create("dup", &["cases:read"], &[]);
    env.set_now("2026-03-02T11:30:00Z");
    let b = env.create("dup", &["cases:read"], &["--expires", "7d"]);
    // Several matches are listed with what tells them apart, for show and revoke alike.
    let listed = |args: &[&str]| {
        let run = env.run(args).code(1);
        redact(&run.stderr, &[(&a.id, "[A]     "), (&b.id, "[B]     ")])
    };
    let text = listed(&["show", "dup"]);
    assert_eq!(listed(&["revoke", "dup", "--yes"]), text);
    insta::assert_snapshot!(text, @r"
    error: several tokens are named 'dup'; give the id of the one you mean:
      ID        STATUS  CREATED               EXPIRES
      [A]       active  2026-03-01 10:00 UTC  2026-05-30 10:00 UTC
      [B]       active  2026-03-02 11:30 UTC  2026-03-09 11:30 UTC
    ");
    assert_eq!(env.show(&a.id)["status"], "active", "nothing was revoked");
}

/// Absolute times carry their zone: the local offset, or UTC with --utc.
#[test]
fn times_say_their_zone() {
    let mut env = TestEnv::new();
    env.set_now("2026-03-01T10:00:00Z");
    env.create("importer", &["cases:read"], &["--expires", "30d"]);
    let show = |utc: bool| {
        let mut cmd = env.cmd();
        cmd.env("TZ", "Europe/Berlin");
        if utc {
            cmd.arg("--utc");
        }
        let out = cmd.args(["show", "importer"]).output().unwrap();
        String::from_utf8(out.stdout).unwrap()
    };
    let local = show(false);
    assert!(
        local.contains("Expires      2026-03-31 12:00 +02:00 (in 30 days)"),
        "{local}"
    );
    assert!(
        local.contains("2026-03-01 11:00 +01:00 (just now)"),
        "{local}"
    );
    let utc = show(true);
    assert!(
        utc.contains("Expires      2026-03-31 10:00 UTC (in 30 days)"),
        "{utc}"
    );
}

/// `show NAME` after a rotation finds the new token, and shows the use of the one it
/// replaced apart, labelled.
#[test]
fn show_of_a_name_follows_the_rotation_chain() {
    let mut env = TestEnv::new();
    env.set_now("2026-03-01T10:00:00Z");
    let old = env.create("sync", &["cases:read"], &["--expires", "30d"]);
    for _ in 0..3 {
        assert_eq!(env.verify(&old.secret, &["--ip", "10.0.0.1"]).0, 0);
    }
    env.set_now("2026-03-01T11:00:00Z");
    env.run(&["rotate", "sync", "--grace", "1d"]).success();
    let page = env.run(&["show", "sync", "--json"]).success().json();
    assert_ne!(page["id"], old.id.as_str());
    assert_eq!(page["requests_24h"], 0);
    let before = &page["predecessors"][0];
    assert_eq!(before["id"], old.id.as_str());
    assert_eq!(before["status"], "rotating");
    assert_eq!(before["requests_24h"], 3);
    let human = env.run(&["show", "sync"]).success().stdout;
    assert!(
        human.contains("Tokens this one replaced by rotation (newest first); their use is not in the counts above:"),
        "{human}"
    );
    assert!(human.contains(&old.id), "{human}");
    assert!(env.show(&old.id).get("predecessors").is_none());
}
