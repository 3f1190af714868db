//! Webhook alerts for new anomalies: which webhooks an anomaly goes to, the
//! Slack-compatible and generic JSON bodies, and delivery with retries. The
//! deliveries owed are rows in the store (written with the anomaly), so an
//! alert is sent once per anomaly across restarts: a delivery is marked
//! sent when the receiver answers 2xx, and retried with doubling waits
//! otherwise. Receivers can also use the `X-Allot-Delivery` header (anomaly
//! id and webhook) to drop a repeat, should the process die between a send
//! and its record.

use std::collections::BTreeSet;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use crate::engine::anomaly::{Anomaly, Scope};
use crate::present;
use crate::store::{Store, StoreError, StoredAnomaly};

/// Attempts before a delivery is given up (and recorded as failed).
pub const MAX_ATTEMPTS: u32 = 8;
/// The wait after the first failed attempt; it doubles after each.
pub const FIRST_RETRY: Duration = Duration::from_secs(30);
/// How long one attempt may take.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);

/// The body a webhook receives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WebhookFormat {
    /// `{"text": ...}`: what Slack incoming webhooks (and Mattermost, Teams
    /// connectors accepting Slack payloads) expect.
    Slack,
    /// `{"event": "anomaly.detected", "anomaly": {...}}`, the anomaly as the
    /// API returns it.
    Generic,
}

impl WebhookFormat {
    pub fn parse(s: &str) -> Option<WebhookFormat> {
        match s {
            "slack" => Some(WebhookFormat::Slack),
            "generic" => Some(WebhookFormat::Generic),
            _ => None,
        }
    }
}

/// A configured webhook.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Webhook {
    pub name: String,
    pub url: String,
    pub format: WebhookFormat,
    /// The teams whose anomalies it receives (`unallocated` may be one);
    /// `None` for every team.
    pub teams: Option<BTreeSet<String>>,
    /// Whether it receives billing-account anomalies.
    pub accounts: bool,
}

impl Webhook {
    pub fn wants(&self, a: &Anomaly) -> bool {
        match &a.scope {
            Scope::Account(_) => self.accounts,
            Scope::Team(o) | Scope::TeamService(o, _) => self
                .teams
                .as_ref()
                .is_none_or(|teams| teams.contains(o.name())),
        }
    }
}

/// The names of the webhooks an anomaly goes to.
pub fn route(webhooks: &[Webhook], a: &Anomaly) -> Vec<String> {
    webhooks
        .iter()
        .filter(|w| w.wants(a))
        .map(|w| w.name.clone())
        .collect()
}

/// The body of an alert.
pub fn payload(format: WebhookFormat, a: &StoredAnomaly) -> Value {
    match format {
        WebhookFormat::Generic => json!({
            "event": "anomaly.detected",
            "anomaly": present::anomaly_json(a),
        }),
        WebhookFormat::Slack => json!({
            "text": format!(
                ":rotating_light: *allot anomaly #{}*: {}",
                a.id,
                present::anomaly_sentence(a)
            ),
        }),
    }
}

/// What went wrong delivering alerts (a receiver failing is not an error:
/// it is retried).
#[derive(Debug, thiserror::Error)]
pub enum AlertError {
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What one delivery pass did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Delivered {
    pub sent: u32,
    /// Failed attempts that will be retried.
    pub retrying: u32,
    /// Deliveries given up after [`MAX_ATTEMPTS`].
    pub given_up: u32,
}

/// An HTTP client for webhooks.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(ATTEMPT_TIMEOUT)
        .user_agent(concat!("allot/", env!("CARGO_PKG_VERSION")))
        .build()
        .expect("the webhook client's settings are valid")
}

/// How long a delivery pass holds its claim on one delivery: far longer
/// than an attempt may take.
pub const CLAIM: Duration = Duration::from_secs(120);

/// Sends every delivery due at `now`; failures are scheduled again. Each
/// delivery is claimed just before it is sent, so two passes never send
/// one alert twice.
pub async fn deliver_due(
    store: &Store,
    webhooks: &[Webhook],
    client: &reqwest::Client,
    now: DateTime<Utc>,
) -> Result<Delivered, AlertError> {
    let started = std::time::Instant::now();
    // `now` moves on with the pass (tests pass a `now` of their own).
    let at = || now + started.elapsed();
    let mut done = Delivered::default();
    for pending in store.pending_notifications(now, 100).await? {
        let Some(due) = store.claim_notification(&pending, at() + CLAIM).await? else {
            continue;
        };
        let id = due.anomaly.id;
        let outcome = match webhooks.iter().find(|w| w.name == due.webhook) {
            None => Err(format!(
                "webhook `{}` is no longer configured; the alert was not sent",
                due.webhook
            )),
            Some(w) => send(client, w, &due.anomaly).await,
        };
        let (result, retry_at) = match &outcome {
            Ok(()) => (Ok(()), None),
            Err(error) => {
                let attempts = due.attempts + 1;
                let retry_at = (attempts < MAX_ATTEMPTS
                    && webhooks.iter().any(|w| w.name == due.webhook))
                .then(|| at() + FIRST_RETRY * 2u32.pow(attempts - 1));
                tracing::warn!(anomaly = id, webhook = %due.webhook, attempts, %error, "alert not delivered");
                (Err((error.as_str(), retry_at)), retry_at)
            }
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

/// Sends one alert. Errors name the webhook, never its URL: a Slack
/// webhook URL is a secret, and errors go to logs and the database.
async fn send(client: &reqwest::Client, w: &Webhook, a: &StoredAnomaly) -> Result<(), String> {
    let response = client
        .post(&w.url)
        .header("X-Allot-Delivery", format!("{}/{}", a.id, w.name))
        .json(&payload(w.format, a))
        .send()
        .await
        .map_err(|e| format!("cannot reach webhook `{}`: {}", w.name, e.without_url()))?;
    let status = response.status();
    if status.is_success() {
        Ok(())
    } else {
        Err(format!("webhook `{}` answered {status}", w.name))
    }
}
