//! `serve`'s OAuth endpoints over real HTTP: `/introspect` (RFC 7662) and `/revoke`
//! (RFC 7009), on the backend under test; hostile requests to both; and the `oauth2`
//! crate, a client no one here wrote, against them.
//!
//! Nothing waits for a fixed time: recorded uses are polled until they are committed.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::TestEnv;
use crate::serve::{
    Nginx, PATIENCE, Reply, Server, auth, create_expired, exchange, get, nginx,
    readme_nginx_config, replace_once,
};

/// `POST path` with these headers and body, `Content-Length` set.
fn post(addr: SocketAddr, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Reply {
    let mut r = format!(
        "POST {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (n, v) in headers {
        r.push_str(&format!("{n}: {v}\r\n"));
    }
    r.push_str("\r\n");
    let mut bytes = r.into_bytes();
    bytes.extend_from_slice(body);
    exchange(addr, &bytes).expect("a reply")
}

const FORM: (&str, &str) = ("Content-Type", "application/x-www-form-urlencoded");

/// `/introspect` of `token` by the holder of `caller`, from `client` (X-Real-IP).
fn introspect(addr: SocketAddr, caller: &str, token: &str, client: &str) -> Reply {
    let bearer = format!("Bearer {caller}");
    let body = format!("token={token}&token_type_hint=access_token");
    post(
        addr,
        "/introspect",
        &[("Authorization", &bearer), FORM, ("X-Real-IP", client)],
        body.as_bytes(),
    )
}

fn revoke(addr: SocketAddr, token: &str, client: &str) -> Reply {
    let body = format!("token={token}");
    post(
        addr,
        "/revoke",
        &[FORM, ("X-Real-IP", client)],
        body.as_bytes(),
    )
}

fn body_json(r: &Reply) -> Value {
    serde_json::from_str(&r.body).unwrap_or_else(|e| panic!("{e}: {r:?}"))
}

/// A token of the right shape and checksum that this database never issued.
fn stranger() -> String {
    tokenctl::token::generate("tok", "live")
        .unwrap()
        .secret
        .expose()
        .to_string()
}

/// Polls `show` until the token's last use is committed with `want` requests in 24h.
fn committed_uses(env: &TestEnv, id: &str, want: u64) -> Value {
    let started = Instant::now();
    loop {
        let shown = env.show(id);
        if shown["requests_24h"].as_u64() == Some(want) {
            return shown;
        }
        assert!(
            started.elapsed() < PATIENCE,
            "uses never committed: {shown}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn introspection_answers_as_rfc_7662_says() {
    let env = TestEnv::new();
    let caller = env.create("resource server", &["tokenctl:read"], &[]);
    let target = env.create("importer", &["documents:write", "cases:read"], &[]);
    let server = Server::start(&env, &[]);
    let a = server.addr;

    let r = introspect(a, &caller.secret, &target.secret, "203.0.113.7").expect(200);
    assert_eq!(r.header("cache-control"), Some("no-store"));
    assert_eq!(r.header("content-type"), Some("application/json"));
    let shown = env.show(&target.id);
    let at = |key: &str| {
        chrono::DateTime::parse_from_rfc3339(shown[key].as_str().unwrap())
            .unwrap()
            .timestamp()
    };
    assert_eq!(
        body_json(&r),
        serde_json::json!({
            "active": true,
            "scope": "cases:read documents:write",
            "client_id": target.id,
            "username": "importer",
            "token_type": "Bearer",
            "exp": at("expires_at"),
            "iat": at("created_at"),
            "sub": target.id,
            "environment": "live",
        })
    );

    // Every kind of inactive token gets the same bytes.
    let revoked = env.create("revoked", &["cases:read"], &[]);
    env.run(&["revoke", &revoked.id, "--yes"]).success();
    let expired = create_expired(&env, "expired");
    let other_env = env.create("staging", &["cases:read"], &["--env", "test"]);
    let fenced = env.create("fenced", &["cases:read"], &["--allow-ip", "192.0.2.0/24"]);
    let unknown = stranger();
    // The last character changed: the checksum no longer matches.
    let (body, last) = target.secret.split_at(target.secret.len() - 1);
    let broken = format!("{body}{}", if last == "x" { "y" } else { "x" });
    for token in [
        &revoked.secret,
        &expired.secret,
        &other_env.secret,
        &fenced.secret,
        &unknown,
        &broken,
        "not-a-token",
    ] {
        let r = introspect(a, &caller.secret, token, "203.0.113.7").expect(200);
        assert_eq!(r.body, r#"{"active":false}"#, "{token}");
        assert_eq!(r.header("cache-control"), Some("no-store"));
    }
    // The allow list is checked against the client address, as /auth checks it.
    let inside = introspect(a, &caller.secret, &fenced.secret, "192.0.2.10").expect(200);
    assert_eq!(body_json(&inside)["active"], true);

    // Uses are recorded as /auth's: the target's from the client address.
    let shown = committed_uses(&env, &target.id, 1);
    assert_eq!(shown["last_used_ip"], "203.0.113.7");
    committed_uses(&env, &caller.id, 9);
}

#[test]
fn introspection_needs_a_caller_with_tokenctl_read() {
    let env = TestEnv::new();
    // A catalogue that does not name the reserved module still accepts it, and cannot
    // take it in.
    env.run(&["config", "set", "modules", "cases"]).success();
    env.run(&["config", "set", "modules", "cases,tokenctl"])
        .code(2);
    let caller = env.create("resource server", &["tokenctl:read"], &[]);
    let reader = env.create("reader", &["cases:read"], &[]);
    let broad = env.create("broad", &["*:write"], &[]);
    let target = env.create("target", &["cases:read"], &[]);
    let server = Server::start(&env, &[]);
    let a = server.addr;

    let body = format!("token={}", target.secret);
    let ask = |headers: &[(&str, &str)]| {
        let mut all = vec![FORM];
        all.extend_from_slice(headers);
        post(a, "/introspect", &all, body.as_bytes())
    };
    ask(&[]).no_token();
    ask(&[("Authorization", "Basic dXNlcjpwYXNz")]).no_token();
    ask(&[("Authorization", "Bearer tok_live_nope")]).unauthorized();
    let revoked = env.create("gone", &["tokenctl:read"], &[]);
    env.run(&["revoke", &revoked.id, "--yes"]).success();
    ask(&[("Authorization", &format!("Bearer {}", revoked.secret))]).unauthorized();
    // `*` is every API module, not tokenctl's own.
    for other in [&reader, &broad] {
        let r = ask(&[("Authorization", &format!("Bearer {}", other.secret))])
            .forbidden(Some("tokenctl:read"));
        assert!(!r.body.contains("active"), "{r:?}");
    }
    // The token asked about by a refused caller is not even looked at: no use recorded.
    let r = introspect(a, &caller.secret, &target.secret, "203.0.113.7").expect(200);
    assert_eq!(body_json(&r)["active"], true);
    let shown = committed_uses(&env, &target.id, 1);
    assert_eq!(shown["requests_24h"], 1);
    // And /auth never grants a request the reserved module, even to its holder.
    auth(a, &caller.secret, "GET", "/api/tokenctl/tokens").forbidden(None);
}

#[test]
fn revocation_by_the_holder_reveals_nothing() {
    let env = TestEnv::new();
    let leaked = env.create("leaked", &["cases:read"], &[]);
    let staging = env.create("staging", &["cases:read"], &["--env", "test"]);
    let server = Server::start(&env, &[]);
    let a = server.addr;
    auth(a, &leaked.secret, "GET", "/api/cases/1").expect(200);

    let started = Instant::now();
    let first = revoke(a, &leaked.secret, "198.51.100.23").expect(200);
    assert!(started.elapsed() >= Duration::from_millis(100));
    // Instantly: the very next request is denied.
    auth(a, &leaked.secret, "GET", "/api/cases/1").unauthorized();
    let shown = env.show(&leaked.id);
    assert_eq!(shown["status"], "revoked");
    assert_eq!(shown["revoke_reason"], "revoked by its holder via /revoke");
    let events = env
        .run(&["audit", &leaked.id, "--events", "--json"])
        .success()
        .json();
    let event = events
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "revoke")
        .unwrap_or_else(|| panic!("{events}"));
    assert_eq!(event["actor"], "holder at 198.51.100.23 via /revoke");
    // Another environment's token is revoked too: a leak is a leak.
    revoke(a, &staging.secret, "198.51.100.23").expect(200);
    assert_eq!(env.show(&staging.id)["status"], "revoked");

    // Revoked already, never issued, not a token: the same answer, as slow.
    let shape = |r: &Reply| {
        let mut h: Vec<(String, String)> = r
            .headers
            .iter()
            .filter(|(n, _)| !n.eq_ignore_ascii_case("date"))
            .map(|(n, v)| (n.to_ascii_lowercase(), v.clone()))
            .collect();
        h.sort();
        (r.status, h, r.body.clone())
    };
    for token in [leaked.secret.clone(), stranger(), "nonsense".to_string()] {
        let started = Instant::now();
        let r = revoke(a, &token, "198.51.100.23");
        assert!(started.elapsed() >= Duration::from_millis(100));
        assert_eq!(shape(&r), shape(&first), "{token}");
    }
    let stderr = server.stderr();
    assert!(stderr.contains(&format!("token {} revoked by its holder", leaked.id)));
    assert!(!stderr.contains(&leaked.secret[9..]), "{stderr}");
}

#[test]
fn revocation_is_limited_per_client_address() {
    let env = TestEnv::new();
    env.run(&["init"]).success();
    let server = Server::start(&env, &[]);
    let a = server.addr;
    let nonsense = "tok_live_notatoken";
    for _ in 0..20 {
        revoke(a, nonsense, "203.0.113.50").expect(200);
    }
    let r = revoke(a, nonsense, "203.0.113.50").expect(429);
    let wait: u64 = r.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=3).contains(&wait), "{r:?}");
    assert_eq!(body_json(&r)["error"], "too_many_requests");
    // Another client is not held up; an IPv6 client's whole /64 shares one budget.
    revoke(a, nonsense, "203.0.113.51").expect(200);
    for _ in 0..20 {
        revoke(a, nonsense, "2001:db8::1").expect(200);
    }
    revoke(a, nonsense, "2001:db8::2").expect(429);
    let metrics = get(a, "/metrics", &[]).expect(200).body;
    for line in [
        "tokenctl_serve_revocation_requests_total{result=\"accepted\"} 41",
        "tokenctl_serve_revocation_requests_total{result=\"rate_limited\"} 2",
    ] {
        assert!(metrics.lines().any(|l| l == line), "{line}\n{metrics}");
    }
}

/// Sends a request whose body is `body`, chunked (no `Content-Length`).
fn post_chunked(addr: SocketAddr, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Reply {
    let mut r = format!(
        "POST {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n"
    );
    for (n, v) in headers {
        r.push_str(&format!("{n}: {v}\r\n"));
    }
    r.push_str("\r\n");
    let mut bytes = r.into_bytes();
    for chunk in body.chunks(16 * 1024) {
        bytes.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
        bytes.extend_from_slice(chunk);
        bytes.extend_from_slice(b"\r\n");
    }
    bytes.extend_from_slice(b"0\r\n\r\n");
    exchange(addr, &bytes).expect("a reply")
}

#[test]
fn hostile_requests_get_the_right_status_and_learn_nothing() {
    let env = TestEnv::new();
    let caller = env.create("resource server", &["tokenctl:read"], &[]);
    let target = env.create("target", &["cases:read"], &[]);
    let server = Server::start(&env, &[]);
    let a = server.addr;
    let bearer = format!("Bearer {}", caller.secret);
    let secret = &target.secret;
    let megabyte = format!("token={secret}&pad={}", "a".repeat(1 << 20));
    let encoded: String = secret.bytes().map(|b| format!("%{b:02X}")).collect();
    for (n, path) in ["/introspect", "/revoke"].into_iter().enumerate() {
        // Each endpoint's requests from an address of their own (the revocation budget).
        let client = format!("192.0.2.{}", n + 1);
        let h = |extra: &[(&'static str, &'static str)]| {
            let mut all: Vec<(&str, &str)> =
                vec![("Authorization", &bearer), ("X-Real-IP", &client)];
            all.extend_from_slice(extra);
            all
        };
        let status = |r: Reply, want: u16, error: &str| {
            assert_eq!(r.status, want, "{path}: {r:?}");
            assert_eq!(body_json(&r)["error"], error, "{path}: {r:?}");
            assert!(!r.body.contains(&secret[9..]), "{r:?}");
            assert!(!r.body.contains("active"), "{r:?}");
        };
        let form = format!("token={secret}");
        for wrong in [
            "application/json",
            "text/plain",
            "multipart/form-data; boundary=x",
        ] {
            let r = post(a, path, &h(&[("Content-Type", wrong)]), form.as_bytes());
            status(r, 415, "invalid_request");
        }
        status(
            post(a, path, &h(&[]), form.as_bytes()),
            415,
            "invalid_request",
        );
        status(
            post(a, path, &h(&[FORM]), megabyte.as_bytes()),
            413,
            "invalid_request",
        );
        status(
            post_chunked(a, path, &h(&[FORM]), megabyte.as_bytes()),
            413,
            "invalid_request",
        );
        for body in [
            "".to_string(),
            "token=".to_string(),
            "token_type_hint=access_token".to_string(),
            format!("token={secret}&token={secret}"),
            format!("token={secret}&t%6Fken=x"),
            format!("token={secret}&token_type_hint=a&token_type_hint=b"),
            format!("token={}%zz", &secret[..20]),
            format!("token={}%4", secret),
        ] {
            status(
                post(a, path, &h(&[FORM]), body.as_bytes()),
                400,
                "invalid_request",
            );
        }
        let r = get(a, path, &h(&[]));
        assert_eq!(r.status, 405, "{r:?}");
        assert_eq!(r.header("allow"), Some("POST"));
        // A token encoded byte by byte is the token; one with a NUL or a raw byte that
        // is not UTF-8 is nobody's.
        if path == "/introspect" {
            let r = post(a, path, &h(&[FORM]), format!("token={encoded}").as_bytes());
            assert_eq!(body_json(&r.expect(200))["active"], true);
            for odd in [format!("token={secret}%00"), format!("token=%FF{secret}")] {
                let r = post(a, path, &h(&[FORM]), odd.as_bytes()).expect(200);
                assert_eq!(r.body, r#"{"active":false}"#);
            }
        }
    }
    // None of it revoked the target, and the server is well.
    auth(a, secret, "GET", "/api/cases/1").expect(200);
    get(a, "/healthz", &[]).expect(200);
    let metrics = get(a, "/metrics", &[]).expect(200).body;
    for line in [
        "tokenctl_serve_introspection_requests_total{result=\"invalid_request\"} 15",
        "tokenctl_serve_introspection_requests_total{result=\"active\"} 1",
        "tokenctl_serve_introspection_requests_total{result=\"inactive\"} 2",
        "tokenctl_serve_revocation_requests_total{result=\"invalid_request\"} 15",
    ] {
        assert!(metrics.lines().any(|l| l == line), "{line}\n{metrics}");
    }
    let stderr = server.stderr();
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(!stderr.contains(&secret[9..]), "{stderr}");
}

/// The `oauth2` crate's introspection and revocation, through its own `ureq` transport.
/// Its introspection authenticates as an OAuth client; tokenctl wants the resource
/// server's own bearer token, which the transport adds as RFC 7662 section 2.1 allows.
#[test]
fn the_oauth2_crate_introspects_and_revokes() {
    use oauth2::basic::{
        BasicErrorResponse, BasicRevocationErrorResponse, BasicTokenResponse, BasicTokenType,
    };
    use oauth2::{
        AccessToken, ClientId, ExtraTokenFields, IntrospectionUrl, RevocationUrl,
        StandardRevocableToken, StandardTokenIntrospectionResponse, TokenIntrospectionResponse,
    };

    #[derive(Debug, Clone, serde::Deserialize, serde::Serialize)]
    struct Tokenctl {
        /// Only in the answer about an active token.
        environment: Option<String>,
    }
    impl ExtraTokenFields for Tokenctl {}
    type Introspection = StandardTokenIntrospectionResponse<Tokenctl, BasicTokenType>;
    type OAuthClient = oauth2::Client<
        BasicErrorResponse,
        BasicTokenResponse,
        Introspection,
        StandardRevocableToken,
        BasicRevocationErrorResponse,
    >;

    let env = TestEnv::new();
    let caller = env.create("resource server", &["tokenctl:read"], &[]);
    let target = env.create("importer", &["cases:read", "documents:write"], &[]);
    let server = Server::start(&env, &[]);
    let base = format!("http://{}", server.addr);
    let client = OAuthClient::new(ClientId::new("resource-server".into()))
        .set_introspection_url(IntrospectionUrl::new(format!("{base}/introspect")).unwrap())
        // The library refuses a revocation endpoint that is not HTTPS (RFC 7009 section
        // 2): it is given one, and the holder's transport below stands in for the
        // TLS-terminating proxy in front of serve.
        .set_revocation_url(
            RevocationUrl::new("https://tokens.example.com/revoke".into()).unwrap(),
        );
    let agent = oauth2::ureq::AgentBuilder::new().redirects(0).build();
    let bearer = format!("Bearer {}", caller.secret);
    let resource_server = |mut request: oauth2::HttpRequest| {
        request
            .headers_mut()
            .insert(oauth2::http::header::AUTHORIZATION, bearer.parse().unwrap());
        oauth2::SyncHttpClient::call(&agent, request)
    };

    let asked = AccessToken::new(target.secret.clone());
    let answer = client.introspect(&asked).request(&resource_server).unwrap();
    assert!(answer.active());
    let scopes: Vec<String> = answer
        .scopes()
        .unwrap()
        .iter()
        .map(|s| s.to_string())
        .collect();
    assert_eq!(scopes, ["cases:read", "documents:write"]);
    assert_eq!(
        answer.client_id().map(|c| c.as_str()),
        Some(target.id.as_str())
    );
    assert_eq!(answer.username(), Some("importer"));
    assert_eq!(answer.sub(), Some(target.id.as_str()));
    assert_eq!(answer.token_type(), Some(&BasicTokenType::Bearer));
    assert!(answer.exp().unwrap() > answer.iat().unwrap());
    assert_eq!(answer.extra_fields().environment.as_deref(), Some("live"));

    // The holder revokes it with the same library; then it is inactive.
    let holder = |mut request: oauth2::HttpRequest| {
        let path = request.uri().path().to_string();
        assert_eq!(request.uri().host(), Some("tokens.example.com"));
        *request.uri_mut() = format!("{base}{path}").parse().unwrap();
        oauth2::SyncHttpClient::call(&agent, request)
    };
    let revocable = StandardRevocableToken::AccessToken(asked.clone());
    client
        .revoke_token(revocable)
        .unwrap()
        .request(&holder)
        .unwrap();
    let stranger = AccessToken::new(stranger());
    for token in [&asked, &stranger] {
        let answer = client.introspect(token).request(&resource_server).unwrap();
        assert!(!answer.active());
        assert_eq!(answer.scopes(), None);
    }
    // A caller without the scope is refused, and the library says so.
    let plain = |request| oauth2::SyncHttpClient::call(&agent, request);
    assert!(client.introspect(&asked).request(&plain).is_err());
    assert_eq!(env.show(&target.id)["status"], "revoked");
}

/// The README's nginx configuration, verbatim but for its addresses: `/introspect` and
/// `/revoke` proxied as they are, the client's address passed on.
#[test]
fn both_endpoints_behind_nginx_as_in_the_readme() {
    let Some(binary) = nginx() else { return };
    let env = TestEnv::new();
    let caller = env.create("resource server", &["tokenctl:read"], &[]);
    let leaked = env.create("leaked", &["cases:read"], &[]);
    let server = Server::start(&env, &[]);
    let site = replace_once(
        &readme_nginx_config(),
        "127.0.0.1:8457",
        &server.addr.to_string(),
    );
    let proxy = Nginx::start(&binary, &env.dir().join("nginx"), &site, None);
    let log = || format!("nginx:\n{}\nserve:\n{}", proxy.error_log(), server.stderr());
    let p = proxy.addr;

    let r = introspect(p, &caller.secret, &leaked.secret, "198.51.100.1");
    assert_eq!(r.status, 200, "{r:?}\n{}", log());
    assert_eq!(body_json(&r)["client_id"], leaked.id.as_str());
    let r = post(
        p,
        "/revoke",
        &[FORM],
        format!("token={}", leaked.secret).as_bytes(),
    );
    assert_eq!(r.status, 200, "{r:?}\n{}", log());
    assert_eq!(r.body, "");
    let r = introspect(p, &caller.secret, &leaked.secret, "198.51.100.1");
    assert_eq!(r.body, r#"{"active":false}"#, "{}", log());
    // nginx's own address for the client, whatever the client claimed.
    let events = env
        .run(&["audit", &leaked.id, "--events", "--json"])
        .success()
        .json();
    assert!(
        events
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["action"] == "revoke" && e["actor"] == "holder at 127.0.0.1 via /revoke"),
        "{events}"
    );
    // nginx refuses a large body itself.
    let big = format!("token={}&pad={}", leaked.secret, "a".repeat(64 * 1024));
    assert_eq!(post(p, "/revoke", &[FORM], big.as_bytes()).status, 413);
    let r = get(p, "/revoke", &[]);
    assert_eq!(r.status, 405, "{r:?}");
}

/// A body that stops arriving does not hold the connection: 408 once the header timeout
/// has passed (a lower bound only; nothing here depends on speed).
#[test]
fn a_slow_body_is_cut_off() {
    let env = TestEnv::new();
    let caller = env.create("resource server", &["tokenctl:read"], &[]);
    let server = Server::start(&env, &["--header-timeout", "1s"]);
    let bearer = format!("Bearer {}", caller.secret);
    for path in ["/introspect", "/revoke"] {
        let head = format!(
            "POST {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\nAuthorization: {bearer}\r\n\
             Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\ntoken=tok_"
        );
        let started = Instant::now();
        let r = exchange(server.addr, head.as_bytes()).expect("a reply");
        assert_eq!(r.status, 408, "{r:?}");
        assert!(started.elapsed() >= Duration::from_secs(1));
        assert_eq!(body_json(&r)["error"], "invalid_request");
    }
}
