//! `tokenctl revoke`: a token stops working on the very next request.

use anyhow::Result;
use dialoguer::{Confirm, theme::ColorfulTheme};

use super::{Ctx, actor, check_text};
use crate::cli::RevokeArgs;
use crate::error::{Exit, usage};
use crate::render::{TokenJson, escape, when};
use crate::store::{Revocation, Status};

pub fn run(ctx: &Ctx, args: RevokeArgs) -> Result<Exit> {
    let mut store = ctx.store()?;
    let reason = args
        .reason
        .as_deref()
        .map(|r| check_text("reason", r))
        .transpose()?;
    let t = store.resolve(&args.token, ctx.now)?;
    if t.status(ctx.now) != Status::Revoked && !args.yes {
        if !ctx.ui.can_prompt() {
            return Err(usage(format!(
                "revoking {} needs confirmation; stdin is not a terminal, so pass --yes",
                t.id
            )));
        }
        let question = format!(
            "Revoke token {} '{}' ({}, {})? Requests with it will be refused at once",
            t.id,
            escape(&t.name),
            t.env,
            t.scopes
        );
        let confirmed = Confirm::with_theme(&ColorfulTheme::default())
            .with_prompt(question)
            .default(false)
            .interact()?;
        if !confirmed {
            ctx.ui.status("Nothing was revoked.");
            return Ok(Exit::Failure);
        }
    }
    let record = match store.revoke_token(&t.id, reason.as_deref(), &actor(), ctx.now)? {
        Revocation::Revoked(r) => {
            ctx.ui
                .status(&format!("Revoked token {} '{}'.", r.id, escape(&r.name)));
            r
        }
        Revocation::AlreadyRevoked(r) => {
            let at = r.revoked_at.map(|t| when(t, ctx.now)).unwrap_or_default();
            ctx.ui.status(&format!(
                "Token {} '{}' was already revoked ({at}); nothing changed.",
                r.id,
                escape(&r.name)
            ));
            r
        }
    };
    if args.json {
        let requests = store.token_requests(record.key, ctx.now)?;
        ctx.ui.json(&TokenJson::new(&record, &requests, ctx.now))?;
    }
    Ok(Exit::Success)
}
