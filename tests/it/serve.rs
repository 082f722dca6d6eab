//! `tokenctl serve`: the real binary on loopback sockets (ephemeral ports), asked over
//! raw HTTP/1.1, and behind a real nginx configured exactly as the README says.
//!
//! Nothing here waits for a fixed time: servers are ready when they print their address,
//! load runs until a count is reached, and timeouts only turn a hang into a failure.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::common::{Made, TestEnv};

/// Longest wait for anything (start-up, exit, a response) before the test fails.
pub(crate) const PATIENCE: Duration = Duration::from_secs(60);

/// A running `tokenctl serve`, killed when dropped.
pub(crate) struct Server {
    child: Child,
    pub(crate) addr: SocketAddr,
    stderr: Arc<Mutex<String>>,
    reader: Option<std::thread::JoinHandle<()>>,
}

/// The `tokenctl` command with the test environment's clean environment.
fn tokenctl(env: &TestEnv) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_tokenctl"));
    cmd.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", env.dir())
        .env("TZ", "UTC")
        .env("LC_ALL", "C")
        .env("TOKENCTL_DB", env.location())
        .current_dir(env.dir());
    cmd
}

impl Server {
    /// Starts `serve` on 127.0.0.1, a free port, and waits until it listens.
    pub(crate) fn start(env: &TestEnv, args: &[&str]) -> Server {
        Server::start_on(env, "127.0.0.1:0", args)
    }

    pub(crate) fn start_on(env: &TestEnv, listen: &str, args: &[&str]) -> Server {
        let mut child = tokenctl(env)
            .args(["serve", "--listen", listen])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start tokenctl serve");
        let stderr = Arc::new(Mutex::new(String::new()));
        let (ready, listening) = mpsc::channel();
        let pipe = child.stderr.take().expect("stderr");
        let log = Arc::clone(&stderr);
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines() {
                let Ok(line) = line else { break };
                if let Some(addr) = line.strip_prefix("listening on ") {
                    let _ = ready.send(addr.parse::<SocketAddr>().expect("an address"));
                }
                let mut log = log.lock().unwrap();
                log.push_str(&line);
                log.push('\n');
            }
        });
        let addr = match listening.recv_timeout(PATIENCE) {
            Ok(addr) => addr,
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("serve did not start listening:\n{}", stderr.lock().unwrap());
            }
        };
        Server {
            child,
            addr,
            stderr,
            reader: Some(reader),
        }
    }

    pub(crate) fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends SIGTERM and waits for the exit status and the rest of stderr.
    pub(crate) fn terminate(mut self) -> (ExitStatus, String) {
        let pid = self.child.id().to_string();
        let sent = Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill");
        assert!(sent.success());
        let started = Instant::now();
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                break status;
            }
            assert!(started.elapsed() < PATIENCE, "serve did not stop");
            std::thread::sleep(Duration::from_millis(10));
        };
        // The reader ends at EOF, now that the process is gone.
        if let Some(reader) = self.reader.take() {
            reader.join().expect("stderr reader");
        }
        (status, self.stderr())
    }
}

impl Server {
    /// SIGKILL, as a crash or the OOM killer would; waits for the process and returns
    /// its stderr.
    pub(crate) fn kill(mut self) -> String {
        self.child.kill().expect("SIGKILL serve");
        self.child.wait().expect("wait for serve");
        if let Some(reader) = self.reader.take() {
            reader.join().expect("stderr reader");
        }
        self.stderr()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An HTTP response as the tests look at it.
#[derive(Debug)]
pub(crate) struct Reply {
    pub(crate) status: u16,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: String,
}

impl Reply {
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    #[track_caller]
    pub(crate) fn expect(self, status: u16) -> Reply {
        assert_eq!(self.status, status, "{self:?}");
        self
    }

    #[track_caller]
    pub(crate) fn unauthorized(self) -> Reply {
        let r = self.expect(401);
        assert_eq!(
            r.header("www-authenticate"),
            Some("Bearer error=\"invalid_token\""),
            "{r:?}"
        );
        r
    }

    /// 401 without an error code: no bearer token was presented (RFC 6750 section 3.1).
    #[track_caller]
    pub(crate) fn no_token(self) -> Reply {
        let r = self.expect(401);
        assert_eq!(r.header("www-authenticate"), Some("Bearer"), "{r:?}");
        r
    }

    /// 403 for lack of `scope`, or (`None`) for a request no rule maps.
    #[track_caller]
    pub(crate) fn forbidden(self, scope: Option<&str>) -> Reply {
        let r = self.expect(403);
        let want = match scope {
            Some(s) => format!("Bearer error=\"insufficient_scope\", scope=\"{s}\""),
            None => "Bearer error=\"insufficient_scope\", error_description=\"no rule maps this request to a scope\"".to_string(),
        };
        assert_eq!(r.header("www-authenticate"), Some(want.as_str()), "{r:?}");
        r
    }

    /// 403 for a token that is fine but not here: another environment, or an address
    /// outside its allow list.
    #[track_caller]
    pub(crate) fn refused(self, description: &str) -> Reply {
        let r = self.expect(403);
        let want = format!("Bearer error=\"invalid_token\", error_description=\"{description}\"");
        assert_eq!(r.header("www-authenticate"), Some(want.as_str()), "{r:?}");
        r
    }

    /// 403 for a request that readers can take differently.
    #[track_caller]
    pub(crate) fn ambiguous(self) -> Reply {
        let r = self.expect(403);
        let challenge = r.header("www-authenticate").unwrap_or_default();
        assert!(
            challenge.starts_with(
                "Bearer error=\"invalid_request\", error_description=\"ambiguous request: "
            ),
            "{r:?}"
        );
        r
    }
}

/// Sends raw bytes (a whole request, `Connection: close`) and reads the reply; `None`
/// when the connection fails or closes without a complete status line and headers.
pub(crate) fn exchange(addr: SocketAddr, request: &[u8]) -> Option<Reply> {
    let mut stream = TcpStream::connect_timeout(&addr, PATIENCE).ok()?;
    stream.set_read_timeout(Some(PATIENCE)).ok()?;
    // A server may answer (431) and close before reading all of a huge request.
    let _ = stream.write_all(request);
    let mut raw = Vec::new();
    let _ = stream.read_to_end(&mut raw);
    let text = String::from_utf8_lossy(&raw);
    let (head, body) = text.split_once("\r\n\r\n")?;
    let mut lines = head.split("\r\n");
    let status = lines.next()?.split(' ').nth(1)?.parse().ok()?;
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_string(), v.trim().to_string()))
        .collect();
    Some(Reply {
        status,
        headers,
        body: body.to_string(),
    })
}

pub(crate) fn request(method: &str, path: &str, headers: &[(&str, &str)]) -> Vec<u8> {
    let mut r = format!("{method} {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n");
    for (n, v) in headers {
        r.push_str(&format!("{n}: {v}\r\n"));
    }
    r.push_str("\r\n");
    r.into_bytes()
}

#[track_caller]
pub(crate) fn get(addr: SocketAddr, path: &str, headers: &[(&str, &str)]) -> Reply {
    exchange(addr, &request("GET", path, headers)).expect("a reply")
}

/// `/auth` for the original request `method uri` with `token`.
#[track_caller]
pub(crate) fn auth(addr: SocketAddr, token: &str, method: &str, uri: &str) -> Reply {
    let bearer = format!("Bearer {token}");
    get(
        addr,
        "/auth",
        &[
            ("Authorization", &bearer),
            ("X-Original-Method", method),
            ("X-Original-URI", uri),
        ],
    )
}

pub(crate) fn revoke(env: &TestEnv, id: &str) {
    env.run(&["revoke", id, "--yes"]).success();
}

/// A token that expired in 2020 (created with the clock pinned back then).
pub(crate) fn create_expired(env: &TestEnv, name: &str) -> Made {
    let out = env
        .cmd()
        .env("TOKENCTL_TEST_NOW", "2020-01-01T00:00:00Z")
        .args(["create", "--name", name, "--scope", "cases:read"])
        .args(["--expires", "1h", "--json"])
        .output()
        .expect("create");
    assert!(out.status.success(), "{out:?}");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    Made {
        id: v["id"].as_str().expect("id").to_string(),
        secret: v["token"].as_str().expect("token").to_string(),
    }
}

#[test]
fn allows_and_denies_per_spec() {
    let env = TestEnv::new();
    let reader = env.create("Zoë's importer", &["cases:read"], &[]);
    let server = Server::start(&env, &[]);
    let a = server.addr;

    let ok = auth(a, &reader.secret, "GET", "/api/cases/12?page=2").expect(200);
    assert_eq!(ok.header("x-token-id"), Some(reader.id.as_str()));
    assert_eq!(ok.header("x-token-name"), Some("Zo%C3%AB's importer"));
    assert_eq!(ok.header("x-token-scopes"), Some("cases:read"));
    auth(a, &reader.secret, "HEAD", "/api/cases").expect(200);
    auth(a, &reader.secret, "POST", "/api/cases/12").forbidden(Some("cases:write"));
    auth(a, &reader.secret, "DELETE", "/api/cases/12").forbidden(Some("cases:delete"));
    auth(a, &reader.secret, "GET", "/api/invoices/1").forbidden(Some("invoices:read"));
    auth(a, &reader.secret, "GET", "/api/cases/../invoices/1").ambiguous();
    // Nothing maps these: a genuine token gets 403 without a scope, a bad one 401.
    auth(a, &reader.secret, "GET", "/status").forbidden(None);
    auth(a, &reader.secret, "BREW", "/api/cases/1").forbidden(None);
    auth(a, "tok_live_nope", "GET", "/status").unauthorized();

    // X-Forwarded-* (Caddy, Traefik) are read when X-Original-* are absent.
    let bearer = format!("Bearer {}", reader.secret);
    let forwarded = |method: &str| {
        get(
            a,
            "/auth",
            &[
                ("Authorization", &bearer),
                ("X-Forwarded-Method", method),
                ("X-Forwarded-Uri", "/api/cases/3"),
            ],
        )
    };
    forwarded("GET").expect(200);
    forwarded("PUT").forbidden(Some("cases:write"));
    // Neither: the auth request's own method and URI, below /auth (Envoy's ext_authz).
    let own = |method: &str, path: &str| {
        exchange(a, &request(method, path, &[("Authorization", &bearer)])).expect("a reply")
    };
    own("GET", "/auth/api/cases/4?x=1").expect(200);
    own("DELETE", "/auth/api/cases/4").forbidden(Some("cases:delete"));
    own("GET", "/auth").forbidden(None);

    get(a, "/nothing", &[]).expect(404);
    let health = get(a, "/healthz", &[]).expect(200);
    assert_eq!(health.body, "ok\n");
    let metrics = get(a, "/metrics", &[]).expect(200);
    for line in [
        "tokenctl_serve_requests_total{outcome=\"allowed\",reason=\"none\"} 4",
        "tokenctl_serve_requests_total{outcome=\"denied\",reason=\"insufficient_scope\"} 5",
        "tokenctl_serve_requests_total{outcome=\"denied\",reason=\"unmapped\"} 3",
        "tokenctl_serve_requests_total{outcome=\"denied\",reason=\"ambiguous\"} 1",
        "tokenctl_serve_ambiguous_requests_total{kind=\"dot_segment\"} 1",
        "tokenctl_serve_requests_total{outcome=\"denied\",reason=\"malformed\"} 1",
        "tokenctl_serve_request_duration_seconds_count 14",
    ] {
        assert!(
            metrics.body.lines().any(|l| l == line),
            "{line} missing:\n{}",
            metrics.body
        );
    }
    assert!(
        metrics
            .body
            .contains("# TYPE tokenctl_serve_usage_buffered_uses gauge")
    );
    let log = server.stderr();
    assert!(!log.contains(&reader.secret), "{log}");
}

#[test]
fn token_states_environments_and_ip_lists() {
    let env = TestEnv::new();
    let revoked = env.create("revoked", &["cases:read"], &[]);
    revoke(&env, &revoked.id);
    let test_env = env.create("staging", &["cases:read"], &["--env", "test"]);
    let elsewhere = env.create(
        "office only",
        &["cases:read"],
        &["--allow-ip", "203.0.113.0/24"],
    );
    let expired = create_expired(&env, "old");

    let live = Server::start(&env, &[]);
    auth(live.addr, &revoked.secret, "GET", "/api/cases/1").unauthorized();
    auth(live.addr, &expired.secret, "GET", "/api/cases/1").unauthorized();
    auth(live.addr, &test_env.secret, "GET", "/api/cases/1")
        .refused("the token is for another environment");
    auth(live.addr, &elsewhere.secret, "GET", "/api/cases/1")
        .refused("the token may not be used from this client address");

    let test = Server::start(&env, &["--env", "test"]);
    auth(test.addr, &test_env.secret, "GET", "/api/cases/1").expect(200);

    // From a trusted proxy (loopback, by default), X-Real-IP is the client.
    let bearer = format!("Bearer {}", elsewhere.secret);
    let via_proxy = |addr, header: &str, ip: &str| {
        get(
            addr,
            "/auth",
            &[
                ("Authorization", &bearer),
                ("X-Original-URI", "/api/cases/1"),
                (header, ip),
            ],
        )
    };
    via_proxy(live.addr, "X-Real-IP", "203.0.113.5").expect(200);
    // From X-Forwarded-For, the right-most address that is not a trusted proxy: what
    // stands left of it is the client's own claim.
    via_proxy(live.addr, "X-Forwarded-For", "198.51.100.1, 203.0.113.6").expect(200);
    via_proxy(live.addr, "X-Forwarded-For", "203.0.113.6, 10.0.0.1")
        .refused("the token may not be used from this client address");
    via_proxy(live.addr, "X-Forwarded-For", "203.0.113.7, 127.0.0.1").expect(200);
    // A trusted proxy that sends nonsense gets no address, so the allow list denies.
    via_proxy(live.addr, "X-Real-IP", "not-an-address")
        .refused("the token may not be used from this client address");
    assert!(live.terminate().0.success());
    let shown = env.show(&elsewhere.id);
    let ips: Vec<&str> = shown["usage"]["ips"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["ip"].as_str().unwrap())
        .collect();
    for ip in ["203.0.113.5", "203.0.113.6", "203.0.113.7", "10.0.0.1"] {
        assert!(ips.contains(&ip), "{ip} not in {ips:?}");
    }
}

#[test]
fn revocation_denies_the_very_next_request() {
    let env = TestEnv::new();
    // A server running before any of the tokens exists.
    env.create("bootstrap", &["cases:read"], &[]);
    let server = Server::start(&env, &[]);
    for i in 0..20 {
        let made = env.create(&format!("round {i}"), &["cases:read"], &[]);
        auth(server.addr, &made.secret, "GET", "/api/cases/1").expect(200);
        revoke(&env, &made.id);
        auth(server.addr, &made.secret, "GET", "/api/cases/1").unauthorized();
    }
}

#[test]
fn revocation_under_concurrent_load_has_no_stale_allow() {
    let env = TestEnv::new();
    let made = env.create("busy", &["cases:read"], &[]);
    let server = Server::start(&env, &[]);
    let addr = server.addr;
    let revoked_at: Arc<Mutex<Option<Instant>>> = Arc::new(Mutex::new(None));
    let (before, after) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let stop = Arc::new(AtomicBool::new(false));
    // Concurrent clients, so that the server decides requests in batches (and reuses
    // the token's row between batches while the database is unchanged).
    let clients: Vec<_> = (0..4)
        .map(|_| {
            let (revoked_at, before, after, stop, secret) = (
                Arc::clone(&revoked_at),
                Arc::clone(&before),
                Arc::clone(&after),
                Arc::clone(&stop),
                made.secret.clone(),
            );
            std::thread::spawn(move || {
                while !stop.load(Ordering::SeqCst) {
                    let sent = Instant::now();
                    let reply = auth(addr, &secret, "GET", "/api/cases/1");
                    let revoked = *revoked_at.lock().unwrap();
                    if revoked.is_some_and(|at| sent > at) {
                        assert_eq!(reply.status, 401, "allowed after revoke returned");
                        after.fetch_add(1, Ordering::SeqCst);
                    } else {
                        assert!(matches!(reply.status, 200 | 401), "{reply:?}");
                        before.fetch_add(1, Ordering::SeqCst);
                    }
                }
            })
        })
        .collect();
    let wait_for = |count: &AtomicU64| {
        let started = Instant::now();
        while count.load(Ordering::SeqCst) < 200 {
            assert!(started.elapsed() < PATIENCE, "clients stalled");
            std::thread::sleep(Duration::from_millis(5));
        }
    };
    wait_for(&before);
    revoke(&env, &made.id);
    *revoked_at.lock().unwrap() = Some(Instant::now());
    wait_for(&after);
    stop.store(true, Ordering::SeqCst);
    for c in clients {
        c.join().expect("no request allowed after the revocation");
    }
}

#[test]
fn hostile_input_is_answered_and_survived() {
    let env = TestEnv::new();
    let made = env.create("target", &["cases:read"], &[]);
    let server = Server::start(&env, &[]);
    let a = server.addr;
    let bearer = format!("Bearer {}", made.secret);
    let uri = ("X-Original-URI", "/api/cases/1");

    get(a, "/auth", &[uri]).no_token();
    get(
        a,
        "/auth",
        &[uri, ("Authorization", &bearer), ("Authorization", &bearer)],
    )
    .unauthorized();
    get(a, "/auth", &[uri, ("Authorization", "Basic dXNlcjpwYXNz")]).no_token();
    get(a, "/auth", &[uri, ("Authorization", "Bearer")]).unauthorized();
    get(a, "/auth", &[uri, ("Authorization", "Bearer garbage")]).unauthorized();
    let mut non_utf8 = request("GET", "/auth", &[uri]);
    let end = non_utf8.len() - 2;
    non_utf8.splice(
        end..end,
        b"Authorization: Bearer tok_live_\xff\xfe\x80\r\n".to_vec(),
    );
    exchange(a, &non_utf8).expect("a reply").unauthorized();
    // A valid token with an unreadable original URI: mapped to nothing.
    let mut bad_uri = request("GET", "/auth", &[("Authorization", &bearer)]);
    let end = bad_uri.len() - 2;
    bad_uri.splice(end..end, b"X-Original-URI: /api/cases/\xff\r\n".to_vec());
    exchange(a, &bad_uri).expect("a reply").ambiguous();

    // One megabyte of header: refused (431) before it is buffered, in the token or
    // elsewhere. The server closes while the client still writes, which may reset the
    // connection before the client reads the 431: no reply is fine, any other is not.
    let huge = format!("Bearer {}", "A".repeat(1 << 20));
    let reply = exchange(
        a,
        &request("GET", "/auth", &[uri, ("Authorization", &huge)]),
    );
    assert!(reply.as_ref().is_none_or(|r| r.status == 431), "{reply:?}");
    let huge = "x".repeat(1 << 20);
    let reply = exchange(
        a,
        &request(
            "GET",
            "/auth",
            &[("Authorization", &bearer), ("X-Pad", &huge)],
        ),
    );
    assert!(reply.as_ref().is_none_or(|r| r.status == 431), "{reply:?}");
    // Not HTTP at all.
    let reply = exchange(a, b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n");
    assert!(reply.as_ref().is_none_or(|r| r.status == 400), "{reply:?}");

    // Still serving, and the usage of garbage was recorded as such.
    auth(a, &made.secret, "GET", "/api/cases/1").expect(200);
    get(a, "/healthz", &[]).expect(200);
    let log = server.stderr();
    assert!(!log.contains("panicked"), "{log}");
    assert!(!log.contains(&made.secret), "{log}");
    let (status, _) = server.terminate();
    assert!(status.success());
    let audit = env.run(&["audit", "--json"]).success().json();
    let text = audit.to_string();
    assert!(text.contains("malformed"), "{text}");
}

/// Every credential is counted once, however it is decided: nothing presented is not a
/// use; another scheme, several headers and a malformed bearer token are malformed uses
/// (the first two decided without a verifier thread, the last by one), a well-formed
/// stranger an unknown one, and a genuine token's use is the token's.
#[test]
fn every_presented_credential_is_counted_once() {
    let env = TestEnv::new();
    let made = env.create("counted", &["cases:read"], &[]);
    let unknown = tokenctl::token::generate("tok", "live").unwrap();
    let server = Server::start(&env, &[]);
    let a = server.addr;
    let bearer = format!("Bearer {}", made.secret);
    let stranger = format!("Bearer {}", unknown.secret.expose());
    let ask = |ip: &str, authorization: &[&str]| {
        let mut headers = vec![("X-Original-URI", "/api/cases/1"), ("X-Real-IP", ip)];
        headers.extend(authorization.iter().map(|v| ("Authorization", *v)));
        get(a, "/auth", &headers)
    };
    for _ in 0..2 {
        ask("203.0.113.1", &[]).no_token();
        ask("203.0.113.2", &["Basic dXNlcjpwYXNz"]).no_token();
    }
    ask("203.0.113.3", &[&bearer, &bearer]).unauthorized();
    for _ in 0..3 {
        ask("203.0.113.4", &["Bearer garbage"]).unauthorized();
    }
    ask("203.0.113.5", &[&stranger]).unauthorized();
    ask("203.0.113.6", &[&bearer]).expect(200);
    let (status, _) = server.terminate();
    assert!(status.success());

    let audit = env.run(&["audit", "--json"]).success().json();
    let mut strangers: Vec<(String, String, u64)> = audit["strangers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["ip"].as_str().unwrap().to_string(),
                s["kind"].as_str().unwrap().to_string(),
                s["count"].as_u64().unwrap(),
            )
        })
        .collect();
    strangers.sort();
    let want = [
        ("203.0.113.2", "malformed", 2),
        ("203.0.113.3", "malformed", 1),
        ("203.0.113.4", "malformed", 3),
        ("203.0.113.5", "unknown", 1),
    ]
    .map(|(ip, kind, n)| (ip.to_string(), kind.to_string(), n));
    assert_eq!(strangers, want);
    let page = env.show(&made.id);
    assert_eq!(page["requests_24h"], 1, "{page}");
}

#[test]
fn forwarded_addresses_only_from_trusted_proxies() {
    let env = TestEnv::new();
    let made = env.create(
        "office only",
        &["cases:read"],
        &["--allow-ip", "203.0.113.0/24"],
    );
    // The test's connections come from 127.0.0.1, which this server does not trust.
    let server = Server::start(&env, &["--trust-proxy", "192.0.2.1"]);
    let bearer = format!("Bearer {}", made.secret);
    for spoof in [
        ("X-Forwarded-For", "203.0.113.5"),
        ("X-Real-IP", "203.0.113.5"),
    ] {
        get(
            server.addr,
            "/auth",
            &[
                ("Authorization", &bearer),
                ("X-Original-URI", "/api/cases/1"),
                spoof,
            ],
        )
        .refused("the token may not be used from this client address");
    }
    assert!(server.terminate().0.success());
    let shown = env.show(&made.id);
    assert_eq!(shown["last_used_ip"], "127.0.0.1", "{shown}");
}

/// Caddy's forward_auth and Traefik's forwardAuth send the client's own headers along
/// with the X-Forwarded-* they set. A client that adds X-Original-Method or
/// X-Original-URI to claim a request it is not making gets a request no scope maps.
#[test]
fn a_client_cannot_choose_the_scope_through_a_forward_auth_proxy() {
    let env = TestEnv::new();
    let reader = env.create("reader", &["cases:read"], &[]);
    let server = Server::start(&env, &[]);
    let bearer = format!("Bearer {}", reader.secret);
    // As Caddy forwards `DELETE /api/cases/12`: honest, then with the client's additions.
    let caddy = |extra: &[(&str, &str)]| {
        let mut headers = vec![
            ("Authorization", bearer.as_str()),
            ("X-Forwarded-Method", "DELETE"),
            ("X-Forwarded-Uri", "/api/cases/12"),
            ("X-Forwarded-For", "198.51.100.7"),
        ];
        headers.extend_from_slice(extra);
        get(server.addr, "/auth", &headers)
    };
    caddy(&[]).forbidden(Some("cases:delete"));
    caddy(&[("X-Original-Method", "GET")]).ambiguous();
    caddy(&[
        ("X-Original-Method", "GET"),
        ("X-Original-URI", "/api/cases/12"),
    ])
    .ambiguous();
    // The same claim the proxy makes changes nothing.
    caddy(&[("X-Original-Method", "DELETE")]).forbidden(Some("cases:delete"));
    // A read through a path the token may read, claimed for a module it may not.
    let read = |extra: &[(&str, &str)]| {
        let mut headers = vec![
            ("Authorization", bearer.as_str()),
            ("X-Forwarded-Method", "GET"),
            ("X-Forwarded-Uri", "/api/invoices/3"),
        ];
        headers.extend_from_slice(extra);
        get(server.addr, "/auth", &headers)
    };
    read(&[]).forbidden(Some("invoices:read"));
    read(&[("X-Original-URI", "/api/cases/3")]).ambiguous();
    assert!(server.terminate().0.success());
}

#[test]
fn ipv6_peers() {
    if TcpListener::bind("[::1]:0").is_err() {
        eprintln!("notice: no IPv6 loopback here; skipping the IPv6 test");
        return;
    }
    let env = TestEnv::new();
    let made = env.create("v6", &["cases:read"], &["--allow-ip", "::1"]);
    let server = Server::start_on(&env, "[::1]:0", &["--trust-proxy", "192.0.2.1"]);
    assert!(server.addr.is_ipv6());
    auth(server.addr, &made.secret, "GET", "/api/cases/1").expect(200);
    assert!(server.terminate().0.success());
    assert_eq!(env.show(&made.id)["last_used_ip"], "::1");
}

#[test]
fn start_up_errors_come_before_listening() {
    let env = TestEnv::sqlite();
    let run = |args: &[&str]| {
        let out = tokenctl(&env)
            .arg("serve")
            .args(["--listen", "127.0.0.1:0"])
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("run");
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(!stderr.contains("listening on"), "{stderr}");
        (out.status.code(), stderr)
    };
    // No database: fail closed, never create one.
    let (code, stderr) = run(&[]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("does not exist"), "{stderr}");
    assert!(!env.db().exists());

    env.create("someone", &["cases:read"], &[]);
    let rules = env.dir().join("rules.toml");
    for (text, wanted) in [
        (
            "[[rule]]\nmethods = [\"GET\"]\npath = \"/api/x/**\"\nscope = \"x:reed\"\n",
            "line 4: access 'reed' is not one of read, write, delete",
        ),
        ("\n[[rule]\n", "line 2:"),
        (
            "[[rule]]\nscope = \"x:read\"\n",
            "line 1: a rule needs 'prefix'",
        ),
        (
            "[[rule]]\npath = \"/x\"\nscope = \"x:read\"\nmethod = [\"GET\"]\n",
            "line 4: unknown field `method`",
        ),
    ] {
        std::fs::write(&rules, text).unwrap();
        let (code, stderr) = run(&["--rules", rules.to_str().unwrap()]);
        assert_eq!(code, Some(2), "{stderr}");
        assert!(stderr.contains(wanted), "wanted {wanted:?} in {stderr}");
    }
    let (code, stderr) = run(&["--rules", "/nonexistent/rules.toml"]);
    assert_eq!(code, Some(2), "{stderr}");
    let (code, stderr) = run(&["--trust-proxy", "10.0.0.1/8"]);
    assert_eq!(code, Some(2), "{stderr}");
}

#[test]
fn rules_file_decides_scopes() {
    let env = TestEnv::new();
    let docs = env.create("documents", &["documents:read"], &[]);
    let cases = env.create("cases", &["cases:read"], &[]);
    let rules = env.dir().join("rules.toml");
    std::fs::write(
        &rules,
        "[[rule]]\nmethods = [\"GET\"]\npath = \"/api/cases/*/documents/**\"\nscope = \"documents:read\"\n",
    )
    .unwrap();
    let server = Server::start(&env, &["--rules", rules.to_str().unwrap()]);
    let a = server.addr;
    auth(a, &docs.secret, "GET", "/api/cases/7/documents/2").expect(200);
    auth(a, &cases.secret, "GET", "/api/cases/7/documents/2").forbidden(Some("documents:read"));
    // Unmapped, and no fallback: denied even for the module's own token.
    auth(a, &cases.secret, "GET", "/api/cases/7").forbidden(None);
    auth(a, "garbage", "GET", "/api/cases/7").unauthorized();
}

/// Answered requests, by status, of a load generator.
#[derive(Default)]
struct Tally {
    allowed: AtomicU64,
    denied: AtomicU64,
}

#[test]
fn sigterm_under_load_records_every_answered_request() {
    let env = TestEnv::new();
    let made = env.create("busy", &["cases:read"], &[]);
    let server = Server::start(&env, &[]);
    let addr = server.addr;
    let tally = Arc::new(Tally::default());
    let stop = Arc::new(AtomicBool::new(false));
    let workers: Vec<_> = (0..4)
        .map(|w| {
            let (tally, stop, secret) =
                (Arc::clone(&tally), Arc::clone(&stop), made.secret.clone());
            std::thread::spawn(move || {
                let mut i = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    i += 1;
                    // Every third request asks to write: answered 403, recorded denied.
                    let method = if (i + w).is_multiple_of(3) {
                        "POST"
                    } else {
                        "GET"
                    };
                    let bearer = format!("Bearer {secret}");
                    let req = request(
                        "GET",
                        "/auth",
                        &[
                            ("Authorization", &bearer),
                            ("X-Original-Method", method),
                            ("X-Original-URI", "/api/cases/1"),
                        ],
                    );
                    match exchange(addr, &req) {
                        Some(r) if r.status == 200 => tally.allowed.fetch_add(1, Ordering::SeqCst),
                        Some(r) if r.status == 403 => tally.denied.fetch_add(1, Ordering::SeqCst),
                        Some(r) => panic!("unexpected reply {r:?}"),
                        // Refused or closed unanswered: the server is going away.
                        None => break,
                    };
                }
            })
        })
        .collect();
    let answered = || tally.allowed.load(Ordering::SeqCst) + tally.denied.load(Ordering::SeqCst);
    let started = Instant::now();
    while answered() < 400 {
        assert!(started.elapsed() < PATIENCE, "no load");
        std::thread::sleep(Duration::from_millis(5));
    }
    let (status, log) = server.terminate();
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        w.join().expect("worker");
    }
    assert!(status.success(), "exit {status:?}\n{log}");
    assert!(log.contains("SIGTERM"), "{log}");
    let usage = &env.show(&made.id)["usage"];
    assert_eq!(
        (usage["allowed_30d"].as_u64(), usage["denied_30d"].as_u64()),
        (
            Some(tally.allowed.load(Ordering::SeqCst)),
            Some(tally.denied.load(Ordering::SeqCst))
        ),
        "{log}"
    );
}

// ---- nginx ----

/// The nginx binary, or `None` (with a notice) when it is not installed. With CI=true
/// a missing nginx fails the test instead.
pub(crate) fn nginx() -> Option<PathBuf> {
    let found = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .chain(["/usr/sbin".into(), "/usr/local/sbin".into()])
        .map(|d| d.join("nginx"))
        .find(|p| p.is_file());
    if found.is_none() {
        assert_ne!(
            std::env::var("CI").as_deref(),
            Ok("true"),
            "nginx is not installed, and CI=true requires the nginx tests (apt-get install nginx-light)"
        );
        eprintln!("notice: nginx is not installed; skipping the nginx forward-auth test");
    }
    found
}

/// The first `lang` code block after `heading` in README.md, verbatim.
pub(crate) fn readme_block(heading: &str, lang: &str) -> String {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"))
        .expect("README.md");
    let section = readme
        .split_once(heading)
        .unwrap_or_else(|| panic!("README section {heading:?}"))
        .1;
    let block = section
        .split_once(&format!("```{lang}\n"))
        .unwrap_or_else(|| panic!("a {lang} block in the README section {heading:?}"))
        .1;
    block
        .split_once("```")
        .expect("end of the block")
        .0
        .to_string()
}

/// The README's nginx configuration, verbatim.
pub(crate) fn readme_nginx_config() -> String {
    readme_block("## Forward auth with serve", "nginx")
}

pub(crate) fn replace_once(text: &str, from: &str, to: &str) -> String {
    assert_eq!(text.matches(from).count(), 1, "{from:?} once in:\n{text}");
    text.replace(from, to)
}

pub(crate) fn free_port() -> u16 {
    let [port] = free_ports();
    port
}

/// `N` different free ports: each is held until all are chosen. (Ports chosen one after
/// the other may be the same one twice; nginx then serves two server blocks from one
/// socket, and the first answers for both.)
pub(crate) fn free_ports<const N: usize>() -> [u16; N] {
    let held: Vec<TcpListener> = (0..N)
        .map(|_| TcpListener::bind("127.0.0.1:0").expect("a free port"))
        .collect();
    std::array::from_fn(|i| held[i].local_addr().expect("a free port").port())
}

pub(crate) fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// nginx in the foreground with everything under `dir`, killed when dropped.
pub(crate) struct Nginx {
    child: Child,
    pub(crate) addr: SocketAddr,
    dir: PathBuf,
}

impl Nginx {
    /// nginx with `site` (the README's configuration), its application replaced by a
    /// server in nginx that shows what it was passed, or by `app` when given.
    pub(crate) fn start(binary: &Path, dir: &Path, site: &str, app: Option<SocketAddr>) -> Nginx {
        std::fs::create_dir_all(dir.join("logs")).unwrap();
        let [front, spare] = free_ports();
        let own_app = app.is_none();
        let app = app.map_or(spare, |a| a.port());
        let site = replace_once(site, "127.0.0.1:3000", &format!("127.0.0.1:{app}"));
        let site = replace_once(&site, "listen 80;", &format!("listen 127.0.0.1:{front};"));
        std::fs::write(dir.join("site.conf"), site).unwrap();
        let d = dir.display();
        let version = Command::new(binary).arg("-V").output().expect("nginx -V");
        let built = String::from_utf8_lossy(&version.stderr).into_owned();
        let temp_paths: String = ["client_body", "proxy", "fastcgi", "uwsgi", "scgi"]
            .iter()
            .filter(|m| {
                **m == "client_body" || !built.contains(&format!("--without-http_{m}_module"))
            })
            .map(|m| format!("    {m}_temp_path {d}/{m}_temp;\n"))
            .collect();
        let conf = format!(
            "{user}worker_processes 1;\npid {d}/nginx.pid;\nerror_log {d}/logs/error.log info;\n\
             events {{ worker_connections 128; }}\n\
             http {{\n    access_log {d}/logs/access.log;\n{temp_paths}\
             {app_server}    include {d}/site.conf;\n}}\n",
            user = if is_root() { "user root;\n" } else { "" },
            app_server = if own_app {
                format!(
                    "    # The application: shows what nginx passed on from tokenctl.\n\
                     \x20   server {{\n        listen 127.0.0.1:{app};\n        location / {{\n\
                     \x20           return 200 \"app saw name=[$http_x_token_name] id=[$http_x_token_id] scopes=[$http_x_token_scopes]\";\n\
                     \x20       }}\n    }}\n"
                )
            } else {
                String::new()
            },
        );
        std::fs::write(dir.join("nginx.conf"), conf).unwrap();
        let mut child = Command::new(binary)
            .arg("-p")
            .arg(dir)
            .arg("-c")
            .arg(dir.join("nginx.conf"))
            .arg("-e")
            .arg(dir.join("logs/error.log"))
            .args(["-g", "daemon off;"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start nginx");
        let addr: SocketAddr = format!("127.0.0.1:{front}").parse().unwrap();
        let started = Instant::now();
        while TcpStream::connect(addr).is_err() {
            if let Some(status) = child.try_wait().unwrap() {
                let mut err = String::new();
                let _ = child.stderr.take().unwrap().read_to_string(&mut err);
                let log = std::fs::read_to_string(dir.join("logs/error.log")).unwrap_or_default();
                panic!("nginx exited ({status}):\n{err}\n{log}");
            }
            assert!(started.elapsed() < PATIENCE, "nginx did not start");
            std::thread::sleep(Duration::from_millis(10));
        }
        Nginx {
            child,
            addr,
            dir: dir.to_path_buf(),
        }
    }

    pub(crate) fn error_log(&self) -> String {
        std::fs::read_to_string(self.dir.join("logs/error.log")).unwrap_or_default()
    }
}

impl Drop for Nginx {
    /// SIGTERM, not SIGKILL: only the master can stop its workers, which would
    /// otherwise outlive the test.
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let started = Instant::now();
        while started.elapsed() < PATIENCE {
            if !matches!(self.child.try_wait(), Ok(None)) {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn behind_nginx_auth_request_as_in_the_readme() {
    let Some(binary) = nginx() else { return };
    let env = TestEnv::new();
    let reader = env.create("Mailchimp sync", &["cases:read"], &[]);
    let revoked = env.create("revoked", &["cases:read"], &[]);
    revoke(&env, &revoked.id);
    let test_env = env.create("staging", &["cases:read"], &["--env", "test"]);
    let office = env.create("office", &["cases:read"], &["--allow-ip", "203.0.113.0/24"]);
    let writer = env.create("writer", &["cases:write"], &[]);
    let expired = create_expired(&env, "old");

    let server = Server::start(&env, &[]);
    let site = replace_once(
        &readme_nginx_config(),
        "127.0.0.1:8457",
        &server.addr.to_string(),
    );
    let proxy = Nginx::start(&binary, &env.dir().join("nginx"), &site, None);
    let call = |method: &str, path: &str, token: Option<&Made>, extra: &[(&str, &str)]| {
        let bearer = token.map(|t| format!("Bearer {}", t.secret));
        let mut headers: Vec<(&str, &str)> = extra.to_vec();
        if let Some(b) = &bearer {
            headers.push(("Authorization", b));
        }
        exchange(proxy.addr, &request(method, path, &headers)).expect("a reply from nginx")
    };

    // Allowed: the application is reached and sees the token's name, not the client's.
    let ok = call(
        "GET",
        "/api/cases/12",
        Some(&reader),
        &[("X-Token-Name", "forged")],
    )
    .expect(200);
    assert_eq!(
        ok.body,
        format!(
            "app saw name=[Mailchimp sync] id=[{}] scopes=[cases:read]",
            reader.id
        ),
        "{}",
        proxy.error_log()
    );
    call("POST", "/api/cases/12", Some(&writer), &[]).expect(200);

    // 401 with the challenge: no token, garbage, another scheme, revoked, expired.
    call("GET", "/api/cases/12", None, &[]).no_token();
    call(
        "GET",
        "/api/cases/12",
        None,
        &[("Authorization", "Bearer garbage")],
    )
    .unauthorized();
    call(
        "GET",
        "/api/cases/12",
        None,
        &[("Authorization", "Basic dXNlcjpwYXNz")],
    )
    .no_token();
    call("GET", "/api/cases/12", Some(&revoked), &[]).unauthorized();
    call("GET", "/api/cases/12", Some(&expired), &[]).unauthorized();

    // 403, with the scope needed: write with a read token, another module, a test token
    // on a live server, a client outside the allow list (whatever it claims).
    call("PUT", "/api/cases/12", Some(&reader), &[]).forbidden(Some("cases:write"));
    call("GET", "/api/invoices/1", Some(&reader), &[]).forbidden(Some("invoices:read"));
    call("GET", "/api/cases/12", Some(&test_env), &[])
        .refused("the token is for another environment");
    call(
        "GET",
        "/api/cases/12",
        Some(&office),
        &[
            ("X-Real-IP", "203.0.113.9"),
            ("X-Forwarded-For", "203.0.113.9"),
        ],
    )
    .refused("the token may not be used from this client address");

    let log = server.stderr();
    assert!(!log.contains(&reader.secret), "{log}");
    drop(proxy);
    let (status, log) = server.terminate();
    assert!(status.success(), "{log}");
    let usage = &env.show(&reader.id)["usage"];
    assert_eq!(usage["allowed_30d"], 1, "{usage}");
    assert_eq!(usage["denied_30d"], 2, "{usage}");
    let ips = &usage["ips"];
    assert_eq!(ips[0]["ip"], "127.0.0.1", "{ips}");
}

/// The help's curl examples read the token from a file or a pipe (a header, or
/// `/revoke`'s form field): on curl's command line, `ps` would show it to every user.
#[test]
fn help_keeps_tokens_off_curl_command_lines() {
    let env = TestEnv::new();
    let help = env.run(&["serve", "--help"]).success().stdout;
    let mut curls = 0;
    for line in help.lines().filter(|l| l.contains("curl -")) {
        curls += 1;
        assert!(
            !line.contains("$TOKEN") && !line.contains("Bearer"),
            "{line}"
        );
        assert!(
            line.contains("-H @") || line.contains("--data-urlencode token@"),
            "{line}"
        );
    }
    assert!(curls >= 2, "{help}");
}

/// Copies of a header the decision depends on must agree: two client addresses, or a
/// method override that asks for more than the method, are denied as ambiguous.
#[test]
fn disagreeing_addresses_and_overrides_are_ambiguous() {
    let env = TestEnv::new();
    let reader = env.create("reader", &["cases:read"], &[]);
    let server = Server::start(&env, &[]);
    let bearer = format!("Bearer {}", reader.secret);
    let ask_for = |uri: &str, extra: &[(&str, &str)]| {
        let mut headers = vec![
            ("Authorization", bearer.as_str()),
            ("X-Original-Method", "GET"),
            ("X-Original-URI", uri),
        ];
        headers.extend_from_slice(extra);
        get(server.addr, "/auth", &headers)
    };
    let ask = |extra: &[(&str, &str)]| ask_for("/api/cases/1", extra);
    ask(&[("X-Real-IP", "203.0.113.7"), ("X-Real-IP", "203.0.113.7")]).expect(200);
    ask(&[("X-Real-IP", "203.0.113.7"), ("X-Real-IP", "198.51.100.1")]).ambiguous();
    ask(&[("X-HTTP-Method-Override", "HEAD")]).expect(200);
    ask(&[("X-HTTP-Method-Override", "DELETE")]).ambiguous();
    ask(&[("X-Method-Override", "put")]).ambiguous();
    ask(&[("X-HTTP-Method", "PATCH")]).ambiguous();
    ask_for("/api/cases/1?_method=DELETE", &[]).ambiguous();
    ask_for("/api/cases/1?_method=GET", &[]).expect(200);
    let metrics = get(server.addr, "/metrics", &[]).body;
    for line in [
        "tokenctl_serve_ambiguous_requests_total{kind=\"conflicting_headers\"} 1",
        "tokenctl_serve_ambiguous_requests_total{kind=\"method_override\"} 4",
    ] {
        assert!(
            metrics.lines().any(|l| l == line),
            "{line} missing:\n{metrics}"
        );
    }
}
