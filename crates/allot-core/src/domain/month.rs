//! Calendar months (UTC), the unit of allocation and showback.

use std::fmt;
use std::str::FromStr;

use chrono::{Datelike, NaiveDate};

/// The years allot accepts in any date it is given (charge and billing
/// periods, months, usage dates, query parameters): four-digit years from
/// 2000 to 2099. Anything else in a billing export is a broken cell (a
/// three-digit year, `9999-12-31` as "no end"), refused with its position.
pub const YEARS: std::ops::RangeInclusive<i32> = 2000..=2099;

/// Whether a date is in [`YEARS`].
pub fn in_years(date: NaiveDate) -> bool {
    YEARS.contains(&date.year())
}

/// Whether `s` is written `YYYY-MM-DD`: four digits, two, two.
pub fn is_day_shaped(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 10
        && b.iter().enumerate().all(|(i, c)| {
            if i == 4 || i == 7 {
                *c == b'-'
            } else {
                c.is_ascii_digit()
            }
        })
}

/// Parses a day written `YYYY-MM-DD` strictly: four-digit year in
/// [`YEARS`], two-digit month and day.
pub fn parse_day(s: &str) -> Option<NaiveDate> {
    if !is_day_shaped(s) {
        return None;
    }
    NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .ok()
        .filter(|d| in_years(*d))
}

/// A calendar month such as `2024-09`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct Month {
    year: i32,
    month: u32,
}

/// Why a month was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "expected a month as `YYYY-MM` from 2000-01 to 2099-12 (for example `2024-09`), found `{0}`"
)]
pub struct MonthError(pub String);

impl Month {
    pub fn new(year: i32, month: u32) -> Option<Self> {
        ((1..=12).contains(&month) && (1..=9999).contains(&year)).then_some(Month { year, month })
    }

    /// Parses `YYYY-MM` strictly: four digits, a dash, two digits, month 01-12.
    pub fn parse(s: &str) -> Result<Self, MonthError> {
        let err = || MonthError(s.to_string());
        let b = s.as_bytes();
        if b.len() != 7
            || b[4] != b'-'
            || !b
                .iter()
                .enumerate()
                .all(|(i, c)| i == 4 || c.is_ascii_digit())
        {
            return Err(err());
        }
        let year: i32 = s[..4].parse().map_err(|_| err())?;
        let month: u32 = s[5..].parse().map_err(|_| err())?;
        if !YEARS.contains(&year) {
            return Err(err());
        }
        Month::new(year, month).ok_or_else(err)
    }

    /// The month a date falls in.
    pub fn of(date: NaiveDate) -> Self {
        Month {
            year: date.year(),
            month: date.month(),
        }
    }

    pub fn year(&self) -> i32 {
        self.year
    }

    pub fn month(&self) -> u32 {
        self.month
    }

    /// The first day of the month.
    pub fn first_day(&self) -> NaiveDate {
        NaiveDate::from_ymd_opt(self.year, self.month, 1).expect("a valid month has a first day")
    }

    /// The month after this one.
    pub fn next(&self) -> Month {
        if self.month == 12 {
            Month {
                year: self.year + 1,
                month: 1,
            }
        } else {
            Month {
                year: self.year,
                month: self.month + 1,
            }
        }
    }

    /// The first day of the next month (exclusive end of this month).
    pub fn end_exclusive(&self) -> NaiveDate {
        self.next().first_day()
    }

    /// The last day of the month.
    pub fn last_day(&self) -> NaiveDate {
        self.end_exclusive()
            .pred_opt()
            .expect("a month's end has a day before it")
    }

    /// Number of days in the month.
    pub fn days(&self) -> u32 {
        (self.end_exclusive() - self.first_day()).num_days() as u32
    }
}

impl FromStr for Month {
    type Err = MonthError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Month::parse(s)
    }
}

impl fmt::Display for Month {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}", self.year, self.month)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_valid_months() {
        let m = Month::parse("2024-09").unwrap();
        assert_eq!(m.to_string(), "2024-09");
        assert_eq!(m.days(), 30);
        assert_eq!(
            Month::parse("2024-12").unwrap().next().to_string(),
            "2025-01"
        );
        assert_eq!(Month::parse("2024-02").unwrap().days(), 29);
    }

    #[test]
    fn rejects_bad_months() {
        for bad in [
            "2024-13",
            "2024-00",
            "2024-9",
            "24-09",
            "2024/09",
            "",
            "2024-09-01",
            "+024-09",
        ] {
            let e = Month::parse(bad).unwrap_err();
            assert!(e.to_string().contains(&format!("`{bad}`")), "{e}");
        }
    }
}
