//! The detector's evaluation on labelled billing data that allot did not
//! generate: each directory holds a FOCUS export (`billing.csv`) and its
//! labels (`labels.csv`: `kind,team,service,first_day,last_day,percent`,
//! kind `spike` or `level_shift`), written by one of the independent
//! generators in `eval/anomaly/generators/` (or by hand from real data).
//!
//! End to end: the export is imported by the FOCUS importer into a fresh
//! SQLite database, every month is allocated by its `team` tag, and the
//! detector judges every day, as `allot serve` would after each import.
//! The anomalies are scored against the labels like `anomaly-eval` does.
//!
//! `cargo run --release --example anomaly-eval-data -- DIR... [--drops] [--verbose] [--set=sensitivity=4]`
//! (`eval/anomaly/run.sh` generates the sets and runs this on each generator.)

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use allot::domain::{CostBasis, Owner};
use allot::engine::anomaly::{self, AnomalySettings};
use allot::importers::{Progress, focus};
use allot::store::Store;
use allot_eval::{InjectedSpike, LevelShift, Scenario, Score, rules, score};
use chrono::NaiveDate;
use rust_decimal::Decimal;

/// One labelled event.
struct Label {
    kind: String,
    team: String,
    service: String,
    first: NaiveDate,
    last: Option<NaiveDate>,
    percent: Decimal,
}

fn read_labels(path: &Path) -> Result<Vec<Label>, String> {
    let mut reader =
        csv::Reader::from_path(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut labels = Vec::new();
    for (i, record) in reader.records().enumerate() {
        let r = record.map_err(|e| format!("{}: {e}", path.display()))?;
        let bad = |what: &str| format!("{}:{}: bad {what}", path.display(), i + 2);
        let day = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d");
        labels.push(Label {
            kind: r.get(0).unwrap_or("").to_string(),
            team: r.get(1).unwrap_or("").trim().to_ascii_lowercase(),
            service: r.get(2).unwrap_or("").to_string(),
            first: day(r.get(3).unwrap_or("")).map_err(|_| bad("first_day"))?,
            last: match r.get(4).unwrap_or("") {
                "" => None,
                s => Some(day(s).map_err(|_| bad("last_day"))?),
            },
            percent: r.get(5).unwrap_or("").parse().map_err(|_| bad("percent"))?,
        });
    }
    Ok(labels)
}

/// Imports, allocates and judges one labelled set; returns its score.
async fn evaluate(dir: &Path, settings: &AnomalySettings) -> Result<Score, String> {
    let labels = read_labels(&dir.join("labels.csv"))?;
    let tmp = tempfile::tempdir().map_err(|e| e.to_string())?;
    let url = format!("sqlite://{}", tmp.path().join("eval.db").display());
    let store = Store::connect(&url).await.map_err(|e| e.to_string())?;
    focus::import(&store, &[dir.join("billing.csv")], Progress::Hidden)
        .await
        .map_err(|e| e.to_string())?;
    let rules = rules();
    let months = store.months_with_data().await.map_err(|e| e.to_string())?;
    for month in &months {
        allot::service::allocate_month(&store, &rules, *month, CostBasis::Effective)
            .await
            .map_err(|e| e.to_string())?;
    }
    let first = months.first().ok_or("no data")?.first_day();
    let (rows, runs) = store.daily_rows(first).await.map_err(|e| e.to_string())?;
    let known_months: Vec<_> = runs.iter().map(|r| (r.0, r.2)).collect();
    let known = anomaly::known_days(&known_months);
    let last = *known.last().ok_or("no known day")?;
    let amounts = anomaly::daily_amounts(&rows);
    let found = anomaly::detect_anomalies(&amounts, &known, first, last, settings);
    // The account of each team's service, for account-level matching.
    let mut accounts: BTreeMap<(String, String), String> = BTreeMap::new();
    for r in &rows {
        if let Owner::Team(t) = &r.owner {
            accounts
                .entry((t.as_str().to_string(), r.service_name.clone()))
                .or_insert_with(|| r.account.clone());
        }
    }
    let account = |l: &Label| {
        accounts
            .get(&(l.team.clone(), l.service.clone()))
            .cloned()
            .unwrap_or_default()
    };
    let scenario = Scenario {
        start: first,
        days: (last - first).num_days() as usize + 1,
        lines: Vec::new(),
        spikes: labels
            .iter()
            .filter(|l| l.kind == "spike")
            .map(|l| InjectedSpike {
                team: l.team.clone(),
                service: l.service.clone(),
                account: account(l),
                first: l.first,
                last: l.last.unwrap_or(l.first),
                percent: l.percent,
                hidden: false,
                partner: None,
            })
            .collect(),
        shifts: labels
            .iter()
            .filter(|l| l.kind == "level_shift")
            .map(|l| LevelShift {
                team: l.team.clone(),
                service: l.service.clone(),
                account: account(l),
                day: l.first,
                percent: l.percent,
            })
            .collect(),
    };
    Ok(score(&scenario, &found))
}

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let dirs: Vec<PathBuf> = args
        .iter()
        .filter(|a| !a.starts_with("--"))
        .map(PathBuf::from)
        .collect();
    if dirs.is_empty() {
        eprintln!("usage: anomaly-eval-data DIR... [--drops] [--verbose]");
        return ExitCode::FAILURE;
    }
    let mut settings = AnomalySettings::default();
    settings.defaults.drops = args.iter().any(|a| a == "--drops");
    // `--set NAME=VALUE` tries other thresholds (as `[anomalies]` would set them).
    for pair in args.iter().filter_map(|a| a.strip_prefix("--set=")) {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        let value: Decimal = match value.parse() {
            Ok(v) => v,
            Err(_) => {
                eprintln!("`--set={pair}`: expected NAME=NUMBER");
                return ExitCode::FAILURE;
            }
        };
        match name {
            "sensitivity" => settings.defaults.sensitivity = value,
            "min_impact" => settings.defaults.min_impact = value,
            "min_impact_percent" => settings.defaults.min_impact_percent = value,
            _ => {
                eprintln!("`--set={pair}`: unknown threshold `{name}`");
                return ExitCode::FAILURE;
            }
        }
    }
    let mut total = Score::default();
    println!(
        "set                       spikes  detected  first-day  false  adapt  precision  recall"
    );
    for dir in &dirs {
        match evaluate(dir, &settings).await {
            Ok(sc) => {
                println!("{:<24}  {}", dir.display().to_string(), sc.columns());
                total.add(&sc);
            }
            Err(e) => {
                eprintln!("{}: {e}", dir.display());
                return ExitCode::FAILURE;
            }
        }
    }
    println!();
    println!("{} sets, default thresholds", dirs.len());
    println!(
        "  precision            {}   (target >= 0.9)",
        total.precision()
    );
    println!(
        "  recall               {}   (target >= 0.9)",
        total.recall()
    );
    println!(
        "  first-day detection  {}   (target >= 0.9)",
        total.first_day_rate()
    );
    println!("  median delay (days)  {}", total.median_delay());
    println!(
        "alerts: {} true, {} false, {} within a level shift's adaptation window; accounts {} true, {} false",
        total.true_alerts,
        total.false_alerts,
        total.adaptation_alerts,
        total.account_true,
        total.account_false
    );
    if args.iter().any(|a| a == "--verbose") {
        for line in &total.false_alert_details {
            println!("false alert: {line}");
        }
        for line in &total.missed_details {
            println!("{line}");
        }
    }
    let target = Decimal::new(9, 1);
    if total.precision() >= target && total.recall() >= target && total.first_day_rate() >= target {
        println!("targets met");
        ExitCode::SUCCESS
    } else {
        println!("targets missed");
        ExitCode::FAILURE
    }
}
