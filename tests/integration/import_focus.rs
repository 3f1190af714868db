//! FOCUS importer against both backends: one test per quirk of real
//! exports, the errors a broken file gets, atomicity and idempotence.

use crate::common;

use std::io::Write;

use allot::domain::StoredLine;
use allot::domain::{ChargeCategory, CostBasis, Month};
use allot::importers::{ImportError, Progress, focus};
use rust_decimal::Decimal;

const HEADER: &str = "BilledCost,EffectiveCost,ListCost,ContractedCost,BillingAccountId,BillingAccountName,BillingCurrency,BillingPeriodStart,BillingPeriodEnd,ChargePeriodStart,ChargePeriodEnd,ChargeCategory,ChargeFrequency,ProviderName,ServiceName,SubAccountId,ResourceId,ConsumedQuantity,ConsumedUnit,Tags";

fn row(cost: &str, start: &str, end: &str, category: &str, tags: &str) -> String {
    format!(
        "{cost},{cost},{cost},NULL,acct-1,Acme,USD,2024-09-01 00:00:00,2024-10-01 00:00:00,{start},{end},{category},Usage-Based,AWS,Amazon EC2,sub-1,i-1,1,Hours,{tags}"
    )
}

fn csv(rows: &[String]) -> Vec<u8> {
    let mut s = String::from(HEADER);
    for r in rows {
        s.push('\n');
        s.push_str(r);
    }
    s.push('\n');
    s.into_bytes()
}

fn d(s: &str) -> Decimal {
    s.parse().unwrap()
}

async fn month_lines(db: &common::TestDb, month: &str) -> Vec<StoredLine> {
    db.store
        .lines_for_month(Month::parse(month).unwrap())
        .await
        .unwrap()
}

fn total(lines: &[StoredLine], basis: CostBasis) -> Decimal {
    lines.iter().map(|l| l.line.cost(basis).amount).sum()
}

backend_tests! {
    async fn timestamps_with_and_without_t_and_z(db) {
        let (_d, path) = common::write_temp("t.csv", &csv(&[
            row("1", "2024-09-01 00:00:00", "2024-09-01 01:00:00", "Usage", "NULL"),
            row("2", "2024-09-02T00:00:00Z", "2024-09-02T01:00:00Z", "Usage", "NULL"),
            row("4", "2024-09-03T00:00:00.000+00:00", "2024-09-03T01:00:00.000+00:00", "Usage", "NULL"),
        ]));
        focus::import(&db.store, &[path], Progress::Hidden).await.unwrap();
        let lines = month_lines(&db, "2024-09").await;
        assert_eq!(lines.len(), 3);
        assert_eq!(total(&lines, CostBasis::Effective), d("7"));
    }

    async fn null_literals_and_empty_cells_are_absent_values(db) {
        let mut r = row("1.5", "2024-09-01 00:00:00", "2024-09-01 01:00:00", "Usage", "NULL");
        r = r.replace(",Amazon EC2,sub-1,i-1,1,Hours,", ",NULL,,NULL,NULL,null,");
        let (_d, path) = common::write_temp("n.csv", &csv(&[r]));
        focus::import(&db.store, &[path], Progress::Hidden).await.unwrap();
        let line = &month_lines(&db, "2024-09").await[0].line;
        assert_eq!(line.service_name, None);
        assert_eq!(line.sub_account_id, None);
        assert_eq!(line.resource_id, None);
        assert_eq!(line.consumed_quantity, None);
        assert_eq!(line.consumed_unit, None);
        assert_eq!(line.contracted_cost, None);
        assert!(line.tags.is_empty());
    }

    async fn charge_category_and_frequency_in_any_case(db) {
        let r = row("1", "2024-09-01 00:00:00", "2024-09-01 01:00:00", "usage", "NULL").replace("Usage-Based", "usage-based");
        let (_d, path) = common::write_temp("c.csv", &csv(&[r]));
        focus::import(&db.store, &[path], Progress::Hidden).await.unwrap();
        assert_eq!(month_lines(&db, "2024-09").await[0].line.charge_category, ChargeCategory::Usage);
    }

    async fn credit_keeps_billed_and_effective_cost_apart(db) {
        let r = "-2.6137,-3.0,-3.0,NULL,acct-1,Acme,USD,2024-09-01 00:00:00,2024-10-01 00:00:00,2024-09-05 00:00:00,2024-09-06 00:00:00,Credit,One-Time,AWS,Amazon EC2,sub-1,NULL,NULL,NULL,NULL";
        let (_d, path) = common::write_temp("credit.csv", &csv(&[r.to_string()]));
        focus::import(&db.store, &[path], Progress::Hidden).await.unwrap();
        let lines = month_lines(&db, "2024-09").await;
        assert_eq!(lines[0].line.charge_category, ChargeCategory::Credit);
        assert_eq!(total(&lines, CostBasis::Billed), d("-2.6137"));
        assert_eq!(total(&lines, CostBasis::Effective), d("-3.0"));
    }

    async fn negative_usage_rows_are_kept(db) {
        let (_d, path) = common::write_temp("neg.csv", &csv(&[
            row("5", "2024-09-01 00:00:00", "2024-09-02 00:00:00", "Usage", "NULL"),
            row("-1.25", "2024-09-01 00:00:00", "2024-09-02 00:00:00", "Usage", "NULL").replace(",1,Hours,", ",-3,Hours,"),
        ]));
        focus::import(&db.store, &[path], Progress::Hidden).await.unwrap();
        let lines = month_lines(&db, "2024-09").await;
        assert_eq!(total(&lines, CostBasis::Effective), d("3.75"));
        assert_eq!(lines.iter().map(|l| l.source_rows).sum::<u64>(), 2);
    }

    async fn tag_keys_with_leading_spaces_and_odd_case_are_kept_and_matched(db) {
        let (_d, path) = common::write_temp("tags.csv", &csv(&[
            row("1", "2024-09-01 00:00:00", "2024-09-01 01:00:00", "Usage", r#""{"" Team"": "" Payments "", ""n"": 3}""#),
        ]));
        focus::import(&db.store, &[path], Progress::Hidden).await.unwrap();
        let lines = month_lines(&db, "2024-09").await;
        assert_eq!(lines[0].line.tags.0.get(" Team").map(String::as_str), Some(" Payments "));
        let rules = common::shipped_rules();
        let a = allot::engine::allocate(Month::parse("2024-09").unwrap(), &lines, &rules, CostBasis::Effective, &[]).unwrap();
        assert_eq!(a.rows[0].owner.name(), "payments");
    }

    async fn rows_of_a_neighbouring_billing_period_are_kept_and_not_replaced_by_the_next_export(db) {
        // September's export carries one row billed in October.
        let mut rows: Vec<String> = (1..=150).map(|h| row("1", &format!("2024-09-0{} 00:00:00", 1 + h % 9), &format!("2024-09-0{} 01:00:00", 1 + h % 9), "Usage", "NULL").replace(",i-1,", &format!(",i-{h},"))).collect();
        rows.push(row("7", "2024-09-30 00:00:00", "2024-09-30 01:00:00", "Adjustment", "NULL").replace("2024-09-01 00:00:00,2024-10-01 00:00:00,2024-09-30", "2024-10-01 00:00:00,2024-11-01 00:00:00,2024-09-30"));
        let (_d, september) = common::write_temp("sep.csv", &csv(&rows));
        // October's export.
        let oct = row("100", "2024-10-02 00:00:00", "2024-10-02 01:00:00", "Usage", "NULL").replace("2024-09-01 00:00:00,2024-10-01 00:00:00", "2024-10-01 00:00:00,2024-11-01 00:00:00");
        let (_e, october) = common::write_temp("oct.csv", &csv(&[oct]));
        focus::import(&db.store, std::slice::from_ref(&october), Progress::Hidden).await.unwrap();
        focus::import(&db.store, std::slice::from_ref(&september), Progress::Hidden).await.unwrap();
        assert_eq!(total(&month_lines(&db, "2024-09").await, CostBasis::Effective), d("157"));
        assert_eq!(total(&month_lines(&db, "2024-10").await, CostBasis::Effective), d("100"));
        // Re-importing either export replaces only its own rows.
        focus::import(&db.store, &[october], Progress::Hidden).await.unwrap();
        focus::import(&db.store, &[september], Progress::Hidden).await.unwrap();
        assert_eq!(total(&month_lines(&db, "2024-09").await, CostBasis::Effective), d("157"));
        assert_eq!(total(&month_lines(&db, "2024-10").await, CostBasis::Effective), d("100"));
    }

    async fn gzip_bom_crlf_and_scientific_notation(db) {
        let text = format!("\u{feff}{}\r\n{}\r\n", HEADER, row("1.5E-2", "2024-09-01T00:00:00Z", "2024-09-01T01:00:00Z", "Usage", "NULL"));
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(text.as_bytes()).unwrap();
        let (_d, path) = common::write_temp("export.csv.gz", &gz.finish().unwrap());
        let summary = focus::import(&db.store, &[path], Progress::Hidden).await.unwrap();
        assert_eq!(summary.rows_read, 1);
        assert_eq!(total(&month_lines(&db, "2024-09").await, CostBasis::Effective), d("0.015"));
    }

    async fn focus_1_3_service_provider_name_is_read(db) {
        let text = String::from_utf8(csv(&[row("1", "2024-09-01T00:00:00Z", "2024-09-01T01:00:00Z", "Usage", "NULL")])).unwrap()
            .replacen("ProviderName", "ServiceProviderName", 1);
        let (_d, path) = common::write_temp("v13.csv", text.as_bytes());
        focus::import(&db.store, &[path], Progress::Hidden).await.unwrap();
        assert_eq!(month_lines(&db, "2024-09").await[0].line.provider, "AWS");
    }

    async fn hourly_rows_roll_up_to_daily_lines_without_changing_totals(db) {
        let rows: Vec<String> = (0..48).map(|h| {
            let (day, hour) = (1 + h / 24, h % 24);
            row("0.0000001", &format!("2024-09-0{day} {hour:02}:00:00"), &format!("2024-09-0{day} {hour:02}:59:59"), "Usage", "NULL")
        }).collect();
        let (_d, path) = common::write_temp("hourly.csv", &csv(&rows));
        let s = focus::import(&db.store, &[path], Progress::Hidden).await.unwrap();
        assert_eq!((s.rows_read, s.lines_stored), (48, 2));
        let lines = month_lines(&db, "2024-09").await;
        assert_eq!(total(&lines, CostBasis::Effective), d("0.0000048"));
        assert_eq!(lines.iter().map(|l| l.line.consumed_quantity.unwrap()).sum::<Decimal>(), d("48"));
    }

    async fn non_numeric_cost_fails_the_file_with_its_position_and_stores_nothing(db) {
        let (_d, path) = common::write_temp("bad.csv", &csv(&[
            row("1", "2024-09-01 00:00:00", "2024-09-01 01:00:00", "Usage", "NULL"),
            row("1", "2024-09-01 00:00:00", "2024-09-01 01:00:00", "Usage", "NULL").replacen("1,1,1,", "abc,1,1,", 1),
        ]));
        let err = focus::import(&db.store, std::slice::from_ref(&path), Progress::Hidden).await.unwrap_err();
        assert_eq!(err.to_string(), format!("{}:3: column BilledCost: expected a decimal number, found `abc`", path.display()));
        assert!(month_lines(&db, "2024-09").await.is_empty());
    }

    async fn unparseable_date_fails_with_its_column(db) {
        let (_d, path) = common::write_temp("date.csv", &csv(&[
            row("1", "2024-09-31 00:00:00", "2024-10-01 01:00:00", "Usage", "NULL"),
        ]));
        let err = focus::import(&db.store, std::slice::from_ref(&path), Progress::Hidden).await.unwrap_err();
        let msg = err.to_string();
        assert!(msg.starts_with(&format!("{}:2: column ChargePeriodStart: expected a timestamp", path.display())), "{msg}");
        assert!(msg.ends_with("found `2024-09-31 00:00:00`"), "{msg}");
    }

    async fn missing_required_column_names_it(db) {
        let text = String::from_utf8(csv(&[row("1", "2024-09-01T00:00:00Z", "2024-09-01T01:00:00Z", "Usage", "NULL")])).unwrap()
            .replacen("EffectiveCost", "EffCost", 1);
        let (_d, path) = common::write_temp("cols.csv", text.as_bytes());
        let err = focus::import(&db.store, std::slice::from_ref(&path), Progress::Hidden).await.unwrap_err();
        assert!(matches!(err, ImportError::MissingColumn { ref column, .. } if column == "EffectiveCost"), "{err}");
    }

    async fn text_that_is_not_utf8_is_named_by_column(db) {
        let mut bytes = csv(&[row("1", "2024-09-01 00:00:00", "2024-09-01 01:00:00", "Usage", "NULL")]);
        let at = bytes.windows(6).position(|w| w == b"Amazon").unwrap();
        bytes[at + 1] = 0xe9; // Latin-1 `é`
        let (_d, path) = common::write_temp("latin1.csv", &bytes);
        let err = focus::import(&db.store, std::slice::from_ref(&path), Progress::Hidden).await.unwrap_err();
        assert_eq!(err.to_string(), format!("{}:2: column ServiceName: expected UTF-8 text (re-export the file as UTF-8), found `bytes that are not UTF-8`", path.display()));
    }

    async fn short_row_and_empty_required_value_are_errors(db) {
        let (_d, short) = common::write_temp("short.csv", format!("{HEADER}\n1,1,1\n").as_bytes());
        let err = focus::import(&db.store, std::slice::from_ref(&short), Progress::Hidden).await.unwrap_err();
        assert_eq!(err.to_string(), format!("{}:2: expected 20 fields as in the header row, found 3; every row needs one value per column", short.display()));
        let (_e, empty) = common::write_temp("empty.csv", &csv(&[row("1", "2024-09-01T00:00:00Z", "2024-09-01T01:00:00Z", "Usage", "NULL").replace("acct-1", "NULL")]));
        let err = focus::import(&db.store, std::slice::from_ref(&empty), Progress::Hidden).await.unwrap_err();
        assert_eq!(err.to_string(), format!("{}:2: column BillingAccountId: expected a value, found `NULL`", empty.display()));
    }

    async fn snake_case_headers_and_compact_zone_offsets_are_read(db) {
        let text = String::from_utf8(csv(&[row("2", "2024-09-01 00:00:00+0000", "2024-09-01 01:00:00+00", "Usage", "NULL")])).unwrap();
        let (header, body) = text.split_once('\n').unwrap();
        let snake: Vec<String> = header.split(',').map(|h| {
            let mut out = String::new();
            for (i, c) in h.chars().enumerate() {
                if c.is_ascii_uppercase() && i > 0 { out.push('_'); }
                out.push(c.to_ascii_lowercase());
            }
            out
        }).collect();
        let (_d, path) = common::write_temp("snake.csv", format!("{}\n{body}", snake.join(",")).as_bytes());
        focus::import(&db.store, &[path], Progress::Hidden).await.unwrap();
        assert_eq!(total(&month_lines(&db, "2024-09").await, CostBasis::Effective), d("2"));
    }

    async fn empty_files_duplicates_nul_bytes_and_inexact_amounts_are_refused(db) {
        let (_d, empty) = common::write_temp("empty.csv", b"\xef\xbb\xbf");
        let err = focus::import(&db.store, std::slice::from_ref(&empty), Progress::Hidden).await.unwrap_err();
        assert_eq!(err.to_string(), format!("{}: no header row; is the file empty?", empty.display()));

        let (_e, ok) = common::write_temp("ok.csv", &csv(&[row("1", "2024-09-01 00:00:00", "2024-09-01 01:00:00", "Usage", "NULL")]));
        let err = focus::import(&db.store, &[ok.clone(), ok.clone()], Progress::Hidden).await.unwrap_err();
        assert!(matches!(err, ImportError::DuplicateFile(_)), "{err}");

        let (_f, nul) = common::write_temp("nul.csv", &csv(&[row("1", "2024-09-01 00:00:00", "2024-09-01 01:00:00", "Usage", "NULL").replace("Amazon EC2", "Amazon\0EC2")]));
        let err = focus::import(&db.store, std::slice::from_ref(&nul), Progress::Hidden).await.unwrap_err();
        assert_eq!(err.to_string(), format!("{}:2: column ServiceName: expected text without NUL bytes, found `Amazon\\0EC2`", nul.display()));

        let (_g, precise) = common::write_temp("precise.csv", &csv(&[row("0.1234567890123456789012345678901", "2024-09-01 00:00:00", "2024-09-01 01:00:00", "Usage", "NULL")]));
        let err = focus::import(&db.store, std::slice::from_ref(&precise), Progress::Hidden).await.unwrap_err();
        assert!(err.to_string().contains("column BilledCost: expected a decimal number"), "{err}");
        assert!(month_lines(&db, "2024-09").await.is_empty());
    }

    async fn importing_the_same_file_twice_changes_nothing(db) {
        let path = common::demo_fixture();
        focus::import(&db.store, std::slice::from_ref(&path), Progress::Hidden).await.unwrap();
        let first = month_lines(&db, "2026-10").await;
        focus::import(&db.store, &[path], Progress::Hidden).await.unwrap();
        let mut second = month_lines(&db, "2026-10").await;
        let mut first = first;
        let key = |l: &StoredLine| format!("{:?}", l);
        first.sort_by_key(key);
        second.sort_by_key(key);
        assert_eq!(first, second);
    }

    async fn a_newer_export_replaces_the_older_one_and_a_failed_one_changes_nothing(db) {
        let (_d, old) = common::write_temp("v1.csv", &csv(&[row("10", "2024-09-01 00:00:00", "2024-09-01 01:00:00", "Usage", "NULL")]));
        let (_e, new) = common::write_temp("v2.csv", &csv(&[row("12", "2024-09-01 00:00:00", "2024-09-01 01:00:00", "Usage", "NULL"), row("3", "2024-09-02 00:00:00", "2024-09-02 01:00:00", "Usage", "NULL")]));
        let (_f, broken) = common::write_temp("v3.csv", &csv(&[row("1", "2024-09-01 00:00:00", "2024-09-01 01:00:00", "Usage", "NULL"), row("x", "2024-09-01 00:00:00", "2024-09-01 01:00:00", "Usage", "NULL")]));
        focus::import(&db.store, &[old], Progress::Hidden).await.unwrap();
        assert_eq!(total(&month_lines(&db, "2024-09").await, CostBasis::Effective), d("10"));
        focus::import(&db.store, &[new], Progress::Hidden).await.unwrap();
        assert_eq!(total(&month_lines(&db, "2024-09").await, CostBasis::Effective), d("15"));
        assert!(focus::import(&db.store, &[broken], Progress::Hidden).await.is_err());
        assert_eq!(total(&month_lines(&db, "2024-09").await, CostBasis::Effective), d("15"));
    }

    async fn a_small_export_carrying_rows_of_the_next_period_never_wipes_that_period(db) {
        // Regression: 6 September rows and 1 October row used to claim October.
        let oct_rows: Vec<String> = (0..100).map(|i| row("1", "2024-10-02 00:00:00", "2024-10-02 01:00:00", "Usage", "NULL")
            .replace(",i-1,", &format!(",i-{i},"))
            .replace("2024-09-01 00:00:00,2024-10-01 00:00:00", "2024-10-01 00:00:00,2024-11-01 00:00:00")).collect();
        let (_d, october) = common::write_temp("oct.csv", &csv(&oct_rows));
        let mut sep_rows: Vec<String> = (0..6).map(|i| row("2", "2024-09-03 00:00:00", "2024-09-03 01:00:00", "Usage", "NULL").replace(",i-1,", &format!(",s-{i},"))).collect();
        sep_rows.push(row("5", "2024-09-30 00:00:00", "2024-09-30 01:00:00", "Adjustment", "NULL").replace("2024-09-01 00:00:00,2024-10-01 00:00:00", "2024-10-01 00:00:00,2024-11-01 00:00:00"));
        let (_e, september) = common::write_temp("sep.csv", &csv(&sep_rows));
        focus::import(&db.store, &[october], Progress::Hidden).await.unwrap();
        focus::import(&db.store, &[september], Progress::Hidden).await.unwrap();
        assert_eq!(total(&month_lines(&db, "2024-10").await, CostBasis::Effective), d("100"));
        assert_eq!(total(&month_lines(&db, "2024-09").await, CostBasis::Effective), d("17"));
    }

    async fn concurrent_imports_of_one_export_do_not_add_up(db) {
        let rows: Vec<String> = (0..2000).map(|i| row("1", "2024-09-02 00:00:00", "2024-09-02 01:00:00", "Usage", "NULL").replace(",i-1,", &format!(",i-{i},"))).collect();
        let (_d, path) = common::write_temp("export.csv", &csv(&rows));
        let (a, b) = tokio::join!(
            focus::import(&db.store, std::slice::from_ref(&path), Progress::Hidden),
            focus::import(&db.store, std::slice::from_ref(&path), Progress::Hidden),
        );
        a.unwrap();
        b.unwrap();
        assert_eq!(total(&month_lines(&db, "2024-09").await, CostBasis::Effective), d("2000"));
    }

    async fn a_month_whose_data_is_gone_loses_its_allocation(db) {
        // An export for September carrying late August charges ...
        let late = row("4", "2024-08-30 00:00:00", "2024-08-30 01:00:00", "Usage", "NULL");
        let main: Vec<String> = (0..3).map(|i| row("1", "2024-09-02 00:00:00", "2024-09-02 01:00:00", "Usage", "NULL").replace(",i-1,", &format!(",i-{i},"))).collect();
        let (_d, first) = common::write_temp("v1.csv", &csv(&[main.clone(), vec![late]].concat()));
        focus::import(&db.store, &[first], Progress::Hidden).await.unwrap();
        let rules = common::shipped_rules();
        let august = Month::parse("2024-08").unwrap();
        allot::service::allocate_month(&db.store, &rules, august, CostBasis::Effective).await.unwrap();
        // ... restated without them.
        let (_e, restated) = common::write_temp("v2.csv", &csv(&main));
        let s = focus::import(&db.store, &[restated], Progress::Hidden).await.unwrap();
        assert_eq!(s.changed_months, vec![august, Month::parse("2024-09").unwrap()]);
        let (run, _) = allot::service::showback(&db.store, &allot::service::Caller::Operator, august, allot::engine::GroupBy::Team, allot::domain::Period::Charge).await.unwrap();
        assert!(allot::service::is_stale(&db.store, &run).await.unwrap());
        assert!(allot::service::allocate_month(&db.store, &rules, august, CostBasis::Effective).await.is_err());
        assert!(matches!(
            allot::service::showback(&db.store, &allot::service::Caller::Operator, august, allot::engine::GroupBy::Team, allot::domain::Period::Charge).await,
            Err(allot::service::ServiceError::NotAllocated(_))
        ));
    }

    async fn the_invoice_view_adds_up_to_billed_cost_per_billing_period(db) {
        use allot::domain::Period::{Billing, Charge};
        use allot::engine::GroupBy::{Team, TeamService};
        use allot::service::{ServiceError, allocate_month, is_stale, showback};
        // (billed, effective, billing period start, end, charge start, end, resource)
        let line = |billed: &str, effective: &str, bp: (&str, &str), day: &str, resource: &str| {
            format!(
                "{billed},{effective},{billed},NULL,acct-1,Acme,USD,{} 00:00:00,{} 00:00:00,{day} 00:00:00,{day} 01:00:00,Usage,Usage-Based,AWS,Amazon EC2,sub-1,{resource},1,Hours,{{\"team\":\"data\"}}",
                bp.0, bp.1
            )
        };
        let (aug, sep, oct) = (("2024-08-01", "2024-09-01"), ("2024-09-01", "2024-10-01"), ("2024-10-01", "2024-11-01"));
        // The August invoice; the September one, carrying a late August
        // charge and a charge billed on the October invoice.
        let (_a, august_export) = common::write_temp("aug.csv", &csv(&[line("5.00", "4.00", aug, "2024-08-10", "i-c")]));
        let september = |late: &str| csv(&[
            line("10.00", "8.00", sep, "2024-09-02", "i-a"),
            line(late, "2.50", sep, "2024-08-30", "i-b"),
            line("0.24", "0.20", oct, "2024-09-29", "i-d"),
        ]);
        let (_b, september_export) = common::write_temp("sep.csv", &september("3.00"));
        focus::import(&db.store, &[august_export], Progress::Hidden).await.unwrap();
        let s = focus::import(&db.store, &[september_export], Progress::Hidden).await.unwrap();
        let [m8, m9, m10] = ["2024-08", "2024-09", "2024-10"].map(|m| Month::parse(m).unwrap());
        assert_eq!(s.changed_months, vec![m8, m9, m10], "the invoice months change with the charge months");
        assert_eq!(db.store.stale_months().await.unwrap(), vec![m8, m9, m10]);
        let rules = common::shipped_rules();
        for m in [m8, m9, m10] {
            allocate_month(&db.store, &rules, m, CostBasis::Effective).await.unwrap();
        }
        assert!(db.store.stale_months().await.unwrap().is_empty());
        let totals = |r: &allot::engine::Showback| r.totals.values().copied().collect::<Vec<_>>();
        let expect = [
            (m8, Charge, "6.50"), (m8, Billing, "5.00"),
            (m9, Charge, "8.20"), (m9, Billing, "13.00"),
            (m10, Billing, "0.24"),
        ];
        for (m, period, total) in expect {
            for by in [Team, TeamService] {
                let (run, report) = showback(&db.store, &allot::service::Caller::Operator, m, by, period).await.unwrap();
                assert_eq!(totals(&report), vec![d(total)], "{m} {period} by {by:?}");
                assert_eq!(run.period, period);
                let basis = if period == Billing { CostBasis::Billed } else { CostBasis::Effective };
                assert_eq!(report.cost_basis, basis);
            }
        }
        assert!(matches!(showback(&db.store, &allot::service::Caller::Operator, m10, Team, Charge).await, Err(ServiceError::NothingCharged(_))));
        let (_, explained) = allot::service::explain(&db.store, &allot::service::Caller::Operator, m9, "data", Billing).await.unwrap();
        assert_eq!(explained.totals.values().copied().collect::<Vec<_>>(), vec![d("13.00")]);

        // A restated September invoice changes August's charges too: both
        // views of both months are stale until re-allocated.
        let (_c, restated) = common::write_temp("sep2.csv", &september("3.30"));
        let s = focus::import(&db.store, &[restated], Progress::Hidden).await.unwrap();
        assert_eq!(s.changed_months, vec![m8, m9, m10]);
        let (run, _) = showback(&db.store, &allot::service::Caller::Operator, m9, Team, Billing).await.unwrap();
        assert!(is_stale(&db.store, &run).await.unwrap(), "the September invoice view is stale");
        allocate_month(&db.store, &rules, m9, CostBasis::Effective).await.unwrap();
        let (run, report) = showback(&db.store, &allot::service::Caller::Operator, m9, Team, Billing).await.unwrap();
        assert!(!is_stale(&db.store, &run).await.unwrap());
        assert_eq!(totals(&report), vec![d("13.30")]);
        assert_eq!(db.store.stale_months().await.unwrap(), vec![m8, m10]);
    }

    async fn the_real_focus_sample_imports_and_reconciles(db) {
        let sample = common::root().join("../shared/data/focus-1.0-sample.csv");
        if !sample.exists() {
            eprintln!("skipped: {} is not present", sample.display());
            return;
        }
        let s = focus::import(&db.store, &[sample], Progress::Hidden).await.unwrap();
        assert_eq!(s.rows_read, 1000);
        let lines = month_lines(&db, "2024-09").await;
        assert_eq!(total(&lines, CostBasis::Effective), d("14.97651418586"));
        let rules = common::shipped_rules();
        let month = Month::parse("2024-09").unwrap();
        allot::service::allocate_month(&db.store, &rules, month, CostBasis::Effective).await.unwrap();
        let (_, report) = allot::service::showback(&db.store, &allot::service::Caller::Operator, month, allot::engine::GroupBy::Team, allot::domain::Period::Charge).await.unwrap();
        assert_eq!(report.totals.values().copied().collect::<Vec<_>>(), vec![d("14.98")]);
        assert!(report.rows.iter().any(|r| r.owner.name() == "unallocated"));
        // The invoice view: BilledCost of billing period 2024-09 is 20.28
        // (its charges come to 20.52, 0.24 of which is on the October invoice).
        let (_, invoice) = allot::service::showback(&db.store, &allot::service::Caller::Operator, month, allot::engine::GroupBy::Team, allot::domain::Period::Billing).await.unwrap();
        assert_eq!(invoice.totals.values().copied().collect::<Vec<_>>(), vec![d("20.28")]);
        let october = Month::parse("2024-10").unwrap();
        allot::service::allocate_month(&db.store, &rules, october, CostBasis::Effective).await.unwrap();
        let (_, invoice) = allot::service::showback(&db.store, &allot::service::Caller::Operator, october, allot::engine::GroupBy::Team, allot::domain::Period::Billing).await.unwrap();
        assert_eq!(invoice.totals.values().copied().collect::<Vec<_>>(), vec![d("0.24")]);
    }
}

/// Rows of `n` distinct resources on one day.
fn rows_of(n: usize, offset: usize) -> Vec<String> {
    (offset..offset + n)
        .map(|i| {
            row(
                "1.25",
                "2024-09-02 00:00:00",
                "2024-09-02 01:00:00",
                "Usage",
                "NULL",
            )
            .replace(",i-1,", &format!(",i-{i},"))
        })
        .collect()
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(bytes).unwrap();
    gz.finish().unwrap()
}

backend_tests! {
    async fn the_same_export_given_as_csv_and_gzip_is_refused_and_nothing_is_stored(db) {
        let text = csv(&rows_of(40, 0));
        let dir = tempfile::tempdir().unwrap();
        let (plain, gz) = (dir.path().join("part-1.csv"), dir.path().join("part-1.csv.gz"));
        std::fs::write(&plain, &text).unwrap();
        // The same rows, CRLF and quoted differently: still the same rows.
        let crlf = String::from_utf8(text.clone()).unwrap().replace('\n', "\r\n").replace(",acct-1,", ",\"acct-1\",");
        std::fs::write(&gz, gzip(crlf.as_bytes())).unwrap();
        let err = focus::import(&db.store, &[plain.clone(), gz.clone()], Progress::Hidden).await.unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("`{}` repeats the rows of `{}` (40 of its rows checked, all found there): they are one export given twice; import one of them", gz.display(), plain.display())
        );
        assert!(month_lines(&db, "2024-09").await.is_empty());
    }

    async fn a_part_that_a_whole_export_also_holds_is_refused_but_distinct_parts_import(db) {
        let dir = tempfile::tempdir().unwrap();
        let (whole, part, other) = (dir.path().join("whole.csv"), dir.path().join("part-2.csv"), dir.path().join("part-3.csv"));
        std::fs::write(&whole, csv(&rows_of(6000, 0))).unwrap();
        std::fs::write(&part, csv(&rows_of(500, 3000))).unwrap();
        std::fs::write(&other, csv(&rows_of(500, 6000))).unwrap();
        let err = focus::import(&db.store, &[part.clone(), whole.clone()], Progress::Hidden).await.unwrap_err();
        assert!(matches!(&err, ImportError::RepeatedRows { first, second, .. } if *first == part && *second == whole), "{err}");
        assert!(month_lines(&db, "2024-09").await.is_empty());
        let s = focus::import(&db.store, &[whole, other], Progress::Hidden).await.unwrap();
        assert_eq!(s.rows_read, 6500);
        assert_eq!(total(&month_lines(&db, "2024-09").await, CostBasis::Effective), d("8125"));
    }
}

/// Imports `bytes` as `name` into a fresh SQLite store and returns the error.
async fn import_error(
    name: &str,
    bytes: &[u8],
) -> (ImportError, std::path::PathBuf, tempfile::TempDir) {
    let db = common::sqlite().await;
    let (dir, path) = common::write_temp(name, bytes);
    let err = focus::import(&db.store, std::slice::from_ref(&path), Progress::Hidden)
        .await
        .unwrap_err();
    (err, path, dir)
}

#[tokio::test]
async fn two_headers_spelling_one_column_are_refused_with_both_positions() {
    let text = String::from_utf8(csv(&rows_of(1, 0))).unwrap();
    let (header, body) = text.split_once('\n').unwrap();
    for second in ["EffectiveCost", "effective_cost"] {
        let doubled = format!("{header},{second}\n{}", body.replace('\n', ",1000000\n"));
        let (err, path, _d) = import_error("dup.csv", doubled.as_bytes()).await;
        assert_eq!(
            err.to_string(),
            format!(
                "{}:1: columns 2 `EffectiveCost` and 21 `{second}` are both the column EffectiveCost: remove one of them",
                path.display()
            )
        );
    }
}

#[tokio::test]
async fn crlf_files_name_the_line_of_the_bad_value() {
    // Line 2 is good, line 3 has a quoted newline in its tags (continuing on 4),
    // line 5 is blank, line 6 is bad.
    let good = row(
        "1",
        "2024-09-01 00:00:00",
        "2024-09-01 01:00:00",
        "Usage",
        "NULL",
    );
    let quoted = row(
        "1",
        "2024-09-01 00:00:00",
        "2024-09-01 01:00:00",
        "Usage",
        "\"{\"\"team\"\":\n\"\"x\"\"}\"",
    );
    let bad = good.replacen("1,1,1,", "abc,1,1,", 1);
    for nl in ["\n", "\r\n"] {
        let text = [HEADER, &good, &quoted, "", &bad, ""].join(nl);
        let (err, path, _d) = import_error("lines.csv", text.as_bytes()).await;
        assert_eq!(
            err.to_string(),
            format!(
                "{}:6: column BilledCost: expected a decimal number, found `abc`",
                path.display()
            ),
            "line ending {nl:?}"
        );
    }
}

#[tokio::test]
async fn a_ragged_file_names_line_2_once() {
    let good = row(
        "1",
        "2024-09-01 00:00:00",
        "2024-09-01 01:00:00",
        "Usage",
        "NULL",
    );
    let short = good.rsplit_once(',').unwrap().0.to_string();
    for nl in ["\n", "\r\n"] {
        let text = [HEADER, &short, &good, ""].join(nl);
        let (err, path, _d) = import_error("ragged.csv", text.as_bytes()).await;
        assert_eq!(
            err.to_string(),
            format!(
                "{}:2: expected 20 fields as in the header row, found 19; every row needs one value per column",
                path.display()
            )
        );
    }
}

#[tokio::test]
async fn an_endless_line_in_a_gzip_fails_at_the_row_limit() {
    let mut text = csv(&rows_of(2, 0));
    text.extend(std::iter::repeat_n(b'x', 64 << 20));
    let (err, path, _d) = import_error("bomb.csv.gz", &gzip(&text)).await;
    assert_eq!(
        err.to_string(),
        format!(
            "{}:4: a row longer than 1048576 bytes; is this a CSV export? (raise `import.max_record_bytes` in allot.toml if the row is real)",
            path.display()
        )
    );
}

#[tokio::test]
async fn a_huge_tag_cell_fails_at_the_cell_limit() {
    let tags = format!("\"{{\"\"team\"\": \"\"{}\"\"}}\"", "a".repeat(100_000));
    let text = csv(&[row(
        "1",
        "2024-09-01 00:00:00",
        "2024-09-01 01:00:00",
        "Usage",
        &tags,
    )]);
    let (err, path, _d) = import_error("tags.csv", &text).await;
    assert_eq!(
        err.to_string(),
        format!(
            "{}:2: column Tags: a value longer than 65536 bytes (raise `import.max_field_bytes` in allot.toml if the value is real)",
            path.display()
        )
    );
}

backend_tests! {
    async fn an_import_committing_while_allocate_reads_the_month_leaves_it_stale(db) {
        let month = Month::parse("2024-09").unwrap();
        let (_d, first) = common::write_temp("acct-1.csv", &csv(&rows_of(50, 0)));
        focus::import(&db.store, &[first], Progress::Hidden).await.unwrap();
        // A second source's export of the same month, for another account.
        let other: Vec<String> = rows_of(10, 100).into_iter().map(|r| r.replace(",acct-1,", ",acct-2,")).collect();
        let (_e, second) = common::write_temp("acct-2.csv", &csv(&other));
        let rules = common::shipped_rules();
        let url = db.url.clone();
        let mut interleaved = false;
        // While allocate reads its first line, the other import commits
        // (in another process's pool, on a thread of its own).
        allot::service::allocate_month_with_progress(&db.store, &rules, month, CostBasis::Effective, |read| {
            if read == 1 {
                let (url, second) = (url.clone(), second.clone());
                std::thread::spawn(move || {
                    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
                    rt.block_on(async {
                        let store = allot::store::Store::connect(&url).await.unwrap();
                        focus::import(&store, &[second], Progress::Hidden).await.unwrap();
                    })
                })
                .join()
                .unwrap();
                interleaved = true;
            }
        })
        .await
        .unwrap();
        assert!(interleaved);
        let (run, report) = allot::service::showback(&db.store, &allot::service::Caller::Operator, month, allot::engine::GroupBy::Team, allot::domain::Period::Charge).await.unwrap();
        let shown: Decimal = report.rows.iter().map(|r| r.total_cost).sum();
        assert_eq!(shown, d("62.5"), "the allocation read the month before the import");
        assert!(allot::service::is_stale(&db.store, &run).await.unwrap(), "and says it is stale");
        assert_eq!(db.store.stale_months().await.unwrap(), vec![month]);
        allot::service::allocate_month(&db.store, &rules, month, CostBasis::Effective).await.unwrap();
        let (run, report) = allot::service::showback(&db.store, &allot::service::Caller::Operator, month, allot::engine::GroupBy::Team, allot::domain::Period::Charge).await.unwrap();
        assert_eq!(report.rows.iter().map(|r| r.total_cost).sum::<Decimal>(), d("75"));
        assert!(!allot::service::is_stale(&db.store, &run).await.unwrap());
    }
}

backend_tests! {
    async fn formula_cells_are_neutralised_in_csv_downloads_and_amounts_stay_numbers(db) {
        let month = Month::parse("2024-09").unwrap();
        let evil = row("-3", "2024-09-02 00:00:00", "2024-09-02 01:00:00", "Credit", "\"{\"\"team\"\": \"\"payments\"\"}\"")
            .replace("Amazon EC2", "\"=HYPERLINK(\"\"http://evil.example\"\",\"\"x\"\")\"");
        let plus = row("5", "2024-09-02 00:00:00", "2024-09-02 01:00:00", "Usage", "\"{\"\"team\"\": \"\"payments\"\"}\"")
            .replace("Amazon EC2", "@SUM(A1)");
        let (_d, path) = common::write_temp("evil.csv", &csv(&[evil, plus]));
        focus::import(&db.store, &[path], Progress::Hidden).await.unwrap();
        allot::service::allocate_month(&db.store, &common::shipped_rules(), month, CostBasis::Effective).await.unwrap();
        let (_, report) = allot::service::showback(&db.store, &allot::service::Caller::Operator, month, allot::engine::GroupBy::TeamService, allot::domain::Period::Charge).await.unwrap();
        let text = allot::present::showback_csv(&report);
        assert!(text.contains("2024-09,payments,\"'=HYPERLINK(\"\"http://evil.example\"\",\"\"x\"\")\",USD,effective,-3.00,0.00,-3.00\r\n"), "{text}");
        assert!(text.contains("2024-09,payments,'@SUM(A1),USD,effective,5.00,0.00,5.00\r\n"), "{text}");
        let costs = allot::service::team_costs(&db.store, &allot::service::Caller::Operator, "payments", month.first_day(), month.last_day(), allot::engine::Granularity::Month).await.unwrap();
        let text = allot::present::team_costs_csv(&costs);
        assert!(text.contains(",'@SUM(A1),5.00\r\n") && text.contains(",-3.00\r\n"), "{text}");
    }
}

#[tokio::test]
async fn impossible_charge_periods_are_refused_with_their_position() {
    let cases = [
        // ChargePeriodEnd = 9999-12-31 ("no end"): a year out of range.
        (
            row(
                "1",
                "2024-09-01 00:00:00",
                "9999-12-31 00:00:00",
                "Usage",
                "NULL",
            ),
            "column ChargePeriodEnd: expected a timestamp such as `2024-09-01T00:00:00Z` or `2024-09-01 00:00:00` (years 2000 to 2099), found `9999-12-31 00:00:00`",
        ),
        // A three-digit year.
        (
            row(
                "1",
                "204-09-19 23:00:00",
                "2024-09-20 00:00:00",
                "Usage",
                "NULL",
            ),
            "column ChargePeriodStart: expected a timestamp such as `2024-09-01T00:00:00Z` or `2024-09-01 00:00:00` (years 2000 to 2099), found `204-09-19 23:00:00`",
        ),
        // In range, but longer than three years.
        (
            row(
                "1",
                "2024-09-01 00:00:00",
                "2099-01-01 00:00:00",
                "Usage",
                "NULL",
            ),
            "column ChargePeriodEnd: expected a charge period of at most 1096 days (three years) after ChargePeriodStart, found `2099-01-01 00:00:00`",
        ),
        // A charge years away from its billing period (2024-09).
        (
            row(
                "1",
                "2031-09-01 00:00:00",
                "2031-09-01 01:00:00",
                "Usage",
                "NULL",
            ),
            "column ChargePeriodStart: expected a charge start within 366 days of its billing period, found `2031-09-01 00:00:00`",
        ),
    ];
    for (bad, message) in cases {
        let good = row(
            "1",
            "2024-09-01 00:00:00",
            "2024-09-01 01:00:00",
            "Usage",
            "NULL",
        );
        let (err, path, _d) = import_error("periods.csv", &csv(&[good, bad])).await;
        assert_eq!(err.to_string(), format!("{}:3: {message}", path.display()));
    }
    // The longest accepted period (a three-year commitment) still imports.
    let db = common::sqlite().await;
    let (_d, path) = common::write_temp(
        "term.csv",
        &csv(&[row(
            "1096",
            "2024-09-01 00:00:00",
            "2027-09-01 00:00:00",
            "Purchase",
            "NULL",
        )]),
    );
    focus::import(&db.store, &[path], Progress::Hidden)
        .await
        .unwrap();
}

backend_tests! {
    async fn focus_in_parquet_imports_the_same_bill_as_its_csv(db) {
        let month = Month::parse("2026-10").unwrap();
        let s = focus::import(&db.store, &[common::root().join("fixtures/focus/demo-2026-10.parquet")], Progress::Hidden).await.unwrap();
        assert_eq!(s.rows_read, 408);
        let from_parquet = month_lines(&db, "2026-10").await;
        let csv_db = common::sqlite().await;
        focus::import(&csv_db.store, &[common::demo_fixture()], Progress::Hidden).await.unwrap();
        let from_csv = month_lines(&csv_db, "2026-10").await;
        for basis in [CostBasis::Effective, CostBasis::Billed, CostBasis::List] {
            assert_eq!(total(&from_parquet, basis), total(&from_csv, basis), "{basis:?}");
        }
        allot::service::allocate_month(&db.store, &common::shipped_rules(), month, CostBasis::Effective).await.unwrap();
        let (_, report) = allot::service::showback(&db.store, &allot::service::Caller::Operator, month, allot::engine::GroupBy::Team, allot::domain::Period::Charge).await.unwrap();
        // Tags from the Parquet map give the same owners.
        common::golden::assert_golden("demo-showback-team.csv", &allot::present::showback_csv(&report));
    }
}

#[tokio::test]
async fn other_exports_are_named_with_what_to_do() {
    let db = common::sqlite().await;
    let cur = common::root().join("fixtures/cur/legacy-2026-09.csv");
    let err = focus::import(&db.store, std::slice::from_ref(&cur), Progress::Hidden)
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "{}: this looks like an AWS Cost and Usage Report, not a FOCUS cost-and-usage export; import it with `allot import cur FILE`",
            cur.display()
        )
    );
    let (err, path, _d) = import_error(
        "azure.csv",
        b"InvoiceSectionName,AccountName,SubscriptionId,Date,MeterCategory,CostInBillingCurrency\nx,y,z,2024-09-01,Virtual Machines,1.5\n",
    )
    .await;
    assert!(
        err.to_string().starts_with(&format!(
            "{}: this looks like an Azure cost details export (not FOCUS)",
            path.display()
        )),
        "{err}"
    );
    assert!(
        err.to_string().contains("Cost and usage details (FOCUS)"),
        "{err}"
    );
    let err = allot::importers::cur::import(&db.store, &[common::demo_fixture()], Progress::Hidden)
        .await
        .unwrap_err();
    assert!(err.to_string().ends_with("this looks like a FOCUS export, not an AWS Cost and Usage Report; import it with `allot import focus FILE`"), "{err}");
}
