//! Eight processes at once mixing create, verify, revoke, rotate and audit on one
//! database: no errors, and the final state equals what the operations imply.

use std::collections::HashMap;
use std::sync::{Arc, Barrier};
use std::thread;

use crate::common::TestEnv;

const WORKERS: usize = 8;
const TOKENS: usize = 5;
const USES: usize = 4;

/// What one worker did, to check against the database afterwards.
#[derive(Default)]
struct Ledger {
    failures: Vec<String>,
    /// token id -> (expected status, allowed uses, denied uses)
    expect: HashMap<String, (&'static str, u64, u64)>,
    processes: usize,
}

fn worker(env: &TestEnv, w: usize) -> Ledger {
    let mut l = Ledger::default();
    let check = |l: &mut Ledger, what: String, code: i32, want: i32, stderr: &str| {
        l.processes += 1;
        if code != want
            || stderr.to_lowercase().contains("locked")
            || stderr.to_lowercase().contains("busy")
        {
            l.failures.push(format!(
                "worker {w}: {what}: exit {code} (wanted {want}): {stderr}"
            ));
        }
    };
    let mut made = Vec::new();
    for i in 0..TOKENS {
        let name = format!("w{w}-t{i}");
        let run = env.run(&["create", "--name", &name, "--scope", "cases:read", "--json"]);
        check(&mut l, format!("create {name}"), run.code, 0, &run.stderr);
        if run.code == 0 {
            let v = run.json();
            made.push((
                v["id"].as_str().unwrap().to_string(),
                v["token"].as_str().unwrap().to_string(),
            ));
        }
    }
    for (id, secret) in &made {
        for u in 0..USES {
            let ip = format!("10.{w}.0.{u}");
            let (code, _) = env.verify(secret, &["--ip", &ip, "--scope", "cases:read"]);
            check(&mut l, format!("verify {id}"), code, 0, "");
        }
        l.expect.insert(id.clone(), ("active", USES as u64, 0));
    }
    let audit = env.run(&["audit", "--json"]);
    check(&mut l, "audit".into(), audit.code, 0, &audit.stderr);
    // Tokens 0 and 1: rotated with --grace 0; the new ones are used twice.
    for (id, _) in made.iter().take(2) {
        let run = env.run(&["rotate", id, "--grace", "0", "--json"]);
        check(&mut l, format!("rotate {id}"), run.code, 0, &run.stderr);
        if run.code == 0 {
            let v = run.json();
            let new_id = v["id"].as_str().unwrap().to_string();
            let secret = v["token"].as_str().unwrap().to_string();
            for _ in 0..2 {
                let (code, _) = env.verify(&secret, &["--scope", "cases:read"]);
                check(&mut l, format!("verify rotated {new_id}"), code, 0, "");
            }
            l.expect.insert(new_id, ("active", 2, 0));
            l.expect.get_mut(id).unwrap().0 = "revoked";
        }
    }
    // Tokens 2 and 3: revoked, then presented once more.
    for (id, secret) in made.iter().skip(2).take(2) {
        let run = env.run(&["revoke", id, "--yes", "--reason", "stress"]);
        check(&mut l, format!("revoke {id}"), run.code, 0, &run.stderr);
        let (code, _) = env.verify(secret, &[]);
        check(&mut l, format!("verify revoked {id}"), code, 3, "");
        let e = l.expect.get_mut(id).unwrap();
        e.0 = "revoked";
        e.2 += 1;
    }
    let audit = env.run(&["audit", "--events", "--json"]);
    check(
        &mut l,
        "audit --events".into(),
        audit.code,
        0,
        &audit.stderr,
    );
    l
}

#[test]
fn eight_processes_mixing_everything() {
    let env = Arc::new(TestEnv::new());
    let start = Arc::new(Barrier::new(WORKERS));
    let handles: Vec<_> = (0..WORKERS)
        .map(|w| {
            let env = Arc::clone(&env);
            let start = Arc::clone(&start);
            thread::spawn(move || {
                start.wait();
                worker(&env, w)
            })
        })
        .collect();
    let ledgers: Vec<Ledger> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    let failures: Vec<&String> = ledgers.iter().flat_map(|l| &l.failures).collect();
    assert!(failures.is_empty(), "{failures:#?}");
    let processes: usize = ledgers.iter().map(|l| l.processes).sum();
    eprintln!("stress: {WORKERS} workers, {processes} tokenctl processes, no errors");

    let all = env
        .run(&["list", "--status", "all", "--json"])
        .success()
        .json();
    let all = all.as_array().unwrap();
    assert_eq!(all.len(), WORKERS * (TOKENS + 2));
    let expected: HashMap<&String, &(&str, u64, u64)> =
        ledgers.iter().flat_map(|l| &l.expect).collect();
    assert_eq!(expected.len(), all.len());
    for t in all {
        let id = t["id"].as_str().unwrap().to_string();
        let (status, allowed, denied) = expected[&id];
        assert_eq!(t["status"], *status, "{id}");
        let shown = env.show(&id);
        assert_eq!(shown["usage"]["allowed_24h"], *allowed, "{id}");
        assert_eq!(shown["usage"]["denied_24h"], *denied, "{id}");
    }
    let events = env.run(&["audit", "--events", "--json"]).success().json();
    // Per worker: 5 creates, 2 rotations (a rotate and a create each), 2 revokes.
    assert_eq!(
        events.as_array().unwrap().len(),
        WORKERS * (TOKENS + 2 * 2 + 2)
    );
    // The file's own check; a PostgreSQL server checks its pages itself.
    if env.postgres_db().is_none() {
        assert_eq!(integrity(&env), "ok");
    }
}

pub fn integrity(env: &TestEnv) -> String {
    crate::common::sqlite3(env.db(), "PRAGMA integrity_check;")
}
