//! Scheduled imports: each configured `[[source]]` is imported on its cron
//! schedule by `allot serve` (or on demand through the API). One run of a
//! source at a time, across every replica sharing a PostgreSQL database;
//! every run is recorded; a failed run is retried with doubling waits and
//! leaves the previous data untouched (imports are atomic); the months a run
//! changed are re-allocated with the configured rules.
//!
//! [`run_once`] is one step, testable on its own; [`run_schedules`] is the
//! loop around it. This is an edge of the program: it reports with `anyhow`.

use chrono::Utc;

use crate::alerts;
use crate::config::{Settings, Source, SourceKind};
use crate::importers::Progress;
use crate::rules;
use crate::service::{
    self,
    imports::{self, Files, Format, ImportSpec},
};
use crate::store::{ImportRun, ImportSummary, RunStatus, Store, StoreError, Trigger};

/// How one attempt ended.
#[derive(Debug)]
pub enum Outcome {
    /// The run finished (succeeded or failed); its record.
    Ran(ImportRun),
    /// Another run of the source is in progress (here or on another replica).
    Busy,
}

/// Imports a source: Cost Explorer's changeable days, or the files (local or
/// on S3) of a report. The import records itself in run `run`.
async fn import_source(
    store: &Store,
    settings: &Settings,
    source: &Source,
    run: i64,
) -> anyhow::Result<ImportSummary> {
    let spec = match source.kind {
        SourceKind::CostExplorer => ImportSpec::CostExplorer {
            start: None,
            end: None,
            group_by: source.group_by.clone(),
            endpoint_url: source.endpoint_url.clone(),
        },
        SourceKind::Cur | SourceKind::Focus => ImportSpec::Export {
            format: if source.kind == SourceKind::Cur {
                Format::Cur
            } else {
                Format::Focus
            },
            files: Files::from_source_path(&source.path, source.endpoint_url.clone()),
        },
    };
    let options = crate::importers::ReadOptions {
        run: Some(run),
        ..settings.read_options(Progress::Hidden)
    };
    let imported = imports::import(store, &spec, options, Utc::now().date_naive()).await?;
    if let Some(fetch) = &imported.cost_explorer {
        tracing::info!(source = %source.name, requests = fetch.requests, "cost explorer requests");
    }
    Ok(imported.summary)
}

/// How often `allot serve` looks for alerts due again.
const ALERT_RETRY_TICK: std::time::Duration = std::time::Duration::from_secs(15);

/// How often a running run renews its lease (see [`Store::start_run`]).
const LEASE_RENEWAL: std::time::Duration = std::time::Duration::from_secs(30);

/// Runs a source once: import, then re-allocate every stale month (those
/// the import changed, and any an earlier run or a usage change left
/// stale), then detect anomalies on them.
///
/// The work runs in a task of its own: a client that stops waiting does not
/// cancel it, and a panic in it is recorded as a failed run. While it runs
/// its lease is renewed, so a run whose process died is marked interrupted
/// once the lease lapses.
pub async fn run_once(
    store: &Store,
    settings: &Settings,
    source: &Source,
    trigger: Trigger,
) -> Result<Outcome, StoreError> {
    let (store, settings, source) = (store.clone(), settings.clone(), source.clone());
    let task = tokio::spawn(async move { run_locked(&store, &settings, &source, trigger).await });
    match task.await {
        Ok(result) => result,
        Err(e) => Err(StoreError::Corrupt(format!(
            "a source run could not finish: {e}"
        ))),
    }
}

async fn run_locked(
    store: &Store,
    settings: &Settings,
    source: &Source,
    trigger: Trigger,
) -> Result<Outcome, StoreError> {
    let Some(lock) = store.try_lock_source(&source.name).await? else {
        tracing::info!(source = %source.name, "a run of this source is in progress; skipped");
        return Ok(Outcome::Busy);
    };
    let interrupted = store.fail_interrupted_runs(&source.name).await?;
    if interrupted > 0 {
        tracing::warn!(source = %source.name, runs = interrupted, "earlier runs were interrupted; marked failed");
    }
    let id = store.start_run(&source.name, trigger).await?;
    tracing::info!(source = %source.name, run = id, trigger = trigger.as_str(), "import run started");
    let started = std::time::Instant::now();
    let lease = {
        let store = store.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(LEASE_RENEWAL).await;
                if let Err(e) = store.renew_run_lease(id).await {
                    tracing::warn!(run = id, error = %e, "cannot renew the run's lease");
                }
            }
        })
    };
    let work = {
        let (store, settings, source) = (store.clone(), settings.clone(), source.clone());
        tokio::spawn(async move { import_and_allocate(&store, &settings, &source, id).await })
    };
    let result = match work.await {
        Ok(result) => result,
        Err(e) if e.is_panic() => {
            let payload = e.into_panic();
            let message = payload
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| payload.downcast_ref::<&str>().copied())
                .unwrap_or("no message");
            tracing::error!(source = %source.name, run = id, panic = message, "import run panicked");
            Err(anyhow::anyhow!(
                "allot failed unexpectedly ({message}); the server log has the details, please report it"
            ))
        }
        Err(e) => Err(anyhow::anyhow!("the run was cancelled: {e}")),
    };
    lease.abort();
    let (ok, rows, months, error) = match &result {
        Ok((rows, months)) => (true, Some(*rows), months.clone(), None),
        Err(e) => (false, None, vec![], Some(format!("{e:#}"))),
    };
    store
        .finish_run(id, ok, rows, &months, error.as_deref())
        .await?;
    lock.release().await?;
    let months_text = months
        .iter()
        .map(|m| m.to_string())
        .collect::<Vec<_>>()
        .join(",");
    if ok {
        tracing::info!(source = %source.name, run = id, rows = rows.unwrap_or(0), months = %months_text, seconds = started.elapsed().as_secs_f64(), "import run succeeded");
    } else {
        tracing::warn!(source = %source.name, run = id, error = error.as_deref().unwrap_or(""), "import run failed");
    }
    deliver_alerts(store, settings).await;
    let run = store
        .import_run(id)
        .await?
        .ok_or_else(|| StoreError::Corrupt(format!("import run {id} vanished")))?;
    Ok(Outcome::Ran(run))
}

/// The work of a run: import, re-allocate what is stale, detect. Returns
/// the rows read and the months the run changed or re-allocated.
async fn import_and_allocate(
    store: &Store,
    settings: &Settings,
    source: &Source,
    run: i64,
) -> anyhow::Result<(u64, Vec<crate::domain::Month>)> {
    let summary = import_source(store, settings, source, run).await?;
    // Every stale month, however it became so: this import's, and those an
    // interrupted run or a usage change left behind.
    let stale = store.stale_months().await?;
    let mut months: Vec<crate::domain::Month> = summary.changed_months.clone();
    months.extend(stale.iter().copied());
    months.sort();
    months.dedup();
    if !stale.is_empty() {
        let rules = rules::load_dir(&settings.rules_dir).map_err(|e| {
            anyhow::anyhow!("imported, but the rules are invalid so nothing was re-allocated:\n{e}")
        })?;
        // One month that cannot be allocated does not hold back the others.
        let mut failed = Vec::new();
        for month in &stale {
            match service::allocate_month(store, &rules, *month, settings.cost_basis).await {
                Ok(_) | Err(service::ServiceError::NoData(_)) => {}
                Err(e) => failed.push(format!("{month}: {e}")),
            }
        }
        if !failed.is_empty() {
            anyhow::bail!(
                "imported, but re-allocating failed for {}",
                failed.join("; ")
            );
        }
    }
    // Detection follows every re-allocation; its failure does not undo
    // the import, and its months stay owed to the next run.
    match service::detect_after_change(store, &settings.anomalies, &settings.webhooks, &months)
        .await
    {
        Ok(Some(d)) => {
            tracing::info!(source = %source.name, from = %d.from, to = %d.to, found = d.found, new = d.saved.new.len(), "anomaly detection ran")
        }
        Ok(None) => {}
        Err(e) => tracing::warn!(source = %source.name, error = %e, "anomaly detection failed"),
    }
    Ok((summary.rows_read, months))
}

/// Sends the webhook alerts that are due; failures are logged and retried
/// on a later pass.
pub async fn deliver_alerts(store: &Store, settings: &Settings) {
    if settings.webhooks.is_empty() {
        return;
    }
    match alerts::deliver_due(store, &settings.webhooks, &alerts::client(), Utc::now()).await {
        Ok(d) if d == alerts::Delivered::default() => {}
        Ok(d) => tracing::info!(
            sent = d.sent,
            retrying = d.retrying,
            given_up = d.given_up,
            "alerts delivered"
        ),
        Err(e) => tracing::error!(error = %e, "cannot deliver alerts"),
    }
}

/// Runs a source, and after a failed run retries it up to `source.retries`
/// times, waiting `retry_after`, then twice as long each time. `pause`
/// waits (and answers false when shutdown means no more attempts). Returns
/// the last run.
pub async fn run_with_retries<F, Fut>(
    store: &Store,
    settings: &Settings,
    source: &Source,
    mut pause: F,
) -> Result<Option<ImportRun>, StoreError>
where
    F: FnMut(std::time::Duration) -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let mut delay = source.retry_after;
    let mut last = None;
    for attempt in 0..=source.retries {
        match run_once(store, settings, source, Trigger::Schedule).await? {
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
    shutdown: tokio::sync::watch::Receiver<bool>,
) {
    let mut tasks = Vec::new();
    if !settings.webhooks.is_empty() {
        // Retries of alerts that could not be delivered at once.
        let (store, settings, mut stop) = (store.clone(), settings.clone(), shutdown.clone());
        tasks.push(tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = tokio::time::sleep(ALERT_RETRY_TICK) => {}
                    _ = stop.changed() => return,
                }
                deliver_alerts(&store, &settings).await;
            }
        }));
    }
    for source in settings.sources.clone() {
        let (store, settings, mut stop) = (store.clone(), settings.clone(), shutdown.clone());
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
                if let Err(e) = run_with_retries(&store, &settings, &source, pause).await {
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
