//! Stored allocations: both views of a month (charge month and invoice)
//! replaced in one transaction, read back as exact rows and pool shares,
//! and the month versions that say when an allocation is stale.

use chrono::{DateTime, NaiveDate, Utc};
use sqlx::QueryBuilder;

use super::{DbDecimal, INSERT_BATCH, Result, Store, StoreError};
use crate::domain::{CostBasis, Currency, Month, Owner, Period, ScopeName, TeamId};
use crate::engine::{AllocationRow, FallbackTaken, PoolShare, ShareMethod};

/// Facts about one stored allocation of a month.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AllocationRun {
    pub month: Month,
    /// The charge-month view or the invoice view of `month`.
    pub period: Period,
    pub allocated_at: DateTime<Utc>,
    pub cost_basis: CostBasis,
    pub lines: u64,
    pub known_teams: Vec<TeamId>,
    /// The latest day a charge of the month starts on: daily figures after
    /// it hold only spread multi-day charges, not yet the month's usage.
    pub data_through: Option<NaiveDate>,
    /// The month's input version read before its inputs were (see
    /// [`Store::month_version`]): the allocation is stale once it is lower
    /// than the month's version.
    pub input_version: i64,
}

/// One view of a month's allocation, as [`Store::replace_month`] stores it.
#[derive(Clone, Copy, Debug)]
pub struct MonthView<'a> {
    pub run: &'a AllocationRun,
    pub rows: &'a [AllocationRow],
    pub shares: &'a [PoolShare],
}

/// The tables holding one period's allocations (the same columns for both).
pub(super) struct Tables {
    runs: &'static str,
    rows: &'static str,
    shares: &'static str,
}

impl Tables {
    fn of(period: Period) -> Tables {
        match period {
            Period::Charge => Tables {
                runs: "allocation_runs",
                rows: "allocations",
                shares: "allocation_shares",
            },
            Period::Billing => Tables {
                runs: "billing_allocation_runs",
                rows: "billing_allocations",
                shares: "billing_allocation_shares",
            },
        }
    }
}

pub(super) fn parse_known(known: &str) -> Result<Vec<TeamId>> {
    known
        .lines()
        .map(|t| TeamId::parse(t).map_err(|e| StoreError::Corrupt(e.to_string())))
        .collect()
}

/// An `allocations` row as selected (the same columns in
/// `billing_allocations`).
#[derive(sqlx::FromRow)]
pub(super) struct RawAllocationRow {
    month: String,
    day: NaiveDate,
    owner: String,
    service_name: String,
    billing_account_id: String,
    currency: String,
    rule: String,
    /// Empty for direct cost.
    pool: String,
    recurring: bool,
    /// Empty for pool shares and amounts allocated before environments.
    environment: String,
    amount: DbDecimal,
    lines: i64,
}

impl TryFrom<RawAllocationRow> for AllocationRow {
    type Error = StoreError;

    fn try_from(r: RawAllocationRow) -> Result<AllocationRow> {
        let corrupt = |e: &dyn std::fmt::Display| StoreError::Corrupt(e.to_string());
        Ok(AllocationRow {
            month: Month::parse(&r.month).map_err(|e| corrupt(&e))?,
            day: r.day,
            owner: Owner::from_name(&r.owner).map_err(|e| corrupt(&e))?,
            service_name: r.service_name,
            account: r.billing_account_id,
            currency: Currency::parse(&r.currency).map_err(|e| corrupt(&e))?,
            rule: r.rule,
            pool: (!r.pool.is_empty()).then_some(r.pool),
            recurring: r.recurring,
            environment: ScopeName::parse(&r.environment),
            amount: r.amount.0,
            lines: r.lines as u64,
        })
    }
}

/// A stored pool share, as its columns hold it.
#[derive(sqlx::FromRow)]
pub(super) struct RawPoolShare {
    pool: String,
    method: String,
    currency: String,
    target: String,
    target_is_pool: bool,
    weight: DbDecimal,
    total_weight: DbDecimal,
    amount: DbDecimal,
    /// Empty when no fallback decided.
    fallback: String,
}

impl TryFrom<RawPoolShare> for PoolShare {
    type Error = StoreError;

    fn try_from(r: RawPoolShare) -> Result<PoolShare> {
        let method = ShareMethod::parse(&r.method).ok_or_else(|| {
            StoreError::Corrupt(format!(
                "pool share method `{}` is not `even`, `fixed`, `proportional` or `usage`",
                r.method
            ))
        })?;
        let fallback = match r.fallback.as_str() {
            "" => None,
            f => Some(FallbackTaken::parse(f).ok_or_else(|| {
                StoreError::Corrupt(format!(
                    "pool share fallback `{f}` is not `even`, `team` or `unallocated`"
                ))
            })?),
        };
        Ok(PoolShare {
            pool: r.pool,
            method,
            currency: Currency::parse(&r.currency)
                .map_err(|e| StoreError::Corrupt(e.to_string()))?,
            target: r.target,
            target_is_pool: r.target_is_pool,
            weight: r.weight.0,
            total_weight: r.total_weight.0,
            amount: r.amount.0,
            fallback,
        })
    }
}

impl Store {
    /// Replaces, in one transaction, the stored allocations of `month` in
    /// both views with `charge` and `billing`; a view given `None` has no
    /// lines and loses its stored allocation. With neither, the month is no
    /// longer owed an allocation either, provided its version is still the
    /// `version` read before finding it empty.
    pub async fn replace_month(
        &self,
        month: Month,
        version: i64,
        charge: Option<MonthView<'_>>,
        billing: Option<MonthView<'_>>,
    ) -> Result<()> {
        let key = month.to_string();
        let forget = charge.is_none() && billing.is_none();
        with_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            for (period, view) in [(Period::Charge, charge), (Period::Billing, billing)] {
                let t = Tables::of(period);
                for table in [t.rows, t.shares, t.runs] {
                    sqlx::query(sqlx::AssertSqlSafe(format!("DELETE FROM {table} WHERE month = $1")))
                        .bind(&key)
                        .execute(&mut *tx)
                        .await?;
                }
                let Some(MonthView { run, rows, shares }) = view else { continue };
                let known = run.known_teams.iter().map(TeamId::as_str).collect::<Vec<_>>().join("\n");
                sqlx::query(sqlx::AssertSqlSafe(format!(
                    "INSERT INTO {} (month, allocated_at, cost_basis, lines, known_teams, data_through, input_version) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7)",
                    t.runs
                )))
                .bind(&key)
                .bind(run.allocated_at)
                .bind(run.cost_basis.as_str())
                .bind(run.lines as i64)
                .bind(&known)
                .bind(run.data_through)
                .bind(run.input_version)
                .execute(&mut *tx)
                .await?;
                for chunk in rows.chunks(INSERT_BATCH) {
                    let mut qb = QueryBuilder::new(format!(
                        "INSERT INTO {} (month, day, owner, service_name, billing_account_id, currency, rule, pool, recurring, environment, amount, lines) ",
                        t.rows
                    ));
                    qb.push_values(chunk, |mut b, r| {
                        b.push_bind(key.clone())
                            .push_bind(r.day)
                            .push_bind(r.owner.name().to_string())
                            .push_bind(r.service_name.clone())
                            .push_bind(r.account.clone())
                            .push_bind(r.currency.as_str().to_string())
                            .push_bind(r.rule.clone())
                            .push_bind(r.pool.clone().unwrap_or_default())
                            .push_bind(r.recurring)
                            .push_bind(r.environment.as_ref().map_or("", |e| e.as_str()).to_string())
                            .push_bind(DbDecimal(r.amount))
                            .push_bind(r.lines as i64);
                    });
                    qb.build().execute(&mut *tx).await?;
                }
                for chunk in shares.chunks(INSERT_BATCH) {
                    let mut qb = QueryBuilder::new(format!(
                        "INSERT INTO {} (month, pool, method, currency, target, target_is_pool, weight, total_weight, amount, fallback) ",
                        t.shares
                    ));
                    qb.push_values(chunk, |mut b, sh| {
                        b.push_bind(key.clone())
                            .push_bind(sh.pool.clone())
                            .push_bind(sh.method.as_str())
                            .push_bind(sh.currency.as_str().to_string())
                            .push_bind(sh.target.clone())
                            .push_bind(sh.target_is_pool)
                            .push_bind(DbDecimal(sh.weight))
                            .push_bind(DbDecimal(sh.total_weight))
                            .push_bind(DbDecimal(sh.amount))
                            .push_bind(sh.fallback.map_or("", FallbackTaken::as_str));
                    });
                    qb.build().execute(&mut *tx).await?;
                }
            }
            if forget {
                sqlx::query("DELETE FROM month_changes WHERE month = $1 AND version = $2")
                    .bind(&key)
                    .bind(version)
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
        });
        Ok(())
    }

    /// The stored allocation of a month in `period`'s view, if it has been allocated.
    pub async fn allocation(
        &self,
        period: Period,
        month: Month,
    ) -> Result<Option<(AllocationRun, Vec<AllocationRow>)>> {
        let key = month.to_string();
        let t = Tables::of(period);
        with_pool!(self, pool => {
            let run: Option<RawAllocationRun> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT allocated_at, cost_basis, lines, known_teams, data_through, input_version FROM {} WHERE month = $1",
                t.runs
            )))
            .bind(&key)
            .fetch_optional(pool)
            .await?;
            let Some(run) = run else { return Ok(None) };
            let run = AllocationRun {
                month,
                period,
                allocated_at: run.allocated_at,
                cost_basis: run.cost_basis.parse().map_err(StoreError::Corrupt)?,
                lines: run.lines as u64,
                known_teams: parse_known(&run.known_teams)?,
                data_through: run.data_through,
                input_version: run.input_version,
            };
            let rows: Vec<RawAllocationRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT month, day, owner, service_name, billing_account_id, currency, rule, pool, recurring, environment, amount, lines FROM {} WHERE month = $1",
                t.rows
            )))
            .bind(&key)
            .fetch_all(pool)
            .await?;
            let rows = rows.into_iter().map(AllocationRow::try_from).collect::<Result<Vec<_>>>()?;
            Ok(Some((run, rows)))
        })
    }

    /// Allocated amounts of one owner on days in `[from, to]`, across months.
    pub async fn owner_rows(
        &self,
        owner: &Owner,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Vec<AllocationRow>> {
        with_pool!(self, pool => {
            let rows: Vec<RawAllocationRow> = sqlx::query_as(
                "SELECT month, day, owner, service_name, billing_account_id, currency, rule, pool, recurring, environment, amount, lines FROM allocations \
                 WHERE owner = $1 AND day >= $2 AND day <= $3",
            )
            .bind(owner.name())
            .bind(from)
            .bind(to)
            .fetch_all(pool)
            .await?;
            rows.into_iter().map(AllocationRow::try_from).collect()
        })
    }

    /// How the pools were split in the stored allocation of a month in `period`'s view.
    pub async fn pool_shares(&self, period: Period, month: Month) -> Result<Vec<PoolShare>> {
        with_pool!(self, pool => {
            let rows: Vec<RawPoolShare> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT pool, method, currency, target, target_is_pool, weight, total_weight, amount, fallback \
                 FROM {} WHERE month = $1",
                Tables::of(period).shares
            )))
            .bind(month.to_string())
            .fetch_all(pool)
            .await?;
            rows.into_iter().map(PoolShare::try_from).collect()
        })
    }

    /// The months in `from..=to` that have a stored charge-month allocation.
    pub async fn allocated_months(&self, from: Month, to: Month) -> Result<Vec<Month>> {
        with_pool!(self, pool => {
            let months: Vec<String> = sqlx::query_scalar(
                "SELECT month FROM allocation_runs WHERE month >= $1 AND month <= $2 ORDER BY month",
            )
            .bind(from.to_string())
            .bind(to.to_string())
            .fetch_all(pool)
            .await?;
            months.iter().map(|m| Month::parse(m).map_err(|e| StoreError::Corrupt(e.to_string()))).collect()
        })
    }

    /// The cost bases of the allocations of months `from..=to`.
    pub async fn cost_bases(&self, from: Month, to: Month) -> Result<Vec<CostBasis>> {
        with_pool!(self, pool => {
            let bases: Vec<String> = sqlx::query_scalar(
                "SELECT DISTINCT cost_basis FROM allocation_runs WHERE month >= $1 AND month <= $2",
            )
            .bind(from.to_string())
            .bind(to.to_string())
            .fetch_all(pool)
            .await?;
            bases.iter().map(|b| b.parse().map_err(StoreError::Corrupt)).collect()
        })
    }

    /// Whether an owner is known: declared in the rules of an allocated month
    /// or present in any allocation.
    pub async fn owner_exists(&self, owner: &Owner) -> Result<bool> {
        if *owner == Owner::Unallocated {
            return Ok(true);
        }
        with_pool!(self, pool => {
            let used: Option<i64> = sqlx::query_scalar("SELECT CAST(1 AS BIGINT) FROM allocations WHERE owner = $1 LIMIT 1")
                .bind(owner.name())
                .fetch_optional(pool)
                .await?;
            if used.is_some() {
                return Ok(true);
            }
            let lists: Vec<String> = sqlx::query_scalar("SELECT known_teams FROM allocation_runs")
                .fetch_all(pool)
                .await?;
            Ok(lists.iter().any(|l| l.lines().any(|t| t == owner.name())))
        })
    }

    /// The version of `month`'s inputs: 0 until its cost lines or usage
    /// first change, then one more with every transaction that changes them.
    /// An allocation reads it before reading the month, so it is stale
    /// exactly when the version is now higher than the one it recorded.
    pub async fn month_version(&self, month: Month) -> Result<i64> {
        with_pool!(self, pool => {
            let version: Option<i64> = sqlx::query_scalar("SELECT version FROM month_changes WHERE month = $1")
                .bind(month.to_string())
                .fetch_optional(pool)
                .await?;
            Ok(version.unwrap_or(0))
        })
    }

    /// Months whose inputs changed since they were last allocated (or that
    /// were never allocated), oldest first: what a run must re-allocate. A
    /// month is allocated in both views at once, so it is stale when either
    /// stored view read an older version, or when it has neither.
    pub async fn stale_months(&self) -> Result<Vec<Month>> {
        with_pool!(self, pool => {
            let months: Vec<String> = sqlx::query_scalar(
                "SELECT m.month FROM month_changes m \
                 LEFT JOIN allocation_runs a ON a.month = m.month \
                 LEFT JOIN billing_allocation_runs b ON b.month = m.month \
                 WHERE (a.month IS NULL AND b.month IS NULL) OR a.input_version < m.version OR b.input_version < m.version \
                 ORDER BY m.month",
            )
            .fetch_all(pool)
            .await?;
            months.iter().map(|m| Month::parse(m).map_err(|e| StoreError::Corrupt(e.to_string()))).collect()
        })
    }
}

/// An allocation run's columns (of `allocation_runs` or
/// `billing_allocation_runs`).
#[derive(sqlx::FromRow)]
struct RawAllocationRun {
    allocated_at: DateTime<Utc>,
    cost_basis: String,
    lines: i64,
    /// Team names, one per line.
    known_teams: String,
    data_through: Option<NaiveDate>,
    input_version: i64,
}
