//! `tokenctl limit`: set or remove a token's rate limit, from its next request on.

use anyhow::Result;

use super::{Ctx, actor};
use crate::cli::LimitArgs;
use crate::error::Exit;
use crate::render::{Change, TokenChanged, TokenJson};

pub fn run(ctx: &Ctx, args: LimitArgs) -> Result<Exit> {
    let mut store = ctx.store()?;
    // clap requires one of the two; `--remove` is the same as `none`.
    let limit = args.limit.and_then(|l| l.limit());
    let t = super::resolve(&store, &args.token, ctx.now)?;
    let done = store.set_rate_limit(&t.id, limit, &actor(), ctx.now)?;
    let requests = store.token_requests(done.token.key, ctx.now)?;
    ctx.ui.emit(&TokenChanged {
        token: TokenJson::new(&done.token, &requests, ctx.now),
        changed: done.changed,
        change: Change::Limited,
        also: &[],
    })?;
    Ok(Exit::Success)
}
