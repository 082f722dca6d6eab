//! Library verification against its floor, and batched usage recording.
//!
//! Run: `cargo bench --bench verify`. Prints numbers and ratios; asserts nothing.
//!
//! - floor: SHA-256 of the token plus one `prepare_cached` indexed SELECT by hash on the
//!   same database file — the least any verification must do;
//! - verify: `Verifier::verify` of a valid token with scope, IP and recording on
//!   (write-behind, committed every second as a server does, commit time included);
//! - recording: `UsageBuffer::record` plus flushes, uses per second on one thread.
//!
//! The floor opens the file with rusqlite on purpose, the one place outside
//! `src/store/sqlite/` that names it: it measures raw SQLite, beneath the store's contract.

use std::hint::black_box;
use std::time::{Duration, Instant};

use chrono::{TimeDelta, Utc};
use sha2::{Digest, Sha256};
use tokenctl::store::NewToken;
use tokenctl::usage::{Outcome, Presented};
use tokenctl::{OpenMode, Question, Scope, ScopeSet, Store, UsageBuffer, Verifier};

const TOKENS: usize = 10_000;
/// Floor and verify alternate in slices this long, so both see the same machine load.
const SLICE: Duration = Duration::from_millis(100);
const SLICES: usize = 60;

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
                rate_limit: None,
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

/// SHA-256 plus one cached, indexed SELECT by hash, for one slice; returns operations.
fn floor(conn: &rusqlite::Connection, secrets: &[String], n: &mut usize) -> usize {
    let start = Instant::now();
    let mut done = 0;
    while start.elapsed() < SLICE {
        for _ in 0..256 {
            let token = &secrets[*n % secrets.len()];
            let hash = Sha256::digest(token.as_bytes());
            let pk: i64 = conn
                .prepare_cached("SELECT pk FROM tokens WHERE hash = ?1")
                .unwrap()
                .query_row([&hash[..]], |r| r.get(0))
                .unwrap();
            black_box(pk);
            *n += 1;
            done += 1;
        }
    }
    done
}

/// `Verifier::verify` with scope, IP and environment, recording on, for one slice;
/// flushes (on this thread, included in the time) once a second as a server would.
fn verify(
    verifier: &mut Verifier,
    secrets: &[String],
    n: &mut usize,
    last_flush: &mut Instant,
) -> usize {
    let scope: Scope = "cases:read".parse().unwrap();
    let ip = "10.1.2.3".parse().unwrap();
    let start = Instant::now();
    let mut done = 0;
    while start.elapsed() < SLICE {
        for _ in 0..256 {
            let token = &secrets[*n % secrets.len()];
            let d = verifier
                .verify(&Question::new(token).scope(scope.clone()).ip(ip))
                .unwrap();
            assert!(d.is_allowed());
            *n += 1;
            done += 1;
        }
        if last_flush.elapsed() >= Duration::from_secs(1) {
            verifier.commit_usage().unwrap();
            *last_flush = Instant::now();
        }
    }
    done
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
            tokenctl::verify::commit_buffered(&mut store, &buffer).unwrap();
            last_flush = Instant::now();
        }
    }
    tokenctl::verify::commit_buffered(&mut store, &buffer).unwrap();
    USES as f64 / start.elapsed().as_secs_f64()
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bench.db");
    let (secrets, keys) = seed(&path);
    println!(
        "database: {TOKENS} tokens; floor and verify alternate in {SLICES} slices of {SLICE:?} each"
    );
    let conn = rusqlite::Connection::open(&path).unwrap();
    let mut verifier = Verifier::open(&path).unwrap().for_env("live");
    let (mut f_ops, mut v_ops, mut f_n, mut v_n) = (0, 0, 0, 0);
    let mut ratios = Vec::new();
    let mut last_flush = Instant::now();
    for _ in 0..SLICES {
        let f = floor(&conn, &secrets, &mut f_n);
        let v = verify(&mut verifier, &secrets, &mut v_n, &mut last_flush);
        ratios.push(v as f64 / f as f64);
        f_ops += f;
        v_ops += v;
    }
    verifier.commit_usage().unwrap();
    let secs = SLICE.as_secs_f64() * SLICES as f64;
    ratios.sort_by(f64::total_cmp);
    println!(
        "floor  {:>9.0}/s   (SHA-256 + one prepare_cached indexed SELECT by hash)",
        f_ops as f64 / secs
    );
    println!(
        "verify {:>9.0}/s   (Verifier::verify, scope + IP + env checks, recording on, flush every second)",
        v_ops as f64 / secs
    );
    println!(
        "ratio  {:.2} overall; per-slice median {:.2}, min {:.2}, max {:.2} (target >= 2.0)",
        v_ops as f64 / f_ops as f64,
        ratios[ratios.len() / 2],
        ratios[0],
        ratios[ratios.len() - 1]
    );
    let r = recording(&path, &keys);
    println!("batched recording: {r:.0} uses/s on one thread (target >= 200000)");
}
