//! What a forward-auth request says about the original request: the bearer credential,
//! the original method and URI, and the client's address.
//!
//! The client address comes from `X-Real-IP` or `X-Forwarded-For` only when the TCP peer
//! is a trusted proxy; anyone else could write those headers to slip past a token's IP
//! allow list. A trusted proxy that sends an unreadable address gets no address at all
//! (tokens with an allow list are then denied), never the proxy's own.
//!
//! Proxies forward their client's headers too, so the headers for the original method and
//! URI are believed only when they agree (see `agreed`).
//!
//! Nothing here copies or prints the credential: [`Bearer`] points into the header value
//! that hyper already holds, and its `Debug` is redacted.

use std::fmt;
use std::net::{IpAddr, SocketAddr};

use hyper::header::{AUTHORIZATION, HeaderMap, HeaderName, HeaderValue};
use ipnet::IpNet;

static X_ORIGINAL_METHOD: HeaderName = HeaderName::from_static("x-original-method");
static X_FORWARDED_METHOD: HeaderName = HeaderName::from_static("x-forwarded-method");
static X_ORIGINAL_URI: HeaderName = HeaderName::from_static("x-original-uri");
static X_FORWARDED_URI: HeaderName = HeaderName::from_static("x-forwarded-uri");
static X_REAL_IP: HeaderName = HeaderName::from_static("x-real-ip");
static X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");

/// What the `Authorization` header holds.
#[derive(Debug)]
pub enum Credential {
    /// No `Authorization` header: nothing was presented.
    Missing,
    /// Several `Authorization` headers, another scheme, or an empty token: presented,
    /// but not a bearer token.
    Malformed,
    Bearer(Bearer),
}

/// The token part of `Authorization: Bearer <token>`, as raw bytes (it may be anything,
/// including non-UTF-8: the verifier decides).
#[derive(Clone)]
pub struct Bearer {
    header: HeaderValue,
    start: usize,
}

impl Bearer {
    pub fn as_bytes(&self) -> &[u8] {
        &self.header.as_bytes()[self.start..]
    }
}

impl fmt::Debug for Bearer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Bearer(<redacted>)")
    }
}

/// Reads the credential; the scheme name is case-insensitive (RFC 9110 §11.1).
pub fn credential(headers: &HeaderMap) -> Credential {
    let mut values = headers.get_all(AUTHORIZATION).iter();
    let (Some(value), None) = (values.next(), values.next()) else {
        return if headers.contains_key(AUTHORIZATION) {
            Credential::Malformed
        } else {
            Credential::Missing
        };
    };
    let bytes = value.as_bytes();
    const SCHEME: &[u8] = b"bearer ";
    if bytes.len() <= SCHEME.len() || !bytes[..SCHEME.len()].eq_ignore_ascii_case(SCHEME) {
        return Credential::Malformed;
    }
    let start = SCHEME.len()
        + bytes[SCHEME.len()..]
            .iter()
            .take_while(|&&b| b == b' ')
            .count();
    if start == bytes.len() {
        return Credential::Malformed;
    }
    Credential::Bearer(Bearer {
        header: value.clone(),
        start,
    })
}

/// `X-Original-Method`, else `X-Forwarded-Method`, else the method of the request itself.
/// `None` (unmapped: denied) when the headers disagree or are not text, see `agreed`.
pub fn original_method<'a>(headers: &'a HeaderMap, own: &'a str) -> Option<&'a str> {
    agreed(headers, [&X_ORIGINAL_METHOD, &X_FORWARDED_METHOD]).map(|v| v.unwrap_or(own))
}

/// `X-Original-URI`, else `X-Forwarded-Uri`, else the URI of the request itself.
/// `None` (unmapped: denied) when the headers disagree or are not text, see `agreed`;
/// it never falls back to the auth request's own URI then.
pub fn original_uri<'a>(headers: &'a HeaderMap, own: &'a str) -> Option<&'a str> {
    agreed(headers, [&X_ORIGINAL_URI, &X_FORWARDED_URI]).map(|v| v.unwrap_or(own))
}

/// The value, trimmed, that every copy of both headers holds: `Some(None)` when neither is
/// there, `None` when two copies differ or one is not text.
///
/// A forward-auth request carries the client's own headers too: Caddy's `forward_auth`
/// and Traefik's `forwardAuth` copy every request header and set only `X-Forwarded-*`,
/// nginx sets only what its configuration names. So one of these headers, or a second
/// copy, may be the client's claim; believing it let a read-only token make a DELETE by
/// sending `X-Original-Method: GET` through Caddy. When they disagree, one of them lies,
/// and nothing tells which.
fn agreed<'a>(headers: &'a HeaderMap, names: [&HeaderName; 2]) -> Option<Option<&'a str>> {
    let mut found = None;
    for name in names {
        for value in headers.get_all(name) {
            let value = value.to_str().ok()?.trim();
            if found.is_some_and(|f| f != value) {
                return None;
            }
            found = Some(value);
        }
    }
    Some(found)
}

/// The loopback networks, trusted as proxies unless `--trust-proxy` says otherwise.
pub fn default_trusted() -> Vec<IpNet> {
    ["127.0.0.0/8", "::1/128"]
        .into_iter()
        .map(|n| n.parse().expect("a valid network"))
        .collect()
}

/// The client's address: from the proxy's headers when `peer` is a trusted proxy,
/// otherwise the peer itself. `None` when a trusted proxy sent an unreadable address.
pub fn client_ip(peer: IpAddr, headers: &HeaderMap, trusted: &[IpNet]) -> Option<IpAddr> {
    let peer = peer.to_canonical();
    if !trusted.iter().any(|n| n.contains(&peer)) {
        return Some(peer);
    }
    if let Some(v) = headers.get(&X_REAL_IP) {
        return v.to_str().ok().and_then(parse_ip);
    }
    if let Some(v) = headers.get(&X_FORWARDED_FOR) {
        let first = v.to_str().ok()?.split(',').next()?;
        return parse_ip(first);
    }
    Some(peer)
}

/// An address as proxies write it: `203.0.113.7`, `2001:db8::1`, `[2001:db8::1]`, or
/// with a port (`203.0.113.7:4711`, `[2001:db8::1]:4711`).
fn parse_ip(text: &str) -> Option<IpAddr> {
    let text = text.trim();
    if let Ok(ip) = text.parse::<IpAddr>() {
        return Some(ip.to_canonical());
    }
    if let Ok(sock) = text.parse::<SocketAddr>() {
        return Some(sock.ip().to_canonical());
    }
    text.strip_prefix('[')
        .and_then(|t| t.strip_suffix(']'))
        .and_then(|t| t.parse::<IpAddr>().ok())
        .map(|ip| ip.to_canonical())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &[u8])]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (name, value) in pairs {
            h.append(
                HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_bytes(value).unwrap(),
            );
        }
        h
    }

    #[test]
    fn bearer_credentials() {
        let token = |h: &HeaderMap| match credential(h) {
            Credential::Bearer(b) => Some(b.as_bytes().to_vec()),
            _ => None,
        };
        assert_eq!(
            token(&headers(&[("authorization", b"Bearer abc")])),
            Some(b"abc".to_vec())
        );
        assert_eq!(
            token(&headers(&[("authorization", b"bEaReR   abc")])),
            Some(b"abc".to_vec())
        );
        assert_eq!(
            token(&headers(&[("authorization", b"Bearer \xff\xfe")])),
            Some(b"\xff\xfe".to_vec())
        );
        assert!(matches!(credential(&headers(&[])), Credential::Missing));
        for bad in [
            &[("authorization", &b"Basic dXNlcjpwYXNz"[..])][..],
            &[("authorization", b"Bearer")],
            &[("authorization", b"Bearer ")],
            &[("authorization", b"Bearerabc")],
            &[("authorization", b"abc")],
            &[
                ("authorization", b"Bearer a"),
                ("authorization", b"Bearer a"),
            ],
        ] {
            assert!(
                matches!(credential(&headers(bad)), Credential::Malformed),
                "{bad:?}"
            );
        }
        let Credential::Bearer(b) = credential(&headers(&[("authorization", b"Bearer s3cr3t")]))
        else {
            panic!("bearer")
        };
        assert!(!format!("{b:?}").contains("s3cr3t"));
    }

    #[test]
    fn client_address_only_from_trusted_proxies() {
        let trusted = default_trusted();
        let local: IpAddr = "127.0.0.1".parse().unwrap();
        let remote: IpAddr = "198.51.100.9".parse().unwrap();
        let ip = |s: &str| Some(s.parse::<IpAddr>().unwrap());
        let xff = headers(&[("x-forwarded-for", b"203.0.113.7, 10.0.0.1")]);
        assert_eq!(client_ip(local, &xff, &trusted), ip("203.0.113.7"));
        assert_eq!(client_ip(remote, &xff, &trusted), Some(remote));
        let real = headers(&[
            ("x-real-ip", b"203.0.113.8"),
            ("x-forwarded-for", b"203.0.113.7"),
        ]);
        assert_eq!(client_ip(local, &real, &trusted), ip("203.0.113.8"));
        assert_eq!(client_ip(local, &headers(&[]), &trusted), Some(local));
        assert_eq!(
            client_ip("::1".parse().unwrap(), &xff, &trusted),
            ip("203.0.113.7")
        );
        assert_eq!(
            client_ip("::ffff:127.0.0.1".parse().unwrap(), &xff, &trusted),
            ip("203.0.113.7")
        );
        assert_eq!(
            client_ip("::ffff:198.51.100.9".parse().unwrap(), &xff, &trusted),
            Some(remote)
        );
        assert_eq!(
            client_ip(local, &headers(&[("x-real-ip", b"nonsense")]), &trusted),
            None
        );
        assert_eq!(
            client_ip(local, &headers(&[("x-real-ip", b"\xff")]), &trusted),
            None
        );
        for (text, want) in [
            ("[2001:db8::1]:4711", "2001:db8::1"),
            ("[2001:db8::1]", "2001:db8::1"),
            ("203.0.113.7:80", "203.0.113.7"),
            (" 2001:db8::2 ", "2001:db8::2"),
        ] {
            assert_eq!(parse_ip(text), ip(want), "{text}");
        }
    }

    #[test]
    fn original_request() {
        let h = headers(&[
            ("x-forwarded-method", b"POST"),
            ("x-forwarded-uri", b"/api/b"),
        ]);
        assert_eq!(original_method(&h, "GET"), Some("POST"));
        assert_eq!(original_uri(&h, "/auth"), Some("/api/b"));
        let h = headers(&[
            ("x-original-method", b"DELETE"),
            ("x-forwarded-method", b" DELETE"),
            ("x-original-uri", b"/api/a"),
            ("x-forwarded-uri", b"/api/a"),
        ]);
        assert_eq!(original_method(&h, "GET"), Some("DELETE"));
        assert_eq!(original_uri(&h, "/auth"), Some("/api/a"));
        assert_eq!(original_uri(&headers(&[]), "/auth"), Some("/auth"));
        let bad = headers(&[("x-original-uri", b"/api/\xff")]);
        assert_eq!(original_uri(&bad, "/auth"), None);
    }

    /// What Caddy's forward_auth sends for `DELETE /api/cases/1` from a client that added
    /// `X-Original-Method: GET` and `X-Original-URI`: the proxy's and the client's claims
    /// disagree, so the request maps to nothing. Repeated headers likewise.
    #[test]
    fn disagreeing_claims_about_the_original_request_are_unreadable() {
        let h = headers(&[
            ("x-forwarded-method", b"DELETE"),
            ("x-forwarded-uri", b"/api/cases/1"),
            ("x-original-method", b"GET"),
            ("x-original-uri", b"/api/reports/1"),
        ]);
        assert_eq!(original_method(&h, "GET"), None);
        assert_eq!(original_uri(&h, "/auth"), None);
        let twice = headers(&[
            ("x-original-method", b"GET"),
            ("x-original-method", b"POST"),
        ]);
        assert_eq!(original_method(&twice, "GET"), None);
        let twice = headers(&[
            ("x-forwarded-uri", b"/api/a"),
            ("x-forwarded-uri", b"/api/b"),
        ]);
        assert_eq!(original_uri(&twice, "/auth"), None);
        let one_unreadable = headers(&[
            ("x-forwarded-uri", b"/api/a"),
            ("x-original-uri", b"/api/\xff"),
        ]);
        assert_eq!(original_uri(&one_unreadable, "/auth"), None);
    }
}
