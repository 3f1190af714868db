//! Cost Explorer importer against a stand-in that speaks the real awsJson1_1
//! protocol on loopback: pagination, a throttling error retried by the SDK,
//! estimated days recorded and replaced when final.

#![allow(clippy::unwrap_used)] // a test fails loudly on what it does not expect

#[path = "integration/common/mod.rs"]
mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use allot::domain::{CostBasis, Month};
use allot::importers::cost_explorer::{self, GroupKey, Request};
use allot::store::RunStatus;
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde_json::{Value, json};

#[derive(Default)]
struct Fake {
    calls: AtomicU32,
    /// Skip the throttling error the first call otherwise gets.
    no_throttle: std::sync::atomic::AtomicBool,
    /// 0: first import (day 2 estimated); 1: later import (day 2 final).
    phase: AtomicU32,
}

fn group(team: &str, service: &str, amortized: &str, unblended: &str) -> Value {
    json!({"Keys": [format!("team${team}"), service], "Metrics": {
        "AmortizedCost": {"Amount": amortized, "Unit": "USD"},
        "UnblendedCost": {"Amount": unblended, "Unit": "USD"}}})
}

async fn handler(
    State(fake): State<Arc<Fake>>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    assert_eq!(
        headers["x-amz-target"],
        "AWSInsightsIndexService.GetCostAndUsage"
    );
    assert_eq!(headers["content-type"], "application/x-amz-json-1.1");
    let body: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(body["Granularity"], "DAILY");
    let call = fake.calls.fetch_add(1, Ordering::SeqCst);
    if call == 0 && !fake.no_throttle.load(Ordering::SeqCst) {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({"__type": "ThrottlingException", "message": "Rate exceeded"})),
        )
            .into_response();
    }
    let day2 = |estimated: bool, amortized: &str| {
        json!({
        "TimePeriod": {"Start": "2026-10-02", "End": "2026-10-03"}, "Total": {}, "Estimated": estimated,
        "Groups": [group("payments", "Amazon Elastic Compute Cloud", amortized, amortized)]})
    };
    let page = if fake.phase.load(Ordering::SeqCst) == 1 {
        json!({"ResultsByTime": [day2(false, "7.50")]})
    } else if body.get("NextPageToken").and_then(Value::as_str) == Some("p2") {
        json!({"ResultsByTime": [day2(true, "5.00")]})
    } else {
        json!({"ResultsByTime": [{
            "TimePeriod": {"Start": "2026-10-01", "End": "2026-10-02"}, "Total": {}, "Estimated": false,
            "Groups": [
                group("payments", "Amazon Elastic Compute Cloud", "10.25", "12.00"),
                group("", "Amazon Simple Storage Service", "0.3333333", "0.3333333"),
            ]}], "NextPageToken": "p2"})
    };
    ([("content-type", "application/x-amz-json-1.1")], Json(page)).into_response()
}

async fn stand_in() -> (String, Arc<Fake>) {
    let fake = Arc::new(Fake::default());
    let app = axum::Router::new()
        .route("/", post(handler))
        .with_state(fake.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, fake)
}

fn client(url: &str) -> aws_sdk_costexplorer::Client {
    use aws_sdk_costexplorer::config::{BehaviorVersion, Credentials, Region, retry::RetryConfig};
    let config = aws_sdk_costexplorer::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .endpoint_url(url)
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("AKIDTEST", "secret", None, None, "static"))
        .retry_config(
            RetryConfig::standard()
                .with_max_attempts(4)
                .with_initial_backoff(std::time::Duration::from_millis(5)),
        )
        .build();
    aws_sdk_costexplorer::Client::from_conf(config)
}

fn d(s: &str) -> Decimal {
    s.parse().unwrap()
}

fn day(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
}

backend_tests! {
    async fn pages_are_followed_throttling_retried_and_estimated_days_replaced(db) {
        let (url, fake) = stand_in().await;
        let client = client(&url);
        let request = Request { start: day("2026-10-01"), end: day("2026-10-03"), group_by: vec![GroupKey::Tag("team".into()), GroupKey::Service], run: None };
        let fetched = cost_explorer::import(&db.store, &client, &request).await.unwrap();
        assert_eq!(fetched.requests, 2, "two pages; the throttled attempt was retried by the SDK");
        assert_eq!(fake.calls.load(Ordering::SeqCst), 3);
        assert_eq!(fetched.estimated_days, vec![day("2026-10-02")]);
        assert_eq!(db.store.estimated_periods(cost_explorer::ACCOUNT).await.unwrap(), vec![day("2026-10-02")]);
        let lines = db.store.lines_for_month(Month::parse("2026-10").unwrap()).await.unwrap();
        let total = |basis| lines.iter().map(|l| l.line.cost(basis).amount).sum::<Decimal>();
        assert_eq!(total(CostBasis::Effective), d("15.5833333"));
        assert_eq!(total(CostBasis::Billed), d("17.3333333"));
        assert!(lines.iter().any(|l| l.line.tags.0.is_empty() && l.line.service_name.as_deref() == Some("Amazon Simple Storage Service")), "`team$` is untagged");
        assert!(lines.iter().any(|l| l.line.tags.0.get("team").map(String::as_str) == Some("payments")));

        // Later the estimated day is final: fetch only from it.
        fake.phase.store(1, Ordering::SeqCst);
        let start = cost_explorer::default_start(&db.store, day("2026-10-03")).await.unwrap();
        assert_eq!(start, day("2026-10-01"), "no later than the month's start and the first estimated day");
        let again = Request { start: day("2026-10-02"), end: day("2026-10-03"), group_by: request.group_by.clone(), run: None };
        let fetched = cost_explorer::import(&db.store, &client, &again).await.unwrap();
        assert_eq!((fetched.requests, fetched.estimated_days.len()), (1, 0));
        assert!(db.store.estimated_periods(cost_explorer::ACCOUNT).await.unwrap().is_empty());
        let lines = db.store.lines_for_month(Month::parse("2026-10").unwrap()).await.unwrap();
        let total: Decimal = lines.iter().map(|l| l.line.effective_cost).sum();
        assert_eq!(total, d("18.0833333"), "day 2 replaced (5.00 -> 7.50), day 1 kept");
    }

    async fn a_scheduled_cost_explorer_source_imports_and_reallocates(db) {
        // The scheduler's client comes from the default credential chain.
        // SAFETY: set before any client is built in this test binary, and
        // only ever to these same values.
        #[allow(unsafe_code)]
        unsafe {
            std::env::set_var("AWS_ACCESS_KEY_ID", "AKIDTEST");
            std::env::set_var("AWS_SECRET_ACCESS_KEY", "secret");
            std::env::set_var("AWS_REGION", "us-east-1");
            std::env::set_var("AWS_EC2_METADATA_DISABLED", "true");
        }
        let (url, fake) = stand_in().await;
        fake.no_throttle.store(true, Ordering::SeqCst);
        let source = allot::config::Source {
            name: "ce".into(),
            kind: allot::config::SourceKind::CostExplorer,
            path: std::path::PathBuf::new(),
            endpoint_url: Some(url),
            group_by: vec![GroupKey::Tag("team".into()), GroupKey::Service],
            schedule: "0 0 6 * * *".parse().unwrap(),
            retries: 0,
            retry_after: std::time::Duration::from_secs(1),
            pull: None,
        };
        let settings = allot::config::Settings {
            database_url: String::new(),
            listen: "127.0.0.1:0".parse().unwrap(),
            cost_basis: CostBasis::Effective,
            rules_dir: common::root().join("allocation-rules"),
            sources: vec![source.clone()],
            import_limits: allot::importers::Limits::default(),
            metrics: Default::default(),
            anomalies: Default::default(),
            webhooks: vec![],
            token_key_file: "allot.key".into(),
            oidc: None,
            server: Default::default(),
            metrics_endpoint: Default::default(),
        };
        let outcome = allot::service::runs::run_once(&db.store, &allot::service::Caller::Operator, &settings, &source, allot::store::Trigger::Schedule, &Default::default()).await.unwrap();
        let allot::service::runs::Outcome::Ran(run) = outcome else { panic!("busy") };
        assert_eq!(run.status, RunStatus::Succeeded, "{run:?}");
        assert_eq!(run.months, vec![Month::parse("2026-10").unwrap()]);
        assert!(db.store.allocation(allot::domain::Period::Charge, Month::parse("2026-10").unwrap()).await.unwrap().is_some(), "re-allocated");
    }
}
