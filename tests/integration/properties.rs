//! Property tests of the pure engine: allocation conserves money per
//! currency exactly and to the cent after rounding, gives every line exactly
//! one owner, and does not depend on the order of its input.

use std::collections::BTreeMap;
use std::path::PathBuf;

use allot::domain::StoredLine;
use allot::domain::money::round_half_away;
use allot::domain::sample;
use allot::domain::{
    ChargeCategory, CostBasis, CostLine, Currency, Metric, Month, Period, Tags, TeamId, UsageRecord,
};
use allot::engine::{Allocator, GroupBy, allocate, showback};
use allot::rules::{RuleSet, check};
use chrono::{Duration, NaiveDate};
use proptest::prelude::*;
use rust_decimal::Decimal;

const TEAM_VALUES: [&str; 7] = [
    "payments",
    " Pay",
    "SEARCH ",
    "search-team",
    "typo",
    "",
    "data",
];
const TAG_KEYS: [&str; 4] = ["team", "Team", " owner_team", "env"];
const SERVICES: [&str; 4] = [
    "Amazon EC2",
    "Amazon S3",
    "AWS Support (Business)",
    "Amazon EKS",
];
const CURRENCIES: [&str; 3] = ["USD", "EUR", "JPY"];

/// Shared pools every generated rule set declares: each method, a fallback,
/// and a pool feeding a pool.
const POOLS: &str = r#"
[usage]
metrics = ["cpu"]

[[pool]]
name = "shared-eks"
method = "proportional"
targets = "all"

[[pool]]
name = "support-pool"
method = "even"
targets = ["payments", "search", "data"]

[[pool]]
name = "tax-pool"
method = "fixed"
shares = { payments = 50, search = "30", platform = 20 }

[[pool]]
name = "network"
method = "usage"
metric = "cpu"
targets = ["payments", "search"]
fallback = "unallocated"

[[pool]]
name = "umbrella"
method = "even"
targets = ["shared-eks", "payments", "network"]
"#;

/// Candidate rules; a strategy picks a subset in some order.
const CANDIDATE_RULES: [&str; 11] = [
    "[[rule]]\nname = \"tag\"\nteam_from_tag = \"team\"\n",
    "[[rule]]\nname = \"eks\"\nteam = \"platform\"\nmatch.service = \"Amazon EKS\"\n",
    "[[rule]]\nname = \"support\"\nteam = \"platform\"\nmatch.service = \"*support*\"\n",
    "[[rule]]\nname = \"tax\"\nteam = \"finance\"\nmatch.charge_category = \"Tax\"\n",
    "[[rule]]\nname = \"sub\"\nteam = \"data\"\nmatch.sub_account = \"sub-2\"\n",
    "[[rule]]\nname = \"prod-env\"\nteam = \"search\"\nmatch.tags.env = \"prod*\"\n",
    "[[rule]]\nname = \"eks-pool\"\npool = \"shared-eks\"\nmatch.service = \"Amazon EKS\"\n",
    "[[rule]]\nname = \"support-pool\"\npool = \"support-pool\"\nmatch.service = \"*support*\"\n",
    "[[rule]]\nname = \"tax-pool\"\npool = \"tax-pool\"\nmatch.charge_category = [\"Tax\", \"Credit\"]\n",
    "[[rule]]\nname = \"network\"\npool = \"network\"\nmatch.service = \"Amazon S3\"\n",
    "[[rule]]\nname = \"umbrella\"\npool = \"umbrella\"\nmatch.sub_account = \"sub-0\"\n",
];

const DECLARATIONS: &str = "[teams]\nknown = [\"payments\", \"search\", \"platform\", \"finance\", \"data\"]\n[teams.aliases]\npay = \"payments\"\n\"search-team\" = \"search\"\n[tag_keys]\nteam = [\"owner_team\"]\n";

fn rule_set(picks: &[usize], with_declarations: bool) -> RuleSet {
    rule_set_with(picks, with_declarations, "")
}

/// [`rule_set`] with `extra` declarations.
fn rule_set_with(picks: &[usize], with_declarations: bool, extra: &str) -> RuleSet {
    let mut text = if with_declarations {
        DECLARATIONS.to_string()
    } else {
        String::new()
    };
    text.push_str(extra);
    text.push_str(POOLS);
    let mut seen = Vec::new();
    for &p in picks {
        if !seen.contains(&p) {
            seen.push(p);
            text.push_str(CANDIDATE_RULES[p]);
        }
    }
    check(&[(PathBuf::from("rules.toml"), text)]).expect("generated rules are valid")
}

prop_compose! {
    fn amount()(mantissa in -10_000_000_000i64..10_000_000_000i64, scale in 0u32..12) -> Decimal {
        Decimal::new(mantissa, scale)
    }
}

prop_compose! {
    fn line()(
        day in 0i64..30,
        hours in prop_oneof![Just(1i64), Just(24), 25i64..200],
        billed in amount(), effective in amount(), list in amount(),
        currency in 0usize..3, service in 0usize..4, category in 0usize..5, sub in 0usize..3,
        tags in proptest::collection::vec((0usize..4, 0usize..7), 0..3),
        rows in 1u64..30,
    ) -> StoredLine {
        let l = sample::line(sample::day(2024, 9, 1) + Duration::days(day), Decimal::ZERO);
        sample::stored(
            CostLine {
                charge_period_end: l.charge_period_start + Duration::hours(hours),
                billing_period_start: sample::day(2024, 9, 1),
                billing_period_end: sample::day(2024, 10, 1),
                sub_account_id: Some(format!("sub-{sub}")),
                service_name: Some(SERVICES[service].into()),
                charge_category: ChargeCategory::ALL[category],
                currency: Currency::parse(CURRENCIES[currency]).unwrap(),
                billed_cost: billed,
                effective_cost: effective,
                list_cost: list,
                tags: Tags(tags.into_iter().map(|(k, v)| (TAG_KEYS[k].to_string(), TEAM_VALUES[v].to_string())).collect()),
                ..l
            },
            rows,
        )
    }
}

prop_compose! {
    fn usage()(records in proptest::collection::vec((0usize..2, 0i64..30, 0i64..1000), 0..6)) -> Vec<UsageRecord> {
        records.into_iter().map(|(team, day, q)| UsageRecord {
            date: NaiveDate::from_ymd_opt(2024, 9, 1).unwrap() + Duration::days(day),
            team: TeamId::parse(["payments", "search"][team]).unwrap(),
            metric: Metric::parse("cpu").unwrap(),
            quantity: Decimal::new(q, 1),
        }).collect()
    }
}

fn basis(i: usize) -> CostBasis {
    [CostBasis::Effective, CostBasis::Billed, CostBasis::List][i]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn allocation_conserves_money_per_currency(
        lines in proptest::collection::vec(line(), 0..60),
        picks in proptest::collection::vec(0usize..11, 0..12),
        declarations in any::<bool>(),
        b in 0usize..3,
        usage in usage(),
    ) {
        let month = Month::parse("2024-09").unwrap();
        let rules = rule_set(&picks, declarations);
        let a = allocate(month, &lines, &rules, basis(b), &usage).unwrap();
        let mut want: BTreeMap<Currency, Decimal> = BTreeMap::new();
        for l in &lines {
            let c = l.line.cost(basis(b));
            *want.entry(c.currency).or_default() += c.amount;
        }
        let mut got: BTreeMap<Currency, Decimal> = BTreeMap::new();
        for r in &a.rows {
            *got.entry(r.currency).or_default() += r.amount;
        }
        for (c, w) in &want {
            prop_assert_eq!(got.get(c).copied().unwrap_or_default(), *w, "exact conservation in {}", c);
        }
        prop_assert_eq!(&a.totals, &want);
        // No amount is left in a pool: every row has a team or `unallocated` as owner.
        prop_assert!(a.rows.iter().all(|r| r.pool.is_none() || !r.amount.is_zero() || r.lines == 0));
        // Rounded showback rows add up to the rounded bill, per currency, to the cent.
        for group_by in [GroupBy::Team, GroupBy::TeamService] {
            let s = showback(month, basis(b), &a.rows, group_by);
            for (c, w) in &want {
                let rows: Decimal = s.rows.iter().filter(|r| r.currency == *c).map(|r| r.total_cost).sum();
                prop_assert_eq!(rows, round_half_away(*w, 2));
                prop_assert!(s.rows.iter().any(|r| r.currency == *c && r.owner.name() == "unallocated"));
            }
        }
    }

    #[test]
    fn allocation_does_not_depend_on_input_order(
        lines in proptest::collection::vec(line(), 1..40),
        picks in proptest::collection::vec(0usize..11, 0..12),
        seed in any::<u64>(),
        usage in usage(),
    ) {
        let month = Month::parse("2024-09").unwrap();
        let rules = rule_set(&picks, true);
        let mut shuffled = lines.clone();
        // A deterministic shuffle from the seed.
        let mut state = seed | 1;
        for i in (1..shuffled.len()).rev() {
            state ^= state << 13; state ^= state >> 7; state ^= state << 17;
            shuffled.swap(i, (state % (i as u64 + 1)) as usize);
        }
        let a = allocate(month, &lines, &rules, CostBasis::Effective, &usage).unwrap();
        let b = allocate(month, &shuffled, &rules, CostBasis::Effective, &usage).unwrap();
        prop_assert_eq!(&a, &b);
        prop_assert_eq!(
            showback(month, CostBasis::Effective, &a.rows, GroupBy::TeamService),
            showback(month, CostBasis::Effective, &b.rows, GroupBy::TeamService)
        );
    }
}

/// The shared pools of `POOLS`, one block each, to permute.
fn pool_blocks() -> Vec<String> {
    POOLS
        .split("[[pool]]")
        .skip(1)
        .map(|b| format!("[[pool]]{b}"))
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(100))]

    #[test]
    fn the_order_pools_are_declared_in_does_not_change_results(
        lines in proptest::collection::vec(line(), 1..40),
        picks in proptest::collection::vec(0usize..11, 0..12),
        usage in usage(),
        seed in any::<u64>(),
    ) {
        let month = Month::parse("2024-09").unwrap();
        let mut blocks = pool_blocks();
        let mut state = seed | 1;
        for i in (1..blocks.len()).rev() {
            state ^= state << 13; state ^= state >> 7; state ^= state << 17;
            blocks.swap(i, (state % (i as u64 + 1)) as usize);
        }
        let mut seen = Vec::new();
        let mut rules_text = String::new();
        for &p in &picks {
            if !seen.contains(&p) {
                seen.push(p);
                rules_text.push_str(CANDIDATE_RULES[p]);
            }
        }
        let header = "[usage]\nmetrics = [\"cpu\"]\n";
        let a = check(&[(PathBuf::from("r.toml"), format!("{DECLARATIONS}{header}{}{rules_text}", pool_blocks().concat()))]).unwrap();
        let b = check(&[(PathBuf::from("r.toml"), format!("{DECLARATIONS}{header}{}{rules_text}", blocks.concat()))]).unwrap();
        let x = allocate(month, &lines, &a, CostBasis::Effective, &usage).unwrap();
        let y = allocate(month, &lines, &b, CostBasis::Effective, &usage).unwrap();
        prop_assert_eq!(&x.rows, &y.rows);
        prop_assert_eq!(
            showback(month, CostBasis::Effective, &x.rows, GroupBy::TeamService),
            showback(month, CostBasis::Effective, &y.rows, GroupBy::TeamService)
        );
    }

    #[test]
    fn adding_a_team_with_zero_weight_changes_no_one_elses_share(
        lines in proptest::collection::vec(line(), 1..40),
        usage in usage(),
        method in 0usize..3,
    ) {
        let month = Month::parse("2024-09").unwrap();
        // `nobody` has no usage, no direct cost and a 0% share: weight zero.
        let how = ["method = \"usage\"\nmetric = \"cpu\"", "method = \"proportional\"", "method = \"fixed\""][method];
        let pool = |targets: &str| {
            if method == 2 {
                format!("[[pool]]\nname = \"shared\"\nmethod = \"fixed\"\nshares = {{ {targets} }}\n")
            } else {
                format!("[[pool]]\nname = \"shared\"\n{how}\ntargets = [{targets}]\n")
            }
        };
        let (two, three) = if method == 2 {
            ("payments = 60, search = 40".to_string(), "payments = 60, search = 40, nobody = 0".to_string())
        } else {
            ("\"payments\", \"search\"".to_string(), "\"payments\", \"search\", \"nobody\"".to_string())
        };
        let rules = |targets: &str| {
            let text = format!(
                "[usage]\nmetrics = [\"cpu\"]\n{}[[rule]]\nname = \"shared\"\npool = \"shared\"\nmatch.service = \"Amazon EKS\"\n[[rule]]\nname = \"tag\"\nteam_from_tag = \"team\"\n",
                pool(targets)
            );
            check(&[(PathBuf::from("r.toml"), text)]).unwrap()
        };
        let a = allocate(month, &lines, &rules(&two), CostBasis::Effective, &usage).unwrap();
        let b = allocate(month, &lines, &rules(&three), CostBasis::Effective, &usage).unwrap();
        let fell_back = |x: &allot::engine::Allocation| x.shares.iter().any(|s| s.fallback.is_some());
        prop_assume!(!fell_back(&a) && !fell_back(&b));
        prop_assert!(b.rows.iter().all(|r| r.owner.name() != "nobody"));
        prop_assert_eq!(a.rows, b.rows);
    }
}

prop_compose! {
    /// Any amount the importers accept: at most 10^15, at most 28 digits.
    fn amount_at_the_limit()(scale in 0u32..13, fraction in 0f64..1.0, negative in any::<bool>(), round in any::<bool>()) -> Decimal {
        let max = 10i128.pow(15 + scale);
        // Mostly near the limit, sometimes a round 10^15 itself.
        let m = if round { max } else { max - (fraction * 1e6) as i128 };
        let d = Decimal::from_i128_with_scale(if negative { -m } else { m }, scale);
        assert!(d.abs() <= Decimal::from(allot::importers::MAX_MAGNITUDE));
        d
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(100))]

    /// The importers accept amounts up to 10^15 and usage up to 10^15: the
    /// engine either allocates them exactly (conserving every currency,
    /// showback rows adding up to the rounded bill) or, past 10^16 a month,
    /// refuses with a message. It never panics (issue 9: `split` overflowed).
    #[test]
    fn amounts_at_the_importers_limits_are_conserved_or_refused(
        lines in proptest::collection::vec(line(), 1..12),
        amounts in proptest::collection::vec(amount_at_the_limit(), 12),
        picks in proptest::collection::vec(0usize..11, 0..12),
        usage in proptest::collection::vec((0usize..2, 0i64..30), 0..4),
    ) {
        let month = Month::parse("2024-09").unwrap();
        let lines: Vec<StoredLine> = lines.into_iter().zip(&amounts).map(|(mut l, a)| {
            l.line.effective_cost = *a;
            l
        }).collect();
        let usage: Vec<UsageRecord> = usage.into_iter().map(|(team, day)| UsageRecord {
            date: NaiveDate::from_ymd_opt(2024, 9, 1).unwrap() + Duration::days(day),
            team: TeamId::parse(["payments", "search"][team]).unwrap(),
            metric: Metric::parse("cpu").unwrap(),
            quantity: Decimal::from(allot::importers::MAX_MAGNITUDE),
        }).collect();
        let rules = rule_set(&picks, true);
        let mut want: BTreeMap<Currency, Decimal> = BTreeMap::new();
        let mut magnitude: BTreeMap<Currency, Decimal> = BTreeMap::new();
        for l in &lines {
            *want.entry(l.line.currency).or_default() += l.line.effective_cost;
            *magnitude.entry(l.line.currency).or_default() += l.line.effective_cost.abs();
        }
        let limit = Decimal::from(allot::engine::allocate::EXACT_RANGE);
        match allocate(month, &lines, &rules, CostBasis::Effective, &usage) {
            Ok(a) => {
                prop_assert!(magnitude.values().all(|m| *m < limit));
                for (c, w) in &want {
                    let got: Decimal = a.rows.iter().filter(|r| r.currency == *c).map(|r| r.amount).sum();
                    prop_assert_eq!(got, *w);
                    for group_by in [GroupBy::Team, GroupBy::TeamService] {
                        let s = showback(month, CostBasis::Effective, &a.rows, group_by);
                        let rows: Decimal = s.rows.iter().filter(|r| r.currency == *c).map(|r| r.total_cost).sum();
                        prop_assert_eq!(rows, round_half_away(*w, 2));
                    }
                }
            }
            Err(e) => {
                prop_assert!(magnitude[&e.currency] >= limit, "{e}");
                prop_assert!(e.to_string().contains("beyond the 10^16"));
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    /// Finer reports add up to coarser ones row by row: each owner's
    /// `team,service` rows sum to its `team` row in every column.
    #[test]
    fn team_and_service_rows_add_up_to_the_team_rows(
        lines in proptest::collection::vec(line(), 0..60),
        picks in proptest::collection::vec(0usize..11, 0..12),
        usage in usage(),
    ) {
        let month = Month::parse("2024-09").unwrap();
        let rules = rule_set(&picks, true);
        let a = allocate(month, &lines, &rules, CostBasis::Effective, &usage).unwrap();
        let by_team = showback(month, CostBasis::Effective, &a.rows, GroupBy::Team);
        let by_service = showback(month, CostBasis::Effective, &a.rows, GroupBy::TeamService);
        for t in &by_team.rows {
            let parts: Vec<_> = by_service.rows.iter().filter(|r| r.owner == t.owner && r.currency == t.currency).collect();
            prop_assert_eq!(parts.iter().map(|r| r.total_cost).sum::<Decimal>(), t.total_cost);
            prop_assert_eq!(parts.iter().map(|r| r.direct_cost).sum::<Decimal>(), t.direct_cost);
            prop_assert_eq!(parts.iter().map(|r| r.shared_cost).sum::<Decimal>(), t.shared_cost);
        }
        prop_assert_eq!(&by_team.totals, &by_service.totals);
    }

    /// The environment view conserves money: each owner's
    /// `team,environment` rows sum to its `team` row in every column, so
    /// they add up to the bill; shared cost lands only in environments the
    /// owner has direct cost in, or in `unspecified`.
    #[test]
    fn team_and_environment_rows_add_up_to_the_team_rows(
        lines in proptest::collection::vec(line(), 0..60),
        picks in proptest::collection::vec(0usize..11, 0..12),
        usage in usage(),
    ) {
        let month = Month::parse("2024-09").unwrap();
        let rules = rule_set_with(&picks, true, "[environment]\ntag = \"env\"\naliases = { pay = \"production\", typo = \"production\" }\n");
        let a = allocate(month, &lines, &rules, CostBasis::Effective, &usage).unwrap();
        let by_team = showback(month, CostBasis::Effective, &a.rows, GroupBy::Team);
        let by_env = showback(month, CostBasis::Effective, &a.rows, GroupBy::TeamEnvironment);
        for t in &by_team.rows {
            let parts: Vec<_> = by_env.rows.iter().filter(|r| r.owner == t.owner && r.currency == t.currency).collect();
            prop_assert!(!parts.is_empty());
            prop_assert_eq!(parts.iter().map(|r| r.total_cost).sum::<Decimal>(), t.total_cost);
            prop_assert_eq!(parts.iter().map(|r| r.direct_cost).sum::<Decimal>(), t.direct_cost);
            prop_assert_eq!(parts.iter().map(|r| r.shared_cost).sum::<Decimal>(), t.shared_cost);
            for p in &parts {
                prop_assert!(p.environment.is_some() && p.service.is_none());
            }
        }
        prop_assert_eq!(&by_team.totals, &by_env.totals);
        for (currency, total) in &a.totals {
            prop_assert_eq!(by_env.totals[currency], round_half_away(*total, 2));
        }
    }
}

prop_compose! {
    /// A line charged in August, September or October 2024, on the
    /// invoice of one of those months (late charges and early ones).
    fn line_of_some_invoice()(base in line(), charged in 0i64..3, billed in 0u32..3) -> StoredLine {
        let mut l = base;
        let shift = Duration::days(31 * (charged - 1));
        l.line.charge_period_start += shift;
        l.line.charge_period_end += shift;
        l.line.billing_period_start = NaiveDate::from_ymd_opt(2024, 8 + billed, 1).unwrap();
        l.line.billing_period_end = NaiveDate::from_ymd_opt(2024, 9 + billed, 1).unwrap();
        l
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(100))]

    /// Issue 9: every line is in exactly one charge month and one invoice,
    /// so each view conserves its lines' money, and the invoice views add
    /// up to the billed cost of all lines, per currency.
    #[test]
    fn each_invoice_view_adds_up_to_the_billed_cost_of_its_invoice(
        lines in proptest::collection::vec(line_of_some_invoice(), 0..60),
        picks in proptest::collection::vec(0usize..11, 0..12),
        usage in usage(),
    ) {
        let rules = rule_set(&picks, true);
        let mut all_billed: BTreeMap<Currency, Decimal> = BTreeMap::new();
        for l in &lines {
            *all_billed.entry(l.line.currency).or_default() += l.line.billed_cost;
        }
        let mut invoices: BTreeMap<Currency, Decimal> = BTreeMap::new();
        for m in ["2024-08", "2024-09", "2024-10"] {
            let month = Month::parse(m).unwrap();
            let mut allocator = Allocator::for_period(Period::Billing, month, &rules, CostBasis::Billed, &usage);
            let mut want: BTreeMap<Currency, Decimal> = BTreeMap::new();
            for l in &lines {
                allocator.add(l);
                if l.line.month_in(Period::Billing) == month {
                    *want.entry(l.line.currency).or_default() += l.line.billed_cost;
                }
            }
            let a = allocator.finish().unwrap();
            prop_assert_eq!(a.period, Period::Billing);
            prop_assert_eq!(&a.totals, &want);
            let mut got: BTreeMap<Currency, Decimal> = BTreeMap::new();
            for r in &a.rows {
                *got.entry(r.currency).or_default() += r.amount;
                *invoices.entry(r.currency).or_default() += r.amount;
            }
            for (c, w) in &want {
                prop_assert_eq!(got.get(c).copied().unwrap_or_default(), *w, "invoice {} conserves {}", m, c);
            }
        }
        for (c, w) in &all_billed {
            prop_assert_eq!(invoices.get(c).copied().unwrap_or_default(), *w, "the invoices hold every line once in {}", c);
        }
    }
}
