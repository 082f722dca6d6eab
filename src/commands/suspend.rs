//! `tokenctl suspend`: a token is refused from the very next request until resumed,
//! without being destroyed.
//!
//! By name, the tokens of the name's rotation chain that still work are suspended with
//! it, as `revoke` does: after `rotate --grace`, the integration may still be using the
//! old secret, and "is this the token causing it?" must stop both to tell. By id, only
//! that token.

use anyhow::Result;

use super::{Ctx, actor, check_text};
use crate::cli::SuspendArgs;
use crate::error::Exit;
use crate::render::{Change, TokenChanged, TokenJson};

pub fn run(ctx: &Ctx, args: SuspendArgs) -> Result<Exit> {
    let mut store = ctx.store()?;
    let reason = args
        .reason
        .as_deref()
        .map(|r| check_text("reason", r))
        .transpose()?;
    let t = super::resolve(&store, &args.token, ctx.now)?;
    let working = |p: &crate::TokenRecord| p.status(ctx.now).works();
    let earlier = super::chain_by_name(&store, &t, &args.token, working)?;
    let also: Vec<String> = earlier.into_iter().map(|p| p.id).collect();
    // The whole chain in one transaction: all of it stops, or none (and the error says
    // why), never the old secret still working beside a suspended new one.
    let ids: Vec<&str> = also.iter().chain([&t.id]).map(String::as_str).collect();
    let mut done = store.suspend_tokens(&ids, reason.as_deref(), &actor(), ctx.now)?;
    let done = done.pop().expect("the named token is the last");
    let requests = store.token_requests(done.token.key, ctx.now)?;
    ctx.ui.emit(&TokenChanged {
        token: TokenJson::new(&done.token, &requests, ctx.now),
        changed: done.changed,
        change: Change::Suspended,
        also: &also,
    })?;
    Ok(Exit::Success)
}
