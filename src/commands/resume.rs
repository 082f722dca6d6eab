//! `tokenctl resume`: a suspended token works again from the very next request. By name,
//! with the suspended tokens of its rotation chain, which `suspend` by name suspended
//! with it.

use anyhow::Result;

use super::{Ctx, actor};
use crate::cli::ResumeArgs;
use crate::error::Exit;
use crate::render::{Change, TokenChanged, TokenJson};
use crate::store::Status;

pub fn run(ctx: &Ctx, args: ResumeArgs) -> Result<Exit> {
    let mut store = ctx.store()?;
    let t = super::resolve(&store, &args.token, ctx.now)?;
    let suspended = |p: &crate::TokenRecord| p.status(ctx.now) == Status::Suspended;
    let earlier = super::chain_by_name(&store, &t, &args.token, suspended)?;
    let mut also = Vec::with_capacity(earlier.len());
    for p in earlier {
        store.resume_token(&p.id, &actor(), ctx.now)?;
        also.push(p.id);
    }
    let done = store.resume_token(&t.id, &actor(), ctx.now)?;
    let requests = store.token_requests(done.token.key, ctx.now)?;
    ctx.ui.emit(&TokenChanged {
        token: TokenJson::new(&done.token, &requests, ctx.now),
        changed: done.changed,
        change: Change::Resumed,
        also: &also,
    })?;
    Ok(Exit::Success)
}
