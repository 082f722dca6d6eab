//! What a forward-auth request says about the original request: its `Authorization`,
//! the original method and URI, and the client's address.
//!
//! The client address comes from `X-Real-IP` or `X-Forwarded-For` only when the TCP peer
//! is a trusted proxy; anyone else could write those headers to slip past a token's IP
//! allow list. From `X-Forwarded-For` it is the right-most address that is not a trusted
//! proxy: every proxy appends the address it saw, so entries to the left of the first
//! untrusted one are that client's own claims. A trusted proxy that sends an unreadable
//! address gets no address at all (tokens with an allow list are then denied), never the
//! proxy's own.
//!
//! Proxies forward their client's headers too, so the headers for the original method and
//! URI, and copies of `X-Real-IP`, are believed only when they agree (see `agreed`); and a
//! method override (`X-HTTP-Method-Override`, `X-Method-Override`, `X-HTTP-Method`, a
//! `_method` query parameter) is read so that the rules can refuse one that asks for more
//! than the method.
//!
//! Nothing here prints the credential: [`Bearer`] holds the token in a copy that is wiped
//! when dropped, or in the body hyper read, and its `Debug` is redacted.

use std::fmt;
use std::net::{IpAddr, SocketAddr};

use hyper::body::Bytes;
use hyper::header::{AUTHORIZATION, HeaderMap, HeaderName, HeaderValue};
use ipnet::IpNet;
use percent_encoding::percent_decode_str;
use zeroize::Zeroizing;

use crate::verify::{Ambiguity, Authorization};

static X_ORIGINAL_METHOD: HeaderName = HeaderName::from_static("x-original-method");
static X_FORWARDED_METHOD: HeaderName = HeaderName::from_static("x-forwarded-method");
static X_ORIGINAL_URI: HeaderName = HeaderName::from_static("x-original-uri");
static X_FORWARDED_URI: HeaderName = HeaderName::from_static("x-forwarded-uri");
static X_REAL_IP: HeaderName = HeaderName::from_static("x-real-ip");
static X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
/// The headers frameworks read to let a POST act as another method (Express's
/// method-override, Rails, Symfony, Google's APIs).
static METHOD_OVERRIDES: [HeaderName; 3] = [
    HeaderName::from_static("x-http-method-override"),
    HeaderName::from_static("x-method-override"),
    HeaderName::from_static("x-http-method"),
];

/// The token part of `Authorization: Bearer <token>`, or the token of an introspection
/// form, as raw bytes (it may be anything, including non-UTF-8: the verifier decides).
#[derive(Clone)]
pub struct Bearer(Held);

/// Where the token's bytes are.
#[derive(Clone)]
enum Held {
    /// Copied out of the header, and wiped when dropped. A header value is a slice of
    /// the connection's read buffer: held while the request is decided, it kept hyper
    /// from reusing that buffer for the next request, which then took a new one (8 KiB)
    /// every time (profiled under bench/serve.sh's load, about 1% of the server's time),
    /// and left the token in each freed buffer.
    Header(Zeroizing<Vec<u8>>),
    /// The body hyper read (`/introspect`'s form).
    Body(Bytes),
}

impl Bearer {
    /// A token read from a request's body (`/introspect`'s form).
    pub fn from_body(token: Bytes) -> Bearer {
        Bearer(Held::Body(token))
    }

    pub fn as_bytes(&self) -> &[u8] {
        match &self.0 {
            Held::Header(h) => h,
            Held::Body(b) => b,
        }
    }
}

impl AsRef<[u8]> for Bearer {
    fn as_ref(&self) -> &[u8] {
        self.as_bytes()
    }
}

impl fmt::Debug for Bearer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Bearer(<redacted>)")
    }
}

/// A request's headers, as this module reads them: the ones it reads are found in one
/// pass over the request's few headers, so that none costs a lookup by name (which
/// would hash it) unless it came more than once.
#[derive(Clone, Copy)]
pub struct Headers<'a> {
    map: &'a HeaderMap,
    /// The first value of each header read here, by [`Headers::slot`].
    first: [Option<&'a HeaderValue>; SLOTS],
    /// One bit per slot whose header came more than once: its values are looked up.
    repeated: u16,
}

/// How many headers [`Headers`] reads.
const SLOTS: usize = 10;

impl<'a> Headers<'a> {
    pub fn read(map: &'a HeaderMap) -> Headers<'a> {
        let mut read = Headers {
            map,
            first: [None; SLOTS],
            repeated: 0,
        };
        for (name, value) in map {
            if let Some(slot) = Self::slot(name) {
                match read.first[slot] {
                    None => read.first[slot] = Some(value),
                    Some(_) => read.repeated |= 1 << slot,
                }
            }
        }
        read
    }

    /// The slot of a header read here; `None` for any other. A match on the name's
    /// text: nothing is hashed.
    fn slot(name: &HeaderName) -> Option<usize> {
        Some(match name.as_str() {
            "authorization" => 0,
            "x-http-method-override" => 1,
            "x-method-override" => 2,
            "x-http-method" => 3,
            "x-original-method" => 4,
            "x-forwarded-method" => 5,
            "x-original-uri" => 6,
            "x-forwarded-uri" => 7,
            "x-real-ip" => 8,
            "x-forwarded-for" => 9,
            _ => return None,
        })
    }

    fn slot_of_read(name: &HeaderName) -> usize {
        let slot = Self::slot(name);
        // A header read here without a slot would always read as absent.
        debug_assert!(slot.is_some(), "{name} has no slot in Headers::slot");
        slot.unwrap_or(SLOTS)
    }

    fn has(&self, name: &HeaderName) -> bool {
        self.first
            .get(Self::slot_of_read(name))
            .is_some_and(Option::is_some)
    }

    /// The values of `name`, in order: without a lookup unless it came more than once.
    fn get_all(&self, name: &HeaderName) -> impl Iterator<Item = &'a HeaderValue> + use<'a> {
        let slot = Self::slot_of_read(name);
        let repeated = slot < SLOTS && self.repeated & (1 << slot) != 0;
        let once = if repeated {
            None
        } else {
            self.first.get(slot).copied().flatten()
        };
        once.into_iter().chain(
            repeated
                .then(|| self.map.get_all(name))
                .into_iter()
                .flatten(),
        )
    }
}

/// Reads the `Authorization` header; the scheme name is case-insensitive (RFC 9110
/// section 11.1).
pub fn authorization(headers: Headers<'_>) -> Authorization<Bearer> {
    let mut values = headers.get_all(&AUTHORIZATION);
    let (Some(value), None) = (values.next(), values.next()) else {
        return if headers.has(&AUTHORIZATION) {
            Authorization::Malformed
        } else {
            Authorization::Missing
        };
    };
    let bytes = value.as_bytes();
    const SCHEME: &[u8] = b"bearer ";
    if bytes.len() < SCHEME.len() - 1 || !bytes[..SCHEME.len() - 1].eq_ignore_ascii_case(b"bearer")
    {
        return Authorization::OtherScheme;
    }
    if bytes.len() <= SCHEME.len() || !bytes[..SCHEME.len()].eq_ignore_ascii_case(SCHEME) {
        return Authorization::Malformed;
    }
    let start = SCHEME.len()
        + bytes[SCHEME.len()..]
            .iter()
            .take_while(|&&b| b == b' ')
            .count();
    if start == bytes.len() {
        return Authorization::Malformed;
    }
    Authorization::Bearer(Bearer(Held::Header(Zeroizing::new(
        bytes[start..].to_vec(),
    ))))
}

/// `X-Original-Method`, else `X-Forwarded-Method`, else the method of the request itself.
/// An error (denied) when the headers disagree or are not text, see `agreed`.
pub fn original_method<'a>(headers: Headers<'a>, own: &'a str) -> Result<&'a str, Ambiguity> {
    agreed(headers, &[&X_ORIGINAL_METHOD, &X_FORWARDED_METHOD]).map(|v| v.unwrap_or(own))
}

/// `X-Original-URI`, else `X-Forwarded-Uri`, else the URI of the request itself.
/// An error (denied) when the headers disagree or are not text, see `agreed`; it never
/// falls back to the auth request's own URI then.
pub fn original_uri<'a>(headers: Headers<'a>, own: &'a str) -> Result<&'a str, Ambiguity> {
    agreed(headers, &[&X_ORIGINAL_URI, &X_FORWARDED_URI]).map(|v| v.unwrap_or(own))
}

/// The methods the original request asks to be treated as, upper-cased (as Express's
/// method-override does): every method-override header, and `_method` in the query.
/// Empty for nearly every request; an override that is not text is an error.
pub fn method_overrides(headers: Headers<'_>, uri: &str) -> Result<Vec<String>, Ambiguity> {
    let mut methods = Vec::new();
    for name in &METHOD_OVERRIDES {
        for value in headers.get_all(name) {
            let value = value.to_str().map_err(|_| Ambiguity::MethodOverride)?;
            methods.push(value.trim().to_ascii_uppercase());
        }
    }
    if let Some((_, query)) = uri.split_once('?')
        && query.contains("method")
    {
        for pair in query.split('&') {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            if percent_decode_str(key).decode_utf8_lossy() == "_method" {
                let value = percent_decode_str(value).decode_utf8_lossy();
                methods.push(value.trim().to_ascii_uppercase());
            }
        }
    }
    Ok(methods)
}

/// The value, trimmed, that every copy of these headers holds: `Ok(None)` when none is
/// there; an error when two copies differ or one is not text.
///
/// A forward-auth request carries the client's own headers too: Caddy's `forward_auth`
/// and Traefik's `forwardAuth` copy every request header and set only `X-Forwarded-*`,
/// nginx sets only what its configuration names. So one of these headers, or a second
/// copy, may be the client's claim; believing it let a read-only token make a DELETE by
/// sending `X-Original-Method: GET` through Caddy. When they disagree, one of them lies,
/// and nothing tells which.
fn agreed<'a>(headers: Headers<'a>, names: &[&HeaderName]) -> Result<Option<&'a str>, Ambiguity> {
    let mut found = None;
    for name in names {
        for value in headers.get_all(name) {
            let value = value.to_str().map_err(|_| Ambiguity::Encoding)?.trim();
            if found.is_some_and(|f| f != value) {
                return Err(Ambiguity::ConflictingHeaders);
            }
            found = Some(value);
        }
    }
    Ok(found)
}

/// The loopback networks, trusted as proxies unless `--trust-proxy` says otherwise.
pub fn default_trusted() -> Vec<IpNet> {
    ["127.0.0.0/8", "::1/128"]
        .into_iter()
        .map(|n| n.parse().expect("a valid network"))
        .collect()
}

/// The client's address: from the proxy's headers when `peer` is a trusted proxy,
/// otherwise the peer itself. `Ok(None)` when a trusted proxy sent an unreadable address;
/// an error when copies of `X-Real-IP` disagree.
pub fn client_ip(
    peer: IpAddr,
    headers: Headers<'_>,
    trusted: &[IpNet],
) -> Result<Option<IpAddr>, Ambiguity> {
    let peer = peer.to_canonical();
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|n| n.contains(ip));
    if !is_trusted(&peer) {
        return Ok(Some(peer));
    }
    match agreed(headers, &[&X_REAL_IP]) {
        Ok(Some(v)) => return Ok(parse_ip(v)),
        Ok(None) => {}
        Err(Ambiguity::ConflictingHeaders) => return Err(Ambiguity::ConflictingHeaders),
        Err(_) => return Ok(None),
    }
    if !headers.has(&X_FORWARDED_FOR) {
        return Ok(Some(peer));
    }
    // Several X-Forwarded-For headers are one list, in order (RFC 9110 section 5.3).
    let mut entries = Vec::new();
    for value in headers.get_all(&X_FORWARDED_FOR) {
        let Ok(text) = value.to_str() else {
            return Ok(None);
        };
        entries.extend(text.split(','));
    }
    let mut leftmost = None;
    for entry in entries.iter().rev() {
        let Some(ip) = parse_ip(entry) else {
            return Ok(None);
        };
        if !is_trusted(&ip) {
            return Ok(Some(ip));
        }
        leftmost = Some(ip);
    }
    // Only trusted proxies: the first of them spoke for itself.
    Ok(leftmost)
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

    /// A header read here that `Headers::slot` did not know would read as absent: a
    /// proxy's `X-Forwarded-For` ignored, a conflicting copy unseen.
    #[test]
    fn every_header_read_here_has_its_own_slot() {
        let named = [
            &AUTHORIZATION,
            &X_ORIGINAL_METHOD,
            &X_FORWARDED_METHOD,
            &X_ORIGINAL_URI,
            &X_FORWARDED_URI,
            &X_REAL_IP,
            &X_FORWARDED_FOR,
        ];
        let mut seen = std::collections::BTreeSet::new();
        for name in named.into_iter().chain(&METHOD_OVERRIDES) {
            let slot = Headers::slot(name).unwrap_or_else(|| panic!("{name} has no slot"));
            assert!(slot < SLOTS && seen.insert(slot), "{name}");
        }
        assert_eq!(seen.len(), SLOTS);
        assert_eq!(Headers::slot(&HeaderName::from_static("x-other")), None);
        let h = headers(&[("X-Forwarded-For", b"203.0.113.7"), ("host", b"a")]);
        let read = Headers::read(&h);
        assert!(read.has(&X_FORWARDED_FOR) && !read.has(&X_REAL_IP));
        assert_eq!(read.get_all(&X_FORWARDED_FOR).count(), 1);
        assert_eq!(read.get_all(&X_REAL_IP).count(), 0);
    }

    /// A header that came more than once reads as all its values, in order, whichever
    /// other headers came between them.
    #[test]
    fn a_repeated_header_reads_as_all_its_values_in_order() {
        let h = headers(&[
            ("x-forwarded-for", b"203.0.113.7"),
            ("x-original-uri", b"/a"),
            ("x-forwarded-for", b"10.0.0.1"),
            ("x-method-override", b"PUT"),
            ("x-forwarded-for", b"10.0.0.2"),
        ]);
        let read = Headers::read(&h);
        let values = |name| {
            read.get_all(name)
                .map(|v: &HeaderValue| v.to_str().unwrap())
                .collect::<Vec<_>>()
        };
        assert_eq!(
            values(&X_FORWARDED_FOR),
            ["203.0.113.7", "10.0.0.1", "10.0.0.2"]
        );
        assert_eq!(values(&X_ORIGINAL_URI), ["/a"]);
        assert_eq!(values(&METHOD_OVERRIDES[1]), ["PUT"]);
        assert!(values(&METHOD_OVERRIDES[0]).is_empty());
    }

    #[test]
    fn authorization_headers() {
        let token = |h: &HeaderMap| match authorization(Headers::read(h)) {
            Authorization::Bearer(b) => Some(b.as_bytes().to_vec()),
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
        assert!(matches!(
            authorization(Headers::read(&headers(&[]))),
            Authorization::Missing
        ));
        for other in [&b"Basic dXNlcjpwYXNz"[..], b"abc", b"Digest x", b""] {
            assert!(
                matches!(
                    authorization(Headers::read(&headers(&[("authorization", other)]))),
                    Authorization::OtherScheme
                ),
                "{other:?}"
            );
        }
        for bad in [
            &[("authorization", &b"Bearer"[..])][..],
            &[("authorization", b"Bearer ")],
            &[("authorization", b"Bearerabc")],
            &[
                ("authorization", b"Bearer a"),
                ("authorization", b"Bearer a"),
            ],
        ] {
            assert!(
                matches!(
                    authorization(Headers::read(&headers(bad))),
                    Authorization::Malformed
                ),
                "{bad:?}"
            );
        }
        let Authorization::Bearer(b) = authorization(Headers::read(&headers(&[(
            "authorization",
            b"Bearer s3cr3t",
        )]))) else {
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
        let client_ip = |peer: IpAddr, h: &HeaderMap, t: &[IpNet]| {
            client_ip(peer, Headers::read(h), t).expect("no conflict")
        };
        let xff = headers(&[("x-forwarded-for", b"198.51.100.1, 203.0.113.7")]);
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

    /// Every proxy appends the address it saw, so only the right-most entries are
    /// proxies' words: the client is the right-most address that is not a trusted proxy.
    #[test]
    fn the_client_is_the_rightmost_untrusted_forwarded_address() {
        let trusted = vec![
            "127.0.0.0/8".parse().unwrap(),
            "10.0.0.0/8".parse().unwrap(),
        ];
        let local: IpAddr = "127.0.0.1".parse().unwrap();
        let ip = |s: &str| Ok(Some(s.parse::<IpAddr>().unwrap()));
        let xff = |values: &[&[u8]]| {
            let pairs: Vec<(&str, &[u8])> =
                values.iter().map(|v| ("x-forwarded-for", *v)).collect();
            client_ip(local, Headers::read(&headers(&pairs)), &trusted)
        };
        assert_eq!(xff(&[b"203.0.113.7"]), ip("203.0.113.7"));
        assert_eq!(
            xff(&[b"198.51.100.1, 203.0.113.7, 10.0.0.2"]),
            ip("203.0.113.7")
        );
        // Several headers are one list, in order.
        assert_eq!(
            xff(&[b"198.51.100.1", b"203.0.113.7", b"10.0.0.2"]),
            ip("203.0.113.7")
        );
        assert_eq!(xff(&[b"10.0.0.3, 10.0.0.2"]), ip("10.0.0.3"));
        // An unreadable entry before the client is found: no address.
        assert_eq!(xff(&[b"198.51.100.1, garbage, 10.0.0.2"]), Ok(None));
        assert_eq!(xff(&[b"garbage, 203.0.113.7"]), ip("203.0.113.7"));
        // Copies of X-Real-IP must agree.
        let real = |values: &[&[u8]]| {
            let pairs: Vec<(&str, &[u8])> = values.iter().map(|v| ("x-real-ip", *v)).collect();
            client_ip(local, Headers::read(&headers(&pairs)), &trusted)
        };
        assert_eq!(real(&[b"203.0.113.7", b" 203.0.113.7"]), ip("203.0.113.7"));
        assert_eq!(
            real(&[b"203.0.113.7", b"198.51.100.1"]),
            Err(Ambiguity::ConflictingHeaders)
        );
        // From an untrusted peer, nothing the headers say counts, conflicts included.
        let remote: IpAddr = "198.51.100.9".parse().unwrap();
        let h = headers(&[("x-real-ip", b"1.2.3.4"), ("x-real-ip", b"5.6.7.8")]);
        assert_eq!(
            client_ip(remote, Headers::read(&h), &trusted),
            Ok(Some(remote))
        );
    }

    #[test]
    fn method_overrides_from_headers_and_query() {
        let h = headers(&[
            ("x-http-method-override", b"delete"),
            ("x-method-override", b" PUT "),
            ("x-http-method", b"PATCH"),
        ]);
        assert_eq!(
            method_overrides(Headers::read(&h), "/api/cases/1"),
            Ok(vec!["DELETE".to_string(), "PUT".into(), "PATCH".into()])
        );
        assert_eq!(
            method_overrides(
                Headers::read(&headers(&[])),
                "/api/cases/1?a=1&%5Fmethod=delete&_method"
            ),
            Ok(vec!["DELETE".to_string(), String::new()])
        );
        assert_eq!(
            method_overrides(Headers::read(&headers(&[])), "/api/cases/1?method=x"),
            Ok(vec![])
        );
        let bad = headers(&[("x-http-method-override", b"\xff")]);
        assert_eq!(
            method_overrides(Headers::read(&bad), "/"),
            Err(Ambiguity::MethodOverride)
        );
    }

    #[test]
    fn original_request() {
        let h = headers(&[
            ("x-forwarded-method", b"POST"),
            ("x-forwarded-uri", b"/api/b"),
        ]);
        assert_eq!(original_method(Headers::read(&h), "GET"), Ok("POST"));
        assert_eq!(original_uri(Headers::read(&h), "/auth"), Ok("/api/b"));
        let h = headers(&[
            ("x-original-method", b"DELETE"),
            ("x-forwarded-method", b" DELETE"),
            ("x-original-uri", b"/api/a"),
            ("x-forwarded-uri", b"/api/a"),
        ]);
        assert_eq!(original_method(Headers::read(&h), "GET"), Ok("DELETE"));
        assert_eq!(original_uri(Headers::read(&h), "/auth"), Ok("/api/a"));
        assert_eq!(
            original_uri(Headers::read(&headers(&[])), "/auth"),
            Ok("/auth")
        );
        let bad = headers(&[("x-original-uri", b"/api/\xff")]);
        assert_eq!(
            original_uri(Headers::read(&bad), "/auth"),
            Err(Ambiguity::Encoding)
        );
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
        assert_eq!(
            original_method(Headers::read(&h), "GET"),
            Err(Ambiguity::ConflictingHeaders)
        );
        assert_eq!(
            original_uri(Headers::read(&h), "/auth"),
            Err(Ambiguity::ConflictingHeaders)
        );
        let twice = headers(&[
            ("x-original-method", b"GET"),
            ("x-original-method", b"POST"),
        ]);
        assert_eq!(
            original_method(Headers::read(&twice), "GET"),
            Err(Ambiguity::ConflictingHeaders)
        );
        let twice = headers(&[
            ("x-forwarded-uri", b"/api/a"),
            ("x-forwarded-uri", b"/api/b"),
        ]);
        assert_eq!(
            original_uri(Headers::read(&twice), "/auth"),
            Err(Ambiguity::ConflictingHeaders)
        );
        let one_unreadable = headers(&[
            ("x-forwarded-uri", b"/api/a"),
            ("x-original-uri", b"/api/\xff"),
        ]);
        assert!(original_uri(Headers::read(&one_unreadable), "/auth").is_err());
    }
}
