use std::process::ExitCode;

fn main() -> ExitCode {
    // A write past RLIMIT_FSIZE should fail with an error SQLite can report and roll
    // back, not kill the process mid-transaction with SIGXFSZ.
    // SAFETY: setting a signal's disposition to "ignore" before any thread exists.
    unsafe {
        libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
    }
    ExitCode::from(tokenctl::run(std::env::args_os()).code())
}
