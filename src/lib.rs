//! allot: FinOps cost allocation. Importers load billing data into the store,
//! the rule engine gives every cost line an owner, and the API and CLI serve
//! exact showback. See `ARCHITECTURE.md` for the tour.

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
/// Money, months, teams and cost lines: the types everything else speaks.
pub mod domain;
/// The pure allocation engine and reports: no I/O.
pub mod engine;
/// The HTTP API.
pub mod http;
/// Billing importers (FOCUS): streaming, atomic, idempotent.
pub mod importers;
/// JSON, CSV and table presentation of reports.
pub mod present;
/// Ownership rules: parse, check and evaluate `allocation-rules/*.toml`.
pub mod rules;
/// Scheduled imports of configured sources.
pub mod scheduler;
/// Use cases shared by the CLI and the API.
pub mod service;
/// All SQL: one `Store` over SQLite and PostgreSQL.
pub mod store;
