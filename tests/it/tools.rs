//! Programs some tests need besides the binary (mandoc, bash, fish, zsh). A test whose
//! program is missing is skipped with a notice on a developer's machine; in CI (CI=true),
//! which installs them all, it fails instead, so that a missing install cannot pass
//! silently.

use std::io::Write;
use std::path::Path;

/// Whether `program` is on PATH. When it is not: panics in CI, else prints a notice
/// (past the test harness's capture, so that it shows) and returns false.
pub fn available(program: &str, test: &str) -> bool {
    let found = std::env::var_os("PATH").is_some_and(|path| {
        std::env::split_paths(&path).any(|dir| is_executable(&dir.join(program)))
    });
    if found {
        return true;
    }
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("{test}: `{program}` is not installed, and CI must run this test (see .ci/run)");
    }
    let _ = writeln!(
        std::io::stderr(),
        "note: skipping {test}: `{program}` is not installed"
    );
    false
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.metadata()
        .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}
