//! Parsing of the cell values billing exports contain: `NULL` literals,
//! decimals (plain or scientific), and timestamps with or without `T`/`Z`.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, Utc};
use rust_decimal::Decimal;

use crate::domain::Tags;

/// Whether a cell means "no value": empty, or a `NULL`/`null` literal.
pub fn is_null(s: &str) -> bool {
    let t = s.trim();
    t.is_empty() || t.eq_ignore_ascii_case("null")
}

/// An optional text cell.
pub fn opt_text(s: &str) -> Option<String> {
    if is_null(s) {
        None
    } else {
        Some(s.trim().to_string())
    }
}

/// The largest magnitude accepted for one amount or quantity (10^15): far
/// above any real line item, and low enough that no sum of lines can
/// overflow exact decimal arithmetic.
pub const MAX_MAGNITUDE: i64 = 1_000_000_000_000_000;

/// A decimal such as `0.00000080000`, `-2.6137` or `1.5E-7`, parsed exactly:
/// a value that cannot be held without rounding (more than 28 significant
/// digits) or above [`MAX_MAGNITUDE`] is rejected, never rounded.
pub fn decimal(s: &str) -> Option<Decimal> {
    let t = s.trim();
    if t.is_empty() || t.contains('_') {
        return None;
    }
    let value = Decimal::from_str_exact(t).ok().or_else(|| {
        if t.contains(['e', 'E']) {
            Decimal::from_scientific(t)
                .ok()
                .filter(|d| d.to_string().len() < 60)
        } else {
            None
        }
    })?;
    (value.abs() <= Decimal::from(MAX_MAGNITUDE)).then_some(value)
}

/// A timestamp in UTC. Accepts `2024-09-01 00:00:00`, `2024-09-01T00:00:00Z`,
/// fractional seconds, `+HH:MM` offsets (converted to UTC) and bare dates.
pub fn timestamp(s: &str) -> Option<DateTime<Utc>> {
    let t = s.trim();
    // Four-digit years only (chrono's `%Y` would take `204-09-19`), in range.
    let b = t.as_bytes();
    if b.len() < 10 || !b[..4].iter().all(u8::is_ascii_digit) || b[4] != b'-' {
        return None;
    }
    parse_timestamp(t).filter(|t| crate::domain::month::in_years(t.date_naive()))
}

/// The longest charge period accepted: three years and a day (a three-year
/// commitment charged over its term). Longer periods are broken cells: a
/// line spread over its days would cost memory and time without bound.
pub const MAX_CHARGE_DAYS: i64 = 3 * 365 + 1;

/// How far a charge may start from its billing period (before its start or
/// after its end): a year. Exports carry rows of neighbouring periods, not
/// of other years.
pub const MAX_BILLING_DISTANCE_DAYS: i64 = 366;

/// Why a line's periods are refused: which of its period cells is wrong,
/// and what was expected.
pub enum PeriodProblem {
    TooLong,
    FarFromBilling,
}

impl PeriodProblem {
    pub fn expected(&self) -> String {
        match self {
            PeriodProblem::TooLong => format!(
                "a charge period of at most {MAX_CHARGE_DAYS} days (three years) after ChargePeriodStart"
            ),
            PeriodProblem::FarFromBilling => format!(
                "a charge start within {MAX_BILLING_DISTANCE_DAYS} days of its billing period"
            ),
        }
    }
}

/// Checks a parsed line's charge period against its billing period.
pub fn check_periods(line: &crate::domain::CostLine) -> Result<(), PeriodProblem> {
    if line.charge_period_end - line.charge_period_start > chrono::Duration::days(MAX_CHARGE_DAYS) {
        return Err(PeriodProblem::TooLong);
    }
    let start = line.charge_period_start.date_naive();
    let distance = chrono::Duration::days(MAX_BILLING_DISTANCE_DAYS);
    if start < line.billing_period_start - distance || start > line.billing_period_end + distance {
        return Err(PeriodProblem::FarFromBilling);
    }
    Ok(())
}

fn parse_timestamp(t: &str) -> Option<DateTime<Utc>> {
    if t.len() == 10 {
        return NaiveDate::parse_from_str(t, "%Y-%m-%d")
            .ok()
            .map(|d| d.and_time(NaiveTime::MIN).and_utc());
    }
    let t = &normalise_offset(t);
    if let Ok(dt) = DateTime::parse_from_rfc3339(t) {
        return Some(dt.with_timezone(&Utc));
    }
    let body = t
        .strip_suffix('Z')
        .or_else(|| t.strip_suffix(" UTC"))
        .unwrap_or(t);
    for format in [
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M",
        "%Y-%m-%dT%H:%M",
    ] {
        if let Ok(naive) = NaiveDateTime::parse_from_str(body, format) {
            return Some(naive.and_utc());
        }
    }
    DateTime::parse_from_str(t, "%Y-%m-%d %H:%M:%S%.f%:z")
        .ok()
        .map(|dt| dt.with_timezone(&Utc))
}

/// Writes a trailing `+0000` or `+00` zone offset as `+00:00`.
fn normalise_offset(t: &str) -> String {
    let b = t.as_bytes();
    let n = b.len();
    let sign_at = |i: usize| {
        n > i && matches!(b[n - i], b'+' | b'-') && b[n - i + 1..].iter().all(u8::is_ascii_digit)
    };
    if n > 16 && sign_at(5) {
        format!("{}:{}", &t[..n - 2], &t[n - 2..])
    } else if n > 16 && sign_at(3) {
        format!("{t}:00")
    } else {
        t.to_string()
    }
}

/// Reads tags from a JSON object, as FOCUS `Tags` and CUR `resource_tags`
/// columns hold them. String values are kept as they are; numbers and
/// booleans become their text, `null` becomes an empty value. The error
/// says what was expected.
pub fn tags_json(s: &str) -> Result<Tags, String> {
    // Values are read raw so that numbers keep their exact text.
    let map: BTreeMap<String, &serde_json::value::RawValue> =
        serde_json::from_str(s).map_err(|e| format!("a JSON object of tags ({e})"))?;
    map.into_iter()
        .map(|(k, raw)| {
            let text = raw.get();
            let value = match text.as_bytes().first() {
                Some(b'"') => serde_json::from_str::<String>(text)
                    .map_err(|e| format!("a JSON object of tags ({e})"))?,
                Some(b'n') if text == "null" => String::new(),
                _ => text.to_string(),
            };
            Ok((k, value))
        })
        .collect::<Result<_, String>>()
        .map(Tags)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_keep_odd_keys_and_stringify_values() {
        let t = tags_json(
            r#"{" org": "x", "n": 3, "b": true, "z": null, "big": 12345678901234567890}"#,
        )
        .unwrap();
        assert_eq!(t.0.get("big").unwrap(), "12345678901234567890");
        assert_eq!(t.0.get(" org").unwrap(), "x");
        assert_eq!(t.0.get("n").unwrap(), "3");
        assert_eq!(t.0.get("b").unwrap(), "true");
        assert_eq!(t.0.get("z").unwrap(), "");
        assert!(tags_json("[1]").is_err());
    }

    #[test]
    fn nulls() {
        assert!(is_null("NULL") && is_null("null") && is_null(" ") && !is_null("0"));
    }

    #[test]
    fn decimals() {
        assert_eq!(
            decimal("0.00000080000").unwrap().to_string(),
            "0.00000080000"
        );
        assert_eq!(decimal("-2.6137").unwrap().to_string(), "-2.6137");
        assert_eq!(
            decimal("1.5E-7").unwrap(),
            "0.00000015".parse::<Decimal>().unwrap()
        );
        assert!(decimal("abc").is_none() && decimal("").is_none() && decimal("1,5").is_none());
        assert!(
            decimal("1_000").is_none(),
            "digit separators are not numbers in exports"
        );
        assert!(
            decimal("0.1234567890123456789012345678901").is_none(),
            "too precise to hold exactly"
        );
        assert!(decimal("1000000000000001").is_none() && decimal("-1000000000000000").is_some());
    }

    #[test]
    fn timestamps_in_every_spelling() {
        let want = "2024-09-01T00:00:00Z".parse::<DateTime<Utc>>().unwrap();
        for s in [
            "2024-09-01 00:00:00",
            "2024-09-01T00:00:00Z",
            "2024-09-01T00:00:00.000Z",
            "2024-09-01T00:00:00",
            "2024-09-01T02:00:00+02:00",
            "2024-09-01 00:00:00+00:00",
            "2024-09-01",
            "2024-09-01T00:00Z",
            "2024-09-01 00:00:00+0000",
            "2024-09-01 00:00:00+00",
            "2024-09-01T03:00:00+03",
        ] {
            assert_eq!(timestamp(s), Some(want), "{s}");
        }
        assert_eq!(timestamp("2024-13-01 00:00:00"), None);
        // Three-digit, five-digit and out-of-range years are broken cells.
        assert_eq!(timestamp("204-09-19 23:00:00"), None);
        assert_eq!(timestamp("0000-01-01T00:00:00Z"), None);
        assert_eq!(timestamp("9999-12-31 00:00:00"), None);
        assert_eq!(timestamp("12024-09-01 00:00:00"), None);
        assert!(timestamp("2099-12-31T23:59:59Z").is_some());
        assert_eq!(timestamp("yesterday"), None);
    }
}
