//! Why a question is refused, and everything that follows from the reason alone: the
//! word `tokenctl verify --json` prints and `/metrics` counts, whether it is
//! unauthenticated (HTTP 401, exit 3) or forbidden (HTTP 403, exit 4; a server answers
//! `rate_limited` with 429 instead), and the
//! `WWW-Authenticate` challenge a server answers with (RFC 6750 section 3). Users read
//! the same in the README ("Forward auth with serve": its table of answers and the
//! `/metrics` reasons), in SECURITY.md (challenges) and in `man tokenctl-verify` (EXIT
//! STATUS).
//!
//! A request that maps to no scope ([`Unmapped`]) is decided by the server's rules before
//! the question is asked, and travels in the question as it was found: its reason is
//! never guessed back from another one.

use std::borrow::Cow;
use std::fmt;

use serde::Serialize;

use super::question::Need;

/// Why a question was refused, in the order the checks run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DenyReason {
    /// No bearer token: no `Authorization` header, or one of another scheme.
    Missing,
    Malformed,
    Unknown,
    Revoked,
    Expired,
    /// Suspended by an admin (`tokenctl suspend`) until resumed.
    Suspended,
    WrongEnv,
    IpNotAllowed,
    InsufficientScope,
    /// A genuine token, but no rule maps the request to a scope.
    Unmapped,
    /// A genuine token, but readers of the request disagree about what it asks for.
    Ambiguous,
    /// A genuine token that may make the request, but over its rate limit: HTTP 429
    /// from a server (403 with `--rate-limited-status 403`), exit 4 from `verify`.
    RateLimited,
}

const INVALID_TOKEN: &str = "Bearer error=\"invalid_token\"";
const WRONG_ENV: &str =
    "Bearer error=\"invalid_token\", error_description=\"the token is for another environment\"";
const IP_NOT_ALLOWED: &str = "Bearer error=\"invalid_token\", error_description=\"the token may not be used from this client address\"";
const SUSPENDED: &str =
    "Bearer error=\"invalid_token\", error_description=\"the token is suspended\"";
const RATE_LIMITED: &str =
    "Bearer error=\"invalid_token\", error_description=\"the token is over its rate limit\"";
const UNMAPPED: &str = "Bearer error=\"insufficient_scope\", error_description=\"no rule maps this request to a scope\"";

impl DenyReason {
    pub const ALL: [DenyReason; 12] = [
        DenyReason::Missing,
        DenyReason::Malformed,
        DenyReason::Unknown,
        DenyReason::Revoked,
        DenyReason::Expired,
        DenyReason::Suspended,
        DenyReason::WrongEnv,
        DenyReason::IpNotAllowed,
        DenyReason::InsufficientScope,
        DenyReason::Unmapped,
        DenyReason::Ambiguous,
        DenyReason::RateLimited,
    ];

    /// The reason's word: in `verify --json`, and the `reason` label of `/metrics`.
    pub fn as_str(self) -> &'static str {
        match self {
            DenyReason::Missing => "missing",
            DenyReason::Malformed => "malformed",
            DenyReason::Unknown => "unknown",
            DenyReason::Revoked => "revoked",
            DenyReason::Expired => "expired",
            DenyReason::Suspended => "suspended",
            DenyReason::WrongEnv => "wrong_env",
            DenyReason::IpNotAllowed => "ip_not_allowed",
            DenyReason::InsufficientScope => "insufficient_scope",
            DenyReason::Unmapped => "unmapped",
            DenyReason::Ambiguous => "ambiguous",
            DenyReason::RateLimited => "rate_limited",
        }
    }

    /// Forbidden (HTTP 403, exit 4): a genuine token asked for something it may not do.
    /// Otherwise unauthenticated (HTTP 401, exit 3).
    pub fn is_forbidden(self) -> bool {
        matches!(
            self,
            DenyReason::WrongEnv
                | DenyReason::IpNotAllowed
                | DenyReason::InsufficientScope
                | DenyReason::Unmapped
                | DenyReason::Ambiguous
                | DenyReason::RateLimited
        )
    }

    /// The `WWW-Authenticate` challenge: no error code without a bearer token (RFC 6750
    /// section 3.1); the scope only when the token lacks it; otherwise a description of
    /// what was wrong, in plain words and without request data. `need` is what the
    /// question asked, for the scope or the kind of ambiguity.
    pub fn challenge(self, need: &Need) -> Cow<'static, str> {
        match self {
            DenyReason::Missing => Cow::Borrowed("Bearer"),
            DenyReason::Malformed
            | DenyReason::Unknown
            | DenyReason::Revoked
            | DenyReason::Expired => Cow::Borrowed(INVALID_TOKEN),
            DenyReason::Suspended => Cow::Borrowed(SUSPENDED),
            DenyReason::WrongEnv => Cow::Borrowed(WRONG_ENV),
            DenyReason::IpNotAllowed => Cow::Borrowed(IP_NOT_ALLOWED),
            // A scope is `[a-z0-9_*-]+:[a-z]+`: nothing in it needs quoting.
            DenyReason::InsufficientScope => match need {
                Need::Scope(s) => Cow::Owned(format!(
                    "Bearer error=\"insufficient_scope\", scope=\"{s}\""
                )),
                Need::Nothing | Need::Unmapped(_) => Cow::Borrowed(UNMAPPED),
            },
            DenyReason::Unmapped => Cow::Borrowed(UNMAPPED),
            DenyReason::RateLimited => Cow::Borrowed(RATE_LIMITED),
            DenyReason::Ambiguous => {
                let why = match need {
                    Need::Unmapped(Unmapped::Ambiguous(kind)) => kind.description(),
                    _ => "the request reads differently to different servers",
                };
                Cow::Owned(format!(
                    "Bearer error=\"invalid_request\", error_description=\"ambiguous request: {why}\""
                ))
            }
        }
    }
}

impl fmt::Display for DenyReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a request needs a scope that no token has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unmapped {
    /// No rule (and not the convention) maps it.
    NoRule,
    /// Readers of the request disagree about what it asks for.
    Ambiguous(Ambiguity),
}

impl Unmapped {
    /// The refusal of a genuine, active token for such a request.
    pub fn reason(self) -> DenyReason {
        match self {
            Unmapped::NoRule => DenyReason::Unmapped,
            Unmapped::Ambiguous(_) => DenyReason::Ambiguous,
        }
    }
}

/// Why a request cannot be decided: its parts read differently to different readers.
/// Each kind is counted in `/metrics` under its [`Ambiguity::as_str`] label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ambiguity {
    /// A `.` or `..` segment in any spelling (`%2e`, `.%2E`, a segment ending in a dot).
    DotSegment,
    /// An encoded `/`, `\`, `;`, `?`, `#` or `%` (double encoding).
    EncodedSeparator,
    /// A raw `\`, `;` (path parameters), `#` (fragment) or `//` (an empty segment).
    Separator,
    /// A NUL, another control byte or a space, raw or encoded.
    Control,
    /// A malformed escape, bytes that are not UTF-8 (overlong forms), a character that
    /// NFKC normalisation changes, an unreserved character encoded, or a `+`.
    Encoding,
    /// Not a path: an absolute URI (another host), `*`, or no leading `/`.
    Form,
    /// The rules decide differently when the path is read in lower case, as
    /// case-insensitive routers read it.
    Case,
    /// A method-override header or `_method` parameter asking for more than the method.
    MethodOverride,
    /// Copies of a header the decision depends on disagree (original method or URI,
    /// client address).
    ConflictingHeaders,
}

impl Ambiguity {
    pub const ALL: [Ambiguity; 9] = [
        Ambiguity::DotSegment,
        Ambiguity::EncodedSeparator,
        Ambiguity::Separator,
        Ambiguity::Control,
        Ambiguity::Encoding,
        Ambiguity::Form,
        Ambiguity::Case,
        Ambiguity::MethodOverride,
        Ambiguity::ConflictingHeaders,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Ambiguity::DotSegment => "dot_segment",
            Ambiguity::EncodedSeparator => "encoded_separator",
            Ambiguity::Separator => "separator",
            Ambiguity::Control => "control",
            Ambiguity::Encoding => "encoding",
            Ambiguity::Form => "form",
            Ambiguity::Case => "case",
            Ambiguity::MethodOverride => "method_override",
            Ambiguity::ConflictingHeaders => "conflicting_headers",
        }
    }

    /// What a client is told (`error_description`): plain words, no request data.
    pub fn description(self) -> &'static str {
        match self {
            Ambiguity::DotSegment => "the path has a dot segment",
            Ambiguity::EncodedSeparator => "the path has an encoded separator",
            Ambiguity::Separator => {
                "the path has a backslash, semicolon, fragment or empty segment"
            }
            Ambiguity::Control => "the path has a control character or space",
            Ambiguity::Encoding => "the path is encoded ambiguously",
            Ambiguity::Form => "the request target is not a plain path",
            Ambiguity::Case => "the path maps differently in lower case",
            Ambiguity::MethodOverride => "a method override asks for more than the method",
            Ambiguity::ConflictingHeaders => "copies of a request header disagree",
        }
    }
}

impl fmt::Display for Ambiguity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
