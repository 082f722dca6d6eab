//! `tokenctl list`: one row per token.

use anyhow::Result;
use comfy_table::Cell;

use super::Ctx;
use crate::cli::{ListArgs, StatusFilter};
use crate::error::Exit;
use crate::render::{self, TokenJson, escape};
use crate::store::{Status, TokenFilter};

pub fn run(ctx: &Ctx, args: ListArgs) -> Result<Exit> {
    let store = ctx.store()?;
    let filter = TokenFilter {
        status: match args.status {
            StatusFilter::Active => Some(Status::Active),
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
    let count = |key| requests.get(&key).copied().unwrap_or_default();

    if args.json {
        let rows: Vec<TokenJson> = tokens
            .iter()
            .map(|t| TokenJson::new(t, &count(t.key), ctx.now))
            .collect();
        ctx.ui.json(&rows)?;
        return Ok(Exit::Success);
    }
    if tokens.is_empty() {
        ctx.ui.status("No tokens match.");
        return Ok(Exit::Success);
    }
    let mut table = render::table(&[
        "ID",
        "NAME",
        "ENV",
        "SCOPES",
        "EXPIRES",
        "LAST USED",
        "REQ 24H",
        "STATUS",
    ]);
    for t in &tokens {
        table.add_row(vec![
            Cell::new(&t.id),
            Cell::new(escape(&t.name)),
            Cell::new(&t.env),
            Cell::new(t.scopes.to_string()),
            Cell::new(render::cell_time(t.expires_at, ctx.now, "never")),
            Cell::new(render::cell_time(t.last_used_at, ctx.now, "never")),
            Cell::new(count(t.key).total_24h()),
            render::status_cell(t.status(ctx.now), ctx.ui.color()),
        ]);
    }
    render::style(&mut table, ctx.ui.color());
    ctx.ui.data(&render::table_text(&table))?;
    Ok(Exit::Success)
}
