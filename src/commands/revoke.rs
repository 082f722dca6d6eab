//! `tokenctl revoke`: a token stops working on the very next request.
//!
//! By name, every token of the name's rotation chain that still works is revoked with it:
//! after `rotate --grace`, the old secret keeps working until its grace ends, and a leak
//! is exactly when both secrets must stop. By id, only that token; still-working tokens of
//! its chain are named in a warning.

use anyhow::Result;
use chrono::{DateTime, Utc};
use dialoguer::{Confirm, theme::ColorfulTheme};
use serde::Serialize;

use super::{Ctx, actor, check_text};
use crate::cli::RevokeArgs;
use crate::error::{Exit, usage_with_hint};
use crate::render::{TokenJson, escape, when};
use crate::store::{Revocation, Status, Store, TokenRecord};

#[derive(Serialize)]
struct RevokedJson<'a> {
    #[serde(flatten)]
    token: TokenJson<'a>,
    /// Other tokens of its rotation chain revoked in the same transaction.
    also_revoked: Vec<&'a str>,
}

pub fn run(ctx: &Ctx, args: RevokeArgs) -> Result<Exit> {
    let mut store = ctx.store()?;
    let reason = args
        .reason
        .as_deref()
        .map(|r| check_text("reason", r))
        .transpose()?;
    let t = store.resolve(&args.token, ctx.now)?;
    let by_name = t.id != args.token;
    let still_working = still_working_predecessors(&store, &t, ctx.now)?;
    let mut targets: Vec<&TokenRecord> = Vec::new();
    if by_name {
        targets.extend(&still_working);
    } else if !still_working.is_empty() {
        let names: Vec<String> = still_working.iter().map(|p| fate(p, ctx.now)).collect();
        ctx.ui.warn(&format!(
            "token {} was rotated from tokens that still work: {}; revoke by name ('{}') to stop them too",
            t.id,
            names.join(", "),
            escape(&t.name)
        ));
    }
    targets.push(&t);
    if targets.iter().any(|t| t.status(ctx.now) != Status::Revoked)
        && !args.yes
        && !confirmed(ctx, &targets)?
    {
        ctx.ui.status("Nothing was revoked.");
        return Ok(Exit::Failure);
    }
    let ids: Vec<&str> = targets.iter().map(|t| t.id.as_str()).collect();
    let mut done = store.revoke_tokens(&ids, reason.as_deref(), &actor(), ctx.now)?;
    let record = match done.pop().expect("the named token is last") {
        Revocation::Revoked(r) => {
            ctx.ui
                .status(&format!("Revoked token {} '{}'.", r.id, escape(&r.name)));
            r
        }
        Revocation::AlreadyRevoked(r) => {
            let at = r.revoked_at.map(|t| when(t, ctx.now)).unwrap_or_default();
            ctx.ui.status(&format!(
                "Token {} '{}' was already revoked ({at}); nothing changed.",
                r.id,
                escape(&r.name)
            ));
            r
        }
    };
    let also: Vec<&TokenRecord> = done
        .iter()
        .filter_map(|d| match d {
            Revocation::Revoked(r) => Some(r),
            Revocation::AlreadyRevoked(_) => None,
        })
        .collect();
    for r in &also {
        ctx.ui.status(&format!(
            "Also revoked {}, which it was rotated from and which still worked.",
            r.id
        ));
    }
    if args.json {
        let requests = store.token_requests(record.key, ctx.now)?;
        ctx.ui.json(&RevokedJson {
            token: TokenJson::new(&record, &requests, ctx.now),
            also_revoked: also.iter().map(|r| r.id.as_str()).collect(),
        })?;
    }
    Ok(Exit::Success)
}

/// The tokens `t` was rotated from (directly or not) that still work: in their grace
/// period, or never ended at all.
fn still_working_predecessors(
    store: &Store,
    t: &TokenRecord,
    now: DateTime<Utc>,
) -> Result<Vec<TokenRecord>> {
    let chain = store.rotation_chain(&t.id)?;
    Ok(chain
        .into_iter()
        .take_while(|c| c.id != t.id)
        .filter(|c| c.status(now) == Status::Active)
        .collect())
}

/// "k3j9x0a1 (until 2026-12-01 10:00 (in 1h))"
fn fate(t: &TokenRecord, now: DateTime<Utc>) -> String {
    match t.expires_at {
        Some(at) => format!("{} (until {})", t.id, when(at, now)),
        None => t.id.clone(),
    }
}

/// Asks on a terminal; without one, `--yes` is required.
fn confirmed(ctx: &Ctx, targets: &[&TokenRecord]) -> Result<bool> {
    let last = targets.last().expect("at least one target");
    if !ctx.ui.can_prompt() {
        return Err(usage_with_hint(
            format!(
                "revoking {} needs confirmation, and stdin is not a terminal",
                last.id
            ),
            "pass --yes",
        ));
    }
    let mut question = format!(
        "Revoke token {} '{}' ({}, {})",
        last.id,
        escape(&last.name),
        last.env,
        last.scopes
    );
    let earlier: Vec<String> = targets[..targets.len() - 1]
        .iter()
        .map(|t| fate(t, ctx.now))
        .collect();
    if !earlier.is_empty() {
        question.push_str(&format!(
            " and the tokens it was rotated from that still work, {}",
            earlier.join(", ")
        ));
    }
    question.push_str("? Requests with them will be refused at once");
    Ok(Confirm::with_theme(&ColorfulTheme::default())
        .with_prompt(question)
        .default(false)
        .interact()?)
}
