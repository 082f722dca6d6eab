//! Integration tests: the real binary against temporary databases. One binary, one module
//! per command.

mod common;
mod tools;

mod audit;
mod completions;
mod concurrency;
mod config;
mod create;
mod docs;
mod faults;
mod list;
mod prompts;
mod prune;
mod readme;
mod revoke;
mod rotate;
mod scan;
mod secrets;
mod show;
mod storage;
mod stress;
mod verify;
