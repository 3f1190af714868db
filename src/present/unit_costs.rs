//! Unit costs and the declared metrics in the three formats: a series'
//! JSON body, CSV (one row per month and currency) and table.

use rust_decimal::Decimal;

use super::body;
use super::report::Report;
use super::{Cell, csv_rows, money, table};
use crate::domain::MetricDef;
use crate::engine::unit_cost::{UnitCostRow, shown};
use crate::service::unit_costs::{
    CostItem, CostItemKind, SummaryEntry, UnitCostExplanation, UnitCostSeries, UnitCostSummary,
};

/// A decimal as shown: normalised, no exponent (`"0.125"`, `"1200"`).
fn plain(d: Decimal) -> String {
    d.normalize().to_string()
}

fn pct(d: Option<Decimal>) -> String {
    d.map(|d| format!("{d:.1}")).unwrap_or_default()
}

fn row_json(r: &UnitCostRow) -> body::UnitCostRow {
    body::UnitCostRow {
        month: r.month.to_string(),
        currency: r.currency.map(body::Currency::from),
        cost: r.cost.map(body::Amount::of),
        metric_value: r.metric_value.map(plain),
        unit_cost: r.unit_cost.map(|u| plain(shown(u))),
        mom_change_pct: r.mom_change_pct.map(|d| format!("{d:.1}")),
        yoy_change_pct: r.yoy_change_pct.map(|d| format!("{d:.1}")),
        status: r.status.as_str(),
    }
}

impl Report for UnitCostSeries {
    type Body = body::UnitCosts;

    fn json(&self) -> Self::Body {
        body::UnitCosts {
            metric: self.metric.name.to_string(),
            unit: self.metric.unit.clone(),
            aggregation: self.metric.aggregation.as_str(),
            scope: self.scope.to_string(),
            from: self.from.to_string(),
            to: self.to.to_string(),
            cost_basis: self.cost_basis.map(|b| b.as_str()),
            rows: self.rows.iter().map(row_json).collect(),
        }
    }

    fn csv(&self) -> String {
        let metric = self.metric.name.to_string();
        let scope = self.scope.to_string();
        csv_rows(
            &UNIT_COSTS_HEADER,
            self.rows.iter().map(|r| UnitCostCsv {
                month: r.month.to_string(),
                metric: &metric,
                scope: Cell(&scope),
                currency: r
                    .currency
                    .map(|c| c.as_str().to_string())
                    .unwrap_or_default(),
                cost: r.cost.map(money).unwrap_or_default(),
                metric_value: r.metric_value.map(plain).unwrap_or_default(),
                unit_cost: r.unit_cost.map(|u| plain(shown(u))).unwrap_or_default(),
                mom_change_pct: pct(r.mom_change_pct),
                yoy_change_pct: pct(r.yoy_change_pct),
                status: r.status.as_str(),
            }),
        )
    }

    fn table(&self) -> String {
        let head = format!(
            "cost per {} ({}), {}, {}..{}\n",
            self.metric.unit, self.metric.name, self.scope, self.from, self.to
        );
        let rows: Vec<Vec<String>> = std::iter::once(
            [
                "month",
                "status",
                "currency",
                "cost",
                "value",
                "unit cost",
                "mom %",
                "yoy %",
            ]
            .map(String::from)
            .to_vec(),
        )
        .chain(self.rows.iter().map(|r| {
            vec![
                r.month.to_string(),
                r.status.as_str().to_string(),
                r.currency
                    .map(|c| c.as_str().to_string())
                    .unwrap_or_default(),
                r.cost.map(money).unwrap_or_else(|| "-".into()),
                r.metric_value.map(plain).unwrap_or_else(|| "-".into()),
                r.unit_cost
                    .map(|u| plain(shown(u)))
                    .unwrap_or_else(|| "-".into()),
                pct(r.mom_change_pct),
                pct(r.yoy_change_pct),
            ]
        }))
        .collect();
        head + &table(&rows, 3)
    }

    fn filename(&self) -> String {
        let scope = match &self.scope {
            crate::domain::MetricScope::Organisation => "organisation".to_string(),
            other => other.key().replace(':', "-"),
        };
        format!(
            "unit-costs-{}-{scope}-{}-{}.csv",
            self.metric.name, self.from, self.to
        )
    }
}

pub(super) const UNIT_COSTS_HEADER: [&str; 10] = [
    "month",
    "metric",
    "scope",
    "currency",
    "cost",
    "metric_value",
    "unit_cost",
    "mom_change_pct",
    "yoy_change_pct",
    "status",
];

#[derive(serde::Serialize)]
pub(super) struct UnitCostCsv<'a> {
    month: String,
    metric: &'a str,
    scope: Cell<'a>,
    currency: String,
    cost: String,
    metric_value: String,
    unit_cost: String,
    mom_change_pct: String,
    yoy_change_pct: String,
    status: &'static str,
}

#[cfg(test)]
impl UnitCostCsv<'_> {
    pub(super) fn empty() -> Self {
        UnitCostCsv {
            month: String::new(),
            metric: "",
            scope: Cell(""),
            currency: String::new(),
            cost: String::new(),
            metric_value: String::new(),
            unit_cost: String::new(),
            mom_change_pct: String::new(),
            yoy_change_pct: String::new(),
            status: "",
        }
    }
}

#[cfg(test)]
impl MetricCsv<'_> {
    pub(super) fn empty() -> Self {
        MetricCsv {
            name: "",
            unit: Cell(""),
            aggregation: "",
            description: Cell(""),
        }
    }
}

/// The declared metrics.
pub struct MetricList<'a>(pub Vec<&'a MetricDef>);

impl Report for MetricList<'_> {
    type Body = body::Metrics;

    fn json(&self) -> Self::Body {
        body::Metrics {
            metrics: self
                .0
                .iter()
                .map(|m| body::Metric {
                    name: m.name.to_string(),
                    unit: m.unit.clone(),
                    description: m.description.clone(),
                    aggregation: m.aggregation.as_str(),
                })
                .collect(),
        }
    }

    fn csv(&self) -> String {
        csv_rows(
            &METRICS_HEADER,
            self.0.iter().map(|m| MetricCsv {
                name: m.name.as_str(),
                unit: Cell(&m.unit),
                aggregation: m.aggregation.as_str(),
                description: Cell(&m.description),
            }),
        )
    }

    fn table(&self) -> String {
        if self.0.is_empty() {
            return "no metrics declared: add a `[[metric]]` to allot.toml (see docs/unit-costs.md)\n"
                .to_string();
        }
        let rows: Vec<Vec<String>> = std::iter::once(
            ["metric", "unit", "aggregation", "description"]
                .map(String::from)
                .to_vec(),
        )
        .chain(self.0.iter().map(|m| {
            vec![
                m.name.to_string(),
                m.unit.clone(),
                m.aggregation.as_str().to_string(),
                m.description.clone(),
            ]
        }))
        .collect();
        table(&rows, 4)
    }

    fn filename(&self) -> String {
        "metrics.csv".to_string()
    }
}

pub(super) const METRICS_HEADER: [&str; 4] = ["name", "unit", "aggregation", "description"];

#[derive(serde::Serialize)]
pub(super) struct MetricCsv<'a> {
    name: &'a str,
    unit: Cell<'a>,
    aggregation: &'static str,
    description: Cell<'a>,
}

impl Report for UnitCostSummary {
    type Body = body::UnitCostSummary;

    fn json(&self) -> Self::Body {
        body::UnitCostSummary {
            month: self.month.to_string(),
            entries: self
                .entries
                .iter()
                .map(|e| body::UnitCostSummaryEntry {
                    metric: e.metric.name.to_string(),
                    unit: e.metric.unit.clone(),
                    scope: e.scope.to_string(),
                    current: row_json(&e.current),
                    previous: row_json(&e.previous),
                    movers: e
                        .movers
                        .iter()
                        .map(|m| body::CostMover {
                            kind: e.mover_kind,
                            name: m.name.clone(),
                            previous_cost: body::Amount::of(m.before),
                            cost: body::Amount::of(m.after),
                            change: body::Amount::of(m.change()),
                        })
                        .collect(),
                })
                .collect(),
        }
    }

    fn csv(&self) -> String {
        let month = self.month.to_string();
        let movers: Vec<String> = self.entries.iter().map(movers_text).collect();
        csv_rows(
            &SUMMARY_HEADER,
            self.entries
                .iter()
                .zip(&movers)
                .map(|(e, movers)| SummaryCsv {
                    month: &month,
                    metric: e.metric.name.as_str(),
                    scope: e.scope.to_string(),
                    currency: e
                        .current
                        .currency
                        .map(|c| c.as_str().to_string())
                        .unwrap_or_default(),
                    unit_cost: e
                        .current
                        .unit_cost
                        .map(|u| plain(shown(u)))
                        .unwrap_or_default(),
                    previous_unit_cost: e
                        .previous
                        .unit_cost
                        .map(|u| plain(shown(u)))
                        .unwrap_or_default(),
                    change_pct: pct(e.current.mom_change_pct),
                    status: e.current.status.as_str(),
                    movers: Cell(movers),
                }),
        )
    }

    fn table(&self) -> String {
        if self.entries.is_empty() {
            return format!(
                "no metric points in {} or the month before: import some with `allot import metrics`\n",
                self.month
            );
        }
        let mut rows = vec![
            [
                "metric",
                "scope",
                "status",
                "currency",
                "unit cost",
                "before",
                "change %",
                "moved most",
            ]
            .map(String::from)
            .to_vec(),
        ];
        for e in &self.entries {
            let unit = |r: &UnitCostRow| {
                r.unit_cost
                    .map(|u| plain(shown(u)))
                    .unwrap_or_else(|| "-".into())
            };
            rows.push(vec![
                e.metric.name.to_string(),
                e.scope.to_string(),
                e.current.status.as_str().to_string(),
                e.current
                    .currency
                    .map(|c| c.to_string())
                    .unwrap_or_default(),
                unit(&e.current),
                unit(&e.previous),
                pct(e.current.mom_change_pct),
                movers_text(e),
            ]);
        }
        format!(
            "unit costs {} against the month before\n{}",
            self.month,
            table(&rows, 4)
        )
    }

    fn filename(&self) -> String {
        format!("unit-costs-summary-{}.csv", self.month)
    }
}

/// `name +1.00; other -0.50`, the movers in one cell.
fn movers_text(e: &SummaryEntry) -> String {
    e.movers
        .iter()
        .map(|m| {
            let change = m.change();
            let sign = if change.is_sign_negative() { "" } else { "+" };
            let name = if m.name.is_empty() {
                "(no service)"
            } else {
                &m.name
            };
            format!("{name} {sign}{}", money(change))
        })
        .collect::<Vec<_>>()
        .join("; ")
}

pub(super) const SUMMARY_HEADER: [&str; 9] = [
    "month",
    "metric",
    "scope",
    "currency",
    "unit_cost",
    "previous_unit_cost",
    "change_pct",
    "status",
    "movers",
];

#[derive(serde::Serialize)]
pub(super) struct SummaryCsv<'a> {
    month: &'a str,
    metric: &'a str,
    scope: String,
    currency: String,
    unit_cost: String,
    previous_unit_cost: String,
    change_pct: String,
    status: &'static str,
    movers: Cell<'a>,
}

#[cfg(test)]
impl SummaryCsv<'_> {
    pub(super) fn empty() -> Self {
        SummaryCsv {
            month: "",
            metric: "",
            scope: String::new(),
            currency: String::new(),
            unit_cost: String::new(),
            previous_unit_cost: String::new(),
            change_pct: String::new(),
            status: "",
            movers: Cell(""),
        }
    }
}

impl Report for UnitCostExplanation {
    type Body = body::UnitCostExplanation;

    fn json(&self) -> Self::Body {
        body::UnitCostExplanation {
            metric: self.metric.name.to_string(),
            unit: self.metric.unit.clone(),
            aggregation: self.metric.aggregation.as_str(),
            scope: self.scope.to_string(),
            month: self.month.to_string(),
            costs: self
                .rows
                .iter()
                .map(|r| body::UnitCostBreakdown {
                    row: row_json(r),
                    items: r
                        .currency
                        .and_then(|c| self.items.get(&c))
                        .map(|items| items.iter().map(item_json).collect())
                        .unwrap_or_default(),
                })
                .collect(),
            points: self
                .points
                .iter()
                .map(|p| body::MetricPointValue {
                    date: p.date.to_string(),
                    value: plain(p.value),
                })
                .collect(),
        }
    }

    fn csv(&self) -> String {
        // (currency, team, source, from, amount), owned for the rows to borrow.
        let cells: Vec<(String, String, &'static str, String, String)> = self
            .items
            .iter()
            .flat_map(|(currency, items)| {
                items.iter().map(move |i| {
                    let (source, detail) = item_cells(i);
                    let owner = i.owner.name().to_string();
                    (currency.to_string(), owner, source, detail, money(i.amount))
                })
            })
            .collect();
        let month = self.month.to_string();
        csv_rows(
            &EXPLAIN_HEADER,
            cells
                .iter()
                .map(|(currency, team, source, detail, amount)| ExplainCsv {
                    month: &month,
                    metric: self.metric.name.as_str(),
                    currency,
                    team: Cell(team),
                    source,
                    detail: Cell(detail),
                    amount: amount.clone(),
                }),
        )
    }

    fn table(&self) -> String {
        let mut out = format!(
            "cost per {} ({}), {}, {}\n",
            self.metric.unit, self.metric.name, self.scope, self.month
        );
        for r in &self.rows {
            let currency = r.currency.map(|c| c.to_string()).unwrap_or_default();
            out.push_str(&format!(
                "\n{currency}: {} / {} = {} ({})\n",
                r.cost.map(money).unwrap_or_else(|| "-".into()),
                r.metric_value.map(plain).unwrap_or_else(|| "-".into()),
                r.unit_cost
                    .map(|u| plain(shown(u)))
                    .unwrap_or_else(|| "-".into()),
                r.status.as_str()
            ));
            let Some(items) = r.currency.and_then(|c| self.items.get(&c)) else {
                continue;
            };
            let mut rows = vec![
                ["team", "source", "from", "amount"]
                    .map(String::from)
                    .to_vec(),
            ];
            for i in items {
                let (source, detail) = item_cells(i);
                rows.push(vec![
                    i.owner.name().to_string(),
                    source.to_string(),
                    if detail.is_empty() {
                        "-".into()
                    } else {
                        detail
                    },
                    money(i.amount),
                ]);
            }
            out.push_str(&table(&rows, 3));
        }
        let points: Vec<String> = self
            .points
            .iter()
            .map(|p| format!("{} {}", p.date, plain(p.value)))
            .collect();
        out.push_str(&format!(
            "\n{} ({}) from {}: {}\n",
            self.metric.name,
            self.metric.aggregation.as_str(),
            if points.len() == 1 {
                "1 point"
            } else {
                "points"
            },
            if points.is_empty() {
                "none".to_string()
            } else {
                points.join(", ")
            }
        ));
        out
    }

    fn filename(&self) -> String {
        let scope = match &self.scope {
            crate::domain::MetricScope::Organisation => "organisation".to_string(),
            other => other.key().replace(':', "-"),
        };
        format!(
            "unit-cost-explain-{}-{scope}-{}.csv",
            self.metric.name, self.month
        )
    }
}

fn item_json(i: &CostItem) -> body::UnitCostItem {
    let mut item = body::UnitCostItem {
        team: i.owner.name().to_string(),
        source: "direct",
        rule: None,
        pool: None,
        method: None,
        amount: body::Amount::of(i.amount),
    };
    match &i.kind {
        CostItemKind::Direct { rule } => item.rule = Some((!rule.is_empty()).then(|| rule.clone())),
        CostItemKind::Pool { pool, method } => {
            item.source = "pool";
            item.pool = Some(pool.clone());
            item.method = Some(method.as_str());
        }
        CostItemKind::Attributed => item.source = "attributed",
    }
    item
}

/// An item's source and where it came from (a rule, or a pool and method).
fn item_cells(i: &CostItem) -> (&'static str, String) {
    match &i.kind {
        CostItemKind::Direct { rule } => ("direct", rule.clone()),
        CostItemKind::Pool { pool, method } => ("pool", format!("{pool} ({method})")),
        CostItemKind::Attributed => ("attributed", String::new()),
    }
}

pub(super) const EXPLAIN_HEADER: [&str; 7] = [
    "month", "metric", "currency", "team", "source", "from", "amount",
];

#[derive(serde::Serialize)]
pub(super) struct ExplainCsv<'a> {
    month: &'a str,
    metric: &'a str,
    currency: &'a str,
    team: Cell<'a>,
    source: &'a str,
    #[serde(rename = "from")]
    detail: Cell<'a>,
    amount: String,
}

#[cfg(test)]
impl ExplainCsv<'_> {
    pub(super) fn empty() -> Self {
        ExplainCsv {
            month: "",
            metric: "",
            currency: "",
            team: Cell(""),
            source: "",
            detail: Cell(""),
            amount: String::new(),
        }
    }
}
