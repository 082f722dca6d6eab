//! Connections to one PostgreSQL server, shared by every store of the process that
//! names the same URL (a server's verifier threads, its health check and its usage
//! flusher), and how each connection is set up: the password's sources, timeouts on
//! connecting and on every statement, the schema as the search path, and TLS (`tls`).
//!
//! A connection that broke (the server restarted or went away) is dropped instead of
//! going back to the pool, so the next use connects anew: a store recovers by itself
//! once the server is back.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex};
use std::time::Duration;

use postgres::config::Host;
use postgres::{Client, Config, NoTls, Statement};

use super::{pgpass, tls};
use crate::store::location::PostgresUrl;

/// How long connecting may take, unless the URL says (`connect_timeout`).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// The longest any statement may run, a writer's wait for another included.
pub(super) const STATEMENT_TIMEOUT_MS: u64 = 10_000;
/// Idle connections kept per server.
const MAX_IDLE: usize = 16;
/// The dedicated schema all of tokenctl's tables live in.
pub(super) const SCHEMA: &str = "tokenctl";

/// A connection and the statements prepared on it.
pub(super) struct Conn {
    pub client: Client,
    prepared: HashMap<&'static str, Statement>,
}

impl Conn {
    /// `sql` prepared once per connection: the statements of every request.
    pub fn prepared(&mut self, sql: &'static str) -> Result<Statement, postgres::Error> {
        if let Some(s) = self.prepared.get(sql) {
            return Ok(s.clone());
        }
        let s = self.client.prepare(sql)?;
        self.prepared.insert(sql, s.clone());
        Ok(s)
    }
}

/// Idle connections to one server, and how to open more.
pub(super) struct Pool {
    config: Config,
    /// `None` for `sslmode=disable`: plain connections, no TLS context at all.
    tls: Option<tls::Connector>,
    idle: Mutex<Vec<Conn>>,
}

static POOLS: LazyLock<Mutex<HashMap<PostgresUrl, Arc<Pool>>>> = LazyLock::new(Default::default);

impl Pool {
    /// The process's pool for `url`; `warnings` gets what reading `~/.pgpass` found wrong.
    pub fn for_url(url: &PostgresUrl, warnings: &mut Vec<String>) -> anyhow::Result<Arc<Pool>> {
        let mut pools = POOLS.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(p) = pools.get(url) {
            return Ok(Arc::clone(p));
        }
        let mut config = configure(url.config(), warnings)?;
        let tls = tls::connector(url.tls(), &mut config)?;
        let pool = Arc::new(Pool {
            config,
            tls,
            idle: Mutex::new(Vec::new()),
        });
        pools.insert(url.clone(), Arc::clone(&pool));
        Ok(pool)
    }

    /// An idle connection that still works, or a new one.
    pub fn get(&self) -> Result<Conn, postgres::Error> {
        loop {
            let idle = self.idle.lock().unwrap_or_else(|e| e.into_inner()).pop();
            match idle {
                Some(c) if !c.client.is_closed() => return Ok(c),
                Some(_) => continue,
                None => break,
            }
        }
        let client = match &self.tls {
            Some(tls) => self.config.connect(tls.clone())?,
            None => self.config.connect(NoTls)?,
        };
        Ok(Conn {
            client,
            prepared: HashMap::new(),
        })
    }

    /// Takes `conn` back, unless it broke.
    pub fn put(&self, conn: Conn) {
        if conn.client.is_closed() {
            return;
        }
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        if idle.len() < MAX_IDLE {
            idle.push(conn);
        }
    }
}

/// libpq's defaults where the URL is silent (`PGHOST`, `PGPORT`, `PGUSER`, `PGDATABASE`,
/// the password from `PGPASSWORD` or the password file), and tokenctl's settings on
/// every connection: timeouts and the schema. TLS is `tls`'s.
fn configure(mut config: Config, warnings: &mut Vec<String>) -> anyhow::Result<Config> {
    let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    if config.get_hosts().is_empty() {
        match env("PGHOST") {
            Some(h) if h.starts_with('/') => config.host_path(h),
            Some(h) => config.host(&h),
            None => config.host_path("/var/run/postgresql"),
        };
    }
    if config.get_ports().is_empty()
        && let Some(port) = env("PGPORT").and_then(|p| p.parse().ok())
    {
        config.port(port);
    }
    if config.get_user().is_none() {
        let user = env("PGUSER").or_else(|| whoami::username().ok());
        config.user(user.as_deref().unwrap_or("postgres"));
    }
    if config.get_dbname().is_none() {
        let db = env("PGDATABASE").or_else(|| config.get_user().map(str::to_string));
        config.dbname(db.as_deref().unwrap_or("postgres"));
    }
    if config.get_password().is_none() {
        if let Some(pw) = env("PGPASSWORD") {
            config.password(pw);
        } else if let Some(pw) = pgpass::lookup(&key(&config), warnings) {
            config.password(pw);
        }
    }
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(CONNECT_TIMEOUT);
    }
    let own = format!(
        "-c search_path={SCHEMA} -c statement_timeout={STATEMENT_TIMEOUT_MS} \
         -c idle_in_transaction_session_timeout=60000"
    );
    let options = match config.get_options() {
        Some(given) => format!("{given} {own}"),
        None => own,
    };
    config.options(&options);
    config.application_name("tokenctl");
    config.tcp_user_timeout(Duration::from_millis(STATEMENT_TIMEOUT_MS));
    Ok(config)
}

/// What a password file line is matched against: the first host (`localhost` for a
/// Unix socket, as libpq does), port, database and user.
fn key(config: &Config) -> pgpass::Key {
    let host = match config.get_hosts().first() {
        Some(Host::Tcp(h)) => h.clone(),
        _ => "localhost".to_string(),
    };
    pgpass::Key {
        host,
        port: config
            .get_ports()
            .first()
            .copied()
            .unwrap_or(5432)
            .to_string(),
        dbname: config.get_dbname().unwrap_or_default().to_string(),
        user: config.get_user().unwrap_or_default().to_string(),
    }
}
