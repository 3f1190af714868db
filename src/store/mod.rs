//! The store: every SQL statement allot runs lives here. One `Store` type
//! over two backends, SQLite (the embedded default) and PostgreSQL (the
//! production store), running the same statements with `$n` placeholders.
//!
//! Money never passes through floats: see [`decimal::DbDecimal`]. Amounts are
//! summed in Rust, never in SQL.

mod decimal;
mod encoding;

use std::collections::{BTreeMap, BTreeSet};
use std::str::FromStr;

use chrono::{DateTime, NaiveDate, Utc};
use futures_util::TryStreamExt;
use rust_decimal::Decimal;
use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{Postgres, QueryBuilder, Row, Sqlite, Transaction};

use crate::domain::{
    ChargeCategory, CostBasis, CostLine, Currency, Metric, Month, Owner, Period, StoredLine, Tags,
    TeamId, UsageRecord,
};
use crate::engine::{AllocationRow, FallbackTaken, PoolShare, ShareMethod};
pub use decimal::DbDecimal;

/// The default database: an SQLite file in the working directory.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://allot.db";

/// How long a run's record stays `running` without its process renewing
/// it: a run whose lease lapsed was cut short by a process that died.
pub const RUN_LEASE: chrono::TimeDelta = chrono::TimeDelta::seconds(120);

/// How long an SQLite write waits for another's to commit.
const SQLITE_BUSY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

/// An SQLite "database is locked" error as [`StoreError::Busy`].
fn busy(e: StoreError) -> StoreError {
    match &e {
        StoreError::Sql(sqlx::Error::Database(d))
            if matches!(d.code().as_deref(), Some("5") | Some("6") | Some("517"))
                || d.message().contains("database is locked") =>
        {
            StoreError::Busy
        }
        _ => e,
    }
}

/// How long opening a PostgreSQL database may take before it is reported
/// unreachable.
const CONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// Rows per multi-row INSERT (kept under both backends' parameter limits).
const INSERT_BATCH: usize = 1000;

/// What can go wrong in the store layer.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("unsupported database url `{0}`: use `sqlite://FILE` or `postgres://USER@HOST/DB`")]
    UnsupportedUrl(String),
    #[error("cannot open database `{url}`: {source}")]
    Connect { url: String, source: sqlx::Error },
    #[error(
        "cannot connect to the database at {at}: {cause}; is PostgreSQL running there and the URL right?"
    )]
    Unreachable { at: String, cause: String },
    #[error("cannot migrate database `{url}`: {source}")]
    Migrate {
        url: String,
        source: sqlx::migrate::MigrateError,
    },
    #[error("database error: {0}")]
    Sql(#[from] sqlx::Error),
    #[error(
        "the database is busy with another write (an import holds SQLite's write lock until it commits); try again shortly"
    )]
    Busy,
    #[error("stored data is unreadable: {0}; was the database written by a newer allot?")]
    Corrupt(String),
}

type Result<T> = std::result::Result<T, StoreError>;

/// What started an import run: its source's schedule, or a person
/// (`POST /api/v1/imports/{source}/run`). Stored as `schedule` or `manual`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Trigger {
    Schedule,
    Manual,
}

impl Trigger {
    pub fn as_str(self) -> &'static str {
        match self {
            Trigger::Schedule => "schedule",
            Trigger::Manual => "manual",
        }
    }

    fn parse(s: &str) -> Result<Trigger> {
        match s {
            "schedule" => Ok(Trigger::Schedule),
            "manual" => Ok(Trigger::Manual),
            other => Err(StoreError::Corrupt(format!(
                "import run trigger `{other}` is neither `schedule` nor `manual`"
            ))),
        }
    }
}

/// Where an import run stands. Stored as `running`, `succeeded` or `failed`
/// (a run whose process died is marked failed once its lease lapses).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RunStatus {
    Running,
    Succeeded,
    Failed,
}

impl RunStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Running => "running",
            RunStatus::Succeeded => "succeeded",
            RunStatus::Failed => "failed",
        }
    }

    fn parse(s: &str) -> Result<RunStatus> {
        match s {
            "running" => Ok(RunStatus::Running),
            "succeeded" => Ok(RunStatus::Succeeded),
            "failed" => Ok(RunStatus::Failed),
            other => Err(StoreError::Corrupt(format!(
                "import run status `{other}` is not `running`, `succeeded` or `failed`"
            ))),
        }
    }
}

/// One run of a configured import source.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImportRun {
    pub id: i64,
    pub source: String,
    pub trigger: Trigger,
    pub started_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    pub status: RunStatus,
    pub rows_read: u64,
    /// Months whose data the run changed.
    pub months: Vec<Month>,
    pub error: Option<String>,
}

/// Held while a source runs: no other run of it starts, in this process or
/// (on PostgreSQL) in any process sharing the database. Released on drop.
pub struct SourceLock {
    /// The in-process claim (SQLite): the database file and the source.
    local: Option<(std::path::PathBuf, String)>,
    /// A transaction holding `pg_advisory_xact_lock`; rolled back on drop.
    _pg: Option<Transaction<'static, Postgres>>,
}

impl SourceLock {
    /// Releases the lock now (dropping it releases it too, but on
    /// PostgreSQL only once the pool gets the connection back).
    pub async fn release(mut self) -> Result<()> {
        if let Some(tx) = self._pg.take() {
            tx.rollback().await?;
        }
        Ok(())
    }
}

impl Drop for SourceLock {
    fn drop(&mut self) {
        if let (Some(claim), Ok(mut running)) = (&self.local, RUNNING_SOURCES.lock()) {
            running.remove(claim);
        }
    }
}

/// Sources running in this process, per SQLite database file (two
/// databases may have sources of the same name).
static RUNNING_SOURCES: std::sync::LazyLock<
    std::sync::Mutex<BTreeSet<(std::path::PathBuf, String)>>,
> = std::sync::LazyLock::new(|| std::sync::Mutex::new(BTreeSet::new()));

/// A stable 64-bit key for a source's advisory lock.
fn lock_key(name: &str) -> i64 {
    // FNV-1a: the same key in every process and version.
    let mut h: u64 = 0xcbf29ce484222325;
    for b in b"allot-source:".iter().chain(name.as_bytes()) {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x100000001b3);
    }
    h as i64
}

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
struct Tables {
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

/// What an import stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImportSummary {
    pub import_id: i64,
    pub rows_read: u64,
    pub lines_stored: u64,
    /// (billing account, billing period start) pairs this import now owns.
    pub partitions: Vec<(String, NaiveDate)>,
    /// Charge months of the stored lines.
    pub months: Vec<Month>,
    /// Months whose cost lines changed (empty when the same data was
    /// imported again): their allocations are now stale.
    pub changed_months: Vec<Month>,
}

/// A connection pool to one of the two backends.
#[derive(Clone, Debug)]
pub enum Store {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// Runs the same body against whichever backend `$store` holds.
macro_rules! with_pool {
    ($store:expr, $pool:ident => $body:expr) => {
        match $store {
            Store::Sqlite($pool) => $body,
            Store::Postgres($pool) => $body,
        }
    };
}

macro_rules! with_tx {
    ($tx:expr, $t:ident => $body:expr) => {
        match $tx {
            Tx::Sqlite($t) => $body,
            Tx::Postgres($t) => $body,
        }
    };
}

mod anomalies;
pub use anomalies::{
    AnomalyFilter, DueNotification, PendingNotification, SavedAnomalies, StoredAnomaly,
};

enum Tx {
    Sqlite(Transaction<'static, Sqlite>),
    Postgres(Transaction<'static, Postgres>),
}

impl From<Transaction<'static, Sqlite>> for Tx {
    fn from(tx: Transaction<'static, Sqlite>) -> Self {
        Tx::Sqlite(tx)
    }
}

impl From<Transaction<'static, Postgres>> for Tx {
    fn from(tx: Transaction<'static, Postgres>) -> Self {
        Tx::Postgres(tx)
    }
}

const LINE_COLUMNS: &str = "charge_date, charge_period_start, charge_period_end, billing_period_start, \
    billing_period_end, billing_account_id, billing_account_name, sub_account_id, sub_account_name, provider, \
    service_name, service_category, region, resource_id, charge_category, charge_class, currency, billed_cost, \
    effective_cost, list_cost, contracted_cost, consumed_quantity, consumed_unit, tags, source_rows";

impl Store {
    /// Opens (creating an SQLite file if needed) and migrates a database.
    pub async fn connect(url: &str) -> Result<Store> {
        if url.starts_with("sqlite:") {
            let options = SqliteConnectOptions::from_str(url)
                .map_err(|source| StoreError::Connect {
                    url: url.to_string(),
                    source,
                })?
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                // A writer waits for another's import to commit instead of failing.
                .busy_timeout(SQLITE_BUSY_TIMEOUT)
                .foreign_keys(true);
            let pool = SqlitePoolOptions::new()
                .max_connections(4)
                .connect_with(options)
                .await
                .map_err(|source| StoreError::Connect {
                    url: url.to_string(),
                    source,
                })?;
            sqlx::migrate!("migrations/sqlite")
                .run(&pool)
                .await
                .map_err(|source| StoreError::Migrate {
                    url: url.to_string(),
                    source,
                })?;
            Ok(Store::Sqlite(pool))
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            let options = sqlx::postgres::PgConnectOptions::from_str(url).map_err(|source| {
                StoreError::Connect {
                    url: redact(url),
                    source,
                }
            })?;
            // One connection first, bounded in time, so that an unreachable
            // server is reported with its cause in seconds (the pool would
            // retry for half a minute and say only that it timed out).
            let at = format!("{}:{}", options.get_host(), options.get_port());
            let unreachable = |cause: String| StoreError::Unreachable {
                at: at.clone(),
                cause,
            };
            use sqlx::Connection;
            match tokio::time::timeout(
                CONNECT_TIMEOUT,
                sqlx::postgres::PgConnection::connect_with(&options),
            )
            .await
            {
                Err(_) => return Err(unreachable(format!("no answer within {CONNECT_TIMEOUT:?}"))),
                Ok(Err(sqlx::Error::Io(e))) => {
                    return Err(unreachable(e.to_string().to_lowercase()));
                }
                Ok(Err(e)) => {
                    return Err(StoreError::Connect {
                        url: redact(url),
                        source: e,
                    });
                }
                Ok(Ok(conn)) => {
                    let _ = conn.close().await;
                }
            }
            let pool = PgPoolOptions::new()
                .max_connections(8)
                .acquire_timeout(std::time::Duration::from_secs(30))
                .connect_with(options)
                .await
                .map_err(|source| StoreError::Connect {
                    url: redact(url),
                    source,
                })?;
            sqlx::migrate!("migrations/postgres")
                .run(&pool)
                .await
                .map_err(|source| StoreError::Migrate {
                    url: redact(url),
                    source,
                })?;
            Ok(Store::Postgres(pool))
        } else {
            Err(StoreError::UnsupportedUrl(redact(url)))
        }
    }

    /// Which backend this is, for logs.
    pub fn backend(&self) -> &'static str {
        match self {
            Store::Sqlite(_) => "sqlite",
            Store::Postgres(_) => "postgres",
        }
    }

    /// Answers whether the database can be reached.
    pub async fn ping(&self) -> Result<()> {
        with_pool!(self, pool => { sqlx::query("SELECT 1").execute(pool).await?; });
        Ok(())
    }

    /// Starts an import: everything written through the returned handle
    /// becomes visible at once on [`ImportTx::commit`], or not at all.
    /// `run` is the source run the import belongs to, if any: its record
    /// is updated in the import's transaction.
    pub async fn begin_import(
        &self,
        source_kind: &str,
        files: &[String],
        run: Option<i64>,
    ) -> Result<ImportTx> {
        let now = Utc::now();
        let files = files.join("\n");
        let (tx, import_id) = with_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            let id: i64 = sqlx::query_scalar(
                "INSERT INTO imports (source_kind, files, imported_at, rows_read, lines_stored) \
                 VALUES ($1, $2, $3, 0, 0) RETURNING id",
            )
            .bind(source_kind)
            .bind(&files)
            .bind(now)
            .fetch_one(&mut *tx)
            .await?;
            (Tx::from(tx), id)
        });
        Ok(ImportTx {
            tx,
            import_id,
            partitions: BTreeMap::new(),
            months: BTreeSet::new(),
            lines_stored: 0,
            every_period: false,
            estimated: BTreeSet::new(),
            run,
        })
    }

    /// All stored lines whose charge period starts in `month`.
    pub async fn lines_for_month(&self, month: Month) -> Result<Vec<StoredLine>> {
        let mut lines = Vec::new();
        self.for_each_line(Period::Charge, month, |l| lines.push(l))
            .await?;
        Ok(lines)
    }

    /// Streams the lines that `period` puts in `month` (charged in it, or
    /// of the invoice starting in it) through `f` without holding them all
    /// in memory; returns how many there were.
    pub async fn for_each_line(
        &self,
        period: Period,
        month: Month,
        mut f: impl FnMut(StoredLine) + Send,
    ) -> Result<u64> {
        let column = match period {
            Period::Charge => "charge_date",
            Period::Billing => "billing_period_start",
        };
        let sql =
            format!("SELECT {LINE_COLUMNS} FROM cost_lines WHERE {column} >= $1 AND {column} < $2");
        let mut count = 0u64;
        // Lines of one resource share their tags: parse each text once.
        let mut tag_cache: std::collections::HashMap<String, Tags> =
            std::collections::HashMap::new();
        with_pool!(self, pool => {
            let mut rows = sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(month.first_day())
                .bind(month.end_exclusive())
                .fetch(pool);
            while let Some(row) = rows.try_next().await? {
                let row = &row;
                let text = |i: usize| -> Result<String> { Ok(row.try_get::<String, _>(i)?) };
                let opt = |i: usize| -> Result<Option<String>> { Ok(row.try_get::<Option<String>, _>(i)?) };
                let dec = |i: usize| -> Result<Decimal> { Ok(row.try_get::<DbDecimal, _>(i)?.0) };
                let opt_dec = |i: usize| -> Result<Option<Decimal>> {
                    Ok(row.try_get::<Option<DbDecimal>, _>(i)?.map(|d| d.0))
                };
                let category = text(14)?;
                let currency = text(16)?;
                let tags = text(23)?;
                let line = CostLine {
                    charge_period_start: row.try_get(1)?,
                    charge_period_end: row.try_get(2)?,
                    billing_period_start: row.try_get(3)?,
                    billing_period_end: row.try_get(4)?,
                    billing_account_id: text(5)?,
                    billing_account_name: opt(6)?,
                    sub_account_id: opt(7)?,
                    sub_account_name: opt(8)?,
                    provider: text(9)?,
                    service_name: opt(10)?,
                    service_category: opt(11)?,
                    region: opt(12)?,
                    resource_id: opt(13)?,
                    charge_category: ChargeCategory::parse(&category)
                        .ok_or_else(|| StoreError::Corrupt(format!("charge category `{category}`")))?,
                    charge_class: opt(15)?,
                    currency: Currency::parse(&currency).map_err(|e| StoreError::Corrupt(e.to_string()))?,
                    billed_cost: dec(17)?,
                    effective_cost: dec(18)?,
                    list_cost: dec(19)?,
                    contracted_cost: opt_dec(20)?,
                    consumed_quantity: opt_dec(21)?,
                    consumed_unit: opt(22)?,
                    tags: match tag_cache.get(&tags) {
                        Some(t) => t.clone(),
                        None => {
                            let t = encoding::tags_from_json(&tags)
                                .map_err(|e| StoreError::Corrupt(format!("tags `{tags}`: expected {e}")))?;
                            if tag_cache.len() < 100_000 {
                                tag_cache.insert(tags, t.clone());
                            }
                            t
                        }
                    },
                };
                let source_rows: i64 = row.try_get(24)?;
                f(StoredLine { line, source_rows: source_rows as u64 });
                count += 1;
            }
        });
        Ok(count)
    }

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
                        "INSERT INTO {} (month, day, owner, service_name, billing_account_id, currency, rule, pool, recurring, amount, lines) ",
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
            let run = sqlx::query(sqlx::AssertSqlSafe(format!(
                "SELECT allocated_at, cost_basis, lines, known_teams, data_through, input_version FROM {} WHERE month = $1",
                t.runs
            )))
            .bind(&key)
            .fetch_optional(pool)
            .await?;
            let Some(run) = run else { return Ok(None) };
            let basis: String = run.try_get(1)?;
            let lines: i64 = run.try_get(2)?;
            let known: String = run.try_get(3)?;
            let run = AllocationRun {
                month,
                period,
                allocated_at: run.try_get(0)?,
                cost_basis: basis.parse().map_err(StoreError::Corrupt)?,
                lines: lines as u64,
                known_teams: parse_known(&known)?,
                data_through: run.try_get(4)?,
                input_version: run.try_get(5)?,
            };
            let rows: Vec<RawAllocationRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT month, day, owner, service_name, billing_account_id, currency, rule, pool, recurring, amount, lines FROM {} WHERE month = $1",
                t.rows
            )))
            .bind(&key)
            .fetch_all(pool)
            .await?;
            let rows = rows.into_iter().map(allocation_row).collect::<Result<Vec<_>>>()?;
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
                "SELECT month, day, owner, service_name, billing_account_id, currency, rule, pool, recurring, amount, lines FROM allocations \
                 WHERE owner = $1 AND day >= $2 AND day <= $3",
            )
            .bind(owner.name())
            .bind(from)
            .bind(to)
            .fetch_all(pool)
            .await?;
            rows.into_iter().map(allocation_row).collect()
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
            let rows = sqlx::query(
                "SELECT day, team, metric, quantity FROM usage_metrics WHERE day >= $1 AND day < $2",
            )
            .bind(month.first_day())
            .bind(month.end_exclusive())
            .fetch_all(pool)
            .await?;
            rows.iter()
                .map(|row| {
                    let team: String = row.try_get(1)?;
                    let metric: String = row.try_get(2)?;
                    Ok(UsageRecord {
                        date: row.try_get(0)?,
                        team: TeamId::parse(&team).map_err(|e| StoreError::Corrupt(e.to_string()))?,
                        metric: Metric::parse(&metric).map_err(|e| StoreError::Corrupt(e.to_string()))?,
                        quantity: row.try_get::<DbDecimal, _>(3)?.0,
                    })
                })
                .collect()
        })
    }

    /// Takes the lock of a source, or `None` when a run of it is in progress:
    /// on PostgreSQL a transaction-scoped advisory lock, which holds across
    /// every process sharing the database; on SQLite (one process) a claim
    /// in this process.
    pub async fn try_lock_source(&self, name: &str) -> Result<Option<SourceLock>> {
        match self {
            Store::Postgres(pool) => {
                let mut tx = pool.begin().await?;
                let locked: bool = sqlx::query_scalar("SELECT pg_try_advisory_xact_lock($1)")
                    .bind(lock_key(name))
                    .fetch_one(&mut *tx)
                    .await?;
                Ok(locked.then(|| SourceLock {
                    local: None,
                    _pg: Some(tx),
                }))
            }
            Store::Sqlite(pool) => {
                let options = pool.connect_options();
                let file = options.get_filename();
                // One file however its path was spelled.
                let file = std::fs::canonicalize(file).unwrap_or_else(|_| file.to_path_buf());
                let claim = (file, name.to_string());
                let mut running = RUNNING_SOURCES
                    .lock()
                    .map_err(|_| StoreError::Corrupt("source lock poisoned".into()))?;
                Ok(running.insert(claim.clone()).then(|| SourceLock {
                    local: Some(claim),
                    _pg: None,
                }))
            }
        }
    }

    /// Marks runs of `source` still `running` as failed: called with the
    /// source's lock held, so they were interrupted (a killed process).
    /// Their records say whether their import had been stored.
    pub async fn fail_interrupted_runs(&self, source: &str) -> Result<u64> {
        self.fail_runs("source = $2", source, Utc::now()).await
    }

    /// Marks every `running` run whose lease lapsed before `now` as failed:
    /// the process running it died (see [`Store::start_run`]).
    pub async fn fail_lapsed_runs(&self, now: DateTime<Utc>) -> Result<u64> {
        self.fail_runs("lease_until < $2", now, now).await
    }

    async fn fail_runs<T>(&self, condition: &str, value: T, now: DateTime<Utc>) -> Result<u64>
    where
        T: Clone + Send + Sync,
        for<'q> T: sqlx::Encode<'q, Sqlite>
            + sqlx::Type<Sqlite>
            + sqlx::Encode<'q, Postgres>
            + sqlx::Type<Postgres>,
    {
        let mut done = 0;
        for (stored, error) in [
            (
                false,
                "interrupted before its import was stored; nothing of it was stored",
            ),
            (
                true,
                "interrupted after its import was stored; the months it changed are re-allocated by the next run",
            ),
        ] {
            let sql = format!(
                "UPDATE import_runs SET status = 'failed', finished_at = $1, error = $3 \
                 WHERE status = 'running' AND import_id IS {} NULL AND {condition}",
                if stored { "NOT" } else { "" }
            );
            with_pool!(self, pool => {
                done += sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(now)
                    .bind(value.clone())
                    .bind(error)
                    .execute(pool)
                    .await?
                    .rows_affected();
            });
        }
        Ok(done)
    }

    /// Records the start of a run; returns its id. The run holds a lease of
    /// [`RUN_LEASE`] that its process renews while it runs.
    pub async fn start_run(&self, source: &str, trigger: Trigger) -> Result<i64> {
        let now = Utc::now();
        with_pool!(self, pool => {
            let id: i64 = sqlx::query_scalar(
                "INSERT INTO import_runs (source, trigger, started_at, status, lease_until) VALUES ($1, $2, $3, 'running', $4) RETURNING id",
            )
            .bind(source)
            .bind(trigger.as_str())
            .bind(now)
            .bind(now + RUN_LEASE)
            .fetch_one(pool)
            .await?;
            Ok(id)
        })
    }

    /// Extends a running run's lease by [`RUN_LEASE`] from now.
    pub async fn renew_run_lease(&self, id: i64) -> Result<()> {
        with_pool!(self, pool => {
            sqlx::query("UPDATE import_runs SET lease_until = $1 WHERE id = $2 AND status = 'running'")
                .bind(Utc::now() + RUN_LEASE)
                .bind(id)
                .execute(pool)
                .await?;
        });
        Ok(())
    }

    /// Records how a run ended. `rows` and `months` replace what its import
    /// recorded only when given (`None`: a run that failed keeps its
    /// import's figures, if it stored one).
    pub async fn finish_run(
        &self,
        id: i64,
        succeeded: bool,
        rows_read: Option<u64>,
        months: &[Month],
        error: Option<&str>,
    ) -> Result<()> {
        let months = months
            .iter()
            .map(Month::to_string)
            .collect::<Vec<_>>()
            .join(",");
        with_pool!(self, pool => {
            sqlx::query(
                "UPDATE import_runs SET finished_at = $1, status = $2, \
                 rows_read = COALESCE($3, rows_read), months = CASE WHEN $3 IS NULL THEN months ELSE $4 END, error = $5 WHERE id = $6",
            )
            .bind(Utc::now())
            .bind(if succeeded { RunStatus::Succeeded } else { RunStatus::Failed }.as_str())
            .bind(rows_read.map(|r| r as i64))
            .bind(&months)
            .bind(error.unwrap_or(""))
            .bind(id)
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    /// One run by id.
    pub async fn import_run(&self, id: i64) -> Result<Option<ImportRun>> {
        Ok(self.runs_where(Some(id), 1).await?.pop())
    }

    /// The latest runs, newest first.
    pub async fn import_runs(&self, limit: u32) -> Result<Vec<ImportRun>> {
        self.runs_where(None, limit).await
    }

    async fn runs_where(&self, id: Option<i64>, limit: u32) -> Result<Vec<ImportRun>> {
        type Raw = (
            i64,
            String,
            String,
            DateTime<Utc>,
            Option<DateTime<Utc>>,
            String,
            i64,
            String,
            String,
        );
        with_pool!(self, pool => {
            let rows: Vec<Raw> = sqlx::query_as(
                "SELECT id, source, trigger, started_at, finished_at, status, rows_read, months, error \
                 FROM import_runs WHERE ($1 IS NULL OR id = $1) ORDER BY id DESC LIMIT $2",
            )
            .bind(id)
            .bind(i64::from(limit))
            .fetch_all(pool)
            .await?;
            rows.into_iter()
                .map(|(id, source, trigger, started_at, finished_at, status, rows_read, months, error)| {
                    Ok(ImportRun {
                        id,
                        source,
                        trigger: Trigger::parse(&trigger)?,
                        started_at,
                        finished_at,
                        status: RunStatus::parse(&status)?,
                        rows_read: rows_read as u64,
                        months: months
                            .split(',')
                            .filter(|m| !m.is_empty())
                            .map(|m| Month::parse(m).map_err(|e| StoreError::Corrupt(e.to_string())))
                            .collect::<Result<_>>()?,
                        error: (!error.is_empty()).then_some(error),
                    })
                })
                .collect()
        })
    }

    /// The periods of a billing account still marked as estimated.
    pub async fn estimated_periods(&self, account: &str) -> Result<Vec<NaiveDate>> {
        with_pool!(self, pool => {
            let days: Vec<NaiveDate> = sqlx::query_scalar(
                "SELECT billing_period_start FROM billing_partitions WHERE billing_account_id = $1 AND estimated \
                 ORDER BY billing_period_start",
            )
            .bind(account)
            .fetch_all(pool)
            .await?;
            Ok(days)
        })
    }

    /// Months that have stored cost lines, oldest first.
    pub async fn months_with_data(&self) -> Result<Vec<Month>> {
        with_pool!(self, pool => {
            let days: Vec<NaiveDate> = sqlx::query_scalar("SELECT DISTINCT charge_date FROM cost_lines")
                .fetch_all(pool)
                .await?;
            let months: BTreeSet<Month> = days.into_iter().map(Month::of).collect();
            Ok(months.into_iter().collect())
        })
    }
}

/// Adds one to a month's input version within a transaction that changes
/// its inputs (the same statement on both backends).
async fn bump_version<DB>(
    tx: &mut Transaction<'_, DB>,
    month: Month,
    now: DateTime<Utc>,
) -> Result<()>
where
    DB: sqlx::Database,
    for<'c> &'c mut DB::Connection: sqlx::Executor<'c, Database = DB>,
    for<'q> String: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    for<'q> DateTime<Utc>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    for<'q> <DB as sqlx::Database>::Arguments: sqlx::IntoArguments<DB>,
{
    sqlx::query(
        "INSERT INTO month_changes (month, changed_at, version) VALUES ($1, $2, 1) \
         ON CONFLICT (month) DO UPDATE SET changed_at = excluded.changed_at, version = month_changes.version + 1",
    )
    .bind(month.to_string())
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

fn parse_known(known: &str) -> Result<Vec<TeamId>> {
    known
        .lines()
        .map(|t| TeamId::parse(t).map_err(|e| StoreError::Corrupt(e.to_string())))
        .collect()
}

/// An `allocations` row as selected: month, day, owner, service, currency,
/// rule, pool, amount, lines.
type RawAllocationRow = (
    String,
    NaiveDate,
    String,
    String,
    String,
    String,
    String,
    String,
    bool,
    DbDecimal,
    i64,
);

fn allocation_row(raw: RawAllocationRow) -> Result<AllocationRow> {
    let (month, day, owner, service_name, account, currency, rule, pool, recurring, amount, lines) =
        raw;
    Ok(AllocationRow {
        month: Month::parse(&month).map_err(|e| StoreError::Corrupt(e.to_string()))?,
        day,
        owner: Owner::from_name(&owner).map_err(|e| StoreError::Corrupt(e.to_string()))?,
        service_name,
        account,
        currency: Currency::parse(&currency).map_err(|e| StoreError::Corrupt(e.to_string()))?,
        rule,
        pool: (!pool.is_empty()).then_some(pool),
        recurring,
        amount: amount.0,
        lines: lines as u64,
    })
}

/// Hides a password in a database URL before it is shown anywhere.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = &url[scheme + 3..at];
            match userinfo.find(':') {
                Some(colon) => format!(
                    "{}{}:***{}",
                    &url[..scheme + 3],
                    &userinfo[..colon],
                    &url[at..]
                ),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

/// An import in progress: one database transaction.
pub struct ImportTx {
    tx: Tx,
    import_id: i64,
    /// What this import holds per (billing account, billing period).
    partitions: BTreeMap<(String, NaiveDate), PartitionContent>,
    months: BTreeSet<Month>,
    lines_stored: u64,
    /// Every (account, period) replaces its own partition (sources without
    /// exports, such as Cost Explorer's days), instead of strays joining the
    /// export's period.
    every_period: bool,
    /// Partitions the provider marked as estimated.
    estimated: BTreeSet<(String, NaiveDate)>,
    /// The source run this import belongs to, recorded with the import.
    run: Option<i64>,
}

/// The rows, content digest and months (charge and invoice) of one (account, period).
#[derive(Default, Clone, Debug)]
struct PartitionContent {
    rows: u64,
    /// Order-independent: the wrapping sum of the lines' hashes.
    digest: u64,
    months: BTreeSet<Month>,
}

/// A stable hash of a stored line (its fields, amounts and row count).
fn line_digest(l: &StoredLine) -> u64 {
    use std::hash::{Hash, Hasher};
    // Fixed keys: the same line hashes the same in every run.
    #[allow(deprecated)]
    let mut h = std::hash::SipHasher::new_with_keys(0x616c6c6f74, 0x6469676573);
    l.line.hash(&mut h);
    l.source_rows.hash(&mut h);
    h.finish()
}

impl ImportTx {
    /// Makes every (account, period) of this import replace its own
    /// partition: for sources whose periods are days, not exports.
    pub fn claim_every_period(&mut self) {
        self.every_period = true;
    }

    /// Marks a partition as estimated by the provider.
    pub fn mark_estimated(&mut self, account: &str, period: NaiveDate) {
        self.estimated.insert((account.to_string(), period));
    }

    /// Writes lines (visible to others only after commit).
    pub async fn insert_lines(&mut self, lines: &[StoredLine]) -> Result<()> {
        for l in lines {
            let line = &l.line;
            let key = (line.billing_account_id.clone(), line.billing_period_start);
            let content = self.partitions.entry(key).or_default();
            content.rows += l.source_rows;
            content.digest = content.digest.wrapping_add(line_digest(l));
            // Both views of the data change: its charge month's and its invoice's.
            content.months.insert(line.month());
            content.months.insert(line.month_in(Period::Billing));
            self.months.insert(line.month());
        }
        let import_id = self.import_id;
        for chunk in lines.chunks(INSERT_BATCH) {
            with_tx!(&mut self.tx, tx => {
                let mut qb = QueryBuilder::new(format!("INSERT INTO cost_lines (import_id, partition_period, {LINE_COLUMNS}) "));
                qb.push_values(chunk, |mut b, l| {
                    let line = &l.line;
                    b.push_bind(import_id)
                        .push_bind(line.billing_period_start)
                        .push_bind(line.charge_period_start.date_naive())
                        .push_bind(line.charge_period_start)
                        .push_bind(line.charge_period_end)
                        .push_bind(line.billing_period_start)
                        .push_bind(line.billing_period_end)
                        .push_bind(line.billing_account_id.clone())
                        .push_bind(line.billing_account_name.clone())
                        .push_bind(line.sub_account_id.clone())
                        .push_bind(line.sub_account_name.clone())
                        .push_bind(line.provider.clone())
                        .push_bind(line.service_name.clone())
                        .push_bind(line.service_category.clone())
                        .push_bind(line.region.clone())
                        .push_bind(line.resource_id.clone())
                        .push_bind(line.charge_category.as_str())
                        .push_bind(line.charge_class.clone())
                        .push_bind(line.currency.as_str().to_string())
                        .push_bind(DbDecimal(line.billed_cost))
                        .push_bind(DbDecimal(line.effective_cost))
                        .push_bind(DbDecimal(line.list_cost))
                        .push_bind(line.contracted_cost.map(DbDecimal))
                        .push_bind(line.consumed_quantity.map(DbDecimal))
                        .push_bind(line.consumed_unit.clone())
                        .push_bind(encoding::tags_to_json(&line.tags))
                        .push_bind(l.source_rows as i64);
                });
                qb.build().execute(&mut **tx).await?;
            });
        }
        self.lines_stored += lines.len() as u64;
        Ok(())
    }

    /// Replaces, for each billing account, the billing period this export
    /// is of (the one holding most of the account's rows) with its new lines;
    /// records the import and the months whose data changed, and commits.
    ///
    /// Rows of other billing periods (the stray rows of a neighbouring
    /// period real exports carry) join the export's period, so they are
    /// replaced with this export and never delete another export's rows.
    pub async fn commit(self, rows_read: u64) -> Result<ImportSummary> {
        let ImportTx {
            tx,
            import_id,
            partitions,
            months,
            lines_stored,
            every_period,
            estimated,
            run,
        } = self;
        let plan = if every_period {
            PartitionPlan {
                claimed: partitions.keys().cloned().collect(),
                strays: vec![],
            }
        } else {
            claim_partitions(&partitions)
        };
        let now = Utc::now();
        let mut changed: BTreeSet<Month> = BTreeSet::new();
        with_tx!(tx, owned => {
            let mut tx = owned;
            for (account, stray, home) in &plan.strays {
                sqlx::query(
                    "UPDATE cost_lines SET partition_period = $1 \
                     WHERE billing_account_id = $2 AND partition_period = $3 AND import_id = $4",
                )
                .bind(*home)
                .bind(account)
                .bind(*stray)
                .bind(import_id)
                .execute(&mut *tx)
                .await?;
            }
            for (account, period) in &plan.claimed {
                let mut content = PartitionContent::default();
                for ((a, p), c) in &partitions {
                    let joins = plan.strays.iter().any(|(sa, sp, home)| sa == a && sp == p && home == period);
                    if a == account && (p == period || joins) {
                        content.digest = content.digest.wrapping_add(c.digest);
                        content.months.extend(c.months.iter().copied());
                    }
                }
                let digest = format!("{:016x}", content.digest);
                // Lock the partition first, so that concurrent imports of
                // one export replace each other instead of adding up.
                sqlx::query(
                    "INSERT INTO billing_partitions (billing_account_id, billing_period_start, import_id, digest) \
                     VALUES ($1, $2, $3, '') \
                     ON CONFLICT (billing_account_id, billing_period_start) DO UPDATE SET import_id = billing_partitions.import_id",
                )
                .bind(account)
                .bind(*period)
                .bind(import_id)
                .execute(&mut *tx)
                .await?;
                let previous: String = sqlx::query_scalar(
                    "SELECT digest FROM billing_partitions WHERE billing_account_id = $1 AND billing_period_start = $2",
                )
                .bind(account)
                .bind(*period)
                .fetch_one(&mut *tx)
                .await?;
                if previous != digest {
                    // The charge months and invoice months of the lines replaced.
                    for column in ["charge_date", "billing_period_start"] {
                        let old_days: Vec<NaiveDate> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
                            "SELECT DISTINCT {column} FROM cost_lines \
                             WHERE billing_account_id = $1 AND partition_period = $2 AND import_id <> $3"
                        )))
                        .bind(account)
                        .bind(*period)
                        .bind(import_id)
                        .fetch_all(&mut *tx)
                        .await?;
                        changed.extend(old_days.into_iter().map(Month::of));
                    }
                    changed.extend(content.months.iter().copied());
                }
                sqlx::query(
                    "DELETE FROM cost_lines WHERE billing_account_id = $1 AND partition_period = $2 AND import_id <> $3",
                )
                .bind(account)
                .bind(*period)
                .bind(import_id)
                .execute(&mut *tx)
                .await?;
                sqlx::query(
                    "UPDATE billing_partitions SET import_id = $1, digest = $2, estimated = $3 \
                     WHERE billing_account_id = $4 AND billing_period_start = $5",
                )
                .bind(import_id)
                .bind(&digest)
                .bind(estimated.contains(&(account.clone(), *period)))
                .bind(account)
                .bind(*period)
                .execute(&mut *tx)
                .await?;
            }
            for month in &changed {
                bump_version(&mut tx, *month, now).await?;
            }
            if let Some(run) = run {
                // The run's record says, with the data, that its import was stored.
                let months = changed.iter().map(Month::to_string).collect::<Vec<_>>().join(",");
                sqlx::query("UPDATE import_runs SET import_id = $1, rows_read = $2, months = $3 WHERE id = $4")
                    .bind(import_id)
                    .bind(rows_read as i64)
                    .bind(&months)
                    .bind(run)
                    .execute(&mut *tx)
                    .await?;
            }
            sqlx::query("UPDATE imports SET rows_read = $1, lines_stored = $2, imported_at = $3 WHERE id = $4")
                .bind(rows_read as i64)
                .bind(lines_stored as i64)
                .bind(now)
                .bind(import_id)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
        });
        Ok(ImportSummary {
            import_id,
            rows_read,
            lines_stored,
            partitions: plan.claimed,
            months: months.into_iter().collect(),
            changed_months: changed.into_iter().collect(),
        })
    }
}

#[derive(Debug, PartialEq, Eq)]
struct PartitionPlan {
    /// (account, the billing period the export is of).
    claimed: Vec<(String, NaiveDate)>,
    /// (account, stray period, the claimed period its rows join)
    strays: Vec<(String, NaiveDate, NaiveDate)>,
}

/// Per account, the period with most rows (the earliest on a tie) is the
/// export's period; every other period's rows are strays that join it.
fn claim_partitions(rows: &BTreeMap<(String, NaiveDate), PartitionContent>) -> PartitionPlan {
    let mut by_account: BTreeMap<&str, Vec<(NaiveDate, u64)>> = BTreeMap::new();
    for ((account, period), content) in rows {
        by_account
            .entry(account)
            .or_default()
            .push((*period, content.rows));
    }
    let mut plan = PartitionPlan {
        claimed: vec![],
        strays: vec![],
    };
    for (account, periods) in by_account {
        let Some(home) = periods
            .iter()
            .max_by(|a, b| a.1.cmp(&b.1).then(b.0.cmp(&a.0)))
            .map(|p| p.0)
        else {
            continue;
        };
        plan.claimed.push((account.to_string(), home));
        for (period, _) in periods.into_iter().filter(|p| p.0 != home) {
            plan.strays.push((account.to_string(), period, home));
        }
    }
    plan
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(n: u64) -> PartitionContent {
        PartitionContent {
            rows: n,
            ..Default::default()
        }
    }

    #[test]
    fn stray_rows_of_a_neighbouring_period_join_the_export_period() {
        let sep = NaiveDate::from_ymd_opt(2024, 9, 1).unwrap();
        let oct = NaiveDate::from_ymd_opt(2024, 10, 1).unwrap();
        let plan = claim_partitions(&BTreeMap::from([
            (("a".to_string(), sep), rows(6)),
            (("a".to_string(), oct), rows(1)),
            (("b".to_string(), oct), rows(5)),
        ]));
        assert_eq!(
            plan.claimed,
            vec![("a".to_string(), sep), ("b".to_string(), oct)]
        );
        assert_eq!(plan.strays, vec![("a".to_string(), oct, sep)]);
    }

    #[test]
    fn an_export_is_of_one_billing_period_per_account() {
        let aug = NaiveDate::from_ymd_opt(2024, 8, 1).unwrap();
        let sep = NaiveDate::from_ymd_opt(2024, 9, 1).unwrap();
        let plan = claim_partitions(&BTreeMap::from([
            (("a".to_string(), aug), rows(400)),
            (("a".to_string(), sep), rows(600)),
        ]));
        assert_eq!(plan.claimed, vec![("a".to_string(), sep)]);
        let tie = claim_partitions(&BTreeMap::from([
            (("a".to_string(), aug), rows(5)),
            (("a".to_string(), sep), rows(5)),
        ]));
        assert_eq!(
            tie.claimed,
            vec![("a".to_string(), aug)],
            "the earliest period on a tie"
        );
    }

    #[test]
    fn redacts_passwords() {
        assert_eq!(redact("postgres://u:secret@h/db"), "postgres://u:***@h/db");
        assert_eq!(redact("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(redact("sqlite://allot.db"), "sqlite://allot.db");
    }
}

/// A stored pool share, as its columns hold it.
#[derive(sqlx::FromRow)]
struct RawPoolShare {
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
