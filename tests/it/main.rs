//! Integration tests: the real binary against temporary databases. One binary, one module
//! per command.

// Shared helpers: each test module uses some of them, none uses all.
#[allow(dead_code)]
mod common;

mod create;
mod serve;
