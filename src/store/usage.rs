//! Usage metrics: upserted per (day, team, metric); a change raises the
//! version of the month it falls in.

use std::collections::BTreeMap;

use chrono::{NaiveDate, Utc};
use sqlx::QueryBuilder;

use super::{
    DbDecimal, INSERT_BATCH, Result, SQLITE_BUSY_TIMEOUT, Store, StoreError, bump_version, busy,
};
use crate::domain::{Metric, Month, TeamId, UsageRecord};

impl Store {
    /// Stores usage records in one transaction. A record for a (day, team,
    /// metric) already stored replaces it, so importing the same figures
    /// twice changes nothing. Returns the months whose figures changed:
    /// their version goes up with the change, so their allocations (whose
    /// usage splits read these figures) are stale.
    pub async fn upsert_usage(&self, records: &[UsageRecord]) -> Result<Vec<Month>> {
        self.upsert_usage_waiting(records, None).await
    }

    /// [`Store::upsert_usage`], waiting at most `wait` for the write lock
    /// on SQLite (where one writer at a time holds it, an import for its
    /// whole length): past it, [`StoreError::Busy`]. `None` waits as long
    /// as any write does.
    pub async fn upsert_usage_waiting(
        &self,
        records: &[UsageRecord],
        wait: Option<std::time::Duration>,
    ) -> Result<Vec<Month>> {
        let mut by_month: BTreeMap<Month, Vec<&UsageRecord>> = BTreeMap::new();
        for r in records {
            by_month.entry(Month::of(r.date)).or_default().push(r);
        }
        let now = Utc::now();
        let mut changed = Vec::new();
        macro_rules! upsert {
            ($tx:ident) => {{
                for (month, records) in &by_month {
                    let mut affected = 0;
                    for chunk in records.chunks(INSERT_BATCH) {
                        let mut qb = QueryBuilder::new("INSERT INTO usage_metrics (day, team, metric, quantity) ");
                        qb.push_values(chunk, |mut b, r| {
                            b.push_bind(r.date)
                                .push_bind(r.team.as_str().to_string())
                                .push_bind(r.metric.as_str().to_string())
                                .push_bind(DbDecimal(r.quantity));
                        });
                        // Unchanged figures are not rewritten, so they do not count as changes.
                        qb.push(
                            " ON CONFLICT (day, team, metric) DO UPDATE SET quantity = excluded.quantity \
                             WHERE usage_metrics.quantity <> excluded.quantity",
                        );
                        affected += qb.build().execute(&mut *$tx).await?.rows_affected();
                    }
                    if affected > 0 {
                        bump_version(&mut $tx, *month, now).await?;
                        changed.push(*month);
                    }
                }
                $tx.commit().await?;
            }};
        }
        match (self, wait) {
            (Store::Sqlite(pool), Some(wait)) => {
                let mut conn = pool.acquire().await?;
                let set = |ms: u128| sqlx::AssertSqlSafe(format!("PRAGMA busy_timeout = {ms}"));
                sqlx::query(set(wait.as_millis()))
                    .execute(&mut *conn)
                    .await?;
                let result: Result<()> = async {
                    // Take the write lock at once (not at the first write).
                    let mut tx =
                        sqlx::Connection::begin_with(&mut *conn, "BEGIN IMMEDIATE").await?;
                    upsert!(tx);
                    Ok(())
                }
                .await;
                sqlx::query(set(SQLITE_BUSY_TIMEOUT.as_millis()))
                    .execute(&mut *conn)
                    .await?;
                result.map_err(busy)?;
            }
            _ => with_pool!(self, pool => {
                let mut tx = pool.begin().await?;
                upsert!(tx);
            }),
        }
        Ok(changed)
    }

    /// Every usage record dated in `month`.
    pub async fn usage_for_month(&self, month: Month) -> Result<Vec<UsageRecord>> {
        with_pool!(self, pool => {
            let rows: Vec<RawUsage> = sqlx::query_as(
                "SELECT day, team, metric, quantity FROM usage_metrics WHERE day >= $1 AND day < $2",
            )
            .bind(month.first_day())
            .bind(month.end_exclusive())
            .fetch_all(pool)
            .await?;
            rows.into_iter()
                .map(|r| {
                    Ok(UsageRecord {
                        date: r.day,
                        team: TeamId::parse(&r.team).map_err(|e| StoreError::Corrupt(e.to_string()))?,
                        metric: Metric::parse(&r.metric).map_err(|e| StoreError::Corrupt(e.to_string()))?,
                        quantity: r.quantity.0,
                    })
                })
                .collect()
        })
    }
}

/// A `usage_metrics` row.
#[derive(sqlx::FromRow)]
struct RawUsage {
    day: NaiveDate,
    team: String,
    metric: String,
    quantity: DbDecimal,
}
