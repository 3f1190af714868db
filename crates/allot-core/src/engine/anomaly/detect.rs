//! The detector for one daily series: a robust expected value for each day
//! (a level from the recent week plus a same-weekday seasonal offset), a
//! robust spread (median absolute residual), and the verdict on the day.
//! Exact decimal arithmetic throughout: there is no float anywhere.
//!
//! For day `t` with at least [`MIN_HISTORY`] known days before it:
//!
//! - **seasonal factor** `s(t)`: for each of the last [`SEASON_WEEKS`] weeks
//!   `k`, the (cleaned) value on `t - 7k` divided by the median of the 7
//!   days centred on it (all 7 known, so the week is balanced); `s(t)` is
//!   the median of those ratios (1 while no week tells it). Ratios, so a weekly pattern keeps its
//!   shape when the level grows or shifts;
//! - **level** `l(t)`: the median over the last [`LEVEL_DAYS`] days of the
//!   cleaned value divided by that day's own seasonal factor, so the weekly
//!   pattern does not bias it and a trend moves it within days (after a
//!   level shift was adopted, only the shift's days count);
//! - **expected** `e(t) = l(t) × s(t)`;
//! - **spread**: 1.4826 × the median of `|actual - expected|` over the last
//!   [`HISTORY_DAYS`] normal days, once at least 7 such residuals exist;
//!   before that, 1.4826 × the median absolute deviation of the raw history
//!   (which still contains the weekly pattern, so bounds are wider). Never
//!   below [`SPREAD_FLOOR_PERCENT`] of `|e(t)|`, or
//!   [`SHORT_SPREAD_FLOOR_PERCENT`] while history is short.
//! - **threshold**: `sensitivity × spread × tails` ([`tail_factor`]: wider
//!   for heavy-tailed errors), times [`SHORT_HISTORY_WIDENING`] while fewer
//!   than [`SETTLED_RESIDUALS`] residuals exist;
//!   `sensitivity` is itself wider for an organisation whose pooled errors
//!   are heavy-tailed (`tail_widening`, in the parent module);
//! - **intermittent series** (a batch job: mostly near nothing, with at
//!   least [`INTERMITTENT_BURSTS`] separate bursts far above that in the
//!   last weeks): the threshold is at least [`INTERMITTENT_MARGIN`] times
//!   the largest recent day, less the expected value
//!   ([`intermittent_ceiling`]);
//! - **month edges**: the first and last [`MONTH_EDGE_DAYS`] days of a month
//!   have `e(t)` raised by what the same days of earlier months showed
//!   ([`month_edge_factor`], with dates: [`evaluate_from`]).
//!
//! A day is a spike when `actual - e(t)` exceeds the threshold **and** the
//! impact passes both the absolute and the relative minimum; a drop is the
//! mirror image, when drops are enabled.
//!
//! **Cleaning.** A day past its bounds (a spike, or a drop whether or not
//! drops are reported) enters later days' level and seasonal factors as its
//! expected value, so an anomaly does not move the baseline it is judged
//! against. A run of [`ADAPT_AFTER`] or more such days in one
//! direction (one normal day does not break a run, nor do quiet days, with
//! nothing to judge) is
//! taken as a new level: its raw values are used from then on, so the level
//! follows within [`ADAPTATION_DAYS`] days and alerts stop. If, within a
//! week of the run, a day moves back the other way and fits the baseline
//! from before the run, the run was temporary (a spike that ended): every
//! day since it started stands in at the level from before it, and that day
//! is not an anomaly. Days
//! are not cleaned while their weekday's pattern is unknown, nor when the
//! same weekday moved the same way in each of the two weeks before (a
//! weekly pattern the baseline must learn, not an anomaly).

use chrono::NaiveDate;
use rust_decimal::Decimal;

use super::Thresholds;

/// Days of history the detector looks back over.
pub const HISTORY_DAYS: usize = 28;
/// Days a series must have had spend (anything but zero) for before its
/// days are judged: spend that starts without history of its own (a new
/// team, service or account, a first import of a partial month) is new
/// spend, not a spike against an expected zero.
pub const OWN_HISTORY_DAYS: usize = 14;
/// Days of the detector's own errors behind a series' spread.
pub const SPREAD_DAYS: usize = 56;
/// Known days needed before a day can be judged.
pub const MIN_HISTORY: usize = 7;
/// Weeks of same-weekday values behind the seasonal offset.
pub const SEASON_WEEKS: usize = 4;
/// The longest run adopted as a level shift that can still turn out to
/// have been a spike: a move back to the old baseline within this many
/// days of the run's start ends the spike (and is no drop).
pub const SPIKE_MAX_DAYS: usize = 14;
/// Days whose median is the level (10: a median of a week and a half is
/// steadier than a week's and still follows a trend within days).
pub const LEVEL_DAYS: usize = 10;
/// Residuals needed before the spread is taken from the detector's own errors.
pub const SETTLED_RESIDUALS: usize = 14;
/// Bounds are this many times wider while history is short.
pub const SHORT_HISTORY_WIDENING: Decimal = Decimal::from_parts(15, 0, 0, false, 1);
/// The spread is never below this percentage of the expected value.
pub const SPREAD_FLOOR_PERCENT: Decimal = Decimal::from_parts(2, 0, 0, false, 0);
/// The floor while history is short.
pub const SHORT_SPREAD_FLOOR_PERCENT: Decimal = Decimal::from_parts(5, 0, 0, false, 0);
/// Consecutive flagged days after which a change counts as a new level.
pub const ADAPT_AFTER: usize = 3;
/// Days after a sustained level shift starts by which the detector has
/// adapted and stops alerting on it: 4 when every day shows the change, one
/// more when noise hides it on one of them.
pub const ADAPTATION_DAYS: usize = 5;

/// The consistency constant that makes a median absolute deviation estimate
/// a standard deviation for normal noise.
const MAD_SCALE: Decimal = Decimal::from_parts(14826, 0, 0, false, 4);
/// Decimal places kept for expected values and spreads.
const DP: u32 = 12;

/// Which way a day left its expected value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Direction {
    Spike,
    Drop,
}

impl Direction {
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Spike => "spike",
            Direction::Drop => "drop",
        }
    }

    pub fn parse(s: &str) -> Option<Direction> {
        match s {
            "spike" => Some(Direction::Spike),
            "drop" => Some(Direction::Drop),
            _ => None,
        }
    }
}

/// The detector's reading of one day that had enough history.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verdict {
    pub actual: Decimal,
    pub expected: Decimal,
    /// The robust spread the day was judged with.
    pub spread: Decimal,
    /// `(actual - expected) / spread`, rounded to 2 places.
    pub score: Decimal,
    /// Set when the day is anomalous.
    pub flagged: Option<Direction>,
    /// Which way the day moved past its bounds, flagged or not (a drop is
    /// not flagged unless drops are): the baseline treats both alike, and
    /// such days are left out of later spreads.
    pub moved: Option<Direction>,
    /// Whether the day's weekly pattern was known (a drop needs it).
    pub pattern_known: bool,
    /// Both the actual and the expected value are below the absolute minimum:
    /// nothing to judge (a weekday-only service's weekend).
    pub quiet: bool,
}

impl Verdict {
    pub fn impact(&self) -> Decimal {
        self.actual - self.expected
    }

    /// The first day of new spend: a spike against an expected zero, with
    /// no spread to score it by (score 0).
    pub(crate) fn new_spend(actual: Decimal) -> Verdict {
        Verdict {
            actual,
            expected: Decimal::ZERO,
            spread: Decimal::ZERO,
            score: Decimal::ZERO,
            flagged: Some(Direction::Spike),
            moved: Some(Direction::Spike),
            pattern_known: false,
            quiet: false,
        }
    }
}

/// Judges every day of a series. `values[i]` is the cost on the series' `i`-th
/// day, `None` where the day is unknown (no allocated data). The result has
/// one entry per day: `None` where the day is unknown or lacks history.
pub fn evaluate(values: &[Option<Decimal>], thresholds: &Thresholds) -> Vec<Option<Verdict>> {
    evaluate_from(values, None, thresholds)
}

/// [`evaluate`] of a series whose first day is `start`: its first and last
/// [`MONTH_EDGE_DAYS`] days of each month also follow what the same days
/// of the previous months did (see [`month_edge_factor`]).
pub fn evaluate_from(
    values: &[Option<Decimal>],
    start: Option<NaiveDate>,
    thresholds: &Thresholds,
) -> Vec<Option<Verdict>> {
    let n = values.len();
    // Each judged day's actual over its expected value before any
    // month-edge factor: what the same day of a later month learns from.
    let mut edge_ratios: Vec<Option<Decimal>> = vec![None; n];
    let mut out: Vec<Option<Verdict>> = vec![None; n];
    // What later days see of each day: the raw value, or the expected value
    // while the day is part of a short anomalous run.
    let mut clean: Vec<Option<Decimal>> = values.to_vec();
    let mut seasonal: Vec<Decimal> = vec![Decimal::ONE; n];
    let mut run: Vec<usize> = Vec::new();
    let mut run_direction: Option<Direction> = None;
    // Normal days since the run's last flagged day: one does not end a run.
    let mut misses = 0;
    // The last run adopted as a new level, while it may still turn out to
    // have been temporary.
    let mut adopted: Option<(Vec<usize>, Direction)> = None;
    // Where the level is measured from: the first day of the last level
    // shift adopted (its days are the new level; earlier ones are not).
    let mut level_from = 0;
    let spend_from = first_spend(values);
    let judged_from = spend_from.map(|f| f + OWN_HISTORY_DAYS);
    let spend_from = spend_from.unwrap_or(n);
    for t in 0..n {
        let Some(actual) = values[t] else { continue };
        let lo = t.saturating_sub(HISTORY_DAYS);
        let known = (lo..t).filter(|&j| clean[j].is_some()).count();
        let Expected {
            factor,
            value: mut expected,
            known: pattern_known,
        } = expected_at(&clean, &seasonal, t, level_from);
        seasonal[t] = factor;
        if known < MIN_HISTORY || judged_from.is_some_and(|from| t < from) {
            continue;
        }
        // What the day was against the weekly model alone (recorded below).
        let base_expected = expected;
        if let Some(start) = start {
            expected = (expected * month_edge_factor(start, t, &edge_ratios)).round_dp(DP);
        }
        let (spread, mut threshold) = bounds(values, &out, lo, t, expected, thresholds, spend_from);
        if start.is_some_and(|start| month_edge_unlearnt(start, t, &out)) {
            threshold *= MONTH_EDGE_UNLEARNT_WIDENING;
        }
        let mut moved = judge(actual, expected, threshold, thresholds);
        // A move back the other way soon after a run was adopted as a new
        // level, that fits the baseline from before the run: the run was a
        // temporary change (a spike that ended), not a new level. Put its
        // days back to their expected values.
        if let Some((days, direction)) = &adopted {
            if t > days[0] + SPIKE_MAX_DAYS {
                adopted = None;
            } else if moved.is_some_and(|m| m != *direction) {
                // The baseline from before the run: everything since its
                // start unknown, so the level comes from the days before.
                let mut before = clean.clone();
                for slot in before.iter_mut().take(t).skip(days[0]) {
                    *slot = None;
                }
                let e = expected_at(&before, &seasonal, t, 0);
                if judge(actual, e.value, threshold, thresholds).is_none() {
                    // Every day since the run started stands in at the
                    // level from before it.
                    let level = if e.factor > Decimal::ZERO {
                        e.value / e.factor
                    } else {
                        e.value
                    };
                    for j in days[0]..t {
                        if clean[j].is_some() {
                            clean[j] = Some((level * seasonal[j]).round_dp(DP));
                        }
                    }
                    seasonal[t] = e.factor;
                    expected = e.value;
                    moved = None;
                    adopted = None;
                    level_from = 0;
                    run.clear();
                    run_direction = None;
                    misses = 0;
                }
            }
        }
        // What later months' same day learns: not from quiet days (a
        // weekday-only service's weekend), nor from a move beyond what a
        // month edge may explain (a real spike teaches nothing).
        if base_expected >= thresholds.min_impact && base_expected > Decimal::ZERO {
            let ratio = actual / base_expected;
            if moved.is_none() || (ratio >= Decimal::ONE && ratio <= MONTH_EDGE_MAX) {
                edge_ratios[t] = Some(ratio);
            }
        }
        // A drop needs the weekday's pattern: a first weekend is no drop.
        let flagged =
            moved.filter(|m| *m == Direction::Spike || (thresholds.drops && pattern_known));
        let impact = actual - expected;
        out[t] = Some(Verdict {
            actual,
            expected,
            spread,
            score: (impact / spread).round_dp(2),
            flagged,
            moved,
            pattern_known,
            quiet: actual.abs() < thresholds.min_impact && expected.abs() < thresholds.min_impact,
        });
        // Cleaning, whether or not the move is reported: a short run stands
        // in for its expected values; a long one is a new level and keeps its
        // raw values. Days with nothing to judge (a weekday-only service's
        // weekend) do not end a run.
        match moved {
            Some(d) if run_direction == Some(d) => {
                run.push(t);
                misses = 0;
            }
            Some(d) => {
                run = vec![t];
                run_direction = Some(d);
                misses = 0;
            }
            None if out[t].as_ref().is_some_and(|v| v.quiet) => {}
            None if misses == 0 && !run.is_empty() => misses = 1,
            None => {
                run.clear();
                run_direction = None;
                misses = 0;
            }
        }
        // A day whose weekly pattern is not known yet keeps its own value:
        // standing in an expectation that ignores the pattern would keep
        // the pattern from ever being learnt. So does a day that moved the
        // same way as the same weekday in each of the two weeks before: that
        // is a weekly pattern, not an anomaly, and the three weeks' values
        // are kept (two weeks, such as two holidays, are still anomalies).
        let moved_on = |j: usize| out[j].as_ref().and_then(|v| v.moved);
        let weekly_again =
            t >= 14 && moved.is_some() && moved_on(t - 7) == moved && moved_on(t - 14) == moved;
        if weekly_again {
            clean[t - 7] = values[t - 7];
            clean[t - 14] = values[t - 14];
        }
        if let Some(d) = moved.filter(|_| pattern_known && !weekly_again) {
            if run.len() >= ADAPT_AFTER {
                for &j in &run {
                    clean[j] = values[j];
                }
                adopted = Some((run.clone(), d));
                level_from = run[0];
            } else {
                clean[t] = Some(expected);
            }
        }
    }
    out
}

/// Judges a series against expected values computed elsewhere (a team's:
/// the sum of its services' expected values), each with whether its weekly
/// pattern is known, from `start` on. Bounds and minimums as in
/// [`evaluate_from`]; no cleaning, which the parts did.
pub fn judge_against(
    values: &[Option<Decimal>],
    start: NaiveDate,
    expected: &[Option<(Decimal, bool)>],
    thresholds: &Thresholds,
) -> Vec<Option<Verdict>> {
    let mut out: Vec<Option<Verdict>> = vec![None; values.len()];
    let spend_from = first_spend(values);
    let judged_from = spend_from.map(|f| f + OWN_HISTORY_DAYS);
    let spend_from = spend_from.unwrap_or(values.len());
    for t in 0..values.len() {
        let (Some(actual), Some((expected, pattern_known))) = (values[t], expected[t]) else {
            continue;
        };
        let lo = t.saturating_sub(HISTORY_DAYS);
        if values[lo..t].iter().flatten().count() < MIN_HISTORY
            || judged_from.is_some_and(|from| t < from)
        {
            continue;
        }
        let (spread, mut threshold) = bounds(values, &out, lo, t, expected, thresholds, spend_from);
        if month_edge_unlearnt(start, t, &out) {
            threshold *= MONTH_EDGE_UNLEARNT_WIDENING;
        }
        let moved = judge(actual, expected, threshold, thresholds);
        out[t] = Some(Verdict {
            actual,
            expected,
            spread,
            score: ((actual - expected) / spread).round_dp(2),
            flagged: moved
                .filter(|m| *m == Direction::Spike || (thresholds.drops && pattern_known)),
            moved,
            pattern_known,
            quiet: actual.abs() < thresholds.min_impact && expected.abs() < thresholds.min_impact,
        });
    }
    out
}

/// The first day with spend, if any.
pub(crate) fn first_spend(values: &[Option<Decimal>]) -> Option<usize> {
    values.iter().position(|v| v.is_some_and(|v| !v.is_zero()))
}

/// The seasonal factor of day `t` and its expected value, from what earlier
/// days show (`clean`) and their own factors.
/// The factor is 1 while no week tells it (`known` false).
fn expected_at(
    clean: &[Option<Decimal>],
    seasonal: &[Decimal],
    t: usize,
    level_from: usize,
) -> Expected {
    let factor = seasonal_factor(clean, t);
    let known = factor.is_some();
    let factor = factor.unwrap_or(Decimal::ONE);
    Expected {
        factor,
        value: (level(clean, seasonal, t, level_from) * factor).round_dp(DP),
        known,
    }
}

/// A day's expected value and the seasonal factor behind it.
struct Expected {
    factor: Decimal,
    value: Decimal,
    /// Whether the weekly pattern is known for the day.
    known: bool,
}

/// The robust spread and the threshold for day `t`.
fn bounds(
    values: &[Option<Decimal>],
    out: &[Option<Verdict>],
    lo: usize,
    t: usize,
    expected: Decimal,
    thresholds: &Thresholds,
    spend_from: usize,
) -> (Decimal, Decimal) {
    // Errors of normal days only: a day past the threshold either way
    // (flagged or not) would widen the bounds for weeks. Over the last
    // [`SPREAD_DAYS`]: a spread from four weeks of errors is itself too
    // noisy (a quarter too low as often as not).
    let residuals: Vec<Decimal> = out[t.saturating_sub(SPREAD_DAYS)..t]
        .iter()
        .filter_map(|v| match v {
            Some(v) if v.moved.is_none() => Some((v.actual - v.expected).abs()),
            _ => None,
        })
        .collect();
    let settled = residuals.len() >= SETTLED_RESIDUALS;
    let tail = tail_factor(&residuals);
    let raw_spread = if residuals.len() >= MIN_HISTORY {
        median(residuals) * MAD_SCALE
    } else {
        let history: Vec<Decimal> = values[lo..t].iter().flatten().copied().collect();
        let centre = median(history.clone());
        median(history.into_iter().map(|v| (v - centre).abs()).collect()) * MAD_SCALE
    };
    let floor_percent = if settled {
        SPREAD_FLOOR_PERCENT
    } else {
        SHORT_SPREAD_FLOOR_PERCENT
    };
    let floor = expected.abs() * floor_percent / Decimal::ONE_HUNDRED;
    let spread = raw_spread.max(floor).max(Decimal::new(1, 2)).round_dp(DP);
    let mut threshold = thresholds.sensitivity * spread * tail;
    if !settled {
        threshold *= SHORT_HISTORY_WIDENING;
    }
    // An intermittent series (a batch job that runs on some days) alerts
    // only above its largest day of the last weeks.
    if let Some(largest) = intermittent_ceiling(values, t, spend_from) {
        threshold = threshold.max(largest - expected);
    }
    (spread, threshold)
}

/// Known days since its spend started that a series needs before it can
/// be called intermittent.
pub const INTERMITTENT_DAYS: usize = 14;
/// How far a series' 90th-percentile day must be above its median day, over
/// the last [`SPREAD_DAYS`], for it to be intermittent.
pub const INTERMITTENT_RATIO: Decimal = Decimal::from_parts(3, 0, 0, false, 0);
/// How many times its largest recent day an intermittent series' day must
/// be to alert.
pub const INTERMITTENT_MARGIN: Decimal = Decimal::from_parts(2, 0, 0, false, 0);
/// Separate bursts an intermittent series shows over those days.
pub const INTERMITTENT_BURSTS: usize = 3;
/// The percentile a series' ordinary low day is taken at.
pub const INTERMITTENT_LOW: usize = 40;

/// The largest day of the last [`SPREAD_DAYS`] (since `spend_from`, the
/// series' first spend) of an **intermittent** series: one whose days are
/// mostly near nothing with bursts far above them, such as a batch job that
/// runs on some days only, so that its 90th-percentile day is more than
/// [`INTERMITTENT_RATIO`] times its median day. Such a series jumps by
/// hundreds of percent whenever it runs: a run is ordinary unless it is
/// bigger than any of the last weeks'. `None` for any other series (a
/// steady one, or a weekday-only one, whose median is a working day), and
/// while fewer than [`INTERMITTENT_DAYS`] days tell.
fn intermittent_ceiling(
    values: &[Option<Decimal>],
    t: usize,
    spend_from: usize,
) -> Option<Decimal> {
    let from = t.saturating_sub(SPREAD_DAYS).max(spend_from);
    let window: Vec<Decimal> = values.get(from..t)?.iter().flatten().copied().collect();
    if window.len() < INTERMITTENT_DAYS {
        return None;
    }
    let mut sorted = window.clone();
    sorted.sort();
    let low = sorted[(sorted.len() * INTERMITTENT_LOW).div_ceil(100) - 1];
    let largest = sorted[sorted.len() - 1];
    // Bursts: separate runs of days far above the low day. A spike or two
    // of an ordinary series are not enough.
    let high = |v: &Decimal| *v > Decimal::ZERO && *v > low * INTERMITTENT_RATIO;
    let bursts = window
        .iter()
        .zip(std::iter::once(&Decimal::ZERO).chain(window.iter()))
        .filter(|(v, before)| high(v) && !high(before))
        .count();
    (bursts >= INTERMITTENT_BURSTS).then(|| largest * INTERMITTENT_MARGIN)
}

/// Days at each end of a month that follow the same days of earlier months
/// (month-start batch jobs, month-end closing).
pub const MONTH_EDGE_DAYS: u32 = 3;
/// Earlier months that must tell before a month-edge day follows them.
pub const MONTH_EDGE_MIN_MONTHS: usize = 1;
/// The most a month edge raises a day's expected value by.
pub const MONTH_EDGE_MAX: Decimal = Decimal::from_parts(15, 0, 0, false, 1);
/// Earlier months a month-edge day looks back over.
pub const MONTH_EDGE_MONTHS: u32 = 3;
/// The least rise over the weekly expectation that earlier months' same
/// day must show for a month edge to raise a day's expected value (10%: a
/// smaller one is as likely noise, and raising the expected value by it
/// hides a real spike on the day).
pub const MONTH_EDGE_RISE: Decimal = Decimal::from_parts(110, 0, 0, false, 2);
/// How much wider the threshold is on a month-edge day that the series
/// has not been judged through in any earlier month (its first month end
/// or start): month edges often rise (closing runs, month-start batch
/// jobs), and nothing yet tells whether this series' do.
pub const MONTH_EDGE_UNLEARNT_WIDENING: Decimal = Decimal::from_parts(115, 0, 0, false, 2);

/// The factor a day at a month's edge (its first or last
/// [`MONTH_EDGE_DAYS`] days) raises its expected value by: the median of
/// what the same day (counted from the month's start or end) was over its
/// weekly expectation in the last [`MONTH_EDGE_MONTHS`] months (at least
/// [`MONTH_EDGE_MIN_MONTHS`]), when that median is a rise of 5% or more,
/// at most [`MONTH_EDGE_MAX`]; else 1. Days past their bounds by more than
/// that maximum (real spikes) are not learnt from. So a team that spends
/// 15% more on each month's last days alerts on the first month's, not
/// every month's.
fn month_edge_factor(start: NaiveDate, t: usize, ratios: &[Option<Decimal>]) -> Decimal {
    let Some(days) = same_edge_days(start, t) else {
        return Decimal::ONE;
    };
    let seen: Vec<Decimal> = days
        .into_iter()
        .filter_map(|j| ratios.get(j).copied().flatten())
        .collect();
    // The median of what earlier months showed, when it is a clear rise:
    // one noisy month among three teaches nothing.
    if seen.len() < MONTH_EDGE_MIN_MONTHS {
        return Decimal::ONE;
    }
    let typical = median(seen);
    if typical < MONTH_EDGE_RISE {
        return Decimal::ONE;
    }
    typical.min(MONTH_EDGE_MAX)
}

/// Whether day `t` is at a month's edge that the series has not been
/// judged through yet: none of the same days of the last
/// [`MONTH_EDGE_MONTHS`] months was judged (the first month end or start
/// of its history), so nothing tells whether its month edges rise.
fn month_edge_unlearnt(start: NaiveDate, t: usize, out: &[Option<Verdict>]) -> bool {
    same_edge_days(start, t).is_some_and(|days| {
        days.into_iter()
            .all(|j| out.get(j).is_none_or(Option::is_none))
    })
}

/// For a day at a month's edge (its first or last [`MONTH_EDGE_DAYS`]
/// days), the indices of the same day (counted from the month's start or
/// end) in the last [`MONTH_EDGE_MONTHS`] months that the series covers;
/// `None` for any other day.
fn same_edge_days(start: NaiveDate, t: usize) -> Option<Vec<usize>> {
    use chrono::{Datelike, Days, Months};
    let day = start.checked_add_days(Days::new(t as u64))?;
    let first = day.with_day(1).expect("day 1 exists");
    let last = first + Months::new(1) - Days::new(1);
    // Days from the start, or (negative) from the end.
    let position = if day.day() <= MONTH_EDGE_DAYS {
        i64::from(day.day() - 1)
    } else if last.day() - day.day() < MONTH_EDGE_DAYS {
        -i64::from(last.day() - day.day()) - 1
    } else {
        return None;
    };
    let mut days = Vec::new();
    for k in 1..=MONTH_EDGE_MONTHS {
        let Some(month) = first.checked_sub_months(Months::new(k)) else {
            break;
        };
        let same = if position >= 0 {
            month + Days::new(position as u64)
        } else {
            month + Months::new(1) - Days::new((-position) as u64)
        };
        let Ok(j) = usize::try_from((same - start).num_days()) else {
            break;
        };
        days.push(j);
    }
    Some(days)
}

/// Errors needed before a series' tails are measured.
pub const TAIL_RESIDUALS: usize = 28;
/// What a measured tail factor must exceed 1 by to count (sampling noise).
pub const TAIL_MARGIN: Decimal = Decimal::from_parts(15, 0, 0, false, 2);
/// The most a series' heavy tails widen its threshold.
pub const TAIL_MAX: Decimal = Decimal::from_parts(16, 0, 0, false, 1);

/// How much heavier than a normal distribution's a series' error tails are:
/// its 95th percentile absolute error over 1.96 robust spreads (1 for
/// Gaussian noise, about 1.4 for Student-t with 3 degrees of freedom or
/// Laplace noise), at least 1 and at most [`TAIL_MAX`]. The threshold is
/// multiplied by it, so a series whose ordinary days often sit 4 spreads
/// out needs a bigger move to alert. 1 until [`TAIL_RESIDUALS`] errors exist.
fn tail_factor(residuals: &[Decimal]) -> Decimal {
    if residuals.len() < TAIL_RESIDUALS {
        return Decimal::ONE;
    }
    let mut sorted = residuals.to_vec();
    sorted.sort();
    let spread = median(sorted.clone()) * MAD_SCALE;
    if spread.is_zero() {
        return Decimal::ONE;
    }
    let q95 = sorted[(sorted.len() * 95).div_ceil(100) - 1];
    // Less a margin: Gaussian noise measures above 1 by chance.
    (q95 / (Decimal::new(196, 2) * spread) - TAIL_MARGIN).clamp(Decimal::ONE, TAIL_MAX)
}

/// Which way a day moved past its bounds, if it did by enough: past the
/// threshold and past both minimums.
fn judge(
    actual: Decimal,
    expected: Decimal,
    threshold: Decimal,
    thresholds: &Thresholds,
) -> Option<Direction> {
    let impact = actual - expected;
    let big_enough = impact.abs() >= thresholds.min_impact
        && (expected.abs().is_zero()
            || impact.abs() * Decimal::ONE_HUNDRED
                >= thresholds.min_impact_percent * expected.abs());
    if !big_enough {
        None
    } else if impact > threshold {
        Some(Direction::Spike)
    } else if -impact > threshold {
        Some(Direction::Drop)
    } else {
        None
    }
}

/// The median of same-weekday ratios to their week's median; `None` while
/// no week has enough days around it (or a positive median).
fn seasonal_factor(clean: &[Option<Decimal>], t: usize) -> Option<Decimal> {
    let mut factors = Vec::new();
    for k in 1..=SEASON_WEEKS {
        let Some(j) = t.checked_sub(7 * k) else { break };
        let Some(value) = clean[j] else { continue };
        let window: Vec<Decimal> = (j.saturating_sub(3)..=j + 3)
            .filter(|&i| i < t)
            .filter_map(|i| clean[i])
            .collect();
        if window.len() == 7 {
            let centre = median(window);
            if centre > Decimal::ZERO {
                factors.push((value / centre).round_dp(DP));
            }
        }
    }
    (!factors.is_empty()).then(|| median(factors).max(Decimal::ZERO))
}

/// The median of the last [`LEVEL_DAYS`] days' deseasonalised values (the
/// last 14 or 28 days' when those have fewer than 4 usable days), none
/// before `level_from` (where the last adopted level shift started) once
/// [`ADAPT_AFTER`] days of it exist: the new level alone, so alerts stop
/// within the adaptation window. Days whose weekday is seasonally zero
/// tell nothing about the level and are skipped.
fn level(clean: &[Option<Decimal>], seasonal: &[Decimal], t: usize, level_from: usize) -> Decimal {
    let from = if t.saturating_sub(level_from) >= ADAPT_AFTER {
        level_from
    } else {
        0
    };
    for days in [LEVEL_DAYS, 14, HISTORY_DAYS] {
        let values: Vec<Decimal> = (t.saturating_sub(days).max(from)..t)
            .filter(|&j| seasonal[j] > Decimal::ZERO)
            .filter_map(|j| clean[j].map(|v| v / seasonal[j]))
            .collect();
        if values.len() >= 4 || days == HISTORY_DAYS {
            return median(values);
        }
    }
    unreachable!("the last window always returns")
}

/// The median (the mean of the two middle values for an even count; 0 for none).
pub fn median(mut values: Vec<Decimal>) -> Decimal {
    if values.is_empty() {
        return Decimal::ZERO;
    }
    values.sort();
    let mid = values.len() / 2;
    if values.len() % 2 == 1 {
        values[mid]
    } else {
        (values[mid - 1] + values[mid]) / Decimal::TWO
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(v: i64) -> Decimal {
        Decimal::from(v)
    }

    fn defaults() -> Thresholds {
        Thresholds::default()
    }

    /// A weekly pattern: 1000 on weekdays, 600 at weekends, with a little
    /// deterministic noise.
    fn weekly(days: usize) -> Vec<Option<Decimal>> {
        (0..days)
            .map(|i| {
                let base = if i % 7 >= 5 { 600 } else { 1000 };
                let wiggle = [0, 12, -9, 5, -14, 8, -3, 10, -6, 2, 15, -11, 4][i % 13];
                Some(d(base + wiggle))
            })
            .collect()
    }

    fn flagged(verdicts: &[Option<Verdict>]) -> Vec<(usize, Direction)> {
        verdicts
            .iter()
            .enumerate()
            .filter_map(|(i, v)| v.as_ref().and_then(|v| v.flagged).map(|f| (i, f)))
            .collect()
    }

    /// A batch job: a few cents on most days, 4 to 15 on the days it runs
    /// (a deterministic pseudo-random third of them).
    fn batch_job(days: usize) -> Vec<Option<Decimal>> {
        (0..days)
            .map(|i| {
                let h = (i * 7919 + 13) % 101;
                Some(if h % 3 == 0 {
                    Decimal::new(400 + (h as i64 % 12) * 90, 2)
                } else {
                    Decimal::new(20 + (h as i64 % 7), 2)
                })
            })
            .collect()
    }

    /// Issue 9, item 17: a batch job jumping from cents to more than the
    /// absolute minimum whenever it ran alerted on its runs.
    #[test]
    fn a_batch_jobs_ordinary_runs_do_not_alert_and_a_run_twice_its_largest_does() {
        let series = batch_job(150);
        assert_eq!(flagged(&evaluate(&series, &defaults())), vec![]);
        // A run of 40, more than twice the largest (13.90), alerts.
        let mut big = series.clone();
        big[120] = Some(d(40));
        assert_eq!(
            flagged(&evaluate(&big, &defaults())),
            vec![(120, Direction::Spike)]
        );
    }

    /// An ordinary series with a spike in its recent weeks is not taken for
    /// a batch job: its next spike still alerts on its first day.
    #[test]
    fn a_second_spike_of_an_ordinary_series_alerts_on_its_first_day() {
        let mut series = weekly(150);
        // Six days of the last eight weeks at five times their level, and
        // two more: more than a tenth of the weeks' days far above the rest.
        for day in (70..76).chain([95, 96]) {
            series[day] = series[day].map(|v| v * d(5));
        }
        series[110] = series[110].map(|v| v * d(3));
        let found = flagged(&evaluate(&series, &defaults()));
        assert!(found.contains(&(70, Direction::Spike)), "{found:?}");
        assert!(found.contains(&(95, Direction::Spike)), "{found:?}");
        assert!(found.contains(&(110, Direction::Spike)), "{found:?}");
    }

    /// Issue 9: a team spending 25% more on each month's last two days
    /// alerted every month. The same days of earlier months teach it.
    #[test]
    fn a_rise_on_every_months_last_days_alerts_once_not_every_month() {
        use chrono::Datelike;
        let start = NaiveDate::from_ymd_opt(2026, 1, 1).unwrap();
        let series: Vec<Option<Decimal>> = weekly(160)
            .into_iter()
            .enumerate()
            .map(|(i, v)| {
                let day = start + chrono::Days::new(i as u64);
                let next = day + chrono::Days::new(2);
                let month_end = next.month() != day.month();
                v.map(|v| {
                    if month_end {
                        v * Decimal::new(125, 2)
                    } else {
                        v
                    }
                })
            })
            .collect();
        let months_flagged = |verdicts: &[Option<Verdict>]| {
            let mut months: Vec<u32> = flagged(verdicts)
                .into_iter()
                .map(|(i, _)| (start + chrono::Days::new(i as u64)).month())
                .collect();
            months.dedup();
            months
        };
        // Without dates, every month's end is a spike ...
        assert_eq!(
            months_flagged(&evaluate(&series, &defaults())),
            vec![1, 2, 3, 4, 5]
        );
        // ... with them, only the first month's.
        assert_eq!(
            months_flagged(&evaluate_from(&series, Some(start), &defaults())),
            vec![1]
        );
        // A spike on a month-edge day well above the learnt rise still alerts.
        let mut spiked = series.clone();
        let may_31 = (NaiveDate::from_ymd_opt(2026, 5, 31).unwrap() - start).num_days() as usize;
        spiked[may_31] = spiked[may_31].map(|v| v * d(3));
        let found = flagged(&evaluate_from(&spiked, Some(start), &defaults()));
        assert!(found.contains(&(may_31, Direction::Spike)), "{found:?}");
    }

    /// Issue 9, item 17: the first month end or start of a series alerted
    /// on rises that later months showed to be its month edges' own. A
    /// month edge no earlier month has shown needs a wider move; one that
    /// earlier months have shown (without a rise) does not.
    #[test]
    fn a_first_month_edge_needs_a_wider_move_and_a_known_one_does_not() {
        // From the 4th, so the first month edge judged (February's start:
        // January's was before the series) has settled bounds.
        let start = NaiveDate::from_ymd_opt(2026, 1, 4).unwrap();
        // Noisy enough that the spread, not the 15% minimum, decides.
        let base = |i: usize| if i % 7 >= 5 { d(600) } else { d(1000) };
        let series: Vec<Option<Decimal>> = weekly(150)
            .into_iter()
            .enumerate()
            .map(|(i, v)| v.map(|v| base(i) + (v - base(i)) * d(6)))
            .collect();
        let day = |m: u32, d: u32| {
            (NaiveDate::from_ymd_opt(2026, m, d).unwrap() - start).num_days() as usize
        };
        // The smallest rise over the pattern, in half percents, that alerts
        // on `at`.
        let least_rise = |at: usize| {
            (1..=200)
                .find(|&step| {
                    let mut spiked = series.clone();
                    spiked[at] = Some(base(at) * (d(1) + Decimal::new(step * 5, 3)));
                    flagged(&evaluate_from(&spiked, Some(start), &defaults()))
                        .contains(&(at, Direction::Spike))
                })
                .expect("a doubling alerts")
        };
        // A week apart, the same day of the series' weekly pattern.
        let (first_edge, ordinary) = (least_rise(day(2, 2)), least_rise(day(2, 9)));
        assert!(
            first_edge * 100 >= ordinary * 110,
            "{first_edge} vs {ordinary}"
        );
        // May's 2nd has three earlier months' 2nd behind it.
        let (known_edge, ordinary) = (least_rise(day(5, 2)), least_rise(day(5, 9)));
        assert!(
            known_edge * 100 < ordinary * 105,
            "{known_edge} vs {ordinary}"
        );
    }

    #[test]
    fn a_spike_on_a_month_edge_teaches_the_next_month_nothing() {
        let start = NaiveDate::from_ymd_opt(2026, 1, 1).unwrap();
        let mut series = weekly(70);
        let day = |m: u32, d: u32| {
            (NaiveDate::from_ymd_opt(2026, m, d).unwrap() - start).num_days() as usize
        };
        series[day(1, 31)] = series[day(1, 31)].map(|v| v * d(3));
        series[day(2, 28)] = series[day(2, 28)].map(|v| v * Decimal::new(14, 1));
        let found = flagged(&evaluate_from(&series, Some(start), &defaults()));
        assert!(found.contains(&(day(1, 31), Direction::Spike)), "{found:?}");
        assert!(found.contains(&(day(2, 28), Direction::Spike)), "{found:?}");
    }

    #[test]
    fn heavy_tailed_errors_widen_the_threshold_and_light_ones_do_not() {
        // Mostly small errors and a few five times as large (heavy tails).
        let heavy: Vec<Decimal> = (0..56)
            .map(|i| if i % 9 == 0 { d(5) } else { d(1) })
            .collect();
        let factor = tail_factor(&heavy);
        assert!(factor > d(1) && factor <= TAIL_MAX, "{factor}");
        // Evenly spread errors: lighter tails than a normal distribution's.
        let light: Vec<Decimal> = (0..56).map(|i| Decimal::new(i * 5, 2)).collect();
        assert_eq!(tail_factor(&light), d(1));
        // Too few errors to tell.
        assert_eq!(tail_factor(&heavy[..TAIL_RESIDUALS - 1]), d(1));
    }

    #[test]
    fn a_weekly_pattern_is_not_flagged() {
        let verdicts = evaluate(&weekly(90), &defaults());
        assert_eq!(flagged(&verdicts), vec![]);
        // Weekend days are expected low, weekdays high.
        let v = verdicts[61].as_ref().unwrap(); // 61 % 7 == 5: a weekend day
        assert!(v.expected < d(700), "{v:?}");
        let v = verdicts[63].as_ref().unwrap();
        assert!(v.expected > d(950), "{v:?}");
    }

    #[test]
    fn a_weekly_pattern_is_learnt_even_when_drops_are_flagged() {
        // Starting on a weekend day; the second weekend, seen with one week
        // of history, must not stop the pattern from being learnt.
        let with_drops = Thresholds {
            drops: true,
            ..defaults()
        };
        let series: Vec<Option<Decimal>> = weekly(64).into_iter().skip(5).collect();
        let verdicts = evaluate(&series, &with_drops);
        let late: Vec<(usize, Direction)> = flagged(&verdicts)
            .into_iter()
            .filter(|f| f.0 >= 21)
            .collect();
        assert_eq!(late, vec![]);
    }

    #[test]
    fn a_single_spike_is_flagged_on_its_day_only() {
        let mut series = weekly(60);
        series[45] = Some(d(1500)); // a weekday at +50%
        let verdicts = evaluate(&series, &defaults());
        assert_eq!(flagged(&verdicts), vec![(45, Direction::Spike)]);
        let v = verdicts[45].as_ref().unwrap();
        assert!(v.impact() > d(450) && v.impact() < d(550), "{v:?}");
        assert!(v.score > d(5), "{v:?}");
    }

    #[test]
    fn a_spike_during_short_history_is_flagged_and_nothing_before_two_weeks() {
        let mut series = weekly(18);
        series[15] = Some(d(2500)); // a weekday at 2.5x, with 15 days of history
        let verdicts = evaluate(&series, &defaults());
        assert!(verdicts[..OWN_HISTORY_DAYS].iter().all(Option::is_none));
        assert_eq!(flagged(&verdicts), vec![(15, Direction::Spike)]);
        // Bounds are wider while history is short: a +20% day is not enough
        // at first, but is once history has settled.
        let mut series = weekly(18);
        series[15] = Some(d(1200));
        assert_eq!(flagged(&evaluate(&series, &defaults())), vec![]);
        let mut series = weekly(60);
        series[50] = Some(d(1200));
        assert_eq!(
            flagged(&evaluate(&series, &defaults())),
            vec![(50, Direction::Spike)]
        );
    }

    #[test]
    fn a_level_shift_is_adopted_within_the_adaptation_window() {
        let mut series = weekly(70);
        for v in series.iter_mut().skip(40) {
            *v = v.map(|x| x * Decimal::new(16, 1)); // +60% from day 40 on
        }
        let verdicts = evaluate(&series, &defaults());
        let days: Vec<usize> = flagged(&verdicts).into_iter().map(|f| f.0).collect();
        assert!(
            days.contains(&40),
            "the shift's first day is flagged: {days:?}"
        );
        assert!(
            days.iter()
                .all(|&t| (40..40 + ADAPTATION_DAYS).contains(&t)),
            "alerts stop within {ADAPTATION_DAYS} days: {days:?}"
        );
    }

    #[test]
    fn a_weekday_only_series_adopts_a_level_shift_across_its_quiet_weekends() {
        // Costs on weekdays only; +60% from a Thursday on.
        let mut series: Vec<Option<Decimal>> = weekly(70)
            .into_iter()
            .enumerate()
            .map(|(i, v)| if i % 7 >= 5 { Some(Decimal::ZERO) } else { v })
            .collect();
        for v in series.iter_mut().skip(38) {
            *v = v.map(|x| x * Decimal::new(16, 1));
        }
        let verdicts = evaluate(&series, &defaults());
        let days: Vec<usize> = flagged(&verdicts).into_iter().map(|f| f.0).collect();
        assert_eq!(days.first(), Some(&38), "{days:?}");
        // Four judged days: Thursday, Friday, Monday, Tuesday.
        assert!(days.iter().all(|&t| t < 38 + 6), "{days:?}");
        assert!(verdicts[40].as_ref().unwrap().quiet);
    }

    #[test]
    fn the_end_of_a_long_spike_is_not_a_drop() {
        let mut series = weekly(70);
        for v in series.iter_mut().take(45).skip(38) {
            *v = v.map(|x| x * Decimal::TWO); // a week at twice the level
        }
        let with_drops = Thresholds {
            drops: true,
            ..defaults()
        };
        let verdicts = evaluate(&series, &with_drops);
        let found = flagged(&verdicts);
        assert!(found.iter().all(|f| f.1 == Direction::Spike), "{found:?}");
        assert!(found.iter().all(|f| (38..45).contains(&f.0)), "{found:?}");
        // And the level is back where it was.
        let v = verdicts[50].as_ref().unwrap();
        assert!(v.expected < d(1100), "{v:?}");
    }

    #[test]
    fn two_holidays_on_one_weekday_do_not_bend_that_weekday() {
        let mut series = weekly(90);
        for t in [45, 52] {
            series[t] = series[t].map(|v| v * Decimal::new(6, 1)); // -40%
        }
        let with_drops = Thresholds {
            drops: true,
            ..defaults()
        };
        assert_eq!(
            flagged(&evaluate(&series, &with_drops)),
            vec![(45, Direction::Drop), (52, Direction::Drop)]
        );
        assert_eq!(flagged(&evaluate(&series, &defaults())), vec![]);
    }

    #[test]
    fn a_new_weekly_job_alerts_at_most_three_times() {
        let mut series = weekly(100);
        for t in (44..100).step_by(7) {
            series[t] = series[t].map(|v| v * Decimal::new(15, 1)); // +50% every week
        }
        let days: Vec<usize> = flagged(&evaluate(&series, &defaults()))
            .into_iter()
            .map(|f| f.0)
            .collect();
        assert_eq!(days, vec![44, 51, 58]);
    }

    #[test]
    fn the_end_of_a_ten_day_spike_is_not_a_drop() {
        let mut series = weekly(80);
        for v in series.iter_mut().take(48).skip(38) {
            *v = v.map(|x| x * Decimal::TWO);
        }
        let with_drops = Thresholds {
            drops: true,
            ..defaults()
        };
        let found = flagged(&evaluate(&series, &with_drops));
        assert!(found.iter().all(|f| f.1 == Direction::Spike), "{found:?}");
    }

    #[test]
    fn drops_are_flagged_only_when_enabled() {
        let mut series = weekly(50);
        series[44] = Some(d(300)); // a weekday at -70%
        assert_eq!(flagged(&evaluate(&series, &defaults())), vec![]);
        let with_drops = Thresholds {
            drops: true,
            ..defaults()
        };
        assert_eq!(
            flagged(&evaluate(&series, &with_drops)),
            vec![(44, Direction::Drop)]
        );
    }

    #[test]
    fn small_impacts_are_not_flagged_however_unusual() {
        // A perfectly flat series: any change is many spreads away.
        let mut series = vec![Some(d(100)); 40];
        series[30] = Some(d(105)); // +5%: below the relative minimum
        assert_eq!(flagged(&evaluate(&series, &defaults())), vec![]);
        let mut series = vec![Some(d(10)); 40];
        series[30] = Some(d(14)); // +40% but only 4 in money: below the absolute minimum
        assert_eq!(flagged(&evaluate(&series, &defaults())), vec![]);
        // Issue 9, item 17: a floor of 10 a day missed the spikes of 5 to 10
        // a day (150 to 300 a month) that both independent generators label.
        series[30] = Some(d(16));
        assert_eq!(
            flagged(&evaluate(&series, &defaults())),
            vec![(30, Direction::Spike)]
        );
    }

    #[test]
    fn a_past_spike_does_not_inflate_the_baseline() {
        let mut series = weekly(60);
        series[38] = Some(d(5000));
        series[45] = Some(d(1400)); // a week later, same weekday, +40%
        let flagged = flagged(&evaluate(&series, &defaults()));
        assert_eq!(
            flagged,
            vec![(38, Direction::Spike), (45, Direction::Spike)]
        );
    }

    #[test]
    fn unknown_days_are_skipped_not_counted_as_zero() {
        let mut series = weekly(50);
        for v in series.iter_mut().take(30).skip(25) {
            *v = None;
        }
        let verdicts = evaluate(&series, &defaults());
        assert!(verdicts[25..30].iter().all(Option::is_none));
        assert_eq!(flagged(&verdicts), vec![]);
    }

    #[test]
    fn median_of_even_and_odd_counts() {
        assert_eq!(median(vec![d(3), d(1), d(2)]), d(2));
        assert_eq!(median(vec![d(4), d(1), d(2), d(3)]), Decimal::new(25, 1));
        assert_eq!(median(vec![]), Decimal::ZERO);
    }
}
