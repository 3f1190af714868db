//! The store: every SQL statement allot runs lives here. One `Store` type
//! over two backends, SQLite (the embedded default) and PostgreSQL (the
//! production store), running the same statements with `$n` placeholders.
//!
//! Money never passes through floats: see [`decimal::DbDecimal`]. Amounts are
//! summed in Rust, never in SQL.

mod decimal;

mod encoding;

use std::str::FromStr;

use chrono::{DateTime, Utc};

use sqlx::postgres::{PgPool, PgPoolOptions};

use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

use sqlx::{Postgres, Sqlite, Transaction};

use crate::domain::Month;

use crate::engine::AllocationRow;

pub use decimal::DbDecimal;

/// Rows per multi-row INSERT (kept under both backends' parameter limits).
const INSERT_BATCH: usize = 1000;

/// The default database: an SQLite file in the working directory.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://allot.db";

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

mod allocations;
mod anomalies;
mod audit;
pub mod foreign;
mod import;
mod lines;
mod metrics;
mod runs;
mod tokens;
mod usage;

pub use allocations::{AllocationRun, ChargeRun, MonthView};
pub use audit::{AuditEntry, AuditFilter};
pub use import::{ImportSummary, ImportTx};
pub use metrics::{MetricChange, MetricWrite};
pub use runs::{ImportRun, RUN_LEASE, RunStatus, SourceLock, Trigger};
pub use tokens::StoredToken;

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
            let store = Store::Sqlite(pool);
            store.upgrade_digests().await?;
            Ok(store)
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
            let store = Store::Postgres(pool);
            store.upgrade_digests().await?;
            Ok(store)
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

    /// The pool's connections now, for telemetry.
    pub fn pool_stats(&self) -> crate::telemetry::PoolStats {
        with_pool!(self, pool => crate::telemetry::PoolStats {
            open: pool.size(),
            idle: u32::try_from(pool.num_idle()).unwrap_or(u32::MAX),
            max: pool.options().get_max_connections(),
        })
    }

    /// Answers whether the database can be reached.
    pub async fn ping(&self) -> Result<()> {
        with_pool!(self, pool => { sqlx::query("SELECT 1").execute(pool).await?; });
        Ok(())
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

/// Hides a password in a database URL before it is shown anywhere: the
/// user info's (`user:***@host`) and a `password=` parameter's, in a query
/// string or a `key=value` connection string.
pub fn redact(url: &str) -> String {
    let masked = match (url.find("://"), url.rfind('@')) {
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
    };
    let mut out = String::with_capacity(masked.len());
    let mut rest = masked.as_str();
    while let Some(at) = rest.to_ascii_lowercase().find("password=") {
        let value = at + "password=".len();
        out.push_str(&rest[..value]);
        out.push_str("***");
        let end = rest[value..]
            .find(|c: char| c == '&' || c.is_whitespace())
            .map_or(rest.len(), |e| value + e);
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_passwords() {
        assert_eq!(redact("postgres://u:secret@h/db"), "postgres://u:***@h/db");
        assert_eq!(redact("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(redact("sqlite://allot.db"), "sqlite://allot.db");
        assert_eq!(
            redact("postgres://u@h/db?sslmode=require&password=hunter2&x=1"),
            "postgres://u@h/db?sslmode=require&password=***&x=1"
        );
        assert_eq!(
            redact("host=db PASSWORD=hunter2 dbname=shop"),
            "host=db PASSWORD=*** dbname=shop"
        );
    }
}
