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

/// The records seen so far of one batch, by what identifies a figure
/// (date, team and metric): a batch may hold one record per key, however
/// it arrives (CSV files, an API body). `P` is where a record came from.
#[derive(Debug)]
pub struct UsageKeys<P> {
    seen: std::collections::HashMap<(NaiveDate, TeamId, Metric), P>,
}

impl<P: Clone> UsageKeys<P> {
    pub fn new() -> Self {
        UsageKeys {
            seen: std::collections::HashMap::new(),
        }
    }

    /// Takes `record`, from `at`; a record of the same key seen before is
    /// an error carrying where that one came from.
    pub fn insert(&mut self, record: &UsageRecord, at: P) -> Result<(), P> {
        let key = (record.date, record.team.clone(), record.metric.clone());
        match self.seen.entry(key) {
            std::collections::hash_map::Entry::Occupied(first) => Err(first.get().clone()),
            std::collections::hash_map::Entry::Vacant(slot) => {
                slot.insert(at);
                Ok(())
            }
        }
    }
}

impl<P: Clone> Default for UsageKeys<P> {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_record_for_a_key_names_the_first() {
        let record = |team: &str, quantity: i64| UsageRecord {
            date: NaiveDate::from_ymd_opt(2026, 10, 1).unwrap(),
            team: TeamId::parse(team).unwrap(),
            metric: Metric::parse("cpu_hours").unwrap(),
            quantity: Decimal::from(quantity),
        };
        let mut keys = UsageKeys::new();
        assert_eq!(keys.insert(&record("web", 1), 2), Ok(()));
        assert_eq!(keys.insert(&record("data", 1), 3), Ok(()));
        assert_eq!(keys.insert(&record("web", 5), 4), Err(2));
    }

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
