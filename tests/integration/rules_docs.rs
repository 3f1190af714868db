//! `docs/rules.md` is executable: every TOML block in it is checked, every
//! worked example (a TOML block followed by a table with an `owner` column)
//! is run row by row, every numeric example (a TOML block followed by a
//! table of cost lines with an `amount` column, optionally a table of usage
//! records, then the expected showback, optionally the expected diagnostics
//! and warnings) is allocated and every documented number compared, and
//! every error example (a TOML block whose first line is
//! `# <dir>/<file>.toml`, then a `text` block) must show exactly what
//! `allot rules check` prints. Also:
//! the shipped `allocation-rules/` are valid and are the demo's rules.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use allot::domain::StoredLine;
use allot::domain::money::format_fixed;
use allot::domain::sample;
use allot::domain::{ChargeCategory, CostLine, Currency, Metric, Month, Tags, TeamId, UsageRecord};
use allot::engine::Allocation;
use allot::rules::{self, Assignment, RuleSet, Unassignable};
use chrono::{NaiveDate, TimeZone, Utc};
use rust_decimal::Decimal;

const MIN_EXAMPLES: usize = 6;
const MIN_ROWS: usize = 41;
/// Numeric examples (pools split and rounded) and the showback rows they assert.
const MIN_NUMERIC_EXAMPLES: usize = 19;
const MIN_NUMERIC_ROWS: usize = 85;
/// The month numeric examples allocate unless their showback has a `month` column.
const DEFAULT_MONTH: &str = "2026-10";

fn manifest_dir() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// A piece of the document, blank lines dropped.
#[derive(Debug)]
enum Block {
    Fence {
        line: usize,
        lang: String,
        text: String,
    },
    Table(Table),
    Prose,
}

/// A Markdown table: its first line, header cells and (line, cells) rows.
#[derive(Debug)]
struct Table {
    line: usize,
    header: Vec<String>,
    rows: Vec<(usize, Vec<String>)>,
}

impl Table {
    fn has(&self, column: &str) -> bool {
        self.header.iter().any(|h| h == column)
    }

    fn is(&self, columns: &[&str]) -> bool {
        self.header
            .iter()
            .map(String::as_str)
            .eq(columns.iter().copied())
    }

    /// A table that belongs to an example and must follow its TOML block.
    fn is_example_part(&self) -> bool {
        [
            "owner",
            "amount",
            "direct",
            "quantity",
            "diagnostic",
            "warning",
        ]
        .iter()
        .any(|c| self.has(c))
    }
}

fn cells(line: &str) -> Vec<String> {
    let inner = line.trim();
    let inner = inner.strip_prefix('|').unwrap_or(inner);
    let inner = inner.strip_suffix('|').unwrap_or(inner);
    inner
        .split('|')
        .map(|c| c.trim().trim_matches('`').to_string())
        .collect()
}

fn is_separator(row: &[String]) -> bool {
    row.iter().all(|c| {
        let c = c.trim_matches(':');
        !c.is_empty() && c.chars().all(|ch| ch == '-')
    })
}

fn blocks(doc: &str) -> Vec<Block> {
    let lines: Vec<&str> = doc.lines().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let l = lines[i];
        if let Some(lang) = l.trim_start().strip_prefix("```") {
            let start = i + 1;
            let mut end = start;
            while end < lines.len() && !lines[end].trim_start().starts_with("```") {
                end += 1;
            }
            assert!(end < lines.len(), "unclosed code block at line {}", i + 1);
            let mut text = lines[start..end].join("\n");
            text.push('\n');
            out.push(Block::Fence {
                line: start + 1,
                lang: lang.trim().to_string(),
                text,
            });
            i = end + 1;
        } else if l.trim_start().starts_with('|') {
            let line = i + 1;
            let header = cells(l);
            let mut rows = Vec::new();
            i += 1;
            while i < lines.len() && lines[i].trim_start().starts_with('|') {
                let row = cells(lines[i]);
                if !is_separator(&row) {
                    rows.push((i + 1, row));
                }
                i += 1;
            }
            out.push(Block::Table(Table { line, header, rows }));
        } else {
            if !l.trim().is_empty() {
                out.push(Block::Prose);
            }
            i += 1;
        }
    }
    out
}

fn default_line() -> CostLine {
    let l = sample::line(sample::day(2026, 10, 1), Decimal::ONE);
    CostLine {
        charge_period_end: l.charge_period_start + chrono::Duration::hours(1),
        billing_account_id: "123456789012".into(),
        ..l
    }
}

/// What a row expects: owner, and the rule and reason if those columns exist.
#[derive(Debug, Default, PartialEq)]
struct Outcome {
    owner: String,
    rule: Option<String>,
    reason: Option<String>,
}

/// The cost line a table row describes and the outcome it documents.
fn parse_row(header: &[String], row: &[String]) -> Result<(CostLine, Outcome), String> {
    if header.len() != row.len() {
        return Err(format!("{} cells for {} columns", row.len(), header.len()));
    }
    let mut line = default_line();
    let mut expected = Outcome::default();
    let mut has_owner = false;
    for (column, cell) in header.iter().zip(row) {
        let value = (!cell.is_empty()).then(|| cell.clone());
        match column.as_str() {
            "billing_account" => {
                if let Some(v) = value {
                    line.billing_account_id = v;
                }
            }
            "billing_account_name" => line.billing_account_name = value,
            "sub_account" => line.sub_account_id = value,
            "sub_account_name" => line.sub_account_name = value,
            "provider" => {
                if let Some(v) = value {
                    line.provider = v;
                }
            }
            "service" => line.service_name = value,
            "date" => {
                if let Some(v) = value {
                    let day = NaiveDate::parse_from_str(&v, "%Y-%m-%d")
                        .map_err(|_| format!("`{v}` is not a date `YYYY-MM-DD`"))?;
                    line.charge_period_start = Utc.from_utc_datetime(&day.into());
                    line.charge_period_end = line.charge_period_start + chrono::Duration::hours(1);
                }
            }
            "service_category" => line.service_category = value,
            "region" => line.region = value,
            "resource_id" => line.resource_id = value,
            "charge_category" => {
                if let Some(v) = value {
                    line.charge_category = ChargeCategory::parse(&v)
                        .ok_or_else(|| format!("`{v}` is not a charge category"))?;
                }
            }
            "tags" => {
                let mut tags = std::collections::BTreeMap::new();
                for pair in cell.split(',').filter(|p| !p.trim().is_empty()) {
                    let (k, v) = pair
                        .split_once('=')
                        .ok_or_else(|| format!("tag `{pair}` is not `key=value`"))?;
                    tags.insert(k.to_string(), v.to_string());
                }
                line.tags = Tags(tags);
            }
            "owner" => {
                has_owner = true;
                expected.owner = cell.clone();
            }
            "rule" => expected.rule = Some(cell.clone()),
            "reason" => expected.reason = Some(cell.clone()),
            other => return Err(format!("unknown column `{other}`")),
        }
    }
    if !has_owner || expected.owner.is_empty() {
        return Err("no owner".into());
    }
    Ok((line, expected))
}

/// The outcome a rule set gives a line, in the tables' terms.
fn outcome(set: &RuleSet, line: &CostLine) -> Outcome {
    match set.assign(line) {
        Assignment::Team { team, rule } => Outcome {
            owner: team.to_string(),
            rule: Some(set.rules[rule].name.clone()),
            reason: Some(String::new()),
        },
        Assignment::Pool { pool, rule } => Outcome {
            owner: format!("pool:{}", set.pools[pool].name),
            rule: Some(set.rules[rule].name.clone()),
            reason: Some(String::new()),
        },
        Assignment::Unallocated { rule, reason } => Outcome {
            owner: "unallocated".into(),
            rule: Some(
                rule.map(|r| set.rules[r].name.clone())
                    .unwrap_or_else(|| "-".into()),
            ),
            reason: Some(
                match reason {
                    None => "",
                    Some(Unassignable::UnknownTeam { .. }) => "unknown team",
                    Some(Unassignable::InvalidTeam { .. }) => "invalid team name",
                    Some(Unassignable::PoolInactive { .. }) => "pool not in effect",
                }
                .into(),
            ),
        },
    }
}

/// What `allot rules check` prints for a single invalid file.
fn check_output(path: &Path, text: &str) -> Result<String, String> {
    match rules::check(&[(path.to_path_buf(), text.to_string())]) {
        Ok(set) => Err(format!(
            "expected errors, got {} valid rules",
            set.rules.len()
        )),
        Err(e) => Ok(format!(
            "{e}\nerror: {} error(s) in `{}`\n",
            e.0.len(),
            path.parent().unwrap_or(Path::new("")).display()
        )),
    }
}

/// The tables of a numeric example, in the order they must follow its TOML
/// block: cost lines, usage records (optional), the expected showback,
/// diagnostics (optional) and warnings (optional).
struct NumericExample<'a> {
    lines: &'a Table,
    usage: Option<&'a Table>,
    showback: &'a Table,
    diagnostics: Option<&'a Table>,
    warnings: Option<&'a Table>,
}

impl NumericExample<'_> {
    fn tables(&self) -> Vec<&Table> {
        let mut out = vec![self.lines, self.showback];
        out.extend(self.usage);
        out.extend(self.diagnostics);
        out.extend(self.warnings);
        out
    }
}

const USAGE_COLUMNS: [&str; 4] = ["date", "team", "metric", "quantity"];
const SHOWBACK_COLUMNS: [&str; 6] = ["month", "team", "currency", "direct", "shared", "total"];

fn numeric_example(blocks: &[Block], first: usize) -> Result<NumericExample<'_>, String> {
    let table = |k: usize| match blocks.get(k) {
        Some(Block::Table(t)) => Some(t),
        _ => None,
    };
    let lines = table(first)
        .filter(|t| t.has("amount"))
        .ok_or("no table of cost lines")?;
    let mut k = first + 1;
    let usage = table(k).filter(|t| t.has("quantity"));
    if let Some(u) = usage {
        if !u.is(&USAGE_COLUMNS) {
            return Err(format!(
                "the usage table at line {} must have the columns {}",
                u.line,
                USAGE_COLUMNS.join(" | ")
            ));
        }
        k += 1;
    }
    let showback = table(k).filter(|t| t.has("direct")).ok_or_else(|| {
        format!(
            "the cost lines at line {} are not followed by a showback table (team | direct | shared | total)",
            lines.line
        )
    })?;
    for column in &showback.header {
        if !SHOWBACK_COLUMNS.contains(&column.as_str()) {
            return Err(format!(
                "showback table at line {}: unknown column `{column}`",
                showback.line
            ));
        }
    }
    for column in ["team", "direct", "shared", "total"] {
        if !showback.has(column) {
            return Err(format!(
                "showback table at line {} has no `{column}` column",
                showback.line
            ));
        }
    }
    k += 1;
    let diagnostics = table(k).filter(|t| t.has("diagnostic"));
    if diagnostics.is_some() {
        k += 1;
    }
    let warnings = table(k).filter(|t| t.has("warning"));
    for t in diagnostics.iter().chain(&warnings) {
        let column = if t.has("diagnostic") {
            "diagnostic"
        } else {
            "warning"
        };
        if !(t.is(&[column]) || t.is(&["month", column])) {
            return Err(format!(
                "table at line {} must have the columns `{column}` or `month | {column}`",
                t.line
            ));
        }
    }
    Ok(NumericExample {
        lines,
        usage,
        showback,
        diagnostics,
        warnings,
    })
}

/// A cost line of a numeric example: `team tag` (the value of the line's
/// `team` tag; empty: no tag), `service`, `amount`, and optionally
/// `currency` (default USD), `charge_category` (default Usage), `date`
/// (default the first day of the default month) and `days` (how many days
/// the charge covers from `date`, default 1).
fn amount_row(header: &[String], row: &[String]) -> Result<StoredLine, String> {
    if header.len() != row.len() {
        return Err(format!("{} cells for {} columns", row.len(), header.len()));
    }
    let mut line = default_line();
    let mut day = Month::parse(DEFAULT_MONTH).unwrap().first_day();
    let mut amount = None;
    let mut days = 1;
    for (column, cell) in header.iter().zip(row) {
        let value = (!cell.is_empty()).then(|| cell.clone());
        match column.as_str() {
            "team tag" => {
                if let Some(v) = value {
                    line.tags = Tags([("team".to_string(), v)].into_iter().collect());
                }
            }
            "service" => line.service_name = value,
            "amount" => {
                amount = Some(
                    cell.parse::<Decimal>()
                        .map_err(|_| format!("amount `{cell}` is not a decimal number"))?,
                )
            }
            "currency" => {
                line.currency = Currency::parse(cell).map_err(|e| e.to_string())?;
            }
            "charge_category" => {
                line.charge_category = ChargeCategory::parse(cell)
                    .ok_or_else(|| format!("`{cell}` is not a charge category"))?;
            }
            "date" => {
                day = NaiveDate::parse_from_str(cell, "%Y-%m-%d")
                    .map_err(|_| format!("`{cell}` is not a date `YYYY-MM-DD`"))?;
            }
            "days" => {
                days = cell
                    .parse::<i64>()
                    .ok()
                    .filter(|d| *d >= 1)
                    .ok_or_else(|| format!("days `{cell}` is not a whole number from 1"))?;
            }
            other => return Err(format!("unknown column `{other}`")),
        }
    }
    let amount = amount.ok_or("no amount")?;
    line.charge_period_start = Utc.from_utc_datetime(&day.into());
    line.charge_period_end = line.charge_period_start + chrono::Duration::days(days);
    line.billing_period_start = Month::of(day).first_day();
    line.billing_period_end = Month::of(day).end_exclusive();
    line.billed_cost = amount;
    line.effective_cost = amount;
    line.list_cost = amount;
    Ok(StoredLine {
        line,
        source_rows: 1,
    })
}

/// A usage record: `date` (a day, or a month meaning its first day, as
/// `allot import usage` reads them), `team`, `metric`, `quantity`.
fn usage_row(row: &[String]) -> Result<UsageRecord, String> {
    let [date, team, metric, quantity] = row else {
        return Err(format!("{} cells for 4 columns", row.len()));
    };
    let date = NaiveDate::parse_from_str(date, "%Y-%m-%d")
        .ok()
        .or_else(|| Month::parse(date).ok().map(|m| m.first_day()))
        .ok_or_else(|| format!("`{date}` is not a day or a month"))?;
    let quantity: Decimal = quantity
        .parse()
        .ok()
        .filter(|q: &Decimal| *q >= Decimal::ZERO)
        .ok_or_else(|| format!("quantity `{quantity}` is not a non-negative number"))?;
    Ok(UsageRecord {
        date,
        team: TeamId::parse(team).map_err(|e| e.to_string())?,
        metric: Metric::parse(metric).map_err(|e| e.to_string())?,
        quantity,
    })
}

fn money(d: Decimal) -> String {
    format_fixed(d, 2)
}

/// `41.20 USD + 3.00 EUR`, as `allot allocate` prints amounts.
fn amounts_text(amounts: &BTreeMap<Currency, Decimal>) -> String {
    let parts: Vec<String> = amounts
        .iter()
        .map(|(c, a)| format!("{} {c}", money(*a)))
        .collect();
    parts.join(" + ")
}

/// What the numeric examples exercise, so that none can silently go away.
#[derive(Default)]
struct Coverage {
    methods: BTreeSet<String>,
    fallbacks: BTreeSet<String>,
    pool_feeds_pool: bool,
    negative_pool: bool,
    pool_not_in_effect: bool,
    several_months: bool,
    several_currencies: bool,
}

/// The cells of a documented diagnostic or warning table, as (month, text).
fn notes(table: Option<&Table>, column: &str) -> Vec<(usize, String, String)> {
    let Some(t) = table else { return vec![] };
    let text_at = t.header.iter().position(|h| h == column).unwrap_or(0);
    let month_at = t.header.iter().position(|h| h == "month");
    t.rows
        .iter()
        .map(|(line, row)| {
            let month = month_at
                .and_then(|m| row.get(m).cloned())
                .unwrap_or_else(|| DEFAULT_MONTH.to_string());
            (*line, month, row.get(text_at).cloned().unwrap_or_default())
        })
        .collect()
}

/// Compares documented rows with what the engine gives, row by row.
fn compare(
    what: &str,
    at: usize,
    documented: &[(usize, Vec<String>)],
    engine: &[Vec<String>],
    report: &mut Report,
) {
    report.numeric_rows += documented.len();
    for (k, (line, doc)) in documented.iter().enumerate() {
        match engine.get(k) {
            Some(got) if got == doc => {}
            Some(got) => report.failures.push(format!(
                "line {line}: documented {what} {doc:?}, but allot gives {got:?}"
            )),
            None => report.failures.push(format!(
                "line {line}: documented {what} {doc:?}, but allot gives no such row"
            )),
        }
    }
    for got in engine.iter().skip(documented.len()) {
        report.failures.push(format!(
            "{what} table at line {at}: allot also gives {got:?}, which is not documented"
        ));
    }
}

/// Allocates a numeric example's lines for each month its showback shows,
/// and compares every documented number, diagnostic and warning.
fn run_numeric(set: &RuleSet, ex: &NumericExample, report: &mut Report) {
    let mut lines = Vec::new();
    for (row_line, row) in &ex.lines.rows {
        match amount_row(&ex.lines.header, row) {
            Ok(l) => lines.push(l),
            Err(e) => report
                .failures
                .push(format!("line {row_line}: cannot read the cost line: {e}")),
        }
    }
    let mut usage = Vec::new();
    for (row_line, row) in ex.usage.iter().flat_map(|u| &u.rows) {
        match usage_row(row) {
            Ok(u) => usage.push(u),
            Err(e) => report.failures.push(format!(
                "line {row_line}: cannot read the usage record: {e}"
            )),
        }
    }
    let header = &ex.showback.header;
    let month_at = header.iter().position(|h| h == "month");
    let mut months: Vec<String> = Vec::new();
    for (row_line, row) in &ex.showback.rows {
        if row.len() != header.len() {
            report.failures.push(format!(
                "line {row_line}: {} cells for {} columns",
                row.len(),
                header.len()
            ));
            return;
        }
        let month = month_at
            .map(|m| row[m].clone())
            .unwrap_or_else(|| DEFAULT_MONTH.to_string());
        if !months.contains(&month) {
            months.push(month);
        }
    }
    report.coverage.several_months |= months.len() > 1;
    let mut engine_rows = Vec::new();
    let mut diagnostics = Vec::new();
    let mut warnings = Vec::new();
    for text in &months {
        let Ok(month) = Month::parse(text) else {
            report.failures.push(format!(
                "showback table at line {}: `{text}` is not a month",
                ex.showback.line
            ));
            return;
        };
        let (a, s): (Allocation, _) =
            crate::common::golden::allocate_month(month, &lines, set, &usage);
        // Every team plus `unallocated` adds up to the month's bill, to the cent.
        for (currency, exact) in &a.totals {
            let rounded = s.totals.get(currency).copied().unwrap_or_default();
            if money(rounded) != money(*exact) {
                report.failures.push(format!(
                    "showback table at line {}: {month} {currency} rows add up to {}, the lines to {}",
                    ex.showback.line,
                    money(rounded),
                    money(*exact)
                ));
            }
        }
        report.coverage.several_currencies |= a.totals.len() > 1;
        for share in &a.shares {
            report.coverage.methods.insert(share.method.to_string());
            if let Some(fallback) = share.fallback {
                report.coverage.fallbacks.insert(fallback.to_string());
            }
            report.coverage.pool_feeds_pool |= share.target_is_pool;
            report.coverage.negative_pool |= share.amount < Decimal::ZERO;
        }
        for row in &s.rows {
            if !header.iter().any(|h| h == "currency") && row.currency.as_str() != "USD" {
                report.failures.push(format!(
                    "showback table at line {}: allot gives {} rows; add a `currency` column",
                    ex.showback.line, row.currency
                ));
            }
            engine_rows.push(
                header
                    .iter()
                    .map(|column| match column.as_str() {
                        "month" => month.to_string(),
                        "team" => row.owner.name().to_string(),
                        "currency" => row.currency.to_string(),
                        "direct" => money(row.direct_cost),
                        "shared" => money(row.shared_cost),
                        _ => money(row.total_cost),
                    })
                    .collect::<Vec<_>>(),
            );
        }
        for d in &a.diagnostics {
            diagnostics.push((month.to_string(), d.clone()));
        }
        for u in &a.unallocatable {
            report.coverage.pool_not_in_effect |=
                matches!(u.reason, Unassignable::PoolInactive { .. });
            warnings.push((
                month.to_string(),
                format!(
                    "rule `{}`: {} ({} rows, {} left unallocated)",
                    u.rule,
                    u.reason,
                    u.lines,
                    amounts_text(&u.amounts)
                ),
            ));
        }
    }
    compare(
        "showback row",
        ex.showback.line,
        &ex.showback.rows,
        &engine_rows,
        report,
    );
    // Table cells lose backticks at their ends; so do the engine's texts.
    for (column, table, got) in [
        ("diagnostic", ex.diagnostics, diagnostics),
        ("warning", ex.warnings, warnings),
    ] {
        let documented: Vec<(usize, Vec<String>)> = notes(table, column)
            .into_iter()
            .map(|(line, month, text)| (line, vec![month, text]))
            .collect();
        let got: Vec<Vec<String>> = got
            .into_iter()
            .map(|(month, text)| vec![month, text.trim_matches('`').to_string()])
            .collect();
        compare(
            column,
            table.map(|t| t.line).unwrap_or(ex.showback.line),
            &documented,
            &got,
            report,
        );
    }
}

#[derive(Default)]
struct Report {
    examples: usize,
    rows: usize,
    numeric_examples: usize,
    /// Documented showback rows, diagnostics and warnings compared.
    numeric_rows: usize,
    coverage: Coverage,
    error_examples: usize,
    snippets: usize,
    failures: Vec<String>,
}

fn run_doc(doc: &str) -> Report {
    let blocks = blocks(doc);
    let mut report = Report::default();
    let mut used_tables = BTreeSet::new();
    for (i, block) in blocks.iter().enumerate() {
        let Block::Fence {
            line,
            lang,
            text: toml,
        } = block
        else {
            continue;
        };
        if lang != "toml" {
            continue;
        }
        let source = PathBuf::from(format!("docs/rules.md@{line}"));
        // An error example names its file in a first-line comment,
        // `# <dir>/<file>.toml`; the next code block is the check's output.
        if let Some(path) = toml
            .lines()
            .next()
            .and_then(|l| l.strip_prefix("# "))
            .filter(|p| p.ends_with(".toml"))
            .map(PathBuf::from)
        {
            report.error_examples += 1;
            let output = blocks[i + 1..].iter().find_map(|b| match b {
                Block::Fence { line, lang, text } => Some((line, lang, text)),
                _ => None,
            });
            let Some((out_line, "text", shown)) = output.map(|(l, lang, t)| (l, lang.as_str(), t))
            else {
                report.failures.push(format!(
                    "error example at line {line} is not followed by a ```text block"
                ));
                continue;
            };
            let shown: String = shown
                .lines()
                .filter(|l| !l.starts_with("$ "))
                .map(|l| format!("{l}\n"))
                .collect();
            match check_output(&path, toml) {
                Err(e) => report
                    .failures
                    .push(format!("error example at line {line}: {e}")),
                Ok(printed) if printed != shown => report.failures.push(format!(
                    "output at line {out_line} differs from what `allot rules check` prints:\n{printed}"
                )),
                Ok(_) => {}
            }
            continue;
        }
        match blocks.get(i + 1) {
            Some(Block::Table(table)) if table.has("amount") => {
                report.numeric_examples += 1;
                let example = match numeric_example(&blocks, i + 1) {
                    Ok(example) => example,
                    Err(e) => {
                        // One failure for the example, not one per table.
                        for b in &blocks[i + 1..] {
                            let Block::Table(t) = b else { break };
                            used_tables.insert(t.line);
                        }
                        report
                            .failures
                            .push(format!("numeric example at line {line}: {e}"));
                        continue;
                    }
                };
                for t in example.tables() {
                    used_tables.insert(t.line);
                }
                match rules::check(&[(source, toml.clone())]) {
                    Ok(set) => run_numeric(&set, &example, &mut report),
                    Err(e) => report
                        .failures
                        .push(format!("numeric example at line {line} is invalid:\n{e}")),
                }
            }
            Some(Block::Table(Table {
                line: table_line,
                header,
                rows,
            })) if header.iter().any(|h| h == "owner") => {
                used_tables.insert(*table_line);
                report.examples += 1;
                let set = match rules::check(&[(source, toml.clone())]) {
                    Ok(set) => set,
                    Err(e) => {
                        report
                            .failures
                            .push(format!("example at line {line} is invalid:\n{e}"));
                        continue;
                    }
                };
                for (row_line, row) in rows {
                    report.rows += 1;
                    match parse_row(header, row) {
                        Err(e) => report
                            .failures
                            .push(format!("line {row_line}: cannot read the row: {e}")),
                        Ok((cost_line, expected)) => {
                            let mut got = outcome(&set, &cost_line);
                            if expected.rule.is_none() {
                                got.rule = None;
                            }
                            if expected.reason.is_none() {
                                got.reason = None;
                            }
                            if got != expected {
                                report.failures.push(format!(
                                    "line {row_line}: documented {expected:?}, but the rules give {got:?}"
                                ));
                            }
                        }
                    }
                }
            }
            _ => {
                report.snippets += 1;
                if let Err(e) = rules::check(&[(source, toml.clone())]) {
                    report
                        .failures
                        .push(format!("TOML block at line {line} is invalid:\n{e}"));
                }
            }
        }
    }
    for block in &blocks {
        if let Block::Table(table) = block
            && table.is_example_part()
            && !used_tables.contains(&table.line)
        {
            report.failures.push(format!(
                "table at line {} ({}) belongs to no example: it must follow a TOML block, or the tables of a numeric example, directly",
                table.line,
                table.header.join(" | ")
            ));
        }
    }
    report
}

#[test]
fn documented_examples_hold() {
    let path = manifest_dir().join("docs/rules.md");
    let doc = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let report = run_doc(&doc);
    assert!(
        report.failures.is_empty(),
        "docs/rules.md is wrong:\n{}",
        report.failures.join("\n")
    );
    assert!(
        report.examples >= MIN_EXAMPLES,
        "found {} worked examples, expected at least {MIN_EXAMPLES}",
        report.examples
    );
    assert!(
        report.rows >= MIN_ROWS,
        "found {} example rows, expected at least {MIN_ROWS}",
        report.rows
    );
    assert!(
        report.error_examples >= 1,
        "no `rules check` output example"
    );
    assert!(
        report.snippets >= 5,
        "found {} TOML snippets",
        report.snippets
    );
    assert!(
        report.numeric_examples >= MIN_NUMERIC_EXAMPLES,
        "found {} numeric examples, expected at least {MIN_NUMERIC_EXAMPLES}",
        report.numeric_examples
    );
    assert!(
        report.numeric_rows >= MIN_NUMERIC_ROWS,
        "found {} documented showback rows, diagnostics and warnings, expected at least {MIN_NUMERIC_ROWS}",
        report.numeric_rows
    );
    let c = &report.coverage;
    assert_eq!(
        c.methods,
        BTreeSet::from(["even", "fixed", "proportional", "usage"].map(String::from)),
        "a numeric example for each split method"
    );
    assert_eq!(
        c.fallbacks,
        BTreeSet::from(["even", "team", "unallocated"].map(String::from)),
        "a numeric example for each fallback"
    );
    assert!(
        c.pool_feeds_pool,
        "no numeric example of a pool feeding a pool"
    );
    assert!(c.negative_pool, "no numeric example of a negative pool");
    assert!(
        c.pool_not_in_effect,
        "no numeric example of a pool not in effect"
    );
    assert!(c.several_months, "no numeric example over several months");
    assert!(
        c.several_currencies,
        "no numeric example with two currencies"
    );
}

/// The harness itself must catch a wrong owner, rule or reason, a broken
/// rule block, a stray table and a wrong error listing.
#[test]
fn a_wrong_example_fails() {
    let rules = "```toml\n[[rule]]\nname = \"ec2\"\nteam = \"compute\"\nmatch.service = \"Amazon EC2\"\n```\n";
    let ok = format!(
        "{rules}\n| service | tags | owner | rule |\n|---|---|---|---|\n| amazon ec2 | a=b | compute | ec2 |\n| Amazon S3 | | unallocated | - |\n"
    );
    let r = run_doc(&ok);
    assert_eq!((r.examples, r.rows), (1, 2));
    assert!(r.failures.is_empty(), "{:?}", r.failures);
    for wrong in [
        "| Amazon EC2 | | storage | ec2 |",
        "| Amazon EC2 | | compute | other |",
        "| Amazon S3 | | compute | ec2 |",
        "| Amazon EC2 | | compute |",
        "| Amazon EC2 | nope | compute | ec2 |",
    ] {
        let doc =
            format!("{rules}\n| service | tags | owner | rule |\n|---|---|---|---|\n{wrong}\n");
        assert_eq!(run_doc(&doc).failures.len(), 1, "{wrong}");
    }
    let doc = "```toml\n[[rule]]\nname = \"t\"\nteam_from_tag = \"team\"\n```\n\n| tags | owner | reason |\n|---|---|---|\n| team=Web Team | unallocated | unknown team |\n";
    assert_eq!(run_doc(doc).failures.len(), 1);
    let doc = "```toml\n[[rule]]\nname = \"x\"\n```\n\n| service | owner |\n|---|---|\n| a | b |\n";
    assert_eq!(run_doc(doc).failures.len(), 1);
    let doc = "Some prose.\n\n| service | owner |\n|---|---|\n| a | b |\n";
    assert_eq!(run_doc(doc).failures.len(), 1);
    let doc = "```toml\n# rules/a.toml\n[[rule]]\nname = \"x\"\n```\n\n```text\n$ allot rules check rules\nrules/a.toml:3:8: wrong\n```\n";
    let r = run_doc(doc);
    assert_eq!((r.error_examples, r.failures.len()), (1, 1));
    let doc = "```toml\n[[rule]]\nname = \"x\"\n```\n";
    assert_eq!(run_doc(doc).failures.len(), 1);
}

/// A numeric example in the documented convention, with `showback` as its
/// expected rows and `extra` appended (further tables).
fn numeric_doc(showback: &str, extra: &str) -> String {
    format!(
        "```toml\n[[pool]]\nname = \"shared\"\nmethod = \"usage\"\nmetric = \"requests\"\ntargets = [\"a\", \"b\", \"c\"]\n\n[usage]\nmetrics = [\"requests\"]\n\n[[rule]]\nname = \"shared\"\npool = \"shared\"\nmatch.service = \"Shared\"\n\n[[rule]]\nname = \"team-tag\"\nteam_from_tag = \"team\"\n```\n\n\
| team tag | service | amount |\n|---|---|---|\n| a | EC2 | 10.00 |\n| | Shared | 1.00 |\n\n\
| date | team | metric | quantity |\n|---|---|---|---|\n| 2026-10-02 | a | requests | 1 |\n| 2026-10 | b | requests | 2 |\n\n\
| team | direct | shared | total |\n|---|---|---|---|\n{showback}\n{extra}"
    )
}

/// The numeric harness must catch any wrong, missing or extra number,
/// diagnostic or warning, and tables out of place.
#[test]
fn a_wrong_number_fails() {
    let right = "| a | 10.00 | 0.33 | 10.33 |\n| b | 0.00 | 0.67 | 0.67 |\n| unallocated | 0.00 | 0.00 | 0.00 |\n";
    let r = run_doc(&numeric_doc(right, ""));
    assert!(r.failures.is_empty(), "{:?}", r.failures);
    assert_eq!((r.numeric_examples, r.numeric_rows), (1, 3));
    assert!(r.coverage.methods.contains("usage"));
    for wrong in [
        "| a | 10.00 | 0.34 | 10.34 |\n| b | 0.00 | 0.66 | 0.66 |\n| unallocated | 0.00 | 0.00 | 0.00 |\n",
        "| a | 10.00 | 0.33 | 10.33 |\n| b | 0.00 | 0.67 | 0.67 |\n",
        "| a | 10.00 | 0.33 | 10.33 |\n| b | 0.00 | 0.67 | 0.67 |\n| c | 0.00 | 0.00 | 0.00 |\n| unallocated | 0.00 | 0.00 | 0.00 |\n",
        "| b | 0.00 | 0.67 | 0.67 |\n| a | 10.00 | 0.33 | 10.33 |\n| unallocated | 0.00 | 0.00 | 0.00 |\n",
        "| a | 10.00 | 0.33 | 10.33 |\n| b | 0.00 | 0.67 | 0.67 |\n| unallocated | 0.00 | 0.00 | 0.0 |\n",
    ] {
        assert!(
            !run_doc(&numeric_doc(wrong, "")).failures.is_empty(),
            "{wrong}"
        );
    }
    // An undocumented diagnostic, and a documented one that does not happen.
    let no_usage = numeric_doc(right, "").replace(
        "| 2026-10 | b | requests | 2 |\n",
        "| 2026-09 | b | requests | 2 |\n",
    );
    assert!(!run_doc(&no_usage).failures.is_empty());
    let diagnostic = "\n| diagnostic |\n|---|\n| pool `shared`: every usage weight is zero in USD; split evenly among its targets |\n";
    assert!(!run_doc(&numeric_doc(right, diagnostic)).failures.is_empty());
    let warning =
        "\n| warning |\n|---|\n| rule `shared`: nothing (1 rows, 1.00 USD left unallocated) |\n";
    assert!(!run_doc(&numeric_doc(right, warning)).failures.is_empty());
    // A showback table without cost lines before it, and cost lines without a showback.
    let stray = "Prose.\n\n| team | direct | shared | total |\n|---|---|---|---|\n| a | 1.00 | 0.00 | 1.00 |\n";
    assert_eq!(run_doc(stray).failures.len(), 1);
    let cut = numeric_doc(right, "");
    let cut = &cut[..cut.find("| team | direct").unwrap()];
    assert_eq!(run_doc(cut).failures.len(), 1);
    // A cost line that cannot be read.
    let bad = numeric_doc(right, "").replace("| 10.00 |\n", "| ten |\n");
    assert!(!run_doc(&bad).failures.is_empty());
}

#[test]
fn shipped_rules_are_valid() {
    // Integration tests run in the package root, as `allot rules check` is.
    let set = rules::load_dir(Path::new(rules::DEFAULT_RULES_DIR))
        .unwrap_or_else(|e| panic!("allocation-rules is invalid:\n{e}"));
    assert!(!set.rules.is_empty());
}

#[test]
fn demo_rules_are_the_shipped_files() {
    let dir = manifest_dir().join("allocation-rules");
    let mut on_disk: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .map(|p| {
            format!(
                "allocation-rules/{}",
                p.file_name().unwrap().to_str().unwrap()
            )
        })
        .collect();
    on_disk.sort();
    let demo: Vec<String> = allot::demo::RULES
        .iter()
        .map(|(p, _)| p.to_string())
        .collect();
    assert_eq!(
        demo, on_disk,
        "allot::demo::RULES must list every allocation-rules/*.toml file, in file-name order"
    );
    for (p, text) in allot::demo::RULES {
        assert_eq!(
            *text,
            std::fs::read_to_string(manifest_dir().join(p)).unwrap(),
            "{p}"
        );
    }
}
