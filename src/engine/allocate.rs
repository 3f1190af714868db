//! Assigning every cost line of a month to exactly one owner, exactly.

use std::collections::{BTreeMap, HashMap};

use chrono::NaiveDate;
use rust_decimal::Decimal;

use crate::domain::{CostBasis, Currency, Month, Owner};
use crate::rules::{Assignment, RuleSet, Unassignable};
use crate::store::{AllocationRow, StoredLine};

/// Decimal places of a day's share when a charge is spread over several days;
/// the last day takes the exact remainder so nothing is lost.
const SPREAD_DP: u32 = 12;

/// Lines a `team_from_tag` rule matched but could not give to a team.
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
    pub cost_basis: CostBasis,
    /// Exact amounts per (day, owner, service, currency, rule), sorted.
    pub rows: Vec<AllocationRow>,
    /// Source rows allocated.
    pub lines: u64,
    /// Exact input totals per currency: what the rows must add up to.
    pub totals: BTreeMap<Currency, Decimal>,
    pub unallocatable: Vec<Unallocatable>,
}

type Key = (NaiveDate, Owner, String, Currency, String);

/// Allocates the lines of `month` (lines of other months are ignored).
pub fn allocate(
    month: Month,
    lines: &[StoredLine],
    rules: &RuleSet,
    basis: CostBasis,
) -> Allocation {
    let mut allocator = Allocator::new(month, rules, basis);
    for line in lines {
        allocator.add(line);
    }
    allocator.finish()
}

/// Allocation fed one line at a time, so a month of any size is allocated
/// in memory proportional to its result, not its input.
pub struct Allocator<'r> {
    month: Month,
    rules: &'r RuleSet,
    basis: CostBasis,
    sums: HashMap<Key, (Decimal, u64)>,
    totals: BTreeMap<Currency, Decimal>,
    problems: BTreeMap<(String, Unassignable), (u64, BTreeMap<Currency, Decimal>)>,
    count: u64,
}

impl<'r> Allocator<'r> {
    pub fn new(month: Month, rules: &'r RuleSet, basis: CostBasis) -> Self {
        Allocator {
            month,
            rules,
            basis,
            sums: HashMap::new(),
            totals: BTreeMap::new(),
            problems: BTreeMap::new(),
            count: 0,
        }
    }

    /// Gives one line its owner and adds its cost to its days.
    pub fn add(&mut self, stored: &StoredLine) {
        let (month, rules) = (self.month, self.rules);
        let line = &stored.line;
        if line.month() != month {
            return;
        }
        self.count += stored.source_rows;
        let cost = line.cost(self.basis);
        *self.totals.entry(cost.currency).or_default() += cost.amount;
        let (owner, rule) = match rules.assign(line) {
            Assignment::Team { team, rule } => (Owner::Team(team), rules.rules[rule].name.clone()),
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
        let service = line.service_name.clone().unwrap_or_default();
        let days: Vec<NaiveDate> = line
            .days()
            .into_iter()
            .filter(|d| Month::of(*d) == month)
            .collect();
        for (i, (day, amount)) in spread(cost.amount, &days).into_iter().enumerate() {
            let entry = self
                .sums
                .entry((
                    day,
                    owner.clone(),
                    service.clone(),
                    cost.currency,
                    rule.clone(),
                ))
                .or_default();
            entry.0 += amount;
            if i == 0 {
                entry.1 += stored.source_rows;
            }
        }
    }

    /// The allocation of every line added.
    pub fn finish(self) -> Allocation {
        let mut rows: Vec<AllocationRow> = self
            .sums
            .into_iter()
            .map(
                |((day, owner, service_name, currency, rule), (amount, lines))| AllocationRow {
                    day,
                    owner,
                    service_name,
                    currency,
                    rule,
                    amount,
                    lines,
                },
            )
            .collect();
        rows.sort_by(|a, b| {
            (a.day, &a.owner, &a.service_name, a.currency, &a.rule).cmp(&(
                b.day,
                &b.owner,
                &b.service_name,
                b.currency,
                &b.rule,
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
        Allocation {
            month: self.month,
            cost_basis: self.basis,
            rows,
            lines: self.count,
            totals: self.totals,
            unallocatable,
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
