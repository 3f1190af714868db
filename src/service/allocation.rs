//! Allocating a month and what follows it: the allocation is stored, the
//! months it changed are checked for anomalies, and the alerts due are
//! sent. Also the rules preview, which allocates without storing.

use chrono::Utc;

use super::anomalies::{self, Detection};
use super::{Action, Caller, ServiceError};
use crate::config::Settings;
use crate::domain::{CostBasis, Month, Period};
use crate::engine::{self, Allocation, GroupBy, PreviewRow};
use crate::rules::RuleSet;
use crate::store::{AllocationRun, MonthView, Store};

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

/// How `rules` would change each team's total of an allocated month,
/// without storing anything. The month is allocated again from its stored
/// lines with the candidate rules and the stored run's cost basis.
pub async fn preview(
    store: &Store,
    caller: &Caller,
    rules: &RuleSet,
    month: Month,
) -> Result<(AllocationRun, Allocation, Vec<PreviewRow>), ServiceError> {
    caller.authorize(Action::Preview)?;
    let (run, rows) = super::reports::stored(store, Period::Charge, month).await?;
    let usage = store.usage_for_month(month).await?;
    let mut allocator = engine::Allocator::new(month, rules, run.cost_basis, &usage);
    store
        .for_each_line(Period::Charge, month, |line| allocator.add(&line))
        .await?;
    let candidate = allocator.finish()?;
    let current = engine::showback(month, run.cost_basis, &rows, GroupBy::Team);
    let next = engine::showback(month, run.cost_basis, &candidate.rows, GroupBy::Team);
    let diff = engine::compare(&current, &next);
    super::audit::record(
        store,
        caller,
        "rules.preview",
        &month.to_string(),
        serde_json::json!({
            "rules": rules.digest(),
            "rule_count": rules.rules.len(),
            "changed_rows": diff.len(),
        }),
    )
    .await;
    Ok((run, candidate, diff))
}

/// Whether the month's inputs (billing lines, usage figures) changed after
/// the allocation read them, whenever that happened: its figures then no
/// longer reflect what is stored.
pub async fn is_stale(store: &Store, run: &AllocationRun) -> Result<bool, ServiceError> {
    Ok(store.month_version(run.month).await? > run.input_version)
}

/// What [`allocate`] did: the month's allocation and the detection run
/// after it (`None` when there was nothing to detect).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Allocated {
    pub allocation: MonthAllocation,
    pub detection: Option<Detection>,
}

/// Records in the audit log that `actor` (on behalf of `caller`) stored
/// `done`, the allocation of `month` with `rules`: the rules' digest and
/// each view's lines and totals per currency.
pub async fn audit_allocation(
    store: &Store,
    actor: &str,
    caller: &Caller,
    rules: &RuleSet,
    month: Month,
    done: &MonthAllocation,
) {
    fn view(a: &Option<Allocation>) -> serde_json::Value {
        match a {
            None => serde_json::Value::Null,
            Some(a) => serde_json::json!({
                "cost_basis": a.cost_basis.as_str(),
                "lines": a.lines,
                "totals": a.totals.iter().map(|(c, t)| (c.to_string(), t.to_string())).collect::<std::collections::BTreeMap<_, _>>(),
            }),
        }
    }
    super::audit::record_as(
        store,
        actor,
        caller,
        "allocation",
        &month.to_string(),
        serde_json::json!({
            "rules": rules.digest(),
            "rule_count": rules.rules.len(),
            "charge": view(&done.charge),
            "billing": view(&done.billing),
        }),
    )
    .await;
}

/// Allocates `month` with `rules` at the configured cost basis for
/// `caller` (recorded in the audit log), then detects anomalies on it (and
/// on any month whose detection is still owed), then sends the alerts due.
pub async fn allocate(
    store: &Store,
    caller: &Caller,
    settings: &Settings,
    rules: &RuleSet,
    month: Month,
) -> Result<Allocated, ServiceError> {
    caller.authorize(Action::ImportAndAllocate)?;
    let allocation = allocate_month(store, rules, month, settings.cost_basis).await?;
    audit_allocation(store, caller.label(), caller, rules, month, &allocation).await;
    let detection =
        anomalies::detect_after_change(store, &settings.anomalies, &settings.webhooks, &[month])
            .await?;
    anomalies::deliver_alerts(store, &settings.webhooks, &Default::default()).await;
    Ok(Allocated {
        allocation,
        detection,
    })
}
