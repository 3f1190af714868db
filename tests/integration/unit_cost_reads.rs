//! Unit costs read from what is stored with each allocation (its
//! showbacks) and with each metric's points (its month values) say, to the
//! digit and the scale, what the allocation rows and the points say: on
//! both backends, over fourteen months of the demo's history with groups,
//! environments, every aggregation, a stale month and a metric no longer
//! declared, against the same figures read as a database allocated before
//! migration 0015 reads them (from the rows and the points). The showback
//! too, whole, narrowed to a team and by group, and each team's
//! explanation.

use std::path::Path;

use crate::common;

use allot::config::{FileConfig, Settings};
use allot::domain::TeamId;
use allot::domain::{CostBasis, MetricScope, Month, Period};
use allot::engine::GroupBy;
use allot::service::{Caller, Identity, Role, metrics, unit_costs};

const DIMENSIONS: &str = r#"
[groups]
commerce = ["payments", "checkout"]
digital = ["group:commerce", "search"]

[environment]
tag = "env"
aliases = { prod = "production" }
"#;

const METRICS: &str = r#"
[[metric]]
name = "orders"
unit = "order"

[[metric]]
name = "customers"
unit = "customer"
aggregation = "last"

[[metric]]
name = "active-users"
unit = "user"
aggregation = "average"
"#;

fn settings(rules: &Path, extra: &str) -> Settings {
    FileConfig::parse(Path::new("allot.toml"), &format!("{METRICS}{extra}"))
        .unwrap()
        .settings(None, None, None, Some(rules.to_path_buf()))
}

/// The shipped rules with groups and environments, in a new directory.
fn rules_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for file in ["00-teams.toml", "10-ownership.toml"] {
        std::fs::copy(
            common::root().join("allocation-rules").join(file),
            dir.path().join(file),
        )
        .unwrap();
    }
    std::fs::write(dir.path().join("20-dimensions.toml"), DIMENSIONS).unwrap();
    dir
}

/// Points of every kind: day and month points, values whose sums keep
/// trailing zeros (`1.25 + 1.75`), a zero, every scope kind, and
/// `retired`, a metric the reading settings no longer declare.
fn points_csv(months: &[Month], round: u32) -> String {
    let mut csv = String::from("date,metric,value,scope\n");
    for (i, m) in months.iter().enumerate() {
        let i = i as u32 + round;
        let day = |d: u32| format!("{m}-{d:02}");
        csv += &format!("{},orders,{}.25,\n", day(1), 1000 + 10 * i);
        csv += &format!("{},orders,{}.75,\n", day(2), 800 + i);
        csv += &format!("{m},orders,{},team:payments\n", 300 + i);
        csv += &format!(
            "{},orders,{},team:search\n",
            day(3),
            if i.is_multiple_of(5) { 0 } else { 40 + i }
        );
        csv += &format!("{},orders,1.50,environment:production\n", day(4));
        csv += &format!("{},orders,{}.50,environment:production\n", day(5), 2 + i);
        csv += &format!("{},customers,{},group:digital\n", day(6), 70 + i);
        csv += &format!("{},customers,{}.0,group:digital\n", day(20), 90 + i);
        csv += &format!("{},active-users,10.0,team:data\n", day(7));
        csv += &format!("{},active-users,{}.5,team:data\n", day(8), 12 + i % 3);
        csv += &format!("{},active-users,3,team:data\n", day(9));
        csv += &format!("{},active-users,{},\n", day(10), 500 + i);
        csv += &format!("{},retired,7,team:payments\n", day(11));
        if round > 0 {
            csv += &format!("{},orders,5,\n", day(12));
        }
    }
    csv
}

async fn import_points(db: &common::TestDb, settings: &Settings, csv: &str) {
    let (_d, path) = common::write_temp("points.csv", csv.as_bytes());
    metrics::import_files(&db.store, &Caller::Operator, &settings.metrics, &[path])
        .await
        .unwrap();
}

/// Everything unit costs answer over `months`, as text (`Debug` shows a
/// decimal's scale: `4.00` is not `4`).
async fn answers(db: &common::TestDb, s: &Settings, months: &[Month]) -> Vec<String> {
    let (first, last) = (months[0], months[months.len() - 1]);
    let mut out = Vec::new();
    for metric in ["orders", "customers", "active-users"] {
        for scope in [
            "",
            "team:payments",
            "team:search",
            "team:data",
            "team:checkout",
            "group:commerce",
            "group:digital",
            "environment:production",
            "environment:unspecified",
        ] {
            let scope = MetricScope::parse(scope).unwrap();
            let series =
                unit_costs::series(&db.store, &Caller::Operator, s, metric, &scope, first, last)
                    .await
                    .unwrap();
            out.push(format!("{series:?}"));
            for month in [months[3], last] {
                let e = unit_costs::explain(&db.store, &Caller::Operator, s, metric, &scope, month)
                    .await
                    .unwrap();
                out.push(format!("{e:?}"));
            }
        }
    }
    for month in months {
        let summary = unit_costs::summary(&db.store, &Caller::Operator, s, *month)
            .await
            .unwrap();
        out.push(format!("{summary:?}"));
    }
    // The showback, whole and as a team sees it, by every grouping and by
    // group: read from what is stored, or computed from the rows.
    let team = Caller::Identity(Identity {
        label: "token:t (payments)".into(),
        role: Role::Team(TeamId::parse("payments").unwrap()),
        teams: Default::default(),
        client: "127.0.0.1".into(),
    });
    for month in months {
        for caller in [&Caller::Operator, &team] {
            for by in [
                GroupBy::Team,
                GroupBy::TeamService,
                GroupBy::TeamEnvironment,
            ] {
                let showback =
                    allot::service::showback(&db.store, caller, *month, by, Period::Charge)
                        .await
                        .unwrap();
                out.push(format!("{showback:?}"));
            }
            let groups = allot::service::reports::group_showback(
                &db.store,
                caller,
                s,
                *month,
                Period::Charge,
            )
            .await
            .unwrap();
            out.push(format!("{groups:?}"));
        }
        for owner in [
            "payments",
            "search",
            "data",
            "checkout",
            "platform",
            "unallocated",
        ] {
            let explained = allot::service::explain(
                &db.store,
                &Caller::Operator,
                *month,
                owner,
                Period::Charge,
            )
            .await;
            out.push(format!("{explained:?}"));
        }
    }
    out
}

/// Makes the database read as one allocated and loaded before migration
/// 0015: no stored showbacks, no stored month values.
async fn as_before_0015(db: &common::TestDb) {
    common::execute_raw(&db.url, "UPDATE allocation_runs SET reports_format = 0").await;
    common::execute_raw(&db.url, "UPDATE metric_changes SET summary_format = 0").await;
}

backend_tests! {
    async fn stored_showbacks_and_month_values_read_as_the_rows_and_points_do(db) {
        let dir = rules_dir();
        let rules = allot::rules::load_dir(dir.path()).unwrap();
        let months = allot::demo::history::months();
        let files = tempfile::tempdir().unwrap();
        let mut paths = Vec::new();
        for (i, month) in months.iter().enumerate() {
            let text = if month.to_string() == allot::demo::MONTH {
                allot::demo::FIXTURE.1.to_string()
            } else {
                allot::demo::history::bill(i as u32, *month, allot::demo::FIXTURE.1).unwrap()
            };
            let path = files.path().join(format!("demo-{month}.csv"));
            std::fs::write(&path, text).unwrap();
            paths.push(path);
        }
        allot::importers::focus::import(&db.store, &paths, allot::importers::Progress::Hidden).await.unwrap();
        for month in &months {
            allot::service::allocate_month(&db.store, &rules, *month, CostBasis::Effective).await.unwrap();
        }
        let loading = settings(dir.path(), "[[metric]]\nname = \"retired\"\nunit = \"thing\"\n");
        import_points(&db, &loading, &points_csv(&months, 0)).await;
        // Usage that changes pool weights makes a month stale.
        let (_u, usage) = common::write_temp("usage.csv", b"date,team,metric,quantity\n2026-03-01,payments,cpu_core_hours,3\n");
        allot::service::usage::import_files(&db.store, &Caller::Operator, &[usage]).await.unwrap();
        let s = settings(dir.path(), "");

        // Each stored showback is the engine's showback of the stored rows.
        for month in &months {
            let (run, rows) = db.store.allocation(Period::Charge, *month).await.unwrap().unwrap();
            for by in [GroupBy::Team, GroupBy::TeamService, GroupBy::TeamEnvironment] {
                let computed = allot::engine::showback(*month, run.cost_basis, &rows, by);
                let stored = db.store.report_rows(*month, *month, by, None, None).await.unwrap();
                assert_eq!(format!("{:?}", stored[month]), format!("{:?}", computed.rows), "{month} {by:?}");
                let totals = db.store.report_totals(*month, *month, by).await.unwrap();
                assert_eq!(format!("{:?}", totals[month]), format!("{:?}", computed.totals), "{month} {by:?}");
            }
        }

        let stored = answers(&db, &s, &months).await;
        assert!(stored.iter().any(|a| a.contains("Stale")), "2026-03 is stale");
        assert!(stored.iter().any(|a| a.contains("1801.00")), "a sum keeps its scale");
        as_before_0015(&db).await;
        let computed = answers(&db, &s, &months).await;
        for (stored, computed) in stored.iter().zip(&computed) {
            assert_eq!(stored, computed);
        }
        assert_eq!(stored.len(), computed.len());

        // New points over some of those months, and a month allocated again:
        // what is stored again is summarised whole, the rest read as before.
        import_points(&db, &loading, &points_csv(&months[10..], 7)).await;
        allot::service::allocate_month(&db.store, &rules, months[12], CostBasis::Effective).await.unwrap();
        let mixed = answers(&db, &s, &months).await;
        as_before_0015(&db).await;
        let computed = answers(&db, &s, &months).await;
        for (mixed, computed) in mixed.iter().zip(&computed) {
            assert_eq!(mixed, computed);
        }
        assert_ne!(stored, mixed, "the new points changed unit costs");
    }
}
