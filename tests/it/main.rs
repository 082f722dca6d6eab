//! Integration tests: the real binary against temporary databases. One binary, one module
//! per command.

// Shared helpers: each test module uses some of them, none uses all.
#[allow(dead_code)]
mod common;
mod pg_server;
mod tools;

mod audit;
mod backup;
mod change_signal;
mod completions;
mod concurrency;
mod config;
mod copy;
mod create;
mod docs;
mod faults;
mod init;
mod limits;
mod list;
mod oauth;
mod operators;
mod postgres;
mod postgres_ops;
mod prompts;
mod proxies;
mod prune;
mod readme;
mod recipes;
mod revoke;
mod rotate;
mod scan;
mod secrets;
mod serve;
mod serve_faults;
mod serve_stall;
mod show;
mod storage;
mod stress;
mod suspend;
mod toolchain;
mod verify;
