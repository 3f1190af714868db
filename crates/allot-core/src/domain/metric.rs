//! Business metrics: the volumes unit costs divide by (orders, deployments,
//! active customers). A metric is declared once (`[[metric]]` in
//! `allot.toml`: a name, a unit and how days make a month); its points are
//! values per day or per month, for the organisation or for one team,
//! group or environment.

use std::collections::HashMap;
use std::fmt;

use chrono::NaiveDate;
use rust_decimal::Decimal;

use super::{Month, TeamId};

/// A business metric's name: lower-case letters, digits, `_` and `-`,
/// starting with a letter or digit, at most 64 characters.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct MetricName(String);

/// Why a metric name was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "expected a metric name of lower-case letters, digits, `_` or `-` (such as `orders`), found `{0}`"
)]
pub struct MetricNameError(pub String);

impl MetricName {
    /// Parses a metric name, trimming whitespace and lower-casing it.
    pub fn parse(s: &str) -> Result<MetricName, MetricNameError> {
        let t = s.trim().to_ascii_lowercase();
        if is_name(&t) {
            Ok(MetricName(t))
        } else {
            Err(MetricNameError(s.to_string()))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for MetricName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// `[a-z0-9][a-z0-9_-]{0,63}`.
fn is_name(t: &str) -> bool {
    !t.is_empty()
        && t.len() <= 64
        && t.as_bytes()[0].is_ascii_alphanumeric()
        && t.bytes()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'_' || c == b'-')
}

/// How a month's value is made from its days' values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Aggregation {
    /// The days' values added up (orders, deployments).
    Sum,
    /// The mean of the days that have a value (daily active customers).
    Average,
    /// The value of the month's latest day that has one (customers at
    /// month end).
    Last,
}

impl Aggregation {
    pub fn parse(s: &str) -> Option<Aggregation> {
        match s.trim() {
            "sum" => Some(Aggregation::Sum),
            "average" => Some(Aggregation::Average),
            "last" => Some(Aggregation::Last),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Aggregation::Sum => "sum",
            Aggregation::Average => "average",
            Aggregation::Last => "last",
        }
    }
}

/// A declared metric.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MetricDef {
    pub name: MetricName,
    /// What one of it is, singular (`order`): unit costs are per it.
    pub unit: String,
    pub description: String,
    pub aggregation: Aggregation,
}

/// What a metric point (and a unit cost) is about.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub enum MetricScope {
    /// The whole organisation: every cost, `unallocated` included.
    Organisation,
    Team(TeamId),
    /// A group of teams declared in the rules' `[groups]`.
    Group(ScopeName),
    /// An environment (the rules' `[environment]` dimension).
    Environment(ScopeName),
}

/// A group or environment name: the same spelling as a team name.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct ScopeName(String);

impl ScopeName {
    /// Parses a group or environment name (trimmed, lower-cased).
    pub fn parse(s: &str) -> Option<ScopeName> {
        let t = s.trim().to_ascii_lowercase();
        let valid = !t.is_empty()
            && t.len() <= 64
            && t.as_bytes()[0].is_ascii_alphanumeric()
            && t.bytes().all(|c| {
                c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, b'-' | b'_' | b'.')
            });
        valid.then_some(ScopeName(t))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ScopeName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What a scope text should look like.
pub const SCOPE_EXPECTED: &str =
    "a scope: empty (the organisation), `team:NAME`, `group:NAME` or `environment:NAME`";

impl MetricScope {
    /// Parses a scope: empty for the organisation, else `KIND:NAME`.
    pub fn parse(s: &str) -> Option<MetricScope> {
        let t = s.trim();
        if t.is_empty() || t.eq_ignore_ascii_case("organisation") {
            return Some(MetricScope::Organisation);
        }
        let (kind, name) = t.split_once(':')?;
        match kind.trim().to_ascii_lowercase().as_str() {
            "team" => TeamId::parse(name).ok().map(MetricScope::Team),
            "group" => ScopeName::parse(name).map(MetricScope::Group),
            "environment" => ScopeName::parse(name).map(MetricScope::Environment),
            _ => None,
        }
    }

    /// The kind of scope: `organisation`, `team`, `group` or `environment`.
    pub fn kind(&self) -> &'static str {
        match self {
            MetricScope::Organisation => "organisation",
            MetricScope::Team(_) => "team",
            MetricScope::Group(_) => "group",
            MetricScope::Environment(_) => "environment",
        }
    }

    /// The scope as stored and shown: empty for the organisation, else
    /// `KIND:NAME`.
    pub fn key(&self) -> String {
        match self {
            MetricScope::Organisation => String::new(),
            MetricScope::Team(t) => format!("team:{t}"),
            MetricScope::Group(g) => format!("group:{g}"),
            MetricScope::Environment(e) => format!("environment:{e}"),
        }
    }
}

impl fmt::Display for MetricScope {
    /// `organisation` or `KIND:NAME`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MetricScope::Organisation => f.write_str("organisation"),
            other => f.write_str(&other.key()),
        }
    }
}

/// The date of a metric point: one day, or a whole month.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub enum PointDate {
    Day(NaiveDate),
    Month(Month),
}

impl PointDate {
    /// Parses `YYYY-MM-DD` or `YYYY-MM`.
    pub fn parse(s: &str) -> Option<PointDate> {
        let t = s.trim();
        super::month::parse_day(t)
            .map(PointDate::Day)
            .or_else(|| Month::parse(t).ok().map(PointDate::Month))
    }

    pub fn month(&self) -> Month {
        match self {
            PointDate::Day(d) => Month::of(*d),
            PointDate::Month(m) => *m,
        }
    }
}

impl fmt::Display for PointDate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PointDate::Day(d) => write!(f, "{}", d.format("%Y-%m-%d")),
            PointDate::Month(m) => write!(f, "{m}"),
        }
    }
}

/// One value of a metric: for a day or a month, and a scope.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct MetricPoint {
    pub metric: MetricName,
    pub scope: MetricScope,
    pub date: PointDate,
    /// Exact; never negative.
    pub value: Decimal,
}

impl MetricPoint {
    /// What identifies the point: a later value for the same key replaces it.
    pub fn key(&self) -> PointKey {
        (self.metric.clone(), self.scope.clone(), self.date)
    }
}

/// What identifies a metric point.
pub type PointKey = (MetricName, MetricScope, PointDate);

/// The points seen so far of one batch (CSV files, an API body): the same
/// point twice is taken once, but two different values for one point are
/// an error naming where the first came from (`P`).
#[derive(Debug)]
pub struct PointKeys<P> {
    seen: HashMap<PointKey, (Decimal, P)>,
}

/// What [`PointKeys::insert`] made of a point.
#[derive(Debug, PartialEq, Eq)]
pub enum Seen<P> {
    /// A new point: keep it.
    New,
    /// The same value was seen before: drop this copy.
    Repeated,
    /// Another value was seen before, at `P`.
    Conflict(P),
}

impl<P: Clone> PointKeys<P> {
    pub fn new() -> Self {
        PointKeys {
            seen: HashMap::new(),
        }
    }

    pub fn insert(&mut self, point: &MetricPoint, at: P) -> Seen<P> {
        match self.seen.entry(point.key()) {
            std::collections::hash_map::Entry::Occupied(first) => {
                let (value, place) = first.get();
                if *value == point.value {
                    Seen::Repeated
                } else {
                    Seen::Conflict(place.clone())
                }
            }
            std::collections::hash_map::Entry::Vacant(slot) => {
                slot.insert((point.value, at));
                Seen::New
            }
        }
    }
}

impl<P: Clone> Default for PointKeys<P> {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_scopes() {
        assert_eq!(MetricName::parse(" Orders ").unwrap().as_str(), "orders");
        assert!(MetricName::parse("active-customers_2").is_ok());
        assert!(MetricName::parse("a b").is_err());
        assert!(MetricName::parse("").is_err());
        assert!(MetricName::parse("-x").is_err());
        assert_eq!(MetricScope::parse(""), Some(MetricScope::Organisation));
        assert_eq!(
            MetricScope::parse("team:Web").map(|s| s.key()),
            Some("team:web".to_string())
        );
        assert_eq!(
            MetricScope::parse("environment:prod").map(|s| s.to_string()),
            Some("environment:prod".to_string())
        );
        assert_eq!(MetricScope::parse("team:unallocated"), None);
        assert_eq!(MetricScope::parse("squad:web"), None);
        assert_eq!(MetricScope::parse("group:"), None);
    }

    #[test]
    fn dates_are_days_or_months() {
        assert_eq!(
            PointDate::parse("2026-10").map(|d| d.to_string()),
            Some("2026-10".to_string())
        );
        assert_eq!(
            PointDate::parse("2026-10-05").map(|d| d.month().to_string()),
            Some("2026-10".to_string())
        );
        assert_eq!(PointDate::parse("2026-13"), None);
        assert_eq!(PointDate::parse("0204-09-01"), None);
    }

    #[test]
    fn a_repeated_point_is_taken_once_and_a_different_value_is_a_conflict() {
        let point = |v: i64| MetricPoint {
            metric: MetricName::parse("orders").unwrap(),
            scope: MetricScope::Organisation,
            date: PointDate::parse("2026-10-01").unwrap(),
            value: Decimal::from(v),
        };
        let mut keys = PointKeys::new();
        assert_eq!(keys.insert(&point(3), 1), Seen::New);
        assert_eq!(keys.insert(&point(3), 2), Seen::Repeated);
        assert_eq!(keys.insert(&point(4), 3), Seen::Conflict(1));
    }
}
