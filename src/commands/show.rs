//! `tokenctl show`: one token's metadata, usage and history. Never the secret.

use std::collections::HashMap;

use anyhow::Result;
use chrono::TimeDelta;

use super::Ctx;
use crate::anomaly;
use crate::cli::ShowArgs;
use crate::error::Exit;
use crate::render::{PageUsage, TokenJson, TokenPage};

pub fn run(ctx: &Ctx, args: ShowArgs) -> Result<Exit> {
    let store = ctx.store()?;
    let t = super::resolve(&store, &args.token, ctx.now)?;
    let requests = store.token_requests(t.key, ctx.now)?;
    let ips = store.token_ips(t.key, ctx.now - TimeDelta::days(30), false)?;
    // 30 whole UTC days, today included.
    let first_day = (ctx.now - TimeDelta::days(29))
        .date_naive()
        .and_hms_opt(0, 0, 0)
        .expect("midnight exists")
        .and_utc();
    let daily = store.daily_usage(Some(t.key), first_day, ctx.now)?;
    let facts = store.anomaly_facts(Some(t.key), ctx.now)?;
    let flags = anomaly::detect(&facts, &HashMap::from([(t.key, &t)]), &store.settings()?)
        .remove(&t.key)
        .unwrap_or_default();
    let events = store.events(Some(&t.id), None)?;
    let before = super::predecessors(&store, &t)?;
    let predecessors = before
        .iter()
        .map(|p| {
            Ok(TokenJson::new(
                p,
                &store.token_requests(p.key, ctx.now)?,
                ctx.now,
            ))
        })
        .collect::<Result<Vec<_>>>()?;
    ctx.ui.emit(&TokenPage {
        token: TokenJson::new(&t, &requests, ctx.now),
        usage: PageUsage {
            requests,
            ips: &ips,
            daily: &daily,
        },
        flags: &flags,
        events: &events,
        predecessors: &predecessors,
    })?;
    Ok(Exit::Success)
}
