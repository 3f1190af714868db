//! The data-driven golden runner over `fixtures/golden/pools/*/`: each case's
//! lines, rules and usage are allocated and its showback compared with the
//! hand-computed `expected.csv` (see `fixtures/golden/pools/README.md`);
//! `ALLOT_BLESS=1` rewrites a differing `expected.csv` (`common::golden`).

use std::collections::BTreeSet;
use std::path::Path;

use allot::domain::StoredLine;
use allot::domain::money::format_fixed;
use allot::domain::{ChargeCategory, CostLine, Currency, Month, Tags, sample};
use chrono::{Duration, NaiveTime};
use rust_decimal::Decimal;

fn lines(dir: &Path) -> Vec<StoredLine> {
    let mut reader = csv::Reader::from_path(dir.join("lines.csv")).expect("lines.csv");
    reader
        .records()
        .map(|r| {
            let r = r.expect("a lines.csv row");
            let month = Month::parse(&r[0]).expect("month");
            let start = month.first_day().and_time(NaiveTime::MIN).and_utc();
            let days: i64 = r[1].parse().expect("days");
            let amount: Decimal = r[6].parse().expect("amount");
            let tags = if r[2].is_empty() {
                Tags::default()
            } else {
                sample::tags(&[("team", &r[2])])
            };
            let l = sample::line(start.date_naive(), amount);
            sample::stored(
                CostLine {
                    charge_period_end: start + Duration::days(days),
                    billing_account_id: "golden".into(),
                    service_name: (!r[3].is_empty()).then(|| r[3].to_string()),
                    charge_category: ChargeCategory::parse(&r[4]).expect("charge category"),
                    currency: Currency::parse(&r[5]).expect("currency"),
                    tags,
                    ..l
                },
                1,
            )
        })
        .collect()
}

fn run(dir: &Path) -> String {
    let rules = allot::rules::load_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    let usage = if dir.join("usage.csv").exists() {
        allot::importers::usage::read(&dir.join("usage.csv"), &mut Default::default())
            .expect("usage.csv")
    } else {
        vec![]
    };
    let lines = lines(dir);
    let months: BTreeSet<Month> = lines.iter().map(|l| l.line.month()).collect();
    let mut out = String::from("month,team,currency,direct_cost,shared_cost,total_cost\n");
    for month in months {
        let (_, report) = crate::common::golden::allocate_month(month, &lines, &rules, &usage);
        for r in report.rows {
            out.push_str(&format!(
                "{month},{},{},{},{},{}\n",
                r.owner.name(),
                r.currency,
                format_fixed(r.direct_cost, 2),
                format_fixed(r.shared_cost, 2),
                format_fixed(r.total_cost, 2)
            ));
        }
    }
    out
}

#[test]
fn every_golden_case_comes_out_exactly() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/golden/pools");
    let mut cases: Vec<_> = std::fs::read_dir(&root)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir())
        .collect();
    cases.sort();
    assert!(
        cases.len() >= 7,
        "expected the golden cases under {}",
        root.display()
    );
    let failures: Vec<String> = cases
        .iter()
        .filter_map(|case| {
            crate::common::golden::compare(&case.join("expected.csv"), &run(case)).err()
        })
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
