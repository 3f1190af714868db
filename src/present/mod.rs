//! Presenting reports as JSON (the API's shapes, money as strings), CSV
//! (RFC 4180, header row, plain decimals) and aligned tables for people.

mod audit;
pub mod body;
mod groups;
pub mod report;
mod tokens;
mod unit_costs;

pub use audit::AuditLog;
pub use report::{AnomalyList, GroupShowbackReport, PreviewReport, Report, ShowbackReport, render};
pub use tokens::{token_status, token_table};
pub use unit_costs::MetricList;

use body::Amount;

use crate::domain::Period;
use crate::domain::money::{PRESENTATION_DP, format_fixed};
use crate::engine::explain::{Item, Source};
use crate::engine::{Explanation, Granularity, GroupBy, PreviewRow, Showback, TeamCosts};
use crate::store::AllocationRun;

/// Output formats every reporting command accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Table,
    Csv,
    Json,
}

fn money(d: rust_decimal::Decimal) -> String {
    format_fixed(d, PRESENTATION_DP)
}

/// A text cell made safe for spreadsheets (OWASP's advice on CSV
/// injection): text starting with `=`, `+`, `-`, `@`, a tab or a carriage
/// return would be read as a formula, so it is written after a `'`, which
/// spreadsheets show as text. Amounts are never passed through here: a
/// negative amount stays the number `-3.00`.
fn text_cell(s: &str) -> std::borrow::Cow<'_, str> {
    if s.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        std::borrow::Cow::Owned(format!("'{s}"))
    } else {
        std::borrow::Cow::Borrowed(s)
    }
}

/// Text from the data (team, service, rule names, notes) in a CSV cell,
/// made safe for spreadsheets by [`text_cell`].
struct Cell<'a>(&'a str);

impl serde::Serialize for Cell<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&text_cell(self.0))
    }
}

/// A CSV text: `header`, then each row through `csv::Writer::serialize`
/// (the header is written even without rows, so it is given; a test
/// checks it names each row type's fields).
fn csv_rows<T: serde::Serialize>(header: &[&str], rows: impl IntoIterator<Item = T>) -> String {
    let mut w = csv::WriterBuilder::new()
        .terminator(csv::Terminator::CRLF)
        .has_headers(false)
        .from_writer(Vec::new());
    // Writing to a Vec cannot fail.
    let _ = w.write_record(header);
    for row in rows {
        let _ = w.serialize(row);
    }
    csv_text(w)
}

/// The text a CSV writer holds (writing to memory cannot fail).
fn csv_text(w: csv::Writer<Vec<u8>>) -> String {
    String::from_utf8(w.into_inner().unwrap_or_default()).unwrap_or_default()
}

/// Showback as JSON.
///
/// `stale` says the month's inputs changed after the allocation read them.
pub fn showback_json(run: &AllocationRun, s: &Showback, stale: bool) -> body::Showback {
    body::Showback {
        month: s.month.to_string(),
        period: run.period.as_str(),
        cost_basis: s.cost_basis.as_str(),
        group_by: match s.group_by {
            GroupBy::Team => "team",
            GroupBy::TeamService => "team,service",
            GroupBy::TeamEnvironment => "team,environment",
        },
        allocated_at: timestamp(run.allocated_at),
        stale,
        rows: s
            .rows
            .iter()
            .map(|r| body::ShowbackRow {
                team: r.owner.name().to_string(),
                service: r
                    .service
                    .as_ref()
                    .map(|s| (!s.is_empty()).then(|| s.clone())),
                environment: r.environment.clone(),
                currency: r.currency.into(),
                direct_cost: Amount::of(r.direct_cost),
                shared_cost: Amount::of(r.shared_cost),
                total_cost: Amount::of(r.total_cost),
            })
            .collect(),
        totals: showback_totals(&s.totals),
    }
}

/// Per-currency totals.
fn showback_totals(
    totals: &std::collections::BTreeMap<crate::domain::Currency, rust_decimal::Decimal>,
) -> Vec<body::ShowbackTotal> {
    totals
        .iter()
        .map(|(c, t)| body::ShowbackTotal {
            currency: (*c).into(),
            total_cost: Amount::of(*t),
        })
        .collect()
}

/// A time as the API writes it: RFC 3339, UTC, whole seconds.
pub fn timestamp(t: chrono::DateTime<chrono::Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// Showback as CSV: one header row, then one row per team (and service).
pub fn showback_csv(s: &Showback) -> String {
    let month = s.month.to_string();
    let amounts = |r: &crate::engine::ShowbackRow| {
        (
            money(r.direct_cost),
            money(r.shared_cost),
            money(r.total_cost),
        )
    };
    if s.group_by == GroupBy::TeamEnvironment {
        csv_rows(
            &SHOWBACK_ENVIRONMENT_HEADER,
            s.rows.iter().map(|r| {
                let (direct_cost, shared_cost, total_cost) = amounts(r);
                ShowbackEnvironmentCsv {
                    month: &month,
                    team: Cell(r.owner.name()),
                    environment: Cell(r.environment.as_deref().unwrap_or_default()),
                    currency: r.currency.as_str(),
                    cost_basis: s.cost_basis.as_str(),
                    direct_cost,
                    shared_cost,
                    total_cost,
                }
            }),
        )
    } else if s.group_by == GroupBy::TeamService {
        csv_rows(
            &SHOWBACK_SERVICE_HEADER,
            s.rows.iter().map(|r| {
                let (direct_cost, shared_cost, total_cost) = amounts(r);
                ShowbackServiceCsv {
                    month: &month,
                    team: Cell(r.owner.name()),
                    service: Cell(r.service.as_deref().unwrap_or_default()),
                    currency: r.currency.as_str(),
                    cost_basis: s.cost_basis.as_str(),
                    direct_cost,
                    shared_cost,
                    total_cost,
                }
            }),
        )
    } else {
        csv_rows(
            &SHOWBACK_HEADER,
            s.rows.iter().map(|r| {
                let (direct_cost, shared_cost, total_cost) = amounts(r);
                ShowbackCsv {
                    month: &month,
                    team: Cell(r.owner.name()),
                    currency: r.currency.as_str(),
                    cost_basis: s.cost_basis.as_str(),
                    direct_cost,
                    shared_cost,
                    total_cost,
                }
            }),
        )
    }
}

const SHOWBACK_HEADER: [&str; 7] = [
    "month",
    "team",
    "currency",
    "cost_basis",
    "direct_cost",
    "shared_cost",
    "total_cost",
];

#[derive(serde::Serialize)]
struct ShowbackCsv<'a> {
    month: &'a str,
    team: Cell<'a>,
    currency: &'a str,
    cost_basis: &'a str,
    direct_cost: String,
    shared_cost: String,
    total_cost: String,
}

const SHOWBACK_SERVICE_HEADER: [&str; 8] = [
    "month",
    "team",
    "service",
    "currency",
    "cost_basis",
    "direct_cost",
    "shared_cost",
    "total_cost",
];

#[derive(serde::Serialize)]
struct ShowbackServiceCsv<'a> {
    month: &'a str,
    team: Cell<'a>,
    service: Cell<'a>,
    currency: &'a str,
    cost_basis: &'a str,
    direct_cost: String,
    shared_cost: String,
    total_cost: String,
}

const SHOWBACK_ENVIRONMENT_HEADER: [&str; 8] = [
    "month",
    "team",
    "environment",
    "currency",
    "cost_basis",
    "direct_cost",
    "shared_cost",
    "total_cost",
];

#[derive(serde::Serialize)]
struct ShowbackEnvironmentCsv<'a> {
    month: &'a str,
    team: Cell<'a>,
    environment: Cell<'a>,
    currency: &'a str,
    cost_basis: &'a str,
    direct_cost: String,
    shared_cost: String,
    total_cost: String,
}

/// Showback as an aligned table with a total line per currency.
pub fn showback_table(s: &Showback, period: Period) -> String {
    let detail = match s.group_by {
        GroupBy::Team => None,
        GroupBy::TeamService => Some("service"),
        GroupBy::TeamEnvironment => Some("environment"),
    };
    let by_service = detail.is_some();
    let mut header = vec!["team".to_string()];
    if let Some(name) = detail {
        header.push(name.into());
    }
    header.extend(["currency", "direct", "shared", "total"].map(String::from));
    let mut rows = vec![header];
    for r in &s.rows {
        let mut row = vec![r.owner.name().to_string()];
        if by_service {
            row.push(
                r.service
                    .clone()
                    .or_else(|| r.environment.clone())
                    .filter(|s| !s.is_empty())
                    .unwrap_or_else(|| "-".into()),
            );
        }
        row.extend([
            r.currency.to_string(),
            money(r.direct_cost),
            money(r.shared_cost),
            money(r.total_cost),
        ]);
        rows.push(row);
    }
    for (c, t) in &s.totals {
        let mut row = vec!["TOTAL".to_string()];
        if by_service {
            row.push(String::new());
        }
        row.extend([c.to_string(), String::new(), String::new(), money(*t)]);
        rows.push(row);
    }
    let numeric_from = if by_service { 3 } else { 2 };
    let title = match period {
        Period::Charge => format!("showback {} (cost basis: {})", s.month, s.cost_basis),
        Period::Billing => format!(
            "showback of the invoice {} (the billing period starting in it; cost basis: {})",
            s.month, s.cost_basis
        ),
    };
    format!("{title}\n{}", table(&rows, numeric_from))
}

/// A team's costs as JSON.
pub fn team_costs_json(t: &TeamCosts) -> body::TeamCosts {
    body::TeamCosts {
        team: t.owner.name().to_string(),
        from: t.from.to_string(),
        to: t.to.to_string(),
        granularity: match t.granularity {
            Granularity::Day => "day",
            Granularity::Month => "month",
        },
        cost_basis: t.cost_basis.map(|b| b.as_str()),
        points: t
            .points
            .iter()
            .map(|p| body::CostPoint {
                start: p.start.to_string(),
                currency: p.currency.into(),
                cost: Amount::of(p.cost),
                services: p
                    .services
                    .iter()
                    .map(|(s, c)| body::ServiceCost {
                        service: (!s.is_empty()).then(|| s.clone()),
                        cost: Amount::of(*c),
                    })
                    .collect(),
            })
            .collect(),
        totals: t
            .totals
            .iter()
            .map(|(c, t)| body::CostTotal {
                currency: (*c).into(),
                cost: Amount::of(*t),
            })
            .collect(),
    }
}

/// A team's costs as CSV: one row per period, currency and service.
pub fn team_costs_csv(t: &TeamCosts) -> String {
    csv_rows(
        &TEAM_COSTS_HEADER,
        t.points.iter().flat_map(|p| {
            p.services.iter().map(move |(service, cost)| TeamCostCsv {
                team: Cell(t.owner.name()),
                start: p.start.to_string(),
                currency: p.currency.as_str(),
                service: Cell(service),
                cost: money(*cost),
            })
        }),
    )
}

const TEAM_COSTS_HEADER: [&str; 5] = ["team", "start", "currency", "service", "cost"];

#[derive(serde::Serialize)]
struct TeamCostCsv<'a> {
    team: Cell<'a>,
    start: String,
    currency: &'a str,
    service: Cell<'a>,
    cost: String,
}

/// Left-aligned text columns, right-aligned numbers from `numeric_from` on.
pub fn table(rows: &[Vec<String>], numeric_from: usize) -> String {
    let cols = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..cols)
        .map(|c| {
            rows.iter()
                .filter_map(|r| r.get(c))
                .map(|s| s.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for row in rows {
        let cells: Vec<String> = row
            .iter()
            .enumerate()
            .map(|(c, s)| {
                if c >= numeric_from {
                    format!("{s:>w$}", w = widths[c])
                } else {
                    format!("{s:<w$}", w = widths[c])
                }
            })
            .collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
    }
    out
}

/// An explanation as JSON.
pub fn explanation_json(e: &Explanation) -> body::Explanation {
    body::Explanation {
        month: e.month.to_string(),
        team: e.owner.name().to_string(),
        cost_basis: e.cost_basis.as_str(),
        items: e.items.iter().map(explanation_item).collect(),
        totals: showback_totals(&e.totals),
        environments: e
            .environments
            .iter()
            .map(|r| body::EnvironmentCost {
                environment: r.environment.clone().unwrap_or_default(),
                currency: r.currency.into(),
                direct_cost: Amount::of(r.direct_cost),
                shared_cost: Amount::of(r.shared_cost),
                total_cost: Amount::of(r.total_cost),
            })
            .collect(),
    }
}

fn explanation_item(i: &Item) -> body::ExplanationItem {
    let mut item = body::ExplanationItem {
        source: "direct",
        rule: None,
        lines: None,
        pool: None,
        method: None,
        weight: None,
        total_weight: None,
        fallback: None,
        currency: i.currency.into(),
        amount: Amount::of(i.amount),
        exact_amount: i.exact.normalize().to_string(),
    };
    match &i.source {
        Source::Direct { rule, lines } => {
            item.rule = Some((!rule.is_empty()).then(|| rule.clone()));
            item.lines = Some(*lines);
        }
        Source::Pool {
            pool,
            method,
            weight,
            total_weight,
            fallback,
        } => {
            item.source = "pool";
            item.pool = Some(pool.clone());
            item.method = Some(method.as_str());
            item.weight = Some(weight.normalize().to_string());
            item.total_weight = Some(total_weight.normalize().to_string());
            item.fallback = Some(fallback.map(|f| f.as_str()));
        }
    }
    item
}

/// An explanation as CSV: one row per amount received.
pub fn explanation_csv(e: &Explanation) -> String {
    let month = e.month.to_string();
    let cells: Vec<(&Item, Cells)> = e.items.iter().map(|i| (i, explanation_cells(i))).collect();
    csv_rows(
        &EXPLANATION_HEADER,
        cells.iter().map(
            |(i, (source, rule, pool, method, weight, total_weight, lines))| ExplanationCsv {
                month: &month,
                team: Cell(e.owner.name()),
                currency: i.currency.as_str(),
                source: Cell(source),
                rule: Cell(rule),
                pool: Cell(pool),
                method: Cell(method),
                weight,
                total_weight,
                lines,
                amount: money(i.amount),
            },
        ),
    )
}

const EXPLANATION_HEADER: [&str; 11] = [
    "month",
    "team",
    "currency",
    "source",
    "rule",
    "pool",
    "method",
    "weight",
    "total_weight",
    "lines",
    "amount",
];

#[derive(serde::Serialize)]
struct ExplanationCsv<'a> {
    month: &'a str,
    team: Cell<'a>,
    currency: &'a str,
    source: Cell<'a>,
    rule: Cell<'a>,
    pool: Cell<'a>,
    method: Cell<'a>,
    weight: &'a str,
    total_weight: &'a str,
    lines: &'a str,
    amount: String,
}

/// An explanation as a table with a total per currency.
pub fn explanation_table(e: &Explanation) -> String {
    let mut rows = vec![
        [
            "source",
            "rule",
            "pool",
            "method",
            "weight / total",
            "lines",
            "currency",
            "amount",
        ]
        .map(String::from)
        .to_vec(),
    ];
    for i in &e.items {
        let (source, rule, pool, method, weight, total, lines) = explanation_cells(i);
        let dash = |s: String| if s.is_empty() { "-".to_string() } else { s };
        let ratio = if weight.is_empty() {
            "-".to_string()
        } else {
            format!("{weight} / {total}")
        };
        rows.push(vec![
            source.to_string(),
            dash(rule),
            dash(pool),
            dash(method),
            ratio,
            dash(lines),
            i.currency.to_string(),
            money(i.amount),
        ]);
    }
    for (c, t) in &e.totals {
        let mut row = vec!["TOTAL".to_string()];
        row.extend(std::iter::repeat_n(String::new(), 5));
        row.extend([c.to_string(), money(*t)]);
        rows.push(row);
    }
    let mut out = format!(
        "{} in {} (cost basis: {})\n{}",
        e.owner,
        e.month,
        e.cost_basis,
        table(&rows, 7)
    );
    // The environments, when the rules name any beyond `unspecified`.
    if e.environments
        .iter()
        .any(|r| r.environment.as_deref() != Some(crate::rules::UNSPECIFIED))
    {
        let mut env_rows = vec![
            ["environment", "currency", "direct", "shared", "total"]
                .map(String::from)
                .to_vec(),
        ];
        for r in &e.environments {
            env_rows.push(vec![
                r.environment.clone().unwrap_or_default(),
                r.currency.to_string(),
                money(r.direct_cost),
                money(r.shared_cost),
                money(r.total_cost),
            ]);
        }
        out.push_str("\nby environment (shared cost in proportion to the direct cost in each):\n");
        out.push_str(&table(&env_rows, 2));
    }
    out
}

type Cells = (&'static str, String, String, String, String, String, String);

/// (source, rule, pool, method, weight, total weight, lines) of one item.
fn explanation_cells(i: &Item) -> Cells {
    match &i.source {
        Source::Direct { rule, lines } => (
            "direct",
            rule.clone(),
            String::new(),
            String::new(),
            String::new(),
            String::new(),
            lines.to_string(),
        ),
        Source::Pool {
            pool,
            method,
            weight,
            total_weight,
            fallback,
        } => (
            "pool",
            String::new(),
            pool.clone(),
            match fallback {
                Some(f) => format!("{method} (fallback: {f})"),
                None => method.to_string(),
            },
            weight.normalize().to_string(),
            total_weight.normalize().to_string(),
            String::new(),
        ),
    }
}

/// A preview as JSON.
pub fn preview_json(
    month: crate::domain::Month,
    basis: crate::domain::CostBasis,
    rows: &[PreviewRow],
    notes: &[String],
) -> body::Preview {
    body::Preview {
        month: month.to_string(),
        cost_basis: basis.as_str(),
        rows: rows
            .iter()
            .map(|r| body::PreviewRow {
                team: r.owner.name().to_string(),
                currency: r.currency.into(),
                current: Amount::of(r.current),
                candidate: Amount::of(r.candidate),
                difference: Amount::of(r.difference),
            })
            .collect(),
        notes: notes.to_vec(),
    }
}

/// A preview as CSV.
pub fn preview_csv(month: crate::domain::Month, rows: &[PreviewRow]) -> String {
    let month = month.to_string();
    csv_rows(
        &PREVIEW_HEADER,
        rows.iter().map(|r| PreviewCsv {
            month: &month,
            team: Cell(r.owner.name()),
            currency: r.currency.as_str(),
            current: money(r.current),
            candidate: money(r.candidate),
            difference: money(r.difference),
        }),
    )
}

const PREVIEW_HEADER: [&str; 6] = [
    "month",
    "team",
    "currency",
    "current",
    "candidate",
    "difference",
];

#[derive(serde::Serialize)]
struct PreviewCsv<'a> {
    month: &'a str,
    team: Cell<'a>,
    currency: &'a str,
    current: String,
    candidate: String,
    difference: String,
}

/// A preview as a table; unchanged teams are listed too.
pub fn preview_table(
    month: crate::domain::Month,
    basis: crate::domain::CostBasis,
    rows: &[PreviewRow],
    notes: &[String],
) -> String {
    let mut table_rows = vec![
        ["team", "currency", "current", "candidate", "difference"]
            .map(String::from)
            .to_vec(),
    ];
    for r in rows {
        let diff = if r.difference.is_zero() {
            "0.00".to_string()
        } else if r.difference > rust_decimal::Decimal::ZERO {
            format!("+{}", money(r.difference))
        } else {
            money(r.difference)
        };
        table_rows.push(vec![
            r.owner.name().to_string(),
            r.currency.to_string(),
            money(r.current),
            money(r.candidate),
            diff,
        ]);
    }
    let mut out = format!(
        "preview {month} (cost basis: {basis})\n{}",
        table(&table_rows, 2)
    );
    for n in notes {
        out.push_str(&format!("note: {n}\n"));
    }
    out
}

/// `538.59 EUR + 3254.67 USD`
pub fn amounts_text(
    amounts: &std::collections::BTreeMap<crate::domain::Currency, rust_decimal::Decimal>,
) -> String {
    let parts: Vec<String> = amounts
        .iter()
        .map(|(c, t)| format!("{} {c}", format_fixed(*t, PRESENTATION_DP)))
        .collect();
    parts.join(" + ")
}

/// The notes an allocation leaves: fallbacks taken, values no rule could use.
pub fn allocation_notes(a: &crate::engine::Allocation) -> Vec<String> {
    let mut notes = a.diagnostics.clone();
    notes.extend(allocation_warnings(a));
    notes
}

/// Lines a rule matched but could not give to a team or pool, with why.
pub fn allocation_warnings(a: &crate::engine::Allocation) -> Vec<String> {
    a.unallocatable
        .iter()
        .map(|u| {
            format!(
                "rule `{}`: {} ({} rows, {} left unallocated)",
                u.rule,
                u.reason,
                u.lines,
                amounts_text(&u.amounts)
            )
        })
        .collect()
}

/// An anomaly as the API returns it (and the generic webhook sends it):
/// amounts rounded to cents as strings.
pub fn anomaly_json(s: &crate::store::StoredAnomaly) -> body::Anomaly {
    let a = &s.anomaly;
    body::Anomaly {
        id: s.id,
        scope: a.scope.kind(),
        team: a.scope.owner().map(|o| o.name().to_string()),
        service: a.scope.service().map(str::to_string),
        account: a.scope.account().map(str::to_string),
        currency: a.currency.into(),
        direction: a.direction.as_str(),
        first_day: a.first_day.to_string(),
        last_day: a.last_day.to_string(),
        actual: Amount::of(a.actual),
        expected: Amount::of(a.expected),
        impact: Amount::of(a.impact),
        score: a.score.to_string(),
        cost_basis: s.cost_basis.as_str(),
        days: a
            .days
            .iter()
            .map(|d| body::AnomalyDay {
                day: d.day.to_string(),
                actual: Amount::of(d.actual),
                expected: Amount::of(d.expected),
                impact: Amount::of(d.actual - d.expected),
                score: d.score.to_string(),
            })
            .collect(),
        contributors: a
            .contributors
            .iter()
            .map(|c| body::Contributor {
                kind: c.kind.clone(),
                name: c.name.clone(),
                actual: Amount::of(c.actual),
                expected: Amount::of(c.expected),
                impact: Amount::of(c.impact),
            })
            .collect(),
        explanation: anomaly_sentence(s),
        status: s.status.as_str(),
        detected_at: timestamp(s.detected_at),
        updated_at: timestamp(s.updated_at),
        acknowledged_at: s.acknowledged_at.map(timestamp),
        note: s.ack_note.clone(),
    }
}

/// A list of anomalies, as the API and `--format json` give it.
pub fn anomalies_json(list: &[crate::store::StoredAnomaly]) -> body::Anomalies {
    body::Anomalies {
        anomalies: list.iter().map(anomaly_json).collect(),
    }
}

/// One sentence saying what happened and what moved.
pub fn anomaly_sentence(s: &crate::store::StoredAnomaly) -> String {
    let a = &s.anomaly;
    let days = if a.first_day == a.last_day {
        format!("on {}", a.first_day)
    } else {
        format!(
            "from {} to {} ({} days)",
            a.first_day,
            a.last_day,
            a.days.len()
        )
    };
    let (word, sign) = match a.direction {
        crate::engine::anomaly::Direction::Spike => ("above", "+"),
        crate::engine::anomaly::Direction::Drop => ("below", ""),
    };
    let mut out = format!(
        "{} cost {} {} {days}: {} {sign}{} {word} the expected {} (score {}, {} basis)",
        a.scope.label(),
        money(a.actual),
        a.currency,
        a.currency,
        money(a.impact),
        money(a.expected),
        a.score,
        s.cost_basis.as_str(),
    );
    if !a.contributors.is_empty() {
        let parts: Vec<String> = a
            .contributors
            .iter()
            .map(|c| format!("{} `{}` {sign}{}", c.kind, c.name, money(c.impact)))
            .collect();
        out.push_str("; moved by ");
        out.push_str(&parts.join(", "));
    }
    out
}

const ANOMALY_HEADER: [&str; 13] = [
    "id",
    "status",
    "scope",
    "team",
    "service",
    "account",
    "currency",
    "direction",
    "first_day",
    "last_day",
    "actual",
    "expected",
    "impact",
];

fn anomaly_cells(s: &crate::store::StoredAnomaly) -> Vec<String> {
    let a = &s.anomaly;
    vec![
        s.id.to_string(),
        s.status.as_str().to_string(),
        a.scope.kind().to_string(),
        a.scope
            .owner()
            .map(|o| o.name().to_string())
            .unwrap_or_default(),
        a.scope.service().unwrap_or_default().to_string(),
        a.scope.account().unwrap_or_default().to_string(),
        a.currency.to_string(),
        a.direction.as_str().to_string(),
        a.first_day.to_string(),
        a.last_day.to_string(),
        money(a.actual),
        money(a.expected),
        money(a.impact),
    ]
}

/// Anomalies as CSV: one row each, with its score and top contributors.
pub fn anomalies_csv(list: &[crate::store::StoredAnomaly]) -> String {
    let mut header: Vec<&str> = ANOMALY_HEADER.to_vec();
    header.extend(["score", "contributors", "note"]);
    csv_rows(
        &header,
        list.iter().map(|s| {
            let a = &s.anomaly;
            AnomalyCsv {
                id: s.id,
                status: s.status.as_str(),
                scope: a.scope.kind(),
                team: Cell(a.scope.owner().map(|o| o.name()).unwrap_or_default()),
                service: Cell(a.scope.service().unwrap_or_default()),
                account: Cell(a.scope.account().unwrap_or_default()),
                currency: a.currency.as_str(),
                direction: a.direction.as_str(),
                first_day: a.first_day.to_string(),
                last_day: a.last_day.to_string(),
                actual: money(a.actual),
                expected: money(a.expected),
                impact: money(a.impact),
                score: a.score.to_string(),
                contributors: a
                    .contributors
                    .iter()
                    .map(|c| format!("{}:{}:{}", c.kind, c.name, money(c.impact)))
                    .collect::<Vec<_>>()
                    .join("; "),
                note: Cell(&s.ack_note),
            }
        }),
    )
}

#[derive(serde::Serialize)]
struct AnomalyCsv<'a> {
    id: i64,
    status: &'a str,
    scope: &'a str,
    team: Cell<'a>,
    service: Cell<'a>,
    account: Cell<'a>,
    currency: &'a str,
    direction: &'a str,
    first_day: String,
    last_day: String,
    actual: String,
    expected: String,
    impact: String,
    score: String,
    contributors: String,
    note: Cell<'a>,
}

/// Anomalies for people: a table, then each one's explanation.
pub fn anomalies_table(list: &[crate::store::StoredAnomaly]) -> String {
    if list.is_empty() {
        return "no anomalies\n".to_string();
    }
    let mut rows = vec![ANOMALY_HEADER.iter().map(|h| h.to_string()).collect()];
    rows.extend(list.iter().map(anomaly_cells));
    let mut out = table(&rows, 10);
    out.push('\n');
    for s in list {
        out.push_str(&format!("#{}: {}\n", s.id, anomaly_sentence(s)));
    }
    out
}

#[cfg(test)]
mod csv_header_tests {
    use super::*;

    /// The header `csv::Writer::serialize` derives from `row`'s fields.
    fn derived_header<T: serde::Serialize>(row: T) -> String {
        let mut w = csv::Writer::from_writer(Vec::new());
        w.serialize(row).unwrap();
        let text = String::from_utf8(w.into_inner().unwrap()).unwrap();
        text.lines().next().unwrap().to_string()
    }

    #[test]
    fn each_written_header_names_its_row_types_fields() {
        let money = String::new;
        let cases = [
            (
                SHOWBACK_HEADER.join(","),
                derived_header(ShowbackCsv {
                    month: "",
                    team: Cell(""),
                    currency: "",
                    cost_basis: "",
                    direct_cost: money(),
                    shared_cost: money(),
                    total_cost: money(),
                }),
            ),
            (
                SHOWBACK_SERVICE_HEADER.join(","),
                derived_header(ShowbackServiceCsv {
                    month: "",
                    team: Cell(""),
                    service: Cell(""),
                    currency: "",
                    cost_basis: "",
                    direct_cost: money(),
                    shared_cost: money(),
                    total_cost: money(),
                }),
            ),
            (
                SHOWBACK_ENVIRONMENT_HEADER.join(","),
                derived_header(ShowbackEnvironmentCsv {
                    month: "",
                    team: Cell(""),
                    environment: Cell(""),
                    currency: "",
                    cost_basis: "",
                    direct_cost: money(),
                    shared_cost: money(),
                    total_cost: money(),
                }),
            ),
            (
                unit_costs::UNIT_COSTS_HEADER.join(","),
                derived_header(unit_costs::UnitCostCsv::empty()),
            ),
            (
                unit_costs::EXPLAIN_HEADER.join(","),
                derived_header(unit_costs::ExplainCsv::empty()),
            ),
            (
                unit_costs::SUMMARY_HEADER.join(","),
                derived_header(unit_costs::SummaryCsv::empty()),
            ),
            (
                groups::GROUP_HEADER.join(","),
                derived_header(groups::GroupCsv {
                    month: "",
                    group: Cell(""),
                    teams: money(),
                    currency: "",
                    cost_basis: "",
                    direct_cost: money(),
                    shared_cost: money(),
                    total_cost: money(),
                }),
            ),
            (
                unit_costs::METRICS_HEADER.join(","),
                derived_header(unit_costs::MetricCsv::empty()),
            ),
            (
                TEAM_COSTS_HEADER.join(","),
                derived_header(TeamCostCsv {
                    team: Cell(""),
                    start: money(),
                    currency: "",
                    service: Cell(""),
                    cost: money(),
                }),
            ),
            (
                EXPLANATION_HEADER.join(","),
                derived_header(ExplanationCsv {
                    month: "",
                    team: Cell(""),
                    currency: "",
                    source: Cell(""),
                    rule: Cell(""),
                    pool: Cell(""),
                    method: Cell(""),
                    weight: "",
                    total_weight: "",
                    lines: "",
                    amount: money(),
                }),
            ),
            (
                PREVIEW_HEADER.join(","),
                derived_header(PreviewCsv {
                    month: "",
                    team: Cell(""),
                    currency: "",
                    current: money(),
                    candidate: money(),
                    difference: money(),
                }),
            ),
            (
                [
                    ANOMALY_HEADER.as_slice(),
                    &["score", "contributors", "note"],
                ]
                .concat()
                .join(","),
                derived_header(AnomalyCsv {
                    id: 0,
                    status: "",
                    scope: "",
                    team: Cell(""),
                    service: Cell(""),
                    account: Cell(""),
                    currency: "",
                    direction: "",
                    first_day: money(),
                    last_day: money(),
                    actual: money(),
                    expected: money(),
                    impact: money(),
                    score: money(),
                    contributors: money(),
                    note: Cell(""),
                }),
            ),
        ];
        for (written, derived) in cases {
            assert_eq!(written, derived);
        }
    }

    #[test]
    fn a_text_cell_that_looks_like_a_formula_is_written_as_text() {
        let csv = csv_rows(&["team"], [(Cell("=HYPERLINK(1)"),)]);
        assert_eq!(csv, "team\r\n'=HYPERLINK(1)\r\n");
    }
}
