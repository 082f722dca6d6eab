//! `tokenctl completions SHELL`, and the committed completion scripts loaded into real
//! shells: bash, fish and zsh must offer every subcommand and every flag that the clap
//! definition has, bash and fish the fixed values too (the tree is walked, so new commands
//! are covered without changes here).

use std::path::{Path, PathBuf};
use std::process::{Command as Process, Output};

use clap::{Command, CommandFactory, ValueEnum};
use clap_complete::Shell;
use tokenctl::cli::BIN_NAME;
use tokenctl::cli::Cli;
use xtask::docs;

use crate::common::TestEnv;
use crate::tools;

fn committed_script(shell: Shell) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(docs::COMPLETIONS_DIR)
        .join(docs::completion_file_name(shell))
}

#[test]
fn prints_the_committed_scripts() {
    let env = TestEnv::sqlite();
    for shell in Shell::value_variants() {
        let run = env.run(&["completions", &shell.to_string()]).success();
        let path = committed_script(*shell);
        let committed = std::fs::read_to_string(&path).unwrap();
        assert!(
            run.stdout == committed,
            "`tokenctl completions {shell}` differs from {}: run `cargo xtask gen`",
            path.display()
        );
        assert_eq!(run.stderr, "");
    }
    assert!(
        !env.db().exists(),
        "printing a script must not create a database"
    );
}

#[test]
fn an_unknown_shell_is_a_usage_error() {
    let run = TestEnv::new().run(&["completions", "tcsh"]).code(2);
    assert!(run.stderr.contains("powershell"), "{}", run.stderr);
    assert_eq!(run.stdout, "");
}

/// One command of the tree and what completing after it must offer.
struct Node {
    /// `["tokenctl", "config", "set"]`
    words: Vec<String>,
    subcommands: Vec<String>,
    long_flags: Vec<String>,
    /// Flags (`--status`) or positionals (`""`) with fixed values, and those values.
    values: Vec<(String, Vec<String>)>,
}

/// Every visible command as the scripts know it (help subcommand included among the
/// names, but not walked into).
fn nodes() -> Vec<Node> {
    fn walk(cmd: &Command, words: Vec<String>, nodes: &mut Vec<Node>) {
        let visible = |c: &&Command| !c.is_hide_set();
        let args: Vec<&clap::Arg> = cmd.get_arguments().filter(|a| !a.is_hide_set()).collect();
        nodes.push(Node {
            words: words.clone(),
            subcommands: cmd
                .get_subcommands()
                .filter(visible)
                .map(|c| c.get_name().to_string())
                .collect(),
            long_flags: args
                .iter()
                .filter_map(|a| a.get_long())
                .map(|l| format!("--{l}"))
                .collect(),
            values: args
                .iter()
                .filter(|a| !a.get_possible_values().is_empty() && !a.is_hide_possible_values_set())
                .map(|a| {
                    let at = a.get_long().map(|l| format!("--{l}")).unwrap_or_default();
                    let values = a
                        .get_possible_values()
                        .iter()
                        .filter(|v| !v.is_hide_set())
                        .map(|v| v.get_name().to_string())
                        .collect();
                    (at, values)
                })
                .collect(),
        });
        for sub in cmd
            .get_subcommands()
            .filter(visible)
            .filter(|s| s.get_name() != "help")
        {
            let mut path = words.clone();
            path.push(sub.get_name().to_string());
            walk(sub, path, nodes);
        }
    }
    let mut cmd = Cli::command();
    cmd.build();
    let mut nodes = Vec::new();
    walk(&cmd, vec![BIN_NAME.to_string()], &mut nodes);
    nodes
}

/// The words typed so far, ending with the one being completed.
fn line(node: &Node, more: &[&str]) -> Vec<String> {
    let mut words = node.words.clone();
    words.extend(more.iter().map(|w| w.to_string()));
    words
}

#[track_caller]
fn assert_offers(shell: &str, words: &[String], offered: &[String], expected: &[String]) {
    let missing: Vec<&String> = expected.iter().filter(|e| !offered.contains(e)).collect();
    assert!(
        missing.is_empty(),
        "{shell}: completing `{}` does not offer {missing:?}; it offers {offered:?}",
        words.join(" ")
    );
}

#[track_caller]
fn stdout_of(shell: &str, out: Output) -> String {
    assert!(
        out.status.success(),
        "{shell} failed (exit {:?}):\n{}{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// A shell with a clean environment and a throw-away HOME, and tokenctl on its PATH (the
/// scripts call it back for what to offer) with `TOKENCTL_DB` pointing at `db`.
fn shell_process(program: &str, home: &Path, db: &Path) -> Process {
    let bin = assert_cmd::cargo::cargo_bin("tokenctl");
    let mut path = std::ffi::OsString::from(bin.parent().unwrap());
    path.push(":");
    path.push(std::env::var_os("PATH").unwrap_or_default());
    let mut p = Process::new(program);
    p.env_clear()
        .env("PATH", path)
        .env("HOME", home)
        .env("TERM", "dumb")
        .env("LC_ALL", "C")
        .env("TOKENCTL_DB", db)
        .current_dir(home);
    p
}

/// Sources the script, calls the function it registered for `tokenctl` as bash's
/// programmable completion would, and prints COMPREPLY, one entry a line.
const BASH_DRIVER: &str = r#"
source "$1"; shift
[[ $(complete -p tokenctl) =~ -F\ ([^ ]+) ]] || { echo "no completion function for tokenctl" >&2; exit 3; }
COMP_WORDS=("$@"); COMP_CWORD=$(( ${#COMP_WORDS[@]} - 1 ))
COMP_LINE="$*"; COMP_POINT=${#COMP_LINE}
"${BASH_REMATCH[1]}" "${COMP_WORDS[0]}" "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}"
printf '%s\n' "${COMPREPLY[@]}"
"#;

#[test]
fn bash_completes_subcommands_flags_and_values() {
    if !tools::available("bash", "bash_completes_subcommands_flags_and_values") {
        return;
    }
    let home = tempfile::tempdir().unwrap();
    let script = committed_script(Shell::Bash);
    let complete = |words: &[String]| -> Vec<String> {
        let out = shell_process("bash", home.path(), &home.path().join("tokens.db"))
            .args(["--noprofile", "--norc", "-c", BASH_DRIVER, "bash"])
            .arg(&script)
            .args(words)
            .output()
            .expect("run bash");
        stdout_of("bash", out).lines().map(String::from).collect()
    };
    for node in nodes() {
        if !node.subcommands.is_empty() {
            let words = line(&node, &[""]);
            assert_offers("bash", &words, &complete(&words), &node.subcommands);
        }
        let words = line(&node, &["--"]);
        assert_offers("bash", &words, &complete(&words), &node.long_flags);
        for (at, values) in &node.values {
            let words = if at.is_empty() {
                line(&node, &[""])
            } else {
                line(&node, &[at, ""])
            };
            assert_offers("bash", &words, &complete(&words), values);
        }
    }
    // A prefix narrows the choice to what it starts.
    let words: Vec<String> = ["tokenctl", "cr"].map(String::from).to_vec();
    assert_eq!(complete(&words), ["create"]);
}

#[test]
fn fish_completes_subcommands_flags_and_values() {
    if !tools::available("fish", "fish_completes_subcommands_flags_and_values") {
        return;
    }
    let home = tempfile::tempdir().unwrap();
    let script = committed_script(Shell::Fish);
    let complete = |words: &[String]| -> Vec<String> {
        let out = shell_process("fish", home.path(), &home.path().join("tokens.db"))
            .args([
                "--no-config",
                "-c",
                "source $argv[1]; and complete --do-complete $argv[2]",
            ])
            .arg(&script)
            .arg(words.join(" "))
            .output()
            .expect("run fish");
        // Each candidate is followed by a tab and its description.
        stdout_of("fish", out)
            .lines()
            .map(|l| l.split('\t').next().unwrap_or_default().to_string())
            .collect()
    };
    for node in nodes() {
        if !node.subcommands.is_empty() {
            let words = line(&node, &[""]);
            assert_offers("fish", &words, &complete(&words), &node.subcommands);
        }
        let words = line(&node, &["--"]);
        assert_offers("fish", &words, &complete(&words), &node.long_flags);
        // clap_complete's fish script has no values for positionals (clap-rs/clap#6295),
        // and before a subcommand its guard fails while an option waits for its value
        // (`tokenctl --color <Tab>`; `--color=<Tab>` works): those fall back to files.
        if node.words.len() == 1 {
            continue;
        }
        for (at, values) in node.values.iter().filter(|(at, _)| !at.is_empty()) {
            let words = line(&node, &[at, ""]);
            assert_offers("fish", &words, &complete(&words), values);
        }
    }
    let words: Vec<String> = ["tokenctl", "--color="].map(String::from).to_vec();
    assert_offers(
        "fish",
        &words,
        &complete(&words),
        &["--color=auto", "--color=always", "--color=never"].map(String::from),
    );
    let words: Vec<String> = ["tokenctl", "cr"].map(String::from).to_vec();
    assert_eq!(complete(&words), ["create"]);
}

/// zsh completes only inside its line editor, so this types into an interactive zsh in a
/// pseudo-terminal (zpty): each line, Tab, then a key bound to a widget that appends the
/// edited line to a file and clears it. Arguments: the folder with `_tokenctl`, the output
/// file, then the lines. Each line waits for the previous one's result, and the first for
/// the line editor, so no keystroke reaches the terminal before zsh reads it raw.
const ZSH_DRIVER: &str = r#"
zmodload zsh/zpty || exit 3
dir=$1 out=$2
shift 2
: > $out
zpty shell zsh -f -i
zpty -w shell "fpath=(${(q)dir} \$fpath); autoload -Uz compinit; compinit -u -D; bindkey -e"
zpty -w shell "dump() { print -r -- \"\$BUFFER\" >> ${(q)out}; BUFFER= }; zle -N dump; bindkey '^T' dump"
zpty -w shell "PS1='<zle''-ready> '"
zpty -r shell reply '*<zle-ready> *'
n=0
for line in "$@"; do
  zpty -w -n shell "$line"$'\t\x14'
  (( n++ ))
  for i in {1..200}; do
    (( $(wc -l < $out) >= n )) && break
    sleep 0.05
  done
done
zpty -d shell
"#;

/// The shortest start of `name` that no other of `names` shares, if any.
fn unique_prefix(name: &str, names: &[String]) -> Option<String> {
    (1..=name.len())
        .map(|n| &name[..n])
        .find(|p| names.iter().filter(|other| other.starts_with(p)).count() == 1)
        .map(String::from)
}

#[test]
fn zsh_completes_subcommands_and_flags() {
    if !tools::available("zsh", "zsh_completes_subcommands_and_flags")
        || !tools::available("timeout", "zsh_completes_subcommands_and_flags")
    {
        return;
    }
    // Each subcommand and each flag, typed as its shortest unique start, must be completed
    // to its full name.
    let mut cases: Vec<(String, String)> = Vec::new();
    for node in nodes() {
        let typed = node.words.join(" ");
        for (names, dashes) in [(&node.subcommands, ""), (&node.long_flags, "--")] {
            for name in names.iter() {
                if let Some(prefix) = unique_prefix(name, names)
                    && prefix.len() > dashes.len()
                {
                    cases.push((format!("{typed} {prefix}"), format!("{typed} {name}")));
                }
            }
        }
    }
    // And values only the database knows.
    let env = TestEnv::sqlite();
    env.create("importer", &["cases:read"], &[]);
    for (typed, full) in [
        ("tokenctl show impo", "tokenctl show importer"),
        (
            "tokenctl config get max_l",
            "tokenctl config get max_lifetime",
        ),
    ] {
        cases.push((typed.to_string(), full.to_string()));
    }
    let home = tempfile::tempdir().unwrap();
    std::fs::copy(env.db(), home.path().join("tokens.db")).unwrap();
    let results = home.path().join("completed");
    let dir = committed_script(Shell::Zsh).parent().unwrap().to_path_buf();
    let out = shell_process("timeout", home.path(), &home.path().join("tokens.db"))
        .args(["120", "zsh", "-f", "-c", ZSH_DRIVER, "zsh"])
        .arg(&dir)
        .arg(&results)
        .args(cases.iter().map(|(typed, _)| typed))
        .output()
        .expect("run zsh");
    stdout_of("zsh", out);
    let completed = std::fs::read_to_string(&results).unwrap();
    let completed: Vec<&str> = completed.lines().collect();
    assert_eq!(
        completed.len(),
        cases.len(),
        "zsh completed {} of {} lines: {completed:?}",
        completed.len(),
        cases.len()
    );
    for ((typed, expected), got) in cases.iter().zip(completed) {
        // An option that takes a value is completed as `--name=`, others with a space.
        let got = got.trim_end().trim_end_matches('=');
        assert_eq!(got, expected, "zsh: completing `{typed}`");
    }
}

/// What `shell` offers after `words` (the last one being completed), in `dir`, with the
/// database `db`.
fn offered(shell: Shell, dir: &Path, db: &Path, words: &[&str]) -> Vec<String> {
    let script = committed_script(shell);
    let out = match shell {
        Shell::Bash => shell_process("bash", dir, db)
            .args(["--noprofile", "--norc", "-c", BASH_DRIVER, "bash"])
            .arg(&script)
            .args(words)
            .output(),
        Shell::Fish => shell_process("fish", dir, db)
            .args([
                "--no-config",
                "-c",
                "source $argv[1]; and complete --do-complete $argv[2]",
            ])
            .arg(&script)
            .arg(words.join(" "))
            .output(),
        _ => unreachable!(),
    }
    .unwrap();
    assert!(
        out.stderr.is_empty(),
        "completing wrote to stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout_of(shell.to_string().as_str(), out)
        .lines()
        .map(|l| l.split('\t').next().unwrap_or_default().to_string())
        .filter(|l| !l.is_empty())
        .collect()
}

/// Values only the database knows: token ids and names, environments, catalogue scopes,
/// setting keys; and no file names where a value is expected.
#[test]
fn bash_and_fish_complete_from_the_database() {
    for (shell, program) in [(Shell::Bash, "bash"), (Shell::Fish, "fish")] {
        if !tools::available(
            program,
            "completions::bash_and_fish_complete_from_the_database",
        ) {
            continue;
        }
        let env = TestEnv::sqlite();
        env.run(&["config", "set", "modules", "cases,invoices"])
            .success();
        let importer = env.create("importer", &["cases:read"], &[]);
        let spaced = env.create("Mailchimp sync", &["cases:read"], &["--env", "staging"]);
        std::fs::write(env.dir().join("notes.txt"), "a file\n").unwrap();
        let offers = |words: &[&str]| offered(shell, env.dir(), env.db(), words);
        let show = offers(&["tokenctl", "show", ""]);
        for id in [&importer.id, &spaced.id, &"importer".to_string()] {
            assert!(show.contains(id), "{shell}: show offers {show:?}");
        }
        assert!(!show.iter().any(|o| o.contains(&importer.secret)));
        let keys = offers(&["tokenctl", "config", "set", "max_"]);
        assert_eq!(keys, ["max_lifetime"], "{shell}");
        let envs = offers(&["tokenctl", "list", "--env", ""]);
        for e in ["live", "staging", "test"] {
            assert!(
                envs.contains(&e.to_string()),
                "{shell}: --env offers {envs:?}"
            );
        }
        let scopes = offers(&["tokenctl", "create", "--scope", "inv"]);
        assert_eq!(
            scopes,
            ["invoices:read", "invoices:write", "invoices:delete"],
            "{shell}"
        );
        for words in [
            &["tokenctl", "create", "--name", ""][..],
            &["tokenctl", "revoke", "importer", "--reason", ""],
            &["tokenctl", "create", "--expires", ""],
        ] {
            let offers = offers(words);
            assert!(
                !offers.iter().any(|o| o.contains("notes.txt")),
                "{shell}: {words:?} offers files: {offers:?}"
            );
        }
        // Where a path is expected, paths are offered.
        assert!(offers(&["tokenctl", "scan", "not"]).contains(&"notes.txt".to_string()));
    }
}

/// Completing never creates a database, even where --db names one that is not there.
#[test]
fn completing_creates_no_database() {
    if !tools::available("bash", "completions::completing_creates_no_database") {
        return;
    }
    let env = TestEnv::sqlite();
    let missing = env.dir().join("nowhere").join("tokens.db");
    let db_flag = missing.to_str().unwrap();
    for words in [
        &["tokenctl", "show", ""][..],
        &["tokenctl", "--db", db_flag, "revoke", ""],
        &["tokenctl", "list", "--env", ""],
    ] {
        offered(Shell::Bash, env.dir(), &missing, words);
    }
    assert!(!missing.parent().unwrap().exists());
    assert!(!env.db().exists());
}
