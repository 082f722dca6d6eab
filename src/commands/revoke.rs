//! `tokenctl revoke`: a token stops working on the very next request.
//!
//! By name, every token of the name's rotation chain that still works is revoked with it:
//! after `rotate --grace`, the old secret keeps working until its grace ends, and a leak
//! is exactly when both secrets must stop. By id, only that token; still-working tokens of
//! its chain are named in a warning.

use anyhow::Result;
use chrono::{DateTime, Utc};
use dialoguer::{Confirm, theme::ColorfulTheme};

use super::{Ctx, actor, check_text};
use crate::cli::RevokeArgs;
use crate::error::{AmbiguousName, Exit, usage_with_hint};
use crate::render::{Revoked, TokenJson, time};
use crate::store::{Revocation, Status, Store, TokenRecord};
use crate::text::escape;

pub fn run(ctx: &Ctx, args: RevokeArgs) -> Result<Exit> {
    let mut store = ctx.store()?;
    let reason = args
        .reason
        .as_deref()
        .map(|r| check_text("reason", r))
        .transpose()?;
    let t = resolve(ctx, &store, &args.token)?;
    let targets = targets(ctx, &store, t, &args.token)?;
    if targets.iter().any(|t| t.status(ctx.now) != Status::Revoked)
        && !args.yes
        && !confirmed(ctx, &targets)?
    {
        ctx.ui.status("Nothing was revoked.");
        return Ok(Exit::Failure);
    }
    let ids: Vec<&str> = targets.iter().map(|t| t.id.as_str()).collect();
    let mut done = store.revoke_tokens(&ids, reason.as_deref(), &actor(), ctx.now)?;
    let (record, already) = match done.pop().expect("the named token is last") {
        Revocation::Revoked(r) => (r, false),
        Revocation::AlreadyRevoked(r) => (r, true),
    };
    let requests = store.token_requests(record.key, ctx.now)?;
    ctx.ui.emit(&Revoked {
        token: TokenJson::new(&record, &requests, ctx.now),
        also_revoked: done
            .iter()
            .filter_map(|d| match d {
                Revocation::Revoked(r) => Some(r.id.as_str()),
                Revocation::AlreadyRevoked(_) => None,
            })
            .collect(),
        already,
    })?;
    Ok(Exit::Success)
}

/// The token `reference` means. A name whose tokens are all revoked already means the
/// newest of them, ambiguous or not: revoking it changes nothing and succeeds, as for one
/// revoked token, so that a script that repeats a revocation (the README's leak response,
/// run again after a failure) does not stop there. Several tokens that are not all
/// revoked stay ambiguous: the admin picks one.
fn resolve(ctx: &Ctx, store: &Store, reference: &str) -> Result<TokenRecord> {
    let err = match super::resolve(store, reference, ctx.now) {
        Ok(t) => return Ok(t),
        Err(err) => err,
    };
    match err.downcast_ref::<AmbiguousName>() {
        Some(ambiguous) if ambiguous.candidates.iter().all(|t| t.revoked_at.is_some()) => {
            Ok(ambiguous
                .candidates
                .last()
                .cloned()
                .expect("several candidates"))
        }
        _ => Err(err),
    }
}

/// What to revoke, the named token last: by name, with the tokens of its rotation chain
/// that still work; by id, that token alone (and a warning about the others).
fn targets(ctx: &Ctx, store: &Store, t: TokenRecord, reference: &str) -> Result<Vec<TokenRecord>> {
    let mut targets = still_working_predecessors(store, &t, ctx.now)?;
    let by_name = t.id != reference;
    if !by_name && !targets.is_empty() {
        let names: Vec<String> = targets.iter().map(|p| fate(ctx, p)).collect();
        ctx.ui.warn(&format!(
            "token {} was rotated from tokens that still work: {}; revoke by name ('{}') to stop them too",
            t.id,
            names.join(", "),
            escape(&t.name)
        ));
        targets.clear();
    }
    targets.push(t);
    Ok(targets)
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
        .filter(|c| c.status(now).works())
        .collect())
}

/// "k3j9x0a1 (until 2026-12-01 10:00 (in 1h))"
fn fate(ctx: &Ctx, t: &TokenRecord) -> String {
    match t.expires_at {
        Some(at) => format!("{} (until {})", t.id, time::when(at, ctx.ui.style())),
        None => t.id.clone(),
    }
}

/// Asks on a terminal; without one, `--yes` is required.
fn confirmed(ctx: &Ctx, targets: &[TokenRecord]) -> Result<bool> {
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
        .map(|t| fate(ctx, t))
        .collect();
    if !earlier.is_empty() {
        question.push_str(&format!(
            " and the tokens it was rotated from that still work, {}",
            earlier.join(", ")
        ));
    }
    question.push_str("? Requests with them will be refused at once");
    ctx.ui.restore_terminal_on_interrupt();
    Ok(Confirm::with_theme(&ColorfulTheme::default())
        .with_prompt(question)
        .default(false)
        .interact()?)
}
