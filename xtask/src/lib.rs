//! The developer tasks' library: the generated documentation (completions and man pages),
//! shared by `cargo xtask gen` and tokenctl's test that the committed files are fresh.

pub mod docs;
