//! The one test environment: a temporary directory with HOME and XDG pointed into it, a
//! cleared environment, a database, and the real binary run through assert_cmd.
//!
//! The database is of the backend `TOKENCTL_TEST_BACKEND` names: `sqlite` (the default:
//! a file in the directory) or `postgres` (a database of its own, with a random name,
//! created on the server `TOKENCTL_TEST_POSTGRES` names and dropped afterwards). So the
//! same tests run on both backends; `.ci/run` runs them once per backend. A test about
//! SQLite's files (permissions, WAL, links, a damaged file) uses [`TestEnv::sqlite`].

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use serde_json::Value;
use tempfile::TempDir;

pub struct TestEnv {
    dir: TempDir,
    db: PathBuf,
    /// The PostgreSQL database the binary is pointed at instead of `db`.
    postgres: Option<TestDatabase>,
    now: Option<String>,
}

/// The server that PostgreSQL tests use, from `TOKENCTL_TEST_POSTGRES`. Without it they
/// cannot run: under CI (`CI=true`) that is a failure; elsewhere `None`, and the caller
/// says it skipped.
pub fn test_postgres() -> Option<String> {
    match std::env::var("TOKENCTL_TEST_POSTGRES") {
        Ok(url) if !url.is_empty() => Some(url),
        _ if std::env::var("CI").is_ok_and(|v| v == "true") => {
            panic!(
                "CI=true, but TOKENCTL_TEST_POSTGRES names no PostgreSQL server for the PostgreSQL tests"
            )
        }
        _ => None,
    }
}

/// Whether the tests run against PostgreSQL (`TOKENCTL_TEST_BACKEND=postgres`).
pub fn on_postgres() -> bool {
    match std::env::var("TOKENCTL_TEST_BACKEND").as_deref() {
        Ok("postgres") => true,
        Ok("sqlite") | Err(_) => false,
        Ok(other) => panic!("TOKENCTL_TEST_BACKEND={other}: expected sqlite or postgres"),
    }
}

/// A database of a test's own on the test server, dropped when the test ends.
pub struct TestDatabase {
    server: String,
    name: String,
}

impl TestDatabase {
    /// Creates an empty database with a random name on `server` (a URL whose database
    /// the role may connect to, the role allowed to create databases).
    pub fn create(server: &str) -> TestDatabase {
        let name = format!("tokenctl_test_{:016x}", rand::random::<u64>());
        let mut admin = postgres::Client::connect(server, postgres::NoTls)
            .expect("connect to TOKENCTL_TEST_POSTGRES");
        admin
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .expect("create a test database");
        TestDatabase {
            server: server.to_string(),
            name,
        }
    }

    /// The URL of this database: the server's, with the database's name.
    pub fn url(&self) -> String {
        let (base, query) = match self.server.split_once('?') {
            Some((b, q)) => (b, format!("?{q}")),
            None => (self.server.as_str(), String::new()),
        };
        let authority_end = base
            .find("://")
            .map(|i| i + 3)
            .and_then(|start| base[start..].find('/').map(|j| start + j))
            .unwrap_or(base.len());
        format!("{}/{}{query}", &base[..authority_end], self.name)
    }

    /// A connection to this database, for tests that look into it.
    pub fn client(&self) -> postgres::Client {
        postgres::Client::connect(&self.url(), postgres::NoTls)
            .expect("connect to the test database")
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        if let Ok(mut admin) = postgres::Client::connect(&self.server, postgres::NoTls) {
            let _ = admin.batch_execute(&format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            ));
        }
    }
}

/// The result of a run, for assertions.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| {
            panic!(
                "stdout is not JSON ({e}):\n{}\nstderr:\n{}",
                self.stdout, self.stderr
            )
        })
    }

    #[track_caller]
    pub fn success(self) -> Run {
        assert_eq!(
            self.code, 0,
            "expected success\nstdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        self
    }

    #[track_caller]
    pub fn code(self, code: i32) -> Run {
        assert_eq!(
            self.code, code,
            "expected exit {code}\nstdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        self
    }
}

/// A token made for a test: its public id and its secret.
pub struct Made {
    pub id: String,
    pub secret: String,
}

impl TestEnv {
    /// A database of the backend under test (see the module's documentation).
    pub fn new() -> TestEnv {
        let mut env = TestEnv::sqlite();
        if on_postgres() {
            let server = test_postgres().expect(
                "TOKENCTL_TEST_BACKEND=postgres needs TOKENCTL_TEST_POSTGRES (a server URL)",
            );
            env.postgres = Some(TestDatabase::create(&server));
        }
        env
    }

    /// A PostgreSQL database whatever the backend under test, for tests of PostgreSQL's
    /// own behaviour; `None` without a server outside CI (the test is skipped, and says
    /// how to run it).
    pub fn postgres() -> Option<TestEnv> {
        let Some(server) = test_postgres() else {
            // Once, and past the harness's capture (which only takes `eprintln!`), so that
            // `cargo test` shows it.
            static SAID: std::sync::Once = std::sync::Once::new();
            SAID.call_once(|| {
                use std::io::Write;
                let _ = writeln!(
                    std::io::stderr(),
                    "skipped: the PostgreSQL tests need TOKENCTL_TEST_POSTGRES=postgres://USER:PASSWORD@HOST:PORT/DB (a role with CREATEDB; see README, Development)"
                );
            });
            return None;
        };
        let mut env = TestEnv::sqlite();
        env.postgres = Some(TestDatabase::create(&server));
        Some(env)
    }

    /// A database of its own on the PostgreSQL server at `server` (a URL whose role may
    /// create databases): for tests that run a server of their own.
    pub fn on_server(server: &str) -> TestEnv {
        let mut env = TestEnv::sqlite();
        env.postgres = Some(TestDatabase::create(server));
        env
    }

    /// An SQLite file whatever the backend under test: for tests about SQLite's files.
    pub fn sqlite() -> TestEnv {
        let dir = tempfile::Builder::new()
            .prefix("tokenctl-test")
            .tempdir()
            .expect("temp dir");
        let db = dir.path().join("data").join("tokens.db");
        TestEnv {
            dir,
            db,
            postgres: None,
            now: None,
        }
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The SQLite file; a test that needs it is about SQLite, and must say so by using
    /// [`TestEnv::sqlite`].
    #[track_caller]
    pub fn db(&self) -> &Path {
        assert!(
            self.postgres.is_none(),
            "this test reads the SQLite file: make it TestEnv::sqlite()"
        );
        &self.db
    }

    /// What `--db` and `TOKENCTL_DB` name: the file, or the PostgreSQL database's URL.
    pub fn location(&self) -> std::ffi::OsString {
        match &self.postgres {
            Some(pg) => pg.url().into(),
            None => self.db.clone().into(),
        }
    }

    /// The same, as the library takes it (`Store::open`, `Verifier::open`).
    pub fn store_location(&self) -> tokenctl::store::Location {
        tokenctl::store::Location::parse(&self.location()).expect("a valid location")
    }

    /// The PostgreSQL database, when the test runs against one.
    pub fn postgres_db(&self) -> Option<&TestDatabase> {
        self.postgres.as_ref()
    }

    /// Pins the clock of every later run (debug builds honour TOKENCTL_TEST_NOW).
    pub fn set_now(&mut self, rfc3339: &str) {
        self.now = Some(rfc3339.to_string());
    }

    /// The binary with a clean environment; stdin is empty unless a test writes to it.
    pub fn cmd(&self) -> Command {
        Command::from_std(self.std_cmd())
    }

    /// The same, as a std `Command`, for tests that spawn and manage the process.
    pub fn std_cmd(&self) -> std::process::Command {
        let mut cmd = std::process::Command::new(assert_cmd::cargo::cargo_bin("tokenctl"));
        cmd.env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", self.dir.path())
            .env("XDG_DATA_HOME", self.dir.path().join("xdg-data"))
            .env("XDG_CONFIG_HOME", self.dir.path().join("xdg-config"))
            .env("TZ", "UTC")
            .env("LC_ALL", "C")
            .env("TOKENCTL_DB", self.location())
            .current_dir(self.dir.path());
        if let Some(now) = &self.now {
            cmd.env("TOKENCTL_TEST_NOW", now);
        }
        cmd
    }

    /// Runs with `args` and empty stdin.
    pub fn run(&self, args: &[&str]) -> Run {
        self.run_with(args, None)
    }

    /// Runs with `args` and `stdin`.
    pub fn run_with(&self, args: &[&str], stdin: Option<&str>) -> Run {
        let mut cmd = self.cmd();
        cmd.args(args);
        if let Some(input) = stdin {
            cmd.write_stdin(input);
        }
        let out = cmd.output().expect("run tokenctl");
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Creates a token through the CLI and returns its id and secret.
    pub fn create(&self, name: &str, scopes: &[&str], extra: &[&str]) -> Made {
        let mut args = vec!["create", "--name", name, "--json"];
        for s in scopes {
            args.push("--scope");
            args.push(s);
        }
        args.extend_from_slice(extra);
        let v = self.run(&args).success().json();
        Made {
            id: v["id"].as_str().expect("id").to_string(),
            secret: v["token"].as_str().expect("token").to_string(),
        }
    }

    /// `verify` with the token on stdin; returns the exit code and the JSON decision.
    pub fn verify(&self, secret: &str, args: &[&str]) -> (i32, Value) {
        let mut all = vec!["verify", "--json"];
        all.extend_from_slice(args);
        let run = self.run_with(&all, Some(&format!("{secret}\n")));
        (run.code, run.json())
    }

    /// `show ID --json`.
    pub fn show(&self, id: &str) -> Value {
        self.run(&["show", id, "--json"]).success().json()
    }

    /// What the database stores, for checks that no secret is stored: the SQLite file's
    /// bytes and its -wal's, or a plain-text `pg_dump` of the PostgreSQL database.
    pub fn stored_bytes(&self) -> Vec<u8> {
        if let Some(pg) = &self.postgres {
            let out = std::process::Command::new("pg_dump")
                .arg("--dbname")
                .arg(pg.url())
                .output()
                .expect("run pg_dump");
            assert!(
                out.status.success(),
                "pg_dump: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            return out.stdout;
        }
        let mut bytes = std::fs::read(&self.db).unwrap_or_default();
        let mut wal = self.db.as_os_str().to_owned();
        wal.push("-wal");
        bytes.extend(std::fs::read(PathBuf::from(wal)).unwrap_or_default());
        bytes
    }
}

/// Replaces each `(from, to)` in `text`, for snapshots of output with random ids.
pub fn redact(text: &str, pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .fold(text.to_string(), |t, (from, to)| t.replace(from, to))
}

/// A session of the `sqlite3` shell (which CI installs) on a database file, for tests
/// that look at the file or change it behind tokenctl's back the way another tool
/// would. The session stays open until dropped: a reader that keeps the `-wal` file from
/// being checkpointed away, or a transaction left open as a crash would leave it.
pub struct Sqlite3 {
    child: std::process::Child,
    input: std::process::ChildStdin,
    output: std::io::BufReader<std::process::ChildStdout>,
}

/// Printed after each statement's output, so that the session knows where it ends.
const SQLITE3_DONE: &str = "-- sqlite3 done --";

impl Sqlite3 {
    pub fn open(db: &Path) -> Sqlite3 {
        use std::process::Stdio;
        let mut child = std::process::Command::new("sqlite3")
            .args(["-batch", "-bail"])
            .arg(db)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the sqlite3 shell (CI installs it; apt-get install sqlite3)");
        let input = child.stdin.take().unwrap();
        let output = std::io::BufReader::new(child.stdout.take().unwrap());
        Sqlite3 {
            child,
            input,
            output,
        }
    }

    /// Runs `sql` and returns what it printed, one line per row (columns joined by `|`).
    #[track_caller]
    pub fn run(&mut self, sql: &str) -> String {
        use std::io::{BufRead, Read, Write};
        writeln!(self.input, "{sql}\n.print '{SQLITE3_DONE}'").unwrap();
        self.input.flush().unwrap();
        let mut out = String::new();
        loop {
            let mut line = String::new();
            if self.output.read_line(&mut line).unwrap() == 0 {
                let mut err = String::new();
                let _ = self.child.stderr.take().unwrap().read_to_string(&mut err);
                panic!("sqlite3 stopped at {sql:?}: {err}");
            }
            if line.trim_end() == SQLITE3_DONE {
                return out.trim_end().to_string();
            }
            out.push_str(&line);
        }
    }
}

impl Drop for Sqlite3 {
    fn drop(&mut self) {
        use std::io::Write;
        // Quitting rolls back what the session left open.
        let _ = self.input.write_all(b".quit\n");
        let _ = self.child.wait();
    }
}

/// Runs `sql` in a session of its own on `db`; returns what it printed.
#[track_caller]
pub fn sqlite3(db: &Path, sql: &str) -> String {
    Sqlite3::open(db).run(sql)
}
