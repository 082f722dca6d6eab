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
    let also: Vec<String> = earlier.into_iter().map(|p| p.id).collect();
    // The whole chain in one transaction: all of it works again, or none.
    let ids: Vec<&str> = also.iter().chain([&t.id]).map(String::as_str).collect();
    let mut done = store.resume_tokens(&ids, &actor(), ctx.now)?;
    let done = done.pop().expect("the named token is the last");
    let requests = store.token_requests(done.token.key, ctx.now)?;
    ctx.ui.emit(&TokenChanged {
        token: TokenJson::new(&done.token, &requests, ctx.now),
        changed: done.changed,
        change: Change::Resumed,
        also: &also,
    })?;
    Ok(Exit::Success)
}
