//! The anomaly detector's evaluation harness (test tooling, not part of the
//! shipped `allot`): generates labelled billing data
//! (several teams and services in two accounts, weekly seasonality, growth,
//! noise, month-long fees and tax, level shifts, and injected spikes of
//! varying size and length, some hidden at team level by an equal drop in
//! another service), runs it through the real allocator and detector, and
//! scores the anomalies against the labels. Deterministic for a seed; all
//! arithmetic is decimal. `cargo run --release --example anomaly-eval`
//! prints the scores (see `docs/anomalies.md`).

use std::collections::BTreeSet;

use chrono::{Datelike, Days, NaiveDate, TimeZone, Utc};
use rust_decimal::Decimal;

use allot_core::domain::sample;
use allot_core::domain::{ChargeCategory, CostBasis, CostLine, Month, Owner, StoredLine, TeamId};
use allot_core::engine::allocate;
use allot_core::engine::anomaly::{
    ADAPTATION_DAYS, Anomaly, AnomalySettings, Direction, Scope, daily_amounts, detect_anomalies,
    known_days, median,
};
use allot_core::rules::RuleSet;

pub mod labelled;

/// Spikes at least this large (impact as a percentage of the series' daily
/// level) are the ones the targets speak of.
pub const TARGET_PERCENT: i64 = 20;

/// A spike written into the data, with its ground truth.
#[derive(Clone, Debug)]
pub struct InjectedSpike {
    pub team: String,
    pub service: String,
    pub account: String,
    pub first: NaiveDate,
    pub last: NaiveDate,
    /// Impact per day as a percentage of the series' level.
    pub percent: Decimal,
    /// Offset by an equal drop in another service of the same team.
    pub hidden: bool,
    /// That other service (and its account), whose drop is real too.
    pub partner: Option<(String, String)>,
}

/// A sustained change of a series' level.
#[derive(Clone, Debug)]
pub struct LevelShift {
    pub team: String,
    pub service: String,
    pub account: String,
    pub day: NaiveDate,
    pub percent: Decimal,
}

/// Generated billing data and what was injected into it.
pub struct Scenario {
    pub start: NaiveDate,
    pub days: usize,
    pub lines: Vec<StoredLine>,
    pub spikes: Vec<InjectedSpike>,
    pub shifts: Vec<LevelShift>,
}

/// A small deterministic generator (SplitMix64).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E3779B97F4A7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58476D1CE4E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D049BB133111EB);
        z ^ (z >> 31)
    }

    /// Uniform in `[0, n)`.
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    /// Uniform in `[lo, hi)`, to 6 places.
    fn between(&mut self, lo: Decimal, hi: Decimal) -> Decimal {
        lo + (hi - lo) * Decimal::new(self.below(1_000_000) as i64, 6)
    }

    /// Approximately standard normal (the sum of 12 uniforms, less 6).
    fn normal(&mut self) -> Decimal {
        (0..12)
            .map(|_| Decimal::new(self.below(1_000_000) as i64, 6))
            .sum::<Decimal>()
            - Decimal::from(6)
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

fn dec(s: &str) -> Decimal {
    s.parse().expect("a literal decimal")
}

const SERVICES: [&str; 5] = [
    "AmazonEC2",
    "AmazonRDS",
    "AmazonS3",
    "AWSLambda",
    "AmazonDynamoDB",
];
/// The services of the monthly fees, charged for the whole month.
const FEE_SERVICES: [&str; 2] = ["AWSSupportBusiness", "Tax"];
const ACCOUNTS: [&str; 2] = ["111111111111", "222222222222"];

/// One generated series: a team's service in one account.
struct Spec {
    team: String,
    service: String,
    account: String,
    level: Decimal,
    weekend: Decimal,
    growth: Decimal,
    noise: Decimal,
    shift: Option<(usize, Decimal)>,
}

/// Generates `days` days of billing data from 2026-01-01 for `teams` teams.
pub fn scenario(seed: u64, days: usize, teams: usize) -> Scenario {
    let mut rng = Rng(seed);
    let start = NaiveDate::from_ymd_opt(2026, 1, 1).expect("a valid date");
    let mut specs = Vec::new();
    for t in 0..teams {
        let team = format!("team-{t}");
        let account = ACCOUNTS[t % ACCOUNTS.len()].to_string();
        let count = 2 + rng.below(2) as usize;
        let first = rng.below(SERVICES.len() as u64) as usize;
        for s in 0..count {
            let shift = rng.chance(25).then(|| {
                let day = 40 + rng.below((days as u64).saturating_sub(60).max(1)) as usize;
                let factor = if rng.chance(60) {
                    rng.between(dec("1.4"), dec("2.0"))
                } else {
                    rng.between(dec("0.6"), dec("0.75"))
                };
                (day, factor)
            });
            specs.push(Spec {
                team: team.clone(),
                service: SERVICES[(first + s) % SERVICES.len()].to_string(),
                account: account.clone(),
                level: rng.between(dec("150"), dec("3000")).round_dp(2),
                weekend: if rng.chance(70) {
                    rng.between(dec("0.5"), dec("0.9"))
                } else {
                    Decimal::ONE
                },
                growth: rng.between(Decimal::ZERO, dec("0.004")),
                noise: rng.between(dec("0.01"), dec("0.04")),
                shift,
            });
        }
    }
    // The deseasonalised level of every series on every day.
    let levels: Vec<Vec<Decimal>> = specs
        .iter()
        .map(|spec| {
            let mut trend = Decimal::ONE;
            (0..days)
                .map(|d| {
                    let shifted = match spec.shift {
                        Some((day, factor)) if d >= day => factor,
                        _ => Decimal::ONE,
                    };
                    let level = (spec.level * trend * shifted).round_dp(6);
                    trend = (trend * (Decimal::ONE + spec.growth)).round_dp(9);
                    level
                })
                .collect()
        })
        .collect();
    // Extra cost per series and day: spikes (and the drops that hide some).
    let mut extra: Vec<Vec<Decimal>> = vec![vec![Decimal::ZERO; days]; specs.len()];
    let mut busy: Vec<Vec<bool>> = vec![vec![false; days]; specs.len()];
    for (i, spec) in specs.iter().enumerate() {
        if let Some((day, _)) = spec.shift {
            for b in busy[i]
                .iter_mut()
                .take((day + 14).min(days))
                .skip(day.saturating_sub(7))
            {
                *b = true;
            }
        }
    }
    let mut spikes = Vec::new();
    for i in 0..specs.len() {
        for _ in 0..3 {
            let length = [1, 1, 1, 2, 2, 3, 4, 5][rng.below(8) as usize];
            let first = 14 + rng.below((days - 14 - length) as u64) as usize;
            let span = first.saturating_sub(7)..(first + length + 7).min(days);
            if busy[i][span.clone()].iter().any(|b| *b) {
                continue;
            }
            // Mostly 20% to 300% of the level; some smaller ones, reported apart.
            let percent = if rng.chance(15) {
                rng.between(dec("5"), dec("20"))
            } else {
                rng.between(dec("20"), dec("300"))
            }
            .round_dp(1);
            // Sometimes another service of the team drops by as much.
            let partner = (0..specs.len()).find(|&j| {
                j != i
                    && specs[j].team == specs[i].team
                    && !busy[j][span.clone()].iter().any(|b| *b)
                    && levels[j][first] * dec("0.5") > levels[i][first] * percent / dec("100")
            });
            // Kept to two days: a longer drop in the partner is a level the
            // detector adopts, and the partner's return is then a real change.
            let hidden = partner.is_some() && length <= 2 && rng.chance(35);
            for d in first..first + length {
                let impact = (levels[i][d] * percent / dec("100")).round_dp(2);
                extra[i][d] += impact;
                if hidden {
                    extra[partner.expect("hidden spikes have a partner")][d] -= impact;
                }
            }
            for b in &mut busy[i][span.clone()] {
                *b = true;
            }
            if let (true, Some(j)) = (hidden, partner) {
                for b in &mut busy[j][span] {
                    *b = true;
                }
            }
            spikes.push(InjectedSpike {
                team: specs[i].team.clone(),
                service: specs[i].service.clone(),
                account: specs[i].account.clone(),
                first: start + Days::new(first as u64),
                last: start + Days::new((first + length - 1) as u64),
                percent,
                hidden,
                partner: partner
                    .filter(|_| hidden)
                    .map(|j| (specs[j].service.clone(), specs[j].account.clone())),
            });
        }
    }
    let mut lines = Vec::new();
    for (i, spec) in specs.iter().enumerate() {
        for d in 0..days {
            let day = start + Days::new(d as u64);
            let weekly = match day.weekday().num_days_from_monday() {
                0 => dec("1.05"),
                4 => dec("0.95"),
                5 | 6 => spec.weekend,
                _ => Decimal::ONE,
            };
            let noise = Decimal::ONE + spec.noise * rng.normal();
            let value = (levels[i][d] * weekly * noise + extra[i][d])
                .max(Decimal::ZERO)
                .round_dp(2);
            lines.push(line(
                &spec.team,
                &spec.service,
                &spec.account,
                day,
                day + Days::new(1),
                ChargeCategory::Usage,
                value,
            ));
        }
    }
    // Each team's monthly support fee and tax: charged for the whole month.
    let team_names: BTreeSet<&String> = specs.iter().map(|s| &s.team).collect();
    let mut month = Month::of(start);
    while month.first_day() < start + Days::new(days as u64) {
        for team in &team_names {
            let base: Decimal = specs
                .iter()
                .filter(|s| &s.team == *team)
                .map(|s| s.level)
                .sum();
            let account = &specs
                .iter()
                .find(|s| &s.team == *team)
                .expect("a spec")
                .account;
            for (service, (category, factor)) in FEE_SERVICES.into_iter().zip([
                (ChargeCategory::Purchase, dec("4")),
                (ChargeCategory::Tax, dec("2.5")),
            ]) {
                lines.push(line(
                    team,
                    service,
                    account,
                    month.first_day(),
                    month.end_exclusive(),
                    category,
                    (base * factor).round_dp(2),
                ));
            }
        }
        month = month.next();
    }
    let shifts = specs
        .iter()
        .filter_map(|s| {
            s.shift.map(|(day, factor)| LevelShift {
                team: s.team.clone(),
                service: s.service.clone(),
                account: s.account.clone(),
                day: start + Days::new(day as u64),
                percent: ((factor - Decimal::ONE) * dec("100")).round_dp(1),
            })
        })
        .collect();
    Scenario {
        start,
        days,
        lines,
        spikes,
        shifts,
    }
}

fn line(
    team: &str,
    service: &str,
    account: &str,
    from: NaiveDate,
    until: NaiveDate,
    category: ChargeCategory,
    cost: Decimal,
) -> StoredLine {
    let at =
        |d: NaiveDate| Utc.from_utc_datetime(&d.and_hms_opt(0, 0, 0).expect("midnight exists"));
    sample::stored(
        CostLine {
            charge_period_end: at(until),
            billing_account_id: account.to_string(),
            service_name: Some(service.to_string()),
            charge_category: category,
            tags: sample::tags(&[("team", team)]),
            ..sample::line(from, cost)
        },
        1,
    )
}

/// Allocates every month of the scenario by its `team` tag and runs the
/// detector over all of it.
pub fn detect(scenario: &Scenario, rules: &RuleSet, settings: &AnomalySettings) -> Vec<Anomaly> {
    let last = scenario.start + Days::new(scenario.days as u64 - 1);
    let mut rows = Vec::new();
    let mut runs = Vec::new();
    let mut month = Month::of(scenario.start);
    while month <= Month::of(last) {
        let allocation = allocate(month, &scenario.lines, rules, CostBasis::Effective, &[])
            .expect("generated amounts are within the exact range");
        runs.push((month, allocation.data_through));
        rows.extend(allocation.rows);
        month = month.next();
    }
    let amounts = daily_amounts(&rows);
    let known = known_days(&runs);
    detect_anomalies(&amounts, &known, scenario.start, last, settings)
}

/// How the detector did on a scenario.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Score {
    /// Injected spikes of at least [`TARGET_PERCENT`].
    pub spikes: usize,
    pub detected: usize,
    pub detected_first_day: usize,
    /// Days from each detected spike's start to its first alerted day.
    pub delays: Vec<i64>,
    pub hidden: usize,
    pub hidden_detected: usize,
    /// Spikes below [`TARGET_PERCENT`]: not in the targets.
    pub small_spikes: usize,
    pub small_detected: usize,
    /// Team-facing anomalies (team and team-and-service scopes).
    pub true_alerts: usize,
    pub false_alerts: usize,
    /// Alerts within a level shift's adaptation window: expected, not counted.
    pub adaptation_alerts: usize,
    /// False alerts on the first days of a month that a fee moved.
    pub month_start_alerts: usize,
    /// False alerts on a shifted series within four weeks after its
    /// adaptation window.
    pub late_shift_alerts: usize,
    /// Billing-account anomalies matching a spike, and not.
    pub account_true: usize,
    pub account_false: usize,
    /// A line per false alert, for a closer look.
    pub false_alert_details: Vec<String>,
    /// A line per target spike missed or found late.
    pub missed_details: Vec<String>,
    /// Drop anomalies (when drops are flagged): not in precision, which is
    /// about spikes; those within a level shift's adaptation window apart.
    pub drop_alerts: usize,
    pub drop_adaptation_alerts: usize,
    /// Drop anomalies on the drops that hide spikes: real drops.
    pub drop_true: usize,
}

fn covers(scope: &Scope, team: &str, service: &str, account: &str) -> bool {
    let is_team = |o: &Owner| o.name() == team;
    match scope {
        Scope::Team(o) => is_team(o),
        Scope::TeamService(o, s) => is_team(o) && s == service,
        Scope::Account(a) => a == account,
    }
}

fn overlaps(a: &Anomaly, first: NaiveDate, last: NaiveDate) -> bool {
    a.first_day <= last && first <= a.last_day
}

/// Scores anomalies against the scenario's labels.
pub fn score(scenario: &Scenario, anomalies: &[Anomaly]) -> Score {
    let mut score = Score::default();
    let team_facing = |a: &&Anomaly| !matches!(a.scope, Scope::Account(_));
    for spike in &scenario.spikes {
        let matching: Vec<&Anomaly> = anomalies
            .iter()
            .filter(team_facing)
            .filter(|a| {
                covers(&a.scope, &spike.team, &spike.service, &spike.account)
                    && overlaps(a, spike.first, spike.last)
            })
            .collect();
        let delay = matching
            .iter()
            .flat_map(|a| &a.days)
            .map(|d| d.day)
            .filter(|d| *d >= spike.first && *d <= spike.last)
            .min()
            .map(|d| (d - spike.first).num_days());
        if spike.percent < Decimal::from(TARGET_PERCENT) {
            score.small_spikes += 1;
            score.small_detected += usize::from(delay.is_some());
            continue;
        }
        score.spikes += 1;
        if spike.hidden {
            score.hidden += 1;
            score.hidden_detected += usize::from(delay.is_some());
        }
        if let Some(delay) = delay {
            score.detected += 1;
            score.delays.push(delay);
            score.detected_first_day += usize::from(delay == 0);
        }
        if delay != Some(0) {
            score.missed_details.push(format!(
                "{} {}/{} {}..{} +{}%: {}",
                if delay.is_some() { "late" } else { "missed" },
                spike.team,
                spike.service,
                spike.first,
                spike.last,
                spike.percent,
                delay.map_or("never".to_string(), |d| format!("{d} days late"))
            ));
        }
    }
    for a in anomalies {
        if a.direction == Direction::Drop {
            let partner = scenario.spikes.iter().any(|s| {
                s.partner.as_ref().is_some_and(|(service, account)| {
                    covers(&a.scope, &s.team, service, account) && overlaps(a, s.first, s.last)
                })
            });
            if partner {
                score.drop_true += 1;
            } else if in_adaptation(scenario, a) {
                score.drop_adaptation_alerts += 1;
            } else {
                score.drop_alerts += 1;
                score.false_alert_details.push(format!(
                    "drop {} {}..{} actual {} expected {}",
                    a.scope.label(),
                    a.first_day,
                    a.last_day,
                    a.actual.round_dp(2),
                    a.expected.round_dp(2)
                ));
            }
            continue;
        }
        let matched = scenario.spikes.iter().any(|s| {
            covers(&a.scope, &s.team, &s.service, &s.account) && overlaps(a, s.first, s.last)
        });
        let account = matches!(a.scope, Scope::Account(_));
        if account {
            if matched {
                score.account_true += 1;
            } else if !in_adaptation(scenario, a) {
                score.account_false += 1;
            }
            continue;
        }
        if matched {
            score.true_alerts += 1;
        } else if in_adaptation(scenario, a) {
            score.adaptation_alerts += 1;
        } else {
            score.false_alerts += 1;
            score.false_alert_details.push(format!(
                "{} {}..{} actual {} expected {} score {}",
                a.scope.label(),
                a.first_day,
                a.last_day,
                a.actual.round_dp(2),
                a.expected.round_dp(2),
                a.score
            ));
            // Blamed on the month's fees when a fee service is what moved.
            let moved = a
                .scope
                .service()
                .or_else(|| a.contributors.first().map(|c| c.name.as_str()));
            if a.first_day.day() <= 2 && moved.is_some_and(|s| FEE_SERVICES.contains(&s)) {
                score.month_start_alerts += 1;
            }
            // Blamed on a level shift when the shifted series is what moved,
            // within four weeks of the shift.
            let after_shift = scenario.shifts.iter().find(|s| {
                covers(&a.scope, &s.team, &s.service, &s.account)
                    && moved == Some(s.service.as_str())
                    && a.last_day >= s.day
                    && a.first_day < s.day + Days::new(28)
            });
            if let Some(shift) = after_shift {
                score.late_shift_alerts += 1;
                if let Some(line) = score.false_alert_details.last_mut() {
                    line.push_str(&format!(
                        " (after the {}% level shift of {} on {})",
                        shift.percent.round_dp(0),
                        shift.service,
                        shift.day
                    ));
                }
            }
        }
    }
    score
}

/// Whether an anomaly is the alert on a level shift of a series it covers:
/// it reaches the shift's first day or later, and none of its days falls
/// after the adaptation window ([`ADAPTATION_DAYS`]).
fn in_adaptation(scenario: &Scenario, a: &Anomaly) -> bool {
    scenario.shifts.iter().any(|s| {
        let window_end = s.day + Days::new(ADAPTATION_DAYS as u64);
        covers(&a.scope, &s.team, &s.service, &s.account)
            && a.last_day >= s.day
            && a.last_day < window_end
    })
}

impl Score {
    /// The columns `spikes detected first-day false adapt precision recall`
    /// of one scored set, for the evaluation tables.
    pub fn columns(&self) -> String {
        format!(
            "{:>6}  {:>8}  {:>9}  {:>5}  {:>5}  {:>9}  {:>6}",
            self.spikes,
            self.detected,
            self.detected_first_day,
            self.false_alerts,
            self.adaptation_alerts,
            self.precision(),
            self.recall()
        )
    }

    pub fn add(&mut self, other: &Score) {
        self.spikes += other.spikes;
        self.detected += other.detected;
        self.detected_first_day += other.detected_first_day;
        self.delays.extend(&other.delays);
        self.hidden += other.hidden;
        self.hidden_detected += other.hidden_detected;
        self.small_spikes += other.small_spikes;
        self.small_detected += other.small_detected;
        self.true_alerts += other.true_alerts;
        self.false_alerts += other.false_alerts;
        self.adaptation_alerts += other.adaptation_alerts;
        self.month_start_alerts += other.month_start_alerts;
        self.late_shift_alerts += other.late_shift_alerts;
        self.account_true += other.account_true;
        self.account_false += other.account_false;
        self.false_alert_details
            .extend(other.false_alert_details.iter().cloned());
        self.missed_details
            .extend(other.missed_details.iter().cloned());
        self.drop_alerts += other.drop_alerts;
        self.drop_adaptation_alerts += other.drop_adaptation_alerts;
        self.drop_true += other.drop_true;
    }

    fn ratio(n: usize, d: usize) -> Decimal {
        if d == 0 {
            Decimal::ONE
        } else {
            (Decimal::from(n) / Decimal::from(d)).round_dp(3)
        }
    }

    pub fn precision(&self) -> Decimal {
        Self::ratio(self.true_alerts, self.true_alerts + self.false_alerts)
    }

    pub fn recall(&self) -> Decimal {
        Self::ratio(self.detected, self.spikes)
    }

    pub fn f1(&self) -> Decimal {
        let (p, r) = (self.precision(), self.recall());
        if p + r == Decimal::ZERO {
            Decimal::ZERO
        } else {
            (Decimal::TWO * p * r / (p + r)).round_dp(3)
        }
    }

    /// The share of target spikes alerted on their first day.
    pub fn first_day_rate(&self) -> Decimal {
        Self::ratio(self.detected_first_day, self.spikes)
    }

    pub fn median_delay(&self) -> Decimal {
        median(self.delays.iter().map(|d| Decimal::from(*d)).collect())
    }

    /// Whether the targets are met: precision and recall at least
    /// 0.9, at least 90% of spikes alerted on their first day, no alert on
    /// month-start fees or after a level shift's adaptation window.
    pub fn meets_targets(&self) -> bool {
        let target = dec("0.9");
        self.precision() >= target
            && self.recall() >= target
            && self.first_day_rate() >= target
            && self.month_start_alerts == 0
            && self.late_shift_alerts == 0
    }
}

/// The rules the scenarios are allocated with: every line by its `team` tag.
pub fn rules() -> RuleSet {
    allot_core::rules::check(&[(
        "eval.toml".into(),
        "[[rule]]\nname = \"team-tag\"\nteam_from_tag = \"team\"\n".to_string(),
    )])
    .expect("the evaluation rules are valid")
}

/// The team names of a scenario, for reports.
pub fn teams(scenario: &Scenario) -> BTreeSet<TeamId> {
    scenario
        .lines
        .iter()
        .filter_map(|l| l.line.tags.0.get("team"))
        .filter_map(|t| TeamId::parse(t).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scenarios_are_deterministic_and_labelled() {
        let a = scenario(7, 120, 4);
        let b = scenario(7, 120, 4);
        assert_eq!(a.lines, b.lines);
        assert!(!a.spikes.is_empty());
        assert!(a.spikes.iter().all(|s| s.first <= s.last));
    }

    #[test]
    fn the_detector_meets_its_targets_on_generated_data() {
        let rules = rules();
        let mut total = Score::default();
        for seed in 1..=3 {
            let s = scenario(seed, 120, 6);
            total.add(&score(&s, &detect(&s, &rules, &AnomalySettings::default())));
        }
        assert!(total.spikes >= 20, "{total:?}");
        assert!(total.meets_targets(), "{total:?}");
    }
}
