//! Anomalies: detection over stored allocations, the list and its
//! acknowledgements, and the delivery of the webhook alerts owed.

use chrono::{DateTime, NaiveDate, Utc};

use super::{Action, Caller, ServiceError};
use crate::alerts::{self, Webhook};
use crate::domain::{CostBasis, Month};
use crate::engine::anomaly::{self, AnomalySettings, HISTORY_DAYS};
use crate::store::{AnomalyFilter, SavedAnomalies, Store, StoredAnomaly};
use crate::telemetry::Telemetry;

/// Reads a detection may take when newer detections keep saving first.
pub(super) const DETECTION_ATTEMPTS: usize = 5;

/// Days of data before a window that detection reads: the history window,
/// plus the weeks the seasonal factors look back over.
const DETECTION_LOOKBACK_DAYS: u64 =
    (anomaly::detect::SPREAD_DAYS + HISTORY_DAYS + 7 * anomaly::detect::SEASON_WEEKS + 7) as u64;

/// What a detection run found and stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Detection {
    pub from: NaiveDate,
    pub to: NaiveDate,
    /// Anomalies with a day in the window.
    pub found: usize,
    pub saved: SavedAnomalies,
    /// The cost basis of the allocations read (`None`: nothing allocated).
    pub cost_basis: Option<CostBasis>,
}

/// Detects anomalies with a day in `from..=to` from the stored allocations
/// and stores them; new ones get a pending delivery to each webhook that
/// wants them. The weeks before `from` are read as history, and the days
/// after `to` too, so an anomaly crossing the window's end is stored whole.
/// Only complete days are judged: days before `today`.
pub async fn detect_anomalies(
    store: &Store,
    settings: &AnomalySettings,
    webhooks: &[Webhook],
    from: NaiveDate,
    to: NaiveDate,
    today: NaiveDate,
) -> Result<Detection, ServiceError> {
    let history = from - chrono::Days::new(DETECTION_LOOKBACK_DAYS);
    // A detection that another one overtook (it saved after this one read)
    // reads again, so results never go back in time.
    for _ in 0..DETECTION_ATTEMPTS {
        let read_at = Utc::now();
        let (rows, runs) = store.daily_rows(history).await?;
        let Some(basis) = runs.last().map(|r| r.1) else {
            return Ok(Detection {
                from,
                to,
                found: 0,
                saved: SavedAnomalies::default(),
                cost_basis: None,
            });
        };
        // Series never mix cost bases: months allocated on another basis are
        // left out (re-allocate them to include them). Today is still being
        // billed: its figures are partial.
        let yesterday = today - chrono::Days::new(1);
        let months: Vec<(Month, Option<NaiveDate>)> = runs
            .iter()
            .filter(|r| r.1 == basis)
            .map(|r| (r.0, r.2.map(|d| d.min(yesterday))))
            .collect();
        let rows: Vec<_> = rows
            .into_iter()
            .filter(|r| months.iter().any(|m| m.0 == r.month))
            .collect();
        let amounts = anomaly::daily_amounts(&rows);
        // Days before the history read are unknown, not zero.
        let known: std::collections::BTreeSet<NaiveDate> = anomaly::known_days(&months)
            .into_iter()
            .filter(|d| *d >= history)
            .collect();
        let found = anomaly::detect_anomalies(&amounts, &known, from, to, settings);
        let saved = store
            .save_anomalies(&found, from, to, basis, read_at, Utc::now(), |a| {
                alerts::route(webhooks, a)
            })
            .await?;
        if let Some(saved) = saved {
            return Ok(Detection {
                from,
                to,
                found: found.len(),
                saved,
                cost_basis: Some(basis),
            });
        }
    }
    Err(ServiceError::Overtaken)
}

/// Detects anomalies on the days of `months` (an import or allocation
/// changed them); today (UTC) is still being billed.
pub async fn detect_months(
    store: &Store,
    settings: &AnomalySettings,
    webhooks: &[Webhook],
    months: &[Month],
) -> Result<Option<Detection>, ServiceError> {
    let (Some(first), Some(last)) = (months.iter().min(), months.iter().max()) else {
        return Ok(None);
    };
    let to = last.last_day();
    let today = Utc::now().date_naive();
    detect_anomalies(store, settings, webhooks, first.first_day(), to, today)
        .await
        .map(Some)
}

/// Detects anomalies after `changed` months' data or allocation changed,
/// together with any months whose detection failed before: they stay owed
/// (in the store) until a detection over them succeeds.
pub async fn detect_after_change(
    store: &Store,
    settings: &AnomalySettings,
    webhooks: &[Webhook],
    changed: &[Month],
) -> Result<Option<Detection>, ServiceError> {
    store.add_pending_detection(changed).await?;
    let months = store.pending_detection().await?;
    let detection = detect_months(store, settings, webhooks, &months).await?;
    store.clear_pending_detection(&months).await?;
    Ok(detection)
}

/// The stored anomalies `filter` selects, newest first.
pub async fn list(
    store: &Store,
    caller: &Caller,
    filter: &AnomalyFilter,
) -> Result<Vec<StoredAnomaly>, ServiceError> {
    caller.authorize(Action::Read)?;
    let mut list = store.anomalies(filter).await?;
    if !caller.sees_all() {
        use crate::engine::anomaly::Scope;
        list.retain(|a| match &a.anomaly.scope {
            Scope::Team(owner) | Scope::TeamService(owner, _) => caller.sees_owner(owner),
            Scope::Account(_) => false,
        });
    }
    Ok(list)
}

/// The longest acknowledgement note, in characters.
pub const MAX_NOTE_CHARS: usize = 2000;

/// Acknowledges anomaly `id` with `note` (trimmed, at most
/// [`MAX_NOTE_CHARS`]) at `now`.
pub async fn acknowledge(
    store: &Store,
    caller: &Caller,
    id: i64,
    note: &str,
    now: DateTime<Utc>,
) -> Result<StoredAnomaly, ServiceError> {
    caller.authorize(Action::Acknowledge)?;
    let chars = note.trim().chars().count();
    if chars > MAX_NOTE_CHARS {
        return Err(ServiceError::NoteTooLong {
            chars,
            max: MAX_NOTE_CHARS,
        });
    }
    let acknowledged = store
        .acknowledge_anomaly(id, note.trim(), now)
        .await?
        .ok_or(ServiceError::UnknownAnomaly(id))?;
    super::audit::record(
        store,
        caller,
        "anomaly.acknowledge",
        &id.to_string(),
        serde_json::json!({"note": note.trim()}),
    )
    .await;
    Ok(acknowledged)
}

/// Sends every alert delivery due at `now`; failures are scheduled again.
/// Each delivery is claimed just before it is sent, so two passes never
/// send one alert twice.
pub async fn deliver_due(
    store: &Store,
    webhooks: &[Webhook],
    client: &reqwest::Client,
    now: DateTime<Utc>,
) -> Result<alerts::Delivered, ServiceError> {
    let started = std::time::Instant::now();
    // `now` moves on with the pass (tests pass a `now` of their own).
    let at = || now + started.elapsed();
    let mut done = alerts::Delivered::default();
    for pending in store.pending_notifications(now, 100).await? {
        let Some(due) = store
            .claim_notification(&pending, at() + alerts::CLAIM)
            .await?
        else {
            continue;
        };
        let id = due.anomaly.id;
        let webhook = webhooks.iter().find(|w| w.name == due.webhook);
        let outcome = match webhook {
            None => Err(format!(
                "webhook `{}` is no longer configured; the alert was not sent",
                due.webhook
            )),
            Some(w) => alerts::send(client, w, &due.anomaly).await,
        };
        let retry_at = match &outcome {
            Ok(()) => None,
            Err(error) => {
                let attempts = due.attempts + 1;
                tracing::warn!(anomaly = id, webhook = %due.webhook, attempts, %error, "alert not delivered");
                alerts::retry_after(attempts, webhook.is_some()).map(|wait| at() + wait)
            }
        };
        let result = match &outcome {
            Ok(()) => Ok(()),
            Err(error) => Err((error.as_str(), retry_at)),
        };
        // A failure to record is logged, not fatal: the other deliveries go on.
        match store.record_delivery(&due, at(), result).await {
            Ok(true) => match (&outcome, retry_at) {
                (Ok(()), _) => {
                    done.sent += 1;
                    tracing::info!(anomaly = id, webhook = %due.webhook, "alert sent");
                }
                (Err(_), Some(_)) => done.retrying += 1,
                (Err(_), None) => done.given_up += 1,
            },
            Ok(false) => {
                tracing::warn!(anomaly = id, webhook = %due.webhook, "the claim on this alert expired before it was recorded; another pass may send it again")
            }
            Err(e) => {
                tracing::error!(anomaly = id, webhook = %due.webhook, error = %e, "cannot record an alert delivery")
            }
        }
    }
    Ok(done)
}

/// Sends the alerts that are due now, if any webhook is configured;
/// failures are logged and retried on a later pass.
pub async fn deliver_alerts(store: &Store, webhooks: &[Webhook], telemetry: &Telemetry) {
    if webhooks.is_empty() {
        return;
    }
    match deliver_due(store, webhooks, &alerts::client(), Utc::now()).await {
        Ok(d) if d == alerts::Delivered::default() => {}
        Ok(d) => {
            telemetry.alerts(d.sent.into(), d.retrying.into(), d.given_up.into());
            tracing::info!(
                sent = d.sent,
                retrying = d.retrying,
                given_up = d.given_up,
                "alerts delivered"
            );
        }
        Err(e) => tracing::error!(error = %e, "cannot deliver alerts"),
    }
}
