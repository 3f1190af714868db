//! Stored allocations: both views of a month (charge month and invoice)
//! replaced in one transaction, read back as exact rows and pool shares,
//! and the month versions that say when an allocation is stale. With a
//! charge-month allocation its showbacks are stored too, as
//! `engine::showback` rounds the stored rows (by team, team and service,
//! team and environment), so unit costs read a few rounded rows instead of
//! the month's every amount.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use sqlx::QueryBuilder;
use sqlx::encode::IsNull;
use sqlx::error::BoxDynError;
use sqlx::postgres::{PgTypeInfo, PgValueRef};
use sqlx::sqlite::{SqliteTypeInfo, SqliteValueRef};
use sqlx::{Database, Decode, Encode, Postgres, Sqlite, Type};

use super::{DbDecimal, INSERT_BATCH, Result, Store, StoreError};
use crate::domain::{CostBasis, Currency, Month, Owner, Period, ScopeName, TeamId};
use crate::engine::{
    AllocationRow, FallbackTaken, GroupBy, PoolShare, ShareMethod, Showback, ShowbackRow,
};

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
        // Computed before the transaction, which then holds SQLite's write
        // lock no longer than before.
        let reports = charge.map_or_else(Vec::new, |v| month_reports(month, v));
        with_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            for (period, view) in [(Period::Charge, charge), (Period::Billing, billing)] {
                let t = Tables::of(period);
                if period == Period::Charge {
                    // By the reports' primary key, which starts with the grouping.
                    let mut qb = QueryBuilder::new("DELETE FROM allocation_reports WHERE grouped_by IN (");
                    let mut groupings = qb.separated(", ");
                    for g in STORED_GROUPINGS {
                        groupings.push_bind(grouping_name(g));
                    }
                    qb.push(") AND month = ").push_bind(key.clone());
                    qb.build().execute(&mut *tx).await?;
                    sqlx::query("DELETE FROM allocation_report_totals WHERE month = $1")
                        .bind(&key)
                        .execute(&mut *tx)
                        .await?;
                }
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
                if period == Period::Charge {
                    sqlx::query("UPDATE allocation_runs SET reports_format = $1 WHERE month = $2")
                        .bind(REPORTS_FORMAT)
                        .bind(&key)
                        .execute(&mut *tx)
                        .await?;
                    for (group_by, showback) in &reports {
                        let grouped_by = grouping_name(*group_by);
                        let numbered: Vec<(usize, &ShowbackRow)> = showback.rows.iter().enumerate().collect();
                        for chunk in numbered.chunks(INSERT_BATCH) {
                            let mut qb = QueryBuilder::new(
                                "INSERT INTO allocation_reports (grouped_by, month, seq, owner, detail, currency, direct_cost, total_cost) ",
                            );
                            qb.push_values(chunk, |mut b, (seq, r)| {
                                b.push_bind(grouped_by)
                                    .push_bind(key.clone())
                                    .push_bind(*seq as i64)
                                    .push_bind(r.owner.name().to_string())
                                    .push_bind(r.service.as_ref().or(r.environment.as_ref()).cloned().unwrap_or_default())
                                    .push_bind(r.currency.as_str().to_string())
                                    .push_bind(ScaledDecimal(r.direct_cost))
                                    .push_bind(ScaledDecimal(r.total_cost));
                            });
                            qb.build().execute(&mut *tx).await?;
                        }
                        let mut qb = QueryBuilder::new(
                            "INSERT INTO allocation_report_totals (month, grouped_by, currency, total) ",
                        );
                        qb.push_values(&showback.totals, |mut b, (currency, total)| {
                            b.push_bind(key.clone())
                                .push_bind(grouped_by)
                                .push_bind(currency.as_str().to_string())
                                .push_bind(ScaledDecimal(*total));
                        });
                        if !showback.totals.is_empty() {
                            qb.build().execute(&mut *tx).await?;
                        }
                    }
                }
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

    /// The allocated amounts of one owner in the charge-month allocation
    /// of `month` (on its days and any later ones a multi-day charge
    /// reaches).
    pub async fn owner_month_rows(
        &self,
        owner: &Owner,
        month: Month,
    ) -> Result<Vec<AllocationRow>> {
        with_pool!(self, pool => {
            let rows: Vec<RawAllocationRow> = sqlx::query_as(
                "SELECT month, day, owner, service_name, billing_account_id, currency, rule, pool, recurring, environment, amount, lines FROM allocations \
                 WHERE owner = $1 AND day >= $2 AND month = $3",
            )
            .bind(owner.name())
            .bind(month.first_day())
            .bind(month.to_string())
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

/// The format of the reports [`Store::replace_month`] stores with a
/// charge-month allocation (`allocation_runs.reports_format`). Raise it
/// whenever `engine::showback` would round a stored allocation differently
/// than it did: months allocated with another format are then read as if
/// they had no stored reports (their reports are computed from their rows)
/// until they are allocated again. 0 is a run without stored reports.
pub const REPORTS_FORMAT: i64 = 1;

/// The groupings whose showback is stored with a charge-month allocation.
const STORED_GROUPINGS: [GroupBy; 3] = [
    GroupBy::Team,
    GroupBy::TeamService,
    GroupBy::TeamEnvironment,
];

/// How a grouping is named in `allocation_reports.grouped_by`.
fn grouping_name(group_by: GroupBy) -> &'static str {
    match group_by {
        GroupBy::Team => "team",
        GroupBy::TeamService => "team,service",
        GroupBy::TeamEnvironment => "team,environment",
    }
}

/// The showbacks stored with a charge-month allocation: what
/// `engine::showback` gives for the rows as they are read back, that is
/// with their amounts normalised as both backends return them (a
/// showback's figures keep the scale of the amounts it adds up).
fn month_reports(month: Month, view: MonthView<'_>) -> Vec<(GroupBy, Showback)> {
    let rows: Vec<AllocationRow> = view
        .rows
        .iter()
        .map(|r| AllocationRow {
            amount: r.amount.normalize(),
            ..r.clone()
        })
        .collect();
    STORED_GROUPINGS
        .iter()
        .map(|g| {
            (
                *g,
                crate::engine::showback(month, view.run.cost_basis, &rows, *g),
            )
        })
        .collect()
}

/// A decimal stored with its scale, so `3.00` reads back as `3.00`, not
/// `3` ([`DbDecimal`] normalises): `NUMERIC` on PostgreSQL, decimal text
/// on SQLite. For figures whose scale a report shows (rounded showback
/// figures, a metric's day sum).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct ScaledDecimal(pub Decimal);

impl Type<Sqlite> for ScaledDecimal {
    fn type_info() -> SqliteTypeInfo {
        <String as Type<Sqlite>>::type_info()
    }
    fn compatible(ty: &SqliteTypeInfo) -> bool {
        <String as Type<Sqlite>>::compatible(ty)
    }
}

impl Encode<'_, Sqlite> for ScaledDecimal {
    fn encode_by_ref(
        &self,
        buf: &mut <Sqlite as Database>::ArgumentBuffer,
    ) -> std::result::Result<IsNull, BoxDynError> {
        <String as Encode<Sqlite>>::encode(self.0.to_string(), buf)
    }
}

impl<'r> Decode<'r, Sqlite> for ScaledDecimal {
    fn decode(value: SqliteValueRef<'r>) -> std::result::Result<Self, BoxDynError> {
        let text = <&str as Decode<Sqlite>>::decode(value)?;
        Ok(ScaledDecimal(text.parse::<Decimal>().map_err(|e| {
            format!("stored amount `{text}` is not a decimal: {e}")
        })?))
    }
}

impl Type<Postgres> for ScaledDecimal {
    fn type_info() -> PgTypeInfo {
        <Decimal as Type<Postgres>>::type_info()
    }
    fn compatible(ty: &PgTypeInfo) -> bool {
        <Decimal as Type<Postgres>>::compatible(ty)
    }
}

impl Encode<'_, Postgres> for ScaledDecimal {
    fn encode_by_ref(
        &self,
        buf: &mut <Postgres as Database>::ArgumentBuffer,
    ) -> std::result::Result<IsNull, BoxDynError> {
        <Decimal as Encode<Postgres>>::encode_by_ref(&self.0, buf)
    }
}

impl<'r> Decode<'r, Postgres> for ScaledDecimal {
    fn decode(value: PgValueRef<'r>) -> std::result::Result<Self, BoxDynError> {
        // NUMERIC keeps the scale it was given; sqlx's decimal keeps it too.
        Ok(ScaledDecimal(<Decimal as Decode<Postgres>>::decode(value)?))
    }
}

/// A charge-month allocation run, with what reading it needs to know.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChargeRun {
    pub run: AllocationRun,
    /// The month's input version when the run was read: the allocation is
    /// stale when it is higher than `run.input_version`.
    pub month_version: i64,
    /// Whether the run's showbacks are stored (in the current
    /// [`REPORTS_FORMAT`]); when not, compute them from its rows.
    pub reports: bool,
}

impl ChargeRun {
    /// Whether an input of the month changed after the run read it.
    pub fn stale(&self) -> bool {
        self.month_version > self.run.input_version
    }
}

fn corrupt(e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(e.to_string())
}

impl Store {
    /// The charge-month allocations of months `from..=to`, oldest first,
    /// each with its month's current input version (read in the same
    /// statement) and whether its showbacks are stored.
    pub async fn charge_runs(&self, from: Month, to: Month) -> Result<Vec<ChargeRun>> {
        #[derive(sqlx::FromRow)]
        struct Raw {
            month: String,
            #[sqlx(flatten)]
            run: RawAllocationRun,
            reports_format: i64,
            month_version: i64,
        }
        with_pool!(self, pool => {
            let rows: Vec<Raw> = sqlx::query_as(
                "SELECT a.month, a.allocated_at, a.cost_basis, a.lines, a.known_teams, a.data_through, a.input_version, \
                 a.reports_format, COALESCE(m.version, CAST(0 AS BIGINT)) AS month_version \
                 FROM allocation_runs a LEFT JOIN month_changes m ON m.month = a.month \
                 WHERE a.month >= $1 AND a.month <= $2 ORDER BY a.month",
            )
            .bind(from.to_string())
            .bind(to.to_string())
            .fetch_all(pool)
            .await?;
            rows.into_iter()
                .map(|r| {
                    let month = Month::parse(&r.month).map_err(corrupt)?;
                    Ok(ChargeRun {
                        run: r.run.into_run(month, Period::Charge)?,
                        month_version: r.month_version,
                        reports: r.reports_format == REPORTS_FORMAT,
                    })
                })
                .collect()
        })
    }

    /// The stored showback rows grouped `group_by` of the charge months in
    /// `from..=to`, in showback order, per month: every row, or with
    /// `teams` only those teams' rows, with `detail` only the rows of that
    /// service or environment. A month without a row chosen is absent.
    /// Only months whose [`ChargeRun::reports`] says so have stored rows
    /// in the current format: the caller reads the others' from their
    /// allocation.
    pub async fn report_rows(
        &self,
        from: Month,
        to: Month,
        group_by: GroupBy,
        teams: Option<&BTreeSet<TeamId>>,
        detail: Option<&str>,
    ) -> Result<BTreeMap<Month, Vec<ShowbackRow>>> {
        use sqlx::Row;
        if teams.is_some_and(BTreeSet::is_empty) {
            return Ok(BTreeMap::new());
        }
        let mut out: BTreeMap<Month, Vec<ShowbackRow>> = BTreeMap::new();
        // A summary reads thousands of rows of a few hundred owners: each
        // owner is parsed once, and columns are read in place.
        let mut owners: HashMap<String, Owner> = HashMap::new();
        with_pool!(self, pool => {
            let mut qb = QueryBuilder::new(
                "SELECT month, owner, detail, currency, direct_cost, total_cost FROM allocation_reports WHERE grouped_by = ",
            );
            qb.push_bind(grouping_name(group_by))
                .push(" AND month >= ")
                .push_bind(from.to_string())
                .push(" AND month <= ")
                .push_bind(to.to_string());
            if let Some(teams) = teams {
                qb.push(" AND owner IN (");
                let mut names = qb.separated(", ");
                for team in teams {
                    names.push_bind(team.as_str().to_string());
                }
                qb.push(")");
            }
            if let Some(detail) = detail {
                qb.push(" AND detail = ").push_bind(detail.to_string());
            }
            qb.push(" ORDER BY month, seq");
            let rows = qb.build().fetch_all(pool).await?;
            for row in &rows {
                let month = Month::parse(row.try_get::<&str, _>(0)?).map_err(corrupt)?;
                let name: &str = row.try_get(1)?;
                let owner = match owners.get(name) {
                    Some(owner) => owner.clone(),
                    None => {
                        let owner = Owner::from_name(name).map_err(corrupt)?;
                        owners.insert(name.to_string(), owner.clone());
                        owner
                    }
                };
                let detail: &str = row.try_get(2)?;
                let (service, environment) = match group_by {
                    GroupBy::Team => (None, None),
                    GroupBy::TeamService => (Some(detail.to_string()), None),
                    GroupBy::TeamEnvironment => (None, Some(detail.to_string())),
                };
                let direct: ScaledDecimal = row.try_get(4)?;
                let total: ScaledDecimal = row.try_get(5)?;
                out.entry(month).or_default().push(ShowbackRow {
                    owner,
                    service,
                    environment,
                    currency: Currency::parse(row.try_get::<&str, _>(3)?).map_err(corrupt)?,
                    direct_cost: direct.0,
                    // As `engine::showback` makes it.
                    shared_cost: total.0 - direct.0,
                    total_cost: total.0,
                });
            }
        });
        Ok(out)
    }

    /// The stored showback totals per currency (grouped `group_by`) of the
    /// charge months in `from..=to` (see [`Store::report_rows`] on which
    /// months have them).
    pub async fn report_totals(
        &self,
        from: Month,
        to: Month,
        group_by: GroupBy,
    ) -> Result<BTreeMap<Month, BTreeMap<Currency, Decimal>>> {
        #[derive(sqlx::FromRow)]
        struct Raw {
            month: String,
            currency: String,
            total: ScaledDecimal,
        }
        let rows: Vec<Raw> = with_pool!(self, pool => {
            sqlx::query_as(
                "SELECT month, currency, total FROM allocation_report_totals \
                 WHERE grouped_by = $1 AND month >= $2 AND month <= $3",
            )
            .bind(grouping_name(group_by))
            .bind(from.to_string())
            .bind(to.to_string())
            .fetch_all(pool)
            .await?
        });
        let mut out: BTreeMap<Month, BTreeMap<Currency, Decimal>> = BTreeMap::new();
        for r in rows {
            out.entry(Month::parse(&r.month).map_err(corrupt)?)
                .or_default()
                .insert(Currency::parse(&r.currency).map_err(corrupt)?, r.total.0);
        }
        Ok(out)
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

impl RawAllocationRun {
    fn into_run(self, month: Month, period: Period) -> Result<AllocationRun> {
        Ok(AllocationRun {
            month,
            period,
            allocated_at: self.allocated_at,
            cost_basis: self.cost_basis.parse().map_err(StoreError::Corrupt)?,
            lines: self.lines as u64,
            known_teams: parse_known(&self.known_teams)?,
            data_through: self.data_through,
            input_version: self.input_version,
        })
    }
}
