//! Webhook alerts for new anomalies: which webhooks an anomaly goes to, the
//! Slack-compatible and generic JSON bodies, sending one, and the retry
//! schedule (`service::anomalies::deliver_due` runs the deliveries). The
//! deliveries owed are rows in the store (written with the anomaly), so an
//! alert is sent once per anomaly across restarts: a delivery is marked
//! sent when the receiver answers 2xx, and retried with doubling waits
//! otherwise. Receivers can also use the `X-Allot-Delivery` header (anomaly
//! id and webhook) to drop a repeat, should the process die between a send
//! and its record.

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::{Value, json};

use crate::engine::anomaly::{Anomaly, Scope};
use crate::present;
use crate::store::StoredAnomaly;

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

/// When to try a delivery again after its `attempts`-th failed attempt:
/// doubling waits, none after [`MAX_ATTEMPTS`] or once the webhook is no
/// longer configured (the delivery is then given up).
pub fn retry_after(attempts: u32, configured: bool) -> Option<Duration> {
    (attempts < MAX_ATTEMPTS && configured).then(|| FIRST_RETRY * 2u32.pow(attempts - 1))
}

/// Sends one alert. Errors name the webhook, never its URL: a Slack
/// webhook URL is a secret, and errors go to logs and the database.
pub async fn send(client: &reqwest::Client, w: &Webhook, a: &StoredAnomaly) -> Result<(), String> {
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
