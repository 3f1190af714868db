//! `docs/rules.md` is executable: every TOML block in it is checked, every
//! worked example (a TOML block followed by a table with an `owner` column)
//! is run row by row, and every error example (a TOML block whose first line
//! is `# <dir>/<file>.toml`, then a `text` block) must show exactly what
//! `allot rules check` prints. Also:
//! the shipped `allocation-rules/` are valid and are the demo's rules.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use allot::domain::{ChargeCategory, CostLine, Currency, Tags};
use allot::rules::{self, Assignment, RuleSet, Unassignable};
use chrono::{NaiveDate, TimeZone, Utc};
use rust_decimal::Decimal;

const MIN_EXAMPLES: usize = 5;
const MIN_ROWS: usize = 35;

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
    Table {
        line: usize,
        header: Vec<String>,
        rows: Vec<(usize, Vec<String>)>,
    },
    Prose,
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
            out.push(Block::Table { line, header, rows });
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
    let start = Utc.with_ymd_and_hms(2026, 10, 1, 0, 0, 0).unwrap();
    CostLine {
        charge_period_start: start,
        charge_period_end: start + chrono::Duration::hours(1),
        billing_period_start: NaiveDate::from_ymd_opt(2026, 10, 1).unwrap(),
        billing_period_end: NaiveDate::from_ymd_opt(2026, 11, 1).unwrap(),
        billing_account_id: "123456789012".into(),
        billing_account_name: None,
        sub_account_id: None,
        sub_account_name: None,
        provider: "AWS".into(),
        service_name: None,
        service_category: None,
        region: None,
        resource_id: None,
        charge_category: ChargeCategory::Usage,
        charge_class: None,
        currency: Currency::parse("USD").unwrap(),
        billed_cost: Decimal::ONE,
        effective_cost: Decimal::ONE,
        list_cost: Decimal::ONE,
        contracted_cost: None,
        consumed_quantity: None,
        consumed_unit: None,
        tags: Tags::default(),
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

#[derive(Default)]
struct Report {
    examples: usize,
    rows: usize,
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
            Some(Block::Table {
                line: table_line,
                header,
                rows,
            }) if header.iter().any(|h| h == "owner") => {
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
        if let Block::Table { line, header, .. } = block
            && header.iter().any(|h| h == "owner")
            && !used_tables.contains(line)
        {
            report.failures.push(format!(
                "table at line {line} has an `owner` column but no TOML block right before it"
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
