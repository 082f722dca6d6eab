//! Integration tests: the real binary against temporary databases. One binary, one module
//! per command.

mod common;

mod create;
mod scan;
