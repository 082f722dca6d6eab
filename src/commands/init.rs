//! `tokenctl init`: creates the database (0600, in a 0700 directory) and says where. The
//! other commands that only read or change what exists refuse a missing database.

use anyhow::Result;

use super::Ctx;
use crate::error::Exit;
use crate::store::Store;

pub fn run(ctx: &Ctx) -> Result<Exit> {
    let existed = Store::exists(&ctx.db)?;
    ctx.store_creating()?;
    let path = &ctx.db;
    ctx.ui.status(&if existed {
        format!("The database {path} exists already; nothing changed.")
    } else {
        format!("Created the database {path}.")
    });
    Ok(Exit::Success)
}
