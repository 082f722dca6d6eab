//! `tokenctl create`: issue a token and show its secret once.

mod prompts;

use anyhow::Result;
use chrono::{DateTime, Utc};

use super::{Ctx, actor, check_name, check_text};
use crate::cli::{CreateArgs, ExpiryArg};
use crate::error::{Exit, usage, usage_with_hint};
use crate::name::LookAlike;
use crate::render::{ExistingToken, Issued, OldToken, TokenJson};
use crate::scope::{MAX_GRANTS, Scope, ScopeSet, check_catalogue};
use crate::settings::Settings;
use crate::store::{NewToken, SameName, Store, TokenFilter, TokenRecord};
use crate::text::escape;
use crate::token::{self, Secret};
use crate::usage::Requests;

const DEFAULT_ENV: &str = "live";

/// What the token will be, every value checked.
struct Wanted {
    name: String,
    scopes: ScopeSet,
    expires_at: Option<DateTime<Utc>>,
    description: Option<String>,
    env: String,
}

pub fn run(ctx: &Ctx, args: CreateArgs) -> Result<Exit> {
    let mut store = ctx.store_creating()?;
    let settings = store.settings()?;
    let Wanted {
        name,
        scopes,
        expires_at,
        description,
        env,
    } = wanted(ctx, &store, &settings, &args)?;
    warn_about_a_new_env(ctx, &store, &env)?;
    if args.if_absent {
        let same_name = store.active_named(&name, ctx.now)?;
        if let Some(existing) = same_name.last() {
            return exists_already(ctx, &store, existing, &same_name, &env, &scopes);
        }
    }
    let same_name = store.active_ids_named(&name, ctx.now, SHOWN_IDS)?;
    if same_name.count > 0 {
        ctx.ui.warn(&format!(
            "an active token is already named '{}' ({}); the new one will share the name",
            escape(&name),
            some_ids(&same_name)
        ));
    }

    let generated = token::generate(&settings.token_prefix, &env)?;
    let record = store.create_token(
        &NewToken {
            hash: generated.hash,
            hint: generated.hint,
            name,
            description,
            env,
            scopes,
            allowed_ips: args.allow_ips,
            expires_at,
            rate_limit: args.rate_limit,
        },
        &actor(),
        ctx.now,
    )?;
    print_issued(ctx, &record, &generated.secret, "Created", None)?;
    Ok(Exit::Success)
}

/// How many of the ids of tokens sharing a name a warning shows: a CI job that creates a
/// token named after itself on every run would otherwise get a screenful.
const SHOWN_IDS: u32 = 5;

/// The newest ids (oldest first), and how many older ones there are.
fn some_ids(same_name: &SameName) -> String {
    let newest = same_name.newest.join(", ");
    match same_name
        .count
        .saturating_sub(same_name.newest.len() as u64)
    {
        0 => newest,
        older => format!("{older} older, {newest}"),
    }
}

/// The flags, each checked before anything is asked; then, on a terminal, answers for what
/// they left out, each checked at its prompt.
fn wanted(ctx: &Ctx, store: &Store, settings: &Settings, args: &CreateArgs) -> Result<Wanted> {
    let mut name = args
        .name
        .as_deref()
        .map(|n| checked_name(store, n))
        .transpose()?;
    let mut scopes = (!args.scopes.is_empty())
        .then(|| checked_scopes(&args.scopes, args.unrestricted, settings))
        .transpose()?;
    let mut expires_at = args
        .expires
        .as_ref()
        .map(|a| resolve_expiry(settings, Some(a), ctx.now))
        .transpose()?;
    let description = args
        .description
        .as_deref()
        .map(|d| check_text("description", d))
        .transpose()?;
    let mut env = args.env.clone();
    if ctx.ui.can_prompt() && (name.is_none() || scopes.is_none()) {
        ctx.ui.restore_terminal_on_interrupt();
        let ask = prompts::Prompts::new(store, settings, args.unrestricted, ctx.now);
        if name.is_none() {
            name = Some(ask.name()?);
        }
        if scopes.is_none() {
            scopes = Some(ask.scopes()?);
        }
        if expires_at.is_none() {
            expires_at = Some(ask.expiry()?);
        }
        if env.is_none() {
            env = Some(ask.env()?);
        }
    }
    Ok(Wanted {
        name: name.ok_or_else(|| {
            usage("--name is required (stdin is not a terminal, so tokenctl does not prompt)")
        })?,
        scopes: match scopes {
            Some(s) => s,
            None => checked_scopes(&[], args.unrestricted, settings)?,
        },
        expires_at: match expires_at {
            Some(e) => e,
            None => resolve_expiry(settings, None, ctx.now)?,
        },
        description,
        env: env.unwrap_or_else(|| DEFAULT_ENV.to_string()),
    })
}

/// A name as stored, and one that cannot pass for another token's.
fn checked_name(store: &Store, name: &str) -> Result<String> {
    let name = check_name(name)?;
    refuse_lookalike_name(store, &name)?;
    Ok(name)
}

/// `--if-absent` found an active token of that name: say what exists, create nothing, and
/// warn where it differs from what was asked for.
fn exists_already(
    ctx: &Ctx,
    store: &Store,
    existing: &TokenRecord,
    same_name: &[TokenRecord],
    env: &str,
    scopes: &ScopeSet,
) -> Result<Exit> {
    if existing.env != env || existing.scopes != *scopes {
        ctx.ui.warn(&format!(
            "the existing token {} is for {} with {}, not {env} with {scopes} as asked",
            existing.id, existing.env, existing.scopes
        ));
    }
    let requests = store.token_requests(existing.key, ctx.now)?;
    ctx.ui.emit(&ExistingToken {
        token: TokenJson::new(existing, &requests, ctx.now),
        others: same_name
            .iter()
            .filter(|t| t.id != existing.id)
            .map(|t| t.id.as_str())
            .collect(),
    })?;
    Ok(Exit::Success)
}

/// A token of an environment no server may accept is likely a mistake (`--env prod` where
/// the servers run `--env live`). Which environments the servers accept cannot be known
/// from here, so the rule is: `live` (what `serve` accepts by default) is fine, and so is
/// an environment that another token already has; anything else gets a warning.
fn warn_about_a_new_env(ctx: &Ctx, store: &Store, env: &str) -> Result<()> {
    if env == DEFAULT_ENV {
        return Ok(());
    }
    let filter = TokenFilter {
        env: Some(env.to_string()),
        ..TokenFilter::default()
    };
    if store.list_tokens(&filter, ctx.now)?.is_empty() {
        ctx.ui.warn(&format!(
            "no other token is for the environment '{env}': a server accepts only the tokens of \
             its own --env (serve's default is {DEFAULT_ENV}), so make sure one runs with --env {env}"
        ));
    }
    Ok(())
}

/// A name must not pass for something else in `show`, `revoke` and tables: another
/// token's id (`revoke k3j9x0a1` would mean two tokens) or another token's name written
/// with look-alike characters (`Mai1chimp sync`).
fn refuse_lookalike_name(store: &Store, name: &str) -> Result<()> {
    if let Some(t) = store.token(name)? {
        return Err(usage(format!(
            "the name '{}' is the id of token {} ('{}'); choose a name that is not a token id",
            escape(name),
            t.id,
            escape(&t.name)
        )));
    }
    let look_alike = LookAlike::new(name);
    if let Some(other) = store.find_name(&look_alike.ascii_starts(), &mut |other| {
        look_alike.of(other)
    })? {
        return Err(usage(format!(
            "the name '{}' looks like the name of an existing token, '{}'; use that exact name or a clearly different one",
            escape(name),
            escape(&other)
        )));
    }
    Ok(())
}

/// Checks the grants: at least one, `*:delete` only when unrestricted, modules from the
/// catalogue when there is one.
pub(super) fn checked_scopes(
    scopes: &[Scope],
    unrestricted: bool,
    settings: &Settings,
) -> Result<ScopeSet> {
    if scopes.is_empty() {
        return Err(usage(
            "at least one --scope is required, such as --scope cases:read (tokens get the least access that works)",
        ));
    }
    if !unrestricted && scopes.iter().any(Scope::is_unrestricted) {
        return Err(usage_with_hint(
            "scope '*:delete' grants everything",
            "pass --unrestricted if that is really meant",
        ));
    }
    let set = ScopeSet::new(scopes.iter().cloned());
    if set.len() > MAX_GRANTS {
        return Err(usage(format!(
            "a token may hold at most {MAX_GRANTS} scopes, and these are {}: give it wider grants (cases:write covers cases:read) or split it into several tokens",
            set.len()
        )));
    }
    check_catalogue(&set, &settings.modules)?;
    Ok(set)
}

/// `--expires` (or the default) as a moment, within the settings' limits.
pub(super) fn resolve_expiry(
    settings: &Settings,
    arg: Option<&ExpiryArg>,
    now: DateTime<Utc>,
) -> Result<Option<DateTime<Utc>>> {
    Ok(settings
        .limits()
        .resolve(arg.map(|a| &a.expiry), arg.map(|a| a.raw.as_str()), now)?)
}

/// Prints a new secret: alone on stdout (or in JSON), with a once-only notice on stderr.
///
/// The token is committed by then, so a secret that stdout does not take is an error,
/// whatever the reason: a reader that closed the pipe (not an error for any other
/// command) leaves a working token whose secret nobody has, and a script must not go on
/// as if it had one.
pub(super) fn print_issued(
    ctx: &Ctx,
    record: &TokenRecord,
    secret: &Secret,
    verb: &'static str,
    old: Option<OldToken>,
) -> Result<()> {
    ctx.ui
        .emit(&Issued {
            metadata: TokenJson::new(record, &Requests::default(), ctx.now),
            token: secret.expose(),
            verb,
            old,
        })
        .map_err(|e| SecretNotDelivered {
            id: record.id.clone(),
            cause: e.to_string(),
        })?;
    Ok(())
}

/// An issued token's secret did not reach stdout. The cause is kept as text: a broken
/// pipe in the error chain would make the run a success.
#[derive(Debug, thiserror::Error)]
#[error(
    "token {id} was issued, but its secret could not be written ({cause}), so nobody has it; \
     `tokenctl rotate {id} --grace 0` revokes it and prints a new secret"
)]
struct SecretNotDelivered {
    id: String,
    cause: String,
}
