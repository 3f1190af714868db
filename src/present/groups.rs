//! The showback by group in the three formats.

use super::body::{self, Amount};
use super::{Cell, csv_rows, money, showback_totals, table, timestamp};
use crate::domain::Period;
use crate::engine::GroupShowback;
use crate::store::AllocationRun;

pub(super) fn group_json(
    run: &AllocationRun,
    s: &GroupShowback,
    stale: bool,
) -> body::GroupShowback {
    body::GroupShowback {
        month: s.month.to_string(),
        period: run.period.as_str(),
        cost_basis: s.cost_basis.as_str(),
        group_by: "group",
        allocated_at: timestamp(run.allocated_at),
        stale,
        overlapping: s.overlapping,
        rows: s
            .rows
            .iter()
            .map(|r| body::GroupShowbackRow {
                group: r.group.clone(),
                teams: r.teams.iter().map(|t| t.to_string()).collect(),
                currency: r.currency.into(),
                direct_cost: Amount::of(r.direct_cost),
                shared_cost: Amount::of(r.shared_cost),
                total_cost: Amount::of(r.total_cost),
            })
            .collect(),
        totals: showback_totals(&s.totals),
    }
}

pub(super) const GROUP_HEADER: [&str; 8] = [
    "month",
    "group",
    "teams",
    "currency",
    "cost_basis",
    "direct_cost",
    "shared_cost",
    "total_cost",
];

#[derive(serde::Serialize)]
pub(super) struct GroupCsv<'a> {
    pub(super) month: &'a str,
    pub(super) group: Cell<'a>,
    /// The group's teams, separated by spaces.
    pub(super) teams: String,
    pub(super) currency: &'a str,
    pub(super) cost_basis: &'a str,
    pub(super) direct_cost: String,
    pub(super) shared_cost: String,
    pub(super) total_cost: String,
}

pub(super) fn group_csv(s: &GroupShowback) -> String {
    let month = s.month.to_string();
    csv_rows(
        &GROUP_HEADER,
        s.rows.iter().map(|r| GroupCsv {
            month: &month,
            group: Cell(&r.group),
            teams: r
                .teams
                .iter()
                .map(|t| t.as_str())
                .collect::<Vec<_>>()
                .join(" "),
            currency: r.currency.as_str(),
            cost_basis: s.cost_basis.as_str(),
            direct_cost: money(r.direct_cost),
            shared_cost: money(r.shared_cost),
            total_cost: money(r.total_cost),
        }),
    )
}

pub(super) fn group_table(s: &GroupShowback, period: Period) -> String {
    let mut rows = vec![
        ["group", "teams", "currency", "direct", "shared", "total"]
            .map(String::from)
            .to_vec(),
    ];
    for r in &s.rows {
        rows.push(vec![
            r.group.clone(),
            r.teams
                .iter()
                .map(|t| t.as_str())
                .collect::<Vec<_>>()
                .join(" "),
            r.currency.to_string(),
            money(r.direct_cost),
            money(r.shared_cost),
            money(r.total_cost),
        ]);
    }
    for (c, t) in &s.totals {
        rows.push(vec![
            "TOTAL".to_string(),
            String::new(),
            c.to_string(),
            String::new(),
            String::new(),
            money(*t),
        ]);
    }
    let title = match period {
        Period::Charge => format!(
            "showback by group {} (cost basis: {})",
            s.month, s.cost_basis
        ),
        Period::Billing => format!(
            "showback by group of the invoice {} (cost basis: {})",
            s.month, s.cost_basis
        ),
    };
    let note = if s.overlapping {
        "\nsome teams are in several groups: the group rows add up to more than the total\n"
    } else {
        ""
    };
    let text = table(&rows, 3);
    format!("{title}\n{text}{note}")
}
