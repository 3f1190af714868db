//! Allocating a month: every cost line gets exactly one owner (a team, a
//! shared pool, or `unallocated`), then each pool is split among its targets
//! in dependency order. All amounts stay exact.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::NaiveDate;
use rust_decimal::Decimal;

use super::split::split;
use crate::domain::{
    CostBasis, Currency, Metric, Month, Owner, Period, ScopeName, StoredLine, TeamId, UsageRecord,
};
use crate::rules::{Assignment, Fallback, Method, PoolTarget, PoolTargets, RuleSet, Unassignable};

/// Decimal places of a day's share when a charge is spread over several days;
/// the last day takes the exact remainder so nothing is lost.
const SPREAD_DP: u32 = 12;

/// One allocated amount: exact, before any rounding.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AllocationRow {
    /// The month whose allocation holds the amount (its charge's month).
    pub month: Month,
    /// The day the amount falls on: a charge spanning several days is spread
    /// over all of them, which may reach into the next month.
    pub day: NaiveDate,
    pub owner: Owner,
    pub service_name: String,
    /// The billing account of the cost lines the amount came from.
    pub account: String,
    pub currency: Currency,
    pub rule: String,
    /// The shared pool the amount came from; `None` for direct cost.
    pub pool: Option<String>,
    /// Whether the amount is a day's share of a charge spanning several
    /// days (a monthly fee, a commitment, tax).
    pub recurring: bool,
    /// The environment of the lines of a direct amount (`unspecified`
    /// without the rules' `[environment]` tag); `None` for a pool's share,
    /// which reports attribute to the team's environments in proportion to
    /// its direct cost in each.
    pub environment: Option<ScopeName>,
    pub amount: Decimal,
    pub lines: u64,
}

/// What one target received from one pool in one currency, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PoolShare {
    pub pool: String,
    pub method: ShareMethod,
    pub currency: Currency,
    /// A team name, a pool name, or `unallocated`.
    pub target: String,
    pub target_is_pool: bool,
    pub weight: Decimal,
    pub total_weight: Decimal,
    /// Exact.
    pub amount: Decimal,
    /// Set when every weight was zero and the pool's fallback decided.
    pub fallback: Option<FallbackTaken>,
}

/// How a pool's share was weighed: its method, without the metric of
/// `usage`. Stored and shown as `even`, `fixed`, `proportional` or `usage`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ShareMethod {
    Even,
    Fixed,
    Proportional,
    Usage,
}

impl ShareMethod {
    pub const ALL: [ShareMethod; 4] = [
        ShareMethod::Even,
        ShareMethod::Fixed,
        ShareMethod::Proportional,
        ShareMethod::Usage,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ShareMethod::Even => "even",
            ShareMethod::Fixed => "fixed",
            ShareMethod::Proportional => "proportional",
            ShareMethod::Usage => "usage",
        }
    }

    /// The method named `s`, as [`ShareMethod::as_str`] spells it.
    pub fn parse(s: &str) -> Option<ShareMethod> {
        ShareMethod::ALL.into_iter().find(|m| m.as_str() == s)
    }
}

impl From<&Method> for ShareMethod {
    fn from(m: &Method) -> ShareMethod {
        match m {
            Method::Even => ShareMethod::Even,
            Method::Fixed => ShareMethod::Fixed,
            Method::Proportional => ShareMethod::Proportional,
            Method::Usage(_) => ShareMethod::Usage,
        }
    }
}

impl std::fmt::Display for ShareMethod {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which fallback decided a pool's split when every weight was zero.
/// Stored and shown as `even`, `team` or `unallocated`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FallbackTaken {
    /// Split evenly among the pool's targets.
    Even,
    /// Given to the pool's fallback team.
    Team,
    /// Left unallocated.
    Unallocated,
}

impl FallbackTaken {
    pub const ALL: [FallbackTaken; 3] = [
        FallbackTaken::Even,
        FallbackTaken::Team,
        FallbackTaken::Unallocated,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            FallbackTaken::Even => "even",
            FallbackTaken::Team => "team",
            FallbackTaken::Unallocated => "unallocated",
        }
    }

    /// The fallback named `s`, as [`FallbackTaken::as_str`] spells it.
    pub fn parse(s: &str) -> Option<FallbackTaken> {
        FallbackTaken::ALL.into_iter().find(|f| f.as_str() == s)
    }
}

impl std::fmt::Display for FallbackTaken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Lines a rule matched but could not give to a team or pool.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unallocatable {
    pub rule: String,
    pub reason: Unassignable,
    pub lines: u64,
    pub amounts: BTreeMap<Currency, Decimal>,
}

/// The result of allocating one month.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Allocation {
    pub month: Month,
    /// Which lines the month holds: those charged in it, or those of its invoice.
    pub period: Period,
    pub cost_basis: CostBasis,
    /// Exact amounts per (day, owner, service, currency, rule, pool), sorted.
    pub rows: Vec<AllocationRow>,
    /// Source rows allocated.
    pub lines: u64,
    /// Exact input totals per currency: what the rows must add up to.
    pub totals: BTreeMap<Currency, Decimal>,
    pub unallocatable: Vec<Unallocatable>,
    /// Every pool split, target by target.
    pub shares: Vec<PoolShare>,
    /// Notes a reader should see (fallbacks taken).
    pub diagnostics: Vec<String>,
    /// The latest day a charge of the month starts on.
    pub data_through: Option<NaiveDate>,
}

/// (day, owner, service, account, currency, rule, pool, recurring,
/// environment) of an allocated amount.
type RowKey = (
    NaiveDate,
    Owner,
    String,
    String,
    Currency,
    String,
    Option<String>,
    bool,
    Option<ScopeName>,
);
/// (day, service, account, currency, rule, recurring) of an amount waiting
/// in a pool.
type InputKey = (NaiveDate, String, String, Currency, String, bool);

/// The largest sum of a month's amounts (in absolute value, per currency)
/// that allocation splits exactly: pool shares and daily spreads keep 12
/// decimal places, and a decimal holds 28 to 29 significant digits.
pub const EXACT_RANGE: i64 = 10_000_000_000_000_000;

/// A month whose amounts allot cannot split exactly.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "the {currency} amounts of {month} add up to {magnitude} (in absolute value), beyond the 10^16 that allot splits exactly to 12 decimal places; is a decimal point missing in the export?"
)]
pub struct OutOfRange {
    pub month: Month,
    pub currency: Currency,
    pub magnitude: Decimal,
}

/// Allocates the lines of `month` (lines of other months are ignored).
pub fn allocate(
    month: Month,
    lines: &[StoredLine],
    rules: &RuleSet,
    basis: CostBasis,
    usage: &[UsageRecord],
) -> Result<Allocation, OutOfRange> {
    let mut allocator = Allocator::new(month, rules, basis, usage);
    for line in lines {
        allocator.add(line);
    }
    allocator.finish()
}

/// Allocation fed one line at a time, so a month of any size is allocated
/// in memory proportional to its result, not its input.
pub struct Allocator<'r> {
    month: Month,
    period: Period,
    rules: &'r RuleSet,
    basis: CostBasis,
    rows: HashMap<RowKey, (Decimal, u64)>,
    pool_inputs: BTreeMap<usize, BTreeMap<InputKey, Decimal>>,
    /// (proportional pool, currency, team) -> direct cost that counts.
    direct_weights: HashMap<(usize, Currency, TeamId), Decimal>,
    teams_with_cost: BTreeSet<TeamId>,
    usage: HashMap<(Metric, TeamId), Decimal>,
    totals: BTreeMap<Currency, Decimal>,
    /// Σ |amount| per currency, checked against [`EXACT_RANGE`].
    magnitudes: BTreeMap<Currency, Decimal>,
    problems: BTreeMap<(String, Unassignable), (u64, BTreeMap<Currency, Decimal>)>,
    count: u64,
    data_through: Option<NaiveDate>,
}

impl<'r> Allocator<'r> {
    /// Allocates the lines charged in `month`.
    pub fn new(month: Month, rules: &'r RuleSet, basis: CostBasis, usage: &[UsageRecord]) -> Self {
        Self::for_period(Period::Charge, month, rules, basis, usage)
    }

    /// Allocates the lines that `period` puts in `month`: with
    /// [`Period::Billing`], those of the invoice starting in `month`,
    /// whichever month they were charged in. Rules, pools and usage are
    /// always those of `month`.
    pub fn for_period(
        period: Period,
        month: Month,
        rules: &'r RuleSet,
        basis: CostBasis,
        usage: &[UsageRecord],
    ) -> Self {
        let mut by_team = HashMap::new();
        for u in usage.iter().filter(|u| Month::of(u.date) == month) {
            *by_team
                .entry((u.metric.clone(), u.team.clone()))
                .or_default() += u.quantity;
        }
        Allocator {
            month,
            period,
            rules,
            basis,
            rows: HashMap::new(),
            pool_inputs: BTreeMap::new(),
            direct_weights: HashMap::new(),
            teams_with_cost: BTreeSet::new(),
            usage: by_team,
            totals: BTreeMap::new(),
            magnitudes: BTreeMap::new(),
            problems: BTreeMap::new(),
            count: 0,
            data_through: None,
        }
    }

    /// Gives one line its owner and adds its cost to its days.
    pub fn add(&mut self, stored: &StoredLine) {
        let (month, rules) = (self.month, self.rules);
        let line = &stored.line;
        if line.month_in(self.period) != month {
            return;
        }
        self.count += stored.source_rows;
        let starts = line.charge_period_start.date_naive();
        self.data_through = Some(self.data_through.map_or(starts, |d| d.max(starts)));
        let cost = line.cost(self.basis);
        *self.totals.entry(cost.currency).or_default() += cost.amount;
        let magnitude = self.magnitudes.entry(cost.currency).or_default();
        // Saturating: past the range the sum only needs to stay past it.
        *magnitude = magnitude.saturating_add(cost.amount.abs());
        let service = line.service_name.clone().unwrap_or_default();
        let account = line.billing_account_id.clone();
        let days: Vec<NaiveDate> = line.days().into_iter().collect();
        // Recurring: charged for longer than a day (a monthly fee, a
        // commitment, tax). A daily line whose day does not start at UTC
        // midnight touches two days but is not recurring.
        let recurring =
            line.charge_period_end - line.charge_period_start > chrono::Duration::days(1);
        let owner = match rules.assign_in(line, month) {
            Assignment::Team { team, rule } => {
                for (index, pool) in rules.pools.iter().enumerate() {
                    if pool.method == Method::Proportional
                        && pool.active.contains(month)
                        && pool.counts(rules, line)
                    {
                        *self
                            .direct_weights
                            .entry((index, cost.currency, team.clone()))
                            .or_default() += cost.amount;
                    }
                }
                self.teams_with_cost.insert(team.clone());
                (Owner::Team(team), rules.rules[rule].name.clone())
            }
            Assignment::Pool { pool, rule } => {
                let name = rules.rules[rule].name.clone();
                let inputs = self.pool_inputs.entry(pool).or_default();
                for (day, amount) in spread(cost.amount, &days) {
                    *inputs
                        .entry((
                            day,
                            service.clone(),
                            account.clone(),
                            cost.currency,
                            name.clone(),
                            recurring,
                        ))
                        .or_default() += amount;
                }
                return;
            }
            Assignment::Unallocated { rule, reason } => {
                let name = rule
                    .map(|r| rules.rules[r].name.clone())
                    .unwrap_or_default();
                if let Some(reason) = reason {
                    let entry = self.problems.entry((name.clone(), reason)).or_default();
                    entry.0 += stored.source_rows;
                    *entry.1.entry(cost.currency).or_default() += cost.amount;
                }
                (Owner::Unallocated, name)
            }
        };
        let environment = rules.environment_of(line);
        for (i, (day, amount)) in spread(cost.amount, &days).into_iter().enumerate() {
            let entry = self
                .rows
                .entry((
                    day,
                    owner.0.clone(),
                    service.clone(),
                    account.clone(),
                    cost.currency,
                    owner.1.clone(),
                    None,
                    recurring,
                    Some(environment.clone()),
                ))
                .or_default();
            entry.0 += amount;
            if i == 0 {
                entry.1 += stored.source_rows;
            }
        }
    }

    /// Splits the pools and returns the allocation of every line added, or
    /// says which currency's amounts are too large to split exactly.
    pub fn finish(mut self) -> Result<Allocation, OutOfRange> {
        if let Some((currency, magnitude)) = self
            .magnitudes
            .iter()
            .find(|(_, m)| **m >= Decimal::from(EXACT_RANGE))
        {
            return Err(OutOfRange {
                month: self.month,
                currency: *currency,
                magnitude: *magnitude,
            });
        }
        let mut shares = Vec::new();
        let mut diagnostics = Vec::new();
        for &p in &self.rules.pool_order {
            if let Some(inputs) = self.pool_inputs.remove(&p) {
                self.split_pool(p, inputs, &mut shares, &mut diagnostics);
            }
        }
        let mut rows: Vec<AllocationRow> = self
            .rows
            .into_iter()
            .map(
                |(
                    (
                        day,
                        owner,
                        service_name,
                        account,
                        currency,
                        rule,
                        pool,
                        recurring,
                        environment,
                    ),
                    (amount, lines),
                )| {
                    AllocationRow {
                        month: self.month,
                        day,
                        owner,
                        service_name,
                        account,
                        currency,
                        rule,
                        pool,
                        recurring,
                        environment,
                        amount,
                        lines,
                    }
                },
            )
            .collect();
        rows.sort_by(|a, b| {
            (
                a.day,
                &a.owner,
                &a.service_name,
                &a.account,
                a.currency,
                &a.rule,
                &a.pool,
                a.recurring,
                &a.environment,
            )
                .cmp(&(
                    b.day,
                    &b.owner,
                    &b.service_name,
                    &b.account,
                    b.currency,
                    &b.rule,
                    &b.pool,
                    b.recurring,
                    &b.environment,
                ))
        });
        let unallocatable = self
            .problems
            .into_iter()
            .map(|((rule, reason), (lines, amounts))| Unallocatable {
                rule,
                reason,
                lines,
                amounts,
            })
            .collect();
        Ok(Allocation {
            month: self.month,
            period: self.period,
            cost_basis: self.basis,
            rows,
            lines: self.count,
            totals: self.totals,
            unallocatable,
            shares,
            diagnostics,
            data_through: self.data_through,
        })
    }

    /// The targets of a pool this month, in a stable order.
    fn targets(&self, p: usize) -> Vec<PoolTarget> {
        match &self.rules.pools[p].targets {
            PoolTargets::List(list) => list.clone(),
            PoolTargets::All => match self.rules.known_teams() {
                Some(known) => known.iter().cloned().map(PoolTarget::Team).collect(),
                None => self
                    .teams_with_cost
                    .iter()
                    .cloned()
                    .map(PoolTarget::Team)
                    .collect(),
            },
        }
    }

    fn weight(&self, p: usize, currency: Currency, target: &PoolTarget) -> Decimal {
        let pool = &self.rules.pools[p];
        let w = match (&pool.method, target) {
            (Method::Even, _) => Decimal::ONE,
            (Method::Fixed, t) => pool
                .shares
                .iter()
                .find(|(s, _)| s == t)
                .map(|(_, v)| *v)
                .unwrap_or_default(),
            (Method::Proportional, PoolTarget::Team(team)) => self
                .direct_weights
                .get(&(p, currency, team.clone()))
                .copied()
                .unwrap_or_default(),
            (Method::Usage(metric), PoolTarget::Team(team)) => self
                .usage
                .get(&(metric.clone(), team.clone()))
                .copied()
                .unwrap_or_default(),
            _ => Decimal::ZERO,
        };
        // A negative weight (a team whose credits exceed its costs) counts as zero.
        w.max(Decimal::ZERO)
    }

    fn split_pool(
        &mut self,
        p: usize,
        inputs: BTreeMap<InputKey, Decimal>,
        shares: &mut Vec<PoolShare>,
        diagnostics: &mut Vec<String>,
    ) {
        let pool = &self.rules.pools[p];
        let pool_name = pool.name.clone();
        let currencies: BTreeSet<Currency> = inputs.keys().map(|k| k.3).collect();
        for currency in currencies {
            let mut targets: Vec<(Owner, Option<usize>)> = self
                .targets(p)
                .into_iter()
                .map(|t| match t {
                    PoolTarget::Team(team) => (Owner::Team(team), None),
                    PoolTarget::Pool(q) => (Owner::Unallocated, Some(q)),
                })
                .collect();
            let plain: Vec<PoolTarget> = self.targets(p);
            let mut weights: Vec<Decimal> =
                plain.iter().map(|t| self.weight(p, currency, t)).collect();
            let mut fallback = None;
            if weights.iter().all(|w| w.is_zero()) {
                match &pool.fallback {
                    Fallback::Even if !targets.is_empty() => {
                        weights = vec![Decimal::ONE; targets.len()];
                        fallback = Some(FallbackTaken::Even);
                    }
                    Fallback::Team(team) => {
                        targets = vec![(Owner::Team(team.clone()), None)];
                        weights = vec![Decimal::ONE];
                        fallback = Some(FallbackTaken::Team);
                    }
                    Fallback::Even | Fallback::Unallocated => {
                        targets = vec![(Owner::Unallocated, None)];
                        weights = vec![Decimal::ONE];
                        fallback = Some(FallbackTaken::Unallocated);
                    }
                }
                diagnostics.push(format!(
                    "pool `{pool_name}`: every {} weight is zero in {currency}; {}",
                    pool.method.name(),
                    match fallback {
                        Some(FallbackTaken::Even) => "split evenly among its targets".to_string(),
                        Some(FallbackTaken::Team) =>
                            format!("given to its fallback team `{}`", targets[0].0.name()),
                        _ => "left unallocated".to_string(),
                    }
                ));
            }
            let total_weight: Decimal = weights.iter().copied().sum();
            let mut received = vec![Decimal::ZERO; targets.len()];
            for ((day, service, account, c, rule, recurring), amount) in
                inputs.iter().filter(|(k, _)| k.3 == currency)
            {
                for (i, part) in split(*amount, &weights).into_iter().enumerate() {
                    if part.is_zero() {
                        continue;
                    }
                    received[i] += part;
                    match &targets[i] {
                        (_, Some(q)) => {
                            *self
                                .pool_inputs
                                .entry(*q)
                                .or_default()
                                .entry((
                                    *day,
                                    service.clone(),
                                    account.clone(),
                                    *c,
                                    rule.clone(),
                                    *recurring,
                                ))
                                .or_default() += part;
                        }
                        (owner, None) => {
                            let key = (
                                *day,
                                owner.clone(),
                                service.clone(),
                                account.clone(),
                                *c,
                                rule.clone(),
                                Some(pool_name.clone()),
                                *recurring,
                                None,
                            );
                            self.rows.entry(key).or_default().0 += part;
                        }
                    }
                }
            }
            for (i, (owner, q)) in targets.iter().enumerate() {
                shares.push(PoolShare {
                    pool: pool_name.clone(),
                    method: ShareMethod::from(&pool.method),
                    currency,
                    target: match q {
                        Some(q) => self.rules.pools[*q].name.clone(),
                        None => owner.name().to_string(),
                    },
                    target_is_pool: q.is_some(),
                    weight: weights[i],
                    total_weight,
                    amount: received[i],
                    fallback,
                });
            }
        }
    }
}

/// Spreads an amount evenly over days; the shares sum exactly to `amount`.
fn spread(amount: Decimal, days: &[NaiveDate]) -> Vec<(NaiveDate, Decimal)> {
    match days {
        [] => vec![],
        [day] => vec![(*day, amount)],
        _ => {
            let share = (amount / Decimal::from(days.len())).round_dp(SPREAD_DP);
            let mut out: Vec<(NaiveDate, Decimal)> = days.iter().map(|d| (*d, share)).collect();
            let rest = amount - share * Decimal::from(days.len() - 1);
            if let Some(last) = out.last_mut() {
                last.1 = rest;
            }
            out
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{ChargeCategory, CostLine, sample};

    #[test]
    fn a_charge_crossing_the_month_end_is_spread_over_all_its_days_and_stays_in_its_month() {
        let l = sample::line(sample::day(2024, 9, 25), Decimal::from(100));
        let line = CostLine {
            charge_period_end: l.charge_period_start + chrono::Duration::days(10),
            billing_account_id: "a".into(),
            charge_category: ChargeCategory::Purchase,
            ..l
        };
        let month = Month::parse("2024-09").unwrap();
        let a = allocate(
            month,
            &[StoredLine {
                line,
                source_rows: 1,
            }],
            &RuleSet::default(),
            CostBasis::Effective,
            &[],
        )
        .unwrap();
        assert_eq!(a.rows.len(), 10);
        assert!(
            a.rows
                .iter()
                .all(|r| r.month == month && r.amount == Decimal::from(10))
        );
        assert_eq!(
            a.rows.last().unwrap().day,
            NaiveDate::from_ymd_opt(2024, 10, 4).unwrap()
        );
    }

    #[test]
    fn spreading_conserves_the_amount() {
        let days: Vec<NaiveDate> = NaiveDate::from_ymd_opt(2024, 9, 1)
            .unwrap()
            .iter_days()
            .take(30)
            .collect();
        let amount: Decimal = "100.00".parse().unwrap();
        let parts = spread(amount, &days);
        assert_eq!(parts.len(), 30);
        assert_eq!(parts.iter().map(|p| p.1).sum::<Decimal>(), amount);
        let thirds = spread(Decimal::ONE, &days[..3]);
        assert_eq!(thirds.iter().map(|p| p.1).sum::<Decimal>(), Decimal::ONE);
    }
}
