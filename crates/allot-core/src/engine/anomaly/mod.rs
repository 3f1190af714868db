//! Anomaly detection over allocated daily costs: builds the daily series of
//! every scope (team, team and service, billing account; one per currency),
//! runs the per-series detector ([`detect`]) on each team's services, sums
//! their expected values into the team's and the account's (so their
//! weekly shape follows their mix), merges consecutive anomalous days into one anomaly,
//! folds what another anomaly already says, and names the services,
//! accounts or teams that moved.
//! Pure code: amounts and days in, anomalies out.

pub mod detect;
pub mod matching;

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::NaiveDate;
use rust_decimal::Decimal;

use crate::domain::{Currency, Month, Owner, TeamId};
use crate::engine::AllocationRow;
pub use detect::{
    ADAPTATION_DAYS, Direction, HISTORY_DAYS, MIN_HISTORY, Verdict, evaluate, judge_against, median,
};
pub use matching::{AnomalyStatus, Known, SAME_ANOMALY_GAP_DAYS, candidate_window, match_known};

/// Contributors listed per dimension.
const TOP_CONTRIBUTORS: usize = 3;
/// Anomalous days with at most this many normal days between them belong to
/// one anomaly (quiet days, with nothing to judge, do not count).
const MAX_NORMAL_DAYS_BETWEEN: usize = 1;

/// When a day counts as anomalous. Defaults: 4 robust spreads, an impact of
/// at least 5 (in the series' currency: 150 a month) and at least 15% of the expected
/// value, spikes only.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Thresholds {
    /// How many robust spreads a day must be away from its expected value.
    pub sensitivity: Decimal,
    /// The least impact (actual - expected) per day, in the series' currency.
    pub min_impact: Decimal,
    /// The least impact per day, as a percentage of the expected value.
    pub min_impact_percent: Decimal,
    /// Whether drops are flagged as well as spikes.
    pub drops: bool,
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds {
            sensitivity: Decimal::from(4),
            min_impact: Decimal::from(5),
            min_impact_percent: Decimal::from(15),
            drops: false,
        }
    }
}

/// Thresholds for every scope: defaults, and overrides per team (which apply
/// to the team's own series and to its per-service series).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AnomalySettings {
    pub defaults: Thresholds,
    pub teams: BTreeMap<TeamId, Thresholds>,
    /// Whether spend that starts without history of its own raises one
    /// anomaly per billing account (and currency), on its first day. Off
    /// by default: new spend is no spike.
    pub new_spend: bool,
}

impl AnomalySettings {
    /// These settings with every sensitivity multiplied by `factor`.
    fn widened(&self, factor: Decimal) -> AnomalySettings {
        let widen = |t: &Thresholds| Thresholds {
            sensitivity: t.sensitivity * factor,
            ..t.clone()
        };
        AnomalySettings {
            defaults: widen(&self.defaults),
            teams: self
                .teams
                .iter()
                .map(|(k, t)| (k.clone(), widen(t)))
                .collect(),
            new_spend: self.new_spend,
        }
    }

    pub fn thresholds(&self, scope: &Scope) -> &Thresholds {
        match scope.owner() {
            Some(Owner::Team(team)) => self.teams.get(team).unwrap_or(&self.defaults),
            _ => &self.defaults,
        }
    }
}

/// What a series adds up.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Scope {
    /// Everything a team (or `unallocated`) received: direct and shared.
    Team(Owner),
    /// One service's cost within a team.
    TeamService(Owner, String),
    /// Everything billed to one billing account, whoever owns it.
    Account(String),
}

impl Scope {
    /// The kind of a [`Scope::Team`], as stored and shown.
    pub const TEAM: &'static str = "team";
    /// The kind of a [`Scope::TeamService`].
    pub const TEAM_SERVICE: &'static str = "team_service";
    /// The kind of a [`Scope::Account`].
    pub const ACCOUNT: &'static str = "account";

    /// `team`, `team_service` or `account`.
    pub fn kind(&self) -> &'static str {
        match self {
            Scope::Team(_) => Scope::TEAM,
            Scope::TeamService(..) => Scope::TEAM_SERVICE,
            Scope::Account(_) => Scope::ACCOUNT,
        }
    }

    pub fn owner(&self) -> Option<&Owner> {
        match self {
            Scope::Team(o) | Scope::TeamService(o, _) => Some(o),
            Scope::Account(_) => None,
        }
    }

    pub fn service(&self) -> Option<&str> {
        match self {
            Scope::TeamService(_, s) => Some(s),
            _ => None,
        }
    }

    pub fn account(&self) -> Option<&str> {
        match self {
            Scope::Account(a) => Some(a),
            _ => None,
        }
    }

    /// Rebuilds a scope from its stored parts.
    pub fn from_parts(kind: &str, team: &str, service: &str, account: &str) -> Option<Scope> {
        let owner = || Owner::from_name(team).ok();
        match kind {
            Scope::TEAM => Some(Scope::Team(owner()?)),
            Scope::TEAM_SERVICE => Some(Scope::TeamService(owner()?, service.to_string())),
            Scope::ACCOUNT => Some(Scope::Account(account.to_string())),
            _ => None,
        }
    }

    /// A short human label: `payments`, `payments / AmazonEC2`, `account 1234`.
    pub fn label(&self) -> String {
        match self {
            Scope::Team(o) => o.name().to_string(),
            Scope::TeamService(o, s) => format!("{} / {}", o.name(), service_label(s)),
            Scope::Account(a) => format!("account {a}"),
        }
    }
}

fn service_label(s: &str) -> &str {
    if s.is_empty() { "(no service)" } else { s }
}

/// One allocated amount on one day, at the finest grain the series need.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DailyAmount {
    pub day: NaiveDate,
    pub owner: Owner,
    pub service: String,
    pub account: String,
    pub currency: Currency,
    pub amount: Decimal,
    /// The part of `amount` that is a day's share of charges spanning
    /// several days (monthly fees, commitments, tax). Known in advance, so
    /// never anomalous: the detector judges the rest.
    pub recurring: Decimal,
}

/// One anomalous day of an anomaly.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AnomalyDay {
    pub day: NaiveDate,
    pub actual: Decimal,
    pub expected: Decimal,
    pub score: Decimal,
}

/// What moved a scope: a service, account or team below it, with its own
/// actual and expected cost over the anomaly's days.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Contributor {
    /// `service`, `account` or `team`.
    pub kind: String,
    pub name: String,
    pub actual: Decimal,
    pub expected: Decimal,
    pub impact: Decimal,
}

/// Consecutive anomalous days of one series in one direction: one anomaly,
/// whose figures accumulate over its days.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Anomaly {
    pub scope: Scope,
    pub currency: Currency,
    pub direction: Direction,
    pub first_day: NaiveDate,
    pub last_day: NaiveDate,
    pub days: Vec<AnomalyDay>,
    /// Sums over the anomalous days.
    pub actual: Decimal,
    pub expected: Decimal,
    pub impact: Decimal,
    /// The largest score (in absolute value) among the days.
    pub score: Decimal,
    pub contributors: Vec<Contributor>,
}

impl Anomaly {
    /// Identifies an anomaly across detection runs: the series, the direction
    /// and the first day. Later days extend the same anomaly.
    pub fn key(&self) -> String {
        let scope = &self.scope;
        format!(
            "{}|{}|{}|{}|{}|{}|{}",
            scope.kind(),
            scope.owner().map(Owner::name).unwrap_or(""),
            scope.service().unwrap_or(""),
            scope.account().unwrap_or(""),
            self.currency,
            self.direction.as_str(),
            self.first_day
        )
    }
}

type Fine = (Owner, String, String, Currency);

/// Allocated rows summed over rules and pools: direct and shared cost
/// together, per day, owner, service, account and currency.
pub fn daily_amounts(rows: &[AllocationRow]) -> Vec<DailyAmount> {
    let mut sums: BTreeMap<(NaiveDate, Fine), (Decimal, Decimal)> = BTreeMap::new();
    for r in rows {
        let sum = sums
            .entry((
                r.day,
                (
                    r.owner.clone(),
                    r.service_name.clone(),
                    r.account.clone(),
                    r.currency,
                ),
            ))
            .or_default();
        sum.0 += r.amount;
        if r.recurring {
            sum.1 += r.amount;
        }
    }
    sums.into_iter()
        .map(
            |((day, (owner, service, account, currency)), (amount, recurring))| DailyAmount {
                day,
                owner,
                service,
                account,
                currency,
                amount,
                recurring,
            },
        )
        .collect()
}

/// The days with allocated data: each allocated month from its first day
/// to the last day its charges start on. Later days of the month hold only
/// the spread of month-long charges, so they are not read as zero usage.
pub fn known_days(runs: &[(Month, Option<NaiveDate>)]) -> BTreeSet<NaiveDate> {
    let mut days = BTreeSet::new();
    for (month, through) in runs {
        let Some(through) = through else { continue };
        let last = (*through).min(month.last_day());
        days.extend(month.first_day().iter_days().take_while(|d| *d <= last));
    }
    days
}

/// Finds the anomalies of every scope that have a day in `from..=to`.
///
/// `known_days` are the days with allocated data (a day of an allocated
/// month up to the last day its data reaches); a series is zero on a known
/// day without amounts and unknown elsewhere. History before `from` is used
/// as far back as the amounts go.
pub fn detect_anomalies(
    amounts: &[DailyAmount],
    known_days: &BTreeSet<NaiveDate>,
    from: NaiveDate,
    to: NaiveDate,
    settings: &AnomalySettings,
) -> Vec<Anomaly> {
    let (Some(&first), Some(&last)) = (known_days.first(), known_days.last()) else {
        return Vec::new();
    };
    let calendar: Vec<NaiveDate> = first.iter_days().take_while(|d| *d <= last).collect();
    let mut fine: HashMap<Fine, BTreeMap<NaiveDate, (Decimal, Decimal)>> = HashMap::new();
    for a in amounts.iter().filter(|a| known_days.contains(&a.day)) {
        let sum = fine
            .entry((
                a.owner.clone(),
                a.service.clone(),
                a.account.clone(),
                a.currency,
            ))
            .or_default()
            .entry(a.day)
            .or_default();
        sum.0 += a.amount;
        sum.1 += a.recurring;
    }
    let mut by_owner: HashMap<(Owner, Currency), Vec<Fine>> = HashMap::new();
    let mut by_account: HashMap<(String, Currency), Vec<Fine>> = HashMap::new();
    for key in fine.keys() {
        by_owner
            .entry((key.0.clone(), key.3))
            .or_default()
            .push(key.clone());
        by_account
            .entry((key.2.clone(), key.3))
            .or_default()
            .push(key.clone());
    }
    let series = Series {
        calendar,
        known: known_days,
        fine,
        by_owner,
        by_account,
    };
    let mut scopes: BTreeSet<(Scope, Currency)> = BTreeSet::new();
    for (owner, service, account, currency) in series.fine.keys() {
        scopes.insert((Scope::Team(owner.clone()), *currency));
        scopes.insert((
            Scope::TeamService(owner.clone(), service.clone()),
            *currency,
        ));
        scopes.insert((Scope::Account(account.clone()), *currency));
    }
    let mut found = Vec::new();
    let mut keep = |scope: &Scope, currency: Currency, verdicts: &[Option<Verdict>]| {
        for days in runs(&series.calendar, verdicts) {
            found.push(anomaly(scope.clone(), currency, &days));
        }
    };
    // Services first. A team's expected value is the sum of its services',
    // and an account's the sum of its (team, service) parts' (bottom-up):
    // their weekly shape follows their mix when one part shifts level.
    let services: Vec<&(Scope, Currency)> = scopes
        .iter()
        .filter(|s| matches!(s.0, Scope::TeamService(..)))
        .collect();
    // Each service's series on its own, in parallel: (its verdicts, and
    // each (team, service, account) part's).
    let judge_services = |settings: &AnomalySettings| {
        par_map(&services, |(scope, currency)| {
            series
                .values(scope, *currency, |_| true)
                .evaluate(settings.thresholds(scope))
        })
    };
    let mut judged = judge_services(settings);
    // Heavier tails across the organisation's services than Gaussian noise
    // gives: every series is judged again with bounds widened to match.
    let widened;
    let settings = match tail_widening(judged.iter().map(Vec::as_slice)) {
        Some(factor) => {
            widened = settings.widened(factor);
            judged = judge_services(&widened);
            &widened
        }
        None => settings,
    };
    // Each (team, service, account) part's verdicts: the service's own when
    // it is in one account, else its part in each account judged alone.
    let judged_parts = par_map(&services, |(scope, currency)| {
        let keys: Vec<Fine> = series.keys(scope, *currency).cloned().collect();
        if keys.len() == 1 {
            return Vec::new();
        }
        keys.into_iter()
            .map(|key| {
                let part = series
                    .values(scope, *currency, |k| k.2 == key.2)
                    .evaluate(settings.thresholds(scope));
                (key, part)
            })
            .collect()
    });
    let mut parts: HashMap<Fine, Vec<Option<Verdict>>> = HashMap::new();
    for (((scope, currency), verdicts), several) in services.iter().zip(judged).zip(judged_parts) {
        keep(scope, *currency, &verdicts);
        if several.is_empty() {
            // The service is in one account: its series is the part's.
            if let Some(key) = series.keys(scope, *currency).next() {
                parts.insert(key.clone(), verdicts);
            }
        } else {
            parts.extend(several);
        }
    }
    let sum_expected = |keys: &[&Fine]| -> Vec<Option<(Decimal, bool)>> {
        (0..series.calendar.len())
            .map(|t| {
                keys.iter()
                    .map(|k| parts.get(*k).and_then(|v| v[t].as_ref()))
                    .try_fold((Decimal::ZERO, true), |(sum, known), v| {
                        // A part with nothing to judge (a sporadic service)
                        // does not hide the others' pattern.
                        v.map(|v| (sum + v.expected, known && (v.pattern_known || v.quiet)))
                    })
            })
            .collect()
    };
    for (scope, currency) in scopes.iter() {
        if matches!(scope, Scope::TeamService(..)) {
            continue;
        }
        let keys: Vec<&Fine> = series.keys(scope, *currency).collect();
        let expected = sum_expected(&keys);
        let values = series.values(scope, *currency, |_| true);
        let verdicts = judge_against(
            &values.total,
            values.start,
            &expected,
            settings.thresholds(scope),
        );
        keep(scope, *currency, &verdicts);
    }
    if settings.new_spend {
        found.extend(new_spend(&series, &scopes, &settings.defaults));
    }
    // Folded before the window is applied: a team anomaly just before the
    // window still says its service's that reaches into it.
    let in_window = |a: &Anomaly| a.last_day >= from && a.first_day <= to;
    let explained = par_map(&found, |a| {
        if in_window(a) {
            contributors(&series, a, settings)
        } else {
            Vec::new()
        }
    });
    for (a, list) in found.iter_mut().zip(explained) {
        a.contributors = list;
    }
    fold(found).into_iter().filter(|a| in_window(a)).collect()
}

/// Normal days' errors, pooled over every service series, needed before
/// their tails are measured.
pub const POOLED_ERRORS: usize = 500;

/// The 99th percentile of normal days' errors, in their own robust
/// spreads, pooled over every service series judged, that Gaussian noise
/// stays under: 2.8 to 3.5 on the sets of the two generators with Gaussian
/// noise, 3.8 to 5.1 on those with Student-t or Laplace noise
/// (`docs/anomalies.md`).
pub const POOLED_GAUSSIAN_Q99: Decimal = Decimal::from_parts(34, 0, 0, false, 1);
/// How many times its excess over [`POOLED_GAUSSIAN_Q99`] the pooled 99th
/// percentile widens every threshold by.
pub const POOLED_WIDENING: Decimal = Decimal::from_parts(22, 0, 0, false, 1);
/// The most the pooled tails widen every threshold by.
pub const POOLED_MAX: Decimal = Decimal::from_parts(2, 0, 0, false, 0);

/// How much wider every threshold must be for the organisation's service
/// series, whose errors are heavier-tailed than Gaussian noise's: with
/// `q99` the 99th percentile of every normal judged day's error in its
/// own robust spreads, pooled over all service series,
/// `1 + POOLED_WIDENING × (q99 / POOLED_GAUSSIAN_Q99 − 1)`, at most
/// [`POOLED_MAX`]; `None` when `q99` is at most [`POOLED_GAUSSIAN_Q99`] or
/// fewer than [`POOLED_ERRORS`] errors tell. One series' few months cannot
/// tell a heavy-tailed noise day from a spike; thousands of days of many
/// series can tell how heavy the tails are.
fn tail_widening<'a>(series: impl Iterator<Item = &'a [Option<Verdict>]>) -> Option<Decimal> {
    let mut errors: Vec<Decimal> = Vec::new();
    for verdicts in series {
        for v in verdicts.iter().flatten() {
            if v.moved.is_none() && !v.quiet && v.spread > Decimal::ZERO {
                errors.push(((v.actual - v.expected).abs() / v.spread).round_dp(4));
            }
        }
    }
    if errors.len() < POOLED_ERRORS {
        return None;
    }
    errors.sort();
    let q99 = errors[(errors.len() * 99).div_ceil(100) - 1];
    (q99 > POOLED_GAUSSIAN_Q99).then(|| {
        (Decimal::ONE + POOLED_WIDENING * (q99 / POOLED_GAUSSIAN_Q99 - Decimal::ONE))
            .min(POOLED_MAX)
    })
}

/// Known days without spend an account needs before its first spend is new.
pub const NEW_SPEND_QUIET_DAYS: usize = 7;

/// One anomaly per billing account (and currency) whose spend starts after
/// known days without any: its first day of spend, against an expected
/// zero, if it passes the impact floor. Its teams and services are judged
/// as usual once they have history of their own.
fn new_spend(
    series: &Series<'_>,
    scopes: &BTreeSet<(Scope, Currency)>,
    thresholds: &Thresholds,
) -> Vec<Anomaly> {
    let mut out = Vec::new();
    for (scope, currency) in scopes {
        if !matches!(scope, Scope::Account(_)) {
            continue;
        }
        let values = series.values(scope, *currency, |_| true);
        let Some(t) = detect::first_spend(&values.total) else {
            continue;
        };
        // A week of known days without spend before it: the account is new
        // in the data read, not data that starts with it (a first import).
        let known_before = values.total[..t].iter().filter(|v| v.is_some()).count();
        let Some(actual) = values.total[t] else {
            continue;
        };
        if known_before < NEW_SPEND_QUIET_DAYS || actual < thresholds.min_impact {
            continue;
        }
        let verdict = detect::Verdict::new_spend(actual);
        out.push(anomaly(
            scope.clone(),
            *currency,
            &[(series.calendar[t], verdict)],
        ));
    }
    out
}

/// `f` over `items`, in order, spread over the machine's cores (scoped
/// threads: computation only, no I/O).
fn par_map<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .min(8);
    if threads < 2 || items.len() < 64 {
        return items.iter().map(&f).collect();
    }
    let chunk = items.len().div_ceil(threads);
    std::thread::scope(|scope| {
        let handles: Vec<_> = items
            .chunks(chunk)
            .map(|part| scope.spawn(|| part.iter().map(&f).collect::<Vec<R>>()))
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("a detection thread panicked"))
            .collect()
    })
}

/// The fine series, summed into any scope on demand.
struct Series<'a> {
    calendar: Vec<NaiveDate>,
    known: &'a BTreeSet<NaiveDate>,
    /// (total, recurring part) per fine key and day.
    fine: HashMap<Fine, BTreeMap<NaiveDate, (Decimal, Decimal)>>,
    /// The fine keys of each owner and of each account, per currency.
    by_owner: HashMap<(Owner, Currency), Vec<Fine>>,
    by_account: HashMap<(String, Currency), Vec<Fine>>,
}

/// A scope's daily values: the total, and the recurring part of it.
struct Values {
    /// The first day of the series.
    start: NaiveDate,
    total: Vec<Option<Decimal>>,
    recurring: Vec<Decimal>,
}

impl Values {
    /// What the detector judges: the total less its recurring part.
    fn judged(&self) -> Vec<Option<Decimal>> {
        self.total
            .iter()
            .zip(&self.recurring)
            .map(|(t, r)| t.map(|t| t - r))
            .collect()
    }

    /// Verdicts on the judged values, restated on the totals: the recurring
    /// part is added to both the actual and the expected value.
    fn evaluate(&self, thresholds: &Thresholds) -> Vec<Option<Verdict>> {
        let mut verdicts = detect::evaluate_from(&self.judged(), Some(self.start), thresholds);
        for (v, r) in verdicts.iter_mut().zip(&self.recurring) {
            if let Some(v) = v {
                v.actual += r;
                v.expected += r;
            }
        }
        verdicts
    }
}

impl Series<'_> {
    /// The fine keys a scope adds up.
    fn keys<'s>(&'s self, scope: &'s Scope, currency: Currency) -> impl Iterator<Item = &'s Fine> {
        let keys = match scope {
            Scope::Team(o) | Scope::TeamService(o, _) => self.by_owner.get(&(o.clone(), currency)),
            Scope::Account(a) => self.by_account.get(&(a.clone(), currency)),
        };
        keys.into_iter()
            .flatten()
            .filter(move |k| scope_matches(scope, k))
    }

    /// The daily values of a scope, or of the part of it `part` keeps.
    fn values(&self, scope: &Scope, currency: Currency, part: impl Fn(&Fine) -> bool) -> Values {
        let mut sums: BTreeMap<NaiveDate, (Decimal, Decimal)> = BTreeMap::new();
        let matching = self
            .keys(scope, currency)
            .filter(|k| part(k))
            .filter_map(|k| self.fine.get(k));
        for days in matching {
            for (day, (total, recurring)) in days {
                let sum = sums.entry(*day).or_default();
                sum.0 += total;
                sum.1 += recurring;
            }
        }
        let at = |d: &NaiveDate| sums.get(d).copied().unwrap_or_default();
        Values {
            start: self.calendar.first().copied().unwrap_or_default(),
            total: self
                .calendar
                .iter()
                .map(|d| self.known.contains(d).then(|| at(d).0))
                .collect(),
            recurring: self.calendar.iter().map(|d| at(d).1).collect(),
        }
    }
}

fn scope_matches(scope: &Scope, (owner, service, account, _): &Fine) -> bool {
    match scope {
        Scope::Team(o) => o == owner,
        Scope::TeamService(o, s) => o == owner && s == service,
        Scope::Account(a) => a == account,
    }
}

/// Runs of flagged days in one direction, allowing short gaps.
fn runs(calendar: &[NaiveDate], verdicts: &[Option<Verdict>]) -> Vec<Vec<(NaiveDate, Verdict)>> {
    let mut out: Vec<Vec<(NaiveDate, Verdict)>> = Vec::new();
    let mut normal_days = 0;
    for (day, verdict) in calendar.iter().zip(verdicts) {
        let Some(v) = verdict else { continue };
        let Some(direction) = v.flagged else {
            if !v.quiet {
                normal_days += 1;
            }
            continue;
        };
        let extends = normal_days <= MAX_NORMAL_DAYS_BETWEEN
            && out
                .last()
                .and_then(|run| run.last())
                .is_some_and(|(_, last)| last.flagged == Some(direction));
        if extends {
            out.last_mut()
                .expect("a run exists")
                .push((*day, v.clone()));
        } else {
            out.push(vec![(*day, v.clone())]);
        }
        normal_days = 0;
    }
    out
}

fn anomaly(scope: Scope, currency: Currency, days: &[(NaiveDate, Verdict)]) -> Anomaly {
    let actual: Decimal = days.iter().map(|d| d.1.actual).sum();
    let expected: Decimal = days.iter().map(|d| d.1.expected).sum();
    Anomaly {
        scope,
        currency,
        direction: days[0].1.flagged.expect("runs hold flagged days"),
        first_day: days[0].0,
        last_day: days[days.len() - 1].0,
        days: days
            .iter()
            .map(|(day, v)| AnomalyDay {
                day: *day,
                actual: v.actual,
                expected: v.expected,
                score: v.score,
            })
            .collect(),
        actual,
        expected,
        impact: actual - expected,
        score: days
            .iter()
            .map(|d| d.1.score)
            .max_by_key(|s| s.abs())
            .unwrap_or_default(),
        contributors: Vec::new(),
    }
}

/// Folds anomalies that another one already says: a team-and-service
/// anomaly when its team fired on overlapping days in the same direction,
/// starting no later (the service is then one of the team anomaly's
/// contributors); a team anomaly that starts later than one of its
/// services' (its top service) and ends within it (the service said it first: its days
/// say it all, and the event keeps the day it started); and a
/// billing-account anomaly that is mostly one team's anomaly (that team is
/// its top contributor and the team's impact is at least half the
/// account's). One alert then says it all.
fn fold(found: Vec<Anomaly>) -> Vec<Anomaly> {
    let overlapping = |t: &Anomaly, a: &Anomaly| {
        t.currency == a.currency
            && t.direction == a.direction
            && t.first_day <= a.last_day
            && a.first_day <= t.last_day
    };
    let same_owner = |t: &Anomaly, a: &Anomaly| t.scope.owner() == a.scope.owner();
    let of_scope = |pick: fn(&Scope) -> bool| -> Vec<&Anomaly> {
        found.iter().filter(|a| pick(&a.scope)).collect()
    };
    let teams = of_scope(|s| matches!(s, Scope::Team(_)));
    let services = of_scope(|s| matches!(s, Scope::TeamService(..)));
    let keep: Vec<bool> = found
        .iter()
        .map(|a| match &a.scope {
            Scope::Team(_) => !services.iter().any(|s| {
                same_owner(s, a)
                    && top(a, "service") == s.scope.service()
                    && overlapping(s, a)
                    && s.first_day < a.first_day
                    && a.last_day <= s.last_day
            }),
            Scope::TeamService(..) => !teams
                .iter()
                .any(|t| same_owner(t, a) && overlapping(t, a) && t.first_day <= a.first_day),
            Scope::Account(_) => !teams.iter().any(|t| {
                overlapping(t, a)
                    && top(a, "team")
                        .is_some_and(|c| t.scope.owner().is_some_and(|o| o.name() == c))
                    && t.impact.abs() * Decimal::TWO >= a.impact.abs()
            }),
        })
        .collect();
    found
        .into_iter()
        .zip(keep)
        .filter_map(|(a, k)| k.then_some(a))
        .collect()
}

/// The name of an anomaly's top contributor of a kind (`service`, `team`).
fn top<'a>(a: &'a Anomaly, kind: &str) -> Option<&'a str> {
    a.contributors
        .iter()
        .find(|c| c.kind == kind)
        .map(|c| c.name.as_str())
}

/// The children that moved most in the anomaly's direction, per dimension.
fn contributors(series: &Series<'_>, a: &Anomaly, settings: &AnomalySettings) -> Vec<Contributor> {
    type Dim = (&'static str, fn(&Fine) -> String);
    let service: Dim = ("service", |k| k.1.clone());
    let account: Dim = ("account", |k| k.2.clone());
    let team: Dim = ("team", |k| k.0.name().to_string());
    let dims: Vec<Dim> = match &a.scope {
        Scope::Team(_) => vec![service, account],
        Scope::TeamService(..) => vec![account],
        Scope::Account(_) => vec![team, service],
    };
    let days: BTreeSet<NaiveDate> = a.days.iter().map(|d| d.day).collect();
    let thresholds = settings.thresholds(&a.scope);
    let mut out = Vec::new();
    for (kind, name_of) in dims {
        let names: BTreeSet<String> = series.keys(&a.scope, a.currency).map(name_of).collect();
        let mut moved: Vec<Contributor> = names
            .into_iter()
            .map(|name| {
                let values = series.values(&a.scope, a.currency, |k| name_of(k) == name);
                let verdicts = values.evaluate(thresholds);
                let (mut actual, mut expected) = (Decimal::ZERO, Decimal::ZERO);
                for ((day, value), verdict) in
                    series.calendar.iter().zip(&values.total).zip(&verdicts)
                {
                    if !days.contains(day) {
                        continue;
                    }
                    let value = value.unwrap_or_default();
                    actual += value;
                    expected += verdict.as_ref().map_or(value, |v| v.expected);
                }
                let label = if kind == "service" {
                    service_label(&name).to_string()
                } else {
                    name
                };
                Contributor {
                    kind: kind.to_string(),
                    name: label,
                    actual,
                    expected,
                    impact: actual - expected,
                }
            })
            .filter(|c| match a.direction {
                Direction::Spike => c.impact > Decimal::ZERO,
                Direction::Drop => c.impact < Decimal::ZERO,
            })
            .collect();
        moved.sort_by(|x, y| {
            y.impact
                .abs()
                .cmp(&x.impact.abs())
                .then_with(|| x.name.cmp(&y.name))
        });
        out.extend(moved.into_iter().take(TOP_CONTRIBUTORS));
    }
    out
}

#[cfg(test)]
mod tests;
