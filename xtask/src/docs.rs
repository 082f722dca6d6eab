//! The generated documentation: shell completion scripts and man pages, made from the clap
//! definitions in `cli.rs`, which hold every help text and example. `cargo xtask gen` writes
//! them to `completions/` and `man/`, and a test (tokenctl's `tests/it/docs.rs`)
//! regenerates them and compares them with the committed files. `tokenctl completions
//! SHELL` prints the same scripts from [`tokenctl::complete::script`].
//!
//! Here and not in tokenctl's library, so that the binary does not carry clap_mangen.
//!
//! Nothing here may depend on the environment, the clock or the terminal: the output is a
//! function of the command-line definition alone, so that committed files can be checked
//! for staleness byte by byte. Every subcommand is found by walking [`Cli`], never listed.

use clap::{Command, CommandFactory, ValueEnum};
use clap_complete::{Generator, Shell};
use clap_mangen::Man;
use clap_mangen::roff::{Roff, bold, italic, roman};

use tokenctl::cli::{BIN_NAME, Cli};
use tokenctl::complete::script as completion_script;
use tokenctl::error::Exit;

/// Folder (relative to the repository root) of the completion scripts; all generated.
pub const COMPLETIONS_DIR: &str = "completions";
/// Folder (relative to the repository root) of the man pages; all generated.
pub const MAN_DIR: &str = "man";

/// One generated file: where it goes, relative to the repository root, and its content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GeneratedFile {
    pub path: String,
    pub content: String,
}

/// Every generated file: one completion script per shell, one man page per command.
pub fn generated_files() -> Vec<GeneratedFile> {
    let mut files: Vec<GeneratedFile> = Shell::value_variants()
        .iter()
        .map(|&shell| GeneratedFile {
            path: format!("{COMPLETIONS_DIR}/{}", completion_file_name(shell)),
            content: completion_script(shell),
        })
        .collect();
    files.extend(man_pages());
    files
}

/// The script's conventional file name: `tokenctl.bash`, `_tokenctl`, `tokenctl.fish`,
/// `tokenctl.elv`, `_tokenctl.ps1`.
pub fn completion_file_name(shell: Shell) -> String {
    shell.file_name(BIN_NAME)
}

/// The command tree as the man pages and the help tests see it: built (global flags copied
/// into subcommands, full names set) and without the `help` subcommands, which only repeat
/// what `--help` says.
pub fn command_tree() -> Command {
    fn without_help(cmd: Command) -> Command {
        cmd.disable_help_subcommand(true)
            .mut_subcommands(without_help)
    }
    let mut cmd = without_help(Cli::command());
    cmd.build();
    cmd
}

/// Every visible command of [`command_tree`], the root first, each before its subcommands.
pub fn all_commands(root: &Command) -> Vec<&Command> {
    let mut found = vec![root];
    for sub in root.get_subcommands().filter(|s| !s.is_hide_set()) {
        found.extend(all_commands(sub));
    }
    found
}

/// A command's full name as a man page names it: `tokenctl`, `tokenctl-config-set`.
pub fn page_name(cmd: &Command) -> &str {
    cmd.get_display_name().unwrap_or_else(|| cmd.get_name())
}

/// A man page for the program and for each subcommand, nested ones included.
pub fn man_pages() -> Vec<GeneratedFile> {
    fn walk(cmd: &Command, parents: &[&str], pages: &mut Vec<GeneratedFile>) {
        pages.push(GeneratedFile {
            path: format!("{MAN_DIR}/{}.1", page_name(cmd)),
            content: man_page(cmd, parents),
        });
        let mut chain = parents.to_vec();
        chain.push(page_name(cmd));
        for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
            walk(sub, &chain, pages);
        }
    }
    let mut pages = Vec::new();
    walk(&command_tree(), &[], &mut pages);
    pages
}

/// clap_mangen's sections (NAME, SYNOPSIS, DESCRIPTION, OPTIONS, SUBCOMMANDS), then ours;
/// `parents` are the pages of the commands above this one, for SEE ALSO. clap_mangen's
/// EXTRA section (the raw long help) and VERSION (already in the footer) are left out:
/// the long help becomes EXAMPLES.
fn man_page(cmd: &Command, parents: &[&str]) -> String {
    let man = Man::new(cmd.clone())
        .title(page_name(cmd).to_uppercase())
        .date(MAN_DATE)
        .source(format!(
            "{BIN_NAME} {}",
            cmd.get_version()
                .expect("propagate_version gives every command tokenctl's")
        ))
        .manual("tokenctl manual");
    let mut pieces: Vec<Vec<u8>> = Vec::new();
    let mut render = |section: &dyn Fn(&mut Vec<u8>) -> std::io::Result<()>| {
        let mut piece = Vec::new();
        section(&mut piece).expect("writing to memory");
        pieces.push(piece);
    };
    render(&|w| man.render_title(w));
    render(&|w| man.render_name_section(w));
    render(&|w| man.render_synopsis_section(w));
    render(&|w| man.render_description_section(w));
    if cmd.get_arguments().any(|a| !a.is_hide_set()) {
        render(&|w| man.render_options_section(w));
    }
    if cmd.get_subcommands().any(|s| !s.is_hide_set()) {
        render(&|w| man.render_subcommands_section(w));
    }
    pieces.push(extra_sections(cmd, parents).into_bytes());

    // Each piece starts with the same preamble (it defines the apostrophe string); the
    // page needs it once, at the top.
    let preamble = Roff::new().render();
    let mut page = preamble.clone();
    for piece in pieces {
        let piece = String::from_utf8(piece).expect("help texts are UTF-8");
        page.push_str(piece.strip_prefix(&preamble).unwrap_or(&piece));
    }
    tidy(&page)
}

/// Longest line of filled text, the limit of `mandoc -Tlint`'s style check.
const MAN_LINE_BYTES: usize = 80;

/// The page made clean for `mandoc -Tlint -Wall` without changing what a reader sees:
/// clap_mangen ends some lines with a space, separates "Possible values:" from the help
/// with `.br`, a blank line and `.br` (mandoc: "skipping paragraph macro"), and writes
/// each paragraph on one line, which is wrapped here (lines in no-fill mode and `.TP` tags
/// excepted). Escapes are made portable first (see [`portable_escapes`]).
fn tidy(page: &str) -> String {
    let page = portable_escapes(page);
    let lines: Vec<&str> = page.lines().map(str::trim_end).collect();
    let mut out = String::with_capacity(page.len() + page.len() / 16);
    let mut fill = true;
    let mut tag_next = false;
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        i += 1;
        if line == ".br" && lines.get(i) == Some(&"") && lines.get(i + 1) == Some(&".br") {
            out.push_str(".sp\n");
            i += 2;
            continue;
        }
        let control = line.starts_with('.') || line.starts_with('\'');
        if control {
            match line.split_whitespace().next() {
                Some(".nf") => fill = false,
                Some(".fi") => fill = true,
                _ => {}
            }
        }
        if control || !fill || tag_next || line.len() <= MAN_LINE_BYTES {
            out.push_str(line);
            out.push('\n');
        } else {
            wrap(line, &mut out);
        }
        tag_next = control && line.split_whitespace().next() == Some(".TP");
    }
    out
}

/// A printed backslash as `\e` rather than the roff crate's `\\`, which mandoc misreads
/// after a string such as `\*(Aq`; and every non-ASCII character as `\[uXXXX]`, which every
/// formatter reads whatever its input encoding, and which is what mandoc measures a line
/// with.
fn portable_escapes(page: &str) -> String {
    let mut out = String::with_capacity(page.len());
    let mut chars = page.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some('\\') => out.push_str("\\e"),
                Some(next) => {
                    out.push('\\');
                    out.push(next);
                }
                None => out.push('\\'),
            },
            c if c.is_ascii() => out.push(c),
            c => out.push_str(&format!("\\[u{:04X}]", u32::from(c))),
        }
    }
    out
}

/// Writes one line of filled text as lines of at most [`MAN_LINE_BYTES`] where it can,
/// breaking at spaces (never at an escaped one); a line that would start with a control
/// character gets the zero-width `\&` first.
fn wrap(line: &str, out: &mut String) {
    let mut current = String::new();
    for word in split_at_spaces(line) {
        if !current.is_empty() && current.len() + 1 + word.len() > MAN_LINE_BYTES {
            out.push_str(&current);
            out.push('\n');
            current.clear();
        }
        if current.is_empty() {
            if word.starts_with('.') || word.starts_with('\'') {
                current.push_str("\\&");
            }
        } else {
            current.push(' ');
        }
        current.push_str(word);
    }
    out.push_str(&current);
    out.push('\n');
}

/// The words of a roff text line: split at spaces, except escaped ones (`\ `).
fn split_at_spaces(line: &str) -> Vec<&str> {
    let mut words = Vec::new();
    let mut start = 0;
    let mut escaped = false;
    for (i, c) in line.char_indices() {
        if c == ' ' && !escaped {
            if i > start {
                words.push(&line[start..i]);
            }
            start = i + 1;
        }
        escaped = c == '\\' && !escaped;
    }
    if start < line.len() {
        words.push(&line[start..]);
    }
    words
}

const SUCCESS: &str = "Success. A reader that closes the output early (tokenctl list | head -1) \
                       is not an error.";
const FAILURE: &str = "An operational error: the command could not do its job (the database is \
                       missing or cannot be read, the token is not found, the disk is full, ...).";
const USAGE: &str = "A usage error: a bad flag or value, or a missing value without a terminal.";

/// What each exit status means for the command of the man page `page` (`tokenctl`,
/// `tokenctl-audit`, ...), in the order of the codes. The program's page lists them all.
pub fn exit_statuses(page: &str) -> Vec<(Exit, &'static str)> {
    let command = page.strip_prefix("tokenctl-").unwrap_or("");
    let mut statuses = vec![(Exit::Success, SUCCESS), (Exit::Failure, FAILURE)];
    match command {
        "revoke" => {
            statuses[1].1 = "An operational error (the database is missing or cannot be read, \
                             the token is not found, ...), or the confirmation was declined.";
        }
        "verify" => statuses[0].1 = "The token is allowed.",
        _ => {}
    }
    statuses.push((Exit::Usage, USAGE));
    let verify = [
        (
            Exit::Unauthenticated,
            "verify: the token is not valid: malformed, unknown, revoked, expired or suspended.",
        ),
        (
            Exit::Forbidden,
            "verify: the token is valid but not allowed here: it lacks the scope, the client's \
             IP address is not in its allowed networks, or it belongs to another environment.",
        ),
    ];
    let audit = (
        Exit::Findings,
        "audit --check: an anomaly is flagged. Distinct from 1, so that a cron job can tell \
         findings from a check that could not run.",
    );
    let scan = (
        Exit::Findings,
        "scan: an active token was found (also after --revoke revoked it); with --strict, an \
         unknown token too.",
    );
    match command {
        "" => {
            statuses.extend(verify);
            statuses.push((
                Exit::Findings,
                "Findings: audit --check flagged an anomaly, or scan found an active token.",
            ));
        }
        "verify" => statuses.extend(verify),
        "audit" => statuses.push(audit),
        "scan" => statuses.push(scan),
        _ => {}
    }
    statuses
}

const ENVIRONMENT: [(&str, &str); 3] = [
    ("TOKENCTL_DB", "The database file, when --db is not given."),
    (
        "TOKENCTL_TOKEN",
        "The token for verify to check, read instead of standard input when set and not empty.",
    ),
    (
        "NO_COLOR",
        "When set and not empty, --color auto (the default) prints no colours.",
    ),
];

/// The `.TH` date: the release of the version in Cargo.toml. Fixed rather than today's
/// date, so that the pages are the same whenever they are generated; change it with the
/// version.
const MAN_DATE: &str = "2026-11-27";

const DEFAULT_DB: &str = "~/.local/share/tokenctl/tokens.db";

fn extra_sections(cmd: &Command, parents: &[&str]) -> String {
    let mut roff = Roff::new();

    roff.control("SH", ["EXIT STATUS"]);
    for (exit, meaning) in exit_statuses(page_name(cmd)) {
        roff.control("TP", []);
        roff.text([bold(exit.code().to_string())]);
        roff.text([roman(meaning)]);
    }

    roff.control("SH", ["ENVIRONMENT"]);
    for (name, meaning) in ENVIRONMENT {
        roff.control("TP", []);
        roff.text([bold(name)]);
        roff.text([roman(meaning)]);
    }

    roff.control("SH", ["FILES"]);
    roff.control("TP", []);
    roff.text([italic(DEFAULT_DB)]);
    roff.text([roman(
        "The default database, or $XDG_DATA_HOME/tokenctl/tokens.db when XDG_DATA_HOME is \
         set; created on first use with mode 0600, in a directory with mode 0700. Another \
         file can be chosen with --db or TOKENCTL_DB.",
    )]);
    roff.control("TP", []);
    roff.text([
        italic("tokens.db-wal"),
        roman(", "),
        italic("tokens.db-shm"),
    ]);
    roff.text([roman(
        "SQLite's write-ahead log and its index, beside whichever database is used; mode 0600. \
         They belong to the database: back it up with sqlite3's .backup command rather than \
         by copying the file alone.",
    )]);

    let examples = long_help_blocks(cmd);
    if !examples.is_empty() {
        roff.control("SH", ["EXAMPLES"]);
        render_blocks(&mut roff, &examples);
    }

    if !parents.is_empty() {
        roff.control("SH", ["SEE ALSO"]);
        let mut refs = Vec::new();
        for (i, page) in parents.iter().enumerate() {
            if i > 0 {
                refs.push(roman(", "));
            }
            refs.push(bold(*page));
            refs.push(roman("(1)"));
        }
        roff.text(refs);
    }

    roff.render()
}

/// A piece of a command's long help (`after_long_help`), which holds its examples:
///
/// ```text
/// Examples:
///   # What the next command is for
///   tokenctl create --name importer \
///       --scope cases:write
/// ```
///
/// An unindented line other than the leading `Examples:` is prose; an indented `# ` line
/// says what the commands after it are for; other indented lines are commands (or any
/// literal text, such as a configuration file), kept as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HelpBlock {
    Prose(String),
    Purpose(String),
    Literal(Vec<String>),
}

/// The long help of `cmd`, split into [`HelpBlock`]s.
pub fn long_help_blocks(cmd: &Command) -> Vec<HelpBlock> {
    let Some(text) = cmd.get_after_long_help() else {
        return Vec::new();
    };
    let text = text.to_string();
    let mut lines: Vec<&str> = text.lines().collect();
    if lines.first().is_some_and(|l| l.trim() == "Examples:") {
        lines.remove(0);
    }
    let indent_of = |line: &str| line.len() - line.trim_start().len();
    // Literal lines keep their indentation relative to the least indented one.
    let indent = lines
        .iter()
        .filter(|l| !l.trim().is_empty())
        .map(|l| indent_of(l))
        .filter(|&n| n > 0)
        .min()
        .unwrap_or(0);

    let mut blocks: Vec<HelpBlock> = Vec::new();
    let mut ended = true; // a blank line ends prose and literal blocks
    for line in lines {
        let trimmed = line.trim();
        if trimmed.is_empty() {
            ended = true;
            continue;
        }
        let block = if indent_of(line) == 0 {
            HelpBlock::Prose(trimmed.to_string())
        } else if let Some(purpose) = trimmed.strip_prefix("# ") {
            HelpBlock::Purpose(purpose.to_string())
        } else {
            HelpBlock::Literal(vec![line[indent..].trim_end().to_string()])
        };
        match (blocks.last_mut(), block) {
            (Some(HelpBlock::Prose(p)), HelpBlock::Prose(more)) if !ended => {
                p.push(' ');
                p.push_str(&more);
            }
            (Some(HelpBlock::Purpose(p)), HelpBlock::Purpose(more)) if !ended => {
                p.push(' ');
                p.push_str(&more);
            }
            (Some(HelpBlock::Literal(l)), HelpBlock::Literal(more)) if !ended => {
                l.extend(more);
            }
            (_, block) => blocks.push(block),
        }
        ended = false;
    }
    blocks
}

/// The commands of a literal block, continuation lines (ending in `\`) joined.
pub fn commands(lines: &[String]) -> Vec<String> {
    let mut joined: Vec<String> = Vec::new();
    let mut continued = false;
    for line in lines {
        let (text, continues) = match line.strip_suffix('\\') {
            Some(text) => (text.trim_end(), true),
            None => (line.as_str(), false),
        };
        match joined.last_mut() {
            Some(last) if continued => {
                last.push(' ');
                last.push_str(text.trim_start());
            }
            _ => joined.push(text.to_string()),
        }
        continued = continues;
    }
    joined
}

fn render_blocks(roff: &mut Roff, blocks: &[HelpBlock]) {
    for (i, block) in blocks.iter().enumerate() {
        // A paragraph break before each block but the first (mandoc: no .PP after .SH).
        if i > 0 {
            roff.control("PP", []);
        }
        match block {
            HelpBlock::Prose(text) | HelpBlock::Purpose(text) => {
                roff.text([roman(text.as_str())]);
            }
            HelpBlock::Literal(lines) => {
                roff.control("RS", ["4"]);
                roff.control("nf", []);
                for line in lines {
                    roff.text([roman(line.as_str())]);
                }
                roff.control("fi", []);
                roff.control("RE", []);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_help_splits_into_purposes_and_commands() {
        let cmd = Command::new("x").after_long_help(
            "Examples:\n  tokenctl a\n  # Why b\n  # and more\n  tokenctl b \\\n      --flag\n\n  tokenctl c\nA note.",
        );
        let blocks = long_help_blocks(&cmd);
        assert_eq!(
            blocks,
            [
                HelpBlock::Literal(vec!["tokenctl a".into()]),
                HelpBlock::Purpose("Why b and more".into()),
                HelpBlock::Literal(vec!["tokenctl b \\".into(), "    --flag".into()]),
                HelpBlock::Literal(vec!["tokenctl c".into()]),
                HelpBlock::Prose("A note.".into()),
            ]
        );
        let HelpBlock::Literal(lines) = &blocks[2] else {
            unreachable!()
        };
        assert_eq!(commands(lines), ["tokenctl b --flag"]);
    }

    #[test]
    fn escapes_are_ascii() {
        assert_eq!(
            portable_escapes("GET \u{2192} read, tr , \\*(Aq\\\\n\\*(Aq \u{1F600}"),
            "GET \\[u2192] read, tr , \\*(Aq\\en\\*(Aq \\[u1F600]"
        );
        let long = format!("{} {}", "a".repeat(70), "\u{2192}".repeat(3));
        assert_eq!(tidy(&long).lines().count(), 2, "measured as escaped");
    }

    #[test]
    fn one_preamble_per_page() {
        let preamble = Roff::new().render();
        for page in man_pages() {
            assert!(page.content.starts_with(&preamble), "{}", page.path);
            assert_eq!(page.content.matches(&preamble).count(), 1, "{}", page.path);
        }
    }
}
