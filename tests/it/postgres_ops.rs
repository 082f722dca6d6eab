//! PostgreSQL in production, on a server each test owns (`pg_server`): a real restart
//! under load, `serve` started while the server is down.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::common::{Made, TestEnv};
use crate::pg_server::PgServer;
use crate::serve::{Server, auth, get, revoke};

/// How long a recovery may take before the test fails (only turns a hang into a failure).
const PATIENCE: Duration = Duration::from_secs(60);

/// Waits until `check` holds, or fails the test after [`PATIENCE`].
#[track_caller]
fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let started = Instant::now();
    while !check() {
        assert!(started.elapsed() < PATIENCE, "never: {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A thread that asks one `serve` about one token that stays valid, again and again, and
/// counts the answers: 200 or 503, never anything else.
struct Load {
    stop: Arc<AtomicBool>,
    allowed: Arc<AtomicU64>,
    unavailable: Arc<AtomicU64>,
    thread: JoinHandle<()>,
}

impl Load {
    fn start(addr: SocketAddr, secret: &str) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let allowed = Arc::new(AtomicU64::new(0));
        let unavailable = Arc::new(AtomicU64::new(0));
        let (s, a, u, secret) = (
            Arc::clone(&stop),
            Arc::clone(&allowed),
            Arc::clone(&unavailable),
            secret.to_string(),
        );
        let thread = std::thread::spawn(move || {
            while !s.load(Ordering::SeqCst) {
                match auth(addr, &secret, "GET", "/api/cases/1").status {
                    200 => a.fetch_add(1, Ordering::SeqCst),
                    503 => u.fetch_add(1, Ordering::SeqCst),
                    other => panic!("the valid token got {other}"),
                };
                std::thread::sleep(Duration::from_millis(5));
            }
        });
        Load {
            stop,
            allowed,
            unavailable,
            thread,
        }
    }

    fn allowed(&self) -> u64 {
        self.allowed.load(Ordering::SeqCst)
    }

    fn unavailable(&self) -> u64 {
        self.unavailable.load(Ordering::SeqCst)
    }

    /// Stops asking; the 200s answered.
    fn finish(self) -> u64 {
        self.stop.store(true, Ordering::SeqCst);
        let allowed = self.allowed;
        self.thread.join().expect("the load thread failed");
        allowed.load(Ordering::SeqCst)
    }
}

/// Three `serve` processes under load while their PostgreSQL server is stopped and
/// started again: 503 and an unhealthy `/healthz` while it is down, allowing again
/// without a restart of `serve`, a revocation committed right after the restart honoured
/// by the first answer of each, and every answered request counted exactly once (the
/// usage buffered while the server was down included; a 503 is no use and not counted).
#[test]
fn serve_fails_closed_through_a_real_restart_and_counts_every_answer() {
    let Some(pg) = PgServer::start(false) else {
        return;
    };
    let env = TestEnv::on_server(&pg.url("postgres"));
    let kept = env.create("kept", &["cases:read"], &[]);
    let revoked = env.create("revoked", &["cases:read"], &[]);
    let servers: Vec<Server> = (0..3).map(|_| Server::start(&env, &[])).collect();
    let mut revoked_answers = 0;
    for s in &servers {
        // Its row is now in each server's cache.
        auth(s.addr, &revoked.secret, "GET", "/api/cases/1").expect(200);
        revoked_answers += 1;
    }
    let loads: Vec<Load> = servers
        .iter()
        .map(|s| Load::start(s.addr, &kept.secret))
        .collect();
    eventually("every server allows under load", || {
        loads.iter().all(|l| l.allowed() >= 10)
    });

    pg.stop();
    for s in &servers {
        for secret in [&kept.secret, &revoked.secret] {
            let status = auth(s.addr, secret, "GET", "/api/cases/1").status;
            assert_eq!(status, 503, "not 503 while the database is down");
        }
        assert_eq!(get(s.addr, "/healthz", &[]).status, 503);
    }
    eventually("the load meets the outage", || {
        loads.iter().all(|l| l.unavailable() > 0)
    });

    pg.start_again();
    let allowed_before: Vec<u64> = loads.iter().map(Load::allowed).collect();
    revoke(&env, &revoked.id);
    for s in &servers {
        eventually("the revocation is answered", || {
            let status = auth(s.addr, &revoked.secret, "GET", "/api/cases/1").status;
            assert_ne!(status, 200, "a token revoked after the restart was allowed");
            revoked_answers += u64::from(status == 401);
            status == 401
        });
    }
    eventually("every server allows again, without a restart", || {
        loads
            .iter()
            .zip(&allowed_before)
            .all(|(l, b)| l.allowed() > *b)
    });
    for s in &servers {
        eventually("healthz is ok again", || {
            get(s.addr, "/healthz", &[]).status == 200
        });
    }
    let kept_answers: u64 = loads.into_iter().map(Load::finish).sum();
    for s in servers {
        let (status, log) = s.terminate();
        assert!(status.success(), "{log}");
    }
    assert_eq!(env.show(&kept.id)["requests_24h"], kept_answers);
    assert_eq!(env.show(&revoked.id)["requests_24h"], revoked_answers);
}

/// `serve` started while its PostgreSQL server is down: it listens, answers 503 and an
/// unhealthy `/healthz`, and serves once the server is up, without a restart. A database
/// found then without tokenctl's schema is refused as at start (503, and the log says
/// why). Other commands fail at once, with the reason.
#[test]
fn serve_starts_while_the_server_is_down_and_serves_once_it_is_up() {
    let Some(pg) = PgServer::start(false) else {
        return;
    };
    let env = TestEnv::on_server(&pg.url("postgres"));
    let made = env.create("api", &["cases:read"], &[]);
    let empty = TestEnv::on_server(&pg.url("postgres"));
    pg.stop();

    let run = env.run(&["list"]).code(1);
    assert!(
        run.stderr.contains("PostgreSQL server is running"),
        "{}",
        run.stderr
    );
    let server = Server::start(&env, &[]);
    let no_schema = Server::start(&empty, &[]);
    for s in [&server, &no_schema] {
        auth(s.addr, &made.secret, "GET", "/api/cases/1").expect(503);
        assert_eq!(get(s.addr, "/healthz", &[]).status, 503);
    }

    pg.start_again();
    let mut allowed = 0;
    eventually("serve allows once the server is up", || {
        let status = auth(server.addr, &made.secret, "GET", "/api/cases/1").status;
        assert!(status == 200 || status == 503, "{status}");
        allowed += u64::from(status == 200);
        status == 200
    });
    eventually("healthz is ok", || {
        get(server.addr, "/healthz", &[]).status == 200
    });
    // Its log says why, at most once a second.
    eventually("the server without a schema says why it denies", || {
        auth(no_schema.addr, &made.secret, "GET", "/api/cases/1").expect(503);
        no_schema.stderr().contains("there is no tokenctl database")
    });
    assert_eq!(get(no_schema.addr, "/healthz", &[]).status, 503);

    let (status, log) = server.terminate();
    assert!(status.success(), "{log}");
    assert!(log.contains("the database cannot be reached yet"), "{log}");
    assert_eq!(env.show(&made.id)["requests_24h"], allowed);
    let (status, log) = no_schema.terminate();
    assert!(status.success(), "{log}");
}

/// `sslmode` as libpq reads it, against a server whose role `tls_only` may only connect
/// over TLS, with a certificate for `localhost` signed by the server's root: the
/// default (`prefer`) and `require` use TLS; `verify-ca` needs the right root;
/// `verify-full` also the right name; `require` with a root checks it.
#[test]
fn sslmode_and_sslrootcert_as_libpq() {
    let Some(pg) = PgServer::start(true) else {
        return;
    };
    let env = TestEnv::on_server(&pg.url("postgres"));
    let made = env.create("api", &["cases:read"], &[]);
    let mut admin = env.postgres_db().unwrap().client();
    admin
        .batch_execute("CREATE ROLE tls_only LOGIN SUPERUSER")
        .unwrap();
    let base = env.location().into_string().unwrap();
    let (root, other) = (pg.root_cert(), pg.other_root_cert());
    let (root, other) = (root.to_str().unwrap(), other.to_str().unwrap());
    let url = |host: &str, query: &str| {
        let url = base.replacen("tokenctl@127.0.0.1", &format!("tls_only@{host}"), 1);
        format!("{url}{query}")
    };
    let list = |url: &str| env.run(&["--db", url, "list", "--json"]);
    for ok in [
        url("127.0.0.1", ""),
        url("127.0.0.1", "?sslmode=prefer"),
        url("127.0.0.1", "?sslmode=require"),
        url(
            "127.0.0.1",
            &format!("?sslmode=verify-ca&sslrootcert={root}"),
        ),
        url(
            "localhost",
            &format!("?sslmode=verify-full&sslrootcert={root}"),
        ),
    ] {
        let listed = list(&ok).success().json();
        assert_eq!(listed[0]["id"], made.id.as_str(), "{ok}");
    }
    let refused = list(&url("127.0.0.1", "?sslmode=disable")).code(1);
    assert!(
        refused.stderr.contains("no encryption"),
        "{}",
        refused.stderr
    );
    for (wrong, why) in [
        (
            format!("?sslmode=verify-ca&sslrootcert={other}"),
            "certificate verify failed",
        ),
        (
            format!("?sslmode=require&sslrootcert={other}"),
            "certificate verify failed",
        ),
        (
            format!("?sslmode=verify-full&sslrootcert={other}"),
            "certificate verify failed",
        ),
        (
            "?sslmode=verify-full".to_string(),
            "no root certificate was given",
        ),
    ] {
        let run = list(&url("localhost", &wrong)).code(1);
        assert!(run.stderr.contains(why), "{wrong}: {}", run.stderr);
    }
    let system = list(&url("localhost", "?sslrootcert=system")).code(1);
    assert!(
        system.stderr.contains("certificate verify failed"),
        "{}",
        system.stderr
    );
    let weak = list(&url("localhost", "?sslmode=require&sslrootcert=system")).code(1);
    assert!(
        weak.stderr.contains("needs sslmode=verify-full"),
        "{}",
        weak.stderr
    );
    // The environment's settings where the URL has none.
    for (root, code) in [(root, 0), (other, 1)] {
        let out = env
            .cmd()
            .args(["--db", &url("localhost", ""), "list", "--json"])
            .env("PGSSLMODE", "verify-full")
            .env("PGSSLROOTCERT", root)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(code), "{root}: {out:?}");
    }
    let run = list(&url("localhost", "?sslmode=allow")).code(2);
    assert!(
        run.stderr.contains("sslmode=allow is not supported"),
        "{}",
        run.stderr
    );
    // The right root, the wrong name: the certificate is for localhost.
    let run = list(&url(
        "127.0.0.1",
        &format!("?sslmode=verify-full&sslrootcert={root}"),
    ))
    .code(1);
    assert!(run.stderr.contains("IP address mismatch"), "{}", run.stderr);
    assert!(run.stderr.contains("sslrootcert"), "{}", run.stderr);
    // The refusal is a failed handshake, with its advice (the URL names sslrootcert too).
    assert!(
        run.stderr
            .contains("hint: the TLS connection to PostgreSQL failed"),
        "{}",
        run.stderr
    );

    // serve over verify-full: its connections are TLS.
    let full = url(
        "localhost",
        &format!("?sslmode=verify-full&sslrootcert={root}"),
    );
    let server = Server::start(&env, &["--db", &full]);
    auth(server.addr, &made.secret, "GET", "/api/cases/1").expect(200);
    let unencrypted: i64 = admin
        .query_one(
            "SELECT count(*) FROM pg_stat_activity a JOIN pg_stat_ssl s USING (pid) \
             WHERE a.application_name = 'tokenctl' AND NOT s.ssl",
            &[],
        )
        .unwrap()
        .get(0);
    let encrypted: i64 = admin
        .query_one(
            "SELECT count(*) FROM pg_stat_activity a JOIN pg_stat_ssl s USING (pid) \
             WHERE a.application_name = 'tokenctl' AND s.ssl",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(unencrypted, 0);
    assert!(encrypted > 0);
    let (status, log) = server.terminate();
    assert!(status.success(), "{log}");
}

/// The README's SQL block of privileges, in its two parts: what a superuser runs, and
/// what the admin role runs after `init`.
fn readme_grants() -> (String, String) {
    let block = crate::readme::blocks()
        .into_iter()
        .find(|b| b.lang == "sql" && b.body.iter().any(|l| l.contains("tokenctl_serve")))
        .expect("the README's block of grants");
    let split = block
        .body
        .iter()
        .position(|l| l.starts_with("-- As tokenctl_admin"))
        .expect("the admin's part of the grants");
    (
        block.body[..split].join("\n"),
        block.body[split..].join("\n"),
    )
}

/// The README's roles, created by exactly its statements: the admin role runs `init` and
/// the admin commands; `serve` and `verify` under the serve role verify and record
/// usage (and a token's last use); the serve role cannot create, revoke or rotate.
#[test]
fn the_readmes_roles_can_do_what_it_says_and_no_more() {
    let Some(pg) = PgServer::start(false) else {
        return;
    };
    let mut superuser = postgres::Client::connect(&pg.url("postgres"), postgres::NoTls).unwrap();
    superuser.batch_execute("CREATE DATABASE tokens").unwrap();
    let (as_superuser, as_admin) = readme_grants();
    let tokens = pg.url("tokens");
    let mut superuser = postgres::Client::connect(&tokens, postgres::NoTls).unwrap();
    superuser.batch_execute(&as_superuser).unwrap();
    let admin_url = tokens.replacen("tokenctl@", "tokenctl_admin@", 1);
    let serve_url = tokens.replacen("tokenctl@", "tokenctl_serve@", 1);

    let env = TestEnv::sqlite();
    let admin = |args: &[&str]| env.run(&[&["--db", &admin_url][..], args].concat());
    let serving = |args: &[&str]| env.run(&[&["--db", &serve_url][..], args].concat());
    admin(&["init"]).success();
    let mut as_admin_role = postgres::Client::connect(&admin_url, postgres::NoTls).unwrap();
    as_admin_role.batch_execute(&as_admin).unwrap();
    let create = |name: &str| {
        let made = admin(&["create", "--name", name, "--scope", "cases:read", "--json"]);
        let made = made.success().json();
        Made {
            id: made["id"].as_str().unwrap().to_string(),
            secret: made["token"].as_str().unwrap().to_string(),
        }
    };
    let made = create("api");
    let doomed = create("doomed");
    admin(&["rotate", &doomed.id, "--grace", "1h"]).success();
    admin(&["config", "set", "default_lifetime", "30d"]).success();

    let server = Server::start(&env, &["--db", &serve_url]);
    auth(server.addr, &made.secret, "GET", "/api/cases/1").expect(200);
    let (status, log) = server.terminate();
    assert!(status.success(), "{log}");
    let run = env.run_with(
        &["--db", &serve_url, "verify", "--json"],
        Some(&format!("{}\n", made.secret)),
    );
    assert_eq!(run.code, 0, "{}", run.stderr);

    for refused in [
        &["create", "--name", "more", "--scope", "cases:read"][..],
        &["revoke", &doomed.id, "--yes"],
        &["rotate", &doomed.id],
    ] {
        let run = serving(refused).code(1);
        assert!(run.stderr.contains("permission denied"), "{}", run.stderr);
    }
    let shown = admin(&["show", &made.id, "--json"]).success().json();
    assert_eq!(shown["requests_24h"], 2, "{shown}");
    assert!(shown["last_used_at"].is_string(), "{shown}");
    let listed = admin(&["list", "--json"]).success().json();
    assert_eq!(listed.as_array().unwrap().len(), 3, "{listed}");
    admin(&["revoke", &doomed.id, "--yes"]).success();
    admin(&["prune", "--usage-older-than", "30d"]).success();
}
