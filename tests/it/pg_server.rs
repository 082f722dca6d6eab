//! A PostgreSQL server of the test's own: a fresh cluster (`initdb`) in a temporary
//! directory on a free loopback port, which the test may stop and start as it likes, and
//! which is stopped and removed when dropped. The shared server of
//! `TOKENCTL_TEST_POSTGRES` serves every other test and is never stopped.
//!
//! The binaries are PostgreSQL's (`TOKENCTL_TEST_PG_BIN`, else the newest
//! `/usr/lib/postgresql/*/bin` as Debian installs them, else `PATH`). `initdb` refuses to
//! run as root, so as root (as CI runs) the cluster belongs to the `postgres` user and
//! its commands run through `runuser`. The cluster trusts connections from loopback: its
//! superuser `tokenctl` needs no password. Without PostgreSQL the tests are skipped,
//! and fail with `CI=true`.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use tempfile::TempDir;

pub struct PgServer {
    dir: TempDir,
    bin: PathBuf,
    pub port: u16,
    /// Run its commands as the `postgres` user (we are root).
    as_postgres: bool,
}

/// Where PostgreSQL's server binaries are, if installed.
fn bin_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("TOKENCTL_TEST_PG_BIN") {
        return Some(PathBuf::from(dir));
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let v = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").exists().then_some((v, bin))
        })
        .collect();
    versions.sort();
    if let Some((_, bin)) = versions.pop() {
        return Some(bin);
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).find(|d| d.join("initdb").exists())
}

fn is_root() -> bool {
    // SAFETY: geteuid reads the process's effective user id and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// Under CI a missing PostgreSQL is a failure; elsewhere the test is skipped.
fn unavailable(why: &str) -> Option<PgServer> {
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("CI=true, but no private PostgreSQL server for this test: {why}");
    }
    eprintln!("skipped: {why} (install PostgreSQL's server, or set TOKENCTL_TEST_PG_BIN)");
    None
}

impl PgServer {
    /// A new cluster, started; with `tls`, it also accepts TLS, with a certificate for
    /// `localhost` (not for `127.0.0.1`) signed by [`PgServer::root_cert`], and the role
    /// `tls_only` (if created) may connect over TLS only.
    pub fn start(tls: bool) -> Option<PgServer> {
        let Some(bin) = bin_dir() else {
            return unavailable("PostgreSQL's initdb was not found");
        };
        let dir = tempfile::Builder::new()
            .prefix("tokenctl-pg")
            .tempdir()
            .expect("temp dir");
        let mut server = PgServer {
            dir,
            bin,
            port: free_port(),
            as_postgres: is_root(),
        };
        if tls {
            make_certificates(server.dir.path());
        }
        if server.as_postgres {
            own_by_postgres(server.dir.path());
        }
        let data = server.data();
        let init = ["-D", &data, "-U", "tokenctl", "-A", "trust", "--no-sync"];
        server.pg(
            "initdb",
            &[&init[..], &["-E", "UTF8", "--locale=C"]].concat(),
        );
        // The free port may be taken by another test's server before this one binds it:
        // then another port (the last setting in postgresql.conf wins).
        for attempt in 1.. {
            server.configure(tls);
            match server.try_pg("pg_ctl", &server.start_args()) {
                Ok(_) => break,
                Err(e) if attempt >= 3 || !e.contains("Address already in use") => panic!("{e}"),
                Err(_) => server.port = free_port(),
            }
        }
        Some(server)
    }

    fn data(&self) -> String {
        self.dir.path().join("data").display().to_string()
    }

    /// Writes the server's settings: port, loopback only, its socket in its directory,
    /// no fsync (the tests need no durability across a power cut), and TLS if asked; and
    /// whom it trusts: everyone on loopback and its socket, `tls_only` with TLS only.
    fn configure(&self, tls: bool) {
        use std::fmt::Write as _;
        let mut conf = format!(
            "\nport = {}\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '{}'\n\
             fsync = off\nmax_connections = 200\n",
            self.port,
            self.dir.path().display()
        );
        let mut hba = "local all all trust\n".to_string();
        if tls {
            let dir = self.dir.path().display();
            let _ = write!(
                conf,
                "ssl = on\nssl_cert_file = '{dir}/server.crt'\nssl_key_file = '{dir}/server.key'\n"
            );
            hba.push_str(
                "hostssl all tls_only 127.0.0.1/32 trust\n\
                 hostnossl all tls_only 127.0.0.1/32 reject\n",
            );
        }
        hba.push_str("host all all 127.0.0.1/32 trust\n");
        std::fs::write(self.dir.path().join("data/pg_hba.conf"), hba).expect("pg_hba.conf");
        let path = self.dir.path().join("data/postgresql.conf");
        let mut text = std::fs::read_to_string(&path).expect("postgresql.conf");
        text.push_str(&conf);
        std::fs::write(&path, text).expect("write postgresql.conf");
    }

    /// The root certificate that signed the server's (with TLS).
    pub fn root_cert(&self) -> PathBuf {
        self.dir.path().join("ca.crt")
    }

    /// A root certificate that signed nothing of the server's.
    pub fn other_root_cert(&self) -> PathBuf {
        self.dir.path().join("other-ca.crt")
    }

    /// The URL of `database` on this server, as its superuser.
    pub fn url(&self, database: &str) -> String {
        format!("postgres://tokenctl@127.0.0.1:{}/{database}", self.port)
    }

    /// Stops the server (fast: open sessions are ended), and waits until it is down.
    pub fn stop(&self) {
        self.pg("pg_ctl", &["-D", &self.data(), "-m", "fast", "-w", "stop"]);
    }

    /// Starts the stopped server, and waits until it accepts connections.
    pub fn start_again(&self) {
        self.pg("pg_ctl", &self.start_args());
    }

    fn start_args(&self) -> Vec<String> {
        let log = self.dir.path().join("server.log").display().to_string();
        ["-D", &self.data(), "-l", &log, "-w", "-t", "60", "start"]
            .map(String::from)
            .into()
    }

    /// One of PostgreSQL's programs, run as the cluster's owner.
    fn command(&self, program: &str) -> Command {
        let exe = self.bin.join(program);
        if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&exe);
            c
        } else {
            Command::new(&exe)
        }
    }

    /// Runs `program`; fails the test if it fails.
    fn pg<S: AsRef<std::ffi::OsStr> + std::fmt::Debug>(&self, program: &str, args: &[S]) {
        if let Err(e) = self.try_pg(program, args) {
            panic!("{e}");
        }
    }

    /// Runs `program`; if it fails, what it and the server's log say.
    fn try_pg<S: AsRef<std::ffi::OsStr> + std::fmt::Debug>(
        &self,
        program: &str,
        args: &[S],
    ) -> Result<Output, String> {
        let out = self
            .command(program)
            .args(args)
            .current_dir(self.dir.path())
            .output()
            .map_err(|e| format!("run {program}: {e}"))?;
        if out.status.success() {
            return Ok(out);
        }
        let log = std::fs::read_to_string(self.dir.path().join("server.log"));
        Err(format!(
            "{program} {args:?} failed: {}\n{}\nserver log:\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            log.unwrap_or_default()
        ))
    }
}

impl Drop for PgServer {
    fn drop(&mut self) {
        if self.dir.path().join("data/postmaster.pid").exists() {
            let stop = ["-D", &self.data(), "-m", "immediate", "-w", "stop"];
            let _ = self.command("pg_ctl").args(stop).output();
        }
    }
}

/// A port nothing listens on now.
fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("a free port");
    listener.local_addr().expect("its address").port()
}

/// Gives `dir` and what is in it to the `postgres` user, who runs the cluster.
fn own_by_postgres(dir: &Path) {
    let done = Command::new("chown")
        .args(["-R", "postgres:"])
        .arg(dir)
        .status()
        .expect("chown");
    assert!(done.success(), "chown -R postgres: {}", dir.display());
}

/// In `dir`: two root certificates (`ca`, `other-ca`), and the server's certificate
/// for `localhost`, signed by `ca`, with its key (readable by its owner only).
fn make_certificates(dir: &Path) {
    let openssl = |args: &[&str]| {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .expect("the openssl command (apt-get install openssl)");
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let key = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    for ca in ["ca", "other-ca"] {
        let (keyout, out, subj) = (
            format!("{ca}.key"),
            format!("{ca}.crt"),
            format!("/CN={ca}"),
        );
        let days = ["-days", "2", "-subj", &subj];
        let files = ["-keyout", &keyout, "-out", &out];
        openssl(&[&["req", "-x509"][..], &key, &files, &days].concat());
    }
    let files = [
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
        "-subj",
        "/CN=localhost",
    ];
    openssl(&[&["req"][..], &key, &files].concat());
    std::fs::write(
        dir.join("server.ext"),
        "subjectAltName = DNS:localhost\nbasicConstraints = CA:FALSE\n",
    )
    .expect("write server.ext");
    openssl(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.crt",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "server.crt",
        "-days",
        "2",
        "-extfile",
        "server.ext",
    ]);
    use std::os::unix::fs::PermissionsExt;
    let owner_only = std::fs::Permissions::from_mode(0o600);
    std::fs::set_permissions(dir.join("server.key"), owner_only).expect("chmod server.key");
}
