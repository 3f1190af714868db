//! Stored anomalies and the webhook deliveries owed for them. An anomaly is
//! identified across detection runs by its key (series, direction, first
//! day): a later run extends it in place, so one spike stays one anomaly and
//! one notification. Deliveries are written in the same transaction as a new
//! anomaly, so a restart neither loses nor repeats them.

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde_json::{Value, json};

use super::{DbDecimal, Result, Store, StoreError};
use crate::domain::{CostBasis, Currency};
use crate::engine::anomaly::{
    Anomaly, AnomalyDay, AnomalyStatus, Contributor, Direction, Known, Scope, candidate_window,
    match_known,
};

/// An anomaly as stored, with its lifecycle.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredAnomaly {
    pub id: i64,
    pub anomaly: Anomaly,
    pub cost_basis: CostBasis,
    pub status: AnomalyStatus,
    pub detected_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub acknowledged_at: Option<DateTime<Utc>>,
    pub ack_note: String,
}

/// Which anomalies to list: those with a day in `from..=to`, of a team (its
/// team and team-and-service anomalies), in a status (without one, every
/// status but `withdrawn`).
#[derive(Clone, Debug, Default)]
pub struct AnomalyFilter {
    pub from: Option<NaiveDate>,
    pub to: Option<NaiveDate>,
    pub team: Option<String>,
    pub status: Option<AnomalyStatus>,
}

/// What saving a detection run changed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SavedAnomalies {
    /// Ids of anomalies seen for the first time.
    pub new: Vec<i64>,
    /// Anomalies that already existed (their figures were brought up to date).
    pub updated: u64,
    /// Open anomalies in the window that the data no longer shows (it was
    /// restated): marked withdrawn.
    pub withdrawn: u64,
}

/// The columns naming an anomaly's series, direction and days.
#[derive(sqlx::FromRow)]
struct RawSeries {
    scope: String,
    team: String,
    service_name: String,
    account: String,
    currency: String,
    direction: String,
    first_day: NaiveDate,
    last_day: NaiveDate,
}

impl RawSeries {
    fn decode(&self) -> Result<(Scope, Currency, Direction)> {
        Ok((
            Scope::from_parts(&self.scope, &self.team, &self.service_name, &self.account)
                .ok_or_else(|| corrupt("scope"))?,
            Currency::parse(&self.currency).map_err(|_| corrupt("currency"))?,
            Direction::parse(&self.direction).ok_or_else(|| corrupt("direction"))?,
        ))
    }
}

/// A stored anomaly's columns that matching needs.
#[derive(sqlx::FromRow)]
struct RawKnown {
    id: i64,
    #[sqlx(flatten)]
    series: RawSeries,
    status: String,
}

impl TryFrom<RawKnown> for Known {
    type Error = StoreError;

    fn try_from(r: RawKnown) -> Result<Known> {
        let (scope, currency, direction) = r.series.decode()?;
        Ok(Known {
            id: r.id,
            scope,
            currency,
            direction,
            first_day: r.series.first_day,
            last_day: r.series.last_day,
            status: status(&r.status)?,
        })
    }
}

/// A stored status.
fn status(s: &str) -> Result<AnomalyStatus> {
    AnomalyStatus::parse(s).ok_or_else(|| {
        StoreError::Corrupt(format!(
            "anomaly status `{s}` is not `open`, `acknowledged` or `withdrawn`"
        ))
    })
}

/// A delivery that is due, as read (not yet claimed).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PendingNotification {
    pub anomaly_id: i64,
    pub webhook: String,
    pub attempts: u32,
    status: String,
    lease: String,
}

/// A webhook delivery that is due, claimed by this delivery pass.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DueNotification {
    pub anomaly: StoredAnomaly,
    pub webhook: String,
    pub attempts: u32,
    /// This pass's claim: recording the outcome needs it.
    pub lease: String,
}

/// A claim token unique to this process and call.
fn new_lease() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    format!(
        "{}-{}-{}",
        std::process::id(),
        Utc::now().timestamp_nanos_opt().unwrap_or_default(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

const COLUMNS: &str = "id, scope, team, service_name, account, currency, direction, first_day, last_day, \
    actual, expected, impact, score, days, contributors, cost_basis, status, detected_at, updated_at, \
    acknowledged_at, ack_note";

fn days_json(days: &[AnomalyDay]) -> String {
    Value::Array(
        days.iter()
            .map(|d| {
                json!({
                    "day": d.day.to_string(),
                    "actual": d.actual.to_string(),
                    "expected": d.expected.to_string(),
                    "score": d.score.to_string(),
                })
            })
            .collect(),
    )
    .to_string()
}

fn contributors_json(list: &[Contributor]) -> String {
    Value::Array(
        list.iter()
            .map(|c| {
                json!({
                    "kind": c.kind,
                    "name": c.name,
                    "actual": c.actual.to_string(),
                    "expected": c.expected.to_string(),
                    "impact": c.impact.to_string(),
                })
            })
            .collect(),
    )
    .to_string()
}

fn corrupt(what: &str) -> StoreError {
    StoreError::Corrupt(format!("anomaly {what}"))
}

fn text<'a>(v: &'a Value, key: &str) -> Result<&'a str> {
    v.get(key)
        .and_then(Value::as_str)
        .ok_or_else(|| corrupt(key))
}

fn decimal(v: &Value, key: &str) -> Result<Decimal> {
    text(v, key)?.parse().map_err(|_| corrupt(key))
}

fn parse_days(s: &str) -> Result<Vec<AnomalyDay>> {
    let v: Value = serde_json::from_str(s).map_err(|_| corrupt("days"))?;
    v.as_array()
        .ok_or_else(|| corrupt("days"))?
        .iter()
        .map(|d| {
            Ok(AnomalyDay {
                day: text(d, "day")?.parse().map_err(|_| corrupt("day"))?,
                actual: decimal(d, "actual")?,
                expected: decimal(d, "expected")?,
                score: decimal(d, "score")?,
            })
        })
        .collect()
}

fn parse_contributors(s: &str) -> Result<Vec<Contributor>> {
    let v: Value = serde_json::from_str(s).map_err(|_| corrupt("contributors"))?;
    v.as_array()
        .ok_or_else(|| corrupt("contributors"))?
        .iter()
        .map(|c| {
            Ok(Contributor {
                kind: text(c, "kind")?.to_string(),
                name: text(c, "name")?.to_string(),
                actual: decimal(c, "actual")?,
                expected: decimal(c, "expected")?,
                impact: decimal(c, "impact")?,
            })
        })
        .collect()
}

/// An anomaly's columns, as [`COLUMNS`] lists them.
#[derive(sqlx::FromRow)]
struct RawAnomaly {
    id: i64,
    #[sqlx(flatten)]
    series: RawSeries,
    actual: DbDecimal,
    expected: DbDecimal,
    impact: DbDecimal,
    score: DbDecimal,
    days: String,
    contributors: String,
    cost_basis: String,
    status: String,
    detected_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    acknowledged_at: Option<DateTime<Utc>>,
    ack_note: String,
}

impl TryFrom<RawAnomaly> for StoredAnomaly {
    type Error = StoreError;

    fn try_from(r: RawAnomaly) -> Result<StoredAnomaly> {
        let (scope, currency, direction) = r.series.decode()?;
        Ok(StoredAnomaly {
            id: r.id,
            anomaly: Anomaly {
                scope,
                currency,
                direction,
                first_day: r.series.first_day,
                last_day: r.series.last_day,
                actual: r.actual.0,
                expected: r.expected.0,
                impact: r.impact.0,
                score: r.score.0,
                days: parse_days(&r.days)?,
                contributors: parse_contributors(&r.contributors)?,
            },
            cost_basis: r.cost_basis.parse().map_err(StoreError::Corrupt)?,
            status: status(&r.status)?,
            detected_at: r.detected_at,
            updated_at: r.updated_at,
            acknowledged_at: r.acknowledged_at,
            ack_note: r.ack_note,
        })
    }
}

impl Store {
    /// Stores the anomalies one detection run found for days `from..=to`, in
    /// one transaction (saves never interleave). A found anomaly
    /// updates the stored one of the same series and direction whose days
    /// overlap or touch its own (keeping its id, status and note; a
    /// withdrawn one reopens), or the team-and-service anomaly a team
    /// anomaly now says; otherwise it is inserted with a pending delivery to
    /// each webhook `route` names for it. Open anomalies in the window that
    /// were not found again are marked withdrawn. So a spike is alerted
    /// once, however its days and scope evolve.
    ///
    /// `read_at` is when the detection read its data: if another detection
    /// saved since, nothing is saved and `None` says to detect again.
    #[allow(clippy::too_many_arguments)]
    pub async fn save_anomalies(
        &self,
        found: &[Anomaly],
        from: NaiveDate,
        to: NaiveDate,
        basis: CostBasis,
        read_at: DateTime<Utc>,
        now: DateTime<Utc>,
        route: impl Fn(&Anomaly) -> Vec<String>,
    ) -> Result<Option<SavedAnomalies>> {
        let mut saved = SavedAnomalies::default();
        let (lo, hi) = candidate_window(found, from, to);
        with_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            // A write first: it takes the lock (SQLite's write lock, the
            // row's lock on PostgreSQL) until commit.
            sqlx::query(
                "INSERT INTO anomaly_lock (id, taken_at) VALUES (1, $1) \
                 ON CONFLICT (id) DO UPDATE SET taken_at = anomaly_lock.taken_at",
            )
            .bind(DateTime::<Utc>::UNIX_EPOCH)
            .execute(&mut *tx)
            .await?;
            let last_saved: DateTime<Utc> = sqlx::query_scalar("SELECT taken_at FROM anomaly_lock WHERE id = 1")
                .fetch_one(&mut *tx)
                .await?;
            if last_saved > read_at {
                // Another detection saved after this one read its data.
                tx.rollback().await?;
                return Ok(None);
            }
            sqlx::query("UPDATE anomaly_lock SET taken_at = $1 WHERE id = 1")
                .bind(Utc::now().max(read_at))
                .execute(&mut *tx)
                .await?;
            let rows: Vec<RawKnown> =
                sqlx::query_as(
                    "SELECT id, scope, team, service_name, account, currency, direction, first_day, last_day, status \
                     FROM anomalies WHERE last_day >= $1 AND first_day <= $2 ORDER BY first_day, id",
                )
                .bind(lo)
                .bind(hi)
                .fetch_all(&mut *tx)
                .await?;
            let mut candidates: Vec<Option<Known>> = rows
                .into_iter()
                .map(|r| Known::try_from(r).map(Some))
                .collect::<Result<_>>()?;
            let matches = match_known(found, &mut candidates);
            for (a, matched) in found.iter().zip(matches) {
                let days = days_json(&a.days);
                let contributors = contributors_json(&a.contributors);
                match matched {
                    Some(c) => {
                        sqlx::query(
                            "UPDATE anomalies SET anomaly_key = $1, scope = $2, team = $3, service_name = $4, account = $5, \
                             first_day = $6, last_day = $7, actual = $8, expected = $9, impact = $10, score = $11, \
                             days = $12, contributors = $13, cost_basis = $14, updated_at = $15, status = $16 WHERE id = $17",
                        )
                        .bind(a.key())
                        .bind(a.scope.kind())
                        .bind(a.scope.owner().map(|o| o.name()).unwrap_or(""))
                        .bind(a.scope.service().unwrap_or(""))
                        .bind(a.scope.account().unwrap_or(""))
                        .bind(a.first_day)
                        .bind(a.last_day)
                        .bind(DbDecimal(a.actual))
                        .bind(DbDecimal(a.expected))
                        .bind(DbDecimal(a.impact))
                        .bind(DbDecimal(a.score))
                        .bind(&days)
                        .bind(&contributors)
                        .bind(basis.as_str())
                        .bind(now)
                        .bind(c.status.found_again().as_str())
                        .bind(c.id)
                        .execute(&mut *tx)
                        .await?;
                        saved.updated += 1;
                    }
                    None => {
                        let id: i64 = sqlx::query_scalar(
                            "INSERT INTO anomalies (anomaly_key, scope, team, service_name, account, currency, direction, \
                             first_day, last_day, actual, expected, impact, score, days, contributors, cost_basis, status, \
                             detected_at, updated_at) \
                             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $18, $17, $17) \
                             RETURNING id",
                        )
                        .bind(a.key())
                        .bind(a.scope.kind())
                        .bind(a.scope.owner().map(|o| o.name()).unwrap_or(""))
                        .bind(a.scope.service().unwrap_or(""))
                        .bind(a.scope.account().unwrap_or(""))
                        .bind(a.currency.as_str())
                        .bind(a.direction.as_str())
                        .bind(a.first_day)
                        .bind(a.last_day)
                        .bind(DbDecimal(a.actual))
                        .bind(DbDecimal(a.expected))
                        .bind(DbDecimal(a.impact))
                        .bind(DbDecimal(a.score))
                        .bind(&days)
                        .bind(&contributors)
                        .bind(basis.as_str())
                        .bind(now)
                        .bind(AnomalyStatus::Open.as_str())
                        .fetch_one(&mut *tx)
                        .await?;
                        for webhook in route(a) {
                            sqlx::query(
                                "INSERT INTO anomaly_notifications (anomaly_id, webhook, status, next_attempt_at) \
                                 VALUES ($1, $2, 'pending', $3)",
                            )
                            .bind(id)
                            .bind(&webhook)
                            .bind(now)
                            .execute(&mut *tx)
                            .await?;
                        }
                        saved.new.push(id);
                    }
                }
            }
            for c in candidates.into_iter().flatten() {
                if c.withdrawn_by(from, to) {
                    sqlx::query("UPDATE anomalies SET status = $1, updated_at = $2 WHERE id = $3")
                        .bind(AnomalyStatus::Withdrawn.as_str())
                        .bind(now)
                        .bind(c.id)
                        .execute(&mut *tx)
                        .await?;
                    saved.withdrawn += 1;
                }
            }
            tx.commit().await?;
        });
        Ok(Some(saved))
    }

    /// Anomalies matching `filter`, the most recent first.
    pub async fn anomalies(&self, filter: &AnomalyFilter) -> Result<Vec<StoredAnomaly>> {
        let far_past = NaiveDate::from_ymd_opt(1, 1, 1).expect("a valid date");
        let far_future = NaiveDate::from_ymd_opt(9999, 12, 31).expect("a valid date");
        let sql = format!(
            "SELECT {COLUMNS} FROM anomalies WHERE last_day >= $1 AND first_day <= $2 \
             AND ($3 = '' OR (team = $3 AND scope <> $5)) \
             AND (($4 = '' AND status <> $6) OR status = $4) \
             ORDER BY first_day DESC, id DESC"
        );
        with_pool!(self, pool => {
            let rows: Vec<RawAnomaly> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
                .bind(filter.from.unwrap_or(far_past))
                .bind(filter.to.unwrap_or(far_future))
                .bind(filter.team.clone().unwrap_or_default())
                .bind(filter.status.map(AnomalyStatus::as_str).unwrap_or(""))
                .bind(Scope::ACCOUNT)
                .bind(AnomalyStatus::Withdrawn.as_str())
                .fetch_all(pool)
                .await?;
            rows.into_iter().map(StoredAnomaly::try_from).collect()
        })
    }

    /// One anomaly by id.
    pub async fn anomaly(&self, id: i64) -> Result<Option<StoredAnomaly>> {
        let sql = format!("SELECT {COLUMNS} FROM anomalies WHERE id = $1");
        with_pool!(self, pool => {
            let row: Option<RawAnomaly> =
                sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(id).fetch_optional(pool).await?;
            row.map(StoredAnomaly::try_from).transpose()
        })
    }

    /// Acknowledges an anomaly with a note; `None` when there is no such
    /// anomaly. Acknowledging again replaces the note.
    pub async fn acknowledge_anomaly(
        &self,
        id: i64,
        note: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<StoredAnomaly>> {
        with_pool!(self, pool => {
            sqlx::query(
                "UPDATE anomalies SET status = 'acknowledged', acknowledged_at = $1, ack_note = $2, updated_at = $1 WHERE id = $3",
            )
            .bind(now)
            .bind(note)
            .bind(id)
            .execute(pool)
            .await?;
        });
        self.anomaly(id).await
    }

    /// The deliveries whose time has come, oldest first, not yet claimed:
    /// pending ones, and ones whose claim by another pass has expired (that
    /// pass died). Deliveries of withdrawn anomalies wait (they go out if it
    /// reopens). Claim each with [`Store::claim_notification`] just before
    /// sending it.
    pub async fn pending_notifications(
        &self,
        now: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<PendingNotification>> {
        // Compared in Rust: SQLite keeps timestamps as text of varying length.
        let mut due: Vec<(i64, String, i64, DateTime<Utc>, String, String)> = with_pool!(self, pool => {
            sqlx::query_as(
                "SELECT n.anomaly_id, n.webhook, n.attempts, n.next_attempt_at, n.status, n.lease \
                 FROM anomaly_notifications n JOIN anomalies a ON a.id = n.anomaly_id \
                 WHERE n.status IN ('pending', 'sending') AND a.status <> 'withdrawn'",
            )
            .fetch_all(pool)
            .await?
        });
        due.retain(|d| d.3 <= now);
        due.sort_by_key(|d| (d.3, d.0));
        due.truncate(limit as usize);
        Ok(due
            .into_iter()
            .map(
                |(anomaly_id, webhook, attempts, _, status, lease)| PendingNotification {
                    anomaly_id,
                    webhook,
                    attempts: attempts as u32,
                    status,
                    lease,
                },
            )
            .collect())
    }

    /// Claims a delivery until `until`, if nobody changed it since it was
    /// read: `None` when another pass claimed or sent it meanwhile.
    pub async fn claim_notification(
        &self,
        pending: &PendingNotification,
        until: DateTime<Utc>,
    ) -> Result<Option<DueNotification>> {
        let claim = new_lease();
        let claimed = with_pool!(self, pool => {
            sqlx::query(
                "UPDATE anomaly_notifications SET status = 'sending', lease = $1, next_attempt_at = $2 \
                 WHERE anomaly_id = $3 AND webhook = $4 AND status = $5 AND lease = $6 AND attempts = $7",
            )
            .bind(&claim)
            .bind(until)
            .bind(pending.anomaly_id)
            .bind(&pending.webhook)
            .bind(&pending.status)
            .bind(&pending.lease)
            .bind(i64::from(pending.attempts))
            .execute(pool)
            .await?
            .rows_affected()
        });
        if claimed != 1 {
            return Ok(None);
        }
        let Some(anomaly) = self.anomaly(pending.anomaly_id).await? else {
            return Ok(None);
        };
        Ok(Some(DueNotification {
            anomaly,
            webhook: pending.webhook.clone(),
            attempts: pending.attempts,
            lease: claim,
        }))
    }

    /// Records a claimed delivery's attempt: sent, retried at `retry_at`,
    /// or (with `retry_at` `None`) given up. False when the claim was lost
    /// (it expired and another pass took the delivery over).
    pub async fn record_delivery(
        &self,
        due: &DueNotification,
        now: DateTime<Utc>,
        outcome: std::result::Result<(), (&str, Option<DateTime<Utc>>)>,
    ) -> Result<bool> {
        let (status, error, next) = match outcome {
            Ok(()) => ("sent", "", now),
            Err((error, Some(at))) => ("pending", error, at),
            Err((error, None)) => ("failed", error, now),
        };
        let recorded = with_pool!(self, pool => {
            sqlx::query(
                "UPDATE anomaly_notifications SET status = $1, attempts = attempts + 1, last_error = $2, \
                 next_attempt_at = $3, sent_at = CASE WHEN $1 = 'sent' THEN $4 ELSE sent_at END, lease = '' \
                 WHERE anomaly_id = $5 AND webhook = $6 AND lease = $7",
            )
            .bind(status)
            .bind(error)
            .bind(next)
            .bind(now)
            .bind(due.anomaly.id)
            .bind(&due.webhook)
            .bind(&due.lease)
            .execute(pool)
            .await?
            .rows_affected() == 1
        });
        Ok(recorded)
    }

    /// Records that `months` need anomaly detection.
    pub async fn add_pending_detection(&self, months: &[crate::domain::Month]) -> Result<()> {
        with_pool!(self, pool => {
            for month in months {
                sqlx::query("INSERT INTO anomaly_pending_months (month) VALUES ($1) ON CONFLICT (month) DO NOTHING")
                    .bind(month.to_string())
                    .execute(pool)
                    .await?;
            }
        });
        Ok(())
    }

    /// The months whose anomaly detection is owed, oldest first.
    pub async fn pending_detection(&self) -> Result<Vec<crate::domain::Month>> {
        with_pool!(self, pool => {
            let months: Vec<String> = sqlx::query_scalar("SELECT month FROM anomaly_pending_months ORDER BY month")
                .fetch_all(pool)
                .await?;
            months
                .iter()
                .map(|m| crate::domain::Month::parse(m).map_err(|e| StoreError::Corrupt(e.to_string())))
                .collect()
        })
    }

    /// Records that detection over `months` succeeded.
    pub async fn clear_pending_detection(&self, months: &[crate::domain::Month]) -> Result<()> {
        with_pool!(self, pool => {
            for month in months {
                sqlx::query("DELETE FROM anomaly_pending_months WHERE month = $1")
                    .bind(month.to_string())
                    .execute(pool)
                    .await?;
            }
        });
        Ok(())
    }

    /// (webhook, status, attempts) of every delivery of an anomaly.
    pub async fn notifications_of(&self, anomaly_id: i64) -> Result<Vec<(String, String, u32)>> {
        with_pool!(self, pool => {
            let rows: Vec<(String, String, i64)> = sqlx::query_as(
                "SELECT webhook, status, attempts FROM anomaly_notifications WHERE anomaly_id = $1 ORDER BY webhook",
            )
            .bind(anomaly_id)
            .fetch_all(pool)
            .await?;
            Ok(rows.into_iter().map(|(w, s, a)| (w, s, a as u32)).collect())
        })
    }

    /// The stored allocation rows with a day on or after `from`, across
    /// months, and each allocated month's cost basis and last data day.
    pub async fn daily_rows(
        &self,
        from: NaiveDate,
    ) -> Result<(
        Vec<super::AllocationRow>,
        Vec<(crate::domain::Month, CostBasis, Option<NaiveDate>)>,
    )> {
        with_pool!(self, pool => {
            let rows: Vec<super::allocations::RawAllocationRow> = sqlx::query_as(
                "SELECT month, day, owner, service_name, billing_account_id, currency, rule, pool, recurring, environment, amount, lines \
                 FROM allocations WHERE day >= $1",
            )
            .bind(from)
            .fetch_all(pool)
            .await?;
            let rows = rows.into_iter().map(crate::engine::AllocationRow::try_from).collect::<Result<Vec<_>>>()?;
            let runs: Vec<(String, String, Option<NaiveDate>)> = sqlx::query_as(
                "SELECT month, cost_basis, data_through FROM allocation_runs WHERE month >= $1 ORDER BY month",
            )
            .bind(crate::domain::Month::of(from).to_string())
            .fetch_all(pool)
            .await?;
            let runs = runs
                .into_iter()
                .map(|(m, b, d)| {
                    Ok((
                        crate::domain::Month::parse(&m).map_err(|e| StoreError::Corrupt(e.to_string()))?,
                        b.parse().map_err(StoreError::Corrupt)?,
                        d,
                    ))
                })
                .collect::<Result<Vec<_>>>()?;
            Ok((rows, runs))
        })
    }
}
