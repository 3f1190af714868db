//! FOCUS 1.0-1.3 cost-and-usage importer (CSV, gzip CSV and Parquet).
//!
//! Reading runs on a blocking thread and hands batches of rolled-up lines to
//! the async side, which writes them into one import transaction. Memory is
//! bounded by the roll-up limit and the channel depth, not the file size.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};

use tokio::sync::mpsc;

use super::progress::ProgressReader;
use super::rollup::{Amounts, Rollup, daily_period};
use super::values::{PeriodProblem, check_periods, decimal, is_null, opt_text, timestamp};
use super::{CsvFile, ImportError, Progress, ReadOptions};
use crate::domain::StoredLine;
use crate::domain::{ChargeCategory, CostLine, Currency, Tags};
use crate::store::{ImportSummary, Store};

/// Distinct pending lines before the roll-up is drained to the database.
const ROLLUP_MAX_KEYS: usize = 25_000;
/// Distinct tag sets remembered before the parse cache is cleared.
const TAG_CACHE_MAX: usize = 50_000;
/// Longer tag texts are parsed each time rather than remembered.
const TAG_CACHE_MAX_TEXT: usize = 1024;

/// The FOCUS columns allot reads. `ServiceProviderName` (1.3) is preferred
/// over the deprecated `ProviderName` when both exist.
#[derive(Debug)]
struct Columns {
    billed_cost: usize,
    effective_cost: usize,
    list_cost: usize,
    contracted_cost: Option<usize>,
    currency: usize,
    billing_account_id: usize,
    billing_account_name: Option<usize>,
    billing_period_start: usize,
    billing_period_end: usize,
    charge_period_start: usize,
    charge_period_end: usize,
    charge_category: usize,
    charge_class: Option<usize>,
    provider: usize,
    service_name: Option<usize>,
    service_category: Option<usize>,
    sub_account_id: Option<usize>,
    sub_account_name: Option<usize>,
    region: Option<usize>,
    resource_id: Option<usize>,
    consumed_quantity: Option<usize>,
    consumed_unit: Option<usize>,
    tags: Option<usize>,
    /// Every column above except the amounts and the charge period: the
    /// cells that identify a line for the roll-up.
    identity: Vec<usize>,
}

impl Columns {
    fn resolve(path: &Path, headers: &csv::StringRecord) -> Result<Columns, ImportError> {
        super::ensure_header(path, headers)?;
        let index = super::HeaderIndex::new(path, headers, column_key, |_| true);
        let opt = |name: &str| index.get(name);
        let req = |name: &str| {
            opt(name).ok_or_else(|| match super::recognise(headers) {
                Some(kind) if kind != super::ExportKind::Focus => {
                    kind.wrong_format(path, "a FOCUS cost-and-usage export")
                }
                _ => ImportError::MissingColumn {
                    expected: "a FOCUS 1.0-1.3 cost-and-usage export",
                    path: path.to_path_buf(),
                    column: name.to_string(),
                },
            })
        };
        let provider = match opt("ServiceProviderName").or_else(|| opt("ProviderName")) {
            Some(i) => i,
            None => req("ProviderName")?,
        };
        let mut cols = Columns {
            billed_cost: req("BilledCost")?,
            effective_cost: req("EffectiveCost")?,
            list_cost: req("ListCost")?,
            contracted_cost: opt("ContractedCost"),
            currency: req("BillingCurrency")?,
            billing_account_id: req("BillingAccountId")?,
            billing_account_name: opt("BillingAccountName"),
            billing_period_start: req("BillingPeriodStart")?,
            billing_period_end: req("BillingPeriodEnd")?,
            charge_period_start: req("ChargePeriodStart")?,
            charge_period_end: req("ChargePeriodEnd")?,
            charge_category: req("ChargeCategory")?,
            charge_class: opt("ChargeClass"),
            provider,
            service_name: opt("ServiceName"),
            service_category: opt("ServiceCategory"),
            sub_account_id: opt("SubAccountId"),
            sub_account_name: opt("SubAccountName"),
            region: opt("RegionId").or_else(|| opt("Region")),
            resource_id: opt("ResourceId"),
            consumed_quantity: opt("ConsumedQuantity"),
            consumed_unit: opt("ConsumedUnit"),
            tags: opt("Tags"),
            identity: Vec::new(),
        };
        cols.identity = [
            Some(cols.currency),
            Some(cols.billing_account_id),
            cols.billing_account_name,
            Some(cols.billing_period_start),
            Some(cols.billing_period_end),
            Some(cols.charge_category),
            cols.charge_class,
            Some(cols.provider),
            cols.service_name,
            cols.service_category,
            cols.sub_account_id,
            cols.sub_account_name,
            cols.region,
            cols.resource_id,
            cols.consumed_unit,
            cols.tags,
        ]
        .into_iter()
        .flatten()
        .collect();
        index.finish()?;
        Ok(cols)
    }
}

/// How a column name is matched: case, `_`, spaces and a BOM do not matter,
/// so `BilledCost`, `billedcost` and `billed_cost` are the same column.
fn column_key(name: &str) -> String {
    name.trim_start_matches('\u{feff}')
        .chars()
        .filter(|c| *c != '_' && !c.is_whitespace())
        .flat_map(char::to_lowercase)
        .collect()
}

/// Parses rows of one file into cost lines, with the row's position in errors.
struct RowParser {
    path: PathBuf,
    headers: csv::StringRecord,
    cols: Columns,
    tag_cache: HashMap<String, Tags>,
    /// The last timestamp cell parsed and its value: exports repeat them.
    last_times: [(String, Option<DateTime<Utc>>); 2],
    key: Vec<u8>,
}

impl RowParser {
    fn err(&self, line: u64, col: usize, expected: &str, found: &str) -> ImportError {
        ImportError::Value {
            path: self.path.clone(),
            line,
            column: self.headers.get(col).unwrap_or("?").trim().to_string(),
            expected: expected.to_string(),
            found: found.to_string(),
        }
    }

    fn tags(&mut self, record: &csv::StringRecord, line: u64) -> Result<Tags, ImportError> {
        let Some(col) = self.cols.tags else {
            return Ok(Tags::default());
        };
        let raw = record.get(col).unwrap_or("");
        if is_null(raw) {
            return Ok(Tags::default());
        }
        if let Some(t) = self.tag_cache.get(raw) {
            return Ok(t.clone());
        }
        let t = super::values::tags_json(raw).map_err(|e| self.err(line, col, &e, raw))?;
        if self.tag_cache.len() >= TAG_CACHE_MAX {
            self.tag_cache.clear();
        }
        if raw.len() <= TAG_CACHE_MAX_TEXT {
            self.tag_cache.insert(raw.to_string(), t.clone());
        }
        Ok(t)
    }

    fn time(
        &mut self,
        record: &csv::StringRecord,
        line: u64,
        which: usize,
    ) -> Result<DateTime<Utc>, ImportError> {
        let col = if which == 0 {
            self.cols.charge_period_start
        } else {
            self.cols.charge_period_end
        };
        let raw = record.get(col).unwrap_or("");
        let cached = &mut self.last_times[which];
        if cached.0 != raw {
            cached.0.clear();
            cached.0.push_str(raw);
            cached.1 = timestamp(raw);
        }
        cached.1.ok_or_else(|| {
            self.err(
                line,
                col,
                "a timestamp such as `2024-09-01T00:00:00Z` or `2024-09-01 00:00:00` (years 2000 to 2099)",
                raw,
            )
        })
    }

    /// The row's charge period, validated.
    fn period(
        &mut self,
        record: &csv::StringRecord,
        line: u64,
    ) -> Result<(DateTime<Utc>, DateTime<Utc>), ImportError> {
        let start = self.time(record, line, 0)?;
        let end = self.time(record, line, 1)?;
        if end < start {
            let get = |i: usize| record.get(i).unwrap_or("");
            return Err(self.err(
                line,
                self.cols.charge_period_end,
                &format!(
                    "a time not before ChargePeriodStart `{}`",
                    get(self.cols.charge_period_start)
                ),
                get(self.cols.charge_period_end),
            ));
        }
        Ok((start, end))
    }

    /// The row's amounts, validated.
    fn amounts(&self, record: &csv::StringRecord, line: u64) -> Result<Amounts, ImportError> {
        let c = &self.cols;
        let get = |i: usize| record.get(i).unwrap_or("");
        let money =
            |i: usize| decimal(get(i)).ok_or_else(|| self.err(line, i, "a decimal number", get(i)));
        let opt_money = |i: Option<usize>| match i {
            Some(i) if !is_null(get(i)) => money(i).map(Some),
            _ => Ok(None),
        };
        Ok(Amounts {
            billed: money(c.billed_cost)?,
            effective: money(c.effective_cost)?,
            list: money(c.list_cost)?,
            contracted: opt_money(c.contracted_cost)?,
            quantity: opt_money(c.consumed_quantity)?,
        })
    }

    /// Parses one row into the roll-up.
    fn add_to(
        &mut self,
        rollup: &mut Rollup,
        record: &csv::StringRecord,
        line: u64,
    ) -> Result<(), ImportError> {
        let (start, end) = self.period(record, line)?;
        let amounts = self.amounts(record, line)?;
        let (day_start, day_end) = daily_period(start, end);
        let mut key = std::mem::take(&mut self.key);
        key.clear();
        for &i in &self.cols.identity {
            key.extend_from_slice(record.get(i).unwrap_or("").as_bytes());
            key.push(0x1f);
        }
        key.extend_from_slice(&day_start.timestamp().to_le_bytes());
        key.extend_from_slice(&day_end.timestamp().to_le_bytes());
        let result = rollup.add(&key, amounts, || {
            self.parse(record, line, (start, end), amounts)
        });
        self.key = key;
        result
    }

    /// Parses every column of a row (called once per distinct line).
    fn parse(
        &mut self,
        record: &csv::StringRecord,
        line: u64,
        (charge_period_start, charge_period_end): (DateTime<Utc>, DateTime<Utc>),
        amounts: Amounts,
    ) -> Result<CostLine, ImportError> {
        if let Some(&col) = self
            .cols
            .identity
            .iter()
            .find(|&&i| record.get(i).is_some_and(|v| v.contains('\0')))
        {
            let found = record.get(col).unwrap_or("").replace('\0', "\\0");
            return Err(self.err(line, col, "text without NUL bytes", &found));
        }
        let tags = self.tags(record, line)?;
        let c = &self.cols;
        let get = |i: usize| record.get(i).unwrap_or("");
        let opt = |i: Option<usize>| i.and_then(|i| opt_text(get(i)));
        let time = |i: usize| {
            timestamp(get(i)).ok_or_else(|| {
                self.err(
                    line,
                    i,
                    "a timestamp such as `2024-09-01T00:00:00Z` or `2024-09-01 00:00:00` (years 2000 to 2099)",
                    get(i),
                )
            })
        };
        let text = |i: usize| opt_text(get(i)).ok_or_else(|| self.err(line, i, "a value", get(i)));
        let category = get(c.charge_category);
        let charge_category = ChargeCategory::parse(category).ok_or_else(|| {
            self.err(
                line,
                c.charge_category,
                "one of Usage, Purchase, Tax, Credit, Adjustment",
                category,
            )
        })?;
        let currency_text = get(c.currency);
        let currency = Currency::parse(currency_text).map_err(|_| {
            self.err(
                line,
                c.currency,
                "a three-letter ISO 4217 currency code",
                currency_text,
            )
        })?;
        let cost_line = CostLine {
            charge_period_start,
            charge_period_end,
            billing_period_start: time(c.billing_period_start)?.date_naive(),
            billing_period_end: time(c.billing_period_end)?.date_naive(),
            billing_account_id: text(c.billing_account_id)?,
            billing_account_name: opt(c.billing_account_name),
            sub_account_id: opt(c.sub_account_id),
            sub_account_name: opt(c.sub_account_name),
            provider: text(c.provider)?,
            service_name: opt(c.service_name),
            service_category: opt(c.service_category),
            region: opt(c.region),
            resource_id: opt(c.resource_id),
            charge_category,
            charge_class: opt(c.charge_class),
            currency,
            billed_cost: amounts.billed,
            effective_cost: amounts.effective,
            list_cost: amounts.list,
            contracted_cost: amounts.contracted,
            consumed_quantity: amounts.quantity,
            consumed_unit: opt(c.consumed_unit),
            tags,
        };
        if let Err(problem) = check_periods(&cost_line) {
            let col = match problem {
                PeriodProblem::TooLong => c.charge_period_end,
                PeriodProblem::FarFromBilling => c.charge_period_start,
            };
            return Err(self.err(line, col, &problem.expected(), get(col)));
        }
        Ok(cost_line)
    }
}

pub(super) fn open(
    path: &Path,
    progress: Progress,
) -> Result<(Box<dyn Read + Send>, indicatif::ProgressBar), ImportError> {
    let io = |source| ImportError::Io {
        path: path.to_path_buf(),
        source,
    };
    let file = File::open(path).map_err(io)?;
    let size = file.metadata().map(|m| m.len()).unwrap_or(0);
    let bar = progress.bar(&path.display().to_string(), size);
    let mut reader = BufReader::with_capacity(1 << 20, ProgressReader::new(file, bar.clone()));
    let gzipped = reader.fill_buf().map_err(io)?.starts_with(&[0x1f, 0x8b]);
    let reader: Box<dyn Read + Send> = if gzipped {
        Box::new(BufReader::with_capacity(
            1 << 20,
            flate2::bufread::MultiGzDecoder::new(reader),
        ))
    } else {
        Box::new(reader)
    };
    Ok((reader, bar))
}

/// Reads every file, sending rolled-up batches; returns the number of rows read.
/// Records per batch handed from the CSV reader to the row parser.
const RECORD_BATCH: usize = 4096;
/// Bytes of text per batch, at most (long rows make short batches).
const RECORD_BATCH_BYTES: usize = 8 << 20;
/// Records holding more text than this are not kept for reuse.
const RECORD_REUSE_MAX: usize = 64 << 10;
/// Batches in flight between the two threads (bounds memory).
const RECORD_BATCHES_IN_FLIGHT: usize = 4;

/// Reads a file's next record (`false` at the end), CSV or Parquet.
type NextRecord = Box<dyn FnMut(&mut csv::StringRecord) -> Result<bool, ImportError>>;

/// What the CSV reader thread hands the row parser.
enum Chunk {
    /// A new file starts.
    File {
        path: PathBuf,
        headers: csv::StringRecord,
    },
    Records(Vec<csv::StringRecord>),
    Failed(ImportError),
}

/// Thread 1: splits the files into CSV records (decompressing on the way).
/// Record buffers come back through `recycle` so they are reused.
fn read_records(
    paths: &[PathBuf],
    options: ReadOptions,
    out: &std::sync::mpsc::SyncSender<Chunk>,
    recycle: &std::sync::mpsc::Receiver<Vec<csv::StringRecord>>,
) {
    let read = || -> Result<(), ImportError> {
        let mut files = Vec::with_capacity(paths.len());
        for path in paths {
            let mut rows = super::FileRows::new(path);
            // CSV (plain or gzip) or Parquet (as AWS Data Exports delivers FOCUS).
            let (headers, mut next, bar): (_, NextRecord, _) =
                if super::parquet_rows::is_parquet(path)? {
                    let mut file = super::parquet_rows::ParquetRows::open(path)?;
                    let headers = file.headers().clone();
                    (
                        headers,
                        Box::new(move |r| file.read(r)),
                        indicatif::ProgressBar::hidden(),
                    )
                } else {
                    let (reader, bar) = open(path, options.progress)?;
                    let mut csv = CsvFile::open(path, reader, options.limits)?;
                    let headers = csv.headers().clone();
                    (headers, Box::new(move |r| csv.read(r)), bar)
                };
            if out
                .send(Chunk::File {
                    path: path.clone(),
                    headers,
                })
                .is_err()
            {
                return Ok(());
            }
            loop {
                let mut batch = recycle
                    .try_recv()
                    .unwrap_or_else(|_| Vec::with_capacity(RECORD_BATCH));
                batch.resize_with(RECORD_BATCH, csv::StringRecord::new);
                let (mut filled, mut bytes, mut done) = (0, 0, false);
                while filled < RECORD_BATCH && bytes < RECORD_BATCH_BYTES {
                    if !next(&mut batch[filled])? {
                        done = true;
                        break;
                    }
                    bytes += batch[filled].as_slice().len();
                    rows.add(&batch[filled]);
                    filled += 1;
                }
                batch.truncate(filled);
                if filled > 0 && out.send(Chunk::Records(batch)).is_err() {
                    return Ok(());
                }
                if done {
                    break;
                }
            }
            bar.finish_and_clear();
            files.push(rows);
        }
        super::check_repeated_rows(&files)
    };
    if let Err(e) = read() {
        let _ = out.send(Chunk::Failed(e));
    }
}

/// Thread 2: parses records into the roll-up and sends drained batches of
/// lines to the database writer. Returns the number of rows read.
fn parse_records(
    chunks: std::sync::mpsc::Receiver<Chunk>,
    recycle: std::sync::mpsc::SyncSender<Vec<csv::StringRecord>>,
    out: &mpsc::Sender<Vec<StoredLine>>,
) -> Result<u64, ImportError> {
    let mut rollup = Rollup::new(ROLLUP_MAX_KEYS);
    let mut rows = 0u64;
    let mut parser: Option<RowParser> = None;
    for chunk in chunks {
        match chunk {
            Chunk::File { path, headers } => {
                let cols = Columns::resolve(&path, &headers)?;
                parser = Some(RowParser {
                    path,
                    headers,
                    cols,
                    tag_cache: HashMap::new(),
                    last_times: Default::default(),
                    key: Vec::new(),
                });
            }
            Chunk::Records(batch) => {
                let parser = parser.as_mut().ok_or(ImportError::Interrupted)?;
                for record in &batch {
                    let line = record.position().map(|p| p.line()).unwrap_or(0);
                    parser.add_to(&mut rollup, record, line)?;
                    rows += 1;
                    if rollup.is_full() && out.blocking_send(rollup.drain()).is_err() {
                        return Err(ImportError::Interrupted);
                    }
                }
                let mut batch = batch;
                for r in batch.iter_mut() {
                    if r.as_slice().len() > RECORD_REUSE_MAX {
                        *r = csv::StringRecord::new();
                    }
                }
                let _ = recycle.try_send(batch);
            }
            Chunk::Failed(e) => return Err(e),
        }
    }
    if out.blocking_send(rollup.drain()).is_err() {
        return Err(ImportError::Interrupted);
    }
    Ok(rows)
}

/// Imports FOCUS exports as one atomic import. Files given together are one
/// export (for example the parts of one billing period); for each billing
/// account and billing period they hold, they replace what an earlier
/// import stored.
pub async fn import(
    store: &Store,
    paths: &[PathBuf],
    options: impl Into<ReadOptions>,
) -> Result<ImportSummary, ImportError> {
    let options = options.into();
    super::import_files(store, "focus", paths, options.run, move |owned, sender| {
        let (chunk_tx, chunk_rx) = std::sync::mpsc::sync_channel(RECORD_BATCHES_IN_FLIGHT);
        let (recycle_tx, recycle_rx) = std::sync::mpsc::sync_channel(RECORD_BATCHES_IN_FLIGHT + 1);
        tokio::task::spawn_blocking(move || read_records(&owned, options, &chunk_tx, &recycle_rx));
        tokio::task::spawn_blocking(move || parse_records(chunk_rx, recycle_tx, &sender))
    })
    .await
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use proptest::prelude::*;

    use super::super::fuzz::{assert_bounded, csv_text, hostile_cell, read_with, sample};
    use super::*;

    const FIXTURE: &str = "fixtures/focus/demo-2026-10.csv";

    /// Reads `paths` as `import` does (a reading thread, a parsing one),
    /// sending the lines to `out`.
    fn read(paths: Vec<PathBuf>, out: mpsc::Sender<Vec<StoredLine>>) -> Result<u64, ImportError> {
        let (chunk_tx, chunk_rx) = std::sync::mpsc::sync_channel(RECORD_BATCHES_IN_FLIGHT);
        let (recycle_tx, recycle_rx) = std::sync::mpsc::sync_channel(RECORD_BATCHES_IN_FLIGHT + 1);
        let reader = std::thread::spawn(move || {
            read_records(&paths, ReadOptions::default(), &chunk_tx, &recycle_rx)
        });
        let parsed = parse_records(chunk_rx, recycle_tx, &out);
        reader.join().expect("the reading thread ends");
        parsed
    }

    #[test]
    fn the_fixture_reads() {
        let (header, row) = sample(FIXTURE);
        let (_, _dir, result) = read_with("export.csv", &csv_text(&header, &[row]), read);
        assert_eq!(result.unwrap(), 1);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(allot_core::domain::sample::fuzz_cases(192)))]

        /// A real row with up to four cells replaced by hostile ones.
        #[test]
        fn hostile_cells_give_lines_or_a_bounded_error(
            cells in prop::collection::vec((any::<prop::sample::Index>(), hostile_cell()), 1..5),
        ) {
            let (header, row) = sample(FIXTURE);
            let mut bad = row.clone();
            for (at, cell) in &cells {
                let i = at.index(bad.len());
                bad[i] = cell.clone();
            }
            let (path, _dir, result) = read_with("export.csv", &csv_text(&header, &[row, bad]), read);
            assert_bounded(&path, &result)?;
            if let Ok(rows) = result {
                prop_assert_eq!(rows, 2);
            }
        }

        /// A header with a column dropped, repeated or renamed.
        #[test]
        fn mangled_headers_are_refused_or_read(
            at in any::<prop::sample::Index>(),
            how in 0..3u8,
            name in hostile_cell(),
        ) {
            let (mut header, mut row) = sample(FIXTURE);
            let i = at.index(header.len());
            match how {
                0 => {
                    header.remove(i);
                    row.remove(i);
                }
                1 => {
                    header.push(header[i].clone());
                    row.push(row[i].clone());
                }
                _ => header[i] = name,
            }
            let (path, _dir, result) = read_with("export.csv", &csv_text(&header, &[row]), read);
            assert_bounded(&path, &result)?;
        }

        /// Arbitrary bytes, alone or after a valid header.
        #[test]
        fn arbitrary_bytes_never_panic(
            bytes in prop::collection::vec(any::<u8>(), 0..4096),
            with_header in any::<bool>(),
        ) {
            let (header, _) = sample(FIXTURE);
            let mut text = if with_header { csv_text(&header, &[]) } else { Vec::new() };
            text.extend_from_slice(&bytes);
            let (path, _dir, result) = read_with("export.csv", &text, read);
            assert_bounded(&path, &result)?;
        }
    }
}
