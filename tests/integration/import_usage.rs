//! Usage-metric importer on both backends: format, errors with position,
//! atomicity and idempotence.

use crate::common;

use allot::domain::Month;
use allot::service::{Caller, usage};
use rust_decimal::Decimal;

fn sum(records: &[allot::domain::UsageRecord], team: &str) -> Decimal {
    records
        .iter()
        .filter(|r| r.team.as_str() == team)
        .map(|r| r.quantity)
        .sum()
}

backend_tests! {
    async fn imports_days_and_months_and_replaces_on_reimport(db) {
        let (_d, path) = common::write_temp("usage.csv", b"date,team,metric,quantity\n2026-10-01,payments,cpu_core_hours,3\n2026-10-02, Payments ,CPU_core_hours,0.5\n2026-10,search,cpu_core_hours,1.25\n");
        let s = usage::import_files(&db.store, &Caller::Operator, std::slice::from_ref(&path)).await.unwrap();
        assert_eq!(s.records, 3);
        assert_eq!(s.months, vec![Month::parse("2026-10").unwrap()]);
        let records = db.store.usage_for_month(Month::parse("2026-10").unwrap()).await.unwrap();
        assert_eq!(sum(&records, "payments"), "3.5".parse::<Decimal>().unwrap());
        assert_eq!(sum(&records, "search"), "1.25".parse::<Decimal>().unwrap());
        // Same file again: nothing changes.
        usage::import_files(&db.store, &Caller::Operator, std::slice::from_ref(&path)).await.unwrap();
        assert_eq!(db.store.usage_for_month(Month::parse("2026-10").unwrap()).await.unwrap().len(), 3);
        // A corrected figure replaces the old one.
        let (_e, fix) = common::write_temp("fix.csv", b"team,metric,date,quantity\nsearch,cpu_core_hours,2026-10,2\n");
        usage::import_files(&db.store, &Caller::Operator, &[fix]).await.unwrap();
        let records = db.store.usage_for_month(Month::parse("2026-10").unwrap()).await.unwrap();
        assert_eq!(sum(&records, "search"), Decimal::from(2));
    }

    async fn a_bad_row_fails_the_import_with_its_position_and_stores_nothing(db) {
        let (_d, path) = common::write_temp("bad.csv", b"date,team,metric,quantity\n2026-10-01,payments,requests,10\n2026-10-02,payments,requests,-1\n");
        let err = usage::import_files(&db.store, &Caller::Operator, std::slice::from_ref(&path)).await.unwrap_err();
        assert_eq!(err.to_string(), format!("{}:3: column quantity: expected a non-negative decimal number, found `-1`", path.display()));
        assert!(db.store.usage_for_month(Month::parse("2026-10").unwrap()).await.unwrap().is_empty());
    }

    async fn bad_dates_metrics_duplicates_and_missing_columns_are_named(db) {
        for (content, want) in [
            ("date,team,metric,quantity\n2026-13-01,a,m,1\n", ":2: column date: expected a day `YYYY-MM-DD` or a month `YYYY-MM`, found `2026-13-01`"),
            ("date,team,metric,quantity\n2026-10-01,a,cpu-hours,1\n", ":2: column metric: expected a metric name such as `cpu_core_hours`, found `cpu-hours`"),
            ("date,team,metric,quantity\n2026-10-01,a,m,1\n2026-10-01,A,m,2\n", ":3: column date: expected one row per date, team and metric (line 2 has the same), found `2026-10-01`"),
            ("date,team,quantity\n2026-10-01,a,1\n", ":1: column metric: expected it in the header row, found no such column; is this a usage file with the columns date,team,metric,quantity?"),
        ] {
            let (_d, path) = common::write_temp("u.csv", content.as_bytes());
            let err = usage::import_files(&db.store, &Caller::Operator, std::slice::from_ref(&path)).await.unwrap_err();
            assert_eq!(err.to_string(), format!("{}{want}", path.display()));
        }
    }

    async fn two_files_of_one_import_with_the_same_figure_are_refused_naming_both(db) {
        let (_d, first) = common::write_temp("a.csv", b"date,team,metric,quantity\n2026-10-01,payments,requests,10\n");
        let (_e, second) = common::write_temp("b.csv", b"date,team,metric,quantity\n2026-10-02,search,requests,1\n2026-10-01,Payments,requests,12\n");
        let err = usage::import_files(&db.store, &Caller::Operator, &[first.clone(), second.clone()]).await.unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("{}:3: column date: expected one row per date, team and metric (`{}` line 2 has the same), found `2026-10-01`", second.display(), first.display())
        );
        assert!(db.store.usage_for_month(Month::parse("2026-10").unwrap()).await.unwrap().is_empty());
    }
}

backend_tests! {
    async fn changed_usage_makes_the_month_stale_and_unchanged_usage_does_not(db) {
        allot::importers::focus::import(&db.store, &[common::demo_fixture()], allot::importers::Progress::Hidden).await.unwrap();
        let month = Month::parse("2026-10").unwrap();
        let rules = common::shipped_rules();
        let basis = allot::domain::CostBasis::Effective;
        let stale = |db: &common::TestDb| {
            let store = db.store.clone();
            async move {
                let (run, _) = allot::service::showback(&store, &allot::service::Caller::Operator, month, allot::engine::GroupBy::Team, allot::domain::Period::Charge).await.unwrap();
                allot::service::is_stale(&store, &run).await.unwrap()
            }
        };
        let (_d, path) = common::write_temp("usage.csv", b"date,team,metric,quantity\n2026-10-01,payments,cpu_core_hours,3\n");
        usage::import_files(&db.store, &Caller::Operator, std::slice::from_ref(&path)).await.unwrap();
        allot::service::allocate_month(&db.store, &rules, month, basis).await.unwrap();
        // The November invoice holds a credit of the demo bill.
        allot::service::allocate_month(&db.store, &rules, month.next(), basis).await.unwrap();
        assert!(!stale(&db).await);
        // The same figures again: still fresh.
        let s = usage::import_files(&db.store, &Caller::Operator, std::slice::from_ref(&path)).await.unwrap();
        assert_eq!(s.changed_months, Vec::<Month>::new());
        assert!(!stale(&db).await);
        // A changed figure moves pool weights: stale until allocated again.
        let (_e, fix) = common::write_temp("fix.csv", b"date,team,metric,quantity\n2026-10-01,payments,cpu_core_hours,4\n");
        let s = usage::import_files(&db.store, &Caller::Operator, &[fix]).await.unwrap();
        assert_eq!(s.changed_months, vec![month]);
        assert!(stale(&db).await);
        assert_eq!(db.store.stale_months().await.unwrap(), vec![month]);
        allot::service::allocate_month(&db.store, &rules, month, basis).await.unwrap();
        assert!(!stale(&db).await);
        assert!(db.store.stale_months().await.unwrap().is_empty());
    }
}

#[tokio::test]
async fn years_out_of_range_are_refused_in_usage_dates() {
    let db = common::sqlite().await;
    for date in ["0000-01-01", "0204-09", "204-09-19", "9999-12"] {
        let (_d, path) = common::write_temp(
            "u.csv",
            format!("date,team,metric,quantity\n{date},payments,cpu,1\n").as_bytes(),
        );
        let err = usage::import_files(&db.store, &Caller::Operator, std::slice::from_ref(&path))
            .await
            .unwrap_err();
        assert!(
            err.to_string().contains(":2: column date: expected a day"),
            "{date}: {err}"
        );
    }
}
