//! `tokenctl audit`: usage over a window, per token or for one token, the anomaly flags,
//! and the admin event log.

use std::collections::HashMap;

use anyhow::Result;
use chrono::{DateTime, Utc};
use comfy_table::Cell;
use serde::Serialize;

use super::Ctx;
use crate::anomaly::{self, Finding};
use crate::cli::{AuditArgs, AuditBy};
use crate::error::Exit;
use crate::render::{self, TokenJson, escape};
use crate::store::{Status, Store, TokenFilter, TokenRecord};
use crate::usage::{DayUsage, IpUsage, OVERFLOW_IP, STRANGER_SOURCES_PER_HOUR, StrangerUsage};

#[derive(Serialize)]
struct SummaryRow<'a> {
    id: &'a str,
    name: &'a str,
    status: Status,
    requests: u64,
    denied: u64,
    distinct_ips: u64,
    #[serde(with = "render::rfc3339_opt")]
    last_used_at: Option<DateTime<Utc>>,
    flags: &'a [Finding],
}

#[derive(Serialize)]
struct SummaryJson<'a> {
    #[serde(with = "render::rfc3339")]
    since: DateTime<Utc>,
    tokens: Vec<SummaryRow<'a>>,
    /// Flags about the database rather than one token (`FLOOD`).
    flags: &'a [Finding],
    strangers: &'a [StrangerUsage],
}

#[derive(Serialize)]
struct TokenAuditJson<'a> {
    #[serde(with = "render::rfc3339")]
    since: DateTime<Utc>,
    token: TokenJson<'a>,
    requests: u64,
    denied: u64,
    distinct_ips: usize,
    flags: &'a [Finding],
    #[serde(skip_serializing_if = "Option::is_none")]
    by_ip: Option<&'a [IpUsage]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    by_day: Option<&'a [DayUsage]>,
}

pub fn run(ctx: &Ctx, args: AuditArgs) -> Result<Exit> {
    let store = ctx.store()?;
    let since = ctx.now - args.since.delta();
    let token = args
        .token
        .as_deref()
        .map(|r| store.resolve(r, ctx.now))
        .transpose()?;
    if args.events {
        return events(ctx, &store, token.as_ref(), since, args.json);
    }
    let flagged = match &token {
        Some(t) => one_token(ctx, &store, t, since, &args)?,
        None => all_tokens(ctx, &store, since, &args)?,
    };
    Ok(if args.check && flagged {
        Exit::Failure
    } else {
        Exit::Success
    })
}

/// The all-token summary. Returns whether any flag was raised.
fn all_tokens(ctx: &Ctx, store: &Store, since: DateTime<Utc>, args: &AuditArgs) -> Result<bool> {
    let tokens = store.list_tokens(&TokenFilter::default(), ctx.now)?;
    let by_key: HashMap<i64, &TokenRecord> = tokens.iter().map(|t| (t.key, t)).collect();
    let totals = store.window_totals(since)?;
    let facts = store.anomaly_facts(None, ctx.now)?;
    let settings = store.settings()?;
    let findings = anomaly::detect(&facts, &by_key, &settings);
    let database_flags: Vec<Finding> = anomaly::flood(&facts, &settings).into_iter().collect();
    let strangers = store.stranger_usage(since)?;
    let none: &[Finding] = &[];

    let rows: Vec<SummaryRow> = tokens
        .iter()
        .filter_map(|t| {
            let total = totals.get(&t.key);
            let flags = findings.get(&t.key).map_or(none, Vec::as_slice);
            let status = t.status(ctx.now);
            let shown = if args.anomalies {
                !flags.is_empty()
            } else {
                status == Status::Active || total.is_some() || !flags.is_empty()
            };
            shown.then(|| SummaryRow {
                id: &t.id,
                name: &t.name,
                status,
                requests: total.map_or(0, |w| w.allowed + w.denied),
                denied: total.map_or(0, |w| w.denied),
                distinct_ips: total.map_or(0, |w| w.distinct_ips),
                last_used_at: total.and_then(|w| w.last_seen),
                flags,
            })
        })
        .collect();
    let flagged = rows.iter().any(|r| !r.flags.is_empty()) || !database_flags.is_empty();

    if args.json {
        ctx.ui.json(&SummaryJson {
            since,
            tokens: rows,
            flags: &database_flags,
            strangers: &strangers,
        })?;
        return Ok(flagged);
    }
    if rows.is_empty() && database_flags.is_empty() {
        ctx.ui.status(if args.anomalies {
            "No anomalies in the last 24 hours."
        } else {
            "No tokens and no usage in the window."
        });
    } else {
        let mut table = render::table(&[
            "ID",
            "NAME",
            "STATUS",
            "REQUESTS",
            "DENIED",
            "IPS",
            "LAST USED",
            "FLAGS",
        ]);
        for r in &rows {
            let flags: Vec<&str> = r.flags.iter().map(|f| f.flag.as_str()).collect();
            table.add_row(vec![
                Cell::new(r.id),
                Cell::new(escape(r.name)),
                render::status_cell(r.status, ctx.ui.color()),
                Cell::new(r.requests),
                Cell::new(r.denied),
                Cell::new(r.distinct_ips),
                Cell::new(render::cell_time(r.last_used_at, ctx.now, "-")),
                Cell::new(flags.join(" ")),
            ]);
        }
        render::style(&mut table, ctx.ui.color());
        let mut out = if rows.is_empty() {
            String::new()
        } else {
            render::table_text(&table)
        };
        if flagged {
            if !out.is_empty() {
                out.push('\n');
            }
            out.push_str("Findings (last 24 hours):\n");
            for r in rows.iter().filter(|r| !r.flags.is_empty()) {
                for f in r.flags {
                    out.push_str(&format!("  {}  {:<10}  {}\n", r.id, f.flag, f.detail));
                }
            }
            for f in &database_flags {
                out.push_str(&format!("  {:<8}  {:<10}  {}\n", "-", f.flag, f.detail));
            }
        }
        ctx.ui.data(&out)?;
    }
    if !strangers.is_empty() && !args.anomalies {
        let uses: u64 = strangers.iter().map(|s| s.count).sum();
        let mut ips: Vec<&str> = strangers
            .iter()
            .filter(|s| s.ip != OVERFLOW_IP)
            .map(|s| s.ip.as_str())
            .collect();
        ips.sort_unstable();
        ips.dedup();
        let overflow: u64 = strangers
            .iter()
            .filter(|s| s.ip == OVERFLOW_IP)
            .map(|s| s.count)
            .sum();
        let overflow = if overflow > 0 {
            format!(
                "; {overflow} more from sources past the {STRANGER_SOURCES_PER_HOUR} an hour kept one by one, counted as '{OVERFLOW_IP}'"
            )
        } else {
            String::new()
        };
        let top = &strangers[0];
        ctx.ui.status(&format!(
            "Unknown or malformed tokens: {uses} uses from {} sources in the window (most: {} ×{} {}){overflow}.",
            ips.len(),
            if top.ip.is_empty() { "(no IP)" } else { &top.ip },
            top.count,
            top.kind
        ));
    }
    Ok(flagged)
}

/// One token's breakdown by IP and by day. Returns whether any flag was raised.
fn one_token(
    ctx: &Ctx,
    store: &Store,
    t: &TokenRecord,
    since: DateTime<Utc>,
    args: &AuditArgs,
) -> Result<bool> {
    let findings = anomaly::detect(
        &store.anomaly_facts(Some(t.key), ctx.now)?,
        &HashMap::from([(t.key, t)]),
        &store.settings()?,
    );
    let flags = findings.get(&t.key).map_or(&[][..], Vec::as_slice);
    let ips = store.token_ips(t.key, since, true)?;
    let days = store.daily_usage(Some(t.key), since, ctx.now)?;
    let requests: u64 = days.iter().map(|d| d.allowed + d.denied).sum();
    let denied: u64 = days.iter().map(|d| d.denied).sum();
    let show_ips = args.by != Some(AuditBy::Day);
    let show_days = args.by != Some(AuditBy::Ip);
    let flagged = !flags.is_empty();
    if args.anomalies && !flagged {
        ctx.ui.status("No anomalies in the last 24 hours.");
        return Ok(false);
    }
    if args.json {
        let token_requests = store.token_requests(t.key, ctx.now)?;
        ctx.ui.json(&TokenAuditJson {
            since,
            token: TokenJson::new(t, &token_requests, ctx.now),
            requests,
            denied,
            distinct_ips: ips.len(),
            flags,
            by_ip: show_ips.then_some(&ips[..]),
            by_day: show_days.then_some(&days[..]),
        })?;
        return Ok(flagged);
    }
    let mut out = format!(
        "Token {} '{}' ({}): {requests} requests, {denied} denied, {} source IPs since {}\n",
        t.id,
        escape(&t.name),
        t.status(ctx.now),
        ips.len(),
        render::when(since, ctx.now)
    );
    for f in flags {
        out.push_str(&format!("Flag {}: {}\n", f.flag, f.detail));
    }
    let window = args_window(args);
    if show_ips && !ips.is_empty() {
        out.push('\n');
        out.push_str(&render::table_text(&render::ip_table(
            &ips, &window, ctx.now,
        )));
    }
    if show_days {
        let mut table = render::table(&["DAY (UTC)", "ALLOWED", "DENIED"]);
        for d in days.iter().filter(|d| d.allowed + d.denied > 0) {
            table.add_row(vec![
                Cell::new(d.day),
                Cell::new(d.allowed),
                Cell::new(d.denied),
            ]);
        }
        render::style(&mut table, false);
        if table.row_count() > 0 {
            out.push('\n');
            out.push_str(&render::table_text(&table));
        }
    }
    ctx.ui.data(&out)?;
    Ok(flagged)
}

fn args_window(args: &AuditArgs) -> String {
    args.since.to_string().to_uppercase()
}

/// The admin event log of the window, for one token or all.
fn events(
    ctx: &Ctx,
    store: &Store,
    token: Option<&TokenRecord>,
    since: DateTime<Utc>,
    json: bool,
) -> Result<Exit> {
    let events = store.events(token.map(|t| t.id.as_str()), Some(since))?;
    if json {
        ctx.ui.json(&events)?;
        return Ok(Exit::Success);
    }
    if events.is_empty() {
        ctx.ui.status("No admin events in the window.");
        return Ok(Exit::Success);
    }
    let mut table = render::table(&["TIME", "ACTOR", "ACTION", "TOKEN", "DETAILS"]);
    for e in &events {
        table.add_row(vec![
            Cell::new(
                e.at.with_timezone(&chrono::Local)
                    .format("%Y-%m-%d %H:%M:%S"),
            ),
            Cell::new(escape(&e.actor)),
            Cell::new(&e.action),
            Cell::new(e.token_id.as_deref().unwrap_or("-")),
            Cell::new(escape(&render::event_summary(e))),
        ]);
    }
    render::style(&mut table, false);
    ctx.ui.data(&render::table_text(&table))?;
    Ok(Exit::Success)
}
