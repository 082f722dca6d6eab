use std::process::ExitCode;

fn main() -> ExitCode {
    ExitCode::from(tokenctl::run(std::env::args_os()).code())
}
