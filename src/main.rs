use std::process::ExitCode;

// mimalloc for the binary: `serve` allocates on every request, and with the system
// allocator bench/serve.sh measured it about a sixth slower. The library leaves the
// choice of allocator to the programs that use it.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    // A write past RLIMIT_FSIZE should fail with an error SQLite can report and roll
    // back, not kill the process mid-transaction with SIGXFSZ.
    // SAFETY: setting a signal's disposition to "ignore" before any thread exists.
    unsafe {
        libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
    }
    // `TOKENCTL_DB=` (set but empty) means "not set", as for most tools' variables.
    if std::env::var_os("TOKENCTL_DB").is_some_and(|v| v.is_empty()) {
        // SAFETY: no other thread exists yet to read the environment concurrently.
        unsafe { std::env::remove_var("TOKENCTL_DB") };
    }
    tokenctl::complete::answer_if_asked();
    ExitCode::from(tokenctl::run(std::env::args_os()).code())
}
