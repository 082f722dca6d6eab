//! Library verification on PostgreSQL against its floor.
//!
//! Run: `TOKENCTL_TEST_POSTGRES=postgres://USER:PASSWORD@HOST/DB cargo bench --bench
//! verify_postgres` (a role that may create databases: the bench makes its own and drops
//! it). Prints numbers and ratios; asserts nothing.
//!
//! - floor: SHA-256 of the token plus one prepared, indexed SELECT by hash on one
//!   connection to the same database — the least any verification must do;
//! - verify: `Verifier::verify` of a valid token with scope, IP and recording on
//!   (write-behind, flushed every second as a server does, flush time included): the
//!   revision read in a snapshot, then the lookup (or the cache).

use std::hint::black_box;
use std::time::{Duration, Instant};

use chrono::{TimeDelta, Utc};
use sha2::{Digest, Sha256};
use tokenctl::store::{Location, NewToken};
use tokenctl::{OpenMode, Question, Scope, ScopeSet, Store, Verifier};

const TOKENS: usize = 2_000;
/// Floor and verify alternate in slices this long, so both see the same machine load.
const SLICE: Duration = Duration::from_millis(100);
const SLICES: usize = 40;

/// A database of the bench's own on `server`, dropped at the end.
struct Database {
    server: String,
    name: String,
}

impl Database {
    fn create(server: &str) -> Database {
        let name = format!("tokenctl_bench_{}", std::process::id());
        let mut admin = postgres::Client::connect(server, postgres::NoTls).unwrap();
        admin
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .unwrap();
        Database {
            server: server.to_string(),
            name,
        }
    }

    fn url(&self) -> String {
        let base = self
            .server
            .rsplit_once('/')
            .map_or(&*self.server, |(b, _)| b);
        format!("{base}/{}", self.name)
    }
}

impl Drop for Database {
    fn drop(&mut self) {
        if let Ok(mut admin) = postgres::Client::connect(&self.server, postgres::NoTls) {
            let _ = admin.batch_execute(&format!("DROP DATABASE {} WITH (FORCE)", self.name));
        }
    }
}

fn seed(location: &Location) -> Vec<String> {
    let mut store = Store::open(location, OpenMode::Create).unwrap();
    let now = Utc::now();
    let mut secrets = Vec::new();
    let mut batch = Vec::new();
    for i in 0..TOKENS {
        let g = tokenctl::token::generate("tok", "live").unwrap();
        secrets.push(g.secret.expose().to_string());
        batch.push(NewToken {
            hash: g.hash,
            hint: g.hint,
            name: format!("bench-{i}"),
            description: None,
            env: "live".into(),
            scopes: ScopeSet::parse_list("cases:write documents:read").unwrap(),
            allowed_ips: vec!["10.0.0.0/8".parse().unwrap()],
            expires_at: Some(now + TimeDelta::days(90)),
            rate_limit: None,
        });
    }
    store.create_tokens(&batch, "bench", now).unwrap();
    secrets
}

/// SHA-256 plus one prepared, indexed SELECT by hash, for one slice; returns operations.
fn floor(client: &mut postgres::Client, secrets: &[String], n: &mut usize) -> usize {
    let stmt = client
        .prepare("SELECT pk FROM tokenctl.tokens WHERE hash = $1")
        .unwrap();
    let start = Instant::now();
    let mut done = 0;
    while start.elapsed() < SLICE {
        let token = &secrets[*n % secrets.len()];
        let hash = Sha256::digest(token.as_bytes());
        let pk: i64 = client.query_one(&stmt, &[&&hash[..]]).unwrap().get(0);
        black_box(pk);
        *n += 1;
        done += 1;
    }
    done
}

/// `Verifier::verify` with scope, IP and environment, recording on, for one slice.
fn verify(
    verifier: &mut Verifier,
    secrets: &[String],
    n: &mut usize,
    flushed: &mut Instant,
) -> usize {
    let scope: Scope = "cases:read".parse().unwrap();
    let ip = "10.1.2.3".parse().unwrap();
    let start = Instant::now();
    let mut done = 0;
    while start.elapsed() < SLICE {
        let token = &secrets[*n % secrets.len()];
        let d = verifier
            .verify(&Question::new(token).scope(scope.clone()).ip(ip))
            .unwrap();
        assert!(d.is_allowed());
        *n += 1;
        done += 1;
        if flushed.elapsed() >= Duration::from_secs(1) {
            verifier.commit_usage().unwrap();
            *flushed = Instant::now();
        }
    }
    done
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let Some(server) = std::env::var("TOKENCTL_TEST_POSTGRES")
        .ok()
        .filter(|s| !s.is_empty())
    else {
        println!("skipped: set TOKENCTL_TEST_POSTGRES to a PostgreSQL server URL");
        return;
    };
    let db = Database::create(&server);
    // The floor's client has no TLS: neither has the verifier (the default, prefer, would
    // encrypt when the server offers it).
    let location = Location::parse(format!("{}?sslmode=disable", db.url()).as_ref()).unwrap();
    let secrets = seed(&location);
    println!(
        "database: {TOKENS} tokens; floor and verify alternate in {SLICES} slices of {SLICE:?}"
    );
    let mut client = postgres::Client::connect(&db.url(), postgres::NoTls).unwrap();
    let mut verifier = Verifier::open(&location).unwrap().for_env("live");
    let (mut f_ops, mut v_ops, mut f_n, mut v_n) = (0, 0, 0, 0);
    let mut ratios = Vec::new();
    let mut flushed = Instant::now();
    for _ in 0..SLICES {
        let f = floor(&mut client, &secrets, &mut f_n);
        let v = verify(&mut verifier, &secrets, &mut v_n, &mut flushed);
        ratios.push(v as f64 / f as f64);
        f_ops += f;
        v_ops += v;
    }
    verifier.commit_usage().unwrap();
    let secs = SLICE.as_secs_f64() * SLICES as f64;
    ratios.sort_by(f64::total_cmp);
    println!(
        "floor  {:>7.0}/s   (SHA-256 + one prepared indexed SELECT by hash)",
        f_ops as f64 / secs
    );
    println!(
        "verify {:>7.0}/s   (Verifier::verify, recording on, flush every second)",
        v_ops as f64 / secs
    );
    println!(
        "ratio  {:.2} overall; per-slice median {:.2}, min {:.2}, max {:.2}",
        v_ops as f64 / f_ops as f64,
        ratios[ratios.len() / 2],
        ratios[0],
        ratios[ratios.len() - 1]
    );
    drop(verifier);
}
