//! The allocation engine: pure functions from cost lines and a rule set to
//! allocated amounts, and from allocated amounts to rounded reports. No I/O,
//! no clock, no database: every function here is tested with plain values.

pub mod allocate;
pub mod anomaly;
pub mod explain;
pub mod groups;
pub mod preview;
pub mod report;
pub mod split;
pub mod unit_cost;

pub use allocate::{
    Allocation, AllocationRow, Allocator, FallbackTaken, OutOfRange, PoolShare, ShareMethod,
    Unallocatable, allocate,
};
pub use explain::{Explanation, OwnerShowbacks, explain, explain_with};
pub use groups::{GroupRow, GroupShowback, UNGROUPED, group_showback};
pub use preview::{PreviewRow, compare};
pub use report::{
    CostPoint, Granularity, GroupBy, Showback, ShowbackRow, TeamCosts, showback, team_costs,
    team_months,
};
