//! One import as one transaction: lines are written in batches, then the
//! (billing account, billing period) partitions the export claims replace
//! earlier imports' rows, and only months whose content changed get a new
//! version.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::{NaiveDate, Utc};
use futures_util::TryStreamExt;
use sqlx::QueryBuilder;

use super::lines::{LINE_COLUMNS, RawLine};
use super::{DbDecimal, INSERT_BATCH, Result, Store, Tx, bump_version, encoding};
use crate::domain::{Month, Period, StoredLine};

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
pub(super) struct PartitionContent {
    rows: u64,
    /// Order-independent: the wrapping sum of the lines' hashes
    /// ([`encoding::line_hash`]).
    digest: u128,
    months: BTreeSet<Month>,
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
            content.digest = content.digest.wrapping_add(encoding::line_hash(l));
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
                let digest = encoding::partition_digest(content.digest);
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
pub(super) struct PartitionPlan {
    /// (account, the billing period the export is of).
    claimed: Vec<(String, NaiveDate)>,
    /// (account, stray period, the claimed period its rows join)
    strays: Vec<(String, NaiveDate, NaiveDate)>,
}

/// Per account, the period with most rows (the earliest on a tie) is the
/// export's period; every other period's rows are strays that join it.
pub(super) fn claim_partitions(
    rows: &BTreeMap<(String, NaiveDate), PartitionContent>,
) -> PartitionPlan {
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

impl Store {
    /// Recomputes, in one transaction, every stored partition digest not in
    /// the current format (see [`encoding`]) from the partition's stored
    /// lines, so identical re-imports keep being recognised across versions;
    /// returns how many were recomputed. Run when the database is opened.
    pub(super) async fn upgrade_digests(&self) -> Result<u64> {
        let current = format!("{}%", encoding::DIGEST_PREFIX);
        let sql = format!(
            "SELECT {LINE_COLUMNS} FROM cost_lines WHERE billing_account_id = $1 AND partition_period = $2"
        );
        with_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            let old: Vec<(String, NaiveDate)> = sqlx::query_as(
                "SELECT billing_account_id, billing_period_start FROM billing_partitions WHERE digest NOT LIKE $1",
            )
            .bind(&current)
            .fetch_all(&mut *tx)
            .await?;
            let mut tags = HashMap::new();
            for (account, period) in &old {
                let mut sum = 0u128;
                let mut rows = sqlx::query_as::<_, RawLine>(sqlx::AssertSqlSafe(sql.clone()))
                    .bind(account)
                    .bind(*period)
                    .fetch(&mut *tx);
                while let Some(raw) = rows.try_next().await? {
                    sum = sum.wrapping_add(encoding::line_hash(&raw.into_line(&mut tags)?));
                }
                drop(rows);
                sqlx::query(
                    "UPDATE billing_partitions SET digest = $1 WHERE billing_account_id = $2 AND billing_period_start = $3",
                )
                .bind(encoding::partition_digest(sum))
                .bind(account)
                .bind(*period)
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await?;
            Ok(old.len() as u64)
        })
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
}
