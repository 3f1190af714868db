//! Labelled sets that allot did not generate (`eval/anomaly/generators/`):
//! their labels, the detector's input once the set was imported and
//! allocated (its daily amounts and known days, cached as `daily.csv` and
//! `known.csv` beside the export), and scoring a set from that input.
//!
//! `anomaly-eval-data` imports and allocates each export end to end and
//! leaves the cache; `anomaly-eval-daily` scores the cached input again
//! without the database, so a change to the detector is judged in seconds.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use allot_core::domain::{Currency, Owner, TeamId};
use allot_core::engine::anomaly::{AnomalySettings, DailyAmount, detect_anomalies};
use chrono::NaiveDate;
use rust_decimal::Decimal;

use crate::{InjectedSpike, LevelShift, Scenario, Score, score};

/// One labelled event of `labels.csv`
/// (`kind,team,service,first_day,last_day,percent`).
pub struct Label {
    pub kind: String,
    pub team: String,
    pub service: String,
    pub first: NaiveDate,
    pub last: Option<NaiveDate>,
    pub percent: Decimal,
}

fn day(s: &str) -> Result<NaiveDate, chrono::ParseError> {
    NaiveDate::parse_from_str(s, "%Y-%m-%d")
}

/// Reads `labels.csv`.
pub fn read_labels(path: &Path) -> Result<Vec<Label>, String> {
    let mut reader =
        csv::Reader::from_path(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut labels = Vec::new();
    for (i, record) in reader.records().enumerate() {
        let r = record.map_err(|e| format!("{}: {e}", path.display()))?;
        let bad = |what: &str| format!("{}:{}: bad {what}", path.display(), i + 2);
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

/// What the detector reads of one set: its daily amounts and known days.
pub struct DetectorInput {
    pub amounts: Vec<DailyAmount>,
    pub known: BTreeSet<NaiveDate>,
}

const DAILY_HEADER: [&str; 7] = [
    "day",
    "owner",
    "service",
    "account",
    "currency",
    "amount",
    "recurring",
];

/// Writes `input` as `daily.csv` and `known.csv` in `dir`.
pub fn write_input(dir: &Path, input: &DetectorInput) -> Result<(), String> {
    let err = |e: csv::Error| format!("{}: {e}", dir.display());
    let mut w = csv::Writer::from_path(dir.join("daily.csv")).map_err(err)?;
    w.write_record(DAILY_HEADER).map_err(err)?;
    for a in &input.amounts {
        w.write_record([
            a.day.to_string(),
            a.owner.name().to_string(),
            a.service.clone(),
            a.account.clone(),
            a.currency.to_string(),
            a.amount.to_string(),
            a.recurring.to_string(),
        ])
        .map_err(err)?;
    }
    w.flush().map_err(|e| e.to_string())?;
    let mut w = csv::Writer::from_path(dir.join("known.csv")).map_err(err)?;
    w.write_record(["day"]).map_err(err)?;
    for d in &input.known {
        w.write_record([d.to_string()]).map_err(err)?;
    }
    w.flush().map_err(|e| e.to_string())
}

/// Reads what [`write_input`] wrote.
pub fn read_input(dir: &Path) -> Result<DetectorInput, String> {
    let path = dir.join("daily.csv");
    let mut reader =
        csv::Reader::from_path(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut amounts = Vec::new();
    for (i, record) in reader.records().enumerate() {
        let r = record.map_err(|e| format!("{}: {e}", path.display()))?;
        let bad = |what: &str| format!("{}:{}: bad {what}", path.display(), i + 2);
        let field = |k: usize| r.get(k).unwrap_or("");
        amounts.push(DailyAmount {
            day: day(field(0)).map_err(|_| bad("day"))?,
            owner: match field(1) {
                "unallocated" => Owner::Unallocated,
                t => Owner::Team(TeamId::parse(t).map_err(|_| bad("owner"))?),
            },
            service: field(2).to_string(),
            account: field(3).to_string(),
            currency: Currency::parse(field(4)).map_err(|_| bad("currency"))?,
            amount: field(5).parse().map_err(|_| bad("amount"))?,
            recurring: field(6).parse().map_err(|_| bad("recurring"))?,
        });
    }
    let path = dir.join("known.csv");
    let mut reader =
        csv::Reader::from_path(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut known = BTreeSet::new();
    for (i, record) in reader.records().enumerate() {
        let r = record.map_err(|e| format!("{}: {e}", path.display()))?;
        known.insert(
            day(r.get(0).unwrap_or(""))
                .map_err(|_| format!("{}:{}: bad day", path.display(), i + 2))?,
        );
    }
    Ok(DetectorInput { amounts, known })
}

/// Judges `input` as `allot serve` would and scores it against `labels`.
pub fn score_set(
    input: &DetectorInput,
    labels: &[Label],
    settings: &AnomalySettings,
) -> Result<Score, String> {
    let first = *input.known.first().ok_or("no known day")?;
    let last = *input.known.last().ok_or("no known day")?;
    let found = detect_anomalies(&input.amounts, &input.known, first, last, settings);
    // The account of each team's service, for account-level matching.
    let mut accounts: BTreeMap<(&str, &str), &str> = BTreeMap::new();
    for a in &input.amounts {
        if let Owner::Team(t) = &a.owner {
            accounts
                .entry((t.as_str(), a.service.as_str()))
                .or_insert(a.account.as_str());
        }
    }
    let account = |l: &Label| {
        accounts
            .get(&(l.team.as_str(), l.service.as_str()))
            .map(|a| a.to_string())
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

/// The thresholds `--drops` and `--set=NAME=VALUE` arguments ask for (as
/// `[anomalies]` would set them), on top of the defaults.
pub fn settings_from_args(args: &[String]) -> Result<AnomalySettings, String> {
    let mut settings = AnomalySettings::default();
    settings.defaults.drops = args.iter().any(|a| a == "--drops");
    for pair in args.iter().filter_map(|a| a.strip_prefix("--set=")) {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        let value: Decimal = value
            .parse()
            .map_err(|_| format!("`--set={pair}`: expected NAME=NUMBER"))?;
        match name {
            "sensitivity" => settings.defaults.sensitivity = value,
            "min_impact" => settings.defaults.min_impact = value,
            "min_impact_percent" => settings.defaults.min_impact_percent = value,
            _ => return Err(format!("`--set={pair}`: unknown threshold `{name}`")),
        }
    }
    Ok(settings)
}

/// Prints the summary of `total` over `sets` sets (and with `verbose` each
/// false alert and missed spike); whether every target was met.
pub fn print_summary(total: &Score, sets: usize, verbose: bool) -> bool {
    println!();
    println!("{sets} sets");
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
    if verbose {
        for line in &total.false_alert_details {
            println!("false alert: {line}");
        }
        for line in &total.missed_details {
            println!("{line}");
        }
    }
    let target = Decimal::new(9, 1);
    let met =
        total.precision() >= target && total.recall() >= target && total.first_day_rate() >= target;
    println!("{}", if met { "targets met" } else { "targets missed" });
    met
}

/// The header of the per-set lines ([`Score::columns`]).
pub const SET_HEADER: &str =
    "set                       spikes  detected  first-day  false  adapt  precision  recall";

/// The set directories and thresholds of an evaluation's arguments
/// (`DIR... [--drops] [--verbose] [--set=NAME=VALUE]`), or what is wrong.
pub fn read_args(
    args: &[String],
    program: &str,
) -> Result<(Vec<std::path::PathBuf>, AnomalySettings), String> {
    let dirs: Vec<std::path::PathBuf> = args
        .iter()
        .filter(|a| !a.starts_with("--"))
        .map(std::path::PathBuf::from)
        .collect();
    if dirs.is_empty() {
        return Err(format!(
            "usage: {program} DIR... [--drops] [--verbose] [--set=NAME=VALUE]"
        ));
    }
    Ok((dirs, settings_from_args(args)?))
}
