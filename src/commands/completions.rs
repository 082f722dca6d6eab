//! `tokenctl completions SHELL`: the completion script, the same text as the committed
//! file in `completions/` (both come from `crate::docs`).

use anyhow::Result;

use super::Ctx;
use crate::cli::CompletionsArgs;
use crate::docs::completion_script;
use crate::error::Exit;

pub fn run(ctx: &Ctx, args: CompletionsArgs) -> Result<Exit> {
    ctx.ui.data(&completion_script(args.shell))?;
    Ok(Exit::Success)
}
