//! CUR importer on both backends: each format (legacy, snake_case, CUR 2.0,
//! gzip) gives the hand-computed unblended and amortized totals of
//! `fixtures/cur/generate.py`.

use crate::common;

use allot::domain::{ChargeCategory, CostBasis, Month};
use allot::importers::{Progress, cur};
use rust_decimal::Decimal;

fn fixture(name: &str) -> std::path::PathBuf {
    common::root().join("fixtures/cur").join(name)
}

fn d(s: &str) -> Decimal {
    s.parse().unwrap()
}

async fn check_totals(db: &common::TestDb, file: &str) {
    let s = cur::import(&db.store, &[fixture(file)], Progress::Hidden)
        .await
        .unwrap();
    assert_eq!(s.rows_read, 12, "{file}");
    let lines = db
        .store
        .lines_for_month(Month::parse("2026-09").unwrap())
        .await
        .unwrap();
    let total = |basis| {
        lines
            .iter()
            .map(|l| l.line.cost(basis).amount)
            .sum::<Decimal>()
    };
    assert_eq!(
        total(CostBasis::Billed),
        d("267.2833333"),
        "{file}: unblended"
    );
    assert_eq!(
        total(CostBasis::Effective),
        d("27.2833333"),
        "{file}: amortized"
    );
    let category = |c| {
        lines
            .iter()
            .filter(|l| l.line.charge_category == c)
            .map(|l| l.line.effective_cost)
            .sum::<Decimal>()
    };
    assert_eq!(category(ChargeCategory::Tax), d("4.20"));
    assert_eq!(
        category(ChargeCategory::Credit),
        d("-4.25"),
        "credits and refunds"
    );
    assert_eq!(
        category(ChargeCategory::Purchase),
        d("6.00"),
        "RI and Savings Plans fees, amortized"
    );
    let payments: Decimal = lines
        .iter()
        .filter(|l| l.line.tags.0.get("team").map(String::as_str) == Some("payments"))
        .map(|l| l.line.effective_cost)
        .sum();
    assert_eq!(
        payments,
        d("16.00"),
        "{file}: on-demand 10.00 + RI-covered 6.00"
    );
    assert!(
        lines
            .iter()
            .all(|l| l.line.billing_account_id == "111111111111" && l.line.provider == "AWS")
    );
}

backend_tests! {
    async fn legacy_cur_amortizes_like_aws(db) {
        check_totals(&db, "legacy-2026-09.csv").await;
    }

    async fn gzipped_legacy_cur(db) {
        check_totals(&db, "legacy-2026-09.csv.gz").await;
    }

    async fn snake_case_cur(db) {
        check_totals(&db, "snake-2026-09.csv").await;
    }

    async fn cur_2_with_a_tag_map(db) {
        check_totals(&db, "cur2-2026-09.csv").await;
    }

    async fn snake_case_parquet(db) {
        check_totals(&db, "snake-2026-09.parquet").await;
    }

    async fn cur_2_parquet_with_a_tag_map(db) {
        check_totals(&db, "cur2-2026-09.parquet").await;
    }

    async fn a_restated_report_replaces_the_period_and_the_same_one_changes_nothing(db) {
        cur::import(&db.store, &[fixture("legacy-2026-09.csv")], Progress::Hidden).await.unwrap();
        let again = cur::import(&db.store, &[fixture("snake-2026-09.csv")], Progress::Hidden).await.unwrap();
        assert!(again.changed_months.is_empty(), "the same items in another spelling change nothing");
        let restated = std::fs::read_to_string(fixture("legacy-2026-09.csv")).unwrap().replace(",Tax,", ",Credit,");
        let (_d, path) = common::write_temp("restated.csv", restated.as_bytes());
        let s = cur::import(&db.store, &[path], Progress::Hidden).await.unwrap();
        assert_eq!(s.changed_months, vec![Month::parse("2026-09").unwrap()]);
        let lines = db.store.lines_for_month(Month::parse("2026-09").unwrap()).await.unwrap();
        assert!(lines.iter().all(|l| l.line.charge_category != ChargeCategory::Tax));
        assert_eq!(lines.iter().map(|l| l.line.effective_cost).sum::<Decimal>(), d("27.2833333"));
    }

    async fn an_unknown_line_item_type_fails_with_its_position(db) {
        let text = std::fs::read_to_string(fixture("legacy-2026-09.csv")).unwrap().replacen(",RIFee,", ",RiFees,", 1);
        let (_d, path) = common::write_temp("bad.csv", text.as_bytes());
        let err = cur::import(&db.store, std::slice::from_ref(&path), Progress::Hidden).await.unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("{}:4: column lineItem/LineItemType: expected a CUR line item type such as Usage, DiscountedUsage, RIFee, SavingsPlanCoveredUsage, Tax or Credit, found `RiFees`", path.display())
        );
        assert!(db.store.lines_for_month(Month::parse("2026-09").unwrap()).await.unwrap().is_empty());
    }
}
