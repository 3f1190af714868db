//! Unit costs: a scope's showback cost of each month divided by a metric's
//! value for it. The cost side is the stored allocation, rounded as the
//! showback rounds it, so a scope's cost is exactly the sum of its
//! showback rows; the metric side is the stored points, aggregated as the
//! metric declares. Both are read when asked: a metric change shows at
//! once, and a month whose allocation is older than its billing data says
//! `stale`.
//!
//! Both sides are read small: the showback rows a scope needs (or the
//! bill's totals) from the showbacks stored with each allocation, and one
//! month value per scope and month from those stored with the points.
//! A month allocated, or a metric's month stored, before those existed is
//! computed from its allocation rows or its points, as it always was.

use std::collections::{BTreeMap, BTreeSet};

use rust_decimal::Decimal;

use super::{Action, Caller, ServiceError, is_stale};
use crate::config::Settings;
use crate::domain::{
    Aggregation, CostBasis, Currency, MetricDef, MetricName, MetricScope, Month, Owner, Period,
    TeamId,
};
use crate::engine::unit_cost::{self, MonthCost, MonthValue, UnitCostRow, minus_months};
use crate::engine::{self, GroupBy, ShowbackRow};
use crate::rules::RuleSet;
use crate::store::Store;

pub use super::metrics::Declared;

/// The longest range of one series, in months.
pub const MAX_MONTHS: usize = 120;

/// A unit-cost series: one metric, one scope, a range of months.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnitCostSeries {
    pub metric: MetricDef,
    pub scope: MetricScope,
    pub from: Month,
    pub to: Month,
    /// The cost basis of the allocations read (`None` when none was, or
    /// months were allocated on different bases).
    pub cost_basis: Option<CostBasis>,
    pub rows: Vec<UnitCostRow>,
}

/// The unit costs of `metric` for `scope`, month by month over
/// `from..=to`, with changes against the month before and a year before.
pub async fn series(
    store: &Store,
    caller: &Caller,
    settings: &Settings,
    metric: &str,
    scope: &MetricScope,
    from: Month,
    to: Month,
) -> Result<UnitCostSeries, ServiceError> {
    caller.authorize(Action::Read)?;
    let def = declared_metric(&settings.metrics, metric)?;
    if from > to {
        return Err(ServiceError::BadRange { from, to });
    }
    let months = unit_cost::months_between(from, to).len();
    if months > MAX_MONTHS {
        return Err(ServiceError::RangeTooLong {
            months,
            max: MAX_MONTHS,
        });
    }
    let teams = scope_teams(store, caller, settings, scope).await?;
    let first = minus_months(from, 12);
    let mut bases: Vec<CostBasis> = Vec::new();
    let mut costs = BTreeMap::new();
    let runs = store.charge_runs(first, to).await?;
    let mut stored = if runs.iter().any(|r| r.reports) {
        stored_scope_costs(store, scope, teams.as_ref(), first, to).await?
    } else {
        BTreeMap::new()
    };
    for r in runs {
        let month = r.run.month;
        if month >= from && !bases.contains(&r.run.cost_basis) {
            bases.push(r.run.cost_basis);
        }
        let by_currency = if r.reports {
            stored.remove(&month).unwrap_or_default()
        } else {
            // Allocated before showbacks were stored with allocations.
            let Some((_, showback)) = month_showback(store, month, scope).await? else {
                continue;
            };
            scope_cost(showback.rows.iter(), scope, teams.as_ref())
        };
        let cost = MonthCost {
            // As `is_stale`, with the month's version read with the run.
            stale: r.stale(),
            by_currency,
        };
        costs.insert(month, cost);
    }
    let aggregation = BTreeMap::from([(def.name.clone(), def.aggregation)]);
    let values = store
        .metric_month_values(&aggregation, Some(scope), first, to)
        .await?
        .remove(&(def.name.clone(), scope.clone()))
        .unwrap_or_default();
    let rows = unit_cost::unit_costs(from, to, &costs, &values);
    Ok(UnitCostSeries {
        metric: def.clone(),
        scope: scope.clone(),
        from,
        to,
        cost_basis: match bases.as_slice() {
            [one] => Some(*one),
            _ => None,
        },
        rows,
    })
}

/// The declared metric `name`, or an error listing the declared ones.
pub fn declared_metric<'d>(
    declared: &'d Declared,
    name: &str,
) -> Result<&'d MetricDef, ServiceError> {
    MetricName::parse(name)
        .ok()
        .and_then(|n| declared.get(&n))
        .ok_or_else(|| ServiceError::UnknownMetric {
            name: name.to_string(),
            declared: declared.keys().map(|m| m.to_string()).collect(),
        })
}

/// The teams a group scope stands for (`None` for other scopes); an
/// unknown team or group is an error, and so is one `caller` may not see
/// (the same error: a team or group it may not see is unknown to it). The
/// organisation and environments are whole-bill figures, for those who
/// see everything.
async fn scope_teams(
    store: &Store,
    caller: &Caller,
    settings: &Settings,
    scope: &MetricScope,
) -> Result<Option<BTreeSet<TeamId>>, ServiceError> {
    match scope {
        MetricScope::Team(team) => {
            if !caller.sees_team(team) || !store.owner_exists(&Owner::Team(team.clone())).await? {
                return Err(ServiceError::UnknownTeam(team.to_string()));
            }
            Ok(Some([team.clone()].into()))
        }
        MetricScope::Group(group) => {
            let rules = current_rules(settings)?;
            let hidden = || ServiceError::UnknownGroup {
                name: group.to_string(),
                declared: Vec::new(),
            };
            match group_teams(&rules, group) {
                Ok(teams) if teams.iter().all(|t| caller.sees_team(t)) => Ok(Some(teams)),
                Ok(_) => Err(hidden()),
                Err(_) if !caller.sees_all() => Err(hidden()),
                Err(e) => Err(e),
            }
        }
        MetricScope::Organisation | MetricScope::Environment(_) => {
            caller.authorize(Action::ReadAll)?;
            Ok(None)
        }
    }
}

/// Whether `caller` sees the figures of `scope`, whose teams are `teams`.
fn sees_scope(caller: &Caller, scope: &MetricScope, teams: Option<&BTreeSet<TeamId>>) -> bool {
    match scope {
        MetricScope::Team(_) | MetricScope::Group(_) => {
            teams.is_some_and(|ts| ts.iter().all(|t| caller.sees_team(t)))
        }
        MetricScope::Organisation | MetricScope::Environment(_) => caller.sees_all(),
    }
}

/// The rules of the configured directory: groups are read from them when a
/// report asks, so a change to `[groups]` needs no re-allocation.
pub(super) fn current_rules(settings: &Settings) -> Result<RuleSet, ServiceError> {
    crate::rules::load_dir(&settings.rules_dir).map_err(ServiceError::Rules)
}

/// The teams of group `group` in `rules`.
pub(super) fn group_teams(
    rules: &RuleSet,
    group: &crate::domain::ScopeName,
) -> Result<BTreeSet<TeamId>, ServiceError> {
    match rules.groups().teams(group) {
        Some(teams) => Ok(teams.clone()),
        None => Err(ServiceError::UnknownGroup {
            name: group.to_string(),
            declared: rules.groups().iter().map(|(g, _)| g.to_string()).collect(),
        }),
    }
}

/// A month's stored charge-month allocation as its showback: by team, or
/// for an environment by team and environment (rounded hierarchically:
/// environments onto teams, teams onto the bill).
async fn month_showback(
    store: &Store,
    month: Month,
    scope: &MetricScope,
) -> Result<Option<(crate::store::AllocationRun, engine::Showback)>, ServiceError> {
    let Some((run, rows)) = store.allocation(Period::Charge, month).await? else {
        return Ok(None);
    };
    let group_by = match scope {
        MetricScope::Environment(_) => GroupBy::TeamEnvironment,
        _ => GroupBy::Team,
    };
    let showback = engine::showback(month, run.cost_basis, &rows, group_by);
    Ok(Some((run, showback)))
}

/// A scope's cost per currency in each month of `from..=to` that has
/// stored showbacks, read from them: for the organisation the bill (the
/// team showback's total, which is the sum of all its rows), for a team or
/// group its teams' rows, for an environment its `team,environment` rows.
/// A month in which the scope has no row is absent.
async fn stored_scope_costs(
    store: &Store,
    scope: &MetricScope,
    teams: Option<&BTreeSet<TeamId>>,
    from: Month,
    to: Month,
) -> Result<BTreeMap<Month, BTreeMap<Currency, Decimal>>, ServiceError> {
    let rows = match scope {
        MetricScope::Organisation => {
            return Ok(store.report_totals(from, to, GroupBy::Team).await?);
        }
        MetricScope::Environment(env) => {
            store
                .report_rows(from, to, GroupBy::TeamEnvironment, None, Some(env.as_str()))
                .await?
        }
        MetricScope::Team(_) | MetricScope::Group(_) => {
            let teams = teams.cloned().unwrap_or_default();
            store
                .report_rows(from, to, GroupBy::Team, Some(&teams), None)
                .await?
        }
    };
    Ok(rows
        .into_iter()
        .map(|(month, rows)| (month, scope_cost(rows.iter(), scope, teams)))
        .collect())
}

/// A scope's cost per currency in a month's showback rows: the bill for
/// the organisation, the sum of its teams' rows for a team or group, the
/// sum of every owner's rows in it for an environment. A currency in which
/// the scope has no row is absent.
fn scope_cost<'a>(
    rows: impl Iterator<Item = &'a ShowbackRow>,
    scope: &MetricScope,
    teams: Option<&BTreeSet<TeamId>>,
) -> BTreeMap<Currency, Decimal> {
    let mut out: BTreeMap<Currency, Decimal> = BTreeMap::new();
    for row in rows {
        if in_scope(row, scope, teams) {
            *out.entry(row.currency).or_default() += row.total_cost;
        }
    }
    out
}

/// Whether a showback row counts for `scope`: every row for the
/// organisation, its environment's rows (of a `team,environment`
/// showback) for an environment, its teams' rows for a team or group.
fn in_scope(row: &ShowbackRow, scope: &MetricScope, teams: Option<&BTreeSet<TeamId>>) -> bool {
    match (scope, &row.owner) {
        (MetricScope::Organisation, _) => true,
        (MetricScope::Environment(env), _) => row.environment.as_deref() == Some(env.as_str()),
        (_, Owner::Team(team)) => teams.is_some_and(|t| t.contains(team)),
        (_, Owner::Unallocated) => false,
    }
}

/// How many cost movers a summary entry names.
pub const MOVERS: usize = 3;

/// One metric and scope in a month's summary, in one currency.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SummaryEntry {
    pub metric: MetricDef,
    pub scope: MetricScope,
    /// The month's figures (with the change from the month before).
    pub current: UnitCostRow,
    /// The month before's figures.
    pub previous: UnitCostRow,
    /// What made the cost side move: for a team its services, for other
    /// scopes their teams; largest change first.
    pub movers: Vec<unit_cost::Mover>,
    /// `team` or `service`: what the movers are.
    pub mover_kind: &'static str,
}

/// Every metric and scope with points in a month or the month before.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnitCostSummary {
    pub month: Month,
    pub entries: Vec<SummaryEntry>,
}

/// One grouping of a month's showback rows, with each owner's rows found
/// at once (a summary asks for every team's).
struct Rows {
    rows: Vec<ShowbackRow>,
    by_owner: BTreeMap<Owner, Vec<usize>>,
}

impl Rows {
    fn new(rows: Vec<ShowbackRow>) -> Rows {
        let mut by_owner: BTreeMap<Owner, Vec<usize>> = BTreeMap::new();
        for (i, r) in rows.iter().enumerate() {
            by_owner.entry(r.owner.clone()).or_default().push(i);
        }
        Rows { rows, by_owner }
    }

    /// The rows that count for `scope` (see [`in_scope`]), in showback
    /// order.
    fn in_scope<'a>(
        &'a self,
        scope: &MetricScope,
        teams: Option<&BTreeSet<TeamId>>,
    ) -> Vec<&'a ShowbackRow> {
        match (scope, teams) {
            (MetricScope::Team(_) | MetricScope::Group(_), Some(teams)) => {
                let mut found: Vec<usize> = teams
                    .iter()
                    .filter_map(|t| self.by_owner.get(&Owner::Team(t.clone())))
                    .flatten()
                    .copied()
                    .collect();
                found.sort_unstable();
                found.into_iter().map(|i| &self.rows[i]).collect()
            }
            _ => self
                .rows
                .iter()
                .filter(|r| in_scope(r, scope, teams))
                .collect(),
        }
    }
}

/// The reports of one allocated month that unit costs and their movers
/// read.
struct MonthReports {
    stale: bool,
    teams: Rows,
    services: Rows,
    environments: Rows,
}

/// The reports of the allocated months of `from..=to`: stored with the
/// allocation, or computed from its rows when it was allocated before
/// showbacks were stored. Of stored ones only those `scopes` read are
/// read: by team for any but an environment, by team and service for a
/// team (its movers), by team and environment for an environment.
async fn month_reports<'s>(
    store: &Store,
    from: Month,
    to: Month,
    scopes: impl Iterator<Item = &'s MetricScope>,
) -> Result<BTreeMap<Month, MonthReports>, ServiceError> {
    let mut needed = [false; 3];
    for scope in scopes {
        match scope {
            MetricScope::Team(_) => needed[0..2].fill(true),
            MetricScope::Environment(_) => needed[2] = true,
            MetricScope::Organisation | MetricScope::Group(_) => needed[0] = true,
        }
    }
    let runs = store.charge_runs(from, to).await?;
    let mut stored = [BTreeMap::new(), BTreeMap::new(), BTreeMap::new()];
    if runs.iter().any(|r| r.reports) {
        let groupings = [
            GroupBy::Team,
            GroupBy::TeamService,
            GroupBy::TeamEnvironment,
        ];
        for (i, by) in groupings.into_iter().enumerate() {
            if needed[i] {
                stored[i] = store.report_rows(from, to, by, None, None).await?;
            }
        }
    }
    let [mut teams, mut services, mut environments] = stored;
    let mut out = BTreeMap::new();
    for r in runs {
        let month = r.run.month;
        let stale = r.stale();
        let reports = if r.reports {
            MonthReports {
                stale,
                teams: Rows::new(teams.remove(&month).unwrap_or_default()),
                services: Rows::new(services.remove(&month).unwrap_or_default()),
                environments: Rows::new(environments.remove(&month).unwrap_or_default()),
            }
        } else {
            let Some((run, rows)) = store.allocation(Period::Charge, month).await? else {
                continue;
            };
            computed_reports(stale, month, run.cost_basis, &rows)
        };
        out.insert(month, reports);
    }
    Ok(out)
}

/// A month's reports computed from its allocation rows.
fn computed_reports(
    stale: bool,
    month: Month,
    basis: CostBasis,
    rows: &[crate::engine::AllocationRow],
) -> MonthReports {
    let report = |by| Rows::new(engine::showback(month, basis, rows, by).rows);
    MonthReports {
        stale,
        teams: report(GroupBy::Team),
        services: report(GroupBy::TeamService),
        environments: report(GroupBy::TeamEnvironment),
    }
}

impl MonthReports {
    /// The scope's cost per currency.
    fn cost(&self, scope: &MetricScope, teams: Option<&BTreeSet<TeamId>>) -> MonthCost {
        let rows = match scope {
            MetricScope::Environment(_) => &self.environments,
            _ => &self.teams,
        };
        MonthCost {
            stale: self.stale,
            by_currency: scope_cost(rows.in_scope(scope, teams).into_iter(), scope, teams),
        }
    }

    /// The scope's cost in `currency` by mover: a team's services, or the
    /// teams of another scope.
    fn by_mover(
        &self,
        scope: &MetricScope,
        teams: Option<&BTreeSet<TeamId>>,
        currency: Currency,
    ) -> BTreeMap<String, Decimal> {
        let mut out: BTreeMap<String, Decimal> = BTreeMap::new();
        let (rows, by_service) = match scope {
            MetricScope::Team(_) => (&self.services, true),
            MetricScope::Environment(_) => (&self.environments, false),
            _ => (&self.teams, false),
        };
        for row in rows
            .in_scope(scope, teams)
            .into_iter()
            .filter(|r| r.currency == currency)
        {
            let name = if by_service {
                row.service.clone().unwrap_or_default()
            } else {
                row.owner.name().to_string()
            };
            *out.entry(name).or_default() += row.total_cost;
        }
        out
    }
}

/// This month's and last month's unit cost of every metric and scope that
/// has points in either, with the change and the largest cost movers.
pub async fn summary(
    store: &Store,
    caller: &Caller,
    settings: &Settings,
    month: Month,
) -> Result<UnitCostSummary, ServiceError> {
    caller.authorize(Action::Read)?;
    let previous = minus_months(month, 1);
    // Points of a metric no longer declared are not reported.
    let aggregations: BTreeMap<MetricName, Aggregation> = settings
        .metrics
        .iter()
        .map(|(name, def)| (name.clone(), def.aggregation))
        .collect();
    let by_series: BTreeMap<(MetricName, MetricScope), BTreeMap<Month, MonthValue>> = store
        .metric_month_values(&aggregations, None, previous, month)
        .await?;
    let rules = if by_series
        .keys()
        .any(|(_, s)| matches!(s, MetricScope::Group(_)))
    {
        Some(current_rules(settings)?)
    } else {
        None
    };
    let mut reports =
        month_reports(store, previous, month, by_series.keys().map(|(_, s)| s)).await?;
    let now = reports.remove(&month);
    let before = reports.remove(&previous);
    let mut entries = Vec::new();
    for ((metric, scope), values) in by_series {
        let Some(def) = settings.metrics.get(&metric) else {
            continue;
        };
        let teams = match &scope {
            MetricScope::Team(t) => Some([t.clone()].into()),
            MetricScope::Group(g) => match rules.as_ref().and_then(|r| r.groups().teams(g)) {
                Some(teams) => Some(teams.clone()),
                // A group no longer declared.
                None => continue,
            },
            _ => None,
        };
        // Only the scopes the caller sees (a list is filtered, never refused).
        if !sees_scope(caller, &scope, teams.as_ref()) {
            continue;
        }
        let mut costs = BTreeMap::new();
        for (m, reports) in [(previous, &before), (month, &now)] {
            if let Some(r) = reports {
                costs.insert(m, r.cost(&scope, teams.as_ref()));
            }
        }
        let rows = unit_cost::unit_costs(previous, month, &costs, &values);
        let (old, new): (Vec<_>, Vec<_>) = rows.into_iter().partition(|r| r.month == previous);
        for current in new {
            let Some(previous_row) = old.iter().find(|r| r.currency == current.currency).cloned()
            else {
                continue;
            };
            let movers = match (current.currency, &now, &before) {
                (Some(c), Some(now), Some(before)) => unit_cost::movers(
                    &before.by_mover(&scope, teams.as_ref(), c),
                    &now.by_mover(&scope, teams.as_ref(), c),
                    MOVERS,
                ),
                _ => Vec::new(),
            };
            entries.push(SummaryEntry {
                metric: def.clone(),
                scope: scope.clone(),
                current,
                previous: previous_row,
                movers,
                mover_kind: match scope {
                    MetricScope::Team(_) => "service",
                    _ => "team",
                },
            });
        }
    }
    Ok(UnitCostSummary { month, entries })
}

/// One cost item behind a unit cost, rounded: the items of a currency add
/// up to the scope's cost.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CostItem {
    /// The team (or `unallocated`) the amount belongs to.
    pub owner: Owner,
    pub kind: CostItemKind,
    pub amount: Decimal,
}

/// Where a cost item comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CostItemKind {
    /// Lines a rule gave the owner (`rule` empty for lines no rule matched).
    Direct { rule: String },
    /// A share of a pool, with its method.
    Pool {
        pool: String,
        method: crate::engine::ShareMethod,
    },
    /// For an environment: the owner's shared cost attributed to it in
    /// proportion to its direct cost there.
    Attributed,
}

/// A unit cost of one month taken apart: the cost items per currency and
/// the metric points the value was made of.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnitCostExplanation {
    pub metric: MetricDef,
    pub scope: MetricScope,
    pub month: Month,
    /// The month's rows, one per currency.
    pub rows: Vec<UnitCostRow>,
    /// Per currency, the items adding up to that row's `cost`.
    pub items: BTreeMap<Currency, Vec<CostItem>>,
    /// The points used: the month point, or the days `aggregation` used.
    pub points: Vec<crate::domain::MetricPoint>,
}

/// Takes the unit cost of `metric` for `scope` in `month` apart.
pub async fn explain(
    store: &Store,
    caller: &Caller,
    settings: &Settings,
    metric: &str,
    scope: &MetricScope,
    month: Month,
) -> Result<UnitCostExplanation, ServiceError> {
    caller.authorize(Action::Read)?;
    let def = declared_metric(&settings.metrics, metric)?.clone();
    let teams = scope_teams(store, caller, settings, scope).await?;
    let mut costs = BTreeMap::new();
    let mut items: BTreeMap<Currency, Vec<CostItem>> = BTreeMap::new();
    if let Some((run, rows)) = store.allocation(Period::Charge, month).await? {
        let basis = run.cost_basis;
        let reports = computed_reports(is_stale(store, &run).await?, month, basis, &rows);
        costs.insert(month, reports.cost(scope, teams.as_ref()));
        let owners: BTreeSet<Owner> = reports
            .teams
            .rows
            .iter()
            .map(|r| r.owner.clone())
            .filter(|o| match (scope, o) {
                (MetricScope::Organisation | MetricScope::Environment(_), _) => true,
                (_, Owner::Team(t)) => teams.as_ref().is_some_and(|ts| ts.contains(t)),
                (_, Owner::Unallocated) => false,
            })
            .collect();
        let shares = store.pool_shares(Period::Charge, month).await?;
        for owner in owners {
            match scope {
                MetricScope::Environment(env) => {
                    environment_items(&rows, &reports.environments, &owner, env, &mut items)
                }
                _ => {
                    let e = engine::explain(month, basis, &owner, &rows, &shares);
                    for item in e.items {
                        let kind = match item.source {
                            crate::engine::explain::Source::Direct { rule, .. } => {
                                CostItemKind::Direct { rule }
                            }
                            crate::engine::explain::Source::Pool { pool, method, .. } => {
                                CostItemKind::Pool { pool, method }
                            }
                        };
                        items.entry(item.currency).or_default().push(CostItem {
                            owner: owner.clone(),
                            kind,
                            amount: item.amount,
                        });
                    }
                }
            }
        }
    }
    let points = store
        .scope_metric_points(&def.name, scope, month, month)
        .await?;
    let values = unit_cost::month_values(def.aggregation, &points);
    let used: Vec<_> = match values.get(&month) {
        Some(v) if v.from_month_point => points
            .iter()
            .filter(|p| matches!(p.date, crate::domain::PointDate::Month(_)))
            .cloned()
            .collect(),
        Some(v) => points
            .iter()
            .filter(|p| matches!(p.date, crate::domain::PointDate::Day(d) if v.days.contains(&d)))
            .cloned()
            .collect(),
        None => Vec::new(),
    };
    let rows = unit_cost::unit_costs(month, month, &costs, &values);
    // Items of currencies the scope has no cost in are dropped.
    items.retain(|currency, list| {
        rows.iter()
            .any(|r| r.currency == Some(*currency) && r.cost.is_some())
            && !list.is_empty()
    });
    Ok(UnitCostExplanation {
        metric: def,
        scope: scope.clone(),
        month,
        rows,
        items,
        points: used,
    })
}

/// An owner's cost items in environment `env`: its direct cost there by
/// rule, rounded onto its `team,environment` row's direct cost, and the
/// shared cost attributed to it.
fn environment_items(
    rows: &[crate::engine::AllocationRow],
    environments: &Rows,
    owner: &Owner,
    env: &crate::domain::ScopeName,
    items: &mut BTreeMap<Currency, Vec<CostItem>>,
) {
    use crate::domain::money::{PRESENTATION_DP, largest_remainder_to};
    for row in environments
        .rows
        .iter()
        .filter(|r| &r.owner == owner && r.environment.as_deref() == Some(env.as_str()))
    {
        let mut by_rule: BTreeMap<&str, Decimal> = BTreeMap::new();
        for r in rows.iter().filter(|r| {
            &r.owner == owner
                && r.currency == row.currency
                && r.pool.is_none()
                && r.environment
                    .as_ref()
                    .map_or(crate::rules::UNSPECIFIED, |e| e.as_str())
                    == env.as_str()
        }) {
            *by_rule.entry(r.rule.as_str()).or_default() += r.amount;
        }
        let exact: Vec<Decimal> = by_rule.values().copied().collect();
        let rounded = largest_remainder_to(&exact, row.direct_cost, PRESENTATION_DP);
        let list = items.entry(row.currency).or_default();
        for ((rule, _), amount) in by_rule.iter().zip(rounded) {
            list.push(CostItem {
                owner: owner.clone(),
                kind: CostItemKind::Direct {
                    rule: rule.to_string(),
                },
                amount,
            });
        }
        if !row.shared_cost.is_zero() {
            list.push(CostItem {
                owner: owner.clone(),
                kind: CostItemKind::Attributed,
                amount: row.shared_cost,
            });
        }
    }
}
