//! `tokenctl serve`: checks the flags, reads the rules file, and runs the forward-auth
//! server until SIGTERM or SIGINT. Everything else is in `crate::serve`.

use anyhow::Result;

use super::Ctx;
use crate::cli::{AmbiguousUris, ServeArgs};
use crate::error::{Exit, usage};
use crate::serve::connections::Limits;
use crate::serve::rules::Rules;
use crate::serve::uri::UriPolicy;
use crate::serve::{self, Config};

pub fn run(ctx: &Ctx, args: ServeArgs) -> Result<Exit> {
    // A proxy list that holds every address trusts every client to name its own address
    // (X-Real-IP), which empties the tokens' --allow-ip lists.
    if let Some(all) = args.trust_proxy.iter().find(|n| n.prefix_len() == 0) {
        ctx.ui.warn(&format!(
            "--trust-proxy {all} trusts every client: any client can claim any address in \
             X-Real-IP or X-Forwarded-For and so get past a token's --allow-ip list; name \
             only your proxies' addresses"
        ));
    }
    // A bad rules file is a usage error (exit 2), reported before anything listens.
    let rules = match &args.rules {
        None => Rules::convention(),
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|e| {
                usage(format!(
                    "cannot read the rules file {}: {e}",
                    path.display()
                ))
            })?;
            Rules::parse(&text).map_err(|e| usage(format!("rules file {}, {e}", path.display())))?
        }
    };
    serve::run(
        Config {
            db: ctx.db.clone(),
            listen: args.listen,
            env: args.env,
            rules,
            rules_file: args.rules,
            uri_policy: match args.ambiguous_uris {
                AmbiguousUris::Deny => UriPolicy::Strict,
                AmbiguousUris::Normalize => UriPolicy::Normalize,
            },
            trusted_proxies: args.trust_proxy,
            rate_limited_status: hyper::StatusCode::from_u16(args.rate_limited_status)?,
            limits: Limits {
                header_timeout: args.header_timeout,
                idle_timeout: args.idle_timeout,
                max_connections: args.max_connections as usize,
            },
        },
        &|msg| ctx.ui.status(msg),
    )?;
    Ok(Exit::Success)
}
