//! Business-metric points: upserted per (metric, scope, day or month),
//! counted as added, replaced or unchanged; each change recorded per
//! metric and month in `metric_changes`. With the points of a metric's
//! month, its month value per scope and aggregation is stored
//! (`metric_months`), so unit costs read one row per scope and month
//! instead of every day's point.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use sqlx::QueryBuilder;

use super::allocations::ScaledDecimal;
use super::{DbDecimal, INSERT_BATCH, Result, Store, StoreError};
use crate::domain::{Aggregation, MetricName, MetricPoint, MetricScope, Month, PointDate};
use crate::engine::unit_cost::{MonthValue, month_values};

/// The format of a metric's month's `metric_months` rows
/// (`metric_changes.summary_format`). Raise it whenever
/// `engine::unit_cost::month_values` would make another value of the same
/// points, or an aggregation is added: months stored with another format
/// are then read from their points until points of theirs are stored
/// again. 0 is a month without `metric_months` rows.
pub const METRIC_MONTHS_FORMAT: i64 = 1;

/// A scope's month values by each aggregation, as stored in
/// `metric_months`.
#[derive(Clone, Debug, PartialEq, Eq)]
struct MonthFigures {
    from_month_point: bool,
    sum: Decimal,
    average: Decimal,
    last: Decimal,
}

impl MonthFigures {
    /// The figures of one scope's points of `month` (as they are read
    /// back: values normalised); `None` without any.
    fn of(month: Month, points: &[MetricPoint]) -> Option<MonthFigures> {
        let value = |aggregation| month_values(aggregation, points).remove(&month);
        let sum = value(Aggregation::Sum)?;
        Some(MonthFigures {
            from_month_point: sum.from_month_point,
            sum: sum.value,
            average: value(Aggregation::Average)?.value,
            last: value(Aggregation::Last)?.value,
        })
    }
}

/// Month values per metric and scope, by month.
pub type MetricMonthValues = BTreeMap<(MetricName, MetricScope), BTreeMap<Month, MonthValue>>;

/// What storing a batch of points did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MetricWrite {
    /// Points that were not stored before.
    pub added: u64,
    /// Points stored before with another value, now replaced.
    pub replaced: u64,
    /// Points stored before with the same value.
    pub unchanged: u64,
    /// (metric, month) whose points changed.
    pub changed: Vec<(MetricName, Month)>,
}

/// When a metric's points of a month last changed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MetricChange {
    pub metric: MetricName,
    pub month: Month,
    pub changed_at: DateTime<Utc>,
}

/// A `metric_points` row.
#[derive(sqlx::FromRow)]
struct RawPoint {
    metric: String,
    scope: String,
    period: String,
    day: NaiveDate,
    value: DbDecimal,
}

impl TryFrom<RawPoint> for MetricPoint {
    type Error = StoreError;

    fn try_from(r: RawPoint) -> Result<MetricPoint> {
        let corrupt = |what: &str| StoreError::Corrupt(format!("metric point {what}"));
        let date = match r.period.as_str() {
            "day" => PointDate::Day(r.day),
            "month" => PointDate::Month(Month::of(r.day)),
            other => return Err(corrupt(&format!("period `{other}`"))),
        };
        Ok(MetricPoint {
            metric: MetricName::parse(&r.metric).map_err(|e| StoreError::Corrupt(e.to_string()))?,
            scope: MetricScope::parse(&r.scope)
                .ok_or_else(|| corrupt(&format!("scope `{}`", r.scope)))?,
            date,
            value: r.value.0,
        })
    }
}

/// The columns a point is stored in: period, day, month.
fn columns(date: PointDate) -> (&'static str, NaiveDate, String) {
    match date {
        PointDate::Day(d) => ("day", d, Month::of(d).to_string()),
        PointDate::Month(m) => ("month", m.first_day(), m.to_string()),
    }
}

impl Store {
    /// Stores metric points in one transaction: a point not stored before
    /// is added, one stored with another value is replaced, one stored
    /// with the same value is left as it is. The batch must hold each
    /// point once (see `domain::PointKeys`). With `run`, that source run's
    /// record says, in the same transaction, that its points are stored.
    pub async fn upsert_metric_points(
        &self,
        points: &[MetricPoint],
        run: Option<i64>,
    ) -> Result<MetricWrite> {
        // Grouped by (metric, month): the stored points of each are read once.
        let mut groups: BTreeMap<(MetricName, Month), Vec<&MetricPoint>> = BTreeMap::new();
        for p in points {
            groups
                .entry((p.metric.clone(), p.date.month()))
                .or_default()
                .push(p);
        }
        let now = Utc::now();
        let mut write = MetricWrite::default();
        with_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            for ((metric, month), group) in &groups {
                let stored: Vec<RawPoint> = sqlx::query_as(
                    "SELECT metric, scope, period, day, value FROM metric_points WHERE metric = $1 AND month = $2",
                )
                .bind(metric.as_str())
                .bind(month.to_string())
                .fetch_all(&mut *tx)
                .await?;
                let stored: HashMap<(String, String, NaiveDate), RawPoint> = stored
                    .into_iter()
                    .map(|r| ((r.scope.clone(), r.period.clone(), r.day), r))
                    .collect();
                let mut changed: Vec<&MetricPoint> = Vec::new();
                for p in group {
                    let (period, day, _) = columns(p.date);
                    match stored.get(&(p.scope.key(), period.to_string(), day)).map(|r| r.value.0) {
                        None => {
                            write.added += 1;
                            changed.push(p);
                        }
                        Some(v) if v == p.value => write.unchanged += 1,
                        Some(_) => {
                            write.replaced += 1;
                            changed.push(p);
                        }
                    }
                }
                if changed.is_empty() {
                    continue;
                }
                for chunk in changed.chunks(INSERT_BATCH) {
                    let mut qb = QueryBuilder::new(
                        "INSERT INTO metric_points (metric, scope, period, day, month, value, updated_at) ",
                    );
                    qb.push_values(chunk, |mut b, p| {
                        let (period, day, month) = columns(p.date);
                        b.push_bind(p.metric.as_str().to_string())
                            .push_bind(p.scope.key())
                            .push_bind(period)
                            .push_bind(day)
                            .push_bind(month)
                            .push_bind(DbDecimal(p.value))
                            .push_bind(now);
                    });
                    qb.push(
                        " ON CONFLICT (metric, scope, period, day) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
                    );
                    qb.build().execute(&mut *tx).await?;
                }
                let figures = month_figures(*month, stored, &changed)?;
                sqlx::query("DELETE FROM metric_months WHERE metric = $1 AND month = $2")
                    .bind(metric.as_str())
                    .bind(month.to_string())
                    .execute(&mut *tx)
                    .await?;
                let figures: Vec<(String, MonthFigures)> = figures.into_iter().collect();
                for chunk in figures.chunks(INSERT_BATCH) {
                    let mut qb = QueryBuilder::new(
                        "INSERT INTO metric_months (metric, scope, month, from_month_point, sum_value, average_value, last_value) ",
                    );
                    qb.push_values(chunk, |mut b, (scope, f)| {
                        b.push_bind(metric.as_str().to_string())
                            .push_bind(scope.clone())
                            .push_bind(month.to_string())
                            .push_bind(f.from_month_point)
                            .push_bind(ScaledDecimal(f.sum))
                            .push_bind(ScaledDecimal(f.average))
                            .push_bind(ScaledDecimal(f.last));
                    });
                    qb.build().execute(&mut *tx).await?;
                }
                sqlx::query(
                    "INSERT INTO metric_changes (metric, month, changed_at, version, summary_format) VALUES ($1, $2, $3, 1, $4) \
                     ON CONFLICT (metric, month) DO UPDATE SET changed_at = excluded.changed_at, version = metric_changes.version + 1, \
                     summary_format = excluded.summary_format",
                )
                .bind(metric.as_str())
                .bind(month.to_string())
                .bind(now)
                .bind(METRIC_MONTHS_FORMAT)
                .execute(&mut *tx)
                .await?;
                write.changed.push((metric.clone(), *month));
            }
            if let Some(run) = run {
                let months: Vec<String> = write.changed.iter().map(|(_, m)| m.to_string()).collect::<std::collections::BTreeSet<_>>().into_iter().collect();
                sqlx::query("UPDATE import_runs SET metrics_stored = TRUE, rows_read = $1, months = $2 WHERE id = $3")
                    .bind(points.len() as i64)
                    .bind(months.join(","))
                    .bind(run)
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
        });
        Ok(write)
    }

    /// The points of `metric` dated in `from..=to`, every scope.
    pub async fn metric_points(
        &self,
        metric: &MetricName,
        from: Month,
        to: Month,
    ) -> Result<Vec<MetricPoint>> {
        with_pool!(self, pool => {
            let rows: Vec<RawPoint> = sqlx::query_as(
                "SELECT metric, scope, period, day, value FROM metric_points \
                 WHERE metric = $1 AND month >= $2 AND month <= $3 ORDER BY scope, day, period",
            )
            .bind(metric.as_str())
            .bind(from.to_string())
            .bind(to.to_string())
            .fetch_all(pool)
            .await?;
            rows.into_iter().map(MetricPoint::try_from).collect()
        })
    }

    /// The points of every metric dated in `from..=to`.
    pub async fn all_metric_points(&self, from: Month, to: Month) -> Result<Vec<MetricPoint>> {
        with_pool!(self, pool => {
            let rows: Vec<RawPoint> = sqlx::query_as(
                "SELECT metric, scope, period, day, value FROM metric_points \
                 WHERE month >= $1 AND month <= $2 ORDER BY metric, scope, day, period",
            )
            .bind(from.to_string())
            .bind(to.to_string())
            .fetch_all(pool)
            .await?;
            rows.into_iter().map(MetricPoint::try_from).collect()
        })
    }

    /// The points of `metric` for `scope` dated in `from..=to`.
    pub async fn scope_metric_points(
        &self,
        metric: &MetricName,
        scope: &MetricScope,
        from: Month,
        to: Month,
    ) -> Result<Vec<MetricPoint>> {
        with_pool!(self, pool => {
            let rows: Vec<RawPoint> = sqlx::query_as(
                "SELECT metric, scope, period, day, value FROM metric_points \
                 WHERE metric = $1 AND scope = $2 AND month >= $3 AND month <= $4 ORDER BY day, period",
            )
            .bind(metric.as_str())
            .bind(scope.key())
            .bind(from.to_string())
            .bind(to.to_string())
            .fetch_all(pool)
            .await?;
            rows.into_iter().map(MetricPoint::try_from).collect()
        })
    }

    /// The month values of `metrics` (each by its aggregation) in
    /// `from..=to` per metric and scope (`scope` only, when given), as
    /// `engine::unit_cost::month_values` makes them from the points (the
    /// values' `days` are not filled in). Read from `metric_months`, or
    /// for a month stored without them (before they existed) from its
    /// points.
    pub async fn metric_month_values(
        &self,
        metrics: &BTreeMap<MetricName, Aggregation>,
        scope: Option<&MetricScope>,
        from: Month,
        to: Month,
    ) -> Result<MetricMonthValues> {
        #[derive(sqlx::FromRow)]
        struct RawMonth {
            metric: String,
            month: String,
        }
        let corrupt = |e: &dyn std::fmt::Display| StoreError::Corrupt(e.to_string());
        let parse_month = |m: &str| Month::parse(m).map_err(|e| corrupt(&e));
        let parse_metric = |m: &str| MetricName::parse(m).map_err(|e| corrupt(&e));
        if metrics.is_empty() {
            return Ok(MetricMonthValues::new());
        }
        let mut out = MetricMonthValues::new();
        // A summary reads thousands of rows of a few hundred scopes: each
        // metric and scope is parsed once, and columns are read in place.
        let mut names: HashMap<String, Option<(MetricName, Aggregation)>> = HashMap::new();
        let mut scopes: HashMap<String, MetricScope> = HashMap::new();
        let mut read: Vec<(MetricName, MetricScope, Month, MonthValue)> = Vec::new();
        let unsummarised = with_pool!(self, pool => {
            let unsummarised: Vec<RawMonth> = sqlx::query_as(
                "SELECT metric, month FROM metric_changes WHERE month >= $1 AND month <= $2 AND summary_format <> $3",
            )
            .bind(from.to_string())
            .bind(to.to_string())
            .bind(METRIC_MONTHS_FORMAT)
            .fetch_all(pool)
            .await?;
            let mut qb = QueryBuilder::new(
                "SELECT metric, scope, month, from_month_point, sum_value, average_value, last_value FROM metric_months WHERE month >= ",
            );
            qb.push_bind(from.to_string()).push(" AND month <= ").push_bind(to.to_string());
            // One scope's by its index; every scope's by the month range
            // (a condition on the metric would lead SQLite to that index,
            // over every month): other metrics are left out below.
            if let Some(scope) = scope {
                qb.push(" AND scope = ").push_bind(scope.key()).push(" AND metric IN (");
                let mut list = qb.separated(", ");
                for name in metrics.keys() {
                    list.push_bind(name.as_str().to_string());
                }
                qb.push(")");
            }
            for row in qb.build().fetch_all(pool).await? {
                use sqlx::Row;
                let name: &str = row.try_get(0)?;
                let known = match names.get(name) {
                    Some(known) => known.clone(),
                    None => {
                        let metric = parse_metric(name)?;
                        let known = metrics.get(&metric).map(|a| (metric, *a));
                        names.insert(name.to_string(), known.clone());
                        known
                    }
                };
                // Metrics not asked for (no longer declared) are left out.
                let Some((metric, aggregation)) = known else { continue };
                let key: &str = row.try_get(1)?;
                let scope = match scopes.get(key) {
                    Some(scope) => scope.clone(),
                    None => {
                        let scope = MetricScope::parse(key)
                            .ok_or_else(|| StoreError::Corrupt(format!("metric month scope `{key}`")))?;
                        scopes.insert(key.to_string(), scope.clone());
                        scope
                    }
                };
                let month = parse_month(row.try_get::<&str, _>(2)?)?;
                let column = match aggregation {
                    Aggregation::Sum => 4,
                    Aggregation::Average => 5,
                    Aggregation::Last => 6,
                };
                let value: ScaledDecimal = row.try_get(column)?;
                let value = MonthValue {
                    value: value.0,
                    from_month_point: row.try_get(3)?,
                    days: Vec::new(),
                };
                read.push((metric, scope, month, value));
            }
            unsummarised
        });
        let mut from_points: BTreeSet<(MetricName, Month)> = BTreeSet::new();
        for r in unsummarised {
            let metric = parse_metric(&r.metric)?;
            if metrics.contains_key(&metric) {
                from_points.insert((metric, parse_month(&r.month)?));
            }
        }
        for (metric, scope, month, value) in read {
            // A month summarised while it was being read is read from its
            // points below, like the rest of those.
            if !from_points.contains(&(metric.clone(), month)) {
                out.entry((metric, scope)).or_default().insert(month, value);
            }
        }
        for (metric, month) in from_points {
            let points = match scope {
                Some(scope) => {
                    self.scope_metric_points(&metric, scope, month, month)
                        .await?
                }
                None => self.metric_points(&metric, month, month).await?,
            };
            let mut by_scope: BTreeMap<MetricScope, Vec<MetricPoint>> = BTreeMap::new();
            for p in points {
                by_scope.entry(p.scope.clone()).or_default().push(p);
            }
            let aggregation = metrics[&metric];
            for (scope, points) in by_scope {
                if let Some(value) = month_values(aggregation, &points).remove(&month) {
                    out.entry((metric.clone(), scope))
                        .or_default()
                        .insert(month, value);
                }
            }
        }
        Ok(out)
    }

    /// When each metric's points of a month in `from..=to` last changed.
    pub async fn metric_changes(&self, from: Month, to: Month) -> Result<Vec<MetricChange>> {
        #[derive(sqlx::FromRow)]
        struct Raw {
            metric: String,
            month: String,
            changed_at: DateTime<Utc>,
        }
        with_pool!(self, pool => {
            let rows: Vec<Raw> = sqlx::query_as(
                "SELECT metric, month, changed_at FROM metric_changes WHERE month >= $1 AND month <= $2 ORDER BY metric, month",
            )
            .bind(from.to_string())
            .bind(to.to_string())
            .fetch_all(pool)
            .await?;
            rows.into_iter()
                .map(|r| {
                    Ok(MetricChange {
                        metric: MetricName::parse(&r.metric).map_err(|e| StoreError::Corrupt(e.to_string()))?,
                        month: Month::parse(&r.month).map_err(|e| StoreError::Corrupt(e.to_string()))?,
                        changed_at: r.changed_at,
                    })
                })
                .collect()
        })
    }
}

/// The month figures of every scope of a metric's month after an upsert:
/// its `stored` points with the `changed` ones stored over them, each
/// value as it is read back (normalised).
fn month_figures(
    month: Month,
    stored: HashMap<(String, String, NaiveDate), RawPoint>,
    changed: &[&MetricPoint],
) -> Result<BTreeMap<String, MonthFigures>> {
    let mut points: HashMap<(String, String, NaiveDate), MetricPoint> = HashMap::new();
    for (key, raw) in stored {
        points.insert(key, MetricPoint::try_from(raw)?);
    }
    for p in changed {
        let (period, day, _) = columns(p.date);
        let point = MetricPoint {
            value: p.value.normalize(),
            ..(*p).clone()
        };
        points.insert((p.scope.key(), period.to_string(), day), point);
    }
    let mut by_scope: BTreeMap<String, Vec<MetricPoint>> = BTreeMap::new();
    for ((scope, _, _), p) in points {
        by_scope.entry(scope).or_default().push(p);
    }
    Ok(by_scope
        .into_iter()
        .filter_map(|(scope, points)| MonthFigures::of(month, &points).map(|f| (scope, f)))
        .collect())
}
