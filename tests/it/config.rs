use crate::common::TestEnv;

#[test]
fn list_get_set() {
    let env = TestEnv::new();
    env.run(&["init"]).success();
    let v = env.run(&["config", "list", "--json"]).success().json();
    let keys: Vec<&str> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["key"].as_str().unwrap())
        .collect();
    assert_eq!(
        keys,
        [
            "token_prefix",
            "default_lifetime",
            "max_lifetime",
            "modules",
            "usage_retention",
            "token_retention",
            "spike_factor",
            "spike_min_requests",
            "flood_threshold"
        ]
    );
    assert_eq!(
        env.run(&["config", "get", "default_lifetime"])
            .success()
            .stdout,
        "90d\n"
    );
    env.run(&["config", "set", "token_prefix", "acme"])
        .success();
    let t = env.create("x", &["cases:read"], &[]);
    assert!(t.secret.starts_with("acme_live_"));
    let events = env.run(&["audit", "--events", "--json"]).success().json();
    let set = events
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "config_set")
        .unwrap();
    assert_eq!(set["details"]["old"], "tok");
    assert_eq!(set["details"]["new"], "acme");
}

#[test]
fn invalid_values_are_usage_errors() {
    let env = TestEnv::new();
    for (key, value, expect) in [
        ("token_prefix", "A_B", "2 to 8 lowercase"),
        ("default_lifetime", "forever", "'forever'"),
        ("max_lifetime", "10d", "longer than max_lifetime"),
        ("modules", "Cases", "'Cases'"),
        ("nosuch", "1", "unknown setting 'nosuch'"),
    ] {
        let run = env.run(&["config", "set", key, value]).code(2);
        assert!(run.stderr.contains(expect), "{key}={value}: {}", run.stderr);
    }
    assert_eq!(env.run(&["config", "get", "nosuch"]).code, 2);
}

#[test]
fn catalogue_and_lifetimes_apply_to_create() {
    let env = TestEnv::new();
    env.run(&["config", "set", "modules", "cases,invoices"])
        .success();
    env.run(&["config", "set", "max_lifetime", "none"])
        .success();
    env.create("forever", &["invoices:read"], &["--expires", "never"]);
    let run = env
        .run(&[
            "create",
            "--name",
            "x",
            "--scope",
            "cases:read,invocies:write",
        ])
        .code(2);
    assert!(
        run.stderr.contains("did you mean 'invoices'"),
        "{}",
        run.stderr
    );
}
