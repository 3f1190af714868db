//! Business metrics in: points from CSV files or the API, checked whole
//! against the declared metrics, then stored in one transaction. The same
//! point twice is stored once; a later value for a point replaces it.

use std::collections::BTreeMap;
use std::path::PathBuf;

use super::{Action, Caller, ServiceError};
use crate::domain::{MetricDef, MetricName, MetricPoint, Month, PointKeys, Seen};
use crate::importers::{ImportError, metrics};
use crate::store::Store;

/// The declared metrics, by name.
pub type Declared = BTreeMap<MetricName, MetricDef>;

/// What a metrics import did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MetricsSummary {
    /// Distinct points in the batch (a point given twice counts once).
    pub points: u64,
    pub added: u64,
    pub replaced: u64,
    pub unchanged: u64,
    /// Months whose points changed, per metric: their unit costs changed.
    pub changed: Vec<(MetricName, Month)>,
}

/// Imports metrics files (see `importers::metrics`): all are checked
/// before any is stored, then stored in one transaction.
pub async fn import_files(
    store: &Store,
    caller: &Caller,
    declared: &Declared,
    paths: &[PathBuf],
) -> Result<MetricsSummary, ServiceError> {
    caller.authorize(Action::RecordMetrics)?;
    if paths.is_empty() {
        return Err(ImportError::NoFiles.into());
    }
    read_and_store(store, declared, paths, None).await
}

/// Reads `paths` whole, then stores their points in one transaction that
/// also records them in source run `run`, if given.
pub(super) async fn read_and_store(
    store: &Store,
    declared: &Declared,
    paths: &[PathBuf],
    run: Option<i64>,
) -> Result<MetricsSummary, ServiceError> {
    let mut keys = PointKeys::new();
    let mut points = Vec::new();
    for path in paths {
        points.extend(metrics::read(path, declared, &mut keys)?);
    }
    store_points(store, &points, run).await
}

/// One point as a client sends it: texts, parsed here (the scope may be
/// absent: the organisation).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PointInput {
    pub date: String,
    pub metric: String,
    pub value: String,
    pub scope: String,
}

/// Records `inputs`, checked whole first.
pub async fn record(
    store: &Store,
    caller: &Caller,
    declared: &Declared,
    inputs: &[PointInput],
) -> Result<MetricsSummary, ServiceError> {
    caller.authorize(Action::RecordMetrics)?;
    let mut keys = PointKeys::new();
    let mut points = Vec::with_capacity(inputs.len());
    for (index, p) in inputs.iter().enumerate() {
        let point = metrics::parse_point(declared, &p.date, &p.metric, &p.value, &p.scope)
            .map_err(|bad| ServiceError::BadMetricPoint {
                index,
                field: bad.column,
                expected: bad.expected,
                found: bad.found,
            })?;
        match keys.insert(&point, index) {
            Seen::New => points.push(point),
            Seen::Repeated => {}
            Seen::Conflict(first) => {
                return Err(ServiceError::ConflictingMetricPoint {
                    index,
                    first,
                    key: format!("{} {} {}", point.date, point.metric, point.scope),
                });
            }
        }
    }
    store_points(store, &points, None).await
}

async fn store_points(
    store: &Store,
    points: &[MetricPoint],
    run: Option<i64>,
) -> Result<MetricsSummary, ServiceError> {
    let write = store.upsert_metric_points(points, run).await?;
    Ok(MetricsSummary {
        points: points.len() as u64,
        added: write.added,
        replaced: write.replaced,
        unchanged: write.unchanged,
        changed: write.changed,
    })
}
