//! Previews: how a candidate rule set would change each team's total for a
//! month, compared with the stored allocation.

use std::collections::BTreeMap;

use rust_decimal::Decimal;

use super::report::Showback;
use crate::domain::{Currency, Owner};

/// One team's totals, now and with the candidate rules (rounded to cents).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PreviewRow {
    pub owner: Owner,
    pub currency: Currency,
    pub current: Decimal,
    pub candidate: Decimal,
    /// `candidate - current`.
    pub difference: Decimal,
}

/// Compares two showbacks of one month, team by team (teams in name order,
/// `unallocated` last, per currency). A team absent from one side has 0.00 there.
pub fn compare(current: &Showback, candidate: &Showback) -> Vec<PreviewRow> {
    let mut rows: BTreeMap<(Currency, bool, Owner), (Decimal, Decimal)> = BTreeMap::new();
    for r in &current.rows {
        rows.entry((r.currency, r.owner == Owner::Unallocated, r.owner.clone()))
            .or_default()
            .0 += r.total_cost;
    }
    for r in &candidate.rows {
        rows.entry((r.currency, r.owner == Owner::Unallocated, r.owner.clone()))
            .or_default()
            .1 += r.total_cost;
    }
    rows.into_iter()
        .map(|((currency, _, owner), (current, candidate))| PreviewRow {
            owner,
            currency,
            current,
            candidate,
            difference: candidate - current,
        })
        .collect()
}
