//! The token format: generation, parsing, checksum, hashing and display hints.
//!
//! A token reads `<prefix>_<env>_<body><check>`: 30 base62 characters from the operating
//! system's CSPRNG, then the CRC-32 of those characters in six base62 digits (GitHub's
//! scheme), so that typos and random strings are rejected without touching the database.
//!
//! The secret never leaves this module except inside the one [`Secret`] value that
//! [`generate`] returns: it zeroes its memory on drop and its `Debug` prints nothing of it.
//! Everything else (the store, logs, errors) sees only the [`TokenHash`] and the [`hint`].

use std::fmt;

use rand::TryRng;
use rand::rngs::SysRng;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

/// Base62 alphabet, in the order GitHub's checksum encoding uses.
const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
/// Length of the random part.
pub const BODY_LEN: usize = 30;
/// Length of the base62 CRC-32 that follows the body.
pub const CHECK_LEN: usize = 6;
/// Longest possible token: an 8-letter prefix, an 8-character environment, two
/// underscores, body and check. Anything longer is malformed without further thought.
pub const MAX_LEN: usize = 8 + 1 + 8 + 1 + BODY_LEN + CHECK_LEN;
/// Length of a token's public id.
pub const ID_LEN: usize = 8;
/// How many body characters the display hint keeps: 4 of 30 leaves ~154 bits unknown.
const HINT_BODY_CHARS: usize = 4;

/// A freshly generated token. Zeroed on drop; `Debug` never prints it.
pub struct Secret(Zeroizing<String>);

impl Secret {
    /// The token text, for the single place it is shown to the user.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// SHA-256 of the whole token string: what the database stores and looks up.
///
/// No salt or slow hash is needed: the body has ~178 bits from a CSPRNG, so there is no
/// dictionary to precompute and brute force is out of reach, while lookups stay one
/// indexed equality match.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct TokenHash(pub [u8; 32]);

impl TokenHash {
    pub fn of(token: &str) -> TokenHash {
        TokenHash(Sha256::digest(token.as_bytes()).into())
    }
}

impl fmt::Debug for TokenHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TokenHash(")?;
        for b in &self.0[..4] {
            write!(f, "{b:02x}")?;
        }
        write!(f, "…)")
    }
}

/// A token that was just made: the secret, its hash and its hint.
#[derive(Debug)]
pub struct Generated {
    pub secret: Secret,
    pub hash: TokenHash,
    pub hint: String,
}

/// Why a presented string is not a token. Carries no part of the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Malformed {
    TooLong,
    Shape,
    Checksum,
}

impl fmt::Display for Malformed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Malformed::TooLong => "longer than any token",
            Malformed::Shape => "not of the form <prefix>_<env>_<36 base62 characters>",
            Malformed::Checksum => "checksum does not match (mistyped or truncated)",
        })
    }
}

/// A string that has the shape of a token and a valid checksum.
#[derive(Clone, Copy)]
pub struct Parsed<'a> {
    text: &'a str,
    prefix_len: usize,
    env_end: usize,
}

impl<'a> Parsed<'a> {
    pub fn prefix(&self) -> &'a str {
        &self.text[..self.prefix_len]
    }
    pub fn env(&self) -> &'a str {
        &self.text[self.prefix_len + 1..self.env_end]
    }
    fn body(&self) -> &'a str {
        let start = self.env_end + 1;
        &self.text[start..start + BODY_LEN]
    }
    pub fn hash(&self) -> TokenHash {
        TokenHash::of(self.text)
    }
    pub fn hint(&self) -> String {
        hint(self.prefix(), self.env(), self.body())
    }
}

impl fmt::Debug for Parsed<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Parsed({})", self.hint())
    }
}

/// The non-secret display form: prefix, environment and the first body characters.
fn hint(prefix: &str, env: &str, body: &str) -> String {
    format!("{prefix}_{env}_{}…", &body[..HINT_BODY_CHARS])
}

/// Whether `s` is a valid token prefix: `[a-z]{2,8}`.
pub fn is_valid_prefix(s: &str) -> bool {
    (2..=8).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_lowercase())
}

/// Whether `s` is a valid environment name: `[a-z][a-z0-9]{1,7}`.
pub fn is_valid_env(s: &str) -> bool {
    let b = s.as_bytes();
    (2..=8).contains(&b.len())
        && b[0].is_ascii_lowercase()
        && b[1..]
            .iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
}

/// Generates a token from the OS CSPRNG. `prefix` and `env` must already be valid.
pub fn generate(prefix: &str, env: &str) -> anyhow::Result<Generated> {
    debug_assert!(is_valid_prefix(prefix) && is_valid_env(env));
    let body = Zeroizing::new(random_base62(BODY_LEN)?);
    let mut text = Zeroizing::new(String::with_capacity(MAX_LEN));
    text.push_str(prefix);
    text.push('_');
    text.push_str(env);
    text.push('_');
    text.push_str(&body);
    text.push_str(&checksum(body.as_bytes()));
    Ok(Generated {
        hash: TokenHash::of(&text),
        hint: hint(prefix, env, &body),
        secret: Secret(text),
    })
}

/// A new public id: 8 characters of `[a-z0-9]`, random, unrelated to any secret.
pub fn new_public_id() -> anyhow::Result<String> {
    const ALPHABET: &[u8; 36] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    random_from(ALPHABET, ID_LEN)
}

fn random_base62(len: usize) -> anyhow::Result<String> {
    random_from(BASE62, len)
}

/// Uniform characters from `alphabet` by rejection sampling of OS random bytes.
fn random_from(alphabet: &[u8], len: usize) -> anyhow::Result<String> {
    // Largest multiple of the alphabet size that fits in a byte: bytes at or above it are
    // dropped so that every character is equally likely.
    let limit = (256 / alphabet.len() * alphabet.len()) as u8;
    let mut out = String::with_capacity(len);
    let mut buf = Zeroizing::new([0u8; 64]);
    while out.len() < len {
        SysRng
            .try_fill_bytes(&mut buf[..])
            .map_err(|e| anyhow::anyhow!("the operating system's random source failed: {e}"))?;
        for &b in buf.iter() {
            if b < limit && out.len() < len {
                out.push(alphabet[b as usize % alphabet.len()] as char);
            }
        }
    }
    Ok(out)
}

/// CRC-32 (IEEE 802.3, as zlib's `crc32`).
pub fn crc32(bytes: &[u8]) -> u32 {
    crc32fast::hash(bytes)
}

/// The 6-character base62 checksum of a body.
pub fn checksum(body: &[u8]) -> String {
    String::from_utf8(checksum_digits(body).to_vec()).expect("base62 is ASCII")
}

/// [`checksum`]'s digits, without an allocation: `parse` runs for every request a server
/// answers.
fn checksum_digits(body: &[u8]) -> [u8; CHECK_LEN] {
    let mut n = crc32(body);
    let mut out = [b'0'; CHECK_LEN];
    for slot in out.iter_mut().rev() {
        *slot = BASE62[(n % 62) as usize];
        n /= 62;
    }
    // 62^6 > 2^32, so nothing is left over.
    debug_assert_eq!(n, 0);
    out
}

fn is_base62(b: u8) -> bool {
    b.is_ascii_alphanumeric()
}

/// Checks shape and checksum. Never touches the database, never echoes the input.
pub fn parse(input: &str) -> Result<Parsed<'_>, Malformed> {
    if input.len() > MAX_LEN {
        return Err(Malformed::TooLong);
    }
    let bytes = input.as_bytes();
    // By byte: `_` is ASCII, so its position is a char boundary.
    let underscore = |b: &[u8]| b.iter().position(|&b| b == b'_').ok_or(Malformed::Shape);
    let prefix_len = underscore(bytes)?;
    let rest = &input[prefix_len + 1..];
    let env_len = underscore(rest.as_bytes())?;
    let env_end = prefix_len + 1 + env_len;
    let tail = &bytes[env_end + 1..];
    if !is_valid_prefix(&input[..prefix_len])
        || !is_valid_env(&rest[..env_len])
        || tail.len() != BODY_LEN + CHECK_LEN
        || !tail.iter().all(|&b| is_base62(b))
    {
        return Err(Malformed::Shape);
    }
    let (body, check) = tail.split_at(BODY_LEN);
    if checksum_digits(body) != check {
        return Err(Malformed::Checksum);
    }
    Ok(Parsed {
        text: input,
        prefix_len,
        env_end,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn crc32_check_value() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
    }

    #[test]
    fn checksum_is_six_base62_digits_left_padded() {
        // CRC-32 of the empty string is 0; of "123456789" the check value, in base62.
        assert_eq!(checksum(b""), "000000");
        assert_eq!(checksum(b"123456789"), "3jZRME");
    }

    #[test]
    fn generated_token_parses() {
        let g = generate("tok", "live").unwrap();
        let text = g.secret.expose();
        assert_eq!(text.len(), 9 + 36);
        let p = parse(text).unwrap();
        assert_eq!(p.prefix(), "tok");
        assert_eq!(p.env(), "live");
        assert_eq!(p.hash(), g.hash);
        assert_eq!(p.hint(), g.hint);
        assert!(g.hint.starts_with("tok_live_") && g.hint.ends_with('…'));
        assert_eq!(g.hint.chars().count(), "tok_live_".len() + 4 + 1);
    }

    #[test]
    fn debug_never_shows_secret() {
        let g = generate("tok", "live").unwrap();
        let body = &g.secret.expose()[9..39];
        let dbg = format!("{g:?} {:?}", parse(g.secret.expose()).unwrap());
        assert!(!dbg.contains(body), "{dbg}");
        assert!(!dbg.contains(g.secret.expose()));
    }

    #[test]
    fn malformed_inputs() {
        assert_eq!(parse("").unwrap_err(), Malformed::Shape);
        assert_eq!(parse("tok_live").unwrap_err(), Malformed::Shape);
        assert_eq!(parse(&"a".repeat(500)).unwrap_err(), Malformed::TooLong);
        let g = generate("tok", "live").unwrap();
        let t = g.secret.expose();
        assert_eq!(parse(&t[..t.len() - 1]).unwrap_err(), Malformed::Shape);
        assert_eq!(
            parse(&format!("Tok{}", &t[3..])).unwrap_err(),
            Malformed::Shape
        );
        assert_eq!(parse(&format!("{t} ")).unwrap_err(), Malformed::Shape);
        assert_eq!(
            parse(&t.replace("_live_", "_li-e_")).unwrap_err(),
            Malformed::Shape
        );
    }

    #[test]
    fn ids_are_lowercase_alphanumeric() {
        let id = new_public_id().unwrap();
        assert_eq!(id.len(), ID_LEN);
        assert!(
            id.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        );
    }

    #[test]
    fn prefix_and_env_grammar() {
        assert!(is_valid_prefix("tok") && is_valid_prefix("ab") && is_valid_prefix("abcdefgh"));
        assert!(!is_valid_prefix("a") && !is_valid_prefix("abcdefghi") && !is_valid_prefix("t0k"));
        assert!(is_valid_env("live") && is_valid_env("test") && is_valid_env("s3"));
        assert!(!is_valid_env("l") && !is_valid_env("3abc") && !is_valid_env("Live"));
        assert!(!is_valid_env("abcdefghi"));
    }

    proptest! {
        #[test]
        // The checksum covers the body; each body or check character is covered by it.
        fn any_single_character_change_fails(pos in 9usize..45, replacement in 0usize..62) {
            let g = generate("tok", "live").unwrap();
            let mut bytes = g.secret.expose().as_bytes().to_vec();
            let new = BASE62[replacement];
            prop_assume!(bytes[pos] != new);
            bytes[pos] = new;
            let changed = String::from_utf8(bytes).unwrap();
            prop_assert_eq!(parse(&changed).unwrap_err(), Malformed::Checksum);
        }

        #[test]
        fn parse_never_panics(s in "\\PC{0,80}") {
            let _ = parse(&s);
        }

        #[test]
        fn generated_tokens_always_parse(env in "[a-z][a-z0-9]{1,7}", prefix in "[a-z]{2,8}") {
            let g = generate(&prefix, &env).unwrap();
            let p = parse(g.secret.expose()).unwrap();
            prop_assert_eq!(p.env(), env.as_str());
            prop_assert_eq!(p.prefix(), prefix.as_str());
        }
    }
}
