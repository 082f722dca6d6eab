//! `tokenctl completions SHELL`: the completion script, the same text as the committed
//! file in `completions/` (`cargo xtask gen` writes those from the same function).

use anyhow::Result;

use super::Ctx;
use crate::cli::CompletionsArgs;
use crate::complete::script;
use crate::error::Exit;

pub fn run(ctx: &Ctx, args: CompletionsArgs) -> Result<Exit> {
    ctx.ui.data(&script(args.shell))?;
    Ok(Exit::Success)
}
