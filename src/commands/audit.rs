//! `tokenctl audit`: usage over a window, per token or for one token, the anomaly flags,
//! and the admin event log.

use std::collections::HashMap;

use anyhow::Result;
use chrono::{DateTime, Utc};

use super::Ctx;
use crate::anomaly::{self, Finding};
use crate::cli::{AuditArgs, AuditBy};
use crate::error::Exit;
use crate::render::{AuditSummary, EventLog, PredecessorAudit, SummaryRow, TokenAudit, TokenJson};
use crate::store::{Store, TokenFilter, TokenRecord};

pub fn run(ctx: &Ctx, args: AuditArgs) -> Result<Exit> {
    let store = ctx.store()?;
    let since = ctx.now - args.since.delta();
    let token = args
        .token
        .as_deref()
        .map(|r| super::resolve(&store, r, ctx.now))
        .transpose()?;
    if args.events {
        let events = store.events(token.as_ref().map(|t| t.id.as_str()), Some(since))?;
        ctx.ui.emit(&EventLog { events: &events })?;
        return Ok(Exit::Success);
    }
    let flagged = match &token {
        Some(t) => one_token(ctx, &store, t, since, &args)?,
        None => all_tokens(ctx, &store, since, args.anomalies)?,
    };
    Ok(if args.check && flagged {
        Exit::Findings
    } else {
        Exit::Success
    })
}

/// The all-token summary. Returns whether any flag was raised.
fn all_tokens(ctx: &Ctx, store: &Store, since: DateTime<Utc>, anomalies: bool) -> Result<bool> {
    let tokens = store.list_tokens(&TokenFilter::default(), ctx.now)?;
    let by_key: HashMap<i64, &TokenRecord> = tokens.iter().map(|t| (t.key, t)).collect();
    let totals = store.window_totals(since)?;
    let facts = store.anomaly_facts(None, ctx.now)?;
    let settings = store.settings()?;
    let findings = anomaly::detect(&facts, &by_key, &settings);
    let database_flags: Vec<Finding> = anomaly::flood(&facts, &settings).into_iter().collect();
    let strangers = store.stranger_usage(since)?;
    let none: &[Finding] = &[];
    let rows = tokens
        .iter()
        .filter_map(|t| {
            let total = totals.get(&t.key);
            let flags = findings.get(&t.key).map_or(none, Vec::as_slice);
            let status = t.status(ctx.now);
            let shown = if anomalies {
                !flags.is_empty()
            } else {
                status.is_live() || total.is_some() || !flags.is_empty()
            };
            shown.then(|| SummaryRow {
                id: &t.id,
                name: &t.name,
                status,
                requests: total.map_or(0, |w| w.allowed + w.denied),
                denied: total.map_or(0, |w| w.denied),
                rate_limited: total.map_or(0, |w| w.limited),
                distinct_ips: total.map_or(0, |w| w.distinct_ips),
                last_used_at: total.and_then(|w| w.last_seen),
                flags,
                ever_used: t.last_used_at.is_some(),
            })
        })
        .collect();
    let summary = AuditSummary {
        since,
        tokens: rows,
        flags: &database_flags,
        strangers: &strangers,
        anomalies_only: anomalies,
    };
    ctx.ui.emit(&summary)?;
    Ok(summary.flagged())
}

/// One token's breakdown by IP and by day. Returns whether any flag was raised.
fn one_token(
    ctx: &Ctx,
    store: &Store,
    t: &TokenRecord,
    since: DateTime<Utc>,
    args: &AuditArgs,
) -> Result<bool> {
    let facts = store.anomaly_facts(Some(t.key), ctx.now)?;
    let findings = anomaly::detect(&facts, &HashMap::from([(t.key, t)]), &store.settings()?);
    let flags = findings.get(&t.key).map_or(&[][..], Vec::as_slice);
    if args.anomalies && flags.is_empty() {
        ctx.ui.status("No anomalies in the last 24 hours.");
        return Ok(false);
    }
    let ips = store.token_ips(t.key, since, true)?;
    let days = store.daily_usage(Some(t.key), since, ctx.now)?;
    let token_requests = store.token_requests(t.key, ctx.now)?;
    let before = super::predecessors(store, t)?;
    let predecessors = audited(ctx, store, &before, since)?;
    ctx.ui.emit(&TokenAudit {
        since,
        token: TokenJson::new(t, &token_requests, ctx.now),
        requests: days.iter().map(|d| d.allowed + d.denied).sum(),
        denied: days.iter().map(|d| d.denied).sum(),
        rate_limited: days.iter().map(|d| d.rate_limited).sum(),
        distinct_ips: ips.len(),
        flags,
        by_ip: (args.by != Some(AuditBy::Day)).then_some(&ips[..]),
        by_day: (args.by != Some(AuditBy::Ip)).then_some(&days[..]),
        window: args.since.to_string().to_uppercase(),
        predecessors: &predecessors,
    })?;
    Ok(!flags.is_empty())
}

/// The predecessors' use over the window, as `audit ID` of each would count it.
fn audited<'a>(
    ctx: &Ctx,
    store: &Store,
    before: &'a [TokenRecord],
    since: DateTime<Utc>,
) -> Result<Vec<PredecessorAudit<'a>>> {
    let mut out = Vec::with_capacity(before.len());
    for p in before {
        let days = store.daily_usage(Some(p.key), since, ctx.now)?;
        out.push(PredecessorAudit {
            token: TokenJson::new(p, &store.token_requests(p.key, ctx.now)?, ctx.now),
            requests: days.iter().map(|d| d.allowed + d.denied).sum(),
            denied: days.iter().map(|d| d.denied).sum(),
            distinct_ips: store.token_ips(p.key, since, true)?.len(),
        });
    }
    Ok(out)
}
