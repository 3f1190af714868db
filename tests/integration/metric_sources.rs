//! The `prometheus` and `sql` metric sources against real servers: a
//! Prometheus started here on a loopback port over history backfilled with
//! `promtool tsdb create-blocks-from openmetrics`, and a product database
//! on the PostgreSQL that CI starts. Each source run stores one point per
//! day and scope, a second run changes nothing, and every way a query can
//! be wrong fails the run with a message naming it and stores nothing.
//!
//! Prometheus runs when `prometheus` and `promtool` are on the PATH;
//! `ALLOT_TEST_REQUIRE_PROMETHEUS=1` (set by `.ci/run`, which installs the
//! Debian package) makes their absence a failure.

use crate::common;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use allot::config::{FileConfig, Settings};
use allot::domain::{MetricPoint, Month};
use allot::service::runs::{Outcome, run_once};
use allot::store::{ImportRun, RunStatus, Store, Trigger};
use chrono::{Duration, NaiveTime, Utc};

/// Settings from an `allot.toml` text (sources and metrics).
fn settings(toml: &str) -> Settings {
    let file = FileConfig::parse(Path::new("allot.toml"), toml).expect("valid allot.toml");
    let mut s = file.settings(
        None,
        None,
        None,
        Some(common::root().join("allocation-rules")),
    );
    s.database_url = String::new();
    s
}

const METRICS: &str = r#"
[[metric]]
name = "orders"
unit = "order"
[[metric]]
name = "active-customers"
unit = "customer"
aggregation = "average"
"#;

async fn run(store: &Store, s: &Settings) -> ImportRun {
    match run_once(
        store,
        &allot::service::Caller::Operator,
        s,
        &s.sources[0],
        Trigger::Manual,
        &Default::default(),
    )
    .await
    .expect("the run is recorded")
    {
        Outcome::Ran(run) => run,
        Outcome::Busy => panic!("the source was busy"),
    }
}

/// Every stored point, as `date metric scope value` lines.
async fn stored(store: &Store) -> Vec<String> {
    let from = Month::parse("2000-01").unwrap();
    let to = Month::parse("2099-12").unwrap();
    let mut lines: Vec<String> = store
        .all_metric_points(from, to)
        .await
        .unwrap()
        .iter()
        .map(|p: &MetricPoint| format!("{} {} {} {}", p.date, p.metric, p.scope, p.value))
        .collect();
    lines.sort();
    lines
}

/// A Prometheus server on a loopback port, killed when dropped.
pub(crate) struct Prometheus {
    child: Child,
    pub(crate) url: String,
    _dir: tempfile::TempDir,
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn on_path(program: &str) -> bool {
    Command::new(program)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// The days of the backfilled history: the ten complete UTC days before
/// today, as (day, index).
fn history_days() -> Vec<(chrono::NaiveDate, i64)> {
    let today = Utc::now().date_naive();
    (0..10)
        .map(|i| (today - Duration::days(10 - i), i))
        .collect()
}

/// OpenMetrics text for the history: every 5 minutes from midnight (so a
/// sample falls on each day's boundary, which belongs to the day it
/// starts) each team's orders of those minutes, and the organisation's
/// active customers, which change at midnight; each day's figure is exact.
fn openmetrics() -> String {
    let mut families: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for (day, i) in history_days() {
        let midnight = day.and_time(NaiveTime::MIN).and_utc().timestamp();
        for slot in 0..288 {
            let t = midnight + slot * 300;
            let orders = families.entry("orders_per_5m").or_default();
            orders.push(format!(
                "orders_per_5m{{team=\"checkout\",instance=\"a\"}} {} {t}",
                i + 1
            ));
            orders.push(format!(
                "orders_per_5m{{team=\"search\",instance=\"b\"}} {} {t}",
                2 * (i + 1)
            ));
            families
                .entry("active_customers")
                .or_default()
                .push(format!("active_customers {} {t}", 1000 + i));
        }
    }
    let mut text = String::new();
    for (family, samples) in families {
        text.push_str(&format!("# TYPE {family} gauge\n"));
        for s in samples {
            text.push_str(&s);
            text.push('\n');
        }
    }
    text.push_str("# EOF\n");
    text
}

/// Backfills the history and starts Prometheus over it; `None` (the test
/// is skipped) when Prometheus is not installed, unless CI requires it.
fn prometheus() -> Option<Prometheus> {
    prometheus_with("scrape_configs: []\n", Some(&openmetrics()))
}

/// A Prometheus server configured by `config` (its `prometheus.yml`; `DIR`
/// in it is the server's own directory), with `history` (OpenMetrics)
/// backfilled, or `None` when Prometheus is not installed and CI does not
/// require it.
pub(crate) fn prometheus_with(config: &str, history: Option<&str>) -> Option<Prometheus> {
    if !on_path("prometheus") || !on_path("promtool") {
        if std::env::var("ALLOT_TEST_REQUIRE_PROMETHEUS").is_ok_and(|v| v == "1") {
            panic!(
                "ALLOT_TEST_REQUIRE_PROMETHEUS=1 but `prometheus` or `promtool` is not on the PATH"
            );
        }
        eprintln!("prometheus source not tested: install the Debian package `prometheus`");
        return None;
    }
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    if let Some(history) = history {
        let input = dir.path().join("history.om");
        std::fs::write(&input, history).unwrap();
        let backfill = Command::new("promtool")
            .args(["tsdb", "create-blocks-from", "openmetrics"])
            .arg(&input)
            .arg(&data)
            .output()
            .unwrap();
        assert!(
            backfill.status.success(),
            "promtool backfill failed: {}",
            String::from_utf8_lossy(&backfill.stderr)
        );
    }
    let config_file = dir.path().join("prometheus.yml");
    let config = config.replace("DIR", &common::path_str(dir.path()));
    std::fs::write(&config_file, config).unwrap();
    // A free port, chosen by the kernel and released for Prometheus.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = Command::new("prometheus")
        .arg(format!("--config.file={}", config_file.display()))
        .arg(format!("--storage.tsdb.path={}", data.display()))
        .arg("--storage.tsdb.retention.time=100y")
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Ready when it says so in its log (it logs to stderr).
    let stderr = child.stderr.take().unwrap();
    let (ready, wait) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut log = Vec::new();
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if line.contains("Server is ready to receive web requests") {
                let _ = ready.send(Ok(()));
            }
            log.push(line);
        }
        let _ = ready.send(Err(log.join("\n")));
    });
    match wait.recv_timeout(std::time::Duration::from_secs(120)) {
        Ok(Ok(())) => {}
        Ok(Err(log)) => panic!("prometheus exited before it was ready:\n{log}"),
        Err(e) => panic!("prometheus was not ready within two minutes: {e}"),
    }
    Some(Prometheus {
        child,
        url: format!("http://127.0.0.1:{port}"),
        _dir: dir,
    })
}

fn prometheus_settings(url: &str, queries: &str) -> Settings {
    settings(&format!(
        "{METRICS}\n[[source]]\nname = \"prom\"\nkind = \"prometheus\"\nurl = \"{url}\"\nschedule = \"0 30 0 * * *\"\nretries = 0\nlookback_days = 10\n{queries}"
    ))
}

const GOOD_QUERIES: &str = r#"
[[source.metric]]
metric = "orders"
query = "sum by (team) (sum_over_time(orders_per_5m[1d]))"
scope_label = "team"
[[source.metric]]
metric = "active-customers"
query = "avg_over_time(active_customers[1d])"
"#;

backend_tests! {
    async fn a_prometheus_source_stores_one_point_per_day_and_scope(db) {
        let Some(prom) = prometheus() else { return };
        let s = prometheus_settings(&prom.url, GOOD_QUERIES);
        let first = run(&db.store, &s).await;
        assert_eq!((first.status, first.rows_read), (RunStatus::Succeeded, 30), "{first:?}");
        let mut expected = Vec::new();
        for (day, i) in history_days() {
            expected.push(format!("{day} active-customers organisation {}", 1000 + i));
            expected.push(format!("{day} orders team:checkout {}", 288 * (i + 1)));
            expected.push(format!("{day} orders team:search {}", 576 * (i + 1)));
        }
        expected.sort();
        assert_eq!(stored(&db.store).await, expected);
        let mut months: Vec<Month> = history_days().iter().map(|(d, _)| Month::of(*d)).collect();
        months.dedup();
        assert_eq!(first.months, months, "the months whose unit costs changed");
        // The same history again changes nothing.
        let second = run(&db.store, &s).await;
        assert_eq!((second.status, second.rows_read, second.months.len()), (RunStatus::Succeeded, 30, 0), "{second:?}");
        assert_eq!(stored(&db.store).await, expected);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_prometheus_query_fails_the_run_and_stores_nothing() {
    let Some(prom) = prometheus() else { return };
    let db = common::sqlite().await;
    let cases = [
        (
            "[[source.metric]]\nmetric = \"orders\"\nquery = \"orders_per_5m\"\n",
            "prometheus source `prom`: metric `orders`: the series {__name__=\"orders_per_5m\", instance=\"a\", team=\"checkout\"} and {__name__=\"orders_per_5m\", instance=\"b\", team=\"search\"} are both the organisation: aggregate them with `sum(...)`, or set `scope_label`",
        ),
        (
            "[[source.metric]]\nmetric = \"orders\"\nquery = \"sum by (team) (orders_per_5m)\"\nscope_label = \"region\"\n",
            "has no label `region`: keep it in the query's `by (...)` or remove `scope_label`",
        ),
        (
            "[[source.metric]]\nmetric = \"orders\"\nquery = \"sum by (team, instance) (orders_per_5m)\"\nscope_label = \"instance\"\nscope_kind = \"environment\"\n",
            "", // instances `a` and `b` are environments: accepted, then refused below
        ),
        (
            "[[source.metric]]\nmetric = \"orders\"\nquery = \"vector(0) / 0\"\n",
            "the value is `NaN`: make the query return a number every day",
        ),
        (
            "[[source.metric]]\nmetric = \"orders\"\nquery = \"-1 * sum(avg_over_time(active_customers[1d]))\"\n",
            "value: expected a non-negative decimal number, found `-1000`",
        ),
        (
            "[[source.metric]]\nmetric = \"orders\"\nquery = \"sum(\"\n",
            "Prometheus refused the query (bad_data)",
        ),
    ];
    for (queries, message) in cases {
        let s = prometheus_settings(&prom.url, queries);
        let before = stored(&db.store).await;
        let r = run(&db.store, &s).await;
        if message.is_empty() {
            assert_eq!(r.status, RunStatus::Succeeded, "{r:?}");
            assert!(
                stored(&db.store)
                    .await
                    .iter()
                    .any(|p| p.contains("orders environment:a"))
            );
            continue;
        }
        assert_eq!(r.status, RunStatus::Failed, "{queries}: {r:?}");
        let error = r.error.clone().unwrap_or_default();
        assert!(
            error.contains(message),
            "{queries}:\n{error}\nlacks\n{message}"
        );
        assert_eq!(
            stored(&db.store).await,
            before,
            "{queries}: nothing is stored"
        );
    }
    // A server that does not answer.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let s = prometheus_settings(&format!("http://127.0.0.1:{port}"), GOOD_QUERIES);
    let r = run(&db.store, &s).await;
    assert_eq!(r.status, RunStatus::Failed);
    assert!(
        r.error.as_deref().unwrap_or("").contains(&format!(
            "metric `orders`: cannot reach `http://127.0.0.1:{port}/api/v1/query_range`"
        )),
        "{r:?}"
    );
}

/// A product database with orders and daily active customers on the test
/// PostgreSQL, and the URL of a role that may only read them; `None` when
/// there is no PostgreSQL (see `common::postgres`).
async fn product_database() -> Option<(common::TestDb, String)> {
    let shop = common::postgres().await?;
    let database = shop.url.rsplit('/').next().unwrap().to_string();
    let reader = format!("{database}_reader");
    for sql in [
        "CREATE TABLE shop_orders (id serial PRIMARY KEY, created_at timestamptz NOT NULL, team text NOT NULL)",
        "INSERT INTO shop_orders (created_at, team) SELECT timestamptz '2026-10-01 08:00:00+00' + (n % 3) * interval '1 day', CASE WHEN n % 2 = 0 THEN 'checkout' ELSE 'search' END FROM generate_series(1, 60) n",
        "CREATE TABLE shop_customers (day date PRIMARY KEY, active numeric(12, 1))",
        "INSERT INTO shop_customers VALUES ('2026-10-01', 1200.5), ('2026-10-02', 1300), ('2026-10-03', NULL::numeric + 1250)",
        &format!("CREATE ROLE {reader} LOGIN"),
        &format!("GRANT SELECT ON shop_orders, shop_customers TO {reader}"),
        // Even with the right to, it cannot advance a sequence: read-only.
        &format!("GRANT USAGE ON SEQUENCE shop_orders_id_seq TO {reader}"),
    ] {
        common::execute_raw(&shop.url, sql).await;
    }
    let url = shop.url.replacen("://allot@", &format!("://{reader}@"), 1);
    assert_ne!(
        url, shop.url,
        "the test database URL names the user `allot`"
    );
    Some((shop, url))
}

fn sql_settings(url_line: &str, queries: &str) -> Settings {
    settings(&format!(
        "{METRICS}\n[[source]]\nname = \"shop\"\nkind = \"sql\"\n{url_line}\nschedule = \"0 30 0 * * *\"\nretries = 0\n{queries}"
    ))
}

backend_tests! {
    async fn an_sql_source_stores_what_its_queries_return(db) {
        let Some((shop, reader)) = product_database().await else { return };
        let queries = r#"
[[source.metric]]
metric = "orders"
query = "SELECT created_at::date, count(*), 'team:' || team FROM shop_orders GROUP BY 1, 3"
[[source.metric]]
metric = "active-customers"
query = "SELECT day, active FROM shop_customers WHERE active IS NOT NULL UNION ALL SELECT date '2026-09-30', 1100"
"#;
        let s = sql_settings(&format!("url = \"{reader}\""), queries);
        let first = run(&db.store, &s).await;
        assert_eq!((first.status, first.rows_read), (RunStatus::Succeeded, 9), "{first:?}");
        assert_eq!(first.months, vec![Month::parse("2026-09").unwrap(), Month::parse("2026-10").unwrap()]);
        assert_eq!(stored(&db.store).await, vec![
            "2026-09-30 active-customers organisation 1100",
            "2026-10-01 active-customers organisation 1200.5",
            "2026-10-01 orders team:checkout 10",
            "2026-10-01 orders team:search 10",
            "2026-10-02 active-customers organisation 1300",
            "2026-10-02 orders team:checkout 10",
            "2026-10-02 orders team:search 10",
            "2026-10-03 orders team:checkout 10",
            "2026-10-03 orders team:search 10",
        ]);
        let second = run(&db.store, &s).await;
        assert_eq!((second.status, second.months.len()), (RunStatus::Succeeded, 0), "{second:?}");
        // New orders replace the day's count.
        common::execute_raw(&shop.url, "INSERT INTO shop_orders (created_at, team) VALUES ('2026-10-03 09:00:00+00', 'search')").await;
        let third = run(&db.store, &s).await;
        assert_eq!(third.months, vec![Month::parse("2026-10").unwrap()], "{third:?}");
        assert!(stored(&db.store).await.contains(&"2026-10-03 orders team:search 11".to_string()));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_sql_query_fails_the_run_and_stores_nothing() {
    let Some((shop, reader)) = product_database().await else {
        return;
    };
    let db = common::sqlite().await;
    let url = format!("url = \"{reader}\"");
    let one =
        |query: &str| format!("[[source.metric]]\nmetric = \"orders\"\nquery = \"{query}\"\n");
    let cases = [
        (
            url.clone(),
            one("DELETE FROM shop_orders RETURNING created_at::date, 1"),
            "sql source `shop`: metric `orders`: the query failed: error returned from database: syntax error at or near",
        ),
        (
            url.clone(),
            one(
                "WITH gone AS (DELETE FROM shop_orders RETURNING created_at) SELECT created_at::date, 1 FROM gone",
            ),
            "WITH clause containing a data-modifying statement must be at the top level",
        ),
        (
            url.clone(),
            one("SELECT date '2026-10-01', nextval('shop_orders_id_seq')"),
            "cannot execute nextval() in a read-only transaction",
        ),
        (
            url.clone(),
            one("SELECT date '2026-10-01', 1; SELECT date '2026-10-02', 2"),
            "syntax error at or near \";\"",
        ),
        (
            format!("url = \"{}\"", shop.url),
            one("SELECT date '2026-10-01', 1"),
            "the role `allot` is a superuser: connect as a role that can only read what the queries need",
        ),
        (
            url.clone(),
            one("SELECT date '2026-10-01', 1, NULL::text"),
            "metric `orders` row 1: `scope` is NULL: return `''` for the organisation",
        ),
        (
            url.clone(),
            one("SELECT date '2026-10-01', 1, repeat('x', 100000)"),
            "row 1, column 3: a cell longer than 4096 bytes",
        ),
        (
            url.clone(),
            one("SELECT date '2026-10-01', 12345678901234.123456789012345678::numeric"),
            "row 1, column 2: the number has more digits than the 28 allot keeps exactly",
        ),
        (
            url.clone(),
            one("SELECT day, active FROM shop_customers ORDER BY day"),
            "metric `orders` row 3: `value` is NULL: filter such rows out or use coalesce()",
        ),
        (
            url.clone(),
            one("SELECT day FROM shop_customers"),
            "the query returns the columns (day): expected `date, value` or `date, value, scope`",
        ),
        (
            url.clone(),
            one("SELECT day, active, 'team:Bad Name' FROM shop_customers WHERE active IS NOT NULL"),
            "metric `orders` row 1: scope: expected a scope",
        ),
        (
            url.clone(),
            one("SELECT created_at, 1 FROM shop_orders LIMIT 1"),
            "row 1: date: expected a day `YYYY-MM-DD` or a month `YYYY-MM`, found `2026-10-0",
        ),
        (
            url.clone(),
            one("SELECT day, to_jsonb(active) FROM shop_customers"),
            "column 2 (`to_jsonb`) has the type JSONB, which is not read: cast it to date, numeric or text",
        ),
        (
            url.clone(),
            one("SELECT date '2026-10-01', 1 UNION ALL SELECT date '2026-10-01', 2"),
            "metric `orders` row 2 gives 2 for 2026-10-01 orders organisation, which an earlier row or series gave as 1",
        ),
        (
            "url_env = \"ALLOT_TEST_UNSET_SHOP_URL\"".to_string(),
            one("SELECT date '2026-10-01', 1"),
            "the environment variable `ALLOT_TEST_UNSET_SHOP_URL` (the source's `url_env`) is not set",
        ),
        (
            "url = \"postgres://allot:secret@127.0.0.1:1/shop\"".to_string(),
            one("SELECT date '2026-10-01', 1"),
            "cannot connect to `postgres://allot:***@127.0.0.1:1/shop`",
        ),
    ];
    for (url_line, queries, message) in cases {
        let s = sql_settings(&url_line, &queries);
        let r = run(&db.store, &s).await;
        assert_eq!(r.status, RunStatus::Failed, "{queries}: {r:?}");
        let error = r.error.clone().unwrap_or_default();
        assert!(
            error.contains(message),
            "{queries}:\n{error}\nlacks\n{message}"
        );
        assert!(!error.contains("secret"), "{error}");
        assert!(
            stored(&db.store).await.is_empty(),
            "{queries}: nothing is stored"
        );
    }
}

#[test]
fn metric_sources_are_checked_when_the_configuration_is_read() {
    let bad = |source: &str| {
        FileConfig::parse(
            Path::new("allot.toml"),
            &format!("{METRICS}\n[[source]]\nname = \"s\"\nschedule = \"0 0 1 * * *\"\n{source}"),
        )
        .map(|_| ())
        .unwrap_err()
        .to_string()
    };
    let q = "[[source.metric]]\nmetric = \"orders\"\nquery = \"up\"\n";
    for (source, message) in [
        (format!("kind = \"prometheus\"\n{q}"), "source `s`: expected a `url` such as \"http://prometheus:9090\""),
        (format!("kind = \"prometheus\"\nurl = \"prometheus:9090\"\n{q}"), "expected `url` to be an http:// or https:// base URL"),
        ("kind = \"prometheus\"\nurl = \"http://p:9090\"\n".to_string(), "expected at least one `[[source.metric]]`"),
        (format!("kind = \"prometheus\"\nurl = \"http://p:9090\"\nlookback_days = 0\n{q}"), "`lookback_days` must be between 1 and 1100, found 0"),
        ("kind = \"prometheus\"\nurl = \"http://p:9090\"\n[[source.metric]]\nmetric = \"revenue\"\nquery = \"up\"\n".to_string(), "source `s`: metric `revenue` is not declared: declare it with `[[metric]]`"),
        ("kind = \"prometheus\"\nurl = \"http://p:9090\"\n[[source.metric]]\nmetric = \"orders\"\nquery = \"up\"\nscope_label = \"team\"\nscope_kind = \"squad\"\n".to_string(), "expected `scope_kind` `team`, `group` or `environment`, found `squad`"),
        (format!("kind = \"sql\"\nurl = \"mysql://shop\"\n{q}"), "expected `url` to be a PostgreSQL URL"),
        (format!("kind = \"sql\"\nurl = \"postgres://shop\"\nlookback_days = 3\n{q}"), "an `sql` source's query chooses its days"),
        ("kind = \"sql\"\nurl = \"postgres://shop\"\n[[source.metric]]\nmetric = \"orders\"\nquery = \"x\"\nscope_label = \"team\"\n".to_string(), "an `sql` query returns the scope as its third column"),
        (format!("kind = \"focus\"\npath = \"/x\"\n{q}"), "`url`, `url_env` and `[[source.metric]]` are for `prometheus` and `sql` sources"),
        (format!("kind = \"sql\"\npath = \"/x\"\nurl = \"postgres://shop\"\n{q}"), "a `sql` source has a `url`, not a `path`"),
        (format!("kind = \"prometheus\"\nurl = \"http://p:9090?tenant=a\"\n{q}"), "without a query string"),
        (format!("kind = \"prometheus\"\nurl = \"http://p:9090\"\nendpoint_url = \"http://s3\"\n{q}"), "`endpoint_url` is for S3 paths and Cost Explorer"),
        (format!("kind = \"sql\"\nurl = \"mysql://reader:hunter2@db/shop\"\n{q}"), "found `mysql://reader:***@db/shop`"),
    ] {
        let error = bad(&source);
        assert!(error.contains(message), "{source}:\n{error}\nlacks\n{message}");
    }
}
