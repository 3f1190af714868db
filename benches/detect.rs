//! Anomaly detection at scale: daily allocated amounts for many teams,
//! services and accounts (weekly pattern, noise, a few spikes), run through
//! `detect_anomalies`, timing series building, judging and explaining.
//!
//! ```text
//! cargo bench --bench detect                                 # 200 teams x 10 services x 3 accounts, 90 days
//! cargo bench --bench detect -- --teams 1000 --services 20 --days 120
//! ```

use std::collections::BTreeSet;
use std::time::Instant;

use allot::domain::{Currency, Owner, TeamId};
use allot::engine::anomaly::{AnomalySettings, DailyAmount, detect_anomalies};
use chrono::{Days, NaiveDate};
use rust_decimal::Decimal;

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

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (teams, services, accounts, days) = (
        arg(&args, "--teams", 200),
        arg(&args, "--services", 10),
        arg(&args, "--accounts", 3),
        arg(&args, "--days", 90),
    );
    let start = NaiveDate::from_ymd_opt(2026, 1, 1).expect("a valid date");
    let usd = Currency::parse("USD").expect("USD");
    let mut state: u64 = 42;
    let mut next = move || {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (state >> 33) % 1000
    };
    let mut amounts = Vec::new();
    for t in 0..teams {
        let owner = Owner::Team(TeamId::parse(&format!("team-{t}")).expect("a team name"));
        for s in 0..services {
            let account = format!("acct-{}", (t + s) % accounts);
            let level = 100 + ((t * 37 + s * 101) % 2000) as i64;
            for d in 0..days {
                let day = start + Days::new(d as u64);
                let weekend = matches!(chrono::Datelike::weekday(&day).number_from_monday(), 6 | 7);
                let base = if weekend { level * 7 / 10 } else { level };
                let noise = next() as i64 - 500; // +-5%
                let spike = if next() < 2 { base } else { 0 };
                amounts.push(DailyAmount {
                    day,
                    owner: owner.clone(),
                    service: format!("service-{s}"),
                    account: account.clone(),
                    currency: usd,
                    amount: Decimal::new(base * 100 + base * noise / 10 + spike * 100, 2),
                    recurring: Decimal::ZERO,
                });
            }
        }
    }
    let known: BTreeSet<NaiveDate> = (0..days).map(|d| start + Days::new(d as u64)).collect();
    let last = start + Days::new(days as u64 - 1);
    let from = last - Days::new(29);
    let t = Instant::now();
    let found = detect_anomalies(&amounts, &known, from, last, &AnomalySettings::default());
    let secs = t.elapsed().as_secs_f64();
    println!(
        "{teams} teams x {services} services over {accounts} accounts, {days} days: {} amounts, {} series",
        amounts.len(),
        teams + teams * services + accounts
    );
    println!(
        "detect (last 30 days): {} anomalies in {secs:.2} s",
        found.len()
    );
}
