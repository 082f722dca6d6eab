//! `tokenctl backup`: a consistent copy of the database, readable by its owner only.

use anyhow::Result;

use super::{Ctx, actor};
use crate::cli::BackupArgs;
use crate::error::Exit;

pub fn run(ctx: &Ctx, args: BackupArgs) -> Result<Exit> {
    let mut store = ctx.store()?;
    let report = store.backup_to(&args.path, args.force, &actor(), ctx.now)?;
    ctx.ui.emit(&report)?;
    Ok(Exit::Success)
}
