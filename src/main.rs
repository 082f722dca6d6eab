use std::process::ExitCode;

// mimalloc for the binary: `serve` allocates on every request, and with the system
// allocator bench/serve.sh measured it about a sixth slower. The library leaves the
// choice of allocator to the programs that use it.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    ExitCode::from(tokenctl::run(std::env::args_os()).code())
}
