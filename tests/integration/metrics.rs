//! Business metrics and unit costs on both backends: CSV and API points
//! (added, replaced, unchanged; errors with position; nothing stored on a
//! bad batch), and unit-cost series for the organisation, a team and a
//! group tied to the stored allocation.

use std::path::Path;

use crate::common;

use allot::config::{FileConfig, Settings};
use allot::domain::{CostBasis, MetricScope, Month};
use allot::service::metrics::{self, PointInput};
use allot::service::{Caller, unit_costs};
use rust_decimal::Decimal;

/// Settings declaring `orders` (sum), `customers` (last) and
/// `active-users` (average), with `rules` as the rules directory.
fn settings(rules: &Path) -> Settings {
    let file = FileConfig::parse(
        Path::new("allot.toml"),
        r#"
[[metric]]
name = "orders"
unit = "order"
description = "Completed checkout orders"

[[metric]]
name = "customers"
unit = "customer"
aggregation = "last"

[[metric]]
name = "active-users"
unit = "user"
aggregation = "average"
"#,
    )
    .unwrap();
    file.settings(None, None, None, Some(rules.to_path_buf()))
}

fn shipped() -> Settings {
    settings(&common::root().join("allocation-rules"))
}

fn m(s: &str) -> Month {
    Month::parse(s).unwrap()
}

async fn import(
    db: &common::TestDb,
    settings: &Settings,
    content: &str,
) -> Result<metrics::MetricsSummary, String> {
    let (_d, path) = common::write_temp("metrics.csv", content.as_bytes());
    metrics::import_files(&db.store, &Caller::Operator, &settings.metrics, &[path])
        .await
        .map_err(|e| e.to_string())
}

/// The demo bill of 2026-10, allocated with the shipped rules.
async fn allocated_demo(db: &common::TestDb) {
    allot::importers::focus::import(
        &db.store,
        &[common::demo_fixture()],
        allot::importers::Progress::Hidden,
    )
    .await
    .unwrap();
    allot::service::allocate_month(
        &db.store,
        &common::shipped_rules(),
        m("2026-10"),
        CostBasis::Effective,
    )
    .await
    .unwrap();
}

backend_tests! {
    async fn points_are_added_then_unchanged_then_replaced(db) {
        let s = shipped();
        let csv = "date,metric,value,scope\n2026-10-01,orders,100,\n2026-10-02,Orders,50.50,\n2026-10,customers,1200,team:Payments\n2026-10-01,orders,100,\n";
        let first = import(&db, &s, csv).await.unwrap();
        // The repeated row counts once.
        assert_eq!((first.points, first.added, first.replaced, first.unchanged), (3, 3, 0, 0));
        assert_eq!(first.changed.len(), 2);
        let again = import(&db, &s, csv).await.unwrap();
        assert_eq!((again.added, again.replaced, again.unchanged), (0, 0, 3));
        assert!(again.changed.is_empty());
        let fix = import(&db, &s, "metric,date,value\norders,2026-10-02,51\norders,2026-11-01,7\n").await.unwrap();
        assert_eq!((fix.added, fix.replaced, fix.unchanged), (1, 1, 0));
        let points = db.store.metric_points(&"orders".parse_metric(), m("2026-10"), m("2026-11")).await.unwrap();
        let values: Vec<String> = points.iter().map(|p| format!("{} {} {}", p.date, p.scope, p.value)).collect();
        assert_eq!(values, ["2026-10-01 organisation 100", "2026-10-02 organisation 51", "2026-11-01 organisation 7"]);
        let customers = db.store.metric_points(&"customers".parse_metric(), m("2026-10"), m("2026-10")).await.unwrap();
        assert_eq!(customers[0].scope, MetricScope::parse("team:payments").unwrap());
    }

    async fn a_bad_point_names_its_position_and_stores_nothing(db) {
        let s = shipped();
        for (content, want) in [
            ("date,metric,value\n2026-10-01,orders,1\n2026-10-02,revenue,5\n", ":3: column metric: expected a metric declared with `[[metric]]` in allot.toml (`active-users`, `customers`, `orders`), found `revenue`"),
            ("date,metric,value\n2026-10-01,orders,-1\n", ":2: column value: expected a non-negative decimal number, found `-1`"),
            ("date,metric,value\n2026-10-01,orders,1e400\n", ":2: column value: expected a non-negative decimal number, found `1e400`"),
            ("date,metric,value\n2026-13,orders,1\n", ":2: column date: expected a day `YYYY-MM-DD` or a month `YYYY-MM`, found `2026-13`"),
            ("date,metric,value,scope\n2026-10-01,orders,1,squad:web\n", ":2: column scope: expected a scope: empty (the organisation), `team:NAME`, `group:NAME` or `environment:NAME`, found `squad:web`"),
            ("date,metric,value\n2026-10-01,orders,1\n2026-10-01,orders,2\n", ":3: column value: expected one value per date, metric and scope (line 2 has another for 2026-10-01 orders organisation), found `2`"),
            ("date,value\n2026-10-01,1\n", ":1: column metric: expected it in the header row, found no such column; is this a metrics file with the columns date,metric,value[,scope]?"),
        ] {
            let (_d, path) = common::write_temp("m.csv", content.as_bytes());
            let err = metrics::import_files(&db.store, &Caller::Operator, &s.metrics, std::slice::from_ref(&path)).await.unwrap_err();
            assert_eq!(err.to_string(), format!("{}{want}", path.display()));
        }
        assert!(db.store.all_metric_points(m("2026-01"), m("2026-12")).await.unwrap().is_empty());
    }

    async fn api_points_are_checked_whole(db) {
        let s = shipped();
        let point = |date: &str, metric: &str, value: &str, scope: &str| PointInput {
            date: date.into(),
            metric: metric.into(),
            value: value.into(),
            scope: scope.into(),
        };
        let err = metrics::record(&db.store, &Caller::Operator, &s.metrics, &[
            point("2026-10-01", "orders", "3", ""),
            point("2026-10-01", "orders", "4", ""),
        ]).await.unwrap_err();
        assert_eq!(err.to_string(), "points[1]: another value for 2026-10-01 orders organisation than points[0]; send one value per date, metric and scope");
        let err = metrics::record(&db.store, &Caller::Operator, &s.metrics, &[
            point("2026-10-01", "orders", "3", ""),
            point("2026-10-01", "orders", "x", "team:web"),
        ]).await.unwrap_err();
        assert_eq!(err.to_string(), "points[1].value: expected a non-negative decimal number, found `x`");
        assert!(db.store.all_metric_points(m("2026-01"), m("2026-12")).await.unwrap().is_empty());
        let ok = metrics::record(&db.store, &Caller::Operator, &s.metrics, &[
            point("2026-10-01", "orders", "3", ""),
            point("2026-10", "orders", "9", "group:digital"),
        ]).await.unwrap();
        assert_eq!((ok.added, ok.replaced, ok.unchanged), (2, 0, 0));
    }

    async fn unit_costs_divide_the_showback_cost_by_the_metric(db) {
        allocated_demo(&db).await;
        let s = shipped();
        // Orders by day for the organisation; a month value for payments.
        import(&db, &s, "date,metric,value,scope\n2026-10-01,orders,1000,\n2026-10-15,orders,2000,\n2026-10,orders,400,team:payments\n2026-10,orders,0,team:search\n").await.unwrap();
        let series = |scope: &str| {
            let (store, s) = (db.store.clone(), s.clone());
            let scope = MetricScope::parse(scope).unwrap();
            async move { unit_costs::series(&store, &Caller::Operator, &s, "orders", &scope, m("2026-09"), m("2026-10")).await }
        };
        let org = series("").await.unwrap();
        let rows: Vec<String> = org.rows.iter().map(|r| format!(
            "{} {} {:?} {:?} {:?} {}",
            r.month,
            r.currency.map(|c| c.to_string()).unwrap_or_default(),
            r.cost.map(|c| c.to_string()),
            r.metric_value.map(|c| c.to_string()),
            r.unit_cost.map(allot::engine::unit_cost::shown).map(|c| c.to_string()),
            r.status.as_str(),
        )).collect();
        // The organisation's cost is the whole bill of each currency
        // (3,254.67 USD and 538.59 EUR); September is not allocated.
        assert_eq!(rows, [
            "2026-09 EUR None None None no_cost",
            "2026-09 USD None None None no_cost",
            "2026-10 EUR Some(\"538.59\") Some(\"3000\") Some(\"0.17953\") ok",
            "2026-10 USD Some(\"3254.67\") Some(\"3000\") Some(\"1.08489\") ok",
        ]);
        // A team's cost is its showback row: direct plus its shared cost.
        let payments = series("team:payments").await.unwrap();
        let usd = payments.rows.iter().find(|r| r.month == m("2026-10") && r.currency.map(|c| c.to_string()) == Some("USD".into())).unwrap();
        assert_eq!(usd.cost.unwrap().to_string(), "1072.80");
        assert_eq!(usd.unit_cost.unwrap().to_string(), "2.682");
        let search = series("team:search").await.unwrap();
        assert!(search.rows.iter().filter(|r| r.month == m("2026-10")).all(|r| r.status.as_str() == "zero_metric" && r.unit_cost.is_none()));
        let err = series("team:nobody").await.unwrap_err();
        assert_eq!(err.to_string(), "unknown team `nobody`: it is not in the rules' known teams and has no allocated cost");
        let err = unit_costs::series(&db.store, &Caller::Operator, &s, "revenue", &MetricScope::Organisation, m("2026-10"), m("2026-10")).await.unwrap_err();
        assert_eq!(err.to_string(), "unknown metric `revenue`: the declared metrics are `active-users`, `customers`, `orders`");
    }

    async fn a_group_costs_what_its_teams_cost(db) {
        allocated_demo(&db).await;
        let rules = tempfile::tempdir().unwrap();
        for file in ["00-teams.toml", "10-ownership.toml"] {
            std::fs::copy(common::root().join("allocation-rules").join(file), rules.path().join(file)).unwrap();
        }
        std::fs::write(rules.path().join("20-groups.toml"), "[groups]\ncommerce = [\"payments\", \"checkout\"]\ndigital = [\"group:commerce\", \"search\"]\n").unwrap();
        let s = settings(rules.path());
        import(&db, &s, "date,metric,value,scope\n2026-10,orders,100,group:digital\n").await.unwrap();
        let series = unit_costs::series(&db.store, &Caller::Operator, &s, "orders", &MetricScope::parse("group:digital").unwrap(), m("2026-10"), m("2026-10")).await.unwrap();
        let usd = series.rows.iter().find(|r| r.currency.map(|c| c.to_string()) == Some("USD".into())).unwrap();
        // payments 1,072.80 + checkout 111.62 + search 816.55.
        assert_eq!(usd.cost.unwrap().to_string(), "2000.97");
        assert_eq!(allot::engine::unit_cost::shown(usd.unit_cost.unwrap()).to_string(), "20.0097");
        let err = unit_costs::series(&db.store, &Caller::Operator, &s, "orders", &MetricScope::parse("group:digitl").unwrap(), m("2026-10"), m("2026-10")).await.unwrap_err();
        assert_eq!(err.to_string(), "unknown group `digitl`: the declared groups are `commerce`, `digital`");
    }

    async fn a_stale_allocation_is_said_and_a_metric_change_shows_at_once(db) {
        allocated_demo(&db).await;
        let s = shipped();
        import(&db, &s, "date,metric,value\n2026-10,orders,100\n").await.unwrap();
        let org = || {
            let (store, s) = (db.store.clone(), s.clone());
            async move {
                let series = unit_costs::series(&store, &Caller::Operator, &s, "orders", &MetricScope::Organisation, m("2026-10"), m("2026-10")).await.unwrap();
                let usd = series.rows.into_iter().find(|r| r.currency.map(|c| c.to_string()) == Some("USD".into())).unwrap();
                (usd.status.as_str(), usd.metric_value.unwrap().to_string())
            }
        };
        assert_eq!(org().await, ("ok", "100".to_string()));
        import(&db, &s, "date,metric,value\n2026-10,orders,200\n").await.unwrap();
        assert_eq!(org().await, ("ok", "200".to_string()));
        // Usage that moves pool weights makes the cost side stale.
        let (_d, usage) = common::write_temp("usage.csv", b"date,team,metric,quantity\n2026-10-01,payments,cpu_core_hours,3\n");
        allot::service::usage::import_files(&db.store, &Caller::Operator, &[usage]).await.unwrap();
        assert_eq!(org().await, ("stale", "200".to_string()));
    }
}

trait ParseMetric {
    fn parse_metric(&self) -> allot::domain::MetricName;
}

impl ParseMetric for str {
    fn parse_metric(&self) -> allot::domain::MetricName {
        allot::domain::MetricName::parse(self).unwrap()
    }
}

backend_tests! {
    async fn the_api_records_points_and_serves_unit_costs_as_json_and_csv(db) {
        allocated_demo(&db).await;
        let app = allot::app::Application::build(db.store.clone(), "127.0.0.1:0".parse().unwrap())
            .await
            .unwrap()
            .with_settings(shipped());
        let base = format!("http://{}", app.local_addr().unwrap());
        let client = common::admin_client(&db.store, &app).await;
        tokio::spawn(app.run_until(std::future::pending()));

        let metrics: serde_json::Value = client.get(format!("{base}/api/v1/metrics")).send().await.unwrap().json().await.unwrap();
        crate::common::contract::check("Metrics", &metrics);
        assert_eq!(metrics["metrics"][2]["name"], "orders");
        assert_eq!(metrics["metrics"][2]["aggregation"], "sum");

        let body = serde_json::json!({"points": [
            {"date": "2026-10-01", "metric": "orders", "value": 1000},
            {"date": "2026-10-02", "metric": "orders", "value": "2000"},
            {"date": "2026-10", "metric": "orders", "value": "400", "scope": "team:payments"},
        ]});
        crate::common::contract::check("MetricsRequest", &body);
        let r = client.post(format!("{base}/api/v1/metrics")).json(&body).send().await.unwrap();
        assert_eq!(r.status(), 200);
        let result: serde_json::Value = r.json().await.unwrap();
        crate::common::contract::check("MetricsResult", &result);
        assert_eq!(result, serde_json::json!({"points": 3, "added": 3, "replaced": 0, "unchanged": 0, "changed": [{"metric": "orders", "month": "2026-10"}]}));

        let r = client.get(format!("{base}/api/v1/unit-costs?metric=orders&from=2026-10&scope=team:payments")).send().await.unwrap();
        assert_eq!(r.status(), 200);
        let series: serde_json::Value = r.json().await.unwrap();
        crate::common::contract::check("UnitCosts", &series);
        assert_eq!(series["scope"], "team:payments");
        assert_eq!(series["cost_basis"], "effective");
        assert_eq!(series["rows"][1], serde_json::json!({
            "month": "2026-10", "currency": "USD", "cost": "1072.80", "metric_value": "400",
            "unit_cost": "2.682", "mom_change_pct": null, "yoy_change_pct": null, "status": "ok",
        }));

        let r = client.get(format!("{base}/api/v1/unit-costs?metric=orders&from=2026-10&format=csv")).send().await.unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(
            r.headers()["content-disposition"].to_str().unwrap(),
            "attachment; filename=\"unit-costs-orders-organisation-2026-10-2026-10.csv\""
        );
        assert_eq!(
            r.text().await.unwrap(),
            "month,metric,scope,currency,cost,metric_value,unit_cost,mom_change_pct,yoy_change_pct,status\r\n\
             2026-10,orders,organisation,EUR,538.59,3000,0.17953,,,ok\r\n\
             2026-10,orders,organisation,USD,3254.67,3000,1.08489,,,ok\r\n"
        );

        let summary: serde_json::Value = client.get(format!("{base}/api/v1/unit-costs/summary?month=2026-10")).send().await.unwrap().json().await.unwrap();
        crate::common::contract::check("UnitCostSummary", &summary);
        assert_eq!(summary["entries"].as_array().unwrap().len(), 4, "{summary}");
        assert_eq!(summary["entries"][3]["scope"], "team:payments");
        assert_eq!(summary["entries"][3]["previous"]["status"], "no_cost");
        let csv = client.get(format!("{base}/api/v1/unit-costs/summary?month=2026-10&format=csv")).send().await.unwrap().text().await.unwrap();
        assert!(csv.starts_with("month,metric,scope,currency,unit_cost,previous_unit_cost,change_pct,status,movers\r\n2026-10,orders,organisation,EUR,0.17953,,,ok,"), "{csv}");

        for (query, status, code) in [
            ("metric=revenue&from=2026-10", 404, "unknown_metric"),
            ("metric=orders&from=2026-10&scope=team:nobody", 404, "unknown_team"),
            ("metric=orders&from=2026-10&to=2026-01", 400, "invalid_parameter"),
            ("metric=orders&from=2016-01&to=2026-10", 400, "invalid_parameter"),
            ("metric=orders&from=2026-10&scope=squad:web", 400, "invalid_parameter"),
            ("metric=orders", 400, "invalid_parameter"),
        ] {
            let r = client.get(format!("{base}/api/v1/unit-costs?{query}")).send().await.unwrap();
            assert_eq!(r.status(), status, "{query}");
            let body: serde_json::Value = r.json().await.unwrap();
            assert_eq!(body["error"]["code"], code, "{query}: {body}");
        }
    }
}

/// The demo bill moved to September 2026, without its 31st day and without
/// Amazon Redshift: a month before the demo's whose cost differs.
fn september_bill() -> String {
    let text = std::fs::read_to_string(common::demo_fixture()).unwrap();
    let mut lines = text.lines();
    let mut out = format!("{}\n", lines.next().unwrap());
    for line in lines {
        if line.contains("2026-10-31") || line.contains("Amazon Redshift") {
            continue;
        }
        out.push_str(
            &line
                .replace("2026-10", "2026-09")
                .replace("2026-11", "2026-10"),
        );
        out.push('\n');
    }
    out
}

backend_tests! {
    async fn the_summary_compares_each_series_with_the_month_before_and_names_the_movers(db) {
        allocated_demo(&db).await;
        let (_d, september) = common::write_temp("september.csv", september_bill().as_bytes());
        allot::importers::focus::import(&db.store, &[september], allot::importers::Progress::Hidden).await.unwrap();
        allot::service::allocate_month(&db.store, &common::shipped_rules(), m("2026-09"), CostBasis::Effective).await.unwrap();
        allot::service::allocate_month(&db.store, &common::shipped_rules(), m("2026-10"), CostBasis::Effective).await.unwrap();
        let s = shipped();
        import(&db, &s, "date,metric,value,scope\n2026-09,orders,1000,\n2026-10,orders,1000,\n2026-09,orders,100,team:data\n2026-10,orders,200,team:data\n").await.unwrap();
        let summary = unit_costs::summary(&db.store, &Caller::Operator, &s, m("2026-10")).await.unwrap();
        let got: Vec<String> = summary.entries.iter().map(|e| format!(
            "{} {} {} {} {:?}",
            e.scope,
            e.current.currency.unwrap(),
            e.current.status.as_str(),
            e.mover_kind,
            e.movers.iter().map(|m| m.name.as_str()).collect::<Vec<_>>(),
        )).collect();
        // Redshift belongs to the data team, which has no EUR cost.
        assert_eq!(got, [
            "organisation EUR ok team [\"search\", \"payments\"]",
            "organisation USD ok team [\"data\", \"payments\", \"search\"]",
            "team:data USD ok service [\"Amazon Redshift\", \"Amazon Elastic Compute Cloud\", \"Amazon Elastic Kubernetes Service\"]",
        ], "{summary:#?}");
        let org_usd = &summary.entries[1];
        // The unit cost's change is the cost's: the orders did not change.
        let cost_change = (org_usd.current.cost.unwrap() - org_usd.previous.cost.unwrap()) / org_usd.previous.cost.unwrap() * Decimal::ONE_HUNDRED;
        assert_eq!(org_usd.current.mom_change_pct, Some(cost_change.round_dp(1)));
        // The movers' changes are the scope's: each team's row difference.
        let data = &summary.entries[2];
        assert!(data.movers[0].change() > Decimal::ZERO);
        assert_eq!(data.previous.metric_value, Some(Decimal::from(100)));
    }
}

backend_tests! {
    async fn an_explained_unit_cost_adds_up_to_its_cost_and_names_its_points(db) {
        allocated_demo(&db).await;
        let s = shipped();
        import(&db, &s, "date,metric,value,scope\n2026-10-01,orders,1000,\n2026-10-15,orders,2000,\n2026-10-03,customers,50,team:payments\n2026-10-20,customers,70,team:payments\n").await.unwrap();
        for (metric, scope, points) in [("orders", "", 2usize), ("customers", "team:payments", 1)] {
            let scope = MetricScope::parse(scope).unwrap();
            let e = unit_costs::explain(&db.store, &Caller::Operator, &s, metric, &scope, m("2026-10")).await.unwrap();
            assert_eq!(e.rows.len(), 2, "{metric}: one row per currency");
            for row in &e.rows {
                let items = &e.items[&row.currency.unwrap()];
                assert!(!items.is_empty());
                assert_eq!(items.iter().map(|i| i.amount).sum::<Decimal>(), row.cost.unwrap(), "{metric} {:?}", row.currency);
                assert_eq!(row.unit_cost.unwrap(), (row.cost.unwrap() / row.metric_value.unwrap()).normalize());
            }
            // `last` used the 20th only; `sum` both days.
            assert_eq!(e.points.len(), points, "{metric}");
        }
        let e = unit_costs::explain(&db.store, &Caller::Operator, &s, "customers", &MetricScope::parse("team:payments").unwrap(), m("2026-10")).await.unwrap();
        assert_eq!(e.points[0].value, Decimal::from(70));
        let usd = &e.items[&allot::domain::Currency::parse("USD").unwrap()];
        assert!(usd.iter().any(|i| matches!(i.kind, unit_costs::CostItemKind::Pool { .. })), "payments receives pool shares: {usd:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_holds_fourteen_months_with_a_spike_a_volume_jump_and_a_year_over_year_change() {
    let dir = tempfile::tempdir().unwrap();
    let prepared = allot::demo::prepare(&dir.path().join("demo.db"))
        .await
        .unwrap();
    let s = allot::demo::settings();
    let series = unit_costs::series(
        &prepared.store,
        &Caller::Operator,
        &s,
        "orders",
        &MetricScope::Organisation,
        m("2025-09"),
        m("2026-10"),
    )
    .await
    .unwrap();
    let usd: Vec<_> = series
        .rows
        .iter()
        .filter(|r| r.currency.map(|c| c.to_string()) == Some("USD".into()))
        .collect();
    assert_eq!(usd.len(), 14);
    assert!(usd.iter().all(|r| r.status.as_str() == "ok"), "{usd:#?}");
    // October is the bundled bill, unchanged.
    assert_eq!(usd[13].cost.unwrap().to_string(), "3254.67");
    let change = |month: &str| {
        usd.iter()
            .find(|r| r.month == m(month))
            .unwrap()
            .mom_change_pct
            .unwrap()
    };
    assert!(
        change("2026-03") > Decimal::from(50),
        "the March compute spike raises the unit cost"
    );
    assert!(
        change("2026-06") < Decimal::from(-30),
        "the June volume jump lowers it"
    );
    assert!(
        usd[13].yoy_change_pct.is_some()
            && usd[12].yoy_change_pct.is_some()
            && usd[11].yoy_change_pct.is_none()
    );
    for (metric, scope) in [
        ("deployments", "team:payments"),
        ("active-customers", ""),
        ("orders", "team:checkout"),
    ] {
        let series = unit_costs::series(
            &prepared.store,
            &Caller::Operator,
            &s,
            metric,
            &MetricScope::parse(scope).unwrap(),
            m("2025-09"),
            m("2026-10"),
        )
        .await
        .unwrap();
        assert!(
            series
                .rows
                .iter()
                .filter(|r| r.currency.map(|c| c.to_string()) == Some("USD".into()))
                .all(|r| r.status.as_str() == "ok"),
            "{metric} {scope}: {series:#?}"
        );
    }
    let summary = unit_costs::summary(&prepared.store, &Caller::Operator, &s, m("2026-03"))
        .await
        .unwrap();
    let org_usd = summary
        .entries
        .iter()
        .find(|e| {
            e.metric.name.as_str() == "orders"
                && e.scope == MetricScope::Organisation
                && e.current.currency.map(|c| c.to_string()) == Some("USD".into())
        })
        .unwrap();
    assert!(!org_usd.movers.is_empty(), "the spike has movers");
}
