//! Usage-metric importer: CSV with the columns `date,team,metric,quantity`
//! (any order, a header row). `date` is a day (`2026-10-05`) or a month
//! (`2026-10`, recorded on its first day). The file is checked completely
//! before anything is stored (`service::usage` stores it, in one
//! transaction).

use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use rust_decimal::Decimal;

use super::ImportError;
use super::values::decimal;
use crate::domain::{Metric, Month, TeamId, UsageKeys, UsageRecord};

const EXPECTED: &str = "a usage file with the columns date,team,metric,quantity";

/// Where a usage record was read: a file and its line.
pub type RecordAt = (PathBuf, u64);

/// Reads and checks a usage CSV file, one of a batch whose records `keys`
/// holds: a batch has one record per date, team and metric.
pub fn read(path: &Path, keys: &mut UsageKeys<RecordAt>) -> Result<Vec<UsageRecord>, ImportError> {
    let mut csv = super::open_small_csv(path)?;
    let headers = csv.headers().clone();
    let index = super::HeaderIndex::new(path, &headers, super::plain_column_key, |_| true);
    let col = |name: &str| {
        index.get(name).ok_or_else(|| ImportError::MissingColumn {
            path: path.to_path_buf(),
            column: name.to_string(),
            expected: EXPECTED,
        })
    };
    let (date_col, team_col, metric_col, quantity_col) =
        (col("date")?, col("team")?, col("metric")?, col("quantity")?);
    index.finish()?;
    let mut records = Vec::new();
    let mut record = csv::StringRecord::new();
    while csv.read(&mut record)? {
        let line = record.position().map(|p| p.line()).unwrap_or(0);
        let get = |i: usize| record.get(i).unwrap_or("");
        let err = |column: &str, expected: &str, found: &str| ImportError::Value {
            path: path.to_path_buf(),
            line,
            column: column.to_string(),
            expected: expected.to_string(),
            found: found.to_string(),
        };
        let cells = [
            get(date_col),
            get(team_col),
            get(metric_col),
            get(quantity_col),
        ];
        let parsed = parse_record(cells[0], cells[1], cells[2], cells[3]).map_err(
            |(column, expected)| {
                let found = match column {
                    "date" => cells[0],
                    "team" => cells[1],
                    "metric" => cells[2],
                    _ => cells[3],
                };
                err(column, expected, found)
            },
        )?;
        if let Err((file, first)) = keys.insert(&parsed, (path.to_path_buf(), line)) {
            let place = if file == path {
                format!("line {first}")
            } else {
                format!("`{}` line {first}", file.display())
            };
            return Err(err(
                "date",
                &format!("one row per date, team and metric ({place} has the same)"),
                get(date_col),
            ));
        }
        records.push(parsed);
    }
    Ok(records)
}

/// A usage record from its four cells, or the column that is wrong and
/// what it should hold.
pub fn parse_record(
    date: &str,
    team: &str,
    metric: &str,
    quantity: &str,
) -> Result<UsageRecord, (&'static str, &'static str)> {
    let date = parse_date(date).ok_or(("date", "a day `YYYY-MM-DD` or a month `YYYY-MM`"))?;
    let team = TeamId::parse(team).map_err(|_| {
        (
            "team",
            "a team name of lower-case letters, digits, `-`, `_` or `.`",
        )
    })?;
    let metric =
        Metric::parse(metric).map_err(|_| ("metric", "a metric name such as `cpu_core_hours`"))?;
    let quantity = decimal(quantity)
        .filter(|q| *q >= Decimal::ZERO)
        .ok_or(("quantity", "a non-negative decimal number"))?;
    Ok(UsageRecord {
        date,
        team,
        metric,
        quantity,
    })
}

fn parse_date(s: &str) -> Option<NaiveDate> {
    let t = s.trim();
    crate::domain::month::parse_day(t).or_else(|| Month::parse(t).ok().map(|m| m.first_day()))
}
