//! Showback by group: each group's row is the exact sum of its teams'
//! rounded `team` rows, so a group's figures are what finance gets by
//! adding up its teams in the team showback. Teams in no group make the
//! `ungrouped` row; `unallocated` keeps its own.

use std::collections::{BTreeMap, BTreeSet};

use rust_decimal::Decimal;

use crate::domain::{CostBasis, Currency, Month, Owner, TeamId, UNALLOCATED};
use crate::engine::{GroupBy, Showback};
use crate::rules::Groups;

/// The row of the teams in no group.
pub const UNGROUPED: &str = "ungrouped";

/// One group's cost in one currency.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupRow {
    /// A group name, `ungrouped` or `unallocated`.
    pub group: String,
    /// The group's teams with a row in this currency, by name.
    pub teams: Vec<TeamId>,
    pub currency: Currency,
    pub direct_cost: Decimal,
    pub shared_cost: Decimal,
    pub total_cost: Decimal,
}

/// A month's showback by group.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupShowback {
    pub month: Month,
    pub cost_basis: CostBasis,
    /// Per currency: groups by name, then `ungrouped`, then `unallocated`.
    pub rows: Vec<GroupRow>,
    /// The bill per currency (the team showback's totals).
    pub totals: BTreeMap<Currency, Decimal>,
    /// Whether some team is in more than one group: then the group rows
    /// add up to more than the bill.
    pub overlapping: bool,
}

impl GroupShowback {
    /// Only the rows `keep` accepts, and the totals of those rows: the
    /// report of someone who may see only some teams.
    pub fn narrowed(mut self, keep: impl Fn(&GroupRow) -> bool) -> GroupShowback {
        self.rows.retain(|r| keep(r));
        self.totals = BTreeMap::new();
        let mut seen: BTreeSet<(&str, Currency)> = BTreeSet::new();
        for r in &self.rows {
            if seen.insert((r.group.as_str(), r.currency)) {
                *self.totals.entry(r.currency).or_default() += r.total_cost;
            }
        }
        self
    }
}

/// Rolls a `team` showback up to `groups`.
pub fn group_showback(teams: &Showback, groups: &Groups) -> GroupShowback {
    debug_assert_eq!(teams.group_by, GroupBy::Team);
    let mut membership: BTreeMap<&TeamId, usize> = BTreeMap::new();
    for (_, members) in groups.iter() {
        for t in members {
            *membership.entry(t).or_default() += 1;
        }
    }
    let currencies: BTreeSet<Currency> = teams.rows.iter().map(|r| r.currency).collect();
    let mut rows = Vec::new();
    for currency in currencies {
        let of_currency: Vec<_> = teams
            .rows
            .iter()
            .filter(|r| r.currency == currency)
            .collect();
        let mut sum = |group: &str, pick: &dyn Fn(&Owner) -> bool| {
            let members: Vec<_> = of_currency.iter().filter(|r| pick(&r.owner)).collect();
            if members.is_empty() && group != UNALLOCATED {
                return;
            }
            rows.push(GroupRow {
                group: group.to_string(),
                teams: members
                    .iter()
                    .filter_map(|r| match &r.owner {
                        Owner::Team(t) => Some(t.clone()),
                        Owner::Unallocated => None,
                    })
                    .collect(),
                currency,
                direct_cost: members.iter().map(|r| r.direct_cost).sum(),
                shared_cost: members.iter().map(|r| r.shared_cost).sum(),
                total_cost: members.iter().map(|r| r.total_cost).sum(),
            });
        };
        for (name, members) in groups.iter() {
            sum(
                name.as_str(),
                &|o| matches!(o, Owner::Team(t) if members.contains(t)),
            );
        }
        sum(
            UNGROUPED,
            &|o| matches!(o, Owner::Team(t) if !membership.contains_key(t)),
        );
        sum(UNALLOCATED, &|o| *o == Owner::Unallocated);
    }
    GroupShowback {
        month: teams.month,
        cost_basis: teams.cost_basis,
        rows,
        totals: teams.totals.clone(),
        overlapping: membership.values().any(|n| *n > 1),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::ShowbackRow;
    use crate::rules::check;

    fn row(team: &str, total: i64) -> ShowbackRow {
        ShowbackRow {
            owner: Owner::from_name(team).unwrap(),
            service: None,
            environment: None,
            currency: Currency::parse("USD").unwrap(),
            direct_cost: Decimal::from(total - 1),
            shared_cost: Decimal::ONE,
            total_cost: Decimal::from(total),
        }
    }

    #[test]
    fn groups_add_up_their_teams_rows_and_the_rest_is_ungrouped() {
        let rules = check(&[(
            "g.toml".into(),
            "[groups]\ncommerce = [\"web\", \"api\"]\nall-web = [\"web\"]\n".into(),
        )])
        .unwrap();
        let teams = Showback {
            month: Month::parse("2026-10").unwrap(),
            cost_basis: CostBasis::Effective,
            group_by: GroupBy::Team,
            rows: vec![
                row("api", 10),
                row("data", 7),
                row("web", 5),
                row("unallocated", 3),
            ],
            totals: [(Currency::parse("USD").unwrap(), Decimal::from(25))].into(),
        };
        let g = group_showback(&teams, rules.groups());
        let got: Vec<_> = g
            .rows
            .iter()
            .map(|r| (r.group.as_str(), r.teams.len(), r.direct_cost, r.total_cost))
            .collect();
        assert_eq!(
            got,
            [
                ("all-web", 1, Decimal::from(4), Decimal::from(5)),
                ("commerce", 2, Decimal::from(13), Decimal::from(15)),
                ("ungrouped", 1, Decimal::from(6), Decimal::from(7)),
                ("unallocated", 0, Decimal::from(2), Decimal::from(3)),
            ]
        );
        assert!(g.overlapping);
        assert_eq!(g.totals, teams.totals);
    }
}
