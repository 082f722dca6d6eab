//! `tokenctl copy --to DEST`: every record of the database into a new database, of either
//! backend, so that a deployment moves between SQLite and PostgreSQL without reissuing a
//! token.

use anyhow::Result;

use super::{Ctx, actor, check_db_path};
use crate::cli::CopyArgs;
use crate::error::Exit;

pub fn run(ctx: &Ctx, args: CopyArgs) -> Result<Exit> {
    let dest = check_db_path(args.to)?;
    let store = ctx.store()?;
    let copied = store.copy_to(&dest, &actor(), ctx.now)?;
    ctx.ui.emit(&copied)?;
    Ok(Exit::Success)
}
