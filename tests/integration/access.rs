//! Access control at the API: every `/api/v1` endpoint needs a token, the
//! token's role decides what it may do, refusals say why without leaking
//! the token, and an address that keeps failing is held back. Tokens made
//! with `allot token create` work until `allot token revoke`.

use crate::common;

use std::process::Command;

use allot::app::Application;
use allot::service::tokens::TokenKey;
use serde_json::Value;

/// The demo bill, allocated, served on port 0; the app is returned unstarted
/// so that tests can make tokens for it first.
async fn demo_app(db: &common::TestDb) -> Application {
    common::allocated_demo(&db.store).await;
    let settings = allot::config::FileConfig::default().settings(
        None,
        None,
        None,
        Some(common::root().join("allocation-rules")),
    );
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

async fn get(client: &reqwest::Client, url: &str) -> (u16, Value, reqwest::header::HeaderMap) {
    let r = client.get(url).send().await.unwrap();
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    let body = r.json().await.unwrap_or(Value::Null);
    (status, body, headers)
}

backend_tests! {
    async fn every_api_endpoint_needs_a_valid_token(db) {
        let app = demo_app(&db).await;
        let admin = common::token(&db.store, &app, "admin").await;
        let revoked = common::token(&db.store, &app, "finance").await;
        let id = revoked.split('_').nth(1).unwrap().to_string();
        allot::service::tokens::revoke(&db.store, &allot::service::Caller::Operator, &id, chrono::Utc::now()).await.unwrap();
        // A token made under another key is refused: the key is the server's.
        let other = Application::build(db.store.clone(), "127.0.0.1:0".parse().unwrap()).await.unwrap();
        let foreign = common::token(&db.store, &other, "admin").await;
        let base = start(app);
        let url = format!("{base}/api/v1/showback?month=2026-10");
        let plain = reqwest::Client::new();
        let (status, body, headers) = get(&plain, &url).await;
        assert_eq!((status, body["error"]["code"].as_str()), (401, Some("unauthenticated")), "{body}");
        assert_eq!(headers["www-authenticate"], "Bearer realm=\"allot\"");
        assert!(body["error"]["message"].as_str().unwrap().contains("send `Authorization: Bearer TOKEN`"));
        let last = admin.chars().last().unwrap();
        let mistyped = format!("{}{}", &admin[..admin.len() - 1], if last == '0' { '1' } else { '0' });
        for (token, message) in [
            ("Basic YWRtaW46YWRtaW4=".to_string(), "is not `Bearer allot_...`"),
            ("Bearer allot_xyz".to_string(), "is not `Bearer allot_...`"),
            (format!("Bearer {mistyped}"), "the token is not valid"),
            (format!("Bearer {foreign}"), "the token is not valid"),
            (format!("Bearer {revoked}"), &format!("the token `{id}` was revoked")),
        ] {
            let r = plain.get(&url).header("Authorization", &token).send().await.unwrap();
            assert_eq!(r.status(), 401, "{token}");
            let body: Value = r.json().await.unwrap();
            let text = body["error"]["message"].as_str().unwrap();
            assert!(text.contains(message), "{token}: {text}");
            assert!(!text.contains(&token[token.len().saturating_sub(20)..]), "the answer repeats no secret: {text}");
        }
        // Health and the API's description need no token.
        assert_eq!(plain.get(format!("{base}/healthz")).send().await.unwrap().status(), 200);
        assert_eq!(plain.get(format!("{base}/api/v1/openapi.yaml")).send().await.unwrap().status(), 200);
        // The admin token reads; `bearer` is not case-sensitive.
        let r = plain.get(&url).header("Authorization", format!("bearer {admin}")).send().await.unwrap();
        assert_eq!(r.status(), 200);
    }

    async fn a_role_may_do_only_what_it_is_for(db) {
        let app = demo_app(&db).await;
        let finance = common::bearer_client(&common::token(&db.store, &app, "finance").await);
        let team = common::bearer_client(&common::token(&db.store, &app, "team:payments").await);
        let admin = common::admin_client(&db.store, &app).await;
        let base = start(app);
        let usage = serde_json::json!({"records": [{"date": "2026-10-01", "team": "payments", "metric": "requests", "quantity": "1"}]});
        for (client, status) in [(&finance, 403), (&team, 403), (&admin, 200)] {
            let r = client.post(format!("{base}/api/v1/usage")).json(&usage).send().await.unwrap();
            assert_eq!(r.status(), status);
            if status == 403 {
                let body: Value = r.json().await.unwrap();
                assert_eq!(body["error"]["code"], "forbidden");
                assert!(body["error"]["message"].as_str().unwrap().contains("may not record usage"), "{body}");
            }
        }
        for client in [&finance, &team] {
            let r = client.post(format!("{base}/api/v1/imports/bill/run")).send().await.unwrap();
            assert_eq!(r.status(), 403);
            // A preview is refused before its rules are checked: broken
            // rules get the same 403, not the checker's diagnostics.
            let broken = serde_json::json!({"files": {"a.toml": "[[rule]\nteam = "}});
            let r = client.post(format!("{base}/api/v1/rules/preview?month=2026-10")).json(&broken).send().await.unwrap();
            assert_eq!(r.status(), 403, "a preview by a role that may not preview");
            let body: Value = r.json().await.unwrap();
            assert_eq!(body["error"]["code"], "forbidden", "{body}");
        }
        let (status, _, _) = get(&finance, &format!("{base}/api/v1/showback?month=2026-10")).await;
        assert_eq!(status, 200, "finance reads everything");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_address_that_keeps_failing_is_held_back() {
    let db = common::sqlite().await;
    let app = demo_app(&db).await;
    let admin = common::admin_client(&db.store, &app).await;
    let base = start(app);
    let url = format!("{base}/api/v1/showback?month=2026-10");
    let wrong = common::bearer_client(&format!("allot_{}_{}", "0".repeat(12), "0".repeat(64)));
    for _ in 0..allot::http::MAX_FAILURES {
        assert_eq!(wrong.get(&url).send().await.unwrap().status(), 401);
    }
    let r = wrong.get(&url).send().await.unwrap();
    assert_eq!(r.status(), 429);
    let wait: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&wait), "{wait}");
    // The address is held back, whatever it sends, until the minute is over.
    assert_eq!(admin.get(&url).send().await.unwrap().status(), 429);
}

/// `allot` with the test's database and its working directory (where the
/// token key file is).
fn allot(dir: &std::path::Path, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_allot"))
        .args(args)
        .env(
            "ALLOT_DATABASE_URL",
            format!("sqlite://{}", dir.join("allot.db").display()),
        )
        .env_remove("ALLOT_CONFIG")
        .env_remove("ALLOT_TOKEN_KEY")
        .current_dir(dir)
        .output()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_from_the_cli_works_until_it_is_revoked() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("allot.toml"),
        format!(
            "[allocation]\nrules = \"{}\"\n",
            common::root().join("allocation-rules").display()
        ),
    )
    .unwrap();
    let out = allot(
        dir.path(),
        &[
            "token",
            "create",
            "--role",
            "team:payments",
            "--name",
            "payments ci",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let token = String::from_utf8(out.stdout).unwrap().trim().to_string();
    assert!(token.starts_with("allot_") && token.len() == 83, "{token}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("it is shown only now"));
    let key_file = dir.path().join("allot.key");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&key_file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "the key file is the owner's only");
    }
    let key = TokenKey::from_hex(&std::fs::read_to_string(&key_file).unwrap()).unwrap();
    // The store holds no secret.
    let store = allot::store::Store::connect(&format!(
        "sqlite://{}",
        dir.path().join("allot.db").display()
    ))
    .await
    .unwrap();
    let stored = store.tokens().await.unwrap();
    assert_eq!(stored.len(), 1);
    assert!(
        !token.contains(&stored[0].secret_hash) && !stored[0].secret_hash.contains(&token[19..])
    );
    let list = allot(dir.path(), &["token", "list"]);
    let list = String::from_utf8(list.stdout).unwrap();
    assert!(
        list.contains(&stored[0].id)
            && list.contains("team:payments")
            && list.contains("active")
            && list.contains("payments ci"),
        "{list}"
    );
    assert!(!list.contains(&token[19..]), "the list shows no secret");
    let app = Application::build(store.clone(), "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap()
        .with_token_key(key);
    let base = start(app);
    let client = common::bearer_client(&token);
    let url = format!("{base}/api/v1/metrics");
    assert_eq!(client.get(&url).send().await.unwrap().status(), 200);
    let revoked = allot(dir.path(), &["token", "revoke", &stored[0].id]);
    assert!(revoked.status.success());
    assert_eq!(client.get(&url).send().await.unwrap().status(), 401);
    let list = String::from_utf8(allot(dir.path(), &["token", "list"]).stdout).unwrap();
    assert!(list.contains("revoked"), "{list}");
    // Roles are checked when a token is made.
    for (role, message) in [
        ("team:nobody", "unknown team `nobody`"),
        ("group:nothing", "group"),
        ("root", "expected a role"),
    ] {
        let out = allot(dir.path(), &["token", "create", "--role", role]);
        assert!(!out.status.success(), "{role}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(message), "{role}: {err}");
    }
    let out = allot(
        dir.path(),
        &[
            "token",
            "create",
            "--role",
            "admin",
            "--expires",
            "2020-01-01",
        ],
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("is not in the future"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_token_is_refused_and_says_when_it_expired() {
    let db = common::sqlite().await;
    let app = demo_app(&db).await;
    let settings = allot::config::FileConfig::default().settings(
        None,
        None,
        None,
        Some(common::root().join("allocation-rules")),
    );
    let now = chrono::Utc::now();
    let created = allot::service::tokens::create(
        &db.store,
        &allot::service::Caller::Operator,
        &settings,
        app.token_key(),
        &allot::service::tokens::NewToken {
            role: allot::service::Role::Admin,
            name: "short-lived".into(),
            expires: Some(now + chrono::Duration::seconds(1)),
        },
        now,
    )
    .await
    .unwrap();
    // Checked as of a later time.
    let later = now + chrono::Duration::seconds(2);
    let e = allot::service::tokens::authenticate(
        &db.store,
        &settings,
        app.token_key(),
        None,
        Some(&format!("Bearer {}", created.token)),
        later,
    )
    .await
    .unwrap_err();
    assert!(
        e.to_string()
            .contains(&format!("the token `{}` expired on", created.record.id)),
        "{e}"
    );
    assert!(
        allot::service::tokens::authenticate(
            &db.store,
            &settings,
            app.token_key(),
            None,
            Some(&format!("Bearer {}", created.token)),
            now
        )
        .await
        .is_ok()
    );
}

/// The shipped rules plus `[groups]`: `commerce` is payments and checkout.
pub(crate) fn rules_with_groups() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for file in ["00-teams.toml", "10-ownership.toml"] {
        std::fs::copy(
            common::root().join("allocation-rules").join(file),
            dir.path().join(file),
        )
        .unwrap();
    }
    std::fs::write(
        dir.path().join("20-dimensions.toml"),
        "[groups]\ncommerce = [\"payments\", \"checkout\"]\n",
    )
    .unwrap();
    dir
}

/// Every team of the shipped rules but `except`.
fn other_teams(except: &[&str]) -> Vec<String> {
    common::shipped_rules()
        .declared_teams()
        .iter()
        .map(|t| t.to_string())
        .filter(|t| !except.contains(&t.as_str()))
        .collect()
}

async fn text(client: &reqwest::Client, url: &str) -> (u16, String) {
    let r = client.get(url).send().await.unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

backend_tests! {
    async fn a_team_sees_only_its_team_and_others_are_not_found(db) {
        let rules = rules_with_groups();
        let app = demo_app(&db).await;
        let mut settings = allot::config::FileConfig::parse(std::path::Path::new("allot.toml"), "[[metric]]\nname = \"orders\"\nunit = \"order\"\n")
            .unwrap()
            .settings(None, None, None, Some(rules.path().to_path_buf()));
        let point = |scope: &str| allot::service::metrics::PointInput { date: "2026-10".into(), metric: "orders".into(), value: "100".into(), scope: scope.into() };
        allot::service::metrics::record(&db.store, &allot::service::Caller::Operator, &settings.metrics, &[point(""), point("team:payments"), point("team:checkout"), point("group:commerce")]).await.unwrap();
        settings.database_url = String::new();
        let app = app.with_settings(settings.clone());
        let team = common::bearer_client(&common::token(&db.store, &app, "team:payments").await);
        let group = {
            let created = allot::service::tokens::create(&db.store, &allot::service::Caller::Operator, &settings, app.token_key(), &allot::service::tokens::NewToken { role: allot::service::Role::parse("group:commerce").unwrap(), name: "director".into(), expires: None }, chrono::Utc::now()).await.unwrap();
            common::bearer_client(&created.token)
        };
        let admin = common::admin_client(&db.store, &app).await;
        let base = start(app);
        let showback = format!("{base}/api/v1/showback?month=2026-10");
        // The team's rows are the admin's rows of that team, and the totals theirs.
        let (_, all, _) = get(&admin, &showback).await;
        let (status, mine, _) = get(&team, &showback).await;
        assert_eq!(status, 200);
        let payments: Vec<&Value> = all["rows"].as_array().unwrap().iter().filter(|r| r["team"] == "payments").collect();
        assert!(!payments.is_empty());
        assert_eq!(mine["rows"].as_array().unwrap().iter().collect::<Vec<_>>(), payments);
        for t in mine["totals"].as_array().unwrap_or(&vec![]) {
            let currency = t["currency"].as_str().unwrap();
            let sum: rust_decimal::Decimal = payments.iter().filter(|r| r["currency"] == currency).map(|r| r["total_cost"].as_str().unwrap().parse::<rust_decimal::Decimal>().unwrap()).sum();
            assert_eq!(t["total_cost"].as_str().unwrap().parse::<rust_decimal::Decimal>().unwrap(), sum, "{t}");
        }
        // No other team's name anywhere, in any report or format.
        let others = other_teams(&["payments"]);
        for path in [
            "/api/v1/showback?month=2026-10",
            "/api/v1/showback?month=2026-10&group_by=team,service",
            "/api/v1/showback?month=2026-10&group_by=team,service&format=csv",
            "/api/v1/showback?month=2026-10&group_by=team,environment",
            "/api/v1/showback?month=2026-10&group_by=group",
            "/api/v1/showback?month=2026-10&period=billing&format=csv",
            "/api/v1/teams/payments/costs?from=2026-10-01&to=2026-10-31",
            "/api/v1/teams/payments/costs?from=2026-10-01&to=2026-10-31&granularity=month&format=csv",
            "/api/v1/teams/payments/explain?month=2026-10",
            "/api/v1/anomalies",
            "/api/v1/imports",
        ] {
            let (status, body) = text(&team, &format!("{base}{path}")).await;
            assert_eq!(status, 200, "{path}: {body}");
            for other in &others {
                assert!(!body.contains(&format!("\"{other}\"")) && !body.contains(&format!("{other},")), "{path} names `{other}`: {body}");
            }
            assert!(!body.contains("unallocated"), "{path} shows the unallocated share: {body}");
        }
        // Another team is as unknown as a team that does not exist.
        let (_, nobody) = text(&team, &format!("{base}/api/v1/teams/nobody/costs?from=2026-10-01&to=2026-10-31")).await;
        for path in [
            "/api/v1/teams/checkout/costs?from=2026-10-01&to=2026-10-31",
            "/api/v1/teams/checkout/explain?month=2026-10",
            "/api/v1/teams/unallocated/explain?month=2026-10",
            "/api/v1/anomalies?team=checkout",
        ] {
            let (status, body) = text(&team, &format!("{base}{path}")).await;
            if path.starts_with("/api/v1/anomalies") {
                assert_eq!((status, body.as_str()), (200, "{\"anomalies\":[]}"), "{path}: lists are filtered");
                continue;
            }
            assert_eq!(status, 404, "{path}: {body}");
            let name = path.split('/').nth(4).unwrap();
            assert_eq!(body.replace(name, "nobody"), nobody, "{path}: the same answer as for no team");
        }
        let (_, imports, _) = get(&team, &format!("{base}/api/v1/imports")).await;
        assert_eq!(imports["runs"].as_array().map(Vec::len), Some(0), "{imports}");
        // Unit costs: its team's, and no one else's.
        let unit = |scope: &str| format!("{base}/api/v1/unit-costs?metric=orders&from=2026-10{scope}");
        let (status, _) = text(&team, &unit("&scope=team:payments")).await;
        assert_eq!(status, 200);
        let (_, nobody) = text(&team, &unit("&scope=team:nobody")).await;
        for path in ["/api/v1/unit-costs?metric=orders&from=2026-10&scope=team:checkout", "/api/v1/unit-costs/explain?metric=orders&month=2026-10&scope=team:checkout"] {
            let (status, body) = text(&team, &format!("{base}{path}")).await;
            assert_eq!(status, 404, "{path}: {body}");
            if path.contains("unit-costs?") {
                assert_eq!(body.replace("checkout", "nobody"), nobody);
            }
        }
        for scope in ["", "&scope=environment:production", "&scope=group:commerce"] {
            let (status, body) = text(&team, &unit(scope)).await;
            assert!(status == 403 || status == 404, "{scope}: {status} {body}");
            assert!(!body.contains("checkout"), "{body}");
        }
        let (status, summary) = text(&team, &format!("{base}/api/v1/unit-costs/summary?month=2026-10")).await;
        assert_eq!(status, 200, "{summary}");
        assert!(summary.contains("team:payments"), "{summary}");
        for other in &others {
            assert!(!summary.contains(&format!("team:{other}")), "the summary names `{other}`: {summary}");
        }
        assert!(!summary.contains("organisation") && !summary.contains("group:commerce"), "{summary}");
        let (status, _) = text(&group, &unit("&scope=group:commerce")).await;
        assert_eq!(status, 200, "a director sees the group's unit cost");
        // A director sees the group's teams, not the others.
        let (_, theirs, _) = get(&group, &showback).await;
        let teams: std::collections::BTreeSet<&str> = theirs["rows"].as_array().unwrap().iter().map(|r| r["team"].as_str().unwrap()).collect();
        assert_eq!(teams, ["checkout", "payments"].into());
        let (status, _) = text(&group, &format!("{base}/api/v1/teams/checkout/explain?month=2026-10")).await;
        assert_eq!(status, 200);
        let (status, _) = text(&group, &format!("{base}/api/v1/teams/search/explain?month=2026-10")).await;
        assert_eq!(status, 404);
        let (_, groups, _) = get(&group, &format!("{base}/api/v1/showback?month=2026-10&group_by=group")).await;
        let names: Vec<&str> = groups["rows"].as_array().unwrap().iter().map(|r| r["group"].as_str().unwrap()).collect();
        assert!(!names.is_empty() && names.iter().all(|g| *g == "commerce"), "{groups}");
    }
}

backend_tests! {
    async fn the_audit_log_says_who_did_what_from_where_for_admins_only(db) {
        let app = demo_app(&db).await;
        let admin_token = common::token(&db.store, &app, "admin").await;
        let admin_id = admin_token.split('_').nth(1).unwrap().to_string();
        let admin = common::bearer_client(&admin_token);
        let finance = common::bearer_client(&common::token(&db.store, &app, "finance").await);
        let base = start(app);
        let usage = serde_json::json!({"records": [{"date": "2026-10-01", "team": "payments", "metric": "requests", "quantity": "7"}]});
        assert_eq!(admin.post(format!("{base}/api/v1/usage")).json(&usage).send().await.unwrap().status(), 200);
        // A refused write is not done, so not logged as done.
        assert_eq!(finance.post(format!("{base}/api/v1/usage")).json(&usage).send().await.unwrap().status(), 403);
        let (status, body, _) = get(&finance, &format!("{base}/api/v1/audit")).await;
        assert_eq!((status, body["error"]["code"].as_str()), (403, Some("forbidden")));
        let (status, log, _) = get(&admin, &format!("{base}/api/v1/audit")).await;
        assert_eq!(status, 200, "{log}");
        crate::common::contract::check("AuditLog", &log);
        let entries = log["entries"].as_array().unwrap();
        let actions: Vec<&str> = entries.iter().map(|e| e["action"].as_str().unwrap()).collect();
        assert_eq!(actions, ["usage.record", "token.create", "token.create"], "newest first: {log}");
        let recorded = &entries[0];
        assert_eq!(recorded["actor"], format!("token:{admin_id} (test)"));
        assert_eq!((recorded["role"].as_str(), recorded["client"].as_str()), (Some("admin"), Some("127.0.0.1")));
        assert_eq!(recorded["details"]["records"], 1);
        assert_eq!(recorded["details"]["months_changed"], serde_json::json!(["2026-10"]));
        assert_eq!(entries[2]["actor"], "operator", "tokens made with the CLI's rights");
        // Filters and CSV.
        let (_, only, _) = get(&admin, &format!("{base}/api/v1/audit?action=token.create&from=2026-01-01")).await;
        assert_eq!(only["entries"].as_array().unwrap().len(), 2);
        let (_, none, _) = get(&admin, &format!("{base}/api/v1/audit?to=2020-01-01")).await;
        assert_eq!(none["entries"].as_array().unwrap().len(), 0);
        let (status, csv) = text(&admin, &format!("{base}/api/v1/audit?format=csv&limit=1")).await;
        assert_eq!(status, 200);
        let mut lines = csv.lines();
        assert_eq!(lines.next(), Some("id,at,actor,role,client,action,target,details"));
        assert!(lines.next().unwrap().contains(",usage.record,"), "{csv}");
        assert_eq!(lines.next(), None);
        let (status, _, _) = get(&admin, &format!("{base}/api/v1/audit?limit=0")).await;
        assert_eq!(status, 400);
    }
}
