//! `tokenctl show`: one token's metadata, usage and history. Never the secret.

use std::collections::HashMap;

use anyhow::Result;
use chrono::TimeDelta;
use comfy_table::Cell;
use serde::Serialize;

use super::Ctx;
use crate::anomaly::{self, Finding};
use crate::cli::ShowArgs;
use crate::error::Exit;
use crate::render::{self, TokenJson, escape};
use crate::store::AdminEvent;
use crate::usage::{DayUsage, IpUsage, Requests};

#[derive(Serialize)]
struct ShowJson<'a> {
    #[serde(flatten)]
    token: TokenJson<'a>,
    usage: UsageJson<'a>,
    flags: &'a [Finding],
    events: &'a [AdminEvent],
}

#[derive(Serialize)]
struct UsageJson<'a> {
    #[serde(flatten)]
    requests: Requests,
    ips: &'a [IpUsage],
    daily: &'a [DayUsage],
}

pub fn run(ctx: &Ctx, args: ShowArgs) -> Result<Exit> {
    let store = ctx.store()?;
    let t = store.resolve(&args.token, ctx.now)?;
    let requests = store.token_requests(t.key, ctx.now)?;
    let month_ago = ctx.now - TimeDelta::days(30);
    let ips = store.token_ips(t.key, month_ago, false)?;
    // 30 whole UTC days, today included.
    let first_day = (ctx.now - TimeDelta::days(29))
        .date_naive()
        .and_hms_opt(0, 0, 0)
        .expect("midnight exists")
        .and_utc();
    let daily = store.daily_usage(Some(t.key), first_day, ctx.now)?;
    let facts = store.anomaly_facts(Some(t.key), ctx.now)?;
    let settings = store.settings()?;
    let flags = anomaly::detect(&facts, &HashMap::from([(t.key, &t)]), &settings)
        .remove(&t.key)
        .unwrap_or_default();
    let events = store.events(Some(&t.id), None)?;

    if args.json {
        ctx.ui.json(&ShowJson {
            token: TokenJson::new(&t, &requests, ctx.now),
            usage: UsageJson {
                requests,
                ips: &ips,
                daily: &daily,
            },
            flags: &flags,
            events: &events,
        })?;
        return Ok(Exit::Success);
    }

    let now = ctx.now;
    let when = |x| render::when(x, now);
    let mut out = String::new();
    let mut line = |label: &str, value: String| {
        out.push_str(&format!("{label:<13}{value}\n"));
    };
    line("ID", t.id.clone());
    line("Name", escape(&t.name).into_owned());
    if let Some(d) = &t.description {
        line("Description", escape(d).into_owned());
    }
    line("Status", t.status(now).to_string());
    line("Environment", t.env.clone());
    line("Scopes", t.scopes.to_string());
    line(
        "Allowed IPs",
        if t.allowed_ips.is_empty() {
            "any".to_string()
        } else {
            t.allowed_ips
                .iter()
                .map(|n| n.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        },
    );
    line("Hint", t.hint.clone());
    line(
        "Created",
        format!("{} by {}", when(t.created_at), escape(&t.created_by)),
    );
    line(
        "Expires",
        t.expires_at.map_or_else(|| "never".to_string(), when),
    );
    if let Some(r) = t.revoked_at {
        let reason = t
            .revoke_reason
            .as_deref()
            .map(|r| format!(": {}", escape(r)))
            .unwrap_or_default();
        line("Revoked", format!("{}{reason}", when(r)));
    }
    if let Some(from) = &t.rotated_from {
        line("Rotated from", from.clone());
    }
    if let Some(to) = &t.rotated_to {
        line("Rotated to", to.clone());
    }
    line(
        "Last used",
        match (&t.last_used_at, &t.last_used_ip) {
            (Some(at), Some(ip)) => format!("{} from {ip}", when(*at)),
            (Some(at), None) => when(*at),
            _ => "never".to_string(),
        },
    );
    for f in &flags {
        line("Flag", format!("{} {}", f.flag, f.detail));
    }

    let mut counts = render::table(&["REQUESTS", "24H", "7D", "30D"]);
    counts.add_row(vec![
        Cell::new("allowed"),
        Cell::new(requests.allowed_24h),
        Cell::new(requests.allowed_7d),
        Cell::new(requests.allowed_30d),
    ]);
    counts.add_row(vec![
        Cell::new("denied"),
        Cell::new(requests.denied_24h),
        Cell::new(requests.denied_7d),
        Cell::new(requests.denied_30d),
    ]);
    render::style(&mut counts, false);
    out.push('\n');
    out.push_str(&render::table_text(&counts));

    let per_day: Vec<u64> = daily.iter().map(|d| d.allowed + d.denied).collect();
    let peak = per_day.iter().max().copied().unwrap_or(0);
    out.push_str(&format!(
        "\nLast 30 days  |{}|  (requests per UTC day, peak {peak})\n",
        render::sparkline(&per_day)
    ));

    if !ips.is_empty() {
        out.push('\n');
        out.push_str(&render::table_text(&render::ip_table(&ips, "30D", now)));
    }

    if !events.is_empty() {
        out.push_str("\nHistory\n");
        for e in &events {
            out.push_str(&format!(
                "  {}  {:<8} {}  {}\n",
                e.at.with_timezone(&chrono::Local).format("%Y-%m-%d %H:%M"),
                e.action,
                escape(&e.actor),
                escape(&render::event_summary(e))
            ));
        }
    }
    ctx.ui.data(&out)?;
    Ok(Exit::Success)
}
