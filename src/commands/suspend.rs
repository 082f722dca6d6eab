//! `tokenctl suspend`: a token is refused from the very next request until resumed,
//! without being destroyed.

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
    let done = store.suspend_token(&t.id, reason.as_deref(), &actor(), ctx.now)?;
    let requests = store.token_requests(done.token.key, ctx.now)?;
    ctx.ui.emit(&TokenChanged {
        token: TokenJson::new(&done.token, &requests, ctx.now),
        changed: done.changed,
        change: Change::Suspended,
    })?;
    Ok(Exit::Success)
}
