//! Exact splitting of an amount by weights: the parts always add up to the
//! amount exactly, whatever the weights.

use rust_decimal::{Decimal, RoundingStrategy};

/// Decimal places of a pool share before presentation rounding.
pub const SHARE_DP: u32 = 12;

/// Splits `amount` in proportion to `weights` (non-negative, not all zero).
///
/// Each part is `amount * weight / total` rounded down to [`SHARE_DP`]
/// places; the units still missing go one each to the largest remainders
/// (ties to the earlier part), and any residue finer than `SHARE_DP` to the
/// part with the largest weight. So `Σ parts == amount` exactly, a zero
/// weight gets exactly zero, and equal weights get parts that differ by at
/// most one unit.
pub fn split(amount: Decimal, weights: &[Decimal]) -> Vec<Decimal> {
    let total: Decimal = weights.iter().copied().sum();
    if weights.is_empty() || total <= Decimal::ZERO {
        return vec![Decimal::ZERO; weights.len()];
    }
    let unit = Decimal::new(1, SHARE_DP);
    let negative = amount < Decimal::ZERO;
    let magnitude = amount.abs();
    // `amount * weight` can exceed what a decimal holds (both may be up to
    // the importers' 10^15 and more once summed): then the weight's
    // fraction, which is at most 1, is taken first. The parts still add up
    // exactly: the rounding is made good below.
    let exact: Vec<Decimal> = weights
        .iter()
        .map(|w| match magnitude.checked_mul(*w) {
            Some(product) => product / total,
            None => magnitude * (*w / total),
        })
        .collect();
    let mut parts: Vec<Decimal> = exact
        .iter()
        .map(|e| e.round_dp_with_strategy(SHARE_DP, RoundingStrategy::ToZero))
        .collect();
    let mut missing = magnitude - parts.iter().copied().sum::<Decimal>();
    let mut order: Vec<usize> = (0..weights.len())
        .filter(|&i| weights[i] > Decimal::ZERO)
        .collect();
    order.sort_by(|&a, &b| (exact[b] - parts[b]).cmp(&(exact[a] - parts[a])));
    for &i in &order {
        if missing < unit {
            break;
        }
        parts[i] += unit;
        missing -= unit;
    }
    if !missing.is_zero()
        && let Some(largest) =
            (0..weights.len()).max_by(|&a, &b| weights[a].cmp(&weights[b]).then(b.cmp(&a)))
    {
        parts[largest] += missing;
    }
    if negative {
        for p in &mut parts {
            *p = -*p;
        }
    }
    parts
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn d(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    #[test]
    fn even_thirds() {
        let parts = split(d("1000"), &[Decimal::ONE; 3]);
        assert_eq!(
            parts,
            vec![
                d("333.333333333334"),
                d("333.333333333333"),
                d("333.333333333333")
            ]
        );
    }

    #[test]
    fn proportional_and_fixed_are_exact() {
        assert_eq!(
            split(d("1000"), &[d("6000"), d("3000"), d("1000")]),
            vec![d("600"), d("300"), d("100")]
        );
        assert_eq!(
            split(d("100"), &[d("3"), d("0.5"), d("0.25"), d("0.25")]),
            vec![d("75"), d("12.5"), d("6.25"), d("6.25")]
        );
    }

    #[test]
    fn zero_weights_get_nothing_and_negative_amounts_split_alike() {
        assert_eq!(
            split(d("-90"), &[d("2"), d("0"), d("1")]),
            vec![d("-60"), d("0"), d("-30")]
        );
    }

    #[test]
    fn residue_finer_than_the_share_precision_is_kept() {
        let amount = d("0.0000001605990001");
        let parts = split(amount, &[d("1"), d("2")]);
        assert_eq!(parts.iter().copied().sum::<Decimal>(), amount);
    }

    #[test]
    fn products_beyond_decimal_range_split_exactly() {
        // The amount of issue 9: 10^15 pooled by weights of 10^15.
        let amount = d("999999999999999.999999");
        let weights = [d("1000000000000000"), d("999999999999999.5"), d("0.000001")];
        let parts = split(amount, &weights);
        assert_eq!(parts.iter().copied().sum::<Decimal>(), amount);
        assert!(parts[2] < d("0.000001"));
    }

    proptest! {
        #[test]
        fn parts_sum_to_the_amount_even_at_the_limits(
            raw in proptest::num::i128::ANY, scale in 0u32..=12,
            weights in proptest::collection::vec((0i64..i64::MAX, 0u32..12), 1..12),
        ) {
            // Any amount below the engine's exact range (10^16), at 12 places.
            let m = raw % 10i128.pow(16 + scale);
            let amount = Decimal::from_i128_with_scale(m, scale);
            let weights: Vec<Decimal> = weights.into_iter().map(|(w, s)| Decimal::new(w, s)).collect();
            let parts = split(amount, &weights);
            prop_assert_eq!(parts.iter().copied().sum::<Decimal>(), amount);
        }

        #[test]
        fn parts_sum_to_the_amount(
            m in -1_000_000_000_000i64..1_000_000_000_000i64, scale in 0u32..16,
            weights in proptest::collection::vec((0i64..1_000_000, 0u32..6), 1..12),
        ) {
            let amount = Decimal::new(m, scale);
            let weights: Vec<Decimal> = weights.into_iter().map(|(w, s)| Decimal::new(w, s)).collect();
            let parts = split(amount, &weights);
            if weights.iter().any(|w| *w > Decimal::ZERO) {
                prop_assert_eq!(parts.iter().copied().sum::<Decimal>(), amount);
            }
            for (p, w) in parts.iter().zip(&weights) {
                if w.is_zero() { prop_assert!(p.is_zero()); }
            }
        }
    }
}
