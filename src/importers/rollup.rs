//! Daily roll-up of cost lines. Exports carry one row per resource per hour;
//! rows that differ only in their hour (same resource, account, service,
//! tags, category, unit ...) are summed into one line per UTC day. Amounts
//! stay exact; `source_rows` keeps the count. This shrinks storage and
//! allocation work about 24-fold without changing any total, any monthly or
//! daily figure, or any rule's outcome (rules never look at the hour).
//!
//! Rows are keyed by the raw bytes of their identifying cells plus their
//! day, so a row whose identity was seen before costs only the parsing of
//! its amounts and period: the full line is parsed once per key.
//!
//! Memory is bounded: when `max_keys` distinct lines are pending, or their
//! keys hold [`MAX_KEY_BYTES`], the caller drains them. Draining early only means two stored lines where one would
//! have done; sums are unchanged.

use std::collections::HashMap;

use chrono::{DateTime, Duration, NaiveTime, Utc};
use rust_decimal::Decimal;

use crate::domain::CostLine;
use crate::domain::StoredLine;

/// The amounts of one source row.
#[derive(Default, Clone, Copy, Debug)]
pub struct Amounts {
    pub billed: Decimal,
    pub effective: Decimal,
    pub list: Decimal,
    pub contracted: Option<Decimal>,
    pub quantity: Option<Decimal>,
}

fn add_opt(a: Option<Decimal>, b: Option<Decimal>) -> Option<Decimal> {
    match (a, b) {
        (None, None) => None,
        (a, b) => Some(a.unwrap_or_default() + b.unwrap_or_default()),
    }
}

/// The stored charge period of a row: a period within one UTC day becomes
/// that whole day; longer periods are kept as they are.
pub fn daily_period(start: DateTime<Utc>, end: DateTime<Utc>) -> (DateTime<Utc>, DateTime<Utc>) {
    let day = start.date_naive();
    if (end - Duration::nanoseconds(1)).date_naive() <= day {
        let midnight = day.and_time(NaiveTime::MIN).and_utc();
        (midnight, midnight + Duration::days(1))
    } else {
        (start, end)
    }
}

/// Bytes of pending keys at which the roll-up is full, whatever their
/// number (the lines hold about as much again).
pub const MAX_KEY_BYTES: usize = 64 << 20;

/// Pending lines, keyed by their identity.
pub struct Rollup {
    index: HashMap<Vec<u8>, usize>,
    lines: Vec<(CostLine, Amounts, u64)>,
    max_keys: usize,
    key_bytes: usize,
}

impl Rollup {
    pub fn new(max_keys: usize) -> Self {
        Rollup {
            index: HashMap::new(),
            lines: Vec::new(),
            max_keys,
            key_bytes: 0,
        }
    }

    /// Adds one source row. `key` must identify everything but the amounts
    /// and the hour; `line` parses the full line and is called only for a
    /// key not seen since the last drain. Its period is replaced by the
    /// daily period, its amounts by the sums.
    pub fn add<E>(
        &mut self,
        key: &[u8],
        amounts: Amounts,
        line: impl FnOnce() -> Result<CostLine, E>,
    ) -> Result<(), E> {
        let slot = match self.index.get(key) {
            Some(&i) => &mut self.lines[i],
            None => {
                let mut l = line()?;
                (l.charge_period_start, l.charge_period_end) =
                    daily_period(l.charge_period_start, l.charge_period_end);
                self.index.insert(key.to_vec(), self.lines.len());
                self.key_bytes += key.len();
                self.lines.push((l, Amounts::default(), 0));
                let last = self.lines.len() - 1;
                &mut self.lines[last]
            }
        };
        let sums = &mut slot.1;
        sums.billed += amounts.billed;
        sums.effective += amounts.effective;
        sums.list += amounts.list;
        sums.contracted = add_opt(sums.contracted, amounts.contracted);
        sums.quantity = add_opt(sums.quantity, amounts.quantity);
        slot.2 += 1;
        Ok(())
    }

    /// Whether the pending set has reached its bound and should be drained.
    pub fn is_full(&self) -> bool {
        self.lines.len() >= self.max_keys || self.key_bytes >= MAX_KEY_BYTES
    }

    /// Takes every pending line.
    pub fn drain(&mut self) -> Vec<StoredLine> {
        self.index.clear();
        self.key_bytes = 0;
        self.lines
            .drain(..)
            .map(|(mut line, s, rows)| {
                line.billed_cost = s.billed;
                line.effective_cost = s.effective;
                line.list_cost = s.list;
                line.contracted_cost = s.contracted;
                line.consumed_quantity = s.quantity;
                StoredLine {
                    line,
                    source_rows: rows,
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn hourly_periods_become_their_day_and_longer_ones_stay() {
        let t = |d, h| Utc.with_ymd_and_hms(2024, 9, d, h, 0, 0).unwrap();
        assert_eq!(daily_period(t(3, 5), t(3, 6)), (t(3, 0), t(4, 0)));
        assert_eq!(daily_period(t(3, 23), t(4, 0)), (t(3, 0), t(4, 0)));
        assert_eq!(daily_period(t(3, 0), t(5, 0)), (t(3, 0), t(5, 0)));
    }
}
