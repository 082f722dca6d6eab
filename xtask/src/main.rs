//! `cargo xtask gen`: writes the committed, generated files — `completions/` and `man/` —
//! from tokenctl's command-line definition (see [`xtask::docs`], which also serves
//! tokenctl's staleness test).
//!
//! An xtask rather than a build script, so that building never writes into the source
//! tree and the files change only when someone asks for it and commits the result.

use std::collections::BTreeSet;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use xtask::docs::{COMPLETIONS_DIR, GeneratedFile, MAN_DIR, generated_files};

mod seed;

const USAGE: &str = "\
Usage: cargo xtask gen
       cargo xtask seed DB TOKENS [DAYS] [IPS_PER_TOKEN]

Commands:
  gen   Write completions/ and man/ from tokenctl's command-line definition, removing
        files there that are no longer generated (such as the page of a removed command)
  seed  Fill the database DB with TOKENS tokens and DAYS days (default 0) of hourly usage
        from IPS_PER_TOKEN addresses each (default 2); prints the first token's id and
        secret, and with SEED_SECRETS=FILE writes every token's secret to the new file
        FILE (0600), one a line. For benchmarks: run it with --release for large
        databases";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["gen"] => match generate(&repository_root()) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::FAILURE
            }
        },
        ["seed", db, rest @ ..] if rest.len() <= 3 && !rest.is_empty() => {
            let number = |i: usize, default: i64| -> Option<i64> {
                rest.get(i).map_or(Some(default), |v| v.parse().ok())
            };
            let (Some(tokens), Some(days), Some(ips)) = (number(0, 0), number(1, 0), number(2, 2))
            else {
                eprintln!("{USAGE}");
                return ExitCode::from(2);
            };
            let plan = seed::Plan {
                tokens: tokens as usize,
                days,
                ips_per_token: ips as usize,
                secrets: std::env::var_os("SEED_SECRETS").map(PathBuf::from),
            };
            match seed::seed(Path::new(db), &plan) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("error: {e:#}");
                    ExitCode::FAILURE
                }
            }
        }
        ["help" | "-h" | "--help"] => {
            println!("{USAGE}");
            ExitCode::SUCCESS
        }
        _ => {
            eprintln!("{USAGE}");
            ExitCode::from(2)
        }
    }
}

/// The workspace root: the parent of this crate's folder.
fn repository_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask/ is inside the repository")
        .to_path_buf()
}

fn generate(root: &Path) -> io::Result<()> {
    let files = generated_files();
    let wanted: BTreeSet<PathBuf> = files.iter().map(|f| root.join(&f.path)).collect();

    for dir in [COMPLETIONS_DIR, MAN_DIR] {
        let dir = root.join(dir);
        fs::create_dir_all(&dir)
            .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", dir.display())))?;
        // The folders hold generated files only; anything else is left from a command
        // that no longer exists.
        for entry in fs::read_dir(&dir)? {
            let path = entry?.path();
            if !wanted.contains(&path) {
                fs::remove_file(&path)
                    .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
                println!("removed {}", relative(root, &path));
            }
        }
    }

    let mut changed = 0;
    for GeneratedFile { path, content } in &files {
        let target = root.join(path);
        if fs::read(&target).ok().as_deref() == Some(content.as_bytes()) {
            continue;
        }
        fs::write(&target, content)
            .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", target.display())))?;
        println!("wrote {path}");
        changed += 1;
    }
    println!("{} generated files, {changed} changed", files.len());
    Ok(())
}

fn relative(root: &Path, path: &Path) -> String {
    path.strip_prefix(root)
        .unwrap_or(path)
        .display()
        .to_string()
}
