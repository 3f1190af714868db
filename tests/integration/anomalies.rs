//! Anomaly detection end to end: FOCUS exports imported by a scheduled
//! source, allocated, detected, stored, alerted to a webhook receiver on
//! loopback (which fails once, so the alert is retried), never alerted twice
//! across restarts, then listed and acknowledged through the API.

use crate::common;

use std::sync::{Arc, Mutex};

use allot::alerts::{self, Webhook, WebhookFormat};
use allot::app::Application;
use allot::config::{Settings, Source, SourceKind};
use allot::domain::{CostBasis, Month};
use allot::engine::anomaly::AnomalySettings;
use allot::engine::anomaly::AnomalyStatus;
use allot::present;
use allot::service;
use allot::service::runs::{Outcome, run_once};
use allot::store::AnomalyFilter;
use allot::store::{RunStatus, Trigger};
use axum::http::StatusCode;
use chrono::{Days, NaiveDate};
use std::str::FromStr;

const HEADER: &str = "BilledCost,BillingAccountId,BillingCurrency,BillingPeriodEnd,BillingPeriodStart,ChargeCategory,\
ChargePeriodEnd,ChargePeriodStart,EffectiveCost,ListCost,ProviderName,ServiceName,Tags";

/// One FOCUS export of a month: daily EC2 for payments (1000, 600 at
/// weekends) and search (500), a month-long support fee each, and on the
/// `spikes` days payments EC2 at 2600.
fn export(month: Month, days: u32, spikes: &[NaiveDate]) -> String {
    let mut out = format!("{HEADER}\n");
    let (start, end) = (month.first_day(), month.end_exclusive());
    let mut row = |from: NaiveDate,
                   until: NaiveDate,
                   category: &str,
                   service: &str,
                   team: &str,
                   cost: String| {
        out.push_str(&format!(
            "{cost},111111111111,USD,{end} 00:00:00,{start} 00:00:00,{category},{until} 00:00:00,{from} 00:00:00,{cost},{cost},AWS,{service},\"{{\"\"team\"\": \"\"{team}\"\"}}\"\n"
        ));
    };
    for i in 0..days {
        let day = start + Days::new(i.into());
        let weekend = matches!(chrono::Datelike::weekday(&day).number_from_monday(), 6 | 7);
        let wiggle = [0, 7, -5, 3, -8, 4, -2, 6, -4][(i % 9) as usize];
        let pay = if spikes.contains(&day) {
            2600
        } else if weekend {
            600 + wiggle
        } else {
            1000 + wiggle
        };
        row(
            day,
            day + Days::new(1),
            "Usage",
            "AmazonEC2",
            "payments",
            format!("{pay}.00"),
        );
        row(
            day,
            day + Days::new(1),
            "Usage",
            "AmazonEC2",
            "search",
            format!("{}.50", 500 - wiggle),
        );
    }
    row(
        start,
        end,
        "Purchase",
        "AWSSupport",
        "payments",
        "3000.00".into(),
    );
    row(
        start,
        end,
        "Purchase",
        "AWSSupport",
        "search",
        "1500.00".into(),
    );
    out
}

/// A webhook receiver on loopback: answers 500 to the first `fail` requests,
/// then 200, and keeps every body.
async fn receiver(fail: usize) -> (String, Arc<Mutex<Vec<(StatusCode, serde_json::Value)>>>) {
    let seen: Arc<Mutex<Vec<(StatusCode, serde_json::Value)>>> = Arc::default();
    let log = seen.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |axum::Json(body): axum::Json<serde_json::Value>| {
            let log = log.clone();
            async move {
                let mut log = log.lock().unwrap();
                let status = if log.len() < fail {
                    StatusCode::INTERNAL_SERVER_ERROR
                } else {
                    StatusCode::OK
                };
                log.push((status, body));
                status
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, seen)
}

fn august() -> Month {
    Month::parse("2026-08").unwrap()
}

fn september() -> Month {
    Month::parse("2026-09").unwrap()
}

/// Writes rules giving every line to its `team` tag into `dir/rules`.
fn team_tag_rules(dir: &std::path::Path) -> std::path::PathBuf {
    let rules = dir.join("rules");
    std::fs::create_dir(&rules).unwrap();
    std::fs::write(
        rules.join("rules.toml"),
        "[[rule]]\nname = \"team-tag\"\nteam_from_tag = \"team\"\n",
    )
    .unwrap();
    rules
}

/// Imports each export (through `file`) and allocates its month.
async fn load(
    store: &allot::store::Store,
    rules: &std::path::Path,
    file: &std::path::Path,
    exports: &[String],
) {
    let rules = allot::rules::load_dir(rules).unwrap();
    for text in exports {
        std::fs::write(file, text).unwrap();
        let summary = allot::importers::focus::import(
            store,
            &[file.to_path_buf()],
            allot::importers::Progress::Hidden,
        )
        .await
        .unwrap();
        for month in summary.months {
            service::allocate_month(store, &rules, month, CostBasis::Effective)
                .await
                .unwrap();
        }
    }
}

fn settings(rules: &std::path::Path, export: &std::path::Path, hook: &str) -> (Settings, Source) {
    let source = Source {
        name: "focus".into(),
        kind: SourceKind::Focus,
        path: export.to_path_buf(),
        endpoint_url: None,
        group_by: vec![],
        schedule: cron::Schedule::from_str("0 0 3 * * *").unwrap(),
        retries: 0,
        retry_after: std::time::Duration::from_secs(1),
        pull: None,
    };
    let settings = Settings {
        database_url: String::new(),
        listen: "127.0.0.1:0".parse().unwrap(),
        cost_basis: CostBasis::Effective,
        rules_dir: rules.to_path_buf(),
        sources: vec![source.clone()],
        import_limits: allot::importers::Limits::default(),
        metrics: Default::default(),
        anomalies: AnomalySettings::default(),
        token_key_file: "allot.key".into(),
        oidc: None,
        server: Default::default(),
        metrics_endpoint: Default::default(),
        webhooks: vec![
            Webhook {
                name: "payments-slack".into(),
                url: hook.to_string(),
                format: WebhookFormat::Slack,
                teams: Some(["payments".to_string()].into()),
                accounts: false,
            },
            Webhook {
                name: "finops".into(),
                url: hook.to_string(),
                format: WebhookFormat::Generic,
                teams: None,
                accounts: true,
            },
        ],
    };
    (settings, source)
}

backend_tests! {
    async fn import_allocate_detect_alert_once_and_acknowledge(db) {
        let dir = tempfile::tempdir().unwrap();
        let rules_dir = team_tag_rules(dir.path());
        let (hook, seen) = receiver(1).await;
        let august = Month::parse("2026-08").unwrap();
        let september = Month::parse("2026-09").unwrap();
        let spike = NaiveDate::from_ymd_opt(2026, 9, 16).unwrap(); // a Wednesday
        let file = dir.path().join("export.csv");
        let (settings, source) = settings(&rules_dir, &file, &hook);
        let second = spike + Days::new(1);
        let telemetry = allot::telemetry::Telemetry::default();
        let run = |month: Month, days: u32, spikes: &[NaiveDate]| {
            std::fs::write(&file, export(month, days, spikes)).unwrap();
            run_once(&db.store, &allot::service::Caller::Operator, &settings, &source, Trigger::Schedule, &telemetry)
        };

        // August, then September up to the spike day: each run imports,
        // allocates, detects and alerts.
        let Outcome::Ran(r) = run(august, 31, &[]).await.unwrap() else { panic!("busy") };
        assert_eq!(r.status, RunStatus::Succeeded, "{r:?}");
        assert!(db.store.anomalies(&Default::default()).await.unwrap().is_empty(), "steady costs and month-long fees raise nothing");
        let Outcome::Ran(r) = run(september, 16, &[spike]).await.unwrap() else { panic!("busy") };
        assert_eq!(r.status, RunStatus::Succeeded, "{r:?}");

        // One anomaly: the service's and the account's fold into the team's.
        let list = db.store.anomalies(&Default::default()).await.unwrap();
        let labels: Vec<String> = list.iter().map(|a| a.anomaly.scope.label()).collect();
        assert_eq!(labels, vec!["payments"]);
        let team = list.iter().find(|a| a.anomaly.scope.label() == "payments").unwrap();
        assert_eq!((team.anomaly.first_day, team.anomaly.last_day), (spike, spike));
        assert_eq!(team.anomaly.actual, rust_decimal::Decimal::from(2600) + rust_decimal::Decimal::new(10000, 2));
        assert!(team.anomaly.impact > rust_decimal::Decimal::from(1400), "{team:?}");
        assert_eq!(team.anomaly.contributors[0].name, "AmazonEC2");

        // The run tried to deliver two alerts (payments to both webhooks);
        // the receiver failed the first.
        assert_eq!(seen.lock().unwrap().len(), 2);
        let later = chrono::Utc::now() + chrono::Duration::hours(1);
        let client = alerts::client();
        let done = allot::service::anomalies::deliver_due(&db.store, &settings.webhooks, &client, later).await.unwrap();
        assert_eq!((done.sent, done.retrying), (1, 0));
        {
            let seen = seen.lock().unwrap();
            assert_eq!(seen.len(), 3);
            assert_eq!(seen.iter().filter(|s| s.0 == StatusCode::OK).count(), 2);
            let slack = seen.iter().find(|s| s.1.get("text").is_some()).unwrap();
            let text = slack.1["text"].as_str().unwrap();
            assert!(text.contains("payments cost 2700.00 USD on 2026-09-16") && text.contains("service `AmazonEC2`"), "{text}");
            let generic = seen.iter().find(|s| s.1.get("event").is_some() && s.1["anomaly"]["scope"] == "team").unwrap();
            crate::common::contract::check("Anomaly", &generic.1["anomaly"]);
            assert_eq!(generic.1["anomaly"]["first_day"], "2026-09-16");
            assert_eq!(generic.1["anomaly"]["actual"], "2700.00");
        }
        for a in &list {
            let deliveries = db.store.notifications_of(a.id).await.unwrap();
            assert!(deliveries.iter().all(|d| d.1 == "sent"), "{deliveries:?}");
        }

        // A restart (a new connection) and the same data again: the
        // anomaly is the same one, and nothing is sent twice.
        let reopened = allot::store::Store::connect(&db.url).await.unwrap();
        let d = service::detect_months(&reopened, &settings.anomalies, &settings.webhooks, &[september]).await.unwrap().unwrap();
        assert_eq!((d.saved.new.len(), d.saved.updated), (0, 1), "{d:?}");
        let done = allot::service::anomalies::deliver_due(&reopened, &settings.webhooks, &client, later + chrono::Duration::hours(1)).await.unwrap();
        assert_eq!(done, alerts::Delivered::default());
        assert_eq!(seen.lock().unwrap().len(), 3);

        // The spike goes on a second day: still one anomaly, its impact grown,
        // and no new alert.
        let Outcome::Ran(r) = run(september, 17, &[spike, second]).await.unwrap() else { panic!("busy") };
        assert_eq!(r.status, RunStatus::Succeeded, "{r:?}");
        let again = db.store.anomalies(&Default::default()).await.unwrap();
        assert_eq!(again.len(), 1, "{again:?}");
        assert_eq!(again[0].id, team.id);
        assert_eq!((again[0].anomaly.first_day, again[0].anomaly.last_day), (spike, second));
        assert!(again[0].anomaly.impact > team.anomaly.impact + rust_decimal::Decimal::from(1400), "{again:?}");
        assert_eq!(seen.lock().unwrap().len(), 3);

        // The bill is restated without the spike: the anomaly is withdrawn
        // (kept, not listed by default); restated back, it reopens, with no
        // new alert either way.
        let Outcome::Ran(r) = run(september, 17, &[]).await.unwrap() else { panic!("busy") };
        assert_eq!(r.status, RunStatus::Succeeded, "{r:?}");
        assert!(db.store.anomalies(&Default::default()).await.unwrap().is_empty());
        let withdrawn = db.store.anomalies(&AnomalyFilter { status: Some(AnomalyStatus::Withdrawn), ..Default::default() }).await.unwrap();
        assert_eq!(withdrawn.iter().map(|a| a.id).collect::<Vec<_>>(), vec![team.id]);
        let Outcome::Ran(r) = run(september, 17, &[spike, second]).await.unwrap() else { panic!("busy") };
        assert_eq!(r.status, RunStatus::Succeeded, "{r:?}");
        let reopened = db.store.anomalies(&Default::default()).await.unwrap();
        assert_eq!((reopened.len(), reopened[0].id, reopened[0].status), (1, team.id, AnomalyStatus::Open));
        assert_eq!(seen.lock().unwrap().len(), 3);

        // The API lists the team's anomalies and acknowledges one.
        let app = Application::build(db.store.clone(), "127.0.0.1:0".parse().unwrap()).await.unwrap();
        let base = format!("http://{}", app.local_addr().unwrap());
        let http = common::admin_client(&db.store, &app).await;
        tokio::spawn(app.run_until(std::future::pending()));
        let body: serde_json::Value = http.get(format!("{base}/api/v1/anomalies"))
            .query(&[("team", "payments"), ("from", "2026-09-01"), ("to", "2026-09-30")])
            .send().await.unwrap().json().await.unwrap();
        crate::common::contract::check("Anomalies", &body);
        let listed = body["anomalies"].as_array().unwrap();
        assert_eq!(listed.len(), 1, "{body}");
        assert_eq!(listed[0]["status"], "open");
        let reply = http.post(format!("{base}/api/v1/anomalies/{}/ack", team.id))
            .json(&serde_json::json!({"note": "planned load test"}))
            .send().await.unwrap();
        assert_eq!(reply.status(), 200);
        let acked: serde_json::Value = reply.json().await.unwrap();
        crate::common::contract::check("Anomaly", &acked);
        assert_eq!((acked["status"].as_str(), acked["note"].as_str()), (Some("acknowledged"), Some("planned load test")));
        let open: serde_json::Value = http.get(format!("{base}/api/v1/anomalies"))
            .query(&[("team", "payments"), ("status", "open")])
            .send().await.unwrap().json().await.unwrap();
        assert_eq!(open["anomalies"].as_array().unwrap().len(), 0, "{open}");
        let csv = http.get(format!("{base}/api/v1/anomalies")).query(&[("format", "csv")]).send().await.unwrap().text().await.unwrap();
        assert!(csv.starts_with("id,status,scope,team,service,account,currency,direction,first_day,last_day,actual,expected,impact,score,contributors,note\r\n"), "{csv}");
        let missing = http.post(format!("{base}/api/v1/anomalies/999999/ack")).json(&serde_json::json!({})).send().await.unwrap();
        assert_eq!(missing.status(), 404);
        // Detection again keeps the acknowledgement.
        service::detect_months(&db.store, &settings.anomalies, &settings.webhooks, &[september]).await.unwrap();
        let kept = db.store.anomaly(team.id).await.unwrap().unwrap();
        assert_eq!(kept.ack_note, "planned load test");
    }
}

backend_tests! {
    async fn two_delivery_passes_at_once_send_each_alert_once(db) {
        let dir = tempfile::tempdir().unwrap();
        let rules_dir = team_tag_rules(dir.path());
        let (hook, seen) = receiver(0).await;
        let file = dir.path().join("export.csv");
        let (settings, _) = settings(&rules_dir, &file, &hook);
        let spike = NaiveDate::from_ymd_opt(2026, 9, 16).unwrap();
        load(&db.store, &rules_dir, &file, &[export(august(), 31, &[spike]), export(september(), 16, &[spike])]).await;
        let d = service::detect_months(&db.store, &settings.anomalies, &settings.webhooks, &[Month::parse("2026-09").unwrap()]).await.unwrap().unwrap();
        assert_eq!(d.saved.new.len(), 1, "{d:?}");
        let client = alerts::client();
        let now = chrono::Utc::now();
        // A pass claims both deliveries and dies before sending: while its
        // claim holds, nobody sends them.
        let pending = db.store.pending_notifications(now, 10).await.unwrap();
        assert_eq!(pending.len(), 2);
        for p in &pending {
            let until = now + chrono::Duration::minutes(2);
            assert!(db.store.claim_notification(p, until).await.unwrap().is_some());
            // What was read before the claim cannot be claimed again.
            assert!(db.store.claim_notification(p, until).await.unwrap().is_none());
        }
        assert_eq!(allot::service::anomalies::deliver_due(&db.store, &settings.webhooks, &client, now).await.unwrap(), alerts::Delivered::default());
        assert!(seen.lock().unwrap().is_empty());
        // Once it expires, two passes at once send each alert once.
        let later = now + chrono::Duration::hours(1);
        let (a, b) = tokio::join!(
            allot::service::anomalies::deliver_due(&db.store, &settings.webhooks, &client, later),
            allot::service::anomalies::deliver_due(&db.store, &settings.webhooks, &client, later),
        );
        let (a, b) = (a.unwrap(), b.unwrap());
        assert_eq!(a.sent + b.sent, 2, "{a:?} {b:?}");
        assert_eq!(seen.lock().unwrap().len(), 2);
        assert_eq!(allot::service::anomalies::deliver_due(&db.store, &settings.webhooks, &client, later + chrono::Duration::hours(1)).await.unwrap(), alerts::Delivered::default());
        assert_eq!(seen.lock().unwrap().len(), 2);
    }
}

backend_tests! {
    async fn only_complete_days_are_judged(db) {
        let dir = tempfile::tempdir().unwrap();
        let rules_dir = team_tag_rules(dir.path());
        let file = dir.path().join("export.csv");
        // The September export was taken three hours into 2026-09-16.
        let partial = export(september(), 16, &[])
            .lines()
            .map(|l| {
                let mut f: Vec<String> = l.split(',').map(str::to_string).collect();
                if f.len() > 9 && f[7] == "2026-09-16 00:00:00" && f[5] == "Usage" {
                    let part = (f[0].parse::<rust_decimal::Decimal>().unwrap() / rust_decimal::Decimal::from(8)).round_dp(2).to_string();
                    for i in [0, 8, 9] {
                        f[i] = part.clone();
                    }
                }
                f.join(",")
            })
            .collect::<Vec<_>>()
            .join("\n") + "\n";
        load(&db.store, &rules_dir, &file, &[export(august(), 31, &[]), partial]).await;
        let settings = AnomalySettings {
            defaults: allot::engine::anomaly::Thresholds { drops: true, ..Default::default() },
            ..Default::default()
        };
        let (from, to) = (NaiveDate::from_ymd_opt(2026, 9, 1).unwrap(), NaiveDate::from_ymd_opt(2026, 9, 30).unwrap());
        let partial = NaiveDate::from_ymd_opt(2026, 9, 16).unwrap();
        // On the day itself, its figures are partial: not judged.
        let d = service::detect_anomalies(&db.store, &settings, &[], from, to, partial).await.unwrap();
        assert_eq!(d.found, 0, "{d:?} {:#?}", db.store.anomalies(&Default::default()).await.unwrap().iter().map(present::anomaly_sentence).collect::<Vec<_>>());
        // Judged as if complete (the day is over), it is a drop.
        let d = service::detect_anomalies(&db.store, &settings, &[], from, to, partial + Days::new(1)).await.unwrap();
        assert!(d.found >= 1, "{d:?}");
        let list = db.store.anomalies(&Default::default()).await.unwrap();
        assert!(list.iter().any(|a| a.anomaly.first_day == partial && a.anomaly.direction == allot::engine::anomaly::Direction::Drop), "{list:?}");
    }
}

fn made(
    scope: allot::engine::anomaly::Scope,
    first: u32,
    last: u32,
) -> allot::engine::anomaly::Anomaly {
    let day = |d: u32| NaiveDate::from_ymd_opt(2026, 9, d).unwrap();
    let days: Vec<allot::engine::anomaly::AnomalyDay> = (first..=last)
        .map(|d| allot::engine::anomaly::AnomalyDay {
            day: day(d),
            actual: rust_decimal::Decimal::from(200),
            expected: rust_decimal::Decimal::from(100),
            score: rust_decimal::Decimal::from(9),
        })
        .collect();
    allot::engine::anomaly::Anomaly {
        scope,
        currency: allot::domain::Currency::parse("USD").unwrap(),
        direction: allot::engine::anomaly::Direction::Spike,
        first_day: day(first),
        last_day: day(last),
        actual: rust_decimal::Decimal::from(200 * days.len() as i64),
        expected: rust_decimal::Decimal::from(100 * days.len() as i64),
        impact: rust_decimal::Decimal::from(100 * days.len() as i64),
        score: rust_decimal::Decimal::from(9),
        days,
        contributors: vec![],
    }
}

backend_tests! {
    async fn stored_anomalies_are_matched_to_their_own_event(db) {
        use allot::domain::{Owner, TeamId};
        use allot::engine::anomaly::Scope;
        let team = || Owner::Team(TeamId::parse("t").unwrap());
        let service = |s: &str| Scope::TeamService(team(), s.to_string());
        let (from, to) = (NaiveDate::from_ymd_opt(2026, 9, 1).unwrap(), NaiveDate::from_ymd_opt(2026, 9, 30).unwrap());
        let save = |found: Vec<allot::engine::anomaly::Anomaly>| {
            let store = db.store.clone();
            async move {
                let now = chrono::Utc::now();
                store.save_anomalies(&found, from, to, CostBasis::Effective, now, now, |_| vec!["hook".to_string()]).await.unwrap().unwrap()
            }
        };
        // Service A spikes on the 10th: stored and alerted.
        let first = save(vec![made(service("a"), 10, 10)]).await;
        assert_eq!(first.new.len(), 1);
        let a_id = first.new[0];
        // Later, B spikes on the 12th-13th and the team fires with it; A on
        // the 10th is still its own anomaly. A keeps its row; the team
        // anomaly is new (B's event gets its alert), nothing is withdrawn.
        let second = save(vec![made(service("a"), 10, 10), made(Scope::Team(team()), 12, 13)]).await;
        assert_eq!((second.new.len(), second.updated, second.withdrawn), (1, 1, 0), "{second:?}");
        let stored_a = db.store.anomaly(a_id).await.unwrap().unwrap();
        assert_eq!(stored_a.anomaly.scope, service("a"));
        // When the team's anomaly grows back over A's day, it keeps its own
        // row and A's is withdrawn (kept): no new alert.
        let team_id = second.new[0];
        let third = save(vec![made(Scope::Team(team()), 10, 13)]).await;
        assert_eq!((third.new.len(), third.updated, third.withdrawn), (0, 1, 1), "{third:?}");
        let merged = db.store.anomaly(team_id).await.unwrap().unwrap();
        assert_eq!((merged.anomaly.first_day.to_string(), merged.status), ("2026-09-10".to_string(), AnomalyStatus::Open));
        assert_eq!(db.store.anomaly(a_id).await.unwrap().unwrap().status, AnomalyStatus::Withdrawn);
        // A team anomaly first seen on a service anomaly's days takes that
        // row over: the same event, no second alert.
        let c = save(vec![made(service("c"), 20, 20)]).await.new[0];
        let fourth = save(vec![made(Scope::Team(team()), 10, 13), made(Scope::Team(team()), 20, 21)]).await;
        assert_eq!((fourth.new.len(), fourth.withdrawn), (0, 0), "{fourth:?}");
        assert_eq!(db.store.anomaly(c).await.unwrap().unwrap().anomaly.scope, Scope::Team(team()));
        // A detection that read its data before the last save stores nothing.
        let stale = chrono::Utc::now() - chrono::Duration::hours(1);
        let result = db.store.save_anomalies(&[], from, to, CostBasis::Effective, stale, chrono::Utc::now(), |_| vec![]).await.unwrap();
        assert_eq!(result, None);
    }
}

backend_tests! {
    async fn a_detection_owed_is_done_by_the_next_run(db) {
        let dir = tempfile::tempdir().unwrap();
        let rules_dir = team_tag_rules(dir.path());
        let file = dir.path().join("export.csv");
        let spike = NaiveDate::from_ymd_opt(2026, 9, 16).unwrap();
        load(&db.store, &rules_dir, &file, &[export(august(), 31, &[spike]), export(september(), 16, &[spike])]).await;
        // September's detection failed after its import (it is still owed).
        let september = Month::parse("2026-09").unwrap();
        db.store.add_pending_detection(&[september]).await.unwrap();
        // The next run changes nothing, and still detects September.
        let d = service::detect_after_change(&db.store, &AnomalySettings::default(), &[], &[]).await.unwrap().unwrap();
        assert_eq!((d.from.to_string(), d.saved.new.len()), ("2026-09-01".to_string(), 1), "{d:?}");
        assert_eq!(db.store.pending_detection().await.unwrap(), vec![]);
        assert_eq!(service::detect_after_change(&db.store, &AnomalySettings::default(), &[], &[]).await.unwrap(), None);
    }
}
