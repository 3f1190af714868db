//! Runs of configured sources (`[[source]]` in `allot.toml`): one run
//! imports the source, re-allocates every stale month and detects
//! anomalies on them, and is recorded whatever happens. The scheduler and
//! `POST /api/v1/imports/{source}/run` start runs; `allot serve` and the
//! API list them.

use chrono::{DateTime, Utc};

use super::imports::{self, Files, Format, ImportSpec};
use super::{Action, Caller, ServiceError, allocation, anomalies};
use crate::config::{Settings, Source, SourceKind};
use crate::domain::Month;
use crate::importers::Progress;
use crate::rules;
use crate::store::{ImportRun, Store, StoreError, Trigger};
use crate::telemetry::Telemetry;

/// How one attempt ended.
#[derive(Debug)]
pub enum Outcome {
    /// The run finished (succeeded or failed); its record.
    Ran(ImportRun),
    /// Another run of the source is in progress (here or on another replica).
    Busy,
}

/// Imports a source: Cost Explorer's changeable days, the files (local or
/// on S3) of a report, or metric points. The import records itself in run
/// `run`. Returns the rows (or points) read and the months it changed.
async fn import_source(
    store: &Store,
    settings: &Settings,
    source: &Source,
    run: i64,
) -> Result<(u64, Vec<Month>), ServiceError> {
    let spec = match source.kind {
        SourceKind::MetricsCsv => {
            let files = Files::from_source_path(&source.path, source.endpoint_url.clone());
            let (paths, _downloaded) = imports::local_files(&files).await?;
            let paths: Vec<_> = paths
                .into_iter()
                .filter(|p| p.extension().is_some_and(|e| e == "csv"))
                .collect();
            if paths.is_empty() {
                return Err(ServiceError::EmptySource(source.path.clone()));
            }
            let summary =
                super::metrics::read_and_store(store, &settings.metrics, &paths, Some(run)).await?;
            tracing::info!(source = %source.name, points = summary.points, added = summary.added, replaced = summary.replaced, "metric points imported");
            return Ok((summary.points, summary.months()));
        }
        SourceKind::Prometheus | SourceKind::Sql => {
            let today = Utc::now().date_naive();
            let summary =
                super::metrics::pull_and_store(store, &settings.metrics, source, today, Some(run))
                    .await?;
            tracing::info!(source = %source.name, points = summary.points, added = summary.added, replaced = summary.replaced, "metric points pulled");
            return Ok((summary.points, summary.months()));
        }
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
    Ok((imported.summary.rows_read, imported.summary.changed_months))
}

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
///
/// The run and the allocations it stores are recorded in the audit log as
/// done by the scheduler (a scheduled run) or by `caller` (a manual one).
///
/// `telemetry` counts the run, the rows it read, how long each allocation
/// took, the anomalies it raised and the alerts it delivered.
pub async fn run_once(
    store: &Store,
    caller: &Caller,
    settings: &Settings,
    source: &Source,
    trigger: Trigger,
    telemetry: &Telemetry,
) -> Result<Outcome, ServiceError> {
    let (store, settings, source) = (store.clone(), settings.clone(), source.clone());
    let (caller, telemetry) = (caller.clone(), telemetry.clone());
    let task = tokio::spawn(async move {
        run_locked(&store, &caller, &settings, &source, trigger, &telemetry).await
    });
    match task.await {
        Ok(result) => result,
        Err(e) => Err(StoreError::Corrupt(format!("a source run could not finish: {e}")).into()),
    }
}

async fn run_locked(
    store: &Store,
    caller: &Caller,
    settings: &Settings,
    source: &Source,
    trigger: Trigger,
    telemetry: &Telemetry,
) -> Result<Outcome, ServiceError> {
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
        let by = (actor(caller, trigger).to_string(), caller.clone());
        let telemetry = telemetry.clone();
        tokio::spawn(async move {
            import_and_allocate(&store, &by, &settings, &source, id, &telemetry).await
        })
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
            Err(ServiceError::RunPanicked(message.to_string()))
        }
        Err(e) => Err(ServiceError::RunCancelled(e.to_string())),
    };
    lease.abort();
    let (ok, rows, months, error) = match &result {
        Ok((rows, months)) => (true, Some(*rows), months.clone(), None),
        Err(e) => (false, None, vec![], Some(with_causes(e))),
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
    telemetry.run(crate::telemetry::RunCounted {
        source: &source.name,
        trigger: trigger.as_str(),
        outcome: if ok { "succeeded" } else { "failed" },
        rows: rows.unwrap_or(0),
    });
    anomalies::deliver_alerts(store, &settings.webhooks, telemetry).await;
    let run = store
        .import_run(id)
        .await?
        .ok_or_else(|| StoreError::Corrupt(format!("import run {id} vanished")))?;
    audit_run(store, actor(caller, trigger), caller, &run).await;
    Ok(Outcome::Ran(run))
}

/// Who the audit log names for a run: the scheduler, or who asked for it.
fn actor(caller: &Caller, trigger: Trigger) -> &str {
    match trigger {
        Trigger::Schedule => "scheduler",
        Trigger::Manual => caller.label(),
    }
}

/// Records a finished run in the audit log.
async fn audit_run(store: &Store, actor: &str, caller: &Caller, run: &ImportRun) {
    let months: Vec<String> = run.months.iter().map(|m| m.to_string()).collect();
    super::audit::record_as(
        store,
        actor,
        caller,
        "source.run",
        &run.source,
        serde_json::json!({
            "run": run.id, "status": run.status.as_str(), "trigger": run.trigger.as_str(),
            "rows": run.rows_read, "months_changed": months, "error": run.error,
        }),
    )
    .await;
}

/// The work of a run: import, re-allocate what is stale, detect. Returns
/// the rows read and the months the run changed or re-allocated.
async fn import_and_allocate(
    store: &Store,
    (actor, caller): &(String, Caller),
    settings: &Settings,
    source: &Source,
    run: i64,
    telemetry: &Telemetry,
) -> Result<(u64, Vec<Month>), ServiceError> {
    let (rows_read, changed_months) = import_source(store, settings, source, run).await?;
    // Every stale month, however it became so: this import's, and those an
    // interrupted run or a usage change left behind.
    let stale = store.stale_months().await?;
    let mut months: Vec<Month> = changed_months;
    months.extend(stale.iter().copied());
    months.sort();
    months.dedup();
    if !stale.is_empty() {
        let rules = rules::load_dir(&settings.rules_dir)
            .map_err(|e| ServiceError::RulesInvalidAfterImport(e.to_string()))?;
        // One month that cannot be allocated does not hold back the others.
        let mut failed = Vec::new();
        for month in &stale {
            let started = std::time::Instant::now();
            match allocation::allocate_month(store, &rules, *month, settings.cost_basis).await {
                Ok(done) => {
                    telemetry.allocation(started.elapsed());
                    allocation::audit_allocation(store, actor, caller, &rules, *month, &done).await
                }
                Err(ServiceError::NoData(_)) => {}
                Err(e) => failed.push(format!("{month}: {e}")),
            }
        }
        if !failed.is_empty() {
            return Err(ServiceError::ReallocationFailed(failed.join("; ")));
        }
    }
    // Detection follows every re-allocation; its failure does not undo
    // the import, and its months stay owed to the next run.
    match anomalies::detect_after_change(store, &settings.anomalies, &settings.webhooks, &months)
        .await
    {
        Ok(Some(d)) => {
            telemetry.anomalies_raised(d.saved.new.len() as u64);
            tracing::info!(source = %source.name, from = %d.from, to = %d.to, found = d.found, new = d.saved.new.len(), "anomaly detection ran")
        }
        Ok(None) => {}
        Err(e) => tracing::warn!(source = %source.name, error = %e, "anomaly detection failed"),
    }
    Ok((rows_read, months))
}

/// Runs the configured source `name` now, for `caller`.
pub async fn run_source(
    store: &Store,
    caller: &Caller,
    settings: &Settings,
    name: &str,
    telemetry: &Telemetry,
) -> Result<Outcome, ServiceError> {
    caller.authorize(Action::RunSource)?;
    let source = settings
        .sources
        .iter()
        .find(|s| s.name == name)
        .ok_or_else(|| ServiceError::UnknownSource(name.to_string()))?;
    run_once(store, caller, settings, source, Trigger::Manual, telemetry).await
}

/// The latest `limit` runs, newest first. A run whose process died shows
/// as what it is once its lease lapsed (at `now`).
pub async fn list(
    store: &Store,
    caller: &Caller,
    limit: u32,
    now: DateTime<Utc>,
) -> Result<Vec<ImportRun>, ServiceError> {
    caller.authorize(Action::Read)?;
    // Runs concern the whole bill: those who see only some teams see none.
    if !caller.sees_all() {
        return Ok(Vec::new());
    }
    store.fail_lapsed_runs(now).await?;
    Ok(store.import_runs(limit).await?)
}

/// An error and its causes, as one line: `error: cause: cause`.
fn with_causes(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        out.push_str(": ");
        out.push_str(&c.to_string());
        cause = c.source();
    }
    out
}
