//! Use cases shared by the CLI and the HTTP API: load what the engine needs
//! from the store, run the pure engine, store or return the result.

use chrono::{NaiveDate, Utc};

use crate::domain::{CostBasis, Month, Owner};
use crate::engine::{
    self, Allocation, Explanation, Granularity, GroupBy, PreviewRow, Showback, TeamCosts,
};
use crate::rules::RuleSet;
use crate::store::{AllocationRun, Store, StoreError};

/// What can go wrong in a use case.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error("month {0} has not been allocated: run `allot allocate --month {0}`")]
    NotAllocated(Month),
    #[error("no cost lines for month {0}: import billing data first (`allot import focus FILE`)")]
    NoData(Month),
    #[error("unknown team `{0}`: it is not in the rules' known teams and has no allocated cost")]
    UnknownTeam(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Allocates a month with `rules` and stores the result, replacing any earlier one.
pub async fn allocate_month(
    store: &Store,
    rules: &RuleSet,
    month: Month,
    basis: CostBasis,
) -> Result<Allocation, ServiceError> {
    let usage = store.usage_for_month(month).await?;
    let mut allocator = engine::Allocator::new(month, rules, basis, &usage);
    let lines = store
        .for_each_line_in_month(month, |line| allocator.add(&line))
        .await?;
    if lines == 0 {
        // The month's data is gone (or never came): so is its allocation.
        store.delete_allocation(month).await?;
        return Err(ServiceError::NoData(month));
    }
    let allocation = allocator.finish();
    let run = AllocationRun {
        month,
        allocated_at: Utc::now(),
        cost_basis: basis,
        lines: allocation.lines,
        known_teams: rules.declared_teams().into_iter().collect(),
        data_through: allocation.data_through,
    };
    store
        .replace_allocation(&run, &allocation.rows, &allocation.shares)
        .await?;
    Ok(allocation)
}

/// The showback of an allocated month.
pub async fn showback(
    store: &Store,
    month: Month,
    group_by: GroupBy,
) -> Result<(AllocationRun, Showback), ServiceError> {
    let (run, rows) = store
        .allocation(month)
        .await?
        .ok_or(ServiceError::NotAllocated(month))?;
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
    let (run, rows) = store
        .allocation(month)
        .await?
        .ok_or(ServiceError::NotAllocated(month))?;
    let usage = store.usage_for_month(month).await?;
    let mut allocator = engine::Allocator::new(month, rules, run.cost_basis, &usage);
    store
        .for_each_line_in_month(month, |line| allocator.add(&line))
        .await?;
    let candidate = allocator.finish();
    let current = engine::showback(month, run.cost_basis, &rows, GroupBy::Team);
    let next = engine::showback(month, run.cost_basis, &candidate.rows, GroupBy::Team);
    let diff = engine::compare(&current, &next);
    Ok((run, candidate, diff))
}

/// Everything a team (or `unallocated`) received in an allocated month.
pub async fn explain(
    store: &Store,
    month: Month,
    team: &str,
) -> Result<(AllocationRun, Explanation), ServiceError> {
    let owner = Owner::from_name(&team.trim().to_ascii_lowercase())
        .map_err(|_| ServiceError::UnknownTeam(team.to_string()))?;
    if !store.owner_exists(&owner).await? {
        return Err(ServiceError::UnknownTeam(team.to_string()));
    }
    let (run, rows) = store
        .allocation(month)
        .await?
        .ok_or(ServiceError::NotAllocated(month))?;
    let shares = store.pool_shares(month).await?;
    let explanation = engine::explain(month, run.cost_basis, &owner, &rows, &shares);
    Ok((run, explanation))
}

/// Whether billing data for the run's month was imported after the run:
/// its figures then no longer reflect the stored bill.
pub async fn is_stale(store: &Store, run: &AllocationRun) -> Result<bool, ServiceError> {
    Ok(store
        .month_changed_at(run.month)
        .await?
        .is_some_and(|at| at > run.allocated_at))
}

/// A team's (or `unallocated`'s) costs over an inclusive date range.
pub async fn team_costs(
    store: &Store,
    team: &str,
    from: NaiveDate,
    to: NaiveDate,
    granularity: Granularity,
) -> Result<TeamCosts, ServiceError> {
    let owner = Owner::from_name(&team.trim().to_ascii_lowercase())
        .map_err(|_| ServiceError::UnknownTeam(team.to_string()))?;
    if !store.owner_exists(&owner).await? {
        return Err(ServiceError::UnknownTeam(team.to_string()));
    }
    let rows = match granularity {
        Granularity::Day => store.owner_rows(&owner, from, to).await?,
        Granularity::Month => {
            store
                .owner_rows_by_month(&owner, Month::of(from), Month::of(to))
                .await?
        }
    };
    let mut costs = engine::team_costs(owner, from, to, granularity, &rows);
    // Daily views may show charges spread from the month before `from`.
    let first = Month::of(from.checked_sub_days(chrono::Days::new(31)).unwrap_or(from));
    let bases = store.cost_bases(first, Month::of(to)).await?;
    costs.cost_basis = match bases.as_slice() {
        [one] => Some(*one),
        _ => None,
    };
    Ok(costs)
}
