//! `tokenctl rotate`: a new secret for the same grants, the old one ending after a grace
//! period.

use anyhow::Result;

use super::create::{print_issued, resolve_expiry};
use super::{Ctx, actor};
use crate::cli::{LimitValue, RotateArgs};
use crate::error::{Exit, usage};
use crate::expiry::{Span, lifetime};
use crate::render::OldToken;
use crate::store::{NewToken, OldTokenEnd, Status};
use crate::token;

pub fn run(ctx: &Ctx, args: RotateArgs) -> Result<Exit> {
    let mut store = ctx.store()?;
    let settings = store.settings()?;
    let old = super::resolve(&store, &args.token, ctx.now)?;
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
        None => match lifetime(old.created_at, old.expires_at) {
            Some(lifetime) => {
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
            rate_limit: args.rate_limit.map_or(old.rate_limit, LimitValue::limit),
        },
        end,
        &actor(),
        ctx.now,
    )?;
    let old = OldToken {
        id: &old.id,
        name: &old.name,
        revoked: old.revoked_at.is_some(),
        expires_at: old.expires_at,
    };
    print_issued(ctx, &new, &generated.secret, "Rotated: new", Some(old))?;
    Ok(Exit::Success)
}
