//! Business-metric importer: CSV with the columns `date,metric,value` and
//! an optional `scope` (any order, a header row). `date` is a day
//! (`2026-10-05`) or a month (`2026-10`); `value` an exact non-negative
//! decimal; `scope` empty (the organisation), `team:NAME`, `group:NAME` or
//! `environment:NAME`. Every metric must be declared (`[[metric]]` in
//! `allot.toml`). The files are checked completely before anything is
//! stored (`service::metrics` stores them, in one transaction).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use rust_decimal::Decimal;

use super::ImportError;
use super::values::decimal;
use crate::domain::{
    MetricDef, MetricName, MetricPoint, MetricScope, PointDate, PointKeys, SCOPE_EXPECTED, Seen,
};

/// One metric a `prometheus` or `sql` source reads, and how.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MetricQuery {
    pub metric: MetricName,
    /// PromQL or SQL, as configured.
    pub query: String,
    /// `prometheus`: the label whose value gives each series' scope
    /// (without it, the query's one series is the organisation).
    pub scope: Option<ScopeLabel>,
}

/// A label whose value names a team, group or environment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScopeLabel {
    pub label: String,
    /// `team`, `group` or `environment`: what the values name.
    pub kind: &'static str,
}

impl ScopeLabel {
    /// A label name as Prometheus spells them, and what its values name
    /// (`team` when not given).
    pub fn new(label: &str, kind: Option<&str>) -> Result<ScopeLabel, String> {
        let valid = label
            .bytes()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == b'_')
            && label.len() <= 128
            && label
                .bytes()
                .all(|c| c.is_ascii_alphanumeric() || c == b'_');
        if !valid {
            return Err(format!(
                "expected `scope_label` to be a label name such as \"team\", found `{label}`"
            ));
        }
        let kind = match kind.map(str::trim) {
            None | Some("team") => "team",
            Some("group") => "group",
            Some("environment") => "environment",
            Some(other) => {
                return Err(format!(
                    "expected `scope_kind` `team`, `group` or `environment`, found `{other}`"
                ));
            }
        };
        Ok(ScopeLabel {
            label: label.to_string(),
            kind,
        })
    }

    /// The scope text (`team:checkout`) of a label value.
    pub fn scope_of(&self, value: &str) -> String {
        format!("{}:{value}", self.kind)
    }
}

const EXPECTED: &str = "a metrics file with the columns date,metric,value[,scope]";

/// Where a metric point was read: a file and its line.
pub type PointAt = (PathBuf, u64);

/// A cell that is wrong: its column, what it should hold, what it holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BadCell {
    pub column: &'static str,
    pub expected: String,
    pub found: String,
}

/// Reads and checks a metrics CSV file, one of a batch whose points `keys`
/// holds. Points repeated with the same value are kept once; the same
/// point with two values is an error naming both rows.
pub fn read(
    path: &Path,
    declared: &BTreeMap<MetricName, MetricDef>,
    keys: &mut PointKeys<PointAt>,
) -> Result<Vec<MetricPoint>, ImportError> {
    let mut csv = super::open_small_csv(path)?;
    let headers = csv.headers().clone();
    let index = super::HeaderIndex::new(path, &headers, super::plain_column_key, |_| true);
    let col = |name: &str| {
        index.get(name).ok_or_else(|| ImportError::MissingColumn {
            path: path.to_path_buf(),
            column: name.to_string(),
            expected: EXPECTED,
        })
    };
    let (date_col, metric_col, value_col) = (col("date")?, col("metric")?, col("value")?);
    let scope_col = index.get("scope");
    index.finish()?;
    let mut points = Vec::new();
    let mut record = csv::StringRecord::new();
    while csv.read(&mut record)? {
        let line = record.position().map(|p| p.line()).unwrap_or(0);
        let get = |i: usize| record.get(i).unwrap_or("");
        let err = |bad: BadCell| ImportError::Value {
            path: path.to_path_buf(),
            line,
            column: bad.column.to_string(),
            expected: bad.expected,
            found: bad.found,
        };
        let scope = scope_col.map(get).unwrap_or("");
        let point = parse_point(
            declared,
            get(date_col),
            get(metric_col),
            get(value_col),
            scope,
        )
        .map_err(err)?;
        match keys.insert(&point, (path.to_path_buf(), line)) {
            Seen::New => points.push(point),
            Seen::Repeated => {}
            Seen::Conflict((file, first)) => {
                let place = if file == path {
                    format!("line {first}")
                } else {
                    format!("`{}` line {first}", file.display())
                };
                return Err(err(BadCell {
                    column: "value",
                    expected: format!(
                        "one value per date, metric and scope ({place} has another for {} {} {})",
                        point.date, point.metric, point.scope
                    ),
                    found: get(value_col).to_string(),
                }));
            }
        }
    }
    Ok(points)
}

/// A metric point from its four cells, checked against the declared
/// metrics, or the cell that is wrong.
pub fn parse_point(
    declared: &BTreeMap<MetricName, MetricDef>,
    date: &str,
    metric: &str,
    value: &str,
    scope: &str,
) -> Result<MetricPoint, BadCell> {
    let bad = |column: &'static str, expected: &str, found: &str| BadCell {
        column,
        expected: expected.to_string(),
        found: found.to_string(),
    };
    let date = PointDate::parse(date)
        .ok_or_else(|| bad("date", "a day `YYYY-MM-DD` or a month `YYYY-MM`", date))?;
    let name = MetricName::parse(metric)
        .map_err(|_| bad("metric", "a metric name such as `orders`", metric))?;
    if !declared.contains_key(&name) {
        let expected = if declared.is_empty() {
            "a metric declared with `[[metric]]` in allot.toml (none is declared)".to_string()
        } else {
            let names: Vec<String> = declared.keys().map(|m| format!("`{m}`")).collect();
            format!(
                "a metric declared with `[[metric]]` in allot.toml ({})",
                names.join(", ")
            )
        };
        return Err(BadCell {
            column: "metric",
            expected,
            found: metric.to_string(),
        });
    }
    let value = decimal(value)
        .filter(|v| *v >= Decimal::ZERO)
        .ok_or_else(|| bad("value", "a non-negative decimal number", value))?;
    let scope = MetricScope::parse(scope).ok_or_else(|| bad("scope", SCOPE_EXPECTED, scope))?;
    Ok(MetricPoint {
        metric: name,
        scope,
        date,
        value: value.normalize(),
    })
}

/// The most points one `prometheus` or `sql` source run may read.
pub const MAX_PULLED_POINTS: usize = 1_000_000;

/// Points read from a `prometheus` or `sql` source, checked as file rows
/// are: each against the declared metrics, and the same point twice with
/// two values is an error.
pub struct Collected<'d> {
    declared: &'d BTreeMap<MetricName, MetricDef>,
    /// Names the source in errors: "prometheus source `prom`".
    service: String,
    /// The first value of each point (for the error of a second one).
    keys: PointKeys<Decimal>,
    points: Vec<MetricPoint>,
}

/// At most `n` characters of `text`, marked when cut.
fn shortened(text: &str, n: usize) -> String {
    match text.char_indices().nth(n) {
        Some((end, _)) => format!("{}...", &text[..end]),
        None => text.to_string(),
    }
}

impl<'d> Collected<'d> {
    pub fn new(declared: &'d BTreeMap<MetricName, MetricDef>, service: String) -> Self {
        Collected {
            declared,
            service,
            keys: PointKeys::new(),
            points: Vec::new(),
        }
    }

    /// An error of this source.
    pub fn error(&self, message: String) -> ImportError {
        ImportError::Remote {
            service: self.service.clone(),
            message,
        }
    }

    /// Adds one point read at `at` (a row, a series and day: only made
    /// for an error), or says which of its cells is wrong.
    pub fn push(
        &mut self,
        date: &str,
        metric: &MetricName,
        value: &str,
        scope: &str,
        at: impl Fn() -> String,
    ) -> Result<(), ImportError> {
        if self.points.len() >= MAX_PULLED_POINTS {
            return Err(self.error(format!(
                "more than {MAX_PULLED_POINTS} points in one run: aggregate the queries, or read fewer days"
            )));
        }
        let point =
            parse_point(self.declared, date, metric.as_str(), value, scope).map_err(|bad| {
                self.error(format!(
                    "{}: {}: expected {}, found `{}`",
                    at(),
                    bad.column,
                    bad.expected,
                    shortened(&bad.found, 100)
                ))
            })?;
        match self.keys.insert(&point, point.value) {
            Seen::New => self.points.push(point),
            Seen::Repeated => {}
            Seen::Conflict(first) => {
                return Err(self.error(format!(
                    "{} gives {} for {} {} {}, which an earlier row or series gave as {first}: each date, metric and scope has one value",
                    at(),
                    point.value,
                    point.date,
                    point.metric,
                    point.scope
                )));
            }
        }
        Ok(())
    }

    /// How many points so far.
    pub fn len(&self) -> usize {
        self.points.len()
    }

    pub fn is_empty(&self) -> bool {
        self.points.is_empty()
    }

    pub fn into_points(self) -> Vec<MetricPoint> {
        self.points
    }
}
