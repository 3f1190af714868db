//! Stored cost lines read back, streamed month by month.

use std::collections::{BTreeSet, HashMap};

use chrono::{DateTime, NaiveDate, Utc};
use futures_util::TryStreamExt;

use super::{DbDecimal, Result, Store, StoreError, encoding};
use crate::domain::{ChargeCategory, CostLine, Currency, Month, Period, StoredLine, Tags};

pub(super) const LINE_COLUMNS: &str = "charge_date, charge_period_start, charge_period_end, billing_period_start, \
    billing_period_end, billing_account_id, billing_account_name, sub_account_id, sub_account_name, provider, \
    service_name, service_category, region, resource_id, charge_category, charge_class, currency, billed_cost, \
    effective_cost, list_cost, contracted_cost, consumed_quantity, consumed_unit, tags, source_rows";

impl Store {
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
        let mut tag_cache: HashMap<String, Tags> = HashMap::new();
        with_pool!(self, pool => {
            let mut rows = sqlx::query_as::<_, RawLine>(sqlx::AssertSqlSafe(sql))
                .bind(month.first_day())
                .bind(month.end_exclusive())
                .fetch(pool);
            while let Some(raw) = rows.try_next().await? {
                f(raw.into_line(&mut tag_cache)?);
                count += 1;
            }
        });
        Ok(count)
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

/// A `cost_lines` row, as [`LINE_COLUMNS`] selects it.
#[derive(sqlx::FromRow)]
pub(super) struct RawLine {
    charge_period_start: DateTime<Utc>,
    charge_period_end: DateTime<Utc>,
    billing_period_start: NaiveDate,
    billing_period_end: NaiveDate,
    billing_account_id: String,
    billing_account_name: Option<String>,
    sub_account_id: Option<String>,
    sub_account_name: Option<String>,
    provider: String,
    service_name: Option<String>,
    service_category: Option<String>,
    region: Option<String>,
    resource_id: Option<String>,
    charge_category: String,
    charge_class: Option<String>,
    currency: String,
    billed_cost: DbDecimal,
    effective_cost: DbDecimal,
    list_cost: DbDecimal,
    contracted_cost: Option<DbDecimal>,
    consumed_quantity: Option<DbDecimal>,
    consumed_unit: Option<String>,
    tags: String,
    source_rows: i64,
}

impl RawLine {
    /// The line, with its tags parsed once per distinct text (lines of one
    /// resource share their tags).
    pub(super) fn into_line(self, tag_cache: &mut HashMap<String, Tags>) -> Result<StoredLine> {
        let tags = match tag_cache.get(&self.tags) {
            Some(t) => t.clone(),
            None => {
                let t = encoding::tags_from_json(&self.tags).map_err(|e| {
                    StoreError::Corrupt(format!("tags `{}`: expected {e}", self.tags))
                })?;
                if tag_cache.len() < 100_000 {
                    tag_cache.insert(self.tags, t.clone());
                }
                t
            }
        };
        let category = self.charge_category;
        let line = CostLine {
            charge_period_start: self.charge_period_start,
            charge_period_end: self.charge_period_end,
            billing_period_start: self.billing_period_start,
            billing_period_end: self.billing_period_end,
            billing_account_id: self.billing_account_id,
            billing_account_name: self.billing_account_name,
            sub_account_id: self.sub_account_id,
            sub_account_name: self.sub_account_name,
            provider: self.provider,
            service_name: self.service_name,
            service_category: self.service_category,
            region: self.region,
            resource_id: self.resource_id,
            charge_category: ChargeCategory::parse(&category)
                .ok_or_else(|| StoreError::Corrupt(format!("charge category `{category}`")))?,
            charge_class: self.charge_class,
            currency: Currency::parse(&self.currency)
                .map_err(|e| StoreError::Corrupt(e.to_string()))?,
            billed_cost: self.billed_cost.0,
            effective_cost: self.effective_cost.0,
            list_cost: self.list_cost.0,
            contracted_cost: self.contracted_cost.map(|d| d.0),
            consumed_quantity: self.consumed_quantity.map(|d| d.0),
            consumed_unit: self.consumed_unit,
            tags,
        };
        Ok(StoredLine {
            line,
            source_rows: self.source_rows as u64,
        })
    }
}
