//! The body of `/introspect` and `/revoke`: an `application/x-www-form-urlencoded` form
//! (RFC 7662 section 2.1, RFC 7009 section 2.1) holding the `token` asked about.
//!
//! Read within a small cap ([`MAX_FORM_BYTES`]: a token and a hint take under 100 bytes)
//! and a time limit, so that neither a large nor a slow body can hold memory or a
//! connection; a `Content-Length` over the cap is refused before any byte of the body is
//! read. Parsed strictly: a parameter repeated (RFC 6749 section 3.2), an escape that is
//! not `%` and two hex digits, or the token missing is an `invalid_request`; parameters
//! it does not know (a client's `client_id`) are ignored, as RFC 6749 asks.
//!
//! Nothing here prints the token: errors say what is wrong with the request, never what
//! it held, and [`TokenForm`]'s `Debug` is redacted.

use std::fmt;
use std::time::Duration;

use http_body_util::{BodyExt, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::header::{CONTENT_LENGTH, CONTENT_TYPE, HeaderMap};

/// The largest body accepted.
pub const MAX_FORM_BYTES: usize = 4096;

/// What is wrong with a form request; each has its status and plain words.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FormError {
    /// Not `POST`.
    Method,
    /// A `Content-Type` other than `application/x-www-form-urlencoded`.
    MediaType,
    /// A body larger than [`MAX_FORM_BYTES`].
    TooLarge,
    /// The body did not arrive within the time limit.
    Slow,
    /// The body could not be read (the client went away, a broken chunk).
    Unreadable,
    /// An escape that is not `%` and two hex digits.
    Encoding,
    Missing(&'static str),
    Repeated(&'static str),
}

impl FormError {
    pub fn status(self) -> u16 {
        match self {
            FormError::Method => 405,
            FormError::MediaType => 415,
            FormError::TooLarge => 413,
            FormError::Slow => 408,
            FormError::Unreadable
            | FormError::Encoding
            | FormError::Missing(_)
            | FormError::Repeated(_) => 400,
        }
    }

    /// The `error_description` of the answer: what is wrong, no request data.
    pub fn description(self) -> String {
        match self {
            FormError::Method => "use POST".into(),
            FormError::MediaType => "the body must be application/x-www-form-urlencoded".into(),
            FormError::TooLarge => format!("the body is larger than {MAX_FORM_BYTES} bytes"),
            FormError::Slow => "the body did not arrive in time".into(),
            FormError::Unreadable => "the body could not be read".into(),
            FormError::Encoding => "the body has a malformed percent-encoding".into(),
            FormError::Missing(name) => format!("the parameter '{name}' is missing"),
            FormError::Repeated(name) => format!("the parameter '{name}' is given more than once"),
        }
    }
}

/// The parameters of an introspection or revocation request.
pub struct TokenForm {
    /// The token asked about, decoded (any bytes: the verifier decides).
    pub token: Bytes,
    /// `token_type_hint`: read so that a repeated one is refused, otherwise ignored (every
    /// tokenctl token is one type, RFC 7009 section 2.1).
    pub hint: Option<String>,
}

impl fmt::Debug for TokenForm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenForm")
            .field("token", &"<redacted>")
            .field("hint", &self.hint)
            .finish()
    }
}

/// Refuses a request whose `Content-Type` is not a form (parameters such as a charset
/// are allowed), or whose `Content-Length` says the body is over the cap.
pub fn check_head(headers: &HeaderMap) -> Result<(), FormError> {
    let mut types = headers.get_all(CONTENT_TYPE).iter();
    let media = match (types.next(), types.next()) {
        (Some(v), None) => v.to_str().map_err(|_| FormError::MediaType)?,
        _ => return Err(FormError::MediaType),
    };
    let essence = media.split(';').next().unwrap_or_default().trim();
    if !essence.eq_ignore_ascii_case("application/x-www-form-urlencoded") {
        return Err(FormError::MediaType);
    }
    let declared = headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_FORM_BYTES as u64) {
        return Err(FormError::TooLarge);
    }
    Ok(())
}

/// Reads the body: at most [`MAX_FORM_BYTES`], within `limit`.
pub async fn read(body: Incoming, limit: Duration) -> Result<Bytes, FormError> {
    let collected = tokio::time::timeout(limit, Limited::new(body, MAX_FORM_BYTES).collect())
        .await
        .map_err(|_| FormError::Slow)?;
    match collected {
        Ok(c) => Ok(c.to_bytes()),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => Err(FormError::TooLarge),
        Err(_) => Err(FormError::Unreadable),
    }
}

/// A form endpoint's request, from its head to its parameters: the head checked, the
/// body read within `limit`, then parsed.
pub async fn read_form(
    req: hyper::Request<Incoming>,
    limit: Duration,
) -> Result<TokenForm, FormError> {
    check_head(req.headers())?;
    let body = read(req.into_body(), limit).await?;
    parse(&body)
}

/// Parses the form: `token` once and not empty, `token_type_hint` at most once.
pub fn parse(body: &[u8]) -> Result<TokenForm, FormError> {
    let mut token = None;
    let mut hint = None;
    for pair in body.split(|&b| b == b'&').filter(|p| !p.is_empty()) {
        let (key, value) = match pair.iter().position(|&b| b == b'=') {
            Some(i) => (&pair[..i], &pair[i + 1..]),
            None => (pair, &b""[..]),
        };
        let slot = match decode(key)?.as_slice() {
            b"token" => (&mut token, "token"),
            b"token_type_hint" => (&mut hint, "token_type_hint"),
            _ => continue,
        };
        if slot.0.is_some() {
            return Err(FormError::Repeated(slot.1));
        }
        *slot.0 = Some(decode(value)?);
    }
    let token = token
        .filter(|t| !t.is_empty())
        .ok_or(FormError::Missing("token"))?;
    Ok(TokenForm {
        token: Bytes::from(token),
        hint: hint.map(|h| String::from_utf8_lossy(&h).into_owned()),
    })
}

/// Decodes one name or value: `+` is a space, `%XX` a byte; any other `%` is an error.
fn decode(raw: &[u8]) -> Result<Vec<u8>, FormError> {
    let hex = |b: u8| char::from(b).to_digit(16);
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        match raw[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let digits = raw
                    .get(i + 1)
                    .copied()
                    .and_then(hex)
                    .zip(raw.get(i + 2).copied().and_then(hex));
                let (hi, lo) = digits.ok_or(FormError::Encoding)?;
                // Two hex digits are at most 255.
                out.push((hi * 16 + lo) as u8);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper::header::HeaderValue;

    fn token(body: &str) -> Result<Vec<u8>, FormError> {
        parse(body.as_bytes()).map(|f| f.token.to_vec())
    }

    #[test]
    fn forms_parse_strictly() {
        assert_eq!(token("token=tok_live_abc"), Ok(b"tok_live_abc".to_vec()));
        assert_eq!(
            token("token_type_hint=access_token&token=a%2Bb+c&client_id=x"),
            Ok(b"a+b c".to_vec())
        );
        // Names are decoded too, as browsers and clients encode them.
        assert_eq!(token("t%6Fken=x"), Ok(b"x".to_vec()));
        assert_eq!(token("token=%ff%00"), Ok(vec![0xff, 0]));
        assert_eq!(token("&&token=x&"), Ok(b"x".to_vec()));
        for (body, err) in [
            ("", FormError::Missing("token")),
            ("token=", FormError::Missing("token")),
            ("token", FormError::Missing("token")),
            ("tokens=x", FormError::Missing("token")),
            ("token=a&token=a", FormError::Repeated("token")),
            ("token=a&t%6Fken=b", FormError::Repeated("token")),
            (
                "token=a&token_type_hint=x&token_type_hint=y",
                FormError::Repeated("token_type_hint"),
            ),
            ("token=a%2", FormError::Encoding),
            ("token=a%zz", FormError::Encoding),
            ("token=%", FormError::Encoding),
            ("tok%en=a", FormError::Encoding),
        ] {
            assert_eq!(token(body), Err(err), "{body}");
        }
        let form = parse(b"token=tok_live_secret&token_type_hint=access_token").unwrap();
        assert_eq!(form.hint.as_deref(), Some("access_token"));
        assert!(!format!("{form:?}").contains("secret"));
    }

    proptest::proptest! {
        /// Any body parses or is refused, never panics; any token, encoded byte by
        /// byte, comes back exactly.
        #[test]
        fn any_body_parses_or_is_refused(
            body in proptest::collection::vec(proptest::num::u8::ANY, 0..200),
            token in proptest::collection::vec(proptest::num::u8::ANY, 1..60),
        ) {
            let _ = parse(&body);
            let encoded: String = token.iter().map(|b| format!("%{b:02x}")).collect();
            let form = parse(format!("a=1&token={encoded}&b").as_bytes()).unwrap();
            proptest::prop_assert_eq!(form.token.to_vec(), token);
        }
    }

    #[test]
    fn only_a_form_of_a_small_size_is_read() {
        let head = |pairs: &[(&'static str, &str)]| {
            let mut h = HeaderMap::new();
            for (n, v) in pairs {
                h.append(*n, HeaderValue::from_str(v).unwrap());
            }
            check_head(&h)
        };
        let form = "application/x-www-form-urlencoded";
        assert_eq!(head(&[("content-type", form)]), Ok(()));
        assert_eq!(
            head(&[(
                "content-type",
                "Application/X-WWW-Form-Urlencoded; charset=UTF-8"
            )]),
            Ok(())
        );
        for bad in ["application/json", "text/plain", "multipart/form-data", ""] {
            assert_eq!(head(&[("content-type", bad)]), Err(FormError::MediaType));
        }
        assert_eq!(head(&[]), Err(FormError::MediaType));
        assert_eq!(
            head(&[("content-type", form), ("content-type", form)]),
            Err(FormError::MediaType)
        );
        assert_eq!(
            head(&[("content-type", form), ("content-length", "1048576")]),
            Err(FormError::TooLarge)
        );
        assert_eq!(
            head(&[("content-type", form), ("content-length", "4096")]),
            Ok(())
        );
    }
}
