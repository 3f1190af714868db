//! Groups and environments on both backends: the showback by group and by
//! team and environment adds up to the team showback and the bill, through
//! the service, the API (JSON and CSV) and unit costs per environment.

use std::path::Path;

use crate::common;

use allot::config::{FileConfig, Settings};
use allot::domain::{CostBasis, MetricScope, Month, Period};
use allot::engine::GroupBy;
use allot::service::{Caller, reports, unit_costs};
use rust_decimal::Decimal;

const DIMENSIONS: &str = r#"
[groups]
commerce = ["payments", "checkout"]
digital = ["group:commerce", "search"]

[environment]
tag = "env"
aliases = { prod = "production" }
"#;

/// The shipped rules with [`DIMENSIONS`], in a new directory.
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

fn settings(rules: &Path) -> Settings {
    FileConfig::parse(
        Path::new("allot.toml"),
        "[[metric]]\nname = \"orders\"\nunit = \"order\"\n",
    )
    .unwrap()
    .settings(None, None, None, Some(rules.to_path_buf()))
}

fn m() -> Month {
    Month::parse("2026-10").unwrap()
}

async fn allocated(db: &common::TestDb, rules: &Path) {
    allot::importers::focus::import(
        &db.store,
        &[common::demo_fixture()],
        allot::importers::Progress::Hidden,
    )
    .await
    .unwrap();
    let rules = allot::rules::load_dir(rules).unwrap();
    allot::service::allocate_month(&db.store, &rules, m(), CostBasis::Effective)
        .await
        .unwrap();
}

backend_tests! {
    async fn environments_and_groups_add_up_to_the_team_showback(db) {
        let dir = rules_dir();
        allocated(&db, dir.path()).await;
        let (_, teams) = allot::service::showback(&db.store, &Caller::Operator, m(), GroupBy::Team, Period::Charge).await.unwrap();
        let (_, envs) = allot::service::showback(&db.store, &Caller::Operator, m(), GroupBy::TeamEnvironment, Period::Charge).await.unwrap();
        for t in &teams.rows {
            let parts: Vec<_> = envs.rows.iter().filter(|r| r.owner == t.owner && r.currency == t.currency).collect();
            assert_eq!(parts.iter().map(|r| r.total_cost).sum::<Decimal>(), t.total_cost, "{}", t.owner);
            assert_eq!(parts.iter().map(|r| r.direct_cost).sum::<Decimal>(), t.direct_cost, "{}", t.owner);
        }
        assert_eq!(teams.totals, envs.totals);
        let payments: Vec<String> = envs.rows.iter()
            .filter(|r| r.owner.name() == "payments" && r.currency.as_str() == "USD")
            .map(|r| format!("{} {} {} {}", r.environment.as_deref().unwrap(), r.direct_cost, r.shared_cost, r.total_cost))
            .collect();
        // Shared cost follows the team's direct cost in each environment.
        assert_eq!(payments.len(), 2, "{payments:?}");
        assert!(payments[0].starts_with("production ") && payments[1].starts_with("unspecified "), "{payments:?}");
        let production_direct: Decimal = payments[0].split(' ').nth(1).unwrap().parse().unwrap();
        let production_shared: Decimal = payments[0].split(' ').nth(2).unwrap().parse().unwrap();
        let team = teams.rows.iter().find(|r| r.owner.name() == "payments" && r.currency.as_str() == "USD").unwrap();
        let expected = (team.shared_cost * production_direct / team.direct_cost).round_dp(2);
        assert!((production_shared - expected).abs() <= Decimal::new(1, 2), "{production_shared} vs {expected}");

        // `rules explain` shows the attribution, adding up to the team's total.
        let (_, explained) = allot::service::explain(&db.store, &Caller::Operator, m(), "payments", Period::Charge).await.unwrap();
        let envs_usd: Vec<_> = explained.environments.iter().filter(|r| r.currency.as_str() == "USD").collect();
        assert_eq!(envs_usd.iter().map(|r| r.environment.as_deref().unwrap()).collect::<Vec<_>>(), ["production", "unspecified"]);
        assert_eq!(envs_usd.iter().map(|r| r.total_cost).sum::<Decimal>(), team.total_cost);

        let s = settings(dir.path());
        let (_, groups) = reports::group_showback(&db.store, &Caller::Operator, &s, m(), Period::Charge).await.unwrap();
        let usd: Vec<String> = groups.rows.iter().filter(|r| r.currency.as_str() == "USD")
            .map(|r| format!("{} {}", r.group, r.total_cost)).collect();
        // commerce = payments 1,072.80 + checkout 111.62; digital adds search
        // 816.55; ungrouped = data 1,031.48 + platform 50.00.
        assert_eq!(usd, ["commerce 1184.42", "digital 2000.97", "ungrouped 1081.48", "unallocated 172.22"]);
        assert!(groups.overlapping);
    }

    async fn the_api_serves_group_and_environment_showbacks_and_unit_costs(db) {
        let dir = rules_dir();
        allocated(&db, dir.path()).await;
        let s = settings(dir.path());
        allot::service::metrics::record(&db.store, &Caller::Operator, &s.metrics, &[allot::service::metrics::PointInput {
            date: "2026-10".into(), metric: "orders".into(), value: "100".into(), scope: "environment:production".into(),
        }]).await.unwrap();
        let app = allot::app::Application::build(db.store.clone(), "127.0.0.1:0".parse().unwrap()).await.unwrap().with_settings(s.clone());
        let base = format!("http://{}", app.local_addr().unwrap());
        let client = crate::common::admin_client(&db.store, &app).await;
        tokio::spawn(app.run_until(std::future::pending()));
        let groups: serde_json::Value = client.get(format!("{base}/api/v1/showback?month=2026-10&group_by=group")).send().await.unwrap().json().await.unwrap();
        crate::common::contract::check("GroupShowback", &groups);
        assert_eq!(groups["rows"][0]["group"], "commerce");
        assert_eq!(groups["rows"][0]["teams"], serde_json::json!(["payments"]));
        let envs: serde_json::Value = client.get(format!("{base}/api/v1/showback?month=2026-10&group_by=team,environment")).send().await.unwrap().json().await.unwrap();
        crate::common::contract::check("Showback", &envs);
        assert_eq!(envs["group_by"], "team,environment");
        let csv = client.get(format!("{base}/api/v1/showback?month=2026-10&group_by=group&format=csv")).send().await.unwrap();
        assert_eq!(csv.headers()["content-disposition"].to_str().unwrap(), "attachment; filename=\"showback-groups-2026-10.csv\"");
        let text = csv.text().await.unwrap();
        assert!(text.starts_with("month,group,teams,currency,cost_basis,direct_cost,shared_cost,total_cost\r\n2026-10,commerce,payments,EUR,effective,"), "{text}");
        assert!(text.contains("\r\n2026-10,digital,checkout payments search,USD,effective,"), "{text}");

        // The production environment's cost: every owner's production rows.
        let series = unit_costs::series(&db.store, &Caller::Operator, &s, "orders", &MetricScope::parse("environment:production").unwrap(), m(), m()).await.unwrap();
        let (_, envs) = allot::service::showback(&db.store, &Caller::Operator, m(), GroupBy::TeamEnvironment, Period::Charge).await.unwrap();
        let explained = unit_costs::explain(&db.store, &Caller::Operator, &s, "orders", &MetricScope::parse("environment:production").unwrap(), m()).await.unwrap();
        for row in &explained.rows {
            let items = &explained.items[&row.currency.unwrap()];
            assert_eq!(items.iter().map(|i| i.amount).sum::<Decimal>(), row.cost.unwrap());
            assert!(items.iter().any(|i| i.kind == unit_costs::CostItemKind::Attributed), "{items:?}");
        }
        let body: serde_json::Value = client.get(format!("{base}/api/v1/unit-costs/explain?metric=orders&month=2026-10&scope=environment:production")).send().await.unwrap().json().await.unwrap();
        crate::common::contract::check("UnitCostExplanation", &body);
        assert_eq!(body["points"], serde_json::json!([{"date": "2026-10", "value": "100"}]));
        for row in &series.rows {
            let currency = row.currency.unwrap();
            let want: Decimal = envs.rows.iter().filter(|r| r.currency == currency && r.environment.as_deref() == Some("production")).map(|r| r.total_cost).sum();
            assert_eq!(row.cost, Some(want));
            assert_eq!(row.unit_cost, Some((want / Decimal::from(100)).normalize()));
        }
    }
}
