//! `cargo xtask seed`: fills a database with tokens and a stretch of realistic hourly
//! usage, for benchmarks and manual testing. Goes through tokenctl's store API, so the
//! data is exactly what the product itself would have written.

use std::io::Write;
use std::net::{IpAddr, Ipv4Addr};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use anyhow::{Context, Result};
use chrono::{TimeDelta, Utc};
use tokenctl::store::NewToken;
use tokenctl::usage::{Batch, Counter, Presented, UsageRow};
use tokenctl::{OpenMode, ScopeSet, Store};

pub struct Plan {
    pub tokens: usize,
    pub days: i64,
    pub ips_per_token: usize,
    /// A new file (0600) to write every token's secret to, one a line, in creation order:
    /// for benchmarks that present every token.
    pub secrets: Option<std::path::PathBuf>,
}

const MODULES: [&str; 6] = [
    "cases",
    "contacts",
    "documents",
    "invoices",
    "calendar",
    "reports",
];
/// Rows per transaction when writing usage.
const CHUNK: usize = 200_000;

/// A small deterministic generator (xorshift), so that two seeds of the same plan are equal.
struct Dice(u64);

impl Dice {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// Creates the tokens and their usage; prints the first token's id and secret on stdout
/// (a benchmark database only).
pub fn seed(path: &Path, plan: &Plan) -> Result<()> {
    let mut store = Store::open(path, OpenMode::Create)
        .with_context(|| format!("opening {}", path.display()))?;
    let now = Utc::now();
    let created = now - TimeDelta::days(plan.days + 1);
    let mut keys = Vec::with_capacity(plan.tokens);
    let mut first = None;
    let mut secrets = match &plan.secrets {
        Some(file) => Some(std::io::BufWriter::new(
            std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(file)
                .with_context(|| format!("creating {}", file.display()))?,
        )),
        None => None,
    };
    for start in (0..plan.tokens).step_by(1_000) {
        let mut batch = Vec::new();
        for i in start..(start + 1_000).min(plan.tokens) {
            let g = tokenctl::token::generate("tok", "live")?;
            if first.is_none() {
                first = Some(g.secret.expose().to_string());
            }
            if let Some(out) = &mut secrets {
                writeln!(out, "{}", g.secret.expose())?;
            }
            let module = MODULES[i % MODULES.len()];
            batch.push(NewToken {
                hash: g.hash,
                hint: g.hint,
                name: format!("integration-{i:05}"),
                description: Some(format!("seeded token {i}")),
                env: if i % 10 == 0 { "test" } else { "live" }.into(),
                scopes: ScopeSet::parse_list(&format!("{module}:write reports:read"))?,
                allowed_ips: Vec::new(),
                expires_at: Some(now + TimeDelta::days(30 + (i % 300) as i64)),
                rate_limit: None,
            });
        }
        let made = store.create_tokens(&batch, "seed", created)?;
        keys.extend(made.iter().map(|t| t.key()));
    }
    if let Some(out) = secrets {
        out.into_inner().map_err(|e| e.into_error())?.sync_all()?;
    }

    let hours = plan.days * 24;
    let last_hour = now.timestamp() / 3600;
    let mut dice = Dice(0x9e37_79b9_7f4a_7c15);
    let mut rows = Vec::with_capacity(CHUNK);
    let mut written = 0usize;
    for (t, key) in keys.iter().enumerate() {
        let base = 1 + (t % 50) as u64;
        for h in (last_hour - hours + 1)..=last_hour {
            let hour_of_day = h % 24;
            // Busier in office hours, quieter at night.
            let load = if (8..18).contains(&hour_of_day) {
                base * 4
            } else {
                base
            };
            for ip in 0..plan.ips_per_token {
                let n = dice.next() % (load + 1);
                if n == 0 {
                    continue;
                }
                let addr = IpAddr::V4(Ipv4Addr::new(10, (t >> 8) as u8, t as u8, 1 + ip as u8));
                let at = (h * 3600 + (dice.next() % 3600) as i64).min(now.timestamp());
                rows.push(UsageRow {
                    presented: Presented::Token(*key),
                    hour: h,
                    ip: addr.to_string(),
                    counts: Counter {
                        allowed: n,
                        denied: u64::from(dice.next().is_multiple_of(50)),
                        ended: 0,
                        limited: 0,
                        first_seen: h * 3600,
                        last_seen: at,
                    },
                });
                if rows.len() == CHUNK {
                    written += rows.len();
                    store.record_usage(&Batch::new(std::mem::take(&mut rows), 0))?;
                }
            }
        }
    }
    written += rows.len();
    store.record_usage(&Batch::new(rows, 0))?;
    eprintln!(
        "seeded {}: {} tokens, {written} usage rows over {} days",
        path.display(),
        plan.tokens,
        plan.days
    );
    if let Some(secret) = first {
        let id = store.list_tokens(&Default::default(), now)?[0].id.clone();
        println!("{id} {secret}");
    }
    Ok(())
}
