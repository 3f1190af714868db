//! Business metrics in: points from CSV files or the API, checked whole
//! against the declared metrics, then stored in one transaction. The same
//! point twice is stored once; a later value for a point replaces it.

use std::collections::BTreeMap;
use std::path::PathBuf;

use chrono::NaiveDate;

use super::{Action, Caller, ServiceError};
use crate::config::{MetricPull, Source, SourceKind, SourceUrl, url_fits};
use crate::domain::{MetricDef, MetricName, MetricPoint, Month, PointKeys, Seen};
use crate::importers::metrics::Collected;
use crate::importers::{ImportError, metrics, prometheus};
use crate::store::{Store, foreign};

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

impl MetricsSummary {
    /// The months whose points changed, of any metric.
    pub fn months(&self) -> Vec<Month> {
        let mut months: Vec<Month> = self.changed.iter().map(|(_, m)| *m).collect();
        months.sort();
        months.dedup();
        months
    }
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
    let summary = read_and_store(store, declared, paths, None).await?;
    let files: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
    audit_points(store, caller, &summary, serde_json::json!(files)).await;
    Ok(summary)
}

async fn audit_points(
    store: &Store,
    caller: &Caller,
    s: &MetricsSummary,
    files: serde_json::Value,
) {
    let months: Vec<String> = s.months().iter().map(|m| m.to_string()).collect();
    super::audit::record(
        store,
        caller,
        "metrics.record",
        "metrics",
        serde_json::json!({
            "points": s.points, "added": s.added, "replaced": s.replaced,
            "unchanged": s.unchanged, "files": files, "months_changed": months,
        }),
    )
    .await;
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
    let summary = store_points(store, &points, None).await?;
    audit_points(store, caller, &summary, serde_json::Value::Null).await;
    Ok(summary)
}

/// Reads the metrics of a `prometheus` or `sql` source (for Prometheus,
/// the complete days before `today`), then stores them in one
/// transaction recorded in run `run`.
pub(super) async fn pull_and_store(
    store: &Store,
    declared: &Declared,
    source: &Source,
    today: NaiveDate,
    run: Option<i64>,
) -> Result<MetricsSummary, ServiceError> {
    let pull = source
        .pull
        .as_ref()
        .ok_or_else(|| ServiceError::EmptySource(source.path.clone()))?;
    let points = match source.kind {
        SourceKind::Prometheus => pull_prometheus(declared, &source.name, pull, today).await?,
        _ => pull_sql(declared, &source.name, pull).await?,
    };
    if points.is_empty() {
        tracing::warn!(source = %source.name, "the source's queries returned no points: check their metric names and filters");
    }
    store_points(store, &points, run).await
}

async fn pull_prometheus(
    declared: &Declared,
    name: &str,
    pull: &MetricPull,
    today: NaiveDate,
) -> Result<Vec<MetricPoint>, ServiceError> {
    let service = format!("prometheus source `{name}`");
    let base = pull.url.resolve().map_err(|message| ImportError::Remote {
        service: service.clone(),
        message,
    })?;
    let client = prometheus::client()?;
    let window = prometheus::window(today, pull.lookback_days);
    Ok(prometheus::fetch(&client, name, &base, &pull.queries, declared, window).await?)
}

/// The source's URL now; one from the environment is checked as one
/// written in allot.toml is (and never shown: it may hold a password).
fn resolved(pull: &MetricPull, kind: SourceKind) -> Result<String, String> {
    let url = pull.url.resolve()?;
    if matches!(pull.url, SourceUrl::Env(_)) && !url_fits(kind, &url) {
        let expected = if kind == SourceKind::Prometheus {
            "an http:// or https:// base URL without a query string"
        } else {
            "a postgres:// URL"
        };
        return Err(format!("the source's `url_env` does not hold {expected}"));
    }
    Ok(url)
}

/// Each query's rows are `date, value[, scope]`, checked like a file's.
async fn pull_sql(
    declared: &Declared,
    name: &str,
    pull: &MetricPull,
) -> Result<Vec<MetricPoint>, ServiceError> {
    let mut points = Collected::new(declared, format!("sql source `{name}`"));
    let url = resolved(pull, SourceKind::Sql).map_err(|m| points.error(m))?;
    for q in &pull.queries {
        let metric = &q.metric;
        let rows = foreign::query_postgres(&url, &q.query)
            .await
            .map_err(|e| points.error(format!("metric `{metric}`: {e}")))?;
        if !rows.rows.is_empty() && !(2..=3).contains(&rows.columns.len()) {
            return Err(points
                .error(format!(
                    "metric `{metric}`: the query returns the columns ({}): expected `date, value` or `date, value, scope`",
                    rows.columns.join(", ")
                ))
                .into());
        }
        for (n, row) in rows.rows.iter().enumerate() {
            let at = || format!("metric `{metric}` row {}", n + 1);
            let [date, value] = [&row[0], &row[1]].map(|c| c.as_deref());
            let (Some(date), Some(value)) = (date, value) else {
                let column = if date.is_none() { "date" } else { "value" };
                return Err(points
                    .error(format!(
                        "{}: `{column}` is NULL: filter such rows out or use coalesce()",
                        at()
                    ))
                    .into());
            };
            let scope = match row.get(2) {
                None => "",
                Some(Some(scope)) => scope.as_str(),
                Some(None) => {
                    return Err(points
                        .error(format!(
                            "{}: `scope` is NULL: return `''` for the organisation, or leave out rows without a scope (the organisation's total is a query of its own)",
                            at()
                        ))
                        .into());
                }
            };
            points.push(date, metric, value, scope, at)?;
        }
    }
    Ok(points.into_points())
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
