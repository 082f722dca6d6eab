//! Several processes on one database at once.

use std::sync::{Arc, Barrier};
use std::thread;

use crate::common::TestEnv;

/// Four processes creating 25 tokens each in one new database at the same moment.
#[test]
fn four_creators_on_a_new_database() {
    let env = Arc::new(TestEnv::new());
    let start = Arc::new(Barrier::new(4));
    let workers: Vec<_> = (0..4)
        .map(|w| {
            let env = Arc::clone(&env);
            let start = Arc::clone(&start);
            thread::spawn(move || {
                start.wait();
                let mut failures = Vec::new();
                for i in 0..25 {
                    let run = env.run(&[
                        "create",
                        "--name",
                        &format!("w{w}-{i}"),
                        "--scope",
                        "cases:read",
                    ]);
                    if run.code != 0 || run.stderr.to_lowercase().contains("busy") {
                        failures.push(format!("w{w}-{i}: {} {}", run.code, run.stderr));
                    }
                }
                failures
            })
        })
        .collect();
    let failures: Vec<String> = workers
        .into_iter()
        .flat_map(|w| w.join().unwrap())
        .collect();
    assert!(failures.is_empty(), "{failures:#?}");
    let list = env.run(&["list", "--json"]).success().json();
    assert_eq!(list.as_array().unwrap().len(), 100);
    let events = env.run(&["audit", "--events", "--json"]).success().json();
    assert_eq!(events.as_array().unwrap().len(), 100);
}

/// Four processes verifying in a loop while a fifth creates and revokes: no errors, and
/// the recorded counts equal the verifications made.
#[test]
fn verifiers_while_an_admin_creates_and_revokes() {
    const ROUNDS: usize = 25;
    let env = Arc::new(TestEnv::new());
    let target = env.create("target", &["cases:read"], &[]);
    let start = Arc::new(Barrier::new(5));
    let verifiers: Vec<_> = (0..4)
        .map(|w| {
            let env = Arc::clone(&env);
            let start = Arc::clone(&start);
            let secret = target.secret.clone();
            thread::spawn(move || {
                start.wait();
                let mut failures = Vec::new();
                for i in 0..ROUNDS {
                    let ip = format!("10.0.{w}.{i}");
                    let (code, d) = env.verify(&secret, &["--ip", &ip, "--scope", "cases:read"]);
                    if code != 0 {
                        failures.push(format!("verifier {w} round {i}: {code} {d}"));
                    }
                }
                failures
            })
        })
        .collect();
    let admin = {
        let env = Arc::clone(&env);
        let start = Arc::clone(&start);
        thread::spawn(move || {
            start.wait();
            let mut failures = Vec::new();
            for i in 0..ROUNDS {
                let made = env.run(&[
                    "create",
                    "--name",
                    &format!("churn-{i}"),
                    "--scope",
                    "cases:read",
                    "--json",
                ]);
                if made.code != 0 {
                    failures.push(format!("create {i}: {}", made.stderr));
                    continue;
                }
                let id = made.json()["id"].as_str().unwrap().to_string();
                let revoked = env.run(&["revoke", &id, "--yes"]);
                if revoked.code != 0 {
                    failures.push(format!("revoke {i}: {}", revoked.stderr));
                }
            }
            failures
        })
    };
    let mut failures: Vec<String> = verifiers
        .into_iter()
        .flat_map(|w| w.join().unwrap())
        .collect();
    failures.extend(admin.join().unwrap());
    assert!(failures.is_empty(), "{failures:#?}");
    let shown = env.show(&target.id);
    assert_eq!(shown["usage"]["allowed_24h"], 4 * ROUNDS as u64);
    assert_eq!(shown["usage"]["denied_24h"], 0);
    assert_eq!(shown["usage"]["ips"].as_array().unwrap().len(), 4 * ROUNDS);
    let revoked = env
        .run(&["list", "--status", "revoked", "--json"])
        .success()
        .json();
    assert_eq!(revoked.as_array().unwrap().len(), ROUNDS);
}
