#![no_main]
//! The request-handling surface of `serve`, without a socket: an arbitrary method, URI,
//! headers (any names and values hyper would accept, duplicates, non-UTF-8) and TCP peer
//! go through `endpoints::question` (credential, original method and URI, client
//! address, path normalisation, rules) and every decision through `endpoints::answer`.
//!
//! Input: byte 0 chooses the peer, the rules, the trusted proxies and how URIs are read;
//! bytes 1..5 are an IPv4 peer; the rest is a request head as text: `METHOD URI` on the
//! first line, then `name: value` lines (split at `\n`, values taken as raw bytes).
//!
//! Beyond "no panic": whatever maps to a scope under the strict reading was read the same
//! by the naive readers below (raw segments, decoded once or twice, dot-resolved, `;`
//! dropped, `\` as `/`, lower case): an upstream cannot route it to another module.

use std::net::IpAddr;

use hyper::header::{HeaderMap, HeaderName, HeaderValue};
use hyper::{Method, Uri};
use ipnet::IpNet;
use libfuzzer_sys::fuzz_target;
use tokenctl::serve::endpoints::{Policy, answer, question};
use tokenctl::serve::forwarded::{Bearer, default_trusted};
use tokenctl::serve::rules::Rules;
use tokenctl::serve::uri::{NormalPath, UriPolicy};
use tokenctl::verify::{Authorization, Decision, Denial, DenyReason, Grant, Need, Question};

const RULES: &str = r#"
fallback = "convention"
[[rule]]
methods = ["GET", "HEAD"]
path = "/api/cases/*/documents/**"
scope = "documents:read"
[[rule]]
methods = ["POST"]
prefix = "/api/import"
scope = "cases:write"
[[rule]]
path = "/api/reports/*.csv"
scope = "reports:read"
"#;

fuzz_target!(|data: &[u8]| {
    if data.len() < 5 {
        return;
    }
    let (flags, rest) = (data[0], &data[5..]);
    let peer: IpAddr = match flags % 8 {
        0 => "127.0.0.1".parse().unwrap(),
        1 => "::1".parse().unwrap(),
        2 => "::ffff:127.0.0.1".parse().unwrap(),
        3 => "10.1.2.3".parse().unwrap(),
        4 => "2001:db8::1".parse().unwrap(),
        _ => IpAddr::from([data[1], data[2], data[3], data[4]]),
    };
    let rules = if flags & 8 == 0 {
        Rules::convention()
    } else {
        Rules::parse(RULES).unwrap()
    };
    let trusted: Vec<IpNet> = if flags & 16 == 0 {
        default_trusted()
    } else {
        vec!["10.0.0.0/8".parse().unwrap(), "2001:db8::/32".parse().unwrap()]
    };

    let mut lines = rest.split(|&b| b == b'\n');
    let first = lines.next().unwrap_or_default();
    let mut parts = first.splitn(2, |&b| b == b' ');
    let (Ok(method), Ok(uri)) = (
        Method::from_bytes(parts.next().unwrap_or_default()),
        Uri::try_from(parts.next().unwrap_or(b"/auth")),
    ) else {
        return;
    };
    let mut headers = HeaderMap::new();
    for line in lines {
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            continue;
        };
        let value = line[colon + 1..].trim_ascii();
        // What hyper hands over: valid names (lower-cased) and values.
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(&line[..colon]),
            HeaderValue::from_bytes(value),
        ) {
            headers.append(name, value);
        }
    }

    let uri_policy = if flags & 32 == 0 {
        UriPolicy::Strict
    } else {
        UriPolicy::Normalize
    };
    let policy = Policy {
        rules: &rules,
        uri: uri_policy,
        trusted_proxies: &trusted,
    };
    let asked = question(method.as_str(), &uri, &headers, peer, &policy);
    check_credential(&asked, &headers);
    if !trusted.iter().any(|n| n.contains(&peer.to_canonical())) {
        assert_eq!(asked.ip, Some(peer.to_canonical()));
    }
    if let Need::Scope(scope) = &asked.need {
        assert_eq!(scope.to_string().parse::<tokenctl::Scope>().unwrap(), *scope);
    }
    // Claims about the original request that disagree map to no scope: a proxy passes
    // its client's headers on beside its own.
    for pair in [
        ["x-original-method", "x-forwarded-method"],
        ["x-original-uri", "x-forwarded-uri"],
    ] {
        let claims: Vec<&[u8]> = pair
            .iter()
            .flat_map(|n| headers.get_all(*n).iter().map(|v| v.as_bytes().trim_ascii()))
            .collect();
        if claims.windows(2).any(|w| w[0] != w[1]) {
            assert!(matches!(asked.need, Need::Unmapped(_)));
        }
    }
    // A path is clean, whatever it was made from; under the strict reading, every naive
    // reader finds the same module in it.
    if let Some(uri) = headers.get("x-original-uri").and_then(|v| v.to_str().ok()) {
        if let Ok(path) = NormalPath::from_uri(uri.trim(), uri_policy) {
            let p = path.as_str();
            assert!(p.starts_with('/') && !p.contains("//"), "{p:?}");
            assert!(path.segments().all(|s| s != "." && s != ".."), "{p:?}");
            assert!(!p.chars().any(|c| c.is_control() || c == '\\'), "{p:?}");
            // Mapped: the rules decided the same in either case, so only letters' case
            // may differ between readings.
            if uri_policy == UriPolicy::Strict && matches!(asked.need, Need::Scope(_)) {
                let module = path.segments().nth(1).unwrap_or_default().to_string();
                for reading in naive_readings(uri.trim()) {
                    let theirs = reading.split('/').filter(|s| !s.is_empty()).nth(1);
                    assert!(
                        theirs.unwrap_or_default().eq_ignore_ascii_case(&module),
                        "{uri:?} read as {reading:?}"
                    );
                }
            }
        }
    }
    // A genuine token for a request no scope covers is forbidden, with its own reason.
    if let Need::Unmapped(why) = asked.need {
        let r = answer(Some(&denied(why.reason())), &asked.need);
        assert_eq!(r.status().as_u16(), 403);
    }

    // Every decision maps to its status; only a grant gives 200, and its headers carry
    // the token's name so that a URL decoder gives it back exactly.
    let name = String::from_utf8_lossy(
        headers.get("x-token-name").map_or(&b"importer"[..], |v| v.as_bytes()),
    )
    .into_owned();
    let grant = Decision::Allowed(Grant {
        token_id: "abcd1234".into(),
        name: name.as_str().into(),
        env: "live".into(),
        scopes: "cases:read".into(),
        quota: None,
        expires_at: None,
        issued_at: chrono::DateTime::UNIX_EPOCH,
    });
    let r = answer(Some(&grant), &asked.need);
    assert_eq!(r.status().as_u16(), 200);
    let shown = r.headers()["x-token-name"].to_str().unwrap();
    assert_eq!(percent_decode(shown), name.as_bytes());
    assert_eq!(answer(None, &asked.need).status().as_u16(), 503);
    for reason in DenyReason::ALL {
        let r = answer(Some(&denied(reason)), &asked.need);
        let want = match reason {
            DenyReason::Missing
            | DenyReason::Malformed
            | DenyReason::Unknown
            | DenyReason::Revoked
            | DenyReason::Expired
            | DenyReason::Suspended => 401,
            DenyReason::RateLimited => 429,
            _ => 403,
        };
        assert_eq!(r.status().as_u16(), want, "{reason:?}");
        assert!(r.headers().get("x-token-name").is_none());
        // A challenge for bad credentials; none for a token that must only wait.
        let challenged = r.headers().get("www-authenticate").is_some();
        assert_eq!(challenged, want != 429, "{reason:?}");
    }
});

fn denied(reason: DenyReason) -> Decision {
    Decision::Denied(Denial {
        reason,
        token_id: None,
        name: None,
        quota: None,
    })
}

/// The path as naive upstreams would read it: raw, decoded once and twice, with `;…`
/// dropped from segments, with `\` as `/`, dot segments resolved after each, lower-cased.
fn naive_readings(uri: &str) -> Vec<String> {
    let path = uri.split(['?', '#']).next().unwrap_or_default();
    let once = String::from_utf8_lossy(&percent_decode(path)).into_owned();
    let twice = String::from_utf8_lossy(&percent_decode(&once)).into_owned();
    let no_params: String = path
        .split('/')
        .map(|s| s.split(';').next().unwrap_or_default())
        .collect::<Vec<_>>()
        .join("/");
    let mut readings = Vec::new();
    for text in [path.to_string(), once, twice, no_params, path.replace('\\', "/")] {
        readings.push(resolve(&text));
        readings.push(text.to_lowercase());
        readings.push(text);
    }
    readings
}

/// RFC 3986 dot-segment removal over `/`-separated text.
fn resolve(path: &str) -> String {
    let mut out: Vec<&str> = Vec::new();
    for segment in path.split('/') {
        match segment {
            "." => {}
            ".." => {
                out.pop();
            }
            s => out.push(s),
        }
    }
    out.join("/")
}

/// The credential is read from exactly one Authorization header, as the bytes after
/// `Bearer ` and its spaces, and its Debug form never shows them.
fn check_credential(asked: &Question<Bearer>, headers: &HeaderMap) {
    let all: Vec<&HeaderValue> = headers.get_all("authorization").iter().collect();
    match &asked.authorization {
        Authorization::Missing => assert!(all.is_empty()),
        Authorization::OtherScheme => assert_eq!(all.len(), 1),
        Authorization::Malformed => assert!(!all.is_empty()),
        Authorization::Bearer(b) => {
            assert_eq!(all.len(), 1);
            let token = b.as_bytes();
            let header = all[0].as_bytes();
            assert!(!token.is_empty() && token[0] != b' ');
            assert!(header[..7].eq_ignore_ascii_case(b"bearer "));
            assert!(header.ends_with(token));
            let shown = format!("{asked:?}");
            if token.len() >= 8 && token.contains(&b'~') {
                assert!(!shown.contains(&*String::from_utf8_lossy(token)), "{shown}");
            }
        }
    }
}

fn percent_decode(s: &str) -> Vec<u8> {
    percent_encoding::percent_decode_str(s).collect()
}
