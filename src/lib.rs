//! allot: FinOps cost allocation. Importers load billing data into the store,
//! the rule engine gives every cost line an owner, and the API and CLI serve
//! exact showback. See `ARCHITECTURE.md` for the tour.
//!
//! This crate is the service: store, importers, HTTP API, CLI and
//! scheduler. The pure core (domain types, rules, engine) is the
//! `allot-core` crate, re-exported here under its module names.

pub use allot_core::{domain, engine, rules};

/// The API server bound to a listener.
/// Webhook alerts for new anomalies.
pub mod alerts;
pub mod app;
/// The command line.
pub mod cli;
/// Configuration: `allot.toml`, environment, flags.
pub mod config;
/// The bundled demo.
pub mod demo;
/// The HTTP API.
pub mod http;
/// Billing importers (FOCUS): streaming, atomic, idempotent.
pub mod importers;
/// JSON, CSV and table presentation of reports.
pub mod present;
/// Scheduled imports of configured sources.
pub mod scheduler;
/// Use cases shared by the CLI and the API.
pub mod service;
/// All SQL: one `Store` over SQLite and PostgreSQL.
pub mod store;
/// The counters `GET /metrics` serves.
pub mod telemetry;
