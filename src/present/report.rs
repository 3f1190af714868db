//! One renderer for every report: a report gives its JSON body, its CSV
//! and its table, and [`render`] picks one for the CLI's `--format`; the
//! API picks JSON or CSV in one place (`http::respond`).

use serde::Serialize;

use super::Format;
use crate::domain::{CostBasis, Month, Period};
use crate::engine::{Explanation, PreviewRow, Showback, TeamCosts};
use crate::store::{AllocationRun, StoredAnomaly};

/// A report in the three formats.
pub trait Report {
    type Body: Serialize;
    /// The JSON body (`present::body`).
    fn json(&self) -> Self::Body;
    /// RFC 4180 CSV with a header row.
    fn csv(&self) -> String;
    /// Aligned text for people.
    fn table(&self) -> String;
    /// The name of the CSV attachment the API sends.
    fn filename(&self) -> String;
}

/// `report` in `format`, as the CLI prints it.
pub fn render<R: Report>(report: &R, format: Format) -> String {
    match format {
        Format::Table => report.table(),
        Format::Csv => report.csv(),
        Format::Json => format!(
            "{}\n",
            serde_json::to_string_pretty(&report.json()).unwrap_or_default()
        ),
    }
}

/// A month's showback, with whether its inputs changed since.
pub struct ShowbackReport<'a> {
    pub run: &'a AllocationRun,
    pub showback: &'a Showback,
    pub stale: bool,
}

impl Report for ShowbackReport<'_> {
    type Body = super::body::Showback;
    fn json(&self) -> Self::Body {
        super::showback_json(self.run, self.showback, self.stale)
    }
    fn csv(&self) -> String {
        super::showback_csv(self.showback)
    }
    fn table(&self) -> String {
        super::showback_table(self.showback, self.run.period)
    }
    fn filename(&self) -> String {
        let month = self.showback.month;
        match self.run.period {
            Period::Charge => format!("showback-{month}.csv"),
            Period::Billing => format!("showback-invoice-{month}.csv"),
        }
    }
}

impl Report for TeamCosts {
    type Body = super::body::TeamCosts;
    fn json(&self) -> Self::Body {
        super::team_costs_json(self)
    }
    fn csv(&self) -> String {
        super::team_costs_csv(self)
    }
    fn table(&self) -> String {
        let rows: Vec<Vec<String>> = std::iter::once(
            ["start", "currency", "service", "cost"]
                .map(String::from)
                .to_vec(),
        )
        .chain(self.points.iter().flat_map(|p| {
            p.services.iter().map(move |(service, cost)| {
                vec![
                    p.start.to_string(),
                    p.currency.to_string(),
                    service.clone(),
                    super::money(*cost),
                ]
            })
        }))
        .collect();
        super::table(&rows, 3)
    }
    fn filename(&self) -> String {
        format!("{}-costs-{}-{}.csv", self.owner.name(), self.from, self.to)
    }
}

impl Report for Explanation {
    type Body = super::body::Explanation;
    fn json(&self) -> Self::Body {
        super::explanation_json(self)
    }
    fn csv(&self) -> String {
        super::explanation_csv(self)
    }
    fn table(&self) -> String {
        super::explanation_table(self)
    }
    fn filename(&self) -> String {
        format!("{}-explain-{}.csv", self.owner.name(), self.month)
    }
}

/// How candidate rules would change a month, and what they report.
pub struct PreviewReport<'a> {
    pub month: Month,
    pub cost_basis: CostBasis,
    pub rows: &'a [PreviewRow],
    pub notes: &'a [String],
}

impl Report for PreviewReport<'_> {
    type Body = super::body::Preview;
    fn json(&self) -> Self::Body {
        super::preview_json(self.month, self.cost_basis, self.rows, self.notes)
    }
    fn csv(&self) -> String {
        super::preview_csv(self.month, self.rows)
    }
    fn table(&self) -> String {
        super::preview_table(self.month, self.cost_basis, self.rows, self.notes)
    }
    fn filename(&self) -> String {
        format!("preview-{}.csv", self.month)
    }
}

/// A list of anomalies.
pub struct AnomalyList<'a>(pub &'a [StoredAnomaly]);

impl Report for AnomalyList<'_> {
    type Body = super::body::Anomalies;
    fn json(&self) -> Self::Body {
        super::anomalies_json(self.0)
    }
    fn csv(&self) -> String {
        super::anomalies_csv(self.0)
    }
    fn table(&self) -> String {
        super::anomalies_table(self.0)
    }
    fn filename(&self) -> String {
        "anomalies.csv".to_string()
    }
}

/// A month's showback by group, with whether its inputs changed since.
pub struct GroupShowbackReport<'a> {
    pub run: &'a AllocationRun,
    pub showback: &'a crate::engine::GroupShowback,
    pub stale: bool,
}

impl Report for GroupShowbackReport<'_> {
    type Body = super::body::GroupShowback;
    fn json(&self) -> Self::Body {
        super::groups::group_json(self.run, self.showback, self.stale)
    }
    fn csv(&self) -> String {
        super::groups::group_csv(self.showback)
    }
    fn table(&self) -> String {
        super::groups::group_table(self.showback, self.run.period)
    }
    fn filename(&self) -> String {
        let month = self.showback.month;
        match self.run.period {
            Period::Charge => format!("showback-groups-{month}.csv"),
            Period::Billing => format!("showback-groups-invoice-{month}.csv"),
        }
    }
}
