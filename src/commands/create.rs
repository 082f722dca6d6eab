//! `tokenctl create`: issue a token and show its secret once.

use anyhow::Result;
use chrono::{DateTime, Utc};
use dialoguer::{Input, MultiSelect, Select, theme::ColorfulTheme};

use super::{Ctx, actor, check_name, check_text};
use crate::cli::{CreateArgs, ExpiryArg};
use crate::error::{Exit, usage, usage_with_hint};
use crate::expiry::{Expiry, Span};
use crate::render::{ExistingToken, Issued, OldToken, TokenJson};
use crate::scope::{Access, MAX_GRANTS, Module, Scope, ScopeSet, check_catalogue};
use crate::settings::Settings;
use crate::store::{NewToken, Store, TokenFilter, TokenRecord};
use crate::text::escape;
use crate::token::{self, Secret};
use crate::usage::Requests;

const DEFAULT_ENV: &str = "live";

pub fn run(ctx: &Ctx, mut args: CreateArgs) -> Result<Exit> {
    let mut store = ctx.store_creating()?;
    let settings = store.settings()?;
    if ctx.ui.can_prompt() && (args.name.is_none() || args.scopes.is_empty()) {
        prompt_missing(&mut args, &settings)?;
    }
    let name = match &args.name {
        Some(n) => check_name(n)?,
        None => {
            return Err(usage(
                "--name is required (stdin is not a terminal, so tokenctl does not prompt)",
            ));
        }
    };
    let scopes = checked_scopes(&args.scopes, args.unrestricted, &settings)?;
    let expires_at = resolve_expiry(&settings, args.expires.as_ref(), ctx.now)?;
    let description = args
        .description
        .as_deref()
        .map(|d| check_text("description", d))
        .transpose()?;
    let env = args.env.clone().unwrap_or_else(|| DEFAULT_ENV.to_string());

    refuse_lookalike_name(&store, &name)?;
    warn_about_a_new_env(ctx, &store, &env)?;
    let same_name = store.active_named(&name, ctx.now)?;
    if args.if_absent
        && let Some(existing) = same_name.last()
    {
        return exists_already(ctx, &store, existing, &same_name, &env, &scopes);
    }
    if !same_name.is_empty() {
        let ids: Vec<&str> = same_name.iter().map(|t| t.id.as_str()).collect();
        ctx.ui.warn(&format!(
            "an active token is already named '{}' ({}); the new one will share the name",
            escape(&name),
            ids.join(", ")
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
        },
        &actor(),
        ctx.now,
    )?;
    print_issued(ctx, &record, &generated.secret, "Created", None)?;
    Ok(Exit::Success)
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
    let names = store.token_names()?;
    if let Some(other) = crate::name::confusable_with(name, names.iter().map(String::as_str)) {
        return Err(usage(format!(
            "the name '{}' looks like the name of an existing token, '{}'; use that exact name or a clearly different one",
            escape(name),
            escape(other)
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
pub(super) fn print_issued(
    ctx: &Ctx,
    record: &TokenRecord,
    secret: &Secret,
    verb: &'static str,
    old: Option<OldToken>,
) -> Result<()> {
    ctx.ui.emit(&Issued {
        metadata: TokenJson::new(record, &Requests::default(), ctx.now),
        token: secret.expose(),
        verb,
        old,
    })?;
    Ok(())
}

/// Asks on the terminal for what the flags left out.
fn prompt_missing(args: &mut CreateArgs, settings: &Settings) -> Result<()> {
    let theme = ColorfulTheme::default();
    if args.name.is_none() {
        let name: String = Input::with_theme(&theme)
            .with_prompt("Name (what is the token for?)")
            .validate_with(|s: &String| check_name(s).map(|_| ()).map_err(|e| e.to_string()))
            .interact_text()?;
        args.name = Some(name);
    }
    if args.scopes.is_empty() {
        args.scopes = if settings.modules.is_empty() {
            let text: String = Input::with_theme(&theme)
                .with_prompt("Scopes (module:read|write|delete, comma-separated)")
                .validate_with(|s: &String| parse_scope_list(s).map(|_| ()))
                .interact_text()?;
            parse_scope_list(&text).map_err(anyhow::Error::msg)?
        } else {
            prompt_scopes_from_catalogue(&theme, &settings.modules)?
        };
    }
    if args.expires.is_none() {
        let choices = ["30d", "90d", "180d", "1y", "custom"];
        let default = choices
            .iter()
            .position(|c| c.parse::<Span>().ok() == Some(settings.default_lifetime))
            .unwrap_or(1);
        let pick = Select::with_theme(&theme)
            .with_prompt("Expires in")
            .items(choices)
            .default(default)
            .interact()?;
        let raw = if choices[pick] == "custom" {
            Input::<String>::with_theme(&theme)
                .with_prompt("Expires (duration, date or RFC 3339 time)")
                .validate_with(|s: &String| {
                    s.parse::<Expiry>().map(|_| ()).map_err(|e| e.to_string())
                })
                .interact_text()?
        } else {
            choices[pick].to_string()
        };
        let expiry = raw.parse()?;
        args.expires = Some(ExpiryArg { raw, expiry });
    }
    if args.env.is_none() {
        let env: String = Input::with_theme(&theme)
            .with_prompt("Environment")
            .default(DEFAULT_ENV.to_string())
            .validate_with(|s: &String| {
                if token::is_valid_env(s) {
                    Ok(())
                } else {
                    Err("2 to 8 lowercase letters or digits, starting with a letter")
                }
            })
            .interact_text()?;
        args.env = Some(env);
    }
    Ok(())
}

fn parse_scope_list(text: &str) -> Result<Vec<Scope>, String> {
    let scopes: Vec<Scope> = text
        .split([',', ' '])
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse()
                .map_err(|e: crate::scope::ScopeError| e.to_string())
        })
        .collect::<Result<_, _>>()?;
    if scopes.is_empty() {
        return Err("give at least one scope".into());
    }
    Ok(scopes)
}

fn prompt_scopes_from_catalogue(theme: &ColorfulTheme, modules: &[String]) -> Result<Vec<Scope>> {
    let picked = loop {
        let picked = MultiSelect::with_theme(theme)
            .with_prompt("Modules (space to select, enter to confirm)")
            .items(modules)
            .interact()?;
        if !picked.is_empty() {
            break picked;
        }
    };
    let levels = Access::ALL.map(Access::as_str);
    picked
        .into_iter()
        .map(|i| {
            let access = Select::with_theme(theme)
                .with_prompt(format!("Access to {}", modules[i]))
                .items(levels)
                .default(0)
                .interact()?;
            Ok(Scope {
                module: Module::Named(modules[i].clone()),
                access: Access::ALL[access],
            })
        })
        .collect()
}
