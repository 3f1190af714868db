//! Daily roll-up of cost lines. Exports carry one row per resource per hour;
//! rows that differ only in their hour (same resource, account, service,
//! tags, category, unit ...) are summed into one line per UTC day. Amounts
//! stay exact; `source_rows` keeps the count. This shrinks storage and
//! allocation work about 24-fold without changing any total, any monthly or
//! daily figure, or any rule's outcome (rules never look at the hour).
//!
//! Memory is bounded: when more than `max_keys` distinct lines are pending,
//! the caller drains them. Draining early only means two stored lines where
//! one would have done; sums are unchanged.

use std::collections::HashMap;

use chrono::{Duration, NaiveTime};
use rust_decimal::Decimal;

use crate::domain::CostLine;
use crate::store::StoredLine;

#[derive(Default, Clone, Copy)]
struct Sums {
    billed: Decimal,
    effective: Decimal,
    list: Decimal,
    contracted: Option<Decimal>,
    quantity: Option<Decimal>,
    rows: u64,
}

fn add_opt(a: Option<Decimal>, b: Option<Decimal>) -> Option<Decimal> {
    match (a, b) {
        (None, None) => None,
        (a, b) => Some(a.unwrap_or_default() + b.unwrap_or_default()),
    }
}

/// Pending lines keyed by everything but their amounts.
pub struct Rollup {
    pending: HashMap<CostLine, Sums>,
    max_keys: usize,
}

impl Rollup {
    pub fn new(max_keys: usize) -> Self {
        Rollup {
            pending: HashMap::new(),
            max_keys,
        }
    }

    /// Adds one source row.
    pub fn add(&mut self, mut line: CostLine) {
        let start_day = line.charge_period_start.date_naive();
        let last_instant = line.charge_period_end - Duration::nanoseconds(1);
        if last_instant.date_naive() <= start_day {
            line.charge_period_start = start_day.and_time(NaiveTime::MIN).and_utc();
            line.charge_period_end = line.charge_period_start + Duration::days(1);
        }
        let sums = Sums {
            billed: std::mem::take(&mut line.billed_cost),
            effective: std::mem::take(&mut line.effective_cost),
            list: std::mem::take(&mut line.list_cost),
            contracted: line.contracted_cost.take(),
            quantity: line.consumed_quantity.take(),
            rows: 1,
        };
        let entry = self.pending.entry(line).or_default();
        entry.billed += sums.billed;
        entry.effective += sums.effective;
        entry.list += sums.list;
        entry.contracted = add_opt(entry.contracted, sums.contracted);
        entry.quantity = add_opt(entry.quantity, sums.quantity);
        entry.rows += 1;
    }

    /// Whether the pending set has reached its bound and should be drained.
    pub fn is_full(&self) -> bool {
        self.pending.len() >= self.max_keys
    }

    /// Takes every pending line.
    pub fn drain(&mut self) -> Vec<StoredLine> {
        self.pending
            .drain()
            .map(|(mut line, s)| {
                line.billed_cost = s.billed;
                line.effective_cost = s.effective;
                line.list_cost = s.list;
                line.contracted_cost = s.contracted;
                line.consumed_quantity = s.quantity;
                StoredLine {
                    line,
                    source_rows: s.rows,
                }
            })
            .collect()
    }
}
