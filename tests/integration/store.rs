//! Store round trips on both backends: money is exact at any scale.

use crate::common;

use allot::domain::StoredLine;
use allot::domain::{CostLine, Month, sample};
use rust_decimal::Decimal;

fn line(billed: &str, effective: &str, list: &str) -> CostLine {
    CostLine {
        billing_account_name: Some("Acme".into()),
        sub_account_id: Some("sub".into()),
        service_name: Some("Amazon EC2".into()),
        service_category: Some("Compute".into()),
        region: Some("us-east-1".into()),
        resource_id: Some("i-1".into()),
        billed_cost: sample::amount(billed),
        effective_cost: sample::amount(effective),
        list_cost: sample::amount(list),
        contracted_cost: Some(sample::amount("-0.000000000001")),
        consumed_quantity: Some(sample::amount("123456789.123456789012")),
        consumed_unit: Some("Hours".into()),
        tags: sample::tags(&[(" team", "payments"), ("Env", "prod")]),
        ..sample::line(sample::day(2024, 9, 3), Decimal::ZERO)
    }
}

backend_tests! {
    async fn digests_stored_by_an_older_version_are_recomputed_so_a_reimport_changes_nothing(db) {
        let month = Month::parse("2024-09").unwrap();
        let mut other = line("2", "2", "2");
        other.resource_id = Some("i-2".into());
        let lines = vec![
            StoredLine { line: line("1.50", "1.5", "2"), source_rows: 2 },
            StoredLine { line: other, source_rows: 1 },
        ];
        let import = |store: allot::store::Store, lines: Vec<StoredLine>| async move {
            let mut tx = store.begin_import("test", &["mem".into()], None).await.unwrap();
            tx.insert_lines(&lines).await.unwrap();
            tx.commit(3).await.unwrap()
        };
        assert_eq!(import(db.store.clone(), lines.clone()).await.changed_months, vec![month]);
        // What an older allot stored: a digest in another format.
        common::execute_raw(&db.url, "UPDATE billing_partitions SET digest = '00c0ffee00c0ffee'").await;
        let reopened = allot::store::Store::connect(&db.url).await.unwrap();
        let mut reordered = lines.clone();
        reordered.reverse();
        reordered[1].line.billed_cost = "1.5000".parse().unwrap();
        let again = import(reopened.clone(), reordered).await;
        assert_eq!(again.changed_months, Vec::<Month>::new(), "the same lines, in another order and scale");
        let mut restated = lines.clone();
        restated[0].line.effective_cost = "1.51".parse().unwrap();
        assert_eq!(import(reopened, restated).await.changed_months, vec![month]);
    }

    async fn money_round_trips_losslessly(db) {
        let lines = vec![
            StoredLine { line: line("0.000000000001", "1234567890123.123456789012", "-9999999999999.999999999999"), source_rows: 3 },
            StoredLine { line: line("1000000000000000", "0", "0.1"), source_rows: 1 },
        ];
        let mut tx = db.store.begin_import("test", &["mem".into()], None).await.unwrap();
        tx.insert_lines(&lines).await.unwrap();
        tx.commit(4).await.unwrap();
        let mut back = db.store.lines_for_month(Month::parse("2024-09").unwrap()).await.unwrap();
        back.sort_by_key(|l| l.source_rows);
        let mut want = lines.clone();
        want.sort_by_key(|l| l.source_rows);
        for (b, w) in back.iter().zip(&want) {
            assert_eq!(b.line.billed_cost, w.line.billed_cost);
            assert_eq!(b.line.effective_cost.to_string(), w.line.effective_cost.normalize().to_string());
            assert_eq!(b.line.list_cost, w.line.list_cost);
            assert_eq!(b.line.contracted_cost, w.line.contracted_cost);
            assert_eq!(b.line.consumed_quantity, w.line.consumed_quantity);
            assert_eq!(b.line.tags, w.line.tags);
            assert_eq!(b.line.charge_period_start, w.line.charge_period_start);
        }
        assert_eq!(back.len(), 2);
        let sum: Decimal = back.iter().map(|l| l.line.effective_cost).sum();
        assert_eq!(sum, "1234567890123.123456789012".parse::<Decimal>().unwrap());
    }

    async fn an_import_dropped_before_commit_stores_nothing(db) {
        let mut tx = db.store.begin_import("test", &["mem".into()], None).await.unwrap();
        tx.insert_lines(&[StoredLine { line: line("1", "1", "1"), source_rows: 1 }]).await.unwrap();
        drop(tx);
        assert!(db.store.lines_for_month(Month::parse("2024-09").unwrap()).await.unwrap().is_empty());
    }

    async fn a_month_without_allocation_reads_as_none(db) {
        assert!(db.store.allocation(allot::domain::Period::Charge, Month::parse("2024-09").unwrap()).await.unwrap().is_none());
        db.store.ping().await.unwrap();
    }
}
