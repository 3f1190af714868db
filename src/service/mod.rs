//! The use-case layer: every workflow the CLI, the HTTP API and the
//! scheduler share, and the only code outside the importers that reaches
//! the store. Each use case loads what the engine needs, runs the pure
//! engine, and stores or returns the result; those a client can reach take
//! the [`Caller`] and check it first, in [`Caller::authorize`].
//!
//! - `imports`: billing data from files, a directory, S3 or Cost Explorer;
//! - `usage`: usage figures from CSV files or the API;
//! - `metrics`: business-metric points from CSV files or the API;
//! - `unit_costs`: unit-cost series of a metric per scope;
//! - `allocation`: allocating a month and what follows it, and the preview;
//! - `reports`: showback, explanations, team costs;
//! - `anomalies`: detection, the list, acknowledgements, alert delivery;
//! - `runs`: runs of configured sources, and their records;
//! - `access`: callers, roles, and what each may see;
//! - `tokens`: API tokens, created, listed, revoked and checked;
//! - `oidc`: single sign-on tokens of the identity provider, checked;
//! - `audit`: the record of who changed what.

pub mod access;
pub mod allocation;
pub mod anomalies;
pub mod audit;
pub mod imports;
pub mod metrics;
pub mod oidc;
pub mod reports;
pub mod runs;
pub mod tokens;
pub mod unit_costs;
pub mod usage;

pub use access::{Action, Caller, Identity, ROLE_EXPECTED, Role};
pub use allocation::{
    Allocated, MonthAllocation, allocate, allocate_month, allocate_month_with_progress, is_stale,
    preview,
};
pub use anomalies::{Detection, detect_after_change, detect_anomalies, detect_months};
pub use reports::{explain, showback, team_costs};

use crate::domain::Month;
use crate::engine;
use crate::store::{Store, StoreError};

/// What can go wrong in a use case.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error(
        "the role `{role}` may not {action}: ask an admin, or use a token with the `admin` role"
    )]
    Forbidden { role: String, action: Action },
    #[error("the note has {chars} characters; at most {max} are kept: say why in fewer words")]
    NoteTooLong { chars: usize, max: usize },
    #[error("a token's name is at most 100 characters without control characters")]
    BadTokenName,
    #[error("the expiry {0} is not in the future: give a later `--expires` date")]
    TokenExpiresInThePast(chrono::NaiveDate),
    #[error("no token `{0}`: list them with `allot token list`")]
    UnknownToken(String),
    #[error("month {0} has not been allocated: run `allot allocate --month {0}`")]
    NotAllocated(Month),
    #[error("no cost lines for month {0}: import billing data first (`allot import focus FILE`)")]
    NoData(Month),
    #[error(
        "nothing was charged in {0}: its invoice holds only charges of other months; see them with `--period billing`"
    )]
    NothingCharged(Month),
    #[error("unknown team `{0}`: it is not in the rules' known teams and has no allocated cost")]
    UnknownTeam(String),
    #[error(
        "anomaly detection was overtaken by newer detections {n} times; run `allot anomalies detect` again",
        n = anomalies::DETECTION_ATTEMPTS
    )]
    Overtaken,
    #[error("give one `s3://bucket/prefix`, or local files, not both")]
    MixedLocations,
    #[error("cannot read source `{}`: {cause}", path.display())]
    ReadSource {
        path: std::path::PathBuf,
        cause: String,
    },
    #[error("source `{}` holds no .csv, .csv.gz or .parquet file", .0.display())]
    EmptySource(std::path::PathBuf),
    #[error("no anomaly `{0}`: list them with `allot anomalies` or GET /api/v1/anomalies")]
    UnknownAnomaly(i64),
    #[error("unknown source `{0}`: configure it as a `[[source]]` in allot.toml")]
    UnknownSource(String),
    #[error("records[{index}].{field}: expected {expected}, found `{found}`")]
    BadUsageRecord {
        index: usize,
        field: &'static str,
        expected: &'static str,
        found: String,
    },
    #[error("records[{index}]: a second record for {key}; send one per date, team and metric")]
    DuplicateUsageRecord { index: usize, key: String },
    #[error("points[{index}].{field}: expected {expected}, found `{found}`")]
    BadMetricPoint {
        index: usize,
        field: &'static str,
        expected: String,
        found: String,
    },
    #[error(
        "points[{index}]: another value for {key} than points[{first}]; send one value per date, metric and scope"
    )]
    ConflictingMetricPoint {
        index: usize,
        first: usize,
        key: String,
    },
    #[error(
        "unknown metric `{name}`: {}",
        known_list(declared, "metric", "declare it with `[[metric]]` in allot.toml")
    )]
    UnknownMetric { name: String, declared: Vec<String> },
    #[error(
        "unknown group `{name}`: {}",
        known_list(declared, "group", "declare it in the rules' `[groups]`")
    )]
    UnknownGroup { name: String, declared: Vec<String> },
    #[error("`from` {from} is after `to` {to}: give the earlier month first")]
    BadRange { from: Month, to: Month },
    #[error(
        "a range of {months} months is longer than the {max} a series may span: ask for a shorter one"
    )]
    RangeTooLong { months: usize, max: usize },
    #[error("{0}\nthe rules are invalid; fix them (`allot rules check`) to report by group")]
    Rules(crate::rules::RuleErrors),
    #[error("imported, but the rules are invalid so nothing was re-allocated:\n{0}")]
    RulesInvalidAfterImport(String),
    #[error("imported, but re-allocating failed for {0}")]
    ReallocationFailed(String),
    #[error("allot failed unexpectedly ({0}); the server log has the details, please report it")]
    RunPanicked(String),
    #[error("the run was cancelled: {0}")]
    RunCancelled(String),
    #[error(transparent)]
    Import(#[from] crate::importers::ImportError),
    #[error(transparent)]
    OutOfRange(#[from] engine::OutOfRange),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// `the declared KINDs are `a`, `b`` or how to declare one.
fn known_list(declared: &[String], kind: &str, how: &str) -> String {
    if declared.is_empty() {
        format!("none is declared; {how}")
    } else {
        let names: Vec<String> = declared.iter().map(|n| format!("`{n}`")).collect();
        format!("the declared {kind}s are {}", names.join(", "))
    }
}

/// Opens the store at `url` (see [`Store::connect`]).
pub async fn connect(url: &str) -> Result<Store, StoreError> {
    Store::connect(url).await
}

/// The server's telemetry in Prometheus's text format, with the database
/// pool as it is now: for `admin` and `monitoring` callers.
pub fn telemetry(
    store: &Store,
    caller: &Caller,
    telemetry: &crate::telemetry::Telemetry,
) -> Result<String, ServiceError> {
    caller.authorize(Action::ReadTelemetry)?;
    Ok(open_telemetry(store, telemetry))
}

/// [`telemetry`] for anyone: what `metrics = "open"` serves on the address
/// the operator set apart for it.
pub fn open_telemetry(store: &Store, telemetry: &crate::telemetry::Telemetry) -> String {
    telemetry.encode(store.pool_stats())
}

/// The database's backend (`sqlite` or `postgres`) and whether it answers.
pub async fn health(store: &Store) -> (&'static str, Result<(), StoreError>) {
    (store.backend(), store.ping().await)
}
