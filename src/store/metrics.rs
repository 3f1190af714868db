//! Business-metric points: upserted per (metric, scope, day or month),
//! counted as added, replaced or unchanged; each change recorded per
//! metric and month in `metric_changes`.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, NaiveDate, Utc};
use sqlx::QueryBuilder;

use super::{DbDecimal, INSERT_BATCH, Result, Store, StoreError};
use crate::domain::{MetricName, MetricPoint, MetricScope, Month, PointDate};

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
                let stored: HashMap<(String, String, NaiveDate), rust_decimal::Decimal> = stored
                    .into_iter()
                    .map(|r| ((r.scope, r.period, r.day), r.value.0))
                    .collect();
                let mut changed: Vec<&MetricPoint> = Vec::new();
                for p in group {
                    let (period, day, _) = columns(p.date);
                    match stored.get(&(p.scope.key(), period.to_string(), day)) {
                        None => {
                            write.added += 1;
                            changed.push(p);
                        }
                        Some(v) if *v == p.value => write.unchanged += 1,
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
                sqlx::query(
                    "INSERT INTO metric_changes (metric, month, changed_at, version) VALUES ($1, $2, $3, 1) \
                     ON CONFLICT (metric, month) DO UPDATE SET changed_at = excluded.changed_at, version = metric_changes.version + 1",
                )
                .bind(metric.as_str())
                .bind(month.to_string())
                .bind(now)
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
