//! `tokenctl list`: one row per token.

use anyhow::Result;

use super::Ctx;
use crate::cli::{ListArgs, StatusFilter};
use crate::error::Exit;
use crate::render::{TokenJson, TokenList};
use crate::store::{Status, TokenFilter};

pub fn run(ctx: &Ctx, args: ListArgs) -> Result<Exit> {
    let store = ctx.store()?;
    let filter = TokenFilter {
        status: match args.status {
            StatusFilter::Active => Some(Status::Active),
            StatusFilter::Rotating => Some(Status::Rotating),
            StatusFilter::Suspended => Some(Status::Suspended),
            StatusFilter::Expired => Some(Status::Expired),
            StatusFilter::Revoked => Some(Status::Revoked),
            StatusFilter::All => None,
        },
        env: args.env,
        expiring_before: args.expiring_within.map(|d| ctx.now + d.delta()),
        unused_since: args.unused_for.map(|d| ctx.now - d.delta()),
    };
    let tokens = store.list_tokens(&filter, ctx.now)?;
    let requests = store.all_requests(ctx.now)?;
    let tokens = tokens
        .iter()
        .map(|t| {
            let counts = requests.get(&t.key).copied().unwrap_or_default();
            TokenJson::new(t, &counts, ctx.now)
        })
        .collect();
    ctx.ui.emit(&TokenList { tokens })?;
    Ok(Exit::Success)
}
