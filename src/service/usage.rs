//! Usage figures (the weights of `usage` splits): imported from CSV files
//! or recorded through the API, checked whole, then stored in one
//! transaction. Either way a batch holds one figure per date, team and
//! metric ([`UsageKeys`]).

use std::path::PathBuf;
use std::time::Duration;

use super::{Action, Caller, ServiceError};
use crate::domain::{Month, UsageKeys, UsageRecord};
use crate::importers::{ImportError, usage};
use crate::store::Store;

/// What a usage import stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UsageSummary {
    pub records: u64,
    pub months: Vec<Month>,
    /// Months whose figures changed: their allocations are stale.
    pub changed_months: Vec<Month>,
}

/// Imports usage files (see `importers::usage`): all are checked before any
/// is stored, then stored in one transaction.
pub async fn import_files(
    store: &Store,
    caller: &Caller,
    paths: &[PathBuf],
) -> Result<UsageSummary, ServiceError> {
    caller.authorize(Action::RecordUsage)?;
    if paths.is_empty() {
        return Err(ImportError::NoFiles.into());
    }
    let mut keys = UsageKeys::new();
    let mut records = Vec::new();
    for path in paths {
        records.extend(usage::read(path, &mut keys)?);
    }
    let files: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
    let summary = store_records(store, &records, None).await?;
    audit_usage(store, caller, &summary, serde_json::json!(files)).await;
    Ok(summary)
}

async fn audit_usage(store: &Store, caller: &Caller, s: &UsageSummary, files: serde_json::Value) {
    let months: Vec<String> = s.changed_months.iter().map(|m| m.to_string()).collect();
    super::audit::record(
        store,
        caller,
        "usage.record",
        "usage",
        serde_json::json!({"records": s.records, "files": files, "months_changed": months}),
    )
    .await;
}

/// One usage figure as a client sends it: four texts, parsed here.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UsageInput {
    pub date: String,
    pub team: String,
    pub metric: String,
    pub quantity: String,
}

/// Records `inputs`, checked whole first, waiting at most `wait` for the
/// database's write lock (see [`Store::upsert_usage_waiting`]).
pub async fn record(
    store: &Store,
    caller: &Caller,
    inputs: &[UsageInput],
    wait: Option<Duration>,
) -> Result<UsageSummary, ServiceError> {
    caller.authorize(Action::RecordUsage)?;
    let mut keys = UsageKeys::new();
    let mut records = Vec::with_capacity(inputs.len());
    for (index, r) in inputs.iter().enumerate() {
        let record = usage::parse_record(&r.date, &r.team, &r.metric, &r.quantity).map_err(
            |(field, expected)| ServiceError::BadUsageRecord {
                index,
                field,
                expected,
                found: match field {
                    "date" => r.date.clone(),
                    "team" => r.team.clone(),
                    "metric" => r.metric.clone(),
                    _ => r.quantity.clone(),
                },
            },
        )?;
        if keys.insert(&record, index).is_err() {
            return Err(ServiceError::DuplicateUsageRecord {
                index,
                key: format!("{} {} {}", record.date, record.team, record.metric),
            });
        }
        records.push(record);
    }
    let summary = store_records(store, &records, wait).await?;
    audit_usage(store, caller, &summary, serde_json::Value::Null).await;
    Ok(summary)
}

async fn store_records(
    store: &Store,
    records: &[UsageRecord],
    wait: Option<Duration>,
) -> Result<UsageSummary, ServiceError> {
    let changed_months = store.upsert_usage_waiting(records, wait).await?;
    let mut months: Vec<Month> = records.iter().map(|r| Month::of(r.date)).collect();
    months.sort();
    months.dedup();
    Ok(UsageSummary {
        records: records.len() as u64,
        months,
        changed_months,
    })
}
