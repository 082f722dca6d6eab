//! The README is a promise: its tour (```console blocks) runs and prints what it shows, and
//! every ```sh block is a recipe that tests/it/recipes.rs runs, or says why it is not run.

use std::path::PathBuf;
use std::process::Command;

use crate::common::TestEnv;
use crate::recipes::RECIPES;

/// The moment the tour's output was captured at.
const TOUR_NOW: &str = "2026-12-01T09:00:00Z";

pub struct Block {
    pub lang: String,
    /// Line number of the opening fence, for messages.
    pub line: usize,
    /// The `<!-- readme-test: ... -->` marker just before the block, if any.
    pub marker: Option<String>,
    pub body: Vec<String>,
}

/// README.md's fenced code blocks, in order.
pub fn blocks() -> Vec<Block> {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let mut out = Vec::new();
    let mut current: Option<Block> = None;
    let mut marker: Option<String> = None;
    for (i, line) in text.lines().enumerate() {
        if let Some(block) = current.as_mut() {
            if line.starts_with("```") {
                out.push(current.take().unwrap());
            } else {
                block.body.push(line.to_string());
            }
            continue;
        }
        if let Some(lang) = line.strip_prefix("```") {
            current = Some(Block {
                lang: lang.trim().to_string(),
                line: i + 1,
                marker: marker.take(),
                body: Vec::new(),
            });
        } else if let Some(m) = line.strip_prefix("<!-- readme-test:") {
            marker = Some(m.trim_end_matches("-->").trim().to_string());
        } else if !line.trim().is_empty() {
            marker = None;
        }
    }
    out
}

fn bin_dir() -> PathBuf {
    assert_cmd::cargo::cargo_bin("tokenctl")
        .parent()
        .unwrap()
        .to_path_buf()
}

/// jq runs many README examples.
fn need_jq(test: &str) -> bool {
    crate::tools::available("jq", test)
}

fn bash(env: &TestEnv, script: &str) -> std::process::Output {
    let path = std::env::join_paths([bin_dir()]).unwrap();
    let mut full = path.into_string().unwrap();
    full.push(':');
    full.push_str(&std::env::var("PATH").unwrap_or_default());
    // The environment the binary gets in every other test, but running bash.
    let cmd = env.std_cmd();
    let envs: Vec<(std::ffi::OsString, std::ffi::OsString)> = cmd
        .get_envs()
        .filter_map(|(k, v)| Some((k.to_owned(), v?.to_owned())))
        .collect();
    Command::new("bash")
        .env_clear()
        .envs(envs)
        .env("PATH", full)
        .current_dir(cmd.get_current_dir().unwrap())
        .arg("-c")
        .arg(script)
        .output()
        .unwrap()
}

/// A line of expected output: `[..]` matches any text within the line.
fn line_matches(expected: &str, actual: &str) -> bool {
    let parts: Vec<&str> = expected.split("[..]").collect();
    if parts.len() == 1 {
        return expected == actual;
    }
    let mut rest = actual;
    for (i, part) in parts.iter().enumerate() {
        if i == 0 {
            let Some(r) = rest.strip_prefix(part) else {
                return false;
            };
            rest = r;
        } else if i == parts.len() - 1 {
            return rest.ends_with(part) && rest.len() >= part.len();
        } else {
            let Some(at) = rest.find(part) else {
                return false;
            };
            rest = &rest[at + part.len()..];
        }
    }
    true
}

fn trimmed(lines: &[String]) -> Vec<String> {
    let mut v: Vec<String> = lines.iter().map(|l| l.trim_end().to_string()).collect();
    while v.last().is_some_and(|l| l.is_empty()) {
        v.pop();
    }
    v
}

#[test]
fn tour_prints_what_the_readme_shows() {
    if !need_jq("readme::tour_prints_what_the_readme_shows") {
        return;
    }
    let mut env = TestEnv::new();
    env.set_now(TOUR_NOW);
    let consoles: Vec<Block> = blocks()
        .into_iter()
        .filter(|b| b.lang == "console")
        .collect();
    assert!(consoles.len() >= 4, "the tour went missing");
    for block in consoles {
        // Commands and the output each one should print.
        let mut steps: Vec<(String, Vec<String>)> = Vec::new();
        for line in &block.body {
            if let Some(cmd) = line.strip_prefix("$ ") {
                steps.push((cmd.to_string(), Vec::new()));
            } else {
                steps
                    .last_mut()
                    .expect("output before the first command")
                    .1
                    .push(line.clone());
            }
        }
        let mut script = String::new();
        for (i, (cmd, _)) in steps.iter().enumerate() {
            script.push_str(&format!(
                "printf '@@step {i}@@\\n'\n{{ {cmd}\n}} 2>&1\necho \"@@status $?@@\"\n"
            ));
        }
        let out = bash(&env, &script);
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        for (i, (cmd, expected)) in steps.iter().enumerate() {
            let start = text.find(&format!("@@step {i}@@\n")).unwrap_or_else(|| {
                panic!("README line {}: `{cmd}` did not run:\n{text}", block.line)
            }) + format!("@@step {i}@@\n").len();
            let end = text[start..].find("@@status ").map(|e| start + e).unwrap();
            let status: String = text[end + 9..]
                .chars()
                .take_while(char::is_ascii_digit)
                .collect();
            let actual: Vec<String> = text[start..end].lines().map(str::to_string).collect();
            assert_eq!(
                status,
                "0",
                "README line {}: `{cmd}` failed:\n{}",
                block.line,
                actual.join("\n")
            );
            let (want, got) = (trimmed(expected), trimmed(&actual));
            let ok =
                want.len() == got.len() && want.iter().zip(&got).all(|(w, g)| line_matches(w, g));
            assert!(
                ok,
                "README line {}: `{cmd}` printed\n{}\n---- but the README shows ----\n{}",
                block.line,
                got.join("\n"),
                want.join("\n")
            );
        }
    }
}

#[test]
fn shell_examples_are_recipes_or_say_why_not() {
    let mut unmarked = Vec::new();
    let mut recipes = 0;
    for block in blocks().into_iter().filter(|b| b.lang == "sh") {
        match block.marker.as_deref() {
            Some(m) if m.starts_with("skip:") => {}
            Some(m)
                if m.strip_prefix("recipe ")
                    .is_some_and(|r| RECIPES.contains(&r)) =>
            {
                recipes += 1;
            }
            _ => unmarked.push(block.line),
        }
    }
    assert!(
        unmarked.is_empty(),
        "README sh blocks at lines {unmarked:?} need <!-- readme-test: recipe NAME --> (and a \
         test in tests/it/recipes.rs) or <!-- readme-test: skip: why -->"
    );
    assert!(recipes >= 6, "only {recipes} README recipes are marked");
}

#[test]
fn wildcard_lines() {
    assert!(line_matches("tok_live_[..]", "tok_live_abc"));
    assert!(line_matches("[..]  importer", "k3j9x0a1  importer"));
    assert!(line_matches("a [..] b [..] c", "a 1 b 2 c"));
    assert!(!line_matches("a [..] b", "a 1 c"));
    assert!(!line_matches("exact", "exactly"));
}
