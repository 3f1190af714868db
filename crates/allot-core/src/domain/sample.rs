//! Cost lines for tests (the `test-support` feature): one builder instead
//! of a 23-field literal in every test. A test states only what matters to
//! it and takes the rest from [`line`] with struct update syntax:
//!
//! ```text
//! let l = CostLine { service_name: Some("Amazon EC2".into()), ..sample::line(day, amount("1.00")) };
//! ```

#![allow(clippy::unwrap_used)]

use chrono::{NaiveDate, TimeZone, Utc};
use rust_decimal::Decimal;

use super::{ChargeCategory, CostLine, Currency, Month, StoredLine, Tags};

/// A usage charge of `amount` USD (billed, effective and list cost alike)
/// for the whole UTC day `day`, billed in the invoice of `day`'s month, in
/// AWS account `acct`, without service, region or tags.
pub fn line(day: NaiveDate, amount: Decimal) -> CostLine {
    let start = Utc.from_utc_datetime(&day.and_hms_opt(0, 0, 0).unwrap());
    let month = Month::of(day);
    CostLine {
        charge_period_start: start,
        charge_period_end: start + chrono::Duration::days(1),
        billing_period_start: month.first_day(),
        billing_period_end: month.end_exclusive(),
        billing_account_id: "acct".into(),
        billing_account_name: None,
        sub_account_id: None,
        sub_account_name: None,
        provider: "AWS".into(),
        service_name: None,
        service_category: None,
        region: None,
        resource_id: None,
        charge_category: ChargeCategory::Usage,
        charge_class: None,
        currency: Currency::parse("USD").unwrap(),
        billed_cost: amount,
        effective_cost: amount,
        list_cost: amount,
        contracted_cost: None,
        consumed_quantity: None,
        consumed_unit: None,
        tags: Tags::default(),
    }
}

/// `line` as stored, from `source_rows` rows.
pub fn stored(line: CostLine, source_rows: u64) -> StoredLine {
    StoredLine { line, source_rows }
}

/// Tags from `(key, value)` pairs.
pub fn tags(pairs: &[(&str, &str)]) -> Tags {
    Tags(
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    )
}

/// A day of a month, for tests: `day(2026, 10, 5)`.
pub fn day(year: i32, month: u32, day: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(year, month, day).unwrap()
}

/// An exact decimal from its text: `amount("1.25")`.
pub fn amount(text: &str) -> Decimal {
    text.parse().unwrap()
}

/// The environment variable that sets how many cases each fuzzing property
/// runs (the FOCUS and CUR readers, the rule checker, token checking).
pub const FUZZ_CASES_VAR: &str = "ALLOT_FUZZ_CASES";

/// How many cases a fuzzing property runs: [`FUZZ_CASES_VAR`] when it is
/// set to a positive number, else `default` (what `cargo test` runs). A
/// longer, bounded fuzzing run sets it (`docs/operations.md`, "Fuzzing").
///
/// # Panics
/// When the variable is set but is not a positive whole number: a typo
/// should not quietly fall back to the short run.
pub fn fuzz_cases(default: u32) -> u32 {
    match std::env::var(FUZZ_CASES_VAR) {
        Err(_) => default,
        Ok(v) => match v.trim().parse::<u32>() {
            Ok(n) if n > 0 => n,
            _ => panic!("`{FUZZ_CASES_VAR}={v}` is not a positive whole number of cases"),
        },
    }
}
