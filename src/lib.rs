//! allot: FinOps cost allocation. Importers load billing data into the store,
//! the rule engine gives every cost line an owner, and the API and CLI serve
//! exact showback. See `ARCHITECTURE.md` for the tour.

/// Money, months, teams and cost lines: the types everything else speaks.
pub mod domain;
/// All SQL: one `Store` over SQLite and PostgreSQL.
pub mod store;
/// Billing importers (FOCUS): streaming, atomic, idempotent.
pub mod importers;
/// Ownership rules: parse, check and evaluate `allocation-rules/*.toml`.
pub mod rules;
