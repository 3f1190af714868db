//! Usage metrics: how much of a shared resource each team used, the weights
//! of `usage` splits (for example `cpu_core_hours` or `requests`).

use std::fmt;

use chrono::NaiveDate;
use rust_decimal::Decimal;

use super::TeamId;

/// A metric name: lower-case letters, digits and `_`, starting with a letter.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct Metric(String);

/// Why a metric name was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "expected a metric name of lower-case letters, digits and `_` (such as `cpu_core_hours`), found `{0}`"
)]
pub struct MetricError(pub String);

impl Metric {
    /// Parses a metric name, trimming whitespace and lower-casing it.
    pub fn parse(s: &str) -> Result<Metric, MetricError> {
        let t = s.trim().to_ascii_lowercase();
        let valid = !t.is_empty()
            && t.len() <= 64
            && t.as_bytes()[0].is_ascii_lowercase()
            && t.bytes()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'_');
        if valid {
            Ok(Metric(t))
        } else {
            Err(MetricError(s.to_string()))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Metric {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// One team's use of one metric on one day (a monthly figure is recorded on
/// the month's first day).
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct UsageRecord {
    pub date: NaiveDate,
    pub team: TeamId,
    pub metric: Metric,
    /// Never negative.
    pub quantity: Decimal,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metric_names() {
        assert_eq!(
            Metric::parse(" CPU_core_hours ").unwrap().as_str(),
            "cpu_core_hours"
        );
        assert!(Metric::parse("1abc").is_err());
        assert!(Metric::parse("cpu-hours").is_err());
        assert!(Metric::parse("").is_err());
    }
}
