//! Unit costs: a scope's allocated cost of a month divided by a business
//! metric's value for that month, with month-over-month and year-over-year
//! changes. Pure: the caller brings the months' costs (rounded showback
//! figures, so a unit cost times its metric value is the showback's cost)
//! and the metric's points.

use std::collections::{BTreeMap, BTreeSet};

use chrono::NaiveDate;
use rust_decimal::Decimal;

use crate::domain::{Aggregation, Currency, MetricPoint, Month, PointDate};

/// Significant digits a unit cost is shown with (the exact quotient is
/// kept for the changes).
pub const UNIT_COST_SIGNIFICANT_DIGITS: u32 = 6;
/// Decimal places of a change in percent.
pub const CHANGE_DP: u32 = 1;

/// A metric's value for one month and where it came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MonthValue {
    pub value: Decimal,
    /// A month point: the month's value as given (its days, if any, are
    /// not used).
    pub from_month_point: bool,
    /// The days whose values made it (none when `from_month_point`).
    pub days: Vec<NaiveDate>,
}

/// The value of each month that has points, by `aggregation`: a month
/// point is the month's value; otherwise its days' values are added up
/// (`sum`), averaged over the days that have one (`average`), or the
/// latest day's is taken (`last`). `points` are of one metric and scope.
pub fn month_values(
    aggregation: Aggregation,
    points: &[MetricPoint],
) -> BTreeMap<Month, MonthValue> {
    let mut months: BTreeMap<Month, (Option<Decimal>, BTreeMap<NaiveDate, Decimal>)> =
        BTreeMap::new();
    for p in points {
        let entry = months.entry(p.date.month()).or_default();
        match p.date {
            PointDate::Month(_) => entry.0 = Some(p.value),
            PointDate::Day(d) => {
                entry.1.insert(d, p.value);
            }
        }
    }
    months
        .into_iter()
        .filter_map(|(month, (whole, days))| {
            if let Some(value) = whole {
                return Some((
                    month,
                    MonthValue {
                        value,
                        from_month_point: true,
                        days: Vec::new(),
                    },
                ));
            }
            let (&last_day, &last) = days.iter().next_back()?;
            let value = match aggregation {
                Aggregation::Sum => days.values().sum(),
                Aggregation::Average => {
                    let sum: Decimal = days.values().sum();
                    (sum / Decimal::from(days.len())).normalize()
                }
                Aggregation::Last => last,
            };
            let used = match aggregation {
                Aggregation::Last => vec![last_day],
                _ => days.keys().copied().collect(),
            };
            Some((
                month,
                MonthValue {
                    value,
                    from_month_point: false,
                    days: used,
                },
            ))
        })
        .collect()
}

/// A scope's cost in one allocated month.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MonthCost {
    /// The month's allocation is older than its inputs.
    pub stale: bool,
    /// Rounded to cents, per currency; a currency the scope has no cost in
    /// is absent.
    pub by_currency: BTreeMap<Currency, Decimal>,
}

/// Why a month has, or has not, a unit cost.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum UnitCostStatus {
    Ok,
    /// The metric has no value for the month.
    NoMetric,
    /// The metric's value is zero: no unit cost.
    ZeroMetric,
    /// The month is not allocated, or the scope has no cost in it.
    NoCost,
    /// Figures from an allocation older than its inputs: re-allocate.
    Stale,
}

impl UnitCostStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            UnitCostStatus::Ok => "ok",
            UnitCostStatus::NoMetric => "no_metric",
            UnitCostStatus::ZeroMetric => "zero_metric",
            UnitCostStatus::NoCost => "no_cost",
            UnitCostStatus::Stale => "stale",
        }
    }

    /// Whether the month has a unit cost.
    pub fn has_unit_cost(self) -> bool {
        matches!(self, UnitCostStatus::Ok | UnitCostStatus::Stale)
    }
}

/// One month of a unit-cost series, in one currency.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnitCostRow {
    pub month: Month,
    /// `None` only when no month of the series has any cost.
    pub currency: Option<Currency>,
    /// The scope's allocated cost, rounded to cents.
    pub cost: Option<Decimal>,
    pub metric_value: Option<Decimal>,
    /// `cost / metric_value`, exact (to 28 digits); see [`shown`].
    pub unit_cost: Option<Decimal>,
    /// Change of the exact unit cost from the month before, in percent.
    pub mom_change_pct: Option<Decimal>,
    /// Change from the same month a year before, in percent.
    pub yoy_change_pct: Option<Decimal>,
    pub status: UnitCostStatus,
}

/// A unit cost as shown: [`UNIT_COST_SIGNIFICANT_DIGITS`] significant digits.
pub fn shown(unit_cost: Decimal) -> Decimal {
    unit_cost
        .round_sf(UNIT_COST_SIGNIFICANT_DIGITS)
        .unwrap_or(unit_cost)
        .normalize()
}

/// The unit costs of `from..=to` (ascending), one row per month and
/// currency of the series. `costs` holds the allocated months (from a year
/// before `from`, for the changes); `values` the metric's month values.
/// A change is computed only between two months that both have a unit
/// cost in the same currency: over a gap it is `None`, never a change
/// against an earlier month.
pub fn unit_costs(
    from: Month,
    to: Month,
    costs: &BTreeMap<Month, MonthCost>,
    values: &BTreeMap<Month, MonthValue>,
) -> Vec<UnitCostRow> {
    let months: Vec<Month> = months_between(from, to);
    let currencies: BTreeSet<Currency> = months
        .iter()
        .filter_map(|m| costs.get(m))
        .flat_map(|c| c.by_currency.keys().copied())
        .collect();
    let currencies: Vec<Option<Currency>> = if currencies.is_empty() {
        vec![None]
    } else {
        currencies.into_iter().map(Some).collect()
    };
    let exact = |month: Month, currency: Option<Currency>| -> Option<Decimal> {
        let (row, _) = figure(month, currency, costs, values);
        row.status
            .has_unit_cost()
            .then_some(row.unit_cost)
            .flatten()
    };
    let change = |now: Option<Decimal>, before: Option<Decimal>| -> Option<Decimal> {
        let (now, before) = (now?, before?);
        if before.is_zero() {
            return None;
        }
        let pct = (now - before)
            .checked_div(before)?
            .checked_mul(Decimal::ONE_HUNDRED)?;
        Some(pct.round_dp(CHANGE_DP))
    };
    let mut out = Vec::new();
    for &month in &months {
        for &currency in &currencies {
            let (mut row, unit) = figure(month, currency, costs, values);
            if row.status.has_unit_cost() {
                let prev = exact(minus_months(month, 1), currency);
                let year = exact(minus_months(month, 12), currency);
                row.mom_change_pct = change(unit, prev);
                row.yoy_change_pct = change(unit, year);
            }
            out.push(row);
        }
    }
    out
}

/// One month's row without its changes, and its exact unit cost.
fn figure(
    month: Month,
    currency: Option<Currency>,
    costs: &BTreeMap<Month, MonthCost>,
    values: &BTreeMap<Month, MonthValue>,
) -> (UnitCostRow, Option<Decimal>) {
    let cost_of = costs.get(&month);
    let cost = currency.and_then(|c| cost_of.and_then(|m| m.by_currency.get(&c)).copied());
    let metric_value = values.get(&month).map(|v| v.value);
    let status = match (cost, metric_value) {
        (None, _) => UnitCostStatus::NoCost,
        (_, None) => UnitCostStatus::NoMetric,
        (_, Some(v)) if v.is_zero() => UnitCostStatus::ZeroMetric,
        _ if cost_of.is_some_and(|c| c.stale) => UnitCostStatus::Stale,
        _ => UnitCostStatus::Ok,
    };
    let unit = match (status.has_unit_cost(), cost, metric_value) {
        (true, Some(c), Some(v)) => c.checked_div(v).map(|u| u.normalize()),
        _ => None,
    };
    (
        UnitCostRow {
            month,
            currency,
            cost,
            metric_value,
            unit_cost: unit,
            mom_change_pct: None,
            yoy_change_pct: None,
            status,
        },
        unit,
    )
}

/// A contributor to a change of cost between two months: a team, or a
/// service of a team.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mover {
    pub name: String,
    pub before: Decimal,
    pub after: Decimal,
}

impl Mover {
    pub fn change(&self) -> Decimal {
        self.after - self.before
    }
}

/// The `n` contributors whose cost moved most between `before` and
/// `after` (by the size of the change, largest first; names break ties);
/// those that did not move are left out.
pub fn movers(
    before: &BTreeMap<String, Decimal>,
    after: &BTreeMap<String, Decimal>,
    n: usize,
) -> Vec<Mover> {
    let names: BTreeSet<&String> = before.keys().chain(after.keys()).collect();
    let mut all: Vec<Mover> = names
        .into_iter()
        .map(|name| Mover {
            name: name.clone(),
            before: before.get(name).copied().unwrap_or_default(),
            after: after.get(name).copied().unwrap_or_default(),
        })
        .filter(|m| !m.change().is_zero())
        .collect();
    all.sort_by(|a, b| {
        b.change()
            .abs()
            .cmp(&a.change().abs())
            .then_with(|| a.name.cmp(&b.name))
    });
    all.truncate(n);
    all
}

/// `from..=to`, ascending; empty when `from` is after `to`.
pub fn months_between(from: Month, to: Month) -> Vec<Month> {
    let mut out = Vec::new();
    let mut m = from;
    while m <= to {
        out.push(m);
        m = m.next();
    }
    out
}

/// The month `n` months before `month` (saturating at the first month a
/// [`Month`] can be).
pub fn minus_months(month: Month, n: u32) -> Month {
    let index = month.year() as i64 * 12 + month.month() as i64 - 1 - n as i64;
    let (year, m) = (index.div_euclid(12), index.rem_euclid(12) + 1);
    Month::new(year as i32, m as u32).unwrap_or(month)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{MetricName, MetricScope};

    fn d(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    fn m(s: &str) -> Month {
        Month::parse(s).unwrap()
    }

    fn point(date: &str, value: Decimal) -> MetricPoint {
        MetricPoint {
            metric: MetricName::parse("orders").unwrap(),
            scope: MetricScope::Organisation,
            date: PointDate::parse(date).unwrap(),
            value,
        }
    }

    fn usd() -> Currency {
        Currency::parse("USD").unwrap()
    }

    fn cost(amount: Decimal) -> MonthCost {
        MonthCost {
            stale: false,
            by_currency: [(usd(), amount)].into(),
        }
    }

    #[test]
    fn days_make_a_month_by_the_metrics_aggregation() {
        let points = [
            point("2026-10-01", d("10")),
            point("2026-10-02", d("20")),
            point("2026-10-31", d("3")),
        ];
        let value = |a| month_values(a, &points)[&m("2026-10")].value;
        assert_eq!(value(Aggregation::Sum), d("33"));
        assert_eq!(value(Aggregation::Average), d("11"));
        assert_eq!(value(Aggregation::Last), d("3"));
        let last = month_values(Aggregation::Last, &points);
        assert_eq!(
            last[&m("2026-10")].days,
            vec![NaiveDate::from_ymd_opt(2026, 10, 31).unwrap()]
        );
    }

    #[test]
    fn a_month_point_is_the_months_value() {
        let points = [point("2026-10-01", d("10")), point("2026-10", d("500"))];
        let values = month_values(Aggregation::Sum, &points);
        assert_eq!(values[&m("2026-10")].value, d("500"));
        assert!(values[&m("2026-10")].from_month_point);
    }

    #[test]
    fn an_average_that_does_not_terminate_stays_exact_to_28_digits() {
        let points = [
            point("2026-10-01", d("1")),
            point("2026-10-02", d("1")),
            point("2026-10-03", d("2")),
        ];
        let v = month_values(Aggregation::Average, &points)[&m("2026-10")].value;
        assert_eq!(v.round_dp(10), d("1.3333333333"));
    }

    #[test]
    fn statuses_and_changes_over_gaps() {
        let costs: BTreeMap<Month, MonthCost> = [
            (m("2025-01"), cost(d("100"))),
            (m("2026-01"), cost(d("150"))),
            (m("2026-02"), cost(d("120"))),
            (m("2026-03"), cost(d("90"))),
            (m("2026-04"), cost(d("80"))),
            // 2026-05 is not allocated.
        ]
        .into();
        let values: BTreeMap<Month, MonthValue> = [
            ("2025-01", d("100")),
            ("2026-01", d("100")),
            ("2026-02", d("120")),
            // 2026-03 has no metric.
            ("2026-04", d("0")),
            ("2026-05", d("10")),
        ]
        .into_iter()
        .map(|(month, value)| {
            (
                m(month),
                MonthValue {
                    value,
                    from_month_point: true,
                    days: vec![],
                },
            )
        })
        .collect();
        let rows = unit_costs(m("2026-01"), m("2026-05"), &costs, &values);
        let statuses: Vec<_> = rows.iter().map(|r| r.status.as_str()).collect();
        assert_eq!(
            statuses,
            ["ok", "ok", "no_metric", "zero_metric", "no_cost"]
        );
        assert_eq!(rows[0].unit_cost, Some(d("1.5")));
        // January has no December before it: no month-over-month change,
        // but a year-over-year one (1.50 against 1.00).
        assert_eq!(rows[0].mom_change_pct, None);
        assert_eq!(rows[0].yoy_change_pct, Some(d("50.0")));
        assert_eq!(rows[1].unit_cost, Some(d("1")));
        assert_eq!(rows[1].mom_change_pct, Some(d("-33.3")));
        assert_eq!(rows[1].yoy_change_pct, None);
        assert_eq!(rows[2].cost, Some(d("90")));
        assert_eq!((rows[2].metric_value, rows[2].unit_cost), (None, None));
        assert_eq!(rows[3].unit_cost, None);
        assert_eq!(rows[4].cost, None);
        assert_eq!(rows[4].metric_value, Some(d("10")));
    }

    #[test]
    fn a_stale_month_keeps_its_figures_and_says_so() {
        let mut stale = cost(d("10"));
        stale.stale = true;
        let costs = [(m("2026-01"), stale)].into();
        let values = month_values(Aggregation::Sum, &[point("2026-01-05", d("4"))]);
        let rows = unit_costs(m("2026-01"), m("2026-01"), &costs, &values);
        assert_eq!(rows[0].status, UnitCostStatus::Stale);
        assert_eq!(rows[0].unit_cost, Some(d("2.5")));
    }

    #[test]
    fn each_currency_is_its_own_series() {
        let eur = Currency::parse("EUR").unwrap();
        let mut both = cost(d("10"));
        both.by_currency.insert(eur, d("30"));
        let costs = [(m("2026-01"), both), (m("2026-02"), cost(d("20")))].into();
        let values = month_values(
            Aggregation::Sum,
            &[point("2026-01", d("10")), point("2026-02", d("10"))],
        );
        let rows = unit_costs(m("2026-01"), m("2026-02"), &costs, &values);
        let got: Vec<_> = rows
            .iter()
            .map(|r| {
                (
                    r.month.to_string(),
                    r.currency.map(|c| c.to_string()),
                    r.status,
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                ("2026-01".into(), Some("EUR".into()), UnitCostStatus::Ok),
                ("2026-01".into(), Some("USD".into()), UnitCostStatus::Ok),
                ("2026-02".into(), Some("EUR".into()), UnitCostStatus::NoCost),
                ("2026-02".into(), Some("USD".into()), UnitCostStatus::Ok),
            ]
        );
        assert_eq!(rows[3].mom_change_pct, Some(d("100.0")));
    }

    #[test]
    fn unit_costs_are_shown_to_six_significant_digits() {
        assert_eq!(shown(d("1") / d("3")), d("0.333333"));
        assert_eq!(shown(d("12345678")), d("12345700"));
        assert_eq!(shown(d("2.5")), d("2.5"));
    }

    #[test]
    fn movers_are_the_largest_changes_either_way() {
        let map = |pairs: &[(&str, &str)]| -> BTreeMap<String, Decimal> {
            pairs.iter().map(|(k, v)| (k.to_string(), d(v))).collect()
        };
        let before = map(&[("web", "100"), ("api", "50"), ("data", "10")]);
        let after = map(&[("web", "90"), ("api", "80"), ("data", "10"), ("new", "5")]);
        let got: Vec<_> = movers(&before, &after, 2)
            .into_iter()
            .map(|m| (m.name.clone(), m.change()))
            .collect();
        assert_eq!(
            got,
            [("api".to_string(), d("30")), ("web".to_string(), d("-10"))]
        );
        assert_eq!(movers(&before, &after, 10).len(), 3);
    }

    #[test]
    fn months_go_back_across_years() {
        assert_eq!(minus_months(m("2026-01"), 1), m("2025-12"));
        assert_eq!(minus_months(m("2026-03"), 12), m("2025-03"));
        assert_eq!(months_between(m("2025-11"), m("2026-02")).len(), 4);
        assert!(months_between(m("2026-02"), m("2026-01")).is_empty());
    }
}
