//! Explanations: everything one team received in a month, each amount with
//! its source (direct lines by rule, or a pool share with its method and
//! weights), rounded so that the items add up to the team's showback total.

use std::collections::BTreeMap;

use rust_decimal::Decimal;

use super::allocate::{AllocationRow, FallbackTaken, PoolShare, ShareMethod};
use super::report::{GroupBy, ShowbackRow, showback};
use crate::domain::money::{PRESENTATION_DP, largest_remainder_to};
use crate::domain::{CostBasis, Currency, Month, Owner};

/// Where an amount came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    /// Cost lines a rule gave the team directly (`rule` is empty for lines no
    /// rule matched, when explaining `unallocated`).
    Direct { rule: String, lines: u64 },
    /// A share of a pool.
    Pool {
        pool: String,
        method: ShareMethod,
        weight: Decimal,
        total_weight: Decimal,
        fallback: Option<FallbackTaken>,
    },
}

/// One amount received.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Item {
    pub currency: Currency,
    pub source: Source,
    /// Exact.
    pub exact: Decimal,
    /// Rounded to cents; a currency's items add up to its total.
    pub amount: Decimal,
}

/// A team's month, explained.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Explanation {
    pub month: Month,
    pub owner: Owner,
    pub cost_basis: CostBasis,
    pub items: Vec<Item>,
    /// Per currency: the team's showback `total_cost`.
    pub totals: BTreeMap<Currency, Decimal>,
    /// The team's `team,environment` showback rows: its direct cost by
    /// the environment of its lines, its shared cost attributed in
    /// proportion to them.
    pub environments: Vec<ShowbackRow>,
}

/// Explains what `owner` received in the allocation of `month` (its rows and
/// pool shares, as stored).
pub fn explain(
    month: Month,
    basis: CostBasis,
    owner: &Owner,
    rows: &[AllocationRow],
    shares: &[PoolShare],
) -> Explanation {
    let of_owner = |group_by| -> Vec<ShowbackRow> {
        showback(month, basis, rows, group_by)
            .rows
            .into_iter()
            .filter(|r| &r.owner == owner)
            .collect()
    };
    let showbacks = OwnerShowbacks {
        team: of_owner(GroupBy::Team),
        environments: of_owner(GroupBy::TeamEnvironment),
    };
    explain_with(month, basis, owner, rows, shares, showbacks)
}

/// The owner's rows of a month's showbacks by team and by team and
/// environment (as the whole month's showbacks round them).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OwnerShowbacks {
    pub team: Vec<ShowbackRow>,
    pub environments: Vec<ShowbackRow>,
}

/// [`explain`] from the owner's showback rows as stored with the
/// allocation: `rows` need only hold the owner's own amounts.
pub fn explain_with(
    month: Month,
    basis: CostBasis,
    owner: &Owner,
    rows: &[AllocationRow],
    shares: &[PoolShare],
    showbacks: OwnerShowbacks,
) -> Explanation {
    let mut direct: BTreeMap<(Currency, String), (Decimal, u64)> = BTreeMap::new();
    for r in rows
        .iter()
        .filter(|r| &r.owner == owner && r.pool.is_none())
    {
        let entry = direct.entry((r.currency, r.rule.clone())).or_default();
        entry.0 += r.amount;
        entry.1 += r.lines;
    }
    let mut items: Vec<Item> = direct
        .into_iter()
        .map(|((currency, rule), (exact, lines))| Item {
            currency,
            source: Source::Direct { rule, lines },
            exact,
            amount: Decimal::ZERO,
        })
        .collect();
    for s in shares
        .iter()
        .filter(|s| !s.target_is_pool && s.target == owner.name() && !s.amount.is_zero())
    {
        items.push(Item {
            currency: s.currency,
            source: Source::Pool {
                pool: s.pool.clone(),
                method: s.method,
                weight: s.weight,
                total_weight: s.total_weight,
                fallback: s.fallback,
            },
            exact: s.amount,
            amount: Decimal::ZERO,
        });
    }
    let environments = showbacks.environments;
    let totals: BTreeMap<Currency, Decimal> = showbacks
        .team
        .iter()
        .filter(|r| &r.owner == owner)
        .map(|r| (r.currency, r.total_cost))
        .collect();
    for (currency, total) in &totals {
        let idx: Vec<usize> = (0..items.len())
            .filter(|&i| items[i].currency == *currency)
            .collect();
        let parts: Vec<Decimal> = idx.iter().map(|&i| items[i].exact).collect();
        for (&i, amount) in idx
            .iter()
            .zip(largest_remainder_to(&parts, *total, PRESENTATION_DP))
        {
            items[i].amount = amount;
        }
    }
    items.sort_by(|a, b| {
        a.currency
            .cmp(&b.currency)
            .then(b.exact.abs().cmp(&a.exact.abs()))
    });
    Explanation {
        month,
        owner: owner.clone(),
        cost_basis: basis,
        items,
        totals,
        environments,
    }
}
