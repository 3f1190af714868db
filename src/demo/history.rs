//! The demo's history: the bundled October 2026 bill carried back over the
//! thirteen months before it, and business metrics for all fourteen, so
//! unit-cost trends have something to show: spend that grows, a seasonal
//! peak in November and December, a compute spike in March 2026 that
//! raises the unit cost, and a volume jump in June 2026 that lowers it.
//! October itself is the fixture, unchanged.

use chrono::{Datelike, Duration, NaiveDateTime};
use rust_decimal::Decimal;

use crate::domain::{MetricDef, MetricName, Month};
use crate::service::metrics::PointInput;

/// The first month of the history.
pub const FIRST: &str = "2025-09";

/// How many months the demo holds, the fixture's included.
pub const MONTHS: u32 = 14;

/// The two timestamp spellings of the fixture; a moved one keeps its own.
const TIMES: [&str; 2] = ["%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%SZ"];

fn parse_time(s: &str) -> anyhow::Result<(NaiveDateTime, &'static str)> {
    TIMES
        .iter()
        .find_map(|f| NaiveDateTime::parse_from_str(s, f).ok().map(|t| (t, *f)))
        .ok_or_else(|| anyhow::anyhow!("the demo bill has a timestamp `{s}` it cannot read"))
}
const DATE_COLUMNS: [&str; 4] = [
    "ChargePeriodStart",
    "ChargePeriodEnd",
    "BillingPeriodStart",
    "BillingPeriodEnd",
];
const COST_COLUMNS: [&str; 4] = ["BilledCost", "EffectiveCost", "ListCost", "ContractedCost"];

/// The demo's months, oldest first; the last is the fixture's.
pub fn months() -> Vec<Month> {
    let mut out = Vec::new();
    let mut m = Month::parse(FIRST).expect("a valid month");
    for _ in 0..MONTHS {
        out.push(m);
        m = m.next();
    }
    out
}

fn d(s: &str) -> Decimal {
    s.parse().expect("a decimal literal")
}

/// How much a service costs in month `i` (0 = the first) against the
/// fixture: 2% less per month back, 15% more in November and December, and
/// compute at 2.2 times in March 2026.
fn cost_factor(i: u32, month: Month, service: &str) -> Decimal {
    let trend = Decimal::ONE - d("0.02") * Decimal::from(MONTHS - 1 - i);
    let season = if matches!(month.month(), 11 | 12) {
        d("1.15")
    } else {
        Decimal::ONE
    };
    let spike = if month.to_string() == "2026-03" && service == "Amazon Elastic Compute Cloud" {
        d("2.2")
    } else {
        Decimal::ONE
    };
    trend * season * spike
}

/// The fixture's bill moved to `month` (the `i`-th of [`months`]): each
/// charge on the same day of the month (days the month lacks are left
/// out), monthly charges over the whole month, costs scaled by
/// [`cost_factor`] to 7 places.
pub fn bill(i: u32, month: Month, fixture: &str) -> anyhow::Result<String> {
    let source = Month::parse(super::MONTH)?;
    let mut reader = csv::Reader::from_reader(fixture.as_bytes());
    let headers = reader.headers()?.clone();
    let col = |name: &str| {
        headers
            .iter()
            .position(|h| h == name)
            .ok_or_else(|| anyhow::anyhow!("the demo bill has no `{name}` column"))
    };
    let dates: Vec<usize> = DATE_COLUMNS
        .iter()
        .map(|c| col(c))
        .collect::<Result<_, _>>()?;
    let costs: Vec<usize> = COST_COLUMNS
        .iter()
        .map(|c| col(c))
        .collect::<Result<_, _>>()?;
    let service = col("ServiceName")?;
    let mut writer = csv::Writer::from_writer(Vec::new());
    writer.write_record(&headers)?;
    let shift = |t: NaiveDateTime| -> Option<NaiveDateTime> {
        // Months after the source's (an invoice's end) keep their distance.
        let from = Month::of(t.date());
        let ahead =
            (from.year() - source.year()) * 12 + from.month() as i32 - source.month() as i32;
        let mut target = month;
        for _ in 0..ahead {
            target = target.next();
        }
        let day = target.first_day().with_day(t.day())?;
        Some(day.and_time(t.time()))
    };
    for record in reader.records() {
        let record = record?;
        let parse = |i: usize| parse_time(&record[i]);
        let ((start, start_format), (end, end_format)) = (parse(dates[0])?, parse(dates[1])?);
        let Some(new_start) = shift(start) else {
            continue;
        };
        // A charge over a whole month stays one; others keep their length.
        let whole_month =
            start.date() == source.first_day() && end.date() == source.end_exclusive();
        let new_end = if whole_month {
            month.end_exclusive().and_time(end.time())
        } else {
            new_start + (end - start)
        };
        let factor = cost_factor(i, month, &record[service]);
        let mut fields: Vec<String> = record.iter().map(str::to_string).collect();
        fields[dates[0]] = new_start.format(start_format).to_string();
        fields[dates[1]] = new_end.format(end_format).to_string();
        for &c in &dates[2..] {
            let (t, format) = parse(c)?;
            fields[c] = shift(t)
                .ok_or_else(|| anyhow::anyhow!("a billing period that cannot move"))?
                .format(format)
                .to_string();
        }
        for &c in &costs {
            if let Ok(v) = fields[c].parse::<Decimal>() {
                fields[c] = (v * factor).round_dp(7).normalize().to_string();
            }
        }
        writer.write_record(&fields)?;
    }
    Ok(String::from_utf8(writer.into_inner()?)?)
}

/// The demo's metrics: orders (sum), deployments per team (sum) and
/// active customers (the average of daily counts).
pub fn metric_defs() -> Vec<MetricDef> {
    let def = |name: &str, unit: &str, description: &str, aggregation| MetricDef {
        name: MetricName::parse(name).expect("a valid metric name"),
        unit: unit.to_string(),
        description: description.to_string(),
        aggregation,
    };
    use crate::domain::Aggregation::{Average, Sum};
    vec![
        def("orders", "order", "Completed checkout orders", Sum),
        def("deployments", "deployment", "Production deployments", Sum),
        def(
            "active-customers",
            "customer",
            "Customers active on the day",
            Average,
        ),
    ]
}

/// The demo's metric points over [`months`]: orders for the organisation
/// and for checkout (1.5% fewer per month back, 35% more in November and
/// December, 60% more in June 2026), deployments per team, and daily
/// active customers (fewer on Sundays).
pub fn metric_points() -> Vec<PointInput> {
    let point = |date: String, metric: &str, value: Decimal, scope: &str| PointInput {
        date,
        metric: metric.to_string(),
        value: value.to_string(),
        scope: scope.to_string(),
    };
    let mut out = Vec::new();
    for (i, month) in months().into_iter().enumerate() {
        let i = i as u32;
        let back = Decimal::from(MONTHS - 1 - i);
        let season = if matches!(month.month(), 11 | 12) {
            d("1.35")
        } else {
            Decimal::ONE
        };
        let jump = if month.to_string() == "2026-06" {
            d("1.6")
        } else {
            Decimal::ONE
        };
        let orders = (Decimal::from(40_000) * (Decimal::ONE - d("0.015") * back) * season * jump)
            .round_dp(0);
        out.push(point(month.to_string(), "orders", orders, ""));
        out.push(point(
            month.to_string(),
            "orders",
            (orders * d("0.3")).round_dp(0),
            "team:checkout",
        ));
        for (team, base, step) in [
            ("payments", 120, 5),
            ("search", 80, 3),
            ("checkout", 40, 2),
            ("data", 60, 1),
        ] {
            let n = Decimal::from(base + step * i);
            out.push(point(
                month.to_string(),
                "deployments",
                n,
                &format!("team:{team}"),
            ));
        }
        let mut day = month.first_day();
        while day < month.end_exclusive() {
            let sunday = day.weekday() == chrono::Weekday::Sun;
            let n = 5_000 + 40 * i as i64 - if sunday { 300 } else { 0 };
            out.push(point(
                day.format("%Y-%m-%d").to_string(),
                "active-customers",
                Decimal::from(n),
                "",
            ));
            day += Duration::days(1);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_history_ends_with_the_fixture_and_moves_every_charge() {
        let months = months();
        assert_eq!(months.len(), 14);
        assert_eq!(months[13].to_string(), super::super::MONTH);
        let october = bill(13, months[13], super::super::FIXTURE.1).unwrap();
        let rows = |text: &str| text.lines().count();
        assert_eq!(rows(&october), rows(super::super::FIXTURE.1));
        let september = bill(12, months[12], super::super::FIXTURE.1).unwrap();
        assert!(!september.contains("2026-10-31"));
        assert!(
            september.contains(",2026-10-01 00:00:00,2026-09-01 00:00:00,"),
            "a monthly charge spans September"
        );
        assert!(!september.contains("2026-11"), "{september}");
    }

    #[test]
    fn every_month_has_metrics() {
        let points = metric_points();
        for month in months() {
            let m = month.to_string();
            assert!(points.iter().any(|p| p.metric == "orders" && p.date == m));
            assert!(
                points
                    .iter()
                    .any(|p| p.metric == "active-customers" && p.date.starts_with(&m))
            );
        }
    }
}
