//! The command line, as clap definitions only. Also read by the xtask that writes the
//! completions and man pages, so every flag's help lives here.
//!
//! Values with a grammar (scopes, durations, CIDRs) are parsed here into their types, so
//! commands never parse text by hand; free text (names, reasons) is checked by the command
//! that knows the rules, with the offending text escaped in the message.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum, ValueHint};
use ipnet::IpNet;

use crate::expiry::{Expiry, Span};
use crate::rate_limit::RateLimit;
use crate::scope::Scope;

const ABOUT_LONG: &str = "\
Manage API tokens for a web application's HTTP API: create, list, show, rotate, revoke and
audit them; answer 'is this bearer token allowed?' for the API (verify, or serve as a
forward-auth endpoint for a reverse proxy); find leaked tokens in files and git history
(scan).

Secrets are printed exactly once; the database (one SQLite file) keeps only their SHA-256.";

const EXAMPLES: &str = "\
Examples:
  # A token for the Mailchimp sync that may read and write contacts, for 30 days
  tokenctl create --name 'Mailchimp sync' --scope contacts:write --expires 30d

  # Everything active, as a table; the same as JSON for scripts
  tokenctl list
  tokenctl list --json | jq -r '.[].name'

  # Replace a token, letting the old one work for one more hour
  tokenctl rotate 'Mailchimp sync' --grace 1h

  # Shut one off now
  tokenctl revoke k3j9x0a1 --reason 'laptop stolen' --yes";

/// The heading of the flags every command takes, kept apart from each command's own.
const GLOBAL: &str = "Global options";

#[derive(Debug, Parser)]
#[command(
    name = "tokenctl",
    version,
    about = "Manage, verify and audit API tokens",
    long_about = ABOUT_LONG,
    after_long_help = EXAMPLES,
    propagate_version = true,
    max_term_width = 100
)]
pub struct Cli {
    /// Database file, or a postgres:// URL [default: ~/.local/share/tokenctl/tokens.db]
    #[arg(
        long,
        global = true,
        value_name = "PATH",
        env = "TOKENCTL_DB",
        value_hint = ValueHint::FilePath,
        help_heading = GLOBAL
    )]
    pub db: Option<PathBuf>,

    /// Print only data and errors, no notices
    #[arg(short, long, global = true, help_heading = GLOBAL)]
    pub quiet: bool,

    /// When to use colours (NO_COLOR turns off 'auto')
    #[arg(
        long,
        global = true,
        value_enum,
        value_name = "WHEN",
        default_value_t = ColorChoice::Auto,
        help_heading = GLOBAL
    )]
    pub color: ColorChoice,

    /// Show times in UTC instead of local time (JSON is always UTC)
    #[arg(long, global = true, help_heading = GLOBAL)]
    pub utc: bool,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    /// Colours on a terminal, unless NO_COLOR is set or TERM is dumb
    Auto,
    /// Colours even into a pipe or file
    Always,
    /// No colours
    Never,
}

#[derive(Debug, Subcommand)]
#[command(defer = true)]
pub enum Command {
    /// Create the database, and say where it is
    ///
    /// Creates the database file (mode 0600, in a directory with mode 0700) at --db, else
    /// TOKENCTL_DB, else the default path. Only init, create and config set create a
    /// database: every other command refuses a missing one, so that a mistyped path is an
    /// error rather than an empty database. Running it again changes nothing.
    Init(InitArgs),
    /// Create a token and print its secret, once
    ///
    /// Prints only the token and a newline on stdout (a notice goes to stderr), so that
    /// `TOKEN=$(tokenctl create ...)` captures exactly the secret. With --json, prints the
    /// token's metadata and the secret as "token". On a terminal, asks for whatever is missing.
    /// Tokens may share a name (a warning says so) unless --if-absent is given.
    Create(CreateArgs),
    /// List tokens
    ///
    /// Shows one row per token: ID, NAME, ENV, SCOPES, EXPIRES, LAST USED, REQ 24H, STATUS
    /// (and LIMIT, before STATUS, when a token listed has a rate limit). Only tokens that are
    /// neither expired nor revoked (active; rotating: rotated, in their grace period;
    /// suspended) unless --status says otherwise. --expiring-within leaves rotating tokens
    /// out: their successor is the one to renew.
    List(ListArgs),
    /// Show one token: metadata, usage and history (never the secret)
    ///
    /// Usage covers the last use and its IP, requests in the last 24h, 7d and 30d (allowed and
    /// denied), each source IP with first and last sighting, and a 30-day sparkline.
    Show(ShowArgs),
    /// Revoke a token: it stops working on the very next request
    ///
    /// By name, also revokes the tokens of the name's rotation chain that still work (an old
    /// token in its rotation grace period): after a leak, both secrets must stop. By id, only
    /// that token (a warning names predecessors that still work). Several unrelated active
    /// tokens of one name are refused and listed: give the id. Asks for confirmation on a
    /// terminal unless --yes; without a terminal --yes is required. Revoking a token that is
    /// already revoked changes nothing and succeeds, and so does revoking a name whose tokens
    /// are all revoked.
    Revoke(RevokeArgs),
    /// Suspend a token: refused from the very next request until resumed
    ///
    /// For incident response: is this the token causing it? Suspend, watch, resume. A
    /// suspended token is refused as unauthenticated (serve answers 401, reason 'suspended';
    /// verify exits 3) and logged as such; its expiry keeps running, and it cannot be rotated
    /// until resumed. By name, also suspends the tokens of the name's rotation chain that
    /// still work (an old token in its rotation grace period: the integration may still use
    /// it); by id, only that token. Several unrelated tokens of one name are refused and
    /// listed: give the id. Suspending a suspended token changes nothing and succeeds; a
    /// revoked or expired token is refused (exit 2).
    Suspend(SuspendArgs),
    /// Resume a suspended token: it works again from the very next request
    ///
    /// Ends a suspension (see `tokenctl suspend`); by name, also of the suspended tokens of
    /// the name's rotation chain. Resuming a token that is not suspended
    /// changes nothing and succeeds, so that a script may resume unconditionally; a revoked or
    /// expired token is refused (exit 2).
    Resume(ResumeArgs),
    /// Set or remove a token's rate limit
    ///
    /// At most N requests per second, minute or hour (10/s, 100/min, 5000/h): over it, serve
    /// answers 429 with Retry-After and the RateLimit headers, and the library's verifier
    /// refuses with reason 'rate_limited'. A token may make N requests at once, then one
    /// more every 1/N of the unit (a bucket of N, refilled at the limit's rate). Each serve
    /// process counts on its own, in memory: see the README ("Rate limits") for several
    /// servers and restarts. Takes effect from the next request; the limit moves to the
    /// successor when the token is rotated. Setting the limit a token has already, or
    /// removing none, changes nothing and succeeds.
    Limit(LimitArgs),
    /// Replace a token with a new one, letting the old one work for a grace period
    ///
    /// The new token gets the same name, environment, scopes, allowed IPs and description, and
    /// its secret is printed like `create` prints it. The old token expires after the grace
    /// period (default 24h); `--grace 0` revokes it at once. History links the two.
    Rotate(RotateArgs),
    /// Audit usage: requests, source IPs and anomaly flags
    ///
    /// Without ID|NAME: one row per token with requests, denied, distinct IPs, last use and
    /// flags over the window (default 30d), and uses of unknown or malformed tokens. With
    /// ID|NAME: that token's usage per IP and per day. Flags are about the last 24 hours:
    /// NEW_IP, SPIKE, DENIED_USE, IP_BLOCKED. --check exits 5 when any flag is raised, and 1
    /// when the check itself fails (a missing or unreadable database).
    Audit(AuditArgs),
    /// Check a token, as the API would: exit 0 allowed, 3 unauthenticated, 4 forbidden
    ///
    /// Reads the token from $TOKENCTL_TOKEN when it is set, else from the first line of stdin
    /// (with a hidden prompt on a terminal). Never from an argument: arguments end up in shell
    /// history and in `ps`. Records the use, allowed or denied, unless --no-record.
    Verify(VerifyArgs),
    /// Run the forward-auth endpoint for nginx, Caddy, Traefik or Envoy
    ///
    /// Answers /auth (any method) for a reverse proxy: 200 with X-Token-Id, X-Token-Name
    /// (percent-encoded where not printable ASCII) and X-Token-Scopes when the bearer token may
    /// make the original request (X-Original-Method/-URI or X-Forwarded-Method/-Uri); 401 with
    /// `WWW-Authenticate: Bearer error="invalid_token"` for a missing, malformed, unknown,
    /// revoked, expired or suspended token; 403 with error="insufficient_scope" for scope, IP
    /// allow list, environment, or a request no rule maps; 429 with Retry-After and the IETF
    /// RateLimit-Policy and RateLimit headers for a token over its rate limit (each server
    /// process counts on its own); 503 when the database cannot answer.
    ///
    /// The scope needed is /api/<module>/... with GET, HEAD, OPTIONS → read; POST, PUT, PATCH →
    /// write; DELETE → delete, unless --rules says otherwise. The client address is X-Real-IP or
    /// the first X-Forwarded-For entry when the peer is a trusted proxy, else the peer. Every
    /// request is decided on the database as it is after the request arrived (no stale cache),
    /// so a revoked token is refused at once. Usage is committed every second; SIGTERM or
    /// SIGINT commit it and exit 0 (SIGKILL loses at most the last second of counts). Also
    /// serves /healthz and /metrics (Prometheus).
    ///
    /// For OAuth clients: POST /introspect (RFC 7662) answers about the form's token to a
    /// caller whose own bearer token grants tokenctl:read (only by name: * does not cover
    /// it): {"active":false} for any token /auth would refuse. POST /revoke (RFC 7009)
    /// revokes the form's token, its presentation being the authorisation; it answers 200
    /// whatever the token was, at most 20 times a minute per client address.
    Serve(ServeArgs),
    /// Show or change the database's settings
    ///
    /// Settings live in the database, so every admin and process shares them:
    /// token_prefix, default_lifetime, max_lifetime, modules, usage_retention, token_retention,
    /// spike_factor, spike_min_requests.
    Config(ConfigArgs),
    /// Delete old usage counters, or with --tokens old revoked and expired tokens
    ///
    /// Deletes the hourly request counts (per token and source IP, and those of unknown or
    /// malformed tokens) older than the given age, by default the setting usage_retention
    /// (400d). Tokens, their first/last-seen IPs and the event log are kept; the deletion is
    /// itself recorded in the event log.
    ///
    /// With --tokens, deletes instead the tokens revoked or expired longer ago than
    /// --older-than, by default the setting token_retention (400d). Their usage counters and
    /// first/last-seen IPs go with them; their events stay in the event log, where each
    /// deletion is recorded too.
    Prune(PruneArgs),
    /// Copy the database to a file only its owner can read
    ///
    /// Writes a consistent copy through SQLite's online backup API while servers and admins go
    /// on using the database: the copy holds every change committed before it began. The file
    /// is created mode 0600 whatever the umask (it holds the tokens' hashes and usage), checked,
    /// and synced to disk before it appears at PATH. An existing PATH is refused unless
    /// --force; a symbolic link at PATH is never followed (with --force, the link itself is
    /// replaced); missing directories are made 0700. Logs a `backup` event. To restore, see
    /// `sqlite3 .restore` in SECURITY.md.
    Backup(BackupArgs),
    /// Copy every token, setting, event and usage row into a new database
    ///
    /// Copies the database (--db, TOKENCTL_DB) into DEST, an SQLite file or a PostgreSQL
    /// database (postgres://…), whichever kind the source is: tokens with their hashes (every
    /// secret keeps working, none is reissued), statuses, rotations, expiry, allowed IPs and
    /// last use, the settings, the admin event log and the usage counters. The source is read
    /// in one consistent snapshot while servers go on using it, and is left unchanged. DEST is
    /// written in one transaction, ending with a `copy` event that names the source: a failure
    /// at any point leaves DEST as it was. DEST must hold no tokenctl data: a path where
    /// there is nothing (created 0600, missing directories 0700; a symbolic link there is
    /// refused, never followed), or a PostgreSQL database without tokenctl's schema (it is
    /// created) or with an empty one. Uses that servers record after the snapshot stay in the
    /// source: stop them first, then start them on DEST. A URL's password is never printed.
    Copy(CopyArgs),
    /// Find leaked tokens in files and git history, and revoke them
    ///
    /// Searches the files under each PATH (default: the current directory) for tokens of this
    /// format with a valid checksum, whatever their prefix, and shows where each one is (path,
    /// line, column counted in characters), its hint (never the token) and its status in this
    /// database: active, expired, revoked, or unknown (not in this database). Hidden and
    /// git-ignored files are searched too; binary files, files above --max-size and the inside
    /// of .git directories are skipped and counted.
    ///
    /// --git also searches every blob reachable from any ref of the repositories that hold the
    /// PATHs, each blob once, shown with the commit that added it. --revoke revokes the active
    /// (and suspended) tokens found at once (no question asked: the flag is the decision, and
    /// every target was proven by its own secret) and prints the command that issues a
    /// replacement.
    ///
    /// Exit status: 5 when an active or suspended token is found, also when --revoke revoked
    /// it (the secret is still where it was found); with --strict also when an unknown token
    /// is found; 1 when the search or the lookup failed; 0 otherwise.
    Scan(ScanArgs),
    /// Print the completion script for bash, zsh, fish, elvish or PowerShell
    ///
    /// Prints the same script as the file in the repository's completions/ folder. Save it
    /// where the shell looks for completions, or load it from the shell's start-up file. The
    /// script asks tokenctl (which must be on PATH) what to offer: subcommands, flags, their
    /// fixed values, and from the database the token ids and names, environments, catalogue
    /// scopes and setting keys. Completing never creates a database or prints a secret.
    Completions(CompletionsArgs),
}

impl Command {
    /// Whether the command was asked for JSON (`--json`), which decides the output form.
    pub fn json(&self) -> bool {
        match self {
            Command::Create(a) => a.json,
            Command::List(a) => a.json,
            Command::Show(a) => a.json,
            Command::Revoke(a) => a.json,
            Command::Suspend(a) => a.json,
            Command::Resume(a) => a.json,
            Command::Limit(a) => a.json,
            Command::Rotate(a) => a.json,
            Command::Audit(a) => a.json,
            Command::Verify(a) => a.json,
            Command::Prune(a) => a.json,
            Command::Backup(a) => a.json,
            Command::Copy(a) => a.json,
            Command::Scan(a) => a.json,
            Command::Config(a) => match &a.action {
                ConfigAction::List { json } | ConfigAction::Get { json, .. } => *json,
                ConfigAction::Set { .. } => false,
            },
            Command::Init(_) | Command::Serve(_) | Command::Completions(_) => false,
        }
    }
}

#[derive(Debug, Args)]
#[command(after_long_help = "\
Examples:
  tokenctl init
  tokenctl --db /var/lib/tokenctl/tokens.db init")]
pub struct InitArgs {}

#[derive(Debug, Args)]
#[command(after_long_help = "\
Examples:
  tokenctl create --name 'Mailchimp sync' --scope contacts:write --expires 30d
  tokenctl create --name importer --scope cases:write --scope documents:read \\
      --allow-ip 203.0.113.0/24 --description 'nightly case import'
  # A CI job's token for one hour. The secret alone is on stdout: no jq, and no pipe
  # whose last command would hide a failure of tokenctl
  API_TOKEN=$(tokenctl create --name \"ci-$CI_JOB_ID\" --scope cases:read --expires 1h) || exit 1
  # Provisioning that may run twice: the second run creates nothing and prints no secret
  tokenctl create --name 'Mailchimp sync' --scope contacts:write --if-absent")]
pub struct CreateArgs {
    /// What the token is for, such as the integration's name (refused when it could be
    /// mistaken for another token's name or id)
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,

    /// A grant, <module>:<read|write|delete>; repeat or separate with commas (at most 50)
    #[arg(long = "scope", value_name = "SCOPE", value_delimiter = ',', value_parser = parse_scope)]
    pub scopes: Vec<Scope>,

    /// Duration (12h, 30d, 6w, 1y), date (2027-03-01), RFC 3339 time, or 'never'
    /// [default: setting default_lifetime]
    #[arg(long, value_name = "WHEN", value_parser = parse_expiry, allow_hyphen_values = true)]
    pub expires: Option<ExpiryArg>,

    /// Environment the token works in (live, test, ...) [default: live]; warns when no
    /// other token has it, as no server may accept it (serve accepts only its own --env)
    #[arg(long, value_name = "ENV", value_parser = parse_env)]
    pub env: Option<String>,

    /// Only clients in this network may use the token (IPv4 or IPv6 CIDR or address);
    /// repeat or separate with commas
    #[arg(long = "allow-ip", value_name = "CIDR", value_delimiter = ',', value_parser = parse_cidr)]
    pub allow_ips: Vec<IpNet>,

    /// A longer note about the token
    #[arg(long, value_name = "TEXT")]
    pub description: Option<String>,

    /// At most this many requests (N/s, N/min or N/h, as in 100/min): over it, serve
    /// answers 429 [default: no limit]
    #[arg(long, value_name = "N/UNIT", value_parser = parse_rate_limit)]
    pub rate_limit: Option<RateLimit>,

    /// Allow the all-powerful scope *:delete
    #[arg(long)]
    pub unrestricted: bool,

    /// If an active token has this name, create nothing and exit 0: no secret is printed,
    /// stderr says what exists (with --json, its metadata is printed, without "token")
    #[arg(long)]
    pub if_absent: bool,

    /// Print the token and its metadata as JSON
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum StatusFilter {
    /// Neither expired nor revoked (tokens in their rotation grace period, and suspended
    /// ones, included)
    Active,
    /// Rotated to a successor, and working until their grace period ends
    Rotating,
    /// Suspended (refused until resumed), neither expired nor revoked
    Suspended,
    /// Past their expiry, not revoked
    Expired,
    /// Revoked
    Revoked,
    /// Every token
    All,
}

#[derive(Debug, Args)]
#[command(after_long_help = "\
Examples:
  tokenctl list --status all
  # Tokens that expire within two weeks, for a weekly report
  tokenctl list --expiring-within 14d
  # Tokens nobody used for 90 days: candidates for revocation
  tokenctl list --unused-for 90d --json | jq -r '.[].id'")]
pub struct ListArgs {
    /// Which tokens to show
    #[arg(long, value_enum, default_value_t = StatusFilter::Active)]
    pub status: StatusFilter,

    /// Only tokens of this environment
    #[arg(long, value_name = "ENV", value_parser = parse_env)]
    pub env: Option<String>,

    /// Only tokens that expire within this duration
    #[arg(long, value_name = "DURATION", value_parser = parse_span, allow_hyphen_values = true)]
    pub expiring_within: Option<Span>,

    /// Only tokens not used for this long (never-used tokens count from their creation)
    #[arg(long, value_name = "DURATION", value_parser = parse_span, allow_hyphen_values = true)]
    pub unused_for: Option<Span>,

    /// Print as JSON
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
#[command(after_long_help = "\
Examples:
  tokenctl show k3j9x0a1
  tokenctl show 'Mailchimp sync' --json | jq .usage.ips")]
pub struct ShowArgs {
    /// The token's id, or its name
    #[arg(value_name = "ID|NAME")]
    pub token: String,

    /// Print as JSON
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
#[command(after_long_help = "\
Examples:
  tokenctl revoke k3j9x0a1 --reason 'pushed to a public repository'
  tokenctl revoke 'old importer' --yes")]
pub struct RevokeArgs {
    /// The token's id, or its name
    #[arg(value_name = "ID|NAME")]
    pub token: String,

    /// Why, for the history
    #[arg(long, value_name = "TEXT")]
    pub reason: Option<String>,

    /// Do not ask for confirmation
    #[arg(short, long)]
    pub yes: bool,

    /// Print the revoked token as JSON, with the ids of its predecessors revoked with it
    /// in "also_revoked"
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
#[command(after_long_help = "\
Examples:
  tokenctl suspend k3j9x0a1 --reason 'request spike from 192.0.2.1, looking into it'
  # ... watch the API's logs, then let it work again
  tokenctl resume k3j9x0a1
  tokenctl list --status suspended")]
pub struct SuspendArgs {
    /// The token's id, or its name
    #[arg(value_name = "ID|NAME")]
    pub token: String,

    /// Why, for the history and `show`
    #[arg(long, value_name = "TEXT")]
    pub reason: Option<String>,

    /// Print the token as JSON, with "changed": false when it was suspended already
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
#[command(after_long_help = "\
Examples:
  tokenctl resume k3j9x0a1
  tokenctl resume 'Mailchimp sync' --json | jq .status")]
pub struct ResumeArgs {
    /// The token's id, or its name
    #[arg(value_name = "ID|NAME")]
    pub token: String,

    /// Print the token as JSON, with "changed": false when it was not suspended
    #[arg(long)]
    pub json: bool,
}

/// A rate limit, or none, as `limit` and `rotate --rate-limit` take it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitValue {
    Set(RateLimit),
    None,
}

impl LimitValue {
    pub fn limit(self) -> Option<RateLimit> {
        match self {
            LimitValue::Set(limit) => Some(limit),
            LimitValue::None => None,
        }
    }
}

#[derive(Debug, Args)]
#[command(after_long_help = "\
Examples:
  tokenctl limit 'Mailchimp sync' 100/min
  tokenctl limit k3j9x0a1 none
  tokenctl limit k3j9x0a1 --remove --json | jq .rate_limit")]
#[command(group(clap::ArgGroup::new("what").required(true).args(["limit", "remove"])))]
pub struct LimitArgs {
    /// The token's id, or its name
    // Indexes fixed: completion re-adds `token`, which would otherwise move it last.
    #[arg(value_name = "ID|NAME", index = 1)]
    pub token: String,

    /// N/s, N/min or N/h (1 to 1000000 requests), or none
    #[arg(value_name = "LIMIT", index = 2, value_parser = parse_limit_value)]
    pub limit: Option<LimitValue>,

    /// Remove the token's rate limit (as LIMIT none)
    #[arg(long)]
    pub remove: bool,

    /// Print the token as JSON, with "changed": false when it had that limit already
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
#[command(after_long_help = "\
Examples:
  tokenctl rotate 'Mailchimp sync'
  # From a script: the old secret works for a day; the new one is checked, then goes to
  # Vault on stdin. (`rotate | vault` would store an empty secret if rotate failed.)
  secret=$(tokenctl rotate 'Mailchimp sync' --grace 24h) && [ -n \"$secret\" ] || exit 1
  printf '%s' \"$secret\" | vault kv put -mount=secret mailchimp token=- || exit 1")]
pub struct RotateArgs {
    /// The token's id, or its name
    #[arg(value_name = "ID|NAME")]
    pub token: String,

    /// How long the old token keeps working; 0 revokes it now
    #[arg(long, value_name = "DURATION", value_parser = parse_span, default_value = "24h", allow_hyphen_values = true)]
    pub grace: Span,

    /// Expiry of the new token [default: the old token's lifetime, else default_lifetime]
    #[arg(long, value_name = "WHEN", value_parser = parse_expiry, allow_hyphen_values = true)]
    pub expires: Option<ExpiryArg>,

    /// Rate limit of the new token (N/s, N/min, N/h, or none) [default: the old token's]
    #[arg(long, value_name = "N/UNIT", value_parser = parse_limit_value)]
    pub rate_limit: Option<LimitValue>,

    /// Print the new token and its metadata as JSON
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AuditBy {
    /// One row per source IP address
    Ip,
    /// One row per day
    Day,
}

#[derive(Debug, Args)]
#[command(after_long_help = "\
Examples:
  tokenctl audit
  tokenctl audit 'Mailchimp sync' --by ip --since 7d
  tokenctl audit --events --since 7d
  # From cron: mail the findings (exit 5); an error (exit 1) is on stderr, which cron mails
  status=0; findings=$(tokenctl audit --anomalies --check) || status=$?
  [ $status != 5 ] || printf '%s\\n' \"$findings\" | mail -s 'token anomalies' ops@example.com
  exit $status")]
pub struct AuditArgs {
    /// One token's id or name
    #[arg(value_name = "ID|NAME")]
    pub token: Option<String>,

    /// The window to report on
    #[arg(long, value_name = "DURATION", value_parser = parse_span, default_value = "30d", allow_hyphen_values = true)]
    pub since: Span,

    /// For one token: only the per-IP or only the per-day breakdown
    #[arg(long, value_enum, value_name = "WHAT")]
    pub by: Option<AuditBy>,

    /// Only tokens with anomaly flags
    #[arg(long)]
    pub anomalies: bool,

    /// Show the admin event log of the window instead of usage
    #[arg(long, conflicts_with_all = ["anomalies", "by", "check"])]
    pub events: bool,

    /// Exit 5 when any anomaly is flagged (for cron)
    #[arg(long)]
    pub check: bool,

    /// Print as JSON
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
#[command(after_long_help = "\
Examples:
  printf '%s\\n' \"$TOKEN\" | tokenctl verify --scope cases:read --ip 203.0.113.7
  TOKENCTL_TOKEN=$TOKEN tokenctl verify --env live --json < /dev/null")]
pub struct VerifyArgs {
    /// The scope the request needs, <module>:<read|write|delete>
    #[arg(long, value_name = "SCOPE", value_parser = parse_scope)]
    pub scope: Option<Scope>,

    /// The client's IP address, checked against the token's allowed networks
    #[arg(long, value_name = "IP")]
    pub ip: Option<IpAddr>,

    /// The environment this check runs in; tokens of other environments are refused
    #[arg(long, value_name = "ENV", value_parser = parse_env)]
    pub env: Option<String>,

    /// Do not record this use
    #[arg(long)]
    pub no_record: bool,

    /// Print the decision as JSON
    #[arg(long)]
    pub json: bool,

    /// Refused: tokens are never accepted as arguments
    #[arg(hide = true, value_name = "TOKEN")]
    pub token_argument: Option<String>,
}

#[derive(Debug, Args)]
#[command(after_long_help = "\
Examples:
  # Behind nginx auth_request on the same machine, for live tokens
  tokenctl --db /var/lib/tokenctl/tokens.db serve --listen 127.0.0.1:8457 --env live

  # Scopes from a rules file; Traefik in a container network is a trusted proxy
  tokenctl serve --rules /etc/tokenctl/rules.toml --trust-proxy 127.0.0.1,172.18.0.0/16

  # What the proxy asks, by hand: the header comes from a file (mode 0600), so that the
  # token is not in curl's arguments, where `ps` shows it
  curl -i http://127.0.0.1:8457/auth -H @/run/user/$UID/bearer.txt \\
      -H 'X-Original-Method: GET' -H 'X-Original-URI: /api/cases/12'
  # or from a pipe (curl 7.55 or later), with no token in any program's arguments
  { printf 'Authorization: Bearer '; cat ~/.config/api-token; } |
      curl -i -H @- -H 'X-Original-URI: /api/cases/12' http://127.0.0.1:8457/auth

  # Found a token in a public repository? Revoke it from the file it is in
  curl -i http://127.0.0.1:8457/revoke --data-urlencode token@leaked-token.txt")]
pub struct ServeArgs {
    /// Address to listen on: IPv4 or [IPv6] with a port (port 0 picks a free one)
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8457")]
    pub listen: SocketAddr,

    /// The environment this server accepts tokens of; tokens of others are denied (403)
    #[arg(long, value_name = "ENV", value_parser = parse_env, default_value = "live")]
    pub env: String,

    /// TOML file mapping methods and paths to the scope they need; the first matching rule
    /// wins and unmapped requests are denied [default: the /api/<module>/ convention]
    #[arg(long, value_name = "FILE")]
    pub rules: Option<PathBuf>,

    /// Proxies whose X-Real-IP and X-Forwarded-For are believed (CIDR or address); repeat
    /// or separate with commas
    #[arg(long = "trust-proxy", value_name = "CIDR", value_delimiter = ',',
          value_parser = parse_cidr, default_values = ["127.0.0.0/8", "::1"])]
    pub trust_proxy: Vec<IpNet>,

    /// What to do with an original URI that servers can read differently (dot segments
    /// in any spelling, encoded '/' or '\\', ';' parameters, '//', control bytes, double or
    /// needless encoding, mixed case that maps otherwise): deny it, or, only when the
    /// proxy passes the upstream a path it normalised itself, decide on that normalised path
    #[arg(long, value_name = "POLICY", value_enum, default_value_t = AmbiguousUris::Deny)]
    pub ambiguous_uris: AmbiguousUris,

    /// Close a connection that has not sent a whole request head this long after it
    /// opened or after the request's first byte (500ms, 5s, 1m)
    #[arg(long, value_name = "DURATION", value_parser = parse_timeout, default_value = "5s")]
    pub header_timeout: std::time::Duration,

    /// Close a keep-alive connection idle this long between requests; keep a proxy's
    /// own idle timeout (nginx upstream keepalive_timeout) below it
    #[arg(long, value_name = "DURATION", value_parser = parse_timeout, default_value = "10s")]
    pub idle_timeout: std::time::Duration,

    /// Connections held at once; when all are taken, a new one closes the oldest connection
    /// not in the middle of a request, of the address holding the most
    #[arg(long, value_name = "N", default_value_t = 1024,
          value_parser = clap::value_parser!(u32).range(2..=65536))]
    pub max_connections: u32,

    /// The status of a request over its token's rate limit: 429, or 403 (with the same
    /// Retry-After and RateLimit headers) for nginx's auth_request, which passes on only
    /// 401 and 403 (the README maps it back to 429)
    #[arg(long, value_name = "STATUS", default_value_t = 429,
          value_parser = clap::builder::TypedValueParser::map(
              clap::builder::PossibleValuesParser::new(["429", "403"]),
              |s| s.parse::<u16>().expect("a listed status")))]
    pub rate_limited_status: u16,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AmbiguousUris {
    /// Deny (403) and count in /metrics
    Deny,
    /// Percent-decode, merge '//' and resolve '.' and '..' as nginx does, then decide
    Normalize,
}

#[derive(Debug, Args)]
#[command(after_long_help = "\
Examples:
  tokenctl config list
  tokenctl config set modules cases,contacts,documents,invoices
  tokenctl config set max_lifetime 180d
  tokenctl config get default_lifetime")]
pub struct ConfigArgs {
    #[command(subcommand)]
    pub action: ConfigAction,
}

#[derive(Debug, Subcommand)]
pub enum ConfigAction {
    /// Every setting with its value, default and meaning
    #[command(after_long_help = "\
Examples:
  tokenctl config list
  tokenctl config list --json | jq -r '.[] | select(.value != .default) | .key'")]
    List {
        /// Print as JSON
        #[arg(long)]
        json: bool,
    },
    /// Print one setting's value
    #[command(after_long_help = "\
Examples:
  tokenctl config get default_lifetime
  # The module catalogue, one per line
  tokenctl config get modules | tr , '\\n'")]
    Get {
        /// The setting's name, such as max_lifetime (`tokenctl config list` shows them all)
        #[arg(value_name = "KEY")]
        key: String,
        /// Print as JSON
        #[arg(long)]
        json: bool,
    },
    /// Change one setting (validated; logged in the event log)
    ///
    /// The value is checked before it is stored: durations such as 90d for the lifetimes,
    /// usage_retention and token_retention, 'none' for no max_lifetime, a comma-separated
    /// list for modules (empty accepts any module), 2 to 8 lowercase letters for
    /// token_prefix.
    #[command(after_long_help = "\
Examples:
  # Only these modules may appear in scopes from now on
  tokenctl config set modules cases,contacts,documents,invoices
  tokenctl config set max_lifetime 180d
  # Flag a spike from 5 times the usual daily requests, and at least 50
  tokenctl config set spike_factor 5
  tokenctl config set spike_min_requests 50")]
    Set {
        // Indexed, so that completion (which adds candidates to KEY) keeps the order.
        /// The setting's name, such as max_lifetime (`tokenctl config list` shows them all)
        #[arg(value_name = "KEY", index = 1)]
        key: String,
        /// The new value, in the setting's own format
        #[arg(value_name = "VALUE", index = 2)]
        value: String,
    },
}

#[derive(Debug, Args)]
#[command(after_long_help = "\
Examples:
  tokenctl prune --dry-run
  # Weekly from cron, keeping half a year of usage
  tokenctl prune --usage-older-than 180d
  # The tokens that 30 finished CI jobs left behind, once they ended 90 days ago
  tokenctl prune --tokens --older-than 90d --dry-run")]
pub struct PruneArgs {
    /// Age of the usage to delete [default: setting usage_retention]
    #[arg(long, value_name = "DURATION", value_parser = parse_span, allow_hyphen_values = true)]
    pub usage_older_than: Option<Span>,

    /// Delete revoked and expired tokens, with their usage, instead of old usage
    #[arg(long, conflicts_with = "usage_older_than")]
    pub tokens: bool,

    /// With --tokens: how long ago a token must have been revoked or have expired
    /// [default: setting token_retention]
    #[arg(long, value_name = "DURATION", value_parser = parse_span, allow_hyphen_values = true, requires = "tokens")]
    pub older_than: Option<Span>,

    /// Only say what would be deleted
    #[arg(long)]
    pub dry_run: bool,

    /// Print the counts as JSON
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
#[command(after_long_help = "\
Examples:
  # Nightly from cron, one file per weekday
  tokenctl backup /var/backups/tokenctl/tokens-$(date +%a).db --force

  # Where it went and what it holds, for a script
  tokenctl backup /var/backups/tokenctl/before-upgrade.db --json")]
pub struct BackupArgs {
    /// Where to write the copy
    #[arg(value_name = "PATH", value_hint = ValueHint::FilePath)]
    pub path: PathBuf,

    /// Replace PATH if it exists
    #[arg(long)]
    pub force: bool,

    /// Print the path, size and token count as JSON
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
#[command(after_long_help = "\
Examples:
  # Move to PostgreSQL (the password from PGPASSWORD or ~/.pgpass)
  tokenctl --db /var/lib/tokenctl/tokens.db copy --to postgres://tokenctl@db.internal/tokens

  # And back, into a new file
  tokenctl --db postgres://tokenctl@db.internal/tokens copy --to /var/lib/tokenctl/back.db

  # The rows copied per table, for a script
  tokenctl copy --to /srv/tokenctl/tokens.db --json")]
pub struct CopyArgs {
    /// The new database: a file path, or a postgres:// URL
    #[arg(long, value_name = "DEST", value_hint = ValueHint::AnyPath)]
    pub to: PathBuf,

    /// Print the source, the destination and the rows copied per table as JSON
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
#[command(after_long_help = "\
Examples:
  tokenctl scan
  tokenctl scan ~/src/integrations --git
  # Shut off whatever leaked into a repository, then issue replacements
  tokenctl scan --git --revoke
  # In .git/hooks/pre-commit: refuse commits that add a token, or that git cannot show
  staged=$(git diff --cached -U0 --no-color --no-ext-diff) || exit 1
  printf '%s\\n' \"$staged\" | grep '^+' | tokenctl scan --stdin --strict
  # For CI, where gitleaks already runs
  tokenctl scan --gitleaks-rule > .gitleaks.toml")]
pub struct ScanArgs {
    /// Files or directories to search [default: .]
    #[arg(value_name = "PATH")]
    pub paths: Vec<PathBuf>,

    /// Also search the git history of the repositories holding the PATHs, and the text files
    /// in their .git directories
    #[arg(long)]
    pub git: bool,

    /// Search standard input instead of files (for pipelines and hooks)
    #[arg(long, conflicts_with_all = ["paths", "git"])]
    pub stdin: bool,

    /// Revoke every active token found, with the reason 'leaked: <where>'
    #[arg(long)]
    pub revoke: bool,

    /// Exit 5 for tokens this database does not know, too (they may be live in another)
    #[arg(long)]
    pub strict: bool,

    /// Skip files and blobs larger than this (K, M, G: powers of 1024)
    #[arg(long, value_name = "SIZE", value_parser = parse_size, default_value = "10M")]
    pub max_size: u64,

    /// Print the findings as JSON
    #[arg(long)]
    pub json: bool,

    /// Print a gitleaks rule (TOML) for this database's token prefix instead of searching
    #[arg(long, conflicts_with_all = ["paths", "git", "stdin", "revoke", "strict", "json"])]
    pub gitleaks_rule: bool,
}

#[derive(Debug, Args)]
#[command(after_long_help = "\
Examples:
  # bash (needs the bash-completion package)
  tokenctl completions bash > ~/.local/share/bash-completion/completions/tokenctl
  # zsh: a folder in $fpath, before compinit runs in ~/.zshrc
  mkdir -p ~/.zfunc && tokenctl completions zsh > ~/.zfunc/_tokenctl
  # fish
  tokenctl completions fish > ~/.config/fish/completions/tokenctl.fish
  # elvish, in ~/.config/elvish/rc.elv
  eval (tokenctl completions elvish | slurp)
  # PowerShell, in $PROFILE
  tokenctl completions powershell | Out-String | Invoke-Expression")]
pub struct CompletionsArgs {
    /// The shell to print the script for
    #[arg(value_name = "SHELL")]
    pub shell: clap_complete::Shell,
}

/// The program's name, as completions register it and man pages title it.
pub const BIN_NAME: &str = "tokenctl";

/// `--expires` as given (kept for messages) and as understood.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpiryArg {
    pub raw: String,
    pub expiry: Expiry,
}

fn parse_scope(s: &str) -> Result<Scope, String> {
    s.parse()
        .map_err(|e: crate::scope::ScopeError| e.to_string())
}

fn parse_rate_limit(s: &str) -> Result<RateLimit, String> {
    s.parse()
        .map_err(|e: crate::rate_limit::RateLimitError| e.to_string())
}

/// `limit`'s value: a rate limit, or `none` (as `--remove`).
fn parse_limit_value(s: &str) -> Result<LimitValue, String> {
    if s == "none" {
        return Ok(LimitValue::None);
    }
    parse_rate_limit(s).map(LimitValue::Set)
}

fn parse_span(s: &str) -> Result<Span, String> {
    s.parse()
        .map_err(|e: crate::expiry::SpanError| e.to_string())
}

fn parse_expiry(s: &str) -> Result<ExpiryArg, String> {
    Ok(ExpiryArg {
        raw: s.to_string(),
        expiry: s
            .parse()
            .map_err(|e: crate::expiry::ExpiryError| e.to_string())?,
    })
}

fn parse_env(s: &str) -> Result<String, String> {
    if crate::token::is_valid_env(s) {
        Ok(s.to_string())
    } else {
        Err("an environment is 2 to 8 lowercase letters or digits, starting with a letter (live, test, staging)".into())
    }
}

/// A size in bytes, with an optional K, M or G (powers of 1024) and an optional B.
fn parse_size(s: &str) -> Result<u64, String> {
    let err = || {
        format!(
            "'{}' is not a size: use bytes or K, M, G, as in 500K or 10M",
            crate::text::escape(s)
        )
    };
    let upper = s.trim().to_ascii_uppercase();
    let number = upper.strip_suffix('B').unwrap_or(&upper);
    let (digits, shift) = match number.as_bytes().last() {
        Some(b'K') => (&number[..number.len() - 1], 10),
        Some(b'M') => (&number[..number.len() - 1], 20),
        Some(b'G') => (&number[..number.len() - 1], 30),
        _ => (number, 0),
    };
    let n: u64 = digits.parse().map_err(|_| err())?;
    n.checked_mul(1 << shift).ok_or_else(err)
}

/// A timeout for `serve`: a number with `ms`, `s` or `m`, from 100ms to 1h.
fn parse_timeout(s: &str) -> Result<std::time::Duration, String> {
    let err = || {
        format!(
            "'{}' is not a timeout from 100ms to 1h: use a number with ms, s or m, as in 500ms, 5s or 2m",
            crate::render::escape(s)
        )
    };
    let t = s.trim();
    let (number, unit_ms) = if let Some(n) = t.strip_suffix("ms") {
        (n, 1)
    } else if let Some(n) = t.strip_suffix('s') {
        (n, 1000)
    } else if let Some(n) = t.strip_suffix('m') {
        (n, 60_000)
    } else {
        return Err(err());
    };
    let n: u64 = number.parse().map_err(|_| err())?;
    let ms = n.checked_mul(unit_ms).ok_or_else(err)?;
    if !(100..=3_600_000).contains(&ms) {
        return Err(err());
    }
    Ok(std::time::Duration::from_millis(ms))
}

fn parse_cidr(s: &str) -> Result<IpNet, String> {
    crate::allowlist::parse_network(s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn clap_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn timeouts() {
        use std::time::Duration;
        assert_eq!(parse_timeout("5s"), Ok(Duration::from_secs(5)));
        assert_eq!(parse_timeout("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_timeout("2m"), Ok(Duration::from_secs(120)));
        for bad in [
            "",
            "5",
            "0s",
            "50ms",
            "2h",
            "61m",
            "1.5s",
            "-1s",
            "99999999999999999999m",
        ] {
            assert!(parse_timeout(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("10M"), Ok(10 << 20));
        assert_eq!(parse_size("500k"), Ok(500 << 10));
        assert_eq!(parse_size("1GB"), Ok(1 << 30));
        assert_eq!(parse_size("123"), Ok(123));
        for bad in ["", "M", "-1", "1.5M", "10T", "99999999999G"] {
            assert!(parse_size(bad).is_err(), "{bad}");
        }
    }
}
