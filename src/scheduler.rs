//! Scheduled imports: each configured `[[source]]` is imported on its cron
//! schedule by `allot serve` (or on demand through the API). One run of a
//! source at a time, across every replica sharing a PostgreSQL database;
//! every run is recorded; a failed run is retried with doubling waits and
//! leaves the previous data untouched (imports are atomic); the months a run
//! changed are re-allocated with the configured rules.
//!
//! A run is `service::runs::run_once`; [`run_with_retries`] and
//! [`run_schedules`] are the loops around it.

use chrono::Utc;

use crate::config::{Settings, Source};
use crate::service::ServiceError;
use crate::service::anomalies::deliver_alerts;
use crate::service::runs::{Outcome, run_once};
use crate::store::{ImportRun, RunStatus, Store, Trigger};
use crate::telemetry::Telemetry;

/// How often `allot serve` looks for alerts due again.
const ALERT_RETRY_TICK: std::time::Duration = std::time::Duration::from_secs(15);

/// Runs a source, and after a failed run retries it up to `source.retries`
/// times, waiting `retry_after`, then twice as long each time. `pause`
/// waits (and answers false when shutdown means no more attempts). Returns
/// the last run.
pub async fn run_with_retries<F, Fut>(
    store: &Store,
    settings: &Settings,
    source: &Source,
    telemetry: &Telemetry,
    mut pause: F,
) -> Result<Option<ImportRun>, ServiceError>
where
    F: FnMut(std::time::Duration) -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let mut delay = source.retry_after;
    let mut last = None;
    for attempt in 0..=source.retries {
        match run_once(
            store,
            &crate::service::Caller::Operator,
            settings,
            source,
            Trigger::Schedule,
            telemetry,
        )
        .await?
        {
            Outcome::Ran(run) => {
                let failed = run.status == RunStatus::Failed;
                last = Some(run);
                if !failed || attempt == source.retries || !pause(delay).await {
                    break;
                }
                delay *= 2;
            }
            Outcome::Busy => break,
        }
    }
    Ok(last)
}

/// Runs every source on its schedule until `shutdown` resolves. A run in
/// progress when shutdown comes finishes (or rolls back) before this returns.
pub async fn run_schedules(
    store: Store,
    settings: Settings,
    telemetry: Telemetry,
    shutdown: tokio::sync::watch::Receiver<bool>,
) {
    let mut tasks = Vec::new();
    if !settings.webhooks.is_empty() {
        // Retries of alerts that could not be delivered at once.
        let (store, settings, mut stop) = (store.clone(), settings.clone(), shutdown.clone());
        let telemetry = telemetry.clone();
        tasks.push(tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = tokio::time::sleep(ALERT_RETRY_TICK) => {}
                    _ = stop.changed() => return,
                }
                deliver_alerts(&store, &settings.webhooks, &telemetry).await;
            }
        }));
    }
    for source in settings.sources.clone() {
        let (store, settings, mut stop) = (store.clone(), settings.clone(), shutdown.clone());
        let telemetry = telemetry.clone();
        tasks.push(tokio::spawn(async move {
            loop {
                let Some(next) = source.schedule.upcoming(Utc).next() else { return };
                let wait = (next - Utc::now()).to_std().unwrap_or_default();
                tokio::select! {
                    _ = tokio::time::sleep(wait) => {}
                    _ = stop.changed() => return,
                }
                let stop_retrying = stop.clone();
                let pause = |delay: std::time::Duration| {
                    let mut stop = stop_retrying.clone();
                    async move {
                        tokio::select! {
                            _ = tokio::time::sleep(delay) => true,
                            _ = stop.changed() => false,
                        }
                    }
                };
                if let Err(e) = run_with_retries(&store, &settings, &source, &telemetry, pause).await {
                    tracing::error!(source = %source.name, error = %e, "cannot record an import run");
                }
                if stop_retrying.has_changed().unwrap_or(true) {
                    return;
                }
            }
        }));
    }
    for task in tasks {
        let _ = task.await;
    }
}
