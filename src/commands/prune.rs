//! `tokenctl prune`: delete usage older than the retention.

use anyhow::Result;

use super::{Ctx, actor};
use crate::cli::PruneArgs;
use crate::error::Exit;
use crate::render::rfc3339_text;

pub fn run(ctx: &Ctx, args: PruneArgs) -> Result<Exit> {
    let mut store = ctx.store()?;
    let age = match args.usage_older_than {
        Some(a) => a,
        None => store.settings()?.usage_retention,
    };
    let before = ctx.now - age.delta();
    let pruned = store.prune_usage(before, args.dry_run, &actor(), ctx.now)?;
    if args.json {
        ctx.ui.json(&serde_json::json!({
            "dry_run": args.dry_run,
            "before": rfc3339_text(before),
            "usage_rows": pruned.usage_rows,
            "stranger_rows": pruned.stranger_rows,
            "uses": pruned.uses,
        }))?;
    } else {
        let verb = if args.dry_run {
            "Would delete"
        } else {
            "Deleted"
        };
        ctx.ui.data(&format!(
            "{verb} {} usage rows ({} uses) from before {}.",
            pruned.usage_rows + pruned.stranger_rows,
            pruned.uses,
            rfc3339_text(before)
        ))?;
    }
    Ok(Exit::Success)
}
