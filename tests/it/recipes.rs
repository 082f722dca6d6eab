//! The README's recipes, run as printed there: each ```sh block marked
//! `<!-- readme-test: recipe NAME -->` is taken from README.md (so that what readers copy
//! is what is tested) and run under dash and under bash, against a real database.
//!
//! The programs a recipe hands secrets and reports to are stand-ins on PATH that record
//! their arguments and what they read, and fail on demand: `vault` (`kv put`, `kv get`),
//! `mail`, the CI job's `run-api-tests`, and `sleep` (which returns at once, so that
//! retries take no time). `tokenctl` itself is reached through a wrapper that can make one
//! subcommand fail or print nothing. Each failure a recipe can meet is injected: a failing
//! Vault or `mail`, a Vault that stores and then reports an error, a machine that dies
//! between the rotation and the Vault write, a missing database, a tokenctl step that
//! fails or prints no token, no jq. Every failure must end in a non-zero status and a
//! message on stderr; no secret may be stored empty, or appear in a program's arguments,
//! in the output, or in any file left behind; and what the README says to do afterwards
//! must work.
//!
//! At the end: the `--help` examples (and so the man pages' EXAMPLES) that hand a secret
//! on, with the same stand-ins; and two behaviours of tokenctl the recipes rely on:
//! `create` and `rotate` fail when stdout does not take the secret, and revoking a name
//! whose tokens are all revoked succeeds (so that the leak response can run again).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::Value;
use tempfile::TempDir;

use crate::common::TestEnv;
use crate::readme::blocks;
use crate::tools;

/// Every recipe the README has (the NAMEs of its `recipe` markers), each tested here.
pub const RECIPES: &[&str] = &[
    "ci",
    "rotate",
    "inspect-rotation",
    "anomalies",
    "expiring",
    "leak",
    "pre-commit",
];

/// `/bin/sh` on Debian, and the shell most people script in.
const SHELLS: [&str; 2] = ["dash", "bash"];

/// Longest a recipe may take before the test calls it hung.
const PATIENCE: Duration = Duration::from_secs(120);

const NAME: &str = "Mailchimp sync";
const VAULT_PATH: &str = "integrations/mailchimp";

/// The body of the README's `recipe NAME` block.
fn recipe(name: &str) -> String {
    let marker = format!("recipe {name}");
    let found: Vec<_> = blocks()
        .into_iter()
        .filter(|b| b.lang == "sh" && b.marker.as_deref() == Some(marker.as_str()))
        .collect();
    assert_eq!(found.len(), 1, "README.md should have one `{marker}` block");
    let mut body = found[0].body.join("\n");
    body.push('\n');
    body
}

/// The shells to run under; none when one is missing outside CI (see tools.rs).
fn shells(test: &str) -> Vec<&'static str> {
    if SHELLS.iter().all(|s| tools::available(s, test)) {
        SHELLS.to_vec()
    } else {
        Vec::new()
    }
}

// The stand-ins. STATE is replaced by the directory they record into; each reads its
// mode from STATE/<program>.mode (absent: behave).

/// `vault kv put [-flag...] PATH KEY=VALUE...` (a VALUE of `-` is read from stdin) and
/// `vault kv get [-field=KEY] PATH`. Modes: ok, fail, fail-once, stored-then-fail (the
/// write went through but the client reports an error), die (kills the calling script
/// with SIGKILL, as a power cut would, after reading the secret).
const VAULT: &str = r#"#!/bin/sh
state='STATE'
printf '%s\n' "$*" >> "$state/vault.argv"
n=$(wc -l < "$state/vault.argv")
[ "$1" = kv ] || { echo "vault stand-in: only kv" >&2; exit 64; }
verb=$2
shift 2
field=
while [ $# -gt 0 ]; do
  case $1 in -field=*) field=${1#-field=}; shift ;; -*) shift ;; *) break ;; esac
done
path=$1
[ -n "$path" ] || { echo "vault stand-in: no path" >&2; exit 64; }
shift
if [ "$verb" = get ]; then
  [ "$field" = token ] && [ -f "$state/vault.latest" ] || { echo "No value found at $path" >&2; exit 2; }
  cat "$state/vault.latest"
  exit 0
fi
[ "$verb" = put ] && [ $# -gt 0 ] || { echo "vault stand-in: kv put PATH KEY=VALUE" >&2; exit 64; }
for pair in "$@"; do
  value=${pair#*=}
  [ "$value" = - ] || { echo "vault stand-in: the value must come on stdin" >&2; exit 64; }
  value=$(cat; echo .)
  printf '%s' "${value%.}" > "$state/vault.in.$n"
done
mode=$(cat "$state/vault.mode" 2>/dev/null || echo ok)
if [ "$mode" = fail-once ]; then echo ok > "$state/vault.mode"; mode=fail; fi
case $mode in
  ok|stored-then-fail)
    cp "$state/vault.in.$n" "$state/vault.stored.$n"
    cp "$state/vault.in.$n" "$state/vault.latest" ;;
esac
case $mode in
  ok) echo "Success! Data written to: $path" ;;
  die) kill -KILL "$PPID"; exit 2 ;;
  *) echo "Error writing data to $path: Put \"https://vault.example.com/v1/$path\": connection refused" >&2
     exit 2 ;;
esac
"#;

/// `mail -s SUBJECT ADDRESS` with the body on stdin. Modes: ok, fail.
const MAIL: &str = r#"#!/bin/sh
state='STATE'
printf '%s\n' "$*" >> "$state/mail.argv"
n=$(wc -l < "$state/mail.argv")
cat > "$state/mail.in.$n"
if [ "$(cat "$state/mail.mode" 2>/dev/null)" = fail ]; then
  echo "mail: cannot send message: Connection refused" >&2
  exit 1
fi
"#;

/// The CI job's tests: record the token they were given and whether the API (`verify`)
/// would accept it for the job's scope. Modes: ok, fail (the tests fail).
const RUN_API_TESTS: &str = r#"#!/bin/sh
state='STATE'
printf '%s\n' "$*" >> "$state/run-api-tests.argv"
printf '%s' "${API_TOKEN-}" > "$state/run-api-tests.in.1"
printf '%s\n' "${API_TOKEN-}" | tokenctl verify --scope cases:read > /dev/null 2>&1
echo $? > "$state/run-api-tests.verdict"
[ "$(cat "$state/run-api-tests.mode" 2>/dev/null)" != fail ]
"#;

const SLEEP: &str = r#"#!/bin/sh
printf '%s\n' "$*" >> 'STATE/sleep.argv'
"#;

/// tokenctl, unless STATE/tokenctl.mode says `fail SUBCOMMAND` (exit 1 before doing
/// anything) or `silent SUBCOMMAND` (do it, but print nothing on stdout and exit 0, as a
/// wrapper that lost the output would).
const TOKENCTL: &str = r#"#!/bin/sh
case "$(cat 'STATE/tokenctl.mode' 2>/dev/null)" in
  "fail $1") echo "tokenctl: $1 failed (injected)" >&2; exit 1 ;;
  "silent $1") 'REAL' "$@" > /dev/null; exit 0 ;;
esac
exec 'REAL' "$@"
"#;

/// How a recipe run ended.
struct Outcome {
    /// None when a signal ended the shell.
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Outcome {
    #[track_caller]
    fn succeeded(&self, what: &str) {
        assert_eq!(self.code, Some(0), "{what}: expected success\n{self}");
    }

    /// Non-zero, with a message on stderr that contains `message`.
    #[track_caller]
    fn failed_saying(&self, what: &str, message: &str) {
        assert!(
            self.code.is_some_and(|c| c != 0),
            "{what}: expected failure\n{self}"
        );
        assert!(
            self.stderr.contains(message),
            "{what}: stderr should say {message:?}\n{self}"
        );
    }
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "status {:?}\nstdout:\n{}\nstderr:\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

/// A database, the stand-ins, and a place to run recipes in.
struct Bench {
    env: TestEnv,
    shell: &'static str,
    /// The secret of the README's "Mailchimp sync" token, which Vault holds at the start.
    original: String,
    /// Outside `env.dir()`, which is searched for secrets left behind.
    stubs: TempDir,
}

impl Bench {
    /// An initialised database with the README's "Mailchimp sync" token, its secret in
    /// the stand-in Vault.
    fn new(shell: &'static str) -> Bench {
        let env = TestEnv::new();
        env.run(&["init"]).success();
        let original = env
            .create(NAME, &["contacts:write"], &["--expires", "30d"])
            .secret;
        for dir in ["work", "tmp"] {
            std::fs::create_dir(env.dir().join(dir)).unwrap();
        }
        let stubs = tempfile::Builder::new()
            .prefix("tokenctl-stubs")
            .tempdir()
            .unwrap();
        let bench = Bench {
            env,
            shell,
            original,
            stubs,
        };
        std::fs::create_dir(bench.state()).unwrap();
        std::fs::create_dir(bench.bin()).unwrap();
        std::fs::write(bench.state().join("vault.latest"), &bench.original).unwrap();
        let real = assert_cmd::cargo::cargo_bin("tokenctl");
        for (name, text) in [
            ("vault", VAULT),
            ("mail", MAIL),
            ("run-api-tests", RUN_API_TESTS),
            ("sleep", SLEEP),
            ("tokenctl", TOKENCTL),
        ] {
            let text = text
                .replace("STATE", bench.state().to_str().unwrap())
                .replace("REAL", real.to_str().unwrap());
            let path = bench.bin().join(name);
            std::fs::write(&path, text).unwrap();
            make_executable(&path);
        }
        bench
    }

    fn state(&self) -> PathBuf {
        self.stubs.path().join("state")
    }

    fn bin(&self) -> PathBuf {
        self.stubs.path().join("bin")
    }

    /// Where recipes run (and, for the pre-commit hook, the repository).
    fn work(&self) -> PathBuf {
        self.env.dir().join("work")
    }

    /// A database path with a typo: nothing is there.
    fn mistyped_db(&self) -> PathBuf {
        self.env.dir().join("mistyped").join("tokens.db")
    }

    /// Makes `program` behave as `mode` from now on.
    fn set(&self, program: &str, mode: &str) {
        std::fs::write(self.state().join(format!("{program}.mode")), mode).unwrap();
    }

    fn behave(&self, program: &str) {
        let _ = std::fs::remove_file(self.state().join(format!("{program}.mode")));
    }

    /// Runs the README's recipe `name` with `args` in the work directory, with `vars` set
    /// (None unsets one).
    fn run(&self, name: &str, args: &[&str], vars: &[(&str, Option<&str>)]) -> Outcome {
        self.run_script(&recipe(name), args, vars)
    }

    /// Runs `text` as a script, as `run` runs a recipe.
    fn run_script(&self, text: &str, args: &[&str], vars: &[(&str, Option<&str>)]) -> Outcome {
        let script = self.stubs.path().join("script.sh");
        std::fs::write(&script, text).unwrap();
        let mut cmd = self.command(self.shell);
        cmd.arg(&script).args(args);
        for (key, value) in vars {
            match value {
                Some(v) => cmd.env(key, v),
                None => cmd.env_remove(key),
            };
        }
        finish(cmd)
    }

    /// `program` in the work directory, with the test environment's variables, the
    /// stand-ins first on PATH, TMPDIR inside the test directory and stdin empty.
    fn command(&self, program: &str) -> Command {
        let base = self.env.std_cmd();
        let mut cmd = Command::new(program);
        cmd.env_clear();
        for (key, value) in base.get_envs() {
            if let Some(value) = value {
                cmd.env(key, value);
            }
        }
        cmd.env("PATH", self.path(&std::env::var_os("PATH").unwrap()))
            .env("TMPDIR", self.env.dir().join("tmp"))
            .current_dir(self.work())
            .stdin(Stdio::null());
        cmd
    }

    /// The stand-ins' directory, then `rest`.
    fn path(&self, rest: &std::ffi::OsStr) -> std::ffi::OsString {
        std::env::join_paths([self.bin()].into_iter().chain(std::env::split_paths(rest))).unwrap()
    }

    /// The arguments each call of `program` was given, one line per call.
    fn calls(&self, program: &str) -> Vec<String> {
        std::fs::read_to_string(self.state().join(format!("{program}.argv")))
            .map(|t| t.lines().map(str::to_string).collect())
            .unwrap_or_default()
    }

    /// What the calls of `program` read (`in`) or Vault kept (`stored`), in call order.
    fn recorded(&self, program: &str, kind: &str) -> Vec<String> {
        let prefix = format!("{program}.{kind}.");
        let mut found: Vec<(usize, String)> = std::fs::read_dir(self.state())
            .unwrap()
            .filter_map(|e| {
                let name = e.unwrap().file_name().into_string().unwrap();
                let n = name.strip_prefix(&prefix)?.parse().ok()?;
                let text = std::fs::read_to_string(self.state().join(&name)).unwrap();
                Some((n, text))
            })
            .collect();
        found.sort();
        found.into_iter().map(|(_, text)| text).collect()
    }

    /// The one secret Vault was given (the same on every try), in a token's shape.
    #[track_caller]
    fn secret_given_to_vault(&self) -> String {
        let mut given = self.recorded("vault", "in");
        given.dedup();
        assert_eq!(given.len(), 1, "{}: Vault was given one secret", self.shell);
        let secret = given.pop().unwrap();
        assert_token_shape(&secret);
        secret
    }

    /// The tokens of the README's name, oldest first.
    fn tokens(&self) -> Vec<Value> {
        let all = self
            .env
            .run(&["list", "--status", "all", "--json"])
            .success()
            .json();
        all.as_array()
            .unwrap()
            .iter()
            .filter(|t| t["name"] == NAME)
            .cloned()
            .collect()
    }

    /// How many tokens of the README's name work now.
    fn active(&self) -> usize {
        self.tokens()
            .iter()
            .filter(|t| t["status"] == "active")
            .count()
    }

    /// Whether `secret` is accepted for the README token's scope.
    fn usable(&self, secret: &str) -> bool {
        self.env.verify(secret, &["--scope", "contacts:write"]).0 == 0
    }

    /// `secret` is nowhere it must not be: not in any stand-in's arguments, not in the
    /// run's output, and in no file under the test directory (the database, the work
    /// directory, TMPDIR, HOME); and TMPDIR is left empty.
    #[track_caller]
    fn assert_secret_nowhere(&self, secret: &str, out: &Outcome) {
        let shell = self.shell;
        assert_token_shape(secret);
        for program in ["vault", "mail", "run-api-tests", "sleep"] {
            for call in self.calls(program) {
                assert!(
                    !call.contains(secret),
                    "{shell}: the secret is in {program}'s arguments: {call}"
                );
            }
        }
        assert!(
            !out.stdout.contains(secret),
            "{shell}: the secret is on stdout"
        );
        assert!(
            !out.stderr.contains(secret),
            "{shell}: the secret is on stderr"
        );
        for file in files_under(self.env.dir()) {
            let bytes = std::fs::read(&file).unwrap();
            assert!(
                !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
                "{shell}: the secret was left in {}",
                file.display()
            );
        }
        self.assert_nothing_left_in_tmp();
    }

    #[track_caller]
    fn assert_nothing_left_in_tmp(&self) {
        let left: Vec<_> = std::fs::read_dir(self.env.dir().join("tmp"))
            .unwrap()
            .collect();
        assert!(left.is_empty(), "{}: left in TMPDIR: {left:?}", self.shell);
    }
}

/// Runs `cmd` to its end, within PATIENCE.
fn finish(mut cmd: Command) -> Outcome {
    let child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || tx.send(child.wait_with_output()));
    let Ok(out) = rx.recv_timeout(PATIENCE) else {
        let _ = Command::new("kill")
            .args(["-KILL", &pid.to_string()])
            .status();
        panic!("the recipe did not finish within {PATIENCE:?}");
    };
    let out = out.unwrap();
    Outcome {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn make_executable(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        let kind = entry.file_type().unwrap();
        if kind.is_dir() {
            files.extend(files_under(&entry.path()));
        } else if kind.is_file() {
            files.push(entry.path());
        }
    }
    files
}

/// `tok_live_` and 36 letters and digits: not empty, no newline, no `null`.
#[track_caller]
fn assert_token_shape(secret: &str) {
    let ok = secret
        .strip_prefix("tok_live_")
        .is_some_and(|rest| rest.len() == 36 && rest.chars().all(|c| c.is_ascii_alphanumeric()));
    assert!(ok, "not a token: {secret:?}");
}

fn time(value: &Value) -> DateTime<Utc> {
    value.as_str().unwrap().parse().unwrap()
}

#[test]
fn every_recipe_in_the_readme_is_tested_here() {
    let mut found: Vec<String> = blocks()
        .into_iter()
        .filter_map(|b| b.marker?.strip_prefix("recipe ").map(str::to_string))
        .collect();
    found.sort();
    let mut tested: Vec<String> = RECIPES.iter().map(|r| r.to_string()).collect();
    tested.sort();
    assert_eq!(found, tested);
}

// CI: a short-lived token for one job.

fn ci(bench: &Bench, vars: &[(&str, Option<&str>)]) -> Outcome {
    let mut all = vec![("CI_JOB_ID", Some("4242"))];
    all.extend_from_slice(vars);
    bench.run("ci", &[], &all)
}

#[test]
fn ci_gives_the_tests_a_working_token_and_revokes_it_after() {
    for shell in shells("recipes::ci_gives_the_tests_a_working_token_and_revokes_it_after") {
        let bench = Bench::new(shell);
        let out = ci(&bench, &[]);
        out.succeeded(shell);
        let given = bench.recorded("run-api-tests", "in");
        assert_eq!(given.len(), 1, "{shell}: the tests ran once");
        let secret = &given[0];
        let verdict = std::fs::read_to_string(bench.state().join("run-api-tests.verdict"));
        assert_eq!(
            verdict.unwrap().trim(),
            "0",
            "{shell}: the API took the token"
        );
        let (code, decision) = bench.env.verify(secret, &[]);
        assert_eq!(
            (code, decision["reason"].as_str()),
            (3, Some("revoked")),
            "{shell}: revoked after the job"
        );
        bench.assert_secret_nowhere(secret, &out);
    }
}

#[test]
fn ci_fails_when_the_tests_fail_and_still_revokes_the_token() {
    for shell in shells("recipes::ci_fails_when_the_tests_fail_and_still_revokes_the_token") {
        let bench = Bench::new(shell);
        bench.set("run-api-tests", "fail");
        let out = ci(&bench, &[]);
        assert_eq!(out.code, Some(1), "{shell}: the tests' failure\n{out}");
        let secret = &bench.recorded("run-api-tests", "in")[0];
        assert_eq!(bench.env.verify(secret, &[]).0, 3, "{shell}: revoked");
    }
}

#[test]
fn ci_fails_when_the_token_cannot_be_revoked() {
    for shell in shells("recipes::ci_fails_when_the_token_cannot_be_revoked") {
        let bench = Bench::new(shell);
        bench.set("tokenctl", "fail revoke");
        ci(&bench, &[]).failed_saying(shell, "revoke failed");
    }
}

#[test]
fn ci_stops_before_the_tests_without_a_token() {
    for shell in shells("recipes::ci_stops_before_the_tests_without_a_token") {
        // A mistyped database path: no token, and no new, empty database either.
        let bench = Bench::new(shell);
        let mistyped = bench.mistyped_db();
        let out = ci(&bench, &[("TOKENCTL_DB", mistyped.to_str())]);
        out.failed_saying(shell, "there is no database");
        assert!(!mistyped.parent().unwrap().exists(), "{shell}: {out}");
        assert!(bench.calls("run-api-tests").is_empty(), "{shell}");

        // A tokenctl that prints no token.
        let bench = Bench::new(shell);
        bench.set("tokenctl", "silent create");
        ci(&bench, &[]).failed_saying(shell, "printed no token");
        assert!(bench.calls("run-api-tests").is_empty(), "{shell}");

        // create refuses the scope: the catalogue has no `cases` module.
        let bench = Bench::new(shell);
        let catalogue = ["config", "set", "modules", "contacts"];
        bench.env.run(&catalogue).success();
        ci(&bench, &[]).failed_saying(shell, "unknown module 'cases'");
        assert!(bench.calls("run-api-tests").is_empty(), "{shell}");

        // No job id, so the token's name would be every job's.
        let bench = Bench::new(shell);
        ci(&bench, &[("CI_JOB_ID", None)]).failed_saying(shell, "CI_JOB_ID");
        assert!(bench.calls("run-api-tests").is_empty(), "{shell}");
        let all = bench.env.run(&["list", "--json"]).success().json();
        assert_eq!(all.as_array().unwrap().len(), 1, "{shell}: no token made");
    }
}

// Cron: rotate with a grace period.

#[test]
fn rotation_stores_the_new_secret_and_keeps_the_old_one_for_a_day() {
    for shell in shells("recipes::rotation_stores_the_new_secret_and_keeps_the_old_one_for_a_day") {
        let bench = Bench::new(shell);
        let out = bench.run("rotate", &[], &[]);
        out.succeeded(shell);
        assert_eq!(
            bench.calls("vault"),
            [format!("kv put -mount=secret {VAULT_PATH} token=-")]
        );
        let stored = bench.recorded("vault", "stored");
        assert_eq!(stored.len(), 1, "{shell}");
        assert!(bench.usable(&stored[0]), "{shell}: the stored secret works");
        assert!(bench.usable(&bench.original), "{shell}: and the old one");
        let tokens = bench.tokens();
        let [old, new] = &tokens[..] else {
            panic!("{shell}: two tokens of the name: {tokens:?}")
        };
        assert_eq!(new["rotated_from"], old["id"]);
        assert_eq!(
            time(&old["expires_at"]) - time(&new["created_at"]),
            chrono::Duration::hours(24),
            "{shell}: for the grace period"
        );
        bench.assert_secret_nowhere(&stored[0], &out);
    }
}

#[test]
fn rotation_retries_a_failed_vault_write() {
    for shell in shells("recipes::rotation_retries_a_failed_vault_write") {
        let bench = Bench::new(shell);
        bench.set("vault", "fail-once");
        let out = bench.run("rotate", &[], &[]);
        out.succeeded(shell);
        assert_eq!(bench.calls("vault").len(), 2, "{shell}");
        assert_eq!(bench.calls("sleep"), ["60"], "{shell}");
        let secret = bench.secret_given_to_vault();
        assert_eq!(bench.recorded("vault", "stored"), [secret.as_str()]);
        bench.assert_secret_nowhere(&secret, &out);
    }
}

/// After a rotation that stopped between `tokenctl rotate` and the Vault write: the lost
/// secret is in no file, the old secret (which Vault still holds) works, the README's
/// inspection commands name the token Vault holds, and running the recipe again stores
/// a working secret, leaves the old one's grace period as it was, and keeps the whole
/// chain revocable by name.
#[track_caller]
fn assert_recovers_from_a_half_done_rotation(bench: &Bench, failed: &Outcome) {
    let shell = bench.shell;
    assert!(bench.recorded("vault", "stored").is_empty(), "{shell}");
    let lost = bench.secret_given_to_vault();
    bench.assert_secret_nowhere(&lost, failed);
    assert!(
        bench.usable(&bench.original),
        "{shell}: the old secret works"
    );
    let tokens = bench.tokens();
    let [old, new] = &tokens[..] else {
        panic!("{shell}: two tokens of the name: {tokens:?}")
    };
    let (old_id, new_id) = (old["id"].as_str().unwrap(), new["id"].as_str().unwrap());
    assert_eq!(old["rotated_to"].as_str(), Some(new_id), "{shell}");

    let inspect = bench.run("inspect-rotation", &[], &[]);
    // scan's status: it found a working token, the one Vault holds, in its grace period.
    assert_eq!(inspect.code, Some(5), "{shell}: {inspect}");
    for line in [
        format!(
            "{old_id} expires {} from - to {new_id}",
            old["expires_at"].as_str().unwrap()
        ),
        format!(
            "{new_id} expires {} from {old_id} to -",
            new["expires_at"].as_str().unwrap()
        ),
    ] {
        assert!(inspect.stdout.contains(&line), "{shell}: {line}\n{inspect}");
    }
    let vault_holds = inspect.stdout.lines().find(|l| l.starts_with("stdin:"));
    assert!(
        vault_holds.is_some_and(|l| l.contains(" rotating ") && l.contains(old_id)),
        "{shell}: Vault holds the old token\n{inspect}"
    );
    assert!(
        !inspect.stdout.contains(&bench.original),
        "{shell}: {inspect}"
    );

    bench.behave("vault");
    bench.behave("tokenctl");
    bench.run("rotate", &[], &[]).succeeded(shell);
    let fresh = bench.recorded("vault", "stored").pop().unwrap();
    assert!(bench.usable(&fresh), "{shell}: the fresh secret works");
    assert!(
        bench.usable(&bench.original),
        "{shell}: the old one, in its grace"
    );
    let tokens = bench.tokens();
    let [first, _, newest] = &tokens[..] else {
        panic!("{shell}: three tokens of the name: {tokens:?}")
    };
    assert_eq!(newest["rotated_from"].as_str(), Some(new_id), "{shell}");
    assert_eq!(
        first["expires_at"], old["expires_at"],
        "{shell}: same grace"
    );
    let revoked = bench.env.run(&["revoke", NAME, "--yes", "--json"]);
    let also = revoked.success().json()["also_revoked"].clone();
    assert_eq!(
        also.as_array().unwrap().len(),
        2,
        "{shell}: one revoke stops all"
    );
    assert_eq!(bench.active(), 0, "{shell}");
}

#[test]
fn rotation_says_what_to_do_when_vault_keeps_failing_and_running_it_again_works() {
    for shell in shells(
        "recipes::rotation_says_what_to_do_when_vault_keeps_failing_and_running_it_again_works",
    ) {
        let bench = Bench::new(shell);
        bench.set("vault", "fail");
        let out = bench.run("rotate", &[], &[]);
        out.failed_saying(shell, "Vault refused the new secret 3 times");
        assert!(out.stderr.contains("run rotate-mailchimp again"), "{out}");
        assert!(out.stderr.contains("keeps working until"), "{out}");
        assert_eq!(bench.calls("vault").len(), 3, "{shell}");
        assert_eq!(bench.calls("sleep"), ["60", "60"], "{shell}");
        assert_recovers_from_a_half_done_rotation(&bench, &out);
    }
}

#[test]
fn a_machine_that_dies_mid_rotation_leaves_no_secret_behind_and_running_it_again_works() {
    for shell in shells(
        "recipes::a_machine_that_dies_mid_rotation_leaves_no_secret_behind_and_running_it_again_works",
    ) {
        let bench = Bench::new(shell);
        bench.set("vault", "die");
        let out = bench.run("rotate", &[], &[]);
        assert_eq!(out.code, None, "{shell}: killed\n{out}");
        assert_recovers_from_a_half_done_rotation(&bench, &out);
    }
}

#[test]
fn a_vault_write_reported_as_failed_that_went_through_still_works() {
    for shell in shells("recipes::a_vault_write_reported_as_failed_that_went_through_still_works") {
        // The rotation's new token is not revoked on failure: Vault may hold its secret.
        let bench = Bench::new(shell);
        bench.set("vault", "stored-then-fail");
        let out = bench.run("rotate", &[], &[]);
        out.failed_saying(shell, "Vault refused the new secret 3 times");
        let held = bench.recorded("vault", "stored").pop().unwrap();
        assert!(bench.usable(&held), "{shell}: what Vault holds works");
        bench.behave("vault");
        bench.run("rotate", &[], &[]).succeeded(shell);
        assert!(bench.usable(&held), "{shell}: until its grace period ends");
    }
}

#[test]
fn rotation_stops_before_vault_when_tokenctl_fails_or_prints_no_token() {
    for shell in
        shells("recipes::rotation_stops_before_vault_when_tokenctl_fails_or_prints_no_token")
    {
        // A mistyped database path.
        let bench = Bench::new(shell);
        let mistyped = bench.mistyped_db();
        let out = bench.run("rotate", &[], &[("TOKENCTL_DB", mistyped.to_str())]);
        out.failed_saying(shell, "there is no database");
        assert!(
            out.stderr.contains("tokenctl rotate failed"),
            "{shell}: {out}"
        );
        assert!(!mistyped.parent().unwrap().exists(), "{shell}");
        assert!(bench.calls("vault").is_empty(), "{shell}");

        // The token was revoked in the meantime: rotate refuses it (exit 2).
        let bench = Bench::new(shell);
        bench.env.run(&["revoke", NAME, "--yes"]).success();
        let out = bench.run("rotate", &[], &[]);
        out.failed_saying(shell, "create a new token instead");
        assert!(bench.calls("vault").is_empty(), "{shell}");

        // A tokenctl that rotates but prints nothing: nothing empty reaches Vault, and
        // running it again (with a working tokenctl) is the way out.
        let bench = Bench::new(shell);
        bench.set("tokenctl", "silent rotate");
        let out = bench.run("rotate", &[], &[]);
        out.failed_saying(shell, "tokenctl rotate printed no token");
        assert!(bench.calls("vault").is_empty(), "{shell}");
        assert_eq!(bench.tokens().len(), 2, "{shell}: it did rotate");
        bench.behave("tokenctl");
        bench.run("rotate", &[], &[]).succeeded(shell);
        let stored = bench.recorded("vault", "stored");
        assert!(bench.usable(&stored[0]), "{shell}");
    }
}

// Cron: mail abnormal use.

/// Presents a revoked token, which `audit --check` flags as DENIED_USE.
fn make_a_finding(bench: &Bench) {
    let stolen = bench.env.create("old importer", &["cases:read"], &[]);
    bench.env.run(&["revoke", &stolen.id, "--yes"]).success();
    assert_eq!(bench.env.verify(&stolen.secret, &[]).0, 3);
}

#[test]
fn anomaly_check_mails_findings_and_failures_apart() {
    for shell in shells("recipes::anomaly_check_mails_findings_and_failures_apart") {
        let bench = Bench::new(shell);
        bench.run("anomalies", &[], &[]).succeeded(shell);
        assert!(bench.calls("mail").is_empty(), "{shell}: nothing to say");

        make_a_finding(&bench);
        let out = bench.run("anomalies", &[], &[]);
        assert_eq!(out.code, Some(5), "{shell}: {out}");
        assert_eq!(
            bench.calls("mail"),
            ["-s tokenctl: abnormal token use ops@example.com"]
        );
        assert!(bench.recorded("mail", "in")[0].contains("DENIED_USE"));

        let mistyped = bench.mistyped_db();
        let out = bench.run("anomalies", &[], &[("TOKENCTL_DB", mistyped.to_str())]);
        assert_eq!(out.code, Some(1), "{shell}: {out}");
        assert_eq!(
            bench.calls("mail")[1],
            "-s tokenctl: the anomaly check failed (exit 1) ops@example.com"
        );
        assert!(bench.recorded("mail", "in")[1].contains("there is no database"));
        bench.assert_nothing_left_in_tmp();
    }
}

#[test]
fn anomaly_check_that_cannot_mail_says_so() {
    for shell in shells("recipes::anomaly_check_that_cannot_mail_says_so") {
        let bench = Bench::new(shell);
        make_a_finding(&bench);
        bench.set("mail", "fail");
        let out = bench.run("anomalies", &[], &[]);
        out.failed_saying(shell, "could not mail \"tokenctl: abnormal token use\"");
        assert!(
            out.stderr.contains("DENIED_USE"),
            "{shell}: the findings\n{out}"
        );
    }
}

// An expiring-soon report.

#[test]
fn expiring_report_lists_what_expires_and_fails_visibly() {
    for shell in shells("recipes::expiring_report_lists_what_expires_and_fails_visibly") {
        let bench = Bench::new(shell);
        let soon = bench
            .env
            .create("importer", &["cases:write"], &["--expires", "10d"]);
        let out = bench.run("expiring", &[], &[]);
        out.succeeded(shell);
        let lines: Vec<&str> = out.stdout.lines().collect();
        assert_eq!(lines.len(), 1, "{shell}: {out}");
        assert!(
            lines[0].contains(&format!("  importer ({}), last used never", soon.id)),
            "{shell}: {out}"
        );

        let mistyped = bench.mistyped_db();
        let out = bench.run("expiring", &[], &[("TOKENCTL_DB", mistyped.to_str())]);
        out.failed_saying(shell, "there is no database");
        assert_eq!(out.stdout, "", "{shell}");

        // Without jq on PATH.
        let without_jq = path_without(&bench, "jq");
        let out = bench.run("expiring", &[], &[("PATH", Some(&without_jq))]);
        out.failed_saying(shell, "jq");
        assert_eq!(out.stdout, "", "{shell}");
    }
}

/// A PATH of the stand-ins and a directory holding every other program on this PATH
/// except `program`.
fn path_without(bench: &Bench, program: &str) -> String {
    let farm = bench.stubs.path().join(format!("path-without-{program}"));
    std::fs::create_dir_all(&farm).unwrap();
    for bin in std::env::split_paths(&std::env::var_os("PATH").unwrap()) {
        let Ok(entries) = std::fs::read_dir(&bin) else {
            continue;
        };
        for entry in entries {
            let name = entry.unwrap().file_name();
            let link = farm.join(&name);
            if name != program && link.symlink_metadata().is_err() {
                std::os::unix::fs::symlink(bin.join(&name), link).unwrap();
            }
        }
    }
    bench.path(farm.as_os_str()).into_string().unwrap()
}

// Responding to a leaked token.

const LEAK_REASON: &str = "posted in support ticket #4711";

#[test]
fn leak_response_stops_every_secret_of_the_name_and_stores_a_replacement() {
    for shell in
        shells("recipes::leak_response_stops_every_secret_of_the_name_and_stores_a_replacement")
    {
        let bench = Bench::new(shell);
        // A rotation's old secret, still in its grace period, must stop too.
        let rotated = bench.env.run(&["rotate", NAME, "--grace", "2h"]).success();
        let rotated = rotated.stdout.trim().to_string();
        let out = bench.run("leak", &[LEAK_REASON], &[]);
        out.succeeded(shell);
        assert!(
            !bench.usable(&bench.original) && !bench.usable(&rotated),
            "{shell}"
        );
        let stored = bench.recorded("vault", "stored");
        assert_eq!(stored.len(), 1, "{shell}");
        assert!(bench.usable(&stored[0]), "{shell}: the replacement works");
        assert_eq!(bench.active(), 1, "{shell}");
        let tokens = bench.tokens();
        let leaked = &tokens[1];
        assert_eq!(leaked["revoke_reason"], LEAK_REASON);
        // The README sends the reader to `audit ID` with the id that revoke printed.
        let id = leaked["id"].as_str().unwrap();
        assert!(
            out.stderr.contains(&format!("Revoked token {id} ")),
            "{out}"
        );
        bench.assert_secret_nowhere(&stored[0], &out);
    }
}

#[test]
fn leak_response_stops_before_creating_anything_when_it_cannot_revoke() {
    for shell in
        shells("recipes::leak_response_stops_before_creating_anything_when_it_cannot_revoke")
    {
        let bench = Bench::new(shell);
        let out = bench.run("leak", &[], &[]);
        out.failed_saying(shell, "usage: replace-mailchimp-token REASON");
        assert!(bench.usable(&bench.original), "{shell}: nothing happened");

        // With a mistyped path, create would make a new database and a token in it that
        // the API does not know: revoke fails first.
        let mistyped = bench.mistyped_db();
        let out = bench.run(
            "leak",
            &[LEAK_REASON],
            &[("TOKENCTL_DB", mistyped.to_str())],
        );
        out.failed_saying(shell, "the leaked token may still work");
        assert!(
            out.stderr.contains("there is no database"),
            "{shell}: {out}"
        );
        assert!(!mistyped.parent().unwrap().exists(), "{shell}");
        assert!(bench.calls("vault").is_empty(), "{shell}");
    }
}

#[test]
fn leak_response_that_stops_half_way_is_finished_by_running_it_again() {
    for shell in
        shells("recipes::leak_response_that_stops_half_way_is_finished_by_running_it_again")
    {
        // Vault refuses the replacement: its secret is lost.
        let bench = Bench::new(shell);
        bench.set("vault", "fail");
        let out = bench.run("leak", &[LEAK_REASON], &[]);
        out.failed_saying(shell, "Vault refused the replacement's secret 3 times");
        assert!(out.stderr.contains("run this again"), "{shell}: {out}");
        assert!(
            !bench.usable(&bench.original),
            "{shell}: the leak is stopped"
        );
        let lost = bench.secret_given_to_vault();
        bench.assert_secret_nowhere(&lost, &out);
        bench.behave("vault");
        bench.run("leak", &[LEAK_REASON], &[]).succeeded(shell);
        let stored = bench.recorded("vault", "stored");
        assert!(bench.usable(&stored[0]), "{shell}");
        assert!(
            !bench.usable(&lost),
            "{shell}: the lost replacement is revoked"
        );
        assert_eq!(bench.active(), 1, "{shell}: exactly one token works");

        // tokenctl creates the replacement but prints nothing.
        let bench = Bench::new(shell);
        bench.set("tokenctl", "silent create");
        let out = bench.run("leak", &[LEAK_REASON], &[]);
        out.failed_saying(shell, "tokenctl create printed no token");
        assert!(bench.calls("vault").is_empty(), "{shell}");
        bench.behave("tokenctl");
        bench.run("leak", &[LEAK_REASON], &[]).succeeded(shell);
        assert_eq!(bench.active(), 1, "{shell}: exactly one token works");

        // create refuses the scope (the catalogue has no `contacts` module), on a name
        // that an earlier leak response left with another revoked token: when it runs
        // again, every token of the name is revoked, and revoke must not stop it.
        let bench = Bench::new(shell);
        bench
            .run("leak", &["an earlier leak"], &[])
            .succeeded(shell);
        let leaked = bench.recorded("vault", "stored").pop().unwrap();
        bench
            .env
            .run(&["config", "set", "modules", "cases"])
            .success();
        let out = bench.run("leak", &[LEAK_REASON], &[]);
        out.failed_saying(shell, "tokenctl create failed");
        assert!(!bench.usable(&leaked), "{shell}: the leak is stopped");
        assert_eq!(bench.active(), 0, "{shell}");
        let catalogue = ["config", "set", "modules", "cases,contacts"];
        bench.env.run(&catalogue).success();
        let again = bench.run("leak", &[LEAK_REASON], &[]);
        again.succeeded(shell);
        assert!(again.stderr.contains("already revoked"), "{shell}: {again}");
        assert_eq!(bench.active(), 1, "{shell}: exactly one token works");
    }
}

// The pre-commit hook.

fn git(bench: &Bench, args: &[&str]) -> Outcome {
    let mut cmd = bench.command("git");
    cmd.args(args)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_AUTHOR_NAME", "t")
        .env("GIT_AUTHOR_EMAIL", "t@example.com")
        .env("GIT_COMMITTER_NAME", "t")
        .env("GIT_COMMITTER_EMAIL", "t@example.com");
    finish(cmd)
}

/// A repository in the work directory with the README's hook installed.
fn repository_with_hook(shell: &'static str) -> Bench {
    let bench = Bench::new(shell);
    git(&bench, &["init", "-q"]).succeeded("git init");
    let hook = bench.work().join(".git/hooks/pre-commit");
    std::fs::write(&hook, recipe("pre-commit")).unwrap();
    make_executable(&hook);
    bench
}

fn stage(bench: &Bench, file: &str, text: &str) {
    std::fs::write(bench.work().join(file), text).unwrap();
    git(bench, &["add", file]).succeeded("git add");
}

#[test]
fn pre_commit_hook_refuses_added_tokens_only() {
    if !tools::available("git", "recipes::pre_commit_hook_refuses_added_tokens_only") {
        return;
    }
    for shell in shells("recipes::pre_commit_hook_refuses_added_tokens_only") {
        let bench = repository_with_hook(shell);
        stage(&bench, "notes.txt", "nothing secret\n");
        assert_eq!(bench.run("pre-commit", &[], &[]).code, Some(0), "{shell}");
        // git runs the hook itself (with /bin/sh).
        git(&bench, &["commit", "-q", "-m", "notes"]).succeeded(shell);

        stage(&bench, ".env", &format!("MAILCHIMP={}\n", bench.original));
        let out = bench.run("pre-commit", &[], &[]);
        assert_eq!(out.code, Some(5), "{shell}: an active token\n{out}");
        assert!(out.stdout.contains("active"), "{shell}: {out}");
        let refused = git(&bench, &["commit", "-q", "-m", "leak"]);
        assert_ne!(refused.code, Some(0), "{shell}: {refused}");

        // A token of another database: unknown here, refused by --strict.
        let elsewhere = TestEnv::new().create("x", &["cases:read"], &[]).secret;
        stage(&bench, ".env", &format!("OTHER={elsewhere}\n"));
        assert_eq!(bench.run("pre-commit", &[], &[]).code, Some(5), "{shell}");

        // Removing a token that was committed goes through.
        stage(&bench, ".env", &format!("MAILCHIMP={}\n", bench.original));
        git(&bench, &["commit", "-q", "--no-verify", "-m", "leak"]).succeeded(shell);
        git(&bench, &["rm", "-q", ".env"]).succeeded(shell);
        assert_eq!(bench.run("pre-commit", &[], &[]).code, Some(0), "{shell}");
        git(&bench, &["commit", "-q", "-m", "remove the leak"]).succeeded(shell);
    }
}

#[test]
fn pre_commit_hook_refuses_what_it_could_not_check() {
    if !tools::available(
        "git",
        "recipes::pre_commit_hook_refuses_what_it_could_not_check",
    ) {
        return;
    }
    for shell in shells("recipes::pre_commit_hook_refuses_what_it_could_not_check") {
        let bench = repository_with_hook(shell);
        stage(&bench, ".env", &format!("MAILCHIMP={}\n", bench.original));
        let broken_git = [("GIT_DIR", Some("/nonexistent"))];
        let out = bench.run("pre-commit", &[], &broken_git);
        out.failed_saying(shell, "git diff failed");
        let mistyped = bench.mistyped_db();
        let out = bench.run("pre-commit", &[], &[("TOKENCTL_DB", mistyped.to_str())]);
        out.failed_saying(shell, "there is no database");
    }
}

// The man pages' examples that hand a secret on.

/// The example in `tokenctl SUBCOMMAND --help` that starts with `start`: that line and
/// the ones after it, up to the next comment or blank line.
fn help_example(subcommand: &str, start: &str) -> String {
    let out = std::process::Command::new(assert_cmd::cargo::cargo_bin("tokenctl"))
        .args([subcommand, "--help"])
        .output()
        .unwrap();
    let help = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = help
        .lines()
        .map(str::trim)
        .skip_while(|l| !l.starts_with(start))
        .take_while(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    assert!(
        !lines.is_empty(),
        "no example starting {start:?} in:\n{help}"
    );
    lines.join("\n") + "\n"
}

#[test]
fn help_examples_that_hand_a_secret_on_stop_at_a_failure() {
    for shell in shells("recipes::help_examples_that_hand_a_secret_on_stop_at_a_failure") {
        let rotate = help_example("rotate", "secret=$(");
        let bench = Bench::new(shell);
        let out = bench.run_script(&rotate, &[], &[]);
        out.succeeded(shell);
        let stored = bench.recorded("vault", "stored");
        assert!(bench.usable(&stored[0]), "{shell}");
        bench.assert_secret_nowhere(&stored[0], &out);
        for (program, mode) in [("vault", "fail"), ("tokenctl", "fail rotate")] {
            let bench = Bench::new(shell);
            bench.set(program, mode);
            let out = bench.run_script(&rotate, &[], &[]);
            assert_ne!(out.code, Some(0), "{shell}, {mode} {program}: {out}");
            assert!(bench.recorded("vault", "stored").is_empty(), "{shell}");
        }
        let bench = Bench::new(shell);
        bench.set("tokenctl", "silent rotate");
        let out = bench.run_script(&rotate, &[], &[]);
        assert_ne!(out.code, Some(0), "{shell}: {out}");
        assert!(
            bench.calls("vault").is_empty(),
            "{shell}: nothing empty stored"
        );

        let create = help_example("create", "API_TOKEN=$(");
        let bench = Bench::new(shell);
        let job = [("CI_JOB_ID", Some("4242"))];
        bench.run_script(&create, &[], &job).succeeded(shell);
        bench.set("tokenctl", "fail create");
        let out = bench.run_script(&create, &[], &job);
        assert_ne!(out.code, Some(0), "{shell}: {out}");
    }
}

// create and rotate when stdout does not take the secret.

#[test]
fn a_secret_that_stdout_does_not_take_fails_the_command_and_says_what_to_do() {
    let env = TestEnv::new();
    env.create(NAME, &["contacts:write"], &[]);
    let plain = ["create", "--name", "importer", "--scope", "cases:read"];
    let json = [
        "create",
        "--name",
        "sync",
        "--scope",
        "cases:read",
        "--json",
    ];
    let full_disk = || Stdio::from(std::fs::File::create("/dev/full").unwrap());
    for (args, stdout) in [
        (&plain[..], closed_pipe()),
        (&["rotate", NAME][..], full_disk()),
        (&json[..], closed_pipe()),
    ] {
        let out = env.std_cmd().args(args).stdout(stdout).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {stderr}");
        let id = stderr
            .strip_prefix("error: token ")
            .and_then(|rest| rest.split_whitespace().next())
            .unwrap_or_else(|| panic!("{args:?}: {stderr}"));
        assert!(
            stderr.contains("so nobody has it")
                && stderr.contains(&format!("`tokenctl rotate {id} --grace 0`")),
            "{args:?}: {stderr}"
        );
        assert_eq!(env.show(id)["status"], "active", "{args:?}: it was issued");
        // What the message says to do.
        let secret = env.run(&["rotate", id, "--grace", "0"]).success().stdout;
        assert_eq!(env.verify(secret.trim(), &[]).0, 0);
        assert_eq!(env.show(id)["status"], "revoked");
    }
}

#[test]
fn revoking_a_name_whose_tokens_are_all_revoked_changes_nothing_and_succeeds() {
    let mut env = TestEnv::new();
    env.set_now("2026-03-01T10:00:00Z");
    env.create("importer", &["cases:read"], &["--expires", "7d"]);
    env.run(&["revoke", "importer", "--yes"]).success();
    let second = env.create("importer", &["cases:read"], &["--expires", "7d"]);
    env.run(&["revoke", "importer", "--yes"]).success();
    let run = env
        .run(&["revoke", "importer", "--yes", "--json"])
        .success();
    assert_eq!(run.json()["id"], second.id.as_str(), "the newest");
    assert!(run.stderr.contains("was already revoked"), "{}", run.stderr);
    // One of them merely expired: the admin picks.
    let third = env.create("importer", &["cases:read"], &["--expires", "1d"]);
    env.set_now("2026-03-03T10:00:00Z");
    let run = env.run(&["revoke", "importer", "--yes"]).code(1);
    assert!(
        run.stderr.contains("several tokens are named 'importer'"),
        "{}",
        run.stderr
    );
    assert_eq!(
        env.show(&third.id)["status"],
        "expired",
        "nothing was revoked"
    );
}

/// A pipe whose reader is gone: writing to it fails with EPIPE.
fn closed_pipe() -> Stdio {
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    Stdio::from(writer)
}
