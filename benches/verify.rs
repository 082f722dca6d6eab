//! Library verification against its floor, and batched usage recording.
//!
//! Run: `cargo bench --bench verify`. Prints numbers and ratios; asserts nothing.
//!
//! - floor: SHA-256 of the token plus one `prepare_cached` indexed SELECT by hash on the
//!   same database file — the least any verification must do;
//! - verify: `Verifier::verify` of a valid token with scope, IP and recording on
//!   (write-behind, flushed every second as a server does, flush time included);
//! - recording: `UsageBuffer::record` plus flushes, uses per second on one thread.

use std::hint::black_box;
use std::time::{Duration, Instant};

use chrono::{TimeDelta, Utc};
use sha2::{Digest, Sha256};
use tokenctl::store::NewToken;
use tokenctl::usage::{Outcome, Presented};
use tokenctl::{OpenMode, Request, ScopeSet, Store, UsageBuffer, Verifier};

const TOKENS: usize = 10_000;
const ROUND: Duration = Duration::from_secs(3);
const ROUNDS: usize = 3;

fn seed(path: &std::path::Path) -> (Vec<String>, Vec<i64>) {
    let mut store = Store::open(path, OpenMode::Create).unwrap();
    let now = Utc::now();
    let mut secrets = Vec::new();
    let mut keys = Vec::new();
    for chunk in 0..TOKENS / 1_000 {
        let mut batch = Vec::new();
        for i in 0..1_000 {
            let g = tokenctl::token::generate("tok", "live").unwrap();
            secrets.push(g.secret.expose().to_string());
            batch.push(NewToken {
                hash: g.hash,
                hint: g.hint,
                name: format!("bench-{chunk}-{i}"),
                description: None,
                env: "live".into(),
                scopes: ScopeSet::parse_list("cases:write documents:read").unwrap(),
                allowed_ips: vec!["10.0.0.0/8".parse().unwrap()],
                expires_at: Some(now + TimeDelta::days(90)),
            });
        }
        keys.extend(
            store
                .create_tokens(&batch, "bench", now)
                .unwrap()
                .iter()
                .map(|t| t.key()),
        );
    }
    (secrets, keys)
}

fn floor(path: &std::path::Path, secrets: &[String]) -> f64 {
    let conn = rusqlite::Connection::open(path).unwrap();
    let start = Instant::now();
    let mut n = 0usize;
    while start.elapsed() < ROUND {
        for _ in 0..1024 {
            let token = &secrets[n % secrets.len()];
            let hash = Sha256::digest(token.as_bytes());
            let pk: i64 = conn
                .prepare_cached("SELECT pk FROM tokens WHERE hash = ?1")
                .unwrap()
                .query_row([&hash[..]], |r| r.get(0))
                .unwrap();
            black_box(pk);
            n += 1;
        }
    }
    n as f64 / start.elapsed().as_secs_f64()
}

fn verify(path: &std::path::Path, secrets: &[String]) -> f64 {
    let mut verifier = Verifier::open(path).unwrap();
    let scope = "cases:read".parse().unwrap();
    let ip = "10.1.2.3".parse().unwrap();
    let start = Instant::now();
    let mut last_flush = Instant::now();
    let mut n = 0usize;
    while start.elapsed() < ROUND {
        for _ in 0..1024 {
            let token = &secrets[n % secrets.len()];
            let d = verifier
                .verify(&Request::new(token).scope(&scope).ip(ip).env("live"))
                .unwrap();
            assert!(d.is_allowed());
            n += 1;
        }
        if last_flush.elapsed() >= Duration::from_secs(1) {
            verifier.flush().unwrap();
            last_flush = Instant::now();
        }
    }
    verifier.flush().unwrap();
    n as f64 / start.elapsed().as_secs_f64()
}

fn recording(path: &std::path::Path, keys: &[i64]) -> f64 {
    let mut store = Store::open(path, OpenMode::Existing).unwrap();
    let buffer = UsageBuffer::new();
    let now = Utc::now();
    let ips: Vec<std::net::IpAddr> = (0..20u8).map(|i| [10, 0, 0, i].into()).collect();
    const USES: usize = 4_000_000;
    let start = Instant::now();
    let mut last_flush = Instant::now();
    for i in 0..USES {
        let key = keys[i % keys.len()];
        buffer.record(
            Presented::Token(key),
            Some(ips[i % ips.len()]),
            Outcome::Allowed,
            now,
        );
        if i % 4096 == 0 && last_flush.elapsed() >= Duration::from_secs(1) {
            tokenctl::verify::flush(&mut store, &buffer).unwrap();
            last_flush = Instant::now();
        }
    }
    tokenctl::verify::flush(&mut store, &buffer).unwrap();
    USES as f64 / start.elapsed().as_secs_f64()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bench.db");
    let (secrets, keys) = seed(&path);
    println!("database: {TOKENS} tokens; {ROUNDS} alternating rounds of {ROUND:?} each");
    let (mut floors, mut verifies) = (Vec::new(), Vec::new());
    for round in 1..=ROUNDS {
        let f = floor(&path, &secrets);
        let v = verify(&path, &secrets);
        println!(
            "round {round}: floor {f:>10.0}/s   verify {v:>10.0}/s   ratio {:.2}",
            v / f
        );
        floors.push(f);
        verifies.push(v);
    }
    let (f, v) = (median(floors), median(verifies));
    println!(
        "median:  floor {f:>10.0}/s   verify {v:>10.0}/s   ratio {:.2} (target >= 0.80)",
        v / f
    );
    let r = recording(&path, &keys);
    println!("batched recording: {r:.0} uses/s on one thread (target >= 200000)");
}
