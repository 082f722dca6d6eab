//! The generated documentation and the help it is made from: the committed completions/
//! and man/ are what the current command line generates, the man pages pass mandoc's lint,
//! and every command and flag has help, every command a working example.
//!
//! Commands are found by walking the clap definition, so a new subcommand is checked
//! without changing anything here.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command as Process;

use clap::error::ErrorKind;
use clap::{Command, Parser};
use tokenctl::cli::Cli;
use xtask::docs::{self, HelpBlock};

use crate::tools;

/// The widest help clap prints (`max_term_width` in cli.rs): an example line longer than
/// this would be wrapped in the middle of a command.
const HELP_WIDTH: usize = 100;

fn repository() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn committed_completions_and_man_pages_are_fresh() {
    let generated = docs::generated_files();
    let mut problems = Vec::new();
    for file in &generated {
        match std::fs::read_to_string(repository().join(&file.path)) {
            Ok(committed) if committed == file.content => {}
            Ok(committed) => problems.push(format!(
                "{} is stale: {}",
                file.path,
                first_difference(&committed, &file.content)
            )),
            Err(e) => problems.push(format!("{} cannot be read: {e}", file.path)),
        }
    }
    let wanted: BTreeSet<&str> = generated.iter().map(|f| f.path.as_str()).collect();
    for dir in [docs::COMPLETIONS_DIR, docs::MAN_DIR] {
        let Ok(entries) = std::fs::read_dir(repository().join(dir)) else {
            continue;
        };
        for entry in entries {
            let path = format!("{dir}/{}", entry.unwrap().file_name().to_string_lossy());
            if !wanted.contains(path.as_str()) {
                problems.push(format!("{path} is no longer generated"));
            }
        }
    }
    assert!(
        problems.is_empty(),
        "{}\n\nThe generated files do not match the command line: run `cargo xtask gen` and \
         commit completions/ and man/.",
        problems.join("\n")
    );
}

fn first_difference(committed: &str, generated: &str) -> String {
    let mut committed_lines = committed.lines();
    for (n, line) in generated.lines().enumerate() {
        match committed_lines.next() {
            Some(old) if old == line => {}
            Some(old) => {
                return format!("line {} is\n    {old}\n  but should be\n    {line}", n + 1);
            }
            None => return format!("it ends before line {}", n + 1),
        }
    }
    "it has more lines than generated".into()
}

#[test]
fn man_pages_pass_mandoc_lint() {
    if !tools::available("mandoc", "man_pages_pass_mandoc_lint") {
        return;
    }
    // The pages as generated now (their freshness is the test above), under their names.
    let dir = tempfile::tempdir().unwrap();
    let mut pages = Vec::new();
    for page in docs::man_pages() {
        let name = Path::new(&page.path).file_name().unwrap();
        let path = dir.path().join(name);
        std::fs::write(&path, &page.content).unwrap();
        pages.push(path);
    }
    let out = Process::new("mandoc")
        .args(["-man", "-Wall", "-Tlint"])
        .args(&pages)
        .output()
        .expect("run mandoc");
    let messages = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success() && messages.is_empty(),
        "mandoc -Tlint -Wall found problems (exit {:?}):\n{messages}",
        out.status.code()
    );
}

#[test]
fn man_pages_have_the_extra_sections() {
    for page in docs::man_pages() {
        for section in [
            ".SH \"EXIT STATUS\"",
            ".SH ENVIRONMENT",
            ".SH FILES",
            ".SH EXAMPLES",
        ] {
            assert!(
                page.content.contains(&format!("\n{section}\n")),
                "{} has no {section}",
                page.path
            );
        }
        for word in [
            "TOKENCTL_DB",
            "TOKENCTL_TOKEN",
            "NO_COLOR",
            "tokens.db\\-wal",
        ] {
            assert!(page.content.contains(word), "{} lacks {word}", page.path);
        }
    }
    let top = docs::man_pages().remove(0);
    assert_eq!(top.path, "man/tokenctl.1");
    assert!(
        top.content.contains("tokenctl\\-create(1)"),
        "{}",
        top.content
    );
}

/// Each page's EXIT STATUS lists the statuses its command can exit with, and no others.
#[test]
fn exit_status_sections_are_per_command() {
    let statuses = |page: &str| -> Vec<String> {
        let text = docs::man_pages()
            .into_iter()
            .find(|p| p.path == format!("man/{page}.1"))
            .unwrap_or_else(|| panic!("no page {page}"))
            .content;
        let section = text
            .split(".SH \"EXIT STATUS\"\n")
            .nth(1)
            .and_then(|s| s.split("\n.SH ").next())
            .unwrap()
            .to_string();
        section
            .lines()
            .filter_map(|l| l.strip_prefix("\\fB")?.strip_suffix("\\fR"))
            .map(String::from)
            .collect()
    };
    assert_eq!(statuses("tokenctl"), ["0", "1", "2", "3", "4", "5"]);
    assert_eq!(statuses("tokenctl-list"), ["0", "1", "2"]);
    assert_eq!(statuses("tokenctl-audit"), ["0", "1", "2", "5"]);
    assert_eq!(statuses("tokenctl-scan"), ["0", "1", "2", "5"]);
    assert_eq!(statuses("tokenctl-verify"), ["0", "1", "2", "3", "4"]);
    assert_eq!(statuses("tokenctl-config-set"), ["0", "1", "2"]);
}

#[test]
fn every_command_and_flag_has_help() {
    let tree = docs::command_tree();
    let mut missing = Vec::new();
    for cmd in docs::all_commands(&tree) {
        let name = full_name(cmd);
        if cmd.get_about().is_none() {
            missing.push(format!("`{name}` has no help"));
        }
        for arg in cmd.get_arguments().filter(|a| !a.is_hide_set()) {
            if arg.get_help().is_none() && arg.get_long_help().is_none() {
                missing.push(format!("`{name}` {} has no help", arg_name(arg)));
            }
        }
    }
    assert!(missing.is_empty(), "{}", missing.join("\n"));
}

#[test]
fn every_command_has_an_example_that_parses() {
    let tree = docs::command_tree();
    let mut problems = Vec::new();
    for cmd in docs::all_commands(&tree) {
        let name = full_name(cmd);
        let path: Vec<String> = name.split(' ').map(String::from).collect();
        let blocks = docs::long_help_blocks(cmd);
        let mut runs_this_command = false;
        for block in &blocks {
            let HelpBlock::Literal(lines) = block else {
                continue;
            };
            for line in lines {
                if line.len() + 2 > HELP_WIDTH {
                    problems.push(format!(
                        "`{name}`: example line longer than {} characters (`--help` would \
                         wrap it): {line}",
                        HELP_WIDTH - 2
                    ));
                }
            }
            for command in docs::commands(lines) {
                for argv in tokenctl_invocations(&command) {
                    runs_this_command |= argv.starts_with(&path);
                    if let Err(e) = Cli::try_parse_from(&argv) {
                        let unknowable = e.kind() == ErrorKind::ValueValidation
                            && argv.iter().any(|w| w.contains('$'));
                        if !unknowable {
                            problems.push(format!(
                                "`{name}`: example `{command}` does not parse:\n{}",
                                e.render()
                            ));
                        }
                    }
                }
            }
        }
        if !runs_this_command {
            problems.push(format!(
                "`{name}` has no example running it (its after_long_help needs \
                 \"Examples:\" and a `{name} ...` line)"
            ));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// `tokenctl config set`, from the built command's bin name.
fn full_name(cmd: &Command) -> String {
    cmd.get_bin_name().unwrap_or(cmd.get_name()).to_string()
}

fn arg_name(arg: &clap::Arg) -> String {
    match (arg.get_long(), arg.get_value_names()) {
        (Some(long), _) => format!("--{long}"),
        (None, Some(names)) => names.join(" "),
        (None, None) => arg.get_id().to_string(),
    }
}

/// Each `tokenctl ...` in a shell command line, as the argument vector the shell would
/// pass: words are split and unquoted, variables left as written, and each invocation
/// ends at the next operator (`|`, `||`, `&&`, `;`, `&`, `<`, `>`, `(`, `)`).
fn tokenctl_invocations(command: &str) -> Vec<Vec<String>> {
    let mut segments: Vec<Vec<String>> = vec![Vec::new()];
    let mut word: Option<String> = None;
    let mut chars = command.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            ' ' | '\t' => {
                if let Some(w) = word.take() {
                    segments.last_mut().unwrap().push(w);
                }
            }
            '|' | '&' | ';' | '<' | '>' | '(' | ')' => {
                // `2>&1`: the digits before a redirection are not an argument.
                if let Some(w) = word.take()
                    && !((c == '<' || c == '>') && w.chars().all(|d| d.is_ascii_digit()))
                {
                    segments.last_mut().unwrap().push(w);
                }
                segments.push(Vec::new());
            }
            '\'' => {
                let w = word.get_or_insert_with(String::new);
                for q in chars.by_ref() {
                    if q == '\'' {
                        break;
                    }
                    w.push(q);
                }
            }
            '"' => {
                let w = word.get_or_insert_with(String::new);
                while let Some(q) = chars.next() {
                    match q {
                        '"' => break,
                        '\\' if matches!(chars.peek(), Some('"' | '\\' | '$' | '`')) => {
                            w.push(chars.next().unwrap());
                        }
                        _ => w.push(q),
                    }
                }
            }
            '\\' => {
                if let Some(next) = chars.next() {
                    word.get_or_insert_with(String::new).push(next);
                }
            }
            _ => word.get_or_insert_with(String::new).push(c),
        }
    }
    if let Some(w) = word {
        segments.last_mut().unwrap().push(w);
    }
    segments
        .into_iter()
        .filter_map(|words| {
            let start = words.iter().position(|w| w == "tokenctl")?;
            Some(words[start..].to_vec())
        })
        .collect()
}

#[test]
fn invocations_are_found_in_shell_lines() {
    assert_eq!(
        tokenctl_invocations(
            r#"TOKENCTL_TOKEN=$T tokenctl verify --env live < /dev/null && echo "tokenctl ok""#
        ),
        [["tokenctl", "verify", "--env", "live"]]
    );
    assert_eq!(
        tokenctl_invocations(
            r#"printf '%s\n' "$TOKEN" | tokenctl create --name "ci-$ID" --scope 'a:read' 2>&1"#
        ),
        [[
            "tokenctl", "create", "--name", "ci-$ID", "--scope", "a:read"
        ]]
    );
    assert_eq!(
        tokenctl_invocations("eval (tokenctl completions elvish | slurp)"),
        [["tokenctl", "completions", "elvish"]]
    );
}
