//! The dashboard, end to end: `allot serve` on a random port with the demo's
//! fourteen months, driven in headless Chromium through chromedriver
//! (WebDriver, `fantoccini`). Chromium runs when `chromedriver` is on the
//! `PATH` (or named by `ALLOT_TEST_CHROMEDRIVER`); with
//! `ALLOT_TEST_REQUIRE_BROWSER=1` (set by `.ci/run`, which installs Debian's
//! `chromium` and `chromium-driver`) a missing one fails the test instead of
//! skipping it. Each run saves screenshots of the main views under
//! `target/dashboard-screenshots/`.
//!
//! The page without JavaScript (its form and tables) is tested over plain
//! HTTP here too.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};

use allot::app::Application;

use crate::common;

/// The demo's teams; the payments token must see no other.
const OTHER_TEAMS: [&str; 4] = ["search", "data", "checkout", "platform"];

/// chromedriver, its port, and a session in headless Chromium.
struct Browser {
    driver: Child,
    client: Client,
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

fn chromedriver() -> Option<PathBuf> {
    if let Ok(path) = std::env::var("ALLOT_TEST_CHROMEDRIVER") {
        return Some(PathBuf::from(path));
    }
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join("chromedriver"))
            .find(|p| p.is_file())
    })
}

/// A browser `width` × `height` pixels, or `None` (the test is skipped)
/// where no chromedriver is installed and none is required.
async fn browser(width: u32, height: u32) -> Option<Browser> {
    let Some(path) = chromedriver() else {
        if std::env::var("ALLOT_TEST_REQUIRE_BROWSER").is_ok_and(|v| v == "1") {
            panic!("ALLOT_TEST_REQUIRE_BROWSER=1 but no chromedriver is on the PATH");
        }
        eprintln!("dashboard not tested in a browser: install chromium and chromium-driver");
        return None;
    };
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let mut driver = Command::new(&path)
        .arg(format!("--port={port}"))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start `{}`: {e}", path.display()));
    // It says so on its standard output once it listens.
    let stdout = driver.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    let ready = lines.by_ref().take(20).any(|l| {
        l.as_deref()
            .is_ok_and(|l| l.contains("started successfully"))
    });
    assert!(ready, "chromedriver did not start on port {port}");
    // Keep draining its output so that it never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    let mut options = json!({
        "args": [
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--lang=en-US",
            format!("--window-size={width},{height}"),
        ],
    });
    // Below 500 pixels a desktop window cannot shrink: emulate a phone.
    if width < 500 {
        options["mobileEmulation"] =
            json!({ "deviceMetrics": { "width": width, "height": height, "pixelRatio": 2 } });
    }
    if std::path::Path::new("/usr/bin/chromium").is_file() {
        options["binary"] = json!("/usr/bin/chromium");
    }
    let mut caps = serde_json::Map::new();
    caps.insert("goog:chromeOptions".into(), options);
    caps.insert("goog:loggingPrefs".into(), json!({ "browser": "ALL" }));
    let connector = hyper_util::client::legacy::connect::HttpConnector::new();
    let client = ClientBuilder::new(connector)
        .capabilities(caps)
        .connect(&format!("http://127.0.0.1:{port}"))
        .await
        .expect("a Chromium session");
    Some(Browser { driver, client })
}

/// chromedriver's browser log (`POST /session/{id}/se/log`), which
/// fantoccini has no call for.
#[derive(Debug)]
struct BrowserLog;

impl fantoccini::wd::WebDriverCompatibleCommand for BrowserLog {
    fn endpoint(
        &self,
        base: &url::Url,
        session: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base.join(&format!("session/{}/se/log", session.unwrap_or_default()))
    }

    fn method_and_body(&self, _: &url::Url) -> (http::Method, Option<String>) {
        (
            http::Method::POST,
            Some(r#"{"type":"browser"}"#.to_string()),
        )
    }
}

/// The console messages at level SEVERE (errors) since the last call.
async fn console_errors(client: &Client) -> Vec<String> {
    let log = client.issue_cmd(BrowserLog).await.expect("the browser log");
    log.as_array()
        .into_iter()
        .flatten()
        .filter(|entry| entry["level"] == "SEVERE")
        .map(|entry| entry["message"].as_str().unwrap_or_default().to_string())
        .collect()
}

async fn assert_no_console_errors(client: &Client) {
    let errors = console_errors(client).await;
    assert!(errors.is_empty(), "console errors: {errors:?}");
}

/// The demo served on a random port, with its rules written where the
/// group showback reads them; the database lives in `_dir`.
struct Demo {
    base: String,
    admin: String,
    payments: String,
    api: reqwest::Client,
    _dir: tempfile::TempDir,
}

async fn demo() -> Demo {
    let dir = tempfile::tempdir().unwrap();
    let mut settings = allot::demo::settings();
    settings.rules_dir = dir.path().join("rules");
    allot::demo::write_rules(&settings.rules_dir).unwrap();
    demo_with(dir, settings).await
}

/// The demo's data in `dir`, served with `settings` (and the demo's
/// metrics).
async fn demo_with(dir: tempfile::TempDir, mut settings: allot::config::Settings) -> Demo {
    let prepared = allot::demo::prepare(&dir.path().join("demo.db"))
        .await
        .expect("the demo prepares");
    settings.metrics = allot::demo::settings().metrics;
    let app = Application::build(prepared.store.clone(), "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap()
        .with_settings(settings);
    let base = format!("http://{}", app.local_addr().unwrap());
    let admin = common::token(&prepared.store, &app, "admin").await;
    let payments = common::token(&prepared.store, &app, "team:payments").await;
    let api = common::bearer_client(&admin);
    tokio::spawn(app.run_until(std::future::pending()));
    Demo {
        base,
        admin,
        payments,
        api,
        _dir: dir,
    }
}

impl Demo {
    async fn json(&self, path: &str) -> Value {
        let r = self
            .api
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{path}");
        r.json().await.unwrap()
    }
}

/// A browser `width` × `height` on the demo, signed in with the token
/// `token` picks; `None` where the browser tests are skipped.
async fn signed_in(
    width: u32,
    height: u32,
    token: impl Fn(&Demo) -> &String,
) -> Option<(Browser, Demo)> {
    let browser = browser(width, height).await?;
    let demo = demo().await;
    sign_in(&browser.client, &demo.base, token(&demo)).await;
    Some((browser, demo))
}

/// Signs in on the page with `token` and waits for the month view.
async fn sign_in(client: &Client, base: &str, token: &str) {
    client.goto(&format!("{base}/")).await.unwrap();
    let input = client
        .wait()
        .for_element(Locator::Id("token"))
        .await
        .unwrap();
    input.send_keys(token).await.unwrap();
    client
        .find(Locator::Css("#signin-form button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    drawn(client, "month").await;
}

/// Waits until `view` is drawn (the page marks it when its last request
/// has answered and its charts are made).
async fn drawn(client: &Client, view: &str) {
    let script = format!("return document.body.dataset.ready === '{view}'");
    client
        .wait()
        .for_element(Locator::Css(&format!("body[data-ready='{view}']")))
        .await
        .unwrap_or_else(|e| panic!("the {view} view was not drawn: {e}"));
    assert_eq!(client.execute(&script, vec![]).await.unwrap(), json!(true));
}

/// Forgets that a view was drawn, before a change that draws one again
/// (a view drawn before the change must not count).
async fn unmark(client: &Client) {
    client
        .execute("delete document.body.dataset.ready", vec![])
        .await
        .unwrap();
}

async fn go(client: &Client, base: &str, fragment: &str, view: &str) {
    unmark(client).await;
    client.goto(&format!("{base}/#/{fragment}")).await.unwrap();
    drawn(client, view).await;
}

async fn text(client: &Client, css: &str) -> String {
    client
        .find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("no `{css}` on the page: {e}"))
        .text()
        .await
        .unwrap()
}

/// The digits of a figure, whatever the locale's separators and symbol.
fn digits(s: &str) -> String {
    s.chars().filter(char::is_ascii_digit).collect()
}

/// How many charts are on the page, and how many of them have drawn
/// something (a canvas with pixels that are not transparent).
async fn charts_drawn(client: &Client) -> (u64, u64) {
    let counts = client
        .execute(
            "const canvases = [...document.querySelectorAll('canvas')];\
             const drawn = canvases.filter((c) => {\
               const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;\
               for (let i = 3; i < d.length; i += 4) if (d[i] !== 0) return true;\
               return false; });\
             return [canvases.length, drawn.length];",
            vec![],
        )
        .await
        .unwrap();
    (counts[0].as_u64().unwrap(), counts[1].as_u64().unwrap())
}

/// Every label the page's charts hold (Chart.js keeps its charts in
/// `Chart.instances`), and the page's visible text.
async fn everything_shown(client: &Client) -> String {
    let shown = client
        .execute(
            "const labels = Object.values(Chart.instances).flatMap((c) =>\
               [...c.data.labels, ...c.data.datasets.map((d) => d.label)]);\
             return document.body.innerText + '\\n' + labels.join('\\n');",
            vec![],
        )
        .await
        .unwrap();
    shown.as_str().unwrap().to_string()
}

async fn screenshot(client: &Client, name: &str) {
    let dir = common::root().join("target/dashboard-screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    let png = client.screenshot().await.unwrap();
    std::fs::write(dir.join(format!("{name}.png")), png).unwrap();
}

#[tokio::test]
async fn an_admin_sees_every_view_drawn_with_the_apis_figures_and_no_console_error() {
    let Some((browser, demo)) = signed_in(1280, 900, |d| &d.admin).await else {
        return;
    };
    let client = &browser.client;

    // The month overview: the latest month, totals equal to the API's.
    let api = demo.json("/api/v1/showback?month=2026-10").await;
    for total in api["totals"].as_array().unwrap() {
        let currency = total["currency"].as_str().unwrap();
        let shown = text(client, &format!("[data-total='{currency}']")).await;
        assert_eq!(
            digits(&shown),
            digits(total["total_cost"].as_str().unwrap()),
            "{currency}"
        );
    }
    assert!(text(client, "#view h1").await.contains("2026-10"));
    let unallocated = text(client, "[data-unallocated='USD']").await;
    assert!(unallocated.contains("172.22"), "{unallocated}");
    let (charts, drawn_charts) = charts_drawn(client).await;
    assert!(
        charts >= 2 && drawn_charts == charts,
        "{drawn_charts} of {charts} charts drawn"
    );
    screenshot(client, "month").await;

    // Another month: other figures, and the link says so.
    let september = demo.json("/api/v1/showback?month=2026-09").await;
    unmark(client).await;
    client
        .find(Locator::Css("#month option[value='2026-09']"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    drawn(client, "month").await;
    assert!(
        client
            .current_url()
            .await
            .unwrap()
            .as_str()
            .contains("month=2026-09")
    );
    let usd = |report: &Value| {
        report["totals"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["currency"] == "USD")
            .unwrap()["total_cost"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert_ne!(usd(&api), usd(&september));
    assert_eq!(
        digits(&text(client, "[data-total='USD']").await),
        digits(&usd(&september))
    );

    // By group and by environment.
    go(client, &demo.base, "month?month=2026-10&by=group", "month").await;
    assert!(text(client, "table").await.contains("group"));
    go(
        client,
        &demo.base,
        "month?month=2026-10&by=environment",
        "month",
    )
    .await;
    assert!(text(client, "table").await.contains("environment"));
    // Unallocated rows carry an environment here too; the card sums them.
    let unallocated = text(client, "[data-unallocated='USD']").await;
    assert!(unallocated.contains("172.22"), "{unallocated}");

    // A team: daily spend by service, charts drawn, its explanation.
    go(
        client,
        &demo.base,
        "team?month=2026-10&team=payments",
        "team",
    )
    .await;
    let (charts, drawn_charts) = charts_drawn(client).await;
    assert!(
        charts >= 1 && drawn_charts == charts,
        "{drawn_charts} of {charts} charts drawn"
    );
    let explained = everything_shown(client).await;
    assert!(
        explained.contains("shared-cluster"),
        "the explanation names the pool"
    );
    screenshot(client, "team").await;

    // The history's March spike: marked on its days, explained below.
    go(
        client,
        &demo.base,
        "team?month=2026-03&team=payments&from=2026-02-20&to=2026-03-10",
        "team",
    )
    .await;
    let marked = client
        .execute(
            "const chart = Object.values(Chart.instances).find((c) =>\
               c.data.datasets.some((d) => d.label === 'anomaly'));\
             if (!chart) return [];\
             const marks = chart.data.datasets.find((d) => d.label === 'anomaly').data;\
             return chart.data.labels.filter((_, i) => marks[i] !== null);",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(
        marked,
        json!(["2026-03-01", "2026-03-02", "2026-03-03"]),
        "the anomaly's days are marked"
    );
    let listed = text(client, ".anomaly-list li").await;
    assert!(
        listed.contains("2026-03-01 to 2026-03-03") && listed.contains("above the expected"),
        "{listed}"
    );
    screenshot(client, "team-anomaly").await;

    // Unit costs: the demo's year of data on the chart.
    go(client, &demo.base, "unit-costs?month=2026-10", "unit-costs").await;
    let points = client
        .execute(
            "return Object.values(Chart.instances).map((c) =>\
               c.data.datasets[0].data.filter((v) => v !== null).length);",
            vec![],
        )
        .await
        .unwrap();
    let points: Vec<u64> = points
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap())
        .collect();
    assert!(
        !points.is_empty() && points.iter().all(|n| *n >= 12),
        "{points:?}"
    );
    screenshot(client, "unit-costs").await;

    go(client, &demo.base, "imports", "imports").await;
    screenshot(client, "imports").await;

    assert_no_console_errors(client).await;
}

#[tokio::test]
async fn a_team_token_sees_only_its_team_in_every_view() {
    let Some((browser, demo)) = signed_in(1280, 900, |d| &d.payments).await else {
        return;
    };
    let client = &browser.client;
    for (fragment, view) in [
        ("month?month=2026-10", "month"),
        ("team?month=2026-10", "team"),
        ("unit-costs?month=2026-10", "unit-costs"),
        ("imports", "imports"),
    ] {
        go(client, &demo.base, fragment, view).await;
        let shown = everything_shown(client).await;
        assert!(shown.contains("payments"), "{view}: {shown}");
        for other in OTHER_TEAMS {
            let word = shown
                .split(|c: char| !c.is_alphanumeric() && c != '-')
                .any(|w| w == other);
            assert!(
                !word,
                "{view} shows team `{other}` to the payments token:\n{shown}"
            );
        }
        let source = client.source().await.unwrap();
        for other in ["search", "checkout", "platform"] {
            assert!(!source.contains(other), "{view}'s page holds `{other}`");
        }
    }
    assert_no_console_errors(client).await;
}

#[tokio::test]
async fn a_director_signed_in_through_single_sign_on_sees_the_groups_teams_only() {
    let Some(browser) = browser(1280, 900).await else {
        return;
    };
    let key = crate::sso::Key::rsa("dashboard-1");
    let idp = crate::sso::Provider::start(&[&key]).await;
    let rules = crate::access::rules_with_groups();
    let settings = crate::sso::settings(&idp.issuer, rules.path());
    let demo = demo_with(tempfile::tempdir().unwrap(), settings).await;
    let jwt = key.sign(&idp.claims(json!(["directors"])));
    let client = &browser.client;
    sign_in(client, &demo.base, &jwt).await;
    assert_eq!(text(client, "#who").await, "group commerce");
    go(client, &demo.base, "month?month=2026-10&by=group", "month").await;
    let table = text(client, "table").await;
    assert!(table.contains("commerce"), "{table}");
    go(client, &demo.base, "team?month=2026-10", "team").await;
    let teams = client
        .execute(
            "return [...document.querySelectorAll('#team option')].map((o) => o.value);",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(teams, json!(["checkout", "payments"]));
    for (fragment, view) in [
        ("month?month=2026-10", "month"),
        ("unit-costs?month=2026-10", "unit-costs"),
    ] {
        go(client, &demo.base, fragment, view).await;
        let shown = everything_shown(client).await;
        for other in ["search", "platform", "unallocated"] {
            assert!(
                !shown.contains(other),
                "{view} shows `{other}` to the director"
            );
        }
    }
    assert_no_console_errors(client).await;
}

#[tokio::test]
async fn on_a_phone_the_month_view_fits_its_width() {
    let Some((browser, _demo)) = signed_in(390, 844, |d| &d.admin).await else {
        return;
    };
    let client = &browser.client;
    let overflow = client
        .execute(
            "return document.documentElement.scrollWidth - document.documentElement.clientWidth;",
            vec![],
        )
        .await
        .unwrap();
    assert!(
        overflow.as_i64().unwrap() <= 0,
        "the page is {overflow} px too wide"
    );
    screenshot(client, "month-phone").await;
}

#[tokio::test]
async fn without_javascript_a_posted_token_gets_the_showback_as_tables() {
    let demo = demo().await;
    let http = reqwest::Client::new();
    let page = http.get(format!("{}/", demo.base)).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let csp = page.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        csp.contains("script-src 'self'") && csp.contains("default-src 'none'"),
        "{csp}"
    );
    let html = page.text().await.unwrap();
    assert!(html.contains("<noscript>") && html.contains("method=\"post\""));

    let tables = http
        .post(format!("{}/", demo.base))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("token={}&month=", demo.payments))
        .send()
        .await
        .unwrap();
    assert_eq!(tables.status(), 200);
    assert_eq!(tables.headers()["cache-control"], "no-store");
    let html = tables.text().await.unwrap();
    assert!(html.contains("Showback 2026-10"), "{html}");
    assert!(
        html.contains("<td>payments</td>") && html.contains("1072.80"),
        "{html}"
    );
    for other in OTHER_TEAMS {
        assert!(
            !html.contains(&format!("<td>{other}</td>")),
            "{other} in {html}"
        );
    }

    // What the page learns of the identity before drawing anything.
    let team = common::bearer_client(&demo.payments);
    let who: Value = team
        .get(format!("{}/api/v1/whoami", demo.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        (who["role"].as_str(), who["sees_all"].as_bool()),
        (Some("team:payments"), Some(false))
    );

    let refused = http
        .post(format!("{}/", demo.base))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("token=allot_nope&month=2026-10")
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 401);
    assert!(refused.headers().contains_key("www-authenticate"));
    assert!(refused.text().await.unwrap().contains("class=\"error\""));

    // Another site's page posting the form: refused before any token is
    // checked, so it cannot use up this address's failure allowance.
    for (name, value) in [
        ("sec-fetch-site", "cross-site".to_string()),
        ("origin", "https://elsewhere.example".to_string()),
    ] {
        let cross = http
            .post(format!("{}/", demo.base))
            .header("content-type", "application/x-www-form-urlencoded")
            .header(name, value)
            .body(format!("token={}", demo.payments))
            .send()
            .await
            .unwrap();
        assert_eq!(cross.status(), 403, "{name}");
    }
    let same = http
        .post(format!("{}/", demo.base))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("sec-fetch-site", "same-origin")
        .header("origin", demo.base.clone())
        .body(format!("token={}", demo.payments))
        .send()
        .await
        .unwrap();
    assert_eq!(same.status(), 200);
}
