//! What building tokenctl needs: the Rust version Cargo.toml promises is the one the
//! locked dependencies need, and the README installs with those locked versions.

use std::process::Command;

/// `1.89` and `1.89.0` alike, as three numbers.
fn version(text: &str) -> [u64; 3] {
    let mut parts = text.split('.').map(|p| p.parse().unwrap());
    [(); 3].map(|_| parts.next().unwrap_or(0))
}

/// `rust-version` must be at least the highest `rust-version` of the crates Cargo.lock
/// builds into tokenctl (else `cargo install --locked` fails on the promised toolchain),
/// and not higher (else it turns away toolchains that work).
#[test]
fn rust_version_is_what_the_locked_dependencies_need() {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        // Not `--offline`: metadata needs every platform's packages, and a fresh machine's
        // cache holds only those its own build fetched.
        .args(["metadata", "--format-version", "1", "--locked"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let meta: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let packages = meta["packages"].as_array().unwrap();
    let by_id = |id: &str| packages.iter().find(|p| p["id"] == id).unwrap();
    let nodes = meta["resolve"]["nodes"].as_array().unwrap();
    let node = |id: &str| nodes.iter().find(|n| n["id"] == id).unwrap();
    let root = packages.iter().find(|p| p["name"] == "tokenctl").unwrap();
    // Normal and build dependencies, transitively (dev-dependencies are not installed).
    let mut seen: Vec<String> = Vec::new();
    let mut todo = vec![root["id"].as_str().unwrap().to_string()];
    while let Some(id) = todo.pop() {
        for dep in node(&id)["deps"].as_array().unwrap() {
            let runtime = dep["dep_kinds"]
                .as_array()
                .unwrap()
                .iter()
                .any(|k| k["kind"].is_null() || k["kind"] == "build");
            let dep_id = dep["pkg"].as_str().unwrap().to_string();
            if runtime && !seen.contains(&dep_id) {
                seen.push(dep_id.clone());
                todo.push(dep_id);
            }
        }
    }
    let (needed, by) = seen
        .iter()
        .filter_map(|id| {
            let p = by_id(id);
            Some((version(p["rust_version"].as_str()?), p["name"].to_string()))
        })
        .max()
        .unwrap();
    let promised = version(root["rust_version"].as_str().unwrap());
    assert_eq!(
        promised, needed,
        "Cargo.toml's rust-version is {promised:?}, the locked dependencies need {needed:?} ({by})"
    );
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let shown = format!("Rust ({} or later)", root["rust_version"].as_str().unwrap());
    assert!(readme.contains(&shown), "the README should say {shown}");
}

#[test]
fn the_readme_installs_the_locked_versions() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let installs: Vec<&str> = readme
        .lines()
        .filter(|l| l.trim_start().starts_with("cargo install"))
        .collect();
    assert!(!installs.is_empty());
    for line in installs {
        assert!(line.contains("--locked"), "{line}");
    }
}
