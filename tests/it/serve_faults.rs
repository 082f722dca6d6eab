//! `serve` under faults: SIGKILL under load, its database deleted, replaced or made
//! unreadable while it runs, and what its metrics and log reveal. Each must fail closed
//! (401, 403 or 503, never 200), keep every revocation that returned, and lose no more
//! usage than the write-behind bound SECURITY.md states.
//!
//! Timeouts only turn a hang into a failure; the one time-based bound is the loss window
//! of a SIGKILL, which is what is being tested.
//!
//! SQLite-only (`TestEnv::sqlite`): the faults here are the SQLite file's (deleted,
//! replaced, restored); PostgreSQL's are in `postgres.rs`.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use tokenctl::verify::CHECK_INTERVAL;

use crate::common::{Made, TestEnv};
use crate::faults::Dice;
use crate::serve::{PATIENCE, Server, auth, exchange, get, is_root, request, revoke};
use crate::stress::integrity;

/// Uses a SIGKILL may lose: those answered in this window before it. The flusher starts
/// a commit once a second has passed since the last one began, looking every 100 ms; a
/// kill during a commit loses that commit's uses too. So the oldest lost use is at most
/// 1.1 s plus the commits' own time older than the kill; 400 ms is for the commits and
/// the scheduler (SECURITY.md, "Usage recording and what a crash can lose").
const LOSS_WINDOW: Duration = Duration::from_millis(1500);
/// SIGKILLs of a loaded server (faults.rs adds 60 of CLI writes).
const KILLS: usize = 25;
/// Concurrent clients during each round.
const CLIENTS: usize = 3;

/// One answered `/auth` request of a real token.
struct Answer {
    token: String,
    allowed: bool,
    at: Instant,
}

/// What the load of one client saw until the server went away.
#[derive(Default)]
struct Seen {
    answers: Vec<Answer>,
    /// The token of the request in flight when the server died, if it was a real one:
    /// decided and recorded perhaps, but never answered.
    unanswered: Option<String>,
}

/// Allowed and denied uses per token id, as `audit --json` reports them (it leaves out
/// inactive tokens without uses), and each token's status.
fn recorded(env: &TestEnv) -> HashMap<String, (u64, u64, String)> {
    let audit = env.run(&["audit", "--json"]).success().json();
    let counts: HashMap<&str, (u64, u64)> = audit["tokens"]
        .as_array()
        .expect("tokens")
        .iter()
        .map(|t| {
            let requests = t["requests"].as_u64().unwrap();
            let denied = t["denied"].as_u64().unwrap();
            (t["id"].as_str().unwrap(), (requests - denied, denied))
        })
        .collect();
    let list = env
        .run(&["list", "--status", "all", "--json"])
        .success()
        .json();
    list.as_array()
        .expect("tokens")
        .iter()
        .map(|t| {
            let id = t["id"].as_str().unwrap();
            let (allowed, denied) = counts.get(id).copied().unwrap_or_default();
            let status = t["status"].as_str().unwrap().to_string();
            (id.to_string(), (allowed, denied, status))
        })
        .collect()
}

fn auth_request(token: &str, method: &str) -> Vec<u8> {
    let bearer = format!("Bearer {token}");
    request(
        "GET",
        "/auth",
        &[
            ("Authorization", &bearer),
            ("X-Original-Method", method),
            ("X-Original-URI", "/api/cases/1"),
        ],
    )
}

/// Asks in a loop, round-robin: the steady token reading (200) and writing (403), the
/// victim reading (200 until its revocation returned, 401 after), and garbage (401),
/// until the server is gone.
fn client(
    addr: SocketAddr,
    offset: usize,
    steady: &Made,
    victim: &Made,
    revoked_at: &Mutex<Option<Instant>>,
) -> Seen {
    let mut seen = Seen::default();
    let mut i = offset;
    loop {
        i += 1;
        let (token, method) = match i % 4 {
            0 => (Some(steady), "GET"),
            1 => (Some(steady), "POST"),
            2 => (Some(victim), "GET"),
            _ => (None, "GET"),
        };
        let sent = Instant::now();
        let secret = token.map_or("tok_live_garbage", |t| t.secret.as_str());
        let Some(reply) = exchange(addr, &auth_request(secret, method)) else {
            seen.unanswered = token.map(|t| t.id.clone());
            return seen;
        };
        let at = Instant::now();
        let revoked_before = revoked_at.lock().unwrap().is_some_and(|r| r < sent);
        let allowed = match (token.map(|t| t.id == victim.id), method, reply.status) {
            (None, _, 401) => continue,
            (Some(false), "GET", 200) => true,
            (Some(false), "POST", 403) => false,
            (Some(true), _, 200) if !revoked_before => true,
            (Some(true), _, 401) => false,
            _ => panic!("unexpected reply (revoked before sending: {revoked_before}): {reply:?}"),
        };
        seen.answers.push(Answer {
            token: token.unwrap().id.clone(),
            allowed,
            at,
        });
    }
}

fn sleep_until(at: Instant) {
    std::thread::sleep(at.saturating_duration_since(Instant::now()));
}

/// SIGKILL a loaded server 25 times at random moments (fixed seed), with a token revoked
/// through the CLI during each round. After each kill: the database is intact, the
/// revocation is there and the restarted server denies the token, and for every token
/// and outcome, answered − (answered in the last LOSS_WINDOW) ≤ recorded ≤ answered +
/// (decided but unanswered when the server died).
#[test]
fn sigkill_under_load_keeps_revocations_and_loses_at_most_the_last_flush() {
    let seed = 0x5e12_e0f7_u64;
    let mut dice = Dice(seed);
    let env = TestEnv::sqlite();
    let steady = env.create("steady", &["cases:read"], &[]);
    let mut before = recorded(&env);
    let mut previous: Option<Made> = None;
    let (mut worst_loss, mut worst_window, mut rounds_with_loss) = (0u64, Duration::ZERO, 0);
    let (mut revoked_before_kill, mut answered_total) = (0, 0);
    for round in 0..KILLS {
        let victim = env.create(&format!("victim {round}"), &["cases:read"], &[]);
        let server = Server::start(&env, &[]);
        let addr = server.addr;
        let mut answers = Vec::new();
        // First the restarted server: the token revoked before the last kill is denied.
        if let Some(old) = &previous {
            auth(addr, &old.secret, "GET", "/api/cases/1").unauthorized();
            answers.push(Answer {
                token: old.id.clone(),
                allowed: false,
                at: Instant::now(),
            });
        }
        let kill_after = Duration::from_millis(100 + dice.below(1400));
        let kill_ms = kill_after.as_millis() as u64;
        // One round in four revokes just before the kill, so that some kills come while
        // the command runs.
        let revoke_after = Duration::from_millis(if dice.below(4) == 0 {
            kill_ms.saturating_sub(dice.below(40))
        } else {
            dice.below(kill_ms)
        });
        let revoked_at = Mutex::new(None);
        let started = Instant::now();
        let (seen, killed_at, log) = std::thread::scope(|s| {
            let clients: Vec<_> = (0..CLIENTS)
                .map(|c| {
                    let (steady, victim, revoked_at) = (&steady, &victim, &revoked_at);
                    s.spawn(move || client(addr, c, steady, victim, revoked_at))
                })
                .collect();
            // The kill may come before, while or after the revocation returns.
            s.spawn(|| {
                sleep_until(started + revoke_after);
                revoke(&env, &victim.id);
                *revoked_at.lock().unwrap() = Some(Instant::now());
            });
            sleep_until(started + kill_after);
            let killed_at = Instant::now();
            let log = server.kill();
            let seen: Vec<Seen> = clients.into_iter().map(|c| c.join().unwrap()).collect();
            (seen, killed_at, log)
        });
        let context = format!("round {round}, seed {seed:#x}, killed after {kill_after:?}");
        assert!(!log.contains("panicked"), "{context}\n{log}");
        assert_eq!(integrity(&env), "ok", "{context}");
        if revoked_at.lock().unwrap().is_some_and(|r| r < killed_at) {
            revoked_before_kill += 1;
        }

        let mut unanswered: HashMap<String, u64> = HashMap::new();
        for s in seen {
            answers.extend(s.answers);
            if let Some(t) = s.unanswered {
                *unanswered.entry(t).or_default() += 1;
            }
        }
        answered_total += answers.len();
        let after = recorded(&env);
        assert_eq!(after[&victim.id].2, "revoked", "{context}");
        let mut round_loss = 0;
        for id in [&steady.id, &victim.id]
            .into_iter()
            .chain(previous.as_ref().map(|p| &p.id))
        {
            let was = before.get(id).map_or((0, 0), |r| (r.0, r.1));
            let now = after.get(id).map_or((0, 0), |r| (r.0, r.1));
            for (allowed, recorded) in [(true, now.0 - was.0), (false, now.1 - was.1)] {
                let mut times: Vec<Instant> = answers
                    .iter()
                    .filter(|a| a.token == *id && a.allowed == allowed)
                    .map(|a| a.at)
                    .collect();
                times.sort_unstable_by(|a, b| b.cmp(a));
                let answered = times.len() as u64;
                let recent = times
                    .iter()
                    .filter(|&&t| t + LOSS_WINDOW > killed_at)
                    .count() as u64;
                let in_flight = unanswered.get(id).copied().unwrap_or(0);
                let what = if allowed { "allowed" } else { "denied" };
                assert!(
                    recorded <= answered + in_flight,
                    "{context}: token {id} {what}: {recorded} recorded, {answered} answered, {in_flight} in flight"
                );
                assert!(
                    recorded + recent >= answered,
                    "{context}: token {id} {what}: {recorded} recorded of {answered} answered, only {recent} in the last {LOSS_WINDOW:?}"
                );
                // The loss, and how far back the most recent answers that many reach.
                let lost = answered.saturating_sub(recorded);
                if lost > 0 {
                    round_loss += lost;
                    let oldest_lost = times[lost as usize - 1];
                    worst_window =
                        worst_window.max(killed_at.saturating_duration_since(oldest_lost));
                }
            }
        }
        if round_loss > 0 {
            rounds_with_loss += 1;
            worst_loss = worst_loss.max(round_loss);
        }
        before = after;
        previous = Some(victim);
    }
    // A last restart, stopped cleanly: the last revocation holds, and nothing is lost.
    let server = Server::start(&env, &[]);
    let last = previous.unwrap();
    auth(server.addr, &last.secret, "GET", "/api/cases/1").unauthorized();
    auth(server.addr, &steady.secret, "GET", "/api/cases/1").expect(200);
    let (status, log) = server.terminate();
    assert!(status.success(), "{log}");
    let after = recorded(&env);
    assert_eq!(after[&last.id].1, before[&last.id].1 + 1);
    assert_eq!(after[&steady.id].0, before[&steady.id].0 + 1);
    assert_eq!(integrity(&env), "ok");
    eprintln!(
        "sigkill_under_load: {KILLS} kills (seed {seed:#x}), {answered_total} answered requests, \
         {revoked_before_kill} revocations returned before their kill; uses lost in \
         {rounds_with_loss} rounds, at most {worst_loss} in one, each loss no more than the \
         answers of the last {worst_window:?} before the kill (bound: {LOSS_WINDOW:?})"
    );
}

/// A consistent copy of the database, as a backup would be.
fn backup(db: &Path, to: &Path) {
    let to = to.to_str().unwrap().replace('\'', "''");
    crate::common::sqlite3(db, &format!("VACUUM INTO '{to}';"));
}

/// Revokes `id` in the database at `db`.
fn revoke_in(env: &TestEnv, db: &Path, id: &str) {
    let out = env
        .std_cmd()
        .env("TOKENCTL_DB", db)
        .args(["-q", "revoke", id, "--yes"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
}

/// The value of a metric line that starts with `name` (labels included).
pub(crate) fn metric(addr: SocketAddr, name: &str) -> f64 {
    let body = get(addr, "/metrics", &[]).expect(200).body;
    body.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
        .unwrap_or_else(|| panic!("{name} not in\n{body}"))
        .parse()
        .unwrap()
}

/// Waits until `ready` holds; a hang fails the test.
fn wait_for(what: &str, ready: impl Fn() -> bool) {
    let started = Instant::now();
    while !ready() {
        assert!(started.elapsed() < PATIENCE, "waited too long for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

const FLUSHED: &str = "tokenctl_serve_usage_flushed_uses_total";
const FAILED_FLUSHES: &str = "tokenctl_serve_usage_flushes_total{result=\"failed\"}";

/// Deleted, then replaced by a backup, then by junk: `/auth` and `/healthz` answer 503
/// throughout (a server cannot switch files safely: SQLite would read the new file
/// through the old one's -wal and -shm), and usage is not written into the deleted file.
/// Restarted, the server uses the file at the path.
#[test]
fn a_deleted_or_replaced_database_is_refused_until_restart() {
    let env = TestEnv::sqlite();
    let kept = env.create("kept", &["cases:read"], &[]);
    let gone = env.create("revoked in the backup", &["cases:read"], &[]);
    let copy = env.dir().join("backup.db");
    backup(env.db(), &copy);
    revoke_in(&env, &copy, &gone.id);
    let second_copy = env.dir().join("backup-2.db");
    std::fs::copy(&copy, &second_copy).unwrap();

    let server = Server::start(&env, &[]);
    let a = server.addr;
    auth(a, &kept.secret, "GET", "/api/cases/1").expect(200);
    auth(a, &gone.secret, "GET", "/api/cases/1").expect(200);
    wait_for("the first flush", || metric(a, FLUSHED) >= 2.0);

    let refused = |what: &str| {
        for token in [&kept, &gone] {
            let r = auth(a, &token.secret, "GET", "/api/cases/1");
            assert_eq!(r.status, 503, "{what}: {r:?}");
            assert_eq!(r.header("retry-after"), Some("1"), "{what}");
        }
        get(a, "/healthz", &[]).expect(503);
    };
    std::fs::remove_file(env.db()).unwrap();
    // Verifiers look at the path at most every CHECK_INTERVAL.
    std::thread::sleep(CHECK_INTERVAL);
    refused("deleted");
    // Garbage is refused without the database, and its use recorded: the flusher has
    // something to write, and must not write it into the deleted file.
    get(a, "/auth", &[("Authorization", "Bearer garbage")]).unauthorized();
    wait_for("a failed flush", || metric(a, FAILED_FLUSHES) >= 1.0);
    assert_eq!(metric(a, FLUSHED), 2.0);
    assert!(!env.db().exists(), "a file was created at the path");

    std::fs::rename(&copy, env.db()).unwrap();
    refused("replaced by a backup");
    let junk = env.dir().join("junk");
    std::fs::write(&junk, b"not a database at all").unwrap();
    std::fs::rename(&junk, env.db()).unwrap();
    refused("replaced by junk");
    std::fs::rename(&second_copy, env.db()).unwrap();
    refused("replaced by a backup again");

    // SIGTERM: the uses in memory have nowhere to go, and the exit status says so.
    let (status, log) = server.terminate();
    assert_eq!(status.code(), Some(1), "{log}");
    assert!(
        log.contains("was deleted or replaced while in use; restart"),
        "{log}"
    );
    assert!(
        log.contains("usage of the last second was not recorded"),
        "{log}"
    );
    for token in [&kept, &gone] {
        assert!(!log.contains(&token.secret), "{log}");
    }

    let server = Server::start(&env, &[]);
    auth(server.addr, &kept.secret, "GET", "/api/cases/1").expect(200);
    auth(server.addr, &gone.secret, "GET", "/api/cases/1").unauthorized();
    get(server.addr, "/healthz", &[]).expect(200);
    let (status, log) = server.terminate();
    assert!(status.success(), "{log}");
    assert_eq!(integrity(&env), "ok");
    assert_eq!(env.show(&gone.id)["status"], "revoked");
}

/// The safe way to restore a backup while `serve` runs: SQLite's backup API writes it
/// into the open database as one transaction, which every connection sees at its next
/// read, and verifiers at their next check of the revision (the sqlite3 shell takes no
/// ticket of the change signal): within CHECK_INTERVAL. Usage of a token that is not in
/// the backup is dropped, not retried forever.
#[test]
fn a_backup_restored_in_place_is_followed_within_the_check_interval() {
    if !crate::tools::available(
        "sqlite3",
        "serve_faults::a_backup_restored_in_place_is_followed_within_the_check_interval",
    ) {
        return;
    }
    let env = TestEnv::sqlite();
    let kept = env.create("kept", &["cases:read"], &[]);
    let gone = env.create("revoked in the backup", &["cases:read"], &[]);
    let copy = env.dir().join("backup.db");
    backup(env.db(), &copy);
    revoke_in(&env, &copy, &gone.id);
    let later = env.create("created after the backup", &["cases:read"], &[]);

    let server = Server::start(&env, &[]);
    let a = server.addr;
    for token in [&kept, &gone, &later] {
        auth(a, &token.secret, "GET", "/api/cases/1").expect(200);
    }
    let out = Command::new("sqlite3")
        .arg(env.db())
        .arg(format!(".restore '{}'", copy.display()))
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    std::thread::sleep(CHECK_INTERVAL);
    auth(a, &gone.secret, "GET", "/api/cases/1").unauthorized();
    auth(a, &later.secret, "GET", "/api/cases/1").unauthorized();
    for _ in 0..3 {
        auth(a, &kept.secret, "GET", "/api/cases/1").expect(200);
    }
    get(a, "/healthz", &[]).expect(200);
    let flushed = metric(a, FLUSHED);
    wait_for("a flush after the restore", || metric(a, FLUSHED) > flushed);
    assert_eq!(metric(a, FAILED_FLUSHES), 0.0);
    let (status, log) = server.terminate();
    assert!(status.success(), "{log}");
    assert_eq!(integrity(&env), "ok");
    let usage = &env.show(&kept.id)["usage"];
    assert!(usage["allowed_30d"].as_u64().unwrap() >= 3, "{usage}");
    assert_eq!(env.show(&gone.id)["status"], "revoked");
}

/// Runs tokenctl with the test environment as user nobody (for root, to whom no file is
/// unreadable), or as the current user.
fn run_as(env: &TestEnv, nobody: bool, args: &[&str], stdin: &str) -> Output {
    let plain = env.std_cmd();
    let mut cmd = if nobody {
        // A copy nobody can run wherever the build directory is (the test directory is
        // made walkable for nobody).
        let program = env.dir().join("tokenctl");
        if !program.exists() {
            std::fs::hard_link(plain.get_program(), &program)
                .or_else(|_| std::fs::copy(plain.get_program(), &program).map(drop))
                .unwrap();
        }
        let mut c = Command::new("setpriv");
        c.args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
            .arg(program)
            .env_clear()
            .current_dir(env.dir());
        for (k, v) in plain.get_envs().filter_map(|(k, v)| Some((k, v?))) {
            c.env(k, v);
        }
        c
    } else {
        plain
    };
    let mut child = cmd
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    let _ = child.stdin.take().unwrap().write_all(stdin.as_bytes());
    child.wait_with_output().unwrap()
}

/// An unreadable database denies: `verify` exits 1, `serve` does not start, and a
/// server whose file was replaced by a directory answers 503. (A file made unreadable
/// after a server opened it stays readable to that server, as for any Unix program.)
#[test]
fn an_unreadable_database_denies() {
    let env = TestEnv::sqlite();
    let made = env.create("x", &["cases:read"], &[]);
    let serve_fails = |nobody: bool, wanted: &str| {
        let out = run_as(&env, nobody, &["serve", "--listen", "127.0.0.1:0"], "");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{stderr}");
        assert!(!stderr.contains("listening on"), "{stderr}");
        assert!(stderr.contains(wanted), "wanted {wanted:?} in {stderr}");
    };
    let verify_fails = |nobody: bool, wanted: &str| {
        let out = run_as(&env, nobody, &["verify", "--json"], &made.secret);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{stderr}");
        assert!(!String::from_utf8_lossy(&out.stdout).contains("true"));
        assert!(stderr.contains(wanted), "wanted {wanted:?} in {stderr}");
        assert!(!stderr.contains(&made.secret));
    };

    // No permission to read the file.
    let as_nobody = is_root();
    if !as_nobody
        || crate::tools::available("setpriv", "serve_faults::an_unreadable_database_denies")
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &Path, m: u32| {
            std::fs::set_permissions(p, std::fs::Permissions::from_mode(m)).unwrap()
        };
        if as_nobody {
            // Nobody may walk to the file, not read it (it is 0600, root's).
            mode(env.dir(), 0o711);
            mode(env.db().parent().unwrap(), 0o711);
        } else {
            mode(env.db(), 0o000);
        }
        verify_fails(as_nobody, "Permission denied");
        serve_fails(as_nobody, "Permission denied");
        mode(env.db(), 0o600);
    }

    // A directory where the database was, under a running server and at start-up.
    let server = Server::start(&env, &[]);
    auth(server.addr, &made.secret, "GET", "/api/cases/1").expect(200);
    let moved = env.dir().join("moved.db");
    std::fs::rename(env.db(), &moved).unwrap();
    std::fs::create_dir(env.db()).unwrap();
    std::thread::sleep(CHECK_INTERVAL);
    auth(server.addr, &made.secret, "GET", "/api/cases/1").expect(503);
    get(server.addr, "/healthz", &[]).expect(503);
    verify_fails(false, "is a directory");
    serve_fails(false, "is a directory");
    drop(server);
}

/// After valid, revoked, expired-looking, malformed and unknown tokens (in the header,
/// and one in the URI), and a storage error, neither `/metrics` nor the server's log
/// holds any of them.
#[test]
fn metrics_and_log_never_show_a_token() {
    let env = TestEnv::sqlite();
    let valid = env.create("valid", &["cases:read"], &[]);
    let revoked = env.create("revoked", &["cases:read"], &[]);
    revoke(&env, &revoked.id);
    let unknown = tokenctl::token::generate("tok", "live").unwrap();
    let unknown = unknown.secret.expose().to_string();
    // The right shape with a wrong checksum, and plain garbage.
    let bad_checksum = format!("{}000000", &valid.secret[..valid.secret.len() - 6]);
    let garbage = "hunter2-not-a-token-but-secret".to_string();
    let secrets = [
        valid.secret.clone(),
        revoked.secret.clone(),
        unknown,
        bad_checksum,
        garbage,
    ];

    let server = Server::start(&env, &[]);
    let a = server.addr;
    let ask_all = || {
        for s in &secrets {
            for (method, uri) in [
                ("GET", "/api/cases/1"),
                ("DELETE", "/api/cases/1"),
                ("GET", "/nowhere"),
            ] {
                let r = auth(a, s, method, uri);
                assert!(!format!("{r:?}").contains(s.as_str()), "{r:?}");
            }
            let uri = format!("/api/cases/1?access_token={s}");
            let _ = exchange(a, &request("GET", "/auth", &[("X-Original-URI", &uri)]));
        }
    };
    auth(a, &valid.secret, "GET", "/api/cases/1").expect(200);
    ask_all();
    // A storage error is logged: still without the token that met it.
    let moved = env.dir().join("moved.db");
    std::fs::rename(env.db(), &moved).unwrap();
    std::thread::sleep(CHECK_INTERVAL);
    ask_all();
    let metrics = get(a, "/metrics", &[]).expect(200).body;
    let (_, log) = server.terminate();
    assert!(log.contains("denying requests: cannot verify"), "{log}");
    for s in &secrets {
        // The whole text, and for tokens their random part (a hint shows only 4 of it).
        let parts = [s.as_str(), s.get(9..39).unwrap_or(s)];
        for p in parts {
            assert!(!metrics.contains(p), "{p} in /metrics:\n{metrics}");
            assert!(!log.contains(p), "{p} in the log:\n{log}");
        }
    }
}

/// Sets the soft RLIMIT_FSIZE of process `pid`: 0 makes every write to a file fail, as
/// on a full disk, without filling one.
fn file_size_limit(pid: u32, bytes: Option<u64>) {
    let limit = libc::rlimit {
        rlim_cur: bytes.unwrap_or(libc::RLIM_INFINITY),
        rlim_max: libc::RLIM_INFINITY,
    };
    // SAFETY: prlimit reads `limit` and writes nothing (no old-limit pointer).
    let done = unsafe {
        libc::prlimit(
            pid as libc::pid_t,
            libc::RLIMIT_FSIZE,
            &limit,
            std::ptr::null_mut(),
        )
    };
    assert_eq!(done, 0, "prlimit: {}", std::io::Error::last_os_error());
}

/// While usage cannot be committed (every write fails), requests are still decided, but
/// `/healthz` says degraded (503) and `/metrics` says so; when writes work again, the
/// buffered uses are committed and health returns.
#[test]
fn healthz_is_degraded_while_usage_cannot_be_committed() {
    let env = TestEnv::sqlite();
    let made = env.create("busy", &["cases:read"], &[]);
    let server = Server::start(&env, &[]);
    let a = server.addr;
    get(a, "/healthz", &[]).expect(200);
    assert_eq!(metric(a, "tokenctl_serve_usage_commit_failing"), 0.0);

    file_size_limit(server.pid(), Some(0));
    auth(a, &made.secret, "GET", "/api/cases/1").expect(200);
    wait_for("a failed commit", || metric(a, FAILED_FLUSHES) >= 1.0);
    let health = get(a, "/healthz", &[]).expect(503);
    assert!(
        health.body.contains("usage cannot be committed"),
        "{health:?}"
    );
    assert_eq!(metric(a, "tokenctl_serve_usage_commit_failing"), 1.0);
    // Still deciding.
    auth(a, &made.secret, "GET", "/api/cases/1").expect(200);

    file_size_limit(server.pid(), None);
    wait_for("a commit", || {
        metric(a, "tokenctl_serve_usage_commit_failing") == 0.0
    });
    get(a, "/healthz", &[]).expect(200);
    assert!(server.terminate().0.success());
    assert_eq!(env.show(&made.id)["usage"]["allowed_30d"], 2);
}

/// `serve` holds presented tokens in memory: it makes itself non-dumpable (no core file,
/// no reading of its memory by other processes of its user) and sets its core size to 0.
#[test]
fn serve_cannot_dump_core() {
    let env = TestEnv::sqlite();
    env.create("someone", &["cases:read"], &[]);
    let server = Server::start(&env, &[]);
    let limits = std::fs::read_to_string(format!("/proc/{}/limits", server.pid())).unwrap();
    let core = limits
        .lines()
        .find(|l| l.starts_with("Max core file size"))
        .expect("a core size line");
    let fields: Vec<&str> = core.split_whitespace().collect();
    assert_eq!(&fields[4..6], ["0", "0"], "{core}");
    // A non-dumpable process's /proc files belong to root; only visible when the test
    // itself is not root.
    if !is_root() {
        use std::os::unix::fs::MetadataExt;
        let owner = std::fs::metadata(format!("/proc/{}/mem", server.pid()))
            .unwrap()
            .uid();
        assert_eq!(owner, 0);
    }
}
