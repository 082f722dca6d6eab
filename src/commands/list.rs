//! `tokenctl list`: one row per token.

use anyhow::Result;

use super::Ctx;
use crate::cli::{ListArgs, StatusFilter};
use crate::error::Exit;
use crate::render::{TokenJson, TokenList};
use crate::store::{self, Status, TokenFilter, TokenRecord};

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
    let requests = store.all_requests(ctx.now)?;
    let counts = |t: &TokenRecord| requests.get(&t.key).copied().unwrap_or_default();
    if args.json {
        // Written as read: memory stays the same for ten tokens or a million.
        ctx.ui.json_array(|array| {
            // A failed write (a closed pipe) stops the reading, and is the error reported.
            let mut written = Ok(());
            let read = store.each_token(&filter, ctx.now, &mut |t| {
                written = array.push(&TokenJson::new(&t, &counts(&t), ctx.now));
                match written {
                    Ok(()) => Ok(()),
                    Err(_) => Err(store::Error::invalid("stdout failed".into())),
                }
            });
            written?;
            Ok(read?)
        })?;
        return Ok(Exit::Success);
    }
    // A table needs every row to size its columns.
    let tokens = store.list_tokens(&filter, ctx.now)?;
    let tokens = tokens
        .iter()
        .map(|t| TokenJson::new(t, &counts(t), ctx.now))
        .collect();
    ctx.ui.emit(&TokenList { tokens })?;
    Ok(Exit::Success)
}
