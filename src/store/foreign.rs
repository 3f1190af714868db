//! Other databases: the query of an `sql` metric source, run on the
//! PostgreSQL database it names (a product database, not allot's). The
//! session is read-only (`default_transaction_read_only`), the query is one
//! statement (sent as a prepared statement, so `;`-chained statements are
//! refused by the server) with a statement timeout, and its rows are
//! bounded in number. Cells come back as text, by column type, for the
//! caller to check as it checks file rows.

use std::str::FromStr;
use std::time::Duration;

use futures_util::TryStreamExt;
use sqlx::{Column, Connection, Row, TypeInfo, ValueRef};

/// How long connecting may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);
/// How long the query may run (the server enforces it).
pub const STATEMENT_TIMEOUT: &str = "120s";
/// The most rows one query may return.
pub const MAX_ROWS: usize = 1_000_000;

/// Why a query on another database gave no rows.
#[derive(Debug, thiserror::Error)]
pub enum ForeignError {
    #[error("`{url}` is not a PostgreSQL URL ({cause}): expected postgres://USER@HOST/DATABASE")]
    BadUrl { url: String, cause: String },
    #[error("cannot connect to `{url}`: {cause}")]
    Connect { url: String, cause: String },
    #[error("the query failed: {0}")]
    Query(String),
    #[error(
        "the query returned more than {MAX_ROWS} rows: aggregate it to one row per day (and scope)"
    )]
    TooManyRows,
    #[error(
        "column {position} (`{name}`) has the type {type_name}, which is not read: cast it to date, numeric or text in the query (`{name}::text`)"
    )]
    Type {
        position: usize,
        name: String,
        type_name: String,
    },
}

/// The rows of a query: each cell as text (`None` for NULL).
#[derive(Debug, Default)]
pub struct ForeignRows {
    /// Column names, in order.
    pub columns: Vec<String>,
    pub rows: Vec<Vec<Option<String>>>,
}

/// Runs `query` read-only on the PostgreSQL database at `url`.
pub async fn query_postgres(url: &str, query: &str) -> Result<ForeignRows, ForeignError> {
    let shown = super::redact(url);
    let options = sqlx::postgres::PgConnectOptions::from_str(url)
        .map_err(|e| ForeignError::BadUrl {
            url: shown.clone(),
            cause: e.to_string(),
        })?
        .application_name("allot metrics source")
        .options([
            ("default_transaction_read_only", "on"),
            ("statement_timeout", STATEMENT_TIMEOUT),
        ]);
    let connect = |cause: String| ForeignError::Connect {
        url: shown.clone(),
        cause,
    };
    let mut conn = tokio::time::timeout(
        CONNECT_TIMEOUT,
        sqlx::postgres::PgConnection::connect_with(&options),
    )
    .await
    .map_err(|_| connect(format!("no answer within {CONNECT_TIMEOUT:?}")))?
    .map_err(|e| connect(e.to_string()))?;
    let result = read(&mut conn, query).await;
    let _ = conn.close().await;
    result
}

async fn read(
    conn: &mut sqlx::postgres::PgConnection,
    query: &str,
) -> Result<ForeignRows, ForeignError> {
    let mut out = ForeignRows::default();
    let mut rows = sqlx::query(sqlx::AssertSqlSafe(query.to_string()))
        .persistent(false)
        .fetch(&mut *conn);
    while let Some(row) = rows
        .try_next()
        .await
        .map_err(|e| ForeignError::Query(e.to_string()))?
    {
        if out.rows.len() == MAX_ROWS {
            return Err(ForeignError::TooManyRows);
        }
        if out.columns.is_empty() {
            out.columns = row.columns().iter().map(|c| c.name().to_string()).collect();
        }
        let mut cells = Vec::with_capacity(row.len());
        for i in 0..row.len() {
            cells.push(cell(&row, i)?);
        }
        out.rows.push(cells);
    }
    Ok(out)
}

/// Cell `i` of `row` as text: dates as `YYYY-MM-DD` (a timestamp at
/// midnight is its day; another time keeps its time, and is refused as a
/// date later), numbers exactly as the server holds them.
fn cell(row: &sqlx::postgres::PgRow, i: usize) -> Result<Option<String>, ForeignError> {
    let column = &row.columns()[i];
    let type_name = column.type_info().name().to_string();
    let decode = |e: sqlx::Error| ForeignError::Query(format!("column {}: {e}", i + 1));
    if row.try_get_raw(i).map_err(decode)?.is_null() {
        return Ok(None);
    }
    let text = match type_name.as_str() {
        "DATE" => row
            .try_get::<chrono::NaiveDate, _>(i)
            .map_err(decode)?
            .to_string(),
        "TIMESTAMP" => day_or_time(row.try_get::<chrono::NaiveDateTime, _>(i).map_err(decode)?),
        "TIMESTAMPTZ" => day_or_time(
            row.try_get::<chrono::DateTime<chrono::Utc>, _>(i)
                .map_err(decode)?
                .naive_utc(),
        ),
        "NUMERIC" => row
            .try_get::<rust_decimal::Decimal, _>(i)
            .map_err(|_| {
                ForeignError::Query(format!(
                    "column {} (`{}`) holds a number with more than 28 digits or NaN",
                    i + 1,
                    column.name()
                ))
            })?
            .to_string(),
        "INT2" => row.try_get::<i16, _>(i).map_err(decode)?.to_string(),
        "INT4" => row.try_get::<i32, _>(i).map_err(decode)?.to_string(),
        "INT8" => row.try_get::<i64, _>(i).map_err(decode)?.to_string(),
        "FLOAT4" => row.try_get::<f32, _>(i).map_err(decode)?.to_string(),
        "FLOAT8" => row.try_get::<f64, _>(i).map_err(decode)?.to_string(),
        "TEXT" | "VARCHAR" | "BPCHAR" | "NAME" => row.try_get::<String, _>(i).map_err(decode)?,
        _ => {
            return Err(ForeignError::Type {
                position: i + 1,
                name: column.name().to_string(),
                type_name,
            });
        }
    };
    Ok(Some(text))
}

fn day_or_time(t: chrono::NaiveDateTime) -> String {
    if t.time() == chrono::NaiveTime::MIN {
        t.date().to_string()
    } else {
        t.to_string()
    }
}
