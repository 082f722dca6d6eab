//! `tokenctl resume`: a suspended token works again from the very next request.

use anyhow::Result;

use super::{Ctx, actor};
use crate::cli::ResumeArgs;
use crate::error::Exit;
use crate::render::{Change, TokenChanged, TokenJson};

pub fn run(ctx: &Ctx, args: ResumeArgs) -> Result<Exit> {
    let mut store = ctx.store()?;
    let t = super::resolve(&store, &args.token, ctx.now)?;
    let done = store.resume_token(&t.id, &actor(), ctx.now)?;
    let requests = store.token_requests(done.token.key, ctx.now)?;
    ctx.ui.emit(&TokenChanged {
        token: TokenJson::new(&done.token, &requests, ctx.now),
        changed: done.changed,
        change: Change::Resumed,
    })?;
    Ok(Exit::Success)
}
