//! `GET /metrics`: the server's counters in Prometheus's text format, for
//! `admin` and `monitoring` tokens on the API's address (the default), on
//! an address of its own without a token (`metrics = "open"`), or nowhere
//! (`metrics = "off"`). Every count is the application's own.

use crate::common;

use allot::app::Application;

/// The demo bill, allocated, with the demo export as source `bill`, and
/// `server` as the `[server]` table; the app is returned unstarted.
async fn app(db: &common::TestDb, server: &str) -> Application {
    common::allocated_demo(&db.store).await;
    let settings = common::demo_source_settings(server);
    Application::build(db.store.clone(), "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap()
        .with_settings(settings)
}

fn start(app: Application) -> String {
    let base = format!("http://{}", app.local_addr().unwrap());
    tokio::spawn(app.run_until(std::future::pending()));
    base
}

async fn scrape(client: &reqwest::Client, url: &str) -> (u16, String, String) {
    let r = client.get(url).send().await.unwrap();
    let status = r.status().as_u16();
    let kind = r
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    (status, kind, r.text().await.unwrap())
}

/// The value of the sample `line` starts (name and labels), if present.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| {
            l.strip_prefix(series)
                .and_then(|rest| rest.strip_prefix(' '))
        })
        .map(|v| v.parse().unwrap())
}

backend_tests! {
    async fn metrics_count_requests_runs_and_failures_for_monitoring_tokens(db) {
        let app = app(&db, "").await;
        let admin = common::bearer_client(&common::token(&db.store, &app, "admin").await);
        let monitoring = common::bearer_client(&common::token(&db.store, &app, "monitoring").await);
        let team = common::bearer_client(&common::token(&db.store, &app, "team:payments").await);
        let base = start(app);
        let url = format!("{base}/metrics");
        // Who may read them.
        let (status, _, body) = scrape(&reqwest::Client::new(), &url).await;
        assert_eq!(status, 401, "{body}");
        let (status, _, body) = scrape(&team, &url).await;
        assert_eq!(status, 403, "{body}");
        // The monitoring role reads telemetry and nothing else.
        let r = monitoring.get(format!("{base}/api/v1/showback?month=2026-10")).send().await.unwrap();
        assert_eq!(r.status(), 403);
        // What they count.
        for _ in 0..3 {
            let r = admin.get(format!("{base}/api/v1/showback?month=2026-10")).send().await.unwrap();
            assert_eq!(r.status(), 200);
        }
        let r = team.get(format!("{base}/api/v1/teams/search/costs?from=2026-10-01&to=2026-10-31")).send().await.unwrap();
        assert_eq!(r.status(), 404, "another team's costs are not found");
        let r = admin.get(format!("{base}/no/such/path?x=' OR 1=1")).send().await.unwrap();
        assert_eq!(r.status(), 404);
        let r = reqwest::Client::new().get(format!("{base}/api/v1/showback")).bearer_auth("allot_nope").send().await.unwrap();
        assert_eq!(r.status(), 401);
        let r = admin.post(format!("{base}/api/v1/imports/bill/run")).send().await.unwrap();
        assert_eq!(r.status(), 200);
        let (status, kind, text) = scrape(&monitoring, &url).await;
        assert_eq!(status, 200, "{text}");
        assert_eq!(kind, "text/plain; version=0.0.4; charset=utf-8");
        let expect = |series: &str, value: f64| {
            assert_eq!(sample(&text, series), Some(value), "`{series}` in:\n{text}");
        };
        expect(r#"allot_http_requests_total{method="GET",route="/api/v1/showback",status="200"}"#, 3.0);
        expect(r#"allot_http_requests_total{method="GET",route="/api/v1/showback",status="403"}"#, 1.0);
        expect(r#"allot_http_requests_total{method="GET",route="/api/v1/teams/{team}/costs",status="404"}"#, 1.0);
        expect(r#"allot_http_requests_total{method="GET",route="unmatched",status="404"}"#, 1.0);
        expect(r#"allot_http_request_duration_seconds_count{method="GET",route="/api/v1/showback"}"#, 5.0);
        expect(r#"allot_http_requests_total{method="GET",route="/api/v1/showback",status="401"}"#, 1.0);
        expect(r#"allot_auth_failures_total{reason="malformed"}"#, 1.0);
        expect(r#"allot_auth_failures_total{reason="missing"}"#, 1.0);
        expect(r#"allot_source_runs_total{source="bill",trigger="manual",outcome="succeeded"}"#, 1.0);
        // The export again: the same data, so no month changed and none was re-allocated.
        expect(r#"allot_source_rows_read_total{source="bill",trigger="manual",outcome="succeeded"}"#, 408.0);
        assert!(sample(&text, "allot_db_connections_max").unwrap() >= 1.0, "{text}");
        assert!(sample(&text, r#"allot_db_connections{state="idle"}"#).is_some(), "{text}");
        assert!(text.contains("allot_build_info{version=\""), "{text}");
        // Never a raw path, a query or a token in a label.
        assert!(!text.contains("no/such") && !text.contains("OR 1=1") && !text.contains("allot_nope"), "{text}");
        // The scrape itself is counted at the next.
        let (_, _, again) = scrape(&monitoring, &url).await;
        assert_eq!(sample(&again, r#"allot_http_requests_total{method="GET",route="/metrics",status="200"}"#), Some(1.0), "{again}");
    }

    async fn a_run_that_reallocates_counts_its_allocations(db) {
        // A fresh database: the run's import changes two months, which it allocates.
        let settings = common::demo_source_settings("");
        let app = Application::build(db.store.clone(), "127.0.0.1:0".parse().unwrap()).await.unwrap().with_settings(settings);
        let admin = common::bearer_client(&common::token(&db.store, &app, "admin").await);
        let base = start(app);
        let r = admin.post(format!("{base}/api/v1/imports/bill/run")).send().await.unwrap();
        assert_eq!(r.status(), 200);
        let (_, _, text) = scrape(&admin, &format!("{base}/metrics")).await;
        assert_eq!(sample(&text, "allot_allocation_duration_seconds_count"), Some(2.0), "October and the November invoice:\n{text}");
        assert_eq!(sample(&text, r#"allot_source_rows_read_total{source="bill",trigger="manual",outcome="succeeded"}"#), Some(408.0), "{text}");
        assert!(sample(&text, "allot_anomalies_raised_total").is_some(), "{text}");
    }

    async fn open_metrics_are_served_on_their_own_address_only(db) {
        let app = app(&db, "metrics = \"open\"\nmetrics_listen = \"127.0.0.1:0\"").await;
        let admin = common::bearer_client(&common::token(&db.store, &app, "admin").await);
        let at = app.metrics_addr().unwrap().expect("an address of its own");
        let base = start(app);
        let (status, kind, text) = scrape(&reqwest::Client::new(), &format!("http://{at}/metrics")).await;
        assert_eq!(status, 200, "no token needed there: {text}");
        assert!(kind.starts_with("text/plain; version=0.0.4"), "{kind}");
        assert!(text.contains("allot_anomalies_raised_total 0") && text.contains("allot_db_connections_max"), "{text}");
        let (status, _, _) = scrape(&reqwest::Client::new(), &format!("http://{at}/api/v1/showback?month=2026-10")).await;
        assert_eq!(status, 404, "only /metrics there");
        let (status, _, _) = scrape(&admin, &format!("{base}/metrics")).await;
        assert_eq!(status, 404, "and not on the API's address");
    }

    async fn metrics_can_be_turned_off(db) {
        let app = app(&db, "metrics = \"off\"").await;
        let admin = common::bearer_client(&common::token(&db.store, &app, "admin").await);
        assert!(app.metrics_addr().unwrap().is_none());
        let base = start(app);
        let (status, _, _) = scrape(&admin, &format!("{base}/metrics")).await;
        assert_eq!(status, 404);
    }
}

#[test]
fn metrics_settings_are_checked_when_read() {
    let parse = |server: &str| {
        allot::config::FileConfig::parse(
            std::path::Path::new("allot.toml"),
            &format!("[server]\n{server}\n"),
        )
        .map(|c| c.settings(None, None, None, None).metrics_endpoint)
        .map_err(|e| e.to_string())
    };
    use allot::config::MetricsEndpoint;
    assert_eq!(parse(""), Ok(MetricsEndpoint::Token));
    assert_eq!(parse("metrics = \"off\""), Ok(MetricsEndpoint::Off));
    assert_eq!(
        parse("metrics = \"open\"\nmetrics_listen = \"127.0.0.1:9464\""),
        Ok(MetricsEndpoint::Open("127.0.0.1:9464".parse().unwrap()))
    );
    let e = parse("metrics = \"open\"").unwrap_err();
    assert!(e.contains("without `server.metrics_listen`"), "{e}");
    let e = parse("metrics_listen = \"127.0.0.1:9464\"").unwrap_err();
    assert!(e.contains("set `metrics = \"open\"`"), "{e}");
    let e = parse("metrics = \"public\"").unwrap_err();
    assert!(
        e.contains("`server.metrics` is `public`: expected `token`"),
        "{e}"
    );
}

#[tokio::test]
async fn an_address_in_use_is_named() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let at = taken.local_addr().unwrap();
    let db = common::sqlite().await;
    let text = format!("[server]\nmetrics = \"open\"\nmetrics_listen = \"{at}\"\n");
    let settings = allot::config::FileConfig::parse(std::path::Path::new("allot.toml"), &text)
        .unwrap()
        .settings(None, None, None, None);
    let app = Application::build(db.store.clone(), "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap()
        .with_settings(settings);
    let e = app.metrics_addr().unwrap_err().to_string();
    assert!(
        e.contains(&format!("cannot listen on `{at}` for `/metrics`")),
        "{e}"
    );
    assert!(
        app.run_until(std::future::pending()).await.is_err(),
        "serving fails at once"
    );
}

/// `docs/operations.md`'s scrape configuration, run by a real Prometheus
/// against a server with a `monitoring` token: Prometheus reads the text
/// and stores the series.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_scrapes_with_the_documented_configuration() {
    let doc = std::fs::read_to_string(common::root().join("docs/operations.md")).unwrap();
    let scrape = doc
        .split("```yaml\n")
        .nth(1)
        .unwrap()
        .split("```")
        .next()
        .unwrap()
        .to_string();
    let block = doc
        .split("```toml\n")
        .find(|b| b.starts_with("[server]\nmetrics = \"open\""))
        .expect("the open block");
    let open = allot::config::FileConfig::parse(
        std::path::Path::new("allot.toml"),
        block.split("```").next().unwrap(),
    )
    .unwrap();
    assert!(matches!(
        open.settings(None, None, None, None).metrics_endpoint,
        allot::config::MetricsEndpoint::Open(_)
    ));

    let db = common::sqlite().await;
    let app = app(&db, "").await;
    let token = common::token(&db.store, &app, "monitoring").await;
    let at = app.local_addr().unwrap();
    let base = start(app);
    let secrets = tempfile::tempdir().unwrap();
    let token_file = secrets.path().join("allot-token");
    std::fs::write(&token_file, &token).unwrap();
    let config = format!(
        "global:\n  scrape_interval: 1s\n{}",
        scrape
            .replace(
                "/etc/prometheus/allot-token",
                &common::path_str(&token_file)
            )
            .replace("allot.internal:8080", &at.to_string())
    );
    let Some(prometheus) = crate::metric_sources::prometheus_with(&config, None) else {
        return;
    };
    let client = reqwest::Client::new();
    let query = |q: &'static str| {
        let client = client.clone();
        let url = format!("{}/api/v1/query", prometheus.url);
        async move {
            let answer: serde_json::Value = client
                .get(url)
                .query(&[("query", q)])
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            answer["data"]["result"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        }
    };
    // Prometheus scrapes every second; wait for its first scrape to be stored.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let up = loop {
        let up = query(r#"up{job="allot"}"#).await;
        if !up.is_empty() {
            break up;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "prometheus never scraped {base}/metrics"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    };
    assert_eq!(up[0]["value"][1], "1", "the scrape succeeded: {up:?}");
    let pool = query("allot_db_connections_max").await;
    assert_eq!(pool.len(), 1, "{pool:?}");
    let info = query("allot_build_info").await;
    assert_eq!(
        info[0]["metric"]["version"],
        env!("CARGO_PKG_VERSION"),
        "{info:?}"
    );
}
