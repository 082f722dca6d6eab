//! `tokenctl rotate`: a new secret for the same grants, the old one ending after a grace
//! period.

use anyhow::Result;

use super::create::{print_issued, resolve_expiry};
use super::{Ctx, actor};
use crate::cli::RotateArgs;
use crate::error::{Exit, usage};
use crate::expiry::Span;
use crate::render::{escape, when};
use crate::store::{NewToken, OldTokenEnd, Status};
use crate::token;

pub fn run(ctx: &Ctx, args: RotateArgs) -> Result<Exit> {
    let mut store = ctx.store()?;
    let settings = store.settings()?;
    let old = store.resolve(&args.token, ctx.now)?;
    if old.status(ctx.now) == Status::Revoked {
        return Err(usage(format!(
            "token {} is revoked; create a new token instead of rotating it",
            old.id
        )));
    }
    let expires_at = match &args.expires {
        Some(arg) => resolve_expiry(&settings, Some(arg), ctx.now)?,
        // The old token's lifetime, so a 30-day token rotates into a 30-day token; capped
        // by today's maximum.
        None => match old.expires_at {
            Some(end) => {
                let lifetime = Span::seconds((end - old.created_at).num_seconds().max(1));
                let lifetime = settings.max_lifetime.map_or(lifetime, |m| lifetime.min(m));
                Some(ctx.now + lifetime.delta())
            }
            None => resolve_expiry(&settings, None, ctx.now)?,
        },
    };
    let end = if args.grace == Span::ZERO {
        OldTokenEnd::RevokedNow
    } else {
        OldTokenEnd::ExpiresAt(ctx.now + args.grace.delta())
    };
    let generated = token::generate(&settings.token_prefix, &old.env)?;
    let (new, old) = store.rotate_token(
        &old.id,
        &NewToken {
            hash: generated.hash,
            hint: generated.hint,
            name: old.name.clone(),
            description: old.description.clone(),
            env: old.env.clone(),
            scopes: old.scopes.clone(),
            allowed_ips: old.allowed_ips.clone(),
            expires_at,
        },
        end,
        &actor(),
        ctx.now,
    )?;
    print_issued(ctx, &new, &generated.secret, args.json, "Rotated: new")?;
    let fate = match (old.revoked_at, old.expires_at) {
        (Some(_), _) => "is revoked".to_string(),
        (None, Some(at)) => format!("keeps working until {}", when(at, ctx.now)),
        (None, None) => "keeps working".to_string(),
    };
    ctx.ui.status(&format!(
        "The old token {} '{}' {fate}.",
        old.id,
        escape(&old.name)
    ));
    Ok(Exit::Success)
}
