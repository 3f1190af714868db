//! allot's pure core: the types everything speaks ([`domain`]), the rule
//! language ([`rules`]) and the engine that allocates costs and detects
//! anomalies ([`engine`]). Nothing here touches a database, the network, an
//! async runtime or the clock; this crate's dependencies are chosen so that
//! it cannot. The `allot` crate builds the service (store, importers, HTTP
//! API, CLI, scheduler) on top.

/// Money, months, teams and cost lines: the types everything else speaks.
pub mod domain;
/// The pure allocation engine and reports: no I/O.
pub mod engine;
/// Ownership rules: parse, check and evaluate `allocation-rules/*.toml`.
pub mod rules;
