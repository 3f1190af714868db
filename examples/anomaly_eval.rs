//! The anomaly detector's evaluation: generates labelled billing data for
//! several seeds, allocates it, runs the detector and prints precision,
//! recall, F1 and detection delay against the targets. Exits non-zero when a
//! target is missed.
//!
//! `cargo run --release --example anomaly-eval [-- --seeds N --days D --teams T --drops --verbose]`

use std::process::ExitCode;

use allot::engine::anomaly::AnomalySettings;
use allot_eval::{Score, TARGET_PERCENT, detect, rules, scenario, score};

fn arg(args: &[String], name: &str, default: usize) -> usize {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .map(|v| {
            v.parse()
                .unwrap_or_else(|_| panic!("`{name}` expects a number, found `{v}`"))
        })
        .unwrap_or(default)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let (seeds, days, teams) = (
        arg(&args, "--seeds", 10),
        arg(&args, "--days", 150),
        arg(&args, "--teams", 8),
    );
    let rules = rules();
    let drops = args.iter().any(|a| a == "--drops");
    let mut settings = AnomalySettings::default();
    settings.defaults.drops = drops;
    let mut total = Score::default();
    println!("seed  spikes  detected  first-day  false  adapt  precision  recall");
    // `--seed N`: that scenario alone (to look into one with --verbose).
    let only = arg(&args, "--seed", 0);
    for seed in (1..=seeds as u64).filter(|s| only == 0 || *s == only as u64) {
        let s = scenario(seed, days, teams);
        let sc = score(&s, &detect(&s, &rules, &settings));
        println!("{seed:>4}  {}", sc.columns());
        total.add(&sc);
    }
    println!();
    println!(
        "{seeds} scenarios of {days} days, {teams} teams, default thresholds{}",
        if drops { " with drops flagged" } else { "" }
    );
    println!(
        "spikes with impact >= {TARGET_PERCENT}% of the daily level: {}",
        total.spikes
    );
    println!(
        "  precision            {}   (target >= 0.9)",
        total.precision()
    );
    println!(
        "  recall               {}   (target >= 0.9)",
        total.recall()
    );
    println!("  F1                   {}", total.f1());
    println!(
        "  first-day detection  {}   (target >= 0.9)",
        total.first_day_rate()
    );
    println!("  median delay (days)  {}", total.median_delay());
    println!(
        "  hidden by an equal drop elsewhere in the team: {}/{} found",
        total.hidden_detected, total.hidden
    );
    println!(
        "alerts: {} true, {} false, {} within a level shift's adaptation window",
        total.true_alerts, total.false_alerts, total.adaptation_alerts
    );
    println!(
        "  false alerts on month starts (fees, tax): {}   (target 0)",
        total.month_start_alerts
    );
    println!(
        "  false alerts after a level shift adapted: {}   (target 0)",
        total.late_shift_alerts
    );
    println!(
        "smaller spikes (< {TARGET_PERCENT}%): {}/{} found",
        total.small_detected, total.small_spikes
    );
    println!(
        "billing-account anomalies: {} true, {} false",
        total.account_true, total.account_false
    );
    if drops {
        println!(
            "drop alerts: {} on the drops that hide spikes, {} false, {} within a downward level shift's adaptation window",
            total.drop_true, total.drop_alerts, total.drop_adaptation_alerts
        );
    }
    if args.iter().any(|a| a == "--verbose") {
        for line in &total.false_alert_details {
            println!("false alert: {line}");
        }
    }
    if total.meets_targets() {
        println!("targets met");
        ExitCode::SUCCESS
    } else {
        println!("targets missed");
        ExitCode::FAILURE
    }
}
