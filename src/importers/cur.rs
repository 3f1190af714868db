//! AWS Cost and Usage Report importer (CSV and gzip CSV): legacy CUR
//! (`lineItem/UnblendedCost`, tags as `resourceTags/user:team`), its
//! snake_case variant (`line_item_unblended_cost`, `resource_tags_user_team`)
//! and CUR 2.0 / Data Exports (snake_case, tags in a `resource_tags` map);
//! CSV, gzip CSV or Parquet.
//!
//! Each row becomes a cost line whose billed cost is the unblended cost and
//! whose effective cost is the amortized cost AWS shows (see
//! `docs/importers.md` for the mapping). The billing account is the payer
//! account; an import replaces the payer's billing period like a FOCUS one.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use tokio::sync::mpsc;

use super::rollup::{Amounts, Rollup, daily_period};
use super::values::{decimal, is_null, opt_text, timestamp};
use super::{CsvFile, ImportError, ReadOptions};
use crate::domain::StoredLine;
use crate::domain::{ChargeCategory, CostLine, Currency, Tags};
use crate::store::{ImportSummary, Store};

const ROLLUP_MAX_KEYS: usize = 25_000;
const EXPECTED: &str = "an AWS Cost and Usage Report (legacy, snake_case or CUR 2.0)";

/// A column name with case, `/`, `_` and `:` removed: `lineItem/UnblendedCost`
/// and `line_item_unblended_cost` are the same column.
fn column_key(name: &str) -> String {
    name.trim_start_matches('\u{feff}')
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .flat_map(|c| c.to_lowercase())
        .collect()
}

/// The tag key a tag column holds, if it is one: `resourceTags/user:team`
/// and `resource_tags_user_team` both hold `team`.
fn tag_column(name: &str) -> Option<String> {
    let name = name.trim();
    let key = name
        .strip_prefix("resourceTags/")
        .or_else(|| name.strip_prefix("resource_tags_"))?;
    let key = key
        .strip_prefix("user:")
        .or_else(|| key.strip_prefix("user_"))
        .unwrap_or(key);
    (!key.is_empty()).then(|| key.to_string())
}

#[derive(Debug)]
struct Columns {
    line_item_type: usize,
    unblended_cost: usize,
    currency: usize,
    usage_start: usize,
    usage_end: usize,
    billing_start: usize,
    billing_end: usize,
    payer: usize,
    payer_name: Option<usize>,
    usage_account: Option<usize>,
    usage_account_name: Option<usize>,
    product_name: Option<usize>,
    product_code: Option<usize>,
    region: Option<usize>,
    resource_id: Option<usize>,
    usage_amount: Option<usize>,
    unit: Option<usize>,
    public_on_demand_cost: Option<usize>,
    reservation_effective_cost: Option<usize>,
    reservation_unused_upfront: Option<usize>,
    reservation_unused_recurring: Option<usize>,
    reservation_arn: Option<usize>,
    sp_effective_cost: Option<usize>,
    sp_total_commitment: Option<usize>,
    sp_used_commitment: Option<usize>,
    /// (column, tag key) of legacy and snake_case tag columns.
    tag_columns: Vec<(usize, String)>,
    /// CUR 2.0's `resource_tags` map (JSON).
    tag_map: Option<usize>,
    /// The cells a cost line is made of (besides amounts and period): rows
    /// alike in these are one line for the roll-up. Line item ids and other
    /// columns allot does not keep are left out, so hourly rows merge.
    identity: Vec<usize>,
}

impl Columns {
    fn resolve(path: &Path, headers: &csv::StringRecord) -> Result<Columns, ImportError> {
        super::ensure_header(path, headers)?;
        let mut tag_columns = Vec::new();
        let mut tag_map = None;
        for (i, h) in headers.iter().enumerate() {
            if h.trim() == "resource_tags" {
                tag_map = Some(i);
            } else if let Some(key) = tag_column(h) {
                tag_columns.push((i, key));
            }
        }
        let index = super::HeaderIndex::new(path, headers, column_key, |h| {
            h.trim() != "resource_tags" && tag_column(h).is_none()
        });
        let opt = |name: &str| index.get(name);
        let req = |name: &str| {
            opt(name).ok_or_else(|| match super::recognise(headers) {
                Some(kind) if kind != super::ExportKind::Cur => {
                    kind.wrong_format(path, "an AWS Cost and Usage Report")
                }
                _ => ImportError::MissingColumn {
                    path: path.to_path_buf(),
                    column: name.to_string(),
                    expected: EXPECTED,
                },
            })
        };
        let mut cols = Columns {
            line_item_type: req("lineItem/LineItemType")?,
            unblended_cost: req("lineItem/UnblendedCost")?,
            currency: req("lineItem/CurrencyCode")?,
            usage_start: req("lineItem/UsageStartDate")?,
            usage_end: req("lineItem/UsageEndDate")?,
            billing_start: req("bill/BillingPeriodStartDate")?,
            billing_end: req("bill/BillingPeriodEndDate")?,
            payer: req("bill/PayerAccountId")?,
            payer_name: opt("bill/PayerAccountName"),
            usage_account: opt("lineItem/UsageAccountId"),
            usage_account_name: opt("lineItem/UsageAccountName"),
            product_name: opt("product/ProductName"),
            product_code: opt("lineItem/ProductCode"),
            region: opt("product/regionCode").or_else(|| opt("product/region")),
            resource_id: opt("lineItem/ResourceId"),
            usage_amount: opt("lineItem/UsageAmount"),
            unit: opt("pricing/unit"),
            public_on_demand_cost: opt("pricing/publicOnDemandCost"),
            reservation_effective_cost: opt("reservation/EffectiveCost"),
            reservation_unused_upfront: opt(
                "reservation/UnusedAmortizedUpfrontFeeForBillingPeriod",
            ),
            reservation_unused_recurring: opt("reservation/UnusedRecurringFee"),
            reservation_arn: opt("reservation/ReservationARN"),
            sp_effective_cost: opt("savingsPlan/SavingsPlanEffectiveCost"),
            sp_total_commitment: opt("savingsPlan/TotalCommitmentToDate"),
            sp_used_commitment: opt("savingsPlan/UsedCommitment"),
            tag_columns,
            tag_map,
            identity: Vec::new(),
        };
        cols.identity = [
            Some(cols.line_item_type),
            Some(cols.currency),
            Some(cols.billing_start),
            Some(cols.billing_end),
            Some(cols.payer),
            cols.payer_name,
            cols.usage_account,
            cols.usage_account_name,
            cols.product_name,
            cols.product_code,
            cols.region,
            cols.resource_id,
            cols.unit,
            cols.tag_map,
        ]
        .into_iter()
        .flatten()
        .chain(cols.tag_columns.iter().map(|(i, _)| *i))
        .collect();
        index.finish()?;
        Ok(cols)
    }
}

/// The AWS line item types and what allot makes of them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum LineItemType {
    Usage,
    DiscountedUsage,
    RiFee,
    Fee,
    SavingsPlanCoveredUsage,
    SavingsPlanNegation,
    SavingsPlanRecurringFee,
    SavingsPlanUpfrontFee,
    Tax,
    Credit,
    Refund,
    Discount,
}

impl LineItemType {
    fn parse(s: &str) -> Option<Self> {
        Some(match s.trim() {
            "Usage" => LineItemType::Usage,
            "DiscountedUsage" => LineItemType::DiscountedUsage,
            "RIFee" => LineItemType::RiFee,
            "Fee" => LineItemType::Fee,
            "SavingsPlanCoveredUsage" => LineItemType::SavingsPlanCoveredUsage,
            "SavingsPlanNegation" => LineItemType::SavingsPlanNegation,
            "SavingsPlanRecurringFee" => LineItemType::SavingsPlanRecurringFee,
            "SavingsPlanUpfrontFee" => LineItemType::SavingsPlanUpfrontFee,
            "Tax" => LineItemType::Tax,
            "Credit" => LineItemType::Credit,
            "Refund" => LineItemType::Refund,
            "EdpDiscount"
            | "BundledDiscount"
            | "PrivateRateDiscount"
            | "SppDiscount"
            | "DistributorDiscount"
            | "Discount" => LineItemType::Discount,
            _ => return None,
        })
    }

    fn charge_category(self) -> ChargeCategory {
        match self {
            LineItemType::Usage
            | LineItemType::DiscountedUsage
            | LineItemType::SavingsPlanCoveredUsage
            | LineItemType::SavingsPlanNegation => ChargeCategory::Usage,
            LineItemType::RiFee
            | LineItemType::Fee
            | LineItemType::SavingsPlanRecurringFee
            | LineItemType::SavingsPlanUpfrontFee => ChargeCategory::Purchase,
            LineItemType::Tax => ChargeCategory::Tax,
            LineItemType::Credit | LineItemType::Refund | LineItemType::Discount => {
                ChargeCategory::Credit
            }
        }
    }
}

struct RowParser {
    path: PathBuf,
    headers: csv::StringRecord,
    cols: Columns,
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

    fn money(
        &self,
        record: &csv::StringRecord,
        line: u64,
        col: usize,
    ) -> Result<Decimal, ImportError> {
        let raw = record.get(col).unwrap_or("");
        decimal(raw).ok_or_else(|| self.err(line, col, "a decimal number", raw))
    }

    /// An amount that may be empty (zero then), in an optional column.
    fn opt_money(
        &self,
        record: &csv::StringRecord,
        line: u64,
        col: Option<usize>,
    ) -> Result<Decimal, ImportError> {
        match col {
            Some(c) if !is_null(record.get(c).unwrap_or("")) => self.money(record, line, c),
            _ => Ok(Decimal::ZERO),
        }
    }

    fn time(
        &self,
        record: &csv::StringRecord,
        line: u64,
        col: usize,
    ) -> Result<DateTime<Utc>, ImportError> {
        let raw = record.get(col).unwrap_or("");
        timestamp(raw)
            .ok_or_else(|| self.err(line, col, "a timestamp such as `2024-09-01T00:00:00Z`", raw))
    }

    /// The row's type, period and amounts (billed = unblended; effective =
    /// amortized, per `docs/importers.md`).
    fn amounts(
        &self,
        record: &csv::StringRecord,
        line: u64,
    ) -> Result<(LineItemType, Amounts), ImportError> {
        let c = &self.cols;
        let raw_type = record.get(c.line_item_type).unwrap_or("");
        let kind = LineItemType::parse(raw_type).ok_or_else(|| {
            self.err(line, c.line_item_type, "a CUR line item type such as Usage, DiscountedUsage, RIFee, SavingsPlanCoveredUsage, Tax or Credit", raw_type)
        })?;
        let unblended = self.money(record, line, c.unblended_cost)?;
        let required = |col: Option<usize>, name: &str| -> Result<Decimal, ImportError> {
            match col {
                Some(col) => self.money(record, line, col),
                None => Err(ImportError::MissingColumn {
                    path: self.path.clone(),
                    column: name.to_string(),
                    expected: EXPECTED,
                }),
            }
        };
        let has_reservation = c
            .reservation_arn
            .and_then(|i| record.get(i))
            .is_some_and(|v| !is_null(v));
        let effective = match kind {
            LineItemType::DiscountedUsage => {
                required(c.reservation_effective_cost, "reservation/EffectiveCost")?
            }
            LineItemType::RiFee => {
                self.opt_money(record, line, c.reservation_unused_upfront)?
                    + self.opt_money(record, line, c.reservation_unused_recurring)?
            }
            LineItemType::Fee if has_reservation => Decimal::ZERO,
            LineItemType::SavingsPlanCoveredUsage => {
                required(c.sp_effective_cost, "savingsPlan/SavingsPlanEffectiveCost")?
            }
            LineItemType::SavingsPlanRecurringFee => {
                required(c.sp_total_commitment, "savingsPlan/TotalCommitmentToDate")?
                    - self.opt_money(record, line, c.sp_used_commitment)?
            }
            LineItemType::SavingsPlanNegation | LineItemType::SavingsPlanUpfrontFee => {
                Decimal::ZERO
            }
            _ => unblended,
        };
        let list = match c.public_on_demand_cost {
            Some(col) if !is_null(record.get(col).unwrap_or("")) => {
                self.money(record, line, col)?
            }
            _ => unblended,
        };
        let quantity = match c.usage_amount {
            Some(col) if !is_null(record.get(col).unwrap_or("")) => {
                Some(self.money(record, line, col)?)
            }
            _ => None,
        };
        Ok((
            kind,
            Amounts {
                billed: unblended,
                effective,
                list,
                contracted: None,
                quantity,
            },
        ))
    }

    fn tags(&self, record: &csv::StringRecord, line: u64) -> Result<Tags, ImportError> {
        let mut tags = BTreeMap::new();
        for (col, key) in &self.cols.tag_columns {
            if let Some(v) = record.get(*col).filter(|v| !is_null(v)) {
                tags.insert(key.clone(), v.to_string());
            }
        }
        if let Some(col) = self.cols.tag_map {
            let raw = record.get(col).unwrap_or("");
            if !is_null(raw) {
                let map =
                    super::values::tags_json(raw).map_err(|e| self.err(line, col, &e, raw))?;
                for (k, v) in map.0 {
                    let key = k
                        .strip_prefix("user_")
                        .or_else(|| k.strip_prefix("user:"))
                        .unwrap_or(&k)
                        .to_string();
                    tags.insert(key, v);
                }
            }
        }
        Ok(Tags(tags))
    }

    fn parse(
        &self,
        record: &csv::StringRecord,
        line: u64,
        kind: LineItemType,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    ) -> Result<CostLine, ImportError> {
        let c = &self.cols;
        let get = |i: usize| record.get(i).unwrap_or("");
        let opt = |i: Option<usize>| i.and_then(|i| opt_text(get(i)));
        let currency_raw = get(c.currency);
        let currency = Currency::parse(currency_raw).map_err(|_| {
            self.err(
                line,
                c.currency,
                "a three-letter ISO 4217 currency code",
                currency_raw,
            )
        })?;
        let payer = opt_text(get(c.payer))
            .ok_or_else(|| self.err(line, c.payer, "a payer account id", get(c.payer)))?;
        let cost_line = CostLine {
            charge_period_start: start,
            charge_period_end: end,
            billing_period_start: self.time(record, line, c.billing_start)?.date_naive(),
            billing_period_end: self.time(record, line, c.billing_end)?.date_naive(),
            billing_account_id: payer,
            billing_account_name: opt(c.payer_name),
            sub_account_id: opt(c.usage_account),
            sub_account_name: opt(c.usage_account_name),
            provider: "AWS".to_string(),
            service_name: opt(c.product_name).or_else(|| opt(c.product_code)),
            service_category: None,
            region: opt(c.region),
            resource_id: opt(c.resource_id),
            charge_category: kind.charge_category(),
            charge_class: (kind == LineItemType::Refund).then(|| "Correction".to_string()),
            currency,
            billed_cost: Decimal::ZERO,
            effective_cost: Decimal::ZERO,
            list_cost: Decimal::ZERO,
            contracted_cost: None,
            consumed_quantity: None,
            consumed_unit: opt(c.unit),
            tags: self.tags(record, line)?,
        };
        if let Err(problem) = super::values::check_periods(&cost_line) {
            let col = match problem {
                super::values::PeriodProblem::TooLong => c.usage_end,
                super::values::PeriodProblem::FarFromBilling => c.usage_start,
            };
            return Err(self.err(line, col, &problem.expected(), get(col)));
        }
        Ok(cost_line)
    }
}

/// Reads every file into the roll-up, sending drained batches; returns rows read.
fn read_files(
    paths: &[PathBuf],
    options: ReadOptions,
    out: &mpsc::Sender<Vec<StoredLine>>,
) -> Result<u64, ImportError> {
    let mut reading = Reading {
        rollup: Rollup::new(ROLLUP_MAX_KEYS),
        rows: 0,
        key: Vec::new(),
        out,
    };
    let mut files = Vec::with_capacity(paths.len());
    for path in paths {
        let mut rows = super::FileRows::new(path);
        if super::parquet_rows::is_parquet(path)? {
            read_parquet(path, &mut reading, &mut rows)?;
        } else {
            let (reader, bar) = super::focus::open(path, options.progress)?;
            let mut csv = CsvFile::open(path, reader, options.limits)?;
            let headers = csv.headers().clone();
            let cols = Columns::resolve(path, &headers)?;
            let parser = RowParser {
                path: path.clone(),
                headers: headers.clone(),
                cols,
            };
            let mut record = csv::StringRecord::new();
            while csv.read(&mut record)? {
                let line = record.position().map(|p| p.line()).unwrap_or(0);
                rows.add(&record);
                reading.add(&parser, &record, line)?;
            }
            bar.finish_and_clear();
        }
        files.push(rows);
    }
    super::check_repeated_rows(&files)?;
    if out.blocking_send(reading.rollup.drain()).is_err() {
        return Err(ImportError::Interrupted);
    }
    Ok(reading.rows)
}

/// The roll-up of an import in progress.
struct Reading<'o> {
    rollup: Rollup,
    rows: u64,
    key: Vec<u8>,
    out: &'o mpsc::Sender<Vec<StoredLine>>,
}

impl Reading<'_> {
    /// Parses one row (a CSV record, or a Parquet row as text) into the roll-up.
    fn add(
        &mut self,
        parser: &RowParser,
        record: &csv::StringRecord,
        line: u64,
    ) -> Result<(), ImportError> {
        let start = parser.time(record, line, parser.cols.usage_start)?;
        let end = parser.time(record, line, parser.cols.usage_end)?;
        let (kind, amounts) = parser.amounts(record, line)?;
        let (day_start, day_end) = daily_period(start, end);
        self.key.clear();
        for &i in &parser.cols.identity {
            self.key
                .extend_from_slice(record.get(i).unwrap_or("").as_bytes());
            self.key.push(0x1f);
        }
        self.key
            .extend_from_slice(&day_start.timestamp().to_le_bytes());
        self.key
            .extend_from_slice(&day_end.timestamp().to_le_bytes());
        self.rollup.add(&self.key, amounts, || {
            parser.parse(record, line, kind, start, end)
        })?;
        self.rows += 1;
        if self.rollup.is_full() && self.out.blocking_send(self.rollup.drain()).is_err() {
            return Err(ImportError::Interrupted);
        }
        Ok(())
    }
}

/// Reads a Parquet CUR row by row through the CSV row parser.
fn read_parquet(
    path: &Path,
    reading: &mut Reading<'_>,
    rows: &mut super::FileRows,
) -> Result<(), ImportError> {
    let mut file = super::parquet_rows::ParquetRows::open(path)?;
    let headers = file.headers().clone();
    let cols = Columns::resolve(path, &headers)?;
    let parser = RowParser {
        path: path.to_path_buf(),
        headers,
        cols,
    };
    let mut record = csv::StringRecord::new();
    while file.read(&mut record)? {
        let n = record.position().map(|p| p.line()).unwrap_or(0);
        rows.add(&record);
        reading.add(&parser, &record, n)?;
    }
    Ok(())
}

/// Imports CUR files as one atomic import (the files of one report and
/// billing period, for example the parts a manifest lists).
pub async fn import(
    store: &Store,
    paths: &[PathBuf],
    options: impl Into<ReadOptions>,
) -> Result<ImportSummary, ImportError> {
    let options = options.into();
    super::import_files(store, "cur", paths, options.run, move |owned, sender| {
        tokio::task::spawn_blocking(move || read_files(&owned, options, &sender))
    })
    .await
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use proptest::prelude::*;

    use super::super::fuzz::{assert_bounded, csv_text, hostile_cell, read_with, sample};
    use super::*;

    /// Both CSV shapes: CUR 2.0's snake_case columns and the legacy
    /// `lineItem/...` ones.
    const FIXTURES: [&str; 2] = [
        "fixtures/cur/cur2-2026-09.csv",
        "fixtures/cur/legacy-2026-09.csv",
    ];

    fn read(paths: Vec<PathBuf>, out: mpsc::Sender<Vec<StoredLine>>) -> Result<u64, ImportError> {
        read_files(&paths, ReadOptions::default(), &out)
    }

    #[test]
    fn the_fixtures_read() {
        for fixture in FIXTURES {
            let (header, row) = sample(fixture);
            let (_, _dir, result) = read_with("cur.csv", &csv_text(&header, &[row]), read);
            assert_eq!(result.unwrap(), 1, "{fixture}");
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(allot_core::domain::sample::fuzz_cases(192)))]

        /// A real row of either shape with up to four cells replaced.
        #[test]
        fn hostile_cells_give_lines_or_a_bounded_error(
            legacy in any::<bool>(),
            cells in prop::collection::vec((any::<prop::sample::Index>(), hostile_cell()), 1..5),
        ) {
            let (header, row) = sample(FIXTURES[usize::from(legacy)]);
            let mut bad = row.clone();
            for (at, cell) in &cells {
                let i = at.index(bad.len());
                bad[i] = cell.clone();
            }
            let (path, _dir, result) = read_with("cur.csv", &csv_text(&header, &[row, bad]), read);
            assert_bounded(&path, &result)?;
            if let Ok(rows) = result {
                prop_assert_eq!(rows, 2);
            }
        }

        /// Arbitrary bytes, alone or after a valid header.
        #[test]
        fn arbitrary_bytes_never_panic(
            bytes in prop::collection::vec(any::<u8>(), 0..4096),
            with_header in any::<bool>(),
        ) {
            let (header, _) = sample(FIXTURES[0]);
            let mut text = if with_header { csv_text(&header, &[]) } else { Vec::new() };
            text.extend_from_slice(&bytes);
            let (path, _dir, result) = read_with("cur.csv", &text, read);
            assert_bounded(&path, &result)?;
        }
    }

    #[test]
    fn legacy_and_snake_case_names_meet() {
        assert_eq!(
            column_key("lineItem/UnblendedCost"),
            column_key("line_item_unblended_cost")
        );
        assert_eq!(
            column_key("savingsPlan/SavingsPlanEffectiveCost"),
            column_key("savings_plan_savings_plan_effective_cost")
        );
        assert_eq!(
            tag_column("resourceTags/user:team").as_deref(),
            Some("team")
        );
        assert_eq!(
            tag_column("resource_tags_user_team").as_deref(),
            Some("team")
        );
        assert_eq!(
            tag_column("resourceTags/aws:createdBy").as_deref(),
            Some("aws:createdBy")
        );
        assert_eq!(tag_column("resource_tags"), None);
    }
}
