//! Scope-level behaviour: series per team, service and account, one anomaly
//! per run of days, folding, contributors.

use super::*;

fn usd() -> Currency {
    Currency::parse("USD").unwrap()
}

fn team(name: &str) -> Owner {
    Owner::Team(TeamId::parse(name).unwrap())
}

fn start() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 3, 2).unwrap() // a Monday
}

/// `days` days of steady costs: payments runs EC2 (1000/day, 600 at
/// weekends) and S3 (400/day) in account `a1`; search runs EC2 (500/day) in
/// account `a2`. Deterministic small noise.
fn history(days: usize) -> Vec<DailyAmount> {
    let mut out = Vec::new();
    for i in 0..days {
        let day = start() + chrono::Days::new(i as u64);
        let wiggle = Decimal::from([0, 7, -5, 3, -8, 4, -2, 6, -4][i % 9]);
        let weekend = i % 7 >= 5;
        for (owner, service, account, base) in [
            (
                "payments",
                "AmazonEC2",
                "a1",
                if weekend { 600 } else { 1000 },
            ),
            ("payments", "AmazonS3", "a1", 400),
            ("search", "AmazonEC2", "a2", 500),
        ] {
            out.push(DailyAmount {
                day,
                owner: team(owner),
                service: service.into(),
                account: account.into(),
                currency: usd(),
                amount: Decimal::from(base) + wiggle,
                recurring: Decimal::ZERO,
            });
        }
    }
    out
}

fn known(days: usize) -> BTreeSet<NaiveDate> {
    (0..days)
        .map(|i| start() + chrono::Days::new(i as u64))
        .collect()
}

fn add(amounts: &mut [DailyAmount], day: usize, owner: &str, service: &str, delta: i64) {
    let day = start() + chrono::Days::new(day as u64);
    let a = amounts
        .iter_mut()
        .find(|a| a.day == day && a.owner == team(owner) && a.service == service)
        .unwrap();
    a.amount += Decimal::from(delta);
}

fn run(amounts: &[DailyAmount], days: usize) -> Vec<Anomaly> {
    let known = known(days);
    detect_anomalies(
        amounts,
        &known,
        *known.first().unwrap(),
        *known.last().unwrap(),
        &AnomalySettings::default(),
    )
}

#[test]
fn steady_costs_raise_nothing() {
    assert_eq!(run(&history(60), 60), vec![]);
}

#[test]
fn a_service_spike_is_one_team_anomaly_naming_the_service_and_account() {
    let mut amounts = history(60);
    add(&mut amounts, 44, "payments", "AmazonEC2", 900); // a Wednesday
    let found = run(&amounts, 60);
    let scopes: Vec<String> = found.iter().map(|a| a.scope.label()).collect();
    // The service's and the account's anomalies fold into the team's.
    assert_eq!(scopes, vec!["payments"]);
    let a = &found[0];
    assert_eq!(a.direction, Direction::Spike);
    assert_eq!(
        (a.first_day, a.last_day),
        (
            start() + chrono::Days::new(44),
            start() + chrono::Days::new(44)
        )
    );
    assert_eq!(a.impact, a.actual - a.expected);
    assert!(
        a.impact > Decimal::from(850) && a.impact < Decimal::from(950),
        "{a:?}"
    );
    assert_eq!(a.contributors[0].kind, "service");
    assert_eq!(a.contributors[0].name, "AmazonEC2");
    assert!(
        a.contributors
            .iter()
            .any(|c| c.kind == "account" && c.name == "a1")
    );
    assert!(
        !a.contributors.iter().any(|c| c.name == "AmazonS3"),
        "{:?}",
        a.contributors
    );
}

#[test]
fn an_account_anomaly_spread_over_teams_stands_on_its_own() {
    let mut amounts = history(60);
    // Two teams in one account, neither alerting on its own (their
    // thresholds are high), the account up by 26%.
    for a in amounts.iter_mut() {
        a.account = "shared".into();
    }
    add(&mut amounts, 44, "payments", "AmazonS3", 300);
    add(&mut amounts, 44, "search", "AmazonEC2", 200);
    let mut settings = AnomalySettings::default();
    for team in ["payments", "search"] {
        settings.teams.insert(
            TeamId::parse(team).unwrap(),
            Thresholds {
                min_impact: Decimal::from(10_000),
                ..Thresholds::default()
            },
        );
    }
    let known = known(60);
    let found = detect_anomalies(
        &amounts,
        &known,
        start(),
        start() + chrono::Days::new(59),
        &settings,
    );
    let scopes: Vec<String> = found.iter().map(|a| a.scope.label()).collect();
    assert!(scopes.contains(&"account shared".to_string()), "{scopes:?}");
    let account = found.iter().find(|a| a.scope.kind() == "account").unwrap();
    assert_eq!(account.contributors[0].kind, "team");
    assert_eq!(account.contributors[0].name, "payments");
}

#[test]
fn a_spike_hidden_by_an_equal_drop_in_the_same_team_is_still_found() {
    let mut amounts = history(60);
    add(&mut amounts, 44, "payments", "AmazonEC2", 300);
    add(&mut amounts, 44, "payments", "AmazonS3", -300);
    let found = run(&amounts, 60);
    let scopes: Vec<String> = found.iter().map(|a| a.scope.label()).collect();
    assert_eq!(scopes, vec!["payments / AmazonEC2"]);
}

#[test]
fn a_service_spike_that_its_team_shows_only_later_keeps_its_first_day() {
    // S3 doubles from Tuesday; its team's total (1,400 a weekday) moves by
    // enough only once the rise grows on Thursday.
    let mut amounts = history(60);
    for (day, delta) in [(43, 150), (44, 150), (45, 400), (46, 400)] {
        add(&mut amounts, day, "payments", "AmazonS3", delta);
    }
    let found: Vec<Anomaly> = run(&amounts, 60)
        .into_iter()
        .filter(|a| a.scope.owner() == Some(&team("payments")))
        .collect();
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].scope.label(), "payments / AmazonS3");
    assert_eq!(
        (found[0].first_day, found[0].last_day),
        (
            start() + chrono::Days::new(43),
            start() + chrono::Days::new(46)
        )
    );
}

#[test]
fn a_spike_lasting_several_days_is_one_anomaly_whose_impact_accumulates() {
    let mut amounts = history(60);
    for day in 43..46 {
        add(&mut amounts, day, "search", "AmazonEC2", 400);
    }
    let found: Vec<Anomaly> = run(&amounts, 60)
        .into_iter()
        .filter(|a| a.scope == Scope::Team(team("search")))
        .collect();
    assert_eq!(found.len(), 1, "{found:?}");
    let a = &found[0];
    assert_eq!(a.days.len(), 3);
    assert_eq!(
        a.impact,
        a.days
            .iter()
            .map(|d| d.actual - d.expected)
            .sum::<Decimal>()
    );
    assert!(a.impact > Decimal::from(1100), "{a:?}");
}

#[test]
fn only_anomalies_touching_the_window_are_returned_and_keys_are_stable() {
    let mut amounts = history(60);
    add(&mut amounts, 30, "search", "AmazonEC2", 800);
    add(&mut amounts, 50, "search", "AmazonEC2", 800);
    let known = known(60);
    let window = |from: u64, to: u64| {
        detect_anomalies(
            &amounts,
            &known,
            start() + chrono::Days::new(from),
            start() + chrono::Days::new(to),
            &AnomalySettings::default(),
        )
        .into_iter()
        .filter(|a| a.scope.kind() == "team")
        .map(|a| a.key())
        .collect::<Vec<_>>()
    };
    assert_eq!(window(45, 59), vec!["team|search|||USD|spike|2026-04-21"]);
    assert_eq!(window(0, 59).len(), 2);
}

#[test]
fn per_team_thresholds_override_the_defaults() {
    let mut amounts = history(60);
    add(&mut amounts, 44, "search", "AmazonEC2", 200); // +40%, 200 in money
    assert_eq!(
        run(&amounts, 60)
            .iter()
            .filter(|a| a.scope.owner() == Some(&team("search")))
            .count(),
        1
    );
    let mut settings = AnomalySettings::default();
    settings.teams.insert(
        TeamId::parse("search").unwrap(),
        Thresholds {
            min_impact: Decimal::from(500),
            ..Thresholds::default()
        },
    );
    let known = known(60);
    let found = detect_anomalies(
        &amounts,
        &known,
        start(),
        start() + chrono::Days::new(59),
        &settings,
    );
    assert!(
        found
            .iter()
            .all(|a| a.scope.owner() != Some(&team("search"))),
        "{found:?}"
    );
    // The account series keeps the defaults.
    assert!(found.iter().any(|a| a.scope == Scope::Account("a2".into())));
}

/// Issue 9: 10,000 teams starting on the 9th made every series a spike
/// against `expected 0.00`. New spend raises nothing until it has two weeks
/// of history of its own; the established teams are still judged.
#[test]
fn spend_that_starts_without_history_is_not_a_spike() {
    let days = 70;
    let mut amounts = history(days);
    for i in 0..2_000 {
        for d in 40..days {
            amounts.push(DailyAmount {
                day: start() + chrono::Days::new(d as u64),
                owner: team(&format!("new-{i}")),
                service: "AmazonEC2".into(),
                account: "a1".into(),
                currency: usd(),
                amount: Decimal::from(50 + (d % 3) as i64),
                recurring: Decimal::ZERO,
            });
        }
    }
    // A real spike of an established team, after the new spend began.
    add(&mut amounts, 62, "search", "AmazonEC2", 900);
    let last = start() + chrono::Days::new(days as u64 - 1);
    let found = detect_anomalies(
        &amounts,
        &known(days),
        start(),
        last,
        &AnomalySettings::default(),
    );
    assert!(
        found
            .iter()
            .all(|a| a.first_day == start() + chrono::Days::new(62)),
        "{:?}",
        found
            .iter()
            .map(|a| (a.scope.label(), a.first_day))
            .collect::<Vec<_>>()
    );
    assert!(
        found
            .iter()
            .any(|a| a.scope.owner() == Some(&team("search"))),
        "the established team's spike is found"
    );
}

/// Issue 9: spend that starts without history raises at most one anomaly
/// per billing account, and only when asked for (`new_spend`).
#[test]
fn new_spend_raises_one_anomaly_per_new_account_when_asked() {
    let days = 70;
    let mut amounts = history(days);
    // A new account with 300 teams, starting on days 40 to 44, and new
    // teams in an existing account.
    for i in 0..300 {
        for (account, first) in [("a3", 40 + i % 5), ("a1", 41)] {
            for d in first..days {
                amounts.push(DailyAmount {
                    day: start() + chrono::Days::new(d as u64),
                    owner: team(&format!("new-{account}-{i}")),
                    service: "AmazonEC2".into(),
                    account: account.into(),
                    currency: usd(),
                    amount: Decimal::from(50 + (d % 3) as i64),
                    recurring: Decimal::ZERO,
                });
            }
        }
    }
    let last = start() + chrono::Days::new(days as u64 - 1);
    let asked = AnomalySettings {
        new_spend: true,
        ..Default::default()
    };
    for (settings, want) in [(AnomalySettings::default(), 0), (asked, 1)] {
        let found = detect_anomalies(&amounts, &known(days), start(), last, &settings);
        let listed: Vec<_> = found
            .iter()
            .map(|a| (a.scope.label(), a.first_day, a.expected, a.actual))
            .collect();
        assert_eq!(found.len(), want, "{listed:?}");
        if let Some(a) = found.first() {
            assert_eq!(a.scope, Scope::Account("a3".into()), "{listed:?}");
            assert_eq!(a.first_day, start() + chrono::Days::new(40));
            assert_eq!((a.expected, a.direction), (Decimal::ZERO, Direction::Spike));
            assert_eq!(
                a.actual,
                Decimal::from(60 * 51),
                "the 60 teams starting that day"
            );
        }
    }
    // Spend that starts with the data (a first import) is not new.
    let first_import: Vec<DailyAmount> = amounts
        .iter()
        .filter(|a| a.day >= start() + chrono::Days::new(40))
        .cloned()
        .collect();
    let since = (40..days)
        .map(|i| start() + chrono::Days::new(i as u64))
        .collect();
    let asked = AnomalySettings {
        new_spend: true,
        ..Default::default()
    };
    let found = detect_anomalies(&first_import, &since, start(), last, &asked);
    assert!(
        found.iter().all(|a| a.scope != Scope::Account("a3".into())),
        "{found:?}"
    );
}

/// Verdicts of normal days whose errors are `errors` robust spreads.
fn normal_days(errors: &[Decimal]) -> Vec<Option<Verdict>> {
    errors
        .iter()
        .map(|z| {
            Some(Verdict {
                actual: Decimal::from(100) + z,
                expected: Decimal::from(100),
                spread: Decimal::ONE,
                score: *z,
                flagged: None,
                moved: None,
                pattern_known: true,
                quiet: false,
            })
        })
        .collect()
}

/// 1,000 errors: 980 spread evenly below 2, and twenty (so the 99th
/// percentile) at `tail`.
fn errors_with_tail(tail: Decimal) -> Vec<Decimal> {
    (0..980)
        .map(|i| Decimal::new(i * 2, 3))
        .chain(std::iter::repeat_n(tail, 20))
        .collect()
}

/// Issue 9, item 17: on series whose noise is heavy-tailed (Student-t,
/// Laplace) ordinary days 6 spreads out alerted; the organisation's pooled
/// errors tell their tails, and every threshold widens to match.
#[test]
fn pooled_heavy_tails_widen_every_threshold_and_gaussian_ones_do_not() {
    // Errors whose 99th percentile is Gaussian-like (3.0): no widening.
    let gaussian = normal_days(&errors_with_tail(Decimal::new(30, 1)));
    assert_eq!(tail_widening([gaussian.as_slice()].into_iter()), None);
    // 4.25: 1 + 2.2 x (4.25 / 3.4 - 1) = 1.55, over two series.
    let heavy = errors_with_tail(Decimal::new(425, 2));
    let (a, b) = heavy.split_at(500);
    let (a, b) = (normal_days(a), normal_days(b));
    assert_eq!(
        tail_widening([a.as_slice(), b.as_slice()].into_iter()),
        Some(Decimal::new(155, 2))
    );
    // Very heavy tails widen at most POOLED_MAX.
    let heavier = normal_days(&errors_with_tail(Decimal::from(9)));
    assert_eq!(
        tail_widening([heavier.as_slice()].into_iter()),
        Some(POOLED_MAX)
    );
    // Too few errors tell nothing.
    let few = normal_days(&errors_with_tail(Decimal::from(9))[..400]);
    assert_eq!(tail_widening([few.as_slice()].into_iter()), None);
}
