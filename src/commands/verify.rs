//! `tokenctl verify`: the decision the API would make, as an exit status.
//!
//! The token comes from `$TOKENCTL_TOKEN`, else the first line of stdin (a hidden prompt
//! on a terminal) — never from an argument, which shell history and `ps` would keep.

use std::io::{self, BufRead, IsTerminal, Read};

use anyhow::{Context as _, Result};
use zeroize::Zeroizing;

use super::Ctx;
use crate::cli::VerifyArgs;
use crate::error::{Exit, usage};
use crate::render::DecisionView;
use crate::token;
use crate::verify::{Decision, Need, Question, Verifier};

/// Read at most this much of stdin: a token is far shorter, and anything longer is
/// malformed without being held in memory whole.
const INPUT_CAP: u64 = 1024;

pub fn run(ctx: &Ctx, args: VerifyArgs) -> Result<Exit> {
    if args.token_argument.is_some() {
        return Err(usage(
            "tokens are never accepted as command-line arguments: they would stay in shell history and be visible to other users in `ps`. \
             Pipe the token on stdin (printf '%s\\n' \"$TOKEN\" | tokenctl verify) or set TOKENCTL_TOKEN",
        ));
    }
    let presented = read_token(ctx)?;
    let mut verifier = Verifier::new(ctx.store().context("denied: cannot verify")?);
    if let Some(env) = &args.env {
        verifier = verifier.for_env(env);
    }
    if args.no_record {
        verifier = verifier.without_recording();
    }
    let mut question = Question::new(presented.as_slice());
    question.need = args.scope.map_or(Need::Nothing, Need::Scope);
    question.ip = args.ip;
    let decision = verifier
        .verify_at(&question, ctx.now)
        .context("denied: cannot verify")?;
    // A use that cannot be recorded is not allowed: an unaudited allow is what an
    // attacker who fills the disk would want.
    verifier
        .commit_usage()
        .context("denied: cannot record the use")?;

    let (exit, view) = match &decision {
        Decision::Allowed(g) => (
            Exit::Success,
            DecisionView {
                allowed: true,
                reason: None,
                token_id: Some(&g.token_id),
                name: Some(&g.name),
            },
        ),
        Decision::Denied(d) => (
            if d.reason.is_forbidden() {
                Exit::Forbidden
            } else {
                Exit::Unauthenticated
            },
            DecisionView {
                allowed: false,
                reason: Some(d.reason),
                token_id: d.token_id.as_deref(),
                name: d.name.as_deref(),
            },
        ),
    };
    ctx.ui.emit(&view)?;
    Ok(exit)
}

/// The token's bytes: `$TOKENCTL_TOKEN`, else stdin's first line.
fn read_token(ctx: &Ctx) -> Result<Zeroizing<Vec<u8>>> {
    if let Some(v) = std::env::var_os("TOKENCTL_TOKEN").filter(|v| !v.is_empty()) {
        use std::os::unix::ffi::OsStrExt;
        return Ok(Zeroizing::new(trim(v.as_bytes()).to_vec()));
    }
    let stdin = io::stdin();
    if stdin.is_terminal() {
        if !ctx.ui.can_prompt() {
            return Err(usage(
                "no token given: pipe it on stdin or set TOKENCTL_TOKEN",
            ));
        }
        ctx.ui.restore_terminal_on_interrupt();
        let typed = Zeroizing::new(dialoguer::Password::new().with_prompt("Token").interact()?);
        return Ok(Zeroizing::new(trim(typed.as_bytes()).to_vec()));
    }
    let mut line = Zeroizing::new(Vec::with_capacity(token::MAX_LEN + 2));
    stdin
        .lock()
        .take(INPUT_CAP)
        .read_until(b'\n', &mut line)
        .context("cannot read the token from stdin")?;
    if line.is_empty() {
        return Err(usage(
            "no token given: stdin was empty and TOKENCTL_TOKEN is not set",
        ));
    }
    Ok(Zeroizing::new(trim(&line).to_vec()))
}

fn trim(bytes: &[u8]) -> &[u8] {
    bytes.trim_ascii()
}
