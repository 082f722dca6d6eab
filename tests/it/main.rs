//! Integration tests: the real binary against temporary databases. One binary, one module
//! per command.

mod common;

mod audit;
mod concurrency;
mod config;
mod create;
mod list;
mod prune;
mod revoke;
mod rotate;
mod show;
mod storage;
mod verify;
