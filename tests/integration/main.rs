//! allot's integration tests, one binary of modules (each test binary
//! would link sqlx, axum and the AWS SDK again): the HTTP API on a random
//! port, the CLI as a subprocess, importers, the store, the scheduler,
//! golden allocations, property tests and the documentation's worked
//! examples, each against a fresh database on both backends
//! (`common::backend_tests!`). `tests/import_cost_explorer.rs` stays a
//! binary of its own: it sets the process environment for the AWS SDK's
//! credential chain, which no other test may share.

#![allow(clippy::unwrap_used)] // a test fails loudly on what it does not expect

#[macro_use]
mod common;

mod access;
mod anomalies;
mod api;
mod bounds;
mod cli;
mod dashboard;
mod dimensions;
mod golden;
mod import_cur;
mod import_focus;
mod import_s3;
mod import_usage;
mod metric_sources;
mod metrics;
mod openapi;
mod pools;
mod properties;
mod rules_docs;
mod scheduler;
mod sso;
mod store;
mod telemetry;
mod unit_cost_reads;
mod unit_costs_docs;
