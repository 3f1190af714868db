//! Import runs and source locks: the record of each run of a configured
//! source (with a lease a live process renews, so a run whose process died
//! is failed), and the lock that keeps two runs of one source apart.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use sqlx::{Postgres, Sqlite, Transaction};

use super::{Result, Store, StoreError};
use crate::domain::Month;

/// How long a run's record stays `running` without its process renewing
/// it: a run whose lease lapsed was cut short by a process that died.
pub const RUN_LEASE: chrono::TimeDelta = chrono::TimeDelta::seconds(120);

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
pub(super) static RUNNING_SOURCES: std::sync::LazyLock<
    std::sync::Mutex<BTreeSet<(std::path::PathBuf, String)>>,
> = std::sync::LazyLock::new(|| std::sync::Mutex::new(BTreeSet::new()));

/// A stable 64-bit key for a source's advisory lock.
pub(super) fn lock_key(name: &str) -> i64 {
    // FNV-1a: the same key in every process and version.
    let mut h: u64 = 0xcbf29ce484222325;
    for b in b"allot-source:".iter().chain(name.as_bytes()) {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x100000001b3);
    }
    h as i64
}

impl Store {
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
                 WHERE status = 'running' AND {} AND {condition}",
                if stored {
                    "(import_id IS NOT NULL OR metrics_stored)"
                } else {
                    "(import_id IS NULL AND NOT metrics_stored)"
                }
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
        with_pool!(self, pool => {
            let rows: Vec<RawRun> = sqlx::query_as(
                "SELECT id, source, trigger, started_at, finished_at, status, rows_read, months, error \
                 FROM import_runs WHERE ($1 IS NULL OR id = $1) ORDER BY id DESC LIMIT $2",
            )
            .bind(id)
            .bind(i64::from(limit))
            .fetch_all(pool)
            .await?;
            rows.into_iter()
                .map(|r| {
                    Ok(ImportRun {
                        id: r.id,
                        source: r.source,
                        trigger: Trigger::parse(&r.trigger)?,
                        started_at: r.started_at,
                        finished_at: r.finished_at,
                        status: RunStatus::parse(&r.status)?,
                        rows_read: r.rows_read as u64,
                        months: r.months
                            .split(',')
                            .filter(|m| !m.is_empty())
                            .map(|m| Month::parse(m).map_err(|e| StoreError::Corrupt(e.to_string())))
                            .collect::<Result<_>>()?,
                        error: (!r.error.is_empty()).then_some(r.error),
                    })
                })
                .collect()
        })
    }
}

/// An `import_runs` row.
#[derive(sqlx::FromRow)]
struct RawRun {
    id: i64,
    source: String,
    trigger: String,
    started_at: DateTime<Utc>,
    finished_at: Option<DateTime<Utc>>,
    status: String,
    rows_read: i64,
    /// Months, comma-separated.
    months: String,
    /// Empty when the run did not fail.
    error: String,
}
