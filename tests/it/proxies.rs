//! `serve` behind a real nginx and a real Caddy, each configured exactly as the README
//! says, in front of an upstream that routes on the raw request target, as Flask,
//! Express or Go would: a client holding a `cases:read` token tries to reach another
//! module through every spelling two readers of a path can disagree on.
//!
//! The upstream records each request target it receives and reads it the ways real
//! servers do (raw; percent-decoded once or twice; dot segments resolved after decoding,
//! as Werkzeug and nginx do; `//` merged first, as Go's `path.Clean`; `;params` dropped,
//! as Tomcat; `\` as `/` with trailing dots stripped, as IIS; NFKC-normalised; the
//! fragment kept or cut; case-insensitively, as Express). Every request that reaches it
//! must be routed to `cases` under every reading, and carry tokenctl's `X-Token-*`
//! values, never the client's forged ones.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use percent_encoding::percent_decode_str;
use unicode_normalization::UnicodeNormalization as _;

use crate::common::{Made, TestEnv};
use crate::serve::{
    Nginx, PATIENCE, Reply, Server, exchange, free_port, get, nginx, readme_nginx_config,
    replace_once,
};

/// One request the upstream received: its raw target and the headers it was given.
#[derive(Debug, Clone)]
struct Received {
    target: String,
    headers: Vec<(String, String)>,
}

impl Received {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// The application behind the proxy: answers 200 to anything and remembers it.
struct Upstream {
    addr: SocketAddr,
    received: Arc<Mutex<Vec<Received>>>,
}

impl Upstream {
    fn start() -> Upstream {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the upstream");
        let addr = listener.local_addr().unwrap();
        let received = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::clone(&received);
        // Ends with the test process.
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let log = Arc::clone(&log);
                std::thread::spawn(move || answer(stream, &log));
            }
        });
        Upstream { addr, received }
    }

    fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }
}

/// Reads request heads (bodies are not sent here) and answers each; a keep-alive proxy
/// may send several on one connection.
fn answer(mut stream: TcpStream, log: &Mutex<Vec<Received>>) {
    let _ = stream.set_read_timeout(Some(PATIENCE));
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        while let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).into_owned();
            buf.drain(..end + 4);
            let mut lines = head.split("\r\n");
            let target = lines
                .next()
                .and_then(|l| l.split(' ').nth(1))
                .unwrap_or_default()
                .to_string();
            let headers = lines
                .filter_map(|l| l.split_once(':'))
                .map(|(n, v)| (n.trim().to_string(), v.trim().to_string()))
                .collect();
            log.lock().unwrap().push(Received { target, headers });
            let body = "routed";
            let reply = format!(
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nContent-Type: text/plain\r\n\r\n{body}",
                body.len()
            );
            if stream.write_all(reply.as_bytes()).is_err() {
                return;
            }
        }
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

/// The module each common reader of `target` routes it to, by reader.
fn modules(target: &str) -> Vec<(&'static str, String)> {
    // An absolute-form target: the path starts after the authority.
    let target = match target.split_once("://") {
        Some((_, rest)) => &rest[rest.find('/').unwrap_or(rest.len())..],
        None => target,
    };
    let path = target.split('?').next().unwrap_or_default();
    let no_fragment = path.split('#').next().unwrap_or_default();
    let decode = |s: &str| percent_decode_str(s).decode_utf8_lossy().into_owned();
    let once = decode(path);
    let twice = decode(&once);
    let tomcat: String = no_fragment
        .split('/')
        .map(|s| decode(s.split(';').next().unwrap_or_default()))
        .collect::<Vec<_>>()
        .join("/");
    let iis: String = decode(&no_fragment.replace('\\', "/"))
        .replace('\\', "/")
        .split('/')
        .map(|s| s.trim_end_matches(['.', ' ']))
        .map(|s| if s.is_empty() { "" } else { s })
        .collect::<Vec<_>>()
        .join("/");
    let readings: Vec<(&'static str, String)> = vec![
        ("raw", path.to_string()),
        ("raw, fragment cut", no_fragment.to_string()),
        ("decoded", once.clone()),
        ("decoded twice", twice.clone()),
        (
            "decoded, dots resolved (Werkzeug, nginx)",
            resolve(&once, false),
        ),
        ("decoded twice, dots resolved", resolve(&twice, false)),
        ("raw, dots resolved", resolve(path, false)),
        (
            "fragment cut, decoded, dots resolved",
            resolve(&decode(no_fragment), false),
        ),
        (
            "decoded, // merged, dots resolved (Go)",
            resolve(&once, true),
        ),
        (
            "params dropped, dots resolved (Tomcat)",
            resolve(&tomcat, false),
        ),
        (
            "backslash as slash, dots stripped (IIS)",
            resolve(&iis, true),
        ),
        (
            "NFKC, dots resolved",
            resolve(&once.nfkc().collect::<String>(), false),
        ),
        ("case-insensitive (Express)", path.to_lowercase()),
        (
            "case-insensitive, decoded, dots resolved",
            resolve(&once.to_lowercase(), false),
        ),
    ];
    readings
        .into_iter()
        .map(|(reader, p)| {
            let mut segments = p.split('/').skip(1);
            let first = segments.next().unwrap_or_default();
            let module = if first == "api" {
                segments.next().unwrap_or_default().to_string()
            } else {
                format!("(not /api: {first:?})")
            };
            (reader, module)
        })
        .collect()
}

/// RFC 3986 dot-segment removal; `merge` drops empty segments first (Go's path.Clean).
fn resolve(path: &str, merge: bool) -> String {
    let mut out: Vec<&str> = Vec::new();
    for segment in path.split('/').skip(1) {
        match segment {
            "." => {}
            ".." => {
                out.pop();
            }
            "" if merge => {}
            s => out.push(s),
        }
    }
    format!("/{}", out.join("/"))
}

/// A request to try through a proxy: what the client sends, and whether it may pass.
struct Vector {
    target: &'static str,
    headers: &'static [(&'static str, &'static str)],
    /// Reaches the upstream (200). Otherwise it must not reach it.
    passes: bool,
}

const fn v(target: &'static str) -> Vector {
    Vector {
        target,
        headers: &[],
        passes: false,
    }
}

/// Spellings of a request for another module, written so that some reader routes it to
/// `invoices` (or, in the other direction, that `serve` once read as `invoices` while a
/// raw reader saw `cases`), and requests that ask for more than the method.
const VECTORS: &[Vector] = &[
    Vector {
        passes: true,
        ..v("/api/cases/1")
    },
    Vector {
        passes: true,
        ..v("/api/cases/1?next=/../../invoices/1")
    },
    Vector {
        passes: true,
        ..v("/api/cases/AbC-9.json")
    },
    Vector {
        headers: &[("X-HTTP-Method-Override", "GET")],
        passes: true,
        ..v("/api/cases/1")
    },
    v("/api/invoices/1"),
    v("/api/invoices/../cases/1"),
    v("/api/cases/../invoices/1"),
    v("/api/invoices/%2e%2e/cases/1"),
    v("/api/invoices/%2E%2E/cases/1"),
    v("/api/invoices/.%2e/cases/1"),
    v("/api/invoices/%2e./cases/1"),
    v("/api/cases/%2e%2e/invoices/1"),
    v("/api/invoices%2F..%2Fcases/1"),
    v("/api/invoices%2f..%2fcases/1"),
    v("/api/cases%2f..%2finvoices/1"),
    v("/api/invoices/%252e%252e/cases/1"),
    v("/api/cases/%252e%252e/invoices/1"),
    v("/api/invoices/%c0%ae%c0%ae/cases/1"),
    v("/api/cases/%c0%ae%c0%ae/invoices/1"),
    v("/api/cases/%e0%80%ae%e0%80%ae/invoices/1"),
    v("/api/invoices\\..\\cases/1"),
    v("/api/cases\\..\\invoices/1"),
    v("/api/cases%5c..%5cinvoices/1"),
    v("/api/cases/..;/invoices/1"),
    v("/api/cases;x=/../invoices/1"),
    v("/api/cases;jsessionid=1/../../api/invoices/1"),
    v("/api/cases/1#/../../invoices/1"),
    v("/api/cases//../invoices/1"),
    v("//api/cases/../invoices/1"),
    v("/api/cases/.../invoices/1"),
    v("/api/cases/..%20/invoices/1"),
    v("/api/cases/%ef%bc%8e%ef%bc%8e/invoices/1"),
    v("/api/cases%ef%bc%8f..%ef%bc%8finvoices/1"),
    v("/api/cases/%2e%2e%2finvoices/1"),
    v("/api/cases/..%2finvoices/1"),
    v("/api/cases/%u002e%u002e/invoices/1"),
    v("/api/%69nvoices/1"),
    v("/api/INVOICES/1"),
    v("/api/Cases/1"),
    v("/api/cases/1%00/../../invoices/1"),
    v("/api/cases/1%0d%0a/../../invoices/1"),
    v("/api/cases+/1"),
    v("http://evil.example/api/invoices/1"),
    Vector {
        headers: &[("X-HTTP-Method-Override", "DELETE")],
        ..v("/api/cases/1")
    },
    Vector {
        headers: &[("X-Method-Override", "PUT")],
        ..v("/api/cases/1")
    },
    Vector {
        headers: &[("X-HTTP-Method", "delete")],
        ..v("/api/cases/1")
    },
    v("/api/cases/1?_method=DELETE"),
    Vector {
        headers: &[("X-Original-URI", "/api/cases/1")],
        ..v("/api/invoices/1")
    },
    Vector {
        headers: &[("X-Forwarded-Uri", "/api/cases/1")],
        ..v("/api/invoices/1")
    },
    // Each proxy replaces one of these with the real method and passes the other on.
    Vector {
        headers: &[
            ("X-Original-Method", "DELETE"),
            ("X-Forwarded-Method", "DELETE"),
        ],
        ..v("/api/cases/1")
    },
];

/// Sends every vector through `proxy` with the cases:read token and forged `X-Token-*`
/// headers; checks what came back and what the upstream saw. Returns how many passed.
fn sweep(
    proxy: SocketAddr,
    host: &str,
    token: &Made,
    upstream: &Upstream,
    log: &dyn Fn() -> String,
) -> usize {
    let bearer = format!("Bearer {}", token.secret);
    let mut passed = 0;
    for vector in VECTORS {
        let before = upstream.received().len();
        let mut head = format!(
            "GET {} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\nAuthorization: {bearer}\r\n\
             X-Token-Id: forged\r\nX-Token-Name: forged\r\nX-Token-Scopes: *:delete\r\n\
             X-Real-IP: 203.0.113.9\r\nX-Forwarded-For: 203.0.113.9\r\n",
            vector.target
        );
        // A POST for the method-override vectors' sake would carry the same headers;
        // GET keeps the upstream's reading simple.
        for (name, value) in vector.headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        head.push_str("\r\n");
        let reply = exchange(proxy, head.as_bytes());
        let status = reply.as_ref().map_or(0, |r| r.status);
        let reached = upstream.received().len() - before;
        if vector.passes {
            assert_eq!(
                (status, reached),
                (200, 1),
                "{} {:?} should pass: {reply:?}\n{}",
                vector.target,
                vector.headers,
                log()
            );
            passed += 1;
        } else {
            // (Caddy answers an empty 200 for a host it does not serve: the absolute-form
            // vector; what counts is that the application never saw the request.)
            let answered_by_app = reply.as_ref().is_some_and(|r| r.body == "routed");
            assert!(
                reached == 0 && !answered_by_app,
                "{} {:?} reached the application ({status}): {reply:?}\n{}",
                vector.target,
                vector.headers,
                log()
            );
        }
    }
    for seen in upstream.received() {
        for (reader, module) in modules(&seen.target) {
            assert_eq!(
                module.to_lowercase(),
                "cases",
                "{:?} reached the application, and {reader} routes it to {module:?}",
                seen.target
            );
        }
        assert_eq!(
            seen.header("x-token-id"),
            Some(token.id.as_str()),
            "{seen:?}"
        );
        assert_eq!(
            seen.header("x-token-scopes"),
            Some("cases:read"),
            "{seen:?}"
        );
        assert_eq!(
            seen.header("x-token-name"),
            Some("cases reader"),
            "{seen:?}"
        );
    }
    passed
}

/// What `serve`'s metrics say about ambiguous requests, summed.
fn ambiguous_counted(server: &Server) -> f64 {
    get(server.addr, "/metrics", &[])
        .body
        .lines()
        .filter(|l| l.starts_with("tokenctl_serve_ambiguous_requests_total{"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// `GET path` through a proxy for `host`, with an `Authorization` header if given.
fn call(proxy: SocketAddr, host: &str, path: &str, authorization: Option<&str>) -> Reply {
    let mut head = format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n");
    if let Some(a) = authorization {
        head.push_str(&format!("Authorization: {a}\r\n"));
    }
    head.push_str("\r\n");
    exchange(proxy, head.as_bytes()).expect("a reply from the proxy")
}

/// 401 and 403 come through the proxy with tokenctl's challenge.
fn challenges_pass_through(call: &dyn Fn(&str, Option<&str>) -> Reply) {
    let no_token = call("/api/cases/1", None).expect(401);
    assert_eq!(
        no_token.header("www-authenticate"),
        Some("Bearer"),
        "{no_token:?}"
    );
    let garbage = call("/api/cases/1", Some("Bearer garbage")).expect(401);
    assert_eq!(
        garbage.header("www-authenticate"),
        Some("Bearer error=\"invalid_token\""),
        "{garbage:?}"
    );
}

#[test]
fn path_vectors_behind_nginx_as_in_the_readme() {
    let Some(binary) = nginx() else { return };
    let env = TestEnv::new();
    let token = env.create("cases reader", &["cases:read"], &[]);
    let server = Server::start(&env, &[]);
    let upstream = Upstream::start();
    let site = replace_once(
        &readme_nginx_config(),
        "127.0.0.1:8457",
        &server.addr.to_string(),
    );
    let proxy = Nginx::start(
        &binary,
        &env.dir().join("nginx"),
        &site,
        Some(upstream.addr),
    );
    let log = || format!("nginx:\n{}\nserve:\n{}", proxy.error_log(), server.stderr());
    let passed = sweep(proxy.addr, "api.example.com", &token, &upstream, &log);
    assert_eq!(passed, 4);
    assert!(
        ambiguous_counted(&server) >= 30.0,
        "{}",
        get(server.addr, "/metrics", &[]).body
    );
    challenges_pass_through(&|path, auth| call(proxy.addr, "api.example.com", path, auth));
    let bearer = format!("Bearer {}", token.secret);
    let denied = call(
        proxy.addr,
        "api.example.com",
        "/api/invoices/1",
        Some(&bearer),
    )
    .expect(403);
    assert_eq!(
        denied.header("www-authenticate"),
        Some("Bearer error=\"insufficient_scope\", scope=\"invoices:read\"")
    );
    assert!(!server.stderr().contains(&token.secret));
    assert!(server.terminate().0.success());
    let shown = env.show(&token.id);
    assert_eq!(shown["last_used_ip"], "127.0.0.1", "{shown}");
}

/// The largest token `create` allows (50 grants with 32-letter modules, a name of 100
/// four-byte characters, percent-encoded in `X-Token-Name`) passes through nginx: the
/// headers `serve` answers with fit nginx's default 4 KiB `proxy_buffer_size`, which a
/// token of 10,000 grants outgrew (nginx answered 500).
#[test]
fn the_largest_token_fits_nginx_buffers() {
    let Some(binary) = nginx() else { return };
    let env = TestEnv::new();
    let modules: Vec<String> = (0..50).map(|i| format!("m{i:0>31}")).collect();
    let grants: Vec<String> = modules.iter().map(|m| format!("{m}:delete")).collect();
    let grants: Vec<&str> = grants.iter().map(String::as_str).collect();
    let name = "\u{1f600}".repeat(100);
    let token = env.create(&name, &grants, &[]);
    let server = Server::start(&env, &[]);
    let upstream = Upstream::start();
    let site = replace_once(
        &readme_nginx_config(),
        "127.0.0.1:8457",
        &server.addr.to_string(),
    );
    let proxy = Nginx::start(
        &binary,
        &env.dir().join("nginx"),
        &site,
        Some(upstream.addr),
    );
    let bearer = format!("Bearer {}", token.secret);
    let path = format!("/api/{}/1", modules[49]);
    let reply = call(proxy.addr, "api.example.com", &path, Some(&bearer));
    assert_eq!(
        reply.status,
        200,
        "{reply:?}\nnginx:\n{}",
        proxy.error_log()
    );
    let got = upstream.received();
    let last = got.last().expect("the upstream was reached");
    let scopes = last.header("x-token-scopes").unwrap_or_default();
    assert_eq!(scopes.split(' ').count(), 50, "{scopes}");
    let sent_name = last.header("x-token-name").unwrap_or_default();
    assert_eq!(
        percent_decode_str(sent_name).decode_utf8().unwrap(),
        name.as_str()
    );
    assert!(server.terminate().0.success());
}

// ---- Caddy ----

/// The caddy binary, or `None` with a notice (a failure with CI=true).
fn caddy() -> Option<PathBuf> {
    if !crate::tools::available("caddy", "proxies::caddy") {
        return None;
    }
    std::env::var_os("PATH").and_then(|p| {
        std::env::split_paths(&p)
            .map(|d| d.join("caddy"))
            .find(|p| p.is_file())
    })
}

/// The README's Caddy configuration, verbatim.
fn readme_caddy_config() -> String {
    crate::serve::readme_block("### Caddy\n", "caddy")
}

/// Caddy in the foreground with its state under `dir`, killed when dropped.
struct Caddy {
    child: Child,
    addr: SocketAddr,
    log: PathBuf,
}

impl Caddy {
    fn start(binary: &std::path::Path, dir: &std::path::Path, site: &str) -> Caddy {
        std::fs::create_dir_all(dir).unwrap();
        let port = free_port();
        // Plain HTTP on loopback: the site's name with a port, and a bind address.
        let site = replace_once(
            site,
            "api.example.com {\n",
            &format!("http://api.example.com:{port} {{\n    bind 127.0.0.1\n"),
        );
        let config = format!("{{\n    admin off\n}}\n\n{site}");
        let file = dir.join("Caddyfile");
        std::fs::write(&file, config).unwrap();
        let log = dir.join("caddy.log");
        let mut child = Command::new(binary)
            .args(["run", "--adapter", "caddyfile", "--config"])
            .arg(&file)
            .env_clear()
            .env("HOME", dir)
            .env("XDG_DATA_HOME", dir.join("data"))
            .env("XDG_CONFIG_HOME", dir.join("config"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("start caddy");
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let started = Instant::now();
        while TcpStream::connect(addr).is_err() {
            if let Some(status) = child.try_wait().unwrap() {
                panic!(
                    "caddy exited ({status}):\n{}",
                    std::fs::read_to_string(&log).unwrap_or_default()
                );
            }
            assert!(started.elapsed() < PATIENCE, "caddy did not start");
            std::thread::sleep(Duration::from_millis(10));
        }
        Caddy { child, addr, log }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Caddy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn behind_caddy_forward_auth_as_in_the_readme() {
    let Some(binary) = caddy() else { return };
    let env = TestEnv::new();
    let token = env.create("cases reader", &["cases:read"], &[]);
    let test_env = env.create("staging", &["cases:read"], &["--env", "test"]);
    let server = Server::start(&env, &[]);
    let upstream = Upstream::start();
    let site = replace_once(
        &readme_caddy_config(),
        "127.0.0.1:8457",
        &server.addr.to_string(),
    );
    let site = replace_once(&site, "127.0.0.1:3000", &upstream.addr.to_string());
    let proxy = Caddy::start(&binary, &env.dir().join("caddy"), &site);
    let host = format!("api.example.com:{}", proxy.addr.port());
    let log = || format!("caddy:\n{}\nserve:\n{}", proxy.log(), server.stderr());

    // The upstream gets tokenctl's X-Token-* values, never the client's (see `sweep`).
    let passed = sweep(proxy.addr, &host, &token, &upstream, &log);
    assert_eq!(passed, 4);
    assert!(
        ambiguous_counted(&server) >= 30.0,
        "{}",
        get(server.addr, "/metrics", &[]).body
    );

    // 401 and 403 pass through, with their challenges.
    let call = |path: &str, auth: Option<&str>| call(proxy.addr, &host, path, auth);
    challenges_pass_through(&call);
    let bearer = format!("Bearer {}", token.secret);
    let denied = call("/api/invoices/1", Some(&bearer)).expect(403);
    assert_eq!(
        denied.header("www-authenticate"),
        Some("Bearer error=\"insufficient_scope\", scope=\"invoices:read\""),
        "{denied:?}"
    );
    let other_env = call("/api/cases/1", Some(&format!("Bearer {}", test_env.secret))).expect(403);
    assert_eq!(
        other_env.header("www-authenticate"),
        Some(
            "Bearer error=\"invalid_token\", error_description=\"the token is for another environment\""
        )
    );
    // A forged client address does not count: Caddy sets X-Real-IP itself.
    assert!(server.terminate().0.success());
    let shown = env.show(&token.id);
    assert_eq!(shown["last_used_ip"], "127.0.0.1", "{shown}");
}

// ---- Flask ----

/// A Flask application that answers with the module its router chose.
const FLASK_APP: &str = r#"
import sys
from flask import Flask

app = Flask(__name__)
METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]

@app.route("/api/<module>", methods=METHODS)
@app.route("/api/<module>/<path:rest>", methods=METHODS)
def handler(module, rest=""):
    return "module=" + module

app.run(host="127.0.0.1", port=int(sys.argv[1]))
"#;

/// Whether python3 can import flask: a notice and false when not (a failure with
/// CI=true, where .ci/run installs python3-flask).
fn flask_available() -> bool {
    let found = Command::new("python3")
        .args(["-c", "import flask"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !found {
        assert_ne!(
            std::env::var("CI").as_deref(),
            Ok("true"),
            "python3 cannot import flask, and CI must run this test (see .ci/run)"
        );
        eprintln!("note: skipping proxies::flask: python3 cannot import flask");
    }
    found
}

/// The same vectors through the README's nginx to a real Flask application: every
/// answer from Flask names `cases`.
#[test]
fn path_vectors_behind_nginx_reach_flask_only_as_cases() {
    let Some(binary) = nginx() else { return };
    if !flask_available() {
        return;
    }
    let env = TestEnv::new();
    let token = env.create("cases reader", &["cases:read"], &[]);
    let server = Server::start(&env, &[]);
    let script = env.dir().join("app.py");
    std::fs::write(&script, FLASK_APP).unwrap();
    let port = free_port();
    let log = env.dir().join("flask.log");
    let mut flask = KillOnDrop(
        Command::new("python3")
            .arg(&script)
            .arg(port.to_string())
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&log).unwrap())
            .stderr(std::fs::File::create(env.dir().join("flask.err")).unwrap())
            .spawn()
            .expect("start flask"),
    );
    let app: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let started = Instant::now();
    while TcpStream::connect(app).is_err() {
        if let Some(status) = flask.0.try_wait().unwrap() {
            panic!(
                "flask exited ({status}): {}",
                std::fs::read_to_string(env.dir().join("flask.err")).unwrap_or_default()
            );
        }
        assert!(started.elapsed() < PATIENCE, "flask did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    let site = replace_once(
        &readme_nginx_config(),
        "127.0.0.1:8457",
        &server.addr.to_string(),
    );
    let proxy = Nginx::start(&binary, &env.dir().join("nginx"), &site, Some(app));
    let bearer = format!("Bearer {}", token.secret);
    let mut routed = 0;
    for vector in VECTORS {
        let mut head = format!(
            "GET {} HTTP/1.1\r\nHost: api.example.com\r\nConnection: close\r\nAuthorization: {bearer}\r\n",
            vector.target
        );
        for (name, value) in vector.headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        head.push_str("\r\n");
        let reply = exchange(proxy.addr, head.as_bytes());
        if let Some(module) = reply.as_ref().and_then(|r| r.body.strip_prefix("module=")) {
            assert_eq!(
                module, "cases",
                "{} reached Flask's {module}",
                vector.target
            );
            routed += 1;
        }
        assert_eq!(
            reply.as_ref().is_some_and(|r| r.status == 200),
            vector.passes,
            "{} {:?}: {reply:?}",
            vector.target,
            vector.headers
        );
    }
    assert_eq!(routed, 4);
}

/// A child process that a failing test does not leave behind.
struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Caddy's forward_auth passes tokenctl's 429 on as it is, with Retry-After and the
/// RateLimit fields (README, "Rate limits"); the upstream is not reached.
#[test]
fn behind_caddy_a_token_over_its_rate_limit_gets_429() {
    let Some(binary) = caddy() else { return };
    let env = TestEnv::new();
    let token = env.create("importer", &["cases:read"], &["--rate-limit", "2/h"]);
    let server = Server::start(&env, &[]);
    let upstream = Upstream::start();
    let site = replace_once(
        &readme_caddy_config(),
        "127.0.0.1:8457",
        &server.addr.to_string(),
    );
    let site = replace_once(&site, "127.0.0.1:3000", &upstream.addr.to_string());
    let proxy = Caddy::start(&binary, &env.dir().join("caddy"), &site);
    let host = format!("api.example.com:{}", proxy.addr.port());
    let call = || {
        let head = format!(
            "GET /api/cases/1 HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\
             Authorization: Bearer {}\r\n\r\n",
            token.secret
        );
        exchange(proxy.addr, head.as_bytes()).expect("a reply from caddy")
    };
    let statuses: Vec<u16> = (0..2).map(|_| call().status).collect();
    assert_eq!(statuses, [200, 200], "{}", proxy.log());
    let over = call().expect(429);
    assert_eq!(over.header("retry-after"), Some("1800"), "{over:?}");
    assert_eq!(
        over.header("ratelimit-policy"),
        Some("\"token\";q=2;w=3600"),
        "{over:?}"
    );
    assert_eq!(
        over.header("ratelimit"),
        Some("\"token\";r=0;t=3600"),
        "{over:?}"
    );
}
