//! Reports of stored allocations: the showback, a team's explanation and
//! its costs over a range.

use chrono::NaiveDate;

use super::{Action, Caller, ServiceError};
use crate::domain::{Month, Owner, Period};
use crate::engine::{self, Explanation, Granularity, GroupBy, Showback, TeamCosts};
use crate::store::{AllocationRun, ChargeRun, Store};

/// The stored allocation of a month in `period`'s view.
pub(super) async fn stored(
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
    caller: &Caller,
    month: Month,
    group_by: GroupBy,
    period: Period,
) -> Result<(AllocationRun, Showback), ServiceError> {
    caller.authorize(Action::Read)?;
    let (run, report) = month_showback(store, period, month, group_by).await?;
    let report = if caller.sees_all() {
        report
    } else {
        report.narrowed(|owner| caller.sees_owner(owner))
    };
    Ok((run, report))
}

/// Every month with a charge-month allocation, oldest first
/// ([`ChargeRun::stale`] says whether an input changed since): what a
/// dashboard offers to choose from. Any identity that may read reports may
/// list them (the months say nothing of any team).
pub async fn allocated_months(
    store: &Store,
    caller: &Caller,
) -> Result<Vec<ChargeRun>, ServiceError> {
    caller.authorize(Action::Read)?;
    let first = Month::new(1, 1).expect("0001-01 is a month");
    let last = Month::new(9999, 12).expect("9999-12 is a month");
    Ok(store.charge_runs(first, last).await?)
}

/// The whole showback of an allocated month: as stored with its
/// allocation where it was, else computed from the allocated amounts.
async fn month_showback(
    store: &Store,
    period: Period,
    month: Month,
    group_by: GroupBy,
) -> Result<(AllocationRun, Showback), ServiceError> {
    if let Some(found) = stored_showback(store, period, month, group_by).await? {
        return Ok(found);
    }
    let (run, rows) = stored(store, period, month).await?;
    let report = engine::showback(month, run.cost_basis, &rows, group_by);
    Ok((run, report))
}

/// The charge-month allocation of `month` when its showbacks are stored
/// with it; `None` for the invoice view, a month not allocated, and one
/// allocated before showbacks were stored.
async fn run_with_reports(
    store: &Store,
    period: Period,
    month: Month,
) -> Result<Option<ChargeRun>, ServiceError> {
    if period != Period::Charge {
        return Ok(None);
    }
    let run = store.charge_runs(month, month).await?.pop();
    Ok(run.filter(|r| r.reports))
}

/// The showback stored with a charge-month allocation (the allocation's
/// own rounding, kept in the transaction that stored it): a few hundred
/// rows read instead of every allocated amount of the month. `None` for
/// the invoice view and for months allocated before showbacks were
/// stored, which are computed from their amounts.
async fn stored_showback(
    store: &Store,
    period: Period,
    month: Month,
    group_by: GroupBy,
) -> Result<Option<(AllocationRun, Showback)>, ServiceError> {
    let Some(charge) = run_with_reports(store, period, month).await? else {
        return Ok(None);
    };
    let rows = store
        .report_rows(month, month, group_by, None, None)
        .await?
        .remove(&month)
        .unwrap_or_default();
    let totals = store
        .report_totals(month, month, group_by)
        .await?
        .remove(&month)
        .unwrap_or_default();
    let report = Showback {
        month,
        cost_basis: charge.run.cost_basis,
        group_by,
        rows,
        totals,
    };
    Ok(Some((charge.run, report)))
}

/// How a showback is grouped: by team (and service or environment), or by
/// the rules' groups.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ShowbackBy {
    Rows(GroupBy),
    Group,
}

impl std::str::FromStr for ShowbackBy {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.trim() == "group" {
            return Ok(ShowbackBy::Group);
        }
        s.parse::<GroupBy>().map(ShowbackBy::Rows).map_err(|_| {
            format!("expected `team`, `team,service`, `team,environment` or `group`, found `{s}`")
        })
    }
}

/// The showback of an allocated month by the rules' `[groups]` (read from
/// the configured rules directory now: a change of groups needs no
/// re-allocation).
pub async fn group_showback(
    store: &Store,
    caller: &Caller,
    settings: &crate::config::Settings,
    month: Month,
    period: Period,
) -> Result<(AllocationRun, engine::GroupShowback), ServiceError> {
    caller.authorize(Action::Read)?;
    let rules = super::unit_costs::current_rules(settings)?;
    let (run, teams) = month_showback(store, period, month, GroupBy::Team).await?;
    let report = engine::group_showback(&teams, rules.groups());
    if caller.sees_all() {
        return Ok((run, report));
    }
    // A group row whose teams the caller sees, every one of them.
    let report = report
        .narrowed(|row| !row.teams.is_empty() && row.teams.iter().all(|t| caller.sees_team(t)));
    Ok((run, report))
}

/// Everything a team (or `unallocated`) received in an allocated month, in
/// `period`'s view.
pub async fn explain(
    store: &Store,
    caller: &Caller,
    month: Month,
    team: &str,
    period: Period,
) -> Result<(AllocationRun, Explanation), ServiceError> {
    caller.authorize(Action::Read)?;
    let owner = known_owner(store, caller, team).await?;
    if let Some(found) = stored_explanation(store, period, month, &owner).await? {
        return Ok(found);
    }
    let (run, rows) = stored(store, period, month).await?;
    let shares = store.pool_shares(period, month).await?;
    let explanation = engine::explain(month, run.cost_basis, &owner, &rows, &shares);
    Ok((run, explanation))
}

/// A team's explanation from its own amounts and its rows of the showbacks
/// stored with a charge-month allocation, without reading the rest of the
/// month. `None` where [`stored_showback`] would be, and for `unallocated`.
async fn stored_explanation(
    store: &Store,
    period: Period,
    month: Month,
    owner: &Owner,
) -> Result<Option<(AllocationRun, Explanation)>, ServiceError> {
    let Owner::Team(team) = owner else {
        return Ok(None);
    };
    let Some(charge) = run_with_reports(store, period, month).await? else {
        return Ok(None);
    };
    let only = std::collections::BTreeSet::from([team.clone()]);
    let of_owner = |rows: &mut std::collections::BTreeMap<Month, Vec<_>>| {
        rows.remove(&month).unwrap_or_default()
    };
    let showbacks = engine::OwnerShowbacks {
        team: of_owner(
            &mut store
                .report_rows(month, month, GroupBy::Team, Some(&only), None)
                .await?,
        ),
        environments: of_owner(
            &mut store
                .report_rows(month, month, GroupBy::TeamEnvironment, Some(&only), None)
                .await?,
        ),
    };
    let rows = store.owner_month_rows(owner, month).await?;
    let shares = store.pool_shares(period, month).await?;
    let explanation = engine::explain_with(
        month,
        charge.run.cost_basis,
        owner,
        &rows,
        &shares,
        showbacks,
    );
    Ok(Some((charge.run, explanation)))
}

/// A team's (or `unallocated`'s) costs over an inclusive date range.
pub async fn team_costs(
    store: &Store,
    caller: &Caller,
    team: &str,
    from: NaiveDate,
    to: NaiveDate,
    granularity: Granularity,
) -> Result<TeamCosts, ServiceError> {
    caller.authorize(Action::Read)?;
    let owner = known_owner(store, caller, team).await?;
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

/// The owner `team` names, if it is a known team (or `unallocated`) that
/// `caller` may see: one it may not is unknown to it, with the same answer.
async fn known_owner(store: &Store, caller: &Caller, team: &str) -> Result<Owner, ServiceError> {
    let unknown = || ServiceError::UnknownTeam(team.to_string());
    let owner = Owner::from_name(team).map_err(|_| unknown())?;
    if !caller.sees_owner(&owner) || !store.owner_exists(&owner).await? {
        return Err(unknown());
    }
    Ok(owner)
}
