//! `tokenctl prune`: delete usage older than the retention, or (`--tokens`) the tokens
//! revoked or expired longer ago than theirs.

use anyhow::Result;

use super::{Ctx, actor};
use crate::cli::PruneArgs;
use crate::error::Exit;
use crate::render::{PruneReport, TokenPruneReport};
use crate::text::rfc3339_text;

pub fn run(ctx: &Ctx, args: PruneArgs) -> Result<Exit> {
    let mut store = ctx.store()?;
    if args.tokens {
        let age = match args.older_than {
            Some(a) => a,
            None => store.settings()?.token_retention,
        };
        let before = ctx.now - age.delta();
        let pruned = store.prune_tokens(before, args.dry_run, &actor(), ctx.now)?;
        ctx.ui.emit(&TokenPruneReport {
            dry_run: args.dry_run,
            before: rfc3339_text(before),
            tokens: pruned.ids,
            usage_rows: pruned.usage_rows,
            uses: pruned.uses,
        })?;
        return Ok(Exit::Success);
    }
    let age = match args.usage_older_than {
        Some(a) => a,
        None => store.settings()?.usage_retention,
    };
    let before = ctx.now - age.delta();
    let pruned = store.prune_usage(before, args.dry_run, &actor(), ctx.now)?;
    ctx.ui.emit(&PruneReport {
        dry_run: args.dry_run,
        before: rfc3339_text(before),
        usage_rows: pruned.usage_rows,
        stranger_rows: pruned.stranger_rows,
        uses: pruned.uses,
    })?;
    Ok(Exit::Success)
}
