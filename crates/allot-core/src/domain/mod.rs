//! Domain types: exact money, months, teams, cost lines, usage metrics and business metrics. Parsed once at the
//! edges, then trusted everywhere else.

pub mod cost_line;
pub mod metric;
pub mod money;
pub mod month;
#[cfg(any(test, feature = "test-support"))]
pub mod sample;
pub mod team;
pub mod usage;

pub use cost_line::{ChargeCategory, CostBasis, CostLine, Period, StoredLine, Tags};
pub use metric::{
    Aggregation, MetricDef, MetricName, MetricNameError, MetricPoint, MetricScope, PointDate,
    PointKey, PointKeys, SCOPE_EXPECTED, ScopeName, Seen,
};
pub use money::{Currency, Money};
pub use month::Month;
pub use team::{Owner, TeamId, TeamIdError, UNALLOCATED, normalise_team_name};
pub use usage::{Metric, UsageKeys, UsageRecord};
