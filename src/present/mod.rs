//! Presenting reports as JSON (the API's shapes, money as strings), CSV
//! (RFC 4180, header row, plain decimals) and aligned tables for people.

pub mod body;
pub mod report;

pub use report::{AnomalyList, PreviewReport, Report, ShowbackReport, render};

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

/// An RFC 4180 writer (CRLF line ends) into memory.
fn csv_writer() -> csv::Writer<Vec<u8>> {
    csv::WriterBuilder::new()
        .terminator(csv::Terminator::CRLF)
        .from_writer(Vec::new())
}

/// The text a [`csv_writer`] holds (writing to memory cannot fail).
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
    let mut w = csv_writer();
    let by_service = s.group_by == GroupBy::TeamService;
    let mut header = vec!["month", "team"];
    if by_service {
        header.push("service");
    }
    header.extend([
        "currency",
        "cost_basis",
        "direct_cost",
        "shared_cost",
        "total_cost",
    ]);
    // Writing to a Vec cannot fail.
    let _ = w.write_record(&header);
    for r in &s.rows {
        let mut rec = vec![s.month.to_string(), text_cell(r.owner.name()).into_owned()];
        if by_service {
            rec.push(text_cell(r.service.as_deref().unwrap_or_default()).into_owned());
        }
        rec.extend([
            r.currency.to_string(),
            s.cost_basis.to_string(),
            money(r.direct_cost),
            money(r.shared_cost),
            money(r.total_cost),
        ]);
        let _ = w.write_record(&rec);
    }
    csv_text(w)
}

/// Showback as an aligned table with a total line per currency.
pub fn showback_table(s: &Showback, period: Period) -> String {
    let by_service = s.group_by == GroupBy::TeamService;
    let mut header = vec!["team".to_string()];
    if by_service {
        header.push("service".into());
    }
    header.extend(["currency", "direct", "shared", "total"].map(String::from));
    let mut rows = vec![header];
    for r in &s.rows {
        let mut row = vec![r.owner.name().to_string()];
        if by_service {
            row.push(
                r.service
                    .clone()
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
    let mut w = csv_writer();
    let _ = w.write_record(["team", "start", "currency", "service", "cost"]);
    for p in &t.points {
        for (service, cost) in &p.services {
            let _ = w.write_record([
                &text_cell(t.owner.name()),
                p.start.to_string().as_str(),
                p.currency.as_str(),
                &text_cell(service),
                &money(*cost),
            ]);
        }
    }
    csv_text(w)
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
    let mut w = csv_writer();
    let _ = w.write_record([
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
    ]);
    for i in &e.items {
        let (source, rule, pool, method, weight, total, lines) = explanation_cells(i);
        let _ = w.write_record([
            e.month.to_string(),
            text_cell(e.owner.name()).into_owned(),
            i.currency.to_string(),
            text_cell(source).into_owned(),
            text_cell(&rule).into_owned(),
            text_cell(&pool).into_owned(),
            text_cell(&method).into_owned(),
            weight,
            total,
            lines,
            money(i.amount),
        ]);
    }
    csv_text(w)
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
    format!(
        "{} in {} (cost basis: {})\n{}",
        e.owner,
        e.month,
        e.cost_basis,
        table(&rows, 7)
    )
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
    let mut w = csv_writer();
    let _ = w.write_record([
        "month",
        "team",
        "currency",
        "current",
        "candidate",
        "difference",
    ]);
    for r in rows {
        let _ = w.write_record([
            month.to_string(),
            text_cell(r.owner.name()).into_owned(),
            r.currency.to_string(),
            money(r.current),
            money(r.candidate),
            money(r.difference),
        ]);
    }
    csv_text(w)
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
    let mut w = csv_writer();
    let mut header: Vec<&str> = ANOMALY_HEADER.to_vec();
    header.extend(["score", "contributors", "note"]);
    w.write_record(&header).expect("writing to memory");
    for s in list {
        let mut cells: Vec<String> = anomaly_cells(s)
            .into_iter()
            .enumerate()
            // The text cells (team, service, account); the rest are fixed words, dates and amounts.
            .map(|(i, c)| {
                if (3..=5).contains(&i) {
                    text_cell(&c).into_owned()
                } else {
                    c
                }
            })
            .collect();
        cells.push(s.anomaly.score.to_string());
        cells.push(
            s.anomaly
                .contributors
                .iter()
                .map(|c| format!("{}:{}:{}", c.kind, c.name, money(c.impact)))
                .collect::<Vec<_>>()
                .join("; "),
        );
        cells.push(text_cell(&s.ack_note).into_owned());
        w.write_record(&cells).expect("writing to memory");
    }
    csv_text(w)
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
