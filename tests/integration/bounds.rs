//! Bounded work per request: a request answers within its time limit
//! (source runs excepted: they finish and are recorded), a preview within
//! its budget, and a preview of 2,000 candidate rules fits both.

use crate::common;

use std::time::Duration;

use allot::app::{Application, Limits};
use serde_json::Value;

/// The demo bill, allocated, with the demo export as source `bill`, served
/// under `limits`; returns the base URL and an admin client.
async fn serve(db: &common::TestDb, limits: Limits) -> (String, reqwest::Client) {
    common::allocated_demo(&db.store).await;
    let settings = common::demo_source_settings("");
    let app = Application::build(db.store.clone(), "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap()
        .with_settings(settings)
        .with_limits(limits);
    let client = common::admin_client(&db.store, &app).await;
    let base = format!("http://{}", app.local_addr().unwrap());
    tokio::spawn(app.run_until(std::future::pending()));
    (base, client)
}

/// The shipped rules with `extra` rules that match nothing, as a preview body.
fn candidate(extra: usize) -> Value {
    let mut files = serde_json::Map::new();
    for name in ["00-teams.toml", "10-ownership.toml"] {
        let text =
            std::fs::read_to_string(common::root().join("allocation-rules").join(name)).unwrap();
        files.insert(name.into(), Value::String(text));
    }
    let many: String = (0..extra)
        .map(|i| format!("[[rule]]\nname = \"n{i}\"\nteam = \"payments\"\nmatch.service = \"nothing-{i}\"\nmatch.tags.env = \"zz{i}-*\"\n\n"))
        .collect();
    files.insert("05-many.toml".into(), Value::String(many));
    serde_json::json!({ "files": files })
}

async fn answer(r: reqwest::Response) -> (u16, Value) {
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

backend_tests! {
    async fn requests_answer_within_their_time_limit_but_source_runs_finish(db) {
        let limits = Limits { request_timeout: Duration::ZERO, ..Limits::default() };
        let (base, admin) = serve(&db, limits).await;
        let (status, body) = answer(admin.get(format!("{base}/api/v1/showback?month=2026-10")).send().await.unwrap()).await;
        assert_eq!((status, body["error"]["code"].as_str()), (503, Some("timed_out")), "{body}");
        assert!(body["error"]["message"].as_str().unwrap().contains("was stopped; ask for less"), "{body}");
        let (status, body) = answer(admin.post(format!("{base}/api/v1/imports/bill/run")).send().await.unwrap()).await;
        assert_eq!(status, 200, "a source run is not cut short: {body}");
        assert_eq!(body["status"], "succeeded", "{body}");
    }

    async fn a_preview_answers_within_its_budget(db) {
        let limits = Limits { preview_budget: Duration::ZERO, ..Limits::default() };
        let (base, admin) = serve(&db, limits).await;
        let r = admin.post(format!("{base}/api/v1/rules/preview?month=2026-10")).json(&candidate(0)).send().await.unwrap();
        let (status, body) = answer(r).await;
        assert_eq!((status, body["error"]["code"].as_str()), (503, Some("timed_out")), "{body}");
        // Other requests are not held back by it.
        assert_eq!(admin.get(format!("{base}/api/v1/showback?month=2026-10")).send().await.unwrap().status(), 200);
    }

    async fn a_preview_of_two_thousand_rules_fits_the_bounds(db) {
        let (base, admin) = serve(&db, Limits::default()).await;
        let body = candidate(2000);
        assert!(body.to_string().len() < allot::http::PREVIEW_BODY_LIMIT, "{}", body.to_string().len());
        let (status, answer) = answer(admin.post(format!("{base}/api/v1/rules/preview?month=2026-10")).json(&body).send().await.unwrap()).await;
        assert_eq!(status, 200, "{answer}");
        // Rules that match nothing change nothing.
        for row in answer["rows"].as_array().unwrap() {
            assert_eq!(row["difference"], "0.00", "{row}");
        }
    }
}

/// `docs/operations.md`'s `[server]` block and the one `allot init` writes
/// are valid, and show the defaults.
#[test]
fn the_documented_server_settings_are_the_defaults() {
    let doc = std::fs::read_to_string(common::root().join("docs/operations.md")).unwrap();
    let block = doc
        .split("```toml\n")
        .nth(1)
        .unwrap()
        .split("```")
        .next()
        .unwrap()
        .to_string();
    let init = std::fs::read_to_string(common::root().join("src/init/allot.toml")).unwrap();
    let start = init.find("[server]").expect("allot init shows [server]");
    let section = init[start..].split("\n\n").next().unwrap();
    // Every setting but `metrics_listen`, which has no default (it goes
    // with `metrics = "open"`, checked in `telemetry.rs`).
    let uncommented = section
        .lines()
        .filter(|l| !l.starts_with("# metrics_listen"))
        .map(|l| l.strip_prefix("# ").unwrap_or(l))
        .collect::<Vec<_>>()
        .join("\n");
    for text in [block, uncommented] {
        let file = allot::config::FileConfig::parse(std::path::Path::new("allot.toml"), &text)
            .unwrap_or_else(|e| panic!("{e}\n{text}"));
        let settings = file.settings(None, None, None, None);
        assert_eq!(settings.server, Limits::default(), "{text}");
        assert_eq!(settings.metrics_endpoint, Default::default(), "{text}");
    }
    let e = allot::config::FileConfig::parse(
        std::path::Path::new("allot.toml"),
        "[server]\nmax_expensive = 0\n",
    )
    .unwrap_err();
    assert!(
        e.to_string()
            .contains("`server.max_expensive` is 0: expected 1 to 64"),
        "{e}"
    );
}
