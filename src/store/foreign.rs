//! Other databases: the query of an `sql` metric source, run on the
//! PostgreSQL database it names (a product database, not allot's).
//!
//! The query runs as a subquery (`SELECT * FROM (query) AS q`, so it can
//! only be a query: no `DO`, `COPY`, `SET`, `CALL` or data-modifying
//! `WITH`), in a `READ ONLY` transaction that is rolled back, as one
//! prepared statement (`;`-chained statements are refused by the server),
//! with a statement timeout on the server and a deadline here. A role that
//! is a superuser is refused: read-only is not a boundary for functions that
//! reach outside the transaction (`dblink`, large objects), so the role's
//! privileges are the real one. Rows are bounded in number and cells in
//! size; cells come back as text, by column type, for the caller to check
//! as it checks file rows.

use std::str::FromStr;
use std::time::Duration;

use futures_util::TryStreamExt;
use sqlx::{Column, Connection, Row, TypeInfo, ValueRef};

use super::redact;

/// How long connecting may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);
/// How long the query may run (the server enforces it).
pub const STATEMENT_TIMEOUT: &str = "120s";
/// How long a whole query may take here, whatever the server does.
pub const QUERY_DEADLINE: Duration = Duration::from_secs(150);
/// The most rows one query may return.
pub const MAX_ROWS: usize = 1_000_000;
/// The longest cell.
pub const MAX_CELL_BYTES: usize = 4096;

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
        "the query did not finish within {} seconds: make it cheaper (an index on its date column) or narrow its days",
        QUERY_DEADLINE.as_secs()
    )]
    Timeout,
    #[error(
        "the role `{0}` is a superuser: connect as a role that can only read what the queries need"
    )]
    Superuser(String),
    #[error("row {row}, column {column}: a cell longer than {MAX_CELL_BYTES} bytes")]
    CellTooLong { row: usize, column: usize },
    #[error(
        "row {row}, column {column}: the number has more digits than the 28 allot keeps exactly: round it in the query (`round(x, 6)`)"
    )]
    Inexact { row: usize, column: usize },
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
    let shown = redact(url);
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
    let result = match tokio::time::timeout(QUERY_DEADLINE, read(&mut conn, query)).await {
        Ok(result) => result,
        Err(_) => Err(ForeignError::Timeout),
    };
    let _ = conn.close().await;
    result
}

/// The user's query as a subquery: trailing `;` and blanks removed, and on
/// lines of its own, so a trailing `--` comment cannot swallow the end.
fn wrapped(query: &str) -> String {
    let query = query.trim().trim_end_matches(';').trim_end();
    format!("SELECT * FROM (\n{query}\n) AS allot_source_query")
}

async fn read(
    conn: &mut sqlx::postgres::PgConnection,
    query: &str,
) -> Result<ForeignRows, ForeignError> {
    let fail = |e: sqlx::Error| ForeignError::Query(e.to_string());
    let (user, superuser): (String, bool) = sqlx::query_as(
        "SELECT current_user::text, rolsuper FROM pg_roles WHERE rolname = current_user",
    )
    .fetch_one(&mut *conn)
    .await
    .map_err(fail)?;
    if superuser {
        return Err(ForeignError::Superuser(user));
    }
    let mut tx = conn.begin().await.map_err(fail)?;
    sqlx::query("SET TRANSACTION READ ONLY")
        .execute(&mut *tx)
        .await
        .map_err(fail)?;
    let out = rows(&mut tx, query).await;
    // Nothing the query did is kept, whatever it was.
    let _ = tx.rollback().await;
    out
}

async fn rows(
    conn: &mut sqlx::postgres::PgConnection,
    query: &str,
) -> Result<ForeignRows, ForeignError> {
    let mut out = ForeignRows::default();
    let mut rows = sqlx::query(sqlx::AssertSqlSafe(wrapped(query)))
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
            let n = out.rows.len() + 1;
            let text = cell(&row, i).map_err(|e| match e {
                ForeignError::Inexact { column, .. } => ForeignError::Inexact { row: n, column },
                ForeignError::CellTooLong { column, .. } => {
                    ForeignError::CellTooLong { row: n, column }
                }
                other => other,
            })?;
            if text.as_ref().is_some_and(|t| t.len() > MAX_CELL_BYTES) {
                return Err(ForeignError::CellTooLong {
                    row: n,
                    column: i + 1,
                });
            }
            cells.push(text);
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
    let raw = row.try_get_raw(i).map_err(decode)?;
    if raw.is_null() {
        return Ok(None);
    }
    // A long cell is refused before it is decoded (or copied).
    if raw.as_bytes().map_or(0, <[u8]>::len) > MAX_CELL_BYTES {
        return Err(ForeignError::CellTooLong {
            row: 0,
            column: i + 1,
        });
    }
    // NUMERIC's binary form: ndigits, weight, sign, dscale (16 bits each);
    // `dscale` is the number of digits after the point it holds.
    let numeric_scale = match (type_name.as_str(), raw.as_bytes()) {
        ("NUMERIC", Ok(bytes)) if bytes.len() >= 8 => {
            Some(u32::from(u16::from_be_bytes([bytes[6], bytes[7]])))
        }
        _ => None,
    };
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
        "NUMERIC" => {
            let value = row.try_get::<rust_decimal::Decimal, _>(i).map_err(|_| {
                ForeignError::Query(format!(
                    "column {} (`{}`) holds a number with more than 28 digits or NaN",
                    i + 1,
                    column.name()
                ))
            })?;
            // rust_decimal rounds what it cannot hold: refuse instead.
            if numeric_scale.is_some_and(|scale| scale > value.scale()) {
                return Err(ForeignError::Inexact {
                    row: 0,
                    column: i + 1,
                });
            }
            value.to_string()
        }
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
