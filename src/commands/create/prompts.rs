//! `create` on a terminal: asks for what the flags left out. Each answer is checked at its
//! prompt by the same rules as the flag (a bad one is refused there, with the reason, and
//! asked again), so that nothing typed is lost to an error at the end.

use anyhow::Result;
use chrono::{DateTime, Utc};
use dialoguer::{Input, MultiSelect, Select, theme::ColorfulTheme};

use super::{DEFAULT_ENV, checked_name, checked_scopes, resolve_expiry};
use crate::cli::ExpiryArg;
use crate::expiry::{Expiry, Span};
use crate::scope::{Access, Module, Scope, ScopeSet};
use crate::settings::Settings;
use crate::store::Store;
use crate::token;

/// The lifetimes offered, before "custom".
const LIFETIMES: [&str; 4] = ["30d", "90d", "180d", "1y"];

pub(super) struct Prompts<'a> {
    store: &'a Store,
    settings: &'a Settings,
    unrestricted: bool,
    now: DateTime<Utc>,
    theme: ColorfulTheme,
}

impl<'a> Prompts<'a> {
    pub fn new(
        store: &'a Store,
        settings: &'a Settings,
        unrestricted: bool,
        now: DateTime<Utc>,
    ) -> Prompts<'a> {
        Prompts {
            store,
            settings,
            unrestricted,
            now,
            theme: ColorfulTheme::default(),
        }
    }

    pub fn name(&self) -> Result<String> {
        let typed: String = Input::with_theme(&self.theme)
            .with_prompt("Name (what is the token for?)")
            .validate_with(|s: &String| checked_name(self.store, s).map(|_| ()).map_err(reason))
            .interact_text()?;
        checked_name(self.store, &typed)
    }

    pub fn scopes(&self) -> Result<ScopeSet> {
        if !self.settings.modules.is_empty() {
            let picked = self.scopes_from_catalogue()?;
            return checked_scopes(&picked, self.unrestricted, self.settings);
        }
        let typed: String = Input::with_theme(&self.theme)
            .with_prompt("Scopes (module:read|write|delete, comma-separated)")
            .validate_with(|s: &String| self.scope_list(s).map(|_| ()))
            .interact_text()?;
        self.scope_list(&typed).map_err(anyhow::Error::msg)
    }

    /// The expiry: one of the usual lifetimes that the settings allow, or a custom one.
    pub fn expiry(&self) -> Result<Option<DateTime<Utc>>> {
        let limits = self.settings.limits();
        let mut choices: Vec<&str> = LIFETIMES
            .into_iter()
            .filter(|c| {
                let span: Span = c.parse().expect("a valid duration");
                limits
                    .resolve(Some(&Expiry::In(span)), Some(c), self.now)
                    .is_ok()
            })
            .collect();
        choices.push("custom");
        let default = choices
            .iter()
            .position(|c| c.parse::<Span>().ok() == Some(self.settings.default_lifetime))
            .unwrap_or(0);
        let pick = Select::with_theme(&self.theme)
            .with_prompt("Expires in")
            .items(&choices)
            .default(default)
            .interact()?;
        let raw = if choices[pick] == "custom" {
            Input::<String>::with_theme(&self.theme)
                .with_prompt("Expires (duration, date or RFC 3339 time)")
                .validate_with(|s: &String| self.expiry_at(s).map(|_| ()))
                .interact_text()?
        } else {
            choices[pick].to_string()
        };
        self.expiry_at(&raw).map_err(anyhow::Error::msg)
    }

    pub fn env(&self) -> Result<String> {
        Ok(Input::with_theme(&self.theme)
            .with_prompt("Environment")
            .default(DEFAULT_ENV.to_string())
            .validate_with(|s: &String| {
                if token::is_valid_env(s) {
                    Ok(())
                } else {
                    Err("2 to 8 lowercase letters or digits, starting with a letter")
                }
            })
            .interact_text()?)
    }

    /// Typed scopes, checked as `--scope` is: the grammar, `*:delete` only with
    /// `--unrestricted`, the catalogue, the number of grants.
    fn scope_list(&self, text: &str) -> Result<ScopeSet, String> {
        let scopes: Vec<Scope> = text
            .split([',', ' '])
            .filter(|s| !s.is_empty())
            .map(|s| {
                s.parse()
                    .map_err(|e: crate::scope::ScopeError| e.to_string())
            })
            .collect::<Result<_, _>>()?;
        checked_scopes(&scopes, self.unrestricted, self.settings).map_err(reason)
    }

    /// A typed expiry, checked as `--expires` is: its grammar and the lifetime limits.
    fn expiry_at(&self, raw: &str) -> Result<Option<DateTime<Utc>>, String> {
        let expiry: Expiry = raw
            .parse()
            .map_err(|e: crate::expiry::ExpiryError| e.to_string())?;
        let arg = ExpiryArg {
            raw: raw.to_string(),
            expiry,
        };
        resolve_expiry(self.settings, Some(&arg), self.now).map_err(reason)
    }

    fn scopes_from_catalogue(&self) -> Result<Vec<Scope>> {
        let modules = &self.settings.modules;
        let picked = loop {
            let picked = MultiSelect::with_theme(&self.theme)
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
                let access = Select::with_theme(&self.theme)
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
}

/// Why an answer is refused, as the prompt shows it: the message and its hints.
fn reason(err: anyhow::Error) -> String {
    let hints = crate::error::hints(&err);
    if hints.is_empty() {
        err.to_string()
    } else {
        format!("{err} ({})", hints.join("; "))
    }
}
