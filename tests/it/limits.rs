//! Per-token rate limits: set through the CLI, enforced by `serve` over real HTTP (alone,
//! as several processes, across a restart, and behind the README's nginx), counted by
//! `audit` and `/metrics`.

use crate::common::{Made, TestEnv};
use crate::serve::{
    Nginx, Reply, Server, auth, exchange, get, nginx, readme_nginx_config, replace_once, request,
};

/// `n` requests with `token` as fast as they come; the statuses in order.
fn burst(server: &Server, token: &Made, n: usize) -> Vec<Reply> {
    (0..n)
        .map(|_| auth(server.addr, &token.secret, "GET", "/api/cases/1"))
        .collect()
}

fn statuses(replies: &[Reply]) -> Vec<u16> {
    replies.iter().map(|r| r.status).collect()
}

#[test]
fn set_shown_changed_and_removed_from_the_command_line() {
    let env = TestEnv::new();
    let v = env
        .run(&[
            "create",
            "--name",
            "a",
            "--scope",
            "cases:read",
            "--rate-limit",
            "100/min",
            "--json",
        ])
        .success()
        .json();
    assert_eq!(
        v["rate_limit"],
        serde_json::json!({"requests": 100, "per": "minute"})
    );
    let id = v["id"].as_str().unwrap().to_string();
    let plain = env.create("b", &["cases:read"], &[]);
    assert!(env.show(&plain.id)["rate_limit"].is_null());
    let table = env.run(&["list"]).success().stdout;
    assert!(
        table.lines().next().unwrap().contains("REQ 24H  LIMIT"),
        "{table}"
    );
    assert!(table.contains("100/min"), "{table}");
    let page = env.run(&["show", &id]).success().stdout;
    assert!(page.contains("Rate limit   100/min\n"), "{page}");

    let v = env
        .run(&["limit", "a", "5000/h", "--json"])
        .success()
        .json();
    assert_eq!(
        (&v["rate_limit"]["requests"], &v["rate_limit"]["per"]),
        (&5000.into(), &"hour".into())
    );
    assert_eq!(v["changed"], true);
    let same = env.run(&["limit", &id, "5000/hour"]).success();
    assert!(
        same.stderr
            .contains("already had a rate limit of 5000/h; nothing changed"),
        "{}",
        same.stderr
    );
    for bad in ["0/s", "10/d", "1e3/s", "ten/min", "5/s/s"] {
        let run = env.run(&["limit", &id, bad]).code(2);
        assert!(
            run.stderr.contains("is not a rate limit"),
            "{bad}: {}",
            run.stderr
        );
    }
    env.run(&["limit", &id]).code(2);
    env.run(&["limit", &id, "10/s", "--remove"]).code(2);
    env.run(&[
        "create",
        "--name",
        "c",
        "--scope",
        "cases:read",
        "--rate-limit",
        "5/week",
    ])
    .code(2);

    // A rotation carries the limit unless told otherwise.
    let rotated = env.run(&["rotate", &id, "--json"]).success().json();
    assert_eq!(rotated["rate_limit"]["requests"], 5000);
    let new_id = rotated["id"].as_str().unwrap().to_string();
    let again = env
        .run(&["rotate", &new_id, "--rate-limit", "none", "--json"])
        .success()
        .json();
    assert!(again["rate_limit"].is_null(), "{again}");
    let last = again["id"].as_str().unwrap().to_string();
    let set = env
        .run(&["rotate", &last, "--rate-limit", "2/s", "--json"])
        .success()
        .json();
    assert_eq!(set["rate_limit"]["per"], "second");
    let removed = env
        .run(&["limit", set["id"].as_str().unwrap(), "--remove"])
        .success();
    assert!(
        removed.stderr.contains("now has no rate limit"),
        "{}",
        removed.stderr
    );
    let v = env.run(&["limit", "b", "none", "--json"]).success().json();
    assert_eq!(v["changed"], false);
    let events = env.run(&["audit", "--events", "--json"]).success().json();
    let limits: Vec<String> = events
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "rate_limit")
        .map(|e| e["details"].to_string())
        .collect();
    assert_eq!(
        limits,
        [
            r#"{"from":"100/min","to":"5000/h"}"#,
            r#"{"from":"2/s","to":null}"#
        ]
    );
    // The create event records the limit a token started with, and only when it has one.
    let created: Vec<&serde_json::Value> = events
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "create")
        .map(|e| &e["details"]["rate_limit"])
        .collect();
    assert!(
        created.contains(&&serde_json::json!("100/min")),
        "{created:?}"
    );
    assert!(created.contains(&&serde_json::Value::Null), "{created:?}");
    // A revoked token's limit cannot matter again.
    env.run(&["revoke", &new_id, "--yes"]).success();
    env.run(&["limit", &new_id, "1/s"]).code(2);
}

/// A burst over the limit gets exactly the excess as 429, with Retry-After and the
/// RateLimit fields; the allowed ones say what is left. Suspension and other refusals
/// cost nothing. Counted by /metrics and `audit`. On both backends.
#[test]
fn a_burst_gets_exactly_the_excess_as_429() {
    let env = TestEnv::new();
    let token = env.create("importer", &["cases:read"], &["--rate-limit", "5/h"]);
    let free = env.create("free", &["cases:read"], &[]);
    let server = Server::start(&env, &[]);
    // Refusals for other reasons first: they use none of the allowance.
    auth(server.addr, &token.secret, "POST", "/api/cases/1").expect(403);
    let replies = burst(&server, &token, 8);
    assert_eq!(statuses(&replies), [200, 200, 200, 200, 200, 429, 429, 429]);
    let left: Vec<&str> = replies[..5]
        .iter()
        .map(|r| r.header("ratelimit").unwrap())
        .collect();
    assert_eq!(
        left,
        [
            "\"token\";r=4;t=720",
            "\"token\";r=3;t=1440",
            "\"token\";r=2;t=2160",
            "\"token\";r=1;t=2880",
            "\"token\";r=0;t=3600"
        ]
    );
    for r in &replies[5..] {
        assert_eq!(r.header("retry-after"), Some("720"), "{r:?}");
        assert_eq!(
            r.header("ratelimit-policy"),
            Some("\"token\";q=5;w=3600"),
            "{r:?}"
        );
        assert_eq!(r.header("ratelimit"), Some("\"token\";r=0;t=3600"), "{r:?}");
        assert_eq!(r.header("www-authenticate"), None, "{r:?}");
    }
    // Other tokens are not touched; unlimited ones get no RateLimit fields.
    let other = auth(server.addr, &free.secret, "GET", "/api/cases/1").expect(200);
    assert_eq!(other.header("ratelimit"), None);
    // A new limit takes effect from the next request, with its whole allowance.
    env.run(&["limit", &token.id, "2/h"]).success();
    assert_eq!(statuses(&burst(&server, &token, 3)), [200, 200, 429]);
    let metrics = get(server.addr, "/metrics", &[]).body;
    assert!(
        metrics.contains(
            "tokenctl_serve_requests_total{outcome=\"denied\",reason=\"rate_limited\"} 4"
        ),
        "{metrics}"
    );
    let (status, log) = server.terminate();
    assert!(status.success(), "{log}");
    let audit = env.run(&["audit", "--json"]).success().json();
    let row = audit["tokens"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == token.id.as_str())
        .unwrap()
        .clone();
    assert_eq!(
        (&row["requests"], &row["denied"], &row["rate_limited"]),
        (&12.into(), &5.into(), &4.into())
    );
    let table = env.run(&["audit"]).success().stdout;
    assert!(
        table
            .lines()
            .next()
            .unwrap()
            .contains("DENIED  LIMITED  IPS"),
        "{table}"
    );
    // And the token's own audit, as a total and by day.
    let one = env.run(&["audit", &token.id, "--json"]).success().json();
    assert_eq!(
        (&one["denied"], &one["rate_limited"]),
        (&5.into(), &4.into())
    );
    let by_day: u64 = one["by_day"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["rate_limited"].as_u64().unwrap())
        .sum();
    assert_eq!(by_day, 4);
    let page = env.run(&["audit", &token.id]).success().stdout;
    assert!(page.contains("5 denied (4 rate-limited)"), "{page}");
    assert!(page.contains("DENIED  LIMITED"), "{page}");
}

/// The precision the README states: each `serve` process enforces the full limit on its
/// own (two processes let through twice the limit, each exactly its own), and a
/// restarted process starts every token with its whole allowance.
#[test]
fn each_process_counts_on_its_own_and_a_restart_forgets() {
    let env = TestEnv::new();
    let token = env.create("importer", &["cases:read"], &["--rate-limit", "3/h"]);
    let first = Server::start(&env, &[]);
    let second = Server::start(&env, &[]);
    assert_eq!(
        statuses(&burst(&first, &token, 5)),
        [200, 200, 200, 429, 429]
    );
    assert_eq!(
        statuses(&burst(&second, &token, 5)),
        [200, 200, 200, 429, 429]
    );
    drop(first);
    let restarted = Server::start(&env, &[]);
    assert_eq!(
        statuses(&burst(&restarted, &token, 4)),
        [200, 200, 200, 429]
    );
}

/// Behind the README's nginx, whose auth_request passes on only 401 and 403: `serve
/// --rate-limited-status 403` and the README's `@tokenctl_403` give the client a 429
/// with Retry-After, and leave the other 403s as they were, challenge included.
#[test]
fn behind_nginx_the_readme_configuration_answers_429() {
    let Some(binary) = nginx() else { return };
    let env = TestEnv::new();
    let token = env.create("importer", &["cases:read"], &["--rate-limit", "2/h"]);
    let server = Server::start(&env, &["--rate-limited-status", "403"]);
    let site = replace_once(
        &readme_nginx_config(),
        "127.0.0.1:8457",
        &server.addr.to_string(),
    );
    let proxy = Nginx::start(&binary, &env.dir().join("nginx"), &site, None);
    let bearer = format!("Bearer {}", token.secret);
    let call = |method: &str| {
        let headers = [("Authorization", bearer.as_str())];
        exchange(proxy.addr, &request(method, "/api/cases/1", &headers))
            .expect("a reply from nginx")
    };
    call("POST").forbidden(Some("cases:write"));
    let ok = call("GET").expect(200);
    assert!(ok.body.starts_with("app saw name=[importer]"), "{ok:?}");
    assert_eq!(
        ok.header("ratelimit"),
        Some("\"token\";r=1;t=1800"),
        "{ok:?}"
    );
    assert_eq!(
        ok.header("ratelimit-policy"),
        Some("\"token\";q=2;w=3600"),
        "{ok:?}"
    );
    call("GET").expect(200);
    for _ in 0..2 {
        let over = call("GET").expect(429);
        assert_eq!(over.header("retry-after"), Some("1800"), "{over:?}");
        assert_eq!(
            over.header("ratelimit"),
            Some("\"token\";r=0;t=3600"),
            "{over:?}"
        );
        assert_eq!(over.header("www-authenticate"), None, "{over:?}");
        assert!(!over.body.contains("app saw"), "{over:?}");
    }
    // The scope refusal still has its challenge, and nothing was a server error.
    call("DELETE").forbidden(Some("cases:delete"));
    assert!(
        !proxy.error_log().contains("unexpected status"),
        "{}",
        proxy.error_log()
    );
}
