//! Tab completion: the shells' scripts call `tokenctl` back (clap_complete's dynamic
//! completion, through the `COMPLETE` variable), and this module adds what only the
//! database knows: token ids and names, environments, the module catalogue, and the
//! setting keys.
//!
//! Completing must be harmless: it never creates a database (a missing one offers
//! nothing), never prompts, never prints a secret (ids and names only) and never writes
//! to stderr.

use std::ffi::OsString;
use std::path::PathBuf;

use clap::{Command, CommandFactory, ValueHint};
use clap_complete::engine::{ArgValueCandidates, CompletionCandidate};
use clap_complete::env::{Bash, Elvish, EnvCompleter, Fish, Powershell, Zsh};
use clap_complete::{CompleteEnv, Shell};

use crate::cli::{BIN_NAME, Cli};
use crate::scope::Access;
use crate::settings::KEYS;
use crate::store::{OpenMode, Status, Store, TokenFilter, TokenRecord};
use crate::text::escape;

/// The variable the scripts set when they ask `tokenctl` for completions.
const VAR: &str = "COMPLETE";

/// Answers a completion request and exits, if this run is one; returns otherwise.
pub fn answer_if_asked() {
    CompleteEnv::with_factory(command)
        .var(VAR)
        .bin(BIN_NAME)
        .completer(BIN_NAME)
        .complete();
}

/// The script that registers the completion for `shell`, as `tokenctl completions SHELL`
/// prints it and `completions/` holds it.
pub fn script(shell: Shell) -> String {
    let completer: &dyn EnvCompleter = match shell {
        Shell::Bash => &Bash,
        Shell::Elvish => &Elvish,
        Shell::Fish => &Fish,
        Shell::PowerShell => &Powershell,
        Shell::Zsh => &Zsh,
        _ => unreachable!("clap_complete has no other shells"),
    };
    let mut script = Vec::new();
    completer
        .write_registration(VAR, BIN_NAME, BIN_NAME, BIN_NAME, &mut script)
        .expect("writing to memory");
    let script = String::from_utf8(script).expect("the scripts are UTF-8");
    if shell == Shell::Zsh {
        // Installed in $fpath, the file is autoloaded as the function `_tokenctl` and run
        // at the first Tab: then it must complete, not only register (as clap_complete's
        // static zsh script does). Sourced, it registers.
        let register = format!("compdef _clap_dynamic_completer_{BIN_NAME} {BIN_NAME}");
        return script.replacen(
            &register,
            &format!(
                "if [ \"$funcstack[1]\" = \"_{BIN_NAME}\" ]; then\n    \
                 _clap_dynamic_completer_{BIN_NAME} \"$@\"\nelse\n    {register}\nfi"
            ),
            1,
        );
    }
    script
}

/// The command line with what completion offers for each value: candidates from the
/// database, paths only where a path is expected, nothing for free text.
fn command() -> Command {
    let tokens = |status: Option<Status>| {
        move |a: clap::Arg| a.add(ArgValueCandidates::new(move || token_refs(status)))
    };
    let envs = |a: clap::Arg| a.add(ArgValueCandidates::new(envs));
    let scopes = |a: clap::Arg| a.add(ArgValueCandidates::new(scopes));
    let keys = |a: clap::Arg| a.add(ArgValueCandidates::new(setting_keys));
    // The subcommands' arguments are defined only when the command is built (see
    // `cli::Command`): built here first, so that they exist to be given candidates.
    let mut cli = Cli::command();
    cli.build();
    cli.mut_subcommand("show", |c| c.mut_arg("token", tokens(None)))
        .mut_subcommand("audit", |c| c.mut_arg("token", tokens(None)))
        .mut_subcommand("revoke", |c| {
            c.mut_arg("token", tokens(Some(Status::Active)))
        })
        .mut_subcommand("rotate", |c| {
            c.mut_arg("token", tokens(Some(Status::Active)))
        })
        .mut_subcommand("suspend", |c| {
            c.mut_arg("token", tokens(Some(Status::Active)))
        })
        .mut_subcommand("resume", |c| {
            c.mut_arg("token", tokens(Some(Status::Suspended)))
        })
        .mut_subcommand("limit", |c| {
            c.mut_arg("token", tokens(Some(Status::Active)))
        })
        .mut_subcommand("create", |c| {
            c.mut_arg("env", envs).mut_arg("scopes", scopes)
        })
        .mut_subcommand("list", |c| c.mut_arg("env", envs))
        .mut_subcommand("verify", |c| {
            c.mut_arg("env", envs).mut_arg("scope", scopes)
        })
        .mut_subcommand("serve", |c| {
            c.mut_arg("env", envs)
                .mut_arg("rules", |a| a.value_hint(ValueHint::FilePath))
        })
        .mut_subcommand("scan", |c| {
            c.mut_arg("paths", |a| a.value_hint(ValueHint::AnyPath))
        })
        .mut_subcommand("config", |c| {
            c.mut_subcommand("get", |c| c.mut_arg("key", keys))
                .mut_subcommand("set", |c| c.mut_arg("key", keys))
        })
}

/// The database the command line being completed names (`--db`), else `TOKENCTL_DB`,
/// else the default, if it exists; opened without ever creating it.
fn database() -> Option<Store> {
    let words: Vec<OsString> = std::env::args_os().collect();
    let mut named = None;
    for (i, w) in words.iter().enumerate() {
        let w = w.to_string_lossy();
        if let Some(path) = w.strip_prefix("--db=") {
            named = Some(PathBuf::from(path));
        } else if w == "--db" {
            named = words.get(i + 1).map(PathBuf::from);
        }
    }
    let path = named
        .or_else(|| std::env::var_os("TOKENCTL_DB").map(PathBuf::from))
        .or_else(|| crate::commands::default_db().ok())?;
    let location = crate::store::Location::parse(path.as_os_str()).ok()?;
    if location.as_file().is_some_and(|p| !p.is_file()) {
        return None;
    }
    Store::open(&location, OpenMode::Existing).ok()
}

/// Tokens' ids (with the name as help), and the names a shell can take as one word.
fn token_refs(status: Option<Status>) -> Vec<CompletionCandidate> {
    let Some(store) = database() else {
        return Vec::new();
    };
    let now = crate::clock::now();
    let filter = TokenFilter {
        status,
        ..TokenFilter::default()
    };
    let tokens = store.list_tokens(&filter, now).unwrap_or_default();
    let mut out: Vec<CompletionCandidate> = tokens
        .iter()
        .map(|t| candidate(&t.id, &format!("{} ({})", escape(&t.name), t.status(now))))
        .collect();
    out.extend(
        tokens
            .iter()
            .filter(|t| one_word(&t.name))
            .map(|t: &TokenRecord| candidate(&t.name, &format!("token {}", t.id))),
    );
    out
}

/// Whether a shell reads `name` back as one plain word.
fn one_word(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_alphanumeric() || "-_.:@+,%".contains(c))
}

/// `live`, `test`, and every environment a token has.
fn envs() -> Vec<CompletionCandidate> {
    let mut envs = vec!["live".to_string(), "test".to_string()];
    if let Some(store) = database() {
        let tokens = store
            .list_tokens(&TokenFilter::default(), crate::clock::now())
            .unwrap_or_default();
        envs.extend(tokens.into_iter().map(|t| t.env));
    }
    envs.sort();
    envs.dedup();
    envs.into_iter().map(CompletionCandidate::new).collect()
}

/// Every grant the module catalogue allows (none when there is no catalogue).
fn scopes() -> Vec<CompletionCandidate> {
    let modules = database()
        .and_then(|s| s.settings().ok())
        .map(|s| s.modules)
        .unwrap_or_default();
    modules
        .iter()
        .flat_map(|m| Access::ALL.map(|a| CompletionCandidate::new(format!("{m}:{a}"))))
        .collect()
}

fn setting_keys() -> Vec<CompletionCandidate> {
    KEYS.iter().map(|k| candidate(k.name, k.help)).collect()
}

fn candidate(value: &str, help: &str) -> CompletionCandidate {
    CompletionCandidate::new(value).help(Some(help.to_string().into()))
}
