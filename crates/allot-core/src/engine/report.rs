//! Reports built from allocated amounts: showback per team (or team and
//! service) and a team's costs over time, rounded to cents by largest
//! remainder so that the rows always add up to the rounded total.

use std::collections::{BTreeMap, BTreeSet};
use std::str::FromStr;

use chrono::NaiveDate;
use rust_decimal::Decimal;

use crate::domain::money::{PRESENTATION_DP, largest_remainder, largest_remainder_to};
use crate::domain::{CostBasis, Currency, Month, Owner};
use crate::engine::AllocationRow;
use crate::engine::split::split;
use crate::rules::UNSPECIFIED;

/// How showback rows are grouped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GroupBy {
    Team,
    TeamService,
    /// Per team and environment: a team's direct cost by the environment
    /// of its lines, and its shared cost attributed to its environments in
    /// proportion to its direct cost in each (all to `unspecified` when it
    /// has no positive direct cost).
    TeamEnvironment,
}

impl FromStr for GroupBy {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim() {
            "team" => Ok(GroupBy::Team),
            "team,service" => Ok(GroupBy::TeamService),
            "team,environment" => Ok(GroupBy::TeamEnvironment),
            other => Err(format!(
                "expected `team`, `team,service` or `team,environment`, found `{other}`"
            )),
        }
    }
}

/// One showback row, rounded to cents.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShowbackRow {
    pub owner: Owner,
    /// Set when grouping by team and service; empty for lines with no service.
    pub service: Option<String>,
    /// Set when grouping by team and environment.
    pub environment: Option<String>,
    pub currency: Currency,
    /// Cost of lines the rules gave the team directly.
    pub direct_cost: Decimal,
    /// Cost received from shared pools: `total_cost - direct_cost`.
    pub shared_cost: Decimal,
    pub total_cost: Decimal,
}

/// A month's showback.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Showback {
    pub month: Month,
    pub cost_basis: CostBasis,
    pub group_by: GroupBy,
    /// Teams in name order, then `unallocated`, per currency.
    pub rows: Vec<ShowbackRow>,
    /// Rounded total per currency: the sum of the rows' `total_cost`.
    pub totals: BTreeMap<Currency, Decimal>,
}

impl Showback {
    /// Only the rows of owners `keep` accepts, and the totals of those rows:
    /// the showback of someone who may see only some teams.
    pub fn narrowed(mut self, keep: impl Fn(&Owner) -> bool) -> Showback {
        self.rows.retain(|r| keep(&r.owner));
        self.totals = BTreeMap::new();
        for r in &self.rows {
            *self.totals.entry(r.currency).or_default() += r.total_cost;
        }
        self
    }
}

/// Showback rows sort by currency, then teams by name with `unallocated`
/// last (the `bool`), then service.
type RowKey = (Currency, (bool, Owner), Option<String>);

/// Builds the showback of a month from its allocated amounts. Every currency
/// present gets an `unallocated` row, even when it is zero.
pub fn showback(
    month: Month,
    basis: CostBasis,
    rows: &[AllocationRow],
    group_by: GroupBy,
) -> Showback {
    // (currency, owner-sort-key, service or environment) -> exact (direct, shared) cost
    let mut exact: BTreeMap<RowKey, (Decimal, Decimal)> = BTreeMap::new();
    // By environment: each owner's shared cost, attributed below.
    let mut pooled: BTreeMap<(Currency, (bool, Owner)), Decimal> = BTreeMap::new();
    for r in rows {
        let owner_key = (r.owner == Owner::Unallocated, r.owner.clone());
        let detail = match group_by {
            GroupBy::Team => None,
            GroupBy::TeamService => Some(r.service_name.clone()),
            GroupBy::TeamEnvironment if r.pool.is_some() => {
                *pooled.entry((r.currency, owner_key)).or_default() += r.amount;
                continue;
            }
            GroupBy::TeamEnvironment => Some(
                r.environment
                    .as_ref()
                    .map_or(UNSPECIFIED, |e| e.as_str())
                    .to_string(),
            ),
        };
        let entry = exact.entry((r.currency, owner_key, detail)).or_default();
        if r.pool.is_some() {
            entry.1 += r.amount;
        } else {
            entry.0 += r.amount;
        }
    }
    attribute_to_environments(&mut exact, pooled);
    let currencies: BTreeSet<Currency> = rows.iter().map(|r| r.currency).collect();
    for currency in &currencies {
        let has_unallocated = exact.keys().any(|(c, (u, _), _)| c == currency && *u);
        if !has_unallocated {
            let detail = match group_by {
                GroupBy::Team => None,
                GroupBy::TeamService => Some(String::new()),
                GroupBy::TeamEnvironment => Some(UNSPECIFIED.to_string()),
            };
            exact.insert(
                (*currency, (true, Owner::Unallocated), detail),
                Default::default(),
            );
        }
    }
    let mut out = Vec::new();
    let mut totals = BTreeMap::new();
    for currency in currencies {
        // Rounding is hierarchical: the owners' totals (and direct costs)
        // are rounded by largest remainder onto the rounded bill, then each
        // owner's services onto the owner's rounded figures. So the
        // `team,service` rows of a team add up to its `team` row, and those
        // to the bill; the shared column is total less direct on every row.
        let mut owners: BTreeMap<&(bool, Owner), (Decimal, Decimal)> = BTreeMap::new();
        for ((_, owner, _), (d, s)) in exact.iter().filter(|((c, _, _), _)| *c == currency) {
            let o = owners.entry(owner).or_default();
            o.0 += *d;
            o.1 += *d + *s;
        }
        let owner_total = largest_remainder(
            &owners.values().map(|(_, t)| *t).collect::<Vec<_>>(),
            PRESENTATION_DP,
        );
        let owner_direct = largest_remainder(
            &owners.values().map(|(d, _)| *d).collect::<Vec<_>>(),
            PRESENTATION_DP,
        );
        for ((owner_key, _), (owner_total, owner_direct)) in
            owners.iter().zip(owner_total.iter().zip(&owner_direct))
        {
            let keys: Vec<_> = exact
                .iter()
                .filter(|((c, o, _), _)| *c == currency && o == *owner_key)
                .collect();
            let total = largest_remainder_to(
                &keys.iter().map(|(_, (d, s))| *d + *s).collect::<Vec<_>>(),
                *owner_total,
                PRESENTATION_DP,
            );
            let direct = largest_remainder_to(
                &keys.iter().map(|(_, (d, _))| *d).collect::<Vec<_>>(),
                *owner_direct,
                PRESENTATION_DP,
            );
            for (((_, (_, owner), detail), _), (total, direct)) in
                keys.iter().zip(total.iter().zip(&direct))
            {
                let (service, environment) = match group_by {
                    GroupBy::TeamEnvironment => (None, detail.clone()),
                    _ => (detail.clone(), None),
                };
                out.push(ShowbackRow {
                    owner: owner.clone(),
                    service,
                    environment,
                    currency,
                    direct_cost: *direct,
                    shared_cost: *total - *direct,
                    total_cost: *total,
                });
            }
        }
        totals.insert(currency, owner_total.iter().copied().sum());
    }
    Showback {
        month,
        cost_basis: basis,
        group_by,
        rows: out,
        totals,
    }
}

/// Attributes each owner's shared cost (`pooled`) to its environments in
/// proportion to its direct cost in each (negative direct cost counts as
/// none), exactly: the parts add up to the shared cost. An owner with no
/// positive direct cost has all of it in `unspecified`.
fn attribute_to_environments(
    exact: &mut BTreeMap<RowKey, (Decimal, Decimal)>,
    pooled: BTreeMap<(Currency, (bool, Owner)), Decimal>,
) {
    for ((currency, owner), shared) in pooled {
        let keys: Vec<RowKey> = exact
            .keys()
            .filter(|(c, o, _)| *c == currency && *o == owner)
            .cloned()
            .collect();
        let weights: Vec<Decimal> = keys.iter().map(|k| exact[k].0.max(Decimal::ZERO)).collect();
        if weights.iter().all(Decimal::is_zero) {
            exact
                .entry((currency, owner, Some(UNSPECIFIED.to_string())))
                .or_default()
                .1 += shared;
            continue;
        }
        for (key, part) in keys.iter().zip(split(shared, &weights)) {
            if let Some(entry) = exact.get_mut(key) {
                entry.1 += part;
            }
        }
    }
}

/// The periods a team's costs are reported in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Granularity {
    Day,
    Month,
}

impl FromStr for Granularity {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim() {
            "day" => Ok(Granularity::Day),
            "month" => Ok(Granularity::Month),
            other => Err(format!("expected `day` or `month`, found `{other}`")),
        }
    }
}

/// A team's cost in one period and currency, with its split by service.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CostPoint {
    /// The first day of the period.
    pub start: NaiveDate,
    pub currency: Currency,
    pub cost: Decimal,
    /// (service, cost), largest first; the costs sum to `cost`.
    pub services: Vec<(String, Decimal)>,
}

/// A team's costs over a date range.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TeamCosts {
    pub owner: Owner,
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub granularity: Granularity,
    pub points: Vec<CostPoint>,
    pub totals: BTreeMap<Currency, Decimal>,
    /// The cost basis of the allocations the figures come from (set by the
    /// caller, which knows them); `None` when they differ or there are none.
    pub cost_basis: Option<CostBasis>,
}

/// Groups one owner's allocated amounts by day, rounding by largest
/// remainder per currency so the days add up to the rounded total, and
/// each day's services add up to the day. (Months come from the months'
/// showbacks: [`team_months`].)
pub fn team_costs(
    owner: Owner,
    from: NaiveDate,
    to: NaiveDate,
    rows: &[AllocationRow],
) -> TeamCosts {
    let mut exact: BTreeMap<(Currency, NaiveDate), BTreeMap<String, Decimal>> = BTreeMap::new();
    for r in rows
        .iter()
        .filter(|r| r.owner == owner && r.day >= from && r.day <= to)
    {
        *exact
            .entry((r.currency, r.day))
            .or_default()
            .entry(r.service_name.clone())
            .or_default() += r.amount;
    }
    let mut points = Vec::new();
    let mut totals = BTreeMap::new();
    let currencies: Vec<Currency> = {
        let mut c: Vec<Currency> = exact.keys().map(|k| k.0).collect();
        c.dedup();
        c
    };
    for currency in currencies {
        let periods: Vec<_> = exact.iter().filter(|((c, _), _)| *c == currency).collect();
        let amounts: Vec<Decimal> = periods
            .iter()
            .map(|(_, s)| s.values().copied().sum())
            .collect();
        let rounded = largest_remainder(&amounts, PRESENTATION_DP);
        for (((_, start), services), cost) in periods.iter().zip(&rounded) {
            let names: Vec<&String> = services.keys().collect();
            let exact_services: Vec<Decimal> = services.values().copied().collect();
            let mut split = largest_remainder_to(&exact_services, *cost, PRESENTATION_DP);
            let mut by_service: Vec<(String, Decimal)> =
                names.into_iter().cloned().zip(split.drain(..)).collect();
            by_service.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
            points.push(CostPoint {
                start: *start,
                currency,
                cost: *cost,
                services: by_service,
            });
        }
        totals.insert(currency, rounded.iter().copied().sum());
    }
    TeamCosts {
        owner,
        from,
        to,
        granularity: Granularity::Day,
        points,
        totals,
        cost_basis: None,
    }
}

/// A team's costs per month taken from the months' showbacks (grouped by
/// team and service): each month's figure is the team's showback row and
/// its services are the team's `team,service` rows, to the cent, so the
/// monthly view and the showback never differ by a rounding cent. Only
/// the currencies in which the owner has allocated amounts appear (a
/// showback's zero `unallocated` row is not a cost).
pub fn team_months(
    owner: Owner,
    from: NaiveDate,
    to: NaiveDate,
    showbacks: &[(Showback, BTreeSet<Currency>)],
) -> TeamCosts {
    let mut points = Vec::new();
    let mut totals: BTreeMap<Currency, Decimal> = BTreeMap::new();
    for (s, currencies) in showbacks {
        let mut by_currency: BTreeMap<Currency, Vec<(String, Decimal)>> = BTreeMap::new();
        for r in s
            .rows
            .iter()
            .filter(|r| r.owner == owner && currencies.contains(&r.currency))
        {
            by_currency
                .entry(r.currency)
                .or_default()
                .push((r.service.clone().unwrap_or_default(), r.total_cost));
        }
        for (currency, mut services) in by_currency {
            let cost: Decimal = services.iter().map(|(_, c)| *c).sum();
            services.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
            *totals.entry(currency).or_default() += cost;
            points.push(CostPoint {
                start: s.month.first_day(),
                currency,
                cost,
                services,
            });
        }
    }
    // Points by currency, then period, as `team_costs` orders them.
    points.sort_by_key(|p| (p.currency, p.start));
    TeamCosts {
        owner,
        from,
        to,
        granularity: Granularity::Month,
        points,
        totals,
        cost_basis: None,
    }
}
