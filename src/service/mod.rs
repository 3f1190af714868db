//! Use cases shared by the CLI, the HTTP API and the scheduler: load what
//! the engine needs from the store, run the pure engine, store or return
//! the result. `imports` finds and imports billing data.

pub mod imports;

use chrono::{NaiveDate, Utc};

use crate::alerts::{self, Webhook};
use crate::domain::{CostBasis, Month, Owner, Period};
use crate::engine::anomaly::{self, AnomalySettings, HISTORY_DAYS};
use crate::engine::{
    self, Allocation, Explanation, Granularity, GroupBy, PreviewRow, Showback, TeamCosts,
};
use crate::rules::RuleSet;
use crate::store::{AllocationRun, MonthView, SavedAnomalies, Store, StoreError};

/// What can go wrong in a use case.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error("month {0} has not been allocated: run `allot allocate --month {0}`")]
    NotAllocated(Month),
    #[error("no cost lines for month {0}: import billing data first (`allot import focus FILE`)")]
    NoData(Month),
    #[error(
        "nothing was charged in {0}: its invoice holds only charges of other months; see them with `--period billing`"
    )]
    NothingCharged(Month),
    #[error("unknown team `{0}`: it is not in the rules' known teams and has no allocated cost")]
    UnknownTeam(String),
    #[error(
        "anomaly detection was overtaken by newer detections {DETECTION_ATTEMPTS} times; run `allot anomalies detect` again"
    )]
    Overtaken,
    #[error("give one `s3://bucket/prefix`, or local files, not both")]
    MixedLocations,
    #[error("cannot read source `{}`: {cause}", path.display())]
    ReadSource {
        path: std::path::PathBuf,
        cause: String,
    },
    #[error("source `{}` holds no .csv, .csv.gz or .parquet file", .0.display())]
    EmptySource(std::path::PathBuf),
    #[error(transparent)]
    Import(#[from] crate::importers::ImportError),
    #[error(transparent)]
    OutOfRange(#[from] engine::OutOfRange),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A month allocated in both views; a view without lines is `None`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MonthAllocation {
    /// The lines charged in the month, at the configured cost basis.
    pub charge: Option<Allocation>,
    /// The lines of the invoice starting in the month, at billed cost.
    pub billing: Option<Allocation>,
}

/// Allocates a month with `rules` in both views (charge month at `basis`,
/// invoice at billed cost) and stores the result in one transaction,
/// replacing any earlier one.
pub async fn allocate_month(
    store: &Store,
    rules: &RuleSet,
    month: Month,
    basis: CostBasis,
) -> Result<MonthAllocation, ServiceError> {
    allocate_month_with_progress(store, rules, month, basis, |_| {}).await
}

/// [`allocate_month`], calling `progress` with the number of lines read
/// after each line of the charge view. The allocation is stale if the
/// month's inputs change at any point from the start of reading (see
/// [`is_stale`]).
pub async fn allocate_month_with_progress(
    store: &Store,
    rules: &RuleSet,
    month: Month,
    basis: CostBasis,
    mut progress: impl FnMut(u64) + Send,
) -> Result<MonthAllocation, ServiceError> {
    // Read first: whatever changes the month from now on makes it stale.
    let input_version = store.month_version(month).await?;
    let usage = store.usage_for_month(month).await?;
    let mut views = Vec::new();
    for (period, basis) in [
        (Period::Charge, basis),
        (Period::Billing, CostBasis::Billed),
    ] {
        let mut allocator = engine::Allocator::for_period(period, month, rules, basis, &usage);
        let mut read = 0;
        let lines = store
            .for_each_line(period, month, |line| {
                allocator.add(&line);
                if period == Period::Charge {
                    read += 1;
                    progress(read);
                }
            })
            .await?;
        if lines == 0 {
            views.push(None);
            continue;
        }
        let allocation = allocator.finish()?;
        let run = AllocationRun {
            month,
            period,
            allocated_at: Utc::now(),
            cost_basis: basis,
            lines: allocation.lines,
            known_teams: rules.declared_teams().into_iter().collect(),
            data_through: allocation.data_through,
            input_version,
        };
        views.push(Some((allocation, run)));
    }
    let [charge, billing]: [Option<(Allocation, AllocationRun)>; 2] =
        views.try_into().expect("one entry per period");
    fn stored(view: &Option<(Allocation, AllocationRun)>) -> Option<MonthView<'_>> {
        view.as_ref().map(|(a, run)| MonthView {
            run,
            rows: &a.rows,
            shares: &a.shares,
        })
    }
    store
        .replace_month(month, input_version, stored(&charge), stored(&billing))
        .await?;
    if charge.is_none() && billing.is_none() {
        // The month's data is gone (or never came): so is its allocation.
        return Err(ServiceError::NoData(month));
    }
    Ok(MonthAllocation {
        charge: charge.map(|(a, _)| a),
        billing: billing.map(|(a, _)| a),
    })
}

/// The stored allocation of a month in `period`'s view.
async fn stored(
    store: &Store,
    period: Period,
    month: Month,
) -> Result<(AllocationRun, Vec<crate::engine::AllocationRow>), ServiceError> {
    if let Some(found) = store.allocation(period, month).await? {
        return Ok(found);
    }
    if period == Period::Charge && store.allocation(Period::Billing, month).await?.is_some() {
        return Err(ServiceError::NothingCharged(month));
    }
    Err(ServiceError::NotAllocated(month))
}

/// The showback of an allocated month in `period`'s view.
pub async fn showback(
    store: &Store,
    month: Month,
    group_by: GroupBy,
    period: Period,
) -> Result<(AllocationRun, Showback), ServiceError> {
    let (run, rows) = stored(store, period, month).await?;
    let report = engine::showback(month, run.cost_basis, &rows, group_by);
    Ok((run, report))
}

/// How `rules` would change each team's total of an allocated month,
/// without storing anything. The month is allocated again from its stored
/// lines with the candidate rules and the stored run's cost basis.
pub async fn preview(
    store: &Store,
    rules: &RuleSet,
    month: Month,
) -> Result<(AllocationRun, Allocation, Vec<PreviewRow>), ServiceError> {
    let (run, rows) = stored(store, Period::Charge, month).await?;
    let usage = store.usage_for_month(month).await?;
    let mut allocator = engine::Allocator::new(month, rules, run.cost_basis, &usage);
    store
        .for_each_line(Period::Charge, month, |line| allocator.add(&line))
        .await?;
    let candidate = allocator.finish()?;
    let current = engine::showback(month, run.cost_basis, &rows, GroupBy::Team);
    let next = engine::showback(month, run.cost_basis, &candidate.rows, GroupBy::Team);
    let diff = engine::compare(&current, &next);
    Ok((run, candidate, diff))
}

/// Everything a team (or `unallocated`) received in an allocated month, in
/// `period`'s view.
pub async fn explain(
    store: &Store,
    month: Month,
    team: &str,
    period: Period,
) -> Result<(AllocationRun, Explanation), ServiceError> {
    let owner = Owner::from_name(team).map_err(|_| ServiceError::UnknownTeam(team.to_string()))?;
    if !store.owner_exists(&owner).await? {
        return Err(ServiceError::UnknownTeam(team.to_string()));
    }
    let (run, rows) = stored(store, period, month).await?;
    let shares = store.pool_shares(period, month).await?;
    let explanation = engine::explain(month, run.cost_basis, &owner, &rows, &shares);
    Ok((run, explanation))
}

/// Whether the month's inputs (billing lines, usage figures) changed after
/// the allocation read them, whenever that happened: its figures then no
/// longer reflect what is stored.
pub async fn is_stale(store: &Store, run: &AllocationRun) -> Result<bool, ServiceError> {
    Ok(store.month_version(run.month).await? > run.input_version)
}

/// A team's (or `unallocated`'s) costs over an inclusive date range.
pub async fn team_costs(
    store: &Store,
    team: &str,
    from: NaiveDate,
    to: NaiveDate,
    granularity: Granularity,
) -> Result<TeamCosts, ServiceError> {
    let owner = Owner::from_name(team).map_err(|_| ServiceError::UnknownTeam(team.to_string()))?;
    if !store.owner_exists(&owner).await? {
        return Err(ServiceError::UnknownTeam(team.to_string()));
    }
    let mut costs = match granularity {
        Granularity::Day => {
            let rows = store.owner_rows(&owner, from, to).await?;
            engine::team_costs(owner, from, to, &rows)
        }
        Granularity::Month => {
            // Each month as its showback has it (rounded among all owners).
            let mut showbacks = Vec::new();
            for month in store
                .allocated_months(Month::of(from), Month::of(to))
                .await?
            {
                if let Some((run, rows)) = store.allocation(Period::Charge, month).await? {
                    let currencies = rows
                        .iter()
                        .filter(|r| r.owner == owner)
                        .map(|r| r.currency)
                        .collect::<std::collections::BTreeSet<_>>();
                    if !currencies.is_empty() {
                        let report =
                            engine::showback(month, run.cost_basis, &rows, GroupBy::TeamService);
                        showbacks.push((report, currencies));
                    }
                }
            }
            engine::team_months(owner, from, to, &showbacks)
        }
    };
    // Daily views may show charges spread from the month before `from`.
    let first = Month::of(from.checked_sub_days(chrono::Days::new(31)).unwrap_or(from));
    let bases = store.cost_bases(first, Month::of(to)).await?;
    costs.cost_basis = match bases.as_slice() {
        [one] => Some(*one),
        _ => None,
    };
    Ok(costs)
}

/// Reads a detection may take when newer detections keep saving first.
const DETECTION_ATTEMPTS: usize = 5;

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
