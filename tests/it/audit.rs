use chrono::{DateTime, TimeDelta, Utc};
use tokenctl::{Question, Verifier};

use crate::common::TestEnv;

const NOW: &str = "2026-06-10T12:30:00Z";

fn t(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

/// Presents `secret` `n` times at `at` through the library, as a server would.
fn present(env: &TestEnv, secret: &str, ip: &str, at: DateTime<Utc>, n: usize) {
    let mut v = Verifier::open(env.store_location()).unwrap();
    let ip = ip.parse().unwrap();
    for _ in 0..n {
        v.verify_at(&Question::new(secret).ip(ip), at).unwrap();
    }
    v.commit_usage().unwrap();
}

fn flags(env: &TestEnv) -> Vec<(String, String)> {
    let v = env.run(&["audit", "--json"]).success().json();
    let mut out = Vec::new();
    for row in v["tokens"].as_array().unwrap() {
        for f in row["flags"].as_array().unwrap() {
            out.push((
                row["name"].as_str().unwrap().to_string(),
                f["flag"].as_str().unwrap().to_string(),
            ));
        }
    }
    out
}

fn env_at_now() -> TestEnv {
    let mut env = TestEnv::new();
    env.set_now("2026-04-01T00:00:00Z");
    env.run(&["config", "set", "max_lifetime", "none"])
        .success();
    env.set_now(NOW);
    env
}

fn old_token(env: &mut TestEnv, name: &str, extra: &[&str]) -> crate::common::Made {
    env.set_now("2026-04-01T00:00:00Z");
    let mut args = vec!["--expires", "never"];
    args.extend_from_slice(extra);
    let made = env.create(name, &["cases:read"], &args);
    env.set_now(NOW);
    made
}

#[test]
fn counts_agree_across_hour_and_day_boundaries() {
    let mut env = env_at_now();
    let tok = old_token(&mut env, "sync", &[]);
    present(&env, &tok.secret, "10.0.0.1", t("2026-06-10T12:00:00Z"), 4); // this hour
    present(&env, &tok.secret, "10.0.0.1", t("2026-06-09T13:00:00Z"), 3); // 23h back: in 24h
    present(&env, &tok.secret, "10.0.0.2", t("2026-06-09T12:59:59Z"), 2); // 24h back: not
    present(&env, &tok.secret, "10.0.0.2", t("2026-06-08T23:59:59Z"), 5); // day boundary
    present(&env, &tok.secret, "10.0.0.2", t("2026-06-09T00:00:00Z"), 6);
    present(&env, &tok.secret, "10.0.0.3", t("2026-05-01T00:00:00Z"), 7); // > 30 days back
    let list = env.run(&["list", "--json"]).success().json();
    assert_eq!(list[0]["requests_24h"], 7);
    assert_eq!(list[0]["requests_7d"], 20);
    assert_eq!(list[0]["requests_30d"], 20);
    let show = env.show(&tok.id);
    assert_eq!(show["requests_24h"], 7);
    assert_eq!(show["usage"]["allowed_30d"], 20);
    let daily = show["usage"]["daily"].as_array().unwrap();
    let day = |d: &str| {
        daily.iter().find(|x| x["day"] == d).unwrap()["allowed"]
            .as_u64()
            .unwrap()
    };
    assert_eq!(
        (day("2026-06-08"), day("2026-06-09"), day("2026-06-10")),
        (5, 3 + 2 + 6, 4)
    );
    let audit = env
        .run(&["audit", "sync", "--since", "7d", "--json"])
        .success()
        .json();
    assert_eq!(audit["requests"], 20);
    let by_ip = audit["by_ip"].as_array().unwrap();
    assert_eq!(by_ip.len(), 2, "10.0.0.3 is outside the window");
    let sum: u64 = by_ip.iter().map(|r| r["allowed"].as_u64().unwrap()).sum();
    assert_eq!(sum, 20);
    let summary = env
        .run(&["audit", "--since", "30d", "--json"])
        .success()
        .json();
    let row = &summary["tokens"][0];
    assert_eq!(
        (row["requests"].as_u64(), row["distinct_ips"].as_u64()),
        (Some(20), Some(2))
    );
    let all = env
        .run(&["audit", "--since", "60d", "--json"])
        .success()
        .json();
    assert_eq!(all["tokens"][0]["requests"], 27);
}

#[test]
fn new_ip() {
    let mut env = env_at_now();
    let flagged = old_token(&mut env, "flagged", &[]);
    let steady = old_token(&mut env, "steady", &[]);
    let fresh = old_token(&mut env, "fresh", &[]);
    let now = t(NOW);
    present(
        &env,
        &flagged.secret,
        "10.0.0.1",
        now - TimeDelta::days(3),
        5,
    );
    present(
        &env,
        &flagged.secret,
        "198.51.100.9",
        now - TimeDelta::hours(1),
        1,
    );
    present(
        &env,
        &steady.secret,
        "10.0.0.1",
        now - TimeDelta::days(3),
        5,
    );
    present(
        &env,
        &steady.secret,
        "10.0.0.1",
        now - TimeDelta::hours(1),
        5,
    );
    // A token's very first use is not "new" against anything.
    present(
        &env,
        &fresh.secret,
        "10.0.0.7",
        now - TimeDelta::hours(1),
        5,
    );
    assert_eq!(flags(&env), [("flagged".to_string(), "NEW_IP".to_string())]);
}

#[test]
fn spike() {
    let mut env = env_at_now();
    let spiking = old_token(&mut env, "spiking", &[]);
    let busy = old_token(&mut env, "busy", &[]);
    let now = t(NOW);
    for d in 2..=31 {
        present(
            &env,
            &spiking.secret,
            "10.0.0.1",
            now - TimeDelta::days(d),
            10,
        );
        present(&env, &busy.secret, "10.0.0.1", now - TimeDelta::days(d), 10);
    }
    present(
        &env,
        &spiking.secret,
        "10.0.0.1",
        now - TimeDelta::hours(2),
        101,
    );
    present(
        &env,
        &busy.secret,
        "10.0.0.1",
        now - TimeDelta::hours(2),
        100,
    );
    assert_eq!(flags(&env), [("spiking".to_string(), "SPIKE".to_string())]);
    // Thresholds are settings.
    env.run(&["config", "set", "spike_factor", "20"]).success();
    assert!(flags(&env).is_empty());
}

#[test]
fn denied_use() {
    let mut env = env_at_now();
    let used = old_token(&mut env, "used", &[]);
    let quiet = old_token(&mut env, "quiet", &[]);
    env.set_now("2026-06-10T10:00:00Z");
    env.run(&["revoke", &used.id, "--yes"]).success();
    env.run(&["revoke", &quiet.id, "--yes"]).success();
    env.set_now(NOW);
    present(&env, &used.secret, "10.0.0.1", t("2026-06-10T11:00:00Z"), 3);
    assert_eq!(
        flags(&env),
        [("used".to_string(), "DENIED_USE".to_string())]
    );
}

#[test]
fn ip_blocked() {
    let mut env = env_at_now();
    let outside = old_token(&mut env, "outside", &["--allow-ip", "10.0.0.0/8"]);
    let inside = old_token(
        &mut env,
        "inside",
        &["--allow-ip", "10.0.0.0/8,2001:db8::/32"],
    );
    let now = t(NOW);
    present(
        &env,
        &outside.secret,
        "10.0.0.1",
        now - TimeDelta::hours(1),
        3,
    );
    present(
        &env,
        &outside.secret,
        "192.0.2.50",
        now - TimeDelta::hours(1),
        1,
    );
    present(
        &env,
        &inside.secret,
        "10.9.9.9",
        now - TimeDelta::hours(1),
        3,
    );
    present(
        &env,
        &inside.secret,
        "2001:db8::5",
        now - TimeDelta::hours(1),
        3,
    );
    assert_eq!(
        flags(&env),
        [("outside".to_string(), "IP_BLOCKED".to_string())]
    );
    let one = env.run(&["audit", "outside", "--json"]).success().json();
    assert_eq!(one["flags"][0]["flag"], "IP_BLOCKED");
    assert!(
        one["flags"][0]["detail"]
            .as_str()
            .unwrap()
            .contains("192.0.2.50")
    );
}

#[test]
fn check_exit_status_for_cron() {
    let mut env = env_at_now();
    let a = old_token(&mut env, "a", &["--allow-ip", "10.0.0.0/8"]);
    let now = t(NOW);
    present(&env, &a.secret, "10.0.0.1", now - TimeDelta::hours(1), 3);
    let run = env.run(&["audit", "--check"]).success();
    assert!(!run.stdout.contains("Findings"));
    env.run(&["audit", "a", "--check"]).success();
    env.run(&["audit", "--anomalies", "--check"]).success();
    present(&env, &a.secret, "192.0.2.1", now - TimeDelta::hours(1), 1);
    let run = env.run(&["audit", "--check"]).code(5);
    assert!(run.stdout.contains("IP_BLOCKED"), "{}", run.stdout);
    env.run(&["audit", "a", "--check"]).code(5);
    let v = env
        .run(&["audit", "--anomalies", "--check", "--json"])
        .code(5)
        .json();
    assert_eq!(v["tokens"].as_array().unwrap().len(), 1);
    // The flag is about the last 24 hours: a day later it is gone.
    env.set_now("2026-06-11T13:00:00Z");
    env.run(&["audit", "--check"]).success();
}

#[test]
fn events_log() {
    let env = TestEnv::new();
    let t = env.create("x", &["cases:read"], &[]);
    env.run(&["rotate", "x", "--grace", "0"]).success();
    env.run(&["config", "set", "spike_min_requests", "50"])
        .success();
    env.run(&["prune"]).success();
    let v = env.run(&["audit", "--events", "--json"]).success().json();
    let actions: Vec<&str> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        ["create", "rotate", "create", "config_set", "prune"]
    );
    assert!(
        v.as_array()
            .unwrap()
            .iter()
            .all(|e| !e["actor"].as_str().unwrap().is_empty())
    );
    let mine = env
        .run(&["audit", &t.id, "--events", "--json"])
        .success()
        .json();
    assert_eq!(mine.as_array().unwrap().len(), 2);
    let text = env.run(&["audit", "--events"]).success().stdout;
    assert!(
        text.contains("config_set") && text.contains("spike_min_requests"),
        "{text}"
    );
}

#[test]
fn by_ip_and_by_day() {
    let mut env = env_at_now();
    let tok = old_token(&mut env, "sync", &[]);
    present(&env, &tok.secret, "10.0.0.1", t("2026-06-09T10:00:00Z"), 2);
    let ip = env
        .run(&["audit", "sync", "--by", "ip", "--json"])
        .success()
        .json();
    assert!(ip.get("by_day").is_none() && ip["by_ip"].is_array());
    let day = env
        .run(&["audit", "sync", "--by", "day", "--json"])
        .success()
        .json();
    assert!(day.get("by_ip").is_none() && day["by_day"].is_array());
    let text = env.run(&["audit", "sync"]).success().stdout;
    assert!(
        text.contains("2026-06-09") && text.contains("10.0.0.1"),
        "{text}"
    );
}

/// Garbage tokens from many addresses: `FLOOD` above `flood_threshold` uses in the last
/// 24h (the database's flag, not a token's), `audit --check` exits 1, and the sources
/// past the hourly limit are counted under `other`.
#[test]
fn flood_of_garbage_tokens() {
    let mut env = TestEnv::new();
    env.set_now(NOW);
    env.create("quiet", &["cases:read"], &[]);
    let config = env.run(&["config", "list", "--json"]).success().json();
    let setting = config
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["key"] == "flood_threshold")
        .unwrap_or_else(|| panic!("no flood_threshold in {config}"));
    assert_eq!(setting["value"], "10000");
    env.run(&["config", "set", "flood_threshold", "150"])
        .success();
    let at = t(NOW);
    let mut v = Verifier::open(env.store_location()).unwrap();
    for i in 0..200u32 {
        let ip = std::net::IpAddr::from(std::net::Ipv4Addr::from(0xc633_6400 + i));
        v.verify_at(&Question::new("garbage").ip(ip), at).unwrap();
    }
    v.commit_usage().unwrap();
    let run = env.run(&["audit", "--check", "--json"]).code(5);
    let json = run.json();
    let flags = json["flags"].as_array().unwrap();
    assert_eq!(flags.len(), 1, "{json}");
    assert_eq!(flags[0]["flag"], "FLOOD");
    let detail = flags[0]["detail"].as_str().unwrap();
    assert!(
        detail.contains("200 uses") && detail.contains("from 100 sources"),
        "{detail}"
    );
    let strangers = json["strangers"].as_array().unwrap();
    assert_eq!(strangers.len(), 101, "100 sources and 'other'");
    let other = strangers.iter().find(|s| s["ip"] == "other").unwrap();
    assert_eq!(other["count"], 100);
    // In the table, and with --anomalies although no token is flagged.
    let text = env.run(&["audit", "--anomalies"]).success();
    assert!(text.stdout.contains("FLOOD"), "{}", text.stdout);
    // Below the threshold: nothing.
    env.run(&["config", "set", "flood_threshold", "200"])
        .success();
    env.run(&["audit", "--check"]).success();
}

/// `DENIED_USE` counts the uses after the revocation only: a use denied for its scope in
/// the revocation's hour, but before it, is not one.
#[test]
fn denied_use_counts_only_uses_after_the_revocation() {
    let mut env = env_at_now();
    let tok = old_token(&mut env, "leaked", &[]);
    let mut v = Verifier::open(env.store_location()).unwrap();
    let ip = "10.0.0.1".parse().unwrap();
    let write: tokenctl::Scope = "cases:write".parse().unwrap();
    let wrong_scope = Question::new(&tok.secret).ip(ip).scope(write);
    let denied = v
        .verify_at(&wrong_scope, t("2026-06-10T10:05:00Z"))
        .unwrap();
    assert!(!denied.is_allowed());
    v.commit_usage().unwrap();
    env.set_now("2026-06-10T10:30:00Z");
    env.run(&["revoke", &tok.id, "--yes"]).success();
    let after = Question::new(&tok.secret).ip(ip);
    assert!(
        !v.verify_at(&after, t("2026-06-10T10:45:00Z"))
            .unwrap()
            .is_allowed()
    );
    v.commit_usage().unwrap();
    env.set_now(NOW);
    let audit = env.run(&["audit", "--json"]).success().json();
    let row = &audit["tokens"][0];
    assert_eq!(row["denied"], 2, "{row}");
    let flag = &row["flags"][0];
    assert_eq!(flag["flag"], "DENIED_USE");
    assert_eq!(
        flag["detail"],
        "presented once in the last 24h after it was revoked or expired"
    );
}

/// `audit NAME` after a rotation: the new token's window, and its predecessor's use
/// beside it, labelled.
#[test]
fn audit_of_a_name_follows_the_rotation_chain() {
    let mut env = env_at_now();
    let old = old_token(&mut env, "importer", &[]);
    present(&env, &old.secret, "10.0.0.1", t("2026-06-09T09:00:00Z"), 4);
    env.set_now("2026-06-10T10:00:00Z");
    env.run(&["rotate", "importer", "--grace", "1d", "--json"])
        .success();
    env.set_now(NOW);
    let audit = env.run(&["audit", "importer", "--json"]).success().json();
    assert_ne!(audit["token"]["id"], old.id.as_str());
    assert_eq!(audit["requests"], 0);
    let before = &audit["predecessors"][0];
    assert_eq!(before["token"]["id"], old.id.as_str());
    assert_eq!(before["token"]["status"], "rotating");
    assert_eq!(
        (&before["requests"], &before["distinct_ips"]),
        (&4.into(), &1.into())
    );
    let human = env.run(&["audit", "importer"]).success().stdout;
    assert!(
        human.contains("Tokens this one replaced by rotation (newest first)"),
        "{human}"
    );
    assert!(human.contains(&old.id), "{human}");
    let unrotated = env.run(&["audit", &old.id, "--json"]).success().json();
    assert!(unrotated.get("predecessors").is_none());
}
