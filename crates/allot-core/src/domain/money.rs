//! Exact money: a decimal amount with an ISO 4217 currency, and the
//! largest-remainder rounding that keeps rounded parts summing to the
//! rounded whole. There is deliberately no conversion from `f64`.

use std::fmt;
use std::str::FromStr;

use rust_decimal::{Decimal, RoundingStrategy};

/// Decimal places used when money is presented (cents).
pub const PRESENTATION_DP: u32 = 2;

/// An ISO 4217 alphabetic currency code such as `USD` or `EUR`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Currency([u8; 3]);

/// Why a currency code was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("expected an ISO 4217 currency code of three letters such as `USD`, found `{0}`")]
pub struct CurrencyError(pub String);

impl Currency {
    /// Parses a three-letter code, accepting lower case and surrounding whitespace.
    pub fn parse(s: &str) -> Result<Self, CurrencyError> {
        let t = s.trim().as_bytes();
        if t.len() == 3 && t.iter().all(u8::is_ascii_alphabetic) {
            Ok(Currency([
                t[0].to_ascii_uppercase(),
                t[1].to_ascii_uppercase(),
                t[2].to_ascii_uppercase(),
            ]))
        } else {
            Err(CurrencyError(s.to_string()))
        }
    }

    /// The code as text, e.g. `"USD"`.
    pub fn as_str(&self) -> &str {
        // Invariant: only ASCII letters are ever stored.
        std::str::from_utf8(&self.0).unwrap_or("???")
    }
}

impl FromStr for Currency {
    type Err = CurrencyError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Currency::parse(s)
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Currency({})", self.as_str())
    }
}

/// An exact amount of one currency.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct Money {
    pub amount: Decimal,
    pub currency: Currency,
}

/// Arithmetic across two currencies is refused rather than guessed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot combine `{left}` and `{right}` amounts: convert one currency first")]
pub struct CurrencyMismatch {
    pub left: Currency,
    pub right: Currency,
}

impl Money {
    pub fn new(amount: Decimal, currency: Currency) -> Self {
        Money { amount, currency }
    }

    pub fn zero(currency: Currency) -> Self {
        Money::new(Decimal::ZERO, currency)
    }

    /// Adds two amounts of the same currency.
    pub fn checked_add(self, other: Money) -> Result<Money, CurrencyMismatch> {
        if self.currency != other.currency {
            return Err(CurrencyMismatch {
                left: self.currency,
                right: other.currency,
            });
        }
        Ok(Money::new(self.amount + other.amount, self.currency))
    }

    /// Rounds to `dp` decimal places, half away from zero (the rounding of invoices).
    pub fn round_dp(self, dp: u32) -> Money {
        Money::new(round_half_away(self.amount, dp), self.currency)
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.amount.normalize(), self.currency)
    }
}

/// Rounds half away from zero: 0.005 -> 0.01, -0.005 -> -0.01.
pub fn round_half_away(amount: Decimal, dp: u32) -> Decimal {
    amount.round_dp_with_strategy(dp, RoundingStrategy::MidpointAwayFromZero)
}

/// Formats an amount with exactly `dp` decimal places and a dot, as finance expects.
pub fn format_fixed(amount: Decimal, dp: u32) -> String {
    let mut a = round_half_away(amount, dp);
    a.rescale(dp);
    a.to_string()
}

/// Rounds each exact part to `dp` places so that the rounded parts sum exactly
/// to the rounded total (largest-remainder method).
///
/// Every part is first rounded down (towards negative infinity); the cents
/// still missing from the rounded total go one each to the parts with the
/// largest remainders. Ties go to the part that comes first in `parts`, so
/// callers pass parts in a deterministic order (allot sorts by name).
pub fn largest_remainder(parts: &[Decimal], dp: u32) -> Vec<Decimal> {
    let total: Decimal = parts.iter().copied().sum();
    largest_remainder_to(parts, round_half_away(total, dp), dp)
}

/// [`largest_remainder`] onto a given rounded total: `target` is the
/// rounded figure of the whole that a coarser report shows (a team's total
/// when its services are rounded), which is the exact sum rounded down or
/// up to `dp`. The parts still sum exactly to it, so a finer report adds up
/// to the coarser one row by row.
pub fn largest_remainder_to(parts: &[Decimal], target: Decimal, dp: u32) -> Vec<Decimal> {
    let unit = Decimal::new(1, dp);
    let mut floors: Vec<Decimal> = parts
        .iter()
        .map(|p| p.round_dp_with_strategy(dp, RoundingStrategy::ToNegativeInfinity))
        .collect();
    let floor_sum: Decimal = floors.iter().copied().sum();
    // 0 <= missing <= parts.len(): see the proof in ARCHITECTURE.md.
    let missing = ((target - floor_sum) / unit)
        .round()
        .try_into()
        .unwrap_or(0usize);
    let mut order: Vec<usize> = (0..parts.len()).collect();
    // Stable sort: equal remainders keep their input order.
    order.sort_by(|&a, &b| (parts[b] - floors[b]).cmp(&(parts[a] - floors[a])));
    for &i in order.iter().take(missing) {
        floors[i] += unit;
    }
    floors
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn d(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    #[test]
    fn currency_parses_and_normalises() {
        assert_eq!(Currency::parse(" usd ").unwrap().as_str(), "USD");
        assert!(Currency::parse("US").is_err());
        assert!(Currency::parse("U$D").is_err());
    }

    #[test]
    fn adding_two_currencies_is_an_error() {
        let usd = Money::new(d("1"), Currency::parse("USD").unwrap());
        let eur = Money::new(d("1"), Currency::parse("EUR").unwrap());
        let err = usd.checked_add(eur).unwrap_err();
        assert_eq!(
            err.to_string(),
            "cannot combine `USD` and `EUR` amounts: convert one currency first"
        );
        assert_eq!(usd.checked_add(usd).unwrap().amount, d("2"));
    }

    #[test]
    fn even_thirds_give_the_extra_cent_to_the_first() {
        let third = d("1000") / d("3");
        let r = largest_remainder(&[third, third, third], 2);
        assert_eq!(r, vec![d("333.34"), d("333.33"), d("333.33")]);
    }

    #[test]
    fn largest_remainder_prefers_largest_fraction() {
        let r = largest_remainder(&[d("1.004"), d("1.006"), d("1.000")], 2);
        assert_eq!(r, vec![d("1.00"), d("1.01"), d("1.00")]);
    }

    #[test]
    fn negative_parts_round_consistently() {
        let r = largest_remainder(&[d("-1.005"), d("-2.005"), d("0.01")], 2);
        assert_eq!(r.iter().copied().sum::<Decimal>(), d("-3.00"));
    }

    #[test]
    fn format_fixed_pads_and_rounds_half_away() {
        assert_eq!(format_fixed(d("14.97651418586"), 2), "14.98");
        assert_eq!(format_fixed(d("3"), 2), "3.00");
        assert_eq!(format_fixed(d("-0.005"), 2), "-0.01");
    }

    fn amount() -> impl Strategy<Value = Decimal> {
        (-10_000_000_000i64..10_000_000_000i64, 0u32..10).prop_map(|(m, s)| Decimal::new(m, s))
    }

    proptest! {
        #[test]
        fn rounded_parts_sum_to_rounded_total(parts in proptest::collection::vec(amount(), 0..40)) {
            let r = largest_remainder(&parts, 2);
            let total: Decimal = parts.iter().copied().sum();
            prop_assert_eq!(r.iter().copied().sum::<Decimal>(), round_half_away(total, 2));
            for (p, q) in parts.iter().zip(&r) {
                prop_assert!((*p - *q).abs() < d("0.01"));
            }
        }
    }
}
